/* 2-D maps (saliency, attention): bilinear resizing, Gaussian blur,
 * colorizing, heatmap overlays and contact sheets. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_overlay.h"

/* Largest map side and Gaussian sigma accepted (guards against absurd work). */
#define SC_MAP_MAX_SIDE (1 << 20)
#define SC_BLUR_MAX_SIGMA 1000.0f
/* Loops smaller than this (in inner iterations) run on one thread. */
#define SC_OMP_MIN_WORK ((size_t)1 << 16)

sc_status sc_map_alloc(sc_map *m, int w, int h) {
    if (!m) return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_alloc: map is NULL");
    memset(m, 0, sizeof *m);
    if (w <= 0 || h <= 0 || w > SC_MAP_MAX_SIDE || h > SC_MAP_MAX_SIDE)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_alloc: bad map size %dx%d", w, h);
    size_t n;
    if (sc_mul_size((size_t)w, (size_t)h, &n) || n > ((size_t)1 << 31))
        return sc_set_error(SC_ERR_LIMIT, "sc_map_alloc: map %dx%d is too large", w, h);
    m->data = sc_calloc(n, sizeof(float));
    if (!m->data) return SC_ERR_NOMEM;
    m->w = w;
    m->h = h;
    return SC_OK;
}

void sc_map_free(sc_map *m) {
    if (!m) return;
    sc_free(m->data);
    memset(m, 0, sizeof *m);
}

static sc_status check_map(const sc_map *m, const char *fn, const char *arg) {
    if (!m || !m->data || m->w <= 0 || m->h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %s is NULL or empty", fn, arg);
    return SC_OK;
}

static sc_status check_image(const sc_image *im, const char *fn, const char *arg) {
    if (!im || !im->data || im->w <= 0 || im->h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %s is NULL or empty", fn, arg);
    if (im->c != 1 && im->c != 3 && im->c != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %s has %d channels (need 1, 3 or 4)", fn, arg,
                            im->c);
    return SC_OK;
}

sc_heatmap_params sc_heatmap_default_params(void) {
    sc_heatmap_params p;
    memset(&p, 0, sizeof p);
    p.colormap = SC_CMAP_VIRIDIS;
    p.norm = SC_NORM_MINMAX;
    p.lo = 0.0f;
    p.hi = 1.0f;
    p.alpha = 0.5f;
    p.smooth_sigma = 0.0f;
    return p;
}

/* ---- Bilinear resampling (the one resampler used here) -------------------
 * PyTorch's align_corners=False convention, computed in float like its CPU
 * kernel: src = (in/out) * (dst + 0.5) - 0.5, clamped below at 0; the upper
 * neighbour is clamped to the last row/column. */
static void bilinear_axis(int in, int out, int *i0, int *i1, float *l1) {
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        float s = scale * ((float)d + 0.5f) - 0.5f;
        if (s < 0.0f) s = 0.0f;
        int i = (int)s;
        if (i > in - 1) i = in - 1;
        float l = s - (float)i;
        if (l > 1.0f) l = 1.0f;
        i0[d] = i;
        i1[d] = i < in - 1 ? i + 1 : i;
        l1[d] = l;
    }
}

/* Resize one float plane sw x sh (row stride sw) into dst dw x dh with row
 * stride dstride. */
static sc_status resize_plane(const float *src, int sw, int sh, float *dst, int dw, int dh,
                              size_t dstride) {
    if (sw == dw && sh == dh) { /* bilinear at scale 1 samples the pixels themselves */
        for (int y = 0; y < dh; y++)
            memcpy(dst + (size_t)y * dstride, src + (size_t)y * sw, (size_t)sw * sizeof *dst);
        return SC_OK;
    }
    size_t nx = (size_t)dw, ny = (size_t)dh;
    int *ix = sc_malloc(2 * (nx + ny) * sizeof(int));
    float *lx = sc_malloc((nx + ny) * sizeof(float));
    if (!ix || !lx) {
        sc_free(ix);
        sc_free(lx);
        return SC_ERR_NOMEM;
    }
    int *ix0 = ix, *ix1 = ix + nx, *iy0 = ix + 2 * nx, *iy1 = iy0 + ny;
    float *ly = lx + nx;
    bilinear_axis(sw, dw, ix0, ix1, lx);
    bilinear_axis(sh, dh, iy0, iy1, ly);
#pragma omp parallel for schedule(static) if ((size_t)dw * dh >= SC_OMP_MIN_WORK)
    for (int y = 0; y < dh; y++) {
        const float *r0 = src + (size_t)iy0[y] * sw, *r1 = src + (size_t)iy1[y] * sw;
        float h1 = ly[y], h0 = 1.0f - h1;
        float *o = dst + (size_t)y * dstride;
        for (int x = 0; x < dw; x++) {
            float w1 = lx[x], w0 = 1.0f - w1;
            o[x] =
                h0 * (w0 * r0[ix0[x]] + w1 * r0[ix1[x]]) + h1 * (w0 * r1[ix0[x]] + w1 * r1[ix1[x]]);
        }
    }
    sc_free(ix);
    sc_free(lx);
    return SC_OK;
}

sc_status sc_map_resize_bilinear(const sc_map *src, int w, int h, sc_map *dst) {
    sc_status s = check_map(src, "sc_map_resize_bilinear", "src");
    if (s) return s;
    if (!dst) return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_resize_bilinear: dst is NULL");
    if (dst == src)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_resize_bilinear: dst must not be src");
    sc_map out;
    s = sc_map_alloc(&out, w, h);
    if (s) {
        sc_error_prefix("sc_map_resize_bilinear");
        return s;
    }
    s = resize_plane(src->data, src->w, src->h, out.data, w, h, (size_t)w);
    if (s) {
        sc_map_free(&out);
        return s;
    }
    *dst = out;
    return SC_OK;
}

/* ---- Gaussian blur -------------------------------------------------------- */

/* OpenCV's borderInterpolate for BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba),
 * reflecting repeatedly when the kernel is wider than the map. */
static int reflect101(int p, int len) {
    if (len == 1) return 0;
    while (p < 0 || p >= len) p = p < 0 ? -p : 2 * len - 2 - p;
    return p;
}

sc_status sc_map_gaussian_blur(sc_map *m, float sigma) {
    sc_status s = check_map(m, "sc_map_gaussian_blur", "map");
    if (s) return s;
    if (!(sigma >= 0.0f) || !(sigma <= SC_BLUR_MAX_SIGMA))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_gaussian_blur: sigma %g must be in [0, %g]",
                            (double)sigma, (double)SC_BLUR_MAX_SIGMA);
    if (sigma == 0.0f) return SC_OK;
    int r = (int)ceil(3.0 * (double)sigma);
    int k = 2 * r + 1, w = m->w, h = m->h;
    /* Kernel as OpenCV's getGaussianKernel: computed in double, normalised,
     * then stored as float. */
    float *ker = sc_malloc((size_t)k * sizeof(float));
    int *xi = sc_malloc(((size_t)w + 2 * (size_t)r + (size_t)h + 2 * (size_t)r) * sizeof(int));
    float *tmp = sc_malloc((size_t)w * h * sizeof(float));
    if (!ker || !xi || !tmp) {
        sc_free(ker);
        sc_free(xi);
        sc_free(tmp);
        return SC_ERR_NOMEM;
    }
    double sum = 0, scale2 = -0.5 / ((double)sigma * sigma);
    for (int i = 0; i < k; i++) {
        double x = i - r;
        sum += exp(scale2 * x * x);
    }
    for (int i = 0; i < k; i++) {
        double x = i - r;
        ker[i] = (float)(exp(scale2 * x * x) / sum);
    }
    int *yi = xi + w + 2 * r;
    for (int i = 0; i < w + 2 * r; i++) xi[i] = reflect101(i - r, w);
    for (int i = 0; i < h + 2 * r; i++) yi[i] = reflect101(i - r, h);
    float *d = m->data;
    /* Horizontal pass into tmp. */
#pragma omp parallel for schedule(static) if ((size_t)w * h * k >= SC_OMP_MIN_WORK)
    for (int y = 0; y < h; y++) {
        const float *row = d + (size_t)y * w;
        float *o = tmp + (size_t)y * w;
        for (int x = 0; x < w; x++) {
            float acc = 0.0f;
            for (int j = 0; j < k; j++) acc += ker[j] * row[xi[x + j]];
            o[x] = acc;
        }
    }
    /* Vertical pass back into the map. */
#pragma omp parallel for schedule(static) if ((size_t)w * h * k >= SC_OMP_MIN_WORK)
    for (int y = 0; y < h; y++) {
        float *o = d + (size_t)y * w;
        for (int x = 0; x < w; x++) o[x] = 0.0f;
        for (int j = 0; j < k; j++) {
            const float *row = tmp + (size_t)yi[y + j] * w;
            float kj = ker[j];
            for (int x = 0; x < w; x++) o[x] += kj * row[x];
        }
    }
    sc_free(ker);
    sc_free(xi);
    sc_free(tmp);
    return SC_OK;
}

/* ---- Colorize and overlay --------------------------------------------------- */

static sc_status check_params(const sc_heatmap_params *p, const char *fn) {
    if (!sc_colormap_table(p->colormap)) {
        sc_error_prefix(fn);
        return SC_ERR_INVALID_ARG;
    }
    if (p->norm != SC_NORM_MINMAX && p->norm != SC_NORM_FIXED)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown normalisation mode %d", fn,
                            (int)p->norm);
    if (p->norm == SC_NORM_FIXED &&
        !(isfinite(p->lo) && isfinite(p->hi) && p->hi > p->lo && isfinite(p->hi - p->lo)))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: fixed range needs finite lo < hi (got %g, %g)",
                            fn, (double)p->lo, (double)p->hi);
    if (!(p->alpha >= 0.0f && p->alpha <= 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: alpha %g is outside [0, 1]", fn,
                            (double)p->alpha);
    if (!(p->smooth_sigma >= 0.0f && p->smooth_sigma <= SC_BLUR_MAX_SIGMA))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: smooth_sigma %g is outside [0, %g]", fn,
                            (double)p->smooth_sigma, (double)SC_BLUR_MAX_SIGMA);
    return SC_OK;
}

/* Normalisation: t = (v - lo) / (hi - lo) in float, then sc_colormap_index
 * (round to nearest, clamp, NaN -> 0). Min-max uses the finite values only;
 * a constant (or wholly non-finite) map gives t = 0 everywhere. */
sc_status sc_map_colorize(const sc_map *m, const sc_heatmap_params *p, sc_image *out) {
    sc_status s = check_map(m, "sc_map_colorize", "map");
    if (s) return s;
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_map_colorize: out is NULL");
    sc_heatmap_params def = sc_heatmap_default_params();
    if (!p) p = &def;
    if ((s = check_params(p, "sc_map_colorize"))) return s;
    size_t n = (size_t)m->w * m->h;
    float lo = p->lo, hi = p->hi;
    int constant = 0;
    if (p->norm == SC_NORM_MINMAX) {
        lo = INFINITY;
        hi = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = m->data[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        constant = !(hi > lo);
    }
    const float(*tab)[3] = sc_colormap_table(p->colormap);
    sc_image img;
    if ((s = sc_image_alloc(&img, m->w, m->h, 3))) return s;
    float range = hi - lo;
    int wide = !isfinite(range); /* e.g. -3e38 .. 3e38: normalise in double */
    if (wide) constant = 0;
    float *R = img.data, *G = R + n, *B = G + n;
#pragma omp parallel for schedule(static) if (n >= SC_OMP_MIN_WORK)
    for (long long i = 0; i < (long long)n; i++) {
        float t = constant ? 0.0f
                  : wide   ? (float)(((double)m->data[i] - lo) / ((double)hi - lo))
                           : (m->data[i] - lo) / range;
        const float *e = tab[sc_colormap_index(t)];
        R[i] = e[0];
        G[i] = e[1];
        B[i] = e[2];
    }
    *out = img;
    return SC_OK;
}

sc_status sc_overlay_heatmap(const sc_image *img, const sc_map *m, const sc_heatmap_params *p,
                             sc_image *out) {
    const char *fn = "sc_overlay_heatmap";
    sc_status s = check_image(img, fn, "image");
    if (s) return s;
    if ((s = check_map(m, fn, "map"))) return s;
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if (out == img) return sc_set_error(SC_ERR_INVALID_ARG, "%s: out must not be the input", fn);
    sc_heatmap_params def = sc_heatmap_default_params();
    if (!p) p = &def;
    if ((s = check_params(p, fn))) return s;
    int w = img->w, h = img->h;
    sc_map up = {0, 0, NULL};
    if (m->w == w && m->h == h) {
        if ((s = sc_map_alloc(&up, w, h))) return s;
        memcpy(up.data, m->data, (size_t)w * h * sizeof(float));
    } else if ((s = sc_map_resize_bilinear(m, w, h, &up))) {
        return s;
    }
    if (p->smooth_sigma > 0.0f && (s = sc_map_gaussian_blur(&up, p->smooth_sigma))) {
        sc_map_free(&up);
        return s;
    }
    sc_image heat;
    s = sc_map_colorize(&up, p, &heat);
    sc_map_free(&up);
    if (s) return s;
    /* Blend in place into the heat image: out = (1 - a) * img + a * heat.
     * Gray images are replicated; an alpha channel is ignored. */
    size_t n = (size_t)w * h;
    float a = p->alpha, b = 1.0f - a;
    for (int c = 0; c < 3; c++) {
        const float *src = img->data + (size_t)(img->c == 1 ? 0 : c) * n;
        float *o = heat.data + (size_t)c * n;
#pragma omp parallel for schedule(static) if (n >= SC_OMP_MIN_WORK)
        for (long long i = 0; i < (long long)n; i++) o[i] = b * src[i] + a * o[i];
    }
    *out = heat;
    return SC_OK;
}

/* ---- Contact sheet ----------------------------------------------------------- */

sc_sheet_params sc_sheet_default_params(void) {
    sc_sheet_params p;
    memset(&p, 0, sizeof p);
    p.cols = 0;
    p.panel_w = 224;
    p.panel_h = 224;
    p.margin = 8;
    p.font_px = 16.0f;
    p.background[0] = p.background[1] = p.background[2] = 1.0f;
    p.text_rgb[0] = p.text_rgb[1] = p.text_rgb[2] = 0.1f;
    return p;
}

/* Layout shared by sc_contact_sheet and sc_contact_sheet_layout. */
static sc_status sheet_layout(int n, const sc_sheet_params *p, int has_captions,
                              sc_sheet_layout *L) {
    const char *fn = "sc_contact_sheet";
    if (n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: need at least one panel (n=%d)", fn, n);
    if (p->panel_w <= 0 || p->panel_h <= 0 || p->panel_w > SC_MAP_MAX_SIDE ||
        p->panel_h > SC_MAP_MAX_SIDE)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad panel size %dx%d", fn, p->panel_w,
                            p->panel_h);
    if (p->margin < 0 || p->margin > SC_MAP_MAX_SIDE)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad margin %d", fn, p->margin);
    if (!(p->font_px >= 0.0f && p->font_px <= 1000.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: font_px %g is outside [0, 1000]", fn,
                            (double)p->font_px);
    if (p->cols < 0) return sc_set_error(SC_ERR_INVALID_ARG, "%s: cols %d < 0", fn, p->cols);
    int cols = p->cols;
    if (cols == 0) {
        cols = (int)ceil(sqrt((double)n));
        while ((long long)cols * cols < n) cols++;
        while (cols > 1 && (long long)(cols - 1) * (cols - 1) >= n) cols--;
    }
    if (cols > n) cols = n;
    int rows = (n + cols - 1) / cols;
    int cap_h = has_captions && p->font_px > 0.0f ? sc_text_height(p->font_px) + 4 : 0;
    long long W = p->margin + (long long)cols * (p->panel_w + p->margin);
    long long H = p->margin + (long long)rows * (p->panel_h + cap_h + p->margin);
    if (W > SC_MAP_MAX_SIDE || H > SC_MAP_MAX_SIDE)
        return sc_set_error(SC_ERR_LIMIT, "%s: sheet of %lldx%lld pixels is too large", fn, W, H);
    L->cols = cols;
    L->rows = rows;
    L->caption_h = cap_h;
    L->w = (int)W;
    L->h = (int)H;
    return SC_OK;
}

sc_status sc_contact_sheet_layout(int n, const sc_sheet_params *p, int has_captions,
                                  sc_sheet_layout *out) {
    sc_sheet_params def = sc_sheet_default_params();
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_contact_sheet_layout: out is NULL");
    return sheet_layout(n, p ? p : &def, has_captions, out);
}

static void panel_origin(const sc_sheet_layout *L, const sc_sheet_params *p, int i, int *x,
                         int *y) {
    int col = i % L->cols, row = i / L->cols;
    *x = p->margin + col * (p->panel_w + p->margin);
    *y = p->margin + row * (p->panel_h + L->caption_h + p->margin);
}

sc_status sc_contact_sheet_panel_origin(const sc_sheet_layout *L, const sc_sheet_params *p, int i,
                                        int *x, int *y) {
    if (!L || !x || !y || L->cols <= 0 || i < 0 || i >= L->cols * L->rows)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_contact_sheet_panel_origin: bad panel %d", i);
    sc_sheet_params def = sc_sheet_default_params();
    panel_origin(L, p ? p : &def, i, x, y);
    return SC_OK;
}

/* A prefix of text, cut before a non-continuation byte (so never inside a
 * valid UTF-8 sequence), that followed by an ellipsis fits max_w; written
 * into buf (cap >= strlen(text) + 4). Binary search over the cut points
 * (widths grow with the prefix up to kerning, so the cut found fits but may
 * in rare cases be a glyph short of the longest). Returns 0 if not even the
 * ellipsis fits. */
static sc_status ellipsize(const char *text, float px, int max_w, char *buf, int *fits) {
    static const char ell[] = "\xE2\x80\xA6"; /* U+2026 */
    size_t len = strlen(text), ncut = 0;
    *fits = 0;
    size_t *cuts = sc_malloc((len + 1) * sizeof(size_t));
    if (!cuts) return SC_ERR_NOMEM;
    for (size_t i = 0; i < len; i++)
        if ((text[i] & 0xC0) != 0x80) cuts[ncut++] = i; /* cuts[0] == 0 */
    size_t lo = 0, hi = ncut; /* find the largest k < ncut whose cut fits */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        memcpy(buf, text, cuts[mid]);
        memcpy(buf + cuts[mid], ell, sizeof ell);
        if (sc_text_width(buf, px) <= max_w)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0) {
        memcpy(buf, text, cuts[lo - 1]);
        memcpy(buf + cuts[lo - 1], ell, sizeof ell);
        *fits = 1;
    }
    sc_free(cuts);
    return SC_OK;
}

sc_status sc_contact_sheet(const sc_image *panels, const char *const *captions, int n,
                           const sc_sheet_params *p, sc_image *out) {
    const char *fn = "sc_contact_sheet";
    sc_sheet_params def = sc_sheet_default_params();
    if (!p) p = &def;
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if (n > 0 && !panels) return sc_set_error(SC_ERR_INVALID_ARG, "%s: panels is NULL", fn);
    sc_sheet_layout L = {0, 0, 0, 0, 0};
    sc_status s = sheet_layout(n, p, captions != NULL, &L);
    if (s) return s;
    if (L.caption_h > 0 && (s = sc_font_load(NULL))) return s;
    for (int i = 0; i < n; i++) {
        char what[32];
        snprintf(what, sizeof what, "panel %d", i);
        if ((s = check_image(&panels[i], fn, what))) return s;
    }
    sc_image sheet;
    if ((s = sc_image_alloc(&sheet, L.w, L.h, 3))) return s;
    size_t plane = (size_t)L.w * L.h;
    for (int c = 0; c < 3; c++) {
        float v = p->background[c], *d = sheet.data + c * plane;
        for (size_t i = 0; i < plane; i++) d[i] = v;
    }
    char *cap = NULL;
    for (int i = 0; i < n && !s; i++) {
        const sc_image *im = &panels[i];
        int px, py;
        panel_origin(&L, p, i, &px, &py);
        /* Fit inside panel_w x panel_h keeping the aspect ratio. */
        double sc = fmin((double)p->panel_w / im->w, (double)p->panel_h / im->h);
        int dw = (int)fmin(p->panel_w, fmax(1.0, floor(im->w * sc + 0.5)));
        int dh = (int)fmin(p->panel_h, fmax(1.0, floor(im->h * sc + 0.5)));
        int ox = px + (p->panel_w - dw) / 2, oy = py + (p->panel_h - dh) / 2;
        for (int c = 0; c < 3 && !s; c++) {
            const float *src = im->data + (size_t)(im->c == 1 ? 0 : c) * im->w * im->h;
            float *dst = sheet.data + c * plane + (size_t)oy * L.w + ox;
            s = resize_plane(src, im->w, im->h, dst, dw, dh, (size_t)L.w);
        }
        if (s || !captions || !captions[i] || !captions[i][0] || L.caption_h == 0) continue;
        const char *text = captions[i];
        int tw = sc_text_width(text, p->font_px);
        if (tw > p->panel_w) {
            size_t capn = strlen(text) + 8;
            sc_free(cap);
            cap = sc_malloc(capn);
            if (!cap) {
                s = SC_ERR_NOMEM;
                break;
            }
            int fits;
            if ((s = ellipsize(text, p->font_px, p->panel_w, cap, &fits))) break;
            if (!fits) continue;
            text = cap;
            tw = sc_text_width(text, p->font_px);
        }
        int tx = px + (p->panel_w - tw) / 2;
        int ty = py + p->panel_h + 2;
        s = sc_draw_text(&sheet, tx, ty, text, p->font_px, p->text_rgb);
    }
    sc_free(cap);
    if (s) {
        sc_image_free(&sheet);
        return s;
    }
    *out = sheet;
    return SC_OK;
}
