/* libFuzzer harness for the CLI's number parsing (tools/cli/common.c is
 * compiled in). The input is one argument string (cut at a NUL). Checks:
 * an accepted integer is the whole string's base-10 value, an accepted float
 * is finite, an accepted list has 1..max values inside [lo, hi], and no
 * output is written on refusal. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../../tools/cli/common.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    int v = 12345;
    if (cli_parse_int(s, &v)) {
        /* the value prints back to the same number */
        char *end;
        long long ref = strtoll(s, &end, 10);
        if (*end || ref != v) __builtin_trap();
    } else if (v != 12345) {
        __builtin_trap();
    }
    float f = 0.5f;
    if (cli_parse_float(s, &f)) {
        if (!isfinite(f)) __builtin_trap();
    } else if (f != 0.5f) {
        __builtin_trap();
    }
    int list[4];
    int n = cli_parse_int_list(s, list, 4, -3, 1000);
    if (n < 0 || n > 4) __builtin_trap();
    for (int i = 0; i < n; i++)
        if (list[i] < -3 || list[i] > 1000) __builtin_trap();
    free(s);
    return 0;
}
