/* libFuzzer harness for GPT-2's byte-level BPE (sc_bpe.h). An input starting
 * with 'V' is vocab.json, NUL, merges.txt, NUL, text: load them, then encode
 * the text; any other input is text for a fixed tokenizer (the 256 byte
 * symbols, a few merges, <|endoftext|>). Checks: encoding fails only on
 * invalid UTF-8 or a NUL byte (SC_ERR_INVALID_ARG), every id has a token, and with the fixed
 * tokenizer decoding gives the text back byte for byte (byte-level BPE is
 * lossless); decoding never fails on encoded ids. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_bpe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const MERGES[] = {"\xc4\xa0 t",
                                     "h e",
                                     "\xc4\xa0t he",
                                     "\xc4\xa0 a",
                                     "i n",
                                     "\xc4\xa0 c",
                                     "a t",
                                     "\xc4\xa0"
                                     "c at",
                                     "' s",
                                     "1 2",
                                     "\xc4\xa0 \xc4\xa0",
                                     "\xc3\xa9 s"};

/* vocab.json and merges.txt texts of the fixed tokenizer (malloc'd). */
static void fixed_files(char **vocab, char **merges) {
    size_t cap = 1 << 16, n = 0;
    char *v = malloc(cap), *m = malloc(cap);
    if (!v || !m) __builtin_trap();
    int id = 0, k = 0;
    n += (size_t)snprintf(v + n, cap - n, "{");
    for (int c = 0; c < 256; c++) { /* bytes_to_unicode */
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        unsigned cp = printable ? (unsigned)c : 256u + (unsigned)k++;
        char u[3] = {0};
        if (cp < 0x80)
            u[0] = (char)cp;
        else
            u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F));
        const char *esc = cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : u;
        n += (size_t)snprintf(v + n, cap - n, "%s\"%s\": %d", id ? ", " : "", esc, id);
        id++;
    }
    size_t mn = (size_t)snprintf(m, cap, "#version: 0.2\n");
    for (size_t i = 0; i < sizeof MERGES / sizeof MERGES[0]; i++) {
        mn += (size_t)snprintf(m + mn, cap - mn, "%s\n", MERGES[i]);
        char joined[32];
        const char *sp = strchr(MERGES[i], ' ');
        snprintf(joined, sizeof joined, "%.*s%s", (int)(sp - MERGES[i]), MERGES[i], sp + 1);
        n += (size_t)snprintf(v + n, cap - n, ", \"%s\": %d", joined, id++);
    }
    snprintf(v + n, cap - n, ", \"<|endoftext|>\": %d}", id);
    *vocab = v, *merges = m;
}

static void exercise(const sc_bpe *b, const char *text, size_t len, int lossless) {
    int32_t *ids = NULL;
    size_t n = 0;
    sc_status s = sc_bpe_encode(b, text, len, &ids, &n);
    if (s != SC_OK) {
        if (ids || s != SC_ERR_INVALID_ARG) __builtin_trap();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!sc_bpe_token(b, ids[i])) __builtin_trap();
    char *out = NULL;
    s = sc_bpe_decode(b, ids, n, 0, &out);
    if (lossless && (s != SC_OK || strlen(out) != len || memcmp(out, text, len))) __builtin_trap();
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == 'V') {
        const char *v = (const char *)data + 1, *end = (const char *)data + size;
        const char *z1 = memchr(v, 0, (size_t)(end - v));
        const char *mg = z1 ? z1 + 1 : end;
        const char *z2 = z1 ? memchr(mg, 0, (size_t)(end - mg)) : NULL;
        const char *text = z2 ? z2 + 1 : end;
        sc_bpe *b = NULL;
        if (sc_bpe_load_memory(v, (size_t)((z1 ? z1 : end) - v), mg, (size_t)((z2 ? z2 : end) - mg),
                               NULL, &b) != SC_OK) {
            if (b) __builtin_trap();
            return 0;
        }
        exercise(b, text, (size_t)(end - text), 0);
        exercise(b, "Hello, the cat's 12 caf\xc3\xa9s  <|endoftext|> \xf0\x9f\x98\x80", 45, 0);
        sc_bpe_free(b);
        return 0;
    }
    static sc_bpe *fixed;
    if (!fixed) {
        char *v, *m;
        fixed_files(&v, &m);
        if (sc_bpe_load_memory(v, strlen(v), m, strlen(m), NULL, &fixed) != SC_OK) __builtin_trap();
        free(v), free(m);
    }
    exercise(fixed, (const char *)data, size, 1);
    return 0;
}
