/* Fashion scenes: synthetic captioning scenes from Fashion-MNIST items (see
 * sc_scenes.h for the recipe, caption templates and file format). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <stb_image_resize.h>
#include "saccade/sc_rng.h"
#include "saccade/sc_scenes.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

#define ITEM_GAP 2       /* pixels between placement squares */
#define ALPHA_BOX 0.1f   /* alpha above which a pixel counts for the tight box */
#define CLEAR_MARGIN 6.0 /* relation axis must win by this many pixels */
#define MAX_ATTEMPTS 200 /* full layout attempts before giving up */
#define MAX_POS_TRIES 60 /* position draws per item per attempt */

static const char *const NOUNS[10] = {"t-shirt", "trousers", "pullover", "dress", "coat",
                                      "sandal",  "shirt",    "sneaker",  "bag",   "boot"};
static const char *const COLOUR_NAMES[SC_SCENES_NUM_COLOURS] = {
    "red", "green", "blue", "yellow", "cyan", "magenta", "white", "orange"};
static const float COLOURS[SC_SCENES_NUM_COLOURS][3] = {
    {0.95f, 0.10f, 0.10f}, {0.10f, 0.85f, 0.15f}, {0.15f, 0.35f, 1.00f}, {0.95f, 0.90f, 0.10f},
    {0.10f, 0.90f, 0.95f}, {0.95f, 0.15f, 0.90f}, {1.00f, 1.00f, 1.00f}, {1.00f, 0.55f, 0.05f}};

const char *sc_scenes_noun(int cls) {
    return cls >= 0 && cls < 10 ? NOUNS[cls] : NULL;
}
const char *sc_scenes_colour_name(int c) {
    return c >= 0 && c < SC_SCENES_NUM_COLOURS ? COLOUR_NAMES[c] : NULL;
}
const char *sc_scenes_split_name(sc_scene_split s) {
    return s == SC_SCENES_TRAIN ? "train" : s == SC_SCENES_TEST ? "test" : NULL;
}
int sc_scenes_colour_rgb(int c, float rgb[3]) {
    if (c < 0 || c >= SC_SCENES_NUM_COLOURS || !rgb) return -1;
    memcpy(rgb, COLOURS[c], 3 * sizeof(float));
    return 0;
}

sc_scenes_params sc_scenes_default_params(void) {
    sc_scenes_params p;
    memset(&p, 0, sizeof p);
    p.seed = 0;
    p.size = 96;
    p.min_items = 1;
    p.max_items = 3;
    return p;
}

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static sc_status check_params(const sc_scenes_params *p, sc_scene_split split,
                              const sc_fashion_mnist **src, int *imin, int *imax) {
    if (!p) return sc_set_error(SC_ERR_INVALID_ARG, "scenes: params is NULL");
    if (split != SC_SCENES_TRAIN && split != SC_SCENES_TEST)
        return sc_set_error(SC_ERR_INVALID_ARG, "scenes: split must be train or test");
    if (p->size < 48 || p->size > 1024)
        return sc_set_error(SC_ERR_INVALID_ARG, "scenes: size %d outside 48..1024", p->size);
    if (p->min_items < 1 || p->max_items > SC_SCENES_MAX_ITEMS || p->min_items > p->max_items)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "scenes: need 1 <= min_items (%d) <= max_items (%d) <= %d",
                            p->min_items, p->max_items, SC_SCENES_MAX_ITEMS);
    int lo = p->item_min, hi = p->item_max;
    if (!lo) lo = (int)lround(24.0 * p->size / 96.0);
    if (!hi) hi = (int)lround(40.0 * p->size / 96.0);
    if (lo < 8 || hi < lo || hi > p->size / 2)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "scenes: item sizes %d..%d must satisfy 8 <= min <= max <= size/2 (%d)",
                            lo, hi, p->size / 2);
    const sc_fashion_mnist *d = split == SC_SCENES_TRAIN ? p->train : p->test;
    if (!d || !d->images || !d->labels || d->n == 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "scenes: no Fashion-MNIST %s split loaded",
                            sc_scenes_split_name(split));
    if (d->rows != SC_FASHION_MNIST_SIDE || d->cols != SC_FASHION_MNIST_SIDE)
        return sc_set_error(SC_ERR_INVALID_ARG, "scenes: source images are %dx%d, expected 28x28",
                            d->rows, d->cols);
    *src = d;
    *imin = lo;
    *imax = hi;
    return SC_OK;
}

/* ---- background ---- */

/* Cheap zero-mean, unit-variance pixel noise: one 64-bit draw split into two
 * 32-bit uniforms, summed (triangular distribution, variance 1/6, rescaled). */
static inline float tri_noise(sc_rng *r) {
    uint64_t u = sc_rng_u64(r);
    float a = (float)(u >> 32) * (1.0f / 4294967296.0f);
    float b = (float)(u & 0xFFFFFFFFu) * (1.0f / 4294967296.0f);
    return (a + b - 1.0f) * 2.4494897f;
}

static void make_background(sc_rng *r, sc_image *img) {
    int w = img->w, h = img->h;
    size_t hw = (size_t)w * h;
    float base[3], gdir[2], gamp[3], namp;
    for (int c = 0; c < 3; c++) base[c] = 0.02f + 0.13f * sc_rng_uniform(r);
    int style = (int)sc_rng_below(r, 3); /* 0 plain, 1 gradient, 2 gradient + blobs */
    float ang = 6.2831853f * sc_rng_uniform(r);
    gdir[0] = cosf(ang);
    gdir[1] = sinf(ang);
    for (int c = 0; c < 3; c++) gamp[c] = style ? 0.02f + 0.08f * sc_rng_uniform(r) : 0.0f;
    namp = style == 2 ? 0.03f + 0.05f * sc_rng_uniform(r) : 0.0f;
    enum { G = 5 };
    float grid[3][G][G];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < G; i++)
            for (int j = 0; j < G; j++) grid[c][i][j] = 2.0f * sc_rng_uniform(r) - 1.0f;
    float pix_sigma = 0.008f + 0.012f * sc_rng_uniform(r);
    for (int y = 0; y < h; y++) {
        float v = (float)y / (float)(h - 1);
        float gy = v * (G - 1);
        int iy = (int)gy;
        if (iy >= G - 1) iy = G - 2;
        float fy = gy - (float)iy;
        for (int x = 0; x < w; x++) {
            float u = (float)x / (float)(w - 1);
            float gx = u * (G - 1);
            int ix = (int)gx;
            if (ix >= G - 1) ix = G - 2;
            float fx = gx - (float)ix;
            float t = 0.5f + 0.5f * ((u - 0.5f) * gdir[0] + (v - 0.5f) * gdir[1]) * 1.41421356f;
            for (int c = 0; c < 3; c++) {
                float lf = (1 - fy) * ((1 - fx) * grid[c][iy][ix] + fx * grid[c][iy][ix + 1]) +
                           fy * ((1 - fx) * grid[c][iy + 1][ix] + fx * grid[c][iy + 1][ix + 1]);
                float val = base[c] + gamp[c] * t + namp * lf + pix_sigma * tri_noise(r);
                if (val < 0) val = 0;
                if (val > SC_SCENES_BG_MAX) val = SC_SCENES_BG_MAX;
                img->data[c * hw + (size_t)y * w + x] = val;
            }
        }
    }
}

/* ---- items ---- */

typedef struct item_work {
    int size, x, y;
    sc_image alpha; /* size x size, c = 1 */
    int lb[4];      /* tight box inside the square */
} item_work;

static sc_status render_alpha(const sc_fashion_mnist *d, size_t src, int size, int flip,
                              item_work *it) {
    /* stb's default filters (Mitchell down, Catmull-Rom up), as
     * sc_image_resize(SC_FILTER_DEFAULT) but without its OpenMP region: scenes
     * are generated in parallel one level up. */
    float a[28 * 28];
    const uint8_t *px = d->images + src * 28 * 28;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++)
            a[y * 28 + x] = (float)px[y * 28 + (flip ? 27 - x : x)] / 255.0f;
    sc_status s = sc_image_alloc(&it->alpha, size, size, 1);
    if (s) return s;
    if (!stbir_resize_float_generic(a, 28, 28, 28 * (int)sizeof(float), it->alpha.data, size, size,
                                    size * (int)sizeof(float), 1, STBIR_ALPHA_CHANNEL_NONE, 0,
                                    STBIR_EDGE_CLAMP, STBIR_FILTER_DEFAULT, STBIR_COLORSPACE_LINEAR,
                                    NULL))
        return sc_set_error(SC_ERR_INTERNAL, "scenes: resizing an item to %d px failed", size);
    int x0 = size, y0 = size, x1 = 0, y1 = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            float *v = &it->alpha.data[y * size + x];
            if (*v < 0) *v = 0;
            if (*v > 1) *v = 1;
            if (*v > ALPHA_BOX) {
                if (x < x0) x0 = x;
                if (y < y0) y0 = y;
                if (x + 1 > x1) x1 = x + 1;
                if (y + 1 > y1) y1 = y + 1;
            }
        }
    if (x1 <= x0) x0 = 0, y0 = 0, x1 = size, y1 = size; /* blank item: whole square */
    it->lb[0] = x0, it->lb[1] = y0, it->lb[2] = x1, it->lb[3] = y1;
    it->size = size;
    return SC_OK;
}

static double centre(const sc_scene_item *it, int axis) {
    return 0.5 * (it->box[axis] + it->box[axis + 2]);
}

/* Order of items along an axis (by box centre). */
static void order_along(const sc_scene_info *info, int axis, int *ord) {
    for (int i = 0; i < info->n_items; i++) ord[i] = i;
    for (int i = 1; i < info->n_items; i++)
        for (int j = i;
             j > 0 && centre(&info->items[ord[j]], axis) < centre(&info->items[ord[j - 1]], axis);
             j--) {
            int t = ord[j];
            ord[j] = ord[j - 1];
            ord[j - 1] = t;
        }
}

/* Smallest gap between consecutive item centres along an axis (3 items). */
static double min_centre_gap(const sc_scene_info *info, int axis) {
    int ord[SC_SCENES_MAX_ITEMS];
    order_along(info, axis, ord);
    double g1 = centre(&info->items[ord[1]], axis) - centre(&info->items[ord[0]], axis);
    double g2 = centre(&info->items[ord[2]], axis) - centre(&info->items[ord[1]], axis);
    return g1 < g2 ? g1 : g2;
}

/* Is the layout's describing axis clear? Sets *axis (0 = x, 1 = y). */
static int layout_clear(const sc_scene_info *info, int *axis) {
    *axis = 0;
    if (info->n_items == 2) {
        double dx = fabs(centre(&info->items[1], 0) - centre(&info->items[0], 0));
        double dy = fabs(centre(&info->items[1], 1) - centre(&info->items[0], 1));
        *axis = dy > dx;
        return fabs(dx - dy) >= CLEAR_MARGIN;
    }
    if (info->n_items == 3) {
        double gap[2] = {min_centre_gap(info, 0), min_centre_gap(info, 1)};
        *axis = gap[1] > gap[0];
        return gap[*axis] >= CLEAR_MARGIN;
    }
    return 1;
}

static void phrase(const sc_scene_item *it, char *out, size_t cap) {
    const char *col = COLOUR_NAMES[it->colour];
    if (it->cls == 1)
        snprintf(out, cap, "a pair of %s trousers", col);
    else
        snprintf(out, cap, "%s %s %s", col[0] == 'o' ? "an" : "a", col, NOUNS[it->cls]);
}

static void add_caption(sc_scene_info *info, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void add_caption(sc_scene_info *info, const char *fmt, ...) {
    if (info->n_captions >= SC_SCENES_MAX_CAPTIONS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->captions[info->n_captions++], SC_SCENES_CAPTION_CAP, fmt, ap);
    va_end(ap);
}

/* The 3-item captions along one axis (the axis-free "three items" one too if
 * `unordered`). */
/* The item phrases in order along an axis. */
static void phrases_along(const sc_scene_info *info, int axis, char P[][64]) {
    int ord[SC_SCENES_MAX_ITEMS];
    order_along(info, axis, ord);
    for (int i = 0; i < info->n_items; i++) phrase(&info->items[ord[i]], P[i], 64);
}

static void add_three_item_captions(sc_scene_info *info, int axis, int unordered) {
    char P[SC_SCENES_MAX_ITEMS][64];
    phrases_along(info, axis, P);
    const char *fw = axis == 0 ? "from left to right" : "from top to bottom";
    const char *bw = axis == 0 ? "from right to left" : "from bottom to top";
    add_caption(info, "%s %s and %s %s", P[0], P[1], P[2], fw);
    add_caption(info, "%s %s %s and %s", fw, P[0], P[1], P[2]);
    if (axis == 0)
        add_caption(info, "%s on the left %s in the middle and %s on the right", P[0], P[1], P[2]);
    else
        add_caption(info, "%s at the top %s in the middle and %s at the bottom", P[0], P[1], P[2]);
    add_caption(info, "%s %s and %s %s", P[2], P[1], P[0], bw);
    if (unordered) add_caption(info, "three items %s %s and %s", P[0], P[1], P[2]);
}

static void make_captions(sc_scene_info *info, int axis) {
    info->n_captions = 0;
    if (info->n_items == 3) {
        add_three_item_captions(info, axis, 1);
        /* Three items can be clearly ordered along both axes; then the other
         * axis's captions are true as well and belong among the references
         * (all but "three items", which states no axis and so lists the items
         * in the canonical order). */
        if (min_centre_gap(info, 1 - axis) >= CLEAR_MARGIN)
            add_three_item_captions(info, 1 - axis, 0);
        return;
    }
    char P[SC_SCENES_MAX_ITEMS][64];
    phrases_along(info, axis, P);
    if (info->n_items == 1) {
        add_caption(info, "%s", P[0]);
        add_caption(info, "%s on a dark background", P[0]);
        add_caption(info, "there is %s", P[0]);
        /* "a single red sneaker in the picture": drop the article of the phrase. */
        const char *rest = strchr(P[0], ' ') + 1;
        add_caption(info, "a single %s in the picture", rest);
    } else { /* 2 items */
        if (axis == 0) {
            add_caption(info, "%s to the left of %s", P[0], P[1]);
            add_caption(info, "%s to the right of %s", P[1], P[0]);
            add_caption(info, "%s and %s", P[0], P[1]);
            add_caption(info, "%s on the left and %s on the right", P[0], P[1]);
        } else {
            add_caption(info, "%s above %s", P[0], P[1]);
            add_caption(info, "%s below %s", P[1], P[0]);
            add_caption(info, "%s and %s", P[0], P[1]);
            add_caption(info, "%s at the top and %s at the bottom", P[0], P[1]);
        }
    }
}

static int cells_apart(const item_work *a, const item_work *b) {
    return a->x + a->size + ITEM_GAP <= b->x || b->x + b->size + ITEM_GAP <= a->x ||
           a->y + a->size + ITEM_GAP <= b->y || b->y + b->size + ITEM_GAP <= a->y;
}

sc_status sc_scenes_generate(const sc_scenes_params *p, sc_scene_split split, uint64_t index,
                             sc_image *img, sc_scene_info *info) {
    if (!img || !info) return sc_set_error(SC_ERR_INVALID_ARG, "scenes: img or info is NULL");
    memset(img, 0, sizeof *img);
    memset(info, 0, sizeof *info);
    const sc_fashion_mnist *d = NULL;
    int imin = 0, imax = 0;
    sc_status s = check_params(p, split, &d, &imin, &imax);
    if (s) return s;
    sc_rng r;
    sc_rng_seed(&r, mix64(mix64(mix64(p->seed) ^ (0xA5A5A5A5ULL + (uint64_t)split)) ^ index));

    info->split = split;
    info->index = index;
    info->width = info->height = p->size;
    info->n_items =
        p->min_items + (int)sc_rng_below(&r, (uint64_t)(p->max_items - p->min_items + 1));
    /* Items: source, colour, mirroring; (class, colour) pairs distinct in a scene. */
    for (int i = 0; i < info->n_items; i++) {
        sc_scene_item *it = &info->items[i];
        it->source_index = (size_t)sc_rng_below(&r, d->n);
        it->cls = d->labels[it->source_index] % 10;
        it->flipped = (int)sc_rng_below(&r, 2);
        for (int tries = 0; tries < 32; tries++) {
            it->colour = (int)sc_rng_below(&r, SC_SCENES_NUM_COLOURS);
            int dup = 0;
            for (int j = 0; j < i; j++)
                dup |= info->items[j].cls == it->cls && info->items[j].colour == it->colour;
            if (!dup) break;
        }
    }
    s = sc_image_alloc(img, p->size, p->size, 3);
    if (s) return s;
    make_background(&r, img);

    item_work w[SC_SCENES_MAX_ITEMS];
    memset(w, 0, sizeof w);
    int placed = 0, axis = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS && !placed && !s; attempt++) {
        /* Later attempts shrink the size range towards item_min. */
        int hi = imax - (imax - imin) * attempt / (MAX_ATTEMPTS / 2);
        if (hi < imin) hi = imin;
        int ok = 1;
        for (int i = 0; i < info->n_items && ok; i++) {
            w[i].size = imin + (int)sc_rng_below(&r, (uint64_t)(hi - imin + 1));
            int found = 0;
            for (int t = 0; t < MAX_POS_TRIES && !found; t++) {
                w[i].x = (int)sc_rng_below(&r, (uint64_t)(p->size - w[i].size + 1));
                w[i].y = (int)sc_rng_below(&r, (uint64_t)(p->size - w[i].size + 1));
                found = 1;
                for (int j = 0; j < i; j++) found &= cells_apart(&w[i], &w[j]);
            }
            ok = found;
        }
        if (!ok) continue;
        for (int i = 0; i < info->n_items && !s; i++) {
            sc_image_free(&w[i].alpha);
            sc_scene_item *it = &info->items[i];
            s = render_alpha(d, it->source_index, w[i].size, it->flipped, &w[i]);
            if (s) break;
            it->cell[0] = w[i].x, it->cell[1] = w[i].y;
            it->cell[2] = w[i].x + w[i].size, it->cell[3] = w[i].y + w[i].size;
            for (int k = 0; k < 4; k++) it->box[k] = w[i].lb[k] + (k % 2 ? w[i].y : w[i].x);
        }
        if (!s) placed = layout_clear(info, &axis);
    }
    if (!s && !placed)
        s = sc_set_error(SC_ERR_LIMIT,
                         "scenes: could not place %d items of %d..%d px on a %d px canvas "
                         "(scene %llu)",
                         info->n_items, imin, imax, p->size, (unsigned long long)index);
    if (!s) {
        size_t hw = (size_t)p->size * p->size;
        for (int i = 0; i < info->n_items; i++) {
            const float *col = COLOURS[info->items[i].colour];
            for (int y = 0; y < w[i].size; y++)
                for (int x = 0; x < w[i].size; x++) {
                    float a = w[i].alpha.data[y * w[i].size + x];
                    size_t o = (size_t)(w[i].y + y) * p->size + (size_t)(w[i].x + x);
                    for (int c = 0; c < 3; c++)
                        img->data[c * hw + o] = a * col[c] + (1 - a) * img->data[c * hw + o];
                }
        }
        make_captions(info, axis);
    }
    for (int i = 0; i < SC_SCENES_MAX_ITEMS; i++) sc_image_free(&w[i].alpha);
    if (s) {
        sc_image_free(img);
        memset(info, 0, sizeof *info);
    }
    return s;
}

int sc_scenes_box_cells(const int box[4], int width, int height, int grid, uint8_t *cells) {
    if (!box || !cells || width <= 0 || height <= 0 || grid <= 0) return 0;
    int n = 0;
    for (int i = 0; i < grid; i++)
        for (int j = 0; j < grid; j++) {
            double cx = (j + 0.5) * width / grid, cy = (i + 0.5) * height / grid;
            if (cx >= box[0] && cx < box[2] && cy >= box[1] && cy < box[3])
                cells[i * grid + j] = 1, n++;
        }
    if (n) return n;
    int j = (int)(0.5 * (box[0] + box[2]) * grid / width);
    int i = (int)(0.5 * (box[1] + box[3]) * grid / height);
    j = j < 0 ? 0 : j >= grid ? grid - 1 : j;
    i = i < 0 ? 0 : i >= grid ? grid - 1 : i;
    cells[i * grid + j] = 1;
    return 1;
}

char *sc_scenes_info_json(const sc_scene_info *info, const char *image_path) {
    if (!info || !image_path) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_scenes_info_json: NULL argument");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *items = cJSON_CreateArray(), *caps = cJSON_CreateArray();
    int ok = o && items && caps;
    if (ok) {
        cJSON_AddStringToObject(o, "image", image_path);
        cJSON_AddStringToObject(o, "split", sc_scenes_split_name(info->split));
        cJSON_AddNumberToObject(o, "index", (double)info->index);
        cJSON_AddNumberToObject(o, "width", info->width);
        cJSON_AddNumberToObject(o, "height", info->height);
        for (int i = 0; i < info->n_items; i++) {
            const sc_scene_item *it = &info->items[i];
            cJSON *j = cJSON_CreateObject();
            cJSON *box = cJSON_CreateIntArray(it->box, 4);
            if (!j || !box) {
                cJSON_Delete(j);
                cJSON_Delete(box);
                ok = 0;
                break;
            }
            cJSON_AddNumberToObject(j, "class", it->cls);
            cJSON_AddStringToObject(j, "noun", NOUNS[it->cls]);
            cJSON_AddStringToObject(j, "colour", COLOUR_NAMES[it->colour]);
            cJSON_AddItemToObject(j, "box", box);
            cJSON_AddNumberToObject(j, "source_index", (double)it->source_index);
            cJSON_AddItemToArray(items, j);
        }
        for (int i = 0; i < info->n_captions; i++)
            cJSON_AddItemToArray(caps, cJSON_CreateString(info->captions[i]));
        cJSON_AddItemToObject(o, "items", items);
        cJSON_AddItemToObject(o, "captions", caps);
        items = caps = NULL;
    }
    char *txt = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    cJSON_Delete(items);
    cJSON_Delete(caps);
    if (!txt) {
        sc_set_error(SC_ERR_NOMEM, "sc_scenes_info_json: out of memory");
        return NULL;
    }
    size_t n = strlen(txt);
    char *out = malloc(n + 1);
    if (out)
        memcpy(out, txt, n + 1);
    else
        sc_set_error(SC_ERR_NOMEM, "sc_scenes_info_json: out of memory");
    cJSON_free(txt);
    return out;
}

/* mkdir -p */
static sc_status make_dirs(const char *dir) {
    size_t n = strlen(dir);
    char *tmp = malloc(n + 1);
    if (!tmp) return sc_set_error(SC_ERR_NOMEM, "scenes: out of memory");
    memcpy(tmp, dir, n + 1);
    sc_status s = SC_OK;
    for (size_t i = 1; i <= n && !s; i++) {
        if (tmp[i] != '/' && tmp[i] != 0) continue;
        char save = tmp[i];
        tmp[i] = 0;
        struct stat st;
        if (mkdir(tmp, 0777) != 0) {
            if (errno != EEXIST || stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode))
                s = sc_set_error(SC_ERR_IO, "%s: cannot create folder: %s", tmp,
                                 errno == EEXIST ? "exists and is not a folder" : strerror(errno));
        }
        tmp[i] = save;
    }
    free(tmp);
    return s;
}

#define CHUNK 512

sc_status sc_scenes_write(const sc_scenes_params *p, sc_scene_split split, uint64_t n,
                          const char *dir) {
    const sc_fashion_mnist *d;
    int a, b;
    sc_status s = check_params(p, split, &d, &a, &b);
    if (s) return s;
    if (!dir || !*dir) return sc_set_error(SC_ERR_INVALID_ARG, "scenes: output folder is empty");
    if (n == 0 || n > 100000000ULL)
        return sc_set_error(SC_ERR_INVALID_ARG, "scenes: count %llu outside 1..100000000",
                            (unsigned long long)n);
    size_t dl = strlen(dir);
    char *imgdir = malloc(dl + 16), *ann = malloc(dl + 32);
    if (!imgdir || !ann) {
        free(imgdir);
        free(ann);
        return sc_set_error(SC_ERR_NOMEM, "scenes: out of memory");
    }
    snprintf(imgdir, dl + 16, "%s/images", dir);
    snprintf(ann, dl + 32, "%s/annotations.jsonl", dir);
    s = make_dirs(imgdir);
    sc_atomic_file af;
    memset(&af, 0, sizeof af);
    int af_open = 0;
    if (!s) {
        s = sc_atomic_begin(&af, ann);
        af_open = !s;
    }
    char *lines[CHUNK];
    char errmsg[512];
    for (uint64_t start = 0; start < n && !s; start += CHUNK) {
        int m = (int)(n - start < CHUNK ? n - start : CHUNK);
        sc_status first = SC_OK;
        errmsg[0] = 0;
        memset(lines, 0, sizeof lines);
#pragma omp parallel for schedule(dynamic, 8)
        for (int k = 0; k < m; k++) {
            uint64_t idx = start + (uint64_t)k;
            sc_image img;
            sc_scene_info info;
            char rel[64], path[4200];
            snprintf(rel, sizeof rel, "images/%s_%06llu.png", sc_scenes_split_name(split),
                     (unsigned long long)idx);
            sc_status st = sc_scenes_generate(p, split, idx, &img, &info);
            if (!st) {
                if (dl + strlen(rel) + 2 > sizeof path)
                    st = sc_set_error(SC_ERR_LIMIT, "scenes: output path too long");
                else {
                    snprintf(path, sizeof path, "%s/%s", dir, rel);
                    st = sc_image_save_png(&img, path);
                }
                sc_image_free(&img);
            }
            if (!st) {
                lines[k] = sc_scenes_info_json(&info, rel);
                if (!lines[k]) st = SC_ERR_NOMEM;
            }
            if (st) {
#pragma omp critical(sc_scenes_err)
                {
                    if (!first) {
                        first = st;
                        snprintf(errmsg, sizeof errmsg, "%s", sc_last_error());
                    }
                }
            }
        }
        if (first) s = sc_set_error(first, "%s", errmsg);
        for (int k = 0; k < m; k++) {
            if (!s) {
                s = sc_atomic_write(&af, lines[k], strlen(lines[k]));
                if (!s) s = sc_atomic_write(&af, "\n", 1);
            }
            free(lines[k]);
        }
    }
    if (af_open) {
        if (!s)
            s = sc_atomic_commit(&af);
        else
            sc_atomic_abort(&af);
    }
    free(imgdir);
    free(ann);
    return s;
}
