/* saccade: torchvision ImageNet classifiers (ResNet-18..152 with fc, ViT-B/16
 * and ViT-B/32) on photos, preprocessed as the weights' own transforms.
 *
 * File: written by tools/convert_torchvision.py; tensors under torchvision's
 * state_dict names, __metadata__
 *   saccade.kind        "resnet" (a ResNet) or "vit_classifier" (a ViT)
 *   saccade.config      {"arch": "resnet50", "bn_eps": 1e-05} or {"arch": "vit_b_16",
 *                       "image_size": 224, "patch": 16, "dim": 768, "depth": 12,
 *                       "heads": 12, "mlp_dim": 3072, "layer_norm_eps": 1e-06}
 *   saccade.classes     JSON list of the class names (ImageNet's 1000 categories
 *                       from the weights' meta; "0", "1", ... when absent)
 *   saccade.preprocess  {"resize": 232, "crop": 224, "interpolation": "bilinear",
 *                       "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
 *                       (torchvision's ImageClassification preset of the weights;
 *                       when absent: resize 256, crop 224, bilinear, ImageNet's
 *                       mean / std)
 * A ResNet file without fc.* (convert_torchvision.py --no-fc) is an encoder,
 * not a classifier: loading it here is SC_ERR_UNSUPPORTED.
 *
 * Preprocessing (sc_imagenet_classifier_preprocess) is torchvision's
 * ImageClassification preset on a PIL image (Image.open(p).convert("RGB")
 * then weights.transforms()): F.resize of the short side to `resize`
 * (long side int(resize * long / short)) by Pillow's Image.resize with the
 * preset's filter (antialiased, 8-bit result; sc_image_resize_pil is
 * bit-exact), F.center_crop to crop x crop (offsets int(round((side -
 * crop) / 2.0)), Python's round-half-even; zero padding when the resized
 * image is smaller, as center_crop pads), then /255 and (v - mean) / std.
 * (torchvision 0.14's tensor path resizes without antialiasing unless told:
 * results then differ from the PIL path.) Gray images are replicated to
 * RGB; alpha is dropped (as convert("RGB")).
 *
 * Threads: sc_get_num_threads(). A model must not be used from two threads
 * at once. Gradients, layer activations and forwards from a layer are in
 * sc_cam_model.h. */
#ifndef SACCADE_SC_IMAGENET_CLASSIFIER_H
#define SACCADE_SC_IMAGENET_CLASSIFIER_H

#include <stddef.h>
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_imagenet_classifier sc_imagenet_classifier; /* opaque */

typedef struct sc_imagenet_classifier_params {
    int threads;   /* > 0: sc_set_num_threads(threads) at load; 0 (default): leave it */
    int winograd;  /* ResNet: 1 (default) Winograd 3x3 convs where they pay, 0 im2col */
    int gradients; /* 1 (default): keep what sc_cam_model's backward needs (the ResNet's
                      plain conv weights besides the packed ones: about 1x the weights
                      more); 0: inference only (sc_cam_model_backward is
                      SC_ERR_UNSUPPORTED) */
} sc_imagenet_classifier_params;
sc_imagenet_classifier_params sc_imagenet_classifier_default_params(void);

typedef struct sc_imagenet_preprocess {
    int resize;            /* short side after resizing */
    int crop;              /* centre crop side = the model's input side */
    int filter;            /* sc_pil_filter (SC_PIL_BILINEAR, SC_PIL_BICUBIC) */
    float mean[3], std[3]; /* per RGB channel, on [0, 1] values */
} sc_imagenet_preprocess;

typedef struct sc_imagenet_classifier_info {
    char arch[32]; /* "resnet50", "vit_b_16", ... */
    char kind[16]; /* "resnet" or "vit" */
    int num_classes;
    int input_size; /* the model's input side (= preprocess.crop) */
    sc_imagenet_preprocess preprocess;
} sc_imagenet_classifier_info;

/* params NULL: defaults. Errors name the file: those of sc_model_probe /
 * sc_resnet_load / sc_vit_open_view, SC_ERR_UNSUPPORTED for a model that is
 * not a classifier (e.g. a ResNet without fc, a captioner), SC_ERR_FORMAT
 * for bad saccade.classes / saccade.preprocess. */
sc_status sc_imagenet_classifier_load(const char *path, const sc_imagenet_classifier_params *params,
                                      sc_imagenet_classifier **out);
void sc_imagenet_classifier_free(sc_imagenet_classifier *m);
sc_status sc_imagenet_classifier_get_info(const sc_imagenet_classifier *m,
                                          sc_imagenet_classifier_info *info);
/* Name of class k (NULL when out of range). */
const char *sc_imagenet_classifier_class_name(const sc_imagenet_classifier *m, int k);

/* Geometry of the preprocessing for a w x h image: the resized size and the
 * crop's top-left corner in the resized image (negative when padded). A map
 * over the crop covers resized pixels [x0, x0 + crop) x [y0, y0 + crop). */
typedef struct sc_imagenet_geometry {
    int resized_w, resized_h;
    int crop_x0, crop_y0, crop;
} sc_imagenet_geometry;
sc_status sc_imagenet_geometry_of(const sc_imagenet_preprocess *p, int w, int h,
                                  sc_imagenet_geometry *g);

/* img (1, 3 or 4 channels) -> x (3, crop, crop), normalised; g may be NULL. */
sc_status sc_imagenet_preprocess_image(const sc_imagenet_preprocess *p, const sc_image *img,
                                       float *x, sc_imagenet_geometry *g);
sc_status sc_imagenet_classifier_preprocess(const sc_imagenet_classifier *m, const sc_image *img,
                                            float *x);

/* Logits (N, num_classes) of N preprocessed inputs x (N, 3, crop, crop). */
sc_status sc_imagenet_classifier_logits(sc_imagenet_classifier *m, const float *x, int N,
                                        float *logits);

typedef struct sc_class_score {
    int index;  /* class index */
    float prob; /* softmax probability */
    float logit;
    const char *name; /* the model's name for it (valid until the model is freed) */
} sc_class_score;

/* Preprocess img, run the model and give the k most probable classes in
 * decreasing probability (ties: lower index first) into top (k entries;
 * 1 <= k <= num_classes). probs (num_classes) may be NULL. */
sc_status sc_imagenet_classifier_classify(sc_imagenet_classifier *m, const sc_image *img, int k,
                                          sc_class_score *top, float *probs);
/* The same for a batch of N preprocessed inputs: top (N, k), probs (N,
 * num_classes) or NULL. */
sc_status sc_imagenet_classifier_classify_batch(sc_imagenet_classifier *m, const float *x, int N,
                                                int k, sc_class_score *top, float *probs);

#ifdef __cplusplus
}
#endif
#endif
