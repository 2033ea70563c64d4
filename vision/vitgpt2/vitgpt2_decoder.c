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

/* GPT-2's Conv1D: y (R, out) = x (R, in) W + b, W stored (in, ldw) with the
 * out columns used starting at w (a slice of a stacked weight). */
static void conv1d(float *y, int ldy, const float *x, const float *w, int ldw, const float *b,
                   int R, int in, int out) {
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, R, out, in, 1.0f, x, in, w, ldw, 0.0f, y, ldy);
    for (int r = 0; r < R; r++) {
        float *yr = y + (size_t)r * ldy;
        for (int j = 0; j < out; j++) yr[j] += b[j];
    }
}

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
    for (int l = 0; l < d->n_layer; l++) {
        const gpt2_block *b = &m->blocks[l];
        conv1d(s->img_k + (size_t)l * Ti * D, D, src, b->xkv_w, 2 * D, b->xkv_b, Ti, D, D);
        conv1d(s->img_v + (size_t)l * Ti * D, D, src, b->xkv_w + D, 2 * D, b->xkv_b + D, Ti, D, D);
    }
    m->have_image = 1;
    return SC_OK;
}

static void add_into(float *h, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] += x[i];
}

sc_status gpt2_step(sc_vit_gpt2 *m, int rows, const int *ids, int n, int all_logits) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    dec_state *s = &m->s;
    const int D = d->n_embd, F = d->n_inner, V = d->vocab_size, H = d->n_head,
              Ti = sc_vit_gpt2_image_tokens(m), NL = d->n_layer, R = rows * n, past = s->len;
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
    const size_t row = (size_t)s->cap * D, layer = (size_t)s->rows * row, RD = (size_t)R * D;
    for (int l = 0; l < NL; l++) {
        const gpt2_block *b = &m->blocks[l];
        float *K = s->self_k + l * layer, *Vc = s->self_v + l * layer;
        /* ---- ln_1, causal self-attention; the new keys / values go to the cache */
        if ((st = sc_layernorm_forward(s->tmp, NULL, NULL, s->h, b->ln1_w, b->ln1_b, R, D, eps)))
            return st;
        conv1d(s->q, D, s->tmp, b->attn_w, 3 * D, b->attn_b, R, D, D);
        for (int r = 0; r < rows; r++) {
            const float *x = s->tmp + (size_t)r * n * D;
            conv1d(K + r * row + (size_t)past * D, D, x, b->attn_w + D, 3 * D, b->attn_b + D, n, D,
                   D);
            conv1d(Vc + r * row + (size_t)past * D, D, x, b->attn_w + 2 * D, 3 * D,
                   b->attn_b + 2 * D, n, D, D);
        }
        dec_self_attention(rows, n, past, H, D, s->q, K, Vc, row, s->scores, s->ctx, NULL);
        conv1d(s->tmp, D, s->ctx, b->proj_w, D, b->proj_b, R, D, D);
        add_into(s->h, s->tmp, RD);
        /* ---- ln_cross_attn, cross-attention to the image tokens (shared by every row) */
        if ((st = sc_layernorm_forward(s->tmp, NULL, NULL, s->h, b->lnx_w, b->lnx_b, R, D, eps)))
            return st;
        conv1d(s->q, D, s->tmp, b->xq_w, D, b->xq_b, R, D, D);
        dec_cross_attention(R, Ti, H, D, s->q, s->img_k + (size_t)l * Ti * D,
                            s->img_v + (size_t)l * Ti * D, s->scores, s->ctx, s->cross, l, NL,
                            NULL);
        conv1d(s->tmp, D, s->ctx, b->xproj_w, D, b->xproj_b, R, D, D);
        add_into(s->h, s->tmp, RD);
        /* ---- ln_2, MLP with gelu_new */
        if ((st = sc_layernorm_forward(s->tmp, NULL, NULL, s->h, b->ln2_w, b->ln2_b, R, D, eps)))
            return st;
        conv1d(s->ff, F, s->tmp, b->fc_w, F, b->fc_b, R, D, F);
        if ((st = sc_act_forward(SC_ACT_GELU_TANH, s->ff, s->ff, (size_t)R * F))) return st;
        conv1d(s->tmp, D, s->ff, b->fcp_w, D, b->fcp_b, R, F, D);
        add_into(s->h, s->tmp, RD);
    }
    /* ---- ln_f and the tied LM head on every token or on each row's last one */
    const int NR = all_logits ? R : rows;
    const float *src = s->h;
    if (!all_logits && n > 1) {
        for (int r = 0; r < rows; r++)
            memcpy(s->h2 + (size_t)r * D, s->h + ((size_t)r * n + n - 1) * D, D * sizeof(float));
        src = s->h2;
    }
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
