/* libFuzzer harness for the VQA tokenizer and question encoding. The input
 * is a question; when it holds a NUL, the part before it is a vocabulary
 * (JSON array of words) to encode with, else the scenes vocabulary is used.
 * Checks: token counts are consistent, every word is non-empty, bounded and
 * made of token characters, and every encoded id names a word of the
 * vocabulary. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_vqa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tokens(const char *text) {
    static sc_vqa_tokens tk;
    if (sc_vqa_tokenize(text, &tk) != SC_OK) __builtin_trap();
    if (tk.n < 0 || tk.n > SC_VQA_MAX_TOKENS || tk.n_total < tk.n) __builtin_trap();
    if (tk.n < SC_VQA_MAX_TOKENS && tk.n_total != tk.n) __builtin_trap();
    for (int i = 0; i < tk.n; i++) {
        size_t l = strnlen(tk.words[i], SC_VQA_MAX_WORD);
        if (l == 0 || l >= SC_VQA_MAX_WORD) __builtin_trap();
    }
}

static void check_encode(const sc_vqa_vocab *v, const char *text) {
    int32_t ids[20];
    int len = -1, truncated = -1;
    char unk[40];
    sc_status s = sc_vqa_encode(v, text, 20, ids, &len, &truncated, unk, sizeof unk);
    if (s != SC_OK) {
        if (s != SC_ERR_INVALID_ARG && s != SC_ERR_FORMAT && s != SC_ERR_NOMEM) __builtin_trap();
        return;
    }
    if (len < 0 || len > 20 || (truncated != 0 && truncated != 1)) __builtin_trap();
    if (strnlen(unk, sizeof unk) >= sizeof unk) __builtin_trap();
    for (int i = 0; i < 20; i++)
        if (ids[i] < 0 || ids[i] >= v->n || (i >= len && ids[i] != SC_VQA_PAD)) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static sc_vqa_vocab scenes;
    if (!scenes.n && sc_vqa_scene_vocab(&scenes) != SC_OK) __builtin_trap();
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const char *nul = memchr(buf, 0, size);
    if (nul) {
        const char *text = nul + 1;
        sc_vqa_vocab v;
        check_tokens(text);
        if (sc_vqa_vocab_from_json(buf, &v) == SC_OK) {
            check_encode(&v, text);
            sc_vqa_vocab_free(&v);
        }
        /* A vocabulary built from the text knows every one of its words. */
        const char *texts[1] = {text};
        if (sc_vqa_vocab_build(texts, 1, &v) == SC_OK) {
            int32_t ids[SC_VQA_MAX_TOKENS];
            int len, truncated;
            if (sc_vqa_encode(&v, text, SC_VQA_MAX_TOKENS, ids, &len, &truncated, NULL, 0))
                __builtin_trap();
            for (int i = 0; i < len; i++)
                if (ids[i] < 2 || ids[i] >= v.n) __builtin_trap();
            sc_vqa_vocab_free(&v);
        }
    } else {
        check_tokens(buf);
        check_encode(&scenes, buf);
    }
    free(buf);
    return 0;
}
