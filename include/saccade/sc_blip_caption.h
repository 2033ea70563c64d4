/* saccade: captioning one image with BLIP (sc_blip.h), end to end: image to
 * text, the per-token words and the cross-attention maps that front ends
 * (the CLI, the Python binding, the gallery) show.
 *
 * The steps are those of BlipProcessor + generate + decode:
 *   pixels  sc_blip_preprocess (gray images are first repeated to RGB)
 *   prompt  sc_blip_prompt_ids (the processor's "[CLS] prompt [SEP]" with
 *           [CLS] replaced by [DEC] and [SEP] dropped)
 *   ids     sc_blip_generate
 *   text    sc_blip_decode of prompt + new ids with special tokens skipped,
 *           as Hugging Face's decode (the prompt stays in the text); with
 *           strip_prompt the new ids alone, as Salesforce's original code
 *           (caption[len(prompt):]) gives it.
 * pieces[t] is the vocabulary's spelling of ids[t] (WordPiece continuations
 * keep their "##"): one per token and per map of caption.attention.
 * words are what a reader calls words, the labels of figures and galleries
 * (sc_blip_merge_words): each continuation piece ("##board") joined to the
 * piece before it ("surf" -> "surfboard"); a word's map is the mean of its
 * pieces' maps (each piece's map is the cross-attention of the query that
 * produced that piece, so the mean weighs every piece alike) and its
 * log-probability the sum of its pieces' (the probability of the whole
 * word). A one-piece word keeps its piece's map and log-probability. */
#ifndef SACCADE_SC_BLIP_CAPTION_H
#define SACCADE_SC_BLIP_CAPTION_H

#include "saccade/sc_blip.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_blip_result {
    sc_blip_caption caption; /* ids (n), attention (n, G, G), ... (sc_blip.h) */
    char *text;              /* the decoded caption */
    char **pieces;           /* (caption.n) token strings, "##" kept */
    int *prompt_ids;         /* (n_prompt) the prompt's ids after [DEC] */
    int n_prompt;
    /* whole words (see above), filled by sc_blip_merge_words */
    int n_words;
    char **words;          /* (n_words) */
    int *word_start;       /* (n_words + 1): word w is tokens word_start[w] .. word_start[w+1]-1 */
    float *word_attention; /* (n_words, G, G): the mean of its pieces' caption.attention */
    float *word_logprobs;  /* (n_words): the sum of its pieces' caption.logprobs */
} sc_blip_result;

/* Caption img (1 to 4 channels) with prompt (NULL or "" for none). params
 * NULL = sc_blip_default_generate_params. out is zeroed first and owns its
 * arrays (sc_blip_result_free). */
sc_status sc_blip_caption_image(sc_blip *m, const sc_image *img, const char *prompt,
                                int strip_prompt, const sc_blip_generate_params *params,
                                sc_blip_result *out);
void sc_blip_result_free(sc_blip_result *r);
/* (Re)computes r's words, word_start, word_attention and word_logprobs from
 * r->pieces, r->caption.attention and r->caption.logprobs (either may be
 * NULL: then so is the merged array). A leading continuation piece, with
 * no piece before it, is a word of its own without its "##". */
sc_status sc_blip_merge_words(sc_blip_result *r);

#ifdef __cplusplus
}
#endif
#endif
