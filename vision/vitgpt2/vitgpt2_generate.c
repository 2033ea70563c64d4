/* Caption generation for ViT-GPT2 as transformers 5.x runs
 * VisionEncoderDecoderModel.generate (sc_vit_gpt2.h): greedy search, or the
 * beam search shared with BLIP (vision/decoding/beam_search.c); decoding and
 * the image-to-words front end. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_image.h"
#include "saccade/sc_ops.h"
#include "sc_internal.h"
#include "blip/blip_internal.h"
#include "vitgpt2_internal.h"

sc_blip_generate_params sc_vit_gpt2_default_generate_params(const sc_vit_gpt2 *m) {
    sc_blip_generate_params p = sc_blip_default_generate_params(NULL);
    if (!m) return p;
    const sc_vit_gpt2_generation_config *g = &m->cfg.generation;
    p.max_new_tokens = g->max_length - 1; /* max_length counts the start token */
    p.min_length = g->min_length > 1 ? g->min_length - 1 : 0;
    p.num_beams = g->num_beams;
    p.length_penalty = g->length_penalty;
    p.early_stopping = g->early_stopping;
    p.do_sample = 0;
    p.attention_layer = -1;
    p.head_mask = 0;
    return p;
}

static sc_status check_params(const sc_vit_gpt2 *m, const sc_blip_generate_params *p) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    if (p->do_sample)
        return sc_set_error(SC_ERR_UNSUPPORTED, "vit-gpt2: sampling is not supported");
    if (p->max_new_tokens < 1 || p->max_new_tokens > SC_BLIP_MAX_NEW_TOKENS)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: max_new_tokens %d outside 1..%d",
                            p->max_new_tokens, SC_BLIP_MAX_NEW_TOKENS);
    const int n_eos = m->cfg.generation.n_eos, keep = n_eos + 1 > 2 ? n_eos + 1 : 2;
    if (p->num_beams < 1 || p->num_beams > DEC_MAX_BEAMS || keep * p->num_beams > d->vocab_size)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: num_beams %d outside 1..%d",
                            p->num_beams, SC_MIN(DEC_MAX_BEAMS, d->vocab_size / keep));
    if (p->min_length < 0 || p->early_stopping < 0 || p->early_stopping > 2 ||
        !isfinite(p->length_penalty))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vit-gpt2: min_length >= 0, early_stopping 0..2 and a finite "
                            "length_penalty needed");
    if (p->attention_layer < -1 || p->attention_layer >= d->n_layer)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: attention layer %d outside 0..%d",
                            p->attention_layer, d->n_layer - 1);
    if (d->n_head < 64 && (p->head_mask >> d->n_head))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vit-gpt2: head mask names heads beyond the %d heads", d->n_head);
    return SC_OK;
}

/* Greedy search from the first step's logits; each word's map comes from the
 * step that chose it. lp is scratch (V). */
static sc_status greedy(sc_vit_gpt2 *m, const sc_blip_generate_params *p, int layer, float *lp,
                        sc_blip_caption *out) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const sc_vit_gpt2_generation_config *g = &m->cfg.generation;
    const int V = d->vocab_size, Ti = sc_vit_gpt2_image_tokens(m);
    double score = 0;
    for (int k = 0; k < p->max_new_tokens; k++) {
        float *scores = m->s.logits;
        sc_log_softmax_forward(scores, 1, V, lp); /* the model's, before any processing */
        for (int e = 0; k < p->min_length && e < g->n_eos; e++)
            scores[g->eos_token_ids[e]] = -INFINITY; /* MinLengthLogitsProcessor */
        int tok = 0; /* the first of equal maxima (torch.argmax) */
        for (int v = 1; v < V; v++)
            if (scores[v] > scores[tok]) tok = v;
        score += lp[tok];
        if (dec_is_eos(g->eos_token_ids, g->n_eos, tok)) {
            out->ended = 1;
            out->end_logprob = lp[tok];
            break;
        }
        out->logprobs[out->n] = lp[tok];
        dec_record_word(out, out->n, m->s.cross, d->n_layer, d->n_head, Ti, layer, p->head_mask);
        out->ids[out->n++] = tok;
        if (k + 1 == p->max_new_tokens) break;
        sc_status st = gpt2_step(m, 1, &tok, 1, 0);
        if (st) return st;
    }
    out->score = (float)score;
    return SC_OK;
}

static float *beam_logits(void *ctx) {
    return ((sc_vit_gpt2 *)ctx)->s.logits;
}

static sc_status beam_step(void *ctx, int rows, const int *ids) {
    return gpt2_step(ctx, rows, ids, 1, 0);
}

static void beam_reorder(void *ctx, int rows, const int *src) {
    gpt2_reorder(ctx, rows, src);
}

/* Beam search, then the chosen caption's maps and log-probabilities from one
 * teacher-forced pass over start + ids (query i produced ids[i], query n the
 * stop id when it ended there). seq is scratch (1 + M). */
static sc_status beams(sc_vit_gpt2 *m, const sc_blip_generate_params *p, int layer, int *seq,
                       sc_blip_caption *out) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const sc_vit_gpt2_generation_config *g = &m->cfg.generation;
    const int Ti = sc_vit_gpt2_image_tokens(m);
    const dec_beam_model bm = {m,        d->vocab_size, g->pad_token_id, g->eos_token_ids,
                               g->n_eos, beam_logits,   beam_step,       beam_reorder};
    const dec_beam_params bp = {p->num_beams, p->max_new_tokens, p->min_length, p->length_penalty,
                                p->early_stopping};
    int len = 0;
    sc_status st = dec_beam_search(&bm, &bp, 1, seq + 1, &len, &out->score);
    if (st) return st;
    out->ended = len > 0 && dec_is_eos(g->eos_token_ids, g->n_eos, seq[len]);
    out->n = out->ended ? len - 1 : len;
    memcpy(out->ids, seq + 1, (size_t)out->n * sizeof(int));
    const int L = out->n + out->ended, V = d->vocab_size, stop = out->ended ? seq[len] : -1;
    if (!L) return SC_OK;
    seq[0] = g->decoder_start_token_id;
    const size_t per_query = (size_t)d->n_layer * d->n_head * Ti;
    if ((st = gpt2_plan(m, 1, L, L)) || (st = gpt2_set_image(m, m->s.image)) ||
        (st = gpt2_step(m, 1, seq, L, 1)))
        return st;
    for (int i = 0; i < L; i++) {
        float *row = m->s.logits + (size_t)i * V;
        sc_log_softmax_forward(row, 1, V, row);
        if (i == out->n) {
            out->end_logprob = row[stop];
            break;
        }
        out->logprobs[i] = row[out->ids[i]];
        dec_record_word(out, i, m->s.cross + (size_t)i * per_query, d->n_layer, d->n_head, Ti,
                        layer, p->head_mask);
    }
    return SC_OK;
}

sc_status sc_vit_gpt2_generate(sc_vit_gpt2 *m, const float *pixel_values,
                               const sc_blip_generate_params *params, sc_blip_caption *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_generate: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !pixel_values)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_generate: NULL argument");
    sc_blip_generate_params p = params ? *params : sc_vit_gpt2_default_generate_params(m);
    sc_status st = check_params(m, &p);
    if (st) return st;
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const int G = sc_vit_gpt2_grid(m), B = p.num_beams;
    /* positions end at n_positions, as transformers clamps max_length */
    if (p.max_new_tokens > d->n_positions - 1) p.max_new_tokens = d->n_positions - 1;
    const int M = p.max_new_tokens;
    const int layer = p.attention_layer >= 0 ? p.attention_layer : 2 * d->n_layer / 3;
    const size_t per_query = (size_t)d->n_layer * d->n_head * sc_vit_gpt2_image_tokens(m);
    if ((st = gpt2_plan(m, B, 1 + M, 1)) ||
        (st = sc_vit_gpt2_vision_forward(m, pixel_values, m->s.image)) ||
        (st = gpt2_set_image(m, m->s.image)))
        return st;
    int *ids0 = malloc((size_t)B * sizeof(int)), *seq = malloc((size_t)(M + 2) * sizeof(int));
    float *lp = malloc((size_t)d->vocab_size * sizeof(float));
    out->ids = malloc((size_t)M * sizeof(int));
    out->logprobs = malloc((size_t)M * sizeof(float));
    out->attention = malloc((size_t)M * G * G * sizeof(float));
    out->class_attention = malloc((size_t)M * sizeof(float));
    if (p.keep_all_attention) out->attention_all = malloc((size_t)M * per_query * sizeof(float));
    out->grid = G;
    if (!ids0 || !seq || !lp || !out->ids || !out->logprobs || !out->attention ||
        !out->class_attention || (p.keep_all_attention && !out->attention_all))
        st = sc_set_error(SC_ERR_NOMEM, "sc_vit_gpt2_generate: out of memory");
    for (int b = 0; b < B && !st; b++) ids0[b] = m->cfg.generation.decoder_start_token_id;
    if (!st) st = gpt2_step(m, B, ids0, 1, 0);
    if (!st) st = B == 1 ? greedy(m, &p, layer, lp, out) : beams(m, &p, layer, seq, out);
    if (!st && p.gradcam && out->n > 0) { /* the features are still m->s.image */
        const int H = d->n_head, Ti = sc_vit_gpt2_image_tokens(m), n = out->n;
        float *g = malloc((size_t)2 * n * H * Ti * sizeof(float));
        out->gradcam = malloc((size_t)n * G * G * sizeof(float));
        if (!g || !out->gradcam)
            st = sc_set_error(SC_ERR_NOMEM, "sc_vit_gpt2_generate: out of memory");
        if (!st) {
            seq[0] = m->cfg.generation.decoder_start_token_id;
            memcpy(seq + 1, out->ids, (size_t)n * sizeof(int));
            st = gpt2_cross_attention_grads(m, m->s.image, seq, 1 + n, 0, layer, g,
                                            g + (size_t)n * H * Ti);
        }
        if (!st) dec_gradcam_maps(g, g + (size_t)n * H * Ti, n, H, G, p.head_mask, out->gradcam);
        free(g);
    }
    free(ids0), free(seq), free(lp);
    if (st) sc_blip_caption_free(out);
    return st;
}

sc_status sc_vit_gpt2_decode(const sc_vit_gpt2 *m, const int *ids, int n, int skip_special,
                             char **text) {
    if (!m || (n > 0 && !ids) || n < 0 || !text)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_decode: bad argument");
    int32_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) v[i] = ids[i];
    sc_status s = sc_bpe_decode(m->bpe, v, (size_t)n, skip_special, text);
    free(v);
    return s;
}

/* The tokens as pieces in the convention sc_blip_merge_words reads: each
 * token decoded alone; one that starts with a space begins a word (the space
 * dropped), any other after the first continues the word before it ("##"
 * prefixed). Then the whole words, their maps and log-probabilities. */
static sc_status fill_words(const sc_vit_gpt2 *m, sc_blip_result *r) {
    const int n = r->caption.n;
    if (!(r->pieces = calloc((size_t)n + 1, sizeof *r->pieces)))
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int t = 0; t < n; t++) {
        char *w = NULL;
        sc_status s = sc_vit_gpt2_decode(m, &r->caption.ids[t], 1, 0, &w);
        if (s) return s;
        size_t lead = strspn(w, " "), len = strlen(w + lead);
        int cont = t > 0 && lead == 0;
        char *p = malloc(len + 3);
        if (!p) {
            free(w);
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
        }
        snprintf(p, len + 3, "%s%s", cont ? "##" : "", w + lead);
        free(w);
        r->pieces[t] = p;
    }
    return sc_blip_merge_words(r);
}

sc_status sc_vit_gpt2_caption_image(sc_vit_gpt2 *m, const sc_image *img,
                                    const sc_blip_generate_params *params, sc_blip_result *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_caption_image: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !img || !img->data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_caption_image: NULL argument");
    float *pix = NULL;
    sc_status s = blip_image_pixels(&m->cfg.preprocess, m->cfg.encoder.image_size, img,
                                    "sc_vit_gpt2_preprocess", &pix);
    if (!s) s = sc_vit_gpt2_generate(m, pix, params, &out->caption);
    if (!s) s = sc_vit_gpt2_decode(m, out->caption.ids, out->caption.n, 1, &out->text);
    if (!s) s = fill_words(m, out);
    free(pix);
    if (s) sc_blip_result_free(out);
    return s;
}
