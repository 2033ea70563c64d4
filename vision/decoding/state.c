/* The decoders' inference memory: planning and beam reordering (decoding.h). */
#include <string.h>
#include "saccade/sc_tensor.h"
#include "decoding/decoding.h"
#include "sc_internal.h"

/* a * b * c * d floats, SIZE_MAX on overflow (the arena then refuses it) */
static size_t nfl(size_t a, size_t b, size_t c, size_t d) {
    size_t r;
    if (sc_mul_size(a, b, &r) || sc_mul_size(r, c, &r) || sc_mul_size(r, d, &r)) return SIZE_MAX;
    return r;
}

static sc_status carve(dec_state *s, sc_arena *a, const dec_dims *d, int rows, int cap, int n_new) {
    const size_t L = (size_t)d->layers, D = (size_t)d->D, F = (size_t)d->F, V = (size_t)d->V,
                 H = (size_t)d->H, Ti = (size_t)d->Ti;
    /* work rows: the first call's rows x n_new, or one row of up to cap tokens */
    const size_t R = SC_MAX((size_t)rows * (size_t)n_new, (size_t)cap), K = SC_MAX((size_t)cap, Ti);
    float **kv[4] = {&s->self_k, &s->self_v, &s->self_k2, &s->self_v2};
    for (int i = 0; i < 4; i++)
        if (!(*kv[i] = sc_arena_alloc_floats(a, nfl(L, (size_t)rows, (size_t)cap, D))))
            return SC_ERR_NOMEM;
    if (!(s->img_k = sc_arena_alloc_floats(a, nfl(L, Ti, D, 1))) ||
        !(s->img_v = sc_arena_alloc_floats(a, nfl(L, Ti, D, 1))))
        return SC_ERR_NOMEM;
    float **rowbufs[5] = {&s->h, &s->h2, &s->q, &s->ctx, &s->tmp};
    for (int i = 0; i < 5; i++)
        if (!(*rowbufs[i] = sc_arena_alloc_floats(a, nfl(R, D, 1, 1)))) return SC_ERR_NOMEM;
    if (!(s->ff = sc_arena_alloc_floats(a, nfl(R, F, 1, 1))) ||
        !(s->scores = sc_arena_alloc_floats(a, nfl(R, K, 1, 1))) ||
        !(s->cross = sc_arena_alloc_floats(a, nfl(R, L, H, Ti))) ||
        !(s->logits = sc_arena_alloc_floats(a, nfl(R, V, 1, 1))) ||
        !(s->image = sc_arena_alloc_floats(a, nfl(Ti, (size_t)d->Dv, 1, 1))))
        return SC_ERR_NOMEM;
    s->rows = rows, s->cap = cap, s->work_rows = (int)R, s->len = 0;
    return SC_OK;
}

sc_status dec_plan(dec_state *s, sc_arena **arena, const dec_dims *d, int rows, int cap, int n_new,
                   int *replanned, const char *who) {
    *replanned = 0;
    if (rows <= 0 || cap <= 0 || n_new <= 0 || n_new > cap)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad plan %d x %d (%d new)", who, rows, cap,
                            n_new);
    if (*arena && rows <= s->rows && cap <= s->cap && rows * n_new <= s->work_rows) {
        s->len = 0; /* the planned buffers are big enough (strides stay the planned ones) */
        return SC_OK;
    }
    int r = SC_MAX(rows, *arena ? s->rows : 0), c = SC_MAX(cap, *arena ? s->cap : 0),
        n = SC_MAX(n_new, *arena ? s->work_rows / r : 0);
    sc_arena *plan = sc_arena_plan();
    if (!plan) return SC_ERR_NOMEM; /* the error is set */
    dec_state probe = {0};
    sc_status st = carve(&probe, plan, d, r, c, n);
    size_t peak = sc_arena_peak(plan);
    sc_arena_free(plan);
    if (st)
        return sc_set_error(SC_ERR_LIMIT, "%s: decoding state for %d x %d too large", who, r, c);
    sc_arena *a = sc_arena_create(peak);
    if (!a) return SC_ERR_NOMEM;
    sc_arena_free(*arena);
    *arena = a;
    *replanned = 1;
    SC_ASSERT(carve(s, a, d, r, c, n) == SC_OK);
    return SC_OK;
}

void dec_reorder(dec_state *s, int layers, int D, int rows, const int *src) {
    const size_t row = (size_t)s->cap * D, layer = (size_t)s->rows * row, used = (size_t)s->len * D;
    for (int l = 0; l < layers; l++)
        for (int r = 0; r < rows; r++) {
            memcpy(s->self_k2 + l * layer + r * row, s->self_k + l * layer + src[r] * row,
                   used * sizeof(float));
            memcpy(s->self_v2 + l * layer + r * row, s->self_v + l * layer + src[r] * row,
                   used * sizeof(float));
        }
    float *k = s->self_k, *v = s->self_v;
    s->self_k = s->self_k2, s->self_v = s->self_v2;
    s->self_k2 = k, s->self_v2 = v;
}
