/* Winograd F(2x2, 3x3) and F(4x4, 3x3), see winograd.h.
 *
 * Both transforms work on whole rows of tiles so that every inner loop is a
 * plain loop over tiles with unit stride (auto-vectorised): the A input rows
 * of a tile row are split by column phase (column m q + p - 1 goes to phase
 * p, index q), which turns the "A x A patch at column m tw - 1" of every tile
 * into A contiguous vectors over tw. The row transform (B^T d) runs on the
 * phase vectors, the column transform (. B) on the shifted phase vectors, and
 * the results land contiguously in the A*A planes of V. The output transform
 * reads the planes of M the same way and interleaves the m phases of each
 * output row while adding bias / residual and applying ReLU.
 *
 * The A*A weight planes are kept packed for sc_gemm_packed (saccade's own
 * kernel where the CPU has AVX-512, else sc_sgemm).
 *
 * Threads (sc_par_run): the input transform is split by channel, the A*A
 * products by plane (each one single-threaded sc_gemm_packed), the
 * output transform by output channel; every value is computed by one thread
 * in a fixed order, so results do not depend on the thread count. */
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include "winograd.h"
#include "saccade/sc_blas.h"
#include "sc_internal.h"

#define RS restrict
#define INL static inline __attribute__((always_inline))

/* Floats between consecutive planes of V and M beyond C T (OC T): plane
 * sizes are often powers of two, and 16 or 36 streams that far apart fall in
 * the same cache sets (measured 2x slower transforms without the pad). */
#define PLANE_PAD 48

/* ---- 1-D transforms over n lanes: out_i = sum_k B^T[i][k] in_k ---- */

/* F(2x2): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] */
INL void bt4(const float *RS d0, const float *RS d1, const float *RS d2, const float *RS d3,
             float *RS o0, float *RS o1, float *RS o2, float *RS o3, int n) {
    for (int q = 0; q < n; q++) {
        const float a = d0[q], b = d1[q], c = d2[q], e = d3[q];
        o0[q] = a - c;
        o1[q] = b + c;
        o2[q] = c - b;
        o3[q] = b - e;
    }
}

/* F(4x4): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0;
 *                0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1] */
INL void bt6(const float *RS d0, const float *RS d1, const float *RS d2, const float *RS d3,
             const float *RS d4, const float *RS d5, float *RS o0, float *RS o1, float *RS o2,
             float *RS o3, float *RS o4, float *RS o5, int n) {
    for (int q = 0; q < n; q++) {
        const float a0 = d0[q], a1 = d1[q], a2 = d2[q], a3 = d3[q], a4 = d4[q], a5 = d5[q];
        const float s1 = a4 - 4.0f * a2, s2 = a3 - 4.0f * a1; /* rows 1, 2 */
        const float s3 = a4 - a2, s4 = 2.0f * (a3 - a1);      /* rows 3, 4 */
        o0[q] = 4.0f * a0 - 5.0f * a2 + a4;
        o1[q] = s1 + s2;
        o2[q] = s1 - s2;
        o3[q] = s3 + s4;
        o4[q] = s3 - s4;
        o5[q] = 4.0f * a1 - 5.0f * a3 + a5;
    }
}

/* F(2x2): A^T = [1 1 1 0; 0 1 -1 -1] */
INL void at4(const float *RS m0, const float *RS m1, const float *RS m2, const float *RS m3,
             float *RS o0, float *RS o1, int n) {
    for (int q = 0; q < n; q++) {
        o0[q] = m0[q] + m1[q] + m2[q];
        o1[q] = m1[q] - m2[q] - m3[q];
    }
}

/* F(4x4): A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
INL void at6(const float *RS m0, const float *RS m1, const float *RS m2, const float *RS m3,
             const float *RS m4, const float *RS m5, float *RS o0, float *RS o1, float *RS o2,
             float *RS o3, int n) {
    for (int q = 0; q < n; q++) {
        const float p12 = m1[q] + m2[q], d12 = m1[q] - m2[q];
        const float p34 = m3[q] + m4[q], d34 = m3[q] - m4[q];
        o0[q] = m0[q] + p12 + p34;
        o1[q] = d12 + 2.0f * d34;
        o2[q] = p12 + 4.0f * p34;
        o3[q] = d12 + 8.0f * d34 + m5[q];
    }
}

INL void bt(int A, const float *const in[6], float *const out[6], int n) {
    if (A == 6)
        bt6(in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3], out[4],
            out[5], n);
    else
        bt4(in[0], in[1], in[2], in[3], out[0], out[1], out[2], out[3], n);
}

INL void at(int A, const float *const in[6], float *const out[4], int n) {
    if (A == 6)
        at6(in[0], in[1], in[2], in[3], in[4], in[5], out[0], out[1], out[2], out[3], n);
    else
        at4(in[0], in[1], in[2], in[3], out[0], out[1], n);
}

/* ---- sizes ---- */

size_t sc_winograd_weight_floats(int m, int C, int OC) {
    if ((m != 2 && m != 4) || C < 1 || OC < 1) return 0;
    size_t a = (size_t)(m + 2) * (m + 2), n, plane = sc_gemm_pack_floats(OC, C);
    if (!plane || sc_mul_size(a, plane, &n)) return 0;
    return n;
}

/* Threads the workspace has product buffers for. */
static int ws_threads(void) {
    return SC_MAX(1, SC_MIN(sc_get_num_threads(), 64));
}

/* V and M planes, then one sc_gemm_packed workspace per thread. */
static size_t transform_floats(int m, int C, int OC, int H, int W) {
    size_t T = (size_t)((H + m - 1) / m) * (size_t)((W + m - 1) / m), n;
    size_t a = (size_t)(m + 2) * (m + 2);
    if (sc_mul_size(T, (size_t)C + (size_t)OC, &n) || n > SIZE_MAX / 2 ||
        sc_mul_size(a, n + 2 * PLANE_PAD, &n))
        return 0;
    return n;
}

static size_t gemm_ws_floats(int m, int H, int W) {
    const long T = (long)((H + m - 1) / m) * ((W + m - 1) / m);
    return sc_gemm_packed_workspace_floats(T > INT_MAX ? INT_MAX : (int)T);
}

size_t sc_winograd_workspace_floats(int m, int C, int OC, int H, int W) {
    if ((m != 2 && m != 4) || C < 1 || OC < 1 || H < 1 || W < 1) return 0;
    size_t n = transform_floats(m, C, OC, H, W), g = gemm_ws_floats(m, H, W), t;
    if (!n || sc_mul_size(g, (size_t)ws_threads(), &t) || n > SIZE_MAX - t) return 0;
    return n + t;
}

/* ---- weights: U = G g G^T ---- */

static void g_col(int A, const float g[3], float *u) {
    if (A == 4) {
        u[0] = g[0];
        u[1] = 0.5f * (g[0] + g[1] + g[2]);
        u[2] = 0.5f * (g[0] - g[1] + g[2]);
        u[3] = g[2];
    } else {
        /* G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
         *      1/24 -1/12 1/6; 0 0 1] */
        u[0] = 0.25f * g[0];
        u[1] = -(g[0] + g[1] + g[2]) / 6.0f;
        u[2] = -(g[0] - g[1] + g[2]) / 6.0f;
        u[3] = g[0] / 24.0f + g[1] / 12.0f + g[2] / 6.0f;
        u[4] = g[0] / 24.0f - g[1] / 12.0f + g[2] / 6.0f;
        u[5] = g[2];
    }
}

sc_status sc_winograd_weights(int m, const float *w, int C, int OC, float *U) {
    size_t n = sc_winograd_weight_floats(m, C, OC);
    if (!n || !w || !U)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_winograd_weights: bad arguments (m %d, C %d, OC %d, w %p, U %p)", m,
                            C, OC, (const void *)w, (void *)U);
    const int A = m + 2;
    const size_t plane = (size_t)OC * C, packed = sc_gemm_pack_floats(OC, C);
    float *Up = U;
    U = sc_malloc((size_t)A * A * plane * sizeof(float)); /* plain planes, then packed */
    if (!U) return sc_set_error(SC_ERR_NOMEM, "sc_winograd_weights: no memory");
    for (int oc = 0; oc < OC; oc++)
        for (int ic = 0; ic < C; ic++) {
            const float *g = w + ((size_t)oc * C + ic) * 9;
            float t[6][3]; /* G g: A x 3, column by column */
            for (int j = 0; j < 3; j++) {
                float col[3] = {g[j], g[3 + j], g[6 + j]}, u[6];
                g_col(A, col, u);
                for (int i = 0; i < A; i++) t[i][j] = u[i];
            }
            for (int i = 0; i < A; i++) {
                float u[6];
                g_col(A, t[i], u);
                for (int j = 0; j < A; j++)
                    U[(size_t)(i * A + j) * plane + (size_t)oc * C + ic] = u[j];
            }
        }
    sc_status s = SC_OK;
    for (int xi = 0; xi < A * A && !s; xi++)
        s = sc_gemm_pack(OC, C, U + xi * plane, C, Up + xi * packed);
    sc_free(U);
    return s;
}

/* ---- forward ---- */

/* Phase split of one input row: dk[p Q + q] = row[m q + p - 1] (0 outside
 * [0, W)). Interior tiles (all m columns inside) take a fixed-stride loop. */
INL void split_row(int m, const float *RS row, int W, float *RS dk, int Q) {
    const int qa = SC_MIN(1, Q);
    int qb = (W - (m - 1)) / m + 1; /* q < qb <=> m q + m - 2 <= W - 1 (q >= 1) */
    if (W < m - 1) qb = 0;
    qb = SC_MAX(qa, SC_MIN(qb, Q));
    for (int q = 0; q < Q; q++) {
        if (q == qa && qb > qa) {
            if (m == 4) {
                float *RS d0 = dk, *RS d1 = dk + Q, *RS d2 = dk + 2 * Q, *RS d3 = dk + 3 * Q;
                for (int r = qa; r < qb; r++) {
                    const float *s = row + 4 * r - 1;
                    d0[r] = s[0], d1[r] = s[1], d2[r] = s[2], d3[r] = s[3];
                }
            } else {
                float *RS d0 = dk, *RS d1 = dk + Q;
                for (int r = qa; r < qb; r++) {
                    const float *s = row + 2 * r - 1;
                    d0[r] = s[0], d1[r] = s[1];
                }
            }
            q = qb - 1;
            continue;
        }
        for (int p = 0; p < m; p++) {
            const int xx = m * q + p - 1;
            dk[(size_t)p * Q + q] = (xx >= 0 && xx < W) ? row[xx] : 0.0f;
        }
    }
}

/* Largest tile row: A rows x m phases x (TW + 1) floats, twice, plus the
 * output rows; allocated on each thread's stack for TW up to this bound,
 * else on the heap. */
#define ROW_STACK 4096

typedef struct wplan {
    int m, A, AA, C, OC, H, W, TH, TW, T, Q;
    size_t VT, MT;
} wplan;

/* Input transform of channel ch of x into the A*A planes of V. */
INL void in_channel_m(const wplan *P, const int m, const float *xc, int ch, float *V, float *rb) {
    const int A = m + 2, H = P->H, W = P->W, TW = P->TW, Q = P->Q;
    const size_t VT = P->VT, T = (size_t)P->T;
    /* row buffers D (A, m, Q), S (A, m, Q) */
    float *D = rb, *S = rb + (size_t)A * m * Q;
    for (int th = 0; th < P->TH; th++) {
        for (int k = 0; k < A; k++) {
            const int y = m * th - 1 + k;
            float *dk = D + (size_t)k * m * Q;
            if (y < 0 || y >= H) {
                memset(dk, 0, sizeof(float) * (size_t)m * Q);
                continue;
            }
            split_row(m, xc + (size_t)y * W, W, dk, Q);
        }
        /* rows: S[i][p] = sum_k BT[i][k] D[k][p] */
        for (int p = 0; p < m; p++) {
            const float *in[6];
            float *o[6];
            for (int k = 0; k < A; k++) {
                in[k] = D + ((size_t)k * m + p) * Q;
                o[k] = S + ((size_t)k * m + p) * Q;
            }
            bt(A, in, o, Q);
        }
        /* columns: V[i A + j][ch][th TW + tw] = sum_k BT[j][k] S[i][k % m][tw + k / m] */
        for (int i = 0; i < A; i++) {
            const float *in[6];
            float *o[6];
            for (int k = 0; k < A; k++) in[k] = S + ((size_t)i * m + k % m) * Q + k / m;
            for (int j = 0; j < A; j++)
                o[j] = V + (size_t)(i * A + j) * VT + (size_t)ch * T + (size_t)th * TW;
            bt(A, in, o, TW);
        }
    }
}

/* Output transform of channel oc from the A*A planes of M, fused with bias,
 * residual and ReLU. */
INL void out_channel_m(const wplan *P, const int m, const float *M, int oc, float bb,
                       const float *r, int relu, float *o, float *rb) {
    const int A = m + 2, H = P->H, W = P->W, TW = P->TW;
    const size_t MT = P->MT;
    /* S2 (m, A, TW), Y (m, TW) and one output row (m TW) */
    float *S2 = rb, *Y = rb + (size_t)m * A * TW, *orow = Y + (size_t)m * TW;
    for (int th = 0; th < P->TH; th++) {
        const size_t off = (size_t)oc * P->T + (size_t)th * TW;
        /* rows: S2[r][j] = sum_i AT[r][i] M[i A + j] */
        for (int j = 0; j < A; j++) {
            const float *in[6];
            float *ot[4];
            for (int i = 0; i < A; i++) in[i] = M + (size_t)(i * A + j) * MT + off;
            for (int rr = 0; rr < m; rr++) ot[rr] = S2 + ((size_t)rr * A + j) * TW;
            at(A, in, ot, TW);
        }
        for (int rr = 0; rr < m; rr++) {
            const int yy = m * th + rr;
            if (yy >= H) break;
            const float *in[6];
            float *ot[4];
            for (int j = 0; j < A; j++) in[j] = S2 + ((size_t)rr * A + j) * TW;
            for (int c = 0; c < m; c++) ot[c] = Y + (size_t)c * TW;
            at(A, in, ot, TW);
            for (int tw = 0; tw < TW; tw++)
                for (int c = 0; c < m; c++) orow[m * tw + c] = Y[(size_t)c * TW + tw];
            float *RS od = o + (size_t)yy * W;
            const float *RS src = orow;
            if (r) {
                const float *RS rd = r + (size_t)yy * W;
                if (relu)
                    for (int xx = 0; xx < W; xx++) {
                        const float v = src[xx] + bb + rd[xx];
                        od[xx] = v > 0.0f ? v : 0.0f;
                    }
                else
                    for (int xx = 0; xx < W; xx++) od[xx] = src[xx] + bb + rd[xx];
            } else if (relu) {
                for (int xx = 0; xx < W; xx++) {
                    const float v = src[xx] + bb;
                    od[xx] = v > 0.0f ? v : 0.0f;
                }
            } else {
                for (int xx = 0; xx < W; xx++) od[xx] = src[xx] + bb;
            }
        }
    }
}

/* The two above with m a constant (2 or 4). */
static void in_channel(const wplan *P, const float *xc, int ch, float *V, float *rb) {
    if (P->m == 4)
        in_channel_m(P, 4, xc, ch, V, rb);
    else
        in_channel_m(P, 2, xc, ch, V, rb);
}

static void out_channel(const wplan *P, const float *M, int oc, float bb, const float *r, int relu,
                        float *o, float *rb) {
    if (P->m == 4)
        out_channel_m(P, 4, M, oc, bb, r, relu, o, rb);
    else
        out_channel_m(P, 2, M, oc, bb, r, relu, o, rb);
}

/* One image in three fork-joins (sc_par_run): channels of the input
 * transform, whole products (planes), channels of the output transform. */
typedef struct wjob {
    const wplan *P;
    const float *U, *bias, *x, *res;
    float *out, *V, *M, *heap; /* heap: row buffers (rbn per thread) or NULL */
    float *gws;                /* sc_gemm_packed workspaces, gwn per thread */
    size_t rbn, gwn;
    int relu;
} wjob;

static void stage_in(void *arg, int tid, int nt) {
    const wjob *j = arg;
    const wplan *P = j->P;
    float stack[ROW_STACK], *rb = j->heap ? j->heap + (size_t)tid * j->rbn : stack;
    const size_t HW = (size_t)P->H * P->W;
    int c0, c1;
    sc_par_share(P->C, 1, tid, nt, &c0, &c1);
    for (int ch = c0; ch < c1; ch++) in_channel(P, j->x + (size_t)ch * HW, ch, j->V, rb);
}

/* Reads one float per cache line of w (n floats) in one linear pass, which
 * brings a plane of weights into cache far faster than OpenBLAS's packing
 * does from memory (its short strided runs defeat the prefetchers): measured
 * on (256 x 256) @ (256 x 64) with cold weights 70 -> 84 GF/s, (128 x 128) @
 * (128 x 64) 63 -> 78. Worth it while a plane fits in L2 next to the rest. */
#define TOUCH_MAX ((size_t)65536)
static void touch(const float *w, size_t n) {
    const uint32_t *u = (const uint32_t *)w;
    uint32_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) a ^= u[i], b ^= u[i + 16], c ^= u[i + 32], d ^= u[i + 48];
    for (; i < n; i += 16) a ^= u[i];
    volatile uint32_t sink = a ^ b ^ c ^ d;
    (void)sink;
}

static void stage_prod(void *arg, int tid, int nt) {
    const wjob *j = arg;
    const wplan *P = j->P;
    const size_t plane = sc_gemm_pack_floats(P->OC, P->C);
    int x0, x1;
    sc_par_share(P->AA, 1, tid, nt, &x0, &x1);
    for (int xi = x0; xi < x1; xi++) {
        if (plane <= TOUCH_MAX) touch(j->U + xi * plane, plane);
        sc_status s =
            sc_gemm_packed(j->U + xi * plane, P->OC, P->C, 0, P->OC, P->T, j->V + xi * P->VT, P->T,
                           j->M + xi * P->MT, P->T, NULL, j->gws + (size_t)tid * j->gwn);
        SC_ASSERT(s == SC_OK); /* arguments checked by sc_winograd_conv3x3 */
    }
}

static void stage_out(void *arg, int tid, int nt) {
    const wjob *j = arg;
    const wplan *P = j->P;
    float stack[ROW_STACK], *rb = j->heap ? j->heap + (size_t)tid * j->rbn : stack;
    const size_t HW = (size_t)P->H * P->W;
    int o0, o1;
    sc_par_share(P->OC, 1, tid, nt, &o0, &o1);
    for (int oc = o0; oc < o1; oc++)
        out_channel(P, j->M, oc, j->bias ? j->bias[oc] : 0.0f,
                    j->res ? j->res + (size_t)oc * HW : NULL, j->relu, j->out + (size_t)oc * HW,
                    rb);
}

sc_status sc_winograd_conv3x3(int m, const float *U, const float *bias, const float *x, int N,
                              int C, int OC, int H, int W, const float *res, int relu, float *out,
                              float *ws, size_t ws_floats) {
    static const char fn[] = "sc_winograd_conv3x3";
    if (m != 2 && m != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: tile size m %d is not 2 or 4", fn, m);
    if (!U || !x || !out || !ws)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: U, x, out or ws is NULL", fn);
    if (N < 1 || C < 1 || OC < 1 || H < 1 || W < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad shape N %d C %d OC %d H %d W %d", fn, N, C,
                            OC, H, W);
    size_t need = sc_winograd_workspace_floats(m, C, OC, H, W), img_in, img_out;
    if (!need || sc_mul_size((size_t)C * H, (size_t)W, &img_in) ||
        sc_mul_size((size_t)OC * H, (size_t)W, &img_out))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    if ((size_t)((H + m - 1) / m) * (size_t)((W + m - 1) / m) > INT_MAX)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %dx%d has too many tiles", fn, H, W);
    /* at least one thread's product buffer; fewer threads if it has fewer */
    const size_t tf = transform_floats(m, C, OC, H, W), gwn = gemm_ws_floats(m, H, W);
    if (ws_floats < tf + gwn)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: workspace of %zu floats, %zu needed", fn,
                            ws_floats, need);
    wplan P;
    P.m = m, P.A = m + 2, P.AA = P.A * P.A, P.C = C, P.OC = OC, P.H = H, P.W = W;
    P.TH = (H + m - 1) / m, P.TW = (W + m - 1) / m, P.T = P.TH * P.TW, P.Q = P.TW + 1;
    P.VT = (size_t)C * P.T + PLANE_PAD, P.MT = (size_t)OC * P.T + PLANE_PAD;
    /* threads: whole stages split between them (see wjob), each product
     * single-threaded; OpenBLAS's own threads are off meanwhile. */
    const int nt = (int)SC_MIN((size_t)ws_threads(), (ws_floats - tf) / gwn);
    /* row buffers per thread: input D, S: 2 A m (TW + 1); output S2 m A TW + Y m TW + row m TW */
    const size_t rbn =
        SC_MAX((size_t)2 * P.A * m * (P.TW + 1), (size_t)m * (P.A + 2) * (size_t)P.TW);
    wjob j = {&P,   U,       bias, NULL, NULL,     NULL, ws, ws + (size_t)P.AA * P.VT,
              NULL, ws + tf, rbn,  gwn,  relu != 0};
    if (rbn > ROW_STACK) {
        size_t hb;
        if (sc_mul_size(rbn * sizeof(float), (size_t)nt, &hb) || !(j.heap = sc_malloc(hb)))
            return sc_set_error(SC_ERR_NOMEM, "%s: no memory for row buffers (W %d)", fn, W);
    }
    const int prev = nt > 1 ? sc_blas_serial_begin() : 1;
    for (int n = 0; n < N; n++) {
        j.x = x + n * img_in, j.res = res ? res + n * img_out : NULL, j.out = out + n * img_out;
        sc_par_run(nt, stage_in, &j);
        sc_par_run(nt, stage_prod, &j);
        sc_par_run(nt, stage_out, &j);
    }
    if (nt > 1) sc_blas_serial_end(prev);
    sc_free(j.heap);
    return SC_OK;
}
