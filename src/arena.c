/* Arena (bump) allocator with a planning mode (see include/saccade/sc_tensor.h). */
#include <string.h>
#include "saccade/sc_tensor.h"
#include "sc_internal.h"

struct sc_arena {
    unsigned char *base; /* NULL for a planning arena */
    size_t capacity;
    size_t used;
    size_t peak;
    int plan;
};

/* What a planning arena hands out: callers must not touch it. */
static _Alignas(64) unsigned char plan_dummy[64];

static int round64(size_t n, size_t *out) {
    size_t r;
    if (sc_add_size(n, 63, &r)) return 1;
    *out = r & ~(size_t)63;
    return 0;
}

sc_arena *sc_arena_create(size_t capacity) {
    size_t cap;
    if (round64(capacity, &cap)) {
        sc_set_error(SC_ERR_LIMIT, "sc_arena_create: capacity %zu overflows", capacity);
        return NULL;
    }
    sc_arena *a = sc_calloc(1, sizeof *a);
    if (!a) return NULL;
    a->base = sc_malloc(cap ? cap : 64);
    if (!a->base) {
        sc_free(a);
        return NULL;
    }
    a->capacity = cap;
    return a;
}

sc_arena *sc_arena_plan(void) {
    sc_arena *a = sc_calloc(1, sizeof *a);
    if (!a) return NULL;
    a->plan = 1;
    a->capacity = SIZE_MAX;
    return a;
}

void sc_arena_free(sc_arena *a) {
    if (!a) return;
    sc_free(a->base);
    sc_free(a);
}

int sc_arena_is_plan(const sc_arena *a) {
    return a && a->plan;
}

void *sc_arena_alloc(sc_arena *a, size_t bytes) {
    if (!a) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_arena_alloc: arena is NULL");
        return NULL;
    }
    size_t r, end;
    if (round64(bytes, &r) || sc_add_size(a->used, r, &end)) {
        sc_set_error(SC_ERR_LIMIT, "sc_arena_alloc: request of %zu bytes overflows", bytes);
        return NULL;
    }
    if (!a->plan && end > a->capacity) {
        sc_set_error(SC_ERR_NOMEM,
                     "sc_arena_alloc: %zu bytes requested, %zu of %zu left (plan the arena with "
                     "sc_arena_plan for this input size)",
                     bytes, a->capacity - a->used, a->capacity);
        return NULL;
    }
    void *p = a->plan ? (void *)plan_dummy : (void *)(a->base + a->used);
    a->used = end;
    if (end > a->peak) a->peak = end;
    return p;
}

float *sc_arena_alloc_floats(sc_arena *a, size_t n) {
    size_t bytes;
    if (sc_mul_size(n, sizeof(float), &bytes)) {
        sc_set_error(SC_ERR_LIMIT, "sc_arena_alloc_floats: %zu floats overflow", n);
        return NULL;
    }
    return (float *)sc_arena_alloc(a, bytes);
}

sc_status sc_arena_tensor(sc_arena *a, sc_tensor *t, int ndim, const int64_t *shape) {
    if (!a || !t) return sc_set_error(SC_ERR_INVALID_ARG, "sc_arena_tensor: NULL argument");
    sc_tensor tmp;
    /* Validate the shape first with a NULL-free view of the dummy. */
    sc_status s = sc_tensor_view(&tmp, (float *)(void *)plan_dummy, ndim, shape);
    if (s) return s;
    float *d = sc_arena_alloc_floats(a, sc_tensor_numel(&tmp));
    if (!d) return a->plan ? SC_ERR_LIMIT : SC_ERR_NOMEM;
    tmp.data = d;
    *t = tmp;
    return SC_OK;
}

sc_arena_mark_t sc_arena_mark(const sc_arena *a) {
    return a ? a->used : 0;
}

void sc_arena_reset(sc_arena *a, sc_arena_mark_t mark) {
    if (a && mark <= a->used) a->used = mark;
}

size_t sc_arena_used(const sc_arena *a) {
    return a ? a->used : 0;
}
size_t sc_arena_peak(const sc_arena *a) {
    return a ? a->peak : 0;
}
void sc_arena_reset_peak(sc_arena *a) {
    if (a) a->peak = a->used;
}
size_t sc_arena_capacity(const sc_arena *a) {
    return a ? a->capacity : 0;
}
