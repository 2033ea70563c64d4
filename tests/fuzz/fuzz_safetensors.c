/* libFuzzer harness: parse a safetensors buffer, then touch every tensor and
 * metadata entry through the public API. */
#include <stdint.h>
#include <string.h>
#include "saccade/sc_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_safetensors *st = NULL;
    if (sc_safetensors_open_memory(data, size, "fuzz", &st) != SC_OK) return 0;
    volatile float sink = 0;
    size_t n = sc_safetensors_count(st);
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info in;
        if (sc_safetensors_info(st, i, &in) != SC_OK) __builtin_trap();
        if (sc_safetensors_find(st, in.name) != (long)i) __builtin_trap();
        size_t numel = 1;
        for (int k = 0; k < in.ndim; k++) numel *= (size_t)in.shape[k];
        if (numel != in.numel) __builtin_trap();
        const unsigned char *raw = in.data;
        for (size_t k = 0; k < in.nbytes; k++) sink += raw[k];
        const float *f;
        /* Shape check with the tensor's own shape must pass for float types. */
        sc_status s = sc_safetensors_get_f32(st, in.name, in.ndim, in.shape, &f);
        if (s == SC_OK) {
            for (size_t k = 0; k < in.numel; k++) sink += f[k];
        } else if (s != SC_ERR_UNSUPPORTED && s != SC_ERR_NOMEM) {
            __builtin_trap();
        }
        /* A wrong expected shape must be refused. */
        int64_t wrong[1] = {(int64_t)in.numel + 1};
        if (sc_safetensors_get_f32(st, in.name, 1, wrong, &f) == SC_OK) __builtin_trap();
    }
    size_t m = sc_safetensors_metadata_count(st);
    for (size_t i = 0; i < m; i++) {
        const char *k, *v;
        if (sc_safetensors_metadata_at(st, i, &k, &v) != SC_OK) __builtin_trap();
        if (sc_safetensors_metadata(st, k) != v) __builtin_trap();
        sink += (float)strlen(v);
    }
    (void)sink;
    sc_safetensors_free(st);
    return 0;
}
