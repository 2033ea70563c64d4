/* saccade: Show, Attend and Tell image captioner.
 *
 * The decoder is exactly the `DecoderWithAttention` of sgrvinod's
 * a-PyTorch-Tutorial-to-Image-Captioning (models.py), per step t:
 *   awe, alpha = attention(features, h)            additive, relu (tutorial) or tanh
 *   awe        = sigmoid(f_beta(h)) * awe          vector gate (tutorial), scalar gate
 *                                                  (f_beta: Linear(H, 1), the paper) or none
 *   h, c       = decode_step([embedding(w_t), awe], (h, c))     nn.LSTMCell
 *   logits     = fc(dropout(h))
 * with h0 = init_h(mean_p features), c0 = init_c(mean_p features).
 *
 * One model file is one .safetensors file: decoder tensors named
 * "decoder." + the tutorial's state_dict names (decoder.attention.encoder_att.weight,
 * decoder.embedding.weight, decoder.decode_step.weight_ih, decoder.init_h.weight,
 * decoder.f_beta.weight, decoder.fc.weight, ...), encoder tensors "encoder." +
 * torchvision names; "__metadata__" holds "saccade.config" (JSON, see
 * sc_captioner_config) and "saccade.vocab" (the tutorial's WORDMAP JSON object
 * {"word": id, ...}). tools/convert_sat.py converts the tutorial's checkpoints.
 *
 * Encoders (pluggable): SC_CAP_ENC_FEATURES (the caller supplies the (P, E)
 * feature grid directly), SC_CAP_ENC_RESNET (ResNet truncated before pooling,
 * adaptive average pool to grid x grid; needs sc_resnet), SC_CAP_ENC_CNN
 * (small trainable CNN; needs sc_cnn) and SC_CAP_ENC_VIT (trainable ViT-style
 * patch encoder, sc_vit.h: its patch tokens, the class token dropped, form a
 * G x G map that is adaptive-average-pooled to grid x grid). Features are laid out (P, E) with
 * position p = i * grid + j (the tutorial's permute(0, 2, 3, 1).view).
 *
 * Preprocessing (sc_captioner_preprocess, as the tutorial's caption.py):
 * squash-resize to image_size x image_size (256) with SC_FILTER_TRIANGLE
 * (scipy.misc.imresize is PIL's bilinear filter, which antialiases when
 * shrinking, as stb's triangle filter does; measured against PIL in
 * tests/parity), values in [0, 1], ImageNet mean/std.
 *
 * Loading keeps the file mapped: decoder weights (and the encoder's when its
 * BatchNorms are pre-folded, tools/convert_sat.py --fold-bn) are used in
 * place, zero copy; sc_captioner_params first gives the model its own
 * writable copy of the decoder weights (for training).
 *
 * Memory: inference state lives in an arena owned by the model, planned for
 * (beam size, max length) at the first call and re-planned only when a larger
 * beam/length is asked for; decoding steps do no malloc. A model must not be
 * used from two threads at once. */
#ifndef SACCADE_SC_CAPTIONER_H
#define SACCADE_SC_CAPTIONER_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================ vocabulary
 * Ids are contiguous 0..n-1; words[id] is the word. The special tokens
 * "<pad>" (must be id 0), "<unk>", "<start>" and "<end>" must be present. */
#define SC_VOCAB_MAX_WORDS 1000000
#define SC_VOCAB_MAX_WORD_BYTES 256

typedef struct sc_vocab {
    int n;        /* number of words (ids 0..n-1) */
    char **words; /* n owned strings */
    int pad, unk, start, end;
    int *sorted; /* ids sorted by word, for lookup (owned) */
} sc_vocab;

/* Parse a WORDMAP JSON object {"word": id}. Errors (SC_ERR_FORMAT, message
 * names the word/id): not an object, non-integer or negative id, duplicate
 * word or id, ids not contiguous from 0, a missing special token, <pad> not
 * 0, empty or oversize word; SC_ERR_LIMIT beyond SC_VOCAB_MAX_WORDS. */
sc_status sc_vocab_from_json(const char *json, size_t len, sc_vocab *out);
/* Build from a word list (id = index); same validation. */
sc_status sc_vocab_from_words(const char *const *words, int n, sc_vocab *out);
/* WORDMAP JSON of the vocabulary (malloc'd; caller frees with free()). */
char *sc_vocab_to_json(const sc_vocab *v);
/* Id of word, or v->unk when absent. */
int sc_vocab_id(const sc_vocab *v, const char *word);
/* Word of an id, or NULL when out of range. */
const char *sc_vocab_word(const sc_vocab *v, int id);
void sc_vocab_free(sc_vocab *v);

/* ================================================================ model */
typedef enum sc_cap_encoder_kind {
    SC_CAP_ENC_FEATURES = 0, /* features supplied by the caller */
    SC_CAP_ENC_RESNET = 1,
    SC_CAP_ENC_CNN = 2,
    SC_CAP_ENC_VIT = 3
} sc_cap_encoder_kind;

typedef enum sc_cap_gate {
    SC_CAP_GATE_NONE = 0,
    SC_CAP_GATE_VECTOR = 1, /* f_beta: Linear(H, E) (tutorial) */
    SC_CAP_GATE_SCALAR = 2  /* f_beta: Linear(H, 1) (paper) */
} sc_cap_gate;

/* "saccade.config" JSON keys in brackets. */
typedef struct sc_captioner_config {
    sc_cap_encoder_kind encoder; /* ["encoder"]: "features" | "resnet" | "cnn" | "vit" */
    char encoder_arch[32];       /* ["encoder_arch"], e.g. "resnet101" */
    int grid;                    /* ["grid"] N: P = N * N positions (14) */
    int image_size;              /* ["image_size"] squash-resize size (256) */
    int encoder_dim;             /* ["encoder_dim"] E (2048) */
    int attention_dim;           /* ["attention_dim"] A (512) */
    int embed_dim;               /* ["embed_dim"] M (512) */
    int decoder_dim;             /* ["decoder_dim"] H (512) */
    int vocab_size;              /* ["vocab_size"] V (= vocabulary size) */
    int attention_tanh;          /* ["attention"]: "relu" (0, tutorial) | "tanh" (1) */
    sc_cap_gate gate;            /* ["gate"]: "vector" | "scalar" | "none" */
    float dropout;               /* ["dropout"] before fc in training (0.5) */
    int ctx2out;                 /* ["ctx2out"] (false): the gated context also feeds the output
                                  * layer, logits = fc(h) + fc_ctx(z) (tensor
                                  * "decoder.fc_ctx.weight", V x E, no bias), the original
                                  * paper's deep output; the tutorial has no such term */
    int att_coords;              /* ["att_coords"] (false): the LSTM input also gets where the
                                  * step looked, sum_p alpha_p (x_p, y_p) with (x_p, y_p) the
                                  * cell centre in [-1, 1] (decode_step.weight_ih is then
                                  * 4H x (M + E + 2)), so the decoder can order items in space */
    int hard_attention;          /* ["hard_attention"] (false): hard (stochastic) attention, Show,
                                  * Attend and Tell's section 4.1: each step reads the features of
                                  * ONE cell chosen from its attention distribution (sampled in
                                  * training, see sc_caption_loss_opts; at inference by
                                  * sc_beam_params.attention_mode) instead of their expectation.
                                  * With att_coords the LSTM gets the chosen cell's centre. The
                                  * weights are those of the soft model. */
} sc_captioner_config;

/* Tutorial defaults: features encoder, grid 14, image 256, E 2048, A = M = H = 512,
 * relu attention, vector gate, dropout 0.5, vocab_size 0 (set it). */
sc_captioner_config sc_captioner_default_config(void);
/* Config from / to its JSON text (to_json: malloc'd, free()). */
sc_status sc_captioner_config_from_json(const char *json, sc_captioner_config *out);
char *sc_captioner_config_to_json(const sc_captioner_config *c);

typedef struct sc_captioner sc_captioner;

/* New model with the tutorial's initialisation (PyTorch defaults; embedding and
 * fc.weight U(-0.1, 0.1), fc.bias 0) from seed. Encoder must be FEATURES
 * (trainable encoders are attached by their own modules). config->vocab_size
 * must equal vocab->n. The vocabulary is copied. */
sc_status sc_captioner_create(const sc_captioner_config *config, const sc_vocab *vocab,
                              uint64_t seed, sc_captioner **out);
/* New model with a fresh small CNN encoder (sc_cnn.h, tensors "encoder." +
 * sc_cnn names, its config stored as the "saccade.encoder" metadata JSON):
 * config->encoder must be SC_CAP_ENC_CNN, cnn->in_channels 3 (RGB) or 5 (RGB
 * plus two coordinate channels x = -1 + 2 (j + 0.5) / W, y = -1 + 2 (i + 0.5) / H
 * that the encoder appends itself, CoordConv: plain convolutions with a small
 * receptive field cannot tell left from right otherwise) and its last stage
 * width equal to encoder_dim. The CNN's output (for image_size x image_size
 * inputs) is adaptive-average-pooled to grid x grid. The decoder is initialised
 * as by sc_captioner_create(seed), the CNN from a separate stream of seed. */
struct sc_cnn_config;
sc_status sc_captioner_create_cnn(const sc_captioner_config *config,
                                  const struct sc_cnn_config *cnn, const sc_vocab *vocab,
                                  uint64_t seed, sc_captioner **out);
/* New model with a fresh ViT patch encoder (sc_vit.h, tensors "encoder." +
 * sc_vit names, its config stored as "saccade.encoder"): config->encoder must
 * be SC_CAP_ENC_VIT, vit->in_channels 3, vit->image_size equal to
 * config->image_size, vit->dim equal to encoder_dim, and grid at most the
 * patch grid (image_size / patch). Dropout inside the ViT (vit->dropout) uses
 * a generator of the model seeded from seed. */
struct sc_vit_config;
sc_status sc_captioner_create_vit(const sc_captioner_config *config,
                                  const struct sc_vit_config *vit, const sc_vocab *vocab,
                                  uint64_t seed, sc_captioner **out);
/* Load a model file (validates config, vocabulary and every tensor's shape). */
sc_status sc_captioner_load(const char *path, sc_captioner **out);
/* Write the model (decoder tensors, config and vocab metadata; for the cnn
 * and vit encoders also its tensors and "saccade.encoder") atomically. Models with a
 * resnet encoder cannot be saved (SC_ERR_UNSUPPORTED: weights are folded). */
sc_status sc_captioner_save(const sc_captioner *m, const char *path);
void sc_captioner_free(sc_captioner *m);

const sc_captioner_config *sc_captioner_get_config(const sc_captioner *m);
const sc_vocab *sc_captioner_get_vocab(const sc_captioner *m);
/* Trainable decoder tensors (names as in the file, shapes set, grads allocated
 * on first call and owned by the model). Valid until sc_captioner_free. */
sc_status sc_captioner_params(sc_captioner *m, const sc_param **params, size_t *n);

/* The encoder's trainable tensors and buffers (BN running statistics) for the
 * cnn and vit encoders (names "encoder.*", grads owned by the model; the
 * ViT has no buffers); both lists are
 * empty for the features and resnet encoders. Valid until sc_captioner_free. */
sc_status sc_captioner_encoder_params(sc_captioner *m, const sc_param **params, size_t *n,
                                      const sc_param **buffers, size_t *nbuffers);

/* Image (any size, 3 channels) -> normalised (3, S, S) CHW, S = image_size. */
sc_status sc_captioner_preprocess(const sc_captioner *m, const sc_image *img, sc_image *out);
/* Normalised (3, H, W) image -> features (P, E). Needs an image encoder. */
sc_status sc_captioner_encode(sc_captioner *m, const float *image, int H, int W, float *features);
/* Batched: images (N, 3, H, W) normalised -> features (N, P, E). train = 1
 * (cnn, vit): batch-norm uses batch statistics (and updates the running ones), ViT dropout is on,
 * and the activations are kept for sc_captioner_encode_backward. Encoder
 * output (N, C, h, w) -> adaptive average pool to grid x grid -> (N, P, C). */
sc_status sc_captioner_encode_batch(sc_captioner *m, const float *images, int N, int H, int W,
                                    int train, float *features);
/* Backward of the last sc_captioner_encode_batch (cnn or vit encoder): dfeatures
 * (N, P, E), e.g. from sc_captioner_loss, ACCUMULATED into the encoder's
 * grads through the pool. */
sc_status sc_captioner_encode_backward(sc_captioner *m, const float *dfeatures);

/* Backward of the last sc_captioner_encode / sc_captioner_encode_batch
 * (cnn or vit encoder, eval or train mode) to its input: dfeatures (N, P, E) ->
 * dimages (N, 3, H, W) ACCUMULATED, w.r.t. the normalised images (the
 * CoordConv channels' gradients are dropped). The encoder's parameter grads are
 * accumulated too (zero them before training). The encoded images must still
 * be valid. For input-gradient saliency (sc_saliency_model.h). */
sc_status sc_captioner_encode_input_backward(sc_captioner *m, const float *dfeatures,
                                             float *dimages);

/* Attention rollout through the vit encoder for image b of the last
 * eval-mode encode. alpha NULL: the class token's rolled-out attention over
 * the patches (sc_vit_rollout; needs a class token). alpha (grid x grid, e.g.
 * the decoder's attention at a word): the patches the decoder's attention
 * draws on, out[j] = sum_p w[p] R[p, j] over patch tokens p, j, with R the
 * rollout matrix (sc_vit_rollout_matrix) and w the attention shared out over
 * the patches of each grid cell (the adjoint of the adaptive pool). out
 * receives the (*gh) x (*gw) patch grid (image_size / patch squared floats;
 * gh, gw may be NULL). SC_ERR_UNSUPPORTED for other encoders. */
sc_status sc_captioner_encoder_rollout(const sc_captioner *m, int b, float discard_ratio,
                                       const float *alpha, float *out, int *gh, int *gw);

/* ================================================================ decoding */
/* What a decoding step reads from the features (sc_beam_params.attention_mode). */
typedef enum sc_cap_att_mode {
    SC_CAP_ATT_DEFAULT = 0,  /* ARGMAX for hard_attention models, EXPECTED for soft ones */
    SC_CAP_ATT_EXPECTED = 1, /* the expectation sum_p alpha_p f_p (soft attention) */
    SC_CAP_ATT_ARGMAX = 2,   /* the features of the most attended cell (first of ties) */
    SC_CAP_ATT_SAMPLE = 3 /* the features of a cell drawn from alpha (sc_hard_attention_sample) */
} sc_cap_att_mode;
/* "expected", "argmax" or "sample" (the CLI's --attention-mode) -> the mode;
 * SC_ERR_INVALID_ARG naming the choices otherwise. */
sc_status sc_cap_att_mode_from_name(const char *name, sc_cap_att_mode *out);

typedef struct sc_beam_params {
    int beam_size;        /* k (3; 1 = greedy) */
    int max_len;          /* decode steps, <end> included (51: the tutorial's
                             `if step > 50: break` runs 51 steps) */
    int min_len;          /* <end> is suppressed for the first min_len steps, so a finished
                             caption has at least min_len words before <end> (0) */
    float length_penalty; /* alpha: choose by score / len^alpha (0: raw sum, tutorial) */
    sc_cap_att_mode attention_mode; /* (SC_CAP_ATT_DEFAULT) any mode works with any model */
    uint64_t seed; /* SC_CAP_ATT_SAMPLE: seed of the draws, one per beam and step (0) */
} sc_beam_params;
sc_beam_params sc_captioner_beam_default_params(void);

typedef struct sc_caption_hyp {
    int len;          /* generated tokens (no <start>; <end> included when finished) */
    int32_t *tokens;  /* len ids */
    float *logprobs;  /* len per-token log-probabilities */
    float *alphas;    /* len x P attention maps (grid x grid, row-major); in the ARGMAX and
                         SAMPLE modes the one-hot map of the cell each step read */
    int32_t *cells;   /* ARGMAX and SAMPLE modes: len cells read (p = i * grid + j); else NULL */
    float score;      /* sum of logprobs */
    float norm_score; /* score / len^length_penalty (the ranking key) */
    int finished;     /* 1 if it ended with <end> */
} sc_caption_hyp;

typedef struct sc_caption_result {
    int n_hyps;           /* completed hypotheses, or the unfinished beams when none completed */
    sc_caption_hyp *hyps; /* best first (by norm_score, ties keep completion order) */
    const char **words;   /* words of hyps[0] (len entries, point into the model's vocab) */
    char *text;           /* hyps[0]'s words joined by spaces, without <start>/<end>/<pad> */
    int grid;             /* alphas are grid x grid */
} sc_caption_result;

/* Beam search exactly as the tutorial's caption_image_beam_search (defaults):
 * score = cumulative log-softmax, top-k over all beams' continuations (step 1:
 * the first beam only), a candidate emitting <end> is set aside as complete and
 * the beam shrinks, stop when no beam is left or after max_len steps; the best
 * complete hypothesis wins. If none completed, the unfinished beams are returned
 * (finished = 0) instead of failing. features: (P, E). params NULL = defaults.
 * The model must stay alive while result->words is used. */
sc_status sc_captioner_beam_search(sc_captioner *m, const float *features,
                                   const sc_beam_params *params, sc_caption_result *result);
/* Preprocess + encode + beam search. */
sc_status sc_captioner_caption_image(sc_captioner *m, const sc_image *img,
                                     const sc_beam_params *params, sc_caption_result *result);
void sc_caption_result_free(sc_caption_result *r);

/* Teacher forcing (eval mode, no dropout): feed tokens[0..n-1] (tokens[0] is
 * normally <start>); logits (n, V) and alphas (n, P) of each step (either may
 * be NULL). A hard_attention model reads the most attended cell at each step
 * (SC_CAP_ATT_ARGMAX) and alphas holds the one-hot map of that cell. */
sc_status sc_captioner_teacher_force(sc_captioner *m, const float *features, const int32_t *tokens,
                                     int n, float *logits, float *alphas);

/* ================================================================ training */
typedef struct sc_caption_batch {
    int B, L;                /* batch size, padded caption length */
    const int32_t *captions; /* (B, L): <start> w1 .. wn <end> <pad>... */
    const int32_t *lengths;  /* (B): caption lengths including <start> and <end> (>= 2, <= L) */
    /* Optional attention targets (B, L, P) or NULL: att_mask[b, j, :] marks the
     * grid cells the attention of the step that predicts captions[b, j] should
     * land on; an all-zero row leaves that step unsupervised (see att_sup). */
    const uint8_t *att_mask;
    /* Optional items of each example for the item-heads loss, or NULL. */
    const struct sc_caption_items *items;
} sc_caption_batch;

/* The items of a batch (e.g. the objects of Fashion scenes): example b has
 * n[b] items in slots b * max_items + k, k < n[b]. */
typedef struct sc_caption_items {
    int max_items;         /* slots per example (>= 1) */
    const int *n;          /* (B) items per example, 0..max_items */
    const int32_t *cls;    /* (B * max_items) class of each item, 0..n_classes-1 */
    const int32_t *colour; /* (B * max_items) colour of each item, 0..n_colours-1 */
    const uint8_t *cells;  /* (B * max_items, P) nonzero at the grid cells of the item's box */
} sc_caption_items;

typedef struct sc_caption_loss_opts {
    float alpha_c; /* doubly stochastic attention weight (tutorial: 1.0) */
    int train;     /* 1: dropout before fc (needs rng); 0: eval mode */
    int backward;  /* 1: accumulate gradients into the params' grads */
    /* Supervised attention (Liu et al. 2017, "Attention correctness"): weight of
     * the mean over supervised steps of -log(sum of the attention inside the
     * step's att_mask cells). 0: off. */
    float att_sup;
    /* Item heads (sc_captioner_item_heads): weight of the mean over the batch's
     * items (batch->items) of (class CE + colour CE) / 2. 0: off. */
    float item_heads;
    /* Hard attention (config hard_attention; ignored otherwise). With train, each
     * step draws its cell from its attention (sc_hard_attention_sample, rng);
     * without, it reads the most attended cell. The loss is then the negative of
     * the paper's variational lower bound per token: the words' cross-entropy
     * given the chosen cells, and with train the REINFORCE gradient of the
     * choices, hard_reinforce * (R - hard_baseline) * d log p(cells) with R =
     * log p(caption | cells) of the example, plus the entropy bonus
     * -hard_entropy * (entropy of the attention at each step that chose a cell),
     * both divided by the tokens as the cross-entropy is. */
    float hard_expect;    /* probability that a training step reads the expectation
                           * instead of a drawn cell (the paper's 0.5; 0: always draw) */
    float hard_entropy;   /* lambda_e, the entropy bonus weight (>= 0) */
    float hard_reinforce; /* lambda_r, the REINFORCE weight (the paper's 1; 0 turns the
                           * choices' gradient off) */
    float hard_baseline;  /* b (sc_captioner_hard_baseline_update) */
    /* (B, L) or NULL: the cell of the step that predicts captions[b, j], -1
     * for the expectation, used instead of drawing (e.g. to enumerate every
     * choice); entries of finished steps are ignored. */
    const int32_t *hard_cells;
    /* (B) or NULL: with train, caption b's random draws (its cells and the
     * expectation coins of hard attention, the decoder's dropout) come from
     * row_rngs[b] instead of rng, so they do not depend on which rows share a
     * call: data-parallel training (sc_trainer_example_rng) then draws what
     * one process does. The encoder's dropout still uses rng. */
    sc_rng *row_rngs;
} sc_caption_loss_opts;

/* What each term of the loss is averaged over (as floats, to be summed
 * across ranks with sc_comm_allreduce_sum): predicted tokens, examples,
 * supervised attention steps (att_sup on and a mask set), items (item_heads
 * on and items set). */
typedef struct sc_caption_loss_counts {
    float tokens, examples, att_steps, items;
} sc_caption_loss_counts;
sc_status sc_captioner_loss_counts(const sc_captioner *m, const sc_caption_batch *bt,
                                   const sc_caption_loss_opts *opts, sc_caption_loss_counts *out);

typedef struct sc_caption_loss {
    double loss;    /* ce + penalty + att_sup */
    double ce;      /* mean cross-entropy over predicted tokens */
    double penalty; /* alpha_c * mean_{b,p} (1 - sum_t alpha[b,t,p])^2 */
    double att_sup; /* att_sup * mean over supervised steps of -log(attention mass in mask) */
    long att_steps; /* supervised steps */
    long ntokens;   /* predicted tokens: sum (lengths - 1) */
    double items;   /* item_heads * mean over items of (class CE + colour CE) / 2 */
    long nitems;    /* items scored */
    /* Hard attention (loss = ce + penalty + att_sup + items - entropy bonus): */
    double reward;    /* sum over the examples of R = log p(caption | chosen cells) */
    long nreward;     /* examples in reward */
    double hard_logp; /* sum of log alpha at the chosen cells: log p(cells) of the batch */
    double entropy;   /* mean attention entropy over the steps that chose a cell */
    long hard_steps;  /* steps that chose a cell */
} sc_caption_loss;

/* The moving-average REINFORCE baseline of hard-attention training:
 * state[0] = b, state[1] = updates so far; b <- decay b + (1 - decay) mean_reward
 * (the paper's decay 0.9), the first update sets b = mean_reward. Keep state
 * among the trainer's buffers (sc_trainer_create) so checkpoints hold it.
 * SC_ERR_INVALID_ARG for decay outside [0, 1) or a non-finite reward. */
sc_status sc_captioner_hard_baseline_update(float state[2], double mean_reward, float decay);

/* Item heads, a training-only auxiliary task: linear class (n_classes) and
 * colour (n_colours) heads on the encoder's features averaged over each item's
 * box cells (sc_masked_avgpool_forward). They push the encoder to tell the
 * items apart where they are. Created on the first call (PyTorch's nn.Linear
 * initialisation from seed; later calls return the same heads and must give
 * the same sizes), owned by the model, never saved by sc_captioner_save.
 * params: their tensors "aux.class.weight" (n_classes x E), "aux.class.bias",
 * "aux.colour.weight" (n_colours x E), "aux.colour.bias", grads owned by the
 * model, for the optimiser (and checkpoints). */
sc_status sc_captioner_item_heads(sc_captioner *m, int n_classes, int n_colours, uint64_t seed,
                                  const sc_param **params, size_t *n);

/* The tutorial's train step with masking instead of per-step batch shrinking
 * (the same loss and gradients): teacher forcing on captions[:, :-1] predicting
 * captions[:, 1:], cross-entropy averaged over the sum(lengths - 1) real
 * targets, plus alpha_c * ((1 - alphas.sum(dim=1)) ** 2).mean() where alphas of
 * finished captions are 0 and the mean runs over batch and positions, plus the
 * supervised-attention term when opts->att_sup > 0 and batch->att_mask is set
 * (loss = ce + penalty + att_sup), plus, when opts->item_heads > 0 and
 * batch->items is set, the item-heads term (sc_captioner_item_heads; loss =
 * ce + penalty + att_sup + items, its gradients go to the heads and to
 * dfeatures only). features (B, P, E). With backward, gradients are ACCUMULATED into the params'
 * grads (sc_captioner_params) and, when dfeatures (B, P, E) is non-NULL, into it (for a trainable
 * encoder). Allocates its activations per call. */
sc_status sc_captioner_loss(sc_captioner *m, const float *features, const sc_caption_batch *batch,
                            const sc_caption_loss_opts *opts, sc_rng *rng, sc_caption_loss *out,
                            float *dfeatures);
/* Data-parallel: sc_captioner_loss of one rank's slice bt of a larger batch
 * whose counts are whole (the ranks' sc_captioner_loss_counts summed): every
 * term is divided by the larger batch's count instead of the slice's, so the
 * ranks' losses and gradients add up to exactly the larger batch's. */
/* Data-parallel training (sc_train.h): the counts of the trainer's whole
 * batch (this rank's slice bt summed over the ranks) for
 * sc_captioner_loss_part, and this rank's share set to 1 (its loss is
 * already its part of the whole batch's). One process: bt's own counts. */
struct sc_trainer;
sc_status sc_captioner_whole_counts(struct sc_trainer *tr, const sc_captioner *m,
                                    const sc_caption_batch *bt, const sc_caption_loss_opts *opts,
                                    sc_caption_loss_counts *whole);
sc_status sc_captioner_loss_part(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                                 const sc_caption_loss_opts *opts,
                                 const sc_caption_loss_counts *whole, sc_rng *rng,
                                 sc_caption_loss *out, float *dfeatures);

#ifdef __cplusplus
}
#endif
#endif
