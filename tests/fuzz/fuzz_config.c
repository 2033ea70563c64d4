/* libFuzzer harness for the model configuration and vocabulary JSON parsers
 * (what a model file's "saccade.config" / "saccade.vocab" metadata holds).
 * The first byte picks the parser, the rest is its text. A parsed
 * configuration must print back to JSON that parses to the same printout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_stn.h"
#include "saccade/sc_vit.h"
#include "saccade/sc_vqa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* from_json -> to_json -> from_json -> to_json gives the same text twice. */
#define ROUND_TRIP(type, from, to, validate, text)                                                 \
    do {                                                                                           \
        type c1, c2;                                                                               \
        if (from(text, &c1) != SC_OK) break;                                                       \
        (void)validate(&c1);                                                                       \
        char *j1 = to(&c1);                                                                        \
        if (!j1) break; /* out of memory */                                                        \
        if (from(j1, &c2) != SC_OK) __builtin_trap();                                              \
        char *j2 = to(&c2);                                                                        \
        if (!j2 || strcmp(j1, j2)) __builtin_trap();                                               \
        free(j1);                                                                                  \
        free(j2);                                                                                  \
    } while (0)

static int no_check(const void *c) {
    (void)c;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    switch (data[0] % 8) {
    case 0:
        ROUND_TRIP(sc_captioner_config, sc_captioner_config_from_json, sc_captioner_config_to_json,
                   no_check, text);
        break;
    case 1: {
        sc_vocab v;
        if (sc_vocab_from_json(text, size - 1, &v) == SC_OK) {
            char *j = sc_vocab_to_json(&v);
            sc_vocab v2;
            if (j && sc_vocab_from_json(j, strlen(j), &v2) != SC_OK) __builtin_trap();
            if (j) sc_vocab_free(&v2);
            free(j);
            sc_vocab_free(&v);
        }
        break;
    }
    case 2:
        ROUND_TRIP(sc_vqa_config, sc_vqa_config_from_json, sc_vqa_config_to_json,
                   sc_vqa_config_validate, text);
        break;
    case 3: {
        sc_vqa_vocab v;
        if (sc_vqa_vocab_from_json(text, &v) == SC_OK) {
            char *j = sc_vqa_vocab_to_json(&v);
            sc_vqa_vocab v2;
            if (j && sc_vqa_vocab_from_json(j, &v2) != SC_OK) __builtin_trap();
            if (j && v2.n != v.n) __builtin_trap();
            if (j) sc_vqa_vocab_free(&v2);
            free(j);
            sc_vqa_vocab_free(&v);
        }
        break;
    }
    case 4:
        ROUND_TRIP(sc_stn_config, sc_stn_config_from_json, sc_stn_config_to_json,
                   sc_stn_config_validate, text);
        break;
    case 5:
        ROUND_TRIP(sc_classifier_config, sc_classifier_config_from_json,
                   sc_classifier_config_to_json, sc_classifier_config_validate, text);
        break;
    case 6:
        ROUND_TRIP(sc_cnn_config, sc_cnn_config_from_json, sc_cnn_config_to_json,
                   sc_cnn_config_validate, text);
        break;
    case 7:
        ROUND_TRIP(sc_vit_config, sc_vit_config_from_json, sc_vit_config_to_json,
                   sc_vit_config_validate, text);
        break;
    }
    free(text);
    return 0;
}
