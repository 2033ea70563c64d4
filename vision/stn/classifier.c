/* Image classifier of sc_classifier.h: CNN encoder -> global average pool
 * (or adaptive average pool to a G x G grid, flattened) -> dropout -> linear
 * head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "saccade/sc_classifier.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

#define CHUNK 256
#define CLASS_NAME_MAX 256

struct sc_classifier {
    sc_classifier_config cfg;
    char **names;
    sc_cnn *enc;
    int C, fh, fw;       /* encoder output channels and size for in_h x in_w */
    int F;               /* head inputs: C (global pool) or C * G * G (grid) */
    float *head, *ghead; /* head.weight (K, C) then head.bias (K); and grads */
    sc_param *params;    /* encoder params + head */
    size_t nparams;
    /* Activations of the last forward, sized for cap_N images. */
    size_t cap_N;
    float *xn, *dxn, *feat, *mask, *drop, *logits, *gfeat, *gmap;
    int N, train, have_forward;
    const float *x;
};

sc_classifier_config sc_classifier_default_config(void) {
    sc_classifier_config c;
    memset(&c, 0, sizeof c);
    int ch[3] = {32, 64, 128};
    c.encoder = sc_cnn_config_make(1, 3, ch);
    c.encoder.pool[0] = c.encoder.pool[1] = 1;
    c.num_classes = 10;
    c.in_h = c.in_w = 28;
    for (int i = 0; i < SC_CLASSIFIER_MAX_CHANNELS; i++) c.mean[i] = 0.0f, c.std[i] = 1.0f;
    c.mean[0] = 0.2860f;
    c.std[0] = 0.3530f;
    c.dropout = 0.1f;
    return c;
}

sc_status sc_classifier_config_validate(const sc_classifier_config *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: NULL");
    sc_status s = sc_cnn_config_validate(&c->encoder);
    if (s) return s;
    if (c->encoder.in_channels > SC_CLASSIFIER_MAX_CHANNELS)
        return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: %d input channels, at most %d",
                            c->encoder.in_channels, SC_CLASSIFIER_MAX_CHANNELS);
    if (c->num_classes < 2 || c->num_classes > SC_CLASSIFIER_MAX_CLASSES)
        return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: num_classes %d is not in 2..%d",
                            c->num_classes, SC_CLASSIFIER_MAX_CLASSES);
    if (c->in_h < 1 || c->in_h > 4096 || c->in_w < 1 || c->in_w > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "classifier config: input size %dx%d is not in 1..4096", c->in_h,
                            c->in_w);
    for (int i = 0; i < c->encoder.in_channels; i++)
        if (!isfinite(c->mean[i]) || !(c->std[i] > 0) || !isfinite(c->std[i]))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "classifier config: channel %d needs a finite mean and std > 0", i);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: dropout %g is not in [0, 1)",
                            (double)c->dropout);
    if (c->head_grid < 0 || c->head_grid > 16)
        return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: head_grid %d is not in 0..16",
                            c->head_grid);
    return sc_cnn_output_size(&c->encoder, c->in_h, c->in_w, NULL, NULL, NULL);
}

/* The shortest decimal that reads back as the same float. */
static cJSON *float_number(float f) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return cJSON_CreateNumber(strtod(buf, NULL));
}

char *sc_classifier_config_to_json(const sc_classifier_config *c) {
    if (sc_classifier_config_validate(c)) return NULL;
    char *enc = sc_cnn_config_to_json(&c->encoder);
    if (!enc) return NULL;
    cJSON *root = cJSON_CreateObject(), *e = cJSON_Parse(enc);
    free(enc);
    char *out = NULL;
    if (root && e) {
        cJSON_AddStringToObject(root, "arch", "classifier");
        cJSON_AddItemToObject(root, "encoder", e);
        e = NULL;
        cJSON_AddNumberToObject(root, "num_classes", c->num_classes);
        int shape[3] = {c->encoder.in_channels, c->in_h, c->in_w};
        cJSON_AddItemToObject(root, "input", cJSON_CreateIntArray(shape, 3));
        cJSON *mean = cJSON_CreateArray(), *std = cJSON_CreateArray();
        for (int i = 0; i < c->encoder.in_channels; i++) {
            cJSON_AddItemToArray(mean, float_number(c->mean[i]));
            cJSON_AddItemToArray(std, float_number(c->std[i]));
        }
        cJSON_AddItemToObject(root, "mean", mean);
        cJSON_AddItemToObject(root, "std", std);
        cJSON_AddItemToObject(root, "dropout", float_number(c->dropout));
        if (c->head_grid) cJSON_AddNumberToObject(root, "head_grid", c->head_grid);
        out = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
    cJSON_Delete(e);
    if (!out) sc_set_error(SC_ERR_NOMEM, "out of memory");
    return out;
}

static int json_int(const cJSON *e, int *out) {
    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || fabs(e->valuedouble) > 1e9)
        return 0;
    *out = (int)e->valuedouble;
    return 1;
}

static sc_status json_floats(const cJSON *a, const char *key, int n, float *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return sc_set_error(
            SC_ERR_FORMAT, "classifier config: \"%s\" must list %d numbers (one per input channel)",
            key, n);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsNumber(e))
            return sc_set_error(SC_ERR_FORMAT, "classifier config: \"%s\"[%d] is not a number", key,
                                i);
        out[i++] = (float)e->valuedouble;
    }
    return SC_OK;
}

sc_status sc_classifier_config_from_json(const char *json, sc_classifier_config *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "classifier config: NULL argument");
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "classifier config: not valid JSON");
    sc_classifier_config c = sc_classifier_default_config();
    sc_status s = SC_OK;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(root, "encoder");
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsObject(root))
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: not a JSON object");
    else if (!cJSON_IsString(arch) || strcmp(arch->valuestring, "classifier"))
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: \"arch\" must be \"classifier\"");
    else if (!cJSON_IsObject(enc))
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: \"encoder\" object missing");
    if (!s) {
        char *t = cJSON_PrintUnformatted(enc);
        s = t ? sc_cnn_config_from_json(t, &c.encoder)
              : sc_set_error(SC_ERR_NOMEM, "out of memory");
        free(t);
    }
    int in_c = 0;
    if (!s && !(cJSON_IsArray(input) && cJSON_GetArraySize(input) == 3 &&
                json_int(cJSON_GetArrayItem(input, 0), &in_c) &&
                json_int(cJSON_GetArrayItem(input, 1), &c.in_h) &&
                json_int(cJSON_GetArrayItem(input, 2), &c.in_w)))
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: \"input\" must be [C, H, W]");
    if (!s && in_c != c.encoder.in_channels)
        s = sc_set_error(SC_ERR_FORMAT,
                         "classifier config: input has %d channels but the encoder takes %d", in_c,
                         c.encoder.in_channels);
    if (!s && (in_c < 1 || in_c > SC_CLASSIFIER_MAX_CHANNELS))
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: %d input channels, at most %d", in_c,
                         SC_CLASSIFIER_MAX_CHANNELS);
    int have_k = 0;
    const cJSON *e;
    if (!s) cJSON_ArrayForEach(e, root) {
            const char *k = e->string ? e->string : "";
            if (!strcmp(k, "arch") || !strcmp(k, "encoder") || !strcmp(k, "input")) continue;
            if (!strcmp(k, "num_classes")) {
                have_k = json_int(e, &c.num_classes);
                if (!have_k)
                    s = sc_set_error(SC_ERR_FORMAT,
                                     "classifier config: \"num_classes\" must be an integer");
            } else if (!strcmp(k, "mean"))
                s = json_floats(e, k, in_c, c.mean);
            else if (!strcmp(k, "std"))
                s = json_floats(e, k, in_c, c.std);
            else if (!strcmp(k, "dropout")) {
                if (cJSON_IsNumber(e))
                    c.dropout = (float)e->valuedouble;
                else
                    s = sc_set_error(SC_ERR_FORMAT,
                                     "classifier config: \"dropout\" must be a number");
            } else if (!strcmp(k, "head_grid")) {
                if (!json_int(e, &c.head_grid))
                    s = sc_set_error(SC_ERR_FORMAT,
                                     "classifier config: \"head_grid\" must be an integer");
            } else
                s = sc_set_error(SC_ERR_FORMAT, "classifier config: unknown key \"%s\"", k);
            if (s) break;
        }
    if (!s && !have_k)
        s = sc_set_error(SC_ERR_FORMAT, "classifier config: \"num_classes\" missing");
    cJSON_Delete(root);
    if (!s) s = sc_classifier_config_validate(&c);
    if (!s) *out = c;
    return s;
}

static void free_acts(sc_classifier *m) {
    float **bufs[8] = {&m->xn,   &m->dxn,    &m->feat,  &m->mask,
                       &m->drop, &m->logits, &m->gfeat, &m->gmap};
    for (int i = 0; i < 8; i++) {
        sc_free(*bufs[i]);
        *bufs[i] = NULL;
    }
    m->cap_N = 0;
}

void sc_classifier_free(sc_classifier *m) {
    if (!m) return;
    if (m->names)
        for (int k = 0; k < m->cfg.num_classes; k++) free(m->names[k]);
    free(m->names);
    sc_cnn_free(m->enc);
    sc_free(m->head);
    sc_free(m->ghead);
    free(m->params);
    free_acts(m);
    free(m);
}

sc_status sc_classifier_create(const sc_classifier_config *c, const char *const *class_names,
                               uint64_t seed, sc_classifier **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_create: out is NULL");
    *out = NULL;
    sc_status s = sc_classifier_config_validate(c);
    if (s) return s;
    sc_classifier *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = *c;
    int K = c->num_classes;
    m->names = calloc((size_t)K, sizeof *m->names);
    if (!m->names) goto nomem;
    for (int k = 0; k < K; k++) {
        char num[16];
        snprintf(num, sizeof num, "%d", k);
        const char *n = class_names ? class_names[k] : num;
        if (!n || strlen(n) > CLASS_NAME_MAX) {
            sc_classifier_free(m);
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "classifier: class name %d is missing or longer than %d bytes", k,
                                CLASS_NAME_MAX);
        }
        if (!(m->names[k] = strdup(n))) goto nomem;
    }
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    if ((s = sc_cnn_create(&c->encoder, "encoder.", &rng, &m->enc))) {
        sc_classifier_free(m);
        return s;
    }
    sc_cnn_output_size(&c->encoder, c->in_h, c->in_w, &m->C, &m->fh, &m->fw);
    m->F = m->C * (c->head_grid ? c->head_grid * c->head_grid : 1);
    size_t nh = (size_t)K * m->F + (size_t)K;
    m->head = sc_calloc(nh, sizeof(float));
    m->ghead = sc_calloc(nh, sizeof(float));
    const sc_param *ep;
    size_t ne;
    sc_cnn_params(m->enc, &ep, &ne);
    m->params = calloc(ne + 2, sizeof *m->params);
    if (!m->head || !m->ghead || !m->params) goto nomem;
    memcpy(m->params, ep, ne * sizeof *ep);
    float bound = 1.0f / sqrtf((float)m->F);
    for (size_t i = 0; i < nh; i++) m->head[i] = (2.0f * sc_rng_uniform(&rng) - 1.0f) * bound;
    sc_param *hw = &m->params[ne], *hb = &m->params[ne + 1];
    hw->name = "head.weight";
    hw->param = m->head;
    hw->grad = m->ghead;
    hw->n = (size_t)K * m->F;
    hw->ndim = 2;
    hw->shape[0] = K;
    hw->shape[1] = m->F;
    hb->name = "head.bias";
    hb->param = m->head + hw->n;
    hb->grad = m->ghead + hw->n;
    hb->n = (size_t)K;
    hb->ndim = 1;
    hb->shape[0] = K;
    hb->no_weight_decay = 1;
    m->nparams = ne + 2;
    *out = m;
    return SC_OK;
nomem:
    sc_classifier_free(m);
    return sc_set_error(SC_ERR_NOMEM, "classifier: out of memory");
}

const sc_classifier_config *sc_classifier_get_config(const sc_classifier *m) {
    return m ? &m->cfg : NULL;
}
const char *sc_classifier_class_name(const sc_classifier *m, int k) {
    return m && k >= 0 && k < m->cfg.num_classes ? m->names[k] : NULL;
}
sc_cnn *sc_classifier_encoder(sc_classifier *m) {
    return m ? m->enc : NULL;
}

char *sc_classifier_classes_json(const sc_classifier *m) {
    if (!m) return NULL;
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; a && k < m->cfg.num_classes; k++)
        cJSON_AddItemToArray(a, cJSON_CreateString(m->names[k]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    if (!s) sc_set_error(SC_ERR_NOMEM, "out of memory");
    return s;
}

sc_status sc_classifier_params(const sc_classifier *m, const sc_param **list, size_t *n) {
    if (!m || !list || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_params: NULL argument");
    *list = m->params;
    *n = m->nparams;
    return SC_OK;
}

sc_status sc_classifier_buffers(const sc_classifier *m, const sc_param **list, size_t *n) {
    if (!m || !list || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_buffers: NULL argument");
    sc_cnn_buffers(m->enc, list, n);
    return SC_OK;
}

sc_status sc_classifier_save(const sc_classifier *m, const char *path) {
    if (!m || !path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_save: NULL argument");
    sc_st_writer *w = sc_st_writer_new();
    char *cfg = sc_classifier_config_to_json(&m->cfg), *cls = sc_classifier_classes_json(m);
    sc_status s = (w && cfg && cls) ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    const sc_param *bl;
    size_t nb;
    sc_cnn_buffers(m->enc, &bl, &nb);
    for (int pass = 0; pass < 2 && !s; pass++) {
        const sc_param *l = pass ? bl : m->params;
        size_t n = pass ? nb : m->nparams;
        for (size_t i = 0; i < n && !s; i++)
            s = sc_st_writer_add_f32(w, l[i].name, l[i].param, l[i].ndim, l[i].shape, SC_ST_F32);
    }
    if (!s) s = sc_st_writer_set_metadata(w, SC_MODEL_KIND_KEY, "classifier");
    if (!s) s = sc_st_writer_set_metadata(w, "saccade.config", cfg);
    if (!s) s = sc_st_writer_set_metadata(w, "saccade.classes", cls);
    if (!s) s = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    free(cfg);
    free(cls);
    return s;
}

static sc_status parse_classes(const char *json, int K, char ***out) {
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    sc_status s = SC_OK;
    char **names = NULL;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != K)
        s = sc_set_error(SC_ERR_FORMAT, "saccade.classes must be a JSON list of %d class names", K);
    else if (!(names = calloc((size_t)K, sizeof *names)))
        s = sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int k = 0; k < K && !s; k++) {
        const cJSON *e = cJSON_GetArrayItem(a, k);
        if (!cJSON_IsString(e) || strlen(e->valuestring) > CLASS_NAME_MAX)
            s = sc_set_error(SC_ERR_FORMAT, "saccade.classes[%d] is not a name of at most %d bytes",
                             k, CLASS_NAME_MAX);
        else if (!(names[k] = strdup(e->valuestring)))
            s = sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(a);
    if (s && names) {
        for (int k = 0; k < K; k++) free(names[k]);
        free(names);
        names = NULL;
    }
    *out = names;
    return s;
}

sc_status sc_classifier_load(const char *path, sc_classifier **out) {
    if (!path || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_load: NULL argument");
    *out = NULL;
    sc_safetensors *st;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    sc_classifier_config c;
    const char *cj = sc_safetensors_metadata(st, "saccade.config");
    if (!cj)
        s = sc_set_error(SC_ERR_FORMAT, "no saccade.config metadata (not a saccade classifier)");
    else
        s = sc_classifier_config_from_json(cj, &c);
    char **names = NULL;
    if (!s)
        s = parse_classes(sc_safetensors_metadata(st, "saccade.classes"), c.num_classes, &names);
    if (s) sc_error_prefix(path); /* tensor errors below already name the file */
    sc_classifier *m = NULL;
    if (!s) s = sc_classifier_create(&c, (const char *const *)names, 0, &m);
    for (int k = 0; names && k < c.num_classes; k++) free(names[k]);
    free(names);
    if (!s) s = sc_cnn_load(m->enc, st);
    for (size_t i = m ? m->nparams - 2 : 0; !s && i < m->nparams; i++) {
        const float *d;
        const sc_param *q = &m->params[i];
        s = sc_safetensors_get_f32(st, q->name, q->ndim, q->shape, &d);
        if (!s) memcpy(q->param, d, q->n * sizeof(float));
    }
    sc_safetensors_free(st);
    if (s) {
        sc_classifier_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

static sc_status ensure(sc_classifier *m, size_t N) {
    if (N <= m->cap_N) return SC_OK;
    free_acts(m);
    const sc_classifier_config *c = &m->cfg;
    size_t pix = (size_t)c->encoder.in_channels * c->in_h * c->in_w, K = (size_t)c->num_classes,
           C = (size_t)m->F, map = (size_t)m->C * m->fh * m->fw, t;
    if (sc_mul_size(N, pix, &t) || sc_mul_size(N, map, &t) || sc_mul_size(N, K, &t) ||
        t > (size_t)INT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "classifier: batch of %zu is too large", N);
    m->xn = sc_malloc(N * pix * sizeof(float));
    m->dxn = sc_malloc(N * pix * sizeof(float));
    m->feat = sc_malloc(N * C * sizeof(float));
    m->mask = sc_malloc(N * C * sizeof(float));
    m->drop = sc_malloc(N * C * sizeof(float));
    m->gfeat = sc_malloc(N * C * sizeof(float));
    m->logits = sc_malloc(N * K * sizeof(float));
    m->gmap = sc_malloc(N * map * sizeof(float));
    if (!m->xn || !m->dxn || !m->feat || !m->mask || !m->drop || !m->gfeat || !m->logits ||
        !m->gmap) {
        free_acts(m);
        return sc_set_error(SC_ERR_NOMEM, "classifier: out of memory for a batch of %zu", N);
    }
    m->cap_N = N;
    return SC_OK;
}

sc_status sc_classifier_forward(sc_classifier *m, const float *x, int N, int train, sc_rng *rng,
                                const float **logits) {
    if (!m || !x || !logits)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_forward: NULL argument");
    if (N < 1) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_forward: batch %d < 1", N);
    if (train && m->cfg.dropout > 0 && !rng)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_classifier_forward: training with dropout needs an rng");
    m->have_forward = 0;
    sc_status s = ensure(m, (size_t)N);
    if (s) return s;
    const sc_classifier_config *c = &m->cfg;
    int IC = c->encoder.in_channels, hw = c->in_h * c->in_w;
    for (int n = 0; n < N; n++)
        for (int ch = 0; ch < IC; ch++) {
            size_t o = ((size_t)n * IC + ch) * hw;
            float mu = c->mean[ch], inv = 1.0f / c->std[ch];
            for (int i = 0; i < hw; i++) m->xn[o + i] = (x[o + i] - mu) * inv;
        }
    const float *map;
    int C, h, w;
    if ((s = sc_cnn_forward(m->enc, m->xn, N, c->in_h, c->in_w, train, &map, &C, &h, &w))) return s;
    if (c->head_grid)
        s = sc_adaptive_avgpool2d_forward(m->feat, map, N, C, h, w, c->head_grid, c->head_grid);
    else
        s = sc_global_avgpool2d_forward(m->feat, map, N, C, h * w);
    if (s) return s;
    size_t nf = (size_t)N * m->F;
    if ((s = sc_dropout_forward(m->feat, nf, c->dropout, train, rng, m->mask, m->drop))) return s;
    if ((s = sc_linear_forward(m->logits, m->drop, m->head, m->head + (size_t)c->num_classes * m->F,
                               N, m->F, c->num_classes)))
        return s;
    m->N = N;
    m->train = train;
    m->x = x;
    m->have_forward = 1;
    *logits = m->logits;
    return SC_OK;
}

sc_status sc_classifier_backward(sc_classifier *m, const float *dlogits, float *dx) {
    if (!m || !dlogits)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_backward: NULL argument");
    if (!m->have_forward)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_classifier_backward: no forward pass to differentiate");
    const sc_classifier_config *c = &m->cfg;
    int N = m->N, C = m->C, F = m->F, K = c->num_classes;
    size_t nf = (size_t)N * F;
    sc_status s;
    memset(m->gfeat, 0, nf * sizeof(float));
    if ((s = sc_linear_backward(m->gfeat, m->ghead, m->ghead + (size_t)K * F, dlogits, m->drop,
                                m->head, N, F, K)))
        return s;
    /* Dropout backward in place: gfeat *= mask (train) or identity (eval). */
    if (m->train && c->dropout > 0)
        for (size_t i = 0; i < nf; i++) m->gfeat[i] *= m->mask[i];
    size_t map = (size_t)m->fh * m->fw;
    memset(m->gmap, 0, (size_t)N * C * map * sizeof(float));
    if (c->head_grid)
        s = sc_adaptive_avgpool2d_backward(m->gmap, m->gfeat, N, C, m->fh, m->fw, c->head_grid,
                                           c->head_grid);
    else
        s = sc_global_avgpool2d_backward(m->gmap, m->gfeat, N, C, (int)map);
    if (s) return s;
    int IC = c->encoder.in_channels, hw = c->in_h * c->in_w;
    size_t npix = (size_t)N * IC * hw;
    if (dx) memset(m->dxn, 0, npix * sizeof(float));
    if ((s = sc_cnn_backward(m->enc, m->gmap, dx ? m->dxn : NULL))) return s;
    if (dx)
        for (int n = 0; n < N; n++)
            for (int ch = 0; ch < IC; ch++) {
                size_t o = ((size_t)n * IC + ch) * hw;
                float inv = 1.0f / c->std[ch];
                for (int i = 0; i < hw; i++) dx[o + i] += m->dxn[o + i] * inv;
            }
    return SC_OK;
}

sc_status sc_classifier_train_batch(sc_classifier *m, const float *x, const int32_t *targets, int N,
                                    sc_rng *rng, double *loss, float *dx) {
    if (!targets || !loss)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_train_batch: NULL argument");
    const float *logits;
    sc_status s = sc_classifier_forward(m, x, N, 1, rng, &logits);
    if (s) return s;
    int K = m->cfg.num_classes;
    float l = 0, *dl = sc_calloc((size_t)N * K, sizeof(float));
    if (!dl) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    s = sc_cross_entropy(logits, targets, N, K, NULL, &l, NULL, dl);
    if (!s) s = sc_classifier_backward(m, dl, dx);
    sc_free(dl);
    if (!s) *loss = l;
    return s;
}

/* Eval forward of n images in chunks; calls back with each chunk's logits. */
typedef void (*chunk_fn)(void *ctx, size_t first, int n, const float *logits, int K);

static sc_status run_chunks(sc_classifier *m, const uint8_t *u8, const float *f, size_t N,
                            chunk_fn fn, void *ctx) {
    if (!m || (!u8 && !f)) return sc_set_error(SC_ERR_INVALID_ARG, "classifier: NULL images");
    const sc_classifier_config *c = &m->cfg;
    size_t pix = (size_t)c->encoder.in_channels * c->in_h * c->in_w;
    float *buf = u8 ? sc_malloc(CHUNK * pix * sizeof(float)) : NULL;
    if (u8 && !buf) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status s = SC_OK;
    for (size_t first = 0; first < N && !s; first += CHUNK) {
        int n = (int)SC_MIN((size_t)CHUNK, N - first);
        const float *x = f ? f + first * pix : buf;
        if (u8)
            for (size_t i = 0; i < (size_t)n * pix; i++)
                buf[i] = u8[first * pix + i] * (1.0f / 255.0f);
        const float *logits;
        s = sc_classifier_forward(m, x, n, 0, NULL, &logits);
        if (!s) fn(ctx, first, n, logits, c->num_classes);
    }
    sc_free(buf);
    return s;
}

static void softmax_chunk(void *ctx, size_t first, int n, const float *logits, int K) {
    sc_softmax_forward(logits, n, K, (float *)ctx + first * K);
}

sc_status sc_classifier_predict_u8(sc_classifier *m, const uint8_t *images, size_t N,
                                   float *probs) {
    if (!probs) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_predict: probs is NULL");
    return run_chunks(m, images, NULL, N, softmax_chunk, probs);
}

sc_status sc_classifier_predict(sc_classifier *m, const float *x, size_t N, float *probs) {
    if (!probs) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_predict: probs is NULL");
    if (!x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_predict: x is NULL");
    if (m) {
        sc_status s = sc_check_finite_images("classifier predict", x, N, m->cfg.encoder.in_channels,
                                             m->cfg.in_h, m->cfg.in_w);
        if (s) return s;
    }
    return run_chunks(m, NULL, x, N, softmax_chunk, probs);
}

typedef struct {
    const uint8_t *labels;
    int64_t *conf;
    size_t correct;
    double loss;
    int bad_label;
} eval_ctx;

static void eval_chunk(void *ctx, size_t first, int n, const float *logits, int K) {
    eval_ctx *e = ctx;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * K;
        int y = e->labels[first + i], best = 0;
        if (y >= K) {
            e->bad_label = 1;
            continue;
        }
        double mx = z[0], sum = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k;
        mx = z[best];
        for (int k = 0; k < K; k++) sum += exp((double)z[k] - mx);
        e->loss += log(sum) - ((double)z[y] - mx);
        e->correct += best == y;
        if (e->conf) e->conf[(size_t)y * K + best]++;
    }
}

sc_status sc_classifier_evaluate(sc_classifier *m, const uint8_t *images, const uint8_t *labels,
                                 size_t N, int64_t *confusion, double *accuracy,
                                 double *mean_loss) {
    if (!m || !images || !labels || N == 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_classifier_evaluate: NULL argument or no images");
    int K = m->cfg.num_classes;
    if (confusion) memset(confusion, 0, (size_t)K * K * sizeof *confusion);
    eval_ctx e = {labels, confusion, 0, 0, 0};
    sc_status s = run_chunks(m, images, NULL, N, eval_chunk, &e);
    if (s) return s;
    if (e.bad_label)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_evaluate: a label is >= %d classes",
                            K);
    if (accuracy) *accuracy = (double)e.correct / (double)N;
    if (mean_loss) *mean_loss = e.loss / (double)N;
    return SC_OK;
}
