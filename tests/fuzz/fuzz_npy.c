/* libFuzzer harness for the .npy reader: any buffer is refused or read into
 * a shape whose product is the value count, every value readable. */
#include <stdint.h>
#include "saccade/sc_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_npy a;
    if (sc_npy_read_memory(data, size, &a) != SC_OK) {
        if (a.data) __builtin_trap();
        return 0;
    }
    if (a.ndim < 0 || a.ndim > SC_NPY_MAX_DIMS || !a.data) __builtin_trap();
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) {
        if (a.shape[i] < 0) __builtin_trap();
        count *= (size_t)a.shape[i];
    }
    if (count != a.count) __builtin_trap();
    volatile float sink = 0;
    for (size_t i = 0; i < a.count; i++) sink += a.data[i];
    (void)sink;
    sc_npy_free(&a);
    return 0;
}
