/* BLIP's text decoder (BlipTextLMHeadModel) with a key/value cache, and the
 * vision / teacher-forced forward passes of sc_blip.h. */
#include <math.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "blip_internal.h"
#include "decoding/decoding.h"
#include "sc_internal.h"

static dec_dims dims(const sc_blip *m) {
    const sc_blip_text_config *t = &m->cfg.text;
    /* cross-attention inputs: the image, or a question of up to P tokens
     * (the VQA answer decoder reads the question encoder's states, width D =
     * encoder_hidden_size) */
    const int Ti = SC_MAX(sc_blip_image_tokens(m), t->max_position_embeddings),
              Dv = SC_MAX(m->cfg.vision.hidden_size, t->encoder_hidden_size);
    dec_dims d = {t->num_hidden_layers,
                  t->hidden_size,
                  t->intermediate_size,
                  t->vocab_size,
                  t->num_attention_heads,
                  Ti,
                  Dv};
    return d;
}

sc_status blip_plan(sc_blip *m, int rows, int cap, int n_new) {
    const dec_dims d = dims(m);
    int fresh = 0;
    sc_status st = dec_plan(&m->s, &m->arena, &d, rows, cap, n_new, &fresh, "blip");
    if (!st && fresh) m->have_image = 0, m->image = m->s.image;
    return st;
}

int blip_cross_tokens(const sc_blip *m) {
    return m->cross_tokens ? m->cross_tokens : sc_blip_image_tokens(m);
}

void blip_cross_kv(const sc_blip *m, const dec_layer *layers, const float *x, int T, float *k,
                   float *v) {
    dec_block b = m->block;
    b.Ti = T;
    dec_state s = {.img_k = k, .img_v = v};
    dec_block_image(&b, layers, &s, x);
}

sc_status blip_set_image(sc_blip *m, const float *image_features) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int Ti = blip_cross_tokens(m), Dv = t->encoder_hidden_size;
    blip_state *s = &m->s;
    if (image_features == m->image && m->have_image) return SC_OK; /* keys / values are there */
    if (image_features != m->image)
        memcpy(m->image, image_features, (size_t)Ti * Dv * sizeof(float));
    dec_block b = m->block;
    b.Ti = Ti;
    dec_block_image(&b, m->use_encoder ? m->enc_block_layers : m->block_layers, s, m->image);
    m->have_image = 1;
    return SC_OK;
}

void blip_reorder(sc_blip *m, int rows, const int *src) {
    dec_reorder(&m->s, m->cfg.text.num_hidden_layers, m->cfg.text.hidden_size, rows, src);
}

sc_status blip_step(sc_blip *m, int rows, const int *ids, int n, int all_logits) {
    const sc_blip_text_config *t = &m->cfg.text;
    blip_state *s = &m->s;
    const int D = t->hidden_size, V = t->vocab_size, R = rows * n, past = s->len;
    const float eps = t->layer_norm_eps;
    /* the text encoder (VQA, retrieval) or the decoder */
    const int enc = m->use_encoder;
    const dec_layer *layers = enc ? m->enc_block_layers : m->block_layers;
    const float *word_emb = enc ? m->enc.word_emb : m->word_emb,
                *pos_emb = enc ? m->enc.pos_emb : m->pos_emb,
                *emb_ln_w = enc ? m->enc.emb_ln_w : m->emb_ln_w,
                *emb_ln_b = enc ? m->enc.emb_ln_b : m->emb_ln_b;
    if (!layers) return sc_set_error(SC_ERR_INVALID_ARG, "blip: the model has no such text stack");
    if (!m->have_image && !m->no_cross)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: no image set");
    if (rows > s->rows || rows * n > s->work_rows || past + n > s->cap)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: step of %d x %d beyond the plan", rows, n);
    if (past + n > t->max_position_embeddings)
        return sc_set_error(SC_ERR_LIMIT,
                            "blip: %d tokens exceed max_position_embeddings %d of the text model",
                            past + n, t->max_position_embeddings);
    for (int i = 0; i < R; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return sc_set_error(SC_ERR_INVALID_ARG, "blip: token id %d outside 0..%d", ids[i],
                                V - 1);
    sc_status st;
    blip_trace *tr = m->trace;
    if (tr && (rows != 1 || past != 0 || n != tr->n))
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: a trace records one row from position 0");
    /* embeddings: word + position, LayerNorm */
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) {
            float *h = s->tmp + ((size_t)r * n + i) * D;
            const float *we = word_emb + (size_t)ids[r * n + i] * D,
                        *pe = pos_emb + (size_t)(past + i) * D;
            for (int j = 0; j < D; j++) h[j] = we[j] + pe[j];
        }
    if ((st = sc_layernorm_forward(s->h, NULL, NULL, s->tmp, emb_ln_w, emb_ln_b, R, D, eps)))
        return st;
    /* the encoder's self-attention is bidirectional; the contrastive pass
     * reads the text alone; the answer decoder attends to the question */
    dec_block b = m->block;
    b.causal = !enc, b.cross = !m->no_cross, b.Ti = blip_cross_tokens(m);
    if ((st = dec_block_forward(&b, layers, s, rows, n, tr, m->probe.on ? &m->probe : NULL)))
        return st;
    if (enc) { /* no head: the hidden states stay in s->h */
        s->len += n;
        return SC_OK;
    }
    /* ---- prediction head on every token or on each row's last one */
    const int NR = all_logits ? R : rows;
    const float *src = dec_head_rows(s, rows, n, D, all_logits);
    if ((st = sc_linear_forward(s->tmp, src, m->head_w, m->head_b, NR, D, D))) return st;
    if (tr) memcpy(tr->hd, s->tmp, (size_t)NR * D * sizeof(float));
    if ((st = sc_act_forward(SC_ACT_GELU, s->tmp, s->tmp, (size_t)NR * D)) ||
        (st = sc_layernorm_forward(s->q, NULL, NULL, s->tmp, m->head_ln_w, m->head_ln_b, NR, D,
                                   eps)) ||
        (st = sc_linear_forward(s->logits, s->q, m->dec_w, m->dec_b, NR, D, V)))
        return st;
    s->len += n;
    return SC_OK;
}

/* ---------------------------------------------------------------- public forwards */
sc_status sc_blip_vision_forward(sc_blip *m, const float *pixel_values, float *out) {
    if (!m || !pixel_values || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_vision_forward: NULL argument");
    const float *f;
    if (out == m->image) m->have_image = 0; /* new features: keys / values to recompute */
    sc_status st = sc_vit_forward(m->vit, pixel_values, 1, 0, NULL, &f);
    if (!st)
        memcpy(out, f, (size_t)sc_blip_image_tokens(m) * m->cfg.vision.hidden_size * sizeof(float));
    return st;
}

sc_status sc_blip_decoder_forward(sc_blip *m, const float *image_features, const int *ids, int n,
                                  float *logits, float *cross_attn) {
    if (!m || !image_features || !ids || n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_decoder_forward: bad argument");
    const sc_blip_text_config *t = &m->cfg.text;
    if (n > t->max_position_embeddings)
        return sc_set_error(SC_ERR_LIMIT,
                            "sc_blip_decoder_forward: %d tokens exceed max_position_embeddings %d",
                            n, t->max_position_embeddings);
    sc_status st = blip_plan(m, 1, n, n);
    if (!st) st = blip_set_image(m, image_features);
    if (!st) st = blip_step(m, 1, ids, n, 1);
    if (st) return st;
    if (logits) memcpy(logits, m->s.logits, (size_t)n * t->vocab_size * sizeof(float));
    if (cross_attn)
        memcpy(cross_attn, m->s.cross,
               (size_t)n * t->num_hidden_layers * t->num_attention_heads * sc_blip_image_tokens(m) *
                   sizeof(float));
    return SC_OK;
}
