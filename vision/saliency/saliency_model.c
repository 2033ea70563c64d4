/* saccade: model-based saliency (see sc_saliency_model.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_attention.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_grid.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_saliency_model.h"
#include "saccade/sc_blip_caption.h"
#include "saccade/sc_blip_itm.h"
#include "saccade/sc_vit_gpt2.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_util.h"
#include "saliency_internal.h"
#include "sc_internal.h"

/* ================================================================ kernels */
sc_status sc_gradcam(const float *fmap, const float *grad, int C, int h, int w, float *cam) {
    if (!fmap || !grad || !cam || C < 1 || h < 1 || w < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_gradcam: NULL argument or empty map");
    size_t hw = (size_t)h * w;
    double *acc = calloc(hw, sizeof *acc);
    if (!acc) return sc_set_error(SC_ERR_NOMEM, "sc_gradcam: out of memory");
    for (int c = 0; c < C; c++) {
        const float *g = grad + (size_t)c * hw, *f = fmap + (size_t)c * hw;
        double wc = 0;
        for (size_t i = 0; i < hw; i++) wc += g[i];
        wc /= (double)hw;
        for (size_t i = 0; i < hw; i++) acc[i] += wc * f[i];
    }
    double mx = 0;
    for (size_t i = 0; i < hw; i++) {
        if (!(acc[i] > 0)) acc[i] = 0; /* ReLU (NaN -> 0) */
        if (acc[i] > mx) mx = acc[i];
    }
    for (size_t i = 0; i < hw; i++) cam[i] = mx > 0 ? (float)(acc[i] / mx) : 0.0f;
    free(acc);
    return SC_OK;
}

sc_status sc_gradient_map(const float *grad, int C, int h, int w, float *map) {
    if (!grad || !map || C < 1 || h < 1 || w < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_gradient_map: NULL argument or empty map");
    size_t hw = (size_t)h * w;
    float mx = 0;
    for (size_t i = 0; i < hw; i++) {
        float v = 0;
        for (int c = 0; c < C; c++) {
            float a = fabsf(grad[(size_t)c * hw + i]);
            if (a > v) v = a;
        }
        map[i] = v;
        if (v > mx) mx = v;
    }
    for (size_t i = 0; i < hw; i++) map[i] = mx > 0 ? map[i] / mx : 0.0f;
    return SC_OK;
}

/* Divide a non-negative map by its maximum, or min-max normalise (minmax). */
static void normalise(sc_map *m, int minmax) {
    size_t n = (size_t)m->w * m->h;
    float lo = m->data[0], hi = m->data[0];
    for (size_t i = 1; i < n; i++) {
        if (m->data[i] < lo) lo = m->data[i];
        if (m->data[i] > hi) hi = m->data[i];
    }
    if (!minmax) lo = 0;
    if (lo < 0) lo = 0;
    float r = hi - lo;
    for (size_t i = 0; i < n; i++) {
        float v = r > 0 ? (m->data[i] - lo) / r : 0.0f;
        m->data[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
}

/* ================================================================ names */
const char *sc_saliency_model_kind_name(sc_saliency_model_kind k) {
    switch (k) {
    case SC_SMODEL_CAPTIONER:
        return "captioner";
    case SC_SMODEL_CLASSIFIER:
        return "classifier";
    case SC_SMODEL_STCNN:
        return "stcnn";
    case SC_SMODEL_BLIP:
        return "blip";
    case SC_SMODEL_IMAGENET:
        return "imagenet";
    case SC_SMODEL_BLIP_ITM:
        return "blip-itm";
    case SC_SMODEL_VIT_GPT2:
        return "vit-gpt2";
    }
    return "unknown";
}

sc_model_saliency_params sc_model_saliency_default_params(void) {
    sc_model_saliency_params p;
    memset(&p, 0, sizeof p);
    p.beam = sc_captioner_beam_default_params();
    p.beam.beam_size = 5; /* as 'saccade caption' */
    p.word = NULL;
    p.aggregate = SC_SAL_AGG_MEAN;
    p.target = -1;
    p.cam = sc_cam_default_params();
    p.itm_layer = -1;
    return p;
}

/* ================================================================ classifier */
static sc_status check_target(int target, int K, int *k) {
    if (target < -1 || target >= K)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "class %d is out of range (the model has %d: 0..%d)", target, K, K - 1);
    *k = target;
    return SC_OK;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

/* Grad-CAM at the last stage through the CAM model (sc_cam.h), divided by
 * its maximum (sc_gradcam), and placed on the input by the model. x is the
 * model's input tensor. */
static sc_status gradcam_via(sc_cam_net *cm, const float *x, int target, float *cam, float *map,
                             int *target_out, double *logit) {
    const size_t as = (size_t)cm->act_c * cm->act_h * cm->act_w, hw = (size_t)cm->act_h * cm->act_w;
    float *lg = sc_malloc((size_t)cm->num_classes * sizeof(float)),
          *act = sc_malloc(as * sizeof(float)), *dact = sc_malloc(as * sizeof(float)),
          *c0 = sc_malloc(hw * sizeof(float));
    int k = -1;
    sc_status s = !lg || !act || !dact || !c0 ? sc_set_error(SC_ERR_NOMEM, "gradcam: out of memory")
                                              : check_target(target, cm->num_classes, &k);
    if (!s && k < 0 && !(s = cm->forward(cm->ctx, x, 1, lg, NULL))) k = argmax(lg, cm->num_classes);
    if (!s) s = cm->backward(cm->ctx, x, k, lg, act, dact, NULL);
    if (!s) s = sc_gradcam(act, dact, cm->act_c, cm->act_h, cm->act_w, c0);
    if (!s && map)
        s = cm->place ? cm->place(cm->ctx, c0, 1, 0, map)
                      : sc_cam_resize_maps(c0, 1, cm->act_h, cm->act_w, cm->in_h, cm->in_w, 0, map);
    if (!s) {
        if (cam) memcpy(cam, c0, hw * sizeof(float));
        if (target_out) *target_out = k;
        if (logit) *logit = lg[k];
    }
    sc_free(lg), sc_free(act), sc_free(dact), sc_free(c0);
    return s;
}

sc_status sc_classifier_gradcam(sc_classifier *m, const float *x, int target, float *cam,
                                float *map, int *target_out, double *logit) {
    if (!m || !x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_gradcam: NULL argument");
    const sc_classifier_config *c = sc_classifier_get_config(m);
    const size_t hw = (size_t)c->in_h * c->in_w;
    sc_cam_net cm;
    sc_status s = sc_cam_net_classifier(m, NULL, &cm);
    if (s) return s;
    float *xn = sc_malloc((size_t)c->encoder.in_channels * hw * sizeof(float));
    if (!xn) s = sc_set_error(SC_ERR_NOMEM, "gradcam: out of memory");
    for (int ch = 0; !s && ch < c->encoder.in_channels; ch++)
        for (size_t i = 0; i < hw; i++)
            xn[ch * hw + i] = (x[ch * hw + i] - c->mean[ch]) / c->std[ch];
    if (!s) s = gradcam_via(&cm, xn, target, cam, map, target_out, logit);
    sc_free(xn);
    sc_cam_net_release(&cm);
    return s;
}

static sc_status onehot_target(const float *logits, int K, int target, int *k, float **dl) {
    sc_status s = check_target(target, K, k);
    if (s) return s;
    if (*k < 0) *k = argmax(logits, K);
    *dl = sc_calloc((size_t)K, sizeof(float));
    if (!*dl) return sc_set_error(SC_ERR_NOMEM, "gradient: out of memory");
    (*dl)[*k] = 1.0f;
    return SC_OK;
}

/* Shared tail of the input-gradient methods: dx -> map. */
static sc_status grad_tail(float *gx, int C, int H, int W, float *dx, float *map) {
    size_t n = (size_t)C * H * W;
    if (dx) memcpy(dx, gx, n * sizeof(float));
    return map ? sc_gradient_map(gx, C, H, W, map) : SC_OK;
}

sc_status sc_classifier_gradient(sc_classifier *m, const float *x, int target, float *dx,
                                 float *map, int *target_out, double *logit) {
    if (!m || !x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_gradient: NULL argument");
    const sc_classifier_config *c = sc_classifier_get_config(m);
    const float *logits;
    sc_status s = sc_classifier_forward(m, x, 1, 0, NULL, &logits);
    if (s) return s;
    int k = -1;
    float *dl = NULL;
    if ((s = onehot_target(logits, c->num_classes, target, &k, &dl))) return s;
    if (logit) *logit = logits[k];
    if (target_out) *target_out = k;
    size_t n = (size_t)c->encoder.in_channels * c->in_h * c->in_w;
    float *gx = sc_calloc(n, sizeof(float));
    if (!gx) s = sc_set_error(SC_ERR_NOMEM, "gradient: out of memory");
    if (!s) s = sc_classifier_backward(m, dl, gx);
    if (!s) s = grad_tail(gx, c->encoder.in_channels, c->in_h, c->in_w, dx, map);
    sc_free(gx);
    sc_free(dl);
    return s;
}

/* ================================================================ ST-CNN */
sc_status sc_stcnn_gradcam(sc_stcnn *m, const float *x, int target, float *cam, float *map,
                           int *target_out, double *logit) {
    if (!m || !x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_gradcam: NULL argument");
    sc_cam_net cm;
    sc_status s = sc_cam_net_stcnn(m, NULL, &cm);
    if (s) return s;
    s = gradcam_via(&cm, x, target, cam, map, target_out, logit);
    sc_cam_net_release(&cm);
    return s;
}

sc_status sc_stcnn_gradient(sc_stcnn *m, const float *x, int target, float *dx, float *map,
                            int *target_out, double *logit) {
    if (!m || !x) return sc_set_error(SC_ERR_INVALID_ARG, "sc_stcnn_gradient: NULL argument");
    const sc_stn_config *sc = sc_stn_get_config(sc_stcnn_stn(m));
    const float *logits;
    sc_status s = sc_stcnn_forward(m, x, 1, 0, NULL, &logits);
    if (s) return s;
    int k = -1;
    float *dl = NULL;
    int K = sc_classifier_get_config(sc_stcnn_classifier(m))->num_classes;
    if ((s = onehot_target(logits, K, target, &k, &dl))) return s;
    if (logit) *logit = logits[k];
    if (target_out) *target_out = k;
    size_t n = (size_t)sc->in_c * sc->in_h * sc->in_w;
    float *gx = sc_calloc(n, sizeof(float));
    if (!gx) s = sc_set_error(SC_ERR_NOMEM, "gradient: out of memory");
    if (!s) s = sc_stcnn_backward(m, dl, gx);
    if (!s) s = grad_tail(gx, sc->in_c, sc->in_h, sc->in_w, dx, map);
    sc_free(gx);
    sc_free(dl);
    return s;
}

/* ================================================================ captioner */
sc_status sc_captioner_logprob_grad(sc_captioner *m, const float *features, const int32_t *tokens,
                                    int n, int t, double *logp, float *dfeatures) {
    if (!m || !features || !tokens || !dfeatures)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_logprob_grad: NULL argument");
    if (n < 2 || t < 0 || t >= n)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_logprob_grad: step %d of %d tokens (need n >= 2, "
                            "0 <= t < n)",
                            t, n);
    const sc_captioner_config *cfg = sc_captioner_get_config(m);
    const size_t nf = (size_t)cfg->grid * cfg->grid * cfg->encoder_dim;
    const sc_param *pl;
    size_t np;
    sc_status s = sc_captioner_params(m, &pl, &np); /* backward needs the grads */
    if (s) return s;
    float *d2 = sc_calloc(nf, sizeof(float));
    if (!d2) return sc_set_error(SC_ERR_NOMEM, "sc_captioner_logprob_grad: out of memory");
    sc_caption_loss_opts o = {
        .alpha_c = 0.0f, .train = 0, .backward = 1, .att_sup = 0.0f, .item_heads = 0.0f};
    /* The loss is the mean cross-entropy over the targets tokens[1..L-1]:
     * sum_{j<L} -log p_j = (L - 1) * ce. One step's log-probability is the
     * difference of two prefixes' sums (teacher forcing is causal). */
    int L1 = t == 0 ? n : t + 1, L2 = t <= 1 ? 0 : t;
    int32_t len1 = L1, len2 = L2;
    sc_caption_batch b1 = {1, L1, tokens, &len1, NULL, NULL},
                     b2 = {1, L2, tokens, &len2, NULL, NULL};
    sc_caption_loss r1, r2;
    memset(dfeatures, 0, nf * sizeof(float));
    s = sc_captioner_loss(m, features, &b1, &o, NULL, &r1, dfeatures);
    if (!s && L2) s = sc_captioner_loss(m, features, &b2, &o, NULL, &r2, d2);
    if (!s) {
        double s1 = r1.ce * (double)(L1 - 1), s2 = L2 ? r2.ce * (double)(L2 - 1) : 0.0;
        if (logp) *logp = -(s1 - s2);
        for (size_t i = 0; i < nf; i++)
            dfeatures[i] = -((float)(L1 - 1) * dfeatures[i] - (float)(L2 ? L2 - 1 : 0) * d2[i]);
    }
    sc_free(d2);
    return s;
}

/* (P, E) -> (E, P). */
static void transpose_pe(const float *x, int P, int E, float *out) {
    for (int p = 0; p < P; p++)
        for (int e = 0; e < E; e++) out[(size_t)e * P + p] = x[(size_t)p * E + e];
}

static sc_status cap_compute(sc_captioner *m, sc_model_saliency_method method, const sc_image *img,
                             const sc_model_saliency_params *p, sc_map *out,
                             sc_model_saliency_info *info) {
    const sc_captioner_config *cfg = sc_captioner_get_config(m);
    const sc_vocab *voc = sc_captioner_get_vocab(m);
    const int G = cfg->grid, P = G * G, E = cfg->encoder_dim, S = cfg->image_size;
    if (cfg->encoder == SC_CAP_ENC_FEATURES)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "the captioner has no image encoder (features model): it cannot look "
                            "at an image");
    if (method == SC_MSAL_GRADIENT && cfg->encoder != SC_CAP_ENC_CNN &&
        cfg->encoder != SC_CAP_ENC_VIT)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "input gradients need a captioner with a cnn or vit encoder (this "
                            "one's encoder is \"%s\", inference only); use --method gradcam",
                            cfg->encoder_arch);
    if (method == SC_MSAL_ROLLOUT && cfg->encoder != SC_CAP_ENC_VIT)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "attention rollout needs a model with a ViT encoder; this captioner "
                            "has a \"%s\" encoder",
                            cfg->encoder_arch[0] ? cfg->encoder_arch : "features");
    if (method == SC_MSAL_ROLLOUT && p->rollout_cls && p->word)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "rollout from the class token explains the encoder, not a word");
    if (!(p->discard_ratio >= 0.0f && p->discard_ratio < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG, "saliency: discard ratio must be in [0, 1)");
    sc_image pre = {0};
    float *feat = NULL, *dfeat = NULL, *tmp = NULL, *tmp2 = NULL, *cam = NULL, *dimg = NULL;
    int32_t *seq = NULL;
    sc_caption_result r;
    memset(&r, 0, sizeof r);
    sc_map small = {0};
    sc_status s = sc_captioner_preprocess(m, img, &pre);
    if (s) goto done;
    feat = sc_malloc((size_t)P * E * sizeof(float));
    dfeat = sc_malloc((size_t)P * E * sizeof(float));
    if (!feat || !dfeat) {
        s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
        goto done;
    }
    if ((s = sc_captioner_encode(m, pre.data, S, S, feat))) goto done;
    if ((s = sc_captioner_beam_search(m, feat, &p->beam, &r))) goto done;
    const sc_caption_hyp *hy = &r.hyps[0];
    if (info) {
        snprintf(info->caption, sizeof info->caption, "%s", r.text ? r.text : "");
        info->step = -1;
        info->target = -1;
        info->score = hy->score;
    }
    int step = -1;
    if (p->word) {
        for (int t = 0; t < hy->len && step < 0; t++)
            if (r.words[t] && !strcmp(r.words[t], p->word) && hy->tokens[t] != voc->end) step = t;
        if (step < 0) {
            s = sc_set_error(SC_ERR_INVALID_ARG, "the word '%s' is not in the caption \"%s\"",
                             p->word, r.text ? r.text : "");
            goto done;
        }
        if (info) {
            info->step = step;
            info->target = hy->tokens[step];
            info->score = hy->logprobs[step];
        }
    }
    if (method == SC_MSAL_ROLLOUT && p->rollout_cls) {
        int gv;
        if (!(cam = sc_malloc((size_t)S * S * sizeof(float)))) {
            s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
            goto done;
        }
        if ((s = sc_captioner_encoder_rollout(m, 0, p->discard_ratio, NULL, cam, &gv, NULL)) ||
            (s = sc_attention_upsample(cam, gv, img->w, img->h, out)))
            goto done;
        normalise(out, 1);
        goto done;
    }
    if (method == SC_MSAL_ATTENTION || method == SC_MSAL_ROLLOUT) {
        if (!(tmp = sc_calloc((size_t)P, sizeof(float)))) {
            s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
            goto done;
        }
        if (step >= 0) {
            memcpy(tmp, hy->alphas + (size_t)step * P, (size_t)P * sizeof(float));
        } else {
            int nw = hy->len;
            if (nw > 1 && hy->tokens[nw - 1] == voc->end) nw--; /* the words, not <end> */
            for (int t = 0; t < nw; t++)
                for (int q = 0; q < P; q++) {
                    float a = hy->alphas[(size_t)t * P + q];
                    if (p->aggregate == SC_SAL_AGG_MAX)
                        tmp[q] = t == 0 || a > tmp[q] ? a : tmp[q];
                    else
                        tmp[q] += a / (float)nw;
                }
        }
        if (method == SC_MSAL_ROLLOUT) { /* the decoder's attention, through the ViT */
            int gv;
            if (!(cam = sc_malloc((size_t)S * S * sizeof(float)))) {
                s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
                goto done;
            }
            if ((s = sc_captioner_encoder_rollout(m, 0, p->discard_ratio, tmp, cam, &gv, NULL)) ||
                (s = sc_attention_upsample(cam, gv, img->w, img->h, out)))
                goto done;
        } else if ((s = sc_attention_upsample(tmp, G, img->w, img->h, out))) {
            goto done;
        }
        normalise(out, 1);
        goto done;
    }
    /* gradcam / gradient: d log p / d features for the word (or the caption) */
    int n = hy->len + 1;
    if (!(seq = malloc((size_t)n * sizeof *seq))) {
        s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
        goto done;
    }
    seq[0] = voc->start;
    memcpy(seq + 1, hy->tokens, (size_t)hy->len * sizeof *seq);
    double lp;
    if ((s = sc_captioner_logprob_grad(m, feat, seq, n, step >= 0 ? step + 1 : 0, &lp, dfeat)))
        goto done;
    if (info) info->score = lp;
    if (method == SC_MSAL_GRADCAM) {
        tmp = sc_malloc((size_t)P * E * sizeof(float));
        tmp2 = sc_malloc((size_t)P * E * sizeof(float));
        cam = sc_malloc((size_t)P * sizeof(float));
        if (!tmp || !tmp2 || !cam) {
            s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
            goto done;
        }
        transpose_pe(feat, P, E, tmp);
        transpose_pe(dfeat, P, E, tmp2);
        if ((s = sc_gradcam(tmp, tmp2, E, G, G, cam)) ||
            (s = sc_attention_upsample(cam, G, img->w, img->h, out)))
            goto done;
        normalise(out, 0);
    } else {
        size_t plane = (size_t)S * S;
        if (!(dimg = sc_calloc(3 * plane, sizeof(float))) || sc_map_alloc(&small, S, S)) {
            s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
            goto done;
        }
        if ((s = sc_captioner_encode_input_backward(m, dfeat, dimg))) goto done;
        for (int c = 0; c < 3; c++) /* normalised -> pixel units */
            for (size_t i = 0; i < plane; i++) dimg[c * plane + i] /= SC_IMAGENET_STD[c];
        if ((s = sc_gradient_map(dimg, 3, S, S, small.data)) ||
            (s = sc_map_resize_bilinear(&small, img->w, img->h, out)))
            goto done;
        normalise(out, 0);
    }
done:
    if (s) sc_map_free(out);
    sc_image_free(&pre);
    sc_caption_result_free(&r);
    sc_map_free(&small);
    sc_free(feat);
    sc_free(dfeat);
    sc_free(tmp);
    sc_free(tmp2);
    sc_free(cam);
    sc_free(dimg);
    free(seq);
    return s;
}

/* ================================================================ model */
struct sc_saliency_model {
    sc_saliency_model_kind kind;
    sc_blip *blip;
    sc_blip_itm *itm;
    sc_vit_gpt2 *vg;
    sc_captioner *cap;
    sc_classifier *cls;
    sc_stcnn *st;
    sc_cam_model *inet; /* a torchvision classifier seen from its layers */
    sc_cam_net cam;     /* classifiers: the CAM model of cam_layer, made on first use */
    int have_cam;
    char cam_layer[64];
};

sc_status sc_saliency_model_load(const char *path, sc_saliency_model **out) {
    if (!out || !path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_model_load: NULL");
    *out = NULL;
    sc_model_kind kind;
    sc_status s = sc_model_probe(path, &kind);
    if (s) return s;
    sc_saliency_model *m = sc_calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (kind == SC_MODEL_STCNN) {
        m->kind = SC_SMODEL_STCNN;
        s = sc_stcnn_load(path, &m->st);
    } else if (kind == SC_MODEL_CLASSIFIER) {
        m->kind = SC_SMODEL_CLASSIFIER;
        s = sc_classifier_load(path, &m->cls);
    } else if (kind == SC_MODEL_CAPTIONER) {
        m->kind = SC_SMODEL_CAPTIONER;
        s = sc_captioner_load(path, &m->cap);
    } else if (kind == SC_MODEL_BLIP && sc_blip_is_itm(path)) {
        m->kind = SC_SMODEL_BLIP_ITM;
        s = sc_blip_itm_load(path, &m->itm);
    } else if (kind == SC_MODEL_RESNET || kind == SC_MODEL_VIT_CLASSIFIER) {
        m->kind = SC_SMODEL_IMAGENET;
        s = sc_cam_model_load(path, &m->inet);
    } else if (kind == SC_MODEL_BLIP) {
        m->kind = SC_SMODEL_BLIP;
        s = sc_blip_load(path, &m->blip);
    } else if (kind == SC_MODEL_VIT_GPT2) {
        m->kind = SC_SMODEL_VIT_GPT2;
        s = sc_vit_gpt2_load(path, &m->vg);
    } else {
        s = sc_set_error(SC_ERR_UNSUPPORTED,
                         "%s: a %s model; model saliency takes a captioner, BLIP, ViT-GPT2, a "
                         "classifier, an ST-CNN or a torchvision classifier",
                         path, sc_model_kind_name(kind));
    }
    if (s) {
        sc_saliency_model_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

void sc_saliency_model_free(sc_saliency_model *m) {
    if (!m) return;
    sc_cam_net_release(&m->cam);
    sc_cam_model_free(m->inet);
    sc_captioner_free(m->cap);
    sc_blip_free(m->blip);
    sc_blip_itm_free(m->itm);
    sc_vit_gpt2_free(m->vg);
    sc_classifier_free(m->cls);
    sc_stcnn_free(m->st);
    sc_free(m);
}

sc_saliency_model_kind sc_saliency_model_get_kind(const sc_saliency_model *m) {
    return m->kind;
}
sc_captioner *sc_saliency_model_captioner(sc_saliency_model *m) {
    return m ? m->cap : NULL;
}
sc_classifier *sc_saliency_model_classifier(sc_saliency_model *m) {
    return m ? m->cls : NULL;
}
sc_stcnn *sc_saliency_model_stcnn(sc_saliency_model *m) {
    return m ? m->st : NULL;
}
sc_blip *sc_saliency_model_blip(sc_saliency_model *m) {
    return m ? m->blip : NULL;
}
sc_blip_itm *sc_saliency_model_blip_itm(sc_saliency_model *m) {
    return m ? m->itm : NULL;
}
sc_vit_gpt2 *sc_saliency_model_vit_gpt2(sc_saliency_model *m) {
    return m ? m->vg : NULL;
}

/* BLIP image-text matching: the Grad-CAM of p->text. */
static sc_status itm_compute(sc_blip_itm *r, sc_model_saliency_method method, const sc_image *img,
                             const sc_model_saliency_params *p, sc_map *out,
                             sc_model_saliency_info *info) {
    if (method != SC_MSAL_ITM)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "a BLIP image-text matching model explains a text with itm, not %s",
                            sc_model_saliency_method_name(method));
    if (!p->text || !p->text[0])
        return sc_set_error(SC_ERR_INVALID_ARG, "itm saliency needs a text to find");
    sc_blip_match mt;
    sc_status s = sc_blip_itm_saliency(r, img, p->text, p->itm_layer, out, &mt);
    if (s) return s;
    if (info) {
        snprintf(info->caption, sizeof info->caption, "%s", p->text);
        info->score = mt.itm_logits[1]; /* the differentiated quantity */
    }
    sc_blip_match_free(&mt);
    return SC_OK;
}

/* An encoder-decoder captioner (BLIP, ViT-GPT2) that generates its caption
 * with the default settings (gradcam: with the gradient-weighted maps too). */
typedef sc_status (*caption_fn)(void *model, const sc_image *img, int gradcam, sc_blip_result *r);

static sc_status blip_caption(void *model, const sc_image *img, int gradcam, sc_blip_result *r) {
    sc_blip_generate_params gp = sc_blip_default_generate_params(model);
    gp.gradcam = gradcam;
    return sc_blip_caption_image(model, img, NULL, 0, &gp, r);
}

static sc_status vit_gpt2_caption(void *model, const sc_image *img, int gradcam,
                                  sc_blip_result *r) {
    sc_blip_generate_params gp = sc_vit_gpt2_default_generate_params(model);
    gp.gradcam = gradcam;
    return sc_vit_gpt2_caption_image(model, img, &gp, r);
}

/* BLIP or ViT-GPT2 (who names it): its caption's cross-attention (or
 * gradient-weighted cross-attention) for the word, or aggregated over the
 * caption's tokens. */
static sc_status decoder_compute(void *model, caption_fn caption, const char *who,
                                 sc_model_saliency_method method, const sc_image *img,
                                 const sc_model_saliency_params *p, sc_map *out,
                                 sc_model_saliency_info *info) {
    if (method != SC_MSAL_ATTENTION && method != SC_MSAL_GRADCAM)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s explains words with attention or gradcam (its gradient-weighted "
                            "cross-attention), not %s",
                            who, sc_model_saliency_method_name(method));
    if (p->target != -1)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "a class target is for classifiers; a captioner explains a word");
    sc_blip_result r;
    sc_status s = caption(model, img, method == SC_MSAL_GRADCAM, &r);
    if (s) return s;
    const sc_blip_caption *k = &r.caption;
    const int G = k->grid, P = G * G;
    const float *maps = method == SC_MSAL_GRADCAM ? k->gradcam : k->attention;
    /* the word's tokens [step, end): a piece as spelt in the vocabulary,
     * else a whole word (sc_blip_merge_words), whose map is its pieces' mean */
    int step = -1, end = -1;
    for (int t = 0; p->word && t < k->n && step < 0; t++)
        if (!strcmp(r.pieces[t], p->word)) step = t, end = t + 1;
    for (int w = 0; p->word && w < r.n_words && step < 0; w++)
        if (!strcmp(r.words[w], p->word)) step = r.word_start[w], end = r.word_start[w + 1];
    float *tmp = sc_calloc((size_t)P, sizeof(float));
    if (!tmp)
        s = sc_set_error(SC_ERR_NOMEM, "saliency: out of memory");
    else if (p->word && step < 0)
        s = sc_set_error(SC_ERR_INVALID_ARG, "the word '%s' is not in the caption \"%s\"", p->word,
                         r.text);
    else if (!maps || k->n < 1)
        s = sc_set_error(SC_ERR_INTERNAL, "%s produced no tokens to explain", who);
    for (int t = 0; !s && t < k->n; t++) {
        if (step >= 0 && (t < step || t >= end)) continue;
        const int nw = step >= 0 ? end - step : k->n;
        for (int q = 0; q < P; q++) {
            float a = maps[(size_t)t * P + q];
            if (p->aggregate == SC_SAL_AGG_MAX && step < 0)
                tmp[q] = t == 0 || a > tmp[q] ? a : tmp[q];
            else
                tmp[q] += a / (float)nw;
        }
    }
    if (!s) s = sc_attention_upsample(tmp, G, img->w, img->h, out);
    if (!s) normalise(out, method == SC_MSAL_ATTENTION);
    if (!s && info) {
        snprintf(info->caption, sizeof info->caption, "%s", r.text);
        info->step = step;
        info->target = step >= 0 ? k->ids[step] : -1;
        info->score = k->score;
    }
    sc_free(tmp);
    sc_blip_result_free(&r);
    return s;
}

/* The CAM model of a classifier or ST-CNN at layer (NULL: the last stage),
 * kept for the next call. */
static sc_status cam_model(sc_saliency_model *m, const char *layer_or_null) {
    const char *layer = layer_or_null ? layer_or_null : "";
    if (m->have_cam && !strcmp(m->cam_layer, layer)) return SC_OK;
    if (strlen(layer) >= sizeof m->cam_layer)
        return sc_set_error(SC_ERR_INVALID_ARG, "unknown layer '%.60s...'", layer);
    sc_cam_net_release(&m->cam);
    m->have_cam = 0;
    sc_status s;
    if (m->kind == SC_SMODEL_STCNN)
        s = sc_cam_net_stcnn(m->st, layer_or_null, &m->cam);
    else if (m->kind == SC_SMODEL_IMAGENET)
        s = sc_cam_net_from_model(m->inet, layer_or_null, &m->cam);
    else
        s = sc_cam_net_classifier(m->cls, layer_or_null, &m->cam);
    if (s) return s;
    m->have_cam = 1;
    snprintf(m->cam_layer, sizeof m->cam_layer, "%s", layer);
    return SC_OK;
}

/* The CAM options with the rollout's discard ratio of p (one setting for
 * captioners and classifiers). */
static sc_cam_params cam_params(const sc_model_saliency_params *p) {
    sc_cam_params cp = p->cam;
    cp.discard_ratio = p->discard_ratio;
    return cp;
}

sc_status sc_saliency_model_class(sc_saliency_model *m, const char *name_or_index, int *k) {
    if (!m || !name_or_index || !k)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_model_class: NULL argument");
    if (m->kind != SC_SMODEL_CLASSIFIER && m->kind != SC_SMODEL_STCNN &&
        m->kind != SC_SMODEL_IMAGENET)
        return sc_set_error(SC_ERR_UNSUPPORTED, "classes are for classifiers; this model is a %s",
                            sc_saliency_model_kind_name(m->kind));
    sc_status s = cam_model(m, m->have_cam ? (m->cam_layer[0] ? m->cam_layer : NULL) : NULL);
    return s ? s : sc_cam_class_from_string(&m->cam, name_or_index, k);
}

sc_status sc_saliency_model_faithfulness(sc_saliency_model *m, sc_model_saliency_method method,
                                         const sc_image *img, const sc_model_saliency_params *p,
                                         int step, float road_noise, sc_faithfulness *out,
                                         sc_model_saliency_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !img || !img->data || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_model_faithfulness: NULL argument");
    if (m->kind != SC_SMODEL_CLASSIFIER && m->kind != SC_SMODEL_STCNN &&
        m->kind != SC_SMODEL_IMAGENET)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "faithfulness scores are for classifiers; this model is a %s",
                            sc_saliency_model_kind_name(m->kind));
    sc_model_saliency_params def = sc_model_saliency_default_params();
    if (!p) p = &def;
    sc_status s = cam_model(m, p->layer);
    if (s) return s;
    const sc_cam_net *cm = &m->cam;
    const size_t HW = (size_t)cm->in_h * cm->in_w;
    float *x = sc_malloc((size_t)cm->in_c * HW * sizeof(float)),
          *map = sc_malloc(HW * sizeof(float));
    sc_cam_info ci;
    if (!x || !map) s = sc_set_error(SC_ERR_NOMEM, "faithfulness: out of memory");
    if (!s) s = cm->prepare(cm->ctx, img, x);
    sc_cam_params cp = cam_params(p);
    if (!s) s = sc_cam_compute(cm, method, x, p->target, &cp, map, &ci);
    if (!s) s = sc_cam_faithfulness(cm, x, map, ci.target, step, road_noise, &cp, out);
    if (!s && info) {
        memset(info, 0, sizeof *info);
        info->step = -1;
        info->target = ci.target;
        info->score = ci.logit;
        const char *cn = cm->class_name ? cm->class_name(cm->ctx, ci.target) : NULL;
        snprintf(info->caption, sizeof info->caption, "%s", cn ? cn : "");
    }
    sc_free(x), sc_free(map);
    return s;
}

sc_status sc_saliency_model_compute(sc_saliency_model *m, sc_model_saliency_method method,
                                    const sc_image *img, const sc_model_saliency_params *p,
                                    sc_map *out, sc_model_saliency_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !img || !img->data || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_model_compute: NULL argument");
    if (img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG, "saliency: image must have 1, 3 or 4 channels");
    sc_model_saliency_params def = sc_model_saliency_default_params();
    if (!p) p = &def;
    if (info) {
        memset(info, 0, sizeof *info);
        info->step = -1;
        info->target = -1;
        info->score = NAN;
    }
    const char *kn = sc_saliency_model_kind_name(m->kind);
    if (m->kind == SC_SMODEL_BLIP_ITM) return itm_compute(m->itm, method, img, p, out, info);
    if (method == SC_MSAL_ITM)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "itm needs a BLIP image-text matching model (a Hugging Face "
                            "BlipForImageTextRetrieval folder); this is a %s",
                            kn);
    if (m->kind == SC_SMODEL_BLIP)
        return decoder_compute(m->blip, blip_caption, "BLIP", method, img, p, out, info);
    if (m->kind == SC_SMODEL_VIT_GPT2)
        return decoder_compute(m->vg, vit_gpt2_caption, "ViT-GPT2", method, img, p, out, info);
    if (!sc_model_saliency_method_name(method))
        return sc_set_error(SC_ERR_INVALID_ARG, "saliency: unknown method %d", (int)method);
    if (m->kind == SC_SMODEL_CAPTIONER && method != SC_MSAL_ATTENTION &&
        method != SC_MSAL_GRADCAM && method != SC_MSAL_GRADIENT && method != SC_MSAL_ROLLOUT)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s is for classifiers; a captioner explains words with attention, "
                            "gradcam, gradient or rollout",
                            sc_model_saliency_method_name(method));
    if (m->kind == SC_SMODEL_CAPTIONER) {
        if (p->target != -1)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "a class target is for classifiers; a captioner explains a word");
        return cap_compute(m->cap, method, img, p, out, info);
    }
    if (method == SC_MSAL_ATTENTION)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "attention maps need a captioner (this model is a %s; use gradcam or "
                            "gradient)",
                            kn);
    if (p->word)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "a word target is for captioners; this model is a %s (choose a class)",
                            kn);
    sc_status s = cam_model(m, p->layer);
    if (s) return s;
    sc_cam_info ci;
    sc_cam_params cp = cam_params(p);
    if ((s = sc_cam_compute_image(&m->cam, method, img, p->target, &cp, out, &ci))) return s;
    if (info) {
        info->target = ci.target;
        info->score = ci.logit;
        const char *cn = m->cam.class_name ? m->cam.class_name(m->cam.ctx, ci.target) : NULL;
        snprintf(info->caption, sizeof info->caption, "%s", cn ? cn : "");
    }
    return SC_OK;
}
