/* Embedding lookup and its deterministic backward. */
#include <string.h>
#include "saccade/sc_ops.h"
#include "sc_internal.h"

static sc_status check_ids(const char *fn, const int32_t *ids, int n, int vocab) {
    for (int b = 0; b < n; b++)
        if (ids[b] < 0 || ids[b] >= vocab)
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: ids[%d] = %d is outside [0, %d)", fn, b,
                                (int)ids[b], vocab);
    return SC_OK;
}

static sc_status check_common(const char *fn, const int32_t *ids, int n, const void *W, int vocab,
                              int dim, const void *out) {
    if (!ids || !W || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: ids, table and output must not be NULL", fn);
    if (n <= 0 || vocab <= 0 || dim <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: n (%d), vocab (%d) and dim (%d) must be > 0",
                            fn, n, vocab, dim);
    size_t t;
    if (sc_mul_size((size_t)vocab, (size_t)dim, &t) || sc_mul_size((size_t)n, (size_t)dim, &t) ||
        sc_mul_size(t, sizeof(float), &t))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: sizes overflow", fn);
    return check_ids(fn, ids, n, vocab);
}

sc_status sc_embedding_forward(const int32_t *ids, int n, const float *W, int vocab, int dim,
                               float *out) {
    sc_status st = check_common("sc_embedding_forward", ids, n, W, vocab, dim, out);
    if (st != SC_OK) return st;
#pragma omp parallel for schedule(static) if (n * (size_t)dim > 65536)
    for (int b = 0; b < n; b++)
        memcpy(out + (size_t)b * dim, W + (size_t)ids[b] * dim, (size_t)dim * sizeof(float));
    return SC_OK;
}

#define EMB_COL_BLOCK 64

sc_status sc_embedding_backward(const int32_t *ids, int n, const float *dout, int vocab, int dim,
                                int padding_idx, float *dW) {
    sc_status st = check_common("sc_embedding_backward", ids, n, dout, vocab, dim, dW);
    if (st != SC_OK) return st;
    if (padding_idx >= vocab)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_embedding_backward: padding_idx %d is outside [0, %d)", padding_idx,
                            vocab);
    /* Each column block is owned by one thread, which adds the tokens in
     * order: no races, and the summation order never depends on threads. */
    int nblocks = (dim + EMB_COL_BLOCK - 1) / EMB_COL_BLOCK;
#pragma omp parallel for schedule(static) if (n * (size_t)dim > 65536)
    for (int blk = 0; blk < nblocks; blk++) {
        int c0 = blk * EMB_COL_BLOCK, c1 = SC_MIN(dim, c0 + EMB_COL_BLOCK);
        for (int b = 0; b < n; b++) {
            if (ids[b] == padding_idx) continue;
            float *dst = dW + (size_t)ids[b] * dim;
            const float *src = dout + (size_t)b * dim;
            for (int c = c0; c < c1; c++) dst[c] += src[c];
        }
    }
    return SC_OK;
}
