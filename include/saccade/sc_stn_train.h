/* saccade: training classifiers on Fashion-MNIST (`saccade train
 * classifier`), and training and testing spatial-transformer classifiers
 * (ST-CNN) and their plain-CNN baselines on distorted Fashion-MNIST
 * (sc_datasets.h), as `saccade train stn` and `saccade eval stn` run them:
 *
 *   sc_stn_train_params p = sc_stn_train_default_params();   // ST-CNN, affine
 *   sc_stn_train_models(&p, canvas, names, &st, &cls);        // one of them set
 *   sc_stn_train_recipe(&p, examples, &tp);  sc_trainer_create(&tp, ...);
 *   while (sc_trainer_next(tr, &idx, &n) == 1) {
 *       sc_distort_gather(&dp, &train, seed, ids, n, x, y);
 *       sc_stn_train_step(tr, st, cls, x, y, n, &p, &loss);
 *   }
 *   sc_stn_test(st, cls, &dp, &test, 1, 10000, &result);
 */
#ifndef SACCADE_SC_STN_TRAIN_H
#define SACCADE_SC_STN_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_classifier.h"
#include "saccade/sc_datasets.h"
#include "saccade/sc_error.h"
#include "saccade/sc_stn.h"
#include "saccade/sc_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ classifier */
typedef struct sc_classifier_train_params {
    int epochs;         /* 3 */
    int batch;          /* 128 */
    float lr;           /* AdamW, cosine schedule (0.002) */
    float weight_decay; /* AdamW's decoupled weight decay (0.01) */
    uint64_t seed;      /* batch order and augmentation (0) */
    int max_steps;      /* stop after this many steps (0: none) */
} sc_classifier_train_params;
sc_classifier_train_params sc_classifier_train_default_params(void);
/* Trainer parameters for `examples` images per epoch: AdamW at lr and
 * weight_decay, cosine decay over all steps, no clipping. Checkpoints,
 * metrics and progress are left at sc_train_default_params. */
sc_status sc_classifier_train_recipe(const sc_classifier_train_params *p, size_t examples,
                                     sc_train_params *out);
/* Images idx[0..n) of d as floats in [0, 1] (n, 1, 28, 28) and their labels;
 * augment: a random crop (zero padding 2) and horizontal flip per image, drawn
 * from rng in that order (dy, dx, flip). */
void sc_fashion_mnist_batch(const sc_fashion_mnist *d, const int *idx, size_t n, int augment,
                            sc_rng *rng, float *x, int32_t *y);

/* ------------------------------------------------------------ ST-CNN */
typedef struct sc_stn_train_params {
    int use_st;    /* 1: ST-CNN (default); 0: the plain CNN on the whole canvas */
    int epochs;    /* 3 */
    int batch;     /* 64 */
    float lr;      /* AdamW (weight decay 1e-4), cosine schedule (0.002) */
    uint64_t seed; /* weights and batch order (0) */
    int max_steps; /* stop after this many steps (0: none) */
    /* classifier: CNN of these widths (20, 40, 80), 2x2 max pools after the
     * first two stages, dropout 0.1; head_grid 0: global average pool, G:
     * adaptive average pool to G x G + linear */
    int n_channels, channels[SC_CNN_MAX_STAGES];
    int head_grid;
    /* transformer: localisation CNN widths (8, 16, 16) with a 2x2 pool after
     * each stage, loc_hidden hidden units (16), glimpse side (0: the canvas
     * side, so that the identity start is exactly the CNN), transform kind
     * (affine), translation's fixed zoom (0.6), starting scale (1) */
    int n_loc_channels, loc_channels[SC_CNN_MAX_STAGES];
    int loc_hidden, glimpse;
    sc_stn_transform transform;
    float zoom, init_scale;
    /* the transformer's parameters take loc_lr_scale-times smaller steps
     * (0.1), none during the first loc_warmup steps (0); clip_groups 1:
     * transformer and classifier gradients clipped to norm 5 each instead of
     * one global norm 5 (0) */
    float loc_lr_scale;
    int loc_warmup, clip_groups;
} sc_stn_train_params;
sc_stn_train_params sc_stn_train_default_params(void);

/* The model p describes for square canvas x canvas gray scenes over
 * n_classes classes named names[]: *st (use_st) or *cls (not), the other set
 * to NULL; fresh weights from p->seed, the transform starting at scale
 * init_scale (a translation starts centred at its zoom). */
sc_status sc_stn_train_models(const sc_stn_train_params *p, int canvas, const char *const *names,
                              int n_classes, sc_stcnn **st, sc_classifier **cls);
/* Trainer parameters for `examples` scenes per epoch: epochs, batch, seed,
 * max_steps, AdamW at lr with weight decay 1e-4, cosine decay over all
 * steps, global gradient clipping at 5 (none with clip_groups: the step
 * clips per group). Checkpoints, metrics and progress are left at
 * sc_train_default_params. */
sc_status sc_stn_train_recipe(const sc_stn_train_params *p, size_t examples, sc_train_params *out);
/* One step on a batch x (n, 1, canvas, canvas), y (n): the loss and
 * gradients of the model (st, else cls; the trainer's rng for dropout), the
 * group clipping (metrics loc_grad_norm, cls_grad_norm), sc_trainer_step, and
 * the transformer's smaller step: p_new = p_old + f (p_stepped - p_old) with
 * f = loc_lr_scale (0 during the warm-up), which for AdamW is exactly a
 * parameter group at lr * f. *loss: the batch's mean loss. */
sc_status sc_stn_train_step(sc_trainer *tr, sc_stcnn *st, sc_classifier *cls, const float *x,
                            const int32_t *y, int n, const sc_stn_train_params *p, double *loss);

/* Test figures on scenes 0..n-1 of dp (scene seed scene_seed) over test: the
 * error rate and, for an ST-CNN, where its glimpse went against the item's
 * true placement (theta_true of sc_distort_example): the distance from the
 * glimpse's centre to the item's in canvas pixels (median and mean; the
 * same for an identity transform, the canvas centre), the share of scenes
 * where the glimpse's centre falls on the item's (rotated, scaled) 28 x 28
 * square, the glimpse's side over the item's (median), and how far the
 * glimpse's rotation is from the item's (median; and the identity's). */
typedef struct sc_stn_test_result {
    double error;
    int has_loc; /* an ST-CNN: the glimpse figures below are set */
    double centre_px_median, centre_px_mean, identity_px_median, inside, side_ratio_median;
    double angle_deg_median, identity_angle_deg_median;
} sc_stn_test_result;
sc_status sc_stn_test(sc_stcnn *st, sc_classifier *cls, const sc_distort_params *dp,
                      const sc_fashion_mnist *test, uint64_t scene_seed, size_t n,
                      sc_stn_test_result *out);

#ifdef __cplusplus
}
#endif
#endif
