/* saccade: a plain float32 tensor and an arena allocator.
 *
 * Layout conventions (used by every kernel in sc_nn.h / sc_ops.h):
 *   - row-major ("C order") contiguous unless a view says otherwise;
 *     strides are in ELEMENTS, not bytes;
 *   - images / feature maps are NCHW: (batch, channels, height, width);
 *   - feature grids and sequences are (B, L, D): batch, positions, features
 *     (a CxHxW map becomes L = H*W positions of D = C features after a
 *     transpose);
 *   - linear weights are (out, in) and conv weights (OC, IC/groups, KH, KW),
 *     exactly as PyTorch stores them.
 * The tensor is deliberately small: kernels take raw float pointers and
 * explicit dims; sc_tensor only carries shape information between them. */
#ifndef SACCADE_SC_TENSOR_H
#define SACCADE_SC_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_TENSOR_MAX_DIMS 8

typedef struct sc_tensor {
    float *data;
    int ndim;                            /* 0..SC_TENSOR_MAX_DIMS (0 = scalar) */
    int64_t shape[SC_TENSOR_MAX_DIMS];   /* unused entries are 1 */
    int64_t strides[SC_TENSOR_MAX_DIMS]; /* in elements; unused entries are 1 */
    int owns_data;                       /* 1 if sc_tensor_free releases data */
} sc_tensor;

/* Product of the shape (1 for a scalar). */
size_t sc_tensor_numel(const sc_tensor *t);
/* 1 if the strides are the row-major contiguous strides of the shape. */
int sc_tensor_is_contiguous(const sc_tensor *t);

/* Owning, zero-filled, contiguous tensor (64-byte aligned data). Fails with
 * SC_ERR_INVALID_ARG for a bad ndim or a negative dim, SC_ERR_LIMIT if the
 * byte size overflows, SC_ERR_NOMEM if allocation fails (t is then empty). */
sc_status sc_tensor_create(sc_tensor *t, int ndim, const int64_t *shape);
/* Releases owned data (nothing for views) and empties t. NULL is fine. */
void sc_tensor_free(sc_tensor *t);
/* Non-owning contiguous view of caller memory (data may be NULL only when
 * the shape has zero elements). */
sc_status sc_tensor_view(sc_tensor *t, float *data, int ndim, const int64_t *shape);
/* Non-owning view of a contiguous tensor with a new shape of the same numel.
 * One entry of shape may be -1 (inferred). out may alias t. */
sc_status sc_tensor_reshape(const sc_tensor *t, int ndim, const int64_t *shape, sc_tensor *out);

/* ---- Arena -------------------------------------------------------------
 * A bump allocator over one 64-byte-aligned block: sc_arena_alloc hands out
 * 64-byte-aligned pieces; sc_arena_mark / sc_arena_reset release everything
 * allocated after a mark in one step (scratch for a layer, activations of a
 * forward pass). Nothing is freed individually. Not thread-safe: one arena
 * per thread (allocate before a parallel region).
 *
 * PLANNING: sc_arena_plan() makes an arena that owns no memory. Its
 * sc_arena_alloc performs the same bookkeeping (alignment, used, peak,
 * mark/reset) but returns a pointer to a shared dummy block that callers
 * MUST NOT read or write. A model provides a `_plan` function that performs
 * exactly the sc_arena_alloc / mark / reset sequence of its forward pass for
 * a given input size, without running any kernel; sc_arena_peak() then gives
 * the size to pass to sc_arena_create(), after which the real forward pass
 * does no malloc. Use sc_arena_is_plan() to assert which mode you are in.
 * Every size is rounded up to a multiple of 64, so the plan's peak equals
 * the real arena's peak for the same sequence. */
typedef struct sc_arena sc_arena;

/* Real arena with `capacity` bytes (rounded up to 64). NULL + error on failure. */
sc_arena *sc_arena_create(size_t capacity);
/* Planning arena (unbounded, no memory). NULL + error on failure. */
sc_arena *sc_arena_plan(void);
void sc_arena_free(sc_arena *a);
int sc_arena_is_plan(const sc_arena *a);

/* 64-byte-aligned block of `bytes` (0 is allowed and returns a valid
 * pointer). Real arena: NULL with SC_ERR_NOMEM naming the request and the
 * space left when it does not fit (the arena is unchanged). Planning arena:
 * the dummy pointer (never NULL unless the size overflows). */
void *sc_arena_alloc(sc_arena *a, size_t bytes);
/* Same for n floats (overflow-checked). */
float *sc_arena_alloc_floats(sc_arena *a, size_t n);
/* Contiguous tensor whose data lives in the arena (not owned; contents
 * undefined; in plan mode data is the dummy). */
sc_status sc_arena_tensor(sc_arena *a, sc_tensor *t, int ndim, const int64_t *shape);

typedef size_t sc_arena_mark_t;
sc_arena_mark_t sc_arena_mark(const sc_arena *a);
/* Release everything allocated after `mark` (a value from sc_arena_mark on
 * the same arena; a mark beyond the current use is ignored). */
void sc_arena_reset(sc_arena *a, sc_arena_mark_t mark);
size_t sc_arena_used(const sc_arena *a);
/* Highest `used` seen since creation (or sc_arena_reset_peak). */
size_t sc_arena_peak(const sc_arena *a);
void sc_arena_reset_peak(sc_arena *a);
/* Capacity in bytes (SIZE_MAX for a planning arena). */
size_t sc_arena_capacity(const sc_arena *a);

#ifdef __cplusplus
}
#endif
#endif
