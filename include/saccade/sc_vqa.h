/* saccade: visual question answering with stacked attention networks
 * (Yang, He, Gao, Deng, Smola, "Stacked Attention Networks for Image
 * Question Answering", CVPR 2016), plus the "scenes VQA" dataset built on
 * Fashion scenes (sc_scenes.h).
 *
 * Model (arch "san"):
 *   image  (3, S, S) in [0,1] -> normalise (x - mean) / std -> sc_cnn encoder
 *          -> (C, g, g) -> P = g*g positions of C features, plus two coordinate
 *          features (x, y of the cell centre in [-1, 1]) -> v_I = tanh(W v + b)  (P, D)
 *   question: tokens -> embedding (E) -> one-layer LSTM (D); u = last hidden state
 *   hop k (K hops, 2 by default):
 *          h_A = tanh(W_I v_I (+) (W_Q u + b_Q))     (P, A)   W_I has no bias
 *          p   = softmax(W_P h_A + b_P) over the P positions
 *          u   = sum_i p_i v_I,i + u
 *   answer = softmax(W_out u + b_out) over a closed answer set (or, with
 *            mlp_dim H > 0, softmax(W_out relu(W_h u + b_h) + b_out)); with
 *            hop_coords, see sc_vqa_config.
 * Baselines (same encoder sizes): "qonly" (answer from u alone, no image) and
 * "pooled" (z = [u, mean_i(v_I,i) * u], no attention).
 *
 * Model (arch "coatt"): hierarchical question-image co-attention (Lu, Yang,
 * Batra, Parikh, "Hierarchical Question-Image Co-Attention for Visual
 * Question Answering", NeurIPS 2016), parallel co-attention. The image gives
 * V = v_I (P, D) as above; the question of L tokens gives three levels of
 * features Q (L, D), positions past L zero and never attended:
 *   word      Q_w = embedding (E must equal D)
 *   phrase    Q_p,t = max over s = 1, 2, 3 of tanh(Conv1d_s(Q_w))_t: width 1
 *             reads word t, width 2 words t-1, t, width 3 words t-1..t+1 (zero
 *             padding outside the question, as the paper), max per feature
 *   question  Q_s = the LSTM's hidden states over Q_p
 * At each level (W_b (D, D); W_v, W_q (A, D); w_hv, w_hq (A); no biases):
 *   C   = tanh(Q W_b V^T)                      (L, P) affinity
 *   H_v = tanh(V W_v^T + C^T Q W_q^T)          (P, A)
 *   H_q = tanh(Q W_q^T + C V W_v^T)            (L, A)
 *   a_v = softmax(H_v w_hv) over P,  a_q = softmax(H_q w_hq) over the L words
 *   v^ = sum a_v V,  q^ = sum a_q Q            (D)
 * Answer (H = mlp_dim, or D when 0):
 *   h_w = tanh(W_w (q^_w + v^_w)), h_p = tanh(W_p [q^_p + v^_p, h_w]),
 *   h_s = tanh(W_s [q^_s + v^_s, h_p]), answer = softmax(W_out h_s + b_out).
 * The image attention a_v (3 maps: word, phrase, question) is what
 * sc_vqa_forward returns in *att (and sc_vqa_ask in att, hops = 3); the
 * question attention a_q (3 x max_len) comes from sc_vqa_question_attention
 * (and sc_vqa_ask's qatt). config "hops" is unused by coatt.
 *
 * Pretrained encoder (as the SAN paper's frozen VGG features): the encoder
 * config, its input normalisation and its encoder.* tensors can be copied
 * from another saccade model file (sc_vqa_encoder_config_from_file, then
 * sc_vqa_load_encoder), e.g. the scenes captioner's CNN, whose in_channels 5
 * appends two coordinate channels x, y in (-1, 1) to the normalised RGB input
 * (CoordConv, as the captioner). The VQA file keeps its own copy (one file =
 * one model); config "encoder_from" names the source file, "freeze_encoder"
 * says whether it was trained further. Frozen: sc_vqa_params leaves the
 * encoder out, BN runs in eval mode, and image features can be computed once
 * (sc_vqa_encode_images) and fed to sc_vqa_forward_features.
 *
 * Tensor names (PyTorch state_dict of tools/ref/ref_vqa.py):
 *   encoder.stages.{i}.conv.weight / bn.* (sc_cnn.h), img_proj.weight / bias,
 *   embed.weight, lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0,
 *   lstm.bias_hh_l0, hops.{k}.img.weight, hops.{k}.ques.weight / bias,
 *   hops.{k}.att.weight / bias, classifier.weight / bias (and, with mlp_dim,
 *   classifier_hidden.weight / bias; with hop_coords, hops.{k}.rel.weight for k >= 1).
 *   coatt: encoder.*, img_proj.*, embed.weight, lstm.* (input D) as above, and
 *   phrase.{s-1}.weight (D, D, s) / bias, coatt.{l}.affinity.weight (W_b),
 *   coatt.{l}.img.weight (W_v), coatt.{l}.ques.weight (W_q),
 *   coatt.{l}.img_att.weight (w_hv, 1 x A), coatt.{l}.ques_att.weight (w_hq)
 *   for levels l = 0 word, 1 phrase, 2 question; answer.{l}.weight / bias
 *   (W_w (H, D), W_p, W_s (H, D + H)); classifier.weight (NA, H) / bias.
 * Model file metadata: "saccade.config" (JSON: arch, image_size, mean, std,
 * encoder, embed_dim, hidden_dim, att_dim, hops, max_len), "saccade.vocab"
 * and "saccade.answers" (JSON arrays of strings), "saccade.task" = "vqa".
 *
 * Tokenizer (UTF-8): letters are lowercased; a token is a maximal run of
 * letters and digits of any script, ' and - (so "t-shirt", "what's" and
 * "bág" stay one token), with U+2019 read as ' and combining accents kept
 * with the letter before them; every other character (spaces, "?", "¿",
 * ",", ...) and every malformed byte separates tokens and is dropped. Words
 * over 31 bytes are cut at a character boundary. Vocabulary entry 0 is "<pad>", 1 is "<unk>";
 * unknown words map to <unk> and are reported back. Questions longer than max_len tokens are cut.
 */
#ifndef SACCADE_SC_VQA_H
#define SACCADE_SC_VQA_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_cnn.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_scenes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ tokenizer */
#define SC_VQA_MAX_TOKENS 64 /* tokens kept by the tokenizer (more are counted) */
#define SC_VQA_MAX_WORD 32   /* longer words are cut to 31 bytes */
#define SC_VQA_PAD 0
#define SC_VQA_UNK 1

typedef struct sc_vqa_tokens {
    int n;       /* tokens stored (<= SC_VQA_MAX_TOKENS) */
    int n_total; /* tokens in the text (may exceed n) */
    char words[SC_VQA_MAX_TOKENS][SC_VQA_MAX_WORD];
} sc_vqa_tokens;
/* Never fails on any NUL-terminated text (NULL -> SC_ERR_INVALID_ARG). An
 * empty or punctuation-only text gives n = 0. */
sc_status sc_vqa_tokenize(const char *text, sc_vqa_tokens *out);

/* A vocabulary: words[0] = "<pad>", words[1] = "<unk>", then the rest. */
typedef struct sc_vqa_vocab {
    int n;
    char **words; /* owned */
} sc_vqa_vocab;
/* Build from a list of texts: every token (sorted, unique) after the two
 * specials. */
sc_status sc_vqa_vocab_build(const char *const *texts, size_t ntexts, sc_vqa_vocab *out);
/* From / to a JSON array of strings (the first two must be the specials). */
sc_status sc_vqa_vocab_from_json(const char *json, sc_vqa_vocab *out);
char *sc_vqa_vocab_to_json(const sc_vqa_vocab *v);              /* malloc'd; free() */
int sc_vqa_vocab_find(const sc_vqa_vocab *v, const char *word); /* index or -1 */
void sc_vqa_vocab_free(sc_vqa_vocab *v);

/* Encode text to ids (max_len of them, padded with 0). *len = tokens used
 * (min(n_total, max_len)); *truncated = 1 when tokens were cut; unknown
 * words are appended to unk (a 0-terminated, space-separated list, at most
 * unk_cap bytes; may be NULL). Empty text: *len = 0 (not an error here). */
sc_status sc_vqa_encode(const sc_vqa_vocab *v, const char *text, int max_len, int32_t *ids,
                        int *len, int *truncated, char *unk, size_t unk_cap);

/* ------------------------------------------------------------ model */
typedef enum sc_vqa_arch {
    SC_VQA_SAN = 0,
    SC_VQA_QONLY = 1,
    SC_VQA_POOLED = 2,
    SC_VQA_COATT = 3
} sc_vqa_arch;
const char *sc_vqa_arch_name(sc_vqa_arch a); /* "san", "qonly", "pooled", "coatt" */
sc_status sc_vqa_arch_from_name(const char *name, sc_vqa_arch *out);

#define SC_VQA_MAX_HOPS 8

typedef struct sc_vqa_config {
    sc_vqa_arch arch;
    int image_size; /* square input side (default 96) */
    float mean[3], std[3];
    sc_cnn_config encoder;
    int embed_dim, hidden_dim, att_dim; /* E, D, A */
    int hops;                           /* K (san only), 1..SC_VQA_MAX_HOPS */
    int max_len;                        /* question tokens, 1..SC_VQA_MAX_TOKENS */
    char encoder_from[128]; /* file name the encoder came from ("" = trained from scratch) */
    int freeze_encoder;     /* 1: encoder not trained (not in sc_vqa_params; BN in eval mode) */
    /* san, qonly, pooled: 0 linear answer classifier (the paper); H > 0: Linear(F, H) + ReLU
     * first. coatt: the width of h_w, h_p, h_s (0: hidden_dim). */
    int mlp_dim;
    /* san only, 0/1: hops know positions. With c_k = sum_i p_k,i (x_i, y_i), the
     * hop's attended position (expected cell centre in [-1, 1]): hop k >= 1
     * adds W_R,k (pos_i - c_{k-1}) inside its tanh (tensor hops.{k}.rel.weight,
     * A x 2), so it can look left of / above what the previous hop found, and
     * the classifier sees z = [u_K, c_1 .. c_K] (F = D + 2K), so it can tell
     * which of two attended items is above the other (a sum of attended
     * features cannot). */
    int hop_coords;
} sc_vqa_config;
/* Defaults: san, 96, mean 0.2 std 0.3, encoder conv5 stride 2 16 + pool, 32 + pool, 64
 * (12x12 grid), E 64, D 128, A 64, 2 hops, max_len 20. */
sc_vqa_config sc_vqa_default_config(void);
sc_status sc_vqa_config_validate(const sc_vqa_config *c);
char *sc_vqa_config_to_json(const sc_vqa_config *c); /* malloc'd; free() */
sc_status sc_vqa_config_from_json(const char *json, sc_vqa_config *out);

/* Take the image encoder of another saccade model file into cfg: cnn config
 * (metadata "saccade.encoder", else the "encoder" object of "saccade.config"),
 * image size, input mean/std (the file's own, ImageNet for a captioner) and
 * encoder_from (the file's base name). The file must hold the encoder.*
 * tensors of that config and take 3 (RGB) or 5 (RGB + coordinates) input
 * channels; otherwise SC_ERR_FORMAT naming the file and the reason. */
sc_status sc_vqa_encoder_config_from_file(const char *path, sc_vqa_config *cfg);

typedef struct sc_vqa_model sc_vqa_model;

/* Fresh model with PyTorch-default initialisation from seed. vocab and
 * answers are copied. */
sc_status sc_vqa_create(const sc_vqa_config *c, const sc_vqa_vocab *vocab,
                        const sc_vqa_vocab *answers, uint64_t seed, sc_vqa_model **out);
/* Load a model file (config, vocab, answers, weights by name and shape). */
sc_status sc_vqa_load(const char *path, sc_vqa_model **out);
/* Copy weights by name from an open file into a model (shapes must match). */
sc_status sc_vqa_load_weights(sc_vqa_model *m, sc_safetensors *st);
sc_status sc_vqa_save(const sc_vqa_model *m, const char *path);
/* Copy the encoder.* tensors (weights and BN statistics) of a model file into
 * m exactly; its encoder config must equal m's (SC_ERR_FORMAT otherwise). */
sc_status sc_vqa_load_encoder(sc_vqa_model *m, const char *path);
void sc_vqa_free(sc_vqa_model *m);

const sc_vqa_config *sc_vqa_get_config(const sc_vqa_model *m);
const sc_vqa_vocab *sc_vqa_get_vocab(const sc_vqa_model *m);
/* answers: words[i] is answer i (no specials in an answer list). */
const sc_vqa_vocab *sc_vqa_get_answers(const sc_vqa_model *m);
int sc_vqa_grid_side(const sc_vqa_model *m); /* g (P = g*g) */
/* Trainable tensors and buffers (BN running statistics); pointers stay
 * valid until free. Metadata for the trainer: see sc_vqa_metadata. */
void sc_vqa_params(const sc_vqa_model *m, const sc_param **list, size_t *n);
void sc_vqa_buffers(const sc_vqa_model *m, const sc_param **list, size_t *n);
/* Metadata entries (key, value) i < count, for sc_trainer_set_metadata. */
int sc_vqa_metadata_count(const sc_vqa_model *m);
sc_status sc_vqa_metadata_at(const sc_vqa_model *m, int i, const char **key, char **value);

/* Forward pass of a batch: images (B, 3, S, S) in [0,1] (not needed for
 * qonly; may be NULL there), ids (B, max_len) padded with 0, lens (B) in
 * [1, max_len]. train = 1 uses batch statistics in BN. *logits (B, nanswers)
 * and *att (B, M, P with M = sc_vqa_attention_maps: hops for san, 3 levels
 * for coatt; NULL for the baselines) point into the model until the next
 * call. Activations are kept for sc_vqa_backward. */
sc_status sc_vqa_forward(sc_vqa_model *m, const float *images, const int32_t *ids, const int *lens,
                         int B, int train, const float **logits, const float **att);
/* Image attention maps per question: hops (san), 3 (coatt: word, phrase,
 * question level) or 0 (baselines, NULL m). */
int sc_vqa_attention_maps(const sc_vqa_model *m);
/* coatt: the question-word attention of the last forward, (B, 3, max_len)
 * (levels word, phrase, question; 0 past each question's length), valid
 * until the next call; NULL for the other archs or before a forward. */
const float *sc_vqa_question_attention(const sc_vqa_model *m);
/* coatt level l: "word", "phrase", "question" (NULL outside 0..2). */
const char *sc_vqa_level_name(int l);

/* Backward of the last forward given dlogits (B, nanswers): accumulates
 * every parameter gradient (callers zero them, e.g. sc_trainer_next). */
sc_status sc_vqa_backward(sc_vqa_model *m, const float *dlogits);
/* The same plus datt (B, M, P; may be NULL): a gradient with respect to
 * the attention maps the forward returned in *att (san and coatt; ignored by
 * the baselines), e.g. of an attention-supervision loss. */
sc_status sc_vqa_backward_att(sc_vqa_model *m, const float *dlogits, const float *datt);

/* Image features without the projection: the encoder's map in eval mode
 * (BN running statistics), as feats (B, P, C) with C = sc_vqa_feature_dim.
 * Any B (run in chunks). Not for qonly. */
int sc_vqa_feature_dim(const sc_vqa_model *m);
sc_status sc_vqa_encode_images(sc_vqa_model *m, const float *images, int B, float *feats);
/* sc_vqa_forward from such features (e.g. cached for a frozen encoder): the
 * same result as sc_vqa_forward with the images in eval mode; the backward
 * pass then stops at the projection (no encoder gradients). */
sc_status sc_vqa_forward_features(sc_vqa_model *m, const float *feats, const int32_t *ids,
                                  const int *lens, int B, int train, const float **logits,
                                  const float **att);
void sc_vqa_zero_grad(sc_vqa_model *m);

/* Answering one image: compute image features once, then ask questions. */
typedef struct sc_vqa_answer {
    int n_top;
    int top[8];        /* answer indices, best first */
    float prob[8];     /* their probabilities */
    int n_tokens;      /* tokens used */
    int truncated;     /* the question was cut at max_len */
    char unknown[512]; /* unknown words, space-separated ("" if none) */
    int hops, grid;    /* attention maps: hops x grid x grid (san; coatt: 3 levels), else 0 */
    float att[SC_VQA_MAX_HOPS * 1024];
    int levels; /* question attention: levels x n_tokens (coatt: 3), else 0 */
    float qatt[3 * SC_VQA_MAX_TOKENS]; /* word, phrase, question level over the tokens */
} sc_vqa_answer;
/* Keep the encoded image inside the model (eval mode). img: 3 channels,
 * any size (resized to image_size with the bilinear filter); a NaN or
 * infinite value is refused (SC_ERR_INVALID_ARG). */
sc_status sc_vqa_set_image(sc_vqa_model *m, const sc_image *img);
/* Answer a question about the image set last. top_k 1..8. An empty
 * question (no tokens) is SC_ERR_INVALID_ARG. */
sc_status sc_vqa_ask(sc_vqa_model *m, const char *question, int top_k, sc_vqa_answer *out);

/* ------------------------------------------------------------ scenes VQA */
typedef enum sc_vqa_family {
    SC_VQA_EXIST = 0,    /* "is there a red bag?"                 yes/no */
    SC_VQA_COUNT = 1,    /* "how many shoes are there?"           0..3 */
    SC_VQA_COLOUR = 2,   /* "what colour is the dress?"           colour */
    SC_VQA_CLASS = 3,    /* "what is to the left of the bag?"     noun */
    SC_VQA_RELATION = 4, /* "is the sneaker above the coat?"      yes/no */
    SC_VQA_COMPARE = 5,  /* "are the bag and the coat the same colour?" yes/no */
    SC_VQA_NUM_FAMILIES = 6
} sc_vqa_family;
const char *sc_vqa_family_name(int f); /* "exist", "count", ... */

/* The closed answer set of scenes VQA: yes no 0 1 2 3, the 8 colours, the
 * 10 nouns (24 answers, in this order). */
sc_status sc_vqa_scene_answers(sc_vqa_vocab *out);
/* The vocabulary of every template word (for building a scenes model). */
sc_status sc_vqa_scene_vocab(sc_vqa_vocab *out);

/* A pool of generated scenes kept in memory (uint8 RGB, plus info):
 * scenes 0..n-1 of one split. Generated in parallel. */
typedef struct sc_vqa_scene_pool {
    sc_scene_split split;
    int n, size;
    uint8_t *pixels; /* n x 3 x size x size */
    sc_scene_info *info;
} sc_vqa_scene_pool;
sc_status sc_vqa_scene_pool_make(const sc_scenes_params *p, sc_scene_split split, int n,
                                 sc_vqa_scene_pool *out);
void sc_vqa_scene_pool_free(sc_vqa_scene_pool *pool);
/* Scene i as floats in [0,1] (3 x size x size). */
void sc_vqa_scene_pool_image(const sc_vqa_scene_pool *pool, int i, float *out);

typedef struct sc_vqa_question {
    int family;
    int scene;      /* index into the pool (= scene index of the split) */
    char text[160]; /* the question, with "?" */
    char answer[16];
    int answer_id; /* index in sc_vqa_scene_answers */
    int item;      /* the item the question is about (pointing game), or -1 */
    /* Structure (what sc_vqa_scene_check recomputes the answer from): */
    int ref[2];   /* items named by the question (-1 unused) */
    int q_colour; /* exist: colour asked (-1 any); count: colour group (-1 none) */
    int q_class;  /* exist: class asked (-1 any) */
    int q_group;  /* count: 0 items, 1 shoes (sandal sneaker boot), 2 colour */
    int rel;      /* class/relation: 0 left of, 1 right of, 2 above, 3 below */
} sc_vqa_question;
/* Question `index` about the pool: a function of (seed, pool split, pool
 * size, index) only. The family is index % 6; the target answer is drawn
 * uniformly from the family's answers and scenes are searched (hashed order)
 * until one admits it, so answers are balanced within each family. */
sc_status sc_vqa_scene_question(const sc_vqa_scene_pool *pool, uint64_t seed, uint64_t index,
                                sc_vqa_question *out);
/* Check a question against scene info: recomputes the answer from the
 * text's structure; 1 if consistent, 0 if not (used by tests). */
int sc_vqa_scene_check(const sc_scene_info *info, const sc_vqa_question *q);
/* The relation of item a to item b the questions use: 0 left of, 1 right of,
 * 2 above, 3 below (along the dominant axis of the box centres' offset), or
 * -1 when unclear (no dominant axis) or out of range. */
int sc_vqa_scene_relation(const sc_scene_info *info, int a, int b);

#ifdef __cplusplus
}
#endif
#endif
