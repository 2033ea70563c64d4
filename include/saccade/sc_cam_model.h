/* saccade: a classifier seen from a layer, for class activation maps and
 * gradient methods: layer names, forward giving logits and the activation at
 * a layer, backward from any combination of logits to that activation and
 * to the input, forwards that continue from a given (e.g. ablated)
 * activation, and plain batched forwards.
 *
 * Models
 *   ImageNet classifiers (sc_imagenet_classifier.h): a torchvision ResNet or
 *   ViT. Input x: the preprocessed, normalised tensor (N, 3, S, S), S the
 *   crop (what torchvision's transforms give and pytorch-grad-cam's users
 *   feed the model); dx is d/dx of that tensor.
 *   The Fashion classifier (sc_classifier.h). Input x: pixels in [0, 1],
 *   (N, C, in_h, in_w) (the model normalises them itself).
 *
 * Layers (activations (N, C, h, w), channel-major like a conv's output)
 *   ResNet: "conv1" (the stem conv's output before bn1, as torchvision's
 *   model.conv1), "relu" (after bn1 and ReLU), "maxpool", every block
 *   "layer1.0" .. "layer4.2" (a block's output, after its final ReLU) and
 *   every stage "layer1" .. "layer4" (= its last block). BatchNorm is folded
 *   into the convs at load: activations and gradients equal the unfolded
 *   network's up to float rounding. Default: "layer4".
 *   ViT: "encoder.layers.N" (also spelled "encoder.layers.encoder_layer_N",
 *   torchvision's module name), the tokens leaving encoder layer N before the
 *   final LayerNorm, with the class token dropped and the G x G patch tokens
 *   reshaped to (D, G, G) (pytorch-grad-cam's reshape_transform:
 *   t[:, 1:, :].reshape(B, G, G, D) then channels first). Default: the last
 *   layer's INPUT, "encoder.layers.<depth-2>" (the output of the last layer
 *   reaches the class token only through the final LayerNorm, so its patch
 *   tokens get zero gradient).
 *   Fashion classifier: "encoder" (the CNN's output map).
 *
 * Memory: sc_cam_model_forward keeps every activation the backward needs for
 * the whole batch (ResNet-50 at 224 x 224: about 45 MB per image); the
 * other forwards keep nothing beyond the model's scratch.
 *
 * A model must not be used from two threads at once. */
#ifndef SACCADE_SC_CAM_MODEL_H
#define SACCADE_SC_CAM_MODEL_H

#include <stddef.h>
#include "saccade/sc_classifier.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_imagenet_classifier.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_cam_model sc_cam_model; /* opaque */

/* Open any classifier file: an ImageNet ResNet / ViT (loaded with
 * gradients on) or a Fashion classifier; other models are
 * SC_ERR_UNSUPPORTED ("... is a captioner, not a classifier"). */
sc_status sc_cam_model_load(const char *path, sc_cam_model **out);
/* Wrap a loaded model (borrowed: it must outlive the wrapper). An ImageNet
 * classifier loaded without params.gradients = 1 runs forward_from and
 * logits only. */
sc_status sc_cam_model_from_imagenet(sc_imagenet_classifier *c, sc_cam_model **out);
sc_status sc_cam_model_from_classifier(sc_classifier *c, sc_cam_model **out);
void sc_cam_model_free(sc_cam_model *m);

typedef struct sc_cam_model_info {
    char arch[32];   /* "resnet50", "vit_b_16", "classifier" */
    int in_channels; /* x is (N, in_channels, in_h, in_w) */
    int in_h, in_w;
    int num_classes;
    int tokens;             /* 1: a ViT (layer activations are reshaped patch tokens) */
    char default_layer[48]; /* see above */
} sc_cam_model_info;
sc_status sc_cam_model_get_info(const sc_cam_model *m, sc_cam_model_info *info);

/* Input size of the tensors forward / backward / logits take from now on
 * (default: the model's own, info.in_h x info.in_w). A ResNet takes any size
 * (layer shapes follow); the ViT and the Fashion classifier only their own
 * (SC_ERR_UNSUPPORTED otherwise). Ends the last forward. */
sc_status sc_cam_model_set_input_size(sc_cam_model *m, int h, int w);

/* The model's layers, in forward order (i in 0..count-1; NULL out of range). */
int sc_cam_model_layer_count(const sc_cam_model *m);
const char *sc_cam_model_layer_name(const sc_cam_model *m, int i);
/* Activation shape of a layer for one image: (*C, *h, *w). An unknown name
 * is SC_ERR_INVALID_ARG whose message lists the valid ones. */
sc_status sc_cam_model_layer_shape(const sc_cam_model *m, const char *layer, int *C, int *h,
                                   int *w);

/* Class k's name (NULL out of range). */
const char *sc_cam_model_class_name(const sc_cam_model *m, int k);
/* A class given as a name (exact, then case-insensitive) or a decimal index
 * -> *k. SC_ERR_INVALID_ARG when unknown or out of range (the message says
 * the valid range). */
sc_status sc_cam_model_class_from_string(const sc_cam_model *m, const char *s, int *k);

/* An image -> the model's input x (in_channels, in_h, in_w): ImageNet
 * models preprocess as their weights' transforms (g, may be NULL, gets the
 * crop geometry); the Fashion classifier resizes (triangle filter) to its
 * input and converts to gray as 'saccade saliency' does (g then describes a
 * plain resize: crop_x0 = crop_y0 = 0, resized = input size). */
sc_status sc_cam_model_preprocess(const sc_cam_model *m, const sc_image *img, float *x,
                                  sc_imagenet_geometry *g);

/* Forward of x (N, ...): logits (N, num_classes) or NULL, and the layer's
 * activation act (N, C, h, w) or NULL (layer NULL: no activation). Keeps what
 * sc_cam_model_backward needs. */
sc_status sc_cam_model_forward(sc_cam_model *m, const float *x, int N, const char *layer,
                               float *logits, float *act);
/* Backward of the last sc_cam_model_forward for the scalar sum_n,k dlogits[n,
 * k] * logits[n, k] (one-hot rows: the class scores; raw logits, before any
 * softmax): dact (N, C, h, w) = its gradient w.r.t. the forward's layer
 * activation (NULL: not wanted; needs the forward's layer), dx (N, ...) =
 * w.r.t. the input (NULL: the backward stops at the layer). Both are
 * OVERWRITTEN. Can be called again with other dlogits (the forward's state
 * is kept until the next forward of any kind). SC_ERR_INVALID_ARG without a
 * forward before; SC_ERR_UNSUPPORTED for an inference-only model. */
sc_status sc_cam_model_backward(sc_cam_model *m, const float *dlogits, float *dact, float *dx);
/* Logits (N, num_classes) of the network continued from act (N, C, h, w) at
 * layer (e.g. the forward's activation with a channel zeroed, for
 * AblationCAM): layer's own output replaced, everything after it run. ViT:
 * act holds the patch tokens; image n's class token at that layer is
 * that of image n mod N' of the last sc_cam_model_forward (of N' images;
 * SC_ERR_INVALID_ARG when there was none): N copies of one image ablated
 * differently all get its class token.
 * Invalidates the forward's state (no backward
 * after it). */
sc_status sc_cam_model_forward_from(sc_cam_model *m, const char *layer, const float *act, int N,
                                    float *logits);
/* ViT only: the class token (D floats) leaving `layer` for image b of the
 * last sc_cam_model_forward, and the logits (N, num_classes) of the network
 * continued from that layer given the patch tokens act (N, D, G, G) AND the
 * class tokens cls (N, D) (pytorch-grad-cam's AblationLayerVit ablates a
 * channel of every token, the class token's too). SC_ERR_UNSUPPORTED for
 * other models; forward_from_tokens invalidates the forward's state. */
sc_status sc_cam_model_vit_class_token(const sc_cam_model *m, const char *layer, int b, float *cls);
sc_status sc_cam_model_vit_forward_from_tokens(sc_cam_model *m, const char *layer, const float *act,
                                               const float *cls, int N, float *logits);
/* Plain batched forward: logits (N, num_classes) of x; keeps nothing (fast
 * path: ScoreCAM's masked inputs, faithfulness curves). Invalidates the
 * forward's state. */
sc_status sc_cam_model_logits(sc_cam_model *m, const float *x, int N, float *logits);

/* ViT only: attention rollout (sc_vit_rollout: class token's row, heads
 * averaged, discard_ratio of the smallest weights dropped per layer) of
 * image b of the last sc_cam_model_forward, out (G, G). SC_ERR_UNSUPPORTED
 * for other models. */
sc_status sc_cam_model_vit_rollout(const sc_cam_model *m, int b, float discard_ratio, float *out);

#ifdef __cplusplus
}
#endif
#endif
