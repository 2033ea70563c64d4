/* saccade: a small configurable CNN encoder, trainable (forward + backward).
 *
 * A stack of stages; stage i is
 *   conv KxK (padding K/2, stride 1 or 2) -> BatchNorm2d (optional) -> ReLU
 *   -> 2x2 max pool, stride 2 (optional)
 * mapping (N, C_in, H, W) to a feature map (N, C, h, w). Heads (classifier,
 * localisation regressor, captioner attention) are separate modules that
 * take that map; the encoder returns dL/d input so modules in front of it
 * (spatial transformer, saliency, Grad-CAM) can backpropagate through it.
 *
 * Tensor names match PyTorch's state_dict of the equivalent module
 * (tools/ref/ref_cnn.py), after a caller-chosen prefix such as "encoder.":
 *   stages.{i}.conv.weight (OC, IC, K, K)   stages.{i}.conv.bias (OC, only without BN)
 *   stages.{i}.bn.weight / bias             (trainable)
 *   stages.{i}.bn.running_mean / running_var (buffers; PyTorch's num_batches_tracked is
 *                                             not stored and ignored when present)
 * Initialisation is PyTorch's default: conv weight kaiming_uniform(a = sqrt 5), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), conv bias the same bound, BN weight 1, bias 0,
 * running mean 0, var 1. BN momentum 0.1, eps 1e-5 (PyTorch's defaults).
 *
 * Config JSON (the "encoder" part of a model's saccade.config):
 *   {"in_channels": 1, "channels": [32, 64, 128], "pool": [true, true, false],
 *    "stride": [1, 1, 1], "kernel": [3, 3, 3], "batchnorm": true}
 * "pool", "stride" and "kernel" are optional (defaults: no pool, 1, 3); each
 * list present must have one entry per stage. */
#ifndef SACCADE_SC_CNN_H
#define SACCADE_SC_CNN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_CNN_MAX_STAGES 16
#define SC_CNN_MAX_CHANNELS 4096

typedef struct sc_cnn_config {
    int in_channels; /* 1..SC_CNN_MAX_CHANNELS */
    int nstages;     /* 1..SC_CNN_MAX_STAGES */
    int channels[SC_CNN_MAX_STAGES];
    int kernel[SC_CNN_MAX_STAGES]; /* odd, 1..7 (default 3) */
    int stride[SC_CNN_MAX_STAGES]; /* 1 or 2 (default 1) */
    int pool[SC_CNN_MAX_STAGES];   /* 1: 2x2 max pool after the ReLU */
    int batchnorm;                 /* 1: conv without bias + BN; 0: conv with bias */
} sc_cnn_config;

/* A config with in_channels and the given stage widths (kernel 3, stride 1,
 * no pool, batchnorm on). */
sc_cnn_config sc_cnn_config_make(int in_channels, int nstages, const int *channels);
/* Check every field (SC_ERR_INVALID_ARG naming the field and stage). */
sc_status sc_cnn_config_validate(const sc_cnn_config *c);
/* Parse / print the JSON form above. Unknown keys are rejected (a typo must
 * not silently give a different network). to_json returns a malloc'd string
 * the caller frees with free(), or NULL + error. */
sc_status sc_cnn_config_from_json(const char *json, sc_cnn_config *out);
char *sc_cnn_config_to_json(const sc_cnn_config *c);
/* Output size for an H x W input (SC_ERR_SHAPE if a stage gets below 1x1). */
sc_status sc_cnn_output_size(const sc_cnn_config *c, int H, int W, int *C, int *h, int *w);

typedef struct sc_cnn sc_cnn; /* opaque */

/* Create with fresh PyTorch-default weights drawn from rng (stage by stage,
 * weight then bias). prefix (may be NULL or "") is prepended to every tensor
 * name, e.g. "encoder.". */
sc_status sc_cnn_create(const sc_cnn_config *c, const char *prefix, sc_rng *rng, sc_cnn **out);
void sc_cnn_free(sc_cnn *m);
const sc_cnn_config *sc_cnn_get_config(const sc_cnn *m);

/* Trainable tensors (with grad buffers owned by the model; biases and BN
 * weights are no_weight_decay) and buffers (running statistics, grad NULL).
 * Pointers stay valid until sc_cnn_free; register them with sc_trainer. */
void sc_cnn_params(const sc_cnn *m, const sc_param **list, size_t *n);
void sc_cnn_buffers(const sc_cnn *m, const sc_param **list, size_t *n);
void sc_cnn_zero_grad(sc_cnn *m);
/* Copy every parameter and buffer from a safetensors file, by prefixed name
 * and exact shape (SC_ERR_FORMAT for a missing tensor, SC_ERR_SHAPE for a
 * wrong shape; the model is unchanged on failure). */
sc_status sc_cnn_load(sc_cnn *m, sc_safetensors *st);

/* Forward pass of x (N, in_channels, H, W). train = 1: BN normalises with
 * batch statistics and updates the running ones (needs N*h*w > 1 at every
 * BN); train = 0: running statistics. Activations are kept inside the model
 * for sc_cnn_backward, and *out points at the feature map (N, C, h, w) in
 * model memory, valid until the next forward or free. x is not copied: it
 * must stay valid and unchanged until the backward pass. Internal buffers
 * grow to the largest batch seen (an eval over many images should go in
 * chunks). */
sc_status sc_cnn_forward(sc_cnn *m, const float *x, int N, int H, int W, int train,
                         const float **out, int *C, int *h, int *w);
/* Backward of the last forward (train or eval mode) given dout (N, C, h, w):
 * ACCUMULATES the gradients of every parameter into the model's grad
 * buffers, and into dx (N, in_channels, H, W) when dx is non-NULL. */
sc_status sc_cnn_backward(sc_cnn *m, const float *dout, float *dx);

#ifdef __cplusplus
}
#endif
#endif
