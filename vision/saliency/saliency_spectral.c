/* Spectral saliency on single-precision FFTW: spectral residual (OpenCV's
 * variant and the authors'), and PQFT. Also the shared FFTW plan cache. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <fftw3.h>
#include "sc_internal.h"
#include "saliency_internal.h"
#include "image/resize_cv_internal.h"
#include "image/resize_cv.h"
#include "saccade/sc_saliency.h"

/* ---- FFTW plan cache ---------------------------------------------------- */

/* FFTW's planner (and wisdom, plan destruction) is not thread-safe; executing
 * an existing plan on new arrays with fftwf_execute_dft is. Plans are in-place
 * 2-D complex transforms of h rows x w columns, keyed by (w, h, sign). */
#define PLAN_CACHE_CAP 64

typedef struct plan_ent {
    int w, h, sign;
    fftwf_plan plan;
} plan_ent;

static pthread_mutex_t g_fftw_mu = PTHREAD_MUTEX_INITIALIZER;
static plan_ent g_plans[PLAN_CACHE_CAP];
static int g_nplans;

static fftwf_plan make_plan(int w, int h, int sign) {
    fftwf_complex *tmp = fftwf_malloc(sizeof(fftwf_complex) * (size_t)w * h);
    if (!tmp) return NULL;
    fftwf_plan p = fftwf_plan_dft_2d(h, w, tmp, tmp, sign, FFTW_ESTIMATE);
    fftwf_free(tmp);
    return p;
}

/* In-place 2-D FFT of buf (h x w complex, unnormalised). buf must come from
 * sc_malloc (64-byte aligned, as the planning array's alignment class). */
sc_status sc_sal_fft2d(fftwf_complex *buf, int w, int h, int sign) {
    fftwf_plan p = NULL;
    int temporary = 0;
    pthread_mutex_lock(&g_fftw_mu);
    for (int i = 0; i < g_nplans; i++)
        if (g_plans[i].w == w && g_plans[i].h == h && g_plans[i].sign == sign) {
            p = g_plans[i].plan;
            break;
        }
    if (!p) {
        p = make_plan(w, h, sign);
        if (p && g_nplans < PLAN_CACHE_CAP)
            g_plans[g_nplans++] = (plan_ent){w, h, sign, p};
        else if (p)
            temporary = 1;
    }
    if (temporary) { /* cache full: run under the lock, then destroy */
        fftwf_execute_dft(p, buf, buf);
        fftwf_destroy_plan(p);
        pthread_mutex_unlock(&g_fftw_mu);
        return SC_OK;
    }
    pthread_mutex_unlock(&g_fftw_mu);
    if (!p) return sc_set_error(SC_ERR_INTERNAL, "FFTW could not plan a %dx%d transform", w, h);
    fftwf_execute_dft(p, buf, buf);
    return SC_OK;
}

void sc_saliency_fftw_cleanup(void) {
    pthread_mutex_lock(&g_fftw_mu);
    for (int i = 0; i < g_nplans; i++) fftwf_destroy_plan(g_plans[i].plan);
    g_nplans = 0;
    pthread_mutex_unlock(&g_fftw_mu);
}

sc_status sc_saliency_fftw_wisdom_load(const char *path) {
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "wisdom path is NULL");
    unsigned char *buf;
    size_t len;
    sc_status s = sc_read_file(path, (size_t)64 << 20, &buf, &len);
    if (s) return s;
    pthread_mutex_lock(&g_fftw_mu);
    int ok = fftwf_import_wisdom_from_string((const char *)buf);
    pthread_mutex_unlock(&g_fftw_mu);
    free(buf);
    if (!ok)
        return sc_set_error(SC_ERR_FORMAT, "%s: not valid FFTW (single precision) wisdom", path);
    return SC_OK;
}

sc_status sc_saliency_fftw_wisdom_save(const char *path) {
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "wisdom path is NULL");
    pthread_mutex_lock(&g_fftw_mu);
    char *w = fftwf_export_wisdom_to_string();
    pthread_mutex_unlock(&g_fftw_mu);
    if (!w) return sc_set_error(SC_ERR_INTERNAL, "FFTW could not export wisdom");
    sc_status s = sc_write_file_atomic(path, w, strlen(w));
    free(w);
    return s;
}

/* ---- shared helpers ----------------------------------------------------- */

sc_status sc_sal_check_image(const char *fn, const sc_image *img, const sc_map *out) {
    if (!img || !out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!img->data || img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: image must be %s with 1, 3 or 4 channels (got %dx%dx%d)", fn,
                            img->data ? "non-empty" : "allocated", img->w, img->h, img->c);
    size_t n;
    if (sc_mul_size((size_t)img->w, (size_t)img->h, &n) || sc_mul_size(n, 4 * sizeof(float), &n))
        return sc_set_error(SC_ERR_LIMIT, "%s: image %dx%d is too large", fn, img->w, img->h);
    return SC_OK;
}

/* Separable Gaussian (kernel of size 2r+1, normalised), reflect-101, in place. */
static sc_status gauss_blur_d(double *m, int w, int h, const double *k, int r) {
    double *tmp = sc_malloc((size_t)w * h * sizeof(double));
    if (!tmp) return SC_ERR_NOMEM;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int j = -r; j <= r; j++) s += k[j + r] * m[(size_t)y * w + refl101(x + j, w)];
            tmp[(size_t)y * w + x] = s;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int j = -r; j <= r; j++) s += k[j + r] * tmp[(size_t)refl101(y + j, h) * w + x];
            m[(size_t)y * w + x] = s;
        }
    sc_free(tmp);
    return SC_OK;
}

static sc_status gauss_sigma_d(double *m, int w, int h, double sigma, int ksize) {
    if (!(sigma > 0)) return SC_OK;
    int r = ksize > 0 ? ksize / 2 : (int)ceil(3.0 * sigma);
    if (r > 4096) r = 4096;
    double *k = sc_malloc((size_t)(2 * r + 1) * sizeof(double));
    if (!k) return SC_ERR_NOMEM;
    double sum = 0;
    for (int i = -r; i <= r; i++) sum += k[i + r] = exp(-(double)i * i / (2.0 * sigma * sigma));
    for (int i = 0; i <= 2 * r; i++) k[i] /= sum;
    sc_status s = gauss_blur_d(m, w, h, k, r);
    sc_free(k);
    return s;
}

/* Spectral residual on an FFT'd buffer, in place: log amplitude minus its 3x3
 * mean (reflect-101 border when reflect != 0, else replicate), exp, original
 * phase. Bins whose magnitude is negligible (rounding noise, e.g. a constant
 * image) carry no phase and are set to zero. */
static sc_status spectral_residual(fftwf_complex *F, int w, int h, int reflect) {
    size_t n = (size_t)w * h;
    double *la = sc_malloc(n * sizeof(double) * 3);
    if (!la) return SC_ERR_NOMEM;
    double *tmp = la + n, *mg = la + 2 * n, total = 0;
    /* float components squared in double cannot overflow: sqrt, not hypot (3x slower) */
    for (size_t i = 0; i < n; i++) {
        double re = F[i][0], im = F[i][1];
        total += mg[i] = sqrt(re * re + im * im);
    }
    double floor_mag = 1e-7 * total + 1e-30;
    for (size_t i = 0; i < n; i++) la[i] = log(fmax(mg[i], floor_mag));
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int j = -1; j <= 1; j++) {
                int xx = reflect ? refl101(x + j, w) : SC_MIN(SC_MAX(x + j, 0), w - 1);
                s += la[(size_t)y * w + xx];
            }
            tmp[(size_t)y * w + x] = s;
        }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0;
            for (int j = -1; j <= 1; j++) {
                int yy = reflect ? refl101(y + j, h) : SC_MIN(SC_MAX(y + j, 0), h - 1);
                s += tmp[(size_t)yy * w + x];
            }
            size_t i = (size_t)y * w + x;
            double mag = mg[i];
            double g = mag > floor_mag ? exp(la[i] - s / 9.0) / mag : 0.0;
            F[i][0] = (float)(F[i][0] * g);
            F[i][1] = (float)(F[i][1] * g);
        }
    sc_free(la);
    return SC_OK;
}

static inline int to_u8(float v) {
    if (!(v > 0.f)) return 0;
    if (v >= 1.f) return 255;
    return (int)(v * 255.f + 0.5f);
}

/* 8-bit gray with OpenCV's fixed-point BGR2GRAY weights (R 4899, G 9617, B 1868 / 2^14). */
static int fetch_gray_cv(const void *ctx, int x, int y) {
    const sc_image *im = ctx;
    size_t plane = (size_t)im->w * im->h, i = (size_t)y * im->w + x;
    if (im->c == 1) return to_u8(im->data[i]);
    int r = to_u8(im->data[i]), g = to_u8(im->data[plane + i]), b = to_u8(im->data[2 * plane + i]);
    return (r * 4899 + g * 9617 + b * 1868 + (1 << 13)) >> 14;
}

void sc_sal_gray_row_u8(const sc_image *im, int y, uint8_t *dst) {
    size_t plane = (size_t)im->w * im->h;
    const float *r = im->data + (size_t)y * im->w;
    if (im->c == 1) {
        for (int x = 0; x < im->w; x++) dst[x] = (uint8_t)to_u8(r[x]);
        return;
    }
    const float *g = r + plane, *b = r + 2 * plane;
    for (int x = 0; x < im->w; x++)
        dst[x] =
            (uint8_t)((to_u8(r[x]) * 4899 + to_u8(g[x]) * 9617 + to_u8(b[x]) * 1868 + (1 << 13)) >>
                      14);
}

/* ---- spectral residual, OpenCV variant ---------------------------------- */

#define CV_SR_SIZE 64

sc_status sc_saliency_sr_opencv(const sc_image *img, sc_map *out) {
    sc_status s = sc_sal_check_image("sc_saliency_sr_opencv", img, out);
    if (s) return s;
    const int n = CV_SR_SIZE;
    uint8_t small[CV_SR_SIZE * CV_SR_SIZE];
    if ((s = sc_resize_cv_linear_u8_fetch(fetch_gray_cv, img, img->w, img->h, small, n, n)))
        return s;
    fftwf_complex *F = sc_malloc(sizeof(fftwf_complex) * n * n);
    double *mag = sc_malloc(sizeof(double) * n * n);
    float *m32 = sc_malloc(sizeof(float) * n * n);
    if (!F || !mag || !m32) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < n * n; i++) F[i][0] = small[i], F[i][1] = 0.f;
    if ((s = sc_sal_fft2d(F, n, n, FFTW_FORWARD))) goto done;
    if ((s = spectral_residual(F, n, n, 1))) goto done;
    if ((s = sc_sal_fft2d(F, n, n, FFTW_BACKWARD))) goto done;
    for (int i = 0; i < n * n; i++) {
        double re = F[i][0], im = F[i][1];
        mag[i] = sqrt(re * re + im * im);
    }
    if ((s = gauss_sigma_d(mag, n, n, 8.0, 5))) goto done;
    double mx = 0;
    for (int i = 0; i < n * n; i++) {
        mag[i] *= mag[i];
        mx = fmax(mx, mag[i]);
    }
    for (int i = 0; i < n * n; i++) m32[i] = mx > 0 ? (float)(mag[i] / mx) : 0.f;
    if ((s = sc_map_alloc(out, img->w, img->h))) goto done;
    if ((s = sc_resize_cv_linear_f32(m32, n, n, out->data, img->w, img->h))) {
        sc_free(out->data);
        out->data = NULL;
        out->w = out->h = 0;
    }
done:
    sc_free(F);
    sc_free(mag);
    sc_free(m32);
    return s;
}

/* ---- authors' spectral residual and PQFT -------------------------------- */

sc_saliency_params sc_saliency_default_params(void) {
    sc_saliency_params p = {64, 8.0f, 1};
    return p;
}

static sc_status check_params(const char *fn, const sc_saliency_params *p) {
    if (p->work_width < 1 || p->work_width > 8192)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: work_width %d out of range 1..8192", fn,
                            p->work_width);
    if (!(p->sigma <= 1000.f) || isnan(p->sigma))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sigma must be a number <= 1000", fn);
    return SC_OK;
}

static void work_size(const sc_image *img, int work_width, int *ww, int *wh) {
    *ww = SC_MIN(work_width, img->w);
    double hh = (double)img->h * *ww / img->w;
    int h = (int)lround(hh);
    *wh = SC_MIN(SC_MAX(h, 1), img->h);
}

/* Smooth (double), min-max normalise, optionally resize to the input size. */
static sc_status finish_map(double *sal, int ww, int wh, const sc_image *img,
                            const sc_saliency_params *p, sc_map *out) {
    sc_status s = gauss_sigma_d(sal, ww, wh, p->sigma, 0);
    if (s) return s;
    size_t n = (size_t)ww * wh;
    double lo = sal[0], hi = sal[0];
    for (size_t i = 1; i < n; i++) lo = fmin(lo, sal[i]), hi = fmax(hi, sal[i]);
    float *m = sc_malloc(n * sizeof(float));
    if (!m) return SC_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) m[i] = hi > lo ? (float)((sal[i] - lo) / (hi - lo)) : 0.f;
    if (!p->full_size || (ww == img->w && wh == img->h)) {
        out->w = ww, out->h = wh, out->data = m;
        return SC_OK;
    }
    if ((s = sc_map_alloc(out, img->w, img->h))) {
        sc_free(m);
        return s;
    }
    s = sc_resize_cv_linear_f32(m, ww, wh, out->data, img->w, img->h);
    sc_free(m);
    if (s) {
        sc_free(out->data);
        out->data = NULL, out->w = out->h = 0;
    }
    return s;
}

/* Shrink channel c of img to ww x wh with INTER_AREA. */
static sc_status shrink_channel(const sc_image *img, int c, int ww, int wh, float *dst) {
    return sc_resize_cv_area_f32(img->data + (size_t)c * img->w * img->h, img->w, img->h, dst, ww,
                                 wh);
}

sc_status sc_saliency_sr(const sc_image *img, const sc_saliency_params *pp, sc_map *out) {
    sc_status s = sc_sal_check_image("sc_saliency_sr", img, out);
    if (s) return s;
    sc_saliency_params p = pp ? *pp : sc_saliency_default_params();
    if ((s = check_params("sc_saliency_sr", &p))) return s;
    int ww, wh;
    work_size(img, p.work_width, &ww, &wh);
    size_t n = (size_t)ww * wh;
    float *ch = sc_malloc(n * 3 * sizeof(float));
    fftwf_complex *F = sc_malloc(n * sizeof(fftwf_complex));
    double *sal = sc_malloc(n * sizeof(double));
    if (!ch || !F || !sal) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    int nc = img->c == 1 ? 1 : 3;
    for (int c = 0; c < nc; c++)
        if ((s = shrink_channel(img, c, ww, wh, ch + (size_t)c * n))) goto done;
    for (size_t i = 0; i < n; i++) {
        F[i][0] = nc == 1 ? ch[i] : 0.299f * ch[i] + 0.587f * ch[n + i] + 0.114f * ch[2 * n + i];
        F[i][1] = 0.f;
    }
    if ((s = sc_sal_fft2d(F, ww, wh, FFTW_FORWARD))) goto done;
    if ((s = spectral_residual(F, ww, wh, 0))) goto done;
    if ((s = sc_sal_fft2d(F, ww, wh, FFTW_BACKWARD))) goto done;
    for (size_t i = 0; i < n; i++) sal[i] = (double)F[i][0] * F[i][0] + (double)F[i][1] * F[i][1];
    s = finish_map(sal, ww, wh, img, &p, out);
done:
    sc_free(ch);
    sc_free(F);
    sc_free(sal);
    return s;
}

sc_status sc_saliency_pqft(const sc_image *img, const sc_saliency_params *pp, sc_map *out) {
    sc_status s = sc_sal_check_image("sc_saliency_pqft", img, out);
    if (s) return s;
    sc_saliency_params p = pp ? *pp : sc_saliency_default_params();
    if ((s = check_params("sc_saliency_pqft", &p))) return s;
    int ww, wh;
    work_size(img, p.work_width, &ww, &wh);
    size_t n = (size_t)ww * wh;
    float *ch = sc_malloc(n * 3 * sizeof(float));
    fftwf_complex *F1 = sc_malloc(n * sizeof(fftwf_complex));
    fftwf_complex *F2 = sc_malloc(n * sizeof(fftwf_complex));
    double *sal = sc_malloc(n * sizeof(double));
    if (!ch || !F1 || !F2 || !sal) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    int nc = img->c == 1 ? 1 : 3;
    for (int c = 0; c < nc; c++)
        if ((s = shrink_channel(img, c, ww, wh, ch + (size_t)c * n))) goto done;
    for (size_t i = 0; i < n; i++) {
        float rg = 0.f, by = 0.f, in;
        if (nc == 1) {
            in = ch[i];
        } else {
            float r = ch[i], g = ch[n + i], b = ch[2 * n + i];
            float R = r - (g + b) * 0.5f, G = g - (r + b) * 0.5f, B = b - (r + g) * 0.5f;
            float Y = (r + g) * 0.5f - fabsf(r - g) * 0.5f - b;
            rg = R - G;
            by = B - Y;
            in = (r + g + b) / 3.f;
        }
        /* f1 = M + RG mu1 (M = 0), f2 = BY + I mu1, mu1 taken as the complex unit. */
        F1[i][0] = 0.f, F1[i][1] = rg;
        F2[i][0] = by, F2[i][1] = in;
    }
    if ((s = sc_sal_fft2d(F1, ww, wh, FFTW_FORWARD))) goto done;
    if ((s = sc_sal_fft2d(F2, ww, wh, FFTW_FORWARD))) goto done;
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += sqrt((double)F1[i][0] * F1[i][0] + (double)F1[i][1] * F1[i][1] +
                      (double)F2[i][0] * F2[i][0] + (double)F2[i][1] * F2[i][1]);
    double floor_mag = 1e-7 * total + 1e-30;
    for (size_t i = 0; i < n; i++) {
        double mod = sqrt((double)F1[i][0] * F1[i][0] + (double)F1[i][1] * F1[i][1] +
                          (double)F2[i][0] * F2[i][0] + (double)F2[i][1] * F2[i][1]);
        double g = mod > floor_mag ? 1.0 / mod : 0.0;
        F1[i][0] = (float)(F1[i][0] * g), F1[i][1] = (float)(F1[i][1] * g);
        F2[i][0] = (float)(F2[i][0] * g), F2[i][1] = (float)(F2[i][1] * g);
    }
    if ((s = sc_sal_fft2d(F1, ww, wh, FFTW_BACKWARD))) goto done;
    if ((s = sc_sal_fft2d(F2, ww, wh, FFTW_BACKWARD))) goto done;
    for (size_t i = 0; i < n; i++)
        sal[i] = (double)F1[i][0] * F1[i][0] + (double)F1[i][1] * F1[i][1] +
                 (double)F2[i][0] * F2[i][0] + (double)F2[i][1] * F2[i][1];
    s = finish_map(sal, ww, wh, img, &p, out);
done:
    sc_free(ch);
    sc_free(F1);
    sc_free(F2);
    sc_free(sal);
    return s;
}
