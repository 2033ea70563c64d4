/* Pillow-exact resampling: Image.resize(size, filter) for BOX, BILINEAR,
 * HAMMING, BICUBIC and LANCZOS on 8-bit images, as Pillow's
 * src/libImaging/Resample.c (ImagingResample, unchanged in behaviour from 9.x
 * to 11.x) computes it:
 *  - per axis, precompute_coeffs: scale = in / out, filterscale = max(scale, 1),
 *    support = filter support * filterscale; output pixel xx has centre
 *    (xx + 0.5) * scale and taps xmin = (int)(centre - support + 0.5) .. xmax =
 *    (int)(centre + support + 0.5) clipped to the image, weights
 *    filter((x - centre + 0.5) / filterscale) normalised to sum 1 (double);
 *  - normalize_coeffs_8bpc: weights to fixed point with 22 fraction bits
 *    (PRECISION_BITS = 32 - 8 - 2), rounded half away from zero;
 *  - horizontal pass first (only over the rows the vertical pass reads), then
 *    the vertical pass; a pass is skipped when its side keeps its size; each
 *    pass accumulates in integers from 1 << 21 (rounding) and clips
 *    sum >> 22 to 0..255, so the intermediate image is 8-bit too.
 * Images with alpha (c = 2 or 4) are premultiplied first and unpremultiplied
 * after, as Image.resize does through the "La"/"RGBa" modes (Convert.c:
 * MULDIV255 and CLIP8(255 * v / alpha)). */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_image.h"

enum { PRECISION_BITS = 32 - 8 - 2 };
/* M_PI is POSIX, not C11; the same double constant. */
static const double PIL_PI = 3.14159265358979323846;

typedef double (*pil_kernel)(double x);

static double box_kernel(double x) {
    return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
}

static double bilinear_kernel(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double hamming_kernel(double x) {
    if (x < 0.0) x = -x;
    if (x == 0.0) return 1.0;
    if (x >= 1.0) return 0.0;
    x = x * PIL_PI;
    /* Pillow writes the window's constants as floats (0.54f, 0.46f). */
    return sin(x) / x * (0.54f + 0.46f * cos(x));
}

/* Keys' cubic convolution with a = -0.5. */
static double bicubic_kernel(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc(double x) {
    if (x == 0.0) return 1.0;
    x = x * PIL_PI;
    return sin(x) / x;
}

static double lanczos_kernel(double x) {
    return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0;
}

static int pil_kernel_of(sc_pil_filter f, pil_kernel *k, double *support) {
    switch (f) {
    case SC_PIL_BOX:
        *k = box_kernel, *support = 0.5;
        return 1;
    case SC_PIL_BILINEAR:
        *k = bilinear_kernel, *support = 1.0;
        return 1;
    case SC_PIL_HAMMING:
        *k = hamming_kernel, *support = 1.0;
        return 1;
    case SC_PIL_BICUBIC:
        *k = bicubic_kernel, *support = 2.0;
        return 1;
    case SC_PIL_LANCZOS:
        *k = lanczos_kernel, *support = 3.0;
        return 1;
    }
    return 0;
}

/* One axis: for each output index, the first input tap, the tap count and
 * ksize fixed-point weights. */
typedef struct pil_coeffs {
    int ksize;
    int *bounds; /* [out][2]: first tap, tap count */
    int32_t *k;  /* [out][ksize] */
} pil_coeffs;

static void pil_coeffs_free(pil_coeffs *c) {
    free(c->bounds);
    free(c->k);
    memset(c, 0, sizeof *c);
}

static sc_status pil_coeffs_make(int in_size, int out_size, pil_kernel kernel, double support0,
                                 pil_coeffs *c) {
    memset(c, 0, sizeof *c);
    /* Pillow passes the box edges as floats: in1 - in0 is float(in_size). */
    double scale = (double)((float)in_size - 0.0f) / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * filterscale;
    double ks = ceil(support) * 2 + 1;
    if (ks > (double)(INT_MAX / 8))
        return sc_set_error(SC_ERR_LIMIT, "resize: filter support too large");
    int ksize = (int)ks;
    size_t n;
    if (sc_mul_size((size_t)out_size, (size_t)ksize, &n) || n > SIZE_MAX / sizeof(double))
        return sc_set_error(SC_ERR_LIMIT, "resize: coefficient table too large");
    double *w = malloc(n * sizeof(double));
    c->k = malloc(n * sizeof(int32_t));
    c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
    if (!w || !c->k || !c->bounds) {
        free(w);
        pil_coeffs_free(c);
        return sc_set_error(SC_ERR_NOMEM, "resize: out of memory for coefficients");
    }
    c->ksize = ksize;
    double inv_filterscale = 1.0 / filterscale;
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        /* (int) truncates toward zero, as in Pillow, then clips. */
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *wk = w + (size_t)xx * ksize;
        double ww = 0.0;
        int x = 0;
        for (; x < xmax; x++) {
            wk[x] = kernel((x + xmin - center + 0.5) * inv_filterscale);
            ww += wk[x];
        }
        if (ww != 0.0)
            for (x = 0; x < xmax; x++) wk[x] /= ww;
        for (; x < ksize; x++) wk[x] = 0;
        c->bounds[xx * 2] = xmin;
        c->bounds[xx * 2 + 1] = xmax;
    }
    for (size_t i = 0; i < n; i++)
        c->k[i] = w[i] < 0 ? (int32_t)(-0.5 + w[i] * (1 << PRECISION_BITS))
                           : (int32_t)(0.5 + w[i] * (1 << PRECISION_BITS));
    free(w);
    return SC_OK;
}

/* Accumulated sum (with its 1 << 21 rounding offset) to 8 bits: Pillow's
 * clip8 table covers the whole reachable range, so this is a plain clamp. */
static inline uint8_t clip8(int64_t ss) {
    if (ss < 0) return 0;
    int64_t v = ss >> PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* Rows [y0, y0 + rows) of the c-plane image in (width in_w, stride per plane
 * in_plane) resampled horizontally into out (out_w x rows per plane). */
static void pil_horizontal(const uint8_t *in, int in_w, size_t in_plane, int y0, int rows, int c,
                           const pil_coeffs *co, uint8_t *out, int out_w) {
    const size_t out_plane = (size_t)out_w * rows;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int yy = 0; yy < rows; yy++) {
            const uint8_t *line = in + ch * in_plane + (size_t)(yy + y0) * in_w;
            uint8_t *o = out + ch * out_plane + (size_t)yy * out_w;
            for (int xx = 0; xx < out_w; xx++) {
                const int xmin = co->bounds[xx * 2], xn = co->bounds[xx * 2 + 1];
                const int32_t *k = co->k + (size_t)xx * co->ksize;
                int64_t ss = 1 << (PRECISION_BITS - 1);
                for (int x = 0; x < xn; x++) ss += (int64_t)line[x + xmin] * k[x];
                o[xx] = clip8(ss);
            }
        }
}

/* Vertical pass: in has in_h rows per plane (bounds already shifted to it). */
static void pil_vertical(const uint8_t *in, int w, int in_h, int c, const pil_coeffs *co,
                         uint8_t *out, int out_h) {
    const size_t in_plane = (size_t)w * in_h, out_plane = (size_t)w * out_h;
#pragma omp parallel for collapse(2) schedule(static)
    for (int ch = 0; ch < c; ch++)
        for (int yy = 0; yy < out_h; yy++) {
            const int ymin = co->bounds[yy * 2], yn = co->bounds[yy * 2 + 1];
            const int32_t *k = co->k + (size_t)yy * co->ksize;
            const uint8_t *base = in + ch * in_plane;
            uint8_t *o = out + ch * out_plane + (size_t)yy * w;
            for (int xx = 0; xx < w; xx++) {
                int64_t ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < yn; y++)
                    ss += (int64_t)base[(size_t)(y + ymin) * w + xx] * k[y];
                o[xx] = clip8(ss);
            }
        }
}

/* Pillow's MULDIV255: round(a * b / 255) the way its integer trick does. */
static inline uint8_t muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

/* [0, 1] to 0..255 as the PNG/JPEG writers quantize (clamp, round half up):
 * an image decoded from an 8-bit file (values v / 255) comes back exactly. */
static inline uint8_t unit_to_u8(float v) {
    v = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
    return (uint8_t)(v * 255.f + 0.5f);
}

static sc_status check_source(const sc_image *src) {
    if (!src || !src->data || src->w <= 0 || src->h <= 0 || src->c <= 0 || src->c > 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "resize (Pillow): not a valid source image");
    return SC_OK;
}

sc_status sc_image_resize_pil(const sc_image *src, int w, int h, sc_pil_filter filter,
                              sc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    sc_status s = check_source(src);
    if (s) return s;
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "resize (Pillow): NULL destination");
    pil_kernel kernel;
    double support;
    if (!pil_kernel_of(filter, &kernel, &support))
        return sc_set_error(SC_ERR_INVALID_ARG, "resize (Pillow): unknown filter %d", (int)filter);
    if (w <= 0 || h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "resize (Pillow): bad target size %dx%d", w, h);
    const int c = src->c, sw = src->w, sh = src->h;
    const int alpha = (c == 2 || c == 4);
    s = sc_image_alloc(out, w, h, c);
    if (s) return s;
    const size_t in_plane = (size_t)sw * sh, out_plane = (size_t)w * h;
    /* Pillow returns a copy when the size does not change. */
    if (w == sw && h == sh) {
        for (size_t i = 0; i < in_plane * c; i++)
            out->data[i] = (float)unit_to_u8(src->data[i]) / 255.f;
        return SC_OK;
    }
    pil_coeffs hc = {0}, vc = {0};
    uint8_t *in8 = NULL, *tmp = NULL, *out8 = NULL;
    s = pil_coeffs_make(sw, w, kernel, support, &hc);
    if (!s) s = pil_coeffs_make(sh, h, kernel, support, &vc);
    if (s) goto done;
    const int need_h = w != sw, need_v = h != sh;
    const int y_first = vc.bounds[0];
    const int y_last = vc.bounds[h * 2 - 2] + vc.bounds[h * 2 - 1];
    const int rows = need_h ? y_last - y_first : sh;
    in8 = malloc(in_plane * c);
    tmp = need_h ? malloc((size_t)w * rows * c) : NULL;
    out8 = malloc(out_plane * c);
    if (!in8 || !out8 || (need_h && !tmp)) {
        s = sc_set_error(SC_ERR_NOMEM, "resize (Pillow) %dx%d -> %dx%d: out of memory", sw, sh, w,
                         h);
        goto done;
    }
    for (size_t i = 0; i < in_plane * c; i++) in8[i] = unit_to_u8(src->data[i]);
    if (alpha) {
        const uint8_t *a = in8 + (size_t)(c - 1) * in_plane;
        for (int ch = 0; ch < c - 1; ch++)
            for (size_t i = 0; i < in_plane; i++)
                in8[ch * in_plane + i] = muldiv255(in8[ch * in_plane + i], a[i]);
    }
    const uint8_t *cur = in8;
    int cur_w = sw, cur_h = sh;
    if (need_h) {
        /* The horizontal pass covers only the rows the vertical taps read. */
        for (int i = 0; i < h; i++) vc.bounds[i * 2] -= y_first;
        pil_horizontal(in8, sw, in_plane, y_first, rows, c, &hc, tmp, w);
        cur = tmp, cur_w = w, cur_h = rows;
    }
    if (need_v) {
        pil_vertical(cur, cur_w, cur_h, c, &vc, out8, h);
    } else {
        memcpy(out8, cur, out_plane * c);
    }
    if (alpha) {
        const uint8_t *a = out8 + (size_t)(c - 1) * out_plane;
        for (int ch = 0; ch < c - 1; ch++)
            for (size_t i = 0; i < out_plane; i++) {
                unsigned v = out8[ch * out_plane + i], al = a[i];
                if (al != 0 && al != 255) {
                    unsigned q = 255 * v / al;
                    out8[ch * out_plane + i] = (uint8_t)(q > 255 ? 255 : q);
                }
            }
    }
    for (size_t i = 0; i < out_plane * c; i++) out->data[i] = (float)out8[i] / 255.f;
done:
    pil_coeffs_free(&hc);
    pil_coeffs_free(&vc);
    free(in8);
    free(tmp);
    free(out8);
    if (s) sc_image_free(out);
    return s;
}
