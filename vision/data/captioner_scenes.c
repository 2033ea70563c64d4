/* saccade: captioner on Fashion scenes — vocabulary, tokens, parsing, scoring
 * (see sc_captioner_scenes.h). */
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
