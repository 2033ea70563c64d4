/* saccade: spatial transformer (Jaderberg et al. 2015, "Spatial Transformer
 * Networks") and the ST-CNN classifier built on it.
 *
 * A spatial transformer maps an input (N, C, H, W) to a glimpse
 * (N, C, out_h, out_w):
 *   localisation net   x -> [sc_cnn encoder] -> flatten -> [fc1 + ReLU] -> fc2 -> p
 *   parametrisation    p -> theta (N, 2, 3):
 *                        SC_STN_AFFINE       theta = p (6 outputs)
 *                        SC_STN_TRANS_SCALE  theta = [s 0 tx; 0 s ty], p = (s, tx, ty)
 *                        SC_STN_SIMILARITY   theta = [a -b tx; b a ty], p = (a, b, tx, ty)
 *                        SC_STN_TRANSLATION  theta = [z 0 tx; 0 z ty], p = (tx, ty), z the
 *                                            config's fixed zoom (a glimpse of a fixed size
 *                                            that can only move: it cannot escape attending
 *                                            by zooming out)
 *   grid generator     sc_affine_grid(theta, out_h, out_w), align_corners = 0
 *   sampler            sc_grid_sample, bilinear, zero padding
 * fc2 starts with zero weights and the identity bias (1,0,0,0,1,0) (or
 * (1,0,0) / (1,0,0,0) constrained), so a fresh transformer returns the whole input
 * resampled to out_h x out_w. The backward pass takes dL/dglimpse to the
 * localisation net's gradients (through theta and the grid) and to dL/dx
 * (through both the sampler and the localisation net).
 *
 * Tensor names (PyTorch state_dict of tools/ref/ref_stn.py):
 *   stn.loc.stages.{i}.conv.weight, stn.loc.stages.{i}.bn.*  (sc_cnn, optional)
 *   stn.fc1.weight (hidden, F), stn.fc1.bias                 (optional)
 *   stn.fc2.weight (P, hidden or F), stn.fc2.bias (P)         P = 6 or 3
 *
 * ST-CNN (sc_stcnn): a spatial transformer followed by an sc_classifier on
 * the glimpse; its tensors are the transformer's plus the classifier's own
 * ("encoder.*", "head.*"), one .safetensors with metadata
 *   saccade.config {"arch": "stcnn", "stn": {...}, "classifier": {...}}
 *   saccade.classes [...]. */
#ifndef SACCADE_SC_STN_H
#define SACCADE_SC_STN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_classifier.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_stn_transform {
    SC_STN_AFFINE = 0,      /* 6 free parameters */
    SC_STN_TRANS_SCALE = 1, /* isotropic scale + translation, 3 parameters */
    SC_STN_SIMILARITY = 2,  /* rotation + isotropic scale + translation (no shear), 4 */
    SC_STN_TRANSLATION = 3  /* translation at a fixed zoom, 2 */
} sc_stn_transform;

/* Number of localisation outputs for a transform (6, 3, 4 or 2; 0 if unknown). */
int sc_stn_num_params(sc_stn_transform t);
/* "affine", "trans_scale", "similarity", "translation" (NULL if unknown), and back. */
const char *sc_stn_transform_name(sc_stn_transform t);
sc_status sc_stn_transform_from_name(const char *name, sc_stn_transform *out);
/* p (N, P) -> theta (N, 6); zoom is SC_STN_TRANSLATION's fixed diagonal (the
 * other transforms ignore it). */
sc_status sc_stn_theta_forward(sc_stn_transform t, float zoom, const float *p, int N, float *theta);
/* dp (N, P) += d theta / d p applied to dtheta (N, 6). */
sc_status sc_stn_theta_backward(sc_stn_transform t, const float *dtheta, int N, float *dp);

/* Glimpse of an image (any channels, CHW) through theta (6 floats, the
 * same convention as the module: output pixel (x, y) in [-1, 1]^2 reads
 * the input at theta (x, y, 1)), bilinear, zero padding, into a fresh
 * out_w x out_h image with the input's channel count. */
sc_status sc_stn_glimpse(const sc_image *img, const float *theta, int out_w, int out_h,
                         sc_image *out);
/* The four corners of the sampled region in input pixel coordinates
 * (x, y pairs: top-left, top-right, bottom-right, bottom-left of the
 * glimpse), for drawing its outline on a w x h input. */
void sc_stn_corners(const float *theta, int w, int h, float corners[8]);

typedef struct sc_stn_config {
    int in_c, in_h, in_w; /* input */
    int out_h, out_w;     /* glimpse */
    sc_stn_transform transform;
    int use_cnn;           /* 1: loc_cnn encoder before the FC layers; 0: MLP on the raw input */
    sc_cnn_config loc_cnn; /* in_channels must equal in_c */
    int hidden;            /* fc1 width; 0: no fc1 (fc2 on the features directly) */
    float zoom;            /* SC_STN_TRANSLATION: theta's fixed diagonal, (0, 4]; the
                            * glimpse covers zoom x the input's side (default 1) */
} sc_stn_config;

/* 1 x canvas x canvas -> 28x28, affine, localisation CNN of 3 stages (8, 16,
 * 16 channels, 3x3, BN, 2x2 max pools) and 32 hidden units. ('saccade train
 * stn' uses a glimpse of the canvas size and 16 hidden units.) */
sc_stn_config sc_stn_default_config(int canvas);
sc_status sc_stn_config_validate(const sc_stn_config *c);
/* JSON: {"input": [C, H, W], "output": [h, w], "transform": "affine" |
 * "trans_scale" | "similarity" | "translation", "loc_cnn": {...} or null,
 * "hidden": n}, plus "zoom": z for "translation" (only). to_json returns a
 * malloc'd string (free()). */
char *sc_stn_config_to_json(const sc_stn_config *c);
sc_status sc_stn_config_from_json(const char *json, sc_stn_config *out);

typedef struct sc_stn sc_stn; /* opaque */

/* Fresh weights from rng: the CNN as sc_cnn_create, fc1 PyTorch's default
 * (U(+-1/sqrt(fan_in)) for weight and bias), fc2 zero weight + identity bias. */
sc_status sc_stn_create(const sc_stn_config *c, sc_rng *rng, sc_stn **out);
void sc_stn_free(sc_stn *m);
const sc_stn_config *sc_stn_get_config(const sc_stn *m);
/* Trainable tensors and buffers (BN running stats), model-owned. */
void sc_stn_params(const sc_stn *m, const sc_param **list, size_t *n);
void sc_stn_buffers(const sc_stn *m, const sc_param **list, size_t *n);
/* Copy every tensor of the transformer from st by name and shape. */
sc_status sc_stn_load(sc_stn *m, sc_safetensors *st);

/* Forward x (N, in_c, in_h, in_w). *glimpse (N, in_c, out_h, out_w) and
 * *theta (N, 6) point into the model (valid until the next forward). x must
 * stay valid until backward. train: BN batch statistics. */
sc_status sc_stn_forward(sc_stn *m, const float *x, int N, int train, const float **glimpse,
                         const float **theta);
/* Backward of the last forward given dglimpse: ACCUMULATES parameter grads,
 * and dx (may be NULL) += dL/dx through sampler and localisation net. */
sc_status sc_stn_backward(sc_stn *m, const float *dglimpse, float *dx);

/* ---- ST-CNN ---------------------------------------------------------- */
typedef struct sc_stcnn sc_stcnn;

/* cls->in_h/in_w must equal stn->out_h/out_w and the channels agree. */
sc_status sc_stcnn_create(const sc_stn_config *stn, const sc_classifier_config *cls,
                          const char *const *class_names, uint64_t seed, sc_stcnn **out);
void sc_stcnn_free(sc_stcnn *m);
/* Load a model file written with the metadata above. */
sc_status sc_stcnn_load(const char *path, sc_stcnn **out);
sc_stn *sc_stcnn_stn(sc_stcnn *m);
sc_classifier *sc_stcnn_classifier(sc_stcnn *m);
/* saccade.config JSON (malloc'd). */
char *sc_stcnn_config_json(const sc_stcnn *m);
/* All trainable tensors (transformer then classifier) and all buffers;
 * lists owned by the model, valid until free. */
sc_status sc_stcnn_params(sc_stcnn *m, const sc_param **list, size_t *n);
sc_status sc_stcnn_buffers(sc_stcnn *m, const sc_param **list, size_t *n);
/* Forward x (N, C, H, W) in [0, 1]: *logits (N, K) in model memory. */
sc_status sc_stcnn_forward(sc_stcnn *m, const float *x, int N, int train, sc_rng *rng,
                           const float **logits);
/* Backward given dlogits: parameter grads accumulate; dx may be NULL. */
sc_status sc_stcnn_backward(sc_stcnn *m, const float *dlogits, float *dx);
/* Train forward + mean cross-entropy + backward. */
sc_status sc_stcnn_train_batch(sc_stcnn *m, const float *x, const int32_t *targets, int N,
                               sc_rng *rng, double *loss);
/* Eval-mode probabilities (N, K) and thetas (N, 6, may be NULL), in chunks.
 * Images with a NaN or infinite value are refused (SC_ERR_INVALID_ARG). */
sc_status sc_stcnn_predict(sc_stcnn *m, const float *x, size_t N, float *probs, float *theta);

#ifdef __cplusplus
}
#endif
#endif
