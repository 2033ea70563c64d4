/* saccade's classifier and ST-CNN as sc_cam_net: the encoder split at the
 * chosen stage into two CNNs (copies of the weights), so the layer's
 * activation can be read, differentiated and replaced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_cam.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_grid.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_stn.h"
#include "saccade/sc_util.h"
#include "saliency_internal.h"
#include "sc_internal.h"

#define CAM_MAX_BATCH 64

typedef struct split_model {
    sc_classifier *cls;   /* not owned */
    sc_stn *stn;          /* ST-CNN: its transformer (not owned), else NULL */
    sc_cnn *head, *tail;  /* stages 0..L and L+1..n-1 (tail NULL when L is the last) */
    const float *W, *B;   /* head.weight (K, F), head.bias (K), the classifier's */
    int G, F, K;          /* pool grid (1: global), head inputs, classes */
    int gc, gh, gw;       /* the classifier's input (the glimpse for an ST-CNN) */
    int in_c, in_h, in_w; /* the model's input */
    int ac, ah, aw;       /* the layer's activation */
    int fc, fh, fw;       /* the encoder's output */
    float mean[SC_CLASSIFIER_MAX_CHANNELS], std[SC_CLASSIFIER_MAX_CHANNELS];
    float theta[6]; /* ST-CNN: theta of the last explained input */
    float *xn, *pooled, *dpooled, *dfeat, *dact, *dxn; /* work, sized for CAM_MAX_BATCH */
    char layer[64];
} split_model;

static void split_free(void *ctx) {
    split_model *s = ctx;
    if (!s) return;
    sc_cnn_free(s->head);
    sc_cnn_free(s->tail);
    sc_free(s->xn), sc_free(s->pooled), sc_free(s->dpooled), sc_free(s->dfeat), sc_free(s->dact);
    sc_free(s->dxn);
    sc_free(s);
}

/* Copy src's tensors (parameters, then buffers) into a and b, in order. */
static sc_status copy_tensors(const sc_param *src, size_t ns, const sc_param *a, size_t na,
                              const sc_param *b, size_t nb) {
    if (na + nb != ns) return sc_set_error(SC_ERR_INTERNAL, "cam: encoder split lost tensors");
    for (size_t i = 0; i < ns; i++) {
        const sc_param *d = i < na ? &a[i] : &b[i - na];
        if (d->n != src[i].n)
            return sc_set_error(SC_ERR_INTERNAL, "cam: encoder split: %s has %zu values, not %zu",
                                src[i].name, d->n, src[i].n);
        memcpy(d->param, src[i].param, d->n * sizeof(float));
    }
    return SC_OK;
}

static sc_status split_encoder(sc_cnn *enc, int L, sc_cnn **head, sc_cnn **tail) {
    const sc_cnn_config *c = sc_cnn_get_config(enc);
    sc_cnn_config hc = *c, tc = *c;
    hc.nstages = L + 1;
    sc_rng r;
    sc_rng_seed(&r, 0);
    sc_status s = sc_cnn_create(&hc, "", &r, head);
    if (s) return s;
    *tail = NULL;
    if (L + 1 < c->nstages) {
        tc.in_channels = c->channels[L];
        tc.nstages = c->nstages - L - 1;
        for (int i = 0; i < tc.nstages; i++) {
            tc.channels[i] = c->channels[L + 1 + i];
            tc.kernel[i] = c->kernel[L + 1 + i];
            tc.stride[i] = c->stride[L + 1 + i];
            tc.pool[i] = c->pool[L + 1 + i];
        }
        if ((s = sc_cnn_create(&tc, "", &r, tail))) return s;
    }
    const sc_param *ps, *pa, *pb = NULL;
    size_t ns, na, nb = 0;
    sc_cnn_params(enc, &ps, &ns);
    sc_cnn_params(*head, &pa, &na);
    if (*tail) sc_cnn_params(*tail, &pb, &nb);
    if ((s = copy_tensors(ps, ns, pa, na, pb, nb))) return s;
    sc_cnn_buffers(enc, &ps, &ns);
    sc_cnn_buffers(*head, &pa, &na);
    nb = 0;
    if (*tail) sc_cnn_buffers(*tail, &pb, &nb);
    return copy_tensors(ps, ns, pa, na, pb, nb);
}

/* Logits (n, K) from the layer's activation: tail, pool, linear. */
static sc_status run_from(void *ctx, const float *act, int n, float *logits) {
    split_model *s = ctx;
    if (n < 1 || n > CAM_MAX_BATCH)
        return sc_set_error(SC_ERR_INVALID_ARG, "cam: batch %d is not in 1..%d", n, CAM_MAX_BATCH);
    const float *f = act;
    int C = s->ac, h = s->ah, w = s->aw;
    sc_status st;
    if (s->tail && (st = sc_cnn_forward(s->tail, act, n, s->ah, s->aw, 0, &f, &C, &h, &w)))
        return st;
    if ((st = sc_adaptive_avgpool2d_forward(s->pooled, f, n, C, h, w, s->G, s->G))) return st;
    return sc_linear_forward(logits, s->pooled, s->W, s->B, n, s->F, s->K);
}

/* The classifier's input (n, gc, gh, gw), normalised, for x: the input
 * itself (already normalised) or the ST-CNN's glimpse, normalised here. */
static sc_status classifier_input(split_model *s, const float *x, int n, int keep_theta,
                                  const float **xin) {
    if (!s->stn) {
        *xin = x;
        return SC_OK;
    }
    const float *g, *theta;
    sc_status st = sc_stn_forward(s->stn, x, n, 0, &g, &theta);
    if (st) return st;
    if (keep_theta) memcpy(s->theta, theta, sizeof s->theta);
    size_t hw = (size_t)s->gh * s->gw;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < s->gc; c++) {
            size_t o = ((size_t)i * s->gc + c) * hw;
            float mu = s->mean[c], inv = 1.0f / s->std[c];
            for (size_t j = 0; j < hw; j++) s->xn[o + j] = (g[o + j] - mu) * inv;
        }
    *xin = s->xn;
    return SC_OK;
}

static sc_status split_forward(void *ctx, const float *x, int n, float *logits, float *act) {
    split_model *s = ctx;
    if (n < 1 || n > CAM_MAX_BATCH)
        return sc_set_error(SC_ERR_INVALID_ARG, "cam: batch %d is not in 1..%d", n, CAM_MAX_BATCH);
    const float *xin, *a;
    int C, h, w;
    sc_status st = classifier_input(s, x, n, act != NULL && n == 1, &xin);
    if (!st) st = sc_cnn_forward(s->head, xin, n, s->gh, s->gw, 0, &a, &C, &h, &w);
    if (st) return st;
    if (act) memcpy(act, a, (size_t)n * C * h * w * sizeof(float));
    return run_from(ctx, a, n, logits);
}

static sc_status split_backward(void *ctx, const float *x, int k, float *logits, float *act,
                                float *dact, float *dx) {
    split_model *s = ctx;
    if (k < 0 || k >= s->K) return sc_set_error(SC_ERR_INVALID_ARG, "cam: class %d", k);
    const float *xin, *a;
    int C, h, w;
    sc_status st = classifier_input(s, x, 1, 1, &xin);
    if (!st) st = sc_cnn_forward(s->head, xin, 1, s->gh, s->gw, 0, &a, &C, &h, &w);
    float *lg = s->pooled + s->F; /* room after the pooled features */
    if (!st) st = run_from(ctx, a, 1, lg);
    if (st) return st;
    if (logits) memcpy(logits, lg, (size_t)s->K * sizeof(float));
    if (act) memcpy(act, a, (size_t)C * h * w * sizeof(float));
    /* d logit_k / d pooled = W[k]; back through the pool and the tail */
    size_t fs = (size_t)s->fc * s->fh * s->fw, as = (size_t)s->ac * s->ah * s->aw;
    memcpy(s->dpooled, s->W + (size_t)k * s->F, (size_t)s->F * sizeof(float));
    memset(s->dfeat, 0, fs * sizeof(float));
    if ((st = sc_adaptive_avgpool2d_backward(s->dfeat, s->dpooled, 1, s->fc, s->fh, s->fw, s->G,
                                             s->G)))
        return st;
    const float *da = s->dfeat;
    if (s->tail) {
        memset(s->dact, 0, as * sizeof(float));
        if ((st = sc_cnn_backward(s->tail, s->dfeat, s->dact))) return st;
        da = s->dact;
    }
    if (dact) memcpy(dact, da, as * sizeof(float));
    if (!dx) return SC_OK;
    size_t gs = (size_t)s->gc * s->gh * s->gw;
    float *dxin = s->stn ? s->dxn : dx;
    memset(dxin, 0, gs * sizeof(float));
    if ((st = sc_cnn_backward(s->head, da, dxin))) return st;
    if (!s->stn) return SC_OK;
    size_t hw = (size_t)s->gh * s->gw;
    for (int c = 0; c < s->gc; c++) /* normalised glimpse -> glimpse */
        for (size_t j = 0; j < hw; j++) s->dxn[c * hw + j] /= s->std[c];
    memset(dx, 0, (size_t)s->in_c * s->in_h * s->in_w * sizeof(float));
    return sc_stn_backward(s->stn, s->dxn, dx);
}

/* ST-CNN: maps on the glimpse's layer -> the glimpse (bilinear) -> the input
 * through theta^-1 (zero outside the glimpse). */
static sc_status stn_place(void *ctx, const float *maps, int n, int align, float *out) {
    split_model *s = ctx;
    double t[6];
    for (int i = 0; i < 6; i++) t[i] = s->theta[i];
    double det = t[0] * t[4] - t[1] * t[3];
    if (!(fabs(det) > 1e-12))
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "the transformer's theta is singular (det %g); the glimpse map cannot "
                            "be placed on the input",
                            det);
    /* theta maps glimpse coordinates to input ones, x_in = A x_g + b; each
     * input pixel reads the glimpse map at A^-1 (x_in - b) */
    float inv[6];
    inv[0] = (float)(t[4] / det), inv[1] = (float)(-t[1] / det);
    inv[3] = (float)(-t[3] / det), inv[4] = (float)(t[0] / det);
    inv[2] = (float)(-(t[4] * t[2] - t[1] * t[5]) / det);
    inv[5] = (float)(-(-t[3] * t[2] + t[0] * t[5]) / det);
    size_t ghw = (size_t)s->gh * s->gw, ihw = (size_t)s->in_h * s->in_w;
    float *up = sc_malloc((size_t)n * ghw * sizeof(float)),
          *grid = sc_malloc(ihw * 2 * sizeof(float));
    sc_status st = !up || !grid ? sc_set_error(SC_ERR_NOMEM, "cam: out of memory") : SC_OK;
    if (!st) st = sc_cam_resize_maps(maps, n, s->ah, s->aw, s->gh, s->gw, align, up);
    if (!st) st = sc_affine_grid(inv, 1, s->in_h, s->in_w, 0, grid);
    if (!st)
        st = sc_grid_sample(up, grid, out, 1, n, s->gh, s->gw, s->in_h, s->in_w, SC_GRID_BILINEAR,
                            SC_GRID_PAD_ZEROS, 0);
    sc_free(up), sc_free(grid);
    return st;
}

static sc_status split_prepare(void *ctx, const sc_image *img, float *x) {
    split_model *s = ctx;
    float *px;
    sc_status st = sc_sal_classifier_input(img, s->in_c, s->in_h, s->in_w, &px);
    if (st) return st;
    size_t hw = (size_t)s->in_h * s->in_w;
    memcpy(x, px, (size_t)s->in_c * hw * sizeof(float));
    sc_free(px);
    if (s->stn) return SC_OK;
    for (int c = 0; c < s->in_c; c++) {
        float mu = s->mean[c], inv = 1.0f / s->std[c];
        for (size_t j = 0; j < hw; j++) x[c * hw + j] = (x[c * hw + j] - mu) * inv;
    }
    return SC_OK;
}

static const char *split_class_name(void *ctx, int k) {
    return sc_classifier_class_name(((split_model *)ctx)->cls, k);
}

static sc_status find_param(const sc_param *list, size_t n, const char *name, const float **out) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].name, name)) {
            *out = list[i].param;
            return SC_OK;
        }
    return sc_set_error(SC_ERR_INTERNAL, "classifier: no tensor %s", name);
}

static sc_status make_split(sc_classifier *cls, sc_stn *stn, const char *layer, sc_cam_net *out) {
    memset(out, 0, sizeof *out);
    const sc_classifier_config *c = sc_classifier_get_config(cls);
    const int n = c->encoder.nstages;
    int L = n - 1;
    if (layer) {
        char want[64];
        L = -1;
        for (int i = 0; i < n && L < 0; i++) {
            snprintf(want, sizeof want, "encoder.stages.%d", i);
            if (!strcmp(layer, want)) L = i;
        }
        if (L < 0) {
            char list[SC_CNN_MAX_STAGES * 24] = "";
            size_t o = 0;
            for (int i = 0; i < n; i++)
                o += (size_t)snprintf(list + o, sizeof list - o, "%sencoder.stages.%d",
                                      i ? ", " : "", i);
            return sc_set_error(SC_ERR_INVALID_ARG, "unknown layer '%s' (this model's layers: %s)",
                                layer, list);
        }
    }
    split_model *s = sc_calloc(1, sizeof *s);
    if (!s) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    s->cls = cls;
    s->stn = stn;
    s->K = c->num_classes;
    s->G = c->head_grid > 0 ? c->head_grid : 1;
    s->gc = c->encoder.in_channels, s->gh = c->in_h, s->gw = c->in_w;
    memcpy(s->mean, c->mean, sizeof s->mean);
    memcpy(s->std, c->std, sizeof s->std);
    if (stn) {
        const sc_stn_config *sc = sc_stn_get_config(stn);
        s->in_c = sc->in_c, s->in_h = sc->in_h, s->in_w = sc->in_w;
    } else {
        s->in_c = s->gc, s->in_h = s->gh, s->in_w = s->gw;
    }
    snprintf(s->layer, sizeof s->layer, "encoder.stages.%d", L);
    const sc_param *pl;
    size_t np;
    sc_status st = sc_classifier_params(cls, &pl, &np);
    if (!st) st = find_param(pl, np, "head.weight", &s->W);
    if (!st) st = find_param(pl, np, "head.bias", &s->B);
    if (!st) st = split_encoder(sc_classifier_encoder(cls), L, &s->head, &s->tail);
    if (!st)
        st = sc_cnn_output_size(sc_cnn_get_config(s->head), s->gh, s->gw, &s->ac, &s->ah, &s->aw);
    if (!st) st = sc_cnn_output_size(&c->encoder, s->gh, s->gw, &s->fc, &s->fh, &s->fw);
    if (st) {
        split_free(s);
        return st;
    }
    s->F = s->fc * s->G * s->G;
    size_t B = CAM_MAX_BATCH, gs = (size_t)s->gc * s->gh * s->gw,
           fs = (size_t)s->fc * s->fh * s->fw, as = (size_t)s->ac * s->ah * s->aw;
    s->xn = sc_malloc(B * gs * sizeof(float));
    s->pooled = sc_malloc((B * s->F + (size_t)s->K) * sizeof(float));
    s->dpooled = sc_malloc((size_t)s->F * sizeof(float));
    s->dfeat = sc_malloc(fs * sizeof(float));
    s->dact = sc_malloc(as * sizeof(float));
    s->dxn = sc_malloc(gs * sizeof(float));
    if (!s->xn || !s->pooled || !s->dpooled || !s->dfeat || !s->dact || !s->dxn) {
        split_free(s);
        return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    }
    s->theta[0] = s->theta[4] = 1;
    out->ctx = s;
    out->in_c = s->in_c, out->in_h = s->in_h, out->in_w = s->in_w;
    out->num_classes = s->K;
    out->act_c = s->ac, out->act_h = s->ah, out->act_w = s->aw;
    out->max_batch = CAM_MAX_BATCH;
    out->layer = s->layer;
    out->forward = split_forward;
    out->backward = split_backward;
    out->forward_from = run_from;
    out->place = stn ? stn_place : NULL;
    out->prepare = split_prepare;
    out->class_name = split_class_name;
    out->release = split_free;
    return SC_OK;
}

sc_status sc_cam_net_classifier(sc_classifier *m, const char *layer, sc_cam_net *out) {
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_net_classifier: NULL");
    return make_split(m, NULL, layer, out);
}

sc_status sc_cam_net_stcnn(sc_stcnn *m, const char *layer, sc_cam_net *out) {
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_net_stcnn: NULL");
    return make_split(sc_stcnn_classifier(m), sc_stcnn_stn(m), layer, out);
}

sc_status sc_sal_classifier_input(const sc_image *img, int C, int H, int W, float **out) {
    *out = NULL;
    sc_image small = {0};
    sc_status s = sc_image_resize(img, W, H, SC_FILTER_TRIANGLE, &small);
    if (s) return s;
    size_t hw = (size_t)H * W;
    float *x = sc_malloc((size_t)C * hw * sizeof(float));
    if (!x) {
        sc_image_free(&small);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < hw; i++) {
        float g = small.c >= 3 ? 0.299f * small.data[i] + 0.587f * small.data[hw + i] +
                                     0.114f * small.data[2 * hw + i]
                               : small.data[i];
        for (int c = 0; c < C; c++)
            x[c * hw + i] = C == 1 ? g : small.c >= 3 ? small.data[(size_t)c * hw + i] : g;
    }
    sc_image_free(&small);
    *out = x;
    return SC_OK;
}

/* ---------------------------------------------------------------- sc_cam_model */
/* An sc_cam_model (sc_cam_model.h: ImageNet ResNet / ViT, the Fashion
 * classifier) at one layer; its geometry undoes the crop. */
typedef struct layer_net {
    sc_cam_model *m; /* not owned */
    char layer[48];
    int K;
    int gh, gw, in_h, in_w; /* the layer's grid (a ViT's patches), the input */
    int dim;                /* the layer's channels */
    int vit_layer, depth;   /* a ViT: the layer's index and the model's depth; else -1 */
    float *abl;             /* a ViT's ablated copies: patches and class tokens */
    float *dl, *lg;         /* one-hot (K), logits (K) */
    sc_imagenet_geometry g; /* of the last prepared image */
} layer_net;

static void layer_net_free(void *ctx) {
    layer_net *s = ctx;
    if (!s) return;
    sc_free(s->dl), sc_free(s->lg), sc_free(s->abl);
    sc_free(s);
}

static sc_status layer_forward(void *ctx, const float *x, int n, float *logits, float *act) {
    layer_net *s = ctx;
    return act ? sc_cam_model_forward(s->m, x, n, s->layer, logits, act)
               : sc_cam_model_logits(s->m, x, n, logits);
}

static sc_status layer_backward(void *ctx, const float *x, int k, float *logits, float *act,
                                float *dact, float *dx) {
    layer_net *s = ctx;
    if (k < 0 || k >= s->K) return sc_set_error(SC_ERR_INVALID_ARG, "cam: class %d", k);
    sc_status st = sc_cam_model_forward(s->m, x, 1, s->layer, s->lg, act);
    if (st) return st;
    if (logits) memcpy(logits, s->lg, (size_t)s->K * sizeof(float));
    memset(s->dl, 0, (size_t)s->K * sizeof(float));
    s->dl[k] = 1;
    return sc_cam_model_backward(s->m, s->dl, dact, dx);
}

static sc_status layer_forward_from(void *ctx, const float *act, int n, float *logits) {
    layer_net *s = ctx;
    return sc_cam_model_forward_from(s->m, s->layer, act, n, logits);
}

/* A ViT's AblationCAM copies: channel c0 + j of every token of copy j, the
 * class token's too, set to value (pytorch-grad-cam's AblationLayerVit). */
static sc_status layer_forward_ablated(void *ctx, const float *act, int c0, int n, float value,
                                       float *logits) {
    layer_net *s = ctx;
    const size_t P = (size_t)s->gh * s->gw, C = (size_t)s->dim, as = C * P;
    if (n < 1 || n > CAM_MAX_BATCH)
        return sc_set_error(SC_ERR_INVALID_ARG, "cam: batch %d is not in 1..%d", n, CAM_MAX_BATCH);
    if (!s->abl && !(s->abl = sc_malloc((size_t)CAM_MAX_BATCH * (as + C) * sizeof(float))))
        return sc_set_error(SC_ERR_NOMEM, "ablationcam: out of memory");
    float *ab = s->abl, *cls = s->abl + (size_t)CAM_MAX_BATCH * as;
    sc_status st = sc_cam_model_vit_class_token(s->m, s->layer, 0, cls);
    for (int j = 0; !st && j < n; j++) {
        float *a = ab + (size_t)j * as, *t = cls + (size_t)j * C;
        memcpy(a, act, as * sizeof(float));
        if (j) memcpy(t, cls, C * sizeof(float));
        for (size_t i = 0; i < P; i++) a[(size_t)(c0 + j) * P + i] = value;
    }
    for (int j = 0; !st && j < n; j++) cls[(size_t)j * C + c0 + j] = value;
    return st ? st : sc_cam_model_vit_forward_from_tokens(s->m, s->layer, ab, cls, n, logits);
}

/* HiResCAM at a ViT's last two layers is zero (sc_cam.h). */
static sc_status layer_check(void *ctx, sc_model_saliency_method mt) {
    layer_net *s = ctx;
    if (mt != SC_MSAL_HIRESCAM || s->vit_layer < s->depth - 2) return SC_OK;
    char alt[64] = "no layer of this ViT";
    if (s->depth > 2) snprintf(alt, sizeof alt, "encoder.layers.0 .. %d", s->depth - 3);
    if (s->vit_layer == s->depth - 1)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "hirescam is zero at %s, the last of this ViT's %d layers: its patch "
                            "tokens do not reach the class token the head reads; hirescam needs "
                            "%s",
                            s->layer, s->depth, alt);
    return sc_set_error(SC_ERR_UNSUPPORTED,
                        "hirescam is zero at %s of this %d-layer ViT: its patch tokens reach the "
                        "class token only through the next layer's LayerNorm, which a token's "
                        "scale does not change, so sum_c gradient x activation is 0 at every "
                        "patch; hirescam needs %s (gradcam and layercam work here)",
                        s->layer, s->depth, alt);
}

/* A ViT's attention rollout of x on the patch grid, scaled and resized to
 * the input tensor as a CAM. */
static sc_status layer_rollout(void *ctx, const float *x, float discard_ratio, float *map) {
    layer_net *s = ctx;
    const size_t P = (size_t)s->gh * s->gw;
    float *grid = sc_malloc(P * sizeof(float));
    if (!grid) return sc_set_error(SC_ERR_NOMEM, "rollout: out of memory");
    sc_status st = sc_cam_model_forward(s->m, x, 1, NULL, NULL, NULL);
    if (!st) st = sc_cam_model_vit_rollout(s->m, 0, discard_ratio, grid);
    if (!st) {
        sc_cam_scale(grid, P);
        st = sc_cam_resize_maps(grid, 1, s->gh, s->gw, s->in_h, s->in_w, 0, map);
    }
    sc_free(grid);
    return st;
}

static sc_status layer_prepare(void *ctx, const sc_image *img, float *x) {
    layer_net *s = ctx;
    return sc_cam_model_preprocess(s->m, img, x, &s->g);
}

/* The crop's map into the resized image (zero outside the crop), then
 * resized bilinearly to the image. */
static sc_status layer_to_image(void *ctx, const float *map, int w, int h, float *out) {
    layer_net *s = ctx;
    const sc_imagenet_geometry *g = &s->g;
    sc_map canvas = {0}, full = {0};
    sc_status st = sc_map_alloc(&canvas, g->resized_w, g->resized_h);
    if (st) return st;
    for (int y = 0; y < g->crop; y++) {
        int yy = g->crop_y0 + y;
        if (yy < 0 || yy >= g->resized_h) continue;
        for (int x = 0; x < g->crop; x++) {
            int xx = g->crop_x0 + x;
            if (xx >= 0 && xx < g->resized_w)
                canvas.data[(size_t)yy * g->resized_w + xx] = map[(size_t)y * g->crop + x];
        }
    }
    if (!(st = sc_map_resize_bilinear(&canvas, w, h, &full)))
        memcpy(out, full.data, (size_t)w * h * sizeof(float));
    sc_map_free(&canvas);
    sc_map_free(&full);
    return st;
}

static const char *layer_class_name(void *ctx, int k) {
    return sc_cam_model_class_name(((layer_net *)ctx)->m, k);
}

sc_status sc_cam_net_from_model(sc_cam_model *m, const char *layer, sc_cam_net *out) {
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_net_from_model: NULL");
    memset(out, 0, sizeof *out);
    sc_cam_model_info info;
    sc_status st = sc_cam_model_get_info(m, &info);
    if (st) return st;
    if (!layer) layer = info.default_layer;
    int C, h, w;
    if ((st = sc_cam_model_layer_shape(m, layer, &C, &h, &w))) return st;
    if (info.in_h != info.in_w)
        return sc_set_error(SC_ERR_UNSUPPORTED, "cam: a %d x %d input is not square", info.in_w,
                            info.in_h);
    layer_net *s = sc_calloc(1, sizeof *s);
    if (!s) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    s->m = m;
    s->K = info.num_classes;
    s->gh = h, s->gw = w, s->in_h = info.in_h, s->in_w = info.in_w;
    s->dim = C;
    s->vit_layer = -1;
    if (info.tokens) { /* "encoder.layers.N" or torchvision's "encoder.layers.encoder_layer_N" */
        int n = -1, end = 0;
        if (sscanf(layer, "encoder.layers.encoder_layer_%d%n", &n, &end) != 1 || layer[end])
            if (sscanf(layer, "encoder.layers.%d%n", &n, &end) != 1 || layer[end]) n = -1;
        s->vit_layer = n;
        s->depth = sc_cam_model_layer_count(m);
    }
    snprintf(s->layer, sizeof s->layer, "%s", layer);
    s->dl = sc_malloc((size_t)s->K * sizeof(float));
    s->lg = sc_malloc((size_t)s->K * sizeof(float));
    if (!s->dl || !s->lg) {
        layer_net_free(s);
        return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    }
    s->g.resized_w = s->g.resized_h = s->g.crop = info.in_w; /* until an image is prepared */
    out->ctx = s;
    out->in_c = info.in_channels, out->in_h = info.in_h, out->in_w = info.in_w;
    out->num_classes = s->K;
    out->act_c = C, out->act_h = h, out->act_w = w;
    out->max_batch = CAM_MAX_BATCH;
    out->layer = s->layer;
    out->forward = layer_forward;
    out->backward = layer_backward;
    out->forward_from = layer_forward_from;
    out->rollout = info.tokens ? layer_rollout : NULL;
    out->forward_ablated = info.tokens ? layer_forward_ablated : NULL;
    out->check = info.tokens ? layer_check : NULL;
    out->prepare = layer_prepare;
    out->to_image = layer_to_image;
    out->class_name = layer_class_name;
    out->release = layer_net_free;
    return SC_OK;
}
