/* saccade: ViT-GPT2 image captioning (Hugging Face VisionEncoderDecoderModel
 * with a ViT encoder and a GPT-2 decoder, as nlpconnect/vit-gpt2-image-captioning).
 *
 * Model (as transformers' modeling_vit.py, modeling_gpt2.py and
 * modeling_vision_encoder_decoder.py):
 *   encoder  ViTModel (sc_vit.h as a view of the file): 16x16 patch conv,
 *            class token, learned positions, pre-LN layers with separate
 *            query / key / value, exact GELU, final layernorm, eps from the
 *            encoder config (ViTConfig's default 1e-12); the pooler is in
 *            the file but its output is unused -> image tokens (1 + G*G, Dv);
 *            enc_to_dec_proj (Dv -> D) when the widths differ
 *   decoder  GPT2LMHeadModel with cross-attention: word + position
 *            embeddings; pre-LN blocks (ln_1, causal self-attention, residual;
 *            ln_cross_attn, cross-attention to every image token, residual;
 *            ln_2, MLP with gelu_new (tanh), residual); ln_f; the LM head is
 *            wte (tied, no bias; decoder.lm_head.weight may be in the file or
 *            not). Conv1D weights are stored (in, out) and used so, in place.
 *            Layer norm eps layer_norm_epsilon (1e-5).
 * The layers run on the decoder block BLIP's text decoder uses too
 * (vision/decoding/, here in its pre-LN arrangement over Conv1D weight views):
 * a key/value cache, the image keys / values computed once per caption for
 * every beam.
 *
 * Files: a folder with config.json (model_type "vision-encoder-decoder",
 * "encoder" a ViTConfig, "decoder" a GPT2Config with add_cross_attention;
 * absent fields take the class defaults), model.safetensors (mapped: F32
 * used in place, F16 / BF16 converted once at load; tools/convert_hf.py makes
 * it from pytorch_model.bin, dropping GPT-2's attn.bias / attn.masked_bias
 * buffers, which are also ignored here), vocab.json and merges.txt (GPT-2's
 * byte-level BPE, sc_bpe.h), preprocessor_config.json (optional;
 * ViTImageProcessor: 224, Pillow BILINEAR, mean and std 0.5),
 * generation_config.json (optional) and tokenizer_config.json (optional:
 * its eos_token names the special token, "<|endoftext|>" by default).
 *
 * Generation as transformers 5.x runs generate for this model: the settings
 * of generation_config.json when the folder has one, otherwise
 * GenerationConfig.from_model_config (the top-level config's, and the
 * decoder config's for settings left at their defaults there); the decoder
 * starts from decoder_start_token_id (50256, which is also eos and pad),
 * stops at eos_token_id (or at any id of a list of them; pad_token_id then
 * defaults to the first); max_length counts the start token (20: at most 19
 * new tokens, eos included); min_length likewise; greedy search or the beam
 * search shared with BLIP (sc_blip_generate_params; sampling is not
 * supported here). The returned caption ids hold the new tokens without the
 * start token and the final stop id (Hugging Face's sequences keep both);
 * decoding skips the special token. Tested token for token against the
 * PyTorch twin tools/ref/ref_vit_gpt2.py.
 *
 * Attention maps: per generated token, the cross-attention of the query that
 * produced it, by default the mean over all heads of layer 2 * layers / 3
 * (layer 8 of the 12), the class token's share left out; on request the
 * gradient-weighted cross-attention (sc_vit_gpt2_gradcam), as BLIP's.
 *
 * A model must not be used from two threads at once. */
#ifndef SACCADE_SC_VIT_GPT2_H
#define SACCADE_SC_VIT_GPT2_H

#include <stdint.h>
#include "saccade/sc_blip.h"
#include "saccade/sc_blip_caption.h"
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_VIT_GPT2_MAX_LAYERS 64

typedef struct sc_vit_gpt2_encoder_config { /* ViTConfig, defaults in brackets */
    int hidden_size;                        /* [768] Dv */
    int num_hidden_layers;                  /* [12] */
    int num_attention_heads;                /* [12] */
    int intermediate_size;                  /* [3072] */
    int image_size;                         /* [224] */
    int patch_size;                         /* [16] */
    int num_channels;                       /* [3] */
    float layer_norm_eps;                   /* [1e-12] */
} sc_vit_gpt2_encoder_config;

typedef struct sc_vit_gpt2_decoder_config { /* GPT2Config, defaults in brackets */
    int vocab_size;                         /* [50257] V */
    int n_positions;                        /* [1024] */
    int n_embd;                             /* [768] D */
    int n_layer;                            /* [12] */
    int n_head;                             /* [12] */
    int n_inner;                            /* [null: 4 * n_embd] F */
    float layer_norm_epsilon;               /* [1e-5] */
} sc_vit_gpt2_decoder_config;

#define SC_VIT_GPT2_MAX_EOS 8

typedef struct sc_vit_gpt2_generation_config { /* GenerationConfig as resolved above */
    int decoder_start_token_id;                /* the first decoder token */
    int eos_token_id;                          /* the first stop id (eos_token_ids[0]) */
    int pad_token_id;
    int max_length;       /* [20] tokens, the start token included */
    int min_length;       /* [0] likewise */
    int num_beams;        /* [1] */
    float length_penalty; /* [1.0] */
    int early_stopping;   /* [false] 0, true 1, "never" 2 */
    /* eos_token_id as the files give it, an integer or a list of integers:
     * generation stops at any of them (the beam search then keeps
     * max(2, 1 + n_eos) x beams candidates a step, as transformers does) */
    int eos_token_ids[SC_VIT_GPT2_MAX_EOS];
    int n_eos;
} sc_vit_gpt2_generation_config;

typedef struct sc_vit_gpt2_config {
    sc_vit_gpt2_encoder_config encoder;
    sc_vit_gpt2_decoder_config decoder;
    sc_vit_gpt2_generation_config generation;
    sc_blip_preprocess_config preprocess; /* ViTImageProcessor: 224, BILINEAR, 0.5, 0.5 */
} sc_vit_gpt2_config;

typedef struct sc_vit_gpt2 sc_vit_gpt2; /* opaque */

/* Load a model folder (see above). Errors name the file and the field or
 * tensor: SC_ERR_IO (missing file), SC_ERR_FORMAT (bad JSON, wrong type,
 * missing tensor, vocabulary larger than vocab_size), SC_ERR_SHAPE,
 * SC_ERR_UNSUPPORTED (another activation, attention variant or setting). */
sc_status sc_vit_gpt2_load(const char *dir, sc_vit_gpt2 **out);
void sc_vit_gpt2_free(sc_vit_gpt2 *m);
const sc_vit_gpt2_config *sc_vit_gpt2_get_config(const sc_vit_gpt2 *m);
/* The tokenizer (sc_bpe.h), owned by the model. */
struct sc_bpe;
const struct sc_bpe *sc_vit_gpt2_tokenizer(const sc_vit_gpt2 *m);
/* Patch grid side G and image tokens 1 + G*G. */
int sc_vit_gpt2_grid(const sc_vit_gpt2 *m);
int sc_vit_gpt2_image_tokens(const sc_vit_gpt2 *m);

/* Pixel values (3, S, S) as ViTImageProcessor makes them (RGB or RGBA
 * composited over white; Pillow's resize, bit-exact; rescale; normalise). */
struct sc_image;
sc_status sc_vit_gpt2_preprocess(const sc_vit_gpt2 *m, const struct sc_image *img,
                                 float *pixel_values);
/* The encoder's last_hidden_state (1 + G*G, Dv) of pixel_values. */
sc_status sc_vit_gpt2_vision_forward(sc_vit_gpt2 *m, const float *pixel_values, float *out);
/* Teacher-forced decoder over ids[0..n) given encoder features: logits
 * (n, V) (may be NULL) and every layer's cross-attention
 * (n, layers, heads, 1 + G*G) when cross_attn is non-NULL. */
sc_status sc_vit_gpt2_decoder_forward(sc_vit_gpt2 *m, const float *features, const int *ids, int n,
                                      float *logits, float *cross_attn);

/* The generation settings of the files as sc_blip_generate_params:
 * max_new_tokens = max_length - 1, min_length - 1 (at least 0), num_beams,
 * length_penalty, early_stopping; the default attention layer, all heads. */
sc_blip_generate_params sc_vit_gpt2_default_generate_params(const sc_vit_gpt2 *m);
/* Caption pixel_values (3, S, S): out->ids the new tokens (start token and
 * final stop id excluded), log-probabilities and maps as sc_blip_caption
 * documents them (gradcam: sc_vit_gpt2_gradcam's maps of the caption).
 * do_sample is refused (SC_ERR_UNSUPPORTED). params NULL = the defaults. */
sc_status sc_vit_gpt2_generate(sc_vit_gpt2 *m, const float *pixel_values,
                               const sc_blip_generate_params *params, sc_blip_caption *out);
/* Gradient-weighted cross-attention, as sc_blip_gradcam: for each caption
 * token ids[t] (start token and stop id excluded), with A the cross-
 * attention probabilities of `layer` (-1: the default layer of the maps) for
 * the query that produced it and dA the gradient of log p(ids[t]) with
 * respect to them, out[t] = mean over the heads in head_mask (0 = all) of
 * A * max(dA, 0) over the patches: out (n, G, G). Exact backpropagation
 * through GPT-2, tested against PyTorch's autograd. */
sc_status sc_vit_gpt2_gradcam(sc_vit_gpt2 *m, const float *pixel_values, const int *ids, int n,
                              int layer, uint64_t head_mask, float *out);
/* ids -> text as GPT2Tokenizer.decode (skip_special: the special token left
 * out). *text is malloc'd. */
sc_status sc_vit_gpt2_decode(const sc_vit_gpt2 *m, const int *ids, int n, int skip_special,
                             char **text);
/* Image to text, words (each token's bytes decoded alone, as UTF-8 with
 * replacement: one label per map) and maps; out is zeroed first
 * (sc_blip_result_free). No prompt: out->n_prompt is 0. */
sc_status sc_vit_gpt2_caption_image(sc_vit_gpt2 *m, const struct sc_image *img,
                                    const sc_blip_generate_params *params, sc_blip_result *out);

#ifdef __cplusplus
}
#endif
#endif
