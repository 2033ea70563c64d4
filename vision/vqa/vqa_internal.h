/* saccade: the VQA model's state, shared by the stacked attention network
 * (vqa.c) and hierarchical co-attention (vqa_coatt.c). */
#ifndef SACCADE_VQA_INTERNAL_H
#define SACCADE_VQA_INTERNAL_H

#include <stdint.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_vqa.h"

#define NAME_LEN 64
/* san: 7 + 6 per hop (hop_coords' rel) + 4; coatt: 36 */
#define MAX_PARAMS (8 + 6 * SC_VQA_MAX_HOPS + 4)
#define COATT_LEVELS 3 /* word, phrase, question */

struct sc_vqa_model {
    sc_vqa_config cfg;
    sc_vqa_vocab vocab, answers;
    sc_cnn *cnn;
    int C, g, P, Cin, D, E, A, K, T, V, NA, F, H; /* H: classifier hidden (0 none) */
    float *mlp_w, *mlp_b, *hid, *dhid;
    /* parameters: one block, grads another */
    float *pblock, *gblock;
    size_t ptotal;
    float *img_w, *img_b, *embed, *w_ih, *w_hh, *b_ih, *b_hh, *cls_w, *cls_b;
    float *hop_wi[SC_VQA_MAX_HOPS], *hop_wq[SC_VQA_MAX_HOPS], *hop_bq[SC_VQA_MAX_HOPS],
        *hop_wp[SC_VQA_MAX_HOPS], *hop_bp[SC_VQA_MAX_HOPS];
    float *hop_wr[SC_VQA_MAX_HOPS]; /* hop_coords, hops k >= 1: (A, 2) offsets from c_{k-1} */
    /* coatt, per width s = 1..3 and per level (word, phrase, question) */
    float *ph_w[3], *ph_b[3];   /* phrase.{s-1}: Conv1d(D, D, s) (D, D, s), (D) */
    float *co_wb[COATT_LEVELS]; /* affinity W_b (D, D) */
    float *co_wv[COATT_LEVELS], *co_wq[COATT_LEVELS]; /* W_v, W_q (A, D) */
    float *co_hv[COATT_LEVELS], *co_hq[COATT_LEVELS]; /* w_hv, w_hq (1, A) */
    float *ans_w[COATT_LEVELS], *ans_b[COATT_LEVELS]; /* W_w (H, D), W_p, W_s (H, D + H) */
    sc_param own[MAX_PARAMS];
    char own_names[MAX_PARAMS][NAME_LEN];
    int nown;
    sc_param *all; /* cnn params then own */
    size_t nall;
    /* activations */
    int cap;
    int B, Tr; /* last batch and steps run */
    int has_image;
    int cnn_back; /* the last forward ran the encoder in train mode: backward goes into it */
    float *xn, *feat, *v, *dv, *dfeat, *dfmap;
    const float *fmap;
    int32_t *ids_tb;
    int *lens;
    float *emb, *demb, *h, *c, *cache, *dh, *dc, *dh2, *dc2;
    float *dh_seq; /* (T, B, D) upstream gradient of every LSTM output */
    float *u, *du, *hA, *p, *aq, *tmpPA, *tmpP, *z, *dz, *vm, *logits;
    float *hc, *dhc; /* hop_coords: attended positions c_k (B, K, 2) and their gradients */
    float *single_v; /* (P, D) from sc_vqa_set_image */
    struct vqa_coatt_acts *co; /* coatt activations (vqa_coatt.c) */
};

/* One buffer of a * b * c floats, zeroed; *ok = 0 on overflow or no memory. */
float *vqa_alloc_f(size_t a, size_t b, size_t c, int *ok);
/* The gradient of own parameter p. */
float *vqa_grad(sc_vqa_model *m, const float *p);

/* LSTM over steps 0..Tr-1 of x (T, B, In), time-major; outputs in m->h. */
sc_status vqa_lstm_forward(sc_vqa_model *m, const float *x, int In, int B, int Tr);
/* Backprop through time with m->dh_seq (Tr, B, D) entering at every step;
 * input gradients into dx (Tr, B, In), zeroed here. */
sc_status vqa_lstm_backward(sc_vqa_model *m, const float *x, float *dx, int In, int B, int Tr);

/* coatt (vqa_coatt.c) */
/* Adds own parameter name (shape d0 [x d1 [x d2]] by ndim) at *off of the
 * parameter block (or only counts, before the block exists). */
void vqa_add_param(sc_vqa_model *m, const char *name, float **ptr, size_t *off, int ndim,
                   int64_t d0, int64_t d1, int64_t d2, int nwd);
void vqa_coatt_layout(sc_vqa_model *m, size_t *off);
void vqa_coatt_init(sc_vqa_model *m, sc_rng *r);
sc_status vqa_coatt_alloc(sc_vqa_model *m, int B);
void vqa_coatt_free(sc_vqa_model *m);
/* From m->v (B, P, D) and m->emb (T, B, D) of the question: phrases, LSTM,
 * the three co-attentions and the answer logits. */
sc_status vqa_coatt_forward(sc_vqa_model *m, int B);
sc_status vqa_coatt_backward(sc_vqa_model *m, const float *dlogits, const float *datt);
const float *vqa_coatt_image_att(const sc_vqa_model *m);    /* (B, 3, P) */
const float *vqa_coatt_question_att(const sc_vqa_model *m); /* (B, 3, T) */

#endif
