/* Caption metrics: BLEU-1..4 and CIDEr-D as pycocoevalcap computes them (see
 * sc_caption_metrics.h). Words are mapped to integer ids through a sorted
 * vocabulary; a sentence's n-grams (n <= 4) become a sorted array of
 * (n-gram, count) so lookups are binary searches. Doubles throughout, like
 * the Python original. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_caption_metrics.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

#define NG 4

static int is_strip_char(char c) {
    return c && strchr(".,?!:;\"`()[]{}", c) != NULL;
}
static int is_punct_char(char c) {
    return is_strip_char(c) || c == '-' || c == '\'';
}

int sc_caption_tokenize(const char *text, char *out, size_t cap) {
    if (!text || !out || cap == 0) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_caption_tokenize: NULL text or empty output buffer");
        return -1;
    }
    size_t o = 0;
    int ntok = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') p++;
        if (!*p) break;
        const char *s = p;
        while (*p &&
               !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v'))
            p++;
        const char *e = p;
        while (s < e && is_strip_char(*s)) s++;
        while (e > s && is_strip_char(e[-1])) e--;
        int all_punct = 1;
        for (const char *q = s; q < e; q++)
            if (!is_punct_char(*q)) all_punct = 0;
        if (s == e || all_punct) continue;
        size_t len = (size_t)(e - s);
        if (o + (ntok ? 1 : 0) + len + 1 > cap) {
            sc_set_error(SC_ERR_LIMIT, "sc_caption_tokenize: output buffer of %zu bytes too small",
                         cap);
            return -1;
        }
        if (ntok) out[o++] = ' ';
        for (size_t i = 0; i < len; i++) {
            char c = s[i];
            out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        ntok++;
    }
    out[o] = 0;
    return ntok;
}

typedef struct ngram {
    int n;
    int w[NG];
} ngram;

typedef struct ngc {
    ngram g;
    double count;
} ngc;

typedef struct sent {
    int len; /* words */
    ngc *ng; /* sorted, unique */
    int nng;
} sent;

static int ngram_cmp(const ngram *a, const ngram *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = 0; i < a->n; i++)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}
static int ngc_qcmp(const void *a, const void *b) {
    return ngram_cmp(&((const ngc *)a)->g, &((const ngc *)b)->g);
}
static int str_qcmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const ngc *find_ng(const ngc *arr, int n, const ngram *g) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = ngram_cmp(&arr[mid].g, g);
        if (!c) return &arr[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}
static double count_of(const sent *s, const ngram *g) {
    const ngc *f = find_ng(s->ng, s->nng, g);
    return f ? f->count : 0.0;
}

/* Sort and merge duplicate n-grams, summing counts. Returns the new length. */
static int collapse(ngc *a, int n) {
    if (n <= 0) return 0;
    qsort(a, (size_t)n, sizeof *a, ngc_qcmp);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m && !ngram_cmp(&a[m - 1].g, &a[i].g))
            a[m - 1].count += a[i].count;
        else
            a[m++] = a[i];
    }
    return m;
}

/* Working state: tokenised text of every sentence plus the vocabulary. */
typedef struct work {
    size_t nsent;
    char **tok; /* tokenised sentence strings (malloc'd) */
    int **ids;  /* word ids per sentence */
    int *lens;  /* words per sentence */
    sent *sents;
} work;

static void work_free(work *w) {
    for (size_t i = 0; i < w->nsent; i++) {
        if (w->tok) free(w->tok[i]);
        if (w->ids) free(w->ids[i]);
        if (w->sents) free(w->sents[i].ng);
    }
    free(w->tok);
    free(w->ids);
    free(w->lens);
    free(w->sents);
    memset(w, 0, sizeof *w);
}

static sc_status tokenise_all(work *w, const char *const *texts) {
    size_t total_words = 0;
    for (size_t i = 0; i < w->nsent; i++) {
        size_t len = strlen(texts[i]);
        if (len > SC_CAPTION_MAX_CHARS)
            return sc_set_error(SC_ERR_LIMIT, "caption %zu has %zu characters (limit %d)", i, len,
                                SC_CAPTION_MAX_CHARS);
        w->tok[i] = malloc(len + 1);
        if (!w->tok[i]) return sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
        int nt = sc_caption_tokenize(texts[i], w->tok[i], len + 1);
        if (nt < 0) return sc_set_error(SC_ERR_INTERNAL, "caption %zu: tokeniser failed", i);
        w->lens[i] = nt;
        total_words += (size_t)nt;
    }
    /* Vocabulary: pointers to every word, sorted, then ids by binary search. */
    char **words = malloc((total_words ? total_words : 1) * sizeof *words);
    if (!words) return sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < w->nsent; i++) {
        char *p = w->tok[i];
        for (int t = 0; t < w->lens[i]; t++) {
            words[k++] = p;
            p = strchr(p, ' ');
            if (p) *p++ = 0;
        }
    }
    qsort(words, total_words, sizeof *words, str_qcmp);
    size_t nv = 0;
    for (size_t i = 0; i < total_words; i++)
        if (!nv || strcmp(words[nv - 1], words[i])) words[nv++] = words[i];
    if (nv > INT32_MAX) {
        free(words);
        return sc_set_error(SC_ERR_LIMIT, "caption metrics: vocabulary too large");
    }
    sc_status st = SC_OK;
    for (size_t i = 0; i < w->nsent && !st; i++) {
        w->ids[i] = malloc(((size_t)w->lens[i] + 1) * sizeof(int));
        if (!w->ids[i]) {
            st = sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
            break;
        }
        const char *p = w->tok[i];
        for (int t = 0; t < w->lens[i]; t++) {
            const char *key = p;
            char **f = bsearch(&key, words, nv, sizeof *words, str_qcmp);
            SC_ASSERT(f);
            w->ids[i][t] = (int)(f - words);
            p += strlen(p) + 1;
        }
        /* precook: all n-grams, n = 1..4. */
        int len = w->lens[i];
        size_t cap = (size_t)len * NG + 1;
        ngc *a = malloc(cap * sizeof *a);
        if (!a) {
            st = sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
            break;
        }
        int m = 0;
        for (int n = 1; n <= NG; n++)
            for (int s = 0; s + n <= len; s++) {
                memset(&a[m], 0, sizeof a[m]);
                a[m].g.n = n;
                for (int j = 0; j < n; j++) a[m].g.w[j] = w->ids[i][s + j];
                a[m].count = 1;
                m++;
            }
        w->sents[i].len = len;
        w->sents[i].nng = collapse(a, m);
        w->sents[i].ng = a;
    }
    free(words);
    return st;
}

/* ---- BLEU ---- */

static void bleu_scores(const work *w, const size_t *ref_off, const size_t *nref, size_t n,
                        sc_caption_scores *out) {
    const double small = 1e-9, tiny = 1e-15;
    double tot_correct[NG] = {0}, tot_guess[NG] = {0};
    double testlen_sum = 0, reflen_sum = 0;
    for (size_t i = 0; i < n; i++) {
        const sent *c = &w->sents[i];
        int testlen = c->len;
        /* 'closest': min over (|l - testlen|, l). */
        int best = -1;
        for (size_t r = 0; r < nref[i]; r++) {
            int l = w->sents[ref_off[i] + r].len;
            int d = abs(l - testlen);
            if (best < 0 || d < abs(best - testlen) || (d == abs(best - testlen) && l < best))
                best = l;
        }
        double correct[NG] = {0}, guess[NG];
        for (int k = 0; k < NG; k++) guess[k] = testlen - k > 0 ? testlen - k : 0;
        for (int g = 0; g < c->nng; g++) {
            double maxref = 0;
            for (size_t r = 0; r < nref[i]; r++) {
                double v = count_of(&w->sents[ref_off[i] + r], &c->ng[g].g);
                if (v > maxref) maxref = v;
            }
            double cnt = c->ng[g].count;
            correct[c->ng[g].g.n - 1] += cnt < maxref ? cnt : maxref;
        }
        for (int k = 0; k < NG; k++) {
            tot_correct[k] += correct[k];
            tot_guess[k] += guess[k];
        }
        testlen_sum += testlen;
        reflen_sum += best;
        /* Sentence-level BLEU-4 as in the toolkit's bleu_list. */
        double b = 1.0, b4 = 0;
        for (int k = 0; k < NG; k++) {
            b *= (correct[k] + tiny) / (guess[k] + small);
            if (k == NG - 1) b4 = pow(b, 1.0 / (k + 1));
        }
        double ratio = (testlen + tiny) / (best + small);
        if (ratio < 1) b4 *= exp(1 - 1 / ratio);
        out->bleu4_per_image[i] = b4;
    }
    double b = 1.0;
    for (int k = 0; k < NG; k++) {
        b *= (tot_correct[k] + tiny) / (tot_guess[k] + small);
        out->bleu[k] = pow(b, 1.0 / (k + 1));
    }
    double ratio = (testlen_sum + tiny) / (reflen_sum + small);
    if (ratio < 1)
        for (int k = 0; k < NG; k++) out->bleu[k] *= exp(1 - 1 / ratio);
}

/* ---- CIDEr-D ---- */

typedef struct vec {
    double *v; /* tf-idf per n-gram of the sentence, aligned with sent.ng */
    double norm[NG];
    double length; /* the toolkit's "length": count of bigrams */
} vec;

static double df_of(const ngc *df, int ndf, const ngram *g) {
    const ngc *f = find_ng(df, ndf, g);
    return f ? f->count : 0.0;
}

static void counts2vec(const sent *s, const ngc *df, int ndf, double ref_len, vec *out) {
    for (int k = 0; k < NG; k++) out->norm[k] = 0;
    out->length = 0;
    for (int g = 0; g < s->nng; g++) {
        double d = df_of(df, ndf, &s->ng[g].g);
        double idf = log(d > 1.0 ? d : 1.0);
        int k = s->ng[g].g.n - 1;
        out->v[g] = s->ng[g].count * (ref_len - idf);
        out->norm[k] += out->v[g] * out->v[g];
        if (k == 1) out->length += s->ng[g].count;
    }
    for (int k = 0; k < NG; k++) out->norm[k] = sqrt(out->norm[k]);
}

static sc_status cider_scores(const work *w, const size_t *ref_off, const size_t *nref, size_t n,
                              sc_caption_scores *out) {
    const double sigma = 6.0;
    /* Document frequency: per image, the set of n-grams over its references. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < nref[i]; r++) total += (size_t)w->sents[ref_off[i] + r].nng;
    size_t maxng = 0;
    for (size_t i = 0; i < w->nsent; i++)
        if ((size_t)w->sents[i].nng > maxng) maxng = (size_t)w->sents[i].nng;
    if (total > INT32_MAX) return sc_set_error(SC_ERR_LIMIT, "caption metrics: corpus too large");
    ngc *all = malloc((total + 1) * sizeof *all);
    double *vc = malloc((maxng + 1) * sizeof *vc), *vr = malloc((maxng + 1) * sizeof *vr);
    if (!all || !vc || !vr) {
        free(all);
        free(vc);
        free(vr);
        return sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
    }
    int nall = 0;
    for (size_t i = 0; i < n; i++) {
        int start = nall;
        for (size_t r = 0; r < nref[i]; r++) {
            const sent *s = &w->sents[ref_off[i] + r];
            for (int g = 0; g < s->nng; g++) {
                all[nall].g = s->ng[g].g;
                all[nall].count = 1;
                nall++;
            }
        }
        /* Unique within this image: each image adds at most 1 per n-gram. */
        int m = collapse(all + start, nall - start);
        for (int j = 0; j < m; j++) all[start + j].count = 1;
        nall = start + m;
    }
    int ndf = collapse(all, nall);

    double ref_len = log((double)n);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const sent *c = &w->sents[i];
        vec hv = {.v = vc};
        counts2vec(c, all, ndf, ref_len, &hv);
        double score[NG] = {0};
        for (size_t r = 0; r < nref[i]; r++) {
            const sent *rs = &w->sents[ref_off[i] + r];
            vec rv = {.v = vr};
            counts2vec(rs, all, ndf, ref_len, &rv);
            double delta = hv.length - rv.length;
            double val[NG] = {0};
            for (int g = 0; g < c->nng; g++) {
                const ngc *f = find_ng(rs->ng, rs->nng, &c->ng[g].g);
                double vref = f ? rv.v[f - rs->ng] : 0.0;
                double vh = hv.v[g];
                val[c->ng[g].g.n - 1] += (vh < vref ? vh : vref) * vref;
            }
            for (int k = 0; k < NG; k++) {
                if (hv.norm[k] != 0 && rv.norm[k] != 0) val[k] /= hv.norm[k] * rv.norm[k];
                val[k] *= exp(-(delta * delta) / (2 * sigma * sigma));
                score[k] += val[k];
            }
        }
        double avg = (score[0] + score[1] + score[2] + score[3]) / NG;
        avg /= (double)nref[i];
        avg *= 10.0;
        out->cider_d_per_image[i] = avg;
        sum += avg;
    }
    out->cider_d = sum / (double)n;
    free(all);
    free(vc);
    free(vr);
    return SC_OK;
}

void sc_caption_scores_free(sc_caption_scores *s) {
    if (!s) return;
    free(s->cider_d_per_image);
    free(s->bleu4_per_image);
    memset(s, 0, sizeof *s);
}

sc_status sc_caption_metrics_compute(const char *const *candidates,
                                     const char *const *const *references, const size_t *n_refs,
                                     size_t n, sc_caption_scores *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_caption_metrics_compute: out is NULL");
    memset(out, 0, sizeof *out);
    if (!candidates || !references || n == 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_caption_metrics_compute: need candidates, references and n >= 1");
    if (n > (size_t)INT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "sc_caption_metrics_compute: too many images (%zu)", n);
    size_t *nref = malloc(n * sizeof *nref), *ref_off = malloc(n * sizeof *ref_off);
    if (!nref || !ref_off) {
        free(nref);
        free(ref_off);
        return sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
    }
    sc_status st = SC_OK;
    size_t nsent = n;
    for (size_t i = 0; i < n && !st; i++) {
        if (!candidates[i])
            st = sc_set_error(SC_ERR_INVALID_ARG, "caption metrics: candidate %zu is NULL", i);
        else if (!references[i])
            st = sc_set_error(SC_ERR_INVALID_ARG,
                              "caption metrics: references of image %zu are NULL", i);
        if (st) break;
        size_t k = 0;
        if (n_refs) {
            k = n_refs[i];
            for (size_t r = 0; r < k && !st; r++)
                if (!references[i][r])
                    st = sc_set_error(SC_ERR_INVALID_ARG,
                                      "caption metrics: reference %zu of image %zu is NULL", r, i);
        } else {
            while (references[i][k]) k++;
        }
        if (!st && k == 0)
            st = sc_set_error(SC_ERR_INVALID_ARG, "caption metrics: image %zu has no reference", i);
        if (!st && k > SIZE_MAX / 2 - nsent)
            st = sc_set_error(SC_ERR_LIMIT, "caption metrics: too many references");
        nref[i] = k;
        ref_off[i] = nsent;
        nsent += k;
    }
    work w = {0};
    const char **texts = NULL;
    if (!st) {
        w.nsent = nsent;
        texts = malloc(nsent * sizeof *texts);
        w.tok = calloc(nsent, sizeof *w.tok);
        w.ids = calloc(nsent, sizeof *w.ids);
        w.lens = calloc(nsent, sizeof *w.lens);
        w.sents = calloc(nsent, sizeof *w.sents);
        out->cider_d_per_image = calloc(n, sizeof(double));
        out->bleu4_per_image = calloc(n, sizeof(double));
        if (!texts || !w.tok || !w.ids || !w.lens || !w.sents || !out->cider_d_per_image ||
            !out->bleu4_per_image)
            st = sc_set_error(SC_ERR_NOMEM, "caption metrics: out of memory");
    }
    if (!st) {
        for (size_t i = 0; i < n; i++) {
            texts[i] = candidates[i];
            for (size_t r = 0; r < nref[i]; r++) texts[ref_off[i] + r] = references[i][r];
        }
        st = tokenise_all(&w, texts);
    }
    if (!st) {
        out->n = n;
        bleu_scores(&w, ref_off, nref, n, out);
        st = cider_scores(&w, ref_off, nref, n, out);
    }
    free(texts);
    work_free(&w);
    free(nref);
    free(ref_off);
    if (st) sc_caption_scores_free(out);
    return st;
}
