/* sc_blip_caption_image: image -> pixel values -> ids -> text and words. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blip_caption.h"
#include "blip_internal.h"

void sc_blip_result_free(sc_blip_result *r) {
    if (!r) return;
    if (r->words)
        for (int t = 0; t < r->caption.n; t++) free(r->words[t]);
    free(r->words);
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

static sc_status fill_words(const sc_blip *m, sc_blip_result *r) {
    const int n = r->caption.n;
    r->words = calloc((size_t)n + 1, sizeof *r->words);
    if (!r->words) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int t = 0; t < n; t++) {
        const char *w = sc_blip_token(m, r->caption.ids[t]);
        if (!(r->words[t] = strdup(w ? w : "?")))
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    return SC_OK;
}

sc_status sc_blip_caption_image(sc_blip *m, const sc_image *img, const char *prompt,
                                int strip_prompt, const sc_blip_generate_params *params,
                                sc_blip_result *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_caption_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !img || !img->data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_caption_image: NULL argument");
    float *pix = NULL;
    sc_status s = blip_image_pixels(m, img, &pix);
    if (!s && prompt && *prompt)
        s = sc_blip_prompt_ids(m, prompt, &out->prompt_ids, &out->n_prompt);
    if (!s) s = sc_blip_generate(m, pix, out->prompt_ids, out->n_prompt, params, &out->caption);
    if (!s) s = decode_text(m, out, strip_prompt);
    if (!s) s = fill_words(m, out);
    free(pix);
    if (s) sc_blip_result_free(out);
    return s;
}
