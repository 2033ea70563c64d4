/* Loading ViT-GPT2 from its Hugging Face folder (sc_vit_gpt2.h): config,
 * generation settings, tokenizer, and the weights bound in place. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "saccade/sc_image.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_util.h"
#include "blip/blip_internal.h"
#include "sc_internal.h"
#include "vitgpt2_internal.h"

#define MAX_JSON_FILE ((size_t)64 << 20)

static sc_vit_gpt2_config default_config(void) {
    sc_vit_gpt2_config c;
    memset(&c, 0, sizeof c);
    c.encoder = (sc_vit_gpt2_encoder_config){768, 12, 12, 3072, 224, 16, 3, 1e-12f};
    c.decoder = (sc_vit_gpt2_decoder_config){50257, 1024, 768, 12, 12, 0, 1e-5f};
    c.generation = (sc_vit_gpt2_generation_config){-1, -1, -1, 20, 0, 1, 1.0f, 0, {0}, 0};
    c.preprocess = (sc_blip_preprocess_config){
        224, {0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, 1.0f / 255.0f, 1, 1, 1, SC_PIL_BILINEAR};
    return c;
}

/* dir/name's text into *out (NULL, SC_OK when optional and absent); *path
 * gets the file's name (malloc'd) for messages. */
static sc_status read_json_file(const char *dir, const char *name, int optional, char **out,
                                char **path) {
    *out = NULL;
    size_t n = strlen(dir) + strlen(name) + 2;
    if (!(*path = malloc(n))) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    snprintf(*path, n, "%s/%s", dir, name);
    struct stat sb;
    if (stat(*path, &sb) != 0)
        return optional ? SC_OK
                        : sc_set_error(SC_ERR_IO, "%s: missing (a ViT-GPT2 model folder needs it)",
                                       *path);
    unsigned char *buf = NULL;
    size_t len = 0;
    sc_status s = sc_read_file(*path, MAX_JSON_FILE, &buf, &len);
    if (!s && strlen((char *)buf) != len) {
        free(buf);
        return sc_set_error(SC_ERR_FORMAT, "%s: contains a NUL byte", *path);
    }
    if (!s) *out = (char *)buf;
    return s;
}

/* obj's string field key must be one of the accepted values (when present). */
static sc_status expect_string(const cJSON *obj, const char *key, const char *want,
                               const char *name, const char *where, sc_status code) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!e) return SC_OK;
    if (!cJSON_IsString(e))
        return sc_set_error(SC_ERR_FORMAT, "%s: %s%s must be a string (it is %s)", name, where, key,
                            blip_json_type(e));
    if (strcmp(e->valuestring, want))
        return sc_set_error(code, "%s: %s%s is \"%.40s\" (only \"%s\" is supported)", name, where,
                            key, e->valuestring, want);
    return SC_OK;
}

/* obj's boolean field key must be `want` when present. */
static sc_status expect_bool(const cJSON *obj, const char *key, int want, const char *name,
                             const char *where) {
    int v = want;
    sc_status s = blip_read_fields(obj, (blip_field[]){{key, F_BOOL, &v}}, 1, name, where);
    if (!s && v != want)
        s = sc_set_error(SC_ERR_UNSUPPORTED, "%s: %s%s %s is not supported", name, where, key,
                         v ? "true" : "false");
    return s;
}

/* The generation settings of one JSON object (a generation config, or a
 * model config's top level or decoder part) into g; *do_sample too. */
static sc_status read_generation(const cJSON *o, const char *name, const char *where,
                                 sc_vit_gpt2_generation_config *g, int *bos, int *do_sample) {
    const blip_field f[] = {{"decoder_start_token_id", F_INT, &g->decoder_start_token_id},
                            {"bos_token_id", F_INT, bos},
                            {"pad_token_id", F_INT, &g->pad_token_id},
                            {"max_length", F_INT, &g->max_length},
                            {"min_length", F_INT, &g->min_length},
                            {"num_beams", F_INT, &g->num_beams},
                            {"length_penalty", F_FLOAT, &g->length_penalty},
                            {"do_sample", F_BOOL, do_sample}};
    /* null ids are absent ones */
    cJSON *copy = cJSON_Duplicate(o, 1);
    if (!copy) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    const char *ids[] = {"decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id"};
    for (int i = 0; i < 4; i++)
        if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(copy, ids[i])))
            cJSON_DeleteItemFromObjectCaseSensitive(copy, ids[i]);
    sc_status s = blip_read_fields(copy, f, sizeof f / sizeof f[0], name, where);
    if (!s) /* an integer or a list: stop at any of them */
        s = blip_read_ids(copy, "eos_token_id", g->eos_token_ids, SC_VIT_GPT2_MAX_EOS, &g->n_eos,
                          name, where);
    if (!s) s = blip_generation_extras(copy, name, where, &g->early_stopping);
    cJSON_Delete(copy);
    return s;
}

/* GenerationConfig as transformers 5.x builds it for this model. */
static sc_status generation_settings(sc_vit_gpt2_config *c, const cJSON *root, const cJSON *dec,
                                     const char *gen_json, const char *cname, const char *gname) {
    sc_vit_gpt2_generation_config g = c->generation, d = c->generation;
    int bos = -1, dbos = -1, sample = 0, dsample = 0;
    sc_status s;
    if (gen_json) { /* generation_config.json: its settings, class defaults for the rest */
        cJSON *gr = cJSON_Parse(gen_json);
        if (!gr || !cJSON_IsObject(gr)) {
            cJSON_Delete(gr);
            return sc_set_error(SC_ERR_FORMAT, "%s: not a JSON object", gname);
        }
        s = read_generation(gr, gname, "", &g, &bos, &sample);
        cJSON_Delete(gr);
    } else { /* from_model_config: the top level, then the decoder's where still default */
        s = read_generation(root, cname, "", &g, &bos, &sample);
        if (!s) s = read_generation(dec, cname, "decoder.", &d, &dbos, &dsample);
        if (!s) {
            const sc_vit_gpt2_generation_config def = default_config().generation;
            if (g.max_length == def.max_length) g.max_length = d.max_length;
            if (g.min_length == def.min_length) g.min_length = d.min_length;
            if (g.num_beams == def.num_beams) g.num_beams = d.num_beams;
            if (g.length_penalty == def.length_penalty) g.length_penalty = d.length_penalty;
            if (g.early_stopping == def.early_stopping) g.early_stopping = d.early_stopping;
            if (!sample) sample = dsample;
            if (g.decoder_start_token_id < 0) g.decoder_start_token_id = d.decoder_start_token_id;
            if (!g.n_eos) {
                g.n_eos = d.n_eos;
                memcpy(g.eos_token_ids, d.eos_token_ids, sizeof g.eos_token_ids);
            }
            if (g.pad_token_id < 0) g.pad_token_id = d.pad_token_id;
            if (bos < 0) bos = dbos;
        }
    }
    if (s) return s;
    const char *src = gen_json ? gname : cname;
    if (sample) return sc_set_error(SC_ERR_UNSUPPORTED, "%s: do_sample true is not supported", src);
    if (g.decoder_start_token_id < 0) g.decoder_start_token_id = bos;
    g.eos_token_id = g.n_eos ? g.eos_token_ids[0] : -1;
    if (g.pad_token_id < 0) g.pad_token_id = g.eos_token_id; /* the first stop id */
    const int V = c->decoder.vocab_size;
    const struct {
        const char *what;
        int v, lo, hi;
    } r[] = {{"decoder_start_token_id", g.decoder_start_token_id, 0, V - 1},
             {"eos_token_id", g.eos_token_id, 0, V - 1},
             {"pad_token_id", g.pad_token_id, 0, V - 1},
             {"max_length", g.max_length, 2, SC_BLIP_MAX_NEW_TOKENS + 1},
             {"min_length", g.min_length, 0, 1 << 20},
             {"num_beams", g.num_beams, 1, SC_BLIP_MAX_BEAMS}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return sc_set_error(SC_ERR_FORMAT, "%s: %s is %d, expected %d..%d", src, r[i].what,
                                r[i].v, r[i].lo, r[i].hi);
    for (int i = 1; i < g.n_eos; i++)
        if (g.eos_token_ids[i] < 0 || g.eos_token_ids[i] >= V)
            return sc_set_error(SC_ERR_FORMAT, "%s: eos_token_id[%d] is %d, expected 0..%d", src, i,
                                g.eos_token_ids[i], V - 1);
    if (!isfinite(g.length_penalty))
        return sc_set_error(SC_ERR_FORMAT, "%s: length_penalty must be finite", src);
    c->generation = g;
    return SC_OK;
}

static sc_status parse_config(const char *json, const char *gen_json, const char *cname,
                              const char *gname, sc_vit_gpt2_config *out) {
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "%s: not valid JSON", cname);
    sc_vit_gpt2_config c = *out;
    sc_status s = SC_OK;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(root, "encoder"),
                *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (!cJSON_IsObject(root))
        s = sc_set_error(SC_ERR_FORMAT, "%s: not a JSON object", cname);
    else if (!cJSON_IsObject(enc) || !cJSON_IsObject(dec))
        s = sc_set_error(SC_ERR_FORMAT, "%s: \"encoder\" and \"decoder\" must be objects", cname);
    if (!s)
        s = expect_string(root, "model_type", "vision-encoder-decoder", cname, "", SC_ERR_FORMAT);
    if (!s) s = expect_string(enc, "model_type", "vit", cname, "encoder.", SC_ERR_UNSUPPORTED);
    if (!s) s = expect_string(dec, "model_type", "gpt2", cname, "decoder.", SC_ERR_UNSUPPORTED);
    if (!s) s = expect_string(enc, "hidden_act", "gelu", cname, "encoder.", SC_ERR_UNSUPPORTED);
    if (!s)
        s = expect_string(dec, "activation_function", "gelu_new", cname, "decoder.",
                          SC_ERR_UNSUPPORTED);
    if (!s) s = expect_bool(enc, "qkv_bias", 1, cname, "encoder.");
    if (!s) s = expect_bool(dec, "scale_attn_weights", 1, cname, "decoder.");
    if (!s) s = expect_bool(dec, "scale_attn_by_inverse_layer_idx", 0, cname, "decoder.");
    if (!s) s = expect_bool(dec, "reorder_and_upcast_attn", 0, cname, "decoder.");
    if (!s) {
        int cross = 0;
        s = blip_read_fields(dec, (blip_field[]){{"add_cross_attention", F_BOOL, &cross}}, 1, cname,
                             "decoder.");
        if (!s && !cross)
            s = sc_set_error(SC_ERR_FORMAT,
                             "%s: decoder.add_cross_attention is not true (a GPT-2 without "
                             "cross-attention cannot caption)",
                             cname);
    }
    const cJSON *xs = cJSON_GetObjectItemCaseSensitive(dec, "cross_attention_hidden_size");
    if (!s && xs && !cJSON_IsNull(xs))
        s = sc_set_error(SC_ERR_UNSUPPORTED,
                         "%s: decoder.cross_attention_hidden_size is not supported", cname);
    if (!s) {
        sc_vit_gpt2_encoder_config *e = &c.encoder;
        const blip_field f[] = {{"hidden_size", F_INT, &e->hidden_size},
                                {"num_hidden_layers", F_INT, &e->num_hidden_layers},
                                {"num_attention_heads", F_INT, &e->num_attention_heads},
                                {"intermediate_size", F_INT, &e->intermediate_size},
                                {"image_size", F_INT, &e->image_size},
                                {"patch_size", F_INT, &e->patch_size},
                                {"num_channels", F_INT, &e->num_channels},
                                {"layer_norm_eps", F_FLOAT, &e->layer_norm_eps}};
        s = blip_read_fields(enc, f, sizeof f / sizeof f[0], cname, "encoder.");
    }
    if (!s) {
        sc_vit_gpt2_decoder_config *d = &c.decoder;
        const cJSON *inner = cJSON_GetObjectItemCaseSensitive(dec, "n_inner");
        const blip_field f[] = {{"vocab_size", F_INT, &d->vocab_size},
                                {"n_positions", F_INT, &d->n_positions},
                                {"n_embd", F_INT, &d->n_embd},
                                {"n_layer", F_INT, &d->n_layer},
                                {"n_head", F_INT, &d->n_head},
                                {"layer_norm_epsilon", F_FLOAT, &d->layer_norm_epsilon},
                                {"n_inner", F_INT, &d->n_inner}};
        s = blip_read_fields(dec, f, sizeof f / sizeof f[0] - (cJSON_IsNull(inner) ? 1 : 0), cname,
                             "decoder.");
        if (!s && (!inner || cJSON_IsNull(inner))) d->n_inner = 4 * d->n_embd;
    }
    if (!s) {
        const sc_vit_gpt2_encoder_config *e = &c.encoder;
        const sc_vit_gpt2_decoder_config *d = &c.decoder;
        const struct {
            const char *what;
            int v, lo, hi;
        } r[] = {{"encoder.hidden_size", e->hidden_size, 1, 16384},
                 {"encoder.num_hidden_layers", e->num_hidden_layers, 1, SC_VIT_MAX_DEPTH},
                 {"encoder.num_attention_heads", e->num_attention_heads, 1, SC_BLIP_MAX_HEADS},
                 {"encoder.intermediate_size", e->intermediate_size, 1, 65536},
                 {"encoder.image_size", e->image_size, 1, 4096},
                 {"encoder.patch_size", e->patch_size, 1, 4096},
                 {"encoder.num_channels", e->num_channels, 3, 3},
                 {"decoder.vocab_size", d->vocab_size, 8, 1000000},
                 {"decoder.n_positions", d->n_positions, 2, 65536},
                 {"decoder.n_embd", d->n_embd, 1, 16384},
                 {"decoder.n_layer", d->n_layer, 1, SC_VIT_GPT2_MAX_LAYERS},
                 {"decoder.n_head", d->n_head, 1, SC_BLIP_MAX_HEADS},
                 {"decoder.n_inner", d->n_inner, 1, 65536}};
        for (size_t i = 0; i < sizeof r / sizeof r[0] && !s; i++)
            if (r[i].v < r[i].lo || r[i].v > r[i].hi)
                s = sc_set_error(SC_ERR_FORMAT, "%s: %s is %d, expected %d..%d", cname, r[i].what,
                                 r[i].v, r[i].lo, r[i].hi);
        if (!s && (e->hidden_size % e->num_attention_heads || d->n_embd % d->n_head))
            s = sc_set_error(SC_ERR_FORMAT, "%s: a width is not a multiple of its heads", cname);
        if (!s && e->image_size % e->patch_size)
            s = sc_set_error(SC_ERR_FORMAT, "%s: patch_size %d does not divide image_size %d",
                             cname, e->patch_size, e->image_size);
        if (!s && (!(e->layer_norm_eps > 0) || !(d->layer_norm_epsilon > 0)))
            s = sc_set_error(SC_ERR_FORMAT, "%s: layer norm eps must be > 0", cname);
    }
    if (!s) s = generation_settings(&c, root, dec, gen_json, cname, gname);
    cJSON_Delete(root);
    if (!s) *out = c;
    return s;
}

/* ---------------------------------------------------------------- weights */
/* sc_vit's names -> ViTModel's (under "encoder."); no stacked in_proj: the
 * view reads query / key / value separately */
static int vit_names(const char *vit, char *out, size_t cap, void *ctx) {
    (void)ctx;
    static const char *const fixed[][2] = {
        {"patch_embed.proj.weight", "embeddings.patch_embeddings.projection.weight"},
        {"patch_embed.proj.bias", "embeddings.patch_embeddings.projection.bias"},
        {"cls_token", "embeddings.cls_token"},
        {"pos_embed", "embeddings.position_embeddings"},
        {"norm.weight", "layernorm.weight"},
        {"norm.bias", "layernorm.bias"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(vit, fixed[i][0]))
            return snprintf(out, cap, "encoder.%s", fixed[i][1]) >= (int)cap;
    static const char *const layer[][2] = {
        {"self_attn.q_proj_weight", "attention.attention.query.weight"},
        {"self_attn.q_proj_bias", "attention.attention.query.bias"},
        {"self_attn.k_proj_weight", "attention.attention.key.weight"},
        {"self_attn.k_proj_bias", "attention.attention.key.bias"},
        {"self_attn.v_proj_weight", "attention.attention.value.weight"},
        {"self_attn.v_proj_bias", "attention.attention.value.bias"},
        {"self_attn.out_proj.weight", "attention.output.dense.weight"},
        {"self_attn.out_proj.bias", "attention.output.dense.bias"},
        {"linear1.weight", "intermediate.dense.weight"},
        {"linear1.bias", "intermediate.dense.bias"},
        {"linear2.weight", "output.dense.weight"},
        {"linear2.bias", "output.dense.bias"},
        {"norm1.weight", "layernorm_before.weight"},
        {"norm1.bias", "layernorm_before.bias"},
        {"norm2.weight", "layernorm_after.weight"},
        {"norm2.bias", "layernorm_after.bias"}};
    int l, used = 0;
    if (sscanf(vit, "layers.%d.%n", &l, &used) != 1 || !used) return 1;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (!strcmp(vit + used, layer[i][0]))
            return snprintf(out, cap, "encoder.encoder.layer.%d.%s", l, layer[i][1]) >= (int)cap;
    return 1;
}

static sc_status open_vit(sc_vit_gpt2 *m) {
    const sc_vit_gpt2_encoder_config *e = &m->cfg.encoder;
    sc_vit_config c = sc_vit_default_config();
    c.image_size = e->image_size, c.patch = e->patch_size, c.in_channels = e->num_channels;
    c.dim = e->hidden_size, c.depth = e->num_hidden_layers, c.heads = e->num_attention_heads;
    c.mlp_dim = e->intermediate_size, c.cls_token = 1, c.pos = SC_VIT_POS_LEARNED, c.gelu = 1;
    c.dropout = 0.0f, c.ln_eps = e->layer_norm_eps;
    return sc_vit_open_view(&c, m->st, vit_names, NULL, &m->vit);
}

typedef struct {
    const char *suffix;
    int ndim;
    int64_t s0, s1;
    const float **dst;
} tensor_ref;

static sc_status bind(sc_vit_gpt2 *m, const char *prefix, const tensor_ref *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char nm[256];
        const int64_t shape[2] = {t[i].s0, t[i].s1};
        snprintf(nm, sizeof nm, "%s%s", prefix, t[i].suffix);
        sc_status s = sc_safetensors_get_f32(m->st, nm, t[i].ndim, shape, t[i].dst);
        if (s) return s;
    }
    return SC_OK;
}

static sc_status bind_decoder(sc_vit_gpt2 *m) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const int64_t D = d->n_embd, F = d->n_inner, V = d->vocab_size, P = d->n_positions,
                  Dv = m->cfg.encoder.hidden_size;
    const tensor_ref top[] = {{"wte.weight", 2, V, D, &m->wte},
                              {"wpe.weight", 2, P, D, &m->wpe},
                              {"ln_f.weight", 1, D, 0, &m->lnf_w},
                              {"ln_f.bias", 1, D, 0, &m->lnf_b}};
    sc_status s = bind(m, "decoder.transformer.", top, 4);
    if (s) return s;
    /* the LM head is wte: a decoder.lm_head.weight in the file is the same tensor */
    if (Dv != D) { /* VisionEncoderDecoderModel's enc_to_dec_proj */
        const tensor_ref proj[] = {{"weight", 2, D, Dv, &m->proj_w}, {"bias", 1, D, 0, &m->proj_b}};
        if ((s = bind(m, "enc_to_dec_proj.", proj, 2))) return s;
    }
    if (!(m->blocks = calloc((size_t)d->n_layer, sizeof *m->blocks)))
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int l = 0; l < d->n_layer && !s; l++) {
        gpt2_block *b = &m->blocks[l];
        const tensor_ref w[] = {{"ln_1.weight", 1, D, 0, &b->ln1_w},
                                {"ln_1.bias", 1, D, 0, &b->ln1_b},
                                {"attn.c_attn.weight", 2, D, 3 * D, &b->attn_w},
                                {"attn.c_attn.bias", 1, 3 * D, 0, &b->attn_b},
                                {"attn.c_proj.weight", 2, D, D, &b->proj_w},
                                {"attn.c_proj.bias", 1, D, 0, &b->proj_b},
                                {"ln_cross_attn.weight", 1, D, 0, &b->lnx_w},
                                {"ln_cross_attn.bias", 1, D, 0, &b->lnx_b},
                                {"crossattention.q_attn.weight", 2, D, D, &b->xq_w},
                                {"crossattention.q_attn.bias", 1, D, 0, &b->xq_b},
                                {"crossattention.c_attn.weight", 2, D, 2 * D, &b->xkv_w},
                                {"crossattention.c_attn.bias", 1, 2 * D, 0, &b->xkv_b},
                                {"crossattention.c_proj.weight", 2, D, D, &b->xproj_w},
                                {"crossattention.c_proj.bias", 1, D, 0, &b->xproj_b},
                                {"ln_2.weight", 1, D, 0, &b->ln2_w},
                                {"ln_2.bias", 1, D, 0, &b->ln2_b},
                                {"mlp.c_fc.weight", 2, D, F, &b->fc_w},
                                {"mlp.c_fc.bias", 1, F, 0, &b->fc_b},
                                {"mlp.c_proj.weight", 2, F, D, &b->fcp_w},
                                {"mlp.c_proj.bias", 1, D, 0, &b->fcp_b}};
        char prefix[96];
        snprintf(prefix, sizeof prefix, "decoder.transformer.h.%d.", l);
        s = bind(m, prefix, w, sizeof w / sizeof w[0]);
    }
    if (s) return s;
    /* the shared pre-LN block over Conv1D views: q | k | v columns of c_attn,
     * k | v of the cross-attention's c_attn (it reads the projected image) */
    m->block = (dec_block){.pre_ln = 1,
                           .causal = 1,
                           .cross = 1,
                           .act = SC_ACT_GELU_TANH,
                           .eps = d->layer_norm_epsilon,
                           .layers = d->n_layer,
                           .D = (int)D,
                           .F = (int)F,
                           .H = d->n_head,
                           .Ti = sc_vit_gpt2_image_tokens(m),
                           .Dimg = (int)D};
    if (!(m->block_layers = calloc((size_t)d->n_layer, sizeof *m->block_layers)))
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int l = 0; l < d->n_layer; l++) {
        const gpt2_block *b = &m->blocks[l];
        const int e = (int)D, f = (int)F;
        m->block_layers[l] = (dec_layer){{b->attn_w, b->attn_b, 3 * e, 1},
                                         {b->attn_w + e, b->attn_b + e, 3 * e, 1},
                                         {b->attn_w + 2 * e, b->attn_b + 2 * e, 3 * e, 1},
                                         {b->proj_w, b->proj_b, e, 1},
                                         {b->xq_w, b->xq_b, e, 1},
                                         {b->xkv_w, b->xkv_b, 2 * e, 1},
                                         {b->xkv_w + e, b->xkv_b + e, 2 * e, 1},
                                         {b->xproj_w, b->xproj_b, e, 1},
                                         {b->fc_w, b->fc_b, f, 1},
                                         {b->fcp_w, b->fcp_b, e, 1},
                                         {b->ln1_w, b->lnx_w, b->ln2_w},
                                         {b->ln1_b, b->lnx_b, b->ln2_b}};
    }
    return SC_OK;
}

/* The special token's text from tokenizer_config.json's eos_token (a string
 * or an AddedToken object), "<|endoftext|>" without one. */
static sc_status special_token(const char *tokcfg, const char *tname, char *out, size_t cap) {
    snprintf(out, cap, "<|endoftext|>");
    if (!tokcfg) return SC_OK;
    cJSON *root = cJSON_Parse(tokcfg);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sc_set_error(SC_ERR_FORMAT, "%s: not a JSON object", tname);
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "eos_token");
    if (cJSON_IsObject(e)) e = cJSON_GetObjectItemCaseSensitive(e, "content");
    sc_status s = SC_OK;
    if (cJSON_IsString(e) && strlen(e->valuestring) < cap)
        snprintf(out, cap, "%s", e->valuestring);
    else if (e && !cJSON_IsNull(e))
        s = sc_set_error(SC_ERR_FORMAT, "%s: eos_token must be a string", tname);
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------------------- load */
sc_status sc_vit_gpt2_load(const char *dir, sc_vit_gpt2 **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_load: out is NULL");
    *out = NULL;
    if (!dir) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_load: dir is NULL");
    struct stat sb;
    if (stat(dir, &sb) != 0) return sc_set_error(SC_ERR_IO, "%s: no such file or folder", dir);
    if (!S_ISDIR(sb.st_mode))
        return sc_set_error(SC_ERR_FORMAT, "%s: a ViT-GPT2 model is a Hugging Face folder", dir);
    sc_vit_gpt2 *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = default_config();
    enum { CONFIG, GENERATION, PREPROC, TOKCFG, VOCAB, MERGES, WEIGHTS, NFILES };
    const char *names[NFILES] = {"config.json",
                                 "generation_config.json",
                                 "preprocessor_config.json",
                                 "tokenizer_config.json",
                                 "vocab.json",
                                 "merges.txt",
                                 "model.safetensors"};
    char *text[4] = {0}, *path[NFILES] = {0};
    sc_status s = SC_OK;
    for (int i = 0; i < 4 && !s; i++)
        s = read_json_file(dir, names[i], i != CONFIG, &text[i], &path[i]);
    for (int i = 4; i < NFILES && !s; i++) {
        size_t n = strlen(dir) + strlen(names[i]) + 2;
        if (!(path[i] = malloc(n))) s = sc_set_error(SC_ERR_NOMEM, "out of memory");
        if (!s) snprintf(path[i], n, "%s/%s", dir, names[i]);
    }
    if (!s)
        s = parse_config(text[CONFIG], text[GENERATION], path[CONFIG], path[GENERATION], &m->cfg);
    if (!s && text[PREPROC]) {
        sc_blip_config pc = sc_blip_default_config();
        pc.preprocess = m->cfg.preprocess;
        s = sc_blip_preprocess_parse(text[PREPROC], path[PREPROC], &pc);
        if (!s) m->cfg.preprocess = pc.preprocess;
    }
    char special[128];
    if (!s) s = special_token(text[TOKCFG], path[TOKCFG], special, sizeof special);
    for (int i = VOCAB; i <= MERGES && !s; i++)
        if (stat(path[i], &sb) != 0)
            s = sc_set_error(SC_ERR_IO, "%s: missing (a ViT-GPT2 model folder needs it)", path[i]);
    if (!s) s = sc_bpe_load(path[VOCAB], path[MERGES], special, &m->bpe);
    if (!s && sc_bpe_size(m->bpe) > m->cfg.decoder.vocab_size)
        s = sc_set_error(SC_ERR_FORMAT, "%s: ids up to %d, but %s says decoder.vocab_size %d",
                         path[VOCAB], sc_bpe_size(m->bpe) - 1, path[CONFIG],
                         m->cfg.decoder.vocab_size);
    if (!s && stat(path[WEIGHTS], &sb) != 0) {
        char bin[4096];
        snprintf(bin, sizeof bin, "%s/pytorch_model.bin", dir);
        s = sc_set_error(SC_ERR_IO, "%s: missing%s", path[WEIGHTS],
                         stat(bin, &sb) == 0
                             ? " (the folder has pytorch_model.bin: convert it with "
                               "tools/convert_hf.py DIR)"
                             : "");
    }
    if (!s) s = sc_safetensors_open(path[WEIGHTS], &m->st);
    if (!s) s = open_vit(m);
    if (!s) s = bind_decoder(m);
    for (int i = 0; i < 4; i++) free(text[i]);
    for (int i = 0; i < NFILES; i++) free(path[i]);
    if (s) {
        sc_vit_gpt2_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

void sc_vit_gpt2_free(sc_vit_gpt2 *m) {
    if (!m) return;
    sc_bpe_free(m->bpe);
    free(m->blocks);
    free(m->block_layers);
    sc_vit_free(m->vit);
    sc_arena_free(m->arena);
    sc_safetensors_free(m->st);
    free(m->image_d);
    free(m);
}

const sc_vit_gpt2_config *sc_vit_gpt2_get_config(const sc_vit_gpt2 *m) {
    return m ? &m->cfg : NULL;
}

const sc_bpe *sc_vit_gpt2_tokenizer(const sc_vit_gpt2 *m) {
    return m ? m->bpe : NULL;
}

int sc_vit_gpt2_grid(const sc_vit_gpt2 *m) {
    return m ? m->cfg.encoder.image_size / m->cfg.encoder.patch_size : 0;
}

int sc_vit_gpt2_image_tokens(const sc_vit_gpt2 *m) {
    const int g = sc_vit_gpt2_grid(m);
    return m ? 1 + g * g : 0;
}

sc_status sc_vit_gpt2_preprocess(const sc_vit_gpt2 *m, const sc_image *img, float *pixel_values) {
    if (!m) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_preprocess: NULL argument");
    return blip_pixels(&m->cfg.preprocess, m->cfg.encoder.image_size, img, pixel_values,
                       "sc_vit_gpt2_preprocess");
}
