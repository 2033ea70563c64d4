/* saccade: seeded mini-batch index iterator for training loops.
 *
 * Each epoch e uses a permutation of 0..n-1 drawn from an sc_rng seeded from
 * (seed, e) only, so resuming at (epoch, step) reproduces exactly the batches
 * an uninterrupted run would have seen, without saving generator state. */
#ifndef SACCADE_SC_BATCHER_H
#define SACCADE_SC_BATCHER_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_batcher {
    size_t n;          /* dataset size (<= INT_MAX) */
    size_t batch_size; /* > 0 */
    int shuffle;       /* 0: indices in order every epoch */
    int drop_last;     /* 1: skip the final partial batch */
    uint64_t seed;
    int64_t epoch; /* epoch of `order`; -1 until sc_batcher_set_epoch */
    int *order;    /* permutation for `epoch` (owned) */
} sc_batcher;

sc_status sc_batcher_init(sc_batcher *b, size_t n, size_t batch_size, int shuffle, int drop_last,
                          uint64_t seed);
void sc_batcher_free(sc_batcher *b);
/* Build the order of epoch `epoch` (>= 0). Cheap to call again for the same epoch. */
sc_status sc_batcher_set_epoch(sc_batcher *b, int64_t epoch);
/* Batches per epoch: ceil(n / batch_size), or floor with drop_last. */
size_t sc_batcher_num_batches(const sc_batcher *b);
/* Indices of batch `step` of the current epoch: *idx points into the
 * batcher (valid until the next set_epoch / free), *count is batch_size or
 * less for a final partial batch. */
sc_status sc_batcher_get(const sc_batcher *b, size_t step, const int **idx, size_t *count);
/* Split a global step count (batches since the start of training) into
 * (epoch, step within epoch) for resuming. */
sc_status sc_batcher_locate(const sc_batcher *b, uint64_t global_step, int64_t *epoch,
                            size_t *step);

#ifdef __cplusplus
}
#endif
#endif
