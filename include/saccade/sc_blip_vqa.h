/* saccade: BLIP visual question answering (Hugging Face BlipForQuestionAnswering,
 * e.g. Salesforce/blip-vqa-base).
 *
 * Model (as transformers' modeling_blip.py / modeling_blip_text.py):
 *   vision        the ViT of sc_blip.h: image tokens (1 + G*G, Dv)
 *   text_encoder  BERT layers (BlipTextModel, names text_encoder.*) run over the
 *                 question ids as the processor gives them, "[CLS] question
 *                 [SEP]" ([CLS] first: Salesforce's original code swaps in
 *                 [ENC], Hugging Face does not), with bidirectional
 *                 self-attention and cross-attention to the image tokens:
 *                 the question embeddings (Tq, D)
 *   text_decoder  the captioner's BERT decoder (text_decoder.*), whose
 *                 cross-attention reads the question embeddings (not the
 *                 image): the answer, generated from [DEC]
 *                 (text_config.bos_token_id) to [SEP] (sep_token_id), as
 *                 BlipForQuestionAnswering.generate runs the decoder's
 *                 generate: settings from the text config (max_length 20 new
 *                 tokens, greedy for blip-vqa-base), min_length counted in new
 *                 tokens (transformers 5.x).
 * The decoder's cross-attention width is the text width, so a VQA file needs
 * text_config.encoder_hidden_size (= the vision width) = text hidden_size, as
 * BLIP-base has it (768).
 *
 * The image is encoded once (sc_blip_vqa_set_image) for any number of
 * questions: the ViT and the encoder's image keys / values of every layer are
 * kept. Tested token for token against the PyTorch twin
 * tools/ref/ref_blip_vqa.py.
 *
 * A model must not be used from two threads at once. */
#ifndef SACCADE_SC_BLIP_VQA_H
#define SACCADE_SC_BLIP_VQA_H

#include "saccade/sc_blip.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_blip_vqa sc_blip_vqa; /* opaque */

/* A Hugging Face BlipForQuestionAnswering folder (config.json,
 * model.safetensors with vision_model.*, text_encoder.*, text_decoder.*,
 * vocab.txt, ...; see sc_blip.h for the files and their traps) or one saccade
 * .safetensors holding the same. */
sc_status sc_blip_vqa_load(const char *path, sc_blip_vqa **out);
void sc_blip_vqa_free(sc_blip_vqa *v);
/* The model inside (config, tokenizer, decode, preprocess of sc_blip.h). */
sc_blip *sc_blip_vqa_model(sc_blip_vqa *v);

/* Encode the image given as pixel_values (3, S, S) (sc_blip_preprocess) or as
 * an image (1 to 4 channels): features and the encoder's image keys / values,
 * kept for every following question. */
sc_status sc_blip_vqa_set_pixels(sc_blip_vqa *v, const float *pixel_values);
sc_status sc_blip_vqa_set_image(sc_blip_vqa *v, const sc_image *img);

/* Question text -> ids as the processor gives them: [CLS] pieces [SEP].
 * Empty (or only spaces), invalid UTF-8 or longer than the text model's
 * positions: SC_ERR_INVALID_ARG with a message saying which. *ids malloc'd. */
sc_status sc_blip_vqa_question_ids(const sc_blip_vqa *v, const char *question, int **ids, int *n);

typedef struct sc_blip_answer {
    char *text; /* the decoded answer (special tokens skipped) */
    int *ids;   /* (n) answer ids, [DEC] and [SEP] excluded */
    int n;
    int ended;         /* 1 if generation stopped at [SEP] */
    float logprob;     /* sum of the chosen tokens' log-probabilities, [SEP] included
                        * (beam: the beam score, / len^length_penalty) */
    float score;       /* exp(logprob): the answer's probability under the decoder */
    char **words;      /* (n) token strings of ids */
    int *question_ids; /* (nq) [CLS] question [SEP] */
    int nq;
    char **question_words;           /* (nq) */
    int grid;                        /* G */
    float *answer_attention;         /* (n, nq): the decoder's cross-attention over the question
                                      * tokens of the query that produced ids[t] (chosen layer,
                                      * mean of chosen heads) */
    float *question_attention;       /* (nq, G, G): each question token's cross-attention over
                                      * the patches in the encoder (chosen layer, mean of the
                                      * chosen heads; class token left out, not renormalised) */
    float *question_class_attention; /* (nq): the class token's share */
    float *answer_maps; /* (n, G, G): where each answer token looked through the question:
                         * sum over question tokens j of answer_attention[t, j] *
                         * question_attention[j] */
} sc_blip_answer;

/* Answer a question about the image set last. params NULL =
 * sc_blip_default_generate_params (greedy unless the config says otherwise;
 * num_beams > 1 runs beam search; sampling is not supported here);
 * params->attention_layer / head_mask choose the maps (-1: layer 2L/3, both
 * in the encoder and the decoder). out is zeroed first. */
sc_status sc_blip_vqa_answer(sc_blip_vqa *v, const char *question,
                             const sc_blip_generate_params *params, sc_blip_answer *out);
void sc_blip_answer_free(sc_blip_answer *a);

/* ---- forward passes (tests, parity) -------------------------------------- */
/* The text encoder over ids (n) with the image set last: question
 * embeddings (n, D) and, when cross_attn is non-NULL, every layer's
 * cross-attention (n, layers, heads, 1 + G*G). */
sc_status sc_blip_vqa_encode_question(sc_blip_vqa *v, const int *ids, int n, float *embeds,
                                      float *cross_attn);
/* Teacher-forced answer decoder over dec_ids (n, [DEC] first) reading the
 * question embeddings (nq, D): logits (n, V) and, when cross_attn is non-NULL,
 * (n, layers, heads, nq). */
sc_status sc_blip_vqa_decode_forward(sc_blip_vqa *v, const float *embeds, int nq,
                                     const int *dec_ids, int n, float *logits, float *cross_attn);

#ifdef __cplusplus
}
#endif
#endif
