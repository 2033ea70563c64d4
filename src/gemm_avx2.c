/* sc_attn_head's query blocks with AVX2 and FMA, for CPUs without AVX-512F
 * (AMD Zen 2 and 3, Intel client cores), and sc_gemm_packed's kernel on
 * them when SACCADE_GEMM=avx2 (by default their products go to OpenBLAS,
 * whose hand-written Haswell kernels ran ViT-B's and ResNet-101's products
 * 8-12% faster than these tiles on Zen 3). The
 * loop structure is gemm_packed.c's: A packed once in panels of 8 rows, B
 * packed per call a block of KC rows x NC columns at a time, C accumulated
 * across K blocks, the epilogue (bias, residual, ReLU or exact GELU)
 * applied as the last K block stores a tile.
 *
 * Why a 4 x 24 register tile run over each half of an 8-row A panel: AVX2
 * has 16 vector registers. Four rows of three 8-column vectors hold 12
 * accumulators, leaving three for B and one for the broadcast A entry; per
 * k step 7 loads feed 12 FMAs, within the two loads a cycle that keep both
 * FMA pipes busy. An 8-row tile would need 16 accumulators alone. Each
 * 24-column B panel (24 KB at KC 256) serves both halves in turn, the
 * second time from L1.
 *
 * A last panel of at most 8 columns (577 tokens: 24 panels and 1 column)
 * runs all 8 rows of A as one vector times each column's broadcast B entry
 * and transposes the tile before storing it. Every element is summed in k
 * order by one FMA chain whichever tile it falls to, so splitting a call's
 * rows or columns does not change a bit. K blocks are the AVX-512 kernel's
 * (256), so the two kernels add the same partial sums in the same order.
 * (192 measured within noise of 256 on Zen 3; keeping B's 24-column panel
 * in L1 over blocks of A panels instead, as GotoBLAS does, was 10% slower:
 * A panels then come from L2 with every tile.) */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "gemm_kernels.h"
#include "sc_internal.h"
#include "vmath.h"

#if SC_VMATH_HAVE_AVX512 /* x86-64 with GCC or clang: the AVX2 forms build too */
#define SC_AVX2 SC_VMATH_AVX2

enum { MR = SC_GEMM_ROWS, NR = SC_ATTN_AVX2_QB, KC = 256, NC = 480, NC_LAST = NC + NC / 4 };

/* Columns of the block starting at n0 (see gemm_packed.c). */
static int block_cols(int N, int n0) {
    return N - n0 <= NC_LAST ? N - n0 : NC;
}

size_t sc_gemm_avx2_workspace_floats(int N) {
    if (N < 1) return 0;
    const int nc = N < NC_LAST ? N : NC_LAST; /* the widest block of up to N columns */
    return (size_t)KC * (size_t)((nc + NR - 1) / NR * NR);
}

/* B rows [k0, k0+kc), columns [n0, n0+nc) -> panels of NR columns, the
 * last one zero padded. */
SC_AVX2 static void pack_b(const float *B, int ldb, int k0, int kc, int n0, int nc, float *bp) {
    for (int j = 0; j < nc; j += NR) {
        const int w = nc - j < NR ? nc - j : NR;
        const float *s = B + (size_t)k0 * ldb + n0 + j;
        if (w == NR) {
            for (int k = 0; k < kc; k++, s += ldb, bp += NR) {
                _mm256_storeu_ps(bp, _mm256_loadu_ps(s));
                _mm256_storeu_ps(bp + 8, _mm256_loadu_ps(s + 8));
                _mm256_storeu_ps(bp + 16, _mm256_loadu_ps(s + 16));
            }
        } else {
            const __m256i m0 = sc_v8_lanes(w), m1 = sc_v8_lanes(w - 8), m2 = sc_v8_lanes(w - 16);
            for (int k = 0; k < kc; k++, s += ldb, bp += NR) {
                _mm256_storeu_ps(bp, _mm256_maskload_ps(s, m0));
                _mm256_storeu_ps(bp + 8, _mm256_maskload_ps(s + 8, m1));
                _mm256_storeu_ps(bp + 16, _mm256_maskload_ps(s + 16, m2));
            }
        }
    }
}

/* What a tile store does besides writing: add the C already there (not the
 * first K block), apply the epilogue (the last K block). */
typedef struct tile_store {
    __m256i m[3]; /* lanes of the tile's three 8-column vectors */
    int full;     /* all 24 columns: plain loads and stores */
    int accumulate, last, mr;
    const float *bias; /* at the tile's first row, or NULL */
    const float *res;  /* at the tile's first element, or NULL */
    int relu, gelu;
} tile_store;

SC_AVX2 static inline __m256 load_part(const float *p, const tile_store *t, int i) {
    return t->full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, t->m[i]);
}

SC_AVX2 static inline void store_part(float *p, __m256 v, const tile_store *t, int i) {
    if (t->full)
        _mm256_storeu_ps(p, v);
    else
        _mm256_maskstore_ps(p, t->m[i], v);
}

/* The value stored at d (row r of the tile, its 8-column vector i). */
SC_AVX2 static inline __m256 store_val(__m256 v, const tile_store *t, int r, int i, const float *d,
                                       int ldc) {
    if (t->accumulate) v = _mm256_add_ps(v, load_part(d, t, i));
    if (t->last) {
        if (t->bias) v = _mm256_add_ps(v, _mm256_set1_ps(t->bias[r]));
        if (t->res) v = _mm256_add_ps(v, load_part(t->res + (size_t)r * ldc + 8 * i, t, i));
        if (t->relu) v = _mm256_max_ps(v, _mm256_setzero_ps()); /* NaN -> 0 */
        if (t->gelu) v = sc_v8_gelu(v);
    }
    return v;
}

/* The 4 rows of a tile, unrolled. */
#define FOUR_ROWS(M) M(0) M(1) M(2) M(3)
#define TILE_ROW(r)                                                                                \
    __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps(),                           \
           c##r##2 = _mm256_setzero_ps();
#define TILE_FMA(r)                                                                                \
    {                                                                                              \
        const __m256 a = _mm256_broadcast_ss(ap + r);                                              \
        c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);                                                 \
        c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);                                                 \
        c##r##2 = _mm256_fmadd_ps(a, b2, c##r##2);                                                 \
    }
/* The 4 x 24 tile's accumulators c00..c32 over kc steps of half an A panel
 * (ap, MR floats a step) and a B panel (bp, NR floats a step). */
#define TILE_LOOP(kc)                                                                              \
    FOUR_ROWS(TILE_ROW)                                                                            \
    for (int k_ = 0; k_ < (kc); k_++, ap += MR, bp += NR) {                                        \
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + 8),                       \
                     b2 = _mm256_loadu_ps(bp + 16);                                                \
        FOUR_ROWS(TILE_FMA)                                                                        \
    }
#define TILE_STORE(r)                                                                              \
    if (r < t->mr) {                                                                               \
        float *d = c + (size_t)r * ldc;                                                            \
        store_part(d, store_val(c##r##0, t, r, 0, d, ldc), t, 0);                                  \
        store_part(d + 8, store_val(c##r##1, t, r, 1, d + 8, ldc), t, 1);                          \
        store_part(d + 16, store_val(c##r##2, t, r, 2, d + 16, ldc), t, 2);                        \
    }

/* C tile (mr <= 4 rows x up to 24 columns) from half an A panel and a B panel. */
SC_AVX2 static void tile_4x24(int kc, const float *restrict ap, const float *restrict bp, float *c,
                              int ldc, const tile_store *t){
    // clang-format off
    TILE_LOOP(kc)
    FOUR_ROWS(TILE_STORE)
    // clang-format on
}

/* C tile (mr <= 8 rows x at most 8 columns) from a whole A panel and a B
 * panel whose columns past the tile's are zeros: column j's 8 rows
 * accumulate in n[j], then the tile is transposed into rows for the store. */
SC_AVX2 static void tile_8x8t(int kc, const float *restrict ap, const float *restrict bp, float *c,
                              int ldc, const tile_store *t) {
    __m256 n0 = _mm256_setzero_ps(), n1 = n0, n2 = n0, n3 = n0, n4 = n0, n5 = n0, n6 = n0, n7 = n0;
    for (int k = 0; k < kc; k++, ap += MR, bp += NR) {
        const __m256 a = _mm256_loadu_ps(ap);
        n0 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 0), n0);
        n1 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 1), n1);
        n2 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 2), n2);
        n3 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 3), n3);
        n4 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 4), n4);
        n5 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 5), n5);
        n6 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 6), n6);
        n7 = _mm256_fmadd_ps(a, _mm256_broadcast_ss(bp + 7), n7);
    }
    float cols[8 * 8], rows[8 * 8];
    _mm256_storeu_ps(cols, n0), _mm256_storeu_ps(cols + 8, n1), _mm256_storeu_ps(cols + 16, n2);
    _mm256_storeu_ps(cols + 24, n3), _mm256_storeu_ps(cols + 32, n4);
    _mm256_storeu_ps(cols + 40, n5), _mm256_storeu_ps(cols + 48, n6);
    _mm256_storeu_ps(cols + 56, n7);
    sc_transpose8x8_avx2(cols, 8, rows);
    for (int r = 0; r < t->mr; r++) {
        float *d = c + (size_t)r * ldc;
        store_part(d, store_val(_mm256_loadu_ps(rows + 8 * r), t, r, 0, d, ldc), t, 0);
    }
}

SC_AVX2 void sc_gemm_avx2(const float *Ap, int K, int m0, int m1, int N, const float *B, int ldb,
                          float *C, int ldc, const sc_gemm_epilogue *ep, float *bp) {
    tile_store t;
    memset(&t, 0, sizeof t);
    t.relu = ep ? ep->relu : 0, t.gelu = ep ? ep->gelu : 0;
    for (int n0 = 0, nc; n0 < N; n0 += nc) {
        nc = block_cols(N, n0);
        for (int k0 = 0; k0 < K; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            pack_b(B, ldb, k0, kc, n0, nc, bp);
            t.accumulate = k0 > 0, t.last = k0 + kc >= K;
            const int tiles = (nc + NR - 1) / NR, panel_bytes = kc * MR * (int)sizeof(float);
            for (int i = m0; i < m1; i += MR) {
                const float *ap = Ap + (size_t)(i / MR) * K * MR + (size_t)k0 * MR;
                /* the next A panel's block, a share of it before each tile */
                const char *next = i + MR < m1 ? (const char *)(ap + (size_t)K * MR) : NULL;
                const int rows = m1 - i < MR ? m1 - i : MR;
                for (int j = 0; j < nc; j += NR) {
                    const int w = nc - j < NR ? nc - j : NR;
                    if (next)
                        for (int o = panel_bytes * (j / NR) / tiles,
                                 e = panel_bytes * (j / NR + 1) / tiles;
                             o < e; o += 64)
                            _mm_prefetch(next + o, _MM_HINT_T0);
                    t.full = w == NR;
                    t.m[0] = sc_v8_lanes(w), t.m[1] = sc_v8_lanes(w - 8),
                    t.m[2] = sc_v8_lanes(w - 16);
                    const size_t at = (size_t)i * ldc + n0 + j;
                    const float *bj = bp + (size_t)j * kc;
                    if (w <= 8) {
                        t.mr = rows;
                        t.bias = ep && ep->bias ? ep->bias + i : NULL;
                        t.res = ep && ep->res ? ep->res + at : NULL;
                        tile_8x8t(kc, ap, bj, C + at, ldc, &t);
                        continue;
                    }
                    for (int h = 0; h < MR && h < rows; h += 4) {
                        t.mr = rows - h < 4 ? rows - h : 4;
                        t.bias = ep && ep->bias ? ep->bias + i + h : NULL;
                        t.res = ep && ep->res ? ep->res + at + (size_t)h * ldc : NULL;
                        tile_4x24(kc, ap + h, bj, C + at + (size_t)h * ldc, ldc, &t);
                    }
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- attention */
enum { QB = SC_ATTN_AVX2_QB };

#define SCORE_STORE(r)                                                                             \
    if (r < mr) {                                                                                  \
        float *d = sr + (size_t)r * QB;                                                            \
        _mm256_storeu_ps(d, c##r##0), _mm256_storeu_ps(d + 8, c##r##1);                            \
        _mm256_storeu_ps(d + 16, c##r##2);                                                         \
        mx0 = _mm256_max_ps(c##r##0, mx0), mx1 = _mm256_max_ps(c##r##1, mx1);                      \
        mx2 = _mm256_max_ps(c##r##2, mx2);                                                         \
    }
#define CTX_STORE(r)                                                                               \
    if (r < mr) {                                                                                  \
        float *d = cb + (size_t)r * ldc;                                                           \
        const __m256 v0 = _mm256_mul_ps(c##r##0, inv0), v1 = _mm256_mul_ps(c##r##1, inv1),         \
                     v2 = _mm256_mul_ps(c##r##2, inv2);                                            \
        if (nb == QB) {                                                                            \
            _mm256_storeu_ps(d, v0), _mm256_storeu_ps(d + 8, v1), _mm256_storeu_ps(d + 16, v2);    \
        } else {                                                                                   \
            _mm256_maskstore_ps(d, m0, v0), _mm256_maskstore_ps(d + 8, m1, v1);                    \
            _mm256_maskstore_ps(d + 16, m2, v2);                                                   \
        }                                                                                          \
    }

/* As gemm_packed.c's AVX-512 attn_block: scores of each 4-key half panel
 * with the running maximum per query, exp and sums, then the context of
 * each 4-feature half panel scaled by 1 / sum in the store. */
SC_AVX2 void sc_attn_block_avx2(int L, int dh, const float *kp, const float *vp, const float *q,
                                int ld, int n0, int nb, float *qp, float *s, float *ctx, int ldc) {
    const __m256i m0 = sc_v8_lanes(nb), m1 = sc_v8_lanes(nb - 8), m2 = sc_v8_lanes(nb - 16);
    for (int c = 0; c < dh; c++) { /* the block's queries, zero padded */
        const float *src = q + (size_t)c * ld + n0;
        float *d = qp + (size_t)c * QB;
        _mm256_storeu_ps(d, _mm256_maskload_ps(src, m0));
        _mm256_storeu_ps(d + 8, _mm256_maskload_ps(src + 8, m1));
        _mm256_storeu_ps(d + 16, _mm256_maskload_ps(src + 16, m2));
    }
    __m256 mx0 = _mm256_set1_ps(-INFINITY), mx1 = mx0, mx2 = mx0;
    for (int r0 = 0; r0 < L; r0 += 4) {
        const float *ap = kp + (size_t)(r0 / MR) * dh * MR + r0 % MR, *bp = qp;
        float *sr = s + (size_t)r0 * QB;
        const int mr = L - r0 < 4 ? L - r0 : 4;
        // clang-format off
        TILE_LOOP(dh)
        FOUR_ROWS(SCORE_STORE)
        // clang-format on
    }
    __m256 sum0 = _mm256_setzero_ps(), sum1 = sum0, sum2 = sum0;
    for (int t = 0; t < L; t++) {
        float *sr = s + (size_t)t * QB;
        const __m256 e0 = sc_v8_exp(_mm256_sub_ps(_mm256_loadu_ps(sr), mx0));
        const __m256 e1 = sc_v8_exp(_mm256_sub_ps(_mm256_loadu_ps(sr + 8), mx1));
        const __m256 e2 = sc_v8_exp(_mm256_sub_ps(_mm256_loadu_ps(sr + 16), mx2));
        _mm256_storeu_ps(sr, e0), _mm256_storeu_ps(sr + 8, e1), _mm256_storeu_ps(sr + 16, e2);
        sum0 = _mm256_add_ps(sum0, e0), sum1 = _mm256_add_ps(sum1, e1);
        sum2 = _mm256_add_ps(sum2, e2);
    }
    const __m256 one = _mm256_set1_ps(1.0f), inv0 = _mm256_div_ps(one, sum0),
                 inv1 = _mm256_div_ps(one, sum1), inv2 = _mm256_div_ps(one, sum2);
    for (int r0 = 0; r0 < dh; r0 += 4) {
        const float *ap = vp + (size_t)(r0 / MR) * L * MR + r0 % MR, *bp = s;
        float *cb = ctx + (size_t)r0 * ldc + n0;
        const int mr = dh - r0 < 4 ? dh - r0 : 4;
        // clang-format off
        TILE_LOOP(L)
        FOUR_ROWS(CTX_STORE)
        // clang-format on
    }
}
#endif
