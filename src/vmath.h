/* Vectorised exp and exact (erf) GELU for the inference kernels, 16 floats
 * at a time with AVX-512F; callers pick these or the scalar loops at run
 * time (sc_vmath_avx512). Internal to the library.
 *
 * exp: Cephes' expf (x = n ln2 + r, |r| <= ln2 / 2, degree-6 polynomial,
 * the 2^n scaling by vscalefps so that results down to the subnormals are
 * right and below them 0): within 2 ulp of the exact value.
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
#else
#define SC_VMATH_HAVE_AVX512 0
#endif

/* 1 when the AVX-512 forms run (the CPU has AVX-512F and SACCADE_GEMM is
 * not "openblas": the same switch as sc_gemm_packed's kernel). */
int sc_vmath_avx512(void);

/* y[i] = gelu(x[i]) (erf form), n floats; y may be x. */
void sc_vgelu(float *y, const float *x, size_t n);

#if SC_VMATH_HAVE_AVX512
SC_VMATH_AVX512 static inline __m512 sc_v_exp(__m512 x) {
    const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    /* operands in this order so that a NaN x stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, log2e),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, x);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y =
        _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

SC_VMATH_AVX512 static inline __m512 sc_v_gelu(__m512 x) {
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(-0.70710678118654752f));
    const __m512 az = _mm512_abs_ps(z);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(az, _mm512_set1_ps(0.5f), one));
    __m512 p = _mm512_set1_ps(0.17087277f);
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.82215223f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.48851587f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.13520398f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.27886807f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.18628806f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.09678418f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.37409196f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.00002368f));
    p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.26551223f));
    p = _mm512_fnmadd_ps(az, az, p);
    const __m512 e = _mm512_mul_ps(t, sc_v_exp(p)); /* erfc(|z|) */
    const __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 erfc = _mm512_mask_sub_ps(e, neg, _mm512_set1_ps(2.0f), e);
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), erfc);
}
#endif

#endif
