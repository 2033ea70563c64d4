/* Distorted Fashion-MNIST scenes (RTS and cluttered), generated on the fly
 * from (seed, index). See sc_datasets.h. */
#include <math.h>
#include <string.h>
#include "saccade/sc_datasets.h"
#include "saccade/sc_rng.h"
#include "sc_internal.h"

#define ITEM SC_FASHION_MNIST_SIDE

sc_distort_params sc_distort_default_params(sc_distortion kind) {
    sc_distort_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    if (kind == SC_DISTORT_CLUTTERED) {
        p.canvas = 60;
        p.min_scale = p.max_scale = 1.0f;
        p.min_fragments = 4;
        p.max_fragments = 8;
        p.fragment_size = 6;
    } else {
        p.canvas = 42;
        p.max_rotation_deg = 45.0f;
        p.min_scale = 0.7f;
        p.max_scale = 1.2f;
    }
    return p;
}

sc_status sc_distortion_from_name(const char *name, sc_distortion *out) {
    if (!name || !out) return sc_set_error(SC_ERR_INVALID_ARG, "distortion: NULL argument");
    if (!strcmp(name, "rts")) {
        *out = SC_DISTORT_RTS;
        return SC_OK;
    }
    if (!strcmp(name, "cluttered")) {
        *out = SC_DISTORT_CLUTTERED;
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG, "unknown distortion '%s' (known: rts, cluttered)",
                        name);
}

const char *sc_distortion_name(sc_distortion kind) {
    return kind == SC_DISTORT_RTS ? "rts" : kind == SC_DISTORT_CLUTTERED ? "cluttered" : NULL;
}

sc_status sc_distort_params_validate(const sc_distort_params *p) {
    if (!p) return sc_set_error(SC_ERR_INVALID_ARG, "distort params: NULL");
    if (p->kind != SC_DISTORT_RTS && p->kind != SC_DISTORT_CLUTTERED)
        return sc_set_error(SC_ERR_INVALID_ARG, "distort params: unknown kind %d", (int)p->kind);
    if (p->canvas < ITEM || p->canvas > 1024)
        return sc_set_error(SC_ERR_INVALID_ARG, "distort params: canvas %d outside 28..1024",
                            p->canvas);
    if (p->kind == SC_DISTORT_RTS) {
        if (!(p->max_rotation_deg >= 0 && p->max_rotation_deg <= 180))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "distort params: max_rotation_deg must be in [0, 180]");
        if (!(p->min_scale > 0.05f && p->min_scale <= p->max_scale &&
              ITEM * p->max_scale <= (float)p->canvas))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "distort params: need 0.05 < min_scale <= max_scale and 28 * "
                                "max_scale <= canvas (%g, %g, %d)",
                                (double)p->min_scale, (double)p->max_scale, p->canvas);
    } else {
        if (p->min_fragments < 0 || p->min_fragments > p->max_fragments || p->max_fragments > 256)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "distort params: need 0 <= min_fragments <= max_fragments <= 256");
        if (p->fragment_size < 1 || p->fragment_size > ITEM)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "distort params: fragment_size %d outside 1..28", p->fragment_size);
    }
    return SC_OK;
}

static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Uniform in [lo, hi]. */
static float uni(sc_rng *r, float lo, float hi) {
    return lo + (hi - lo) * sc_rng_uniform(r);
}

static sc_status check_src(const sc_fashion_mnist *src) {
    if (!src || !src->images || !src->labels || src->n == 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "distort: empty or NULL source dataset");
    if (src->rows != ITEM || src->cols != ITEM)
        return sc_set_error(SC_ERR_SHAPE, "distort: source images are %dx%d, need 28x28", src->rows,
                            src->cols);
    return SC_OK;
}

/* The work, arguments already checked. */
static void make_example(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                         uint64_t index, float *out, int *label, float *theta) {
    const int S = p->canvas;
    size_t item = (size_t)(index % src->n);
    const uint8_t *img = src->images + item * ITEM * ITEM;
    sc_rng r;
    sc_rng_seed(&r, splitmix(seed ^ splitmix(index ^ 0x5ACCADEull)));
    memset(out, 0, (size_t)S * S * sizeof *out);
    if (label) *label = src->labels[item];
    float th[6];
    if (p->kind == SC_DISTORT_RTS) {
        float ang = uni(&r, -p->max_rotation_deg, p->max_rotation_deg) * (float)(3.14159265358979323846 / 180.0);
        float s = uni(&r, p->min_scale, p->max_scale);
        float half = 0.5f * ITEM * s;
        /* centre so the scaled unrotated box is inside the canvas */
        float cx = uni(&r, half, (float)S - half), cy = uni(&r, half, (float)S - half);
        float ca = cosf(ang), sa = sinf(ang);
        /* canvas point p = c + s R (q - 14), q in item pixel-edge coordinates;
         * inverse: q = 14 + R^T (p - c) / s. */
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float px = (float)x + 0.5f - cx, py = (float)y + 0.5f - cy;
                float qx = (ca * px + sa * py) / s + 0.5f * ITEM - 0.5f;
                float qy = (-sa * px + ca * py) / s + 0.5f * ITEM - 0.5f;
                if (!(qx > -1.0f && qy > -1.0f && qx < (float)ITEM && qy < (float)ITEM)) continue;
                int x0 = (int)floorf(qx), y0 = (int)floorf(qy);
                float fx = qx - (float)x0, fy = qy - (float)y0, v = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int xx = x0 + dx, yy = y0 + dy;
                        if (xx < 0 || yy < 0 || xx >= ITEM || yy >= ITEM) continue;
                        float wgt = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
                        v += wgt * (float)img[yy * ITEM + xx];
                    }
                out[y * S + x] = v * (1.0f / 255.0f);
            }
        float k = (float)ITEM * s / (float)S;
        th[0] = k * ca, th[1] = -k * sa, th[2] = 2.0f * cx / (float)S - 1.0f;
        th[3] = k * sa, th[4] = k * ca, th[5] = 2.0f * cy / (float)S - 1.0f;
    } else {
        int F = p->fragment_size;
        int nfrag = p->min_fragments +
                    (int)sc_rng_below(&r, (uint64_t)(p->max_fragments - p->min_fragments + 1));
        for (int f = 0; f < nfrag; f++) {
            size_t other = item;
            if (src->n > 1) {
                other = (size_t)sc_rng_below(&r, src->n - 1);
                if (other >= item) other++;
            }
            const uint8_t *o = src->images + other * ITEM * ITEM;
            /* crop position: a few tries to find one with some ink */
            int sx = 0, sy = 0;
            for (int t = 0; t < 4; t++) {
                sx = (int)sc_rng_below(&r, (uint64_t)(ITEM - F + 1));
                sy = (int)sc_rng_below(&r, (uint64_t)(ITEM - F + 1));
                int ink = 0;
                for (int yy = 0; yy < F; yy++)
                    for (int xx = 0; xx < F; xx++) ink += o[(sy + yy) * ITEM + sx + xx] > 64;
                if (ink * 4 >= F * F) break;
            }
            int tx = (int)sc_rng_below(&r, (uint64_t)(S - F + 1));
            int ty = (int)sc_rng_below(&r, (uint64_t)(S - F + 1));
            for (int yy = 0; yy < F; yy++)
                for (int xx = 0; xx < F; xx++) {
                    float v = (float)o[(sy + yy) * ITEM + sx + xx] * (1.0f / 255.0f);
                    float *d = &out[(ty + yy) * S + tx + xx];
                    if (v > *d) *d = v;
                }
        }
        int ox = (int)sc_rng_below(&r, (uint64_t)(S - ITEM + 1));
        int oy = (int)sc_rng_below(&r, (uint64_t)(S - ITEM + 1));
        for (int yy = 0; yy < ITEM; yy++)
            for (int xx = 0; xx < ITEM; xx++) {
                float v = (float)img[yy * ITEM + xx] * (1.0f / 255.0f);
                float *d = &out[(oy + yy) * S + ox + xx];
                if (v > *d) *d = v;
            }
        float k = (float)ITEM / (float)S;
        th[0] = k, th[1] = 0, th[2] = 2.0f * ((float)ox + 0.5f * ITEM) / (float)S - 1.0f;
        th[3] = 0, th[4] = k, th[5] = 2.0f * ((float)oy + 0.5f * ITEM) / (float)S - 1.0f;
    }
    if (theta) memcpy(theta, th, sizeof th);
}

sc_status sc_distort_example(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                             uint64_t index, float *out, int *label, float *theta_true) {
    sc_status st = sc_distort_params_validate(p);
    if (st) return st;
    if ((st = check_src(src))) return st;
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "distort: NULL output buffer");
    make_example(p, src, seed, index, out, label, theta_true);
    return SC_OK;
}

static sc_status gather(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                        const uint64_t *indices, uint64_t index0, size_t n, float *out,
                        int32_t *labels) {
    sc_status st = sc_distort_params_validate(p);
    if (st) return st;
    if ((st = check_src(src))) return st;
    if (!out && n) return sc_set_error(SC_ERR_INVALID_ARG, "distort: NULL output buffer");
    if (n > (size_t)INT32_MAX) return sc_set_error(SC_ERR_LIMIT, "distort: batch of %zu", n);
    size_t plane = (size_t)p->canvas * (size_t)p->canvas, total;
    if (sc_mul_size(plane, n, &total)) return sc_set_error(SC_ERR_LIMIT, "distort: size overflow");
#pragma omp parallel for schedule(static) if (n > 16)
    for (long i = 0; i < (long)n; i++) {
        int lab;
        uint64_t idx = indices ? indices[i] : index0 + (uint64_t)i;
        make_example(p, src, seed, idx, out + (size_t)i * plane, &lab, NULL);
        if (labels) labels[i] = lab;
    }
    return SC_OK;
}

sc_status sc_distort_batch(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                           uint64_t index0, size_t n, float *out, int32_t *labels) {
    return gather(p, src, seed, NULL, index0, n, out, labels);
}

sc_status sc_distort_gather(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                            const uint64_t *indices, size_t n, float *out, int32_t *labels) {
    if (!indices && n) return sc_set_error(SC_ERR_INVALID_ARG, "distort: NULL index list");
    return gather(p, src, seed, indices, 0, n, out, labels);
}
