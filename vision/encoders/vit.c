/* The ViT patch encoder of sc_vit.h: patch embedding, class token and
 * position embeddings, pre-norm transformer layers and a final LayerNorm,
 * over the kernels of sc_attention.h / sc_nn.h, with the activations of the
 * last forward kept for the backward pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_util.h"
#include "saccade/sc_vit.h"
#include "sc_internal.h"

#define NAME_MAX_LEN 192
#define PER_LAYER 12
#define MAX_PARAMS (4 + PER_LAYER * SC_VIT_MAX_DEPTH + 2)

typedef struct vit_layer {
    sc_tel_weights w;
    sc_tel_grads g;
} vit_layer;

struct sc_vit {
    sc_vit_config cfg;
    int G, N, T; /* grid side, patches, tokens */
    sc_param params[MAX_PARAMS];
    size_t nparams;
    char names[MAX_PARAMS][NAME_MAX_LEN];
    float *pmem, *gmem;
    size_t np_floats;
    float *pw, *pb, *cls, *pos, *nw, *nb;       /* into pmem (cls / pos may be NULL) */
    float *gpw, *gpb, *gcls, *gpos, *gnw, *gnb; /* into gmem */
    float *pos_fixed;                           /* sin-cos (T, D) when pos is fixed */
    vit_layer layers[SC_VIT_MAX_DEPTH];
    /* Activations of the last forward, carved from one block for batch cap. */
    float *act;
    size_t act_cap;
    float *ws, *tok, *z, *cache, *out, *ln_mean, *ln_rstd, *attn;
    size_t cache_per_layer;
    const float *x;
    int B, train, have_forward;
    int view;      /* weights borrowed from a mapped file (sc_vit_open_view): inference only */
    int view_keep; /* a view keeping every layer's activations for input gradients */
};

sc_vit_config sc_vit_default_config(void) {
    sc_vit_config c = {64, 8, 3, 128, 4, 4, 256, 1, SC_VIT_POS_LEARNED, 1, 0.0f, 1e-5f};
    return c;
}

sc_status sc_vit_config_validate(const sc_vit_config *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "vit config: NULL");
    const struct {
        const char *name;
        int v, lo, hi;
    } r[] = {{"image_size", c->image_size, 1, SC_VIT_MAX_IMAGE},
             {"patch", c->patch, 1, SC_VIT_MAX_IMAGE},
             {"in_channels", c->in_channels, 1, 64},
             {"dim", c->dim, 1, SC_VIT_MAX_DIM},
             {"depth", c->depth, 1, SC_VIT_MAX_DEPTH},
             {"heads", c->heads, 1, SC_VIT_MAX_DIM},
             {"mlp_dim", c->mlp_dim, 1, 4 * SC_VIT_MAX_DIM},
             {"cls_token", c->cls_token, 0, 1},
             {"pos_embed", (int)c->pos, 0, 1},
             {"gelu", c->gelu, 0, 1}};
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].v < r[i].lo || r[i].v > r[i].hi)
            return sc_set_error(SC_ERR_INVALID_ARG, "vit config: %s is %d, expected %d..%d",
                                r[i].name, r[i].v, r[i].lo, r[i].hi);
    if (c->image_size % c->patch)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vit config: patch %d does not divide image_size %d", c->patch,
                            c->image_size);
    if ((long long)(c->image_size / c->patch) * (c->image_size / c->patch) > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit config: more than 65536 patches");
    if (c->dim % c->heads)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit config: dim %d not divisible by heads %d",
                            c->dim, c->heads);
    if (c->pos == SC_VIT_POS_SINCOS && c->dim % 4)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vit config: sin-cos position embeddings need dim divisible by 4");
    if (!(c->dropout >= 0.0f && c->dropout < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "vit config: dropout must be in [0, 1)");
    if (!(c->ln_eps > 0.0f && c->ln_eps < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "vit config: layer_norm_eps must be in (0, 1)");
    return SC_OK;
}

int sc_vit_grid(const sc_vit_config *c) {
    return c && c->patch > 0 ? c->image_size / c->patch : 0;
}

int sc_vit_tokens(const sc_vit_config *c) {
    int G = sc_vit_grid(c);
    return G * G + (c && c->cls_token ? 1 : 0);
}

static const char *const INT_KEYS[] = {"image_size", "patch", "in_channels", "dim",
                                       "depth",      "heads", "mlp_dim"};

static int *int_field(sc_vit_config *c, int i) {
    int *f[] = {&c->image_size, &c->patch, &c->in_channels, &c->dim,
                &c->depth,      &c->heads, &c->mlp_dim};
    return f[i];
}

sc_status sc_vit_config_from_json(const char *json, sc_vit_config *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "vit config: NULL argument");
    cJSON *root = cJSON_Parse(json);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "vit config: not valid JSON");
    sc_vit_config c = sc_vit_default_config();
    int seen[7] = {0};
    sc_status s = SC_OK;
    if (!cJSON_IsObject(root)) s = sc_set_error(SC_ERR_FORMAT, "vit config: not a JSON object");
    const cJSON *e;
    if (!s) cJSON_ArrayForEach(e, root) {
            const char *k = e->string ? e->string : "";
            int ki = -1;
            for (int i = 0; i < 7; i++)
                if (!strcmp(k, INT_KEYS[i])) ki = i;
            if (ki >= 0) {
                if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) ||
                    fabs(e->valuedouble) > 1e6)
                    s = sc_set_error(SC_ERR_FORMAT, "vit config: \"%s\" must be an integer", k);
                else
                    *int_field(&c, ki) = (int)e->valuedouble, seen[ki] = 1;
            } else if (!strcmp(k, "type")) {
                if (!cJSON_IsString(e) || strcmp(e->valuestring, "vit"))
                    s = sc_set_error(SC_ERR_FORMAT, "vit config: \"type\" must be \"vit\"");
            } else if (!strcmp(k, "cls_token")) {
                if (!cJSON_IsBool(e))
                    s = sc_set_error(SC_ERR_FORMAT, "vit config: \"cls_token\" must be a boolean");
                else
                    c.cls_token = cJSON_IsTrue(e);
            } else if (!strcmp(k, "pos_embed") || !strcmp(k, "activation")) {
                int pos = !strcmp(k, "pos_embed");
                const char *a = pos ? "learned" : "relu", *b = pos ? "sincos" : "gelu";
                if (!cJSON_IsString(e) || (strcmp(e->valuestring, a) && strcmp(e->valuestring, b)))
                    s = sc_set_error(SC_ERR_FORMAT, "vit config: \"%s\" must be \"%s\" or \"%s\"",
                                     k, a, b);
                else if (pos)
                    c.pos = strcmp(e->valuestring, a) ? SC_VIT_POS_SINCOS : SC_VIT_POS_LEARNED;
                else
                    c.gelu = strcmp(e->valuestring, a) != 0;
            } else if (!strcmp(k, "dropout") || !strcmp(k, "layer_norm_eps")) {
                if (!cJSON_IsNumber(e))
                    s = sc_set_error(SC_ERR_FORMAT, "vit config: \"%s\" must be a number", k);
                else if (k[0] == 'd')
                    c.dropout = (float)e->valuedouble;
                else
                    c.ln_eps = (float)e->valuedouble;
            } else
                s = sc_set_error(SC_ERR_FORMAT, "vit config: unknown key \"%s\"", k);
            if (s) break;
        }
    for (int i = 0; i < 7 && !s; i++)
        if (!seen[i]) s = sc_set_error(SC_ERR_FORMAT, "vit config: \"%s\" missing", INT_KEYS[i]);
    cJSON_Delete(root);
    if (!s) s = sc_vit_config_validate(&c);
    if (!s) *out = c;
    return s;
}

char *sc_vit_config_to_json(const sc_vit_config *c) {
    if (sc_vit_config_validate(c)) return NULL;
    char *buf = malloc(512);
    if (!buf) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(buf, 512,
             "{\"type\": \"vit\", \"image_size\": %d, \"patch\": %d, \"in_channels\": %d, "
             "\"dim\": %d, \"depth\": %d, \"heads\": %d, \"mlp_dim\": %d, \"cls_token\": %s, "
             "\"pos_embed\": \"%s\", \"activation\": \"%s\", \"dropout\": %.9g}",
             c->image_size, c->patch, c->in_channels, c->dim, c->depth, c->heads, c->mlp_dim,
             c->cls_token ? "true" : "false", c->pos == SC_VIT_POS_SINCOS ? "sincos" : "learned",
             c->gelu ? "gelu" : "relu", (double)c->dropout);
    if (c->ln_eps != 1e-5f) /* the default is left out: files written before the key existed */
        snprintf(buf + strlen(buf) - 1, 512 - strlen(buf) + 1, ", \"layer_norm_eps\": %.9g}",
                 (double)c->ln_eps);
    return buf;
}

/* ---------------------------------------------------------------- creation */
typedef struct {
    sc_vit *m;
    const char *prefix;
    float *p, *g;
} builder;

/* Next tensor of n floats named prefix + name; returns its parameter memory
 * and sets *grad to its gradient memory. */
static float *add_param(builder *b, const char *name, int ndim, const int64_t *shape, int no_wd,
                        float **grad) {
    sc_vit *m = b->m;
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    snprintf(m->names[m->nparams], NAME_MAX_LEN, "%s%s", b->prefix, name);
    sc_param *q = &m->params[m->nparams];
    memset(q, 0, sizeof *q);
    q->name = m->names[m->nparams++];
    q->param = b->p;
    q->grad = b->g;
    q->n = n;
    q->no_weight_decay = no_wd;
    q->ndim = ndim;
    for (int d = 0; d < ndim; d++) q->shape[d] = shape[d];
    float *p = b->p;
    *grad = b->g;
    b->p += n, b->g += n;
    return p;
}

static void fill_uniform(float *p, size_t n, float bound, sc_rng *rng) {
    for (size_t i = 0; i < n; i++) p[i] = (2.0f * sc_rng_uniform(rng) - 1.0f) * bound;
}

static size_t param_floats(const sc_vit_config *c, int T) {
    size_t D = (size_t)c->dim, F = (size_t)c->mlp_dim,
           K = (size_t)c->in_channels * c->patch * c->patch;
    size_t n =
        D * K + D + (c->cls_token ? D : 0) + (c->pos == SC_VIT_POS_LEARNED ? (size_t)T * D : 0);
    n += (size_t)c->depth * (3 * D * D + 3 * D + D * D + D + F * D + F + D * F + D + 4 * D);
    return n + 2 * D;
}

sc_status sc_vit_create(const sc_vit_config *c, const char *prefix, sc_rng *rng, sc_vit **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_create: out is NULL");
    *out = NULL;
    sc_status s = sc_vit_config_validate(c);
    if (s) return s;
    if (!rng) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_create: rng is NULL");
    if (!prefix) prefix = "";
    if (strlen(prefix) > 128)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_create: prefix longer than 128 bytes");
    sc_vit *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = *c;
    m->G = sc_vit_grid(c);
    m->N = m->G * m->G;
    m->T = sc_vit_tokens(c);
    const int D = c->dim, F = c->mlp_dim, C = c->in_channels, p = c->patch, T = m->T;
    m->np_floats = param_floats(c, T);
    m->pmem = sc_calloc(m->np_floats, sizeof(float));
    m->gmem = sc_calloc(m->np_floats, sizeof(float));
    if (c->pos == SC_VIT_POS_SINCOS) m->pos_fixed = sc_calloc((size_t)T * D, sizeof(float));
    if (!m->pmem || !m->gmem || (c->pos == SC_VIT_POS_SINCOS && !m->pos_fixed)) {
        sc_vit_free(m);
        return sc_set_error(SC_ERR_NOMEM, "vit: out of memory for %zu parameters", m->np_floats);
    }
    builder b = {m, prefix, m->pmem, m->gmem};
    const int64_t s_pw[4] = {D, C, p, p}, s_d[1] = {D}, s_cls[3] = {1, 1, D}, s_pos[3] = {1, T, D};
    float bound = 1.0f / sqrtf((float)(C * p * p));
    m->pw = add_param(&b, "patch_embed.proj.weight", 4, s_pw, 0, &m->gpw);
    fill_uniform(m->pw, (size_t)D * C * p * p, bound, rng);
    m->pb = add_param(&b, "patch_embed.proj.bias", 1, s_d, 1, &m->gpb);
    fill_uniform(m->pb, (size_t)D, bound, rng);
    if (c->cls_token) {
        m->cls = add_param(&b, "cls_token", 3, s_cls, 1, &m->gcls);
        for (int i = 0; i < D; i++) m->cls[i] = 0.02f * sc_rng_normal(rng);
    }
    if (c->pos == SC_VIT_POS_LEARNED) {
        m->pos = add_param(&b, "pos_embed", 3, s_pos, 1, &m->gpos);
        for (size_t i = 0; i < (size_t)T * D; i++) m->pos[i] = 0.02f * sc_rng_normal(rng);
    } else {
        /* MAE: the class token's row is zero */
        if ((s = sc_pos_embed_sincos_2d(m->G, m->G, D, m->pos_fixed + (size_t)(T - m->N) * D))) {
            sc_vit_free(m);
            return s;
        }
    }
    for (int l = 0; l < c->depth; l++) {
        vit_layer *L = &m->layers[l];
        char nm[96];
        const int64_t s_in[2] = {3 * D, D}, s_3d[1] = {3 * D}, s_dd[2] = {D, D}, s_fd[2] = {F, D},
                      s_f[1] = {F}, s_df[2] = {D, F};
#define P_(suffix, nd, shp, nowd, wfield, gfield)                                                  \
    do {                                                                                           \
        snprintf(nm, sizeof nm, "layers.%d.%s", l, suffix);                                        \
        float *gp_;                                                                                \
        L->w.wfield = add_param(&b, nm, nd, shp, nowd, &gp_);                                      \
        L->g.gfield = gp_;                                                                         \
    } while (0)
        P_("self_attn.in_proj_weight", 2, s_in, 0, self_attn.in_proj_weight,
           self_attn.in_proj_weight);
        P_("self_attn.in_proj_bias", 1, s_3d, 1, self_attn.in_proj_bias, self_attn.in_proj_bias);
        P_("self_attn.out_proj.weight", 2, s_dd, 0, self_attn.out_proj_weight,
           self_attn.out_proj_weight);
        P_("self_attn.out_proj.bias", 1, s_d, 1, self_attn.out_proj_bias, self_attn.out_proj_bias);
        P_("linear1.weight", 2, s_fd, 0, linear1_weight, linear1_weight);
        P_("linear1.bias", 1, s_f, 1, linear1_bias, linear1_bias);
        P_("linear2.weight", 2, s_df, 0, linear2_weight, linear2_weight);
        P_("linear2.bias", 1, s_d, 1, linear2_bias, linear2_bias);
        P_("norm1.weight", 1, s_d, 1, norm1_weight, norm1_weight);
        P_("norm1.bias", 1, s_d, 1, norm1_bias, norm1_bias);
        P_("norm2.weight", 1, s_d, 1, norm2_weight, norm2_weight);
        P_("norm2.bias", 1, s_d, 1, norm2_bias, norm2_bias);
#undef P_
        /* nn.MultiheadAttention: xavier_uniform in_proj, zero biases; out_proj
         * keeps nn.Linear's default weight init */
        fill_uniform((float *)L->w.self_attn.in_proj_weight, (size_t)3 * D * D,
                     sqrtf(6.0f / (float)(D + 3 * D)), rng);
        fill_uniform((float *)L->w.self_attn.out_proj_weight, (size_t)D * D, 1.0f / sqrtf((float)D),
                     rng);
        fill_uniform((float *)L->w.linear1_weight, (size_t)F * D, 1.0f / sqrtf((float)D), rng);
        fill_uniform((float *)L->w.linear1_bias, (size_t)F, 1.0f / sqrtf((float)D), rng);
        fill_uniform((float *)L->w.linear2_weight, (size_t)D * F, 1.0f / sqrtf((float)F), rng);
        fill_uniform((float *)L->w.linear2_bias, (size_t)D, 1.0f / sqrtf((float)F), rng);
        for (int i = 0; i < D; i++)
            ((float *)L->w.norm1_weight)[i] = ((float *)L->w.norm2_weight)[i] = 1.0f;
    }
    m->nw = add_param(&b, "norm.weight", 1, s_d, 1, &m->gnw);
    m->nb = add_param(&b, "norm.bias", 1, s_d, 1, &m->gnb);
    for (int i = 0; i < D; i++) m->nw[i] = 1.0f;
    SC_ASSERT((size_t)(b.p - m->pmem) == m->np_floats);
    *out = m;
    return SC_OK;
}

/* One tensor of a view: the file's tensor named map(vit_name), of exactly this shape. */
static sc_status view_tensor(sc_safetensors *st, sc_vit_name_map map, void *ctx,
                             const char *vit_name, int ndim, const int64_t *shape, float **out) {
    char name[NAME_MAX_LEN];
    if (map(vit_name, name, sizeof name, ctx))
        return sc_set_error(SC_ERR_INVALID_ARG, "vit view: no file name for tensor %s", vit_name);
    const float *d;
    sc_status s = sc_safetensors_get_f32(st, name, ndim, shape, &d);
    if (!s) *out = (float *)d; /* never written: a view refuses load, backward and training */
    return s;
}

sc_status sc_vit_open_view(const sc_vit_config *c, sc_safetensors *st, sc_vit_name_map map,
                           void *ctx, sc_vit **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_open_view: out is NULL");
    *out = NULL;
    if (!st || !map) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_open_view: NULL argument");
    sc_status s = sc_vit_config_validate(c);
    if (s) return s;
    if (c->pos != SC_VIT_POS_LEARNED)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_vit_open_view: needs learned position embeddings");
    sc_vit *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->cfg = *c;
    m->view = 1;
    m->G = sc_vit_grid(c);
    m->N = m->G * m->G;
    m->T = sc_vit_tokens(c);
    const int64_t D = c->dim, F = c->mlp_dim, p = c->patch;
    const int64_t s_pw[4] = {D, c->in_channels, p, p}, s_d[1] = {D}, s_cls[3] = {1, 1, D},
                  s_pos[3] = {1, m->T, D}, s_in[2] = {3 * D, D}, s_3d[1] = {3 * D},
                  s_dd[2] = {D, D}, s_fd[2] = {F, D}, s_f[1] = {F}, s_df[2] = {D, F};
    s = view_tensor(st, map, ctx, "patch_embed.proj.weight", 4, s_pw, &m->pw);
    if (!s) s = view_tensor(st, map, ctx, "patch_embed.proj.bias", 1, s_d, &m->pb);
    if (!s && c->cls_token) s = view_tensor(st, map, ctx, "cls_token", 3, s_cls, &m->cls);
    if (!s) s = view_tensor(st, map, ctx, "pos_embed", 3, s_pos, &m->pos);
    for (int l = 0; l < c->depth && !s; l++) {
        sc_tel_weights *w = &m->layers[l].w;
        const struct {
            const char *suffix;
            int ndim;
            const int64_t *shape;
            const float **dst;
        } t[] = {{"self_attn.in_proj_weight", 2, s_in, &w->self_attn.in_proj_weight},
                 {"self_attn.in_proj_bias", 1, s_3d, &w->self_attn.in_proj_bias},
                 {"self_attn.out_proj.weight", 2, s_dd, &w->self_attn.out_proj_weight},
                 {"self_attn.out_proj.bias", 1, s_d, &w->self_attn.out_proj_bias},
                 {"linear1.weight", 2, s_fd, &w->linear1_weight},
                 {"linear1.bias", 1, s_f, &w->linear1_bias},
                 {"linear2.weight", 2, s_df, &w->linear2_weight},
                 {"linear2.bias", 1, s_d, &w->linear2_bias},
                 {"norm1.weight", 1, s_d, &w->norm1_weight},
                 {"norm1.bias", 1, s_d, &w->norm1_bias},
                 {"norm2.weight", 1, s_d, &w->norm2_weight},
                 {"norm2.bias", 1, s_d, &w->norm2_bias}};
        for (size_t i = 0; i < sizeof t / sizeof t[0] && !s; i++) {
            char nm[96];
            float *d = NULL;
            snprintf(nm, sizeof nm, "layers.%d.%s", l, t[i].suffix);
            s = view_tensor(st, map, ctx, nm, t[i].ndim, t[i].shape, &d);
            *t[i].dst = d;
        }
    }
    if (!s) s = view_tensor(st, map, ctx, "norm.weight", 1, s_d, &m->nw);
    if (!s) s = view_tensor(st, map, ctx, "norm.bias", 1, s_d, &m->nb);
    if (s) {
        sc_vit_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_vit_view_keep_activations(sc_vit *m) {
    if (!m || !m->view)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_view_keep_activations: not a view");
    m->view_keep = 1;
    m->have_forward = 0;
    return SC_OK;
}

void sc_vit_free(sc_vit *m) {
    if (!m) return;
    sc_free(m->pmem);
    sc_free(m->gmem);
    sc_free(m->pos_fixed);
    sc_free(m->act);
    free(m);
}

const sc_vit_config *sc_vit_get_config(const sc_vit *m) {
    return m ? &m->cfg : NULL;
}

void sc_vit_params(const sc_vit *m, const sc_param **list, size_t *n) {
    if (list) *list = m ? m->params : NULL;
    if (n) *n = m ? m->nparams : 0;
}

void sc_vit_zero_grad(sc_vit *m) {
    if (m && m->gmem) memset(m->gmem, 0, m->np_floats * sizeof(float));
}

sc_status sc_vit_load(sc_vit *m, sc_safetensors *st) {
    if (!m || !st) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_load: NULL argument");
    if (m->view)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_vit_load: the ViT uses a file's weights in place");
    for (int copy = 0; copy < 2; copy++) /* check everything before changing anything */
        for (size_t i = 0; i < m->nparams; i++) {
            const sc_param *q = &m->params[i];
            const float *d;
            sc_status s = sc_safetensors_get_f32(st, q->name, q->ndim, q->shape, &d);
            if (s) return s;
            if (copy) memcpy(q->param, d, q->n * sizeof(float));
        }
    return SC_OK;
}

/* ---------------------------------------------------------------- forward / backward */
static sc_tel_desc layer_desc(const sc_vit *m, int B, int train) {
    sc_tel_desc d = {B,
                     m->T,
                     m->cfg.dim,
                     m->cfg.heads,
                     m->cfg.mlp_dim,
                     train ? m->cfg.dropout : 0.0f,
                     m->cfg.gelu ? SC_TEL_GELU : SC_TEL_RELU,
                     1,
                     m->cfg.ln_eps};
    return d;
}

/* A view that keeps nothing for a backward runs every layer between two token buffers. */
static int ping_pong(const sc_vit *m) {
    return m->view && !m->view_keep;
}

/* Index of the token buffer holding the output of layer l (l = -1: the embeddings). */
static int zslot(const sc_vit *m, int l) {
    return ping_pong(m) ? (l + 1) % 2 : l + 1;
}

/* Carve the activation block for batch B (grown on demand). */
static sc_status plan(sc_vit *m, int B, int train) {
    const sc_vit_config *c = &m->cfg;
    const int S = c->image_size;
    sc_tel_desc d = layer_desc(m, B, train);
    size_t cpl = sc_tel_cache_floats(&d);
    size_t ws = sc_patch_embed_ws_floats(B, c->in_channels, S, S, c->patch);
    size_t tok = (size_t)B * m->N * c->dim, z = (size_t)B * m->T * c->dim;
    /* a view keeps nothing for a backward or a rollout: two token buffers and
     * one layer's scratch, reused by every layer */
    const int kept = ping_pong(m) ? 1 : c->depth;
    size_t att = train || m->view ? 0 : (size_t)c->depth * B * c->heads * m->T * m->T;
    size_t parts[8] = {ws, tok, z * (size_t)(kept + 1), 0, z, (size_t)B * m->T, (size_t)B * m->T,
                       att};
    if (!cpl || !ws || sc_mul_size(cpl, (size_t)kept, &parts[3]))
        return sc_set_error(SC_ERR_LIMIT, "vit: batch %d too large", B);
    size_t total = 0;
    for (int i = 0; i < 8; i++) {
        parts[i] = (parts[i] + 15) & ~(size_t)15; /* keep every part 64-byte aligned */
        if (total + parts[i] < total)
            return sc_set_error(SC_ERR_LIMIT, "vit: batch %d too large", B);
        total += parts[i];
    }
    if (total > m->act_cap) {
        float *a = sc_malloc(total * sizeof(float));
        if (!a)
            return sc_set_error(SC_ERR_NOMEM, "vit: out of memory for activations (%zu MB)",
                                total * sizeof(float) >> 20);
        sc_free(m->act);
        m->act = a;
        m->act_cap = total;
    }
    float *p = m->act;
    float **dst[8] = {&m->ws,  &m->tok,     &m->z,       &m->cache,
                      &m->out, &m->ln_mean, &m->ln_rstd, &m->attn};
    for (int i = 0; i < 8; i++) *dst[i] = p, p += parts[i];
    if (!att) m->attn = NULL;
    m->cache_per_layer = cpl;
    return SC_OK;
}

/* Layers from..depth-1 and the final LayerNorm, from the tokens in layer
 * from - 1's output slot. */
static sc_status run_layers(sc_vit *m, int from, int B, int train, sc_rng *rng) {
    const sc_vit_config *c = &m->cfg;
    const int D = c->dim, T = m->T;
    const size_t z = (size_t)B * T * D;
    sc_tel_desc d = layer_desc(m, B, train);
    const size_t att = (size_t)B * c->heads * T * T;
    const int kept = ping_pong(m) ? 1 : c->depth;
    sc_status s;
    for (int l = from; l < c->depth; l++)
        if ((s = sc_tel_forward(&d, &m->layers[l].w, m->z + (size_t)zslot(m, l - 1) * z, NULL, NULL,
                                train, rng, m->cache + (l % kept) * m->cache_per_layer,
                                m->z + (size_t)zslot(m, l) * z,
                                m->attn ? m->attn + l * att : NULL)))
            return s;
    return sc_layernorm_forward(m->out, m->ln_mean, m->ln_rstd,
                                m->z + (size_t)zslot(m, c->depth - 1) * z, m->nw, m->nb, B * T, D,
                                c->ln_eps);
}

sc_status sc_vit_forward(sc_vit *m, const float *x, int B, int train, sc_rng *rng,
                         const float **out) {
    if (!m || !x || !out || B <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_forward: bad argument");
    const sc_vit_config *c = &m->cfg;
    if (train && c->dropout > 0.0f && !rng)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_forward: dropout needs an rng");
    if (train && m->view)
        return sc_set_error(SC_ERR_UNSUPPORTED, "sc_vit_forward: inference-only ViT (a file view)");
    m->have_forward = 0;
    sc_status s = plan(m, B, train);
    if (s) return s;
    const int S = c->image_size, D = c->dim;
    if ((s = sc_patch_embed_forward(B, c->in_channels, S, S, c->patch, D, x, m->pw, m->pb, m->ws,
                                    m->tok)) ||
        (s = sc_vit_embed_forward(B, m->N, D, m->tok, m->cls, m->pos ? m->pos : m->pos_fixed,
                                  m->z)))
        return s;
    if ((s = run_layers(m, 0, B, train, rng))) return s;
    m->x = x, m->B = B, m->train = train, m->have_forward = 1;
    *out = m->out;
    return SC_OK;
}

sc_status sc_vit_forward_from(sc_vit *m, int layer, const float *tokens, int B, const float **out) {
    if (!m || !tokens || !out || B <= 0 || layer < -1 || layer >= m->cfg.depth)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_forward_from: bad argument");
    m->have_forward = 0;
    sc_status s = plan(m, B, 0);
    if (s) return s;
    const size_t z = (size_t)B * m->T * m->cfg.dim;
    memmove(m->z + (size_t)zslot(m, layer) * z, tokens, z * sizeof(float));
    if ((s = run_layers(m, layer + 1, B, 0, NULL))) return s;
    *out = m->out;
    return SC_OK;
}

const float *sc_vit_layer_tokens(const sc_vit *m, int layer) {
    if (!m || !m->have_forward || layer < -1 || layer >= m->cfg.depth) return NULL;
    if (ping_pong(m) && layer != m->cfg.depth - 1) return NULL;
    return m->z + (size_t)zslot(m, layer) * m->B * m->T * m->cfg.dim;
}

sc_status sc_vit_backward(sc_vit *m, const float *dout, float *dx) {
    return sc_vit_backward_layer(m, dout, -1, NULL, dx);
}

sc_status sc_vit_backward_layer(sc_vit *m, const float *dout, int layer, float *dtokens,
                                float *dx) {
    if (!m || !dout) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_backward: NULL argument");
    if (!m->have_forward)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_backward: no forward pass before");
    if (ping_pong(m))
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_vit_backward: inference-only ViT (a file view that keeps no "
                            "activations, see sc_vit_view_keep_activations)");
    if (layer < -1 || layer >= m->cfg.depth)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_backward: layer %d out of range", layer);
    const sc_vit_config *c = &m->cfg;
    const int B = m->B, D = c->dim, T = m->T, S = c->image_size;
    const size_t z = (size_t)B * T * D;
    /* two ping-pong gradient buffers over the token stream */
    float *g = sc_calloc(2 * z, sizeof(float));
    if (!g) return sc_set_error(SC_ERR_NOMEM, "sc_vit_backward: out of memory");
    float *cur = g, *prev = g + z;
    sc_status s = sc_layernorm_backward(cur, m->gnw, m->gnb, dout, m->z + (size_t)c->depth * z,
                                        m->ln_mean, m->ln_rstd, m->nw, B * T, D);
    sc_tel_desc d = layer_desc(m, B, m->train);
    for (int l = c->depth - 1; l >= 0 && !s; l--) {
        if (l == layer && dtokens) memcpy(dtokens, cur, z * sizeof(float)); /* d z_{l+1} */
        if (l == layer && !dx) break;
        memset(prev, 0, z * sizeof(float));
        s = sc_tel_backward(&d, &m->layers[l].w, m->z + l * z, m->cache + l * m->cache_per_layer,
                            m->train, cur, prev, &m->layers[l].g);
        float *t = cur;
        cur = prev, prev = t;
    }
    /* cur = d z0; prev is free for d tokens (B, N, D) */
    if (!s && layer == -1 && dtokens) memcpy(dtokens, cur, z * sizeof(float));
    /* the embeddings: for dx, or for the parameter grads of a trainable model */
    const int tail = dx || (layer == -1 && !m->view);
    if (!s && tail) {
        memset(prev, 0, (size_t)B * m->N * D * sizeof(float));
        s = sc_vit_embed_backward(B, m->N, D, c->cls_token, cur, prev, m->gcls, m->gpos);
    }
    if (!s && tail)
        s = sc_patch_embed_backward(B, c->in_channels, S, S, c->patch, D, m->x, m->pw, prev, m->ws,
                                    dx, m->gpw, m->gpb);
    sc_free(g);
    return s;
}

/* Copies image b's per-layer attention (depth, heads, T, T) into a new buffer. */
static sc_status gather_attention(const sc_vit *m, int b, const char *fn, float **out) {
    if (!m->have_forward || m->train || !m->attn)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: no eval forward pass before", fn);
    if (b < 0 || b >= m->B)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: image %d of a batch of %d", fn, b, m->B);
    const size_t per = (size_t)m->cfg.heads * m->T * m->T; /* one image, one layer */
    float *a = sc_malloc((size_t)m->cfg.depth * per * sizeof(float));
    if (!a) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    for (int l = 0; l < m->cfg.depth; l++)
        memcpy(a + l * per, m->attn + ((size_t)l * m->B + b) * per, per * sizeof(float));
    *out = a;
    return SC_OK;
}

sc_status sc_vit_rollout(const sc_vit *m, int b, float discard_ratio, float *out) {
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_rollout: NULL argument");
    if (!m->cfg.cls_token)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_vit_rollout: attention rollout from the class token needs a class "
                            "token (this ViT has none)");
    float *a = NULL;
    sc_status s = gather_attention(m, b, "sc_vit_rollout", &a);
    if (s) return s;
    s = sc_attention_rollout(m->cfg.depth, m->cfg.heads, m->G, m->G, a, discard_ratio, out);
    sc_free(a);
    return s;
}

sc_status sc_vit_rollout_matrix(const sc_vit *m, int b, float discard_ratio, float *R) {
    if (!m || !R) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_rollout_matrix: NULL argument");
    float *a = NULL;
    sc_status s = gather_attention(m, b, "sc_vit_rollout_matrix", &a);
    if (s) return s;
    s = sc_attention_rollout_matrix(m->cfg.depth, m->cfg.heads, m->T, a, discard_ratio, R);
    sc_free(a);
    return s;
}
