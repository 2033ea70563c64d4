/* ViT pieces: patch embedding (stride = kernel conv as gemm), class token and
 * position embeddings, fixed 2-D sin-cos embeddings, attention rollout. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "attn_internal.h"
#include "sc_internal.h"

static sc_status check_patch(const char *fn, int B, int C, int H, int W, int p, int D) {
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || p <= 0 || D <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: dims B=%d C=%d H=%d W=%d p=%d D=%d must be > 0", fn, B, C, H, W, p,
                            D);
    if (p > H || p > W)
        return sc_set_error(SC_ERR_SHAPE, "%s: patch %d larger than the %dx%d input", fn, p, H, W);
    if (!sc_patch_embed_ws_floats(B, C, H, W, p) ||
        !attn_prod(4, (long long[]){B, (long long)(H / p) * (W / p), D, 1}) ||
        !attn_prod(4, (long long[]){D, C, p, p}) || !attn_prod(4, (long long[]){B, C, H, W}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    if ((long long)C * p * p > INT32_MAX || (long long)B * (H / p) * (W / p) > INT32_MAX)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

size_t sc_patch_embed_ws_floats(int B, int C, int H, int W, int p) {
    if (B <= 0 || C <= 0 || H <= 0 || W <= 0 || p <= 0 || p > H || p > W) return 0;
    return attn_prod(5, (long long[]){B, (long long)(H / p) * (W / p), C, p, p});
}

/* ws (B*N, C*p*p) <-> x (B, C, H, W); dir 0: gather, 1: scatter-add into x */
static void patches(int B, int C, int H, int W, int p, float *x, float *ws, int dir) {
    const int gh = H / p, gw = W / p, K = C * p * p;
    const long long rows = (long long)B * gh * gw;
#pragma omp parallel for schedule(static) if (rows * K > 65536)
    for (long long r = 0; r < rows; r++) {
        int b = (int)(r / ((long long)gh * gw)), n = (int)(r % ((long long)gh * gw));
        int i = n / gw, j = n % gw;
        float *wr = ws + (size_t)r * K;
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < p; ky++) {
                float *xr = x + (((size_t)b * C + c) * H + (size_t)i * p + ky) * W + (size_t)j * p;
                float *wp = wr + ((size_t)c * p + ky) * p;
                if (dir == 0)
                    memcpy(wp, xr, (size_t)p * sizeof(float));
                else
                    for (int kx = 0; kx < p; kx++) xr[kx] += wp[kx];
            }
    }
}

sc_status sc_patch_embed_forward(int B, int C, int H, int W, int p, int D, const float *x,
                                 const float *weight, const float *bias, float *ws, float *out) {
    const char *fn = "sc_patch_embed_forward";
    sc_status st = check_patch(fn, B, C, H, W, p, D);
    if (st) return st;
    if (!x || !weight || !ws || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL x, weight, ws or out", fn);
    patches(B, C, H, W, p, (float *)x, ws, 0);
    ATTN_TRY(sc_linear_forward(out, ws, weight, bias, B * (H / p) * (W / p), C * p * p, D));
    return st;
}

sc_status sc_patch_embed_backward(int B, int C, int H, int W, int p, int D, const float *x,
                                  const float *weight, const float *dout, float *ws, float *dx,
                                  float *dweight, float *dbias) {
    const char *fn = "sc_patch_embed_backward";
    sc_status st = check_patch(fn, B, C, H, W, p, D);
    if (st) return st;
    if (!x || !weight || !dout || !ws)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL x, weight, dout or ws", fn);
    const int N = B * (H / p) * (W / p), K = C * p * p;
    if (dweight) patches(B, C, H, W, p, (float *)x, ws, 0);
    ATTN_TRY(sc_linear_backward(NULL, dweight, dbias, dout, ws, weight, N, K, D));
    if (dx) {
        memset(ws, 0, (size_t)N * K * sizeof(float));
        ATTN_TRY(sc_linear_backward(ws, NULL, NULL, dout, NULL, weight, N, K, D));
        patches(B, C, H, W, p, dx, ws, 1);
    }
    return st;
}

static sc_status check_embed(const char *fn, int B, int N, int D) {
    if (B <= 0 || N <= 0 || D <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dims B=%d N=%d D=%d must be > 0", fn, B, N, D);
    if (!attn_prod(3, (long long[]){B, N + 1LL, D}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return SC_OK;
}

sc_status sc_vit_embed_forward(int B, int N, int D, const float *tokens, const float *cls_token,
                               const float *pos_embed, float *out) {
    const char *fn = "sc_vit_embed_forward";
    sc_status st = check_embed(fn, B, N, D);
    if (st) return st;
    if (!tokens || !out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL tokens or out", fn);
    const int c = cls_token ? 1 : 0, T = N + c;
    for (int b = 0; b < B; b++) {
        float *ob = out + (size_t)b * T * D;
        if (c) memcpy(ob, cls_token, (size_t)D * sizeof(float));
        memmove(ob + (size_t)c * D, tokens + (size_t)b * N * D, (size_t)N * D * sizeof(float));
        if (pos_embed)
            for (size_t i = 0; i < (size_t)T * D; i++) ob[i] += pos_embed[i];
    }
    return SC_OK;
}

sc_status sc_vit_embed_backward(int B, int N, int D, int has_cls, const float *dout, float *dtokens,
                                float *dcls, float *dpos) {
    const char *fn = "sc_vit_embed_backward";
    sc_status st = check_embed(fn, B, N, D);
    if (st) return st;
    if (!dout) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL dout", fn);
    const int c = has_cls ? 1 : 0, T = N + c;
    if (dtokens)
        for (int b = 0; b < B; b++) {
            const float *db = dout + ((size_t)b * T + c) * D;
            float *dt = dtokens + (size_t)b * N * D;
            for (size_t i = 0; i < (size_t)N * D; i++) dt[i] += db[i];
        }
    if (dcls && c)
        for (int j = 0; j < D; j++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * T * D + j];
            dcls[j] += (float)s;
        }
    if (dpos)
        for (size_t i = 0; i < (size_t)T * D; i++) {
            double s = 0;
            for (int b = 0; b < B; b++) s += dout[(size_t)b * T * D + i];
            dpos[i] += (float)s;
        }
    return SC_OK;
}

sc_status sc_pos_embed_sincos_2d(int gh, int gw, int D, float *out) {
    const char *fn = "sc_pos_embed_sincos_2d";
    if (gh <= 0 || gw <= 0 || D <= 0 || D % 4)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: gh=%d, gw=%d must be > 0 and D=%d a positive multiple of 4", fn,
                            gh, gw, D);
    if (!attn_prod(3, (long long[]){gh, gw, D}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL out", fn);
    const int q = D / 4;
    for (int i = 0; i < gh; i++)
        for (int j = 0; j < gw; j++) {
            float *o = out + ((size_t)i * gw + j) * D;
            for (int k = 0; k < q; k++) {
                double om = 1.0 / pow(10000.0, (double)k / q);
                o[k] = (float)sin(j * om), o[q + k] = (float)cos(j * om);
                o[2 * q + k] = (float)sin(i * om), o[3 * q + k] = (float)cos(i * om);
            }
        }
    return SC_OK;
}

typedef struct {
    float v;
    int i;
} val_idx;
static int cmp_vi(const void *a, const void *b) {
    const val_idx *x = a, *y = b;
    if (x->v < y->v) return -1;
    if (x->v > y->v) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

sc_status sc_attention_rollout_matrix(int n_layers, int nh, int T, const float *attn,
                                      float discard_ratio, float *R) {
    const char *fn = "sc_attention_rollout_matrix";
    if (n_layers <= 0 || nh <= 0 || T <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: n_layers=%d nh=%d T=%d must all be > 0", fn,
                            n_layers, nh, T);
    if (!attn || !R) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL attn or R", fn);
    if (!(discard_ratio >= 0.0f && discard_ratio < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: discard_ratio %g is outside [0, 1)", fn,
                            (double)discard_ratio);
    if (T > 46340 || !attn_prod(4, (long long[]){n_layers, nh, T, T}))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    const size_t TT = (size_t)T * T;
    const int t = T;
    size_t ndisc = (size_t)((double)discard_ratio * (double)TT);
    float *A = sc_malloc(2 * TT * sizeof(float));
    val_idx *idx = ndisc ? sc_malloc(TT * sizeof(val_idx)) : NULL;
    if (!A || (ndisc && !idx)) {
        sc_free(A), sc_free(idx);
        return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    }
    float *tmp = A + TT;
    memset(R, 0, TT * sizeof(float));
    for (int i = 0; i < t; i++) R[(size_t)i * t + i] = 1.0f;
    for (int l = 0; l < n_layers; l++) {
        const float *al = attn + (size_t)l * nh * TT;
        for (size_t i = 0; i < TT; i++) {
            double s = 0;
            for (int h = 0; h < nh; h++) s += al[(size_t)h * TT + i];
            A[i] = (float)(s / nh);
        }
        if (ndisc) {
            for (size_t i = 0; i < TT; i++) idx[i].v = A[i], idx[i].i = (int)i;
            qsort(idx, TT, sizeof(val_idx), cmp_vi);
            for (size_t i = 0; i < ndisc; i++)
                if (idx[i].i != 0) A[idx[i].i] = 0.0f;
        }
        for (int i = 0; i < t; i++) {
            float *row = A + (size_t)i * t;
            row[i] += 1.0f;
            double s = 0;
            for (int j = 0; j < t; j++) s += row[j];
            float inv = s > 0 ? (float)(1.0 / s) : 0.0f;
            for (int j = 0; j < t; j++) row[j] *= inv;
        }
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, t, t, t, 1.0f, A, t, R, t, 0.0f, tmp, t);
        memcpy(R, tmp, TT * sizeof(float));
    }
    sc_free(A), sc_free(idx);
    return SC_OK;
}

sc_status sc_attention_rollout(int n_layers, int nh, int gh, int gw, const float *attn,
                               float discard_ratio, float *out) {
    const char *fn = "sc_attention_rollout";
    if (n_layers <= 0 || nh <= 0 || gh <= 0 || gw <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: n_layers=%d nh=%d gh=%d gw=%d must all be > 0",
                            fn, n_layers, nh, gh, gw);
    if (!attn || !out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL attn or out", fn);
    long long T = 1LL + (long long)gh * gw;
    if (T > 46340) return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    float *R = sc_malloc((size_t)T * T * sizeof(float));
    if (!R) return sc_set_error(SC_ERR_NOMEM, "%s: no memory for scratch", fn);
    sc_status s = sc_attention_rollout_matrix(n_layers, nh, (int)T, attn, discard_ratio, R);
    if (!s) memcpy(out, R + 1, (size_t)(T - 1) * sizeof(float));
    sc_free(R);
    return s;
}
