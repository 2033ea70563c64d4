/* saccade: captioner internals shared by vision/captioner*.c (not installed). */
#ifndef SACCADE_CAPTIONER_INTERNAL_H
#define SACCADE_CAPTIONER_INTERNAL_H

#include "saccade/sc_attention.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_tensor.h"
#include "saccade/sc_safetensors.h"

/* Tensors in the tutorial's state_dict order. */
enum {
    CW_AE_W,
    CW_AE_B,
    CW_AD_W,
    CW_AD_B,
    CW_AF_W,
    CW_AF_B,
    CW_EMB,
    CW_W_IH,
    CW_W_HH,
    CW_B_IH,
    CW_B_HH,
    CW_IH_W,
    CW_IH_B,
    CW_IC_W,
    CW_IC_B,
    CW_FB_W,
    CW_FB_B,
    CW_FC_W,
    CW_FC_B,
    CW_FCC_W, /* fc_ctx.weight: only with ctx2out */
    CW_COUNT
};

struct sc_encoder_impl; /* image encoders (resnet / cnn), see captioner.c */

struct sc_captioner {
    sc_captioner_config cfg;
    sc_vocab vocab;
    int P;                  /* grid * grid */
    float *w[CW_COUNT];     /* NULL for absent tensors (no gate) */
    float *g[CW_COUNT];     /* gradients (after sc_captioner_params) */
    float *weights, *grads; /* weights: NULL for a loaded model until sc_captioner_params */
    size_t nweights;
    size_t offs[CW_COUNT]; /* tensor i at weights + offs[i] */
    int present[CW_COUNT]; /* 0 for absent tensors (no gate) */
    int lazy_weights;      /* loading: w[] will point into st */
    sc_safetensors *st;    /* the loaded file, kept open (NULL for created models) */
    sc_param params[CW_COUNT];
    size_t nparams;
    int64_t shape[CW_COUNT][2];
    int ndim[CW_COUNT];
    const char *names[CW_COUNT];
    /* inference arena, planned for (plan_k, plan_len) */
    sc_arena *arena;
    int plan_k, plan_len;
    /* training loss buffers, kept between calls (reset, grown when a batch
     * needs more): a fresh ~40 MB arena per step cost ~5% of the step in
     * page faults */
    sc_arena *loss_arena;
    /* image encoder (NULL for the features encoder) */
    struct sc_encoder_impl *enc;
    /* training-only item heads (sc_captioner_item_heads), or NULL */
    struct sc_cap_item_heads *heads;
};

static inline sc_addatt_desc sc_cap_att_desc(const struct sc_captioner *m, int B) {
    sc_addatt_desc d = {B,
                        m->P,
                        m->cfg.encoder_dim,
                        m->cfg.decoder_dim,
                        m->cfg.attention_dim,
                        m->cfg.attention_tanh ? SC_ADDATT_TANH : SC_ADDATT_RELU};
    return d;
}
static inline sc_addatt_weights sc_cap_att_weights(const struct sc_captioner *m) {
    sc_addatt_weights w = {m->w[CW_AE_W], m->w[CW_AE_B], m->w[CW_AD_W],
                           m->w[CW_AD_B], m->w[CW_AF_W], m->w[CW_AF_B]};
    return w;
}
/* Width of the LSTM input rows: [embedding M, gated context E (, attended x, y)]. */
static inline int sc_cap_x_dim(const struct sc_captioner *m) {
    return m->cfg.embed_dim + m->cfg.encoder_dim + (m->cfg.att_coords ? 2 : 0);
}
/* Gate width: E (vector), 1 (scalar), 0 (none). */
static inline int sc_cap_gate_dim(const struct sc_captioner *m) {
    return m->cfg.gate == SC_CAP_GATE_VECTOR   ? m->cfg.encoder_dim
           : m->cfg.gate == SC_CAP_GATE_SCALAR ? 1
                                               : 0;
}

/* Which cell each row of a step reads (hard attention; sc_cap_step_forward). */
typedef struct sc_cap_pick {
    sc_cap_att_mode mode; /* EXPECTED (soft), ARGMAX or SAMPLE (never DEFAULT) */
    float expect_prob;    /* SAMPLE: probability that a row reads the expectation */
    sc_rng *rng;          /* SAMPLE */
    sc_rng *row_rngs;     /* SAMPLE: (B) one per row, used instead of rng; or NULL */
    const int32_t *given; /* (B) cells to read instead (-1: the expectation), or NULL */
    int32_t *cells;       /* (B) out: the cell each row read, -1 for the expectation */
} sc_cap_pick;

/* The mode a model decodes with when asked for mode (DEFAULT resolved). */
static inline sc_cap_att_mode sc_cap_att_resolve(const struct sc_captioner *m,
                                                 sc_cap_att_mode mode) {
    if (mode != SC_CAP_ATT_DEFAULT) return mode;
    return m->cfg.hard_attention ? SC_CAP_ATT_ARGMAX : SC_CAP_ATT_EXPECTED;
}

/* Buffers of one decoder step over B rows (sc_cap_step_forward). */
typedef struct sc_cap_step_bufs {
    float *x;                /* (B, X) LSTM input rows: [embedding M, gated context E (, x, y)] */
    float *awe;              /* (B, E) attention-weighted encoding, before the gate */
    float *gate;             /* (B, G) sigmoid(f_beta(h)); unused when G = 0 */
    float *alpha;            /* (B, P) attention */
    float *att_cache;        /* shared image: P * A + P floats of scratch; else the additive
                              * attention's step cache for B rows, kept for the backward */
    float *lstm_cache;       /* SC_LSTM_CACHE_FLOATS(B, H) for the backward, or NULL */
    const sc_cap_pick *pick; /* NULL: soft attention (the expectation for every row) */
} sc_cap_step_bufs;

/* The decoder step, the one implementation that inference (beam search,
 * teacher forcing) and the training loss run: attention over the features,
 * gate, LSTM input x = [embedding(prev), gated context (, attended x, y)],
 * LSTM cell -> h_out, c_out (B, H). With s->pick, a row whose chosen cell k
 * is >= 0 reads awe = features[k] (and, with att_coords, k's centre) instead
 * of the expectation. shared_image: all B rows attend over one
 * image, features (P, E) and proj (P, A); else row b over features (B, P, E)
 * and proj (B, P, A). The output layer is separate (sc_cap_output): training
 * applies dropout first and runs it for all steps at once. */
sc_status sc_cap_step_forward(const struct sc_captioner *m, int B, const float *features,
                              const float *proj, int shared_image, const int32_t *prev,
                              const float *h, const float *c, float *h_out, float *c_out,
                              const sc_cap_step_bufs *s);
/* The output layer for n rows: logits (n, V) = fc(h) (+ fc_ctx(gated context
 * of the x rows (n, X)) with ctx2out). */
sc_status sc_cap_output(const struct sc_captioner *m, int n, const float *h, const float *x,
                        float *logits);
/* Inference step (B rows over one shared image): sc_cap_step_forward then
 * sc_cap_output into logits (B, V) when non-NULL; alpha (B, P) may be NULL;
 * pick as in sc_cap_step_bufs. ws: sc_cap_step_ws_floats(m, B) floats. */
size_t sc_cap_step_ws_floats(const struct sc_captioner *m, int B);
sc_status sc_cap_step(struct sc_captioner *m, int B, const float *features, const float *proj,
                      const int32_t *prev, const float *h, const float *c, float *h_out,
                      float *c_out, float *logits, float *alpha, const sc_cap_pick *pick,
                      float *ws);
/* The initial state: mean (B, E) of the features (B, P, E) over the P
 * positions, h0 = init_h(mean), c0 = init_c(mean) (B, H). */
sc_status sc_cap_init_state(const struct sc_captioner *m, int B, const float *features, float *mean,
                            float *h0, float *c0);

/* Item heads (captioner_items.c): check the batch's items, then the term's
 * loss (weight w) into out->items / out->nitems and, with backward, its
 * gradients into the heads and dfeatures (B, P, E) when non-NULL. */
sc_status sc_cap_items_check(const struct sc_captioner *m, const sc_caption_batch *bt);
sc_status sc_cap_items_loss(struct sc_captioner *m, const float *features,
                            const sc_caption_batch *bt, float w, int backward, float *dfeatures,
                            sc_caption_loss *out);
void sc_cap_item_heads_free(struct sc_cap_item_heads *h);

/* Image encoders (captioner_encoder.c). */
#include "saccade/sc_safetensors.h"
sc_status sc_cap_encoder_load(struct sc_captioner *m, sc_safetensors *st, const char *path);
void sc_cap_encoder_free(struct sc_encoder_impl *e);
/* The CNN encoder's config JSON (malloc'd) or NULL when there is no CNN. */
char *sc_cap_encoder_config_json(const struct sc_captioner *m);

#endif
