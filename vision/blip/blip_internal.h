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

/* A BERT stack (BlipTextModel): embeddings and layers. The text encoder of
 * BLIP's VQA and retrieval models (text_encoder.*) is one, without a head. */
typedef struct blip_bert {
    const float *word_emb, *pos_emb, *emb_ln_w, *emb_ln_b; /* (V, D), (P, D), (D), (D) */
    blip_text_layer *layers;                               /* NULL when the file has none */
} blip_bert;

/* Which parts of a BLIP file sc_blip binds (blip_load_parts). */
enum { BLIP_PART_DECODER = 1, BLIP_PART_ENCODER = 2, BLIP_PART_ITM = 4 };

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
    /* VQA and image-text matching (blip_vqa.c, blip_itm.c) */
    int parts;                                  /* BLIP_PART_* bound at load */
    blip_bert enc;                              /* text_encoder.* with BLIP_PART_ENCODER */
    dec_layer *enc_block_layers;                /* enc.layers as the shared block runs them */
    const float *vision_proj_w, *vision_proj_b; /* (E, Dv), (E) with BLIP_PART_ITM */
    const float *text_proj_w, *text_proj_b;     /* (E, D), (E) */
    const float *itm_w, *itm_b;                 /* (2, D), (2) */
    int proj_dim;                               /* E: image_text_hidden_size [256] */
    /* blip_step's mode (all 0: the captioner's decoder) */
    int use_encoder;  /* run text_encoder.*: bidirectional self-attention, no head; the
                       * last hidden states stay in s.h (rows * n, D) */
    int no_cross;     /* skip the cross-attention blocks (the text alone) */
    int cross_tokens; /* tokens of the cross-attention input of blip_set_image
                       * (0: the image tokens; the VQA decoder attends to the question) */
};

/* blip_decoder.c: plan the state for rows x cap with up to n_new tokens per
 * call for all rows, or cap tokens for one row (re-plans only when larger;
 * empties the cache); set the image (copies
 * the features to m->image and computes the image keys and values); run n
 * new tokens of every row (ids (rows, n)) through the decoder with the
 * cache: logits (rows, n, V) when all_logits, else (rows, V) of each row's
 * last token; cross-attention (rows, n, layers, heads, Ti). */
sc_status blip_plan(sc_blip *m, int rows, int cap, int n_new);
/* Tokens of the cross-attention input: m->cross_tokens or the image tokens. */
int blip_cross_tokens(const sc_blip *m);
/* blip_load.c: load the given BLIP_PART_* of a folder or single file
 * (sc_blip_load = the decoder only). */
sc_status blip_load_parts(const char *path, int parts, sc_blip **out);
sc_status blip_set_image(sc_blip *m, const float *image_features);
sc_status blip_step(sc_blip *m, int rows, const int *ids, int n, int all_logits);
/* Gather rows of the self-attention cache: new row r = old row src[r]. */
void blip_reorder(sc_blip *m, int rows, const int *src);

struct sc_image;
/* blip_decoder.c: the cross-attention keys and values (layers, T, D) of x
 * (T, encoder_hidden_size) through the given layers' views. */
void blip_cross_kv(const sc_blip *m, const dec_layer *layers, const float *x, int T, float *k,
                   float *v);
/* blip_vqa.c: an image encoded once for VQA / matching: its features and
 * the text encoder's cross-attention keys / values of them. */
typedef struct blip_encoded_image {
    float *features;      /* (Ti, Dv) */
    float *enc_k, *enc_v; /* (layers, Ti, D) */
    int ok;               /* 1 once an image is encoded */
} blip_encoded_image;
/* Load the BLIP_PART_* parts with BLIP_PART_ENCODER and the buffers of e. */
sc_status blip_load_encoder_model(const char *path, int parts, sc_blip **m, blip_encoded_image *e);
void blip_encoded_image_free(blip_encoded_image *e);
/* Encode pixel values (3, S, S), or an image (1 to 4 channels) when
 * pixel_values is NULL, into e. */
sc_status blip_encode_image(sc_blip *m, const float *pixel_values, const struct sc_image *img,
                            blip_encoded_image *e);

/* blip_vqa.c: the text encoder over ids (n) from position 0, cross-attending
 * to keys / values img_k, img_v (layers, 1 + G*G, D) from blip_cross_kv, or
 * to nothing when img_k is NULL: the last hidden states in m->s.h (n, D),
 * cross-attention in m->s.cross (n, layers, heads, 1 + G*G). The state must
 * be planned for one row of n tokens. */
sc_status blip_encode_text(sc_blip *m, const float *img_k, const float *img_v, const int *ids,
                           int n);

/* Text -> [CLS] pieces [SEP] ids as the processor gives them; `what`
 * ("question", "phrase") names it in the errors: empty, too long for the
 * positions, invalid UTF-8. *ids malloc'd. */
sc_status blip_text_ids(const sc_blip *m, const char *text, const char *what, int **ids, int *n);
/* (n) malloc'd token strings of ids (sc_blip_token; "?" for none). */
sc_status blip_token_words(const sc_blip *m, const int *ids, int n, char ***words);

/* blip_generate.c: beam search from the state blip_step left after the
 * start ids (n0 per row) of num_beams rows: the best hypothesis's new ids
 * (best, *len of them, [SEP] included when it ended there) and score. */
sc_status blip_check_params(const sc_blip *m, const sc_blip_generate_params *p, int n_prompt);
sc_status blip_beam_search(sc_blip *m, const sc_blip_generate_params *p, int n0, int *best,
                           int *len, float *score);

/* blip_gradcam.c: the gradient of log p(seq[q + 1] | seq[0..q]) with
 * respect to the cross-attention probabilities of `layer` for query q, for
 * every q in q0..n - 2: grad and attn ((n - 1 - q0), H, Ti) (attn may be
 * NULL). image_features (Ti, Dv). */
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
/* obj's token-id field key (absent or null: *n unchanged): an integer or a
 * non-empty list of at most cap integers (eos_token_id), into ids[0..*n);
 * anything else SC_ERR_FORMAT naming the field. */
sc_status blip_read_ids(const struct cJSON *obj, const char *key, int *ids, int cap, int *n,
                        const char *name, const char *where);
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
