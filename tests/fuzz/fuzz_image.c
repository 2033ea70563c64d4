/* libFuzzer harness: image decoding and probing from memory, with a small
 * pixel limit so the fuzzer explores parsers rather than allocations.
 *
 * CMake: -DCMAKE_C_COMPILER=clang -DSACCADE_LIBFUZZER=ON
 * -DSACCADE_SANITIZE=address,undefined. That build compiles stb_image into
 * the harness (tests/fuzz/stb_image_impl.c), instrumented, in place of
 * Debian's libstb.so. Run on one core, e.g.
 *   OMP_NUM_THREADS=1 ./fuzz_image -max_len=16384 -rss_limit_mb=1024 -timeout=10 \
 *     corpus-dir tests/fuzz/corpus/image
 * Every crash found becomes a file in tests/fuzz/corpus/image/ (replayed by
 * the fuzz.image test) and a check in vision/image/image_check.c. */
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
