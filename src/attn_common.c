/* Helpers shared by the attention modules. */
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
