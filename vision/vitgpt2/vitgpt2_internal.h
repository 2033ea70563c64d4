/* ViT-GPT2 internals shared by the files of vision/vitgpt2/ (not installed). */
#ifndef SACCADE_VITGPT2_INTERNAL_H
#define SACCADE_VITGPT2_INTERNAL_H

#include "saccade/sc_bpe.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_tensor.h"
#include "saccade/sc_vit.h"
#include "saccade/sc_vit_gpt2.h"
#include "decoding/decoding.h"

/* One GPT-2 block; Conv1D weights (in, out) as the file stores them. */
typedef struct gpt2_block {
    const float *ln1_w, *ln1_b;
    const float *attn_w, *attn_b; /* c_attn (D, 3D), (3D): q | k | v columns */
    const float *proj_w, *proj_b; /* attn.c_proj (D, D), (D) */
    const float *lnx_w, *lnx_b;   /* ln_cross_attn */
    const float *xq_w, *xq_b;     /* crossattention.q_attn (D, D), (D) */
    const float *xkv_w, *xkv_b;   /* crossattention.c_attn (D, 2D), (2D): k | v */
    const float *xproj_w, *xproj_b;
    const float *ln2_w, *ln2_b;
    const float *fc_w, *fc_b;   /* mlp.c_fc (D, F), (F) */
    const float *fcp_w, *fcp_b; /* mlp.c_proj (F, D), (D) */
} gpt2_block;

struct sc_vit_gpt2 {
    sc_vit_gpt2_config cfg;
    sc_safetensors *st;
    sc_bpe *bpe;
    sc_vit *vit;
    const float *wte, *wpe, *lnf_w, *lnf_b; /* (V, D), (P, D), (D), (D); wte is the LM head */
    const float *proj_w, *proj_b;           /* enc_to_dec_proj (D, Dv), (D), or NULL */
    gpt2_block *blocks;
    dec_block block; /* the layers as the shared block runs them (pre-LN, Conv1D views) */
    dec_layer *block_layers;
    sc_arena *arena;
    dec_state s;
    float *image_d;   /* (Ti, D) projected features (with enc_to_dec_proj), malloc'd */
    int have_image;   /* s.img_k / s.img_v hold the keys / values of s.image */
    dec_trace *trace; /* when set, gpt2_step (one row from position 0) records into it,
                         hd the final hidden states before ln_f */
    dec_probe probe;  /* finite-difference checks of the gradients (off unless .on) */
};

/* vitgpt2_decoder.c: plan (dec_plan), set the image features (Ti, Dv), run
 * n new tokens of every row (ids (rows, n)) with the cache: logits (rows, n,
 * V) when all_logits, else (rows, V) of each row's last token; cross-
 * attention (rows, n, layers, heads, Ti); reorder beams. */
sc_status gpt2_plan(sc_vit_gpt2 *m, int rows, int cap, int n_new);
sc_status gpt2_set_image(sc_vit_gpt2 *m, const float *features);
sc_status gpt2_step(sc_vit_gpt2 *m, int rows, const int *ids, int n, int all_logits);
void gpt2_reorder(sc_vit_gpt2 *m, int rows, const int *src);

/* vitgpt2_gradcam.c: the gradient of log p(seq[q + 1] | seq[0..q]) with
 * respect to the cross-attention probabilities of `layer` for query q, for
 * every q in q0..n - 2: grad and attn ((n - 1 - q0), H, Ti) (attn may be
 * NULL); features (Ti, Dv). */
sc_status gpt2_cross_attention_grads(sc_vit_gpt2 *m, const float *features, const int *seq, int n,
                                     int q0, int layer, float *grad, float *attn);

#endif
