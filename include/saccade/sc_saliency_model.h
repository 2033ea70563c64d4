/* saccade: model-based saliency: where a trained model looks.
 *
 * Methods
 *   attention  a captioner's attention weights (alphas over the grid x grid
 *              cells, sc_captioner.h) for one word of its own caption, or
 *              aggregated (mean or max per cell) over the caption's words
 *              (<end> excluded), upsampled and smoothed exactly as the
 *              attention grid figures (sc_attention_upsample), min-max
 *              normalised.
 *   gradcam    Grad-CAM (Selvaraju et al. 2017): channel weights = the mean
 *              over the feature map of the target's gradient, ReLU of the
 *              weighted sum of the feature maps, divided by its maximum.
 *              Classifier / ST-CNN: the last conv feature map of the
 *              classifier's encoder, target = a class logit (pre-softmax);
 *              for the ST-CNN the map lives on the glimpse and is warped back
 *              to the input through the inverse of theta (zero outside the
 *              glimpse). Captioner: the (P, E) feature grid, target = the
 *              teacher-forced log-probability of one word at the step that
 *              generated it (or of the whole generated caption), upsampled and
 *              smoothed as attention maps.
 *   gradient   plain input gradient (Simonyan et al. 2014): max over channels
 *              of |d target / d pixel|, divided by its maximum. The captioner
 *              needs a cnn or vit encoder (backward through it to the image); the
 *              gradient is taken w.r.t. the model's (resized) input, in pixel
 *              units ([0, 1] values), and resized bilinearly to the image.
 *   rollout    attention rollout (Abnar & Zuidema 2020) through a captioner's
 *              ViT encoder (sc_vit.h): per layer the heads' mean attention +
 *              I, rows renormalised, multiplied through the layers
 *              (sc_attention_rollout_matrix; discard_ratio first drops the
 *              smallest weights per layer, as jacobgil/vit-explain). By
 *              default the decoder's attention (for the word, or aggregated
 *              as for 'attention') is carried through it to the input
 *              patches (sc_captioner_encoder_rollout), so the map explains
 *              the caption; rollout_cls = 1 takes the class token's row
 *              instead (classic ViT rollout; explains the encoder, no word).
 *              Upsampled and smoothed as attention maps, min-max normalised.
 *              Models without a ViT encoder get SC_ERR_UNSUPPORTED naming
 *              their encoder. A ViT classifier (sc_cam_model.h) takes it too:
 *              from the class token, as sc_cam.h says, placed on the image
 *              as the CAMs are.
 * Classifiers and ST-CNNs take every method of the CAM family and the input
 * attributions of sc_cam.h (gradcam, gradcam++, xgradcam, hirescam,
 * layercam, eigencam, eigengradcam, scorecam, ablationcam, gradient,
 * smoothgrad, intgrad) through sc_cam_compute_image, at p->layer, with
 * pytorch-grad-cam's normalisation (that header says which); for them
 * 'gradient' is taken w.r.t. the model's input tensor (normalised). The
 * captioner and BLIP rows above are theirs alone.
 * Every map is h x w of the image given, values in [0, 1].
 *
 * Models: sc_saliency_model_load picks the kind with sc_model_probe
 * (sc_model_probe.h): an ST-CNN (sc_stn.h), a classifier (sc_classifier.h),
 * a captioner (sc_captioner.h), BLIP (sc_blip.h: a Hugging Face folder or
 * a saccade BLIP file) or ViT-GPT2 (sc_vit_gpt2.h: a Hugging Face folder). BLIP's caption is
 * generated with the model config's settings (sc_blip_default_generate_params: greedy unless the
 * config says otherwise); 'attention' is the cross-attention of the default layer (2 * layers / 3),
 * mean over heads, class token left out; 'gradcam' is the gradient-weighted cross-attention of that
 * layer (sc_blip_gradcam: attention times the positive part of its gradient for the word's
 * log-probability), the map BLIP's own grounding demos draw. Both are
 * upsampled and smoothed as attention maps; attention is min-max
 * normalised, gradcam divided by its maximum. Words are matched against the
 * vocabulary's spelling of each generated token (a WordPiece continuation
 * keeps its "##"), else against the caption's whole words. A ViT-GPT2
 * folder (sc_vit_gpt2.h) takes the same two methods the same way: its
 * caption with the folder's generation settings, the cross-attention of its
 * default layer, and the gradient-weighted cross-attention
 * (sc_vit_gpt2_gradcam); its tokens are matched as their text without the
 * leading space, then as whole words.
 * 'itm' takes a BLIP image-text matching model (Hugging Face
 * BlipForImageTextRetrieval: config.json's architectures say so) and a
 * text: the Grad-CAM of the phrase, as BLIP's demo computes it
 * (sc_blip_itm_saliency), divided by its maximum.
 * Classifier inputs: the image is resized (triangle filter) to the model's
 * input size and converted to gray (0.299, 0.587, 0.114) for 1-channel
 * models, as 'saccade stn' does. A model must not be used from two threads
 * at once. */
#ifndef SACCADE_SC_SALIENCY_MODEL_H
#define SACCADE_SC_SALIENCY_MODEL_H

#include <stdint.h>
#include "saccade/sc_cam.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_stn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- kernels */
/* Grad-CAM of a feature map and the target's gradient w.r.t. it, both
 * (C, h, w): w_c = mean_ij grad[c, i, j], cam = ReLU(sum_c w_c fmap[c]),
 * divided by its maximum (all zero when the maximum is not > 0). cam: h*w. */
sc_status sc_gradcam(const float *fmap, const float *grad, int C, int h, int w, float *cam);
/* Input-gradient map: map[i] = max_c |grad[c, i]| (grad (C, h, w)), divided
 * by its maximum (all zero for a zero gradient). map: h*w. */
sc_status sc_gradient_map(const float *grad, int C, int h, int w, float *map);

/* ---------------------------------------------------------------- models */
/* sc_model_saliency_method and its names: sc_cam.h. */

typedef enum sc_saliency_aggregate {
    SC_SAL_AGG_MEAN = 0,
    SC_SAL_AGG_MAX = 1
} sc_saliency_aggregate;

typedef struct sc_model_saliency_params {
    sc_beam_params beam;             /* captioner: decoding of the caption (beam 5, max_len 51) */
    const char *word;                /* captioner: NULL = the whole caption; else the first step
                                        that generated this word (SC_ERR_INVALID_ARG when the
                                        caption lacks it; the message quotes the caption) */
    sc_saliency_aggregate aggregate; /* attention over the caption's words (mean) */
    int target;                      /* classifiers: class index, -1 = the predicted class */
    float discard_ratio;             /* rollout: share of the smallest attention weights dropped
                                        per layer, [0, 1) (0: plain rollout); classifiers
                                        too (it replaces cam.discard_ratio) */
    int rollout_cls;                 /* rollout: 0 = from the decoder's attention (word or
                                        aggregate, as attention), 1 = from the class token */
    const char *layer;               /* classifiers: the CAM layer (NULL: the last stage) */
    sc_cam_params cam;               /* classifiers: the CAM family's options (sc_cam.h) */
    const char *text;                /* itm: the phrase to find (required) */
    int itm_layer;                   /* itm: the text encoder's layer, -1 = 2 * layers / 3 */
} sc_model_saliency_params;
sc_model_saliency_params sc_model_saliency_default_params(void);

typedef struct sc_model_saliency_info {
    char caption[512]; /* captioner: the generated caption (truncated to fit); classifiers:
                          the name of the class explained */
    int step;          /* captioner: 0-based index of the word among the generated
                          tokens, -1 for the whole caption */
    int target;        /* classifiers: the class explained; captioner: the word's id, -1 */
    double score;      /* the differentiated quantity: the class logit, or the log-probability
                          of the word / of the whole caption (<end> included); attention: the
                          word's log-probability or the caption's score */
} sc_model_saliency_info;

typedef enum sc_saliency_model_kind {
    SC_SMODEL_CAPTIONER = 0,
    SC_SMODEL_CLASSIFIER = 1,
    SC_SMODEL_STCNN = 2,
    SC_SMODEL_BLIP = 3,
    SC_SMODEL_IMAGENET = 4, /* a torchvision ResNet or ViT classifier (sc_cam_model.h) */
    SC_SMODEL_BLIP_ITM = 5, /* a BlipForImageTextRetrieval folder or file */
    SC_SMODEL_VIT_GPT2 = 6  /* a ViT-GPT2 captioning folder (sc_vit_gpt2.h) */
} sc_saliency_model_kind;

typedef struct sc_saliency_model sc_saliency_model; /* opaque */
/* Load a captioner, classifier, ST-CNN or torchvision ImageNet classifier
 * file (tools/convert_torchvision.py; kind from its metadata;
 * SC_ERR_UNSUPPORTED naming the file for any other model, e.g. VQA). */
sc_status sc_saliency_model_load(const char *path, sc_saliency_model **out);
void sc_saliency_model_free(sc_saliency_model *m);
sc_saliency_model_kind sc_saliency_model_get_kind(const sc_saliency_model *m);
/* "captioner", "classifier", "stcnn", "blip", "imagenet", "blip-itm", "vit-gpt2". */
const char *sc_saliency_model_kind_name(sc_saliency_model_kind k);
/* The underlying model (NULL for the other kinds); owned by m. */
sc_captioner *sc_saliency_model_captioner(sc_saliency_model *m);
sc_classifier *sc_saliency_model_classifier(sc_saliency_model *m);
sc_stcnn *sc_saliency_model_stcnn(sc_saliency_model *m);
struct sc_blip;
struct sc_blip *sc_saliency_model_blip(sc_saliency_model *m);
struct sc_blip_itm;
struct sc_blip_itm *sc_saliency_model_blip_itm(sc_saliency_model *m);
struct sc_vit_gpt2;
struct sc_vit_gpt2 *sc_saliency_model_vit_gpt2(sc_saliency_model *m);

/* The map of `method` for img (1, 3 or 4 channels) into out (img->w x
 * img->h, new). p may be NULL (defaults); info may be NULL. Errors:
 * SC_ERR_UNSUPPORTED for a method the model cannot do (attention on a
 * classifier, gradient on a captioner without a cnn encoder, rollout),
 * SC_ERR_INVALID_ARG for a word on a classifier, a class out of range, or
 * a word that is not in the caption (the message quotes the caption). */
sc_status sc_saliency_model_compute(sc_saliency_model *m, sc_model_saliency_method method,
                                    const sc_image *img, const sc_model_saliency_params *p,
                                    sc_map *out, sc_model_saliency_info *info);

/* A classifier's or ST-CNN's class by exact name or decimal index
 * (SC_ERR_INVALID_ARG naming the valid range otherwise; SC_ERR_UNSUPPORTED
 * for captioners). */
sc_status sc_saliency_model_class(sc_saliency_model *m, const char *name_or_index, int *k);

/* Faithfulness of a classifier's or ST-CNN's map of `method` for img
 * (sc_cam_faithfulness: deletion / insertion curves and AUCs, ROAD) for the
 * class p->target (-1: the top class), on the model's input tensor. step:
 * pixels per deletion step (0: the input's width); road_noise: ROAD's
 * imputation noise (pytorch-grad-cam: 0.01), drawn from sc_rng(p->cam.seed).
 * info as sc_saliency_model_compute. SC_ERR_UNSUPPORTED for captioners. */
sc_status sc_saliency_model_faithfulness(sc_saliency_model *m, sc_model_saliency_method method,
                                         const sc_image *img, const sc_model_saliency_params *p,
                                         int step, float road_noise, sc_faithfulness *out,
                                         sc_model_saliency_info *info);

/* ---------------------------------------------------------------- pieces
 * At the model's own resolution, for tests and other front ends. */

/* Captioner: log p(tokens[t] | tokens[0..t-1], features) teacher-forced in
 * eval mode (tokens[0] is normally <start>), t in 1..n-1, or t = 0 for the
 * sum over t = 1..n-1; *logp gets it and dfeatures (P, E, overwritten) its
 * gradient w.r.t. features (P, E). Uses sc_captioner_loss (which also
 * accumulates into the decoder's parameter grads). */
sc_status sc_captioner_logprob_grad(sc_captioner *m, const float *features, const int32_t *tokens,
                                    int n, int t, double *logp, float *dfeatures);

/* Classifier on x (C, in_h, in_w) in [0, 1], eval mode. target -1 = the
 * predicted class; *target_out (may be NULL) gets the class used, *logit
 * (may be NULL) its logit. gradcam: cam (fh * fw, the encoder's output size,
 * sc_cnn_output_size; may be NULL) and map (in_h * in_w: cam upsampled
 * bilinearly, align_corners = 0; may be NULL). gradient: dx (C, in_h, in_w,
 * d logit / d x; may be NULL) and map (in_h * in_w; may be NULL). */
sc_status sc_classifier_gradcam(sc_classifier *m, const float *x, int target, float *cam,
                                float *map, int *target_out, double *logit);
sc_status sc_classifier_gradient(sc_classifier *m, const float *x, int target, float *dx,
                                 float *map, int *target_out, double *logit);
/* ST-CNN on x (C, in_h, in_w): as above; Grad-CAM on the classifier's
 * encoder output for the glimpse, cam (fh * fw) upsampled to the glimpse
 * (out_h x out_w) and sampled at theta^-1 (input pixel) (grid_sample,
 * bilinear, zero padding, align_corners = 0) into map (in_h * in_w). */
sc_status sc_stcnn_gradcam(sc_stcnn *m, const float *x, int target, float *cam, float *map,
                           int *target_out, double *logit);
sc_status sc_stcnn_gradient(sc_stcnn *m, const float *x, int target, float *dx, float *map,
                            int *target_out, double *logit);

#ifdef __cplusplus
}
#endif
#endif
