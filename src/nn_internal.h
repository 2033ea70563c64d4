/* Private helpers shared by the nn_*.c kernels (not installed). */
#ifndef SACCADE_NN_INTERNAL_H
#define SACCADE_NN_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include "sc_internal.h"

/* Product of k positive ints into *out; SC_ERR_INVALID_ARG naming `what` if
 * one is <= 0, SC_ERR_LIMIT if the element count (times 4 bytes) overflows. */
static inline sc_status nn_count(const char *what, size_t *out, int k, ...) {
    va_list ap;
    va_start(ap, k);
    size_t n = 1;
    sc_status st = SC_OK;
    for (int i = 0; i < k; i++) {
        int v = va_arg(ap, int);
        if (v <= 0) {
            st = sc_set_error(SC_ERR_INVALID_ARG, "%s: size %d must be positive", what, v);
            break;
        }
        if (sc_mul_size(n, (size_t)v, &n)) {
            st = sc_set_error(SC_ERR_LIMIT, "%s: element count overflows", what);
            break;
        }
    }
    va_end(ap);
    size_t bytes;
    if (!st && sc_mul_size(n, sizeof(float), &bytes))
        st = sc_set_error(SC_ERR_LIMIT, "%s: byte size overflows", what);
    if (!st) *out = n;
    return st;
}

#define NN_REQUIRE(ptr, fn)                                                                        \
    do {                                                                                           \
        if (!(ptr)) return sc_set_error(SC_ERR_INVALID_ARG, "%s: %s is NULL", fn, #ptr);           \
    } while (0)

#endif
