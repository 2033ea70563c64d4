/* Products with a pre-packed left operand (see sc_gemm_pack in sc_blas.h).
 *
 * Why not OpenBLAS for these: ResNet's products are small (layer3 at 256 x
 * 256 input: 256 x 256 x 1024) and OpenBLAS packs both operands on every
 * call; with the weights packed once, the per-call work is packing B only.
 * Measured single-threaded on AVX-512 (Zen 4), 1.05-1.3x OpenBLAS 0.3.21's
 * SkylakeX sgemm on ResNet-101's shapes, 1.4x for 16-column products. This
 * file holds the AVX-512 kernels; gemm_avx2.c the AVX2 ones, on the same
 * packed A.
 *
 * Layout: A in panels of MR rows, [panel][k][MR], the last panel zero
 * padded. B is packed per call, a block of KC rows x NC columns at a time,
 * into panels of NR columns, [panel][k][NR] (the last one zero padded).
 * Loop order: for each column block, for each K block: pack B, then for
 * each A panel (MR x KC, 8 KB, stays in L1) run the 8 x 32 register tile
 * over the block's B panels (256 x 512 floats, 512 KB, from L2; the last
 * block takes up to 640 columns rather than leave a thin one). C is
 * accumulated across K blocks in memory; the epilogue is applied when the
 * last K block stores a tile. Before each tile, the kernel prefetches a
 * share of the next A panel (from memory: a layer's weights do not stay in
 * cache) and the next tile's C rows: without that the tiles wait on those
 * loads, and a ViT-B layer's products ran at 130 GFLOP/s a core instead of
 * 185 (Zen 5, whose 512-bit FMAs peak near 200). The epilogue includes the
 * exact GELU so that a ViT's first MLP product needs no pass of its own.
 *
 * The same register tiles run the fused attention head (sc_attn_head, at
 * the end of this file) for the packed ViT layers: with the products at
 * GEMM speed, what had been left of a ViT-B/16 forward at 384 x 384 was the
 * per-head passes around them (packing K and V, writing and re-reading 577
 * x 577 scores, softmax, GELU: some 12% of one thread's samples). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_blas.h"
#include "gemm_kernels.h"
#include "tel_packed.h"
#include "vmath.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SC_HAVE_AVX512_KERNEL 1
#include <immintrin.h>
#define SC_AVX512 __attribute__((target("avx512f")))
#else
#define SC_HAVE_AVX512_KERNEL 0
#endif

enum { MR = SC_GEMM_ROWS, NR = 32, KC = 256, NC = 512, NC_LAST = NC + NC / 4 };

/* Columns of the block starting at n0: NC, or all that are left when that
 * is at most NC_LAST (a 577-token ViT on one thread: one block of 577, not
 * 512 and a 65-column block whose A panels, streamed from memory, would
 * serve two tiles each). */
static int block_cols(int N, int n0) {
    return N - n0 <= NC_LAST ? N - n0 : NC;
}

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* The products: 2 the AVX-512 tiles, 1 the AVX2 ones (gemm_avx2.c), both on
 * panels of MR rows; 0 row-major A + sc_sgemm. The vector forms (attention
 * heads, sc_vmath_level): 2 AVX-512, 1 AVX2, 0 scalar. On AVX2 CPUs the
 * products stay with OpenBLAS unless SACCADE_GEMM=avx2: its hand-written
 * Haswell kernels ran a ViT-B's products 8-10% faster, a ResNet-101's 12%,
 * than the AVX2 tiles on Zen 3; the fused attention heads, layer norms and
 * GELU, which OpenBLAS does not do, still take a quarter off a ViT-B. */
static int g_kernel, g_vector;

static void pick_kernel(void) {
    const char *e = getenv("SACCADE_GEMM");
    if (e && strcmp(e, "openblas") == 0) return;
#if SC_HAVE_AVX512_KERNEL
    __builtin_cpu_init();
    const int want_avx2 = e && strcmp(e, "avx2") == 0; /* also on an AVX-512 CPU (tests) */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        g_vector = 1, g_kernel = want_avx2;
    if (__builtin_cpu_supports("avx512f") && !want_avx2) g_vector = g_kernel = 2;
#endif
}

static int kernel_level(void) {
    pthread_once(&g_once, pick_kernel);
    return g_kernel;
}

int sc_vmath_level(void) {
    pthread_once(&g_once, pick_kernel);
    return g_vector;
}

static int use_avx512(void) {
    return kernel_level() == 2;
}

const char *sc_gemm_packed_kernel(void) {
    static const char *const names[] = {"openblas", "avx2", "avx512"};
    return names[kernel_level()];
}

size_t sc_gemm_pack_floats(int M, int K) {
    if (M < 1 || K < 1) return 0;
    size_t rows = kernel_level() ? ((size_t)M + MR - 1) / MR * MR : (size_t)M;
    return rows * (size_t)K; /* M, K < 2^31: no overflow in 64 bits */
}

sc_status sc_gemm_pack(int M, int K, const float *A, int lda, float *Ap) {
    if (M < 1 || K < 1 || lda < K || !A || !Ap)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_gemm_pack: bad arguments (M %d, K %d, lda %d, A %p, Ap %p)", M, K,
                            lda, (const void *)A, (void *)Ap);
    if (!kernel_level()) {
        for (int m = 0; m < M; m++)
            memcpy(Ap + (size_t)m * K, A + (size_t)m * lda, K * sizeof(float));
        return SC_OK;
    }
    const int panels = (M + MR - 1) / MR;
    for (int p = 0; p < panels; p++) {
        float *d = Ap + (size_t)p * K * MR;
        for (int r = 0; r < MR; r++) {
            const int m = p * MR + r;
            if (m < M) {
                const float *s = A + (size_t)m * lda;
                for (int k = 0; k < K; k++) d[(size_t)k * MR + r] = s[k];
            } else {
                for (int k = 0; k < K; k++) d[(size_t)k * MR + r] = 0.0f;
            }
        }
    }
    return SC_OK;
}

/* The widest block of any call on at most N columns: a call on fewer
 * columns than N may take them in one block wider than N's first. */
size_t sc_gemm_packed_workspace_floats(int N) {
    if (N < 1) return 0;
#if SC_HAVE_AVX512_KERNEL
    if (kernel_level() == 1) return sc_gemm_avx2_workspace_floats(N);
#endif
    const int nc = N < NC_LAST ? N : NC_LAST;
    return (size_t)KC * (size_t)((nc + NR - 1) / NR * NR);
}

/* The epilogue on one row segment, scalar: the fallback path. */
static void epilogue_rows(float *C, int ldc, int m0, int m1, int N, const sc_gemm_epilogue *ep) {
    for (int m = m0; m < m1; m++) {
        float *c = C + (size_t)m * ldc;
        const float b = ep->bias ? ep->bias[m] : 0.0f;
        const float *r = ep->res ? ep->res + (size_t)m * ldc : NULL;
        for (int n = 0; n < N; n++) {
            float v = c[n] + b + (r ? r[n] : 0.0f);
            c[n] = ep->relu && !(v > 0.0f) ? 0.0f : v;
        }
        if (ep->gelu) sc_vgelu(c, c, (size_t)N);
    }
}

#if SC_HAVE_AVX512_KERNEL
/* Lane masks of the two 16-column halves of a panel w columns wide. */
static inline void panel_masks(int w, __mmask16 *m0, __mmask16 *m1) {
    *m0 = w >= 16 ? 0xffff : (__mmask16)((1u << w) - 1);
    *m1 = w >= 32 ? 0xffff : w > 16 ? (__mmask16)((1u << (w - 16)) - 1) : 0;
}

/* B rows [k0, k0+kc), columns [n0, n0+nc) -> panels of NR columns. */
SC_AVX512 static void pack_b(const float *B, int ldb, int k0, int kc, int n0, int nc, float *bp) {
    for (int j = 0; j < nc; j += NR) {
        const int w = nc - j < NR ? nc - j : NR;
        __mmask16 m0, m1;
        panel_masks(w, &m0, &m1);
        const float *s = B + (size_t)k0 * ldb + n0 + j;
        for (int k = 0; k < kc; k++, s += ldb, bp += NR) {
            _mm512_storeu_ps(bp, _mm512_maskz_loadu_ps(m0, s));
            _mm512_storeu_ps(bp + 16, _mm512_maskz_loadu_ps(m1, s + 16));
        }
    }
}

/* What a tile store does besides writing: add the C already there (not the
 * first K block), apply the epilogue (the last K block). */
typedef struct tile_store {
    int accumulate, last, mr;
    __mmask16 m0, m1;
    const float *bias; /* at the tile's first row, or NULL */
    const float *res;  /* at the tile's first element, or NULL */
    int relu, gelu;
} tile_store;

/* The 8 rows of a tile, unrolled. */
#define EIGHT_ROWS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define TILE_ROW(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define TILE_FMA(r)                                                                                \
    {                                                                                              \
        const __m512 a = _mm512_set1_ps(ap[r]);                                                    \
        c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0);                                                 \
        c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);                                                 \
    }
#define TILE_STORE(r)                                                                              \
    if (r < t->mr) {                                                                               \
        float *d = c + (size_t)r * ldc;                                                            \
        _mm512_mask_storeu_ps(d, t->m0, store_val(c##r##0, t, r, 0, d, ldc));                      \
        _mm512_mask_storeu_ps(d + 16, t->m1, store_val(c##r##1, t, r, 1, d + 16, ldc));            \
    }

/* The 8 x 32 tile's accumulators c00..c71 over kc steps of an A panel (ap,
 * MR floats a step) and a B panel (bp, NR floats a step); advances both. */
#define TILE_LOOP(kc)                                                                              \
    EIGHT_ROWS(TILE_ROW)                                                                           \
    for (int k_ = 0; k_ < (kc); k_++, ap += MR, bp += NR) {                                        \
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);                      \
        EIGHT_ROWS(TILE_FMA)                                                                       \
    }

/* The value stored at d (row r of the tile, half 0 or 1 of its 32 columns). */
SC_AVX512 static inline __m512 store_val(__m512 v, const tile_store *t, int r, int half,
                                         const float *d, int ldc) {
    const __mmask16 m = half ? t->m1 : t->m0;
    if (t->accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, d));
    if (t->last) {
        if (t->bias) v = _mm512_add_ps(v, _mm512_set1_ps(t->bias[r]));
        if (t->res)
            v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, t->res + (size_t)r * ldc + 16 * half));
        if (t->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
        if (t->gelu) v = sc_v_gelu(v);
    }
    return v;
}

/* C tile (mr <= 8 rows x up to 32 columns) from an A panel and a B panel. */
SC_AVX512 static void tile_8x32(int kc, const float *restrict ap, const float *restrict bp,
                                float *c, int ldc, const tile_store *t) {
    // clang-format off
    TILE_LOOP(kc)
    EIGHT_ROWS(TILE_STORE)
    // clang-format on
}

#define NARROW_ROW(r) __m512 c##r##0 = _mm512_setzero_ps();
#define NARROW_FMA(r) c##r##0 = _mm512_fmadd_ps(_mm512_set1_ps(ap[r]), b0, c##r##0);
#define NARROW_STORE(r)                                                                            \
    if (r < t->mr) {                                                                               \
        float *d = c + (size_t)r * ldc;                                                            \
        _mm512_mask_storeu_ps(d, t->m0, store_val(c##r##0, t, r, 0, d, ldc));                      \
    }

/* The same for a last panel of at most 16 columns: half the FMAs. */
SC_AVX512 static void tile_8x16(int kc, const float *restrict ap, const float *restrict bp,
                                float *c, int ldc, const tile_store *t) {
    // clang-format off
    EIGHT_ROWS(NARROW_ROW)
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m512 b0 = _mm512_loadu_ps(bp);
        EIGHT_ROWS(NARROW_FMA)
    }
    EIGHT_ROWS(NARROW_STORE)
    // clang-format on
}

/* The same for a last panel of at most 4 columns (N % 32 of 1 to 4, e.g. a
 * 577-token ViT): one 8-row column of A times a broadcast B entry per
 * column, a quarter of tile_8x16's FMAs. Each element is summed in the same
 * order, and stored as store_val does, so results do not depend on which
 * kernel a column falls to. */
#define NARROW4_FMA(a, nb)                                                                         \
    {                                                                                              \
        n0 = _mm256_fmadd_ps(a, _mm256_set1_ps((nb)[0]), n0);                                      \
        n1 = _mm256_fmadd_ps(a, _mm256_set1_ps((nb)[1]), n1);                                      \
        n2 = _mm256_fmadd_ps(a, _mm256_set1_ps((nb)[2]), n2);                                      \
        n3 = _mm256_fmadd_ps(a, _mm256_set1_ps((nb)[3]), n3);                                      \
    }

/* Stores the narrow tile's accumulators n0..n3 (columns of 8 rows), w columns. */
__attribute__((target("avx512f,fma"))) static void narrow_store(__m256 n0, __m256 n1, __m256 n2,
                                                                __m256 n3, float *c, int ldc,
                                                                const tile_store *t, int w) {
    float v[4][MR];
    _mm256_storeu_ps(v[0], n0), _mm256_storeu_ps(v[1], n1);
    _mm256_storeu_ps(v[2], n2), _mm256_storeu_ps(v[3], n3);
    for (int r = 0; r < t->mr; r++) {
        float x[16] = {0};
        for (int j = 0; j < w; j++) {
            x[j] = v[j][r];
            if (t->accumulate) x[j] = x[j] + c[(size_t)r * ldc + j];
            if (t->last) {
                if (t->bias) x[j] = x[j] + t->bias[r];
                if (t->res) x[j] = x[j] + t->res[(size_t)r * ldc + j];
                if (t->relu) x[j] = x[j] > 0.0f ? x[j] : 0.0f; /* as max_ps(x, 0): NaN -> 0 */
            }
        }
        if (t->last && t->gelu) /* the wide tiles' GELU, bit for bit */
            _mm512_storeu_ps(x, sc_v_gelu(_mm512_loadu_ps(x)));
        memcpy(c + (size_t)r * ldc, x, (size_t)w * sizeof(float));
    }
}

__attribute__((target("avx512f,fma"))) static void tile_8x4(int kc, const float *restrict ap,
                                                            const float *restrict bp, float *c,
                                                            int ldc, const tile_store *t, int w) {
    __m256 n0 = _mm256_setzero_ps(), n1 = _mm256_setzero_ps(), n2 = _mm256_setzero_ps(),
           n3 = _mm256_setzero_ps(); /* columns beyond w are zeros of the packed panel */
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m256 a = _mm256_loadu_ps(ap);
        NARROW4_FMA(a, bp)
    }
    narrow_store(n0, n1, n2, n3, c, ldc, t, w);
}

/* A full 8 x 32 tile and the narrow panel after it (w <= 4 columns) in one
 * pass over A: alone, tile_8x4's four dependent FMA chains wait on the FMA
 * latency and cost half a full tile; here they fill the full tile's gaps.
 * Both parts sum in the order tile_8x32 and tile_8x4 do. */
__attribute__((target("avx512f,fma"))) static void
tile_8x32_narrow(int kc, const float *restrict ap, const float *restrict bp,
                 const float *restrict nbp, float *c, int ldc, const tile_store *t,
                 const tile_store *tn, int w) {
    // clang-format off
    EIGHT_ROWS(TILE_ROW)
    __m256 n0 = _mm256_setzero_ps(), n1 = _mm256_setzero_ps(), n2 = _mm256_setzero_ps(),
           n3 = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++, ap += MR, bp += NR, nbp += NR) {
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        EIGHT_ROWS(TILE_FMA)
        const __m256 a8 = _mm256_loadu_ps(ap);
        NARROW4_FMA(a8, nbp)
    }
    EIGHT_ROWS(TILE_STORE)
    // clang-format on
    narrow_store(n0, n1, n2, n3, c + NR, ldc, tn, w);
}

SC_AVX512 static void gemm_avx512(const float *Ap, int K, int m0, int m1, int N, const float *B,
                                  int ldb, float *C, int ldc, const sc_gemm_epilogue *ep,
                                  float *bp) {
    for (int n0 = 0, nc; n0 < N; n0 += nc) {
        nc = block_cols(N, n0);
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack_b(B, ldb, k0, kc, n0, nc, bp);
            tile_store t = {k0 > 0,           k0 + kc >= K, 0, 0, 0, NULL, NULL, ep ? ep->relu : 0,
                            ep ? ep->gelu : 0};
            const int tiles = (nc + NR - 1) / NR, panel_bytes = kc * MR * (int)sizeof(float);
            for (int i = m0; i < m1; i += MR) {
                const float *ap = Ap + (size_t)(i / MR) * K * MR + (size_t)k0 * MR;
                /* the next A panel's block, a share of it before each tile */
                const char *next = i + MR < m1 ? (const char *)(ap + (size_t)K * MR) : NULL;
                t.mr = m1 - i < MR ? m1 - i : MR;
                t.bias = ep && ep->bias ? ep->bias + i : NULL;
                for (int j = 0; j < nc; j += NR) {
                    const int w = nc - j < NR ? nc - j : NR;
                    panel_masks(w, &t.m0, &t.m1);
                    const size_t at = (size_t)i * ldc + n0 + j;
                    if (next)
                        for (int o = panel_bytes * (j / NR) / tiles,
                                 e = panel_bytes * (j / NR + 1) / tiles;
                             o < e; o += 64)
                            _mm_prefetch(next + o, _MM_HINT_T0);
                    if (j + NR < nc) /* the next tile's C rows */
                        for (int r = 0; r < t.mr; r++) {
                            const char *d = (const char *)(C + at + (size_t)r * ldc + NR);
                            _mm_prefetch(d, _MM_HINT_T0);
                            _mm_prefetch(d + 64, _MM_HINT_T0);
                        }
                    t.res = ep && ep->res ? ep->res + at : NULL;
                    const int wn = nc - j - NR; /* a narrow last panel after this one */
                    if (w == NR && wn >= 1 && wn <= 4) {
                        tile_store tn = t;
                        panel_masks(wn, &tn.m0, &tn.m1);
                        tn.res = t.res ? t.res + NR : NULL;
                        tile_8x32_narrow(kc, ap, bp + (size_t)j * kc, bp + (size_t)(j + NR) * kc,
                                         C + at, ldc, &t, &tn, wn);
                        j += NR; /* the narrow panel is done */
                    } else if (w <= 4)
                        tile_8x4(kc, ap, bp + (size_t)j * kc, C + at, ldc, &t, w);
                    else if (w <= 16)
                        tile_8x16(kc, ap, bp + (size_t)j * kc, C + at, ldc, &t);
                    else
                        tile_8x32(kc, ap, bp + (size_t)j * kc, C + at, ldc, &t);
                }
            }
        }
    }
}
#endif

sc_status sc_gemm_packed(const float *Ap, int M, int K, int m0, int m1, int N, const float *B,
                         int ldb, float *C, int ldc, const sc_gemm_epilogue *ep, float *ws) {
    if (!Ap || !B || !C || !ws || M < 1 || K < 1 || N < 1 || m0 < 0 || m0 % MR || m1 <= m0 ||
        m1 > M || ldb < N || ldc < N)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_gemm_packed: bad arguments (M %d, K %d, rows %d..%d, N %d, ldb %d, "
                            "ldc %d; rows start at a multiple of %d)",
                            M, K, m0, m1, N, ldb, ldc, MR);
    const int has_ep = ep && (ep->bias || ep->res || ep->relu || ep->gelu);
#if SC_HAVE_AVX512_KERNEL
    if (use_avx512()) {
        gemm_avx512(Ap, K, m0, m1, N, B, ldb, C, ldc, has_ep ? ep : NULL, ws);
        return SC_OK;
    }
    if (kernel_level() == 1) {
        sc_gemm_avx2(Ap, K, m0, m1, N, B, ldb, C, ldc, has_ep ? ep : NULL, ws);
        return SC_OK;
    }
#endif
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, m1 - m0, N, K, 1.0f, Ap + (size_t)m0 * K, K, B, ldb, 0.0f,
             C + (size_t)m0 * ldc, ldc);
    if (has_ep) epilogue_rows(C, ldc, m0, m1, N, ep);
    return SC_OK;
}

/* ---------------------------------------------------------------- attention
 * One head of softmax attention over feature-major q, k, v (dh rows of L
 * tokens each, row stride ld): ctx = V^T softmax_keys(K Q^T scale), a block
 * of QB queries at a time so that the block's scores (L x QB, 74 KB at 577
 * tokens) stay in L2 between the two products instead of a whole L x L
 * matrix going through memory:
 *   1. S (keys x QB queries) = K_packed Q_block, 8 keys a register tile,
 *      with each query's running maximum taken as the tiles are stored;
 *   2. S = exp(S - max), summed per query;
 *   3. ctx_block (dh x QB) = V^T_packed S, scaled by 1 / sum in the store.
 * S is written as the second product's packed B operand ([key][QB]), and K
 * and V^T are packed once per head straight from the rows the QKV product
 * wrote (K's panels of 8 keys are 8-float runs of K^T's rows; V^T's of 8
 * features are 8 x 8 transposes). */
enum { QB = NR };

/* Workspace floats: K packed (L8 x dh), V^T packed (dh8 x L), the query
 * block (dh x QB), the scores (L8 x QB); L8, dh8 rounded up to MR. */
static int attn_sizes(int L, int dh, size_t *kp, size_t *vp, size_t *qp, size_t *s) {
    if (L < 1 || dh < 1) return 0;
    const size_t L8 = ((size_t)L + MR - 1) / MR * MR, d8 = ((size_t)dh + MR - 1) / MR * MR;
    *kp = L8 * (size_t)dh, *vp = d8 * (size_t)L, *qp = (size_t)dh * QB, *s = L8 * QB;
    return 1; /* L, dh < 2^31: no overflow in 64 bits */
}

size_t sc_attn_head_ws_floats(int L, int dh) {
    size_t kp, vp, qp, s;
    return attn_sizes(L, dh, &kp, &vp, &qp, &s) ? kp + vp + qp + s : 0;
}

#if SC_HAVE_AVX512_KERNEL
/* K (L x dh) in panels of MR keys, times scale; V^T (dh x L) in panels of
 * MR features; padding rows zero. (AVX2 only: both kernels use it.) */
__attribute__((target("avx2"))) static void attn_pack_kv(int L, int dh, const float *k,
                                                         const float *v, int ld, float scale,
                                                         float *kp, float *vp) {
    const __m256 sc = _mm256_set1_ps(scale);
    for (int p = 0; p * MR < L; p++) {
        const int t0 = p * MR;
        float *d = kp + (size_t)p * dh * MR;
        if (t0 + MR <= L)
            for (int c = 0; c < dh; c++)
                _mm256_storeu_ps(d + (size_t)c * MR,
                                 _mm256_mul_ps(_mm256_loadu_ps(k + (size_t)c * ld + t0), sc));
        else
            for (int c = 0; c < dh; c++)
                for (int r = 0; r < MR; r++)
                    d[(size_t)c * MR + r] = t0 + r < L ? k[(size_t)c * ld + t0 + r] * scale : 0.0f;
    }
    for (int p = 0; p * MR < dh; p++) {
        const int f0 = p * MR;
        float *d = vp + (size_t)p * L * MR;
        int t = 0;
        if (f0 + MR <= dh)
            for (; t + MR <= L; t += MR)
                sc_transpose8x8_avx2(v + (size_t)f0 * ld + t, (size_t)ld, d + (size_t)t * MR);
        for (; t < L; t++)
            for (int r = 0; r < MR; r++)
                d[(size_t)t * MR + r] = f0 + r < dh ? v[(size_t)(f0 + r) * ld + t] : 0.0f;
    }
}

#define SCORE_STORE(r)                                                                             \
    if (r < mr) {                                                                                  \
        _mm512_storeu_ps(sr + (size_t)r * QB, c##r##0);                                            \
        _mm512_storeu_ps(sr + (size_t)r * QB + 16, c##r##1);                                       \
        mx0 = _mm512_max_ps(c##r##0, mx0);                                                         \
        mx1 = _mm512_max_ps(c##r##1, mx1);                                                         \
    }
#define CTX_STORE(r)                                                                               \
    if (r < mr) {                                                                                  \
        float *d = cb + (size_t)r * ldc;                                                           \
        _mm512_mask_storeu_ps(d, m0, _mm512_mul_ps(c##r##0, inv0));                                \
        _mm512_mask_storeu_ps(d + 16, m1, _mm512_mul_ps(c##r##1, inv1));                           \
    }

/* Queries [n0, n0 + nb), nb <= QB: the three steps above. */
SC_AVX512 static void attn_block(int L, int dh, const float *kp, const float *vp, const float *q,
                                 int ld, int n0, int nb, float *qp, float *s, float *ctx, int ldc) {
    __mmask16 m0, m1;
    panel_masks(nb, &m0, &m1);
    for (int c = 0; c < dh; c++) { /* the block's queries, zero padded */
        const float *src = q + (size_t)c * ld + n0;
        _mm512_storeu_ps(qp + (size_t)c * QB, _mm512_maskz_loadu_ps(m0, src));
        _mm512_storeu_ps(qp + (size_t)c * QB + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
    __m512 mx0 = _mm512_set1_ps(-INFINITY), mx1 = mx0;
    for (int p = 0; p * MR < L; p++) {
        const float *ap = kp + (size_t)p * dh * MR, *bp = qp;
        float *sr = s + (size_t)p * MR * QB;
        const int mr = L - p * MR < MR ? L - p * MR : MR;
        // clang-format off
        TILE_LOOP(dh)
        EIGHT_ROWS(SCORE_STORE)
        // clang-format on
    }
    __m512 sum0 = _mm512_setzero_ps(), sum1 = sum0;
    for (int t = 0; t < L; t++) {
        float *sr = s + (size_t)t * QB;
        const __m512 e0 = sc_v_exp(_mm512_sub_ps(_mm512_loadu_ps(sr), mx0));
        const __m512 e1 = sc_v_exp(_mm512_sub_ps(_mm512_loadu_ps(sr + 16), mx1));
        _mm512_storeu_ps(sr, e0), _mm512_storeu_ps(sr + 16, e1);
        sum0 = _mm512_add_ps(sum0, e0), sum1 = _mm512_add_ps(sum1, e1);
    }
    const __m512 one = _mm512_set1_ps(1.0f), inv0 = _mm512_div_ps(one, sum0),
                 inv1 = _mm512_div_ps(one, sum1);
    for (int p = 0; p * MR < dh; p++) {
        const float *ap = vp + (size_t)p * L * MR, *bp = s;
        float *cb = ctx + (size_t)p * MR * ldc + n0;
        const int mr = dh - p * MR < MR ? dh - p * MR : MR;
        // clang-format off
        TILE_LOOP(L)
        EIGHT_ROWS(CTX_STORE)
        // clang-format on
    }
}
#endif

sc_status sc_attn_head(int L, int dh, const float *q, const float *k, const float *v, int ld,
                       float scale, float *ctx, int ldc, float *ws) {
    size_t nk, nv, nq, ns;
    if (!q || !k || !v || !ctx || !ws || !attn_sizes(L, dh, &nk, &nv, &nq, &ns) || ld < L ||
        ldc < L)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_attn_head: bad arguments (L %d, dh %d, ld %d, ldc %d)", L, dh, ld,
                            ldc);
#if SC_HAVE_AVX512_KERNEL
    const int level = sc_vmath_level();
    if (level) {
        float *kp = ws, *vp = kp + nk, *qp = vp + nv, *s = qp + nq;
        attn_pack_kv(L, dh, k, v, ld, scale, kp, vp);
        if (level == 2)
            for (int n0 = 0; n0 < L; n0 += QB)
                attn_block(L, dh, kp, vp, q, ld, n0, L - n0 < QB ? L - n0 : QB, qp, s, ctx, ldc);
        else /* QB >= SC_ATTN_AVX2_QB: the workspace sizes hold */
            for (int n0 = 0, qb = SC_ATTN_AVX2_QB; n0 < L; n0 += qb)
                sc_attn_block_avx2(L, dh, kp, vp, q, ld, n0, L - n0 < qb ? L - n0 : qb, qp, s, ctx,
                                   ldc);
        return SC_OK;
    }
#endif
    return sc_set_error(SC_ERR_UNSUPPORTED,
                        "sc_attn_head: needs the AVX2 or AVX-512 kernels (SACCADE_GEMM=%s)",
                        sc_gemm_packed_kernel());
}
