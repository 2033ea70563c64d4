/* Internal helpers shared by src/ and vision/ (not installed). */
#ifndef SACCADE_SC_INTERNAL_H
#define SACCADE_SC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_util.h"

/* SC_ASSERT guards internal invariants only (never user input). It stays on
 * in every build: a broken invariant is a bug we want reported loudly. */
void sc_assert_fail(const char *expr, const char *file, int line);
#define SC_ASSERT(e) ((e) ? (void)0 : sc_assert_fail(#e, __FILE__, __LINE__))

#define SC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SC_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Overflow-checked size arithmetic: return 0 on success, nonzero on overflow. */
/* Centre of cell j of n equal cells spanning [-1, 1] (grid coordinates of
 * CoordConv channels, attention cells, grid_sample with align_corners=False). */
static inline float sc_cell_centre(int j, int n) {
    return 2.0f * ((float)j + 0.5f) / (float)n - 1.0f;
}
/* The expected cell centre under weights p over a g x g row-major grid:
 * xy[0] = sum_i p_i x_i, xy[1] = sum_i p_i y_i (an attention map's position). */
static inline void sc_expected_cell(const float *p, int g, float *xy) {
    double cx = 0, cy = 0;
    for (int i = 0; i < g * g; i++) {
        cx += (double)p[i] * sc_cell_centre(i % g, g);
        cy += (double)p[i] * sc_cell_centre(i / g, g);
    }
    xy[0] = (float)cx;
    xy[1] = (float)cy;
}

/* Seconds on the monotonic clock (for intervals). */
double sc_monotonic_seconds(void);

static inline int sc_mul_size(size_t a, size_t b, size_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline int sc_add_size(size_t a, size_t b, size_t *out) {
    return __builtin_add_overflow(a, b, out);
}

/* Every tensor of st whose name starts with prefix must be one of the given
 * parameters or buffers (PyTorch's "*.num_batches_tracked" excepted);
 * otherwise SC_ERR_FORMAT "<path>: tensor X is not part of <what>". For model
 * loaders that refuse stray tensors (a typo must not be silently ignored). */
struct sc_safetensors;
struct sc_param;
sc_status sc_st_check_known_tensors(struct sc_safetensors *st, const char *path, const char *prefix,
                                    const struct sc_param *a, size_t na, const struct sc_param *b,
                                    size_t nb, const char *what);

/* SC_OK when every value of the planar (n, c, h, w) images x is finite;
 * otherwise SC_ERR_INVALID_ARG "<what>: pixel (x, y) of channel c [of image
 * i] is NaN / infinite" for the first such value. Model entry points refuse
 * such input rather than answer from it. */
sc_status sc_check_finite_images(const char *what, const float *x, size_t n, int c, int h, int w);

/* OpenBLAS single-threaded around a parallel region of our own whose
 * threads call sc_sgemm on their share (blas.c). Pass what begin returned to
 * sc_blas_serial_end; sections nest and may overlap between host threads
 * (the thread count saved by the first is restored by the last). */
int sc_blas_serial_begin(void);
void sc_blas_serial_end(int prev);

/* Fork-join (par.c): runs fn(arg, tid, nt) for tid 0..nt-1, tid 0 in the
 * calling thread, the others on a persistent pool whose waits yield the CPU
 * (robust when the machine is busy, unlike OpenMP's spinning). Returns when
 * all are done. With nt <= 1, or when the pool is busy (another thread's job,
 * or called from inside a job), runs fn(arg, 0, 1) in the caller. */
typedef void (*sc_par_fn)(void *arg, int tid, int nt);
void sc_par_run(int nt, sc_par_fn fn, void *arg);
/* [*a, *b): share tid of nt of n items, boundaries on multiples of align. */
void sc_par_share(int n, int align, int tid, int nt, int *a, int *b);

/* Strict UTF-8 (as Python's decoder: no overlong forms, surrogates or code
 * points past U+10FFFF; sc_utf8_valid_prefix of sc_util.h checks a text),
 * util.c: length (1-4) of the sequence at s and its code point, 0 if invalid;
 * cp's encoding written to o (1-4 bytes). */
int sc_utf8_next(const unsigned char *s, size_t avail, uint32_t *cp);
size_t sc_utf8_put(uint32_t cp, char *o);

#endif
