/* saccade: numeric core kernels, part 1 (linear, conv2d, batch/layer norm,
 * activations, pooling), each with a forward and a backward pass.
 *
 * Conventions (llm.c style):
 *   - raw float pointers + explicit int dims; tensors are contiguous,
 *     row-major, images NCHW (see sc_tensor.h);
 *   - weights are laid out exactly as PyTorch stores them: linear (out, in),
 *     conv (OC, IC/groups, KH, KW), so state dicts load without reshuffling;
 *   - every function validates its arguments and returns sc_status
 *     (SC_ERR_INVALID_ARG for NULL / non-positive sizes / bad options,
 *     SC_ERR_SHAPE for sizes that do not fit together, SC_ERR_LIMIT when an
 *     element count overflows); nothing is written on failure;
 *   - backward functions ACCUMULATE (+=) into gradient buffers (the caller
 *     zeroes them), and any gradient pointer may be NULL to skip it;
 *   - results are deterministic for a fixed thread count (sc_set_num_threads).
 * Outputs must not alias inputs unless a function says so. */
#ifndef SACCADE_SC_NN_H
#define SACCADE_SC_NN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Linear: out (N, out_f) = x (N, in_f) @ W^T + b ----------------------
 * Any leading batch dims are flattened into N rows. w is (out_f, in_f),
 * b (out_f) may be NULL. */
sc_status sc_linear_forward(float *out, const float *x, const float *w, const float *b, int N,
                            int in_f, int out_f);
/* dx (N, in_f) += dout W; dw (out_f, in_f) += dout^T x; db += sum_rows dout. */
sc_status sc_linear_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, int N, int in_f, int out_f);

/* ---- Conv2d --------------------------------------------------------------
 * x (N, C, H, W), w (OC, C/groups, KH, KW), b (OC) or NULL,
 * out (N, OC, OH, OW) with OH = (H + 2 pad_h - dil_h (KH - 1) - 1) / stride_h + 1.
 * Implementation: im2col + sc_sgemm per image and group; a 1x1, stride-1,
 * pad-0 conv multiplies the input directly (no workspace). */
typedef struct sc_conv2d_desc {
    int N, C, H, W; /* input */
    int OC, KH, KW; /* output channels, kernel */
    int stride_h, stride_w;
    int pad_h, pad_w; /* zero padding on both sides */
    int dil_h, dil_w; /* dilation (1 = dense) */
    int groups;       /* C and OC divisible by groups; groups == C: depthwise */
} sc_conv2d_desc;

/* Fill a desc with stride/padding/dilation/groups given once for both axes. */
sc_conv2d_desc sc_conv2d_make(int N, int C, int H, int W, int OC, int KH, int KW, int stride,
                              int pad, int dil, int groups);
/* Validates d and gives the output size. */
sc_status sc_conv2d_out_size(const sc_conv2d_desc *d, int *OH, int *OW);
/* Scratch the forward / backward pass needs, in bytes (0 when none is
 * needed). Either pointer may be NULL. Use it to take the workspace from an
 * arena so that a forward pass does no malloc. */
sc_status sc_conv2d_workspace_bytes(const sc_conv2d_desc *d, size_t *forward_bytes,
                                    size_t *backward_bytes);
/* workspace: at least the forward size, 64-byte aligned preferred. If
 * workspace is NULL the kernel allocates it itself (sc_malloc) and frees it
 * again; if it is non-NULL but ws_bytes is too small: SC_ERR_INVALID_ARG. */
sc_status sc_conv2d_forward(const sc_conv2d_desc *d, float *out, const float *x, const float *w,
                            const float *b, void *workspace, size_t ws_bytes);
/* dx += d out/d x, dw += ..., db += sum of dout over N, OH, OW. x is needed
 * only for dw and w only for dx (either may be NULL when its grad is NULL). */
sc_status sc_conv2d_backward(const sc_conv2d_desc *d, float *dx, float *dw, float *db,
                             const float *dout, const float *x, const float *w, void *workspace,
                             size_t ws_bytes);

/* ---- BatchNorm2d over (N, C, HW) ----------------------------------------
 * gamma / beta may be NULL (affine=False: 1 and 0). Training: normalises
 * with the batch mean and biased variance; if running_mean / running_var
 * are non-NULL they are updated as PyTorch does:
 *   running = (1 - momentum) running + momentum batch_stat
 * with the UNBIASED variance (N*HW / (N*HW - 1)); N*HW must be > 1.
 * save_mean / save_invstd (C each, may be NULL) keep 1/sqrt(var + eps) for
 * the backward pass. */
sc_status sc_batchnorm2d_forward_train(float *out, float *save_mean, float *save_invstd,
                                       float *running_mean, float *running_var, const float *x,
                                       const float *gamma, const float *beta, int N, int C, int HW,
                                       float momentum, float eps);
sc_status sc_batchnorm2d_forward_eval(float *out, const float *x, const float *gamma,
                                      const float *beta, const float *running_mean,
                                      const float *running_var, int N, int C, int HW, float eps);
/* Backward of the training forward (batch statistics depend on x). */
sc_status sc_batchnorm2d_backward_train(float *dx, float *dgamma, float *dbeta, const float *dout,
                                        const float *x, const float *save_mean,
                                        const float *save_invstd, const float *gamma, int N, int C,
                                        int HW);
/* Backward of the eval forward (fixed running statistics). */
sc_status sc_batchnorm2d_backward_eval(float *dx, float *dgamma, float *dbeta, const float *dout,
                                       const float *x, const float *gamma,
                                       const float *running_mean, const float *running_var, int N,
                                       int C, int HW, float eps);
/* Fold an eval-mode BN that follows a conv into the conv, in place:
 *   w[oc] *= s, bias[oc] = (bias[oc] - mean) s + beta, s = gamma / sqrt(var + eps).
 * w is (OC, per_oc) with per_oc = C/groups*KH*KW; bias (OC) is in/out and
 * must be supplied: zero it first if the conv had no bias. */
sc_status sc_batchnorm2d_fold_into_conv(float *w, float *bias, int OC, int per_oc,
                                        const float *gamma, const float *beta,
                                        const float *running_mean, const float *running_var,
                                        float eps);

/* ---- LayerNorm over the last dim D of N rows -----------------------------
 * gamma / beta (D) may be NULL (no elementwise affine). save_mean /
 * save_rstd (N each) may be NULL in inference; backward needs them. */
sc_status sc_layernorm_forward(float *out, float *save_mean, float *save_rstd, const float *x,
                               const float *gamma, const float *beta, int N, int D, float eps);
sc_status sc_layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                                const float *x, const float *save_mean, const float *save_rstd,
                                const float *gamma, int N, int D);
/* dx (N, D) += the same gradient with the statistics recomputed from x
 * (with eps, as the forward computes them): for backward passes that keep
 * only a LayerNorm's input. */
sc_status sc_layernorm_backward_input(float *dx, const float *dout, const float *x,
                                      const float *gamma, int N, int D, float eps);

/* ---- Activations (elementwise, n values) ---------------------------------
 * Forward may run in place (out == x). Backward: dx += f'(x) dout, using
 *   RELU: x, or y when x is NULL;  TANH / SIGMOID: y, or x when y is NULL;
 *   GELU / GELU_TANH: x (required).
 * GELU is the exact 0.5 x (1 + erf(x / sqrt 2)); GELU_TANH is PyTorch's
 * approximate='tanh'. */
typedef enum sc_activation {
    SC_ACT_RELU = 0,
    SC_ACT_TANH = 1,
    SC_ACT_SIGMOID = 2,
    SC_ACT_GELU = 3,
    SC_ACT_GELU_TANH = 4
} sc_activation;
sc_status sc_act_forward(sc_activation act, float *out, const float *x, size_t n);
sc_status sc_act_backward(sc_activation act, float *dx, const float *dout, const float *x,
                          const float *y, size_t n);

/* ---- Pooling over NCHW ---------------------------------------------------
 * Output size as PyTorch: OH = floor_or_ceil((H + 2 pad_h - KH) / stride_h) + 1,
 * and with ceil_mode the last window must start inside the input or left
 * padding. pad <= kernel / 2 (PyTorch's rule). */
typedef struct sc_pool2d_desc {
    int N, C, H, W;
    int KH, KW;
    int stride_h, stride_w;
    int pad_h, pad_w;
    int ceil_mode;         /* 0: floor, 1: ceil */
    int count_include_pad; /* avg pool only: padding counts in the divisor */
} sc_pool2d_desc;
sc_pool2d_desc sc_pool2d_make(int N, int C, int H, int W, int kernel, int stride, int pad,
                              int ceil_mode, int count_include_pad);
sc_status sc_pool2d_out_size(const sc_pool2d_desc *d, int *OH, int *OW);

/* Max pool; padding never wins (it is -inf); NaN propagates; ties go to the
 * first element in row-major window order (as PyTorch). argmax (N*C*OH*OW,
 * may be NULL) receives the index within the H*W plane for the backward. */
sc_status sc_maxpool2d_forward(const sc_pool2d_desc *d, float *out, int32_t *argmax,
                               const float *x);
/* dx[argmax] += dout. */
sc_status sc_maxpool2d_backward(const sc_pool2d_desc *d, float *dx, const float *dout,
                                const int32_t *argmax);
sc_status sc_avgpool2d_forward(const sc_pool2d_desc *d, float *out, const float *x);
sc_status sc_avgpool2d_backward(const sc_pool2d_desc *d, float *dx, const float *dout);

/* Adaptive average pool (N, C, H, W) -> (N, C, OH, OW) with PyTorch's bins:
 * start = floor(i H / OH), end = ceil((i + 1) H / OH); OH > H is allowed. */
sc_status sc_adaptive_avgpool2d_forward(float *out, const float *x, int N, int C, int H, int W,
                                        int OH, int OW);
sc_status sc_adaptive_avgpool2d_backward(float *dx, const float *dout, int N, int C, int H, int W,
                                         int OH, int OW);
/* Global average pool (N, C, HW) -> (N, C). */
sc_status sc_global_avgpool2d_forward(float *out, const float *x, int N, int C, int HW);
sc_status sc_global_avgpool2d_backward(float *dx, const float *dout, int N, int C, int HW);
/* Masked average pool over positions: x is (B, P, E) (E features at each of
 * P positions); output row i (n rows, E each) is the mean of x[src[i]]'s rows
 * p with mask[i * P + p] != 0 (zeros if none). For pooling a feature grid over
 * regions, e.g. an object's box cells. src[i] must be in [0, B). */
sc_status sc_masked_avgpool_forward(float *out, const float *x, int B, int P, int E,
                                    const uint8_t *mask, const int32_t *src, int n);
/* dx[src[i], p] += dout[i] / count_i at the masked positions p. */
sc_status sc_masked_avgpool_backward(float *dx, const float *dout, int B, int P, int E,
                                     const uint8_t *mask, const int32_t *src, int n);

#ifdef __cplusplus
}
#endif
#endif
