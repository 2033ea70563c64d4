/* libFuzzer harness for the WordPiece tokenizer. An input starting with 'V'
 * is a vocabulary and a tokenizer config (split at the first NUL) to load,
 * then to encode with; any other input is text for a fixed BLIP-like
 * tokenizer. Checks: encoding fails only on invalid UTF-8 (or a vocabulary
 * without [UNK]), every id has a token, decoding succeeds and gives text that
 * encodes again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_wordpiece.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_vocab[] =
    "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n,\n'\n!\n?\n#\na\nb\nc\ne\nthe\ndog\ncat\nplay\n"
    "##ing\n##s\n##a\n##b\n##e\n##t\n\xe4\xb8\xad\n\xce\xb1\n##\xce\xb2\ndon\nt\n";
static const char fixed_config[] = "{\"do_lower_case\": true, \"bos_token\": \"[DEC]\", "
                                   "\"additional_special_tokens\": [\"[ENC]\"]}";

static void exercise(const sc_wordpiece *wp, const char *text, size_t len) {
    int32_t *ids = NULL;
    size_t n = 0;
    sc_status s = sc_wordpiece_encode(wp, text, len, 1, &ids, &n);
    if (s != SC_OK) {
        if (ids || (s != SC_ERR_INVALID_ARG && s != SC_ERR_FORMAT)) __builtin_trap();
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= sc_wordpiece_size(wp) || !sc_wordpiece_token(wp, ids[i]))
            __builtin_trap();
    for (int mode = 0; mode < 4; mode++) {
        char *out = NULL;
        if (sc_wordpiece_decode(wp, ids, n, mode & 1, mode >> 1, &out) != SC_OK || !out)
            __builtin_trap();
        /* Decoded text is valid UTF-8: it encodes again (or lacks [UNK]). */
        int32_t *again = NULL;
        size_t m;
        sc_status s2 = sc_wordpiece_encode(wp, out, strlen(out), 0, &again, &m);
        if (s2 == SC_ERR_INVALID_ARG) __builtin_trap();
        free(again);
        free(out);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == 'V') {
        const char *v = (const char *)data + 1;
        size_t vn = size - 1;
        const char *nul = memchr(v, 0, vn);
        const char *cfg = nul ? nul + 1 : NULL;
        size_t cn = nul ? vn - (size_t)(nul + 1 - v) : 0;
        if (nul) vn = (size_t)(nul - v);
        sc_wordpiece *wp = NULL;
        if (sc_wordpiece_load_memory(v, vn, cfg, cn, &wp) != SC_OK) {
            if (wp) __builtin_trap();
            return 0;
        }
        exercise(wp, v, vn);
        exercise(wp, "[CLS] Hello, the dogs' playing! [SEP]", 37);
        sc_wordpiece_free(wp);
        return 0;
    }
    static sc_wordpiece *fixed;
    if (!fixed && sc_wordpiece_load_memory(fixed_vocab, sizeof fixed_vocab - 1, fixed_config,
                                           sizeof fixed_config - 1, &fixed) != SC_OK)
        __builtin_trap();
    exercise(fixed, (const char *)data, size);
    return 0;
}
