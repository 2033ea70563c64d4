/* Caption generation for BLIP as transformers 5.x runs
 * BlipForConditionalGeneration.generate: the decoder starts from
 * text_config.bos_token_id ([DEC]) followed by the prompt, stops at
 * text_config.sep_token_id ([SEP]); greedy search, sampling (temperature,
 * top-k, top-p) and the vectorised beam search of GenerationMixin (2 x beams
 * candidates per step, finished hypotheses only from the top `beams` ranks,
 * score = sum log p / new_tokens^length_penalty, early_stopping False, True
 * or "never").
 * max_length and min_length count new tokens ([SEP] included), as
 * transformers' max_new_tokens / min_new_tokens and 5.x's default length do;
 * a max_length passed to transformers' generate counts the decoder prompt too.
 * Before 4.50 the beam search kept a BeamHypotheses heap with a different
 * stopping rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_ops.h"
#include "saccade/sc_rng.h"
#include "blip_internal.h"
#include "decoding/decoding.h"
#include "sc_internal.h"

sc_blip_generate_params sc_blip_default_generate_params(const sc_blip *m) {
    sc_blip_generate_params p;
    memset(&p, 0, sizeof p);
    const sc_blip_text_config *t = m ? &m->cfg.text : NULL;
    sc_blip_config d = sc_blip_default_config();
    if (!t) t = &d.text;
    p.max_new_tokens = t->max_length;
    p.min_length = t->min_length;
    p.num_beams = t->num_beams;
    p.length_penalty = t->length_penalty;
    p.early_stopping = t->early_stopping;
    p.do_sample = t->do_sample;
    p.top_k = t->top_k;
    p.top_p = t->top_p;
    p.temperature = t->temperature;
    p.seed = 0;
    p.attention_layer = -1;
    p.head_mask = 0;
    return p;
}

void sc_blip_caption_free(sc_blip_caption *c) {
    if (!c) return;
    free(c->ids);
    free(c->logprobs);
    free(c->attention);
    free(c->class_attention);
    free(c->attention_all);
    free(c->gradcam);
    memset(c, 0, sizeof *c);
}

sc_status blip_check_params(const sc_blip *m, const sc_blip_generate_params *p, int n_prompt) {
    const sc_blip_text_config *t = &m->cfg.text;
    if (p->max_new_tokens < 1 || p->max_new_tokens > SC_BLIP_MAX_NEW_TOKENS)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: max_new_tokens %d outside 1..%d",
                            p->max_new_tokens, SC_BLIP_MAX_NEW_TOKENS);
    if (p->num_beams < 1 || p->num_beams > SC_BLIP_MAX_BEAMS)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: num_beams %d outside 1..%d", p->num_beams,
                            SC_BLIP_MAX_BEAMS);
    if (p->do_sample && p->num_beams > 1)
        return sc_set_error(SC_ERR_UNSUPPORTED, "blip: sampling with beams is not supported");
    if (2 * p->num_beams > t->vocab_size)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: %d beams need a vocabulary of %d tokens",
                            p->num_beams, 2 * p->num_beams);
    if (p->min_length < 0) return sc_set_error(SC_ERR_INVALID_ARG, "blip: min_length < 0");
    if (p->early_stopping < 0 || p->early_stopping > 2)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "blip: early_stopping %d (0 false, 1 true, 2 never)",
                            p->early_stopping);
    if (!isfinite(p->length_penalty))
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: length_penalty must be finite");
    if (p->do_sample && (!(p->temperature > 0) || !(p->top_p > 0 && p->top_p <= 1) || p->top_k < 0))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "blip: sampling needs temperature > 0, top_p in (0, 1], top_k >= 0");
    if (p->attention_layer < -1 || p->attention_layer >= t->num_hidden_layers)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: attention layer %d outside 0..%d",
                            p->attention_layer, t->num_hidden_layers - 1);
    if (t->num_attention_heads < 64 && (p->head_mask >> t->num_attention_heads))
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: head mask names heads beyond the %d heads",
                            t->num_attention_heads);
    if (n_prompt < 0 || 1 + n_prompt >= t->max_position_embeddings)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "blip: a prompt of %d tokens leaves no room in the %d positions",
                            n_prompt, t->max_position_embeddings);
    return SC_OK;
}

/* MinLengthLogitsProcessor with 5.x's count of new tokens: no [SEP] before
 * min_length new tokens. */
static void min_length(const sc_blip_generate_params *p, int new_tokens, int sep, float *scores) {
    if (new_tokens < p->min_length) scores[sep] = -INFINITY;
}

/* Ascending by score, ties by index (torch.sort on CPU is stable). */
static void sort_ascending(const float *sc, int *o, int V) {
    for (int v = 0; v < V; v++) o[v] = v;
    for (int gap = V / 2; gap > 0; gap /= 2) /* shell sort */
        for (int i = gap; i < V; i++) {
            int x = o[i], j = i;
            while (j >= gap &&
                   (sc[o[j - gap]] > sc[x] || (sc[o[j - gap]] == sc[x] && o[j - gap] > x))) {
                o[j] = o[j - gap];
                j -= gap;
            }
            o[j] = x;
        }
}

/* Sampling as transformers' warpers: temperature, top-k (tokens below the
 * k-th largest score removed, ties kept), top-p (ascending order; tokens
 * whose cumulative probability is <= 1 - top_p removed, the most likely one
 * always kept), then one draw from the softmax. scores (V) is overwritten;
 * work (V floats) and order (V ints) are scratch. */
static int sample_token(const sc_blip_generate_params *p, float *scores, int V, float *work,
                        int *order, sc_rng *rng) {
    for (int v = 0; v < V; v++) scores[v] /= p->temperature;
    if (p->top_k > 0 && p->top_k < V) {
        memcpy(work, scores, (size_t)V * sizeof(float));
        float kth = -INFINITY;
        for (int i = 0; i < p->top_k; i++) { /* k repeated maxima: k is small */
            int best = -1;
            for (int v = 0; v < V; v++)
                if (work[v] > -INFINITY && (best < 0 || work[v] > work[best])) best = v;
            if (best < 0) break;
            kth = work[best];
            work[best] = -INFINITY;
        }
        for (int v = 0; v < V; v++)
            if (scores[v] < kth) scores[v] = -INFINITY;
    }
    if (p->top_p < 1.0f) {
        memcpy(work, scores, (size_t)V * sizeof(float));
        sc_softmax_forward(work, 1, V, work);
        sort_ascending(scores, order, V);
        float cum = 0; /* float, as torch's cumsum of float probabilities */
        for (int i = 0; i < V - 1; i++) {
            cum += work[order[i]];
            if (cum <= 1.0f - p->top_p) scores[order[i]] = -INFINITY;
        }
    }
    memcpy(work, scores, (size_t)V * sizeof(float));
    sc_softmax_forward(work, 1, V, work);
    double sum = 0;
    for (int v = 0; v < V; v++) sum += work[v];
    const double u = (double)sc_rng_uniform(rng) * sum;
    double acc = 0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        if (work[v] <= 0) continue;
        last = v;
        acc += work[v];
        if (u < acc) return v;
    }
    return last;
}

/* Greedy search or sampling (one row). Maps are taken from each step. */
static sc_status search_one(sc_blip *m, const sc_blip_generate_params *p, int n0, int layer,
                            sc_blip_caption *out, float *work, int *order) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int V = t->vocab_size, Ti = sc_blip_image_tokens(m);
    const size_t per_query = (size_t)t->num_hidden_layers * t->num_attention_heads * Ti;
    sc_rng rng;
    sc_rng_seed(&rng, p->seed);
    blip_state *s = &m->s;
    float *lp = work + V;    /* log-probabilities */
    int last_query = n0 - 1; /* the query that predicts the next token, in s->cross */
    double score = 0;
    for (int k = 0; k < p->max_new_tokens; k++) {
        float *scores = s->logits;                /* (V) of the row's last token */
        sc_log_softmax_forward(scores, 1, V, lp); /* the model's, before any processing */
        min_length(p, k, t->sep_token_id, scores);
        int tok;
        if (p->do_sample) {
            tok = sample_token(p, scores, V, work, order, &rng);
        } else {
            tok = 0; /* argmax, the first of equal maxima (torch.argmax) */
            for (int v = 1; v < V; v++)
                if (scores[v] > scores[tok]) tok = v;
        }
        score += lp[tok];
        if (tok == t->sep_token_id) {
            out->ended = 1;
            out->end_logprob = lp[tok];
            break;
        }
        out->logprobs[out->n] = lp[tok];
        dec_record_word(out, out->n, s->cross + (size_t)last_query * per_query,
                        t->num_hidden_layers, t->num_attention_heads, Ti, layer, p->head_mask);
        out->ids[out->n++] = tok;
        if (k + 1 == p->max_new_tokens) break;
        sc_status st = blip_step(m, 1, &tok, 1, 0);
        if (st) return st;
        last_query = 0;
    }
    out->score = (float)score;
    return SC_OK;
}

/* BLIP's decoder as the beam search drives it (one new token per row). */
static float *beam_logits(void *ctx) {
    return ((sc_blip *)ctx)->s.logits;
}

static sc_status beam_step(void *ctx, int rows, const int *ids) {
    return blip_step(ctx, rows, ids, 1, 0);
}

static void beam_reorder(void *ctx, int rows, const int *src) {
    blip_reorder(ctx, rows, src);
}

sc_status blip_beam_search(sc_blip *m, const sc_blip_generate_params *p, int n0, int *best_seq,
                           int *best_len, float *score) {
    const sc_blip_text_config *t = &m->cfg.text;
    const dec_beam_model bm = {m, t->vocab_size, t->pad_token_id, &t->sep_token_id,
                               1, beam_logits,   beam_step,       beam_reorder};
    const dec_beam_params bp = {p->num_beams, p->max_new_tokens, p->min_length, p->length_penalty,
                                p->early_stopping};
    return dec_beam_search(&bm, &bp, n0, best_seq, best_len, score);
}

sc_status sc_blip_generate(sc_blip *m, const float *pixel_values, const int *prompt_ids,
                           int n_prompt, const sc_blip_generate_params *params,
                           sc_blip_caption *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_generate: out is NULL");
    memset(out, 0, sizeof *out);
    if (!m || !pixel_values || (n_prompt > 0 && !prompt_ids))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_generate: NULL argument");
    sc_blip_generate_params p = params ? *params : sc_blip_default_generate_params(m);
    sc_status st = blip_check_params(m, &p, n_prompt);
    if (st) return st;
    const sc_blip_text_config *t = &m->cfg.text;
    const int V = t->vocab_size, G = sc_blip_grid(m), n0 = 1 + n_prompt, B = p.num_beams;
    const size_t per_query =
        (size_t)t->num_hidden_layers * t->num_attention_heads * sc_blip_image_tokens(m);
    /* positions end at max_position_embeddings, as transformers clamps max_length */
    if (p.max_new_tokens > t->max_position_embeddings - n0)
        p.max_new_tokens = t->max_position_embeddings - n0;
    const int M = p.max_new_tokens, cap = n0 + M;
    const int layer = p.attention_layer >= 0 ? p.attention_layer : 2 * t->num_hidden_layers / 3;
    if ((st = blip_plan(m, B, cap, n0))) return st;
    if ((st = sc_blip_vision_forward(m, pixel_values, m->image)) ||
        (st = blip_set_image(m, m->image)))
        return st;
    int *ids0 = malloc((size_t)B * n0 * sizeof(int));
    int *order = malloc((size_t)V * sizeof(int));
    float *work = malloc((size_t)2 * V * sizeof(float));
    int *best = malloc((size_t)cap * sizeof(int));
    out->ids = malloc((size_t)M * sizeof(int));
    out->logprobs = malloc((size_t)M * sizeof(float));
    out->attention = malloc((size_t)M * G * G * sizeof(float));
    out->class_attention = malloc((size_t)M * sizeof(float));
    if (p.keep_all_attention) out->attention_all = malloc((size_t)M * per_query * sizeof(float));
    out->grid = G;
    if (!ids0 || !order || !work || !best || !out->ids || !out->logprobs || !out->attention ||
        !out->class_attention || (p.keep_all_attention && !out->attention_all))
        st = sc_set_error(SC_ERR_NOMEM, "sc_blip_generate: out of memory");
    for (int b = 0; b < B && !st; b++) {
        ids0[(size_t)b * n0] = t->bos_token_id;
        for (int i = 0; i < n_prompt; i++) ids0[(size_t)b * n0 + 1 + i] = prompt_ids[i];
    }
    if (!st) st = blip_step(m, B, ids0, n0, 0);
    if (!st && B == 1) st = search_one(m, &p, n0, layer, out, work, order);
    if (!st && B > 1) {
        int len = 0;
        st = blip_beam_search(m, &p, n0, best, &len, &out->score);
        if (!st) {
            out->ended = len > 0 && best[len - 1] == t->sep_token_id;
            out->n = out->ended ? len - 1 : len;
            memcpy(out->ids, best, (size_t)out->n * sizeof(int));
        }
        /* the maps and log-probabilities of the chosen hypothesis: one
         * teacher-forced pass over [DEC] prompt ids (the last one only when
         * [SEP] followed it), whose query n0 - 1 + i produced ids[i] */
        const int L = n0 + out->n - 1 + out->ended;
        if (!st && L >= n0) {
            memcpy(best, ids0, (size_t)n0 * sizeof(int));
            memcpy(best + n0, out->ids, (size_t)(L - n0) * sizeof(int));
            st = blip_plan(m, 1, L, L);
            if (!st) st = blip_step(m, 1, best, L, 1);
            for (int i = 0; i <= out->n && !st; i++) {
                if (i == out->n && !out->ended) break;
                float *row = m->s.logits + (size_t)(n0 - 1 + i) * V;
                sc_log_softmax_forward(row, 1, V, row);
                if (i == out->n) {
                    out->end_logprob = row[t->sep_token_id];
                    break;
                }
                out->logprobs[i] = row[out->ids[i]];
                dec_record_word(out, i, m->s.cross + (size_t)(n0 - 1 + i) * per_query,
                                t->num_hidden_layers, t->num_attention_heads,
                                sc_blip_image_tokens(m), layer, p.head_mask);
            }
        }
    }
    if (!st && p.gradcam && out->n > 0) {
        /* the backward over [DEC] prompt ids: the features are still m->image */
        const int L = n0 + out->n, H = t->num_attention_heads, Ti = sc_blip_image_tokens(m);
        float *g = malloc((size_t)2 * out->n * H * Ti * sizeof(float));
        out->gradcam = malloc((size_t)out->n * G * G * sizeof(float));
        if (!g || !out->gradcam) st = sc_set_error(SC_ERR_NOMEM, "sc_blip_generate: out of memory");
        if (!st) {
            memcpy(best, ids0, (size_t)n0 * sizeof(int));
            memcpy(best + n0, out->ids, (size_t)out->n * sizeof(int));
            st = blip_cross_attention_grads(m, m->image, best, L, n0 - 1, layer, g,
                                            g + (size_t)out->n * H * Ti);
        }
        if (!st)
            dec_gradcam_maps(g, g + (size_t)out->n * H * Ti, out->n, H, G, p.head_mask,
                             out->gradcam);
        free(g);
    }
    free(ids0), free(order), free(work), free(best);
    if (st) sc_blip_caption_free(out);
    return st;
}
