/* Seeded mini-batch iterator (see include/saccade/sc_batcher.h). */
#include <limits.h>
#include <string.h>
#include "saccade/sc_batcher.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_util.h"

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

sc_status sc_batcher_init(sc_batcher *b, size_t n, size_t batch_size, int shuffle, int drop_last,
                          uint64_t seed) {
    if (!b) return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_init: batcher is NULL");
    memset(b, 0, sizeof *b);
    b->epoch = -1;
    if (batch_size == 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_init: batch_size must be > 0");
    if (n > INT_MAX)
        return sc_set_error(SC_ERR_LIMIT, "sc_batcher_init: %zu examples exceed the limit of %d", n,
                            INT_MAX);
    b->order = sc_malloc((n ? n : 1) * sizeof(int));
    if (!b->order) return sc_set_error(SC_ERR_NOMEM, "sc_batcher_init: out of memory");
    b->n = n;
    b->batch_size = batch_size;
    b->shuffle = shuffle != 0;
    b->drop_last = drop_last != 0;
    b->seed = seed;
    return SC_OK;
}

void sc_batcher_free(sc_batcher *b) {
    if (!b) return;
    sc_free(b->order);
    memset(b, 0, sizeof *b);
    b->epoch = -1;
}

sc_status sc_batcher_set_epoch(sc_batcher *b, int64_t epoch) {
    if (!b || !b->order)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_set_epoch: batcher not initialised");
    if (epoch < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_set_epoch: epoch %lld is negative",
                            (long long)epoch);
    if (epoch == b->epoch) return SC_OK;
    for (size_t i = 0; i < b->n; i++) b->order[i] = (int)i;
    if (b->shuffle) {
        sc_rng r;
        sc_rng_seed(&r, mix64(mix64(b->seed) ^ (uint64_t)epoch));
        sc_rng_shuffle(&r, b->order, (int)b->n);
    }
    b->epoch = epoch;
    return SC_OK;
}

size_t sc_batcher_num_batches(const sc_batcher *b) {
    if (!b || !b->batch_size) return 0;
    return b->drop_last ? b->n / b->batch_size : (b->n + b->batch_size - 1) / b->batch_size;
}

sc_status sc_batcher_get(const sc_batcher *b, size_t step, const int **idx, size_t *count) {
    if (!b || !idx || !count)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_get: NULL argument");
    *idx = NULL;
    *count = 0;
    if (b->epoch < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_get: call sc_batcher_set_epoch first");
    size_t nb = sc_batcher_num_batches(b);
    if (step >= nb)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_batcher_get: step %zu out of range (%zu "
                            "batches per epoch)",
                            step, nb);
    size_t start = step * b->batch_size;
    size_t left = b->n - start;
    *idx = b->order + start;
    *count = left < b->batch_size ? left : b->batch_size;
    return SC_OK;
}

sc_status sc_batcher_locate(const sc_batcher *b, uint64_t global_step, int64_t *epoch,
                            size_t *step) {
    if (!b || !epoch || !step)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_batcher_locate: NULL argument");
    size_t nb = sc_batcher_num_batches(b);
    if (nb == 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_batcher_locate: an epoch has no batches "
                            "(%zu examples, batch size %zu%s)",
                            b->n, b->batch_size, b->drop_last ? ", drop_last" : "");
    uint64_t e = global_step / nb;
    if (e > (uint64_t)INT64_MAX)
        return sc_set_error(SC_ERR_LIMIT, "sc_batcher_locate: epoch overflow");
    *epoch = (int64_t)e;
    *step = (size_t)(global_step % nb);
    return SC_OK;
}
