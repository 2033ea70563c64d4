/* Shared by the benchmark drivers: the fixed pseudo-random input that
 * bench_resnet_ort.js generates too (same 64-bit LCG, values in [-1, 1)), so
 * that saccade's and ONNX Runtime's outputs can be compared by checksum. */
#ifndef SACCADE_BENCH_INPUT_H
#define SACCADE_BENCH_INPUT_H

#include <stddef.h>
#include <stdint.h>

static inline void bench_fill_input(float *x, size_t n) {
    uint64_t s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f;
    }
}

#endif
