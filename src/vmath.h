/* Vectorised exp and exact (erf) GELU for the inference kernels, 16 floats
 * at a time with AVX-512F or 8 with AVX2 and FMA; callers pick these or the
 * scalar loops at run time (sc_vmath_level). Internal to the library.
 *
 * exp: Cephes' expf (x = n ln2 + r, |r| <= ln2 / 2, degree-6 polynomial,
 * the 2^n scaling by vscalefps, or with AVX2 by two exact multiplications
 * by 2^(n/2)-ish powers built in the exponent bits, so that results down to
 * the subnormals are right and below them 0): within 2 ulp of the exact
 * value. Both forms run the same operations, so that they round alike.
 *
 * GELU: 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2), with erfc by
 * the Chebyshev fit of Numerical Recipes (erfcc: t = 1 / (1 + |z| / 2),
 * erfc = t exp(-z^2 + P(t)), fractional error below 1.2e-7 for every z).
 * Written through erfc, nothing cancels for negative x, where 1 + erf
 * would: in float the result is within 2e-6 relative of the exact GELU, or
 * 1e-9 absolute far in the negative tail (the rounding of z^2 inside exp),
 * against libm's erfc in double (tests/unit/test_tel_packed.c). */
#ifndef SACCADE_VMATH_H
#define SACCADE_VMATH_H

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SC_VMATH_HAVE_AVX512 1
#include <immintrin.h>
#define SC_VMATH_AVX512 __attribute__((target("avx512f")))
#define SC_VMATH_AVX2 __attribute__((target("avx2,fma")))
#else
#define SC_VMATH_HAVE_AVX512 0
#endif

/* Which forms run (and sc_attn_head): 2 the AVX-512 ones, 1 the AVX2 ones,
 * 0 the scalar loops (no AVX2 and FMA, or SACCADE_GEMM=openblas); decided
 * with sc_gemm_packed's kernel (src/gemm_packed.c). */
int sc_vmath_level(void);
static inline int sc_vmath_avx512(void) {
    return sc_vmath_level() == 2;
}

/* y[i] = gelu(x[i]) (erf form), n floats; y may be x. */
void sc_vgelu(float *y, const float *x, size_t n);

#if SC_VMATH_HAVE_AVX512
/* Cephes expf's polynomial in r and erfcc's in t, highest degree first. */
static const float sc_vm_exp_poly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                        4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};
static const float sc_vm_erfc_poly[10] = {0.17087277f, -0.82215223f, 1.48851587f, -1.13520398f,
                                          0.27886807f, -0.18628806f, 0.09678418f, 0.37409196f,
                                          1.00002368f, -1.26551223f};

SC_VMATH_AVX512 static inline __m512 sc_v_exp(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    /* operands in this order so that a NaN x stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_set1_ps(sc_vm_exp_poly[0]);
    for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(sc_vm_exp_poly[i]));
    const __m512 y =
        _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

SC_VMATH_AVX512 static inline __m512 sc_v_gelu(__m512 x) {
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(-0.70710678118654752f));
    const __m512 az = _mm512_abs_ps(z);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(az, _mm512_set1_ps(0.5f), one));
    __m512 p = _mm512_set1_ps(sc_vm_erfc_poly[0]);
    for (int i = 1; i < 10; i++) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(sc_vm_erfc_poly[i]));
    p = _mm512_fnmadd_ps(az, az, p);
    const __m512 e = _mm512_mul_ps(t, sc_v_exp(p)); /* erfc(|z|) */
    const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 erfc = _mm512_mask_sub_ps(e, neg, _mm512_set1_ps(2.0f), e);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), erfc);
}

static const int sc_vm_lanes[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* Mask of lanes [0, w) of an 8-float vector (w clamped to 0..8), for the
 * AVX2 masked loads and stores of partial vectors. */
SC_VMATH_AVX2 static inline __m256i sc_v8_lanes(int w) {
    w = w < 0 ? 0 : w > 8 ? 8 : w;
    return _mm256_loadu_si256((const __m256i *)(sc_vm_lanes + 8 - w));
}

/* 2^n for integer-valued n in [-126, 127], built in the exponent bits. */
SC_VMATH_AVX2 static inline __m256 sc_v8_pow2i(__m256 n) {
    const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

/* sc_v_exp, 8 lanes: y 2^n as y 2^(n - n/2) 2^(n/2) (n in [-150, 128]: both
 * factors normal, the first product exact, the second rounding once as
 * vscalefps does). */
SC_VMATH_AVX2 static inline __m256 sc_v8_exp(__m256 x) {
    const __m256 log2e = _mm256_set1_ps(1.44269504088896341f);
    const __m256 ln2_hi = _mm256_set1_ps(0.693359375f), ln2_lo = _mm256_set1_ps(-2.12194440e-4f);
    /* operands in this order so that a NaN x stays NaN */
    x = _mm256_min_ps(_mm256_set1_ps(88.7f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    const __m256 n =
        _mm256_round_ps(_mm256_mul_ps(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, ln2_hi, x);
    r = _mm256_fnmadd_ps(n, ln2_lo, r);
    __m256 p = _mm256_set1_ps(sc_vm_exp_poly[0]);
    for (int i = 1; i < 6; i++) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(sc_vm_exp_poly[i]));
    const __m256 y =
        _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256 half = _mm256_round_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)),
                                        _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    /* (a NaN x gives garbage exponents from the conversion, and y is NaN) */
    return _mm256_mul_ps(_mm256_mul_ps(y, sc_v8_pow2i(_mm256_sub_ps(n, half))), sc_v8_pow2i(half));
}

/* sc_v_gelu, 8 lanes. */
SC_VMATH_AVX2 static inline __m256 sc_v8_gelu(__m256 x) {
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(-0.70710678118654752f));
    const __m256 az = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(az, _mm256_set1_ps(0.5f), one));
    __m256 p = _mm256_set1_ps(sc_vm_erfc_poly[0]);
    for (int i = 1; i < 10; i++) p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(sc_vm_erfc_poly[i]));
    p = _mm256_fnmadd_ps(az, az, p);
    const __m256 e = _mm256_mul_ps(t, sc_v8_exp(p)); /* erfc(|z|) */
    const __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 erfc = _mm256_blendv_ps(e, _mm256_sub_ps(_mm256_set1_ps(2.0f), e), neg);
    return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x), erfc);
}
#endif

#endif
