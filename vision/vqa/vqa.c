/* Stacked attention network for VQA (see sc_vqa.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"
#include "saccade/sc_vqa.h"
#include "vqa_internal.h"

/* ------------------------------------------------------------ config */

static const char *ARCH_NAMES[4] = {"san", "qonly", "pooled", "coatt"};
const char *sc_vqa_arch_name(sc_vqa_arch a) {
    return (a >= 0 && (int)a < 4) ? ARCH_NAMES[a] : NULL;
}
sc_status sc_vqa_arch_from_name(const char *name, sc_vqa_arch *out) {
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, ARCH_NAMES[i])) {
            *out = (sc_vqa_arch)i;
            return SC_OK;
        }
    return sc_set_error(SC_ERR_INVALID_ARG, "vqa: unknown arch '%s' (san, qonly, pooled, coatt)",
                        name ? name : "(null)");
}

sc_vqa_config sc_vqa_default_config(void) {
    sc_vqa_config c;
    memset(&c, 0, sizeof c);
    c.arch = SC_VQA_SAN;
    c.image_size = 96;
    for (int i = 0; i < 3; i++) c.mean[i] = 0.2f, c.std[i] = 0.3f;
    int ch[3] = {16, 32, 64};
    c.encoder = sc_cnn_config_make(3, 3, ch);
    c.encoder.kernel[0] = 5;
    c.encoder.stride[0] = 2;
    c.encoder.pool[0] = 1;
    c.encoder.pool[1] = 1;
    c.embed_dim = 64;
    c.hidden_dim = 128;
    c.att_dim = 64;
    c.hops = 2;
    c.max_len = 20;
    return c;
}

sc_status sc_vqa_config_validate(const sc_vqa_config *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: NULL");
    if ((int)c->arch < 0 || (int)c->arch > 3)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: bad arch");
    if (c->image_size < 8 || c->image_size > 1024)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: image_size %d not in 8..1024",
                            c->image_size);
    for (int i = 0; i < 3; i++)
        if (!(c->std[i] > 0) || !isfinite(c->mean[i]) || !isfinite(c->std[i]))
            return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: bad mean/std");
    if (c->embed_dim < 1 || c->embed_dim > 4096 || c->hidden_dim < 1 || c->hidden_dim > 4096 ||
        c->att_dim < 1 || c->att_dim > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: dims must be in 1..4096");
    if (c->hops < 1 || c->hops > SC_VQA_MAX_HOPS)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: hops %d not in 1..%d", c->hops,
                            SC_VQA_MAX_HOPS);
    if (c->max_len < 1 || c->max_len > SC_VQA_MAX_TOKENS)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: max_len %d not in 1..%d", c->max_len,
                            SC_VQA_MAX_TOKENS);
    if (c->encoder.in_channels != 3 && c->encoder.in_channels != 5)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vqa config: encoder takes %d input channels, must be 3 (RGB) or 5 "
                            "(RGB + x, y coordinate channels)",
                            c->encoder.in_channels);
    if (!memchr(c->encoder_from, 0, sizeof c->encoder_from))
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: encoder_from not terminated");
    if (c->mlp_dim < 0 || c->mlp_dim > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: mlp_dim %d not in 0..4096",
                            c->mlp_dim);
    if (c->freeze_encoder != 0 && c->freeze_encoder != 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: freeze_encoder must be 0 or 1");
    if (c->hop_coords != 0 && c->hop_coords != 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: hop_coords must be 0 or 1");
    if (c->hop_coords && c->arch != SC_VQA_SAN)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: hop_coords needs arch san");
    if (c->arch == SC_VQA_COATT && c->embed_dim != c->hidden_dim)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vqa config: coatt attends over word embeddings and image features "
                            "alike, so embed_dim (%d) must equal hidden_dim (%d)",
                            c->embed_dim, c->hidden_dim);
    sc_status st = sc_cnn_config_validate(&c->encoder);
    if (st) return st;
    int C, h, w;
    if ((st = sc_cnn_output_size(&c->encoder, c->image_size, c->image_size, &C, &h, &w))) return st;
    if (h * w > 1024)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: grid %dx%d above 1024 positions", h,
                            w);
    return SC_OK;
}

char *sc_vqa_config_to_json(const sc_vqa_config *c) {
    if (sc_vqa_config_validate(c)) return NULL;
    char *enc = sc_cnn_config_to_json(&c->encoder);
    if (!enc) return NULL;
    /* encoder_from is a file name: let cJSON escape it */
    cJSON *from = cJSON_CreateString(c->encoder_from);
    char *fromj = from ? cJSON_PrintUnformatted(from) : NULL;
    cJSON_Delete(from);
    size_t cap = strlen(enc) + (fromj ? strlen(fromj) : 0) + 600;
    char *s = fromj ? malloc(cap) : NULL;
    if (s) {
        int n = snprintf(s, cap,
                         "{\"arch\":\"%s\",\"image_size\":%d,\"mean\":[%.9g,%.9g,%.9g],"
                         "\"std\":[%.9g,%.9g,%.9g],\"encoder\":%s,\"embed_dim\":%d,"
                         "\"hidden_dim\":%d,\"att_dim\":%d,\"hops\":%d,\"max_len\":%d,"
                         "\"coords\":true",
                         ARCH_NAMES[c->arch], c->image_size, c->mean[0], c->mean[1], c->mean[2],
                         c->std[0], c->std[1], c->std[2], enc, c->embed_dim, c->hidden_dim,
                         c->att_dim, c->hops, c->max_len);
        if (c->mlp_dim) n += snprintf(s + n, cap - (size_t)n, ",\"mlp_dim\":%d", c->mlp_dim);
        if (c->hop_coords) n += snprintf(s + n, cap - (size_t)n, ",\"hop_coords\":true");
        if (c->encoder_from[0] || c->freeze_encoder)
            n += snprintf(s + n, cap - (size_t)n, ",\"encoder_from\":%s,\"freeze_encoder\":%s",
                          fromj, c->freeze_encoder ? "true" : "false");
        snprintf(s + n, cap - (size_t)n, "}");
    } else {
        sc_set_error(SC_ERR_NOMEM, "vqa config: out of memory");
    }
    free(fromj);
    free(enc);
    return s;
}

static int json_int(cJSON *o, const char *k, int *out) {
    cJSON *e = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e6)
        return -1;
    *out = (int)e->valuedouble;
    return 0;
}

sc_status sc_vqa_config_from_json(const char *json, sc_vqa_config *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa config: NULL argument");
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return sc_set_error(SC_ERR_FORMAT, "vqa config: not a JSON object");
    }
    sc_vqa_config c = sc_vqa_default_config();
    sc_status st = SC_OK;
    cJSON *arch = cJSON_GetObjectItemCaseSensitive(o, "arch");
    cJSON *enc = cJSON_GetObjectItemCaseSensitive(o, "encoder");
    cJSON *mean = cJSON_GetObjectItemCaseSensitive(o, "mean");
    cJSON *sd = cJSON_GetObjectItemCaseSensitive(o, "std");
    if (!cJSON_IsString(arch) || sc_vqa_arch_from_name(arch->valuestring, &c.arch) ||
        json_int(o, "image_size", &c.image_size) || json_int(o, "embed_dim", &c.embed_dim) ||
        json_int(o, "hidden_dim", &c.hidden_dim) || json_int(o, "att_dim", &c.att_dim) ||
        json_int(o, "hops", &c.hops) || json_int(o, "max_len", &c.max_len) ||
        !cJSON_IsObject(enc) || !cJSON_IsArray(mean) || !cJSON_IsArray(sd) ||
        cJSON_GetArraySize(mean) != 3 || cJSON_GetArraySize(sd) != 3) {
        st = sc_set_error(SC_ERR_FORMAT, "vqa config: missing or malformed field");
    }
    for (int i = 0; st == SC_OK && i < 3; i++) {
        cJSON *a = cJSON_GetArrayItem(mean, i), *b = cJSON_GetArrayItem(sd, i);
        if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b))
            st = sc_set_error(SC_ERR_FORMAT, "vqa config: mean/std must be numbers");
        else
            c.mean[i] = (float)a->valuedouble, c.std[i] = (float)b->valuedouble;
    }
    if (st == SC_OK && cJSON_GetObjectItemCaseSensitive(o, "mlp_dim") &&
        json_int(o, "mlp_dim", &c.mlp_dim))
        st = sc_set_error(SC_ERR_FORMAT, "vqa config: mlp_dim must be an integer");
    cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "encoder_from");
    cJSON *frz = cJSON_GetObjectItemCaseSensitive(o, "freeze_encoder");
    if (st == SC_OK && from) {
        if (!cJSON_IsString(from) || strlen(from->valuestring) >= sizeof c.encoder_from)
            st = sc_set_error(SC_ERR_FORMAT, "vqa config: encoder_from must be a string of "
                                             "at most 127 bytes");
        else
            snprintf(c.encoder_from, sizeof c.encoder_from, "%s", from->valuestring);
    }
    cJSON *hc = cJSON_GetObjectItemCaseSensitive(o, "hop_coords");
    if (st == SC_OK && hc) {
        if (!cJSON_IsBool(hc))
            st = sc_set_error(SC_ERR_FORMAT, "vqa config: hop_coords must be true or false");
        else
            c.hop_coords = cJSON_IsTrue(hc);
    }
    if (st == SC_OK && frz) {
        if (!cJSON_IsBool(frz))
            st = sc_set_error(SC_ERR_FORMAT, "vqa config: freeze_encoder must be true or false");
        else
            c.freeze_encoder = cJSON_IsTrue(frz);
    }
    if (st == SC_OK) {
        char *es = cJSON_PrintUnformatted(enc);
        st = es ? sc_cnn_config_from_json(es, &c.encoder)
                : sc_set_error(SC_ERR_NOMEM, "vqa config: out of memory");
        free(es);
    }
    cJSON_Delete(o);
    if (st == SC_OK) st = sc_vqa_config_validate(&c);
    if (st == SC_OK) *out = c;
    return st;
}

/* ------------------------------------------------------------ create */

static sc_status vocab_copy(const sc_vqa_vocab *src, sc_vqa_vocab *dst) {
    char *j = sc_vqa_vocab_to_json(src);
    if (!j) return sc_set_error(SC_ERR_NOMEM, "vqa: out of memory");
    sc_status st = sc_vqa_vocab_from_json(j, dst);
    free(j);
    return st;
}

void vqa_add_param(sc_vqa_model *m, const char *name, float **ptr, size_t *off, int ndim,
                   int64_t d0, int64_t d1, int64_t d2, int nwd) {
    int i = m->nown++;
    snprintf(m->own_names[i], NAME_LEN, "%s", name);
    size_t n = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * (size_t)(ndim > 2 ? d2 : 1);
    m->own[i] = (sc_param){.name = m->own_names[i],
                           .param = m->pblock ? m->pblock + *off : NULL,
                           .grad = m->gblock ? m->gblock + *off : NULL,
                           .n = n,
                           .no_weight_decay = nwd,
                           .ndim = ndim,
                           .shape = {d0, d1, d2}};
    if (ptr) *ptr = m->pblock ? m->pblock + *off : NULL;
    *off += (n + 15) & ~(size_t)15;
}

static void add_param(sc_vqa_model *m, const char *name, float **ptr, size_t *off, int ndim,
                      int64_t d0, int64_t d1, int nwd) {
    vqa_add_param(m, name, ptr, off, ndim, d0, d1, 1, nwd);
}

/* Lay out (or count, when pblock is NULL) every own parameter. */
static size_t layout(sc_vqa_model *m) {
    size_t off = 0;
    m->nown = 0;
    int D = m->D;
    if (m->cfg.arch != SC_VQA_QONLY) {
        add_param(m, "img_proj.weight", &m->img_w, &off, 2, D, m->Cin, 0);
        add_param(m, "img_proj.bias", &m->img_b, &off, 1, D, 0, 1);
    }
    add_param(m, "embed.weight", &m->embed, &off, 2, m->V, m->E, 0);
    add_param(m, "lstm.weight_ih_l0", &m->w_ih, &off, 2, 4 * D, m->E, 0);
    add_param(m, "lstm.weight_hh_l0", &m->w_hh, &off, 2, 4 * D, D, 0);
    add_param(m, "lstm.bias_ih_l0", &m->b_ih, &off, 1, 4 * D, 0, 1);
    add_param(m, "lstm.bias_hh_l0", &m->b_hh, &off, 1, 4 * D, 0, 1);
    if (m->cfg.arch == SC_VQA_SAN)
        for (int k = 0; k < m->K; k++) {
            char nm[NAME_LEN];
            snprintf(nm, sizeof nm, "hops.%d.img.weight", k);
            add_param(m, nm, &m->hop_wi[k], &off, 2, m->A, D, 0);
            snprintf(nm, sizeof nm, "hops.%d.ques.weight", k);
            add_param(m, nm, &m->hop_wq[k], &off, 2, m->A, D, 0);
            snprintf(nm, sizeof nm, "hops.%d.ques.bias", k);
            add_param(m, nm, &m->hop_bq[k], &off, 1, m->A, 0, 1);
            snprintf(nm, sizeof nm, "hops.%d.att.weight", k);
            add_param(m, nm, &m->hop_wp[k], &off, 2, 1, m->A, 0);
            snprintf(nm, sizeof nm, "hops.%d.att.bias", k);
            add_param(m, nm, &m->hop_bp[k], &off, 1, 1, 0, 1);
            if (m->cfg.hop_coords && k > 0) {
                snprintf(nm, sizeof nm, "hops.%d.rel.weight", k);
                add_param(m, nm, &m->hop_wr[k], &off, 2, m->A, 2, 0);
            }
        }
    if (m->cfg.arch == SC_VQA_COATT) vqa_coatt_layout(m, &off);
    if (m->H) {
        add_param(m, "classifier_hidden.weight", &m->mlp_w, &off, 2, m->H, m->F, 0);
        add_param(m, "classifier_hidden.bias", &m->mlp_b, &off, 1, m->H, 0, 1);
    }
    add_param(m, "classifier.weight", &m->cls_w, &off, 2, m->NA, m->H ? m->H : m->F, 0);
    add_param(m, "classifier.bias", &m->cls_b, &off, 1, m->NA, 0, 1);
    return off;
}

static void init_uniform(sc_rng *r, float *x, size_t n, float bound) {
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * sc_rng_uniform(r) - 1.0f) * bound;
}

sc_status sc_vqa_create(const sc_vqa_config *c, const sc_vqa_vocab *vocab,
                        const sc_vqa_vocab *answers, uint64_t seed, sc_vqa_model **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa create: NULL out");
    *out = NULL;
    sc_status st = sc_vqa_config_validate(c);
    if (st) return st;
    if (!vocab || vocab->n < 2 || vocab->n > 1000000 || !answers || answers->n < 1 ||
        answers->n > 100000)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa create: need a vocabulary (>= 2 words) "
                                                "and at least one answer");
    if (strcmp(vocab->words[0], "<pad>") || strcmp(vocab->words[1], "<unk>"))
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa create: vocabulary must start with "
                                                "<pad>, <unk>");
    sc_vqa_model *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "vqa create: out of memory");
    m->cfg = *c;
    sc_rng r;
    sc_rng_seed(&r, seed);
    if ((st = vocab_copy(vocab, &m->vocab)) || (st = vocab_copy(answers, &m->answers))) goto fail;
    m->D = c->hidden_dim;
    m->E = c->embed_dim;
    m->A = c->att_dim;
    m->K = c->hops;
    m->T = c->max_len;
    m->V = vocab->n;
    m->NA = answers->n;
    m->F = c->arch == SC_VQA_POOLED ? 2 * m->D : m->D + (c->hop_coords ? 2 * c->hops : 0);
    m->H = c->mlp_dim;
    if (c->arch ==
        SC_VQA_COATT) { /* h_w, h_p, h_s of mlp_dim (else D) units, then the classifier */
        m->F = c->mlp_dim ? c->mlp_dim : m->D;
        m->H = 0;
    }
    if (c->arch != SC_VQA_QONLY) {
        int h, w;
        sc_cnn_output_size(&c->encoder, c->image_size, c->image_size, &m->C, &h, &w);
        if (h != w) {
            st = sc_set_error(SC_ERR_INVALID_ARG, "vqa create: grid must be square");
            goto fail;
        }
        m->g = h;
        m->P = h * w;
        m->Cin = m->C + 2;
        if ((st = sc_cnn_create(&c->encoder, "encoder.", &r, &m->cnn))) goto fail;
    }
    m->ptotal = layout(m);
    m->pblock = sc_calloc(m->ptotal, sizeof(float));
    m->gblock = sc_calloc(m->ptotal, sizeof(float));
    if (!m->pblock || !m->gblock) {
        st = sc_set_error(SC_ERR_NOMEM, "vqa create: out of memory for parameters");
        goto fail;
    }
    layout(m);
    /* PyTorch default initialisation. */
    int D = m->D;
    if (m->img_w) {
        float bd = 1.0f / sqrtf((float)m->Cin);
        init_uniform(&r, m->img_w, (size_t)D * m->Cin, bd);
        init_uniform(&r, m->img_b, (size_t)D, bd);
    }
    for (size_t i = 0; i < (size_t)m->V * m->E; i++) m->embed[i] = sc_rng_normal(&r);
    memset(m->embed, 0, sizeof(float) * (size_t)m->E); /* padding_idx 0 */
    float bl = 1.0f / sqrtf((float)D);
    init_uniform(&r, m->w_ih, (size_t)4 * D * m->E, bl);
    init_uniform(&r, m->w_hh, (size_t)4 * D * D, bl);
    init_uniform(&r, m->b_ih, (size_t)4 * D, bl);
    init_uniform(&r, m->b_hh, (size_t)4 * D, bl);
    for (int k = 0; c->arch == SC_VQA_SAN && k < m->K; k++) {
        init_uniform(&r, m->hop_wi[k], (size_t)m->A * D, bl);
        init_uniform(&r, m->hop_wq[k], (size_t)m->A * D, bl);
        init_uniform(&r, m->hop_bq[k], (size_t)m->A, bl);
        float ba = 1.0f / sqrtf((float)m->A);
        init_uniform(&r, m->hop_wp[k], (size_t)m->A, ba);
        init_uniform(&r, m->hop_bp[k], 1, ba);
        if (m->hop_wr[k]) init_uniform(&r, m->hop_wr[k], (size_t)m->A * 2, 1.0f / sqrtf(2.0f));
    }
    if (c->arch == SC_VQA_COATT) vqa_coatt_init(m, &r);
    float bc = 1.0f / sqrtf((float)m->F);
    if (m->H) {
        init_uniform(&r, m->mlp_w, (size_t)m->H * m->F, bc);
        init_uniform(&r, m->mlp_b, (size_t)m->H, bc);
        bc = 1.0f / sqrtf((float)m->H);
    }
    init_uniform(&r, m->cls_w, (size_t)m->NA * (m->H ? m->H : m->F), bc);
    init_uniform(&r, m->cls_b, (size_t)m->NA, bc);
    /* The full parameter list. */
    const sc_param *cp = NULL;
    size_t ncp = 0;
    if (m->cnn && !c->freeze_encoder) sc_cnn_params(m->cnn, &cp, &ncp);
    m->nall = ncp + (size_t)m->nown;
    m->all = calloc(m->nall, sizeof *m->all);
    if (!m->all) {
        st = sc_set_error(SC_ERR_NOMEM, "vqa create: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < ncp; i++) m->all[i] = cp[i];
    for (int i = 0; i < m->nown; i++) m->all[ncp + (size_t)i] = m->own[i];
    *out = m;
    return SC_OK;
fail:
    sc_vqa_free(m);
    return st;
}

static void free_acts(sc_vqa_model *m) {
    float **bufs[] = {&m->xn,   &m->feat, &m->v,     &m->dv,    &m->dfeat,  &m->dfmap, &m->emb,
                      &m->demb, &m->h,    &m->c,     &m->cache, &m->dh,     &m->dc,    &m->dh2,
                      &m->dc2,  &m->u,    &m->du,    &m->hA,    &m->p,      &m->aq,    &m->tmpPA,
                      &m->tmpP, &m->z,    &m->dz,    &m->vm,    &m->logits, &m->hid,   &m->dhid,
                      &m->hc,   &m->dhc,  &m->dh_seq};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        sc_free(*bufs[i]);
        *bufs[i] = NULL;
    }
    sc_free(m->ids_tb);
    sc_free(m->lens);
    vqa_coatt_free(m);
    m->ids_tb = NULL;
    m->lens = NULL;
    m->cap = 0;
}

void sc_vqa_free(sc_vqa_model *m) {
    if (!m) return;
    free_acts(m);
    sc_cnn_free(m->cnn);
    sc_free(m->pblock);
    sc_free(m->gblock);
    sc_free(m->single_v);
    free(m->all);
    sc_vqa_vocab_free(&m->vocab);
    sc_vqa_vocab_free(&m->answers);
    free(m);
}

float *vqa_alloc_f(size_t a, size_t b, size_t c, int *ok) {
    size_t n;
    if (sc_mul_size(a, b, &n) || sc_mul_size(n, c, &n) || sc_mul_size(n, sizeof(float), &n)) {
        *ok = 0;
        return NULL;
    }
    float *p = sc_calloc(n ? n : 1, 1);
    if (!p) *ok = 0;
    return p;
}

static sc_status ensure_cap(sc_vqa_model *m, int B) {
    if (B <= m->cap) return SC_OK;
    free_acts(m);
    int ok = 1;
    size_t Bz = (size_t)B, P = (size_t)(m->P ? m->P : 1), D = (size_t)m->D, T = (size_t)m->T,
           S = (size_t)m->cfg.image_size, A = (size_t)m->A, K = (size_t)m->K;
    if (m->cfg.arch != SC_VQA_QONLY) {
        m->xn = vqa_alloc_f(Bz, (size_t)m->cfg.encoder.in_channels * S, S, &ok);
        m->feat = vqa_alloc_f(Bz, P, (size_t)m->Cin, &ok);
        m->dfeat = vqa_alloc_f(Bz, P, (size_t)m->Cin, &ok);
        m->dfmap = vqa_alloc_f(Bz, P, (size_t)m->C, &ok);
        m->v = vqa_alloc_f(Bz, P, D, &ok);
        m->dv = vqa_alloc_f(Bz, P, D, &ok);
    }
    m->ids_tb = sc_calloc(Bz * T, sizeof(int32_t));
    m->lens = sc_calloc(Bz, sizeof(int));
    if (!m->ids_tb || !m->lens) ok = 0;
    m->emb = vqa_alloc_f(T, Bz, (size_t)m->E, &ok);
    m->demb = vqa_alloc_f(T, Bz, (size_t)m->E, &ok);
    m->h = vqa_alloc_f(T + 1, Bz, D, &ok);
    m->c = vqa_alloc_f(T + 1, Bz, D, &ok);
    m->cache = vqa_alloc_f(T, Bz, 5 * D, &ok);
    m->dh = vqa_alloc_f(Bz, D, 1, &ok);
    m->dc = vqa_alloc_f(Bz, D, 1, &ok);
    m->dh2 = vqa_alloc_f(Bz, D, 1, &ok);
    m->dc2 = vqa_alloc_f(Bz, D, 1, &ok);
    m->dh_seq = vqa_alloc_f(T, Bz, D, &ok);
    m->u = vqa_alloc_f(K + 1, Bz, D, &ok);
    m->du = vqa_alloc_f(Bz, D, 1, &ok);
    m->hA = vqa_alloc_f(K, Bz * P, A, &ok);
    m->p = vqa_alloc_f(Bz, K, P, &ok);
    m->aq = vqa_alloc_f(Bz, A, 1, &ok);
    m->tmpPA = vqa_alloc_f(Bz * P, A, 1, &ok);
    m->tmpP = vqa_alloc_f(Bz, P, 1, &ok);
    m->z = vqa_alloc_f(Bz, (size_t)m->F, 1, &ok);
    m->dz = vqa_alloc_f(Bz, (size_t)m->F, 1, &ok);
    m->vm = vqa_alloc_f(Bz, D, 1, &ok);
    m->hc = vqa_alloc_f(Bz, K, 2, &ok);
    m->dhc = vqa_alloc_f(Bz, K, 2, &ok);
    m->logits = vqa_alloc_f(Bz, (size_t)m->NA, 1, &ok);
    if (m->H) {
        m->hid = vqa_alloc_f(Bz, (size_t)m->H, 1, &ok);
        m->dhid = vqa_alloc_f(Bz, (size_t)m->H, 1, &ok);
    }
    if (ok && m->cfg.arch == SC_VQA_COATT && vqa_coatt_alloc(m, B)) ok = 0;
    if (!ok) {
        free_acts(m);
        return sc_set_error(SC_ERR_NOMEM, "vqa: out of memory for a batch of %d", B);
    }
    m->cap = B;
    return SC_OK;
}

/* ------------------------------------------------------------ forward */

/* The encoder's map of B images into m->fmap (B, C, g, g): normalise, append
 * the coordinate channels when the encoder takes 5 (as the captioner's
 * CoordConv encoder), run the CNN (batch statistics only when training an
 * unfrozen encoder). */
static sc_status encoder_forward(sc_vqa_model *m, const float *images, int B, int train) {
    int S = m->cfg.image_size, IC = m->cfg.encoder.in_channels;
    size_t plane = (size_t)S * S;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *o = m->xn + (size_t)b * IC * plane;
        for (int ch = 0; ch < 3; ch++) {
            const float *src = images + ((size_t)b * 3 + ch) * plane;
            float *dst = o + (size_t)ch * plane;
            float mu = m->cfg.mean[ch], is = 1.0f / m->cfg.std[ch];
            for (size_t i = 0; i < plane; i++) dst[i] = (src[i] - mu) * is;
        }
        if (IC == 5)
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    o[3 * plane + (size_t)i * S + j] = sc_cell_centre(j, S);
                    o[4 * plane + (size_t)i * S + j] = sc_cell_centre(i, S);
                }
    }
    int C, h, w;
    return sc_cnn_forward(m->cnn, m->xn, B, S, S, train && !m->cfg.freeze_encoder, &m->fmap, &C, &h,
                          &w);
}

/* m->feat (B, P, C + 2) from features (B, P, C) or from the map (B, C, P),
 * then v = tanh(feat W^T + b). */
static sc_status project_features(sc_vqa_model *m, const float *feats, int B) {
    int P = m->P, Cin = m->Cin, g = m->g, C = m->C;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        for (int i = 0; i < P; i++) {
            float *f = m->feat + ((size_t)b * P + i) * Cin;
            if (feats)
                memcpy(f, feats + ((size_t)b * P + i) * C, sizeof(float) * (size_t)C);
            else
                for (int cc = 0; cc < C; cc++) f[cc] = m->fmap[((size_t)b * C + cc) * P + i];
            f[C] = sc_cell_centre(i % g, g);
            f[C + 1] = sc_cell_centre(i / g, g);
        }
    sc_status st = sc_linear_forward(m->v, m->feat, m->img_w, m->img_b, B * P, Cin, m->D);
    if (st) return st;
    return sc_act_forward(SC_ACT_TANH, m->v, m->v, (size_t)B * P * m->D);
}

static sc_status image_forward(sc_vqa_model *m, const float *images, int B, int train) {
    sc_status st = encoder_forward(m, images, B, train);
    if (st) return st;
    m->cnn_back = train && !m->cfg.freeze_encoder;
    return project_features(m, NULL, B);
}

sc_status vqa_lstm_forward(sc_vqa_model *m, const float *x, int In, int B, int Tr) {
    const int D = m->D;
    const size_t BD = (size_t)B * D;
    sc_status st = SC_OK;
    for (int t = 0; t < Tr && !st; t++)
        st = sc_lstm_cell_forward(B, In, D, x + (size_t)t * B * In, t ? m->h + t * BD : NULL,
                                  t ? m->c + t * BD : NULL, m->w_ih, m->w_hh, m->b_ih, m->b_hh,
                                  m->h + (t + 1) * BD, m->c + (t + 1) * BD,
                                  m->cache + (size_t)t * B * 5 * D);
    return st;
}

sc_status vqa_lstm_backward(sc_vqa_model *m, const float *x, float *dx, int In, int B, int Tr) {
    const int D = m->D;
    const size_t BD = (size_t)B * D;
    sc_status st = SC_OK;
    memset(m->dh, 0, sizeof(float) * BD);
    memset(m->dc, 0, sizeof(float) * BD);
    memset(dx, 0, sizeof(float) * (size_t)Tr * B * In);
    for (int t = Tr - 1; t >= 0 && !st; t--) {
        const float *up = m->dh_seq + (size_t)t * BD;
        for (size_t i = 0; i < BD; i++) m->dh[i] += up[i];
        memset(m->dh2, 0, sizeof(float) * BD);
        memset(m->dc2, 0, sizeof(float) * BD);
        st = sc_lstm_cell_backward(
            B, In, D, x + (size_t)t * B * In, t ? m->h + t * BD : NULL, t ? m->c + t * BD : NULL,
            m->w_ih, m->w_hh, m->cache + (size_t)t * B * 5 * D, m->dh, m->dc,
            dx + (size_t)t * B * In, t ? m->dh2 : NULL, t ? m->dc2 : NULL, vqa_grad(m, m->w_ih),
            vqa_grad(m, m->w_hh), vqa_grad(m, m->b_ih), vqa_grad(m, m->b_hh));
        float *tmp = m->dh;
        m->dh = m->dh2;
        m->dh2 = tmp;
        tmp = m->dc;
        m->dc = m->dc2;
        m->dc2 = tmp;
    }
    return st;
}

static sc_status question_forward(sc_vqa_model *m, const int32_t *ids, const int *lens, int B) {
    int T = m->T, D = m->D, E = m->E;
    int Tr = 1;
    for (int b = 0; b < B; b++) {
        if (lens[b] < 1 || lens[b] > T)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "vqa forward: length %d of row %d not in "
                                "1..%d",
                                lens[b], b, T);
        if (lens[b] > Tr) Tr = lens[b];
        m->lens[b] = lens[b];
        for (int t = 0; t < T; t++) {
            int32_t id = ids[(size_t)b * T + t];
            if (id < 0 || id >= m->V)
                return sc_set_error(SC_ERR_INVALID_ARG, "vqa forward: token id %d out of range",
                                    (int)id);
            m->ids_tb[(size_t)t * B + b] = id;
        }
    }
    m->Tr = Tr;
    sc_status st = sc_embedding_forward(m->ids_tb, Tr * B, m->embed, m->V, E, m->emb);
    if (st || m->cfg.arch == SC_VQA_COATT) return st; /* coatt: the LSTM reads phrases */
    if ((st = vqa_lstm_forward(m, m->emb, E, B, Tr))) return st;
    size_t BD = (size_t)B * D;
    for (int b = 0; b < B; b++)
        memcpy(m->u + (size_t)b * D, m->h + (size_t)lens[b] * BD + (size_t)b * D,
               sizeof(float) * (size_t)D);
    return SC_OK;
}

static sc_status head_forward(sc_vqa_model *m, int B) {
    int D = m->D, P = m->P, A = m->A, K = m->K;
    size_t BD = (size_t)B * D;
    sc_status st = SC_OK;
    if (m->cfg.arch == SC_VQA_COATT) return vqa_coatt_forward(m, B);
    if (m->cfg.arch == SC_VQA_SAN) {
        for (int k = 0; k < K && !st; k++) {
            const float *uk = m->u + k * BD;
            float *hA = m->hA + (size_t)k * B * P * A;
            st = sc_linear_forward(hA, m->v, m->hop_wi[k], NULL, B * P, D, A);
            if (!st) st = sc_linear_forward(m->aq, uk, m->hop_wq[k], m->hop_bq[k], B, D, A);
            if (st) break;
            const float *wr = m->hop_wr[k]; /* hop_coords: W_R (pos_i - c_{k-1}) */
            const int g = m->g;
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++)
                for (int i = 0; i < P; i++) {
                    float *row = hA + ((size_t)b * P + i) * A;
                    const float *q = m->aq + (size_t)b * A;
                    if (wr) {
                        const float *cp = m->hc + ((size_t)b * K + k - 1) * 2;
                        float ox = sc_cell_centre(i % g, g) - cp[0],
                              oy = sc_cell_centre(i / g, g) - cp[1];
                        for (int a = 0; a < A; a++)
                            row[a] = tanhf(row[a] + q[a] + wr[2 * a] * ox + wr[2 * a + 1] * oy);
                    } else {
                        for (int a = 0; a < A; a++) row[a] = tanhf(row[a] + q[a]);
                    }
                }
            st = sc_linear_forward(m->tmpP, hA, m->hop_wp[k], m->hop_bp[k], B * P, A, 1);
            if (st) break;
            float *unext = m->u + (k + 1) * BD;
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++) {
                float *pk = m->p + ((size_t)b * K + k) * P;
                sc_softmax_forward(m->tmpP + (size_t)b * P, 1, P, pk);
                if (m->cfg.hop_coords) /* the hop's attended position */
                    sc_expected_cell(pk, g, m->hc + ((size_t)b * K + k) * 2);
                for (int d = 0; d < D; d++) {
                    double s = 0;
                    for (int i = 0; i < P; i++)
                        s += (double)pk[i] * m->v[((size_t)b * P + i) * D + d];
                    unext[(size_t)b * D + d] = (float)s + uk[(size_t)b * D + d];
                }
            }
        }
        if (!st) {
            const int F = m->F;
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++) {
                float *z = m->z + (size_t)b * F;
                memcpy(z, m->u + K * BD + (size_t)b * D, sizeof(float) * (size_t)D);
                if (F > D) /* hop_coords: each hop's attended position */
                    memcpy(z + D, m->hc + (size_t)b * K * 2, sizeof(float) * 2 * (size_t)K);
            }
        }
    } else if (m->cfg.arch == SC_VQA_POOLED) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                double s = 0;
                for (int i = 0; i < P; i++) s += m->v[((size_t)b * P + i) * D + d];
                float vm = (float)(s / P), u0 = m->u[(size_t)b * D + d];
                m->vm[(size_t)b * D + d] = vm;
                m->z[(size_t)b * 2 * D + d] = u0;
                m->z[(size_t)b * 2 * D + D + d] = vm * u0;
            }
    } else {
        memcpy(m->z, m->u, sizeof(float) * BD);
    }
    if (st) return st;
    if (!m->H) return sc_linear_forward(m->logits, m->z, m->cls_w, m->cls_b, B, m->F, m->NA);
    if ((st = sc_linear_forward(m->hid, m->z, m->mlp_w, m->mlp_b, B, m->F, m->H))) return st;
    for (size_t i = 0; i < (size_t)B * m->H; i++) m->hid[i] = m->hid[i] > 0 ? m->hid[i] : 0;
    return sc_linear_forward(m->logits, m->hid, m->cls_w, m->cls_b, B, m->H, m->NA);
}

/* The image attention of the last forward: (B, hops, P) san, (B, 3, P) coatt. */
static const float *image_att(const sc_vqa_model *m) {
    if (m->cfg.arch == SC_VQA_COATT) return vqa_coatt_image_att(m);
    return m->cfg.arch == SC_VQA_SAN ? m->p : NULL;
}

int sc_vqa_attention_maps(const sc_vqa_model *m) {
    if (!m) return 0;
    if (m->cfg.arch == SC_VQA_COATT) return COATT_LEVELS;
    return m->cfg.arch == SC_VQA_SAN ? m->K : 0;
}

const char *sc_vqa_level_name(int l) {
    static const char *const names[COATT_LEVELS] = {"word", "phrase", "question"};
    return l >= 0 && l < COATT_LEVELS ? names[l] : NULL;
}

const float *sc_vqa_question_attention(const sc_vqa_model *m) {
    return m && m->B > 0 && m->cfg.arch == SC_VQA_COATT ? vqa_coatt_question_att(m) : NULL;
}

sc_status sc_vqa_forward(sc_vqa_model *m, const float *images, const int32_t *ids, const int *lens,
                         int B, int train, const float **logits, const float **att) {
    if (!m || !ids || !lens || B < 1 || (!images && m->cfg.arch != SC_VQA_QONLY))
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa forward: bad arguments");
    sc_status st = ensure_cap(m, B);
    if (st) return st;
    m->B = 0;
    m->cnn_back = 0;
    if (m->cfg.arch != SC_VQA_QONLY && (st = image_forward(m, images, B, train))) return st;
    if ((st = question_forward(m, ids, lens, B)) || (st = head_forward(m, B))) return st;
    m->B = B;
    m->has_image = m->cfg.arch != SC_VQA_QONLY;
    if (logits) *logits = m->logits;
    if (att) *att = image_att(m);
    return SC_OK;
}

int sc_vqa_feature_dim(const sc_vqa_model *m) {
    return m && m->cnn ? m->C : 0;
}

sc_status sc_vqa_encode_images(sc_vqa_model *m, const float *images, int B, float *feats) {
    if (!m || !images || !feats || B < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa encode_images: bad arguments");
    if (!m->cnn)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa encode_images: a qonly model has no encoder");
    enum { CH = 32 };
    sc_status st = ensure_cap(m, B < CH ? B : CH);
    if (st) return st;
    m->B = 0;
    m->cnn_back = 0;
    int C = m->C, P = m->P, S = m->cfg.image_size;
    for (int s0 = 0; s0 < B && !st; s0 += CH) {
        int n = B - s0 < CH ? B - s0 : CH;
        st = encoder_forward(m, images + (size_t)s0 * 3 * S * S, n, 0);
        if (st) break;
        float *o = feats + (size_t)s0 * P * C;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < n; b++)
            for (int cc = 0; cc < C; cc++)
                for (int i = 0; i < P; i++)
                    o[((size_t)b * P + i) * C + cc] = m->fmap[((size_t)b * C + cc) * P + i];
    }
    return st;
}

sc_status sc_vqa_forward_features(sc_vqa_model *m, const float *feats, const int32_t *ids,
                                  const int *lens, int B, int train, const float **logits,
                                  const float **att) {
    if (!m || !feats || !ids || !lens || B < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa forward_features: bad arguments");
    if (!m->cnn)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa forward_features: a qonly model has no "
                                                "image features");
    sc_status st = ensure_cap(m, B);
    if (st) return st;
    m->B = 0;
    m->cnn_back = 0;
    if ((st = project_features(m, feats, B)) || (st = question_forward(m, ids, lens, B)) ||
        (st = head_forward(m, B)))
        return st;
    m->B = B;
    if (logits) *logits = m->logits;
    if (att) *att = image_att(m);
    return SC_OK;
}

/* ------------------------------------------------------------ backward */

float *vqa_grad(sc_vqa_model *m, const float *p) {
    for (int i = 0; i < m->nown; i++)
        if (m->own[i].param == p) return m->own[i].grad;
    return NULL;
}
#define G(ptr) vqa_grad(m, (ptr))

/* From m->dv (B, P, D), the gradient of the image features v: through the
 * projection, and into the encoder when the forward trained it. */
static sc_status image_backward(sc_vqa_model *m) {
    const int B = m->B, P = m->P, D = m->D;
    size_t nv = (size_t)B * P * D;
    for (size_t i = 0; i < nv; i++) m->dv[i] *= 1.0f - m->v[i] * m->v[i];
    if (!m->cnn_back) /* frozen encoder or given features: stop at the projection */
        return sc_linear_backward(NULL, G(m->img_w), G(m->img_b), m->dv, m->feat, m->img_w, B * P,
                                  m->Cin, D);
    memset(m->dfeat, 0, sizeof(float) * (size_t)B * P * m->Cin);
    sc_status st = sc_linear_backward(m->dfeat, G(m->img_w), G(m->img_b), m->dv, m->feat, m->img_w,
                                      B * P, m->Cin, D);
    if (st) return st;
    int C = m->C, Cin = m->Cin;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        for (int cc = 0; cc < C; cc++)
            for (int i = 0; i < P; i++)
                m->dfmap[((size_t)b * C + cc) * P + i] = m->dfeat[((size_t)b * P + i) * Cin + cc];
    return sc_cnn_backward(m->cnn, m->dfmap, NULL);
}

sc_status sc_vqa_backward(sc_vqa_model *m, const float *dlogits) {
    return sc_vqa_backward_att(m, dlogits, NULL);
}

sc_status sc_vqa_backward_att(sc_vqa_model *m, const float *dlogits, const float *datt) {
    if (!m || !dlogits || m->B < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa backward: no forward pass to differentiate");
    if (m->cfg.arch == SC_VQA_COATT) {
        if (m->dv) memset(m->dv, 0, sizeof(float) * (size_t)m->B * m->P * m->D);
        sc_status cs = vqa_coatt_backward(m, dlogits, datt);
        return cs ? cs : image_backward(m);
    }
    int B = m->B, D = m->D, P = m->P, A = m->A, K = m->K, E = m->E;
    size_t BD = (size_t)B * D;
    memset(m->dz, 0, sizeof(float) * (size_t)B * m->F);
    sc_status st;
    if (m->H) {
        memset(m->dhid, 0, sizeof(float) * (size_t)B * m->H);
        st = sc_linear_backward(m->dhid, G(m->cls_w), G(m->cls_b), dlogits, m->hid, m->cls_w, B,
                                m->H, m->NA);
        if (st) return st;
        for (size_t i = 0; i < (size_t)B * m->H; i++)
            if (!(m->hid[i] > 0)) m->dhid[i] = 0;
        st = sc_linear_backward(m->dz, G(m->mlp_w), G(m->mlp_b), m->dhid, m->z, m->mlp_w, B, m->F,
                                m->H);
    } else {
        st = sc_linear_backward(m->dz, G(m->cls_w), G(m->cls_b), dlogits, m->z, m->cls_w, B, m->F,
                                m->NA);
    }
    if (st) return st;
    if (m->dv) memset(m->dv, 0, sizeof(float) * (size_t)B * P * D);
    /* du: gradient w.r.t. u0 in the end. */
    if (m->cfg.arch == SC_VQA_SAN) {
        const int F = m->F, g = m->g;
        for (int b = 0; b < B; b++) {
            memcpy(m->du + (size_t)b * D, m->dz + (size_t)b * F, sizeof(float) * (size_t)D);
            for (int j = 0; j < 2 * K; j++) /* classifier -> attended positions */
                m->dhc[(size_t)b * 2 * K + j] = F > D ? m->dz[(size_t)b * F + D + j] : 0.0f;
        }
        for (int k = K - 1; k >= 0 && !st; k--) {
            const float *uk = m->u + k * BD;
            float *hA = m->hA + (size_t)k * B * P * A;
            /* vt = sum p v: dp, dv */
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++) {
                const float *pk = m->p + ((size_t)b * K + k) * P;
                const float *dvt = m->du + (size_t)b * D;
                float dp[1024];
                for (int i = 0; i < P; i++) {
                    const float *vi = m->v + ((size_t)b * P + i) * D;
                    float *dvi = m->dv + ((size_t)b * P + i) * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) {
                        s += (double)dvt[d] * vi[d];
                        dvi[d] += pk[i] * dvt[d];
                    }
                    const float *dc = m->dhc + ((size_t)b * K + k) * 2; /* c_k = sum p pos */
                    dp[i] = (float)s + (datt ? datt[((size_t)b * K + k) * P + i] : 0.0f) +
                            dc[0] * sc_cell_centre(i % g, g) + dc[1] * sc_cell_centre(i / g, g);
                }
                float *ds = m->tmpP + (size_t)b * P;
                memset(ds, 0, sizeof(float) * (size_t)P);
                sc_softmax_backward(pk, dp, 1, P, ds);
            }
            /* s = hA wp + bp */
            memset(m->tmpPA, 0, sizeof(float) * (size_t)B * P * A);
            st = sc_linear_backward(m->tmpPA, G(m->hop_wp[k]), G(m->hop_bp[k]), m->tmpP, hA,
                                    m->hop_wp[k], B * P, A, 1);
            if (st) break;
            /* tanh */
            memset(m->aq, 0, sizeof(float) * (size_t)B * A);
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++) {
                float *daq = m->aq + (size_t)b * A;
                for (int i = 0; i < P; i++) {
                    float *dr = m->tmpPA + ((size_t)b * P + i) * A;
                    const float *hr = hA + ((size_t)b * P + i) * A;
                    for (int a = 0; a < A; a++) {
                        dr[a] *= 1.0f - hr[a] * hr[a];
                        daq[a] += dr[a];
                    }
                }
            }
            if (m->hop_wr[k]) { /* W_R (pos_i - c_{k-1}): to W_R and to c_{k-1} */
                const float *wr = m->hop_wr[k];
                float *gwr = G(m->hop_wr[k]);
                for (int b = 0; b < B; b++) {
                    const float *cp = m->hc + ((size_t)b * K + k - 1) * 2;
                    for (int i = 0; i < P; i++) {
                        const float *dr = m->tmpPA + ((size_t)b * P + i) * A;
                        float ox = sc_cell_centre(i % g, g) - cp[0],
                              oy = sc_cell_centre(i / g, g) - cp[1];
                        for (int a = 0; a < A; a++) {
                            gwr[2 * a] += dr[a] * ox;
                            gwr[2 * a + 1] += dr[a] * oy;
                        }
                    }
                    const float *daq = m->aq + (size_t)b * A; /* sum_i of dr */
                    float *dcp = m->dhc + ((size_t)b * K + k - 1) * 2;
                    for (int a = 0; a < A; a++) {
                        dcp[0] -= daq[a] * wr[2 * a];
                        dcp[1] -= daq[a] * wr[2 * a + 1];
                    }
                }
            }
            st = sc_linear_backward(m->dv, G(m->hop_wi[k]), NULL, m->tmpPA, m->v, m->hop_wi[k],
                                    B * P, D, A);
            /* du_k = du (residual) + daq Wq */
            if (!st)
                st = sc_linear_backward(m->du, G(m->hop_wq[k]), G(m->hop_bq[k]), m->aq, uk,
                                        m->hop_wq[k], B, D, A);
        }
    } else if (m->cfg.arch == SC_VQA_POOLED) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int d = 0; d < D; d++) {
                float dza = m->dz[(size_t)b * 2 * D + d], dm = m->dz[(size_t)b * 2 * D + D + d];
                float vm = m->vm[(size_t)b * D + d], u0 = m->u[(size_t)b * D + d];
                m->du[(size_t)b * D + d] = dza + dm * vm;
                float dvm = dm * u0 / (float)P;
                for (int i = 0; i < P; i++) m->dv[((size_t)b * P + i) * D + d] += dvm;
            }
    } else {
        memcpy(m->du, m->dz, sizeof(float) * BD); /* qonly: F = D */
    }
    if (st) return st;
    /* LSTM, backprop through time; du enters at step lens[b] - 1. */
    int Tr = m->Tr;
    memset(m->dh_seq, 0, sizeof(float) * (size_t)Tr * BD);
    for (int b = 0; b < B; b++)
        memcpy(m->dh_seq + (size_t)(m->lens[b] - 1) * BD + (size_t)b * D, m->du + (size_t)b * D,
               sizeof(float) * (size_t)D);
    st = vqa_lstm_backward(m, m->emb, m->demb, E, B, Tr);
    if (!st) st = sc_embedding_backward(m->ids_tb, Tr * B, m->demb, m->V, E, 0, G(m->embed));
    if (st || m->cfg.arch == SC_VQA_QONLY) return st;
    return image_backward(m);
}

void sc_vqa_zero_grad(sc_vqa_model *m) {
    if (!m) return;
    memset(m->gblock, 0, sizeof(float) * m->ptotal);
    if (m->cnn && !m->cfg.freeze_encoder) sc_cnn_zero_grad(m->cnn);
}

/* ------------------------------------------------------------ accessors */

const sc_vqa_config *sc_vqa_get_config(const sc_vqa_model *m) {
    return m ? &m->cfg : NULL;
}
const sc_vqa_vocab *sc_vqa_get_vocab(const sc_vqa_model *m) {
    return m ? &m->vocab : NULL;
}
const sc_vqa_vocab *sc_vqa_get_answers(const sc_vqa_model *m) {
    return m ? &m->answers : NULL;
}
int sc_vqa_grid_side(const sc_vqa_model *m) {
    return m ? m->g : 0;
}
void sc_vqa_params(const sc_vqa_model *m, const sc_param **list, size_t *n) {
    *list = m->all;
    *n = m->nall;
}
void sc_vqa_buffers(const sc_vqa_model *m, const sc_param **list, size_t *n) {
    *list = NULL;
    *n = 0;
    if (m->cnn) sc_cnn_buffers(m->cnn, list, n);
}

/* saccade.task stays for readers that predate saccade.kind. */
static const char *const VQA_META_KEYS[] = {SC_MODEL_KIND_KEY, "saccade.task", "saccade.config",
                                            "saccade.vocab", "saccade.answers"};
#define VQA_NMETA ((int)(sizeof VQA_META_KEYS / sizeof VQA_META_KEYS[0]))

int sc_vqa_metadata_count(const sc_vqa_model *m) {
    return m ? VQA_NMETA : 0;
}
sc_status sc_vqa_metadata_at(const sc_vqa_model *m, int i, const char **key, char **value) {
    if (!m || !key || !value || i < 0 || i >= VQA_NMETA)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa metadata: bad index");
    *key = VQA_META_KEYS[i];
    if (i <= 1) /* saccade.kind and saccade.task */
        *value = strdup(sc_model_kind_name(SC_MODEL_VQA));
    else if (i == 2)
        *value = sc_vqa_config_to_json(&m->cfg);
    else if (i == 3)
        *value = sc_vqa_vocab_to_json(&m->vocab);
    else
        *value = sc_vqa_vocab_to_json(&m->answers);
    return *value ? SC_OK : sc_set_error(SC_ERR_NOMEM, "vqa metadata: out of memory");
}

/* ------------------------------------------------------------ files */

sc_status sc_vqa_save(const sc_vqa_model *m, const char *path) {
    if (!m || !path) return sc_set_error(SC_ERR_INVALID_ARG, "vqa save: NULL argument");
    sc_st_writer *w = sc_st_writer_new();
    if (!w) return sc_set_error(SC_ERR_NOMEM, "vqa save: out of memory");
    sc_status st = SC_OK;
    const sc_param *bl, *cp = NULL;
    size_t nb, ncp = 0;
    sc_vqa_buffers(m, &bl, &nb);
    if (m->cnn && m->cfg.freeze_encoder) sc_cnn_params(m->cnn, &cp, &ncp); /* not in m->all */
    for (size_t k = 0; k < ncp + m->nall + nb && !st; k++) {
        const sc_param *p = k < ncp             ? &cp[k]
                            : k < ncp + m->nall ? &m->all[k - ncp]
                                                : &bl[k - ncp - m->nall];
        int64_t shape1[1] = {(int64_t)p->n};
        st = sc_st_writer_add_f32(w, p->name, p->param, p->ndim ? p->ndim : 1,
                                  p->ndim ? p->shape : shape1, SC_ST_F32);
    }
    for (int i = 0; i < VQA_NMETA && !st; i++) {
        const char *k;
        char *v;
        if ((st = sc_vqa_metadata_at(m, i, &k, &v))) break;
        st = sc_st_writer_set_metadata(w, k, v);
        free(v);
    }
    if (!st) st = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    return st;
}

sc_status sc_vqa_load_weights(sc_vqa_model *m, sc_safetensors *st) {
    if (!m || !st) return sc_set_error(SC_ERR_INVALID_ARG, "vqa load: NULL argument");
    sc_status s = SC_OK;
    if (m->cnn && (s = sc_cnn_load(m->cnn, st))) return s;
    for (int i = 0; i < m->nown; i++) {
        sc_param *p = &m->own[i];
        sc_st_tensor_info info;
        if ((s = sc_safetensors_lookup(st, p->name, &info))) return s;
        int ok = info.numel == p->n && info.ndim == p->ndim;
        for (int d = 0; ok && d < p->ndim; d++) ok = info.shape[d] == p->shape[d];
        if (!ok)
            return sc_set_error(SC_ERR_SHAPE, "%s: tensor %s has the wrong shape for this config",
                                sc_safetensors_name(st), p->name);
        const float *data;
        if ((s = sc_safetensors_get_f32(st, p->name, -1, NULL, &data))) return s;
        memcpy(p->param, data, sizeof(float) * p->n);
    }
    return SC_OK;
}

sc_status sc_vqa_load(const char *path, sc_vqa_model **out) {
    if (!path || !out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa load: NULL argument");
    *out = NULL;
    sc_safetensors *st = NULL;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    const char *cj = sc_safetensors_metadata(st, "saccade.config");
    const char *vj = sc_safetensors_metadata(st, "saccade.vocab");
    const char *aj = sc_safetensors_metadata(st, "saccade.answers");
    sc_vqa_config c;
    sc_vqa_vocab v = {0}, a = {0};
    sc_vqa_model *m = NULL;
    if (!cj || !vj || !aj) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: not a VQA model (missing saccade.config, "
                         "saccade.vocab or saccade.answers)",
                         path);
    } else if (!(s = sc_vqa_config_from_json(cj, &c)) && !(s = sc_vqa_vocab_from_json(vj, &v)) &&
               !(s = sc_vqa_vocab_from_json(aj, &a)) && !(s = sc_vqa_create(&c, &v, &a, 0, &m))) {
        s = sc_vqa_load_weights(m, st);
    }
    if (s) {
        const char *e = sc_last_error();
        if (!strstr(e, path)) sc_set_error(s, "%s: %s", path, e);
    }
    sc_vqa_vocab_free(&v);
    sc_vqa_vocab_free(&a);
    sc_safetensors_free(st);
    if (s) {
        sc_vqa_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

/* ------------------------------------------------------------ one image */

sc_status sc_vqa_set_image(sc_vqa_model *m, const sc_image *img) {
    if (!m || !img || !img->data || img->c < 3)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa set_image: need an RGB image");
    sc_status st = sc_check_finite_images("vqa set_image", img->data, 1, 3, img->h, img->w);
    if (st) return st;
    if (m->cfg.arch == SC_VQA_QONLY) {
        m->has_image = 1;
        return SC_OK;
    }
    int S = m->cfg.image_size;
    sc_image rgb = {0}, rs = {0};
    const sc_image *use = img;
    if (img->c != 3) {
        if ((st = sc_image_alloc(&rgb, img->w, img->h, 3))) return st;
        memcpy(rgb.data, img->data, sizeof(float) * 3 * (size_t)img->w * img->h);
        use = &rgb;
    }
    if (use->w != S || use->h != S) {
        st = sc_image_resize(use, S, S, SC_FILTER_TRIANGLE, &rs);
        use = &rs;
    }
    if (!st) st = ensure_cap(m, 1);
    if (!st) st = image_forward(m, use->data, 1, 0);
    if (!st && !m->single_v) {
        m->single_v = sc_malloc(sizeof(float) * (size_t)m->P * m->D);
        if (!m->single_v) st = sc_set_error(SC_ERR_NOMEM, "vqa: out of memory");
    }
    if (!st) memcpy(m->single_v, m->v, sizeof(float) * (size_t)m->P * m->D);
    sc_image_free(&rgb);
    sc_image_free(&rs);
    if (!st) m->has_image = 1;
    return st;
}

sc_status sc_vqa_ask(sc_vqa_model *m, const char *question, int top_k, sc_vqa_answer *out) {
    if (!m || !question || !out || top_k < 1 || top_k > 8)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa ask: bad arguments (top_k 1..8)");
    if (!m->has_image) return sc_set_error(SC_ERR_INVALID_ARG, "vqa ask: no image set");
    memset(out, 0, sizeof *out);
    int32_t ids[SC_VQA_MAX_TOKENS];
    int len, trunc;
    sc_status st = sc_vqa_encode(&m->vocab, question, m->T, ids, &len, &trunc, out->unknown,
                                 sizeof out->unknown);
    if (st) return st;
    if (len == 0) return sc_set_error(SC_ERR_INVALID_ARG, "vqa ask: the question is empty");
    out->n_tokens = len;
    out->truncated = trunc;
    if ((st = ensure_cap(m, 1))) return st;
    if (m->single_v) memcpy(m->v, m->single_v, sizeof(float) * (size_t)m->P * m->D);
    if ((st = question_forward(m, ids, &len, 1)) || (st = head_forward(m, 1))) return st;
    m->B = 0; /* no backward through ask */
    int NA = m->NA;
    float *pr = malloc(sizeof(float) * (size_t)NA);
    if (!pr) return sc_set_error(SC_ERR_NOMEM, "vqa ask: out of memory");
    sc_softmax_forward(m->logits, 1, NA, pr);
    int k = top_k < NA ? top_k : NA;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int a = 0; a < NA; a++) {
            int used = 0;
            for (int q = 0; q < j; q++) used |= out->top[q] == a;
            if (!used && (best < 0 || pr[a] > pr[best])) best = a;
        }
        out->top[j] = best;
        out->prob[j] = pr[best];
    }
    out->n_top = k;
    free(pr);
    const float *att = image_att(m);
    if (att) {
        out->hops = sc_vqa_attention_maps(m);
        out->grid = m->g;
        memcpy(out->att, att, sizeof(float) * (size_t)out->hops * m->P);
    }
    const float *qatt = m->cfg.arch == SC_VQA_COATT ? vqa_coatt_question_att(m) : NULL;
    if (qatt) { /* (1, 3, T) -> 3 x n_tokens */
        out->levels = COATT_LEVELS;
        for (int l = 0; l < COATT_LEVELS; l++)
            memcpy(out->qatt + (size_t)l * len, qatt + (size_t)l * m->T,
                   sizeof(float) * (size_t)len);
    }
    return SC_OK;
}

/* ------------------------------------------------------------ pretrained encoder */

/* Every encoder.* tensor of st must be a parameter or buffer of cnn. */
static sc_status check_encoder_tensors(sc_safetensors *st, const sc_cnn *cnn, const char *path) {
    const sc_param *pl, *bl;
    size_t np, nb;
    sc_cnn_params(cnn, &pl, &np);
    sc_cnn_buffers(cnn, &bl, &nb);
    return sc_st_check_known_tensors(st, path, "encoder.", pl, np, bl, nb, "its cnn encoder");
}

static int json_floats3(cJSON *a, float out[3]) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) return -1;
    for (int i = 0; i < 3; i++) {
        cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(e)) return -1;
        out[i] = (float)e->valuedouble;
    }
    return 0;
}

sc_status sc_vqa_encoder_config_from_file(const char *path, sc_vqa_config *cfg) {
    if (!path || !cfg) return sc_set_error(SC_ERR_INVALID_ARG, "vqa encoder_from: NULL argument");
    sc_safetensors *st = NULL;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    sc_vqa_config c = *cfg;
    cJSON *conf = NULL;
    char *encj = NULL;
    const char *ej = sc_safetensors_metadata(st, "saccade.encoder");
    const char *cj = sc_safetensors_metadata(st, "saccade.config");
    if (cj) conf = cJSON_Parse(cj);
    cJSON *cenc = conf ? cJSON_GetObjectItemCaseSensitive(conf, "encoder") : NULL;
    if (!ej && cJSON_IsObject(cenc)) ej = encj = cJSON_PrintUnformatted(cenc);
    if (!ej) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: no cnn encoder to take (neither \"saccade.encoder\" metadata nor an "
                         "\"encoder\" object in \"saccade.config\")",
                         path);
        goto done;
    }
    if ((s = sc_cnn_config_from_json(ej, &c.encoder))) {
        sc_error_prefix(path);
        goto done;
    }
    if (c.encoder.in_channels != 3 && c.encoder.in_channels != 5) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: its encoder takes %d input channel(s); VQA needs RGB (3) or RGB + "
                         "coordinates (5)",
                         path, c.encoder.in_channels);
        goto done;
    }
    /* input size and normalisation */
    cJSON *model = conf ? cJSON_GetObjectItemCaseSensitive(conf, "model") : NULL;
    int captioner = cJSON_IsString(model) && !strcmp(model->valuestring, "show_attend_tell");
    int isz;
    if (conf && !json_int(conf, "image_size", &isz)) c.image_size = isz;
    if (captioner) { /* sc_captioner_preprocess: ImageNet mean/std */
        memcpy(c.mean, SC_IMAGENET_MEAN, sizeof c.mean);
        memcpy(c.std, SC_IMAGENET_STD, sizeof c.std);
    } else if (conf && !json_floats3(cJSON_GetObjectItemCaseSensitive(conf, "mean"), c.mean) &&
               !json_floats3(cJSON_GetObjectItemCaseSensitive(conf, "std"), c.std)) {
        /* the file's own RGB normalisation (a VQA model) */
    } else {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: its encoder has no RGB input normalisation (3-value mean/std) in "
                         "\"saccade.config\"",
                         path);
        goto done;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(c.encoder_from, sizeof c.encoder_from, "%s", base);
    if (sc_vqa_config_validate(&c)) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", sc_last_error());
        s = sc_set_error(SC_ERR_FORMAT, "%s: its encoder does not fit a VQA model (%s)", path, msg);
        goto done;
    }
    /* the tensors must be there, with the right shapes */
    sc_rng r;
    sc_rng_seed(&r, 0);
    sc_cnn *cnn = NULL;
    if (!(s = sc_cnn_create(&c.encoder, "encoder.", &r, &cnn))) {
        s = sc_cnn_load(cnn, st);
        if (s) sc_error_prefix(path);
        if (!s) s = check_encoder_tensors(st, cnn, path);
    }
    sc_cnn_free(cnn);
    if (!s) *cfg = c;
done:
    free(encj);
    cJSON_Delete(conf);
    sc_safetensors_free(st);
    return s;
}

sc_status sc_vqa_load_encoder(sc_vqa_model *m, const char *path) {
    if (!m || !path) return sc_set_error(SC_ERR_INVALID_ARG, "vqa load_encoder: NULL argument");
    if (!m->cnn)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa load_encoder: a qonly model has no encoder");
    sc_vqa_config c = m->cfg;
    sc_status s = sc_vqa_encoder_config_from_file(path, &c);
    if (s) return s;
    char *a = sc_cnn_config_to_json(&c.encoder), *b = sc_cnn_config_to_json(&m->cfg.encoder);
    int same = a && b && !strcmp(a, b) && c.image_size == m->cfg.image_size;
    free(a);
    free(b);
    if (!same)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: its encoder (or image size) differs from the model's; build the "
                            "config with sc_vqa_encoder_config_from_file",
                            path);
    sc_safetensors *st = NULL;
    if ((s = sc_safetensors_open(path, &st))) return s;
    s = sc_cnn_load(m->cnn, st);
    if (s) sc_error_prefix(path);
    sc_safetensors_free(st);
    return s;
}
