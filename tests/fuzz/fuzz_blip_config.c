/* libFuzzer harness for the configuration parsers of a Hugging Face BLIP
 * folder (vision/blip/blip_config.c): config.json and preprocessor_config.json
 * as sc_blip_load reads them. The first byte picks config.json (0),
 * preprocessor_config.json (1), or both in turn on one configuration (2: the
 * two texts separated by a NUL). A parse either succeeds with a configuration
 * inside the ranges the loader relies on, leaving the other part as it was,
 * or fails with a message naming the file and changes nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok) {
    if (!ok) __builtin_trap();
}

static int named(const char *name) {
    const char *m = sc_last_error();
    size_t n = strlen(name);
    return !strncmp(m, name, n) && m[n] == ':' && m[n + 1] == ' ' && m[n + 2];
}

/* What sc_blip_load builds from a parsed config.json. */
static void check_model_config(const sc_blip_config *c) {
    const sc_blip_vision_config *v = &c->vision;
    const sc_blip_text_config *t = &c->text;
    check(v->hidden_size >= 1 && v->num_attention_heads >= 1 &&
          v->num_attention_heads <= SC_BLIP_MAX_HEADS &&
          v->hidden_size % v->num_attention_heads == 0);
    check(v->patch_size >= 1 && v->image_size >= v->patch_size &&
          v->image_size % v->patch_size == 0);
    check(v->num_channels == 3 && v->num_hidden_layers >= 1 && v->intermediate_size >= 1);
    check(t->hidden_size >= 1 && t->num_attention_heads >= 1 &&
          t->num_attention_heads <= SC_BLIP_MAX_HEADS &&
          t->hidden_size % t->num_attention_heads == 0);
    check(t->num_hidden_layers >= 1 && t->num_hidden_layers <= SC_BLIP_MAX_LAYERS);
    check(t->encoder_hidden_size == v->hidden_size && t->max_position_embeddings >= 2);
    check(t->vocab_size >= 8 && t->bos_token_id >= 0 && t->bos_token_id < t->vocab_size &&
          t->sep_token_id >= 0 && t->sep_token_id < t->vocab_size && t->pad_token_id >= 0 &&
          t->pad_token_id < t->vocab_size);
    check(t->max_length >= 1 && t->max_length <= SC_BLIP_MAX_NEW_TOKENS && t->min_length >= 0);
    check(t->num_beams >= 1 && t->num_beams <= SC_BLIP_MAX_BEAMS && t->top_k >= 0);
    check(t->top_p > 0 && t->top_p <= 1 && t->temperature > 0 && isfinite(t->length_penalty));
    check(v->layer_norm_eps > 0 && t->layer_norm_eps > 0);
}

static void check_preprocess(const sc_blip_preprocess_config *p) {
    check(p->size >= 1 && p->size <= 4096 && p->resample >= 1 && p->resample <= 5);
    for (int i = 0; i < 3; i++) check(p->std[i] > 0);
}

static void parse_config(const char *text, sc_blip_config *c) {
    sc_blip_config before = *c;
    if (sc_blip_config_parse(text, "config.json", c) == SC_OK) {
        check_model_config(c);
        check(!memcmp(&c->preprocess, &before.preprocess, sizeof before.preprocess));
    } else {
        check(named("config.json"));
        check(!memcmp(c, &before, sizeof before));
    }
}

static void parse_preprocess(const char *text, sc_blip_config *c) {
    sc_blip_config before = *c;
    if (sc_blip_preprocess_parse(text, "preprocessor_config.json", c) == SC_OK) {
        check_preprocess(&c->preprocess);
        check(!memcmp(&c->vision, &before.vision, sizeof before.vision));
        check(!memcmp(&c->text, &before.text, sizeof before.text));
    } else {
        check(named("preprocessor_config.json"));
        check(!memcmp(c, &before, sizeof before));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = text[size] = 0; /* two NULs: the second text may be empty */
    sc_blip_config c = sc_blip_default_config();
    switch (data[0] % 3) {
    case 0:
        parse_config(text, &c);
        break;
    case 1:
        parse_preprocess(text, &c);
        break;
    default:
        parse_config(text, &c);
        parse_preprocess(text + strlen(text) + 1, &c);
        break;
    }
    free(text);
    return 0;
}
