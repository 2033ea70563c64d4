/* The configurable CNN encoder of sc_cnn.h: conv -> BN -> ReLU -> max pool
 * stages over the kernels of sc_nn.h, with the activations of the last
 * forward pass kept for the backward pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "saccade/sc_cnn.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f
#define NAME_MAX_LEN 192

typedef struct stage {
    int IC, IH, IW; /* input */
    int OC, CH, CW; /* conv output */
    int PH, PW;     /* stage output (after the optional pool) */
    sc_conv2d_desc conv;
    float *w, *b, *gamma, *beta, *rmean, *rvar; /* into the model's blocks */
    float *gw, *gb, *ggamma, *gbeta;
    /* Activations of the last forward (into the activation block). */
    const float *x; /* stage input */
    float *z;       /* conv output = BN input (N, OC, CH, CW) */
    float *a;       /* after BN + ReLU (== z without BN: ReLU in place) */
    float *p;       /* pooled output or NULL */
    int32_t *argmax;
    float *save_mean, *save_invstd;
} stage;

struct sc_cnn {
    sc_cnn_config cfg;
    stage st[SC_CNN_MAX_STAGES];
    sc_param params[SC_CNN_MAX_STAGES * 4];
    sc_param buffers[SC_CNN_MAX_STAGES * 2];
    size_t nparams, nbuffers;
    char names[SC_CNN_MAX_STAGES * 6][NAME_MAX_LEN];
    float *pmem, *gmem, *bmem; /* parameters, their grads, buffers */
    size_t np_floats, nb_floats;
    /* Activations: one block, carved per forward geometry. */
    unsigned char *act;
    size_t act_cap;
    int N, H, W, train, have_forward;
    void *ws;
    size_t ws_bytes;
    float *g[4]; /* backward scratch: two ping-pong grads, two temporaries */
};

sc_cnn_config sc_cnn_config_make(int in_channels, int nstages, const int *channels) {
    sc_cnn_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = in_channels;
    c.nstages = nstages;
    c.batchnorm = 1;
    for (int i = 0; i < SC_CNN_MAX_STAGES; i++) {
        c.kernel[i] = 3;
        c.stride[i] = 1;
        if (i < nstages && channels) c.channels[i] = channels[i];
    }
    return c;
}

sc_status sc_cnn_config_validate(const sc_cnn_config *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: NULL");
    if (c->in_channels < 1 || c->in_channels > SC_CNN_MAX_CHANNELS)
        return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: in_channels %d is not in 1..%d",
                            c->in_channels, SC_CNN_MAX_CHANNELS);
    if (c->nstages < 1 || c->nstages > SC_CNN_MAX_STAGES)
        return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: %d stages, expected 1..%d", c->nstages,
                            SC_CNN_MAX_STAGES);
    if (c->batchnorm != 0 && c->batchnorm != 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: batchnorm must be 0 or 1");
    for (int i = 0; i < c->nstages; i++) {
        if (c->channels[i] < 1 || c->channels[i] > SC_CNN_MAX_CHANNELS)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "cnn config: stage %d has %d channels, expected 1..%d", i,
                                c->channels[i], SC_CNN_MAX_CHANNELS);
        if (c->kernel[i] < 1 || c->kernel[i] > 7 || c->kernel[i] % 2 == 0)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "cnn config: stage %d kernel %d must be odd, 1..7", i,
                                c->kernel[i]);
        if (c->stride[i] != 1 && c->stride[i] != 2)
            return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: stage %d stride %d must be 1 or 2",
                                i, c->stride[i]);
        if (c->pool[i] != 0 && c->pool[i] != 1)
            return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: stage %d pool must be 0 or 1", i);
    }
    return SC_OK;
}

/* Read an int list of n entries from an array of numbers or booleans. */
static sc_status json_int_list(const cJSON *a, const char *key, int n, int *out, int allow_bool) {
    if (!cJSON_IsArray(a))
        return sc_set_error(SC_ERR_FORMAT, "cnn config: \"%s\" must be a list", key);
    if (cJSON_GetArraySize(a) != n)
        return sc_set_error(SC_ERR_FORMAT,
                            "cnn config: \"%s\" has %d entries, expected %d (one per stage)", key,
                            cJSON_GetArraySize(a), n);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (allow_bool && cJSON_IsBool(e)) {
            out[i++] = cJSON_IsTrue(e) ? 1 : 0;
            continue;
        }
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
            fabs(e->valuedouble) > 1e6)
            return sc_set_error(SC_ERR_FORMAT, "cnn config: \"%s\"[%d] must be an integer%s", key,
                                i, allow_bool ? " or boolean" : "");
        out[i++] = (int)e->valuedouble;
    }
    return SC_OK;
}

sc_status sc_cnn_config_from_json(const char *json, sc_cnn_config *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "cnn config: NULL argument");
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "cnn config: not valid JSON");
    sc_cnn_config c = sc_cnn_config_make(0, 0, NULL);
    sc_status s = SC_OK;
    if (!cJSON_IsObject(root)) s = sc_set_error(SC_ERR_FORMAT, "cnn config: not a JSON object");
    const cJSON *chan = cJSON_GetObjectItemCaseSensitive(root, "channels");
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(root, "in_channels");
    if (!s && (!cJSON_IsArray(chan) || cJSON_GetArraySize(chan) < 1 ||
               cJSON_GetArraySize(chan) > SC_CNN_MAX_STAGES))
        s = sc_set_error(SC_ERR_FORMAT,
                         "cnn config: \"channels\" must be a list of 1..%d stage widths",
                         SC_CNN_MAX_STAGES);
    if (!s && (!cJSON_IsNumber(inc) || inc->valuedouble != floor(inc->valuedouble) ||
               fabs(inc->valuedouble) > 1e6))
        s = sc_set_error(SC_ERR_FORMAT, "cnn config: \"in_channels\" must be an integer");
    if (!s) {
        c.in_channels = (int)inc->valuedouble;
        c.nstages = cJSON_GetArraySize(chan);
        s = json_int_list(chan, "channels", c.nstages, c.channels, 0);
    }
    const cJSON *e;
    if (!s) cJSON_ArrayForEach(e, root) {
            const char *k = e->string ? e->string : "";
            if (!strcmp(k, "channels") || !strcmp(k, "in_channels")) continue;
            if (!strcmp(k, "pool"))
                s = json_int_list(e, k, c.nstages, c.pool, 1);
            else if (!strcmp(k, "stride"))
                s = json_int_list(e, k, c.nstages, c.stride, 0);
            else if (!strcmp(k, "kernel"))
                s = json_int_list(e, k, c.nstages, c.kernel, 0);
            else if (!strcmp(k, "batchnorm")) {
                if (cJSON_IsBool(e))
                    c.batchnorm = cJSON_IsTrue(e);
                else if (cJSON_IsNumber(e) && (e->valuedouble == 0 || e->valuedouble == 1))
                    c.batchnorm = (int)e->valuedouble;
                else
                    s = sc_set_error(SC_ERR_FORMAT, "cnn config: \"batchnorm\" must be a boolean");
            } else
                s = sc_set_error(SC_ERR_FORMAT, "cnn config: unknown key \"%s\"", k);
            if (s) break;
        }
    cJSON_Delete(root);
    if (!s) s = sc_cnn_config_validate(&c);
    if (!s) *out = c;
    return s;
}

char *sc_cnn_config_to_json(const sc_cnn_config *c) {
    if (sc_cnn_config_validate(c)) return NULL;
    size_t cap = 128 + (size_t)c->nstages * 48;
    char *buf = malloc(cap);
    if (!buf) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t n = (size_t)snprintf(buf, cap, "{\"in_channels\": %d, \"channels\": [", c->in_channels);
    const char *keys[4] = {"channels", "pool", "stride", "kernel"};
    const int *vals[4] = {c->channels, c->pool, c->stride, c->kernel};
    for (int k = 0; k < 4; k++) {
        if (k) n += (size_t)snprintf(buf + n, cap - n, "], \"%s\": [", keys[k]);
        for (int i = 0; i < c->nstages; i++) {
            if (k == 1)
                n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? ", " : "",
                                      vals[k][i] ? "true" : "false");
            else
                n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? ", " : "", vals[k][i]);
        }
    }
    snprintf(buf + n, cap - n, "], \"batchnorm\": %s}", c->batchnorm ? "true" : "false");
    return buf;
}

/* Geometry of every stage for an H x W input (no allocation). */
static sc_status geometry(const sc_cnn_config *c, int H, int W, stage *st) {
    int ic = c->in_channels;
    for (int i = 0; i < c->nstages; i++) {
        int k = c->kernel[i], s = c->stride[i];
        if (H < 1 || W < 1 || (long)H + 2 * (k / 2) < k || (long)W + 2 * (k / 2) < k)
            return sc_set_error(SC_ERR_SHAPE, "cnn: input too small for stage %d", i);
        int ch = (H + 2 * (k / 2) - k) / s + 1, cw = (W + 2 * (k / 2) - k) / s + 1;
        int ph = ch, pw = cw;
        if (c->pool[i]) {
            if (ch < 2 || cw < 2)
                return sc_set_error(SC_ERR_SHAPE,
                                    "cnn: stage %d feature map %dx%d is too small for a 2x2 pool "
                                    "(input too small for this encoder)",
                                    i, ch, cw);
            ph = ch / 2;
            pw = cw / 2;
        }
        st[i].IC = ic, st[i].IH = H, st[i].IW = W;
        st[i].OC = c->channels[i], st[i].CH = ch, st[i].CW = cw;
        st[i].PH = ph, st[i].PW = pw;
        ic = c->channels[i], H = ph, W = pw;
    }
    return SC_OK;
}

sc_status sc_cnn_output_size(const sc_cnn_config *c, int H, int W, int *C, int *h, int *w) {
    sc_status s = sc_cnn_config_validate(c);
    if (s) return s;
    stage st[SC_CNN_MAX_STAGES];
    if ((s = geometry(c, H, W, st))) return s;
    const stage *l = &st[c->nstages - 1];
    if (C) *C = l->OC;
    if (h) *h = l->PH;
    if (w) *w = l->PW;
    return SC_OK;
}

static void add_entry(sc_cnn *m, const char *prefix, int is_buffer, const char *what, int stage_i,
                      float *p, float *g, size_t n, int ndim, const int64_t *shape, int no_wd) {
    size_t idx = m->nparams + m->nbuffers;
    snprintf(m->names[idx], NAME_MAX_LEN, "%sstages.%d.%s", prefix, stage_i, what);
    sc_param *q = is_buffer ? &m->buffers[m->nbuffers++] : &m->params[m->nparams++];
    memset(q, 0, sizeof *q);
    q->name = m->names[idx];
    q->param = p;
    q->grad = g;
    q->n = n;
    q->no_weight_decay = no_wd;
    q->ndim = ndim;
    for (int d = 0; d < ndim; d++) q->shape[d] = shape[d];
}

sc_status sc_cnn_create(const sc_cnn_config *c, const char *prefix, sc_rng *rng, sc_cnn **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_create: out is NULL");
    *out = NULL;
    sc_status s = sc_cnn_config_validate(c);
    if (s) return s;
    if (!rng) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_create: rng is NULL");
    if (!prefix) prefix = "";
    if (strlen(prefix) > 128)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_create: prefix longer than 128 bytes");
    sc_cnn *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = *c;
    /* Sizes (channels <= 4096, kernel <= 7: no overflow in size_t). */
    size_t np = 0, nb = 0;
    int ic = c->in_channels;
    for (int i = 0; i < c->nstages; i++) {
        size_t oc = (size_t)c->channels[i], k = (size_t)c->kernel[i];
        np += oc * (size_t)ic * k * k + (c->batchnorm ? 2 * oc : oc);
        nb += c->batchnorm ? 2 * oc : 0;
        ic = c->channels[i];
    }
    m->np_floats = np;
    m->nb_floats = nb;
    m->pmem = sc_calloc(np, sizeof(float));
    m->gmem = sc_calloc(np, sizeof(float));
    m->bmem = sc_calloc(nb ? nb : 1, sizeof(float));
    if (!m->pmem || !m->gmem || !m->bmem) {
        sc_cnn_free(m);
        return sc_set_error(SC_ERR_NOMEM, "cnn: out of memory for %zu parameters", np);
    }
    float *p = m->pmem, *g = m->gmem, *b = m->bmem;
    ic = c->in_channels;
    for (int i = 0; i < c->nstages; i++) {
        stage *t = &m->st[i];
        int oc = c->channels[i], k = c->kernel[i];
        size_t nw = (size_t)oc * ic * k * k;
        int64_t wshape[4] = {oc, ic, k, k}, vshape[1] = {oc};
        t->w = p, t->gw = g;
        add_entry(m, prefix, 0, "conv.weight", i, p, g, nw, 4, wshape, 0);
        float bound = 1.0f / sqrtf((float)(ic * k * k));
        for (size_t j = 0; j < nw; j++) p[j] = (2.0f * sc_rng_uniform(rng) - 1.0f) * bound;
        p += nw, g += nw;
        if (!c->batchnorm) {
            t->b = p, t->gb = g;
            add_entry(m, prefix, 0, "conv.bias", i, p, g, (size_t)oc, 1, vshape, 1);
            for (int j = 0; j < oc; j++) p[j] = (2.0f * sc_rng_uniform(rng) - 1.0f) * bound;
            p += oc, g += oc;
        } else {
            t->gamma = p, t->ggamma = g;
            add_entry(m, prefix, 0, "bn.weight", i, p, g, (size_t)oc, 1, vshape, 1);
            for (int j = 0; j < oc; j++) p[j] = 1.0f;
            p += oc, g += oc;
            t->beta = p, t->gbeta = g;
            add_entry(m, prefix, 0, "bn.bias", i, p, g, (size_t)oc, 1, vshape, 1);
            p += oc, g += oc;
            t->rmean = b;
            add_entry(m, prefix, 1, "bn.running_mean", i, b, NULL, (size_t)oc, 1, vshape, 0);
            b += oc;
            t->rvar = b;
            add_entry(m, prefix, 1, "bn.running_var", i, b, NULL, (size_t)oc, 1, vshape, 0);
            for (int j = 0; j < oc; j++) b[j] = 1.0f;
            b += oc;
        }
        ic = oc;
    }
    *out = m;
    return SC_OK;
}

void sc_cnn_free(sc_cnn *m) {
    if (!m) return;
    sc_free(m->pmem);
    sc_free(m->gmem);
    sc_free(m->bmem);
    sc_free(m->act);
    free(m);
}

const sc_cnn_config *sc_cnn_get_config(const sc_cnn *m) {
    return m ? &m->cfg : NULL;
}

void sc_cnn_params(const sc_cnn *m, const sc_param **list, size_t *n) {
    if (list) *list = m ? m->params : NULL;
    if (n) *n = m ? m->nparams : 0;
}

void sc_cnn_buffers(const sc_cnn *m, const sc_param **list, size_t *n) {
    if (list) *list = m ? m->buffers : NULL;
    if (n) *n = m ? m->nbuffers : 0;
}

void sc_cnn_zero_grad(sc_cnn *m) {
    if (m) memset(m->gmem, 0, m->np_floats * sizeof(float));
}

static sc_status load_list(sc_safetensors *st, const sc_param *list, size_t n, int copy) {
    for (size_t i = 0; i < n; i++) {
        const float *d;
        sc_status s = sc_safetensors_get_f32(st, list[i].name, list[i].ndim, list[i].shape, &d);
        if (s) return s;
        if (copy) memcpy(list[i].param, d, list[i].n * sizeof(float));
    }
    return SC_OK;
}

sc_status sc_cnn_load(sc_cnn *m, sc_safetensors *st) {
    if (!m || !st) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_load: NULL argument");
    sc_status s;
    for (int copy = 0; copy < 2; copy++) /* check everything before changing anything */
        if ((s = load_list(st, m->params, m->nparams, copy)) ||
            (s = load_list(st, m->buffers, m->nbuffers, copy)))
            return s;
    return SC_OK;
}

/* 2x2 stride-2 max pool over n planes of h x w (output h/2 x w/2), with
 * sc_maxpool2d_forward's semantics (ties: first in row-major order; NaN
 * wins) but branch-free selects: the generic kernel's data-dependent
 * branches cost more than the convolutions around it. */
static void maxpool2x2(float *out, int32_t *argmax, const float *x, size_t planes, int h, int w) {
    int oh = h / 2, ow = w / 2;
#pragma omp parallel for schedule(static) if (planes * (size_t)oh * ow >= 65536)
    for (long long pl = 0; pl < (long long)planes; pl++) {
        const float *xp = x + (size_t)pl * h * w;
        float *op = out + (size_t)pl * oh * ow;
        int32_t *ap = argmax + (size_t)pl * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *r0 = xp + (size_t)(2 * i) * w, *r1 = r0 + w;
            for (int j = 0; j < ow; j++) {
                float m = r0[2 * j];
                int32_t a = 2 * i * w + 2 * j;
                float v = r0[2 * j + 1];
                int t = v > m || v != v;
                m = t ? v : m;
                a = t ? a + 1 : a;
                v = r1[2 * j];
                t = v > m || v != v;
                m = t ? v : m;
                a = t ? (2 * i + 1) * w + 2 * j : a;
                v = r1[2 * j + 1];
                t = v > m || v != v;
                m = t ? v : m;
                a = t ? (2 * i + 1) * w + 2 * j + 1 : a;
                op[(size_t)i * ow + j] = m;
                ap[(size_t)i * ow + j] = a;
            }
        }
    }
}

/* Carve the activation block for (N, H, W): returns the bytes needed, and
 * sets the pointers when base is non-NULL. */
static size_t carve(sc_cnn *m, int N, unsigned char *base) {
    size_t off = 0;
#define TAKE(ptr, type, count)                                                                     \
    do {                                                                                           \
        size_t bytes_ = ((size_t)(count) * sizeof(type) + 63) & ~(size_t)63;                       \
        if (base) ptr = (type *)(void *)(base + off);                                              \
        off += bytes_;                                                                             \
    } while (0)
    size_t maxel = 0, ws = 0;
    for (int i = 0; i < m->cfg.nstages; i++) {
        stage *t = &m->st[i];
        size_t nz = (size_t)N * t->OC * t->CH * t->CW, np = (size_t)N * t->OC * t->PH * t->PW;
        size_t nin = (size_t)N * t->IC * t->IH * t->IW;
        TAKE(t->z, float, nz);
        if (m->cfg.batchnorm) {
            TAKE(t->a, float, nz);
            TAKE(t->save_mean, float, t->OC);
            TAKE(t->save_invstd, float, t->OC);
        } else if (base) {
            t->a = t->z;
        }
        if (m->cfg.pool[i]) {
            TAKE(t->p, float, np);
            TAKE(t->argmax, int32_t, np);
        } else if (base) {
            t->p = NULL;
            t->argmax = NULL;
        }
        maxel = SC_MAX(maxel, SC_MAX(nz, nin));
        size_t fb = 0, bb = 0;
        sc_conv2d_workspace_bytes(&t->conv, &fb, &bb);
        ws = SC_MAX(ws, SC_MAX(fb, bb));
    }
    for (int k = 0; k < 4; k++) TAKE(m->g[k], float, maxel);
    size_t ws_off = off;
    off += (ws + 63) & ~(size_t)63;
    if (base) {
        m->ws = ws ? base + ws_off : NULL;
        m->ws_bytes = ws;
    }
#undef TAKE
    return off;
}

/* Largest element count of any activation for N (overflow check up front). */
static sc_status check_sizes(const sc_cnn *m, int N) {
    for (int i = 0; i < m->cfg.nstages; i++) {
        const stage *t = &m->st[i];
        size_t a, b;
        if (sc_mul_size((size_t)N, (size_t)t->OC, &a) || sc_mul_size(a, (size_t)t->CH, &a) ||
            sc_mul_size(a, (size_t)t->CW, &a) || sc_mul_size(a, 4 * sizeof(float), &b) ||
            a > (size_t)INT32_MAX)
            return sc_set_error(SC_ERR_LIMIT, "cnn: batch of %d is too large for stage %d", N, i);
    }
    return SC_OK;
}

sc_status sc_cnn_forward(sc_cnn *m, const float *x, int N, int H, int W, int train,
                         const float **out, int *C, int *h, int *w) {
    if (!m || !x || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_forward: NULL argument");
    if (N < 1 || H < 1 || W < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_forward: N %d, H %d, W %d must be positive",
                            N, H, W);
    m->have_forward = 0;
    sc_status s = geometry(&m->cfg, H, W, m->st);
    if (s) return s;
    if ((s = check_sizes(m, N))) return s;
    for (int i = 0; i < m->cfg.nstages; i++) {
        stage *t = &m->st[i];
        int k = m->cfg.kernel[i];
        t->conv =
            sc_conv2d_make(N, t->IC, t->IH, t->IW, t->OC, k, k, m->cfg.stride[i], k / 2, 1, 1);
        if (train && m->cfg.batchnorm && (size_t)N * t->CH * t->CW < 2)
            return sc_set_error(
                SC_ERR_SHAPE,
                "cnn: training batch norm at stage %d needs more than one value per "
                "channel (batch %d, %dx%d map)",
                i, N, t->CH, t->CW);
    }
    size_t need = carve(m, N, NULL);
    if (need > m->act_cap) {
        sc_free(m->act);
        m->act_cap = 0;
        m->act = sc_malloc(need);
        if (!m->act)
            return sc_set_error(SC_ERR_NOMEM, "cnn: out of memory for activations (%zu bytes)",
                                need);
        m->act_cap = need;
    }
    carve(m, N, m->act);
    const float *in = x;
    for (int i = 0; i < m->cfg.nstages; i++) {
        stage *t = &m->st[i];
        int hw = t->CH * t->CW;
        size_t nz = (size_t)N * t->OC * hw;
        t->x = in;
        if ((s = sc_conv2d_forward(&t->conv, t->z, in, t->w, t->b, m->ws, m->ws_bytes))) return s;
        if (m->cfg.batchnorm) {
            if (train)
                s = sc_batchnorm2d_forward_train(t->a, t->save_mean, t->save_invstd, t->rmean,
                                                 t->rvar, t->z, t->gamma, t->beta, N, t->OC, hw,
                                                 BN_MOMENTUM, BN_EPS);
            else
                s = sc_batchnorm2d_forward_eval(t->a, t->z, t->gamma, t->beta, t->rmean, t->rvar, N,
                                                t->OC, hw, BN_EPS);
            if (s) return s;
        }
        if ((s = sc_act_forward(SC_ACT_RELU, t->a, t->a, nz))) return s;
        in = t->a;
        if (t->p) {
            maxpool2x2(t->p, t->argmax, t->a, (size_t)N * t->OC, t->CH, t->CW);
            in = t->p;
        }
    }
    const stage *l = &m->st[m->cfg.nstages - 1];
    m->N = N, m->H = H, m->W = W, m->train = train, m->have_forward = 1;
    *out = in;
    if (C) *C = l->OC;
    if (h) *h = l->PH;
    if (w) *w = l->PW;
    return SC_OK;
}

/* Backward through the 2x2 max pool and the ReLU before it in one pass that
 * writes every element of gz (no memset, no scatter): the gradient of a pooled
 * cell goes to its argmax if the ReLU passed that element, 0 elsewhere. Rows
 * and columns the pool dropped (odd sizes) get 0. */
static void maxpool2x2_relu_backward(float *gz, const float *gp, const int32_t *argmax,
                                     const float *a, size_t planes, int h, int w) {
    int oh = h / 2, ow = w / 2;
#pragma omp parallel for schedule(static) if (planes * (size_t)h * w >= 65536)
    for (long long pl = 0; pl < (long long)planes; pl++) {
        const float *ap = a + (size_t)pl * h * w, *g = gp + (size_t)pl * oh * ow;
        const int32_t *am = argmax + (size_t)pl * oh * ow;
        float *o = gz + (size_t)pl * h * w;
        for (int i = 0; i < oh; i++) {
            int r0 = 2 * i * w, r1 = r0 + w;
            for (int j = 0; j < ow; j++) {
                float v = g[(size_t)i * ow + j];
                int32_t m = am[(size_t)i * ow + j];
                int c0 = r0 + 2 * j, c1 = r1 + 2 * j;
                o[c0] = m == c0 && ap[c0] > 0.0f ? v : 0.0f;
                o[c0 + 1] = m == c0 + 1 && ap[c0 + 1] > 0.0f ? v : 0.0f;
                o[c1] = m == c1 && ap[c1] > 0.0f ? v : 0.0f;
                o[c1 + 1] = m == c1 + 1 && ap[c1 + 1] > 0.0f ? v : 0.0f;
            }
            if (w & 1) o[r0 + w - 1] = o[r1 + w - 1] = 0.0f;
        }
        if (h & 1) memset(o + (size_t)(h - 1) * w, 0, (size_t)w * sizeof(float));
    }
}

/* ReLU backward that overwrites gz (the library kernel accumulates). */
static void relu_backward_set(float *gz, const float *g, const float *a, size_t n) {
#pragma omp parallel for schedule(static) if (n >= 65536)
    for (long long i = 0; i < (long long)n; i++) gz[i] = a[i] > 0.0f ? g[i] : 0.0f;
}

/* A scratch buffer that is neither a nor b. */
static float *pick(sc_cnn *m, const float *a, const float *b) {
    for (int k = 0; k < 4; k++)
        if (m->g[k] != a && m->g[k] != b) return m->g[k];
    SC_ASSERT(0);
    return NULL;
}

sc_status sc_cnn_backward(sc_cnn *m, const float *dout, float *dx) {
    if (!m || !dout) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cnn_backward: NULL argument");
    if (!m->have_forward)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_cnn_backward: no forward pass to differentiate");
    int N = m->N;
    const float *gout = dout;
    sc_status s;
    for (int i = m->cfg.nstages - 1; i >= 0; i--) {
        stage *t = &m->st[i];
        int hw = t->CH * t->CW;
        size_t nz = (size_t)N * t->OC * hw;
        float *gz = pick(m, gout, NULL);
        if (t->p)
            maxpool2x2_relu_backward(gz, gout, t->argmax, t->a, (size_t)N * t->OC, t->CH, t->CW);
        else
            relu_backward_set(gz, gout, t->a, nz);
        if (m->cfg.batchnorm) {
            float *g2 = pick(m, gz, NULL);
            memset(g2, 0, nz * sizeof(float));
            if (m->train)
                s = sc_batchnorm2d_backward_train(g2, t->ggamma, t->gbeta, gz, t->z, t->save_mean,
                                                  t->save_invstd, t->gamma, N, t->OC, hw);
            else
                s = sc_batchnorm2d_backward_eval(g2, t->ggamma, t->gbeta, gz, t->z, t->gamma,
                                                 t->rmean, t->rvar, N, t->OC, hw, BN_EPS);
            if (s) return s;
            gz = g2;
        }
        float *gin = dx;
        if (i > 0) {
            gin = pick(m, gz, NULL);
            memset(gin, 0, (size_t)N * t->IC * t->IH * t->IW * sizeof(float));
        }
        if ((s = sc_conv2d_backward(&t->conv, gin, t->gw, t->gb, gz, t->x, t->w, m->ws,
                                    m->ws_bytes)))
            return s;
        gout = gin;
    }
    return SC_OK;
}
