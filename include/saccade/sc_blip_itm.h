/* saccade: where is it? BLIP image-text matching and its Grad-CAM (Hugging
 * Face BlipForImageTextRetrieval, e.g. Salesforce/blip-itm-base-coco).
 *
 * Model (as transformers' modeling_blip.py / modeling_blip_text.py):
 *   vision        the ViT of sc_blip.h: image tokens (1 + G*G, Dv)
 *   text_encoder  BERT layers (BlipTextModel, text_encoder.*) over the ids as
 *                 the processor gives them, "[CLS] text [SEP]" ([CLS] first:
 *                 Salesforce's original code swaps in [ENC], Hugging Face
 *                 does not), bidirectional self-attention
 *   matching      (use_itm_head=True) the encoder with cross-attention to the
 *                 image; itm_head (2, D) on the [CLS] state: two logits, the
 *                 probability of a match is softmax(logits)[1]
 *   contrastive   (use_itm_head=False) the encoder WITHOUT the image; the
 *                 cosine of normalize(vision_proj(image[CLS])) and
 *                 normalize(text_proj(text[CLS])), no temperature
 * Grad-CAM, the method of BLIP's demo (LAVIS compute_gradcam): the
 * cross-attention probabilities A (heads, tokens, 1 + G*G) of one encoder
 * layer in the matching pass, dA the gradient of the positive logit
 * logits[1] (not the probability) with respect to them; map of token i =
 * mean over heads of A[h, i] * max(dA[h, i], 0) with the image class-token
 * column dropped; the phrase's map is the mean of the maps of its word
 * pieces (tokens 1 .. n-2: [CLS] and [SEP] left out). In the last layer
 * only [CLS]'s row has a gradient (the head reads [CLS] alone), so the word
 * maps of the last layer are zero: choose a lower one. The gradient is exact
 * (backpropagation through the encoder's upper layers), tested against
 * PyTorch's autograd and finite differences.
 *
 * A model must not be used from two threads at once. */
#ifndef SACCADE_SC_BLIP_ITM_H
#define SACCADE_SC_BLIP_ITM_H

#include <stdint.h>
#include "saccade/sc_blip.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_blip_itm sc_blip_itm; /* opaque */

/* A Hugging Face BlipForImageTextRetrieval folder (config.json with
 * image_text_hidden_size [256], model.safetensors with vision_model.*,
 * text_encoder.*, vision_proj.*, text_proj.*, itm_head.*, vocab.txt, ...) or
 * one saccade .safetensors holding the same. */
sc_status sc_blip_itm_load(const char *path, sc_blip_itm **out);
void sc_blip_itm_free(sc_blip_itm *r);
/* 1 when path is a BLIP image-text matching model: config.json (a folder's,
 * or a saccade file's "saccade.config") lists BlipForImageTextRetrieval in
 * its architectures; 0 otherwise (also for unreadable paths). */
int sc_blip_is_itm(const char *path);
sc_blip *sc_blip_itm_model(sc_blip_itm *r);

/* Encode the image (pixel values (3, S, S) or an image of 1 to 4 channels)
 * once for any number of texts. */
sc_status sc_blip_itm_set_pixels(sc_blip_itm *r, const float *pixel_values);
sc_status sc_blip_itm_set_image(sc_blip_itm *r, const sc_image *img);

/* Text -> [CLS] pieces [SEP] ids; empty, too long or invalid UTF-8:
 * SC_ERR_INVALID_ARG. *ids malloc'd. */
sc_status sc_blip_itm_text_ids(const sc_blip_itm *r, const char *text, int **ids, int *n);

/* Scores of ids (n) against the image set last: itm_logits (2) (may be
 * NULL), *probability = softmax(itm_logits)[1], *cosine the contrastive
 * similarity (either pointer may be NULL to skip that pass). */
sc_status sc_blip_itm_scores(sc_blip_itm *r, const int *ids, int n, float *itm_logits,
                             float *probability, float *cosine);

/* The gradient of the positive ITM logit with respect to the cross-attention
 * probabilities of encoder layer `layer` (-1: 2 * layers / 3, layer 8 of
 * BLIP-base's 12): grad and attn (n, heads, 1 + G*G) (attn may be NULL). */
sc_status sc_blip_itm_cross_grad(sc_blip_itm *r, const int *ids, int n, int layer, float *grad,
                                 float *attn);

typedef struct sc_blip_match {
    float itm_logits[2];
    float probability; /* softmax(itm_logits)[1] */
    float cosine;      /* contrastive heads' cosine similarity */
    int *ids;          /* (n) [CLS] text [SEP] */
    int n;
    char **words;   /* (n) token strings */
    int grid;       /* G */
    int layer;      /* the layer the maps come from */
    float *gradcam; /* (n, G, G) with gradcam, else NULL: each token's map */
    float *phrase;  /* (G, G) with gradcam: the mean of tokens 1 .. n-2 */
} sc_blip_match;

/* Match text against the image set last; with gradcam also the maps of
 * `layer` (-1: default) averaged over the heads in head_mask (0: all). out is
 * zeroed first. */
sc_status sc_blip_itm_match(sc_blip_itm *r, const char *text, int gradcam, int layer,
                            uint64_t head_mask, sc_blip_match *out);
void sc_blip_match_free(sc_blip_match *m);

/* Where is `text` in img? The phrase's Grad-CAM (sc_blip_itm_match, layer
 * -1: default) upsampled and smoothed to img->w x img->h as attention maps
 * (sc_attention_upsample), divided by its maximum (all zero when the maximum
 * is not > 0). Encodes img (sc_blip_itm_set_image). match (may be NULL)
 * receives the scores and token maps; out a new map. */
sc_status sc_blip_itm_saliency(sc_blip_itm *r, const sc_image *img, const char *text, int layer,
                               sc_map *out, sc_blip_match *match);

#ifdef __cplusplus
}
#endif
#endif
