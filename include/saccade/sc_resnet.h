/* saccade: ResNet encoders (inference only), loaded from torchvision weights.
 *
 * Architectures: resnet18, resnet34 (basic blocks), resnet50, resnet101,
 * resnet152 (bottleneck blocks, torchvision "v1.5": the stride sits on the
 * 3x3 conv of the bottleneck).
 *
 * File: a .safetensors file with torchvision's parameter names
 * (conv1.weight, bn1.{weight,bias,running_mean,running_var},
 * layer1.0.conv1.weight, ..., layer2.0.downsample.0.weight,
 * layer2.0.downsample.1.*, fc.weight, fc.bias) whose "__metadata__" holds
 * "saccade.config", a JSON object such as {"arch": "resnet101"} (optional
 * key "bn_eps", default 1e-5). tools/convert_torchvision.py writes such files
 * from a torchvision state_dict. Every tensor is checked against the
 * architecture (a missing or misshaped tensor is an error naming it); a
 * tensor the architecture does not use (other than *.num_batches_tracked)
 * is an error too, which catches a config naming the wrong depth. fc.* is
 * optional unless the head is requested.
 *
 * Memory: at load every eval-mode BatchNorm is folded into the conv before
 * it (w' = w gamma / sqrt(var + eps), b' = beta - mean gamma / sqrt(var + eps)),
 * so the model OWNS a float32 copy of all conv weights plus one bias per
 * output channel (about 4 bytes per parameter: 44.5 M parameters, ~170 MB,
 * for resnet101). The mapped file is released at the end of sc_resnet_load,
 * so the steady state holds one copy of the weights; during the load both
 * the mapping and the folded copy are resident (peak ~2x the weights).
 *
 * Forward: input NCHW float32, already normalised (e.g. ImageNet mean/std,
 * see sc_image.h). The output is the layer4 feature map
 * (N, 512 or 2048, ceil(H/32), ceil(W/32)) and, when the head is loaded,
 * logits (N, num_classes) = fc(global average pool(layer4)). Activations
 * live in an arena owned by the model, sized by sc_resnet_plan for one
 * input size (N, H, W); a forward at the planned size does no malloc. A
 * forward at another size re-plans first (which allocates).
 *
 * Threads: sc_get_num_threads() of them (sc_set_num_threads), saccade's own
 * fork-join pool: every conv, its im2col or Winograd transforms and the max
 * pool are split between them, each thread multiplying its share with a
 * single-threaded sc_gemm_packed (weights packed at plan time; OpenBLAS's
 * own threads are off during the forward). Results are the same bits for a
 * given thread count; different counts agree to float32 rounding. A model must not be used from two
 * threads at once (the arena is shared); load one model per thread instead
 * (forwards running at the same time from several threads each run on
 * their calling thread alone while another holds the pool). */
#ifndef SACCADE_SC_RESNET_H
#define SACCADE_SC_RESNET_H

#include <stddef.h>
#include "saccade/sc_error.h"
#include "saccade/sc_safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_resnet sc_resnet;

typedef struct sc_resnet_params {
    /* 0 (default): encoder, stop after layer4 (no pooling; fc.* in the file
     * is ignored and never copied). 1: also average-pool and apply fc, so
     * sc_resnet_forward can give logits (fc.weight / fc.bias required). */
    int include_head;
    /* > 0: call sc_set_num_threads(threads) at load (process-wide).
     * 0 (default): leave the current setting. */
    int threads;
    /* 1 (default): stride-1 3x3 convs use Winograd (sc_winograd.h) where it
     * pays: F(4x4, 3x3) with at least 64 4x4 output tiles, else F(2x2, 3x3)
     * with at least 64 2x2 tiles, else im2col + sgemm (SACCADE_WINO_MIN_T4 /
     * SACCADE_WINO_MIN_T2 override the thresholds; 0 turns one off). The
     * transformed weights are made by sc_resnet_plan for the planned size
     * (ResNet-101 at 256x256: +97 MB, counted in weight_bytes). 0: im2col +
     * sgemm everywhere. Both stay within 1e-4 relative of PyTorch. */
    int winograd;
    /* sc_resnet_load_st only. 1: convs stored pre-folded (tensors
     * <conv>.weight + <conv>.bias and no BatchNorm, as tools/convert_sat.py
     * --fold-bn writes) are used in place from st's mapping, zero copy; st
     * must then stay open until sc_resnet_free. Once sc_resnet_plan has
     * packed (or Winograd-transformed) them, their pages are released from
     * the process (sc_safetensors_release), so each conv's weights are held
     * once. 0 (default): copied. */
    int borrow_weights;
    /* 1: also keep what gradients need (sc_cam_model.h): the plain folded
     * conv weights beside the packed ones (about 1x the weights more) and
     * the stem's conv1 before bn1. 0 (default): inference only. */
    int backward;
} sc_resnet_params;

sc_resnet_params sc_resnet_default_params(void);
/* Pre-folded files: a conv whose BN tensors are absent and that has a
 * <conv>.bias is taken as already folded (w' = w gamma / sqrt(var + eps),
 * b' = beta - mean gamma / sqrt(var + eps)); names stay PyTorch's
 * (Conv2d.bias). Such files are accepted by every loader. */

typedef struct sc_resnet_info {
    char arch[16];                       /* "resnet101" */
    int depth;                           /* 18, 34, 50, 101, 152 */
    int bottleneck;                      /* 1 for resnet50 and deeper */
    int feature_channels;                /* 512 or 2048 */
    int has_head;                        /* fc loaded (include_head) */
    int num_classes;                     /* fc output size (0 without head) */
    size_t weight_bytes;                 /* bytes of owned (folded) weights */
    size_t arena_bytes;                  /* bytes of the activation arena (0 before planning) */
    int planned_N, planned_H, planned_W; /* 0 before planning */
} sc_resnet_info;

/* Load and fold a model. params NULL means defaults. On failure *out is
 * NULL and the message names the file and the tensor/key at fault:
 * SC_ERR_IO (open), SC_ERR_FORMAT (corrupt file, missing tensor or config,
 * bad JSON, unused tensor), SC_ERR_SHAPE (misshaped tensor),
 * SC_ERR_UNSUPPORTED (unknown arch, non-float dtype). */
sc_status sc_resnet_load(const char *path, const sc_resnet_params *params, sc_resnet **out);
/* Load from an open safetensors file whose tensors are prefix + torchvision
 * names (e.g. "encoder.conv1.weight" with prefix "encoder."); tensors outside
 * the prefix are ignored, unused tensors inside it are an error as above. The
 * architecture is inferred from the tensors (bottleneck blocks have conv3; the
 * number of blocks per layer picks the depth); BN eps is 1e-5. st is only
 * read during the call (the weights are copied and folded), unless
 * params->borrow_weights lets pre-folded convs stay in st's mapping. */
sc_status sc_resnet_load_st(sc_safetensors *st, const char *prefix, const sc_resnet_params *params,
                            sc_resnet **out);
void sc_resnet_free(sc_resnet *m);
sc_status sc_resnet_get_info(const sc_resnet *m, sc_resnet_info *info);

/* Size of the layer4 feature map for an H x W input (FH = ceil(H/32) for
 * the usual sizes; exactly the conv/pool arithmetic). */
sc_status sc_resnet_feature_size(const sc_resnet *m, int H, int W, int *FH, int *FW);

/* Size the activation arena for inputs of N x 3 x H x W (allocates it;
 * replaces any previous plan). The arena holds one image's buffers per
 * thread that a batch of N runs on (min(threads, N) sets), not N images. */
sc_status sc_resnet_plan(sc_resnet *m, int N, int H, int W);

/* x: (N, 3, H, W). features: (N, feature_channels, FH, FW) or NULL;
 * logits: (N, num_classes) or NULL (requires include_head). At least one
 * output must be given. Outputs must not alias x. One image runs on all
 * threads (each conv split between them); a batch runs an image per thread
 * (re-planning the arena if it was planned for fewer images than threads),
 * each image giving the bits it gives alone on one thread. */
sc_status sc_resnet_forward(sc_resnet *m, const float *x, int N, int H, int W, float *features,
                            float *logits);

#ifdef __cplusplus
}
#endif
#endif
