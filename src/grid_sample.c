/* affine_grid and 2-D grid_sample, forward and backward, replicating the
 * float arithmetic of PyTorch 1.13's CPU kernels (GridSamplerKernel.cpp):
 * the same unnormalise / clip / reflect formulas in the same order, the same
 * corner weights and the same summation order (torch's vectorised build may
 * still round a few results 1 ulp differently, e.g. through FMA), so
 * nearest-neighbour choices and clip/reflect decisions match exactly.
 *
 * Layout of the work: the (n, h_out) output rows are split into one
 * contiguous chunk per thread. For each row the four corner offsets and
 * weights are computed once into a small per-thread table and reused for
 * every channel (channels outer, pixels inner, so output and grad_output rows
 * are streamed). The four corners are addressed as off, off + sx, off + sy,
 * off + sy + sx with the base shifted so that all four are inside the plane;
 * corners that fall outside the image get weight 0 and a position with zero
 * coefficients, so the inner loops have no branches.
 *
 * Backward scatter into grad_input is race-free and deterministic: a thread
 * writes directly into the batch items whose first row it owns, and into a
 * private zeroed buffer for the (at most one) item whose first rows belong to
 * an earlier thread; those buffers are added afterwards in thread order.
 * Runs of pixels in the same or the next cell are summed in registers before
 * being added, so grad_input differs from PyTorch's by rounding only. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "saccade/sc_grid.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

/* Four-float vectors (GCC / Clang vector extensions) for the loops that
 * gather corners of several pixels; plain C elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
#define SC_GRID_VEC 1
typedef float v4f __attribute__((vector_size(16)));
static inline v4f ld4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st4(float *p, v4f v) {
    memcpy(p, &v, sizeof v);
}
#else
#define SC_GRID_VEC 0
#endif

/* ---------------------------------------------------------------------- */
/* Coordinate transforms (one axis). */

typedef struct axis {
    float max_val;    /* size - 1 */
    float scale;      /* unnormalisation factor */
    float twice_span; /* reflection period (0: empty span, align_corners size 1) */
} axis;

static void axis_init(axis *a, int size, int align) {
    a->max_val = (float)(size - 1);
    if (align) {
        a->scale = (float)(size - 1) / 2;
        a->twice_span = (float)(size - 1) * 2;
    } else {
        a->scale = (float)size / 2;
        a->twice_span = (float)size * 2;
    }
}

/* ---------------------------------------------------------------------- */
/* Argument checks. */

typedef struct dims {
    size_t n, c, hi, wi, ho, wo;
    size_t in_plane, out_plane, in_total, out_total, grid_total;
} dims;

static sc_status check_dims(const char *fn, int n, int c, int h_in, int w_in, int h_out, int w_out,
                            sc_grid_interp mode, sc_grid_padding padding, dims *d) {
    if (n <= 0 || c <= 0 || h_in <= 0 || w_in <= 0 || h_out <= 0 || w_out <= 0)
        return sc_set_error(SC_ERR_SHAPE,
                            "%s: every size must be positive (n %d, c %d, input %dx%d, output "
                            "%dx%d)",
                            fn, n, c, h_in, w_in, h_out, w_out);
    if (mode != SC_GRID_BILINEAR && mode != SC_GRID_NEAREST)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown interpolation mode %d", fn, (int)mode);
    if (padding != SC_GRID_PAD_ZEROS && padding != SC_GRID_PAD_BORDER &&
        padding != SC_GRID_PAD_REFLECTION)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown padding mode %d", fn, (int)padding);
    d->n = (size_t)n, d->c = (size_t)c, d->hi = (size_t)h_in, d->wi = (size_t)w_in;
    d->ho = (size_t)h_out, d->wo = (size_t)w_out;
    size_t nc, g2;
    if (sc_mul_size(d->hi, d->wi, &d->in_plane) || sc_mul_size(d->ho, d->wo, &d->out_plane) ||
        sc_mul_size(d->n, d->c, &nc) || sc_mul_size(nc, d->in_plane, &d->in_total) ||
        sc_mul_size(nc, d->out_plane, &d->out_total) || sc_mul_size(d->n, d->out_plane, &g2) ||
        sc_mul_size(g2, 2, &d->grid_total) || d->in_total > SIZE_MAX / sizeof(float) ||
        d->out_total > SIZE_MAX / sizeof(float) || d->grid_total > SIZE_MAX / sizeof(float))
        return sc_set_error(SC_ERR_LIMIT, "%s: tensor sizes overflow", fn);
    if (d->in_plane > (size_t)INT32_MAX / 2)
        return sc_set_error(SC_ERR_LIMIT, "%s: input plane %dx%d is too large", fn, h_in, w_in);
    return SC_OK;
}

static int thread_count(void) {
    int t = sc_get_num_threads();
    return t < 1 ? 1 : t;
}

/* Row chunk [r0, r1) of thread t out of nt over n items of ho rows. When
 * there are many items, chunks end at item boundaries. */
static void chunk(size_t n, size_t ho, int t, int nt, size_t *r0, size_t *r1) {
    size_t rows = n * ho;
    if (n >= (size_t)nt * 4) {
        *r0 = n * (size_t)t / (size_t)nt * ho;
        *r1 = n * (size_t)(t + 1) / (size_t)nt * ho;
    } else {
        *r0 = rows * (size_t)t / (size_t)nt;
        *r1 = rows * (size_t)(t + 1) / (size_t)nt;
    }
}

/* ---------------------------------------------------------------------- */
/* Per-row tables. */

enum {
    T_OFF,
    T_W00,
    T_W01,
    T_W10,
    T_W11,
    T_AX0,
    T_AX1,
    T_AY0,
    T_AY1,
    T_DX0,
    T_DX1,
    T_DY0,
    T_DY1,
    T_GMX,
    T_GMY,
    T_GXA,
    T_GYA,
    T_COUNT
};

typedef struct row_tab {
    int32_t *off;
    float *f[T_COUNT]; /* f[T_OFF] unused */
} row_tab;

typedef struct ctx {
    dims d;
    axis ax, ay;
    int mode, padding, align;
    int sx, sy; /* offsets of the +1 corner along x and y (0 for a size-1 axis) */
} ctx;

/* Branch-free per-pixel coordinate code, specialised on padding / align
 * (compile-time constants after inlining) so the table loops vectorise. */
/* (no-trapping-math lets GCC vectorise floor/trunc and the selects; it does
 * not change any result) */
#if defined(__clang__) || !defined(__GNUC__)
#define SC_NT
#define SC_IVDEP
#define SC_AI static inline __attribute__((always_inline))
#else
#define SC_NT __attribute__((optimize("no-trapping-math")))
/* the table arrays never overlap: spare GCC more alias checks than it does */
#define SC_IVDEP _Pragma("GCC ivdep")
#define SC_AI static inline __attribute__((always_inline, optimize("no-trapping-math")))
#endif

SC_AI float coord(const axis a, float g, const int align, const int padding, float *gmult) {
    const float scale = a.scale, maxv = a.max_val;
    float x = align ? (g + 1.0f) * scale : (g + 1.0f) * scale - 0.5f;
    float gm = scale;
    if (padding == SC_GRID_PAD_REFLECTION) {
        /* an empty span (align_corners, size 1) has x = 0 and is clipped below */
        const float ts = a.twice_span > 0.0f ? a.twice_span : 1.0f;
        const float low = align ? 0.0f : -0.5f;
        float in = align ? x : x - low;
        float abs_in = fabsf(in);
        float flips = truncf(abs_in / ts);
        float extra = abs_in - flips * ts;
        float refl = ts - extra;
        float sgn = extra > refl ? -1.0f : 1.0f;
        sgn = in < 0.0f ? -sgn : sgn;
        float r = extra > refl ? refl : extra;
        x = align ? r : r + low;
        gm = sgn * gm;
    }
    if (padding != SC_GRID_PAD_ZEROS) {
        /* borders count as clipped for the gradient, as in PyTorch */
        gm = ((x > 0.0f) & (x < maxv)) ? gm : 0.0f;
        x = x > 0.0f ? x : 0.0f; /* NaN -> 0 */
        x = x < maxv ? x : maxv;
    }
    *gmult = gm;
    return x;
}

/* Bilinear along one axis: base b (b and b + 1 inside when size >= 2) and
 * for positions b, b + 1 the weight and its derivative wrt the coordinate
 * (-1 for PyTorch's low corner, +1 for the high corner, 0 if outside). */
SC_AI int lin(float x, float maxv, float hi, float *w0, float *w1, float *d0, float *d1) {
    float f = floorf(x);
    float frac = x - f, rest = 1.0f - frac;
    float fs = f > -1.0f ? f : -1.0f; /* NaN / far out: any valid index, weights are 0 */
    fs = fs < maxv ? fs : maxv;
    float fb = fs > 0.0f ? fs : 0.0f; /* base index, in [0, hi] */
    fb = fb < hi ? fb : hi;
    int ok0 = (f >= 0.0f) & (f <= maxv);
    int ok1 = (f >= -1.0f) & (f <= maxv - 1.0f);
    float wa = ok0 ? rest : 0.0f, da = ok0 ? -1.0f : 0.0f;
    float wb = ok1 ? frac : 0.0f, db = ok1 ? 1.0f : 0.0f;
    /* fs < fb: low corner at -1, the high one sits at the base;
     * fs > fb: low corner at size - 1, it sits at base + 1 */
    *w0 = fs < fb ? wb : (fs > fb ? 0.0f : wa);
    *d0 = fs < fb ? db : (fs > fb ? 0.0f : da);
    *w1 = fs > fb ? wa : (fs < fb ? 0.0f : wb);
    *d1 = fs > fb ? da : (fs < fb ? 0.0f : db);
    return (int)fb;
}

SC_AI void fill_bilinear_impl(const ctx *k, const float *restrict grow, row_tab *t, const int grad,
                              const int align, const int padding) {
    const int wo = (int)k->d.wo, wi = (int)k->d.wi;
    const float hx = wi >= 2 ? (float)(wi - 2) : 0.0f;
    const float hy = k->d.hi >= 2 ? (float)(k->d.hi - 2) : 0.0f;
    const float mx = k->ax.max_val, my = k->ay.max_val;
    const axis xa = k->ax, ya = k->ay; /* local copies: loop invariants */
    int32_t *restrict off = t->off;
    float *restrict w00 = t->f[T_W00], *restrict w01 = t->f[T_W01];
    float *restrict w10 = t->f[T_W10], *restrict w11 = t->f[T_W11];
    float *restrict ax0 = t->f[T_AX0], *restrict ax1 = t->f[T_AX1];
    float *restrict ay0 = t->f[T_AY0], *restrict ay1 = t->f[T_AY1];
    float *restrict dx0 = t->f[T_DX0], *restrict dx1 = t->f[T_DX1];
    float *restrict dy0 = t->f[T_DY0], *restrict dy1 = t->f[T_DY1];
    float *restrict gmx = t->f[T_GMX], *restrict gmy = t->f[T_GMY];
    /* de-interleave the grid row first (into the gradient accumulators,
     * which are cleared after the fill): unit-stride input lets the compiler
     * vectorise the long loop below in every variant */
    float *restrict gxs = t->f[T_GXA], *restrict gys = t->f[T_GYA];
    for (int w = 0; w < wo; w++) gxs[w] = grow[2 * w], gys[w] = grow[2 * w + 1];
    SC_IVDEP
    for (int w = 0; w < wo; w++) {
        float gx, gy, wx0, wx1, wy0, wy1, ddx0, ddx1, ddy0, ddy1;
        float x = coord(xa, gxs[w], align, padding, &gx);
        float y = coord(ya, gys[w], align, padding, &gy);
        int bx = lin(x, mx, hx, &wx0, &wx1, &ddx0, &ddx1);
        int by = lin(y, my, hy, &wy0, &wy1, &ddy0, &ddy1);
        off[w] = by * wi + bx;
        /* PyTorch: nw = s * e, ne = s * w, sw = n * e, se = n * w */
        w00[w] = wy0 * wx0;
        w01[w] = wy0 * wx1;
        w10[w] = wy1 * wx0;
        w11[w] = wy1 * wx1;
        if (grad) {
            ax0[w] = wx0, ax1[w] = wx1, ay0[w] = wy0, ay1[w] = wy1;
            dx0[w] = ddx0, dx1[w] = ddx1, dy0[w] = ddy0, dy1[w] = ddy1;
            gmx[w] = gx, gmy[w] = gy;
        }
    }
}

SC_AI void fill_nearest_impl(const ctx *k, const float *restrict grow, row_tab *t, const int align,
                             const int padding) {
    const int wo = (int)k->d.wo, wi = (int)k->d.wi;
    const float mx = k->ax.max_val, my = k->ay.max_val;
    int32_t *restrict off = t->off;
    float *restrict m = t->f[T_W00];
    for (int w = 0; w < wo; w++) {
        float gm;
        float x = rintf(coord(k->ax, grow[2 * w], align, padding, &gm));
        float y = rintf(coord(k->ay, grow[2 * w + 1], align, padding, &gm));
        int ok = (x >= 0.0f) & (x <= mx) & (y >= 0.0f) & (y <= my);
        float xs = ok ? x : 0.0f, ys = ok ? y : 0.0f;
        off[w] = (int)ys * wi + (int)xs;
        m[w] = ok ? 1.0f : 0.0f;
    }
}

#define SC_GRID_DISPATCH(call_)                                                                    \
    switch (k->padding * 2 + k->align) {                                                           \
    case 0:                                                                                        \
        call_(0, SC_GRID_PAD_ZEROS);                                                               \
        break;                                                                                     \
    case 1:                                                                                        \
        call_(1, SC_GRID_PAD_ZEROS);                                                               \
        break;                                                                                     \
    case 2:                                                                                        \
        call_(0, SC_GRID_PAD_BORDER);                                                              \
        break;                                                                                     \
    case 3:                                                                                        \
        call_(1, SC_GRID_PAD_BORDER);                                                              \
        break;                                                                                     \
    case 4:                                                                                        \
        call_(0, SC_GRID_PAD_REFLECTION);                                                          \
        break;                                                                                     \
    default:                                                                                       \
        call_(1, SC_GRID_PAD_REFLECTION);                                                          \
        break;                                                                                     \
    }

SC_NT static void fill_bilinear(const ctx *k, const float *grow, row_tab *t, int grad) {
#define CALL_G(al, pd) fill_bilinear_impl(k, grow, t, 1, al, pd)
#define CALL_F(al, pd) fill_bilinear_impl(k, grow, t, 0, al, pd)
    if (grad) {
        SC_GRID_DISPATCH(CALL_G)
    } else {
        SC_GRID_DISPATCH(CALL_F)
    }
#undef CALL_G
#undef CALL_F
}

SC_NT static void fill_nearest(const ctx *k, const float *grow, row_tab *t) {
#define CALL_N(al, pd) fill_nearest_impl(k, grow, t, al, pd)
    SC_GRID_DISPATCH(CALL_N)
#undef CALL_N
}

/* Tables for nt threads, each wo entries per array. */
typedef struct tabs {
    void *mem;
    size_t stride; /* floats per array per thread, rounded to 16 */
} tabs;

static sc_status tabs_alloc(tabs *tb, size_t wo, int nt, const char *fn) {
    tb->stride = (wo + 15) & ~(size_t)15;
    size_t per, total;
    if (sc_mul_size(tb->stride, T_COUNT, &per) || sc_mul_size(per, (size_t)nt, &total) ||
        sc_mul_size(total, sizeof(float), &total))
        return sc_set_error(SC_ERR_LIMIT, "%s: output width %zu is too large", fn, wo);
    tb->mem = sc_malloc(total);
    if (!tb->mem) {
        sc_error_prefix(fn);
        return SC_ERR_NOMEM;
    }
    return SC_OK;
}

static row_tab tabs_get(const tabs *tb, int t) {
    row_tab r;
    float *base = (float *)tb->mem + (size_t)t * tb->stride * T_COUNT;
    r.off = (int32_t *)base;
    for (int i = 0; i < T_COUNT; i++) r.f[i] = base + (size_t)i * tb->stride;
    return r;
}

/* ---------------------------------------------------------------------- */
/* Forward. */

static void forward_rows(const ctx *k, const float *input, const float *grid, float *output,
                         size_t r0, size_t r1, row_tab *t) {
    const dims *d = &k->d;
    const size_t wo = d->wo;
    const int sx = k->sx, sy = k->sy, sxy = k->sx + k->sy;
    for (size_t r = r0; r < r1; r++) {
        size_t n = r / d->ho, h = r % d->ho;
        const float *grow = grid + (n * d->out_plane + h * wo) * 2;
        const float *inb = input + n * d->c * d->in_plane;
        float *outb = output + n * d->c * d->out_plane + h * wo;
        const int32_t *restrict off = t->off;
        if (k->mode == SC_GRID_BILINEAR) {
            fill_bilinear(k, grow, t, 0);
            const float *restrict w00 = t->f[T_W00], *restrict w01 = t->f[T_W01];
            const float *restrict w10 = t->f[T_W10], *restrict w11 = t->f[T_W11];
            for (size_t c = 0; c < d->c; c++) {
                const float *restrict ip = inb + c * d->in_plane;
                float *restrict op = outb + c * d->out_plane;
                for (size_t w = 0; w < wo; w++) {
                    const float *p = ip + off[w];
                    op[w] = p[0] * w00[w] + p[sx] * w01[w] + p[sy] * w10[w] + p[sxy] * w11[w];
                }
            }
        } else {
            fill_nearest(k, grow, t);
            const float *restrict m = t->f[T_W00];
            for (size_t c = 0; c < d->c; c++) {
                const float *restrict ip = inb + c * d->in_plane;
                float *restrict op = outb + c * d->out_plane;
                for (size_t w = 0; w < wo; w++) op[w] = m[w] != 0.0f ? ip[off[w]] : 0.0f;
            }
        }
    }
}

static void ctx_init(ctx *k, const dims *d, sc_grid_interp mode, sc_grid_padding padding,
                     int align_corners) {
    k->d = *d;
    k->mode = (int)mode;
    k->padding = (int)padding;
    k->align = align_corners != 0;
    axis_init(&k->ax, (int)d->wi, align_corners != 0);
    axis_init(&k->ay, (int)d->hi, align_corners != 0);
    k->sx = d->wi > 1 ? 1 : 0;
    k->sy = d->hi > 1 ? (int)d->wi : 0;
}

sc_status sc_grid_sample(const float *input, const float *grid, float *output, int n, int c,
                         int h_in, int w_in, int h_out, int w_out, sc_grid_interp mode,
                         sc_grid_padding padding, int align_corners) {
    static const char *fn = "sc_grid_sample";
    if (!input || !grid || !output)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: input, grid and output must not be NULL", fn);
    dims d;
    sc_status st = check_dims(fn, n, c, h_in, w_in, h_out, w_out, mode, padding, &d);
    if (st != SC_OK) return st;
    ctx k;
    ctx_init(&k, &d, mode, padding, align_corners);
    int nt = thread_count();
    size_t rows = d.n * d.ho;
    if ((size_t)nt > rows) nt = (int)rows;
    tabs tb;
    if ((st = tabs_alloc(&tb, d.wo, nt, fn)) != SC_OK) return st;
#pragma omp parallel num_threads(nt)
    {
        int t = 0, got = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        got = omp_get_num_threads();
#endif
        size_t r0, r1;
        chunk(d.n, d.ho, t, got, &r0, &r1);
        row_tab rt = tabs_get(&tb, t);
        forward_rows(&k, input, grid, output, r0, r1, &rt);
    }
    sc_free(tb.mem);
    return SC_OK;
}

/* ---------------------------------------------------------------------- */
/* Backward. */

static inline void bilinear_backward_row(const ctx *k, const row_tab *t, const float *inb,
                                         const float *gob, float *gib, float *gx, float *gy,
                                         int want_gi, int want_gg) {
    const dims *d = &k->d;
    const size_t wo = d->wo;
    const int sx = k->sx, sy = k->sy, sxy = k->sx + k->sy;
    const int32_t *restrict off = t->off;
    const float *restrict w00 = t->f[T_W00], *restrict w01 = t->f[T_W01];
    const float *restrict w10 = t->f[T_W10], *restrict w11 = t->f[T_W11];
    const float *restrict ax0 = t->f[T_AX0], *restrict ax1 = t->f[T_AX1];
    const float *restrict ay0 = t->f[T_AY0], *restrict ay1 = t->f[T_AY1];
    const float *restrict dx0 = t->f[T_DX0], *restrict dx1 = t->f[T_DX1];
    const float *restrict dy0 = t->f[T_DY0], *restrict dy1 = t->f[T_DY1];
    for (size_t c = 0; c < d->c; c++) {
        /* two passes per channel row: the grid part only reads the input, the
         * scatter only writes grad_input, so neither waits on the other */
        if (want_gg) {
            const float *restrict ip = inb + c * d->in_plane;
            const float *restrict go = gob + c * d->out_plane;
            size_t w = 0;
#if SC_GRID_VEC
            /* four pixels at a time: the same element-wise float operations
             * as the scalar loop below, so the same results */
            const float *restrict i01 = ip + sx, *restrict i10 = ip + sy, *restrict i11 = ip + sxy;
            for (; w + 4 <= wo; w += 4) {
                const int32_t o0 = off[w], o1 = off[w + 1], o2 = off[w + 2], o3 = off[w + 3];
                const v4f v00 = {ip[o0], ip[o1], ip[o2], ip[o3]};
                const v4f v01 = {i01[o0], i01[o1], i01[o2], i01[o3]};
                const v4f v10 = {i10[o0], i10[o1], i10[o2], i10[o3]};
                const v4f v11 = {i11[o0], i11[o1], i11[o2], i11[o3]};
                const v4f g = ld4(go + w);
                const v4f px0 = ld4(dx0 + w), px1 = ld4(dx1 + w);
                const v4f py0 = ld4(dy0 + w), py1 = ld4(dy1 + w);
                const v4f a0 = v00 * px0 + v01 * px1, a1 = v10 * px0 + v11 * px1;
                const v4f b0 = v00 * py0 + v10 * py1, b1 = v01 * py0 + v11 * py1;
                st4(gx + w, ld4(gx + w) + (a0 * ld4(ay0 + w) + a1 * ld4(ay1 + w)) * g);
                st4(gy + w, ld4(gy + w) + (b0 * ld4(ax0 + w) + b1 * ld4(ax1 + w)) * g);
            }
#endif
            for (; w < wo; w++) {
                const float *p = ip + off[w];
                float g = go[w];
                float v00 = p[0], v01 = p[sx], v10 = p[sy], v11 = p[sxy];
                /* PyTorch: gx += ((ne - nw) * s + (se - sw) * n) * gOut,
                 *          gy += ((sw - nw) * e + (se - ne) * w) * gOut */
                float a0 = v00 * dx0[w] + v01 * dx1[w];
                float a1 = v10 * dx0[w] + v11 * dx1[w];
                float b0 = v00 * dy0[w] + v10 * dy1[w];
                float b1 = v01 * dy0[w] + v11 * dy1[w];
                gx[w] = gx[w] + (a0 * ay0[w] + a1 * ay1[w]) * g;
                gy[w] = gy[w] + (b0 * ax0[w] + b1 * ax1[w]) * g;
            }
        }
        if (want_gi) {
            const float *restrict go = gob + c * d->out_plane;
            float *restrict gi = gib + c * d->in_plane;
            /* Consecutive pixels usually fall in the same cell or the next
             * one to the right: keep the current 2x2 cell's sums in
             * registers and write them out when the cell moves, instead of
             * chaining read-modify-writes through memory. With sx == 0
             * (width 1) the two columns coincide, so only same-cell runs
             * are merged. */
            int32_t cur = off[0];
            float s00 = 0.0f, s01 = 0.0f, s10 = 0.0f, s11 = 0.0f;
            for (size_t w = 0; w < wo; w++) {
                float g = go[w];
                int32_t o = off[w];
                if (o != cur) {
                    float *q = gi + cur;
                    if (sx != 0 && o == cur + 1) {
                        /* slide right by one column: the left column is done */
                        q[0] += s00;
                        q[sy] += s10;
                        s00 = s01, s10 = s11, s01 = 0.0f, s11 = 0.0f;
                    } else {
                        q[0] += s00;
                        q[sx] += s01;
                        q[sy] += s10;
                        q[sxy] += s11;
                        s00 = s01 = s10 = s11 = 0.0f;
                    }
                    cur = o;
                }
                s00 += w00[w] * g;
                s01 += w01[w] * g;
                s10 += w10[w] * g;
                s11 += w11[w] * g;
            }
            float *q = gi + cur;
            q[0] += s00;
            q[sx] += s01;
            q[sy] += s10;
            q[sxy] += s11;
        }
    }
}

static void backward_rows(const ctx *k, const float *gout, const float *input, const float *grid,
                          float *gin, float *ggrid, size_t r0, size_t r1, row_tab *t,
                          float *scratch, size_t scratch_n) {
    const dims *d = &k->d;
    const size_t wo = d->wo;
    size_t item_in = d->c * d->in_plane;
    int want_gg = ggrid != NULL && k->mode == SC_GRID_BILINEAR;
    for (size_t r = r0; r < r1; r++) {
        size_t n = r / d->ho, h = r % d->ho;
        const float *grow = grid + (n * d->out_plane + h * wo) * 2;
        const float *gob = gout + n * d->c * d->out_plane + h * wo;
        float *gib = NULL;
        if (gin) gib = (scratch && n == scratch_n) ? scratch : gin + n * item_in;
        if (k->mode == SC_GRID_BILINEAR) {
            const float *inb = input ? input + n * item_in : NULL;
            float *gxa = t->f[T_GXA], *gya = t->f[T_GYA];
            fill_bilinear(k, grow, t, want_gg);
            if (want_gg)
                for (size_t w = 0; w < wo; w++) gxa[w] = gya[w] = 0.0f;
            if (gib && want_gg)
                bilinear_backward_row(k, t, inb, gob, gib, gxa, gya, 1, 1);
            else if (gib)
                bilinear_backward_row(k, t, inb, gob, gib, gxa, gya, 1, 0);
            else if (want_gg)
                bilinear_backward_row(k, t, inb, gob, gib, gxa, gya, 0, 1);
            if (want_gg) {
                float *gg = ggrid + (n * d->out_plane + h * wo) * 2;
                const float *gmx = t->f[T_GMX], *gmy = t->f[T_GMY];
                for (size_t w = 0; w < wo; w++) {
                    gg[2 * w] += gxa[w] * gmx[w];
                    gg[2 * w + 1] += gya[w] * gmy[w];
                }
            }
        } else if (gib) {
            fill_nearest(k, grow, t);
            const int32_t *restrict off = t->off;
            const float *restrict m = t->f[T_W00];
            for (size_t c = 0; c < d->c; c++) {
                const float *restrict go = gob + c * d->out_plane;
                float *restrict gi = gib + c * d->in_plane;
                for (size_t w = 0; w < wo; w++) gi[off[w]] += m[w] != 0.0f ? go[w] : 0.0f;
            }
        }
    }
}

sc_status sc_grid_sample_backward(const float *grad_output, const float *input, const float *grid,
                                  float *grad_input, float *grad_grid, int n, int c, int h_in,
                                  int w_in, int h_out, int w_out, sc_grid_interp mode,
                                  sc_grid_padding padding, int align_corners) {
    static const char *fn = "sc_grid_sample_backward";
    if (!grad_output || !grid)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: grad_output and grid must not be NULL", fn);
    if (grad_grid && !input)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: input must not be NULL when grad_grid is requested", fn);
    dims d;
    sc_status st = check_dims(fn, n, c, h_in, w_in, h_out, w_out, mode, padding, &d);
    if (st != SC_OK) return st;
    if (!grad_input && (!grad_grid || mode == SC_GRID_NEAREST)) return SC_OK;
    ctx k;
    ctx_init(&k, &d, mode, padding, align_corners);
    int nt = thread_count();
    size_t rows = d.n * d.ho;
    if ((size_t)nt > rows) nt = (int)rows;
    tabs tb;
    if ((st = tabs_alloc(&tb, d.wo, nt, fn)) != SC_OK) return st;
    /* Private buffers for threads whose first item started in an earlier
     * thread's chunk. */
    size_t item_in = d.c * d.in_plane;
    float *scratch = NULL;
    size_t *scratch_item = NULL;
    if (grad_input && nt > 1) {
        int need = 0;
        for (int t = 1; t < nt; t++) {
            size_t r0, r1;
            chunk(d.n, d.ho, t, nt, &r0, &r1);
            if (r0 < r1 && r0 % d.ho != 0) need = 1;
        }
        if (need) {
            size_t total;
            if (sc_mul_size(item_in, (size_t)nt, &total)) total = SIZE_MAX;
            scratch = total == SIZE_MAX ? NULL : sc_calloc(total, sizeof(float));
            scratch_item = scratch ? sc_malloc((size_t)nt * sizeof(size_t)) : NULL;
            if (!scratch || !scratch_item) {
                /* not enough memory for private buffers: run on one thread */
                sc_free(scratch);
                scratch = NULL;
                nt = 1;
                sc_clear_error();
            }
        }
    }
    int ran_threads = nt;
#pragma omp parallel num_threads(nt)
    {
        int t = 0, got = 1;
#ifdef _OPENMP
        t = omp_get_thread_num();
        got = omp_get_num_threads();
#endif
        if (got == nt) {
            size_t r0, r1;
            chunk(d.n, d.ho, t, got, &r0, &r1);
            row_tab rt = tabs_get(&tb, t);
            float *mine = NULL;
            size_t mine_n = 0;
            if (scratch && t > 0 && r0 < r1 && r0 % d.ho != 0) {
                mine = scratch + (size_t)t * item_in;
                mine_n = r0 / d.ho;
            }
            if (scratch) scratch_item[t] = mine ? mine_n : SIZE_MAX;
            backward_rows(&k, grad_output, input, grid, grad_input, grad_grid, r0, r1, &rt, mine,
                          mine_n);
        } else if (t == 0) {
            /* the runtime gave fewer threads than requested: do it all here */
            row_tab rt = tabs_get(&tb, 0);
            backward_rows(&k, grad_output, input, grid, grad_input, grad_grid, 0, rows, &rt, NULL,
                          0);
#pragma omp atomic write
            ran_threads = 1;
        }
    }
    if (scratch && ran_threads == nt) {
        /* add the private buffers in thread order (deterministic) */
        for (int t = 1; t < nt; t++) {
            if (scratch_item[t] == SIZE_MAX) continue;
            float *dst = grad_input + scratch_item[t] * item_in;
            const float *src = scratch + (size_t)t * item_in;
            long long len = (long long)item_in;
#pragma omp parallel for schedule(static) num_threads(nt)
            for (long long i = 0; i < len; i++) dst[i] += src[i];
        }
    }
    sc_free(scratch);
    sc_free(scratch_item);
    sc_free(tb.mem);
    return SC_OK;
}

/* ---------------------------------------------------------------------- */
/* affine_grid */

/* PyTorch's linspace_from_neg_one: linspace(-1, 1, steps) in float (the
 * CPU kernel fills the first half forwards from -1 and the second half
 * backwards from 1), scaled by (steps - 1) / steps without align_corners. */
static void base_coords(float *out, int steps, int align) {
    if (steps <= 1) {
        out[0] = 0.0f;
        return;
    }
    float step = 2.0f / (float)(steps - 1);
    int halfway = steps / 2;
    for (int i = 0; i < steps; i++) {
        float v = i < halfway ? -1.0f + step * (float)i : 1.0f - step * (float)(steps - i - 1);
        if (!align) v = v * (float)(steps - 1) / (float)steps;
        out[i] = v;
    }
}

static sc_status affine_check(const char *fn, const void *a, const void *b, int n, int h, int w,
                              size_t *hw) {
    if (!a || !b) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL tensor argument", fn);
    if (n <= 0 || h <= 0 || w <= 0)
        return sc_set_error(SC_ERR_SHAPE, "%s: sizes must be positive (n %d, h %d, w %d)", fn, n, h,
                            w);
    size_t t, t2;
    if (sc_mul_size((size_t)h, (size_t)w, hw) || sc_mul_size(*hw, (size_t)n, &t) ||
        sc_mul_size(t, 2 * sizeof(float), &t2) || (size_t)h + (size_t)w > SIZE_MAX / sizeof(float))
        return sc_set_error(SC_ERR_LIMIT, "%s: grid size overflows", fn);
    return SC_OK;
}

sc_status sc_affine_grid(const float *theta, int n, int h, int w, int align_corners, float *grid) {
    static const char *fn = "sc_affine_grid";
    size_t hw;
    sc_status st = affine_check(fn, theta, grid, n, h, w, &hw);
    if (st != SC_OK) return st;
    float *bx = sc_malloc(((size_t)w + (size_t)h) * sizeof(float));
    if (!bx) {
        sc_error_prefix(fn);
        return SC_ERR_NOMEM;
    }
    float *by = bx + w;
    base_coords(bx, w, align_corners != 0);
    base_coords(by, h, align_corners != 0);
    long long rows = (long long)n * h;
#pragma omp parallel for schedule(static)
    for (long long r = 0; r < rows; r++) {
        size_t i = (size_t)(r / h), y = (size_t)(r % h);
        const float *th = theta + i * 6;
        float *g = grid + (i * hw + y * (size_t)w) * 2;
        double yy = by[y];
        double c0 = yy * th[1] + th[2], c1 = yy * th[4] + th[5];
        for (int x = 0; x < w; x++) {
            double xx = bx[x];
            g[2 * x] = (float)(xx * th[0] + c0);
            g[2 * x + 1] = (float)(xx * th[3] + c1);
        }
    }
    sc_free(bx);
    return SC_OK;
}

sc_status sc_affine_grid_backward(const float *dgrid, int n, int h, int w, int align_corners,
                                  float *dtheta) {
    static const char *fn = "sc_affine_grid_backward";
    size_t hw;
    sc_status st = affine_check(fn, dgrid, dtheta, n, h, w, &hw);
    if (st != SC_OK) return st;
    float *bx = sc_malloc(((size_t)w + (size_t)h) * sizeof(float));
    if (!bx) {
        sc_error_prefix(fn);
        return SC_ERR_NOMEM;
    }
    float *by = bx + w;
    base_coords(bx, w, align_corners != 0);
    base_coords(by, h, align_corners != 0);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        double acc[6] = {0, 0, 0, 0, 0, 0};
        const float *g = dgrid + (size_t)i * hw * 2;
        for (int y = 0; y < h; y++) {
            /* per row: sums of g and of g * x, then weight by y */
            double sx0 = 0, sx1 = 0, s0 = 0, s1 = 0;
            for (int x = 0; x < w; x++) {
                double g0 = g[2 * x], g1 = g[2 * x + 1];
                sx0 += g0 * bx[x];
                sx1 += g1 * bx[x];
                s0 += g0;
                s1 += g1;
            }
            acc[0] += sx0, acc[3] += sx1;
            acc[1] += s0 * by[y], acc[4] += s1 * by[y];
            acc[2] += s0, acc[5] += s1;
            g += (size_t)w * 2;
        }
        for (int j = 0; j < 6; j++) dtheta[(size_t)i * 6 + j] += (float)acc[j];
    }
    sc_free(bx);
    return SC_OK;
}
