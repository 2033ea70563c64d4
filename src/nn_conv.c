/* Conv2d via im2col + sgemm (stride, padding, dilation, groups), forward and
 * backward. With several threads and images the batch is split by image
 * between sc_par_run's shares, each running single-threaded products (see
 * conv_run); with one image, OpenBLAS's own threads work inside the
 * products. Share boundaries are fixed and dW partials are summed in share
 * order, so results are deterministic for a fixed thread count.
 *
 * Why not OpenMP here: after an OpenMP region libgomp's workers busy-wait
 * (OMP_WAIT_POLICY unset) and steal the cores OpenBLAS's own pthreads need
 * for the product that follows; with 2 threads that made convs 5-10x slower
 * in tools/bench/bench_conv.c. sc_par_run's idle workers yield instead. */
#include <string.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_blas.h"
#include "nn_internal.h"

sc_conv2d_desc sc_conv2d_make(int N, int C, int H, int W, int OC, int KH, int KW, int stride,
                              int pad, int dil, int groups) {
    sc_conv2d_desc d = {N, C, H, W, OC, KH, KW, stride, stride, pad, pad, dil, dil, groups};
    return d;
}

typedef struct {
    int OH, OW, Cg, OCg, K, OHW;
    int direct; /* 1x1, stride 1, pad 0: the input is its own column matrix */
} conv_geom;

static sc_status conv_check(const char *fn, const sc_conv2d_desc *d, conv_geom *g) {
    if (!d) return sc_set_error(SC_ERR_INVALID_ARG, "%s: desc is NULL", fn);
    if (d->N <= 0 || d->C <= 0 || d->H <= 0 || d->W <= 0 || d->OC <= 0 || d->KH <= 0 || d->KW <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: sizes must be positive (N %d C %d H %d W %d OC %d KH %d KW %d)",
                            fn, d->N, d->C, d->H, d->W, d->OC, d->KH, d->KW);
    if (d->stride_h <= 0 || d->stride_w <= 0 || d->dil_h <= 0 || d->dil_w <= 0 || d->pad_h < 0 ||
        d->pad_w < 0 || d->groups <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: stride (%d, %d) and dilation (%d, %d) must be >= 1, padding "
                            "(%d, %d) >= 0, groups (%d) >= 1",
                            fn, d->stride_h, d->stride_w, d->dil_h, d->dil_w, d->pad_h, d->pad_w,
                            d->groups);
    if (d->C % d->groups || d->OC % d->groups)
        return sc_set_error(SC_ERR_SHAPE,
                            "%s: channels in %d and out %d must be divisible by "
                            "groups %d",
                            fn, d->C, d->OC, d->groups);
    int64_t eh = (int64_t)d->H + 2 * (int64_t)d->pad_h - (int64_t)d->dil_h * (d->KH - 1) - 1;
    int64_t ew = (int64_t)d->W + 2 * (int64_t)d->pad_w - (int64_t)d->dil_w * (d->KW - 1) - 1;
    if (eh < 0 || ew < 0)
        return sc_set_error(SC_ERR_SHAPE,
                            "%s: kernel %dx%d (dilation %d, %d) is larger than the padded input "
                            "%dx%d",
                            fn, d->KH, d->KW, d->dil_h, d->dil_w, d->H + 2 * d->pad_h,
                            d->W + 2 * d->pad_w);
    int64_t oh = eh / d->stride_h + 1, ow = ew / d->stride_w + 1;
    if (oh > INT32_MAX || ow > INT32_MAX || oh * ow > INT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "%s: output plane is too large", fn);
    g->OH = (int)oh;
    g->OW = (int)ow;
    g->OHW = (int)(oh * ow);
    g->Cg = d->C / d->groups;
    g->OCg = d->OC / d->groups;
    int64_t k = (int64_t)g->Cg * d->KH * d->KW;
    if (k > INT32_MAX) return sc_set_error(SC_ERR_LIMIT, "%s: kernel volume is too large", fn);
    g->K = (int)k;
    size_t n;
    sc_status st;
    if ((st = nn_count(fn, &n, 4, d->N, d->C, d->H, d->W)) ||
        (st = nn_count(fn, &n, 4, d->N, d->OC, g->OH, g->OW)) ||
        (st = nn_count(fn, &n, 2, d->OC, g->K)) || (st = nn_count(fn, &n, 2, g->K, g->OHW)))
        return st;
    if ((int64_t)d->H * d->W > INT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "%s: input plane is too large", fn);
    g->direct = d->KH == 1 && d->KW == 1 && d->stride_h == 1 && d->stride_w == 1 && d->pad_h == 0 &&
                d->pad_w == 0;
    return SC_OK;
}

sc_status sc_conv2d_out_size(const sc_conv2d_desc *d, int *OH, int *OW) {
    conv_geom g = {0};
    sc_status st = conv_check("sc_conv2d_out_size", d, &g);
    if (st) return st;
    if (OH) *OH = g.OH;
    if (OW) *OW = g.OW;
    return SC_OK;
}

/* Images are split between sc_get_num_threads() shares (at most N), each
 * with its own column buffer; the backward's shares after the first also
 * need a dW partial (OC x K), summed in share order at the end. */
static int conv_shares(const sc_conv2d_desc *d) {
    int nt = sc_get_num_threads();
    return nt < 1 ? 1 : (nt > d->N ? d->N : nt);
}

static size_t col_floats(const conv_geom *g) {
    return g->direct ? 0 : (size_t)g->K * g->OHW;
}

/* 64-byte multiples, so that every share's buffer stays aligned */
static size_t round64(size_t bytes) {
    return (bytes + 63) & ~(size_t)63;
}

static size_t ws_need(const sc_conv2d_desc *d, const conv_geom *g, int shares, int backward) {
    size_t b = (size_t)shares * round64(col_floats(g) * sizeof(float));
    if (backward && shares > 1)
        b += (size_t)(shares - 1) * round64((size_t)d->OC * g->K * sizeof(float));
    return b;
}

sc_status sc_conv2d_workspace_bytes(const sc_conv2d_desc *d, size_t *forward_bytes,
                                    size_t *backward_bytes) {
    conv_geom g = {0};
    sc_status st = conv_check("sc_conv2d_workspace_bytes", d, &g);
    if (st) return st;
    const int s = conv_shares(d);
    if (forward_bytes) *forward_bytes = ws_need(d, &g, s, 0);
    if (backward_bytes) *backward_bytes = ws_need(d, &g, s, 1);
    return SC_OK;
}

/* Range of output columns [lo, hi) whose input column o*s + off is in [0, n). */
static inline void valid_range(int off, int s, int n, int O, int *lo, int *hi) {
    int l = off >= 0 ? 0 : (-off + s - 1) / s;
    int h = n - off <= 0 ? 0 : (n - off + s - 1) / s;
    if (l > O) l = O;
    if (h > O) h = O;
    if (h < l) h = l;
    *lo = l;
    *hi = h;
}

/* x (Cg, H, W) -> col (K, OH*OW), row r = (c KH + kh) KW + kw. */
static void im2col(const float *x, const sc_conv2d_desc *d, const conv_geom *g, float *col) {
    const int H = d->H, W = d->W, KH = d->KH, KW = d->KW, OH = g->OH, OW = g->OW;
    const int sh = d->stride_h, sw = d->stride_w;
    for (int r = 0; r < g->K; r++) {
        const int kw = r % KW, kh = (r / KW) % KH, c = r / (KH * KW);
        const float *xc = x + (size_t)c * H * W;
        float *dst = col + (size_t)r * g->OHW;
        const int offh = kh * d->dil_h - d->pad_h, offw = kw * d->dil_w - d->pad_w;
        int lo, hi;
        valid_range(offw, sw, W, OW, &lo, &hi);
        for (int oh = 0; oh < OH; oh++, dst += OW) {
            const int ih = oh * sh + offh;
            if (ih < 0 || ih >= H) {
                memset(dst, 0, sizeof(float) * OW);
                continue;
            }
            const float *src = xc + (size_t)ih * W + offw;
            for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
            if (sw == 1)
                memcpy(dst + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
            else
                for (int ow = lo; ow < hi; ow++) dst[ow] = src[(size_t)ow * sw];
            for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
        }
    }
}

/* dx (Cg, H, W) += col2im(col); each thread owns whole channels. */
static void col2im_add(const float *col, const sc_conv2d_desc *d, const conv_geom *g, float *dx) {
    const int H = d->H, W = d->W, KH = d->KH, KW = d->KW, OH = g->OH, OW = g->OW;
    const int sh = d->stride_h, sw = d->stride_w;
    for (int c = 0; c < g->Cg; c++) {
        float *dc = dx + (size_t)c * H * W;
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                const int r = (c * KH + kh) * KW + kw;
                const float *src = col + (size_t)r * g->OHW;
                const int offh = kh * d->dil_h - d->pad_h, offw = kw * d->dil_w - d->pad_w;
                int lo, hi;
                valid_range(offw, sw, W, OW, &lo, &hi);
                for (int oh = 0; oh < OH; oh++, src += OW) {
                    const int ih = oh * sh + offh;
                    if (ih < 0 || ih >= H) continue;
                    float *drow = dc + (size_t)ih * W + offw;
                    for (int ow = lo; ow < hi; ow++) drow[(size_t)ow * sw] += src[ow];
                }
            }
    }
}

/* The workspace for as many shares as fit (a caller may have sized it with
 * fewer threads); allocated when workspace is NULL. */
static sc_status take_workspace(const char *fn, const sc_conv2d_desc *d, const conv_geom *g,
                                int backward, void *workspace, size_t ws_bytes, int *shares,
                                char **base, void **owned) {
    *owned = NULL;
    *base = NULL;
    int s = conv_shares(d);
    if (workspace) {
        while (s > 1 && ws_need(d, g, s, backward) > ws_bytes) s--;
        const size_t need = ws_need(d, g, s, backward);
        if (ws_bytes < need)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "%s: workspace of %zu bytes is smaller than the %zu needed (see "
                                "sc_conv2d_workspace_bytes)",
                                fn, ws_bytes, need);
        *base = (char *)workspace;
    } else {
        const size_t need = ws_need(d, g, s, backward);
        if (need) {
            *owned = sc_malloc(need);
            if (!*owned) return SC_ERR_NOMEM;
            *base = (char *)*owned;
        }
    }
    *shares = s;
    return SC_OK;
}

typedef struct {
    const sc_conv2d_desc *d;
    const conv_geom *g;
    float *out, *dx, *dw;
    const float *x, *w, *b, *dout;
    char *base; /* share t's column buffer at t * colb; dW partials after them */
    size_t colb, dwb;
} conv_job;

static float *job_col(const conv_job *j, int t) {
    return j->colb ? (float *)(j->base + (size_t)t * j->colb) : NULL;
}

static void conv_forward_share(void *arg, int t, int nt) {
    const conv_job *j = arg;
    const sc_conv2d_desc *d = j->d;
    const conv_geom *g = j->g;
    float *col = job_col(j, t);
    const size_t in_img = (size_t)d->C * d->H * d->W, out_img = (size_t)d->OC * g->OHW;
    const size_t in_grp = (size_t)g->Cg * d->H * d->W, out_grp = (size_t)g->OCg * g->OHW;
    int n0, n1;
    sc_par_share(d->N, 1, t, nt, &n0, &n1);
    for (int n = n0; n < n1; n++) {
        float *on = j->out + n * out_img;
        if (j->b) {
            for (int oc = 0; oc < d->OC; oc++)
                for (int p = 0; p < g->OHW; p++) on[(size_t)oc * g->OHW + p] = j->b[oc];
        }
        for (int gi = 0; gi < d->groups; gi++) {
            const float *xg = j->x + n * in_img + gi * in_grp;
            const float *B = xg;
            if (!g->direct) {
                im2col(xg, d, g, col);
                B = col;
            }
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, g->OCg, g->OHW, g->K, 1.0f,
                     j->w + (size_t)gi * g->OCg * g->K, g->K, B, g->OHW, j->b ? 1.0f : 0.0f,
                     on + gi * out_grp, g->OHW);
        }
    }
}

/* Runs the shares: one share uses OpenBLAS's own threads inside each product;
 * several run on sc_par_run's pool with single-threaded products (per-image
 * products are small, 144-9216 columns here, and OpenBLAS's threads scale
 * poorly on them: the captioner's encoder ran 1.1x faster on 2 threads that
 * way, against about 1.8x split by image). */
static void conv_run(int shares, sc_par_fn fn, conv_job *j) {
    if (shares <= 1) {
        fn(j, 0, 1);
        return;
    }
    const int prev = sc_blas_serial_begin();
    sc_par_run(shares, fn, j);
    sc_blas_serial_end(prev);
}

sc_status sc_conv2d_forward(const sc_conv2d_desc *d, float *out, const float *x, const float *w,
                            const float *b, void *workspace, size_t ws_bytes) {
    static const char fn[] = "sc_conv2d_forward";
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    NN_REQUIRE(w, fn);
    conv_geom g = {0};
    sc_status st = conv_check(fn, d, &g);
    if (st) return st;
    int shares;
    char *base;
    void *owned;
    if ((st = take_workspace(fn, d, &g, 0, workspace, ws_bytes, &shares, &base, &owned))) return st;
    conv_job j = {
        d, &g, out, NULL, NULL, x, w, b, NULL, base, round64(col_floats(&g) * sizeof(float)), 0};
    conv_run(shares, conv_forward_share, &j);
    sc_free(owned);
    return SC_OK;
}

static void conv_backward_share(void *arg, int t, int nt) {
    const conv_job *j = arg;
    const sc_conv2d_desc *d = j->d;
    const conv_geom *g = j->g;
    float *col = job_col(j, t);
    float *dw = j->dw;
    if (dw && t > 0) /* share t > 0 sums into its own partial, added later */
        dw = (float *)(j->base + (size_t)nt * j->colb + (size_t)(t - 1) * j->dwb);
    const size_t in_img = (size_t)d->C * d->H * d->W, out_img = (size_t)d->OC * g->OHW;
    const size_t in_grp = (size_t)g->Cg * d->H * d->W, out_grp = (size_t)g->OCg * g->OHW;
    int n0, n1;
    sc_par_share(d->N, 1, t, nt, &n0, &n1);
    for (int n = n0; n < n1; n++) {
        for (int gi = 0; gi < d->groups; gi++) {
            const float *dog = j->dout + n * out_img + gi * out_grp;
            const size_t woff = (size_t)gi * g->OCg * g->K;
            if (dw) {
                const float *xg = j->x + n * in_img + gi * in_grp;
                const float *B = xg;
                if (!g->direct) {
                    im2col(xg, d, g, col);
                    B = col;
                }
                /* dW_g (OCg, K) += dout_g (OCg, OHW) @ col^T (OHW, K) */
                sc_sgemm(SC_NO_TRANS, SC_TRANS, g->OCg, g->K, g->OHW, 1.0f, dog, g->OHW, B, g->OHW,
                         1.0f, dw + woff, g->K);
            }
            if (j->dx) {
                float *dxg = j->dx + n * in_img + gi * in_grp;
                /* col (K, OHW) = W_g^T (K, OCg) @ dout_g (OCg, OHW) */
                if (g->direct) {
                    sc_sgemm(SC_TRANS, SC_NO_TRANS, g->K, g->OHW, g->OCg, 1.0f, j->w + woff, g->K,
                             dog, g->OHW, 1.0f, dxg, g->OHW);
                } else {
                    sc_sgemm(SC_TRANS, SC_NO_TRANS, g->K, g->OHW, g->OCg, 1.0f, j->w + woff, g->K,
                             dog, g->OHW, 0.0f, col, g->OHW);
                    col2im_add(col, d, g, dxg);
                }
            }
        }
    }
}

sc_status sc_conv2d_backward(const sc_conv2d_desc *d, float *dx, float *dw, float *db,
                             const float *dout, const float *x, const float *w, void *workspace,
                             size_t ws_bytes) {
    static const char fn[] = "sc_conv2d_backward";
    NN_REQUIRE(dout, fn);
    if (dw) NN_REQUIRE(x, fn);
    if (dx) NN_REQUIRE(w, fn);
    conv_geom g = {0};
    sc_status st = conv_check(fn, d, &g);
    if (st) return st;
    int shares = 1;
    char *base = NULL;
    void *owned = NULL;
    if ((dx || dw) &&
        (st = take_workspace(fn, d, &g, dw != NULL, workspace, ws_bytes, &shares, &base, &owned)))
        return st;
    const size_t out_img = (size_t)d->OC * g.OHW;
    if (db) {
        for (int oc = 0; oc < d->OC; oc++) {
            double s = 0;
            for (int n = 0; n < d->N; n++) {
                const float *p = dout + n * out_img + (size_t)oc * g.OHW;
                for (int i = 0; i < g.OHW; i++) s += p[i];
            }
            db[oc] += (float)s;
        }
    }
    if (dx || dw) {
        const size_t nw = (size_t)d->OC * g.K;
        conv_job j = {d,
                      &g,
                      NULL,
                      dx,
                      dw,
                      x,
                      w,
                      NULL,
                      dout,
                      base,
                      round64(col_floats(&g) * sizeof(float)),
                      round64(nw * sizeof(float))};
        /* zeroed here, not by the shares: when the pool is busy sc_par_run
         * runs one share (nt 1) and the partials must then add nothing */
        if (dw && shares > 1)
            memset(base + (size_t)shares * j.colb, 0, (size_t)(shares - 1) * j.dwb);
        conv_run(shares, conv_backward_share, &j);
        for (int t = 1; dw && t < shares; t++) { /* fixed order: deterministic */
            const float *p = (const float *)(base + (size_t)shares * j.colb + (t - 1) * j.dwb);
            for (size_t i = 0; i < nw; i++) dw[i] += p[i];
        }
    }
    sc_free(owned);
    return SC_OK;
}
