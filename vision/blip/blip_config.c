/* BLIP configuration: transformers' class defaults (BlipConfig, BlipTextConfig,
 * BlipVisionConfig, BlipImageProcessor) and the JSON files that override them. */
#include <math.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "blip_internal.h"
#include "sc_internal.h"

sc_blip_config sc_blip_default_config(void) {
    sc_blip_config c;
    memset(&c, 0, sizeof c);
    c.vision = (sc_blip_vision_config){768, 3072, 12, 12, 3, 384, 16, 1e-5f};
    sc_blip_text_config t = {0};
    t.vocab_size = 30524, t.hidden_size = 768, t.intermediate_size = 3072;
    t.num_hidden_layers = 12, t.num_attention_heads = 8, t.max_position_embeddings = 512;
    t.encoder_hidden_size = 768, t.layer_norm_eps = 1e-12f;
    t.bos_token_id = 30522, t.eos_token_id = 2, t.pad_token_id = 0, t.sep_token_id = 102;
    t.max_length = 20, t.min_length = 0, t.num_beams = 1, t.length_penalty = 1.0f;
    t.do_sample = 0, t.top_k = 50, t.top_p = 1.0f, t.temperature = 1.0f;
    c.text = t;
    /* OPENAI_CLIP_MEAN / OPENAI_CLIP_STD */
    c.preprocess = (sc_blip_preprocess_config){384,
                                               {0.48145466f, 0.4578275f, 0.40821073f},
                                               {0.26862954f, 0.26130258f, 0.27577711f},
                                               1.0f / 255.0f,
                                               1,
                                               1,
                                               1,
                                               3};
    return c;
}

const char *blip_json_type(const cJSON *e) {
    if (cJSON_IsString(e)) return "a string";
    if (cJSON_IsBool(e)) return "a boolean";
    if (cJSON_IsNumber(e)) return "a number";
    if (cJSON_IsArray(e)) return "an array";
    if (cJSON_IsObject(e)) return "an object";
    return "null";
}

sc_status blip_read_fields(const cJSON *obj, const blip_field *f, size_t n, const char *name,
                           const char *where) {
    for (size_t i = 0; i < n; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, f[i].key);
        if (!e) continue;
        switch (f[i].kind) {
        case F_INT:
            if (cJSON_IsNumber(e) &&
                (e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e9))
                return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be an integer (it is %g)", name,
                                    where, f[i].key, e->valuedouble);
            if (!cJSON_IsNumber(e))
                return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be an integer (it is %s)", name,
                                    where, f[i].key, blip_json_type(e));
            *(int *)f[i].dst = (int)e->valuedouble;
            break;
        case F_FLOAT:
            if (!cJSON_IsNumber(e))
                return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be a number (it is %s)", name,
                                    where, f[i].key, blip_json_type(e));
            *(float *)f[i].dst = (float)e->valuedouble;
            break;
        case F_BOOL:
            if (!cJSON_IsBool(e))
                return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be true or false (it is %s)",
                                    name, where, f[i].key, blip_json_type(e));
            *(int *)f[i].dst = cJSON_IsTrue(e);
            break;
        }
    }
    return SC_OK;
}

static int is_integer(const cJSON *e) {
    return cJSON_IsNumber(e) && e->valuedouble == floor(e->valuedouble) &&
           fabs(e->valuedouble) <= 1e9;
}

sc_status blip_read_ids(const cJSON *obj, const char *key, int *ids, int cap, int *n,
                        const char *name, const char *where) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, key), *it;
    if (!e || cJSON_IsNull(e)) return SC_OK;
    int count = 0, ok = is_integer(e) || cJSON_IsArray(e);
    if (is_integer(e)) ids[count++] = (int)e->valuedouble;
    if (cJSON_IsArray(e)) cJSON_ArrayForEach(it, e) {
            if (count >= cap || !is_integer(it)) {
                ok = 0;
                break;
            }
            ids[count++] = (int)it->valuedouble;
        }
    if (!ok || count == 0)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: %s%s must be an integer or a list of 1 to %d integers (it is %s)",
                            name, where, key, cap, blip_json_type(e));
    *n = count;
    return SC_OK;
}

static sc_status check_act(const cJSON *obj, const char *name, const char *where) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, "hidden_act");
    if (!e) return SC_OK;
    if (!cJSON_IsString(e))
        return sc_set_error(SC_ERR_FORMAT, "%s: %shidden_act must be a string (it is %s)", name,
                            where, blip_json_type(e));
    if (strcmp(e->valuestring, "gelu"))
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: %shidden_act \"%s\" is not supported (only "
                            "\"gelu\")",
                            name, where, e->valuestring);
    return SC_OK;
}

/* early_stopping (true, false or "never") and the generation settings this
 * engine does not implement, accepted at their neutral values only. */
sc_status blip_generation_extras(const cJSON *tc, const char *name, const char *where,
                                 int *early_stopping) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(tc, "early_stopping");
    if (e && cJSON_IsBool(e))
        *early_stopping = cJSON_IsTrue(e);
    else if (e && cJSON_IsString(e) && !strcmp(e->valuestring, "never"))
        *early_stopping = 2;
    else if (e && !cJSON_IsNull(e))
        return sc_set_error(SC_ERR_FORMAT, "%s: %searly_stopping must be true, false or \"never\"",
                            name, where);
    const struct {
        const char *key;
        double neutral;
    } n[] = {{"repetition_penalty", 1.0},
             {"no_repeat_ngram_size", 0},
             {"num_return_sequences", 1},
             {"encoder_no_repeat_ngram_size", 0},
             {"diversity_penalty", 0.0}};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
        e = cJSON_GetObjectItemCaseSensitive(tc, n[i].key);
        if (!e || cJSON_IsNull(e)) continue;
        if (!cJSON_IsNumber(e))
            return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be a number (it is %s)", name, where,
                                n[i].key, blip_json_type(e));
        if (e->valuedouble != n[i].neutral)
            return sc_set_error(SC_ERR_UNSUPPORTED, "%s: %s%s %g is not supported (only %g)", name,
                                where, n[i].key, e->valuedouble, n[i].neutral);
    }
    return SC_OK;
}

static sc_status check_range(const char *name, const char *what, int v, int lo, int hi) {
    if (v < lo || v > hi)
        return sc_set_error(SC_ERR_FORMAT, "%s: %s is %d, expected %d..%d", name, what, v, lo, hi);
    return SC_OK;
}

static sc_status validate(const sc_blip_config *c, const char *name) {
    const sc_blip_vision_config *v = &c->vision;
    const sc_blip_text_config *t = &c->text;
    const struct {
        const char *what;
        int v, lo, hi;
    } r[] = {{"vision_config.hidden_size", v->hidden_size, 1, 16384},
             {"vision_config.intermediate_size", v->intermediate_size, 1, 65536},
             {"vision_config.num_hidden_layers", v->num_hidden_layers, 1, SC_VIT_MAX_DEPTH},
             {"vision_config.num_attention_heads", v->num_attention_heads, 1, SC_BLIP_MAX_HEADS},
             {"vision_config.num_channels", v->num_channels, 3, 3},
             {"vision_config.image_size", v->image_size, 1, 4096},
             {"vision_config.patch_size", v->patch_size, 1, 4096},
             {"text_config.vocab_size", t->vocab_size, 8, 1000000},
             {"text_config.hidden_size", t->hidden_size, 1, 16384},
             {"text_config.intermediate_size", t->intermediate_size, 1, 65536},
             {"text_config.num_hidden_layers", t->num_hidden_layers, 1, SC_BLIP_MAX_LAYERS},
             {"text_config.num_attention_heads", t->num_attention_heads, 1, SC_BLIP_MAX_HEADS},
             {"text_config.max_position_embeddings", t->max_position_embeddings, 2, 65536},
             {"text_config.bos_token_id", t->bos_token_id, 0, t->vocab_size - 1},
             {"text_config.sep_token_id", t->sep_token_id, 0, t->vocab_size - 1},
             {"text_config.pad_token_id", t->pad_token_id, 0, t->vocab_size - 1},
             {"text_config.max_length", t->max_length, 1, SC_BLIP_MAX_NEW_TOKENS},
             {"text_config.min_length", t->min_length, 0, 1 << 20},
             {"text_config.num_beams", t->num_beams, 1, SC_BLIP_MAX_BEAMS},
             {"text_config.top_k", t->top_k, 0, 1 << 30}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        sc_status s = check_range(name, r[i].what, r[i].v, r[i].lo, r[i].hi);
        if (s) return s;
    }
    if (v->hidden_size % v->num_attention_heads)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: vision_config.hidden_size %d is not a multiple of its %d heads",
                            name, v->hidden_size, v->num_attention_heads);
    if (t->hidden_size % t->num_attention_heads)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: text_config.hidden_size %d is not a multiple of its %d heads",
                            name, t->hidden_size, t->num_attention_heads);
    if (v->image_size % v->patch_size)
        return sc_set_error(SC_ERR_FORMAT, "%s: patch_size %d does not divide image_size %d", name,
                            v->patch_size, v->image_size);
    if (!(v->layer_norm_eps > 0) || !(t->layer_norm_eps > 0))
        return sc_set_error(SC_ERR_FORMAT, "%s: layer_norm_eps must be > 0", name);
    if (!(t->top_p > 0 && t->top_p <= 1) || !(t->temperature > 0) || !isfinite(t->length_penalty))
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: text_config.top_p must be in (0, 1], temperature > 0 and "
                            "length_penalty finite",
                            name);
    return SC_OK;
}

sc_status sc_blip_config_parse(const char *json, const char *name, sc_blip_config *out) {
    if (!json || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_config_parse: NULL argument");
    if (!name) name = "config.json";
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "%s: not valid JSON", name);
    sc_blip_config c = sc_blip_default_config();
    sc_status s = SC_OK;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(root, "vision_config");
    if (!cJSON_IsObject(root))
        s = sc_set_error(SC_ERR_FORMAT, "%s: not a JSON object", name);
    else if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "blip")))
        s = sc_set_error(SC_ERR_FORMAT, "%s: model_type is %s%s%s, expected \"blip\"", name,
                         cJSON_IsString(mt) ? "\"" : "",
                         cJSON_IsString(mt) ? mt->valuestring : blip_json_type(mt),
                         cJSON_IsString(mt) ? "\"" : "");
    else if ((tc && !cJSON_IsObject(tc)) || (vc && !cJSON_IsObject(vc)))
        s = sc_set_error(SC_ERR_FORMAT, "%s: %s must be an object (it is %s)", name,
                         tc && !cJSON_IsObject(tc) ? "text_config" : "vision_config",
                         blip_json_type(tc && !cJSON_IsObject(tc) ? tc : vc));
    if (!s && vc) {
        sc_blip_vision_config *v = &c.vision;
        const blip_field f[] = {{"hidden_size", F_INT, &v->hidden_size},
                                {"intermediate_size", F_INT, &v->intermediate_size},
                                {"num_hidden_layers", F_INT, &v->num_hidden_layers},
                                {"num_attention_heads", F_INT, &v->num_attention_heads},
                                {"num_channels", F_INT, &v->num_channels},
                                {"image_size", F_INT, &v->image_size},
                                {"patch_size", F_INT, &v->patch_size},
                                {"layer_norm_eps", F_FLOAT, &v->layer_norm_eps}};
        s = blip_read_fields(vc, f, sizeof f / sizeof f[0], name, "vision_config.");
        if (!s) s = check_act(vc, name, "vision_config.");
    }
    if (!s && tc) {
        sc_blip_text_config *t = &c.text;
        const blip_field f[] = {{"vocab_size", F_INT, &t->vocab_size},
                                {"hidden_size", F_INT, &t->hidden_size},
                                {"intermediate_size", F_INT, &t->intermediate_size},
                                {"num_hidden_layers", F_INT, &t->num_hidden_layers},
                                {"num_attention_heads", F_INT, &t->num_attention_heads},
                                {"max_position_embeddings", F_INT, &t->max_position_embeddings},
                                {"encoder_hidden_size", F_INT, &t->encoder_hidden_size},
                                {"layer_norm_eps", F_FLOAT, &t->layer_norm_eps},
                                {"bos_token_id", F_INT, &t->bos_token_id},
                                {"pad_token_id", F_INT, &t->pad_token_id},
                                {"sep_token_id", F_INT, &t->sep_token_id},
                                {"max_length", F_INT, &t->max_length},
                                {"min_length", F_INT, &t->min_length},
                                {"num_beams", F_INT, &t->num_beams},
                                {"length_penalty", F_FLOAT, &t->length_penalty},
                                {"do_sample", F_BOOL, &t->do_sample},
                                {"top_k", F_INT, &t->top_k},
                                {"top_p", F_FLOAT, &t->top_p},
                                {"temperature", F_FLOAT, &t->temperature}};
        s = blip_read_fields(tc, f, sizeof f / sizeof f[0], name, "text_config.");
        /* eos_token_id may be a list (BLIP stops at sep_token_id: the first is kept) */
        int eos[8], n_eos = 1;
        eos[0] = t->eos_token_id;
        if (!s) s = blip_read_ids(tc, "eos_token_id", eos, 8, &n_eos, name, "text_config.");
        t->eos_token_id = eos[0];
        if (!s) s = check_act(tc, name, "text_config.");
        if (!s) s = blip_generation_extras(tc, name, "text_config.", &t->early_stopping);
    }
    /* BlipConfig.__init__ sets text_config.encoder_hidden_size to the vision width */
    c.text.encoder_hidden_size = c.vision.hidden_size;
    cJSON_Delete(root);
    if (!s) s = validate(&c, name);
    if (!s) {
        c.preprocess = out->preprocess;
        *out = c;
    }
    return s;
}

sc_status sc_blip_preprocess_parse(const char *json, const char *name, sc_blip_config *out) {
    if (!json || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_preprocess_parse: NULL argument");
    if (!name) name = "preprocessor_config.json";
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "%s: not valid JSON", name);
    sc_blip_preprocess_config p = out->preprocess;
    sc_status s = SC_OK;
    if (!cJSON_IsObject(root)) s = sc_set_error(SC_ERR_FORMAT, "%s: not a JSON object", name);
    const blip_field f[] = {{"rescale_factor", F_FLOAT, &p.rescale},
                            {"do_resize", F_BOOL, &p.do_resize},
                            {"do_rescale", F_BOOL, &p.do_rescale},
                            {"do_normalize", F_BOOL, &p.do_normalize},
                            {"resample", F_INT, &p.resample}};
    if (!s) s = blip_read_fields(root, f, sizeof f / sizeof f[0], name, "");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(root, "size");
    if (!s && size) {
        if (cJSON_IsNumber(size)) {
            s = blip_read_fields(root, (blip_field[]){{"size", F_INT, &p.size}}, 1, name, "");
        } else if (cJSON_IsObject(size)) {
            int h = -1, w = -1;
            s = blip_read_fields(size, (blip_field[]){{"height", F_INT, &h}, {"width", F_INT, &w}},
                                 2, name, "size.");
            if (!s && (h != w || h <= 0))
                s = sc_set_error(SC_ERR_UNSUPPORTED,
                                 "%s: size must give equal positive height and width (%d x %d)",
                                 name, h, w);
            if (!s) p.size = h;
        } else
            s = sc_set_error(SC_ERR_FORMAT, "%s: size must be a number or an object (it is %s)",
                             name, blip_json_type(size));
    }
    const char *keys[2] = {"image_mean", "image_std"};
    float *dst[2] = {p.mean, p.std};
    for (int k = 0; k < 2 && !s; k++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (!a) continue;
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: %s must be an array of 3 numbers", name, keys[k]);
            break;
        }
        for (int i = 0; i < 3 && !s; i++) {
            const cJSON *e = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsNumber(e))
                s = sc_set_error(SC_ERR_FORMAT, "%s: %s must be an array of 3 numbers", name,
                                 keys[k]);
            else
                dst[k][i] = (float)e->valuedouble;
        }
    }
    cJSON_Delete(root);
    if (!s && (p.resample < 1 || p.resample > 5))
        s = sc_set_error(SC_ERR_UNSUPPORTED,
                         "%s: resample %d is not supported (Pillow's 1..5: LANCZOS, BILINEAR, "
                         "BICUBIC, BOX, HAMMING)",
                         name, p.resample);
    if (!s && (p.size <= 0 || p.size > 4096))
        s = sc_set_error(SC_ERR_FORMAT, "%s: size %d out of range 1..4096", name, p.size);
    for (int i = 0; i < 3 && !s; i++)
        if (!(p.std[i] > 0)) s = sc_set_error(SC_ERR_FORMAT, "%s: image_std must be > 0", name);
    if (!s) out->preprocess = p;
    return s;
}
