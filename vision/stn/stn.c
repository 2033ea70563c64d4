/* Spatial transformer (localisation net + affine grid + bilinear sampler)
 * and the ST-CNN classifier. See sc_stn.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_grid.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_stn.h"
#include "sc_internal.h"

/* ------------------------------------------------------------ theta */

int sc_stn_num_params(sc_stn_transform t) {
    return t == SC_STN_AFFINE        ? 6
           : t == SC_STN_TRANS_SCALE ? 3
           : t == SC_STN_SIMILARITY  ? 4
           : t == SC_STN_TRANSLATION ? 2
                                     : 0;
}

const char *sc_stn_transform_name(sc_stn_transform t) {
    return t == SC_STN_AFFINE        ? "affine"
           : t == SC_STN_TRANS_SCALE ? "trans_scale"
           : t == SC_STN_SIMILARITY  ? "similarity"
           : t == SC_STN_TRANSLATION ? "translation"
                                     : NULL;
}

sc_status sc_stn_transform_from_name(const char *name, sc_stn_transform *out) {
    for (int t = 0; t <= SC_STN_TRANSLATION; t++)
        if (name && out && !strcmp(name, sc_stn_transform_name((sc_stn_transform)t))) {
            *out = (sc_stn_transform)t;
            return SC_OK;
        }
    return sc_set_error(SC_ERR_INVALID_ARG,
                        "unknown transform '%s' (known: affine, trans_scale, similarity, "
                        "translation)",
                        name ? name : "(null)");
}

sc_status sc_stn_theta_forward(sc_stn_transform t, float zoom, const float *p, int N,
                               float *theta) {
    if (!p || !theta || N < 1 || !sc_stn_num_params(t))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_theta_forward: bad argument");
    for (int n = 0; n < N; n++) {
        float *th = theta + (size_t)n * 6;
        if (t == SC_STN_AFFINE) {
            memcpy(th, p + (size_t)n * 6, 6 * sizeof(float));
        } else if (t == SC_STN_SIMILARITY) {
            const float *q = p + (size_t)n * 4;
            th[0] = q[0], th[1] = 0.0f - q[1], th[2] = q[2]; /* +0 at the identity */
            th[3] = q[1], th[4] = q[0], th[5] = q[3];
        } else if (t == SC_STN_TRANSLATION) {
            const float *q = p + (size_t)n * 2;
            th[0] = zoom, th[1] = 0, th[2] = q[0];
            th[3] = 0, th[4] = zoom, th[5] = q[1];
        } else {
            const float *q = p + (size_t)n * 3;
            th[0] = q[0], th[1] = 0, th[2] = q[1];
            th[3] = 0, th[4] = q[0], th[5] = q[2];
        }
    }
    return SC_OK;
}

sc_status sc_stn_theta_backward(sc_stn_transform t, const float *dtheta, int N, float *dp) {
    if (!dtheta || !dp || N < 1 || !sc_stn_num_params(t))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_theta_backward: bad argument");
    for (int n = 0; n < N; n++) {
        const float *d = dtheta + (size_t)n * 6;
        if (t == SC_STN_AFFINE) {
            for (int k = 0; k < 6; k++) dp[(size_t)n * 6 + k] += d[k];
        } else if (t == SC_STN_SIMILARITY) {
            float *q = dp + (size_t)n * 4;
            q[0] += d[0] + d[4];
            q[1] += d[3] - d[1];
            q[2] += d[2];
            q[3] += d[5];
        } else if (t == SC_STN_TRANSLATION) {
            float *q = dp + (size_t)n * 2;
            q[0] += d[2];
            q[1] += d[5];
        } else {
            float *q = dp + (size_t)n * 3;
            q[0] += d[0] + d[4];
            q[1] += d[2];
            q[2] += d[5];
        }
    }
    return SC_OK;
}

/* ------------------------------------------------------------ glimpse */

sc_status sc_stn_glimpse(const sc_image *img, const float *theta, int out_w, int out_h,
                         sc_image *out) {
    if (!img || !img->data || !theta || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_glimpse: NULL argument");
    if (img->w < 1 || img->h < 1 || img->c < 1 || img->c > 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_glimpse: bad input image %dx%dx%d", img->w,
                            img->h, img->c);
    if (out_w < 1 || out_h < 1 || out_w > 16384 || out_h > 16384)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_stn_glimpse: output size %dx%d outside 1..16384", out_w, out_h);
    for (int k = 0; k < 6; k++)
        if (!isfinite(theta[k]))
            return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_glimpse: theta[%d] is not finite", k);
    sc_image o = {0};
    float *grid = NULL;
    size_t gn;
    if (sc_mul_size((size_t)out_w * 2, (size_t)out_h, &gn))
        return sc_set_error(SC_ERR_LIMIT, "sc_stn_glimpse: size overflow");
    sc_status s = sc_image_alloc(&o, out_w, out_h, img->c);
    if (s) return s;
    grid = sc_malloc(gn * sizeof(float));
    if (!grid) {
        sc_image_free(&o);
        return SC_ERR_NOMEM;
    }
    s = sc_affine_grid(theta, 1, out_h, out_w, 0, grid);
    if (!s)
        s = sc_grid_sample(img->data, grid, o.data, 1, img->c, img->h, img->w, out_h, out_w,
                           SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS, 0);
    sc_free(grid);
    if (s) {
        sc_image_free(&o);
        return s;
    }
    *out = o;
    return SC_OK;
}

void sc_stn_corners(const float *theta, int w, int h, float corners[8]) {
    static const float U[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
    for (int i = 0; i < 4; i++) {
        float xn = theta[0] * U[i][0] + theta[1] * U[i][1] + theta[2];
        float yn = theta[3] * U[i][0] + theta[4] * U[i][1] + theta[5];
        /* align_corners = 0: normalised -1..1 spans the outer pixel edges */
        corners[2 * i] = (xn + 1) * 0.5f * (float)w - 0.5f;
        corners[2 * i + 1] = (yn + 1) * 0.5f * (float)h - 0.5f;
    }
}

/* ------------------------------------------------------------ config */

sc_stn_config sc_stn_default_config(int canvas) {
    sc_stn_config c;
    memset(&c, 0, sizeof c);
    c.in_c = 1;
    c.in_h = c.in_w = canvas;
    c.out_h = c.out_w = 28;
    c.transform = SC_STN_AFFINE;
    c.use_cnn = 1;
    int ch[3] = {8, 16, 16};
    c.loc_cnn = sc_cnn_config_make(1, 3, ch);
    for (int i = 0; i < 3; i++) c.loc_cnn.pool[i] = 1;
    c.hidden = 32;
    c.zoom = 1.0f;
    return c;
}

/* Localisation feature count for a config (validated). */
static sc_status loc_features(const sc_stn_config *c, int *F) {
    if (!c->use_cnn) {
        size_t f = (size_t)c->in_c * c->in_h * c->in_w;
        if (f > (1u << 24)) return sc_set_error(SC_ERR_LIMIT, "stn: %zu loc features", f);
        *F = (int)f;
        return SC_OK;
    }
    int C, h, w;
    sc_status s = sc_cnn_output_size(&c->loc_cnn, c->in_h, c->in_w, &C, &h, &w);
    if (s) return s;
    size_t f = (size_t)C * h * w;
    if (f > (1u << 24)) return sc_set_error(SC_ERR_LIMIT, "stn: %zu loc features", f);
    *F = (int)f;
    return SC_OK;
}

sc_status sc_stn_config_validate(const sc_stn_config *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "stn config: NULL");
    if (c->in_c < 1 || c->in_c > 64 || c->in_h < 1 || c->in_w < 1 || c->in_h > 4096 ||
        c->in_w > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: input %dx%dx%d out of range", c->in_c,
                            c->in_h, c->in_w);
    if (c->out_h < 1 || c->out_w < 1 || c->out_h > 4096 || c->out_w > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: output %dx%d out of range", c->out_h,
                            c->out_w);
    if (!sc_stn_num_params(c->transform))
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: unknown transform %d",
                            (int)c->transform);
    if (c->transform == SC_STN_TRANSLATION && !(c->zoom > 0.0f && c->zoom <= 4.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: zoom %g outside (0, 4]",
                            (double)c->zoom);
    if (c->hidden < 0 || c->hidden > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: hidden %d outside 0..65536",
                            c->hidden);
    if (c->use_cnn != 0 && c->use_cnn != 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "stn config: use_cnn must be 0 or 1");
    if (c->use_cnn) {
        sc_status s = sc_cnn_config_validate(&c->loc_cnn);
        if (s) return s;
        if (c->loc_cnn.in_channels != c->in_c)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "stn config: loc_cnn takes %d channels, input has %d",
                                c->loc_cnn.in_channels, c->in_c);
    }
    int F;
    return loc_features(c, &F);
}

char *sc_stn_config_to_json(const sc_stn_config *c) {
    if (sc_stn_config_validate(c)) return NULL;
    char *cnn = c->use_cnn ? sc_cnn_config_to_json(&c->loc_cnn) : NULL;
    if (c->use_cnn && !cnn) return NULL;
    size_t cap = 320 + (cnn ? strlen(cnn) : 0);
    char *s = malloc(cap);
    if (!s) {
        free(cnn);
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(s, cap,
             "{\"input\": [%d, %d, %d], \"output\": [%d, %d], \"transform\": \"%s\", "
             "\"loc_cnn\": %s, \"hidden\": %d",
             c->in_c, c->in_h, c->in_w, c->out_h, c->out_w, sc_stn_transform_name(c->transform),
             cnn ? cnn : "null", c->hidden);
    size_t len = strlen(s);
    if (c->transform == SC_STN_TRANSLATION)
        snprintf(s + len, cap - len, ", \"zoom\": %.9g}", (double)c->zoom);
    else
        snprintf(s + len, cap - len, "}");
    free(cnn);
    return s;
}

/* A JSON integer that fits an int (checked before any conversion). */
static int json_is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && fabs(v->valuedouble) <= 1e9 &&
           v->valuedouble == floor(v->valuedouble);
}

static int json_ints(const cJSON *a, int n, int *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!json_is_int(v)) return 0;
        out[i] = (int)v->valuedouble;
    }
    return 1;
}

static sc_status stn_config_from_cjson(const cJSON *j, sc_stn_config *out) {
    sc_stn_config c;
    memset(&c, 0, sizeof c);
    if (!cJSON_IsObject(j)) return sc_set_error(SC_ERR_FORMAT, "stn config: not a JSON object");
    for (const cJSON *e = j->child; e; e = e->next)
        if (strcmp(e->string, "input") && strcmp(e->string, "output") &&
            strcmp(e->string, "transform") && strcmp(e->string, "loc_cnn") &&
            strcmp(e->string, "hidden") && strcmp(e->string, "zoom"))
            return sc_set_error(SC_ERR_FORMAT, "stn config: unknown key '%s'", e->string);
    int in[3], o[2];
    if (!json_ints(cJSON_GetObjectItemCaseSensitive(j, "input"), 3, in) ||
        !json_ints(cJSON_GetObjectItemCaseSensitive(j, "output"), 2, o))
        return sc_set_error(SC_ERR_FORMAT, "stn config: need \"input\": [C, H, W] and "
                                           "\"output\": [h, w] integer lists");
    c.in_c = in[0], c.in_h = in[1], c.in_w = in[2], c.out_h = o[0], c.out_w = o[1];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "transform");
    if (!cJSON_IsString(t) || sc_stn_transform_from_name(t->valuestring, &c.transform))
        return sc_set_error(SC_ERR_FORMAT, "stn config: \"transform\" must be \"affine\", "
                                           "\"trans_scale\", \"similarity\" or "
                                           "\"translation\"");
    const cJSON *z = cJSON_GetObjectItemCaseSensitive(j, "zoom");
    c.zoom = 1.0f;
    if (z && c.transform != SC_STN_TRANSLATION)
        return sc_set_error(SC_ERR_FORMAT, "stn config: \"zoom\" belongs to \"translation\"");
    if (c.transform == SC_STN_TRANSLATION) {
        if (!cJSON_IsNumber(z))
            return sc_set_error(SC_ERR_FORMAT, "stn config: \"translation\" needs \"zoom\"");
        c.zoom = (float)z->valuedouble;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hidden");
    if (!json_is_int(h))
        return sc_set_error(SC_ERR_FORMAT, "stn config: \"hidden\" must be an integer");
    c.hidden = (int)h->valuedouble;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "loc_cnn");
    if (l && !cJSON_IsNull(l)) {
        char *txt = cJSON_PrintUnformatted(l);
        if (!txt) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        sc_status s = sc_cnn_config_from_json(txt, &c.loc_cnn);
        cJSON_free(txt);
        if (s) return s;
        c.use_cnn = 1;
    }
    sc_status s = sc_stn_config_validate(&c);
    if (s) return s;
    *out = c;
    return SC_OK;
}

sc_status sc_stn_config_from_json(const char *json, sc_stn_config *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "stn config: NULL argument");
    cJSON *j = cJSON_Parse(json);
    if (!j) return sc_set_error(SC_ERR_FORMAT, "stn config: invalid JSON");
    sc_status s = stn_config_from_cjson(j, out);
    cJSON_Delete(j);
    return s;
}

/* ------------------------------------------------------------ module */

struct sc_stn {
    sc_stn_config cfg;
    sc_cnn *cnn;
    int F, P;
    float *w1, *b1, *w2, *b2; /* fc1 (hidden, F), fc2 (P, hidden or F) */
    float *gw1, *gb1, *gw2, *gb2;
    sc_param *params, *buffers;
    size_t nparams, nbuffers;
    char names[4][32];
    /* activations for the largest batch seen */
    size_t cap;
    float *h1, *pp, *theta, *grid, *glimpse;
    float *dh1, *dpp, *dtheta, *dgrid, *dfeat;
    const float *x, *feat;
    int N, have_forward;
};

const sc_stn_config *sc_stn_get_config(const sc_stn *m) {
    return m ? &m->cfg : NULL;
}

void sc_stn_free(sc_stn *m) {
    if (!m) return;
    sc_cnn_free(m->cnn);
    sc_free(m->w1);
    sc_free(m->params);
    sc_free(m->buffers);
    sc_free(m->h1);
    free(m);
}

static sc_status ensure(sc_stn *m, size_t N) {
    if (N <= m->cap) return SC_OK;
    const sc_stn_config *c = &m->cfg;
    size_t H = (size_t)(c->hidden ? c->hidden : 0), P = (size_t)m->P;
    size_t og = (size_t)c->out_h * c->out_w, F = (size_t)m->F;
    size_t per = 2 * H + 2 * P + 12 + 4 * og + og * c->in_c + F, total;
    if (sc_mul_size(per, N, &total) || total > ((size_t)1 << 34))
        return sc_set_error(SC_ERR_LIMIT, "stn: batch of %zu too large", N);
    float *b = sc_calloc(total, sizeof(float));
    if (!b) return SC_ERR_NOMEM;
    sc_free(m->h1);
    m->h1 = b, b += H * N;
    m->dh1 = b, b += H * N;
    m->pp = b, b += P * N;
    m->dpp = b, b += P * N;
    m->theta = b, b += 6 * N;
    m->dtheta = b, b += 6 * N;
    m->grid = b, b += 2 * og * N;
    m->dgrid = b, b += 2 * og * N;
    m->glimpse = b, b += og * c->in_c * N;
    m->dfeat = b;
    m->cap = N;
    return SC_OK;
}

static void uniform_fill(float *x, size_t n, float bound, sc_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (2 * sc_rng_uniform(r) - 1) * bound;
}

sc_status sc_stn_create(const sc_stn_config *c, sc_rng *rng, sc_stn **out) {
    if (!out || !rng) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_create: NULL argument");
    sc_status s = sc_stn_config_validate(c);
    if (s) return s;
    sc_stn *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = *c;
    m->P = sc_stn_num_params(c->transform);
    if ((s = loc_features(c, &m->F))) goto fail;
    if (c->use_cnn && (s = sc_cnn_create(&c->loc_cnn, "stn.loc.", rng, &m->cnn))) goto fail;
    size_t Hd = (size_t)c->hidden, F = (size_t)m->F, P = (size_t)m->P;
    size_t in2 = Hd ? Hd : F;
    size_t n1 = Hd * F + Hd, n2 = P * in2 + P;
    m->w1 = sc_calloc(2 * (n1 + n2), sizeof(float));
    if (!m->w1) {
        s = SC_ERR_NOMEM;
        goto fail;
    }
    m->b1 = m->w1 + Hd * F;
    m->w2 = m->b1 + Hd;
    m->b2 = m->w2 + P * in2;
    m->gw1 = m->b2 + P;
    m->gb1 = m->gw1 + Hd * F;
    m->gw2 = m->gb1 + Hd;
    m->gb2 = m->gw2 + P * in2;
    if (Hd) {
        float bound = 1.0f / sqrtf((float)F);
        uniform_fill(m->w1, Hd * F, bound, rng);
        uniform_fill(m->b1, Hd, bound, rng);
    }
    /* fc2: zero weights, identity bias (translation: centred) */
    if (c->transform == SC_STN_AFFINE) {
        m->b2[0] = 1, m->b2[4] = 1;
    } else if (c->transform != SC_STN_TRANSLATION) {
        m->b2[0] = 1;
    }
    const sc_param *cp = NULL, *cb = NULL;
    size_t ncp = 0, ncb = 0;
    if (m->cnn) {
        sc_cnn_params(m->cnn, &cp, &ncp);
        sc_cnn_buffers(m->cnn, &cb, &ncb);
    }
    m->params = sc_calloc(ncp + 4, sizeof(sc_param));
    m->buffers = sc_calloc(ncb + 1, sizeof(sc_param));
    if (!m->params || !m->buffers) {
        s = SC_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ncp; i++) m->params[m->nparams++] = cp[i];
    for (size_t i = 0; i < ncb; i++) m->buffers[m->nbuffers++] = cb[i];
    strcpy(m->names[0], "stn.fc1.weight");
    strcpy(m->names[1], "stn.fc1.bias");
    strcpy(m->names[2], "stn.fc2.weight");
    strcpy(m->names[3], "stn.fc2.bias");
    if (Hd) {
        m->params[m->nparams++] = (sc_param){.name = m->names[0],
                                             .param = m->w1,
                                             .grad = m->gw1,
                                             .n = Hd * F,
                                             .ndim = 2,
                                             .shape = {(int64_t)Hd, (int64_t)F}};
        m->params[m->nparams++] = (sc_param){
            .name = m->names[1], .param = m->b1, .grad = m->gb1, .n = Hd, .no_weight_decay = 1};
    }
    m->params[m->nparams++] = (sc_param){.name = m->names[2],
                                         .param = m->w2,
                                         .grad = m->gw2,
                                         .n = P * in2,
                                         .ndim = 2,
                                         .shape = {(int64_t)P, (int64_t)in2}};
    m->params[m->nparams++] = (sc_param){
        .name = m->names[3], .param = m->b2, .grad = m->gb2, .n = P, .no_weight_decay = 1};
    *out = m;
    return SC_OK;
fail:
    sc_stn_free(m);
    return s;
}

void sc_stn_params(const sc_stn *m, const sc_param **list, size_t *n) {
    *list = m->params;
    *n = m->nparams;
}

void sc_stn_buffers(const sc_stn *m, const sc_param **list, size_t *n) {
    *list = m->buffers;
    *n = m->nbuffers;
}

/* Copy one listed tensor from st (shape from the param entry). */
static sc_status load_param(sc_safetensors *st, const sc_param *p) {
    int64_t shape[6];
    int nd = p->ndim ? p->ndim : 1;
    if (p->ndim)
        memcpy(shape, p->shape, sizeof(int64_t) * (size_t)nd);
    else
        shape[0] = (int64_t)p->n;
    const float *d;
    sc_status s = sc_safetensors_get_f32(st, p->name, nd, shape, &d);
    if (s) return s;
    memcpy(p->param, d, p->n * sizeof(float));
    return SC_OK;
}

/* All-or-nothing load of a parameter list: checks every tensor first. */
static sc_status load_list(sc_safetensors *st, const sc_param *a, size_t na) {
    for (size_t i = 0; i < na; i++) {
        int64_t shape[6];
        int nd = a[i].ndim ? a[i].ndim : 1;
        if (a[i].ndim)
            memcpy(shape, a[i].shape, sizeof(int64_t) * (size_t)nd);
        else
            shape[0] = (int64_t)a[i].n;
        const float *d;
        sc_status s = sc_safetensors_get_f32(st, a[i].name, nd, shape, &d);
        if (s) return s;
    }
    for (size_t i = 0; i < na; i++) {
        sc_status s = load_param(st, &a[i]);
        if (s) return s;
    }
    return SC_OK;
}

sc_status sc_stn_load(sc_stn *m, sc_safetensors *st) {
    if (!m || !st) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_load: NULL argument");
    /* the CNN's own loader checks its tensors; fc layers after it */
    size_t nfc = m->cfg.hidden ? 4 : 2;
    sc_status s = load_list(st, m->params + m->nparams - nfc, nfc);
    if (s) return s;
    if (m->cnn) return sc_cnn_load(m->cnn, st);
    return SC_OK;
}

sc_status sc_stn_forward(sc_stn *m, const float *x, int N, int train, const float **glimpse,
                         const float **theta) {
    if (!m || !x || !glimpse) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_forward: NULL");
    if (N < 1) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_forward: batch %d < 1", N);
    m->have_forward = 0;
    sc_status s = ensure(m, (size_t)N);
    if (s) return s;
    const sc_stn_config *c = &m->cfg;
    const float *feat = x;
    if (m->cnn) {
        int C, h, w;
        if ((s = sc_cnn_forward(m->cnn, x, N, c->in_h, c->in_w, train, &feat, &C, &h, &w)))
            return s;
    }
    const float *in2 = feat;
    int F2 = m->F;
    if (c->hidden) {
        if ((s = sc_linear_forward(m->h1, feat, m->w1, m->b1, N, m->F, c->hidden))) return s;
        if ((s = sc_act_forward(SC_ACT_RELU, m->h1, m->h1, (size_t)N * c->hidden))) return s;
        in2 = m->h1;
        F2 = c->hidden;
    }
    if ((s = sc_linear_forward(m->pp, in2, m->w2, m->b2, N, F2, m->P))) return s;
    if ((s = sc_stn_theta_forward(c->transform, c->zoom, m->pp, N, m->theta))) return s;
    if ((s = sc_affine_grid(m->theta, N, c->out_h, c->out_w, 0, m->grid))) return s;
    if ((s = sc_grid_sample(x, m->grid, m->glimpse, N, c->in_c, c->in_h, c->in_w, c->out_h,
                            c->out_w, SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS, 0)))
        return s;
    m->x = x;
    m->feat = feat;
    m->N = N;
    m->have_forward = 1;
    *glimpse = m->glimpse;
    if (theta) *theta = m->theta;
    return SC_OK;
}

sc_status sc_stn_backward(sc_stn *m, const float *dglimpse, float *dx) {
    if (!m || !dglimpse) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_backward: NULL");
    if (!m->have_forward)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_stn_backward: no forward pass to differentiate");
    const sc_stn_config *c = &m->cfg;
    int N = m->N;
    size_t og = (size_t)c->out_h * c->out_w;
    memset(m->dgrid, 0, 2 * og * N * sizeof(float));
    memset(m->dtheta, 0, 6 * (size_t)N * sizeof(float));
    memset(m->dpp, 0, (size_t)m->P * N * sizeof(float));
    sc_status s =
        sc_grid_sample_backward(dglimpse, m->x, m->grid, dx, m->dgrid, N, c->in_c, c->in_h, c->in_w,
                                c->out_h, c->out_w, SC_GRID_BILINEAR, SC_GRID_PAD_ZEROS, 0);
    if (s) return s;
    if ((s = sc_affine_grid_backward(m->dgrid, N, c->out_h, c->out_w, 0, m->dtheta))) return s;
    if ((s = sc_stn_theta_backward(c->transform, m->dtheta, N, m->dpp))) return s;
    /* loc net; input gradient only needed when dx is wanted */
    int need_dfeat = dx != NULL;
    float *dfeat = (m->cnn || need_dfeat) ? m->dfeat : NULL;
    if (dfeat) memset(dfeat, 0, (size_t)m->F * N * sizeof(float));
    if (c->hidden) {
        memset(m->dh1, 0, (size_t)c->hidden * N * sizeof(float));
        if ((s = sc_linear_backward(m->dh1, m->gw2, m->gb2, m->dpp, m->h1, m->w2, N, c->hidden,
                                    m->P)))
            return s;
        /* ReLU backward in place (y > 0 passes the gradient) */
        for (size_t i = 0; i < (size_t)c->hidden * N; i++)
            if (!(m->h1[i] > 0)) m->dh1[i] = 0;
    } else {
        if ((s = sc_linear_backward(dfeat, m->gw2, m->gb2, m->dpp, m->feat, m->w2, N, m->F, m->P)))
            return s;
    }
    if (c->hidden)
        if ((s = sc_linear_backward(dfeat, m->gw1, m->gb1, m->dh1, m->feat, m->w1, N, m->F,
                                    c->hidden)))
            return s;
    if (m->cnn) {
        if ((s = sc_cnn_backward(m->cnn, dfeat, dx))) return s;
    } else if (dx) {
        for (size_t i = 0; i < (size_t)m->F * N; i++) dx[i] += dfeat[i];
    }
    return SC_OK;
}

/* ------------------------------------------------------------ ST-CNN */

#define STCNN_CHUNK 256

struct sc_stcnn {
    sc_stn *stn;
    sc_classifier *cls;
    sc_param *params, *buffers;
    size_t nparams, nbuffers;
    float *dglimpse, *dl;
    size_t cap;
    int N;
};

sc_stn *sc_stcnn_stn(sc_stcnn *m) {
    return m ? m->stn : NULL;
}
sc_classifier *sc_stcnn_classifier(sc_stcnn *m) {
    return m ? m->cls : NULL;
}

void sc_stcnn_free(sc_stcnn *m) {
    if (!m) return;
    sc_stn_free(m->stn);
    sc_classifier_free(m->cls);
    sc_free(m->params);
    sc_free(m->buffers);
    sc_free(m->dglimpse);
    sc_free(m->dl);
    free(m);
}

sc_status sc_stcnn_create(const sc_stn_config *stn, const sc_classifier_config *cls,
                          const char *const *class_names, uint64_t seed, sc_stcnn **out) {
    if (!stn || !cls || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_create: NULL");
    sc_status s = sc_stn_config_validate(stn);
    if (s) return s;
    if ((s = sc_classifier_config_validate(cls))) return s;
    if (cls->in_h != stn->out_h || cls->in_w != stn->out_w || cls->encoder.in_channels != stn->in_c)
        return sc_set_error(
            SC_ERR_SHAPE, "stcnn: classifier takes %dx%dx%d, transformer gives %dx%dx%d",
            cls->encoder.in_channels, cls->in_h, cls->in_w, stn->in_c, stn->out_h, stn->out_w);
    sc_stcnn *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_rng r;
    /* transformer weights from seed + 1, classifier from seed (its own stream) */
    sc_rng_seed(&r, seed ^ 0x57A7F0A4ull);
    if ((s = sc_stn_create(stn, &r, &m->stn))) goto fail;
    if ((s = sc_classifier_create(cls, class_names, seed, &m->cls))) goto fail;
    const sc_param *a, *b, *c, *d;
    size_t na, nb, nc, nd;
    sc_stn_params(m->stn, &a, &na);
    sc_stn_buffers(m->stn, &b, &nb);
    if ((s = sc_classifier_params(m->cls, &c, &nc)) || (s = sc_classifier_buffers(m->cls, &d, &nd)))
        goto fail;
    m->params = sc_calloc(na + nc, sizeof(sc_param));
    m->buffers = sc_calloc(nb + nd + 1, sizeof(sc_param));
    if (!m->params || !m->buffers) {
        s = SC_ERR_NOMEM;
        goto fail;
    }
    memcpy(m->params, a, na * sizeof *a);
    memcpy(m->params + na, c, nc * sizeof *c);
    if (nb) memcpy(m->buffers, b, nb * sizeof *b);
    if (nd) memcpy(m->buffers + nb, d, nd * sizeof *d);
    m->nparams = na + nc;
    m->nbuffers = nb + nd;
    *out = m;
    return SC_OK;
fail:
    sc_stcnn_free(m);
    return s;
}

sc_status sc_stcnn_params(sc_stcnn *m, const sc_param **list, size_t *n) {
    if (!m || !list || !n) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_params: NULL");
    *list = m->params;
    *n = m->nparams;
    return SC_OK;
}

sc_status sc_stcnn_buffers(sc_stcnn *m, const sc_param **list, size_t *n) {
    if (!m || !list || !n) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_buffers: NULL");
    *list = m->buffers;
    *n = m->nbuffers;
    return SC_OK;
}

char *sc_stcnn_config_json(const sc_stcnn *m) {
    if (!m) return NULL;
    char *a = sc_stn_config_to_json(&m->stn->cfg);
    char *b = sc_classifier_config_to_json(sc_classifier_get_config(m->cls));
    char *s = NULL;
    if (a && b) {
        size_t cap = strlen(a) + strlen(b) + 64;
        s = malloc(cap);
        if (s)
            snprintf(s, cap, "{\"arch\": \"stcnn\", \"stn\": %s, \"classifier\": %s}", a, b);
        else
            sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    free(a);
    free(b);
    return s;
}

static sc_status parse_config(const char *json, sc_stn_config *sc, sc_classifier_config *cc) {
    cJSON *j = cJSON_Parse(json);
    if (!j) return sc_set_error(SC_ERR_FORMAT, "saccade.config is not valid JSON");
    sc_status s = SC_OK;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "arch");
    if (!cJSON_IsString(arch) || strcmp(arch->valuestring, "stcnn"))
        s = sc_set_error(SC_ERR_FORMAT, "saccade.config: \"arch\" is not \"stcnn\"");
    if (!s) s = stn_config_from_cjson(cJSON_GetObjectItemCaseSensitive(j, "stn"), sc);
    if (!s) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "classifier");
        char *t = cJSON_IsObject(c) ? cJSON_PrintUnformatted(c) : NULL;
        s = t ? sc_classifier_config_from_json(t, cc)
              : sc_set_error(SC_ERR_FORMAT, "saccade.config: \"classifier\" object missing");
        cJSON_free(t);
    }
    cJSON_Delete(j);
    return s;
}

static sc_status parse_classes(const char *json, int K, char ***out) {
    *out = NULL;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != K) {
        cJSON_Delete(j);
        return sc_set_error(SC_ERR_FORMAT, "saccade.classes must be a JSON list of %d names", K);
    }
    char **names = calloc((size_t)K, sizeof *names);
    sc_status s = names ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int k = 0; !s && k < K; k++) {
        const cJSON *e = cJSON_GetArrayItem(j, k);
        if (!cJSON_IsString(e) || strlen(e->valuestring) > 200)
            s = sc_set_error(SC_ERR_FORMAT, "saccade.classes[%d] is not a short string", k);
        else if (!(names[k] = strdup(e->valuestring)))
            s = sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    cJSON_Delete(j);
    if (s) {
        for (int k = 0; names && k < K; k++) free(names[k]);
        free(names);
        return s;
    }
    *out = names;
    return SC_OK;
}

sc_status sc_stcnn_load(const char *path, sc_stcnn **out) {
    if (!path || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_load: NULL argument");
    *out = NULL;
    sc_safetensors *st;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    sc_stn_config sc;
    sc_classifier_config cc;
    const char *cj = sc_safetensors_metadata(st, "saccade.config");
    s = cj ? parse_config(cj, &sc, &cc)
           : sc_set_error(SC_ERR_FORMAT, "no saccade.config metadata (not a saccade model)");
    char **names = NULL;
    if (!s)
        s = parse_classes(sc_safetensors_metadata(st, "saccade.classes"), cc.num_classes, &names);
    sc_stcnn *m = NULL;
    if (!s) s = sc_stcnn_create(&sc, &cc, (const char *const *)names, 0, &m);
    for (int k = 0; names && k < cc.num_classes; k++) free(names[k]);
    free(names);
    if (!s) s = sc_stn_load(m->stn, st);
    if (!s) {
        const sc_param *c, *d;
        size_t nc, nd;
        sc_classifier_params(m->cls, &c, &nc);
        sc_classifier_buffers(m->cls, &d, &nd);
        s = load_list(st, c, nc);
        if (!s) s = load_list(st, d, nd);
    }
    sc_safetensors_free(st);
    if (s) {
        /* tensor lookups already name the file */
        if (strncmp(sc_last_error(), path, strlen(path))) sc_error_prefix(path);
        sc_stcnn_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_stcnn_forward(sc_stcnn *m, const float *x, int N, int train, sc_rng *rng,
                           const float **logits) {
    if (!m || !x || !logits) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_forward: NULL");
    const float *g;
    sc_status s = sc_stn_forward(m->stn, x, N, train, &g, NULL);
    if (s) return s;
    if ((s = sc_classifier_forward(m->cls, g, N, train, rng, logits))) return s;
    m->N = N;
    return SC_OK;
}

static sc_status ensure_st(sc_stcnn *m, size_t N) {
    if (N <= m->cap) return SC_OK;
    const sc_stn_config *c = &m->stn->cfg;
    size_t per = (size_t)c->in_c * c->out_h * c->out_w,
           K = (size_t)sc_classifier_get_config(m->cls)->num_classes;
    sc_free(m->dglimpse);
    sc_free(m->dl);
    m->dglimpse = sc_malloc(per * N * sizeof(float));
    m->dl = sc_malloc(K * N * sizeof(float));
    m->cap = 0;
    if (!m->dglimpse || !m->dl) return SC_ERR_NOMEM;
    m->cap = N;
    return SC_OK;
}

sc_status sc_stcnn_backward(sc_stcnn *m, const float *dlogits, float *dx) {
    if (!m || !dlogits) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_backward: NULL");
    if (!m->N) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_backward: no forward pass");
    sc_status s = ensure_st(m, (size_t)m->N);
    if (s) return s;
    const sc_stn_config *c = &m->stn->cfg;
    memset(m->dglimpse, 0, (size_t)m->N * c->in_c * c->out_h * c->out_w * sizeof(float));
    if ((s = sc_classifier_backward(m->cls, dlogits, m->dglimpse))) return s;
    return sc_stn_backward(m->stn, m->dglimpse, dx);
}

sc_status sc_stcnn_train_batch(sc_stcnn *m, const float *x, const int32_t *targets, int N,
                               sc_rng *rng, double *loss) {
    if (!m || !targets || !loss)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_train_batch: NULL argument");
    const float *logits;
    sc_status s = sc_stcnn_forward(m, x, N, 1, rng, &logits);
    if (s) return s;
    if ((s = ensure_st(m, (size_t)N))) return s;
    int K = sc_classifier_get_config(m->cls)->num_classes;
    memset(m->dl, 0, (size_t)N * K * sizeof(float));
    float l = 0;
    if ((s = sc_cross_entropy(logits, targets, N, K, NULL, &l, NULL, m->dl))) return s;
    if ((s = sc_stcnn_backward(m, m->dl, NULL))) return s;
    *loss = l;
    return SC_OK;
}

sc_status sc_stcnn_predict(sc_stcnn *m, const float *x, size_t N, float *probs, float *theta) {
    if (!m || !x || !probs) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_predict: NULL");
    const sc_stn_config *c = &m->stn->cfg;
    size_t pix = (size_t)c->in_c * c->in_h * c->in_w;
    int K = sc_classifier_get_config(m->cls)->num_classes;
    sc_status fin = sc_check_finite_images("stcnn predict", x, N, c->in_c, c->in_h, c->in_w);
    if (fin) return fin;
    for (size_t first = 0; first < N; first += STCNN_CHUNK) {
        int n = (int)SC_MIN((size_t)STCNN_CHUNK, N - first);
        const float *logits;
        sc_status s = sc_stcnn_forward(m, x + first * pix, n, 0, NULL, &logits);
        if (s) return s;
        if ((s = sc_softmax_forward(logits, n, K, probs + first * K))) return s;
        if (theta) memcpy(theta + first * 6, m->stn->theta, (size_t)n * 6 * sizeof(float));
    }
    return SC_OK;
}
