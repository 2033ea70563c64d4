/* saccade: beam search for the Show, Attend and Tell captioner (the tutorial's
 * caption_image_beam_search, plus length normalisation, minimum length and a
 * fallback to unfinished beams). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_internal.h"
#include "saccade/sc_ops.h"
#include "sc_internal.h"

sc_beam_params sc_captioner_beam_default_params(void) {
    sc_beam_params p = {3, 51, 0, 0.0f, SC_CAP_ATT_DEFAULT, 0};
    return p;
}

sc_status sc_cap_att_mode_from_name(const char *name, sc_cap_att_mode *out) {
    static const char *const names[] = {"expected", "argmax", "sample"};
    for (int k = 0; name && out && k < 3; k++)
        if (!strcmp(name, names[k])) {
            *out = (sc_cap_att_mode)(SC_CAP_ATT_EXPECTED + k);
            return SC_OK;
        }
    return sc_set_error(SC_ERR_INVALID_ARG,
                        "attention-mode needs sample, argmax or expected, not '%.64s'",
                        name ? name : "(null)");
}

/* k hypotheses of up to T tokens. */
typedef struct hypset {
    int32_t *tok;  /* k * T */
    float *lp;     /* k * T */
    float *al;     /* k * T * P */
    int32_t *cell; /* k * T: the cell each step read (-1: the expectation) */
    float *score;  /* k */
    int *len;      /* k */
} hypset;

typedef struct beam_bufs {
    float *proj, *h, *c, *h2, *c2, *ws, *logits, *alpha, *cand, *topv;
    int32_t *prev, *cells;
    int *topi, *src;
    hypset act[2], done;
} beam_bufs;

static int alloc_set(sc_arena *a, hypset *s, int k, int T, int P) {
    size_t kT = (size_t)k * T;
    s->tok = sc_arena_alloc(a, kT * sizeof(int32_t));
    s->lp = sc_arena_alloc_floats(a, kT);
    s->al = sc_arena_alloc_floats(a, kT * (size_t)P);
    s->cell = sc_arena_alloc(a, kT * sizeof(int32_t));
    s->score = sc_arena_alloc_floats(a, (size_t)k);
    s->len = sc_arena_alloc(a, (size_t)k * sizeof(int));
    return !s->tok || !s->lp || !s->al || !s->cell || !s->score || !s->len;
}

static int alloc_beam(sc_arena *a, const sc_captioner *m, int k, int T, beam_bufs *b) {
    size_t P = (size_t)m->P, E = (size_t)m->cfg.encoder_dim, A = (size_t)m->cfg.attention_dim,
           H = (size_t)m->cfg.decoder_dim, V = (size_t)m->cfg.vocab_size, kz = (size_t)k;
    size_t nws = sc_cap_step_ws_floats(m, k);
    if (nws < E) nws = E;
    b->proj = sc_arena_alloc_floats(a, P * A);
    b->h = sc_arena_alloc_floats(a, kz * H);
    b->c = sc_arena_alloc_floats(a, kz * H);
    b->h2 = sc_arena_alloc_floats(a, kz * H);
    b->c2 = sc_arena_alloc_floats(a, kz * H);
    b->ws = sc_arena_alloc_floats(a, nws);
    b->logits = sc_arena_alloc_floats(a, kz * V);
    b->alpha = sc_arena_alloc_floats(a, kz * P);
    b->cand = sc_arena_alloc_floats(a, kz * V);
    b->topv = sc_arena_alloc_floats(a, kz);
    b->prev = sc_arena_alloc(a, kz * sizeof(int32_t));
    b->cells = sc_arena_alloc(a, kz * sizeof(int32_t));
    b->topi = sc_arena_alloc(a, kz * sizeof(int));
    b->src = sc_arena_alloc(a, kz * sizeof(int));
    int fail = !b->proj || !b->h || !b->c || !b->h2 || !b->c2 || !b->ws || !b->logits ||
               !b->alpha || !b->cand || !b->topv || !b->prev || !b->cells || !b->topi || !b->src;
    fail |= alloc_set(a, &b->act[0], k, T, m->P);
    fail |= alloc_set(a, &b->act[1], k, T, m->P);
    fail |= alloc_set(a, &b->done, k, T, m->P);
    return fail;
}

/* Make sure the model's arena fits (k, T); re-plan only when it grows. */
static sc_status ensure_arena(sc_captioner *m, int k, int T) {
    if (m->arena && k <= m->plan_k && T <= m->plan_len) return SC_OK;
    int pk = k > m->plan_k ? k : m->plan_k, pT = T > m->plan_len ? T : m->plan_len;
    sc_arena *plan = sc_arena_plan();
    if (!plan) return SC_ERR_NOMEM;
    beam_bufs b;
    int fail = alloc_beam(plan, m, pk, pT, &b);
    size_t need = sc_arena_peak(plan);
    sc_arena_free(plan);
    if (fail)
        return sc_set_error(SC_ERR_LIMIT, "beam search: beam %d x length %d is too large", pk, pT);
    sc_arena *a = sc_arena_create(need);
    if (!a) return SC_ERR_NOMEM;
    sc_arena_free(m->arena);
    m->arena = a;
    m->plan_k = pk;
    m->plan_len = pT;
    return SC_OK;
}

/* Top n of x[0..cnt) (descending, ties: lower index first), skipping -inf and
 * NaN. Returns how many were found (<= n). */
static int topk(const float *x, int cnt, int n, float *v, int *idx) {
    int got = 0;
    for (int i = 0; i < cnt; i++) {
        float s = x[i];
        if (!(s > -INFINITY)) continue;
        if (got == n && !(s > v[n - 1])) continue;
        int j = got < n ? got++ : n - 1;
        while (j > 0 && s > v[j - 1]) {
            v[j] = v[j - 1];
            idx[j] = idx[j - 1];
            j--;
        }
        v[j] = s;
        idx[j] = i;
    }
    return got;
}

static void copy_hyp(const hypset *src, int i, hypset *dst, int j, int T, int P) {
    int len = src->len[i];
    memcpy(dst->tok + (size_t)j * T, src->tok + (size_t)i * T, (size_t)len * sizeof(int32_t));
    memcpy(dst->lp + (size_t)j * T, src->lp + (size_t)i * T, (size_t)len * sizeof(float));
    memcpy(dst->cell + (size_t)j * T, src->cell + (size_t)i * T, (size_t)len * sizeof(int32_t));
    memcpy(dst->al + (size_t)j * T * P, src->al + (size_t)i * T * P,
           (size_t)len * P * sizeof(float));
    dst->len[j] = len;
    dst->score[j] = src->score[i];
}

void sc_caption_result_free(sc_caption_result *r) {
    if (!r) return;
    if (r->hyps)
        for (int i = 0; i < r->n_hyps; i++) {
            free(r->hyps[i].tokens);
            free(r->hyps[i].logprobs);
            free(r->hyps[i].alphas);
            free(r->hyps[i].cells);
        }
    free(r->hyps);
    free(r->words);
    free(r->text);
    memset(r, 0, sizeof *r);
}

static sc_status fill_result(const sc_captioner *m, const hypset *s, const int *order, int n, int T,
                             int finished, float lpen, int hard, sc_caption_result *r) {
    int P = m->P;
    r->grid = m->cfg.grid;
    r->hyps = calloc((size_t)n, sizeof *r->hyps);
    if (!r->hyps) return sc_set_error(SC_ERR_NOMEM, "beam search: out of memory");
    r->n_hyps = n;
    for (int q = 0; q < n; q++) {
        int i = order[q], len = s->len[i];
        sc_caption_hyp *h = &r->hyps[q];
        h->len = len;
        h->finished = finished;
        h->score = s->score[i];
        h->norm_score = lpen != 0.0f ? (float)(s->score[i] / pow((double)len, lpen)) : s->score[i];
        h->tokens = malloc((size_t)(len ? len : 1) * sizeof(int32_t));
        h->logprobs = malloc((size_t)(len ? len : 1) * sizeof(float));
        h->alphas = malloc((size_t)(len ? len : 1) * P * sizeof(float));
        if (!h->tokens || !h->logprobs || !h->alphas)
            return sc_set_error(SC_ERR_NOMEM, "beam search: out of memory");
        memcpy(h->tokens, s->tok + (size_t)i * T, (size_t)len * sizeof(int32_t));
        memcpy(h->logprobs, s->lp + (size_t)i * T, (size_t)len * sizeof(float));
        memcpy(h->alphas, s->al + (size_t)i * T * P, (size_t)len * P * sizeof(float));
        if (hard) {
            h->cells = malloc((size_t)(len ? len : 1) * sizeof(int32_t));
            if (!h->cells) return sc_set_error(SC_ERR_NOMEM, "beam search: out of memory");
            memcpy(h->cells, s->cell + (size_t)i * T, (size_t)len * sizeof(int32_t));
        }
    }
    const sc_caption_hyp *b = &r->hyps[0];
    r->words = calloc((size_t)(b->len ? b->len : 1), sizeof(char *));
    size_t tl = 1;
    for (int t = 0; t < b->len; t++) {
        r->words[t] = m->vocab.words[b->tokens[t]];
        tl += strlen(r->words[t]) + 1;
    }
    r->text = malloc(tl);
    if (!r->words || !r->text) return sc_set_error(SC_ERR_NOMEM, "beam search: out of memory");
    char *p = r->text;
    *p = 0;
    for (int t = 0; t < b->len; t++) {
        int id = b->tokens[t];
        if (id == m->vocab.start || id == m->vocab.end || id == m->vocab.pad) continue;
        if (p != r->text) *p++ = ' ';
        size_t wl = strlen(r->words[t]);
        memcpy(p, r->words[t], wl);
        p += wl;
        *p = 0;
    }
    return SC_OK;
}

sc_status sc_captioner_beam_search(sc_captioner *m, const float *features,
                                   const sc_beam_params *params, sc_caption_result *r) {
    if (r) memset(r, 0, sizeof *r);
    if (!m || !features || !r)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_beam_search: NULL argument");
    sc_beam_params p = params ? *params : sc_captioner_beam_default_params();
    if (p.beam_size < 1 || p.beam_size > 1000 || p.max_len < 1 || p.max_len > 10000 ||
        p.min_len < 0 || !isfinite(p.length_penalty) || (int)p.attention_mode < 0 ||
        (int)p.attention_mode > SC_CAP_ATT_SAMPLE)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "sc_captioner_beam_search: bad params (beam %d in [1, 1000], max_len %d "
            "in [1, 10000], min_len %d >= 0, finite length_penalty, attention_mode %d in [0, 3])",
            p.beam_size, p.max_len, p.min_len, (int)p.attention_mode);
    const sc_captioner_config *cf = &m->cfg;
    int V = cf->vocab_size, H = cf->decoder_dim, P = m->P, T = p.max_len;
    int K = p.beam_size < V ? p.beam_size : V;
    const sc_cap_att_mode mode = sc_cap_att_resolve(m, p.attention_mode);
    const int hard = mode != SC_CAP_ATT_EXPECTED;
    sc_rng rng;
    sc_rng_seed(&rng, p.seed);
    sc_status st = ensure_arena(m, K, T);
    if (st) return st;
    sc_arena_mark_t mk = sc_arena_mark(m->arena);
    beam_bufs b;
    if (alloc_beam(m->arena, m, K, T, &b)) {
        sc_arena_reset(m->arena, mk);
        return sc_set_error(SC_ERR_INTERNAL, "beam search: arena plan mismatch");
    }
    sc_addatt_desc d1 = sc_cap_att_desc(m, 1);
    sc_addatt_weights aw = sc_cap_att_weights(m);
    if ((st = sc_addatt_precompute(&d1, features, &aw, b.proj))) goto out;
    if ((st = sc_cap_init_state(m, 1, features, b.ws, b.h, b.c))) goto out;
    for (int i = 1; i < K; i++) {
        memcpy(b.h + (size_t)i * H, b.h, (size_t)H * sizeof(float));
        memcpy(b.c + (size_t)i * H, b.c, (size_t)H * sizeof(float));
    }
    int s = K, cur = 0, ndone = 0;
    for (int i = 0; i < K; i++) {
        b.prev[i] = m->vocab.start;
        b.act[0].len[i] = 0;
        b.act[0].score[i] = 0.0f;
    }
    for (int step = 1;; step++) {
        const sc_cap_pick pick = {mode, 0.0f, &rng, NULL, NULL, b.cells};
        if ((st = sc_cap_step(m, s, features, b.proj, b.prev, b.h, b.c, b.h2, b.c2, b.logits,
                              b.alpha, &pick, b.ws)))
            goto out;
        if ((st = sc_log_softmax_forward(b.logits, s, V, b.logits))) goto out;
        hypset *A = &b.act[cur], *N = &b.act[cur ^ 1];
        for (int i = 0; i < s; i++) {
            const float *lp = b.logits + (size_t)i * V;
            float *cd = b.cand + (size_t)i * V;
            for (int w = 0; w < V; w++) cd[w] = A->score[i] + lp[w];
            if (step <= p.min_len) cd[m->vocab.end] = -INFINITY;
        }
        /* step 1: all beams are identical, use the first (as the tutorial) */
        int ncand = step == 1 ? V : s * V;
        int got = topk(b.cand, ncand, s, b.topv, b.topi);
        int nn = 0;
        for (int j = 0; j < got; j++) {
            int i = b.topi[j] / V, w = b.topi[j] % V;
            int done = w == m->vocab.end;
            hypset *D = done ? &b.done : N;
            int slot = done ? ndone++ : nn++;
            copy_hyp(A, i, D, slot, T, P);
            int len = D->len[slot];
            D->tok[(size_t)slot * T + len] = w;
            D->lp[(size_t)slot * T + len] = b.logits[(size_t)i * V + w];
            float *dal = D->al + ((size_t)slot * T + len) * P;
            D->cell[(size_t)slot * T + len] = hard ? b.cells[i] : -1;
            if (hard && b.cells[i] >= 0) { /* the one-hot map of the cell read */
                memset(dal, 0, (size_t)P * sizeof(float));
                dal[b.cells[i]] = 1.0f;
            } else {
                memcpy(dal, b.alpha + (size_t)i * P, (size_t)P * sizeof(float));
            }
            D->len[slot] = len + 1;
            D->score[slot] = b.topv[j];
            if (!done) {
                b.src[slot] = i;
                b.prev[slot] = w;
            }
        }
        s = nn;
        cur ^= 1;
        if (s == 0) break;
        for (int j = 0; j < s; j++) {
            memcpy(b.h + (size_t)j * H, b.h2 + (size_t)b.src[j] * H, (size_t)H * sizeof(float));
            memcpy(b.c + (size_t)j * H, b.c2 + (size_t)b.src[j] * H, (size_t)H * sizeof(float));
        }
        if (step >= T) break;
    }
    {
        const hypset *R = ndone > 0 ? &b.done : &b.act[cur];
        int n = ndone > 0 ? ndone : s;
        if (n == 0) {
            st = sc_set_error(SC_ERR_INTERNAL, "beam search: no hypothesis (non-finite scores?)");
            goto out;
        }
        /* stable sort by normalised score, descending (b.topi as scratch: n <= K) */
        int *order = b.topi;
        float *key = b.topv;
        for (int i = 0; i < n; i++) {
            double sc = R->score[i];
            if (p.length_penalty != 0.0f) sc /= pow((double)R->len[i], p.length_penalty);
            float kv = (float)sc;
            int j = i;
            while (j > 0 && kv > key[j - 1]) {
                key[j] = key[j - 1];
                order[j] = order[j - 1];
                j--;
            }
            key[j] = kv;
            order[j] = i;
        }
        st = fill_result(m, R, order, n, T, ndone > 0, p.length_penalty, hard, r);
        if (st) sc_caption_result_free(r);
    }
out:
    sc_arena_reset(m->arena, mk);
    return st;
}

sc_status sc_captioner_caption_image(sc_captioner *m, const sc_image *img,
                                     const sc_beam_params *params, sc_caption_result *result) {
    if (result) memset(result, 0, sizeof *result);
    if (!m || !img || !result)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_caption_image: NULL argument");
    sc_image x = {0};
    sc_status st = sc_captioner_preprocess(m, img, &x);
    if (st) return st;
    size_t n = (size_t)m->P * (size_t)m->cfg.encoder_dim;
    float *f = sc_malloc(n * sizeof(float));
    if (!f) {
        sc_image_free(&x);
        return SC_ERR_NOMEM;
    }
    st = sc_captioner_encode(m, x.data, x.h, x.w, f);
    if (!st) st = sc_captioner_beam_search(m, f, params, result);
    sc_free(f);
    sc_image_free(&x);
    return st;
}
