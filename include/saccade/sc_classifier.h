/* saccade: an image classifier: sc_cnn encoder -> global average pool (or,
 * with head_grid G > 0, adaptive average pool to G x G, flattened channel-major
 * like torch.flatten) -> dropout (training only) -> linear head over the
 * classes. The global pool makes the head translation invariant; the G x G
 * grid keeps coarse positions (the spatial transformer paper's baselines end
 * in fully connected layers, not a global pool).
 *
 * Input images are pixel values in [0, 1], (N, C, H, W); the model
 * normalises them itself with its per-channel mean / std, so callers (and
 * gradients w.r.t. the input, e.g. for saliency) work in pixel space.
 *
 * Model file: one .safetensors holding "encoder.stages.*" (see sc_cnn.h),
 * "head.weight" (K, C * G * G, G = 1 without a grid) and "head.bias" (K),
 * with metadata
 *   saccade.config  {"arch": "classifier", "encoder": {...sc_cnn config...},
 *                    "num_classes": K, "input": [C, H, W], "mean": [...],
 *                    "std": [...], "dropout": p, "head_grid": G}
 * ("head_grid" is written only when G > 0; absent means 0).
 *   saccade.classes ["T-shirt/top", "Trouser", ...]   (JSON list of K names)
 * Training checkpoints written by sc_trainer with this metadata are model
 * files too. */
#ifndef SACCADE_SC_CLASSIFIER_H
#define SACCADE_SC_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_cnn.h"
#include "saccade/sc_error.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_CLASSIFIER_MAX_CLASSES 10000
#define SC_CLASSIFIER_MAX_CHANNELS 4

typedef struct sc_classifier_config {
    sc_cnn_config encoder;
    int num_classes; /* 2..SC_CLASSIFIER_MAX_CLASSES */
    int in_h, in_w;  /* expected input size (channels: encoder.in_channels) */
    float mean[SC_CLASSIFIER_MAX_CHANNELS], std[SC_CLASSIFIER_MAX_CHANNELS];
    float dropout; /* in [0, 1) */
    int head_grid; /* 0: global average pool; 1..16: adaptive average pool to G x G + flatten */
} sc_classifier_config;

/* Fashion-MNIST defaults: 1x28x28, 10 classes, mean 0.2860, std 0.3530,
 * dropout 0.1, encoder 32/64/128 with BN, 2x2 pools after the first two stages. */
sc_classifier_config sc_classifier_default_config(void);
sc_status sc_classifier_config_validate(const sc_classifier_config *c);
/* JSON for saccade.config (malloc'd, free with free()). */
char *sc_classifier_config_to_json(const sc_classifier_config *c);
sc_status sc_classifier_config_from_json(const char *json, sc_classifier_config *out);

typedef struct sc_classifier sc_classifier; /* opaque */

/* Fresh PyTorch-default weights from a generator seeded with `seed`.
 * class_names: num_classes strings (copied), or NULL for "0", "1", ... */
sc_status sc_classifier_create(const sc_classifier_config *c, const char *const *class_names,
                               uint64_t seed, sc_classifier **out);
void sc_classifier_free(sc_classifier *m);
/* Load a model file (validates config, class list and every tensor's shape). */
sc_status sc_classifier_load(const char *path, sc_classifier **out);
/* Write the model file atomically. */
sc_status sc_classifier_save(const sc_classifier *m, const char *path);

const sc_classifier_config *sc_classifier_get_config(const sc_classifier *m);
const char *sc_classifier_class_name(const sc_classifier *m, int k);
/* JSON list of class names (malloc'd) for the saccade.classes metadata. */
char *sc_classifier_classes_json(const sc_classifier *m);
sc_cnn *sc_classifier_encoder(sc_classifier *m);

/* Parameter list (encoder then head; grads owned by the model) and buffers
 * (BN running statistics), for sc_trainer. Valid until free. */
sc_status sc_classifier_params(const sc_classifier *m, const sc_param **list, size_t *n);
sc_status sc_classifier_buffers(const sc_classifier *m, const sc_param **list, size_t *n);

/* Forward pass of x (N, C, in_h, in_w) in [0, 1]. train = 1: BN batch
 * statistics (running ones updated) and dropout drawn from rng (required
 * when dropout > 0); train = 0: eval mode, rng unused. *logits (N, K) points
 * into the model, valid until the next forward. x must stay valid until
 * backward. */
sc_status sc_classifier_forward(sc_classifier *m, const float *x, int N, int train, sc_rng *rng,
                                const float **logits);
/* Backward of the last forward given dlogits (N, K): ACCUMULATES parameter
 * grads, and dL/dx into dx when non-NULL. */
sc_status sc_classifier_backward(sc_classifier *m, const float *dlogits, float *dx);
/* One training step's worth of work: train forward, mean cross-entropy over
 * targets (N, in 0..K-1), backward. *loss gets the mean loss. */
sc_status sc_classifier_train_batch(sc_classifier *m, const float *x, const int32_t *targets, int N,
                                    sc_rng *rng, double *loss, float *dx);

/* Eval-mode class probabilities (N, K) for N images given as uint8 pixels
 * (N, C, in_h, in_w; 0..255) or as floats in [0, 1] (NaN or infinite values
 * are refused: SC_ERR_INVALID_ARG). Works in chunks, any N. */
sc_status sc_classifier_predict_u8(sc_classifier *m, const uint8_t *images, size_t N, float *probs);
sc_status sc_classifier_predict(sc_classifier *m, const float *x, size_t N, float *probs);

/* Evaluate on labelled uint8 images: confusion (K x K, row = true class,
 * column = predicted; may be NULL) is filled (not accumulated), *accuracy
 * (fraction correct) and *mean_loss (cross-entropy) may be NULL. */
sc_status sc_classifier_evaluate(sc_classifier *m, const uint8_t *images, const uint8_t *labels,
                                 size_t N, int64_t *confusion, double *accuracy, double *mean_loss);

#ifdef __cplusplus
}
#endif
#endif
