/* Classifiers seen from a layer (see include/saccade/sc_cam_model.h): the
 * torchvision ResNet (stages of vision/encoders/resnet_grad.c), the
 * torchvision ViT (sc_vit's per-layer tokens, backward and forward_from) and
 * the Fashion classifier (its CNN's output map), behind one set of calls. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_nn.h"
#include "classify/classify_internal.h"
#include "encoders/resnet_internal.h"
#include "saliency/saliency_internal.h"
#include "sc_internal.h"

typedef enum { CAM_RESNET, CAM_VIT, CAM_FASHION } cam_kind;

typedef struct cam_layer {
    char name[40];
    int index; /* ResNet stage, ViT layer, 0 for the Fashion encoder */
} cam_layer;

struct sc_cam_model {
    cam_kind kind;
    sc_imagenet_classifier *inet;
    sc_classifier *cls;
    int owned; /* inet / cls freed with the wrapper */
    sc_cam_model_info info;
    cam_layer *layers;
    int nlayers;
    /* the last sc_cam_model_forward */
    int fwd_valid, fwd_N, fwd_layer; /* fwd_layer: index of the layer, -1 none */
    float *xcopy;                    /* (N, input) the input the ViT / CNN backward reads */
    size_t xcap;
    float *vit_cls;  /* ViT: each image's class token leaving each layer (cls_N, depth, D) */
    size_t cls_cap;  /* floats */
    int cls_N;       /* images in vit_cls (0: no forward yet) */
    float *fmap;     /* Fashion: the forward's map (N, C, h, w) */
    size_t fmap_cap; /* floats */
    const float *head_w, *head_b; /* Fashion: head (K, C G G), (K) */
};

/* ---------------------------------------------------------------- layers */

static sc_status add_layer(sc_cam_model *m, const char *name, int index) {
    cam_layer *l = realloc(m->layers, (size_t)(m->nlayers + 1) * sizeof *l);
    if (!l) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->layers = l;
    snprintf(l[m->nlayers].name, sizeof l->name, "%s", name);
    l[m->nlayers++].index = index;
    return SC_OK;
}

static sc_status build_layers(sc_cam_model *m) {
    sc_status s = SC_OK;
    char nm[40];
    if (m->kind == CAM_RESNET) {
        const sc_resnet *r = m->inet->resnet;
        const int ns = resnet_stage_count(r);
        for (int k = 0; k < ns && !s; k++) {
            resnet_stage_name(r, k, nm, sizeof nm);
            s = add_layer(m, nm, k);
            /* the stage after its last block: "layer2" = "layer2.3" */
            const char *dot = strchr(nm, '.');
            char next[40] = "";
            if (k + 1 < ns) resnet_stage_name(r, k + 1, next, sizeof next);
            if (!s && dot && strncmp(nm, next, (size_t)(dot - nm + 1)) != 0) {
                nm[dot - nm] = 0;
                s = add_layer(m, nm, k);
            }
        }
        snprintf(m->info.default_layer, sizeof m->info.default_layer, "layer4");
    } else if (m->kind == CAM_VIT) {
        const int depth = sc_vit_get_config(m->inet->vit)->depth;
        for (int l = 0; l < depth && !s; l++) {
            snprintf(nm, sizeof nm, "encoder.layers.%d", l);
            s = add_layer(m, nm, l);
        }
        snprintf(m->info.default_layer, sizeof m->info.default_layer, "encoder.layers.%d",
                 depth >= 2 ? depth - 2 : 0);
    } else {
        s = add_layer(m, "encoder", 0);
        snprintf(m->info.default_layer, sizeof m->info.default_layer, "encoder");
    }
    return s;
}

int sc_cam_model_layer_count(const sc_cam_model *m) {
    return m ? m->nlayers : 0;
}

const char *sc_cam_model_layer_name(const sc_cam_model *m, int i) {
    return m && i >= 0 && i < m->nlayers ? m->layers[i].name : NULL;
}

/* The layer named `layer` (torchvision's "encoder.layers.encoder_layer_N"
 * spelling too) -> its index, or an error listing the valid names. */
static sc_status find_layer(const sc_cam_model *m, const char *layer, int *index) {
    if (!layer) return sc_set_error(SC_ERR_INVALID_ARG, "cam model: layer name is NULL");
    char alt[64] = "";
    int n;
    if (sscanf(layer, "encoder.layers.encoder_layer_%d%n", &n, &(int){0}) == 1)
        snprintf(alt, sizeof alt, "encoder.layers.%d", n);
    for (int i = 0; i < m->nlayers; i++)
        if (!strcmp(layer, m->layers[i].name) || !strcmp(alt, m->layers[i].name)) {
            *index = m->layers[i].index;
            return SC_OK;
        }
    char list[2048];
    size_t at = 0;
    for (int i = 0; i < m->nlayers && at + 48 < sizeof list; i++)
        at +=
            (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "", m->layers[i].name);
    return sc_set_error(SC_ERR_INVALID_ARG, "unknown layer \"%.60s\" of %s; valid layers: %s",
                        layer, m->info.arch, list);
}

static int vit_grid(const sc_cam_model *m) {
    return sc_vit_grid(sc_vit_get_config(m->inet->vit));
}

static sc_status shape_of(const sc_cam_model *m, int index, int *C, int *h, int *w) {
    if (m->kind == CAM_RESNET)
        return resnet_stage_shape(m->inet->resnet, m->info.in_h, m->info.in_w, index, C, h, w);
    if (m->kind == CAM_VIT) {
        *C = sc_vit_get_config(m->inet->vit)->dim;
        *h = *w = vit_grid(m);
        return SC_OK;
    }
    const sc_classifier_config *c = sc_classifier_get_config(m->cls);
    return sc_cnn_output_size(&c->encoder, c->in_h, c->in_w, C, h, w);
}

sc_status sc_cam_model_layer_shape(const sc_cam_model *m, const char *layer, int *C, int *h,
                                   int *w) {
    if (!m || !C || !h || !w)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_layer_shape: NULL argument");
    int index;
    sc_status s = find_layer(m, layer, &index);
    return s ? s : shape_of(m, index, C, h, w);
}

/* ---------------------------------------------------------------- creation */

static sc_status finish(sc_cam_model *m, sc_cam_model **out) {
    sc_status s = build_layers(m);
    if (s) {
        sc_cam_model_free(m);
        return s;
    }
    m->fwd_layer = -1;
    *out = m;
    return SC_OK;
}

sc_status sc_cam_model_from_imagenet(sc_imagenet_classifier *c, sc_cam_model **out) {
    if (!out || !c) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_from_imagenet: NULL");
    *out = NULL;
    sc_cam_model *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->inet = c;
    m->kind = c->resnet ? CAM_RESNET : CAM_VIT;
    snprintf(m->info.arch, sizeof m->info.arch, "%s", c->info.arch);
    m->info.in_channels = 3;
    m->info.in_h = m->info.in_w = c->info.input_size;
    m->info.num_classes = c->info.num_classes;
    m->info.tokens = m->kind == CAM_VIT;
    return finish(m, out);
}

sc_status sc_cam_model_from_classifier(sc_classifier *c, sc_cam_model **out) {
    if (!out || !c) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_from_classifier: NULL");
    *out = NULL;
    const sc_param *pl;
    size_t np;
    sc_status s = sc_classifier_params(c, &pl, &np);
    if (s) return s;
    sc_cam_model *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < np; i++) {
        if (!strcmp(pl[i].name, "head.weight")) m->head_w = pl[i].param;
        if (!strcmp(pl[i].name, "head.bias")) m->head_b = pl[i].param;
    }
    if (!m->head_w || !m->head_b) {
        free(m);
        return sc_set_error(SC_ERR_FORMAT, "cam model: the classifier has no head.weight / bias");
    }
    const sc_classifier_config *cfg = sc_classifier_get_config(c);
    m->cls = c;
    m->kind = CAM_FASHION;
    snprintf(m->info.arch, sizeof m->info.arch, "classifier");
    m->info.in_channels = cfg->encoder.in_channels;
    m->info.in_h = cfg->in_h, m->info.in_w = cfg->in_w;
    m->info.num_classes = cfg->num_classes;
    return finish(m, out);
}

sc_status sc_cam_model_load(const char *path, sc_cam_model **out) {
    if (!out || !path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_load: NULL argument");
    *out = NULL;
    sc_model_kind kind;
    sc_status s = sc_model_probe(path, &kind);
    if (s) return s;
    if (kind == SC_MODEL_CLASSIFIER) {
        sc_classifier *c = NULL;
        if ((s = sc_classifier_load(path, &c))) return s;
        if ((s = sc_cam_model_from_classifier(c, out))) {
            sc_classifier_free(c);
            return s;
        }
    } else if (kind == SC_MODEL_RESNET || kind == SC_MODEL_VIT_CLASSIFIER) {
        sc_imagenet_classifier *c = NULL;
        sc_imagenet_classifier_params p = sc_imagenet_classifier_default_params();
        p.gradients = 1;
        if ((s = sc_imagenet_classifier_load(path, &p, &c))) return s;
        if ((s = sc_cam_model_from_imagenet(c, out))) {
            sc_imagenet_classifier_free(c);
            return s;
        }
    } else {
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: a %s model, not a classifier (a torchvision ResNet / ViT or a "
                            "saccade classifier)",
                            path, sc_model_kind_name(kind));
    }
    (*out)->owned = 1;
    return SC_OK;
}

void sc_cam_model_free(sc_cam_model *m) {
    if (!m) return;
    if (m->owned) {
        sc_imagenet_classifier_free(m->inet);
        sc_classifier_free(m->cls);
    }
    free(m->layers);
    sc_free(m->xcopy);
    sc_free(m->vit_cls);
    sc_free(m->fmap);
    free(m);
}

sc_status sc_cam_model_get_info(const sc_cam_model *m, sc_cam_model_info *info) {
    if (!m || !info) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_get_info: NULL");
    *info = m->info;
    return SC_OK;
}

sc_status sc_cam_model_set_input_size(sc_cam_model *m, int h, int w) {
    if (!m || h < 1 || w < 1 || h > 65536 || w > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_set_input_size: bad argument");
    m->fwd_valid = 0;
    if (h == m->info.in_h && w == m->info.in_w) return SC_OK;
    if (m->kind != CAM_RESNET)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s takes %dx%d inputs only (a %dx%d input was asked for)",
                            m->info.arch, m->info.in_w, m->info.in_h, w, h);
    int C, fh, fw; /* the size must get through the network */
    sc_status s = resnet_stage_shape(m->inet->resnet, h, w, 0, &C, &fh, &fw);
    if (s) return s;
    m->info.in_h = h, m->info.in_w = w;
    return SC_OK;
}

/* ---------------------------------------------------------------- classes */

const char *sc_cam_model_class_name(const sc_cam_model *m, int k) {
    if (!m) return NULL;
    return m->inet ? sc_imagenet_classifier_class_name(m->inet, k)
                   : sc_classifier_class_name(m->cls, k);
}

sc_status sc_cam_model_class_from_string(const sc_cam_model *m, const char *s, int *k) {
    if (!m || !s || !k) return sc_set_error(SC_ERR_INVALID_ARG, "class: NULL argument");
    const int K = m->info.num_classes;
    for (int pass = 0; pass < 2; pass++)
        for (int c = 0; c < K; c++) {
            const char *n = sc_cam_model_class_name(m, c);
            if (n && (pass ? !strcasecmp(n, s) : !strcmp(n, s))) {
                *k = c;
                return SC_OK;
            }
        }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end != s && !*end && !errno && !isspace((unsigned char)*s)) {
        if (v < 0 || v >= K)
            return sc_set_error(SC_ERR_INVALID_ARG, "class %ld out of range: %s has classes 0..%d",
                                v, m->info.arch, K - 1);
        *k = (int)v;
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG,
                        "unknown class \"%.60s\": give a class name of the model or an index "
                        "0..%d",
                        s, K - 1);
}

/* ---------------------------------------------------------------- input */

sc_status sc_cam_model_preprocess(const sc_cam_model *m, const sc_image *img, float *x,
                                  sc_imagenet_geometry *g) {
    if (!m || !img || !x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_preprocess: NULL");
    if (m->inet) return sc_imagenet_preprocess_image(&m->inet->info.preprocess, img, x, g);
    float *t = NULL;
    const int C = m->info.in_channels, H = m->info.in_h, W = m->info.in_w;
    sc_status s = sc_sal_classifier_input(img, C, H, W, &t);
    if (s) return s;
    memcpy(x, t, (size_t)C * H * W * sizeof(float));
    sc_free(t);
    if (g) {
        g->resized_w = W, g->resized_h = H;
        g->crop_x0 = g->crop_y0 = 0;
        g->crop = W;
    }
    return SC_OK;
}

static size_t input_floats(const sc_cam_model *m) {
    return (size_t)m->info.in_channels * m->info.in_h * m->info.in_w;
}

/* buf grown to n floats. */
static sc_status grow(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return SC_OK;
    float *b = sc_malloc(n * sizeof(float));
    if (!b) return sc_set_error(SC_ERR_NOMEM, "cam model: out of memory (%zu MB)", n >> 18);
    sc_free(*buf);
    *buf = b;
    *cap = n;
    return SC_OK;
}

/* ---------------------------------------------------------------- ViT pieces */

/* tokens (N, T, D) -> act (N, D, G, G): the class token dropped. */
static void tokens_to_grid(const float *tok, int N, int G, int D, float *act) {
    const int P = G * G, T = P + 1;
    for (int n = 0; n < N; n++)
        for (int p = 0; p < P; p++) {
            const float *src = tok + ((size_t)n * T + 1 + p) * D;
            for (int d = 0; d < D; d++) act[((size_t)n * D + d) * P + p] = src[d];
        }
}

/* act (N, D, G, G) + a class token (D) -> tokens (N, T, D). */
static void grid_to_tokens(const float *act, const float *cls, int N, int G, int D, float *tok) {
    const int P = G * G, T = P + 1;
    for (int n = 0; n < N; n++) {
        memcpy(tok + (size_t)n * T * D, cls, (size_t)D * sizeof(float));
        for (int p = 0; p < P; p++) {
            float *dst = tok + ((size_t)n * T + 1 + p) * D;
            for (int d = 0; d < D; d++) dst[d] = act[((size_t)n * D + d) * P + p];
        }
    }
}

/* ---------------------------------------------------------------- Fashion pieces */

/* logits (N, K) of the CNN map (N, C, h, w): pool to G x G, then the head. */
static sc_status fashion_head(const sc_cam_model *m, const float *fmap, int N, int C, int h, int w,
                              float *logits) {
    const sc_classifier_config *c = sc_classifier_get_config(m->cls);
    const int G = c->head_grid > 0 ? c->head_grid : 1, F = C * G * G, K = c->num_classes;
    float *pooled = sc_malloc((size_t)N * F * sizeof(float));
    if (!pooled) return sc_set_error(SC_ERR_NOMEM, "cam model: out of memory");
    sc_status s = sc_adaptive_avgpool2d_forward(pooled, fmap, N, C, h, w, G, G);
    if (!s) s = sc_linear_forward(logits, pooled, m->head_w, m->head_b, N, F, K);
    sc_free(pooled);
    return s;
}

/* ---------------------------------------------------------------- forward / backward */

sc_status sc_cam_model_forward(sc_cam_model *m, const float *x, int N, const char *layer,
                               float *logits, float *act) {
    static const char fn[] = "sc_cam_model_forward";
    if (!m || !x || N < 1) return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    m->fwd_valid = 0;
    int index = -1;
    sc_status s;
    if (layer && (s = find_layer(m, layer, &index))) return s;
    if (act && index < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: an activation needs a layer", fn);
    const size_t in = input_floats(m);
    size_t nin;
    if (sc_mul_size(in, (size_t)N, &nin)) return sc_set_error(SC_ERR_LIMIT, "%s: batch", fn);
    const int K = m->info.num_classes;
    if (m->kind == CAM_RESNET) {
        if (!m->inet->gradients)
            return sc_set_error(SC_ERR_UNSUPPORTED,
                                "%s: the classifier was loaded without gradients", fn);
        s = resnet_grad_forward(m->inet->resnet, x, N, m->info.in_h, m->info.in_w, index, logits,
                                act);
    } else if (m->kind == CAM_VIT) {
        sc_vit *v = m->inet->vit;
        const sc_vit_config *c = sc_vit_get_config(v);
        if (!m->inet->gradients)
            return sc_set_error(SC_ERR_UNSUPPORTED,
                                "%s: the classifier was loaded without gradients", fn);
        if ((s = grow(&m->xcopy, &m->xcap, nin))) return s;
        memcpy(m->xcopy, x, nin * sizeof(float));
        m->cls_N = 0;
        if ((s = grow(&m->vit_cls, &m->cls_cap, (size_t)N * c->depth * c->dim))) return s;
        const float *out;
        if ((s = sc_vit_forward(v, m->xcopy, N, 0, NULL, &out))) return s;
        if (logits) imagenet_vit_head(m->inet, out, N, logits);
        const size_t T = (size_t)sc_vit_tokens(c);
        for (int n = 0; n < N; n++)
            for (int l = 0; l < c->depth; l++)
                memcpy(m->vit_cls + ((size_t)n * c->depth + l) * c->dim,
                       sc_vit_layer_tokens(v, l) + n * T * c->dim, (size_t)c->dim * sizeof(float));
        m->cls_N = N;
        if (act) tokens_to_grid(sc_vit_layer_tokens(v, index), N, vit_grid(m), c->dim, act);
    } else {
        const sc_classifier_config *c = sc_classifier_get_config(m->cls);
        if ((s = grow(&m->xcopy, &m->xcap, nin))) return s;
        const size_t hw = (size_t)c->in_h * c->in_w;
        for (int n = 0; n < N; n++) /* the classifier's own normalisation */
            for (int ch = 0; ch < c->encoder.in_channels; ch++) {
                const size_t o = ((size_t)n * c->encoder.in_channels + ch) * hw;
                const float mu = c->mean[ch], inv = 1.0f / c->std[ch];
                for (size_t i = 0; i < hw; i++) m->xcopy[o + i] = (x[o + i] - mu) * inv;
            }
        const float *fm;
        int C, h, w;
        if ((s = sc_cnn_forward(sc_classifier_encoder(m->cls), m->xcopy, N, c->in_h, c->in_w, 0,
                                &fm, &C, &h, &w)))
            return s;
        const size_t na = (size_t)C * h * w;
        if ((s = grow(&m->fmap, &m->fmap_cap, na * N))) return s;
        memcpy(m->fmap, fm, na * N * sizeof(float));
        if (logits && (s = fashion_head(m, m->fmap, N, C, h, w, logits))) return s;
        if (act) memcpy(act, m->fmap, na * N * sizeof(float));
    }
    (void)K;
    if (s) return s;
    m->fwd_valid = 1, m->fwd_N = N, m->fwd_layer = index;
    return SC_OK;
}

sc_status sc_cam_model_backward(sc_cam_model *m, const float *dlogits, float *dact, float *dx) {
    static const char fn[] = "sc_cam_model_backward";
    if (!m || !dlogits) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (!m->fwd_valid)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: no sc_cam_model_forward before", fn);
    if (dact && m->fwd_layer < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: dact needs a forward with a layer", fn);
    const int N = m->fwd_N, K = m->info.num_classes, L = m->fwd_layer;
    const size_t in = input_floats(m);
    if (dx) memset(dx, 0, in * N * sizeof(float));
    if (m->kind == CAM_RESNET) return resnet_grad_backward(m->inet->resnet, dlogits, L, dact, dx);
    sc_status s = SC_OK;
    if (m->kind == CAM_VIT) {
        const sc_vit_config *c = sc_vit_get_config(m->inet->vit);
        const int D = c->dim, T = sc_vit_tokens(c);
        const size_t z = (size_t)N * T * D;
        float *g = sc_calloc(2 * z, sizeof(float));
        if (!g) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        for (int n = 0; n < N; n++) /* the head reads token 0 */
            sc_sgemv(SC_TRANS, K, D, 1.0f, m->inet->head_w, D, dlogits + (size_t)n * K, 0.0f,
                     g + (size_t)n * T * D);
        s = sc_vit_backward_layer(m->inet->vit, g, dact ? L : -1, dact ? g + z : NULL, dx);
        if (!s && dact) tokens_to_grid(g + z, N, vit_grid(m), D, dact);
        sc_free(g);
        return s;
    }
    const sc_classifier_config *c = sc_classifier_get_config(m->cls);
    int C, h, w;
    if ((s = shape_of(m, 0, &C, &h, &w))) return s;
    const int G = c->head_grid > 0 ? c->head_grid : 1, F = C * G * G;
    const size_t na = (size_t)C * h * w;
    float *gp = sc_calloc((size_t)N * F + na * N, sizeof(float));
    if (!gp) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    float *gm = gp + (size_t)N * F;
    s = sc_linear_backward(gp, NULL, NULL, dlogits, NULL, m->head_w, N, F, K);
    if (!s) s = sc_adaptive_avgpool2d_backward(gm, gp, N, C, h, w, G, G);
    if (!s && dact) memcpy(dact, gm, na * N * sizeof(float));
    if (!s && dx) {
        s = sc_cnn_backward(sc_classifier_encoder(m->cls), gm, dx);
        const size_t hw = (size_t)c->in_h * c->in_w;
        for (int n = 0; n < N && !s; n++)
            for (int ch = 0; ch < c->encoder.in_channels; ch++) {
                float *p = dx + ((size_t)n * c->encoder.in_channels + ch) * hw;
                const float inv = 1.0f / c->std[ch];
                for (size_t i = 0; i < hw; i++) p[i] *= inv;
            }
    }
    sc_free(gp);
    return s;
}

/* The ViT run on from layer `index` given the patch tokens act (N, D, G, G)
 * and the class tokens cls (N, D), or (cls NULL) those of the last forward
 * (image n: that of image n mod cls_N). */
static sc_status vit_forward_from(sc_cam_model *m, int index, const float *act, const float *cls,
                                  int N, float *logits) {
    static const char fn[] = "sc_cam_model_forward_from";
    if (!cls && !m->cls_N)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: a ViT needs an sc_cam_model_forward before (the class token)", fn);
    const sc_vit_config *c = sc_vit_get_config(m->inet->vit);
    const int D = c->dim, G = vit_grid(m), T = sc_vit_tokens(c);
    m->fwd_valid = 0;
    size_t z;
    if (sc_mul_size((size_t)N * T, (size_t)D, &z)) return sc_set_error(SC_ERR_LIMIT, "%s", fn);
    float *tok = sc_malloc(z * sizeof(float));
    if (!tok) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    for (int n = 0; n < N; n++)
        grid_to_tokens(act + (size_t)n * D * G * G,
                       cls ? cls + (size_t)n * D
                           : m->vit_cls + ((size_t)(n % m->cls_N) * c->depth + index) * D,
                       1, G, D, tok + (size_t)n * T * D);
    const float *out;
    sc_status s = sc_vit_forward_from(m->inet->vit, index, tok, N, &out);
    if (!s) imagenet_vit_head(m->inet, out, N, logits);
    sc_free(tok);
    return s;
}

sc_status sc_cam_model_forward_from(sc_cam_model *m, const char *layer, const float *act, int N,
                                    float *logits) {
    static const char fn[] = "sc_cam_model_forward_from";
    if (!m || !act || !logits || N < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    int index;
    sc_status s = find_layer(m, layer, &index);
    if (s) return s;
    if (m->kind == CAM_RESNET) {
        m->fwd_valid = 0;
        return resnet_forward_from(m->inet->resnet, index, act, N, m->info.in_h, m->info.in_w,
                                   logits);
    }
    if (m->kind == CAM_VIT) return vit_forward_from(m, index, act, NULL, N, logits);
    int C, h, w;
    m->fwd_valid = 0;
    if ((s = shape_of(m, 0, &C, &h, &w))) return s;
    return fashion_head(m, act, N, C, h, w, logits);
}

sc_status sc_cam_model_vit_class_token(const sc_cam_model *m, const char *layer, int b,
                                       float *cls) {
    static const char fn[] = "sc_cam_model_vit_class_token";
    if (!m || !cls) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (m->kind != CAM_VIT)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: %s has no class token", fn, m->info.arch);
    int index;
    sc_status s = find_layer(m, layer, &index);
    if (s) return s;
    if (b < 0 || b >= m->cls_N)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "%s: image %d of a forward of %d (none: no sc_cam_model_forward before)", fn, b,
            m->cls_N);
    const sc_vit_config *c = sc_vit_get_config(m->inet->vit);
    memcpy(cls, m->vit_cls + ((size_t)b * c->depth + index) * c->dim,
           (size_t)c->dim * sizeof(float));
    return SC_OK;
}

sc_status sc_cam_model_vit_forward_from_tokens(sc_cam_model *m, const char *layer, const float *act,
                                               const float *cls, int N, float *logits) {
    static const char fn[] = "sc_cam_model_vit_forward_from_tokens";
    if (!m || !act || !cls || !logits || N < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    if (m->kind != CAM_VIT)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: %s has no class token", fn, m->info.arch);
    int index;
    sc_status s = find_layer(m, layer, &index);
    return s ? s : vit_forward_from(m, index, act, cls, N, logits);
}

sc_status sc_cam_model_logits(sc_cam_model *m, const float *x, int N, float *logits) {
    if (!m || !x || !logits || N < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_logits: bad argument");
    m->fwd_valid = 0;
    if (m->kind == CAM_RESNET) /* at the set input size */
        return sc_resnet_forward(m->inet->resnet, x, N, m->info.in_h, m->info.in_w, NULL, logits);
    if (m->inet) return sc_imagenet_classifier_logits(m->inet, x, N, logits);
    const sc_classifier_config *c = sc_classifier_get_config(m->cls);
    const float *lg;
    for (int n = 0; n < N; n += 64) { /* the classifier's buffers grow with the batch */
        const int B = SC_MIN(64, N - n);
        sc_status s = sc_classifier_forward(m->cls, x + n * input_floats(m), B, 0, NULL, &lg);
        if (s) return s;
        memcpy(logits + (size_t)n * c->num_classes, lg, (size_t)B * c->num_classes * sizeof(float));
    }
    return SC_OK;
}

sc_status sc_cam_model_vit_rollout(const sc_cam_model *m, int b, float discard_ratio, float *out) {
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_model_vit_rollout: NULL");
    if (m->kind != CAM_VIT)
        return sc_set_error(SC_ERR_UNSUPPORTED, "attention rollout needs a ViT (%s is not one)",
                            m->info.arch);
    if (!m->fwd_valid)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_cam_model_vit_rollout: no sc_cam_model_forward before");
    return sc_vit_rollout(m->inet->vit, b, discard_ratio, out);
}
