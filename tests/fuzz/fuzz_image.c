/* libFuzzer harness: image decoding and probing from memory, with a small
 * pixel limit so the fuzzer explores parsers rather than allocations.
 *
 * CMake: -DCMAKE_C_COMPILER=clang -DSACCADE_LIBFUZZER=ON
 * -DSACCADE_SANITIZE=address,undefined (stb_image itself then runs from the
 * uninstrumented libstb.so). To see inside stb, build by hand with a TU that
 * defines STB_IMAGE_IMPLEMENTATION (its symbols take precedence over
 * libstb.so's), e.g. in a scratch folder:
 *   printf '#define STB_IMAGE_IMPLEMENTATION\n#include <stb_image.h>\n' > stb_impl.c
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
 *     -DSC_OPENBLAS_LIBDIR='""' -DSC_SOURCE_ASSETS='""' -DSC_INSTALL_ASSETS='""' \
 *     -Iinclude -Isrc -Ivision -I/usr/include/stb $(pkg-config --cflags openblas) -fopenmp \
 *     tests/fuzz/fuzz_image.c $(find vision src -name '*.c') stb_impl.c \
 *     -lstb -lz -lfftw3f -lcjson -lm -ldl -lpthread -o fuzz_image
 *   OMP_NUM_THREADS=1 ./fuzz_image -max_len=8192 corpus-dir tests/fuzz/corpus/image */
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
