/* BLIP visual question answering (sc_blip_vqa.h): the question through the
 * text encoder (bidirectional, cross-attention to the image), the answer from
 * the decoder reading the question embeddings, as
 * BlipForQuestionAnswering.generate runs them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blip_vqa.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_wordpiece.h"
#include "blip_internal.h"
#include "sc_internal.h"

struct sc_blip_vqa {
    sc_blip *m;
    blip_encoded_image im; /* the image set last */
};

sc_status blip_encode_text(sc_blip *m, const float *img_k, const float *img_v, const int *ids,
                           int n) {
    blip_state *s = &m->s;
    float *k = s->img_k, *v = s->img_v;
    const int had = m->have_image, tokens = m->cross_tokens;
    m->use_encoder = 1, m->no_cross = !img_k, m->cross_tokens = 0, s->len = 0;
    if (img_k) {
        s->img_k = (float *)img_k, s->img_v = (float *)img_v; /* read only */
        m->have_image = 1;
    }
    sc_status st = blip_step(m, 1, ids, n, 1);
    s->img_k = k, s->img_v = v;
    m->have_image = had, m->cross_tokens = tokens;
    m->use_encoder = 0, m->no_cross = 0;
    return st;
}

sc_status blip_load_encoder_model(const char *path, int parts, sc_blip **out,
                                  blip_encoded_image *e) {
    memset(e, 0, sizeof *e);
    sc_blip *m = NULL;
    sc_status s = blip_load_parts(path, parts | BLIP_PART_ENCODER, &m);
    if (s) return s;
    const sc_blip_text_config *t = &m->cfg.text;
    const size_t Ti = (size_t)sc_blip_image_tokens(m),
                 kv = (size_t)t->num_hidden_layers * Ti * (size_t)t->hidden_size;
    e->features = malloc(Ti * (size_t)m->cfg.vision.hidden_size * sizeof(float));
    e->enc_k = malloc(kv * sizeof(float));
    e->enc_v = malloc(kv * sizeof(float));
    if (!e->features || !e->enc_k || !e->enc_v) {
        blip_encoded_image_free(e);
        sc_blip_free(m);
        return sc_set_error(SC_ERR_NOMEM, "blip: out of memory for the image");
    }
    *out = m;
    return SC_OK;
}

void blip_encoded_image_free(blip_encoded_image *e) {
    free(e->features), free(e->enc_k), free(e->enc_v);
    memset(e, 0, sizeof *e);
}

sc_status blip_encode_image(sc_blip *m, const float *pixel_values, const sc_image *img,
                            blip_encoded_image *e) {
    e->ok = 0;
    float *pix = NULL;
    const sc_blip_config *c = &m->cfg;
    sc_status st = pixel_values ? SC_OK
                                : blip_image_pixels(&c->preprocess, c->vision.image_size, img,
                                                    "sc_blip_preprocess", &pix);
    if (!st) st = sc_blip_vision_forward(m, pixel_values ? pixel_values : pix, e->features);
    if (!st)
        blip_cross_kv(m, m->enc_block_layers, e->features, sc_blip_image_tokens(m), e->enc_k,
                      e->enc_v);
    free(pix);
    e->ok = !st;
    return st;
}

sc_status sc_blip_vqa_load(const char *path, sc_blip_vqa **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_load: out is NULL");
    *out = NULL;
    sc_blip_vqa *v = calloc(1, sizeof *v);
    if (!v) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status s = blip_load_encoder_model(path, BLIP_PART_DECODER, &v->m, &v->im);
    const sc_blip_text_config *t = s ? NULL : &v->m->cfg.text;
    if (!s && t->encoder_hidden_size != t->hidden_size)
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: the answer decoder reads the question (width %d) but its "
                         "cross-attention takes width %d (vision hidden_size): not a "
                         "BlipForQuestionAnswering model",
                         path, t->hidden_size, t->encoder_hidden_size);
    if (s) {
        sc_blip_vqa_free(v);
        return s;
    }
    *out = v;
    return SC_OK;
}

void sc_blip_vqa_free(sc_blip_vqa *v) {
    if (!v) return;
    sc_blip_free(v->m);
    blip_encoded_image_free(&v->im);
    free(v);
}

sc_blip *sc_blip_vqa_model(sc_blip_vqa *v) {
    return v ? v->m : NULL;
}

sc_status sc_blip_vqa_set_pixels(sc_blip_vqa *v, const float *pixel_values) {
    if (!v || !pixel_values)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_set_pixels: NULL argument");
    return blip_encode_image(v->m, pixel_values, NULL, &v->im);
}

sc_status sc_blip_vqa_set_image(sc_blip_vqa *v, const sc_image *img) {
    if (!v) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_set_image: NULL argument");
    return blip_encode_image(v->m, NULL, img, &v->im);
}

sc_status sc_blip_vqa_question_ids(const sc_blip_vqa *v, const char *question, int **ids, int *n) {
    if (!v || !question || !ids || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_question_ids: NULL argument");
    return blip_text_ids(v->m, question, "question", ids, n);
}

sc_status blip_text_ids(const sc_blip *m, const char *text, const char *what, int **ids, int *n) {
    *ids = NULL, *n = 0;
    int32_t *enc = NULL;
    size_t len = 0;
    sc_status s = sc_wordpiece_encode(m->wp, text, strlen(text), 1, &enc, &len);
    if (s) {
        char why[256];
        snprintf(why, sizeof why, "%s", sc_last_error());
        return sc_set_error(s, "the %s: %s", what, why);
    }
    const int P = m->cfg.text.max_position_embeddings;
    if (len <= 2)
        s = sc_set_error(SC_ERR_INVALID_ARG, "the %s is empty (no word in \"%.40s\")", what, text);
    else if (len > (size_t)P)
        s = sc_set_error(SC_ERR_INVALID_ARG,
                         "the %s is too long: %zu tokens with [CLS] and [SEP], the text model "
                         "has %d positions",
                         what, len, P);
    int *out = s ? NULL : malloc(len * sizeof *out);
    if (!s && !out) s = sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !s && i < len; i++) out[i] = enc[i];
    free(enc);
    if (s) return s;
    *ids = out, *n = (int)len;
    return SC_OK;
}

sc_status sc_blip_vqa_encode_question(sc_blip_vqa *v, const int *ids, int n, float *embeds,
                                      float *cross_attn) {
    if (!v || !ids || n <= 0 || !embeds)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_encode_question: bad argument");
    if (!v->im.ok) return sc_set_error(SC_ERR_INVALID_ARG, "blip vqa: no image set");
    sc_blip *m = v->m;
    const sc_blip_text_config *t = &m->cfg.text;
    if (n > t->max_position_embeddings)
        return sc_set_error(SC_ERR_LIMIT, "blip vqa: %d question tokens exceed %d positions", n,
                            t->max_position_embeddings);
    sc_status st = blip_plan(m, 1, n, n);
    if (!st) st = blip_encode_text(m, v->im.enc_k, v->im.enc_v, ids, n);
    if (st) return st;
    memcpy(embeds, m->s.h, (size_t)n * t->hidden_size * sizeof(float));
    if (cross_attn)
        memcpy(cross_attn, m->s.cross,
               (size_t)n * t->num_hidden_layers * t->num_attention_heads * sc_blip_image_tokens(m) *
                   sizeof(float));
    return SC_OK;
}

/* The decoder's cross-attention input: the question embeddings (nq, D). */
static sc_status set_question(sc_blip *m, const float *embeds, int nq) {
    m->cross_tokens = nq;
    m->have_image = 0;
    m->s.len = 0;
    return blip_set_image(m, embeds);
}

sc_status sc_blip_vqa_decode_forward(sc_blip_vqa *v, const float *embeds, int nq,
                                     const int *dec_ids, int n, float *logits, float *cross_attn) {
    if (!v || !embeds || nq <= 0 || !dec_ids || n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_decode_forward: bad argument");
    sc_blip *m = v->m;
    const sc_blip_text_config *t = &m->cfg.text;
    if (n > t->max_position_embeddings || nq > t->max_position_embeddings)
        return sc_set_error(SC_ERR_LIMIT, "blip vqa: %d / %d tokens exceed %d positions", n, nq,
                            t->max_position_embeddings);
    sc_status st = blip_plan(m, 1, n, n);
    if (!st) st = set_question(m, embeds, nq);
    if (!st) st = blip_step(m, 1, dec_ids, n, 1);
    m->cross_tokens = 0, m->have_image = 0;
    if (st) return st;
    if (logits) memcpy(logits, m->s.logits, (size_t)n * t->vocab_size * sizeof(float));
    if (cross_attn)
        memcpy(cross_attn, m->s.cross,
               (size_t)n * t->num_hidden_layers * t->num_attention_heads * nq * sizeof(float));
    return SC_OK;
}

void sc_blip_answer_free(sc_blip_answer *a) {
    if (!a) return;
    if (a->words)
        for (int i = 0; i < a->n; i++) free(a->words[i]);
    if (a->question_words)
        for (int i = 0; i < a->nq; i++) free(a->question_words[i]);
    free(a->words), free(a->question_words);
    free(a->text), free(a->ids), free(a->question_ids);
    free(a->answer_attention), free(a->answer_maps), free(a->question_attention),
        free(a->question_class_attention);
    memset(a, 0, sizeof *a);
}

/* Mean over the heads in mask (0 = all) of layer `layer` of one query's
 * attention (layers, heads, T) -> out (T). */
static void head_mean(const float *att, int H, int T, int layer, uint64_t mask, float *out) {
    int nh = 0;
    for (int j = 0; j < T; j++) out[j] = 0.0f;
    for (int h = 0; h < H; h++) {
        if (mask && !((mask >> h) & 1)) continue;
        const float *a = att + ((size_t)layer * H + h) * T;
        for (int j = 0; j < T; j++) out[j] += a[j];
        nh++;
    }
    for (int j = 0; j < T; j++) out[j] /= (float)nh;
}

sc_status blip_token_words(const sc_blip *m, const int *ids, int n, char ***words) {
    *words = calloc((size_t)n + 1, sizeof **words);
    if (!*words) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *w = sc_blip_token(m, ids[i]);
        if (!((*words)[i] = strdup(w ? w : "?")))
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    return SC_OK;
}

/* Greedy search from the state after [DEC]: ids (M), *n, *ended, *logprob. */
static sc_status greedy(sc_blip *m, const sc_blip_generate_params *p, int *ids, int *n, int *ended,
                        float *logprob, float *lp) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int V = t->vocab_size;
    double sum = 0;
    for (int k = 0; k < p->max_new_tokens; k++) {
        float *scores = m->s.logits;
        if (k < p->min_length) scores[t->sep_token_id] = -INFINITY; /* MinLength, new tokens */
        sc_log_softmax_forward(scores, 1, V, lp);
        int tok = 0; /* torch.argmax: the first of equal maxima */
        for (int j = 1; j < V; j++)
            if (scores[j] > scores[tok]) tok = j;
        sum += lp[tok];
        if (tok == t->sep_token_id) {
            *ended = 1;
            break;
        }
        ids[(*n)++] = tok;
        if (k + 1 == p->max_new_tokens) break;
        sc_status st = blip_step(m, 1, &tok, 1, 0);
        if (st) return st;
    }
    *logprob = (float)sum;
    return SC_OK;
}

sc_status sc_blip_vqa_answer(sc_blip_vqa *v, const char *question,
                             const sc_blip_generate_params *params, sc_blip_answer *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_answer: out is NULL");
    memset(out, 0, sizeof *out);
    if (!v || !question)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vqa_answer: NULL argument");
    if (!v->im.ok) return sc_set_error(SC_ERR_INVALID_ARG, "blip vqa: no image set");
    sc_blip *m = v->m;
    const sc_blip_text_config *t = &m->cfg.text;
    sc_blip_generate_params p = params ? *params : sc_blip_default_generate_params(m);
    if (p.do_sample)
        return sc_set_error(SC_ERR_UNSUPPORTED, "blip vqa: sampling is not supported for answers");
    sc_status st = blip_check_params(m, &p, 0);
    if (st) return st;
    const int NL = t->num_hidden_layers, H = t->num_attention_heads, D = t->hidden_size,
              Ti = sc_blip_image_tokens(m), G = sc_blip_grid(m), B = p.num_beams;
    const int layer = p.attention_layer >= 0 ? p.attention_layer : 2 * NL / 3;
    if (p.max_new_tokens > t->max_position_embeddings - 1)
        p.max_new_tokens = t->max_position_embeddings - 1;
    const int M = p.max_new_tokens;
    if ((st = sc_blip_vqa_question_ids(v, question, &out->question_ids, &out->nq))) return st;
    const int nq = out->nq;
    float *embeds = malloc((size_t)nq * D * sizeof(float));
    float *row = malloc((size_t)SC_MAX(Ti, t->vocab_size) * sizeof(float));
    int *seq = malloc((size_t)(M + 1) * sizeof(int));
    int *start = malloc((size_t)B * sizeof(int));
    out->ids = malloc((size_t)M * sizeof(int));
    out->question_attention = malloc((size_t)nq * G * G * sizeof(float));
    out->question_class_attention = malloc((size_t)nq * sizeof(float));
    out->grid = G;
    if (!embeds || !row || !seq || !start || !out->ids || !out->question_attention ||
        !out->question_class_attention)
        st = sc_set_error(SC_ERR_NOMEM, "sc_blip_vqa_answer: out of memory");
    /* one plan for the encoder (nq tokens) and the decoder (B rows of 1 + M) */
    if (!st) st = blip_plan(m, B, SC_MAX(nq, 1 + M), nq);
    if (!st) st = blip_encode_text(m, v->im.enc_k, v->im.enc_v, out->question_ids, nq);
    if (!st) {
        memcpy(embeds, m->s.h, (size_t)nq * D * sizeof(float));
        for (int i = 0; i < nq; i++) {
            head_mean(m->s.cross + (size_t)i * NL * H * Ti, H, Ti, layer, p.head_mask, row);
            out->question_class_attention[i] = row[0];
            memcpy(out->question_attention + (size_t)i * G * G, row + 1,
                   (size_t)G * G * sizeof(float));
        }
        st = set_question(m, embeds, nq);
    }
    for (int b = 0; b < B; b++) start[b] = t->bos_token_id;
    if (!st) st = blip_step(m, B, start, 1, 0);
    if (!st && B == 1) st = greedy(m, &p, out->ids, &out->n, &out->ended, &out->logprob, row);
    if (!st && B > 1) {
        int len = 0;
        st = blip_beam_search(m, &p, 1, seq, &len, &out->logprob);
        if (!st) {
            out->ended = len > 0 && seq[len - 1] == t->sep_token_id;
            out->n = out->ended ? len - 1 : len;
            memcpy(out->ids, seq, (size_t)out->n * sizeof(int));
        }
    }
    /* the answer's maps: one teacher-forced pass over [DEC] ids[0..n-1),
     * whose query i produced ids[i] */
    if (!st && out->n > 0) {
        out->answer_attention = malloc((size_t)out->n * nq * sizeof(float));
        if (!out->answer_attention) st = sc_set_error(SC_ERR_NOMEM, "out of memory");
        seq[0] = t->bos_token_id;
        if (!st) memcpy(seq + 1, out->ids, (size_t)(out->n - 1) * sizeof(int));
        m->s.len = 0;
        if (!st) st = blip_step(m, 1, seq, out->n, 0);
        for (int i = 0; i < out->n && !st; i++)
            head_mean(m->s.cross + (size_t)i * NL * H * nq, H, nq, layer, p.head_mask,
                      out->answer_attention + (size_t)i * nq);
        out->answer_maps = st ? NULL : calloc((size_t)out->n * G * G, sizeof(float));
        if (!st && !out->answer_maps) st = sc_set_error(SC_ERR_NOMEM, "out of memory");
        for (int i = 0; i < out->n && !st; i++)
            for (int j = 0; j < nq; j++)
                for (int k = 0; k < G * G; k++)
                    out->answer_maps[(size_t)i * G * G + k] +=
                        out->answer_attention[(size_t)i * nq + j] *
                        out->question_attention[(size_t)j * G * G + k];
    }
    m->cross_tokens = 0, m->have_image = 0;
    out->score = expf(out->logprob);
    if (!st) st = sc_blip_decode(m, out->ids, out->n, 1, &out->text);
    if (!st) st = blip_token_words(m, out->ids, out->n, &out->words);
    if (!st) st = blip_token_words(m, out->question_ids, nq, &out->question_words);
    free(embeds), free(row), free(seq), free(start);
    if (st) sc_blip_answer_free(out);
    return st;
}
