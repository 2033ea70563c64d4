/* BLIP internals shared by the files of vision/blip/ (not installed). */
#ifndef SACCADE_BLIP_INTERNAL_H
#define SACCADE_BLIP_INTERNAL_H

#include "saccade/sc_blip.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_tensor.h"
#include "saccade/sc_vit.h"
#include "saccade/sc_wordpiece.h"
#include "decoding/decoding.h"

/* One BERT layer of the text decoder (weights in the mapped file, (out, in)). */
typedef struct blip_text_layer {
    const float *sq_w, *sq_b, *sk_w, *sk_b, *sv_w, *sv_b; /* self-attention (D, D), (D) */
    const float *so_w, *so_b, *sln_w, *sln_b;             /* its output dense + LayerNorm */
    const float *cq_w, *cq_b;                             /* cross-attention query (D, D) */
    const float *ck_w, *ck_b, *cv_w, *cv_b;               /* keys / values (D, Dv) */
    const float *co_w, *co_b, *cln_w, *cln_b;
    const float *fi_w, *fi_b; /* intermediate (F, D) */
    const float *fo_w, *fo_b; /* output (D, F) */
    const float *fln_w, *fln_b;
} blip_text_layer;

/* Decoding state (the shared decoders' memory, vision/decoding/). */
typedef dec_state blip_state;

/* What the backward of one query position needs from a teacher-forced
 * forward of one row from position 0 (blip_step records it when m->trace is
 * set; hd is the prediction head's dense output, pre-GELU), and the probe
 * that nudges one cross-attention probability (sc_blip_gradcam's finite
 * differences): the shared block's (vision/decoding/). */
typedef dec_trace blip_trace;
typedef dec_probe blip_probe;

struct sc_blip {
    sc_blip_config cfg;
    sc_safetensors *st;
    char *path;
    sc_wordpiece *wp; /* the tokenizer; its size is text_config.vocab_size */
    sc_vit *vit;
    /* text decoder */
    const float *word_emb, *pos_emb, *emb_ln_w, *emb_ln_b;
    blip_text_layer *layers;
    dec_block block; /* the layers as the shared block runs them (post-LN) */
    dec_layer *block_layers;
    const float *head_w, *head_b, *head_ln_w, *head_ln_b; /* transform */
    const float *dec_w, *dec_b;                           /* (V, D), (V) */
    /* inference memory */
    sc_arena *arena;
    blip_state s;
    float *image;      /* s.image: (Ti, Dv) image features the image keys / values came from */
    int have_image;    /* img_k / img_v hold the keys / values of `image` */
    blip_trace *trace; /* non-NULL: blip_step records into it */
    blip_probe probe;
    /* file texts kept for sc_blip_save_single */
    char *config_json, *vocab_txt, *preproc_json, *tokcfg_json;
};

/* blip_decoder.c: plan the state for rows x cap with up to n_new tokens per
 * call for all rows, or cap tokens for one row (re-plans only when larger;
 * empties the cache); set the image (copies
 * the features to m->image and computes the image keys and values); run n
 * new tokens of every row (ids (rows, n)) through the decoder with the
 * cache: logits (rows, n, V) when all_logits, else (rows, V) of each row's
 * last token; cross-attention (rows, n, layers, heads, Ti). */
sc_status blip_plan(sc_blip *m, int rows, int cap, int n_new);
sc_status blip_set_image(sc_blip *m, const float *image_features);
sc_status blip_step(sc_blip *m, int rows, const int *ids, int n, int all_logits);
/* Gather rows of the self-attention cache: new row r = old row src[r]. */
void blip_reorder(sc_blip *m, int rows, const int *src);

/* blip_gradcam.c: the gradient of log p(seq[q + 1] | seq[0..q]) with
 * respect to the cross-attention probabilities of `layer` for query q, for
 * every q in q0..n - 2: grad and attn ((n - 1 - q0), H, Ti) (attn may be
 * NULL). image_features (Ti, Dv). */
void blip_gradcam_maps(const sc_blip *m, const float *grad, const float *attn, int n,
                       uint64_t head_mask, float *out);
sc_status blip_cross_attention_grads(sc_blip *m, const float *image_features, const int *seq, int n,
                                     int q0, int layer, float *grad, float *attn);

/* blip_config.c: config.json fields. blip_read_fields sets the fields of f
 * present in obj (a present field of the wrong type: SC_ERR_FORMAT "<name>:
 * <where><key> must be ..."); blip_json_type names a value's JSON type. */
struct cJSON;
typedef enum { F_INT, F_FLOAT, F_BOOL } blip_field_kind;
typedef struct {
    const char *key;
    blip_field_kind kind;
    void *dst; /* int (F_INT, F_BOOL) or float */
} blip_field;
sc_status blip_read_fields(const struct cJSON *obj, const blip_field *f, size_t n, const char *name,
                           const char *where);
const char *blip_json_type(const struct cJSON *e);
/* early_stopping (true, false or "never": 1, 0, 2) of obj, and the
 * generation settings this engine does not implement (repetition_penalty,
 * no_repeat_ngram_size, ...), accepted at their neutral values only. */
sc_status blip_generation_extras(const struct cJSON *obj, const char *name, const char *where,
                                 int *early_stopping);

/* blip_preprocess.c: pixel values (3, S, S) of img (RGB or RGBA) as p says
 * (BlipImageProcessor's steps, shared by ViTImageProcessor); fn names the
 * caller in messages. */
struct sc_image;
sc_status blip_pixels(const sc_blip_preprocess_config *p, int S, const struct sc_image *img,
                      float *pixel_values, const char *fn);
/* The same into *out, malloc'd (3, S, S), for any image (gray ones repeated
 * to RGB first, as the caption front ends take them). */
sc_status blip_image_pixels(const sc_blip_preprocess_config *p, int S, const struct sc_image *img,
                            const char *fn, float **out);

#endif
