/* saccade: BLIP image captioning (Hugging Face BlipForConditionalGeneration).
 *
 * Model (as transformers' modeling_blip.py / modeling_blip_text.py):
 *   vision  a ViT (sc_vit.h, as a view of the file): 16x16 patch conv, class
 *           token, learned positions, pre-LN layers with fused qkv and an output
 *           projection, exact GELU, post layer norm -> image tokens (1 + G*G, Dv)
 *   text    a BERT decoder: embeddings (word + position, LayerNorm), layers of
 *           post-LN causal self-attention, cross-attention to the image tokens
 *           and a GELU feed-forward; the prediction head (dense, GELU,
 *           LayerNorm, decoder to the vocabulary). Self-attention masks add
 *           -10000 to the future, as BlipTextModel does (exp underflows to 0).
 * Decoding keeps a key/value cache: each new token costs one step; the image
 * keys/values of the cross-attention are computed once per caption and shared
 * by every beam.
 *
 * Files. sc_blip_load takes either
 *   - a Hugging Face model folder: config.json (BlipConfig; BLIP stores only
 *     what differs from the class defaults, so the defaults of BlipConfig,
 *     BlipTextConfig and BlipVisionConfig are carried here), model.safetensors
 *     (mapped; F32 used in place, F16 / BF16 converted once at load),
 *     vocab.txt and tokenizer_config.json (optional; the WordPiece tokenizer
 *     of sc_wordpiece.h: special tokens, added_tokens_decoder; [DEC] and
 *     [ENC] are added when neither file has them) and
 *     preprocessor_config.json (optional: image size, mean, std);
 *   - or one saccade .safetensors file holding the same tensors with the JSON
 *     of config.json in metadata "saccade.config", vocab.txt's text in
 *     "saccade.vocab" and optionally "saccade.preprocessor" and
 *     "saccade.tokenizer_config" (sc_blip_save_single writes one).
 * Weights keep Hugging Face's names: vision_model.embeddings.class_embedding,
 * vision_model.encoder.layers.{l}.self_attn.qkv.weight, ...,
 * text_decoder.bert.encoder.layer.{l}.crossattention.self.key.weight, ...,
 * text_decoder.cls.predictions.transform.dense.weight. The LM head's
 * cls.predictions.decoder.weight / .bias may be absent: they are then tied,
 * as Hugging Face ties them, to bert.embeddings.word_embeddings.weight and
 * cls.predictions.bias. The text model's encoder_hidden_size is the vision
 * width (BlipConfig sets it so whatever text_config says).
 *
 * Special ids come from the files: the decoder starts from
 * text_config.bos_token_id ([DEC]) and stops at text_config.sep_token_id
 * ([SEP]), as BlipForConditionalGeneration.generate does.
 *
 * Generation follows transformers' generate for this model: settings from the
 * text config (not generation_config.json; 5.x's config loader drops them,
 * 4.x applied them: for Salesforce's checkpoints they are the defaults);
 * max_length and min_length count new tokens ([SEP] included), as
 * transformers' max_new_tokens / min_new_tokens do and as 5.x's default of
 * 20 new tokens does (a max_length passed to transformers' generate counts
 * the decoder prompt too); greedy search, sampling (MinLength, Temperature,
 * TopK, TopP in that order; sc_rng draws, so the ids are not
 * torch.multinomial's) and the vectorised beam search of 4.50 and later (2 x
 * beams candidates per step, finished hypotheses only from the top `beams`
 * ranks, score = sum log p / new_tokens^length_penalty, early_stopping false
 * / true / "never"; before 4.50 a BeamHypotheses heap with another stopping
 * rule). The length is also capped by max_position_embeddings. Tested token
 * for token against the PyTorch twin tools/ref/ref_blip.py.
 *
 * Errors: a missing file, a tensor missing or of the wrong shape, a vocabulary
 * whose size differs from text_config.vocab_size, a config field of the wrong
 * type: SC_ERR_IO / SC_ERR_FORMAT / SC_ERR_SHAPE with a message naming the file
 * and the field or tensor.
 *
 * A model must not be used from two threads at once (its arena is shared);
 * the kernels inside use the library's threads (sc_set_num_threads). */
#ifndef SACCADE_SC_BLIP_H
#define SACCADE_SC_BLIP_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_BLIP_MAX_LAYERS 64
#define SC_BLIP_MAX_HEADS 64
#define SC_BLIP_MAX_NEW_TOKENS 512
#define SC_BLIP_MAX_BEAMS 64

typedef struct sc_blip_vision_config { /* BlipVisionConfig, defaults in brackets */
    int hidden_size;                   /* [768] Dv */
    int intermediate_size;             /* [3072] */
    int num_hidden_layers;             /* [12] */
    int num_attention_heads;           /* [12] */
    int num_channels;                  /* [3] */
    int image_size;                    /* [384] */
    int patch_size;                    /* [16] */
    float layer_norm_eps;              /* [1e-5] */
} sc_blip_vision_config;

typedef struct sc_blip_text_config { /* BlipTextConfig, defaults in brackets */
    int vocab_size;                  /* [30524] V */
    int hidden_size;                 /* [768] D */
    int intermediate_size;           /* [3072] */
    int num_hidden_layers;           /* [12] */
    int num_attention_heads;         /* [8] (checkpoints say 12) */
    int max_position_embeddings;     /* [512] */
    int encoder_hidden_size;         /* the vision hidden_size, always */
    float layer_norm_eps;            /* [1e-12], the prediction head's too */
    int bos_token_id;                /* [30522] [DEC]: the decoder's first token */
    int eos_token_id;                /* [2] (a list: its first; not used to stop: sep is) */
    int pad_token_id;                /* [0] */
    int sep_token_id;                /* [102] [SEP]: generation stops there */
    /* generation settings (PretrainedConfig's, as a text config stores them) */
    int max_length;       /* [20] new tokens at most, [SEP] included */
    int min_length;       /* [0] new tokens before [SEP] may come */
    int num_beams;        /* [1] */
    float length_penalty; /* [1.0] */
    int early_stopping;   /* [false] 0, true 1, "never" 2 */
    int do_sample;        /* [false] */
    int top_k;            /* [50] */
    float top_p;          /* [1.0] */
    float temperature;    /* [1.0] */
} sc_blip_text_config;

typedef struct sc_blip_preprocess_config {   /* BlipImageProcessor */
    int size;                                /* [384] resize to size x size (bicubic) */
    float mean[3];                           /* [OpenAI CLIP mean] */
    float std[3];                            /* [OpenAI CLIP std] */
    float rescale;                           /* [1/255] */
    int do_resize, do_rescale, do_normalize; /* [true] each */
    int resample; /* [3] Pillow's filter number (sc_pil_filter): BICUBIC */
} sc_blip_preprocess_config;

typedef struct sc_blip_config {
    sc_blip_vision_config vision;
    sc_blip_text_config text;
    sc_blip_preprocess_config preprocess;
} sc_blip_config;

/* The class defaults (BlipConfig() in transformers). */
sc_blip_config sc_blip_default_config(void);
/* config.json text -> config (defaults for absent keys; unknown keys are
 * ignored, as transformers keeps them as attributes). Known keys of the wrong
 * type give SC_ERR_FORMAT "<name>: text_config.hidden_size must be an integer";
 * hidden_act other than "gelu" SC_ERR_UNSUPPORTED. name (may be NULL) is used
 * in messages. The preprocess part is left at its defaults. */
sc_status sc_blip_config_parse(const char *json, const char *name, sc_blip_config *out);
/* preprocessor_config.json text -> out->preprocess. */
sc_status sc_blip_preprocess_parse(const char *json, const char *name, sc_blip_config *out);

typedef struct sc_blip sc_blip; /* opaque */

/* Load a model folder or one saccade .safetensors file (see above). */
sc_status sc_blip_load(const char *path, sc_blip **out);
void sc_blip_free(sc_blip *m);
const sc_blip_config *sc_blip_get_config(const sc_blip *m);
/* The vocabulary: token of an id (NULL when out of range), id of a token
 * (-1 when absent), size (= text_config.vocab_size). */
const char *sc_blip_token(const sc_blip *m, int id);
int sc_blip_token_id(const sc_blip *m, const char *token);
int sc_blip_vocab_size(const sc_blip *m);
/* The tokenizer (sc_wordpiece.h), owned by the model. */
struct sc_wordpiece;
const struct sc_wordpiece *sc_blip_tokenizer(const sc_blip *m);
/* Prompt text -> the decoder's prompt ids after [DEC], as BlipProcessor and
 * generate make them: "[CLS] pieces [SEP]" with [CLS] replaced by [DEC] and
 * [SEP] dropped, i.e. the pieces (*n may be 0). *ids is malloc'd (free()). */
sc_status sc_blip_prompt_ids(const sc_blip *m, const char *text, int **ids, int *n);
/* Ids -> text as the processor's decode (skip_special_tokens as given; the
 * tokenizer config's clean_up_tokenization_spaces). *text is malloc'd. */
sc_status sc_blip_decode(const sc_blip *m, const int *ids, int n, int skip_special, char **text);
/* Patch grid side G (image_size / patch_size) and image tokens 1 + G*G. */
int sc_blip_grid(const sc_blip *m);
int sc_blip_image_tokens(const sc_blip *m);
/* Write the loaded model as one saccade .safetensors (tensors as F32 under
 * their Hugging Face names, tied ones left out; config, vocabulary and
 * preprocessing in the metadata), atomically. */
sc_status sc_blip_save_single(const sc_blip *m, const char *path);

/* Pixel values (3, S, S) of an image (RGB, or RGBA composited over white)
 * as BlipImageProcessor makes them: Pillow's resize to S x S with the
 * configured filter (bit-exact, sc_image_resize_pil), rescale (1/255),
 * (x - mean) / std in float32. S must be the vision image_size. */
struct sc_image;
sc_status sc_blip_preprocess(const sc_blip *m, const struct sc_image *img, float *pixel_values);

/* ---- forward passes (for tests, parity and callers that drive decoding) -- */
/* Vision features of pixel_values (3, S, S), normalised as the processor
 * does: out (1 + G*G, Dv), the vision model's last_hidden_state. */
sc_status sc_blip_vision_forward(sc_blip *m, const float *pixel_values, float *out);
/* Teacher-forced decoder over ids[0..n) given image features (1 + G*G, Dv)
 * from sc_blip_vision_forward: logits (n, V) (may be NULL) and, when
 * cross_attn is non-NULL, every layer's cross-attention
 * (n, layers, heads, 1 + G*G) (query position first). */
sc_status sc_blip_decoder_forward(sc_blip *m, const float *image_features, const int *ids, int n,
                                  float *logits, float *cross_attn);

/* ---- generation ---------------------------------------------------------- */
typedef struct sc_blip_generate_params {
    int max_new_tokens;   /* new tokens at most, [SEP] included (text_config.max_length) */
    int min_length;       /* no [SEP] before this many new tokens (text_config.min_length) */
    int num_beams;        /* 1: greedy or sampling; > 1: beam search */
    float length_penalty; /* beam score = sum log p / (new tokens)^length_penalty */
    int early_stopping;   /* beam search: 0 false (default), 1 true, 2 "never" */
    int do_sample;        /* sampling (num_beams must be 1) */
    int top_k;            /* sampling: keep the k most likely tokens (0: all) */
    float top_p;          /* sampling: nucleus mass (1: all) */
    float temperature;    /* sampling: logits / temperature (> 0) */
    uint64_t seed;        /* sampling: sc_rng seed */
    /* cross-attention maps: mean over the heads in head_mask (bit h = head h;
     * 0 = all heads) of layer attention_layer (-1: the default, 2 * layers / 3,
     * layer 8 of BLIP-base's 12, the one BLIP's own Grad-CAM demo reads) */
    int attention_layer;
    uint64_t head_mask;
    int keep_all_attention; /* 1: also every layer's and head's maps (attention_all) */
    int gradcam;            /* 1: also the gradient-weighted maps (sc_blip_gradcam) */
} sc_blip_generate_params;

/* The settings the text config gives (max_length 20, greedy, ... for the class
 * defaults), seed 0, the default attention layer and all heads. */
sc_blip_generate_params sc_blip_default_generate_params(const sc_blip *m);

typedef struct sc_blip_caption {
    int *ids; /* (n) generated ids: the prompt and [SEP] excluded */
    int n;
    int ended;              /* 1 if generation stopped at [SEP], 0 at max_new_tokens */
    float *logprobs;        /* (n): log p(ids[t] | image, prompt, ids[..t-1]), the log-softmax
                             * of the decoder's logits before any processing (min-length,
                             * temperature, top-k, top-p); beam search: from one
                             * teacher-forced pass over the chosen hypothesis */
    float end_logprob;      /* log p([SEP]) after the last id when ended, else 0 */
    float score;            /* greedy / sampling: sum of logprobs + end_logprob; beam search:
                             * the hypothesis's score as transformers keeps it, that sum
                             * / (n + ended)^length_penalty */
    int grid;               /* G */
    float *attention;       /* (n, G, G): cross-attention over the patches of the query
                             * that produced ids[t] (chosen layer, mean of chosen heads;
                             * the class token's share is left out, not renormalised) */
    float *class_attention; /* (n): that query's weight on the class token */
    float *attention_all;   /* (n, layers, heads, 1 + G*G) with keep_all_attention, else
                             * NULL: the whole cross-attention of each query, class token
                             * first */
    float *gradcam;         /* (n, G, G) with the gradcam setting, else NULL: as
                             * sc_blip_gradcam gives for this caption (same layer and
                             * heads as attention) */
} sc_blip_caption;

/* Caption an image given as pixel_values (3, S, S). prompt_ids (n_prompt,
 * may be 0) are the decoder input after [DEC] (a processor's "[CLS] prompt
 * [SEP]" minus its first and last id); they are not repeated in out->ids.
 * params NULL = sc_blip_default_generate_params. */
sc_status sc_blip_generate(sc_blip *m, const float *pixel_values, const int *prompt_ids,
                           int n_prompt, const sc_blip_generate_params *params,
                           sc_blip_caption *out);
void sc_blip_caption_free(sc_blip_caption *c);

/* Gradient-weighted cross-attention (the Grad-CAM BLIP's demos use for
 * grounding): for each caption token ids[t] (as returned in
 * sc_blip_caption.ids, after the prompt), with A the cross-attention
 * probabilities of `layer` (-1: the default layer of the maps) for the query
 * that produced ids[t] and dA the gradient of log p(ids[t]) with respect to
 * them, out[t] = mean over the heads in head_mask (0 = all) of
 * A * max(dA, 0) over the patches: out (n, G, G). The gradient is exact
 * (backpropagation through the text decoder, tested against finite
 * differences and PyTorch's autograd). */
sc_status sc_blip_gradcam(sc_blip *m, const float *pixel_values, const int *prompt_ids,
                          int n_prompt, const int *ids, int n, int layer, uint64_t head_mask,
                          float *out);

#ifdef __cplusplus
}
#endif
#endif
