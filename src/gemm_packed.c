/* Products with a pre-packed left operand (see sc_gemm_pack in sc_blas.h).
 *
 * Why not OpenBLAS for these: ResNet's products are small (layer3 at 256 x
 * 256 input: 256 x 256 x 1024) and OpenBLAS packs both operands on every
 * call; with the weights packed once, the per-call work is packing B only.
 * Measured single-threaded on AVX-512 (Zen 4), 1.05-1.3x OpenBLAS 0.3.21's
 * SkylakeX sgemm on ResNet-101's shapes, 1.4x for 16-column products.
 *
 * Layout: A in panels of MR rows, [panel][k][MR], the last panel zero
 * padded. B is packed per call, a block of KC rows x NC columns at a time,
 * into panels of NR columns, [panel][k][NR] (the last one zero padded).
 * Loop order: for each column block, for each K block: pack B, then for
 * each A panel (MR x KC, 8 KB, stays in L1) run the 8 x 32 register tile
 * over the block's B panels (256 x 512 floats, 512 KB, from L2). C is
 * accumulated across K blocks in memory; the epilogue is applied when the
 * last K block stores a tile. Before each tile, the kernel prefetches a
 * share of the next A panel (from memory: a layer's weights do not stay in
 * cache) and the next tile's C rows: without that the tiles wait on those
 * loads, and a ViT-B layer's products ran at 130 GFLOP/s a core instead of
 * 185 (Zen 5, whose 512-bit FMAs peak near 200). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_blas.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define SC_HAVE_AVX512_KERNEL 1
#include <immintrin.h>
#define SC_AVX512 __attribute__((target("avx512f")))
#else
#define SC_HAVE_AVX512_KERNEL 0
#endif

enum { MR = SC_GEMM_ROWS, NR = 32, KC = 256, NC = 512 };

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_avx512; /* 1: saccade's kernel and panel layout, 0: row-major A + sc_sgemm */

static void pick_kernel(void) {
    const char *e = getenv("SACCADE_GEMM");
    if (e && strcmp(e, "openblas") == 0) return;
#if SC_HAVE_AVX512_KERNEL
    __builtin_cpu_init();
    g_avx512 = __builtin_cpu_supports("avx512f") != 0;
#endif
}

static int use_avx512(void) {
    pthread_once(&g_once, pick_kernel);
    return g_avx512;
}

const char *sc_gemm_packed_kernel(void) {
    return use_avx512() ? "avx512" : "openblas";
}

size_t sc_gemm_pack_floats(int M, int K) {
    if (M < 1 || K < 1) return 0;
    size_t rows = use_avx512() ? ((size_t)M + MR - 1) / MR * MR : (size_t)M;
    return rows * (size_t)K; /* M, K < 2^31: no overflow in 64 bits */
}

sc_status sc_gemm_pack(int M, int K, const float *A, int lda, float *Ap) {
    if (M < 1 || K < 1 || lda < K || !A || !Ap)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_gemm_pack: bad arguments (M %d, K %d, lda %d, A %p, Ap %p)", M, K,
                            lda, (const void *)A, (void *)Ap);
    if (!use_avx512()) {
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

size_t sc_gemm_packed_workspace_floats(int N) {
    if (N < 1) return 0;
    const int nc = N < NC ? N : NC;
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
    int relu;
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
    }
    return v;
}

/* C tile (mr <= 8 rows x up to 32 columns) from an A panel and a B panel. */
SC_AVX512 static void tile_8x32(int kc, const float *restrict ap, const float *restrict bp,
                                float *c, int ldc, const tile_store *t) {
    // clang-format off
    EIGHT_ROWS(TILE_ROW)
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + 16);
        EIGHT_ROWS(TILE_FMA)
    }
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
    for (int r = 0; r < t->mr; r++)
        for (int j = 0; j < w; j++) {
            float *d = c + (size_t)r * ldc + j, x = v[j][r];
            if (t->accumulate) x = x + *d;
            if (t->last) {
                if (t->bias) x = x + t->bias[r];
                if (t->res) x = x + t->res[(size_t)r * ldc + j];
                if (t->relu) x = x > 0.0f ? x : 0.0f; /* as max_ps(x, 0): NaN -> 0 */
            }
            *d = x;
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
    for (int n0 = 0; n0 < N; n0 += NC) {
        const int nc = N - n0 < NC ? N - n0 : NC;
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack_b(B, ldb, k0, kc, n0, nc, bp);
            tile_store t = {k0 > 0, k0 + kc >= K, 0, 0, 0, NULL, NULL, ep ? ep->relu : 0};
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
    const int has_ep = ep && (ep->bias || ep->res || ep->relu);
#if SC_HAVE_AVX512_KERNEL
    if (use_avx512()) {
        gemm_avx512(Ap, K, m0, m1, N, B, ldb, C, ldc, has_ep ? ep : NULL, ws);
        return SC_OK;
    }
#endif
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, m1 - m0, N, K, 1.0f, Ap + (size_t)m0 * K, K, B, ldb, 0.0f,
             C + (size_t)m0 * ldc, ldc);
    if (has_ep) epilogue_rows(C, ldc, m0, m1, N, ep);
    return SC_OK;
}
