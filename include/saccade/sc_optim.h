/* saccade: optimisers (SGD, Adam, AdamW), gradient clipping and learning-rate
 * schedules, with PyTorch 1.13 semantics (torch.optim.SGD / Adam / AdamW,
 * torch.nn.utils.clip_grad_norm_ / clip_grad_value_, StepLR,
 * CosineAnnealingLR, LinearLR + SequentialLR warm-up).
 *
 * The model owns parameter and gradient memory; the optimiser keeps pointers
 * to it and owns only its own state (momentum / moment buffers). */
#ifndef SACCADE_SC_OPTIM_H
#define SACCADE_SC_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One registered tensor. `name` is copied (used for state names, max 200
 * bytes, unique within an optimiser). `param` and `grad` must stay valid for
 * the optimiser's lifetime. no_weight_decay = 1 excludes the tensor from
 * weight decay (biases, normalisation scales), like a PyTorch param group
 * with weight_decay = 0. */
typedef struct sc_param {
    const char *name;
    float *param;
    float *grad;
    size_t n;
    int no_weight_decay;
    /* Shape for saving (checkpoints, model files); ndim 0 means 1-D of n.
     * The optimiser ignores it. */
    int ndim;
    int64_t shape[6];
} sc_param;

typedef enum sc_optim_kind {
    SC_OPTIM_SGD = 0,
    SC_OPTIM_ADAM = 1,
    SC_OPTIM_ADAMW = 2
} sc_optim_kind;

/* Hyper-parameters. Scalars are double, as PyTorch keeps them in Python floats. */
typedef struct sc_optim_params {
    sc_optim_kind kind;
    double lr;           /* initial learning rate; change it with sc_optim_set_lr */
    double weight_decay; /* SGD/Adam: L2 added to the gradient; AdamW: decoupled */
    /* SGD */
    double momentum;
    double dampening;
    int nesterov; /* needs momentum > 0 and dampening == 0, as PyTorch */
    /* Adam / AdamW */
    double beta1, beta2;
    double eps;
    int amsgrad;
} sc_optim_params;

/* PyTorch defaults for each kind: SGD lr 0.01 (PyTorch has no default lr),
 * no momentum/decay; Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0;
 * AdamW the same with wd 1e-2. */
sc_optim_params sc_sgd_default_params(void);
sc_optim_params sc_adam_default_params(void);
sc_optim_params sc_adamw_default_params(void);

typedef struct sc_optim sc_optim;

/* Create an optimiser over `nparams` tensors (copied list). Validates the
 * hyper-parameters (finite, lr >= 0, 0 <= beta < 1, eps >= 0, ...), that
 * names are non-empty and unique and that pointers are non-NULL when n > 0. */
sc_status sc_optim_create(const sc_optim_params *p, const sc_param *params, size_t nparams,
                          sc_optim **out);
void sc_optim_free(sc_optim *o);

/* One update of every registered tensor from its current gradient. */
sc_status sc_optim_step(sc_optim *o);
/* Set every registered gradient to 0. */
void sc_optim_zero_grad(sc_optim *o);
/* Learning rate used by the next step (e.g. from sc_lr_at). */
sc_status sc_optim_set_lr(sc_optim *o, double lr);
double sc_optim_get_lr(const sc_optim *o);
/* Number of steps taken (restored by sc_optim_state_set). */
int64_t sc_optim_step_count(const sc_optim *o);
const sc_optim_params *sc_optim_get_params(const sc_optim *o);

/* ---- State for checkpoints (--resume) ----
 * The state is a list of named float arrays:
 *   "optim.step"                      2 floats: step = v[0] + v[1] * 2^24
 *                                     (each part an exact integer in float)
 *   "optim.<name>.momentum_buffer"    SGD with momentum > 0
 *   "optim.<name>.exp_avg"            Adam / AdamW
 *   "optim.<name>.exp_avg_sq"         Adam / AdamW
 *   "optim.<name>.max_exp_avg_sq"     Adam / AdamW with amsgrad
 * Entry 0 is always "optim.step". Data pointers of entries point into the
 * optimiser (the step entry into an internal 2-float array refreshed by
 * each call); they stay valid until the next step or free. */
typedef struct sc_optim_state_entry {
    const char *name;
    const float *data;
    size_t n;
} sc_optim_state_entry;

size_t sc_optim_state_count(const sc_optim *o);
sc_status sc_optim_state_get(const sc_optim *o, size_t i, sc_optim_state_entry *out);
/* Restore one entry by name; n must match. Unknown names are SC_ERR_INVALID_ARG.
 * Restoring all entries returned by state_get reproduces the continuation
 * bit for bit. */
sc_status sc_optim_state_set(sc_optim *o, const char *name, const float *data, size_t n);

/* ---- Gradient clipping ---- */
/* torch.nn.utils.clip_grad_norm_ (L2): total = sqrt(sum of all squared
 * gradient elements); if max_norm / (total + 1e-6) < 1 every gradient is
 * scaled by that factor. Stores total in *total_norm (may be NULL). A
 * non-finite total norm is reported as SC_ERR_INVALID_ARG and nothing is
 * scaled. */
sc_status sc_clip_grad_norm(const sc_param *params, size_t nparams, double max_norm,
                            double *total_norm);
/* torch.nn.utils.clip_grad_value_: clamp each gradient element to [-clip, clip]. */
sc_status sc_clip_grad_value(const sc_param *params, size_t nparams, double clip);

/* ---- Learning-rate schedules ----
 * Stateless: sc_lr_at(s, step) is the learning rate after `step` calls of a
 * PyTorch scheduler's step() (step 0 = the initial lr), so resuming needs only
 * the step count. With warmup_steps = W > 0, steps 0..W-1 follow
 * LinearLR(start_factor = warmup_start_factor, end_factor = 1, total_iters = W)
 * and from step W the main schedule starts at its own step 0, exactly as
 * SequentialLR([LinearLR, main], milestones=[W]). */
typedef enum sc_lr_kind {
    SC_LR_CONSTANT = 0,
    SC_LR_STEP = 1,  /* StepLR: base * gamma^floor(t / step_size) */
    SC_LR_COSINE = 2 /* CosineAnnealingLR closed form:
                        eta_min + (base - eta_min) * (1 + cos(pi * t / t_max)) / 2 */
} sc_lr_kind;

typedef struct sc_lr_schedule {
    sc_lr_kind kind;
    double base_lr;
    int64_t step_size; /* SC_LR_STEP */
    double gamma;      /* SC_LR_STEP */
    int64_t t_max;     /* SC_LR_COSINE */
    double eta_min;    /* SC_LR_COSINE */
    int64_t warmup_steps;
    double warmup_start_factor; /* in (0, 1] */
} sc_lr_schedule;

/* Constant lr 1e-3, step_size 1, gamma 0.1, t_max 1, eta_min 0, no warm-up,
 * warmup_start_factor 1/3 (PyTorch's LinearLR default). */
sc_lr_schedule sc_lr_schedule_default(void);
sc_status sc_lr_schedule_validate(const sc_lr_schedule *s);
/* Learning rate at `step` (>= 0; negative steps are treated as 0). The
 * schedule must be valid (returns NaN otherwise). */
double sc_lr_at(const sc_lr_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
