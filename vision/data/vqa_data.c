/* Scenes VQA: balanced, templated questions about Fashion scenes.
 *
 * Relations use the centres of the item boxes and the dominant axis:
 * A is "left of" B when (cx_B - cx_A) >= |cy_B - cy_A| + SEP ("right of",
 * "above", "below" alike). A pair whose offset has no clear dominant axis
 * (| |dx| - |dy| | < SEP) is never asked about. Items are named by their noun
 * when it is unique in the scene, else by "colour noun" when that is unique
 * (colour and comparison questions use nouns only, so the wording never gives
 * the answer away). Shoes are sandal, sneaker and boot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_util.h"
#include "sc_internal.h"
#include "saccade/sc_vqa.h"

#define SEP 4.0f
#define MAX_ATTEMPTS 4000

static const char *FAMILY_NAMES[SC_VQA_NUM_FAMILIES] = {"exist", "count",    "colour",
                                                        "class", "relation", "compare"};
const char *sc_vqa_family_name(int f) {
    return (f >= 0 && f < SC_VQA_NUM_FAMILIES) ? FAMILY_NAMES[f] : NULL;
}

/* Answer ids: yes no | 0 1 2 3 | 8 colours | 10 nouns. */
enum { A_YES = 0, A_NO = 1, A_NUM0 = 2, A_COL0 = 6, A_CLS0 = 14, A_TOTAL = 24 };

static const char *answer_word(int a) {
    static const char *nums[4] = {"0", "1", "2", "3"};
    if (a == A_YES) return "yes";
    if (a == A_NO) return "no";
    if (a >= A_NUM0 && a < A_COL0) return nums[a - A_NUM0];
    if (a >= A_COL0 && a < A_CLS0) return sc_scenes_colour_name(a - A_COL0);
    if (a >= A_CLS0 && a < A_TOTAL) return sc_scenes_noun(a - A_CLS0);
    return NULL;
}

static sc_status list_vocab(const char *const *words, int n, sc_vqa_vocab *out) {
    memset(out, 0, sizeof *out);
    out->words = calloc((size_t)n, sizeof *out->words);
    if (!out->words) return sc_set_error(SC_ERR_NOMEM, "vqa: out of memory");
    for (int i = 0; i < n; i++) {
        out->words[i] = strdup(words[i]);
        if (!out->words[i]) {
            out->n = i;
            sc_vqa_vocab_free(out);
            return sc_set_error(SC_ERR_NOMEM, "vqa: out of memory");
        }
    }
    out->n = n;
    return SC_OK;
}

sc_status sc_vqa_scene_answers(sc_vqa_vocab *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene answers: NULL");
    const char *w[A_TOTAL];
    for (int a = 0; a < A_TOTAL; a++) w[a] = answer_word(a);
    return list_vocab(w, A_TOTAL, out);
}

sc_status sc_vqa_scene_vocab(sc_vqa_vocab *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene vocab: NULL");
    static const char *fixed =
        "is there a an any do you see does the scene contain pair of anything in picture how "
        "many shoes are items things objects what number colour which does have to left right "
        "above below under item and same as top bottom of it is on over higher lower than";
    size_t n = 1 + SC_SCENES_NUM_COLOURS + 10;
    const char **texts = calloc(n, sizeof *texts);
    if (!texts) return sc_set_error(SC_ERR_NOMEM, "vqa: out of memory");
    texts[0] = fixed;
    for (int c = 0; c < SC_SCENES_NUM_COLOURS; c++) texts[1 + c] = sc_scenes_colour_name(c);
    for (int k = 0; k < 10; k++) texts[1 + SC_SCENES_NUM_COLOURS + k] = sc_scenes_noun(k);
    sc_status st = sc_vqa_vocab_build(texts, n, out);
    free(texts);
    return st;
}

/* ------------------------------------------------------------ pool */

sc_status sc_vqa_scene_pool_make(const sc_scenes_params *p, sc_scene_split split, int n,
                                 sc_vqa_scene_pool *out) {
    if (!p || !out || n < 1) return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene pool: bad args");
    memset(out, 0, sizeof *out);
    int S = p->size;
    if (S < 48 || S > 1024) return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene pool: bad size");
    size_t per = (size_t)3 * (size_t)S * (size_t)S, total;
    if (sc_mul_size(per, (size_t)n, &total))
        return sc_set_error(SC_ERR_LIMIT, "vqa scene pool: %d scenes of %d px overflow", n, S);
    out->pixels = sc_malloc(total);
    out->info = sc_calloc((size_t)n, sizeof *out->info);
    if (!out->pixels || !out->info) {
        sc_vqa_scene_pool_free(out);
        return sc_set_error(SC_ERR_NOMEM, "vqa scene pool: out of memory (%d scenes)", n);
    }
    out->split = split;
    out->n = n;
    out->size = S;
    int failed = 0;
    char err[256] = {0};
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n; i++) {
        sc_image img = {0};
        if (sc_scenes_generate(p, split, (uint64_t)i, &img, &out->info[i]) != SC_OK) {
#pragma omp critical
            {
                if (!failed) snprintf(err, sizeof err, "%s", sc_last_error());
                failed = 1;
            }
            continue;
        }
        uint8_t *dst = out->pixels + per * (size_t)i;
        for (size_t j = 0; j < per; j++) {
            float v = img.data[j] * 255.0f + 0.5f;
            dst[j] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        sc_image_free(&img);
    }
    if (failed) {
        sc_vqa_scene_pool_free(out);
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene pool: %s", err);
    }
    return SC_OK;
}

void sc_vqa_scene_pool_free(sc_vqa_scene_pool *pool) {
    if (!pool) return;
    sc_free(pool->pixels);
    sc_free(pool->info);
    memset(pool, 0, sizeof *pool);
}

void sc_vqa_scene_pool_image(const sc_vqa_scene_pool *pool, int i, float *out) {
    size_t per = (size_t)3 * (size_t)pool->size * (size_t)pool->size;
    const uint8_t *src = pool->pixels + per * (size_t)i;
    for (size_t j = 0; j < per; j++) out[j] = (float)src[j] * (1.0f / 255.0f);
}

/* ------------------------------------------------------------ questions */

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int is_shoe(int cls) {
    return cls == 5 || cls == 7 || cls == 9;
}

static void centre(const sc_scene_item *it, float *cx, float *cy) {
    *cx = 0.5f * (float)(it->box[0] + it->box[2]);
    *cy = 0.5f * (float)(it->box[1] + it->box[3]);
}

/* Relation of a to b: 0 left of, 1 right of, 2 above, 3 below; -1 unclear. */
static int relation(const sc_scene_info *s, int a, int b) {
    float ax, ay, bx, by;
    centre(&s->items[a], &ax, &ay);
    centre(&s->items[b], &bx, &by);
    float dx = bx - ax, dy = by - ay; /* b relative to a */
    if (fabsf(fabsf(dx) - fabsf(dy)) < SEP) return -1;
    if (fabsf(dx) > fabsf(dy)) return dx > 0 ? 0 : 1; /* a left of b */
    return dy > 0 ? 2 : 3;                            /* a above b */
}

int sc_vqa_scene_relation(const sc_scene_info *info, int a, int b) {
    if (!info || a < 0 || b < 0 || a >= info->n_items || b >= info->n_items || a == b) return -1;
    return relation(info, a, b);
}

/* 1: by noun, 2: by colour + noun, 0: not nameable. */
static int naming(const sc_scene_info *s, int i) {
    int same_cls = 0, same_both = 0;
    for (int j = 0; j < s->n_items; j++) {
        if (s->items[j].cls == s->items[i].cls) {
            same_cls++;
            if (s->items[j].colour == s->items[i].colour) same_both++;
        }
    }
    if (same_cls == 1) return 1;
    if (same_both == 1) return 2;
    return 0;
}

static void name_item(const sc_scene_info *s, int i, int mode, char *buf, size_t cap) {
    if (mode == 2)
        snprintf(buf, cap, "%s %s", sc_scenes_colour_name(s->items[i].colour),
                 sc_scenes_noun(s->items[i].cls));
    else
        snprintf(buf, cap, "%s", sc_scenes_noun(s->items[i].cls));
}

static int count_group(const sc_scene_info *s, int group, int colour) {
    int n = 0;
    for (int i = 0; i < s->n_items; i++) {
        if (group == 0)
            n++;
        else if (group == 1)
            n += is_shoe(s->items[i].cls);
        else
            n += s->items[i].colour == colour;
    }
    return n;
}

static int exist_answer(const sc_scene_info *s, int colour, int cls, int *item) {
    int n = 0;
    for (int i = 0; i < s->n_items; i++)
        if ((colour < 0 || s->items[i].colour == colour) && (cls < 0 || s->items[i].cls == cls)) {
            n++;
            *item = i;
        }
    if (n != 1) *item = -1;
    return n > 0;
}

/* The unique item x with relation(x, b) == rel, all pairs with b clear; -1 otherwise. */
static int class_answer(const sc_scene_info *s, int b, int rel) {
    int found = -1, n = 0;
    for (int x = 0; x < s->n_items; x++) {
        if (x == b) continue;
        int r = relation(s, x, b);
        if (r < 0) return -1;
        if (r == rel) {
            found = x;
            n++;
        }
    }
    return n == 1 ? found : -1;
}

typedef struct cand {
    int a, b, c, d; /* meaning depends on family */
} cand;
#define MAX_CANDS 128

static const char *article(int cls, int colour) {
    if (cls == 1) return "a pair of";
    return colour == 7 ? "an" : "a";
}

/* Try to build a question of family f with answer target on scene s. */
static int build(const sc_scene_info *s, int f, int target, sc_rng *r, sc_vqa_question *q) {
    cand c[MAX_CANDS];
    int nc = 0;
    q->item = -1;
    q->ref[0] = q->ref[1] = -1;
    q->q_colour = q->q_class = q->q_group = q->rel = -1;
    char na[48], nb[48];
    static const char *rel_words[4][3] = {{"to the left of", "left of", "on the left of"},
                                          {"to the right of", "right of", "on the right of"},
                                          {"above", "over", "higher than"},
                                          {"below", "under", "lower than"}};
    switch (f) {
    case SC_VQA_EXIST: {
        int mode = (int)sc_rng_below(r, 5); /* 0-2: colour+class, 3: class, 4: colour */
        int want = target == A_YES;
        int hard = target == A_NO && mode <= 2 && sc_rng_uniform(r) < 0.5f;
        for (int col = -1; col < SC_SCENES_NUM_COLOURS; col++)
            for (int k = -1; k < 10; k++) {
                if (mode <= 2 && (col < 0 || k < 0)) continue;
                if (mode == 3 && (col >= 0 || k < 0)) continue;
                if (mode == 4 && (col < 0 || k >= 0)) continue;
                int it;
                if (exist_answer(s, col, k, &it) != want) continue;
                if (hard) {
                    int shares = 0;
                    for (int i = 0; i < s->n_items; i++)
                        shares |= s->items[i].colour == col || s->items[i].cls == k;
                    if (!shares) continue;
                }
                if (nc < MAX_CANDS) c[nc++] = (cand){col, k, it, 0};
            }
        if (!nc) return 0;
        cand x = c[sc_rng_below(r, (uint64_t)nc)];
        q->q_colour = x.a;
        q->q_class = x.b;
        q->item = x.c;
        int t = (int)sc_rng_below(r, 3);
        if (x.a >= 0 && x.b >= 0) {
            static const char *tp[3] = {"is there %s %s %s?", "do you see %s %s %s?",
                                        "does the scene contain %s %s %s?"};
            snprintf(q->text, sizeof q->text, tp[t], article(x.b, x.a), sc_scenes_colour_name(x.a),
                     sc_scenes_noun(x.b));
        } else if (x.b >= 0) {
            static const char *tp[3] = {"is there %s %s?", "do you see %s %s?",
                                        "does the scene contain %s %s?"};
            snprintf(q->text, sizeof q->text, tp[t], x.b == 1 ? "a pair of" : "a",
                     sc_scenes_noun(x.b));
        } else {
            static const char *tp[3] = {"is there anything %s?", "is there a %s item?",
                                        "do you see anything %s?"};
            snprintf(q->text, sizeof q->text, tp[t], sc_scenes_colour_name(x.a));
        }
        break;
    }
    case SC_VQA_COUNT: {
        int want = target - A_NUM0;
        int gsel = (int)sc_rng_below(r, 3);
        for (int pass = 0; pass < 3 && !nc; pass++) {
            int g = (gsel + pass) % 3;
            if (g == 2) {
                for (int col = 0; col < SC_SCENES_NUM_COLOURS; col++)
                    if (count_group(s, 2, col) == want) c[nc++] = (cand){2, col, 0, 0};
            } else if (count_group(s, g, -1) == want)
                c[nc++] = (cand){g, -1, 0, 0};
        }
        if (!nc) return 0;
        cand x = c[sc_rng_below(r, (uint64_t)nc)];
        q->q_group = x.a;
        q->q_colour = x.b;
        int t = (int)sc_rng_below(r, 3);
        if (x.a == 0) {
            static const char *tp[3] = {"how many items are there?",
                                        "how many things are in the picture?",
                                        "how many objects are there?"};
            snprintf(q->text, sizeof q->text, "%s", tp[t]);
        } else if (x.a == 1) {
            static const char *tp[3] = {"how many shoes are there?",
                                        "how many shoes are in the picture?",
                                        "what number of shoes are there?"};
            snprintf(q->text, sizeof q->text, "%s", tp[t]);
        } else {
            static const char *tp[3] = {"how many %s items are there?",
                                        "how many %s things are in the picture?",
                                        "how many things are %s?"};
            snprintf(q->text, sizeof q->text, tp[t], sc_scenes_colour_name(x.b));
        }
        break;
    }
    case SC_VQA_COLOUR: {
        for (int i = 0; i < s->n_items; i++)
            if (naming(s, i) == 1 && s->items[i].colour == target - A_COL0)
                c[nc++] = (cand){i, 0, 0, 0};
        if (!nc) return 0;
        int i = c[sc_rng_below(r, (uint64_t)nc)].a;
        q->ref[0] = i;
        q->item = i;
        int t = (int)sc_rng_below(r, 3);
        const char *noun = sc_scenes_noun(s->items[i].cls);
        int pl = s->items[i].cls == 1;
        if (t == 0)
            snprintf(q->text, sizeof q->text, "what colour %s the %s?", pl ? "are" : "is", noun);
        else if (t == 1)
            snprintf(q->text, sizeof q->text, "what is the colour of the %s?", noun);
        else
            snprintf(q->text, sizeof q->text, "which colour %s the %s?", pl ? "are" : "is", noun);
        break;
    }
    case SC_VQA_CLASS: {
        for (int b = 0; b < s->n_items; b++) {
            if (!naming(s, b)) continue;
            for (int rel = 0; rel < 4; rel++) {
                int x = class_answer(s, b, rel);
                if (x >= 0 && s->items[x].cls == target - A_CLS0) c[nc++] = (cand){b, rel, x, 0};
            }
        }
        if (!nc) return 0;
        cand x = c[sc_rng_below(r, (uint64_t)nc)];
        q->ref[0] = x.a;
        q->rel = x.b;
        q->item = x.c;
        name_item(s, x.a, naming(s, x.a), nb, sizeof nb);
        const char *rw = rel_words[x.b][sc_rng_below(r, 3)];
        int t = (int)sc_rng_below(r, 2);
        snprintf(q->text, sizeof q->text, t ? "which item is %s the %s?" : "what is %s the %s?", rw,
                 nb);
        break;
    }
    case SC_VQA_RELATION: {
        int want = target == A_YES;
        for (int a = 0; a < s->n_items; a++)
            for (int b = 0; b < s->n_items; b++) {
                if (a == b || !naming(s, a) || !naming(s, b)) continue;
                int rr = relation(s, a, b);
                if (rr < 0) continue;
                for (int rel = 0; rel < 4; rel++)
                    if ((rel == rr) == want) c[nc++] = (cand){a, b, rel, 0};
            }
        if (!nc) return 0;
        cand x = c[sc_rng_below(r, (uint64_t)nc)];
        q->ref[0] = x.a;
        q->ref[1] = x.b;
        q->rel = x.c;
        name_item(s, x.a, naming(s, x.a), na, sizeof na);
        name_item(s, x.b, naming(s, x.b), nb, sizeof nb);
        const char *rw = rel_words[x.c][sc_rng_below(r, 3)];
        snprintf(q->text, sizeof q->text, "%s the %s %s the %s?",
                 s->items[x.a].cls == 1 ? "are" : "is", na, rw, nb);
        break;
    }
    case SC_VQA_COMPARE: {
        int want = target == A_YES;
        for (int a = 0; a < s->n_items; a++)
            for (int b = a + 1; b < s->n_items; b++) {
                if (naming(s, a) != 1 || naming(s, b) != 1) continue;
                if ((s->items[a].colour == s->items[b].colour) == want)
                    c[nc++] = (cand){a, b, 0, 0};
            }
        if (!nc) return 0;
        cand x = c[sc_rng_below(r, (uint64_t)nc)];
        if (sc_rng_below(r, 2)) {
            int t = x.a;
            x.a = x.b;
            x.b = t;
        }
        q->ref[0] = x.a;
        q->ref[1] = x.b;
        const char *A = sc_scenes_noun(s->items[x.a].cls), *B = sc_scenes_noun(s->items[x.b].cls);
        int t = (int)sc_rng_below(r, 3);
        if (t == 0)
            snprintf(q->text, sizeof q->text, "are the %s and the %s the same colour?", A, B);
        else if (t == 1)
            snprintf(q->text, sizeof q->text, "do the %s and the %s have the same colour?", A, B);
        else
            snprintf(q->text, sizeof q->text, "%s the %s the same colour as the %s?",
                     s->items[x.a].cls == 1 ? "are" : "is", A, B);
        break;
    }
    default:
        return 0;
    }
    q->family = f;
    q->answer_id = target;
    snprintf(q->answer, sizeof q->answer, "%s", answer_word(target));
    return 1;
}

static void family_answers(int f, int *lo, int *n) {
    switch (f) {
    case SC_VQA_COUNT:
        *lo = A_NUM0, *n = 4;
        break;
    case SC_VQA_COLOUR:
        *lo = A_COL0, *n = SC_SCENES_NUM_COLOURS;
        break;
    case SC_VQA_CLASS:
        *lo = A_CLS0, *n = 10;
        break;
    default:
        *lo = A_YES, *n = 2;
        break;
    }
}

sc_status sc_vqa_scene_question(const sc_vqa_scene_pool *pool, uint64_t seed, uint64_t index,
                                sc_vqa_question *out) {
    if (!pool || !out || pool->n < 1 || !pool->info)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa scene question: bad arguments");
    memset(out, 0, sizeof *out);
    int f = (int)(index % SC_VQA_NUM_FAMILIES);
    uint64_t h = mix64(mix64(mix64(seed) ^ (0x51A5ULL + (uint64_t)pool->split)) ^ index);
    sc_rng r;
    sc_rng_seed(&r, h);
    int lo, na;
    family_answers(f, &lo, &na);
    for (int round = 0; round < 8; round++) {
        int target = lo + (int)sc_rng_below(&r, (uint64_t)na);
        for (int j = 0; j < MAX_ATTEMPTS; j++) {
            int sidx =
                (int)(mix64(h ^ mix64((uint64_t)(round * MAX_ATTEMPTS + j))) % (uint64_t)pool->n);
            if (build(&pool->info[sidx], f, target, &r, out)) {
                out->scene = sidx;
                return SC_OK;
            }
        }
    }
    return sc_set_error(SC_ERR_INTERNAL,
                        "vqa scene question %llu: no scene in the pool of %d "
                        "admits a %s question",
                        (unsigned long long)index, pool->n, FAMILY_NAMES[f]);
}

int sc_vqa_scene_check(const sc_scene_info *s, const sc_vqa_question *q) {
    if (!s || !q) return 0;
    int expect = -1, item = -1;
    for (int k = 0; k < 2; k++)
        if (q->ref[k] >= s->n_items) return 0;
    for (int k = 0; k < 2; k++) {
        if (q->ref[k] < 0) continue;
        const char *noun = sc_scenes_noun(s->items[q->ref[k]].cls);
        if (!strstr(q->text, noun)) return 0;
    }
    switch (q->family) {
    case SC_VQA_EXIST:
        expect = exist_answer(s, q->q_colour, q->q_class, &item) ? A_YES : A_NO;
        if (item != q->item) return 0;
        break;
    case SC_VQA_COUNT:
        if (q->q_group < 0 || q->q_group > 2) return 0;
        expect = A_NUM0 + count_group(s, q->q_group, q->q_colour);
        break;
    case SC_VQA_COLOUR:
        if (q->ref[0] < 0 || naming(s, q->ref[0]) != 1 || q->item != q->ref[0]) return 0;
        expect = A_COL0 + s->items[q->ref[0]].colour;
        break;
    case SC_VQA_CLASS: {
        if (q->ref[0] < 0 || q->rel < 0 || q->rel > 3) return 0;
        int x = class_answer(s, q->ref[0], q->rel);
        if (x < 0 || x != q->item) return 0;
        expect = A_CLS0 + s->items[x].cls;
        break;
    }
    case SC_VQA_RELATION: {
        if (q->ref[0] < 0 || q->ref[1] < 0 || q->rel < 0 || q->rel > 3) return 0;
        int rr = relation(s, q->ref[0], q->ref[1]);
        if (rr < 0) return 0;
        expect = rr == q->rel ? A_YES : A_NO;
        break;
    }
    case SC_VQA_COMPARE:
        if (q->ref[0] < 0 || q->ref[1] < 0) return 0;
        expect = s->items[q->ref[0]].colour == s->items[q->ref[1]].colour ? A_YES : A_NO;
        break;
    default:
        return 0;
    }
    return expect == q->answer_id && !strcmp(q->answer, answer_word(expect));
}
