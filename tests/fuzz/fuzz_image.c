/* libFuzzer harness: image decoding and probing from memory, with a small
 * pixel limit so the fuzzer explores parsers rather than allocations. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "saccade/sc_image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sc_image_info info;
    sc_image_probe_memory(data, size, &info);
    sc_image_load_params p = sc_image_load_default_params();
    p.max_pixels = (uint64_t)4 << 20; /* 4 megapixels */
    p.keep_alpha = size & 1;
    sc_image img;
    if (sc_image_load_memory(data, size, &p, &img, &info) == SC_OK) {
        /* every value must be a float in [0, 1] */
        size_t n = (size_t)img.w * img.h * img.c;
        for (size_t i = 0; i < n; i++)
            if (!(img.data[i] >= 0.f && img.data[i] <= 1.f)) __builtin_trap();
        sc_image_free(&img);
    }
    return 0;
}
