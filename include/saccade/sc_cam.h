/* saccade: the CAM family and input attributions on any classifier, through a
 * small model interface (sc_cam_net), and their faithfulness scores.
 *
 * Methods (sc_model_saliency_method; definitions as jacobgil/pytorch-grad-cam
 * 1.5.5 and Captum compute them). A = the chosen layer's activation (C, h, w),
 * G = d logit_k / d A (the raw logit of class k, no softmax):
 *   gradcam       w_c = mean_ij G;                    cam = sum_c w_c A_c
 *   gradcam++     a = G^2 / (2 G^2 + sum_ij A_c G^3 + 1e-6), 0 where G = 0;
 *                 w_c = sum_ij ReLU(G) a;             cam = sum_c w_c A_c
 *   xgradcam      w_c = sum_ij G A / (sum_ij A_c + 1e-7)
 *   hirescam      cam = sum_c G A (refused at a ViT's last two layers, where
 *                 it is zero: see sc_cam_net_from_model)
 *   layercam      cam = sum_c ReLU(G) A
 *   eigencam      cam = projection of A on its first principal component
 *   eigengradcam  the same for G A
 *   scorecam      each channel upsampled to the input tensor (bilinear,
 *                 align_corners = 1), min-max scaled per channel ((a - min) /
 *                 (max - min + 1e-8)), multiplied into the input tensor; w =
 *                 softmax over channels of the masked inputs' logits k
 *   ablationcam   w_c = (s - s_c) / s, s the logit, s_c the logit with channel
 *                 c of A set to 0 (or to min(A) - 1e7 when min(A) != 0), the
 *                 network run on from the layer. A ViT: channel c of every
 *                 token, the class token's too (pytorch-grad-cam's
 *                 AblationLayerVit); min(A) over the patch tokens.
 *                 pytorch-grad-cam's value drifts within a batch (copy j of
 *                 a batch gets the batch's running minimum - 1e7, about
 *                 min(A) - (j + 1) 1e7); behind the next LayerNorm the
 *                 logits do not depend on it beyond float rounding, so
 *                 saccade gives every copy min(A) - 1e7
 *   gradient      max over input channels of |d logit / d x| (Simonyan et al.)
 *   smoothgrad    Captum's NoiseTunnel over Saliency: the mean of |d logit /
 *                 d x| over `samples` inputs x + N(0, stdev^2), then the max
 *                 over channels
 *   intgrad       Integrated Gradients (Captum's defaults): baseline 0,
 *                 Gauss-Legendre rule with `steps` nodes on [0, 1], attribution
 *                 x * sum_i w_i grad(alpha_i x); map = |sum over channels|
 *                 (Captum's visualisation, sign "absolute_value")
 *   rollout       attention rollout (Abnar & Zuidema 2020; ViT models only),
 *                 as jacobgil/vit-explain's rollout with head_fusion "mean":
 *                 per layer the heads' mean attention A, the share
 *                 discard_ratio of its smallest entries (by value, ties by
 *                 index; never the class token's own entry) set to 0, then
 *                 (A + I) with every row renormalised to sum 1, multiplied
 *                 through the layers (R = A_l ... A_1); the map is the class
 *                 token's row over the patches (G x G), scaled and placed on
 *                 the input tensor as a CAM (below). vit-explain writes the
 *                 renormalisation as a / a.sum(dim=-1), which broadcasts
 *                 over columns (divides column j by row j's sum); with
 *                 discard_ratio 0 every row of (A + I) / 2 already sums to 1
 *                 and the two agree; with discards saccade renormalises
 *                 rows, as the paper and vit-explain's comment intend. No
 *                 class is involved (the map is the same for every target).
 * The gradient methods differentiate w.r.t. the input tensor the model is
 * fed (normalised, as a PyTorch user's input_tensor).
 *
 * Choices taken from pytorch-grad-cam: every CAM is ReLU'd, min-max scaled
 * ((cam - min) / (max + 1e-7) after subtracting the min, an absolute 1e-7),
 * resized to the input tensor (bilinear, align_corners = 0, as cv2.resize),
 * ReLU'd and scaled again. The gradient methods are min-max scaled the same
 * way. eigen_smooth replaces "sum over channels" by the first principal
 * component's projection for gradcam, gradcam++, xgradcam, scorecam,
 * ablationcam, hirescam and layercam. aug_smooth averages the final maps of 6
 * test-time augmentations (ttach's HorizontalFlip x Multiply(0.9, 1, 1.1) in
 * that product order), each flipped back; the class is resolved once on the
 * unaugmented input. Principal component sign: pytorch-grad-cam leaves it to
 * LAPACK's SVD (arbitrary); saccade flips the first right-singular vector v
 * (over channels) so that sum_c v_c >= 0 (for ReLU activations: the direction
 * of more activation) and its reference applies the same rule to numpy's SVD.
 *
 * A map is in [0, 1] at the input tensor's size (in_h x in_w);
 * sc_cam_compute_image places it on the whole image (undoing a crop). */
#ifndef SACCADE_SC_CAM_H
#define SACCADE_SC_CAM_H

#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Model-based saliency methods (shared with sc_saliency_model.h). */
typedef enum sc_model_saliency_method {
    SC_MSAL_ATTENTION = 0,
    SC_MSAL_GRADCAM = 1,
    SC_MSAL_GRADIENT = 2,
    SC_MSAL_ROLLOUT = 3,
    SC_MSAL_GRADCAMPP = 4,
    SC_MSAL_XGRADCAM = 5,
    SC_MSAL_HIRESCAM = 6,
    SC_MSAL_LAYERCAM = 7,
    SC_MSAL_EIGENCAM = 8,
    SC_MSAL_EIGENGRADCAM = 9,
    SC_MSAL_SCORECAM = 10,
    SC_MSAL_ABLATIONCAM = 11,
    SC_MSAL_SMOOTHGRAD = 12,
    SC_MSAL_INTGRAD = 13,
    SC_MSAL_ITM = 14 /* BLIP image-text matching: the Grad-CAM of a text (sc_blip_itm.h) */
} sc_model_saliency_method;
/* "attention", "gradcam", "gradient", "rollout", "gradcam++", "xgradcam",
 * "hirescam", "layercam", "eigencam", "eigengradcam", "scorecam",
 * "ablationcam", "smoothgrad", "intgrad", "itm" (NULL if unknown). */
const char *sc_model_saliency_method_name(sc_model_saliency_method m);

/* A classifier as the methods see it. Callbacks return sc_status and set the
 * error message; ctx is the implementation's. x is the input tensor
 * (n, in_c, in_h, in_w); act the chosen layer's activation (n, act_c, act_h,
 * act_w) (a ViT's tokens reshaped to the patch grid by the implementation). */
typedef struct sc_cam_net {
    void *ctx;
    int in_c, in_h, in_w;    /* input tensor */
    int num_classes;         /* K */
    int act_c, act_h, act_w; /* activation at the chosen layer */
    int max_batch;           /* largest n forward / forward_from take (>= 1) */
    const char *layer;       /* the chosen layer's name (owned by ctx) */
    /* logits (n, K); act (may be NULL) gets the layer's activation. */
    sc_status (*forward)(void *ctx, const float *x, int n, float *logits, float *act);
    /* One input: forward, then the gradient of logit k. logits (K), act, dact
     * (d logit_k / d act) and dx (d logit_k / d x) may each be NULL. */
    sc_status (*backward)(void *ctx, const float *x, int k, float *logits, float *act, float *dact,
                          float *dx);
    /* logits (n, K) of the network run on from the layer given act (n, act);
     * NULL: not available (ablationcam unsupported). */
    sc_status (*forward_from)(void *ctx, const float *act, int n, float *logits);
    /* AblationCAM's forwards: logits (n, K) of the network run on from the
     * layer given one input's act with channel c0 + j set to value in copy
     * j (j < n <= max_batch); NULL: such copies through forward_from. A
     * ViT's also sets that channel of its class token, as pytorch-grad-cam's
     * AblationLayerVit does. */
    sc_status (*forward_ablated)(void *ctx, const float *act, int c0, int n, float value,
                                 float *logits);
    /* SC_OK when `method` gives a meaningful map at this layer, else an
     * error saying why (NULL: every method does). */
    sc_status (*check)(void *ctx, sc_model_saliency_method method);
    /* maps (n, act_h, act_w) -> out (n, in_h, in_w) on the input tensor;
     * NULL: bilinear resize with the given align_corners. (An ST-CNN warps the
     * glimpse's map back through its transformer.) */
    sc_status (*place)(void *ctx, const float *maps, int n, int align_corners, float *out);
    /* Attention rollout of x with discard_ratio (sc_cam_params) onto the
     * input tensor (in_h * in_w, any scale); NULL: the model has no
     * attention. */
    sc_status (*rollout)(void *ctx, const float *x, float discard_ratio, float *map);
    /* Image -> input tensor (in_c, in_h, in_w): the model's preprocessing. */
    sc_status (*prepare)(void *ctx, const sc_image *img, float *x);
    /* A map on the input tensor (in_h * in_w) -> over the whole w x h image
     * the input came from (undo resize and crop); NULL: bilinear resize. */
    sc_status (*to_image)(void *ctx, const float *map, int w, int h, float *out);
    const char *(*class_name)(void *ctx, int k); /* NULL or a name */
    void (*release)(void *ctx);                  /* frees ctx (may be NULL) */
} sc_cam_net;

/* Release what the model holds (release(ctx)) and zero it. NULL is fine. */
void sc_cam_net_release(sc_cam_net *m);

typedef struct sc_cam_params {
    int aug_smooth;      /* 1: average over 6 test-time augmentations (see above) */
    int eigen_smooth;    /* 1: first principal component instead of the channel sum */
    int batch;           /* scorecam / ablationcam / faithfulness forwards per call
                            (default 16, pytorch-grad-cam's ScoreCAM batch) */
    int samples;         /* smoothgrad: noisy samples (default 25) */
    float stdev;         /* smoothgrad: noise sigma in input-tensor units; < 0 (the
                            default -0.15): that share of the input's max - min */
    int steps;           /* intgrad: Gauss-Legendre nodes (default 50, Captum's) */
    uint64_t seed;       /* smoothgrad: noise from sc_rng(seed), sample by sample,
                            tensor order; faithfulness: ROAD's noise (default 0) */
    float discard_ratio; /* rollout: share of each layer's smallest attention
                            weights dropped, [0, 1) (default 0: plain rollout;
                            vit-explain's default is 0.9) */
} sc_cam_params;
sc_cam_params sc_cam_default_params(void);

typedef struct sc_cam_info {
    int target;   /* the class explained */
    double logit; /* its logit */
    double prob;  /* its softmax probability */
} sc_cam_info;

/* The map of `method` for input tensor x (in_c, in_h, in_w) into map
 * (in_h * in_w). target: class index, -1 = the top class. p: NULL for the
 * defaults. info may be NULL. Errors: SC_ERR_INVALID_ARG (class out of
 * range, a method that is not model-agnostic: attention), SC_ERR_UNSUPPORTED
 * (rollout without attention, ablationcam without forward_from, a method
 * the model's check refuses at its layer). */
sc_status sc_cam_compute(const sc_cam_net *m, sc_model_saliency_method method, const float *x,
                         int target, const sc_cam_params *p, float *map, sc_cam_info *info);
/* The same from an image (prepare), placed on the whole image (to_image)
 * and scaled again (sc_cam_scale: a resize may miss the peak): out is new,
 * img->w x img->h. */
sc_status sc_cam_compute_image(const sc_cam_net *m, sc_model_saliency_method method,
                               const sc_image *img, int target, const sc_cam_params *p, sc_map *out,
                               sc_cam_info *info);
/* Class by name (exact) or decimal index; SC_ERR_INVALID_ARG otherwise. */
sc_status sc_cam_class_from_string(const sc_cam_net *m, const char *s, int *k);

/* ---------------------------------------------------------------- pieces */
/* The first principal component's projection (pytorch-grad-cam's
 * get_2d_projection) of a (C, h, w) into proj (h * w): positions are samples,
 * channels features, centred per channel; NaN counts as 0; sign as above. */
sc_status sc_cam_projection(const float *a, int C, int h, int w, float *proj);
/* In place: x -= min(x); x /= 1e-7 + max(x) (pytorch-grad-cam's
 * scale_cam_image). */
void sc_cam_scale(float *x, size_t n);

/* ---------------------------------------------------------------- adapters */
/* saccade's classifier (sc_classifier.h) and ST-CNN (sc_stn.h) as CAM models.
 * Layers: "encoder.stages.0" .. "encoder.stages.{n-1}" (a stage's output,
 * after ReLU and pool, as a hook on the twin's module), NULL = the last one;
 * an unknown name is SC_ERR_INVALID_ARG listing the valid ones. The
 * classifier's input tensor is normalised ((x - mean) / std); the ST-CNN's
 * is the [0, 1] image (its transformer reads raw pixels), and maps at its
 * classifier's layers live on the glimpse and are placed on the input
 * through theta^-1 of the last explained input. The adapter copies the
 * encoder's weights and points into the rest of the model: release it before
 * the model. Images are resized with the triangle filter to the input size
 * (gray for 1-channel models). */
struct sc_classifier;
struct sc_stcnn;
sc_status sc_cam_net_classifier(struct sc_classifier *m, const char *layer, sc_cam_net *out);
sc_status sc_cam_net_stcnn(struct sc_stcnn *m, const char *layer, sc_cam_net *out);
/* Any classifier seen from a layer (sc_cam_model.h: torchvision ResNet and
 * ViT, the Fashion classifier), at `layer` (NULL: the model's default);
 * maps are placed on the whole image through the preprocessing's resize
 * and centre crop (zero outside the crop). m must outlive the net. A ViT
 * also takes rollout, and refuses hirescam at its last two layers: the
 * patch tokens leaving layer depth - 2 reach the class token only through
 * the last layer's LayerNorm, which a token's scale does not change, so
 * sum_c G A is 0 at every patch (to LayerNorm's eps: rounding noise, in
 * pytorch-grad-cam too); those leaving the last layer do not reach it. */
struct sc_cam_model;
sc_status sc_cam_net_from_model(struct sc_cam_model *m, const char *layer, sc_cam_net *out);

/* ---------------------------------------------------------------- faithfulness
 * Scores use the softmax probability of the class (RISE's convention). */
typedef struct sc_faithfulness {
    int npoints;                        /* steps + 1 */
    float *deletion;                    /* (npoints) probability as the most salient pixels are
                                           replaced by 0 in the input tensor, `step` at a time */
    float *insertion;                   /* (npoints) probability as they are copied into a blurred
                                           input (RISE's Gaussian, 11 x 11, sigma 5) */
    double deletion_auc, insertion_auc; /* trapezoid over [0, 1] (lower / higher
                                           is better) */
    double road;                        /* ROAD combined: (LeRF - MoRF) / 2 averaged over the
                                           percentiles 10..90, each the probability change after
                                           noisy linear imputation (higher is better) */
    double road_morf, road_lerf;
} sc_faithfulness;

/* Deletion / insertion (Petsiuk et al. 2018, RISE's CausalMetric) with
 * `step` pixels per step (0: in_w, RISE's 224 at 224 x 224), pixels ordered
 * by decreasing map value (ties: higher index first, as numpy's flipped
 * stable argsort), and ROAD (Rong et al. 2022, pytorch-grad-cam's
 * ROADCombined: percentiles 10, 20, ..., 90, noisy linear imputer with
 * 8-neighbour weights 1/6 and 1/12 and noise `road_noise` (pytorch-grad-cam:
 * 0.01) drawn from sc_rng(p->seed)), for input tensor x and map (in_h *
 * in_w), class k. out's arrays are new (sc_faithfulness_free). */
sc_status sc_cam_faithfulness(const sc_cam_net *m, const float *x, const float *map, int k,
                              int step, float road_noise, const sc_cam_params *p,
                              sc_faithfulness *out);
void sc_faithfulness_free(sc_faithfulness *f);
/* ROAD's noisy linear imputation of the pixels where keep[i] == 0 of x (C, H,
 * W), in place: each imputed pixel is the weighted mean of its 8 neighbours
 * (solved jointly, conjugate gradients), plus noise * N(0, 1) from rng. */
struct sc_rng;
sc_status sc_road_impute(float *x, int C, int H, int W, const uint8_t *keep, float noise,
                         struct sc_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
