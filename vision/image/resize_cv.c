/* OpenCV-compatible resizing (cv::resize INTER_LINEAR / INTER_AREA) for
 * single-channel planes. Written from OpenCV's documented behaviour and the
 * arithmetic of its resize (half-pixel centres, 11-bit fixed point for 8-bit
 * data with the SIMD vertical pass rounding, plain float for CV_32F). */
#include <math.h>
#include <string.h>
#include "sc_internal.h"
#include "resize_cv_internal.h"
#include "image/resize_cv.h"

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)
#define SC_RESIZE_MAX_SIDE (1 << 20)

typedef struct axis_tab {
    int *o0, *o1; /* source indices (o1 clipped to the last index) */
    float *fa;    /* 2 float weights per destination index */
    int16_t *ia;  /* 2 fixed-point weights per destination index */
} axis_tab;

static void axis_free(axis_tab *t) {
    sc_free(t->o0);
    sc_free(t->o1);
    sc_free(t->fa);
    sc_free(t->ia);
    memset(t, 0, sizeof *t);
}

/* OpenCV clamps the coordinate (and zeroes the weight) only horizontally;
 * vertically it keeps the unclamped weights and clips the row indices. */
static sc_status axis_linear(int ssize, int dsize, int clamp, axis_tab *t) {
    memset(t, 0, sizeof *t);
    t->o0 = sc_malloc((size_t)dsize * sizeof(int));
    t->o1 = sc_malloc((size_t)dsize * sizeof(int));
    t->fa = sc_malloc((size_t)dsize * 2 * sizeof(float));
    t->ia = sc_malloc((size_t)dsize * 2 * sizeof(int16_t));
    if (!t->o0 || !t->o1 || !t->fa || !t->ia) {
        axis_free(t);
        return SC_ERR_NOMEM;
    }
    /* OpenCV: inv_scale = dsize / ssize, scale = 1 / inv_scale (in double). */
    double inv = (double)dsize / (double)ssize, scale = 1.0 / inv;
    for (int d = 0; d < dsize; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (clamp && s < 0) f = 0.f, s = 0;
        if (clamp && s >= ssize - 1) f = 0.f, s = ssize - 1;
        t->o0[d] = SC_MIN(SC_MAX(s, 0), ssize - 1);
        t->o1[d] = SC_MIN(SC_MAX(s + 1, 0), ssize - 1);
        t->fa[2 * d] = 1.f - f;
        t->fa[2 * d + 1] = f;
        for (int k = 0; k < 2; k++) {
            long v = lrintf(t->fa[2 * d + k] * (float)COEF_SCALE);
            t->ia[2 * d + k] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        }
    }
    return SC_OK;
}

static sc_status check_sizes(const char *fn, const void *src, int sw, int sh, const void *dst,
                             int dw, int dh) {
    if (!src || !dst) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0 || sw > SC_RESIZE_MAX_SIDE ||
        sh > SC_RESIZE_MAX_SIDE || dw > SC_RESIZE_MAX_SIDE || dh > SC_RESIZE_MAX_SIDE)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad sizes %dx%d -> %dx%d (each side 1..%d)",
                            fn, sw, sh, dw, dh, SC_RESIZE_MAX_SIDE);
    return SC_OK;
}

static inline uint8_t sat_u8(int v) {
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* OpenCV's vertical 8-bit pass (its SIMD form, which covers every column,
 * the row buffers being padded): drop 4 bits, 16x16 -> high-16 products,
 * then round off 2 bits. */
static void vlinear_u8(const int *S0, const int *S1, int16_t b0, int16_t b1, uint8_t *dst,
                       int width) {
    for (int x = 0; x < width; x++) {
        int s0 = S0[x] >> 4, s1 = S1[x] >> 4;
        s0 = s0 > 32767 ? 32767 : s0 < -32768 ? -32768 : s0;
        s1 = s1 > 32767 ? 32767 : s1 < -32768 ? -32768 : s1;
        int t = (int16_t)(((s0 * b0) >> 16) + ((s1 * b1) >> 16));
        dst[x] = sat_u8((t + 2) >> 2);
    }
}

typedef struct plain_u8 {
    const uint8_t *p;
    int w;
} plain_u8;

static int fetch_plain(const void *ctx, int x, int y) {
    const plain_u8 *c = ctx;
    return c->p[(size_t)y * c->w + x];
}

sc_status sc_resize_cv_linear_u8_fetch(sc_cv_fetch_u8_fn fetch, const void *ctx, int sw, int sh,
                                       uint8_t *dst, int dw, int dh) {
    sc_status s = check_sizes("sc_resize_cv_linear_u8", fetch, sw, sh, dst, dw, dh);
    if (s) return s;
    if (sw == 2 * dw && sh == 2 * dh) { /* OpenCV switches to INTER_AREA's fast path */
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) {
                int v = fetch(ctx, 2 * x, 2 * y) + fetch(ctx, 2 * x + 1, 2 * y) +
                        fetch(ctx, 2 * x, 2 * y + 1) + fetch(ctx, 2 * x + 1, 2 * y + 1);
                dst[(size_t)y * dw + x] = (uint8_t)((v + 2) >> 2);
            }
        return SC_OK;
    }
    if (sw == dw && sh == dh) {
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++) dst[(size_t)y * dw + x] = (uint8_t)fetch(ctx, x, y);
        return SC_OK;
    }
    axis_tab tx, ty;
    if ((s = axis_linear(sw, dw, 1, &tx))) return s;
    if ((s = axis_linear(sh, dh, 0, &ty))) {
        axis_free(&tx);
        return s;
    }
    int *h0 = sc_malloc((size_t)dw * 2 * sizeof(int));
    if (!h0) {
        axis_free(&tx);
        axis_free(&ty);
        return SC_ERR_NOMEM;
    }
    int *h1 = h0 + dw;
    for (int y = 0; y < dh; y++) {
        int r0 = ty.o0[y], r1 = ty.o1[y];
        for (int x = 0; x < dw; x++) {
            int a0 = tx.ia[2 * x], a1 = tx.ia[2 * x + 1];
            int c0 = tx.o0[x], c1 = tx.o1[x];
            h0[x] = fetch(ctx, c0, r0) * a0 + (a1 ? fetch(ctx, c1, r0) * a1 : 0);
            h1[x] = fetch(ctx, c0, r1) * a0 + (a1 ? fetch(ctx, c1, r1) * a1 : 0);
        }
        vlinear_u8(h0, h1, ty.ia[2 * y], ty.ia[2 * y + 1], dst + (size_t)y * dw, dw);
    }
    sc_free(h0);
    axis_free(&tx);
    axis_free(&ty);
    return SC_OK;
}

sc_status sc_resize_cv_linear_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh) {
    sc_status s = check_sizes("sc_resize_cv_linear_u8", src, sw, sh, dst, dw, dh);
    if (s) return s;
    plain_u8 c = {src, sw};
    return sc_resize_cv_linear_u8_fetch(fetch_plain, &c, sw, sh, dst, dw, dh);
}

sc_status sc_resize_cv_linear_f32(const float *src, int sw, int sh, float *dst, int dw, int dh) {
    sc_status s = check_sizes("sc_resize_cv_linear_f32", src, sw, sh, dst, dw, dh);
    if (s) return s;
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * sizeof(float));
        return SC_OK;
    }
    if (sw == 2 * dw && sh == 2 * dh) {
        for (int y = 0; y < dh; y++) {
            const float *r0 = src + (size_t)(2 * y) * sw, *r1 = r0 + sw;
            for (int x = 0; x < dw; x++)
                dst[(size_t)y * dw + x] =
                    ((r0[2 * x] + r0[2 * x + 1]) + (r1[2 * x] + r1[2 * x + 1])) * 0.25f;
        }
        return SC_OK;
    }
    axis_tab tx, ty;
    if ((s = axis_linear(sw, dw, 1, &tx))) return s;
    if ((s = axis_linear(sh, dh, 0, &ty))) {
        axis_free(&tx);
        return s;
    }
    /* Horizontal pass over every source row that any output row reads. */
    size_t hn;
    float *hbuf = NULL;
    if (sc_mul_size((size_t)sh, (size_t)dw, &hn) || sc_mul_size(hn, sizeof(float), &hn) ||
        !(hbuf = sc_malloc(hn))) {
        axis_free(&tx);
        axis_free(&ty);
        return sc_set_error(SC_ERR_NOMEM, "sc_resize_cv_linear_f32: out of memory");
    }
    /* Mark the needed source rows (at most 2 * dh). */
    unsigned char *need = sc_calloc((size_t)sh, 1);
    if (!need) {
        sc_free(hbuf);
        axis_free(&tx);
        axis_free(&ty);
        return SC_ERR_NOMEM;
    }
    for (int y = 0; y < dh; y++) need[ty.o0[y]] = need[ty.o1[y]] = 1;
    const int *o0 = tx.o0, *o1 = tx.o1;
    const float *fa = tx.fa;
#pragma omp parallel for schedule(static) if ((size_t)sh * dw > ((size_t)1 << 20))
    for (int y = 0; y < sh; y++) {
        if (!need[y]) continue;
        const float *S = src + (size_t)y * sw;
        float *D = hbuf + (size_t)y * dw;
        for (int x = 0; x < dw; x++) D[x] = S[o0[x]] * fa[2 * x] + S[o1[x]] * fa[2 * x + 1];
    }
#pragma omp parallel for schedule(static) if ((size_t)dh * dw > ((size_t)1 << 20))
    for (int y = 0; y < dh; y++) {
        const float *S0 = hbuf + (size_t)ty.o0[y] * dw, *S1 = hbuf + (size_t)ty.o1[y] * dw;
        float b0 = ty.fa[2 * y], b1 = ty.fa[2 * y + 1];
        float *D = dst + (size_t)y * dw;
        for (int x = 0; x < dw; x++) D[x] = S0[x] * b0 + S1[x] * b1;
    }
    sc_free(need);
    sc_free(hbuf);
    axis_free(&tx);
    axis_free(&ty);
    return SC_OK;
}

/* INTER_AREA decimation table: entries (dst index, src index, weight). */
typedef struct area_ent {
    int di, si;
    float alpha;
} area_ent;

static int area_tab(int ssize, int dsize, area_ent *tab) {
    double scale = 1.0 / ((double)dsize / (double)ssize);
    int k = 0;
    for (int d = 0; d < dsize; d++) {
        double f1 = d * scale, f2 = f1 + scale;
        double cell = SC_MIN(scale, ssize - f1);
        int s1 = (int)ceil(f1), s2 = (int)floor(f2);
        s2 = SC_MIN(s2, ssize - 1);
        s1 = SC_MIN(s1, s2);
        if (s1 - f1 > 1e-3) tab[k++] = (area_ent){d, s1 - 1, (float)((s1 - f1) / cell)};
        for (int s = s1; s < s2; s++) tab[k++] = (area_ent){d, s, (float)(1.0 / cell)};
        if (f2 - s2 > 1e-3)
            tab[k++] = (area_ent){d, s2, (float)(SC_MIN(SC_MIN(f2 - s2, 1.0), cell) / cell)};
    }
    return k;
}

sc_status sc_resize_cv_area_f32(const float *src, int sw, int sh, float *dst, int dw, int dh) {
    sc_status s = check_sizes("sc_resize_cv_area_f32", src, sw, sh, dst, dw, dh);
    if (s) return s;
    if (dw > sw || dh > sh)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_resize_cv_area_f32: only shrinking is supported (%dx%d -> %dx%d)",
                            sw, sh, dw, dh);
    /* At most sw + 2 * dw <= 3 * sw entries. */
    area_ent *xt = sc_malloc(((size_t)sw * 3 + 4) * sizeof(area_ent));
    area_ent *yt = sc_malloc(((size_t)sh * 3 + 4) * sizeof(area_ent));
    float *buf = sc_malloc((size_t)dw * 2 * sizeof(float));
    if (!xt || !yt || !buf) {
        sc_free(xt);
        sc_free(yt);
        sc_free(buf);
        return SC_ERR_NOMEM;
    }
    int nx = area_tab(sw, dw, xt), ny = area_tab(sh, dh, yt);
    float *sum = buf + dw;
    int cur = yt[0].di;
    memset(sum, 0, (size_t)dw * sizeof(float));
    for (int j = 0; j < ny; j++) {
        const float *S = src + (size_t)yt[j].si * sw;
        memset(buf, 0, (size_t)dw * sizeof(float));
        for (int k = 0; k < nx; k++) buf[xt[k].di] += S[xt[k].si] * xt[k].alpha;
        if (yt[j].di != cur) {
            memcpy(dst + (size_t)cur * dw, sum, (size_t)dw * sizeof(float));
            memset(sum, 0, (size_t)dw * sizeof(float));
            cur = yt[j].di;
        }
        float beta = yt[j].alpha;
        for (int x = 0; x < dw; x++) sum[x] += beta * buf[x];
    }
    memcpy(dst + (size_t)cur * dw, sum, (size_t)dw * sizeof(float));
    sc_free(xt);
    sc_free(yt);
    sc_free(buf);
    return SC_OK;
}
