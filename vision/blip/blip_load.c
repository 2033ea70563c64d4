/* Loading BLIP: a Hugging Face folder or one saccade .safetensors file, the
 * vocabulary, and the weights bound in place (sc_blip.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_util.h"
#include "blip_internal.h"
#include "sc_internal.h"

#define MAX_TEXT_FILE ((size_t)64 << 20)

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Reads dir/name into *out (NULL and SC_OK when optional and absent). */
static sc_status read_text(const char *dir, const char *name, int optional, char **out) {
    *out = NULL;
    char *p = join(dir, name);
    if (!p) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    struct stat sb;
    sc_status s = SC_OK;
    if (stat(p, &sb) != 0) {
        if (!optional) s = sc_set_error(SC_ERR_IO, "%s: missing (a BLIP model folder needs it)", p);
    } else {
        unsigned char *buf = NULL;
        size_t len = 0;
        s = sc_read_file(p, MAX_TEXT_FILE, &buf, &len);
        if (!s && strlen((char *)buf) != len) {
            free(buf);
            s = sc_set_error(SC_ERR_FORMAT, "%s: contains a NUL byte", p);
        } else if (!s)
            *out = (char *)buf;
    }
    free(p);
    return s;
}

/* The tokenizer of vocab.txt and tokenizer_config.json (sc_wordpiece.h), with
 * [DEC] and [ENC] added as special tokens when the files lack them (BLIP's
 * processor has them: [DEC] starts every caption); its size must be
 * text_config.vocab_size. */
static sc_status load_tokenizer(sc_blip *m, int folder, const char *vname, const char *tname,
                                const char *cname) {
    sc_status s =
        folder ? sc_wordpiece_load(vname, m->tokcfg_json ? tname : NULL, &m->wp)
               : sc_wordpiece_load_memory(m->vocab_txt, strlen(m->vocab_txt), m->tokcfg_json,
                                          m->tokcfg_json ? strlen(m->tokcfg_json) : 0, &m->wp);
    const char *extra[2] = {"[DEC]", "[ENC]"};
    for (int k = 0; k < 2 && !s; k++)
        if (sc_wordpiece_id(m->wp, extra[k]) < 0)
            s = sc_wordpiece_add_special(m->wp, extra[k], NULL);
    if (s) return s;
    const int n = sc_wordpiece_size(m->wp), V = m->cfg.text.vocab_size;
    if (n != V)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: %d tokens with the added ones ([DEC], [ENC], ...), but %s says "
                            "text_config.vocab_size %d",
                            vname, n, cname, V);
    for (int id = 0; id < V; id++)
        if (!sc_wordpiece_token(m->wp, id))
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: no token has id %d (with the added tokens), but %s says "
                                "text_config.vocab_size %d",
                                vname, id, cname, V);
    return SC_OK;
}

/* ---------------------------------------------------------------- weights */
/* sc_vit's names -> BlipVisionModel's */
static int vit_names(const char *vit, char *out, size_t cap, void *ctx) {
    (void)ctx;
    static const char *const fixed[][2] = {
        {"patch_embed.proj.weight", "embeddings.patch_embedding.weight"},
        {"patch_embed.proj.bias", "embeddings.patch_embedding.bias"},
        {"cls_token", "embeddings.class_embedding"},
        {"pos_embed", "embeddings.position_embedding"},
        {"norm.weight", "post_layernorm.weight"},
        {"norm.bias", "post_layernorm.bias"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(vit, fixed[i][0]))
            return snprintf(out, cap, "vision_model.%s", fixed[i][1]) >= (int)cap;
    static const char *const layer[][2] = {
        {"self_attn.in_proj_weight", "self_attn.qkv.weight"},
        {"self_attn.in_proj_bias", "self_attn.qkv.bias"},
        {"self_attn.out_proj.weight", "self_attn.projection.weight"},
        {"self_attn.out_proj.bias", "self_attn.projection.bias"},
        {"linear1.weight", "mlp.fc1.weight"},
        {"linear1.bias", "mlp.fc1.bias"},
        {"linear2.weight", "mlp.fc2.weight"},
        {"linear2.bias", "mlp.fc2.bias"},
        {"norm1.weight", "layer_norm1.weight"},
        {"norm1.bias", "layer_norm1.bias"},
        {"norm2.weight", "layer_norm2.weight"},
        {"norm2.bias", "layer_norm2.bias"}};
    int l, used = 0;
    if (sscanf(vit, "layers.%d.%n", &l, &used) != 1 || !used) return 1;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (!strcmp(vit + used, layer[i][0]))
            return snprintf(out, cap, "vision_model.encoder.layers.%d.%s", l, layer[i][1]) >=
                   (int)cap;
    return 1;
}

typedef struct {
    const char *suffix; /* after the prefix */
    int ndim;
    const int64_t *shape;
    const float **dst;
} tensor_ref;

/* Binds every tensor prefix + suffix of the table (exact shapes). */
static sc_status bind_table(sc_blip *m, const char *prefix, const tensor_ref *t, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char nm[256];
        snprintf(nm, sizeof nm, "%s%s", prefix, t[i].suffix);
        sc_status s = sc_safetensors_get_f32(m->st, nm, t[i].ndim, t[i].shape, t[i].dst);
        if (s) return s;
    }
    return SC_OK;
}

/* Binds a BERT stack under prefix (prefix + "embeddings.", prefix +
 * "encoder.layer.{l}."): embeddings and layers. */
static sc_status bind_bert(sc_blip *m, const char *prefix, blip_bert *out) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int64_t D = t->hidden_size, F = t->intermediate_size, V = t->vocab_size,
                  Dv = t->encoder_hidden_size, P = t->max_position_embeddings;
    const int64_t s_vd[2] = {V, D}, s_pd[2] = {P, D}, s_d[1] = {D}, s_dd[2] = {D, D},
                  s_ddv[2] = {D, Dv}, s_fd[2] = {F, D}, s_f[1] = {F}, s_df[2] = {D, F};
    const tensor_ref emb[] = {{"word_embeddings.weight", 2, s_vd, &out->word_emb},
                              {"position_embeddings.weight", 2, s_pd, &out->pos_emb},
                              {"LayerNorm.weight", 1, s_d, &out->emb_ln_w},
                              {"LayerNorm.bias", 1, s_d, &out->emb_ln_b}};
    char ep[96];
    snprintf(ep, sizeof ep, "%sembeddings.", prefix);
    sc_status s = bind_table(m, ep, emb, 4);
    if (s) return s;
    out->layers = calloc((size_t)t->num_hidden_layers, sizeof *out->layers);
    if (!out->layers) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int l = 0; l < t->num_hidden_layers && !s; l++) {
        blip_text_layer *L = &out->layers[l];
        const tensor_ref w[] = {{"attention.self.query.weight", 2, s_dd, &L->sq_w},
                                {"attention.self.query.bias", 1, s_d, &L->sq_b},
                                {"attention.self.key.weight", 2, s_dd, &L->sk_w},
                                {"attention.self.key.bias", 1, s_d, &L->sk_b},
                                {"attention.self.value.weight", 2, s_dd, &L->sv_w},
                                {"attention.self.value.bias", 1, s_d, &L->sv_b},
                                {"attention.output.dense.weight", 2, s_dd, &L->so_w},
                                {"attention.output.dense.bias", 1, s_d, &L->so_b},
                                {"attention.output.LayerNorm.weight", 1, s_d, &L->sln_w},
                                {"attention.output.LayerNorm.bias", 1, s_d, &L->sln_b},
                                {"crossattention.self.query.weight", 2, s_dd, &L->cq_w},
                                {"crossattention.self.query.bias", 1, s_d, &L->cq_b},
                                {"crossattention.self.key.weight", 2, s_ddv, &L->ck_w},
                                {"crossattention.self.key.bias", 1, s_d, &L->ck_b},
                                {"crossattention.self.value.weight", 2, s_ddv, &L->cv_w},
                                {"crossattention.self.value.bias", 1, s_d, &L->cv_b},
                                {"crossattention.output.dense.weight", 2, s_dd, &L->co_w},
                                {"crossattention.output.dense.bias", 1, s_d, &L->co_b},
                                {"crossattention.output.LayerNorm.weight", 1, s_d, &L->cln_w},
                                {"crossattention.output.LayerNorm.bias", 1, s_d, &L->cln_b},
                                {"intermediate.dense.weight", 2, s_fd, &L->fi_w},
                                {"intermediate.dense.bias", 1, s_f, &L->fi_b},
                                {"output.dense.weight", 2, s_df, &L->fo_w},
                                {"output.dense.bias", 1, s_d, &L->fo_b},
                                {"output.LayerNorm.weight", 1, s_d, &L->fln_w},
                                {"output.LayerNorm.bias", 1, s_d, &L->fln_b}};
        char lp[128];
        snprintf(lp, sizeof lp, "%sencoder.layer.%d.", prefix, l);
        s = bind_table(m, lp, w, sizeof w / sizeof w[0]);
    }
    return s;
}

/* layers as the shared post-LN block sees them (nn.Linear layout): *views
 * (calloc'd) and m->block, the same for the decoder and the text encoder
 * (blip_step sets causal, cross and the cross-attention tokens per pass). */
static sc_status block_views(sc_blip *m, const blip_text_layer *layers, dec_layer **views) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int D = t->hidden_size, F = t->intermediate_size, Dv = t->encoder_hidden_size;
    m->block = (dec_block){.pre_ln = 0,
                           .causal = 1,
                           .cross = 1,
                           .act = SC_ACT_GELU,
                           .eps = t->layer_norm_eps,
                           .layers = t->num_hidden_layers,
                           .D = D,
                           .F = F,
                           .H = t->num_attention_heads,
                           .Ti = sc_blip_image_tokens(m),
                           .Dimg = Dv};
    if (!(*views = calloc((size_t)t->num_hidden_layers, sizeof **views)))
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int l = 0; l < t->num_hidden_layers; l++) {
        const blip_text_layer *L = &layers[l];
        (*views)[l] = (dec_layer){{L->sq_w, L->sq_b, D, 0},       {L->sk_w, L->sk_b, D, 0},
                                  {L->sv_w, L->sv_b, D, 0},       {L->so_w, L->so_b, D, 0},
                                  {L->cq_w, L->cq_b, D, 0},       {L->ck_w, L->ck_b, Dv, 0},
                                  {L->cv_w, L->cv_b, Dv, 0},      {L->co_w, L->co_b, D, 0},
                                  {L->fi_w, L->fi_b, D, 0},       {L->fo_w, L->fo_b, F, 0},
                                  {L->sln_w, L->cln_w, L->fln_w}, {L->sln_b, L->cln_b, L->fln_b}};
    }
    return SC_OK;
}

static sc_status bind_text(sc_blip *m) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int64_t D = t->hidden_size, V = t->vocab_size;
    const int64_t s_vd[2] = {V, D}, s_d[1] = {D}, s_dd[2] = {D, D}, s_v[1] = {V};
    const tensor_ref head[] = {{"transform.dense.weight", 2, s_dd, &m->head_w},
                               {"transform.dense.bias", 1, s_d, &m->head_b},
                               {"transform.LayerNorm.weight", 1, s_d, &m->head_ln_w},
                               {"transform.LayerNorm.bias", 1, s_d, &m->head_ln_b}};
    const char *H = "text_decoder.cls.predictions.";
    blip_bert dec = {0};
    sc_status s = bind_bert(m, "text_decoder.bert.", &dec);
    m->word_emb = dec.word_emb, m->pos_emb = dec.pos_emb;
    m->emb_ln_w = dec.emb_ln_w, m->emb_ln_b = dec.emb_ln_b, m->layers = dec.layers;
    if (!s) s = bind_table(m, H, head, 4);
    if (s) return s;
    if ((s = block_views(m, m->layers, &m->block_layers))) return s;
    /* the decoder is tied to the word embeddings and cls.predictions.bias when
     * absent (transformers' _tied_weights_keys) */
    char nw[256], nb[256], nd[256];
    snprintf(nw, sizeof nw, "%sdecoder.weight", H);
    snprintf(nd, sizeof nd, "%sdecoder.bias", H);
    snprintf(nb, sizeof nb, "%sbias", H);
    m->dec_w = m->word_emb;
    if (sc_safetensors_find(m->st, nw) >= 0 &&
        (s = sc_safetensors_get_f32(m->st, nw, 2, s_vd, &m->dec_w)))
        return s;
    const char *bias = sc_safetensors_find(m->st, nd) >= 0 ? nd : nb;
    if (sc_safetensors_find(m->st, bias) < 0)
        return sc_set_error(SC_ERR_FORMAT, "%s: no tensor named %s (nor %s)",
                            sc_safetensors_name(m->st), nb, nd);
    return sc_safetensors_get_f32(m->st, bias, 1, s_v, &m->dec_b);
}

/* BlipForImageTextRetrieval's heads: vision_proj, text_proj (to
 * image_text_hidden_size, config.json's top level, default 256) and itm_head. */
static sc_status bind_itm(sc_blip *m, const char *cname) {
    const int64_t D = m->cfg.text.hidden_size, Dv = m->cfg.vision.hidden_size;
    int E = 256;
    cJSON *root = cJSON_Parse(m->config_json);
    const cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "image_text_hidden_size") : NULL;
    sc_status s = SC_OK;
    if (e && !cJSON_IsNull(e)) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int)e->valuedouble ||
            e->valuedouble < 1 || e->valuedouble > 65536)
            s = sc_set_error(SC_ERR_FORMAT, "%s: image_text_hidden_size must be a positive integer",
                             cname);
        else
            E = (int)e->valuedouble;
    }
    cJSON_Delete(root);
    if (s) return s;
    m->proj_dim = E;
    const int64_t s_ev[2] = {E, Dv}, s_ed[2] = {E, D}, s_e[1] = {E}, s_2d[2] = {2, D}, s_2[1] = {2};
    const tensor_ref heads[] = {{"vision_proj.weight", 2, s_ev, &m->vision_proj_w},
                                {"vision_proj.bias", 1, s_e, &m->vision_proj_b},
                                {"text_proj.weight", 2, s_ed, &m->text_proj_w},
                                {"text_proj.bias", 1, s_e, &m->text_proj_b},
                                {"itm_head.weight", 2, s_2d, &m->itm_w},
                                {"itm_head.bias", 1, s_2, &m->itm_b}};
    return bind_table(m, "", heads, sizeof heads / sizeof heads[0]);
}

static sc_status open_vit(sc_blip *m) {
    const sc_blip_vision_config *v = &m->cfg.vision;
    sc_vit_config c = sc_vit_default_config();
    c.image_size = v->image_size, c.patch = v->patch_size, c.in_channels = v->num_channels;
    c.dim = v->hidden_size, c.depth = v->num_hidden_layers, c.heads = v->num_attention_heads;
    c.mlp_dim = v->intermediate_size, c.cls_token = 1, c.pos = SC_VIT_POS_LEARNED, c.gelu = 1;
    c.dropout = 0.0f, c.ln_eps = v->layer_norm_eps;
    return sc_vit_open_view(&c, m->st, vit_names, NULL, &m->vit);
}

/* ---------------------------------------------------------------- load */
static sc_status load_folder(sc_blip *m, const char *dir) {
    sc_status s;
    if ((s = read_text(dir, "config.json", 0, &m->config_json)) ||
        (s = read_text(dir, "vocab.txt", 0, &m->vocab_txt)) ||
        (s = read_text(dir, "preprocessor_config.json", 1, &m->preproc_json)) ||
        (s = read_text(dir, "tokenizer_config.json", 1, &m->tokcfg_json)))
        return s;
    char *p = join(dir, "model.safetensors");
    if (!p) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (stat(p, &sb) != 0) {
        char *bin = join(dir, "pytorch_model.bin");
        int has_bin = bin && stat(bin, &sb) == 0;
        free(bin);
        s = sc_set_error(SC_ERR_IO, "%s: missing%s", p,
                         has_bin ? " (the folder has pytorch_model.bin: convert it with "
                                   "tools/convert_hf.py DIR)"
                                 : "");
    } else
        s = sc_safetensors_open(p, &m->st);
    free(p);
    return s;
}

static sc_status load_single(sc_blip *m, const char *path) {
    sc_status s = sc_safetensors_open(path, &m->st);
    if (s) return s;
    const char *keys[4] = {"saccade.config", "saccade.vocab", "saccade.preprocessor",
                           "saccade.tokenizer_config"};
    char **dst[4] = {&m->config_json, &m->vocab_txt, &m->preproc_json, &m->tokcfg_json};
    for (int i = 0; i < 4; i++) {
        const char *v = sc_safetensors_metadata(m->st, keys[i]);
        if (!v && i < 2)
            return sc_set_error(SC_ERR_FORMAT, "%s: no metadata \"%s\" (not a BLIP model file)",
                                path, keys[i]);
        if (v && !(*dst[i] = strdup(v))) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    return SC_OK;
}

sc_status sc_blip_load(const char *path, sc_blip **out) {
    return blip_load_parts(path, BLIP_PART_DECODER, out);
}

sc_status blip_load_parts(const char *path, int parts, sc_blip **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_load: out is NULL");
    *out = NULL;
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_load: path is NULL");
    struct stat sb;
    if (stat(path, &sb) != 0) return sc_set_error(SC_ERR_IO, "%s: no such file or folder", path);
    sc_blip *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = sc_blip_default_config();
    const int folder = S_ISDIR(sb.st_mode);
    sc_status s = (m->path = strdup(path)) ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!s) s = folder ? load_folder(m, path) : load_single(m, path);
    char *cname = folder ? join(path, "config.json") : strdup(path);
    char *vname = folder ? join(path, "vocab.txt") : strdup(path);
    char *pname = folder ? join(path, "preprocessor_config.json") : strdup(path);
    char *tname = folder ? join(path, "tokenizer_config.json") : strdup(path);
    if (!s && (!cname || !vname || !pname || !tname))
        s = sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!s) s = sc_blip_config_parse(m->config_json, cname, &m->cfg);
    if (!s && m->preproc_json) s = sc_blip_preprocess_parse(m->preproc_json, pname, &m->cfg);
    if (!s) s = load_tokenizer(m, folder, vname, tname, cname);
    if (!s) s = open_vit(m);
    m->parts = parts;
    if (!s && (parts & BLIP_PART_DECODER)) s = bind_text(m);
    if (!s && (parts & BLIP_PART_ENCODER)) s = bind_bert(m, "text_encoder.", &m->enc);
    if (!s && (parts & BLIP_PART_ENCODER)) s = block_views(m, m->enc.layers, &m->enc_block_layers);
    if (!s && (parts & BLIP_PART_ITM)) s = bind_itm(m, cname);
    free(cname), free(vname), free(pname), free(tname);
    if (s) {
        sc_blip_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

void sc_blip_free(sc_blip *m) {
    if (!m) return;
    sc_wordpiece_free(m->wp);
    free(m->layers);
    free(m->block_layers);
    free(m->enc.layers);
    free(m->enc_block_layers);
    sc_vit_free(m->vit);
    sc_arena_free(m->arena);
    sc_safetensors_free(m->st);
    free(m->path);
    free(m->config_json), free(m->vocab_txt), free(m->preproc_json), free(m->tokcfg_json);
    free(m);
}

const sc_blip_config *sc_blip_get_config(const sc_blip *m) {
    return m ? &m->cfg : NULL;
}

const char *sc_blip_token(const sc_blip *m, int id) {
    return m && id >= 0 && id < m->cfg.text.vocab_size ? sc_wordpiece_token(m->wp, id) : NULL;
}

int sc_blip_token_id(const sc_blip *m, const char *token) {
    return m && token ? sc_wordpiece_id(m->wp, token) : -1;
}

const sc_wordpiece *sc_blip_tokenizer(const sc_blip *m) {
    return m ? m->wp : NULL;
}

sc_status sc_blip_prompt_ids(const sc_blip *m, const char *text, int **ids, int *n) {
    if (!m || !text || !ids || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_prompt_ids: NULL argument");
    *ids = NULL, *n = 0;
    int32_t *enc = NULL;
    size_t len = 0;
    sc_status s = sc_wordpiece_encode(m->wp, text, strlen(text), 1, &enc, &len);
    if (s) return s;
    /* the processor's [CLS] prompt [SEP]: [CLS] becomes [DEC] (the start the
     * decoder adds itself) and [SEP] is dropped */
    const int k = len >= 2 ? (int)len - 2 : 0;
    int *out = malloc((size_t)(k ? k : 1) * sizeof(int));
    if (!out) {
        free(enc);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < k; i++) out[i] = enc[1 + i];
    free(enc);
    *ids = out, *n = k;
    return SC_OK;
}

sc_status sc_blip_decode(const sc_blip *m, const int *ids, int n, int skip_special, char **text) {
    if (!m || (n > 0 && !ids) || n < 0 || !text)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_decode: bad argument");
    int32_t *v = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!v) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) v[i] = ids[i];
    sc_status s = sc_wordpiece_decode(m->wp, v, (size_t)n, skip_special, -1, text);
    free(v);
    return s;
}

int sc_blip_vocab_size(const sc_blip *m) {
    return m ? m->cfg.text.vocab_size : 0;
}

int sc_blip_grid(const sc_blip *m) {
    return m ? m->cfg.vision.image_size / m->cfg.vision.patch_size : 0;
}

int sc_blip_image_tokens(const sc_blip *m) {
    int g = sc_blip_grid(m);
    return m ? 1 + g * g : 0;
}

sc_status sc_blip_save_single(const sc_blip *m, const char *path) {
    if (!m || !path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_save_single: NULL argument");
    sc_st_writer *w = sc_st_writer_new();
    if (!w) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status s = sc_st_writer_set_metadata(w, "saccade.model", "blip");
    const char *keys[4] = {"saccade.config", "saccade.vocab", "saccade.preprocessor",
                           "saccade.tokenizer_config"};
    const char *vals[4] = {m->config_json, m->vocab_txt, m->preproc_json, m->tokcfg_json};
    for (int i = 0; i < 4 && !s; i++)
        if (vals[i]) s = sc_st_writer_set_metadata(w, keys[i], vals[i]);
    const size_t n = sc_safetensors_count(m->st);
    for (size_t i = 0; i < n && !s; i++) {
        sc_st_tensor_info ti;
        const float *d;
        if ((s = sc_safetensors_info(m->st, i, &ti))) break;
        static const char *const used[] = {"vision_model.", "text_decoder.", "text_encoder.",
                                           "vision_proj.",  "text_proj.",    "itm_head."};
        int keep = 0;
        for (size_t k = 0; k < sizeof used / sizeof used[0]; k++)
            keep |= !strncmp(ti.name, used[k], strlen(used[k]));
        if (!keep) continue; /* other heads of a BLIP checkpoint are not used here */
        if (ti.dtype_id != SC_ST_F32 && ti.dtype_id != SC_ST_F16 && ti.dtype_id != SC_ST_BF16 &&
            ti.dtype_id != SC_ST_F64)
            continue; /* integer buffers (position_ids) */
        if ((s = sc_safetensors_get_f32_at(m->st, i, &d))) break;
        s = sc_st_writer_add_f32(w, ti.name, d, ti.ndim, ti.shape, SC_ST_F32);
    }
    if (!s) s = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    return s;
}
