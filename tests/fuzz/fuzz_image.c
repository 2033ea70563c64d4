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
 * the fuzz.image test) and a check in vision/image/image_check.c.
 *
 * The loader refuses a PNG whose critical chunks fail their CRC, which a
 * mutated PNG almost always does: PNG input is decoded as given and again with
 * every chunk's CRC recomputed, so that mutations reach the decoder. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "saccade/sc_image.h"

static void decode(const uint8_t *data, size_t size);

/* A copy of a PNG with each whole chunk's CRC recomputed (NULL: not a PNG). */
static uint8_t *png_fix_crcs(const uint8_t *data, size_t size) {
    if (size < 8 || memcmp(data, "\x89PNG\r\n\x1a\n", 8)) return NULL;
    uint8_t *b = malloc(size);
    if (!b) return NULL;
    memcpy(b, data, size);
    for (size_t pos = 8; size - pos >= 12;) {
        uint32_t len = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 |
                       (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        if (len > size - pos - 12) break;
        uLong crc = crc32(crc32(0L, b + pos + 4, 4), b + pos + 8, len);
        uint8_t *c = b + pos + 8 + len;
        c[0] = (uint8_t)(crc >> 24);
        c[1] = (uint8_t)(crc >> 16);
        c[2] = (uint8_t)(crc >> 8);
        c[3] = (uint8_t)crc;
        pos += 12 + (size_t)len;
    }
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode(data, size);
    uint8_t *fixed = png_fix_crcs(data, size);
    if (fixed) decode(fixed, size);
    free(fixed);
    return 0;
}

static void decode(const uint8_t *data, size_t size) {
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
}
