/* saccade: Show, Attend and Tell captioner — model, config, files, preprocessing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_internal.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

#define MAX_DIM 65536

sc_captioner_config sc_captioner_default_config(void) {
    sc_captioner_config c;
    memset(&c, 0, sizeof c);
    c.encoder = SC_CAP_ENC_FEATURES;
    c.grid = 14;
    c.image_size = 256;
    c.encoder_dim = 2048;
    c.attention_dim = 512;
    c.embed_dim = 512;
    c.decoder_dim = 512;
    c.vocab_size = 0;
    c.attention_tanh = 0;
    c.gate = SC_CAP_GATE_VECTOR;
    c.dropout = 0.5f;
    return c;
}

static const char *enc_names[] = {"features", "resnet", "cnn", "vit"};
static const char *gate_names[] = {"none", "vector", "scalar"};

static sc_status check_config(const sc_captioner_config *c) {
    if ((int)c->encoder < 0 || (int)c->encoder > 3)
        return sc_set_error(SC_ERR_INVALID_ARG, "captioner config: bad encoder kind %d",
                            (int)c->encoder);
    struct {
        const char *n;
        int v, hi;
    } dims[] = {{"grid", c->grid, 256},
                {"image_size", c->image_size, 8192},
                {"encoder_dim", c->encoder_dim, MAX_DIM},
                {"attention_dim", c->attention_dim, MAX_DIM},
                {"embed_dim", c->embed_dim, MAX_DIM},
                {"decoder_dim", c->decoder_dim, MAX_DIM},
                {"vocab_size", c->vocab_size, SC_VOCAB_MAX_WORDS}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (dims[i].v <= 0 || dims[i].v > dims[i].hi)
            return sc_set_error(SC_ERR_INVALID_ARG, "captioner config: %s = %d is not in [1, %d]",
                                dims[i].n, dims[i].v, dims[i].hi);
    if ((int)c->gate < 0 || (int)c->gate > 2)
        return sc_set_error(SC_ERR_INVALID_ARG, "captioner config: bad gate %d", (int)c->gate);
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "captioner config: dropout %g not in [0, 1)",
                            (double)c->dropout);
    if (memchr(c->encoder_arch, 0, sizeof c->encoder_arch) == NULL)
        return sc_set_error(SC_ERR_INVALID_ARG, "captioner config: encoder_arch not terminated");
    return SC_OK;
}

char *sc_captioner_config_to_json(const sc_captioner_config *c) {
    if (!c || check_config(c) != SC_OK) {
        if (!c) sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_config_to_json: NULL config");
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddStringToObject(o, "model", "show_attend_tell");
    ok = ok && cJSON_AddStringToObject(o, "encoder", enc_names[c->encoder]);
    ok = ok && cJSON_AddStringToObject(o, "encoder_arch", c->encoder_arch);
    ok = ok && cJSON_AddNumberToObject(o, "grid", c->grid);
    ok = ok && cJSON_AddNumberToObject(o, "image_size", c->image_size);
    ok = ok && cJSON_AddNumberToObject(o, "encoder_dim", c->encoder_dim);
    ok = ok && cJSON_AddNumberToObject(o, "attention_dim", c->attention_dim);
    ok = ok && cJSON_AddNumberToObject(o, "embed_dim", c->embed_dim);
    ok = ok && cJSON_AddNumberToObject(o, "decoder_dim", c->decoder_dim);
    ok = ok && cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    ok = ok && cJSON_AddStringToObject(o, "attention", c->attention_tanh ? "tanh" : "relu");
    ok = ok && cJSON_AddStringToObject(o, "gate", gate_names[c->gate]);
    ok = ok && cJSON_AddNumberToObject(o, "dropout", c->dropout);
    if (c->ctx2out) ok = ok && cJSON_AddBoolToObject(o, "ctx2out", 1);
    if (c->att_coords) ok = ok && cJSON_AddBoolToObject(o, "att_coords", 1);
    if (c->hard_attention) ok = ok && cJSON_AddBoolToObject(o, "hard_attention", 1);
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) sc_set_error(SC_ERR_NOMEM, "sc_captioner_config_to_json: out of memory");
    return s;
}

static sc_status json_int(cJSON *o, const char *key, int *out, int required) {
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) {
        if (required) return sc_set_error(SC_ERR_FORMAT, "captioner config: missing \"%s\"", key);
        return SC_OK;
    }
    double d = it->valuedouble;
    if (!cJSON_IsNumber(it) || d != floor(d) || d < -2147483648.0 || d > 2147483647.0)
        return sc_set_error(SC_ERR_FORMAT, "captioner config: \"%s\" is not an integer", key);
    *out = (int)d;
    return SC_OK;
}

static sc_status json_enum(cJSON *o, const char *key, const char *const *names, int n, int *out) {
    cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it) return SC_OK;
    if (!cJSON_IsString(it))
        return sc_set_error(SC_ERR_FORMAT, "captioner config: \"%s\" is not a string", key);
    for (int i = 0; i < n; i++)
        if (strcmp(it->valuestring, names[i]) == 0) {
            *out = i;
            return SC_OK;
        }
    return sc_set_error(SC_ERR_UNSUPPORTED, "captioner config: unknown %s \"%.64s\"", key,
                        it->valuestring);
}

/* An optional boolean member: *out keeps its value when the key is absent. */
static sc_status json_bool(const cJSON *o, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) return SC_OK;
    if (!cJSON_IsBool(v))
        return sc_set_error(SC_ERR_FORMAT, "captioner config: \"%s\" is not a boolean", key);
    *out = cJSON_IsTrue(v);
    return SC_OK;
}

sc_status sc_captioner_config_from_json(const char *json, sc_captioner_config *out) {
    if (!json || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_config_from_json: NULL");
    cJSON *o = cJSON_Parse(json);
    if (!o) return sc_set_error(SC_ERR_FORMAT, "captioner config: invalid JSON");
    sc_captioner_config c = sc_captioner_default_config();
    sc_status st = SC_OK;
    int enc = 0, gate = 1, att = 0;
    static const char *att_names[] = {"relu", "tanh"};
    if (!cJSON_IsObject(o)) {
        st = sc_set_error(SC_ERR_FORMAT, "captioner config: not a JSON object");
        goto done;
    }
    cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (model && (!cJSON_IsString(model) || strcmp(model->valuestring, "show_attend_tell") != 0)) {
        st =
            sc_set_error(SC_ERR_UNSUPPORTED, "captioner config: model is not \"show_attend_tell\"");
        goto done;
    }
    if ((st = json_enum(o, "encoder", enc_names, 4, &enc)) ||
        (st = json_enum(o, "gate", gate_names, 3, &gate)) ||
        (st = json_enum(o, "attention", att_names, 2, &att)) ||
        (st = json_int(o, "grid", &c.grid, 0)) ||
        (st = json_int(o, "image_size", &c.image_size, 0)) ||
        (st = json_int(o, "encoder_dim", &c.encoder_dim, 1)) ||
        (st = json_int(o, "attention_dim", &c.attention_dim, 1)) ||
        (st = json_int(o, "embed_dim", &c.embed_dim, 1)) ||
        (st = json_int(o, "decoder_dim", &c.decoder_dim, 1)) ||
        (st = json_int(o, "vocab_size", &c.vocab_size, 1)))
        goto done;
    c.encoder = (sc_cap_encoder_kind)enc;
    c.gate = (sc_cap_gate)gate;
    c.attention_tanh = att;
    cJSON *arch = cJSON_GetObjectItemCaseSensitive(o, "encoder_arch");
    if (arch) {
        if (!cJSON_IsString(arch) || strlen(arch->valuestring) >= sizeof c.encoder_arch) {
            st = sc_set_error(SC_ERR_FORMAT, "captioner config: bad \"encoder_arch\"");
            goto done;
        }
        strcpy(c.encoder_arch, arch->valuestring);
    }
    if ((st = json_bool(o, "ctx2out", &c.ctx2out)) ||
        (st = json_bool(o, "att_coords", &c.att_coords)) ||
        (st = json_bool(o, "hard_attention", &c.hard_attention)))
        goto done;
    cJSON *dr = cJSON_GetObjectItemCaseSensitive(o, "dropout");
    if (dr) {
        if (!cJSON_IsNumber(dr)) {
            st = sc_set_error(SC_ERR_FORMAT, "captioner config: \"dropout\" is not a number");
            goto done;
        }
        c.dropout = (float)dr->valuedouble;
    }
    if ((st = check_config(&c)) != SC_OK) {
        st = SC_ERR_FORMAT;
        goto done;
    }
    *out = c;
done:
    cJSON_Delete(o);
    return st;
}

/* ---------------------------------------------------------------- tensors */

static sc_status setup_tensors(sc_captioner *m) {
    const sc_captioner_config *c = &m->cfg;
    int E = c->encoder_dim, A = c->attention_dim, M = c->embed_dim, H = c->decoder_dim,
        V = c->vocab_size, G = sc_cap_gate_dim(m);
    struct {
        const char *name;
        int64_t r, k; /* k = 0: 1-D */
    } spec[CW_COUNT] = {
        {"decoder.attention.encoder_att.weight", A, E},
        {"decoder.attention.encoder_att.bias", A, 0},
        {"decoder.attention.decoder_att.weight", A, H},
        {"decoder.attention.decoder_att.bias", A, 0},
        {"decoder.attention.full_att.weight", 1, A},
        {"decoder.attention.full_att.bias", 1, 0},
        {"decoder.embedding.weight", V, M},
        {"decoder.decode_step.weight_ih", 4 * (int64_t)H, (int64_t)M + E + (c->att_coords ? 2 : 0)},
        {"decoder.decode_step.weight_hh", 4 * (int64_t)H, H},
        {"decoder.decode_step.bias_ih", 4 * (int64_t)H, 0},
        {"decoder.decode_step.bias_hh", 4 * (int64_t)H, 0},
        {"decoder.init_h.weight", H, E},
        {"decoder.init_h.bias", H, 0},
        {"decoder.init_c.weight", H, E},
        {"decoder.init_c.bias", H, 0},
        {"decoder.f_beta.weight", G, H},
        {"decoder.f_beta.bias", G, 0},
        {"decoder.fc.weight", V, H},
        {"decoder.fc.bias", V, 0},
        {"decoder.fc_ctx.weight", V, E},
    };
    size_t total = 0, offs[CW_COUNT];
    for (int i = 0; i < CW_COUNT; i++) {
        size_t n;
        m->names[i] = spec[i].name;
        m->ndim[i] = spec[i].k ? 2 : 1;
        m->shape[i][0] = spec[i].r;
        m->shape[i][1] = spec[i].k ? spec[i].k : 1;
        if (sc_mul_size((size_t)spec[i].r, (size_t)(spec[i].k ? spec[i].k : 1), &n))
            return sc_set_error(SC_ERR_LIMIT, "captioner: tensor %s too large", spec[i].name);
        /* keep each tensor 16-float (64-byte) aligned */
        n = (n + 15) & ~(size_t)15;
        offs[i] = total;
        if (sc_add_size(total, n, &total))
            return sc_set_error(SC_ERR_LIMIT, "captioner: model too large");
    }
    if (total > ((size_t)1 << 34))
        return sc_set_error(SC_ERR_LIMIT, "captioner: %zu parameters is beyond the limit", total);
    m->nweights = total;
    memcpy(m->offs, offs, sizeof m->offs);
    for (int i = 0; i < CW_COUNT; i++)
        m->present[i] =
            !(G == 0 && (i == CW_FB_W || i == CW_FB_B)) && !(i == CW_FCC_W && !c->ctx2out);
    m->P = c->grid * c->grid;
    if (m->lazy_weights) return SC_OK; /* sc_captioner_load points w[] into the file */
    m->weights = sc_calloc(total, sizeof(float));
    if (!m->weights) return SC_ERR_NOMEM;
    for (int i = 0; i < CW_COUNT; i++) m->w[i] = m->present[i] ? m->weights + offs[i] : NULL;
    m->P = c->grid * c->grid;
    return SC_OK;
}

static size_t tensor_numel(const sc_captioner *m, int i) {
    return (size_t)m->shape[i][0] * (size_t)m->shape[i][1];
}

static sc_captioner *alloc_model(const sc_captioner_config *cfg, int lazy_weights) {
    sc_captioner *m = sc_calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->lazy_weights = lazy_weights;
    if (setup_tensors(m) != SC_OK) {
        sc_free(m->weights);
        sc_free(m);
        return NULL;
    }
    return m;
}

static sc_status copy_vocab(const sc_vocab *src, sc_vocab *dst) {
    return sc_vocab_from_words((const char *const *)src->words, src->n, dst);
}

static void uniform_fill(sc_rng *r, float *x, size_t n, float bound) {
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * sc_rng_uniform(r) - 1.0f) * bound;
}

sc_status sc_captioner_create(const sc_captioner_config *config, const sc_vocab *vocab,
                              uint64_t seed, sc_captioner **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_create: out is NULL");
    *out = NULL;
    if (!config || !vocab || vocab->n <= 0 || !vocab->words)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_create: NULL config or empty vocabulary");
    sc_status st = check_config(config);
    if (st) return st;
    if (config->vocab_size != vocab->n)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_create: config vocab_size %d != vocabulary size %d",
                            config->vocab_size, vocab->n);
    if (config->encoder != SC_CAP_ENC_FEATURES)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_create: only the features encoder can be created here "
                            "(see sc_captioner_create_cnn)");
    sc_captioner *m = alloc_model(config, 0);
    if (!m) return SC_ERR_NOMEM;
    if ((st = copy_vocab(vocab, &m->vocab)) != SC_OK) {
        sc_captioner_free(m);
        return st;
    }
    /* PyTorch defaults: Linear U(+-1/sqrt(in)) for weight and bias; LSTMCell
     * U(+-1/sqrt(H)); then the tutorial's init_weights. */
    sc_rng r;
    sc_rng_seed(&r, seed);
    for (int i = 0; i < CW_COUNT; i++) {
        if (!m->w[i]) continue;
        size_t n = tensor_numel(m, i);
        float bound;
        if (i == CW_EMB || i == CW_FC_W)
            bound = 0.1f;
        else if (i == CW_FC_B)
            bound = 0.0f;
        else if (i >= CW_W_IH && i <= CW_B_HH)
            bound = 1.0f / sqrtf((float)config->decoder_dim);
        else {
            int wi = (m->ndim[i] == 2) ? i : i - 1; /* bias follows its weight */
            bound = 1.0f / sqrtf((float)m->shape[wi][1]);
        }
        uniform_fill(&r, m->w[i], n, bound);
    }
    *out = m;
    return SC_OK;
}

void sc_captioner_free(sc_captioner *m) {
    if (!m) return;
    sc_vocab_free(&m->vocab);
    sc_free(m->weights);
    sc_free(m->grads);
    sc_arena_free(m->arena);
    sc_arena_free(m->loss_arena);
    sc_cap_encoder_free(m->enc);
    sc_cap_item_heads_free(m->heads);
    sc_safetensors_free(m->st);
    sc_free(m);
}

sc_status sc_captioner_load(const char *path, sc_captioner **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_load: out is NULL");
    *out = NULL;
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_load: path is NULL");
    sc_safetensors *st = NULL;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    sc_captioner *m = NULL;
    const char *cj = sc_safetensors_metadata(st, "saccade.config");
    const char *vj = sc_safetensors_metadata(st, "saccade.vocab");
    sc_captioner_config cfg;
    if (!cj) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: no \"saccade.config\" metadata (not a captioner model)", path);
        goto fail;
    }
    if (!vj) {
        s = sc_set_error(SC_ERR_FORMAT, "%s: no \"saccade.vocab\" metadata", path);
        goto fail;
    }
    if ((s = sc_captioner_config_from_json(cj, &cfg)) != SC_OK) {
        sc_error_prefix(path);
        goto fail;
    }
    m = alloc_model(&cfg, 1);
    if (!m) {
        s = SC_ERR_NOMEM;
        goto fail;
    }
    if ((s = sc_vocab_from_json(vj, strlen(vj), &m->vocab)) != SC_OK) {
        sc_error_prefix(path);
        goto fail;
    }
    if (m->vocab.n != cfg.vocab_size) {
        s = sc_set_error(SC_ERR_FORMAT, "%s: vocabulary has %d words but config vocab_size is %d",
                         path, m->vocab.n, cfg.vocab_size);
        goto fail;
    }
    for (int i = 0; i < CW_COUNT; i++) {
        if (!m->present[i]) {
            if (sc_safetensors_find(st, m->names[i]) >= 0) {
                s = sc_set_error(SC_ERR_FORMAT, "%s: tensor %s present but the config %s", path,
                                 m->names[i],
                                 i == CW_FCC_W ? "has no \"ctx2out\"" : "gate is \"none\"");
                goto fail;
            }
            continue;
        }
        const float *d;
        if ((s = sc_safetensors_get_f32(st, m->names[i], m->ndim[i], m->shape[i], &d)) != SC_OK)
            goto fail;
        m->w[i] = (float *)d; /* in place, read only until sc_captioner_params copies */
    }
    /* Every other tensor must belong to the encoder. */
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info info;
        if ((s = sc_safetensors_info(st, i, &info)) != SC_OK) goto fail;
        if (strncmp(info.name, "decoder.", 8) == 0) {
            int known = 0;
            for (int k = 0; k < CW_COUNT; k++)
                known |= m->present[k] && strcmp(info.name, m->names[k]) == 0;
            if (!known) {
                s = sc_set_error(SC_ERR_FORMAT, "%s: unexpected tensor %s", path, info.name);
                goto fail;
            }
        } else if (strncmp(info.name, "optim.", 6) == 0 &&
                   sc_safetensors_metadata(st, "saccade.train")) {
            continue; /* a training checkpoint (sc_train.h) is a usable model file */
        } else if (strncmp(info.name, "encoder.", 8) != 0) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: tensor %s is neither encoder.* nor decoder.*",
                             path, info.name);
            goto fail;
        }
    }
    if (cfg.encoder != SC_CAP_ENC_FEATURES) {
        if ((s = sc_cap_encoder_load(m, st, path)) != SC_OK) goto fail;
    }
    m->st = st; /* kept open: the decoder's and a pre-folded encoder's weights live in it */
    *out = m;
    return SC_OK;
fail:
    sc_captioner_free(m);
    sc_safetensors_free(st);
    return s;
}

sc_status sc_captioner_save(const sc_captioner *m, const char *path) {
    if (!m || !path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_save: NULL argument");
    if (m->cfg.encoder == SC_CAP_ENC_RESNET)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_save: the resnet encoder's weights are folded at load "
                            "and cannot be saved (convert with tools/convert_sat.py)");
    const int trainable_enc = m->cfg.encoder == SC_CAP_ENC_CNN || m->cfg.encoder == SC_CAP_ENC_VIT;
    if (trainable_enc && !m->enc)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_save: %s model without encoder",
                            enc_names[m->cfg.encoder]);
    sc_st_writer *w = sc_st_writer_new();
    if (!w) return SC_ERR_NOMEM;
    sc_status s = SC_OK;
    char *cj = sc_captioner_config_to_json(&m->cfg);
    char *vj = sc_vocab_to_json(&m->vocab);
    char *ej = NULL;
    if (trainable_enc && !(ej = sc_cap_encoder_config_json(m))) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    if (!cj || !vj) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    if ((s = sc_st_writer_set_metadata(w, SC_MODEL_KIND_KEY, "captioner")) ||
        (s = sc_st_writer_set_metadata(w, "saccade.config", cj)) ||
        (s = sc_st_writer_set_metadata(w, "saccade.vocab", vj)) ||
        (ej && (s = sc_st_writer_set_metadata(w, "saccade.encoder", ej))))
        goto done;
    if (ej) { /* encoder parameters and buffers, names already "encoder."-prefixed */
        const sc_param *lists[2];
        size_t ns[2];
        if ((s = sc_captioner_encoder_params((sc_captioner *)m, &lists[0], &ns[0], &lists[1],
                                             &ns[1])))
            goto done;
        for (int l = 0; l < 2; l++)
            for (size_t k = 0; k < ns[l]; k++) {
                const sc_param *p = &lists[l][k];
                int64_t flat[1] = {(int64_t)p->n};
                if ((s = sc_st_writer_add_f32(w, p->name, p->param, p->ndim ? p->ndim : 1,
                                              p->ndim ? p->shape : flat, SC_ST_F32)))
                    goto done;
            }
    }
    for (int i = 0; i < CW_COUNT; i++) {
        if (!m->w[i]) continue;
        if ((s = sc_st_writer_add_f32(w, m->names[i], m->w[i], m->ndim[i], m->shape[i], SC_ST_F32)))
            goto done;
    }
    s = sc_st_writer_write(w, path);
done:
    free(cj);
    free(vj);
    free(ej);
    sc_st_writer_free(w);
    return s;
}

const sc_captioner_config *sc_captioner_get_config(const sc_captioner *m) {
    return m ? &m->cfg : NULL;
}
const sc_vocab *sc_captioner_get_vocab(const sc_captioner *m) {
    return m ? &m->vocab : NULL;
}

sc_status sc_captioner_params(sc_captioner *m, const sc_param **params, size_t *n) {
    if (!m || !params || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_params: NULL argument");
    if (!m->weights) { /* loaded model: own a writable copy of the weights before training */
        float *wts = sc_malloc(m->nweights * sizeof(float));
        if (!wts) return SC_ERR_NOMEM;
        for (int i = 0; i < CW_COUNT; i++) {
            if (!m->present[i]) continue;
            memcpy(wts + m->offs[i], m->w[i], tensor_numel(m, i) * sizeof(float));
            m->w[i] = wts + m->offs[i];
        }
        m->weights = wts;
    }
    if (!m->grads) {
        m->grads = sc_calloc(m->nweights, sizeof(float));
        if (!m->grads) return SC_ERR_NOMEM;
        size_t np = 0;
        for (int i = 0; i < CW_COUNT; i++) {
            if (!m->w[i]) continue;
            m->g[i] = m->grads + (m->w[i] - m->weights);
            sc_param p;
            memset(&p, 0, sizeof p);
            p.name = m->names[i];
            p.param = m->w[i];
            p.grad = m->g[i];
            p.n = tensor_numel(m, i);
            p.no_weight_decay = m->ndim[i] == 1;
            p.ndim = m->ndim[i];
            p.shape[0] = m->shape[i][0];
            p.shape[1] = m->shape[i][1];
            m->params[np++] = p;
        }
        m->nparams = np;
    }
    *params = m->params;
    *n = m->nparams;
    return SC_OK;
}

/* ---------------------------------------------------------------- images */

sc_status sc_captioner_preprocess(const sc_captioner *m, const sc_image *img, sc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !img || !out || !img->data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_preprocess: NULL argument");
    if (img->w <= 0 || img->h <= 0 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_preprocess: bad image %dx%dx%d",
                            img->w, img->h, img->c);
    sc_image rgb = {0};
    const sc_image *src = img;
    if (img->c != 3) { /* gray -> 3 channels (as caption.py); RGBA -> drop alpha */
        sc_status s = sc_image_to_rgb(img, &rgb);
        if (s) return s;
        src = &rgb;
    }
    int S = m->cfg.image_size;
    sc_status s = sc_image_resize(src, S, S, SC_FILTER_TRIANGLE, out);
    sc_image_free(&rgb);
    if (s) return s;
    return sc_image_normalize(out, SC_IMAGENET_MEAN, SC_IMAGENET_STD);
}
