/* Helpers shared by the attention modules. */
#include <math.h>
#include <string.h>
#include "attn_internal.h"
#include "sc_internal.h"

size_t attn_prod(int n, const long long *f) {
    size_t p = 1;
    for (int i = 0; i < n; i++) {
        if (f[i] <= 0) return 0;
        if (sc_mul_size(p, (size_t)f[i], &p)) return 0;
    }
    /* keep byte counts representable too */
    if (p > SIZE_MAX / sizeof(float) / 8) return 0;
    return p;
}

/* exp(x - mx) for a row, branch-free: Cephes' expf (round-to-nearest range
 * reduction x = n ln2 + r with ln2 split in two, a degree-7 polynomial for
 * exp(r), then the exponent bits of 2^n), relative error below 2e-7.
 * Arguments below -87.3 (and -inf, from masked scores, and NaN) give exactly
 * 0. Returns the sum of the results, added in 8 interleaved partial sums
 * (deterministic). Four lanes at a time with GCC / Clang vector extensions;
 * the same formula per element otherwise. */
#define EXP_LO -87.3f
#define EXP_POLY(P, R)                                                                             \
    do {                                                                                           \
        P = P * R + 1.3981999507e-3f;                                                              \
        P = P * R + 8.3334519073e-3f;                                                              \
        P = P * R + 4.1665795894e-2f;                                                              \
        P = P * R + 1.6666665459e-1f;                                                              \
        P = P * R + 5.0000001201e-1f;                                                              \
        P = P * R * R + R + 1.0f;                                                                  \
    } while (0)

static inline float exp_one(float x) {
    if (!(x >= EXP_LO)) return 0.0f;
    float fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    EXP_POLY(p, r);
    int32_t bits = (int32_t)(((uint32_t)((int32_t)fn + 127)) << 23);
    float sc;
    memcpy(&sc, &bits, sizeof sc);
    return p * sc;
}

#if defined(__GNUC__) || defined(__clang__)
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f exp_v4(v4f x) {
    const v4i live = x >= EXP_LO; /* -1 where kept; false for NaN */
    x = (v4f)(((v4i)x & live) | ((v4i)(v4f){EXP_LO, EXP_LO, EXP_LO, EXP_LO} & ~live));
    v4f fn = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    v4f r = x - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    const float c7 = 1.9875691500e-4f;
    v4f p = {c7, c7, c7, c7};
    EXP_POLY(p, r);
    v4i e = __builtin_convertvector(fn, v4i) + 127;
    v4f sc = (v4f)(e << 23);
    return (v4f)((v4i)(p * sc) & live);
}
#endif

float attn_exp_sum(float *a, int n, float mx) {
    int j = 0;
    float sum = 0.0f;
#if defined(__GNUC__) || defined(__clang__)
    v4f s0 = {0, 0, 0, 0}, s1 = {0, 0, 0, 0};
    for (; j + 8 <= n; j += 8) {
        v4f x0, x1;
        memcpy(&x0, a + j, sizeof x0);
        memcpy(&x1, a + j + 4, sizeof x1);
        x0 = exp_v4(x0 - mx);
        x1 = exp_v4(x1 - mx);
        memcpy(a + j, &x0, sizeof x0);
        memcpy(a + j + 4, &x1, sizeof x1);
        s0 += x0;
        s1 += x1;
    }
    sum = ((s0[0] + s0[1]) + (s0[2] + s0[3])) + ((s1[0] + s1[1]) + (s1[2] + s1[3]));
#endif
    for (; j < n; j++) {
        a[j] = exp_one(a[j] - mx);
        sum += a[j];
    }
    return sum;
}
