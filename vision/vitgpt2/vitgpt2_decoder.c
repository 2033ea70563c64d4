/* GPT-2 with cross-attention (GPT2LMHeadModel, add_cross_attention) over the
 * shared decoder pieces of vision/decoding/, and the forward passes of
 * sc_vit_gpt2.h. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_vit.h"
#include "sc_internal.h"
#include "vitgpt2_internal.h"

static dec_dims dims(const sc_vit_gpt2 *m) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    dec_dims r = {d->n_layer,
                  d->n_embd,
                  d->n_inner,
                  d->vocab_size,
                  d->n_head,
                  sc_vit_gpt2_image_tokens(m),
                  m->cfg.encoder.hidden_size};
    return r;
}

sc_status gpt2_plan(sc_vit_gpt2 *m, int rows, int cap, int n_new) {
    const dec_dims d = dims(m);
    int fresh = 0;
    sc_status st = dec_plan(&m->s, &m->arena, &d, rows, cap, n_new, &fresh, "vit-gpt2");
    if (!st && fresh) m->have_image = 0;
    return st;
}

void gpt2_reorder(sc_vit_gpt2 *m, int rows, const int *src) {
    dec_reorder(&m->s, m->cfg.decoder.n_layer, m->cfg.decoder.n_embd, rows, src);
}

sc_status gpt2_set_image(sc_vit_gpt2 *m, const float *features) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const int Ti = sc_vit_gpt2_image_tokens(m), D = d->n_embd, Dv = m->cfg.encoder.hidden_size;
    dec_state *s = &m->s;
    if (features == s->image && m->have_image) return SC_OK;
    if (features != s->image) memcpy(s->image, features, (size_t)Ti * Dv * sizeof(float));
    const float *src = s->image;
    if (m->proj_w) { /* enc_to_dec_proj */
        if (!m->image_d && !(m->image_d = malloc((size_t)Ti * D * sizeof(float))))
            return sc_set_error(SC_ERR_NOMEM, "vit-gpt2: out of memory");
        sc_status st = sc_linear_forward(m->image_d, s->image, m->proj_w, m->proj_b, Ti, Dv, D);
        if (st) return st;
        src = m->image_d;
    }
    dec_block_image(&m->block, m->block_layers, s, src);
    m->have_image = 1;
    return SC_OK;
}

sc_status gpt2_step(sc_vit_gpt2 *m, int rows, const int *ids, int n, int all_logits) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    dec_state *s = &m->s;
    const int D = d->n_embd, V = d->vocab_size, R = rows * n, past = s->len;
    const float eps = d->layer_norm_epsilon;
    if (!m->have_image) return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: no image set");
    if (rows > s->rows || R > s->work_rows || past + n > s->cap)
        return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: step of %d x %d beyond the plan", rows,
                            n);
    if (past + n > d->n_positions)
        return sc_set_error(SC_ERR_LIMIT, "vit-gpt2: %d tokens exceed n_positions %d", past + n,
                            d->n_positions);
    for (int i = 0; i < R; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return sc_set_error(SC_ERR_INVALID_ARG, "vit-gpt2: token id %d outside 0..%d", ids[i],
                                V - 1);
    sc_status st;
    /* embeddings: word + position */
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) {
            float *h = s->h + ((size_t)r * n + i) * D;
            const float *we = m->wte + (size_t)ids[r * n + i] * D,
                        *pe = m->wpe + (size_t)(past + i) * D;
            for (int j = 0; j < D; j++) h[j] = we[j] + pe[j];
        }
    if ((st = dec_block_forward(&m->block, m->block_layers, s, rows, n, m->trace,
                                m->probe.on ? &m->probe : NULL)))
        return st;
    if (m->trace) memcpy(m->trace->hd, s->h, (size_t)n * D * sizeof(float));
    /* ---- ln_f and the tied LM head on every token or on each row's last one */
    const int NR = all_logits ? R : rows;
    const float *src = dec_head_rows(s, rows, n, D, all_logits);
    if ((st = sc_layernorm_forward(s->tmp, NULL, NULL, src, m->lnf_w, m->lnf_b, NR, D, eps)))
        return st;
    sc_sgemm(SC_NO_TRANS, SC_TRANS, NR, V, D, 1.0f, s->tmp, D, m->wte, D, 0.0f, s->logits, V);
    s->len += n;
    return SC_OK;
}

/* ---------------------------------------------------------------- public forwards */
sc_status sc_vit_gpt2_vision_forward(sc_vit_gpt2 *m, const float *pixel_values, float *out) {
    if (!m || !pixel_values || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_vision_forward: NULL argument");
    if (out == m->s.image) m->have_image = 0; /* new features: keys / values to recompute */
    const float *f;
    sc_status st = sc_check_finite_images("sc_vit_gpt2_vision_forward", pixel_values, 1,
                                          m->cfg.encoder.num_channels, m->cfg.encoder.image_size,
                                          m->cfg.encoder.image_size);
    if (!st) st = sc_vit_forward(m->vit, pixel_values, 1, 0, NULL, &f);
    if (!st)
        memcpy(out, f,
               (size_t)sc_vit_gpt2_image_tokens(m) * m->cfg.encoder.hidden_size * sizeof(float));
    return st;
}

sc_status sc_vit_gpt2_decoder_forward(sc_vit_gpt2 *m, const float *features, const int *ids, int n,
                                      float *logits, float *cross_attn) {
    if (!m || !features || !ids || n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_decoder_forward: bad argument");
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    if (n > d->n_positions)
        return sc_set_error(SC_ERR_LIMIT,
                            "sc_vit_gpt2_decoder_forward: %d tokens exceed n_positions %d", n,
                            d->n_positions);
    sc_status st = gpt2_plan(m, 1, n, n);
    if (!st) st = gpt2_set_image(m, features);
    if (!st) st = gpt2_step(m, 1, ids, n, 1);
    if (st) return st;
    if (logits) memcpy(logits, m->s.logits, (size_t)n * d->vocab_size * sizeof(float));
    if (cross_attn)
        memcpy(cross_attn, m->s.cross,
               (size_t)n * d->n_layer * d->n_head * sc_vit_gpt2_image_tokens(m) * sizeof(float));
    return SC_OK;
}
