/* BLIP's text decoder (BlipTextLMHeadModel) with a key/value cache, and the
 * vision / teacher-forced forward passes of sc_blip.h. */
#include <math.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "blip_internal.h"
#include "sc_internal.h"

/* a * b * c * d floats, SIZE_MAX on overflow (the arena then refuses it) */
static size_t nfl(size_t a, size_t b, size_t c, size_t d) {
    size_t r;
    if (sc_mul_size(a, b, &r) || sc_mul_size(r, c, &r) || sc_mul_size(r, d, &r)) return SIZE_MAX;
    return r;
}

static sc_status carve(sc_blip *m, sc_arena *a, int rows, int cap, int n_new) {
    const sc_blip_text_config *t = &m->cfg.text;
    const size_t L = (size_t)t->num_hidden_layers, D = (size_t)t->hidden_size,
                 F = (size_t)t->intermediate_size, V = (size_t)t->vocab_size,
                 H = (size_t)t->num_attention_heads;
    /* cross-attention inputs: the image, or a question of up to P tokens (VQA) */
    const size_t Ti = SC_MAX((size_t)sc_blip_image_tokens(m), (size_t)t->max_position_embeddings);
    /* work rows: the first call's rows x n_new, or one row of up to cap tokens */
    const size_t R = SC_MAX((size_t)rows * (size_t)n_new, (size_t)cap), K = SC_MAX((size_t)cap, Ti);
    blip_state *s = &m->s;
    float **kv[4] = {&s->self_k, &s->self_v, &s->self_k2, &s->self_v2};
    for (int i = 0; i < 4; i++)
        if (!(*kv[i] = sc_arena_alloc_floats(a, nfl(L, (size_t)rows, (size_t)cap, D))))
            return SC_ERR_NOMEM;
    if (!(s->img_k = sc_arena_alloc_floats(a, nfl(L, Ti, D, 1))) ||
        !(s->img_v = sc_arena_alloc_floats(a, nfl(L, Ti, D, 1))))
        return SC_ERR_NOMEM;
    float **rowbufs[5] = {&s->h, &s->h2, &s->q, &s->ctx, &s->tmp};
    for (int i = 0; i < 5; i++)
        if (!(*rowbufs[i] = sc_arena_alloc_floats(a, nfl(R, D, 1, 1)))) return SC_ERR_NOMEM;
    if (!(s->ff = sc_arena_alloc_floats(a, nfl(R, F, 1, 1))) ||
        !(s->scores = sc_arena_alloc_floats(a, nfl(R, K, 1, 1))) ||
        !(s->cross = sc_arena_alloc_floats(a, nfl(R, L, H, Ti))) ||
        !(s->logits = sc_arena_alloc_floats(a, nfl(R, V, 1, 1))) ||
        !(m->image = sc_arena_alloc_floats(a, nfl(Ti, (size_t)m->cfg.vision.hidden_size, 1, 1))))
        return SC_ERR_NOMEM;
    s->rows = rows, s->cap = cap, s->work_rows = (int)R, s->len = 0;
    return SC_OK;
}

sc_status blip_plan(sc_blip *m, int rows, int cap, int n_new) {
    if (rows <= 0 || cap <= 0 || n_new <= 0 || n_new > cap)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: bad plan %d x %d (%d new)", rows, cap,
                            n_new);
    blip_state *s = &m->s;
    if (m->arena && rows <= s->rows && cap <= s->cap && rows * n_new <= s->work_rows) {
        s->len = 0; /* the planned buffers are big enough (strides stay the planned ones) */
        return SC_OK;
    }
    int r = SC_MAX(rows, m->arena ? s->rows : 0), c = SC_MAX(cap, m->arena ? s->cap : 0),
        n = SC_MAX(n_new, m->arena ? s->work_rows / r : 0);
    sc_arena *plan = sc_arena_plan();
    if (!plan) return SC_ERR_NOMEM; /* the error is set */
    sc_status st = carve(m, plan, r, c, n);
    size_t peak = sc_arena_peak(plan);
    sc_arena_free(plan);
    if (st) return sc_set_error(SC_ERR_LIMIT, "blip: decoding state for %d x %d too large", r, c);
    sc_arena *a = sc_arena_create(peak);
    if (!a) return SC_ERR_NOMEM;
    sc_arena_free(m->arena);
    m->arena = a;
    m->have_image = 0;
    SC_ASSERT(carve(m, a, r, c, n) == SC_OK);
    return SC_OK;
}

int blip_cross_tokens(const sc_blip *m) {
    return m->cross_tokens ? m->cross_tokens : sc_blip_image_tokens(m);
}

sc_status blip_cross_kv(const sc_blip *m, const blip_text_layer *layers, const float *x, int T,
                        int Din, float *k, float *v) {
    const int D = m->cfg.text.hidden_size;
    for (int l = 0; l < m->cfg.text.num_hidden_layers; l++) {
        const blip_text_layer *L = &layers[l];
        sc_status st;
        if ((st = sc_linear_forward(k + (size_t)l * T * D, x, L->ck_w, L->ck_b, T, Din, D)) ||
            (st = sc_linear_forward(v + (size_t)l * T * D, x, L->cv_w, L->cv_b, T, Din, D)))
            return st;
    }
    return SC_OK;
}

sc_status blip_set_image(sc_blip *m, const float *image_features) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int Ti = blip_cross_tokens(m), Dv = t->encoder_hidden_size;
    if (image_features == m->image && m->have_image) return SC_OK; /* keys / values are there */
    if (image_features != m->image)
        memcpy(m->image, image_features, (size_t)Ti * Dv * sizeof(float));
    sc_status st = blip_cross_kv(m, m->use_encoder ? m->enc.layers : m->layers, m->image, Ti, Dv,
                                 m->s.img_k, m->s.img_v);
    if (st) return st;
    m->have_image = 1;
    return SC_OK;
}

/* out = LayerNorm(a + b) over R rows of D (post-LN residual) */
static sc_status add_norm(float *out, const float *a, float *b, const float *w, const float *bias,
                          int R, int D, float eps) {
    for (size_t i = 0; i < (size_t)R * D; i++) b[i] += a[i];
    return sc_layernorm_forward(out, NULL, NULL, b, w, bias, R, D, eps);
}

void blip_reorder(sc_blip *m, int rows, const int *src) {
    blip_state *s = &m->s;
    const size_t D = (size_t)m->cfg.text.hidden_size, row = (size_t)s->cap * D,
                 layer = (size_t)s->rows * row, used = (size_t)s->len * D;
    for (int l = 0; l < m->cfg.text.num_hidden_layers; l++)
        for (int r = 0; r < rows; r++) {
            memcpy(s->self_k2 + l * layer + r * row, s->self_k + l * layer + src[r] * row,
                   used * sizeof(float));
            memcpy(s->self_v2 + l * layer + r * row, s->self_v + l * layer + src[r] * row,
                   used * sizeof(float));
        }
    float *k = s->self_k, *v = s->self_v;
    s->self_k = s->self_k2, s->self_v = s->self_v2;
    s->self_k2 = k, s->self_v2 = v;
}

/* Cross-attention block of layer l over R rows: s->h = LN(s->h2 + attention
 * of s->h2 to the cross-attention input); every row's probabilities go to
 * s->cross; s->tmp keeps the sum the LayerNorm normalised. */
static sc_status cross_attention(sc_blip *m, const blip_text_layer *L, int l, int R) {
    const sc_blip_text_config *t = &m->cfg.text;
    blip_state *s = &m->s;
    const int D = t->hidden_size, H = t->num_attention_heads, hd = D / H, Ti = blip_cross_tokens(m),
              NL = t->num_hidden_layers;
    const float scale = 1.0f / sqrtf((float)hd);
    sc_status st;
    /* ---- cross-attention to the image tokens (shared by every row) */
    if ((st = sc_linear_forward(s->q, s->h2, L->cq_w, L->cq_b, R, D, D))) return st;
    const float *IK = s->img_k + (size_t)l * Ti * D, *IV = s->img_v + (size_t)l * Ti * D;
    for (int hh = 0; hh < H; hh++) {
        float *S = s->scores;
        sc_sgemm(SC_NO_TRANS, SC_TRANS, R, Ti, hd, scale, s->q + hh * hd, D, IK + hh * hd, D, 0.0f,
                 S, Ti);
        sc_softmax_forward(S, R, Ti, S);
        const blip_probe *pr = &m->probe;
        if (pr->on && pr->layer == l && pr->head == hh && pr->query < R)
            S[(size_t)pr->query * Ti + pr->key] += pr->delta;
        for (int i = 0; i < R; i++) {
            memcpy(s->cross + (((size_t)i * NL + l) * H + hh) * Ti, S + (size_t)i * Ti,
                   (size_t)Ti * sizeof(float));
        }
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, R, hd, Ti, 1.0f, S, Ti, IV + hh * hd, D, 0.0f,
                 s->ctx + hh * hd, D);
    }
    if ((st = sc_linear_forward(s->tmp, s->ctx, L->co_w, L->co_b, R, D, D)) ||
        (st = add_norm(s->h, s->h2, s->tmp, L->cln_w, L->cln_b, R, D, t->layer_norm_eps)))
        return st;
    return SC_OK;
}

sc_status blip_step(sc_blip *m, int rows, const int *ids, int n, int all_logits) {
    const sc_blip_text_config *t = &m->cfg.text;
    blip_state *s = &m->s;
    const int D = t->hidden_size, F = t->intermediate_size, V = t->vocab_size,
              H = t->num_attention_heads, hd = D / H, NL = t->num_hidden_layers, R = rows * n,
              past = s->len;
    /* the text encoder (VQA, retrieval) or the decoder */
    const int enc = m->use_encoder;
    const blip_text_layer *layers = enc ? m->enc.layers : m->layers;
    const float *word_emb = enc ? m->enc.word_emb : m->word_emb,
                *pos_emb = enc ? m->enc.pos_emb : m->pos_emb,
                *emb_ln_w = enc ? m->enc.emb_ln_w : m->emb_ln_w,
                *emb_ln_b = enc ? m->enc.emb_ln_b : m->emb_ln_b;
    const float eps = t->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
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
    const size_t nD = (size_t)n * D; /* one layer of a trace */
#define TRACE(field, src, count)                                                                   \
    do {                                                                                           \
        if (tr) memcpy(tr->field + l * (count), src, (count) * sizeof(float));                     \
    } while (0)
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
    const size_t row = (size_t)s->cap * D, layer = (size_t)s->rows * row;
    const int keys = past + n;
    for (int l = 0; l < NL; l++) {
        const blip_text_layer *L = &layers[l];
        float *K = s->self_k + l * layer, *Vc = s->self_v + l * layer;
        /* ---- causal self-attention over the cache and the new tokens */
        if ((st = sc_linear_forward(s->q, s->h, L->sq_w, L->sq_b, R, D, D)) ||
            (st = sc_linear_forward(s->ctx, s->h, L->sk_w, L->sk_b, R, D, D)) ||
            (st = sc_linear_forward(s->tmp, s->h, L->sv_w, L->sv_b, R, D, D)))
            return st;
        TRACE(sq, s->q, nD);
        TRACE(sk, s->ctx, nD);
        TRACE(sv, s->tmp, nD);
        for (int r = 0; r < rows; r++) {
            memcpy(K + r * row + (size_t)past * D, s->ctx + (size_t)r * n * D,
                   (size_t)n * D * sizeof(float));
            memcpy(Vc + r * row + (size_t)past * D, s->tmp + (size_t)r * n * D,
                   (size_t)n * D * sizeof(float));
        }
        for (int r = 0; r < rows; r++)
            for (int hh = 0; hh < H; hh++) {
                float *S = s->scores;
                const float *q = s->q + (size_t)r * n * D + hh * hd;
                sc_sgemm(SC_NO_TRANS, SC_TRANS, n, keys, hd, scale, q, D, K + r * row + hh * hd, D,
                         0.0f, S, keys);
                for (int i = 0; i < n; i++) {
                    float *Si = S + (size_t)i * keys;
                    /* the decoder's -10000 mask: exp underflows to 0; the
                     * encoder sees every token */
                    const int visible = enc ? keys : past + i + 1;
                    sc_softmax_forward(Si, 1, visible, Si);
                    for (int j = visible; j < keys; j++) Si[j] = 0.0f;
                }
                if (tr)
                    memcpy(tr->sp + ((size_t)l * H + hh) * n * n, S, (size_t)n * n * sizeof(float));
                sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, hd, keys, 1.0f, S, keys,
                         Vc + r * row + hh * hd, D, 0.0f, s->ctx + (size_t)r * n * D + hh * hd, D);
            }
        if ((st = sc_linear_forward(s->tmp, s->ctx, L->so_w, L->so_b, R, D, D)) ||
            (st = add_norm(s->h2, s->h, s->tmp, L->sln_w, L->sln_b, R, D, eps)))
            return st;
        TRACE(r1, s->tmp, nD);
        if (m->no_cross) { /* the text alone: the feed-forward takes the self-attention's output */
            float *x = s->h;
            s->h = s->h2, s->h2 = x;
        } else if ((st = cross_attention(m, L, l, R)))
            return st;
        TRACE(r2, s->tmp, nD);
        /* ---- feed-forward */
        if ((st = sc_linear_forward(s->ff, s->h, L->fi_w, L->fi_b, R, D, F))) return st;
        TRACE(ff, s->ff, (size_t)n * F);
        if ((st = sc_act_forward(SC_ACT_GELU, s->ff, s->ff, (size_t)R * F)) ||
            (st = sc_linear_forward(s->tmp, s->ff, L->fo_w, L->fo_b, R, F, D)) ||
            (st = add_norm(s->h2, s->h, s->tmp, L->fln_w, L->fln_b, R, D, eps)))
            return st;
        TRACE(r3, s->tmp, nD);
        float *x = s->h;
        s->h = s->h2, s->h2 = x;
    }
    if (enc) { /* no head: the hidden states stay in s->h */
        s->len += n;
        return SC_OK;
    }
    /* ---- prediction head on every token or on each row's last one */
    const int NR = all_logits ? R : rows;
    const float *src = s->h;
    if (!all_logits && n > 1) {
        for (int r = 0; r < rows; r++)
            memcpy(s->h2 + (size_t)r * D, s->h + ((size_t)r * n + n - 1) * D, D * sizeof(float));
        src = s->h2;
    }
    if ((st = sc_linear_forward(s->tmp, src, m->head_w, m->head_b, NR, D, D))) return st;
    if (tr) memcpy(tr->hd, s->tmp, (size_t)NR * D * sizeof(float));
    if ((st = sc_act_forward(SC_ACT_GELU, s->tmp, s->tmp, (size_t)NR * D)) ||
        (st = sc_layernorm_forward(s->q, NULL, NULL, s->tmp, m->head_ln_w, m->head_ln_b, NR, D,
                                   eps)) ||
        (st = sc_linear_forward(s->logits, s->q, m->dec_w, m->dec_b, NR, D, V)))
        return st;
#undef TRACE
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
