/* sc_blip_caption_image: image -> pixel values -> ids -> text and words. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blip_caption.h"
#include "blip_internal.h"

static void free_words(sc_blip_result *r) {
    if (r->words)
        for (int w = 0; w < r->n_words; w++) free(r->words[w]);
    free(r->words);
    free(r->word_start);
    free(r->word_attention);
    free(r->word_logprobs);
    r->words = NULL, r->word_start = NULL, r->word_attention = NULL, r->word_logprobs = NULL;
    r->n_words = 0;
}

void sc_blip_result_free(sc_blip_result *r) {
    if (!r) return;
    if (r->pieces)
        for (int t = 0; t < r->caption.n; t++) free(r->pieces[t]);
    free(r->pieces);
    free_words(r);
    free(r->text);
    free(r->prompt_ids);
    sc_blip_caption_free(&r->caption);
    memset(r, 0, sizeof *r);
}

/* The caption's text: prompt + new ids, or the new ids alone. */
static sc_status decode_text(const sc_blip *m, sc_blip_result *r, int strip_prompt) {
    const int P = strip_prompt ? 0 : r->n_prompt, n = r->caption.n;
    int *all = malloc(((size_t)P + (size_t)n + 1) * sizeof *all);
    if (!all) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (P) memcpy(all, r->prompt_ids, (size_t)P * sizeof *all);
    if (n) memcpy(all + P, r->caption.ids, (size_t)n * sizeof *all);
    sc_status s = sc_blip_decode(m, all, P + n, 1, &r->text);
    free(all);
    return s;
}

static sc_status fill_pieces(const sc_blip *m, sc_blip_result *r) {
    const int n = r->caption.n;
    r->pieces = calloc((size_t)n + 1, sizeof *r->pieces);
    if (!r->pieces) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int t = 0; t < n; t++) {
        const char *w = sc_blip_token(m, r->caption.ids[t]);
        if (!(r->pieces[t] = strdup(w ? w : "?")))
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    return SC_OK;
}

static int is_continuation(const char *piece) {
    return piece[0] == '#' && piece[1] == '#' && piece[2];
}

sc_status sc_blip_merge_words(sc_blip_result *r) {
    if (!r) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_merge_words: NULL result");
    const sc_blip_caption *k = &r->caption;
    const int n = k->n, G = k->grid;
    if (n < 0 || (n > 0 && !r->pieces) || (k->attention && G < 1))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_merge_words: no pieces or grid");
    for (int t = 0; t < n; t++)
        if (!r->pieces[t])
            return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_merge_words: piece %d is NULL", t);
    free_words(r);
    const size_t P = k->attention ? (size_t)G * G : 0;
    int nw = 0;
    for (int t = 0; t < n; t++) nw += t == 0 || !is_continuation(r->pieces[t]);
    r->words = calloc((size_t)nw + 1, sizeof *r->words);
    r->word_start = malloc(((size_t)nw + 1) * sizeof *r->word_start);
    if (P) r->word_attention = calloc((size_t)nw * P + 1, sizeof(float));
    if (k->logprobs) r->word_logprobs = calloc((size_t)nw + 1, sizeof(float));
    if (!r->words || !r->word_start || (P && !r->word_attention) ||
        (k->logprobs && !r->word_logprobs)) {
        free_words(r);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    r->n_words = nw;
    for (int t = 0, w = -1; t <= n; t++) {
        if (t < n && t > 0 && is_continuation(r->pieces[t])) continue;
        if (w >= 0) { /* word w is tokens word_start[w] .. t - 1 */
            const int a = r->word_start[w], np = t - a;
            size_t len = 1;
            for (int i = a; i < t; i++)
                len += strlen(r->pieces[i]) - (is_continuation(r->pieces[i]) ? 2 : 0);
            char *text = malloc(len);
            if (!text) {
                free_words(r);
                return sc_set_error(SC_ERR_NOMEM, "out of memory");
            }
            text[0] = 0;
            for (int i = a; i < t; i++)
                strcat(text, r->pieces[i] + (is_continuation(r->pieces[i]) ? 2 : 0));
            r->words[w] = text;
            for (int i = a; i < t; i++) {
                for (size_t q = 0; q < P; q++)
                    r->word_attention[(size_t)w * P + q] +=
                        k->attention[(size_t)i * P + q] / (float)np;
                if (k->logprobs) r->word_logprobs[w] += k->logprobs[i];
            }
        }
        if (t < n) r->word_start[++w] = t;
    }
    r->word_start[nw] = n;
    return SC_OK;
}

sc_status sc_blip_caption_image(sc_blip *m, const sc_image *img, const char *prompt,
                                int strip_prompt, const sc_blip_generate_params *params,
                                sc_blip_result *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_caption_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !img || !img->data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_caption_image: NULL argument");
    const sc_blip_config *c = sc_blip_get_config(m);
    float *pix = NULL;
    sc_status s =
        blip_image_pixels(&c->preprocess, c->vision.image_size, img, "sc_blip_preprocess", &pix);
    if (!s && prompt && *prompt)
        s = sc_blip_prompt_ids(m, prompt, &out->prompt_ids, &out->n_prompt);
    if (!s) s = sc_blip_generate(m, pix, out->prompt_ids, out->n_prompt, params, &out->caption);
    if (!s) s = decode_text(m, out, strip_prompt);
    if (!s) s = fill_pieces(m, out);
    if (!s) s = sc_blip_merge_words(out);
    free(pix);
    if (s) sc_blip_result_free(out);
    return s;
}
