/* saccade: captioner on Fashion scenes — vocabulary, tokens, parsing, scoring
 * (see sc_captioner_scenes.h). */
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include "saccade/sc_captioner_scenes.h"
#include "sc_internal.h"

static const char *const k_words[] = {
    "<pad>",    "<unk>",  "<start>",    "<end>",   "a",     "an",      "pair",    "of",
    "on",       "dark",   "background", "there",   "is",    "single",  "in",      "the",
    "picture",  "to",     "left",       "right",   "and",   "above",   "below",   "at",
    "top",      "bottom", "from",       "middle",  "three", "items",   "red",     "green",
    "blue",     "yellow", "cyan",       "magenta", "white", "orange",  "t-shirt", "trousers",
    "pullover", "dress",  "coat",       "sandal",  "shirt", "sneaker", "bag",     "boot"};

sc_status sc_capscenes_vocab(sc_vocab *out) {
    return sc_vocab_from_words(k_words, (int)(sizeof k_words / sizeof k_words[0]), out);
}

int sc_capscenes_tokens(const sc_vocab *v, const char *caption, int32_t *out, int cap) {
    if (!v || !caption || !out || cap < 2) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_tokens: bad argument");
        return -1;
    }
    int n = 0;
    out[n++] = v->start;
    const char *p = caption;
    char w[64];
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        size_t k = strcspn(p, " ");
        if (k >= sizeof w) {
            sc_set_error(SC_ERR_FORMAT, "caption word too long in \"%.80s\"", caption);
            return -1;
        }
        memcpy(w, p, k);
        w[k] = 0;
        p += k;
        int id = sc_vocab_id(v, w);
        if (id == v->unk) {
            sc_set_error(SC_ERR_FORMAT, "caption word \"%s\" is not in the vocabulary", w);
            return -1;
        }
        if (n >= cap - 1) {
            sc_set_error(SC_ERR_LIMIT, "caption longer than %d tokens", cap);
            return -1;
        }
        out[n++] = id;
    }
    out[n++] = v->end;
    return n;
}

static int colour_of(const char *w) {
    for (int c = 0; c < SC_SCENES_NUM_COLOURS; c++)
        if (!strcmp(w, sc_scenes_colour_name(c))) return c;
    return -1;
}
static int class_of(const char *w) {
    for (int c = 0; c < 10; c++)
        if (!strcmp(w, sc_scenes_noun(c))) return c;
    return -1;
}
static int is(const char *const *w, int n, int i, const char *s) {
    return i >= 0 && i < n && !strcmp(w[i], s);
}

void sc_capscenes_parse_words(const char *const *w, int n, sc_capscenes_parse *out) {
    memset(out, 0, sizeof *out);
    out->axis = -1;
    for (int i = 0; i + 1 < n; i++) {
        int col = colour_of(w[i]), cls = class_of(w[i + 1]);
        if (col >= 0 && cls >= 0 && out->n < SC_CAPSCENES_MAX_MENTIONS) {
            out->colour[out->n] = col;
            out->cls[out->n] = cls;
            out->word[out->n] = i + 1;
            out->n++;
        }
    }
    for (int i = 0; i < n; i++) {
        if (is(w, n, i, "left") &&
            (is(w, n, i - 2, "to") || is(w, n, i - 2, "on") || is(w, n, i + 1, "to"))) {
            out->axis = 0; /* "to the left of", "on the left", "left to right" */
            break;
        }
        if (is(w, n, i, "right") && (is(w, n, i - 2, "to") || is(w, n, i + 1, "to"))) {
            out->axis = 0; /* "to the right of", "right to left" */
            out->reversed = 1;
            break;
        }
        if (is(w, n, i, "above") ||
            (is(w, n, i, "top") && (is(w, n, i - 2, "at") || is(w, n, i + 1, "to")))) {
            out->axis = 1;
            break;
        }
        if (is(w, n, i, "below") || (is(w, n, i, "bottom") && is(w, n, i + 1, "to"))) {
            out->axis = 1;
            out->reversed = 1;
            break;
        }
    }
}

sc_status sc_capscenes_parse_caption(const char *caption, sc_capscenes_parse *out) {
    if (!caption || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_parse: NULL");
    char buf[4096];
    const char *w[256];
    int n = 0;
    if (strlen(caption) >= sizeof buf)
        return sc_set_error(SC_ERR_LIMIT, "sc_capscenes_parse: caption too long");
    strcpy(buf, caption);
    char *save = NULL;
    for (char *s = strtok_r(buf, " ", &save); s; s = strtok_r(NULL, " ", &save)) {
        if (n >= 256) return sc_set_error(SC_ERR_LIMIT, "sc_capscenes_parse: too many words");
        w[n++] = s;
    }
    sc_capscenes_parse_words(w, n, out);
    return SC_OK;
}

/* Mention index in forward order position i. */
static int fwd(const sc_capscenes_parse *p, int i) {
    return p->reversed ? p->n - 1 - i : i;
}

sc_status sc_capscenes_score(const sc_scene_info *info, const char *const *words, int n,
                             const float *alphas, int grid, sc_capscenes_counts *acc) {
    if (!info || (!words && n) || n < 0 || !acc || (alphas && grid <= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_score: bad argument");
    if (info->n_captions < 1 || info->n_items < 1 || info->n_items > SC_SCENES_MAX_ITEMS)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_score: scene without captions/items");
    sc_capscenes_parse truth, gen;
    sc_status s = sc_capscenes_parse_caption(info->captions[0], &truth);
    if (s) return s;
    sc_capscenes_parse_words(words, n, &gen);
    /* A caption along another axis than the canonical one is scored in that
     * axis's order when a reference along it exists (the generator adds them
     * when the items are clearly ordered along both axes). */
    for (int r = 1; r < info->n_captions && gen.axis >= 0 && truth.axis != gen.axis; r++) {
        sc_capscenes_parse alt;
        s = sc_capscenes_parse_caption(info->captions[r], &alt);
        if (s) return s;
        if (alt.axis == gen.axis && alt.n == truth.n) truth = alt;
    }
    acc->scenes++;
    /* exact match */
    char text[SC_SCENES_CAPTION_CAP * 2];
    size_t len = 0;
    int fits = 1;
    for (int i = 0; i < n && fits; i++) {
        int k = snprintf(text + len, sizeof text - len, "%s%s", i ? " " : "", words[i]);
        if (k < 0 || (size_t)k >= sizeof text - len)
            fits = 0;
        else
            len += (size_t)k;
    }
    text[fits ? len : 0] = 0;
    for (int r = 0; fits && r < info->n_captions; r++)
        if (!strcmp(text, info->captions[r])) {
            acc->exact++;
            break;
        }
    const int T = truth.n;
    acc->count_ok += gen.n == T;
    acc->slots += T;
    for (int i = 0; i < T; i++) {
        if (i >= gen.n) break;
        int ti = fwd(&truth, i), gi = fwd(&gen, i);
        acc->colour_ok += gen.colour[gi] == truth.colour[ti];
        acc->class_ok += gen.cls[gi] == truth.cls[ti];
    }
    if (T >= 2) {
        acc->rel_scenes++;
        int ok = gen.n == T && (gen.axis < 0 || gen.axis == truth.axis);
        for (int i = 0; ok && i < T; i++) {
            int gi = fwd(&gen, i);
            int best = -1, bscore = -1;
            for (int j = 0; j < T; j++) {
                int tj = fwd(&truth, j);
                int sc = 2 * (truth.cls[tj] == gen.cls[gi]) + (truth.colour[tj] == gen.colour[gi]);
                sc = sc * 2 + (j == i); /* ties to the same position */
                if (sc > bscore) bscore = sc, best = j;
            }
            ok = best == i;
        }
        acc->rel_ok += ok;
    }
    if (alphas) {
        const int P = grid * grid;
        for (int m = 0; m < gen.n; m++) {
            int t = gen.word[m], cand[SC_SCENES_MAX_ITEMS], nc = 0;
            for (int k = 0; k < info->n_items; k++)
                if (info->items[k].cls == gen.cls[m] && info->items[k].colour == gen.colour[m])
                    cand[nc++] = k;
            if (!nc)
                for (int k = 0; k < info->n_items; k++)
                    if (info->items[k].cls == gen.cls[m]) cand[nc++] = k;
            if (!nc) continue;
            /* the noun's step, then the step of its colour word (t - 1) */
            for (int which = 0; which < 2; which++) {
                const float *a = alphas + (size_t)(t - which) * P;
                int am = 0;
                for (int p = 1; p < P; p++)
                    if (a[p] > a[am]) am = p;
                double cx = (am % grid + 0.5) * info->width / grid;
                double cy = (am / grid + 0.5) * info->height / grid;
                int hit = 0;
                for (int k = 0; k < nc; k++) {
                    const int *b = info->items[cand[k]].box;
                    hit |= cx >= b[0] && cx < b[2] && cy >= b[1] && cy < b[3];
                }
                if (which == 0)
                    acc->point_hit += hit;
                else
                    acc->point_colour_hit += hit;
            }
            acc->point_total++;
        }
    }
    return SC_OK;
}

sc_status sc_capscenes_attention_mask(const sc_scene_info *info, const char *caption, int grid,
                                      uint8_t *mask, int max_tokens) {
    if (!info || !caption || !mask || grid <= 0 || max_tokens <= 0 || info->width <= 0 ||
        info->height <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_attention_mask: bad argument");
    if (grid > 64) return sc_set_error(SC_ERR_LIMIT, "sc_capscenes_attention_mask: grid above 64");
    const size_t P = (size_t)grid * grid;
    memset(mask, 0, (size_t)max_tokens * P);
    sc_capscenes_parse parse;
    sc_status s = sc_capscenes_parse_caption(caption, &parse);
    if (s) return s;
    for (int m = 0; m < parse.n; m++) {
        uint8_t cells[64 * 64];
        memset(cells, 0, P);
        int any = 0;
        for (int k = 0; k < info->n_items; k++) {
            const sc_scene_item *it = &info->items[k];
            if (it->cls != parse.cls[m] || it->colour != parse.colour[m]) continue;
            sc_scenes_box_cells(it->box, info->width, info->height, grid, cells);
            any = 1;
        }
        if (!any) continue;
        /* word w is token w + 1: the noun, then its colour word just before it */
        for (int tk = parse.word[m]; tk <= parse.word[m] + 1; tk++)
            if (tk >= 1 && tk < max_tokens) memcpy(mask + (size_t)tk * P, cells, P);
    }
    return SC_OK;
}

/* ---------------------------------------------------------------- training batches */

sc_status sc_capscenes_batch_init(sc_capscenes_batch *b, int capacity, int size, int att_grid,
                                  int item_grid) {
    if (!b) return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_batch_init: NULL batch");
    memset(b, 0, sizeof *b);
    if (capacity < 1 || capacity > 4096 || size < 1 || size > 1024 || att_grid < 0 ||
        att_grid > 64 || item_grid < 0 || item_grid > 64)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_capscenes_batch_init: capacity %d (1..4096), size %d (1..1024), "
                            "grids %d, %d (0..64)",
                            capacity, size, att_grid, item_grid);
    const size_t B = (size_t)capacity, T = SC_CAPSCENES_MAX_TOKENS;
    const size_t PA = (size_t)att_grid * att_grid, PI = (size_t)item_grid * item_grid;
    const size_t slots = B * SC_SCENES_MAX_ITEMS;
    b->capacity = capacity, b->size = size, b->att_grid = att_grid, b->item_grid = item_grid;
    b->images = malloc(B * 3 * (size_t)size * size * sizeof(float));
    b->captions = malloc(B * T * sizeof(int32_t));
    b->lengths = malloc(B * sizeof(int32_t));
    b->tokens = malloc(B * T * sizeof(int32_t));
    int fail = !b->images || !b->captions || !b->lengths || !b->tokens;
    if (att_grid) {
        b->att_mask = malloc(B * T * PA);
        b->att_scratch = malloc(B * T * PA);
        fail |= !b->att_mask || !b->att_scratch;
    }
    if (item_grid) {
        b->n_items = calloc(B, sizeof(int));
        b->item_class = malloc(slots * sizeof(int32_t));
        b->item_colour = malloc(slots * sizeof(int32_t));
        b->item_cells = malloc(slots * PI);
        fail |= !b->n_items || !b->item_class || !b->item_colour || !b->item_cells;
    }
    if (fail) {
        sc_capscenes_batch_free(b);
        return sc_set_error(SC_ERR_NOMEM, "sc_capscenes_batch_init: out of memory");
    }
    sc_caption_items it = {SC_SCENES_MAX_ITEMS, b->n_items, b->item_class, b->item_colour,
                           b->item_cells};
    b->items = it;
    return SC_OK;
}

void sc_capscenes_batch_free(sc_capscenes_batch *b) {
    if (!b) return;
    free(b->images), free(b->captions), free(b->lengths), free(b->tokens);
    free(b->att_mask), free(b->att_scratch);
    free(b->n_items), free(b->item_class), free(b->item_colour), free(b->item_cells);
    memset(b, 0, sizeof *b);
}

/* Normalise a scene image (3 x S x S, values in [0, 1]) with ImageNet mean/std
 * into out. Multiplies by 1 / std (sc_image_normalize divides): the shipped
 * scenes captioner was trained with exactly these values. */
static void normalise(const float *img, int S, float *out) {
    size_t plane = (size_t)S * S;
    for (int c = 0; c < 3; c++) {
        float mu = SC_IMAGENET_MEAN[c], is = 1.0f / SC_IMAGENET_STD[c];
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = (img[c * plane + i] - mu) * is;
    }
}

/* Example e: scene `index`, its image, tokens, attention targets and items.
 * Returns 1 on failure. */
static int fill_example(sc_capscenes_batch *b, const sc_scenes_params *p, sc_scene_split split,
                        const sc_vocab *v, int index, int pick, size_t e, int *len) {
    sc_image img = {0};
    sc_scene_info info;
    const int S = b->size;
    if (sc_scenes_generate(p, split, (uint64_t)index, &img, &info)) return 1;
    if (img.w != S || img.h != S || img.c != 3) {
        sc_image_free(&img);
        return 1;
    }
    normalise(img.data, S, b->images + e * 3 * S * S);
    if (b->item_grid) {
        const size_t P = (size_t)b->item_grid * b->item_grid;
        b->n_items[e] = info.n_items;
        for (int k = 0; k < info.n_items; k++) {
            const size_t slot = e * SC_SCENES_MAX_ITEMS + (size_t)k;
            b->item_class[slot] = info.items[k].cls;
            b->item_colour[slot] = info.items[k].colour;
            memset(b->item_cells + slot * P, 0, P);
            sc_scenes_box_cells(info.items[k].box, img.w, img.h, b->item_grid,
                                b->item_cells + slot * P);
        }
    }
    sc_image_free(&img);
    const int r = pick % info.n_captions;
    *len = sc_capscenes_tokens(v, info.captions[r], b->tokens + e * SC_CAPSCENES_MAX_TOKENS,
                               SC_CAPSCENES_MAX_TOKENS);
    if (*len < 0) return 1;
    const size_t PA = (size_t)b->att_grid * b->att_grid;
    return b->att_grid &&
           sc_capscenes_attention_mask(&info, info.captions[r], b->att_grid,
                                       b->att_scratch + e * SC_CAPSCENES_MAX_TOKENS * PA,
                                       SC_CAPSCENES_MAX_TOKENS);
}

sc_status sc_capscenes_batch_fill(sc_capscenes_batch *b, const sc_scenes_params *p,
                                  sc_scene_split split, const sc_vocab *v, const int *idx, int n,
                                  sc_rng *rng) {
    if (!b || !b->images || !p || !v || !idx)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_capscenes_batch_fill: NULL argument");
    if (n < 1 || n > b->capacity)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_capscenes_batch_fill: %d scenes for a batch of %d", n, b->capacity);
    int pick[4096];
    for (int e = 0; e < n; e++) pick[e] = rng ? (int)sc_rng_below(rng, 1 << 20) : 0;
    int fail = 0, maxlen = 2;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : fail) reduction(max : maxlen)
    for (int e = 0; e < n; e++) {
        int k = 0;
        if (fill_example(b, p, split, v, idx[e], pick[e], (size_t)e, &k)) fail = 1;
        b->lengths[e] = k;
        if (k > maxlen) maxlen = k;
    }
    if (fail)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_capscenes_batch_fill: a scene could not be generated at %dx%d "
                            "or its caption tokenised",
                            b->size, b->size);
    const size_t PA = (size_t)b->att_grid * b->att_grid, L = (size_t)maxlen;
    for (size_t e = 0; e < (size_t)n; e++) {
        for (size_t t = 0; t < L; t++)
            b->captions[e * L + t] =
                (int32_t)t < b->lengths[e] ? b->tokens[e * SC_CAPSCENES_MAX_TOKENS + t] : 0;
        if (b->att_grid)
            memcpy(b->att_mask + e * L * PA, b->att_scratch + e * SC_CAPSCENES_MAX_TOKENS * PA,
                   L * PA);
    }
    sc_caption_batch cb = {n,          maxlen,      b->captions,
                           b->lengths, b->att_mask, b->item_grid ? &b->items : NULL};
    b->batch = cb;
    return SC_OK;
}
