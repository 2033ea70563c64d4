/* Pre-norm transformer encoder layer over packed weights (see tel_packed.h).
 *
 * Why not sc_tel_forward for inference: it multiplies through OpenBLAS,
 * which repacks the weights on every call, and runs each product and
 * element-wise pass as its own parallel step (some 20 joins a layer, each
 * waiting for the slowest thread). Here the weights are packed once, the
 * products run on sc_gemm_packed with bias, residual and GELU in their
 * stores, each attention head runs fused (sc_attn_head: no L x L scores
 * through memory, no separate softmax or packing passes), and a layer is two
 * joins. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "sc_internal.h"
#include "tel_packed.h"
#include "vmath.h"

struct sc_tel_packed {
    int E, F, nh, gelu;
    float eps;
    float *wqkv, *wo, *w1, *w2; /* packed (3E, E), (E, E), (F, E), (E, F); one block */
    size_t nfloats;
    const float *bqkv, *bo, *b1, *b2, *n1w, *n1b, *n2w, *n2b; /* borrowed, any may be NULL */
};

#if SC_VMATH_HAVE_AVX512
SC_VMATH_AVX512 static void vgelu_avx512(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sc_v_gelu(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, sc_v_gelu(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

SC_VMATH_AVX2 static void vgelu_avx2(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sc_v8_gelu(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float t[8] = {0};
        memcpy(t, x + i, (n - i) * sizeof(float));
        _mm256_storeu_ps(t, sc_v8_gelu(_mm256_loadu_ps(t)));
        memcpy(y + i, t, (n - i) * sizeof(float));
    }
}
#endif

void sc_vgelu(float *y, const float *x, size_t n) {
#if SC_VMATH_HAVE_AVX512
    if (sc_vmath_level() == 2) {
        vgelu_avx512(y, x, n);
        return;
    }
    if (sc_vmath_level() == 1) {
        vgelu_avx2(y, x, n);
        return;
    }
#endif
    for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        y[i] = (float)(0.5 * v * (1.0 + erf(v * 0.70710678118654752440)));
    }
}

void sc_transpose_f32(const float *a, int rows, int cols, float *out) {
    enum { TB = 32 }; /* blocks that stay in L1 both ways */
    for (int r0 = 0; r0 < rows; r0 += TB)
        for (int c0 = 0; c0 < cols; c0 += TB) {
            const int r1 = SC_MIN(r0 + TB, rows), c1 = SC_MIN(c0 + TB, cols);
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++) out[(size_t)c * rows + r] = a[(size_t)r * cols + c];
        }
}

sc_status sc_tel_packed_create(const sc_tel_desc *d, const sc_tel_weights *w, sc_tel_packed **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_tel_packed_create: out is NULL");
    *out = NULL;
    if (!d || !w || !w->self_attn.in_proj_weight || !w->self_attn.out_proj_weight ||
        !w->linear1_weight || !w->linear2_weight)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_tel_packed_create: NULL desc or weights");
    if (d->E <= 0 || d->F <= 0 || d->nhead <= 0 || d->E % d->nhead || !d->norm_first ||
        !(d->eps > 0.0f) || (d->act != SC_TEL_GELU && d->act != SC_TEL_RELU))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_tel_packed_create: needs a pre-norm layer with E %d divisible by "
                            "nhead %d, F %d > 0, eps > 0",
                            d->E, d->nhead, d->F);
    const int E = d->E, F = d->F;
    const size_t nq = sc_gemm_pack_floats(3 * E, E), no = sc_gemm_pack_floats(E, E),
                 n1 = sc_gemm_pack_floats(F, E), n2 = sc_gemm_pack_floats(E, F);
    if (!nq || !no || !n1 || !n2 || nq > SIZE_MAX / 4 / sizeof(float) - no - n1 - n2)
        return sc_set_error(SC_ERR_LIMIT, "sc_tel_packed_create: sizes overflow");
    sc_tel_packed *p = calloc(1, sizeof *p);
    if (p) p->wqkv = sc_malloc((nq + no + n1 + n2) * sizeof(float));
    if (!p || !p->wqkv) {
        free(p);
        return sc_set_error(SC_ERR_NOMEM, "sc_tel_packed_create: out of memory");
    }
    p->wo = p->wqkv + nq, p->w1 = p->wo + no, p->w2 = p->w1 + n1;
    p->nfloats = nq + no + n1 + n2;
    p->E = E, p->F = F, p->nh = d->nhead, p->gelu = d->act == SC_TEL_GELU, p->eps = d->eps;
    p->bqkv = w->self_attn.in_proj_bias, p->bo = w->self_attn.out_proj_bias;
    p->b1 = w->linear1_bias, p->b2 = w->linear2_bias;
    p->n1w = w->norm1_weight, p->n1b = w->norm1_bias;
    p->n2w = w->norm2_weight, p->n2b = w->norm2_bias;
    sc_status s = sc_gemm_pack(3 * E, E, w->self_attn.in_proj_weight, E, p->wqkv);
    if (!s) s = sc_gemm_pack(E, E, w->self_attn.out_proj_weight, E, p->wo);
    if (!s) s = sc_gemm_pack(F, E, w->linear1_weight, E, p->w1);
    if (!s) s = sc_gemm_pack(E, F, w->linear2_weight, F, p->w2);
    if (s) {
        sc_tel_packed_free(p);
        return s;
    }
    *out = p;
    return SC_OK;
}

void sc_tel_packed_free(sc_tel_packed *p) {
    if (!p) return;
    sc_free(p->wqkv);
    free(p);
}

size_t sc_tel_packed_bytes(const sc_tel_packed *p) {
    return p ? p->nfloats * sizeof(float) : 0;
}

/* ---------------------------------------------------------------- workspace */
typedef struct tp_ws {
    float *h, *qkv, *ctx, *r, *f; /* (E, L), (3E, L), (E, L), (E, L), (F, L) */
    float *thr;                   /* nt blocks of per_thread floats: */
    size_t per_thread;            /* sc_gemm_packed workspace at 0, then: */
    size_t kt, kp, vp, s;         /* K copy (L, dh), packed K, packed V^T, S^T (L, L); */
    int fused;                    /* or 1: sc_attn_head's workspace at kt */
} tp_ws;

static size_t up16(size_t n) {
    return (n + 15) & ~(size_t)15; /* 64-byte aligned parts */
}

/* Fills w from ws (NULL: sizes only); returns the floats, 0 on overflow. */
static size_t ws_layout(const sc_tel_packed *p, int L, int nt, float *ws, tp_ws *w) {
    if (L < 1 || nt < 1 || (size_t)L > SIZE_MAX / 64 / (size_t)L / (size_t)(p->E + p->F)) return 0;
    const size_t Ls = (size_t)L, dh = (size_t)(p->E / p->nh);
    const size_t e = up16((size_t)p->E * Ls), q = up16(3 * (size_t)p->E * Ls),
                 f = up16((size_t)p->F * Ls);
    w->kt = up16(sc_gemm_packed_workspace_floats(L > (int)dh ? L : (int)dh));
    w->fused = sc_vmath_level() > 0;
    if (w->fused) {
        w->kp = w->vp = w->s = 0;
        w->per_thread = w->kt + up16(sc_attn_head_ws_floats(L, (int)dh));
    } else {
        w->kp = w->kt + up16(Ls * dh);
        w->vp = w->kp + up16(sc_gemm_pack_floats(L, (int)dh));
        w->s = w->vp + up16(sc_gemm_pack_floats((int)dh, L));
        w->per_thread = w->s + up16(Ls * Ls);
    }
    size_t total;
    if (sc_mul_size(w->per_thread, (size_t)nt, &total) || sc_add_size(total, 3 * e + q + f, &total))
        return 0;
    if (ws) {
        w->h = ws, w->qkv = ws + e, w->ctx = w->qkv + q, w->r = w->ctx + e, w->f = w->r + e;
        w->thr = w->f + f;
    }
    return total;
}

size_t sc_tel_packed_ws_floats(const sc_tel_packed *p, int L, int nt) {
    tp_ws w;
    return p ? ws_layout(p, L, nt, NULL, &w) : 0;
}

/* ---------------------------------------------------------------- kernels */

/* out[:, n0:n1] = layer norm of each column of x (rows E, row stride L). */
static void norm_cols_scalar(const float *x, int E, int L, int n0, int n1, const float *g,
                             const float *b, float eps, float *out) {
    for (int n = n0; n < n1; n++) {
        double s = 0, v = 0;
        for (int e = 0; e < E; e++) s += x[(size_t)e * L + n];
        const double mean = s / E;
        for (int e = 0; e < E; e++) {
            const double t = x[(size_t)e * L + n] - mean;
            v += t * t;
        }
        const double rstd = 1.0 / sqrt(v / E + eps);
        for (int e = 0; e < E; e++) {
            double y = (x[(size_t)e * L + n] - mean) * rstd;
            if (g) y *= g[e];
            if (b) y += b[e];
            out[(size_t)e * L + n] = (float)y;
        }
    }
}

/* Softmax of each column of s (rows keys, cols queries, row stride ld). */
static void softmax_cols_scalar(float *s, int rows, int n0, int n1, int ld) {
    for (int n = n0; n < n1; n++) {
        float mx = -INFINITY;
        for (int r = 0; r < rows; r++) mx = SC_MAX(mx, s[(size_t)r * ld + n]);
        double sum = 0;
        for (int r = 0; r < rows; r++) {
            float *v = &s[(size_t)r * ld + n];
            *v = expf(*v - mx);
            sum += *v;
        }
        const float inv = (float)(1.0 / sum);
        for (int r = 0; r < rows; r++) s[(size_t)r * ld + n] *= inv;
    }
}

#if SC_VMATH_HAVE_AVX512
static inline __mmask16 tail_mask(int w) {
    return w >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << w) - 1);
}

/* Sixteen columns at a time: the statistics of 16 tokens in vector lanes,
 * sums in single precision (two passes: mean, then squares about it). */
SC_VMATH_AVX512 static void norm_cols_avx512(const float *x, int E, int L, int n0, int n1,
                                             const float *g, const float *b, float eps,
                                             float *out) {
    const __m512 inv_e = _mm512_set1_ps(1.0f / (float)E);
    for (int n = n0; n < n1; n += 16) {
        const __mmask16 m = tail_mask(n1 - n);
        __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
        int e = 0;
        for (; e + 1 < E; e += 2) {
            s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, x + (size_t)e * L + n));
            s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m, x + (size_t)(e + 1) * L + n));
        }
        if (e < E) s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m, x + (size_t)e * L + n));
        const __m512 mean = _mm512_mul_ps(_mm512_add_ps(s0, s1), inv_e);
        __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
        for (e = 0; e + 1 < E; e += 2) {
            const __m512 t0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + (size_t)e * L + n), mean);
            const __m512 t1 =
                _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + (size_t)(e + 1) * L + n), mean);
            v0 = _mm512_fmadd_ps(t0, t0, v0);
            v1 = _mm512_fmadd_ps(t1, t1, v1);
        }
        if (e < E) {
            const __m512 t0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + (size_t)e * L + n), mean);
            v0 = _mm512_fmadd_ps(t0, t0, v0);
        }
        const __m512 var = _mm512_fmadd_ps(_mm512_add_ps(v0, v1), inv_e, _mm512_set1_ps(eps));
        const __m512 rstd = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(var));
        for (e = 0; e < E; e++) {
            __m512 y = _mm512_mul_ps(
                _mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + (size_t)e * L + n), mean), rstd);
            if (g) y = _mm512_mul_ps(y, _mm512_set1_ps(g[e]));
            if (b) y = _mm512_add_ps(y, _mm512_set1_ps(b[e]));
            _mm512_mask_storeu_ps(out + (size_t)e * L + n, m, y);
        }
    }
}

/* Sixteen query columns at a time; the 16 x rows block stays in L1 over
 * the three passes (max, exp and sum, scale). */
SC_VMATH_AVX512 static void softmax_cols_avx512(float *s, int rows, int n0, int n1, int ld) {
    for (int n = n0; n < n1; n += 16) {
        const __mmask16 m = tail_mask(n1 - n);
        __m512 mx = _mm512_set1_ps(-INFINITY);
        for (int r = 0; r < rows; r++)
            mx = _mm512_max_ps(mx, _mm512_maskz_loadu_ps(m, s + (size_t)r * ld + n));
        __m512 sum = _mm512_setzero_ps();
        for (int r = 0; r < rows; r++) {
            float *p = s + (size_t)r * ld + n;
            const __m512 e = sc_v_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p), mx));
            sum = _mm512_add_ps(sum, e);
            _mm512_mask_storeu_ps(p, m, e);
        }
        const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), sum);
        for (int r = 0; r < rows; r++) {
            float *p = s + (size_t)r * ld + n;
            _mm512_mask_storeu_ps(p, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p), inv));
        }
    }
}

/* norm_cols_avx512 eight columns at a time. */
SC_VMATH_AVX2 static void norm_cols_avx2(const float *x, int E, int L, int n0, int n1,
                                         const float *g, const float *b, float eps, float *out) {
    const __m256 inv_e = _mm256_set1_ps(1.0f / (float)E);
    for (int n = n0; n < n1; n += 8) {
        const int w = n1 - n < 8 ? n1 - n : 8;
        const __m256i m = sc_v8_lanes(w);
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        int e = 0;
        for (; e + 1 < E; e += 2) {
            s0 = _mm256_add_ps(s0, _mm256_maskload_ps(x + (size_t)e * L + n, m));
            s1 = _mm256_add_ps(s1, _mm256_maskload_ps(x + (size_t)(e + 1) * L + n, m));
        }
        if (e < E) s0 = _mm256_add_ps(s0, _mm256_maskload_ps(x + (size_t)e * L + n, m));
        const __m256 mean = _mm256_mul_ps(_mm256_add_ps(s0, s1), inv_e);
        __m256 v0 = _mm256_setzero_ps(), v1 = _mm256_setzero_ps();
        for (e = 0; e + 1 < E; e += 2) {
            const __m256 t0 = _mm256_sub_ps(_mm256_maskload_ps(x + (size_t)e * L + n, m), mean);
            const __m256 t1 =
                _mm256_sub_ps(_mm256_maskload_ps(x + (size_t)(e + 1) * L + n, m), mean);
            v0 = _mm256_fmadd_ps(t0, t0, v0);
            v1 = _mm256_fmadd_ps(t1, t1, v1);
        }
        if (e < E) {
            const __m256 t0 = _mm256_sub_ps(_mm256_maskload_ps(x + (size_t)e * L + n, m), mean);
            v0 = _mm256_fmadd_ps(t0, t0, v0);
        }
        const __m256 var = _mm256_fmadd_ps(_mm256_add_ps(v0, v1), inv_e, _mm256_set1_ps(eps));
        const __m256 rstd = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(var));
        for (e = 0; e < E; e++) {
            __m256 y = _mm256_mul_ps(
                _mm256_sub_ps(_mm256_maskload_ps(x + (size_t)e * L + n, m), mean), rstd);
            if (g) y = _mm256_mul_ps(y, _mm256_set1_ps(g[e]));
            if (b) y = _mm256_add_ps(y, _mm256_set1_ps(b[e]));
            _mm256_maskstore_ps(out + (size_t)e * L + n, m, y);
        }
    }
}
#endif

static void norm_cols(const float *x, int E, int L, int n0, int n1, const float *g, const float *b,
                      float eps, float *out) {
#if SC_VMATH_HAVE_AVX512
    if (sc_vmath_level() == 2) {
        norm_cols_avx512(x, E, L, n0, n1, g, b, eps, out);
        return;
    }
    if (sc_vmath_level() == 1) {
        norm_cols_avx2(x, E, L, n0, n1, g, b, eps, out);
        return;
    }
#endif
    norm_cols_scalar(x, E, L, n0, n1, g, b, eps, out);
}

static void softmax_cols(float *s, int rows, int n0, int n1, int ld) {
#if SC_VMATH_HAVE_AVX512
    if (sc_vmath_avx512()) {
        softmax_cols_avx512(s, rows, n0, n1, ld);
        return;
    }
#endif
    softmax_cols_scalar(s, rows, n0, n1, ld);
}

/* ---------------------------------------------------------------- the layers */
typedef struct tp_job {
    sc_tel_packed *const *layers;
    int n, L;
    int l, heads; /* the step: heads of layer l, or columns: the end of l - 1, the start of l */
    float *x;
    tp_ws w;
} tp_job;

/* Products below have shapes checked at creation: they cannot fail. */
#define GEMM(...)                                                                                  \
    do {                                                                                           \
        sc_status s_ = sc_gemm_packed(__VA_ARGS__);                                                \
        SC_ASSERT(s_ == SC_OK);                                                                    \
        (void)s_;                                                                                  \
    } while (0)

/* h = norm1(x); qkv = W_in h + b_in, token columns [n0, n1). */
static void start_layer(const tp_job *j, const sc_tel_packed *p, int n0, int n1, float *gw) {
    const int E = p->E, L = j->L, nc = n1 - n0;
    norm_cols(j->x, E, L, n0, n1, p->n1w, p->n1b, p->eps, j->w.h);
    const sc_gemm_epilogue ep = {p->bqkv, NULL, 0, 0};
    GEMM(p->wqkv, 3 * E, E, 0, 3 * E, nc, j->w.h + n0, L, j->w.qkv + n0, L, &ep, gw);
}

/* ctx rows of heads [h0, h1). */
static void heads(const tp_job *j, const sc_tel_packed *p, int h0, int h1, float *blk) {
    const int E = p->E, L = j->L, dh = E / p->nh;
    const float scale = 1.0f / sqrtf((float)dh);
    float *gw = blk, *kt = blk + j->w.kt, *kp = blk + j->w.kp, *vp = blk + j->w.vp,
          *s = blk + j->w.s;
    for (int h = h0; h < h1; h++) {
        const float *q = j->w.qkv + (size_t)h * dh * L, *k = j->w.qkv + (size_t)(E + h * dh) * L,
                    *v = j->w.qkv + (size_t)(2 * E + h * dh) * L;
        if (j->w.fused) {
            sc_status st =
                sc_attn_head(L, dh, q, k, v, L, scale, j->w.ctx + (size_t)h * dh * L, L, kt);
            SC_ASSERT(st == SC_OK);
            (void)st;
            continue;
        }
        /* K (L, dh) from its rows of K^T, scaled (exact for power-of-two
         * head sizes, where it equals scaling the scores) */
        for (int c = 0; c < dh; c++)
            for (int t = 0; t < L; t++) kt[(size_t)t * dh + c] = k[(size_t)c * L + t] * scale;
        sc_status st = sc_gemm_pack(L, dh, kt, dh, kp);
        if (!st) st = sc_gemm_pack(dh, L, v, L, vp);
        SC_ASSERT(st == SC_OK);
        GEMM(kp, L, dh, 0, L, L, q, L, s, L, NULL, gw); /* S^T (keys, queries) */
        softmax_cols(s, L, 0, L, L);
        GEMM(vp, dh, L, 0, dh, L, s, L, j->w.ctx + (size_t)h * dh * L, L, NULL, gw);
    }
}

/* r = x + W_o ctx + b_o; x = r + W_2 act(W_1 norm2(r) + b_1) + b_2, columns [n0, n1). */
static void end_layer(const tp_job *j, const sc_tel_packed *p, int n0, int n1, float *gw) {
    const int E = p->E, F = p->F, L = j->L, nc = n1 - n0;
    const sc_gemm_epilogue eo = {p->bo, j->x + n0, 0, 0};
    GEMM(p->wo, E, E, 0, E, nc, j->w.ctx + n0, L, j->w.r + n0, L, &eo, gw);
    norm_cols(j->w.r, E, L, n0, n1, p->n2w, p->n2b, p->eps, j->w.h);
    const sc_gemm_epilogue e1 = {p->b1, NULL, !p->gelu, p->gelu};
    GEMM(p->w1, F, E, 0, F, nc, j->w.h + n0, L, j->w.f + n0, L, &e1, gw);
    const sc_gemm_epilogue e2 = {p->b2, j->w.r + n0, 0, 0};
    GEMM(p->w2, E, F, 0, E, nc, j->w.f + n0, L, j->x + n0, L, &e2, gw);
}

static void step_share(void *arg, int tid, int nt) {
    const tp_job *j = arg;
    float *blk = j->w.thr + (size_t)tid * j->w.per_thread;
    int a, b;
    if (j->heads) {
        const sc_tel_packed *p = j->layers[j->l];
        sc_par_share(p->nh, 1, tid, nt, &a, &b);
        if (b > a) heads(j, p, a, b, blk);
        return;
    }
    sc_par_share(j->L, 32, tid, nt, &a, &b); /* whole register tiles of 32 columns */
    if (b <= a) return;
    if (j->l > 0) end_layer(j, j->layers[j->l - 1], a, b, blk);
    if (j->l < j->n) start_layer(j, j->layers[j->l], a, b, blk);
}

sc_status sc_tel_packed_forward(sc_tel_packed *const *layers, int n, int L, float *x, float *ws,
                                int nt) {
    if (!layers || n < 1 || !x || !ws || L < 1 || nt < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_tel_packed_forward: bad argument");
    for (int l = 0; l < n; l++)
        if (!layers[l] || layers[l]->E != layers[0]->E || layers[l]->F != layers[0]->F ||
            layers[l]->nh != layers[0]->nh)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "sc_tel_packed_forward: layer %d missing or of other sizes", l);
    tp_job j = {layers, n, L, 0, 0, x, {0}};
    if (!ws_layout(layers[0], L, nt, ws, &j.w))
        return sc_set_error(SC_ERR_LIMIT, "sc_tel_packed_forward: %d tokens too many", L);
    /* with the packed products on OpenBLAS, its own threads stay off while
     * ours run a share each */
    const int serial =
        nt > 1 && !strcmp(sc_gemm_packed_kernel(), "openblas") ? sc_blas_serial_begin() : 1;
    for (j.l = 0; j.l <= n; j.l++) {
        j.heads = 0;
        sc_par_run(nt, step_share, &j);
        if (j.l == n) break;
        j.heads = 1;
        sc_par_run(nt, step_share, &j);
    }
    if (serial > 1) sc_blas_serial_end(serial);
    return SC_OK;
}
