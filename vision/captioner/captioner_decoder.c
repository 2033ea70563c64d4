/* saccade: Show, Attend and Tell decoder — steps, teacher forcing, training loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_internal.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_train.h"
#include "sc_internal.h"

sc_status sc_cap_init_state(const sc_captioner *m, int B, const float *features, float *mean,
                            float *h0, float *c0) {
    int P = m->P, E = m->cfg.encoder_dim, H = m->cfg.decoder_dim;
    for (int b = 0; b < B; b++)
        for (int e = 0; e < E; e++) {
            double s = 0;
            for (int p = 0; p < P; p++) s += features[((size_t)b * P + p) * E + e];
            mean[(size_t)b * E + e] = (float)(s / P);
        }
    sc_status st = sc_linear_forward(h0, mean, m->w[CW_IH_W], m->w[CW_IH_B], B, E, H);
    if (!st) st = sc_linear_forward(c0, mean, m->w[CW_IC_W], m->w[CW_IC_B], B, E, H);
    return st;
}

/* The cell of each row (sc_cap_pick): given, the most attended, or drawn
 * (after a coin for the expectation when expect_prob > 0). */
static sc_status cap_pick(const sc_captioner *m, int B, const float *alpha, const sc_cap_pick *pk) {
    const int P = m->P;
    for (int b = 0; b < B; b++) {
        const float *a = alpha + (size_t)b * P;
        int32_t k = -1;
        if (pk->given) {
            k = pk->given[b];
        } else if (pk->mode == SC_CAP_ATT_ARGMAX) {
            k = 0;
            for (int p = 1; p < P; p++)
                if (a[p] > a[k]) k = p;
        } else if (pk->mode == SC_CAP_ATT_SAMPLE) {
            sc_rng *rng = pk->row_rngs ? &pk->row_rngs[b] : pk->rng;
            if (!rng)
                return sc_set_error(SC_ERR_INVALID_ARG, "captioner: sampling cells needs an rng");
            if (!(pk->expect_prob > 0.0f && sc_rng_uniform(rng) < pk->expect_prob)) {
                sc_status st = sc_hard_attention_sample(1, P, a, rng, &k, NULL, NULL, NULL);
                if (st) return st;
            }
        }
        if (k < -1 || k >= P)
            return sc_set_error(SC_ERR_INVALID_ARG, "captioner: cell %d outside [-1, %d)", k, P);
        pk->cells[b] = k;
    }
    return SC_OK;
}

sc_status sc_cap_step_forward(const sc_captioner *m, int B, const float *features,
                              const float *proj, int shared_image, const int32_t *prev,
                              const float *h, const float *c, float *h_out, float *c_out,
                              const sc_cap_step_bufs *s) {
    const sc_captioner_config *cf = &m->cfg;
    int P = m->P, E = cf->encoder_dim, M = cf->embed_dim, H = cf->decoder_dim, V = cf->vocab_size,
        G = sc_cap_gate_dim(m), X = sc_cap_x_dim(m);
    sc_addatt_weights aw = sc_cap_att_weights(m);
    sc_status st;
    if (shared_image) { /* one image for every row: one attention call per row */
        sc_addatt_desc d1 = sc_cap_att_desc(m, 1);
        for (int b = 0; b < B; b++)
            if ((st = sc_addatt_step_forward(&d1, features, proj, h + (size_t)b * H, &aw,
                                             s->awe + (size_t)b * E, s->alpha + (size_t)b * P,
                                             s->att_cache)))
                return st;
    } else {
        sc_addatt_desc d = sc_cap_att_desc(m, B);
        if ((st = sc_addatt_step_forward(&d, features, proj, h, &aw, s->awe, s->alpha,
                                         s->att_cache)))
            return st;
    }
    const int32_t *cells = NULL;
    if (s->pick && s->pick->mode != SC_CAP_ATT_EXPECTED) { /* hard: read the chosen cell */
        if ((st = cap_pick(m, B, s->alpha, s->pick))) return st;
        cells = s->pick->cells;
        for (int b = 0; b < B; b++)
            if (cells[b] >= 0)
                memcpy(s->awe + (size_t)b * E,
                       features + ((shared_image ? 0 : (size_t)b * P) + (size_t)cells[b]) * E,
                       (size_t)E * sizeof(float));
    }
    if (G > 0) {
        if ((st = sc_linear_forward(s->gate, h, m->w[CW_FB_W], m->w[CW_FB_B], B, H, G)) ||
            (st = sc_act_forward(SC_ACT_SIGMOID, s->gate, s->gate, (size_t)B * G)))
            return st;
    }
    for (int b = 0; b < B; b++) { /* embedding straight into the x row, then the context */
        float *xr = s->x + (size_t)b * X;
        if ((st = sc_embedding_forward(prev + b, 1, m->w[CW_EMB], V, M, xr))) return st;
        const float *ar = s->awe + (size_t)b * E, *gr = s->gate + (size_t)b * (G ? G : 1);
        for (int e = 0; e < E; e++) xr[M + e] = G == 0 ? ar[e] : ar[e] * gr[G == 1 ? 0 : e];
        if (cf->att_coords && cells && cells[b] >= 0) {
            xr[M + E] = sc_cell_centre(cells[b] % cf->grid, cf->grid);
            xr[M + E + 1] = sc_cell_centre(cells[b] / cf->grid, cf->grid);
        } else if (cf->att_coords) {
            sc_expected_cell(s->alpha + (size_t)b * P, cf->grid, xr + M + E);
        }
    }
    return sc_lstm_cell_forward(B, X, H, s->x, h, c, m->w[CW_W_IH], m->w[CW_W_HH], m->w[CW_B_IH],
                                m->w[CW_B_HH], h_out, c_out, s->lstm_cache);
}

sc_status sc_cap_output(const sc_captioner *m, int n, const float *h, const float *x,
                        float *logits) {
    int M = m->cfg.embed_dim, E = m->cfg.encoder_dim, H = m->cfg.decoder_dim, V = m->cfg.vocab_size,
        X = sc_cap_x_dim(m);
    sc_status st = sc_linear_forward(logits, h, m->w[CW_FC_W], m->w[CW_FC_B], n, H, V);
    if (!st && m->cfg.ctx2out) /* deep output: logits += gated context @ fc_ctx^T */
        sc_sgemm(SC_NO_TRANS, SC_TRANS, n, V, E, 1.0f, x + M, X, m->w[CW_FCC_W], E, 1.0f, logits,
                 V);
    return st;
}

size_t sc_cap_step_ws_floats(const sc_captioner *m, int B) {
    size_t E = (size_t)m->cfg.encoder_dim, G = (size_t)sc_cap_gate_dim(m), P = (size_t)m->P,
           A = (size_t)m->cfg.attention_dim, X = (size_t)sc_cap_x_dim(m);
    return (size_t)B * (E + (G ? G : 1) + X + P) + P * A + P;
}

sc_status sc_cap_step(sc_captioner *m, int B, const float *features, const float *proj,
                      const int32_t *prev, const float *h, const float *c, float *h_out,
                      float *c_out, float *logits, float *alpha, const sc_cap_pick *pick,
                      float *ws) {
    int E = m->cfg.encoder_dim, G = sc_cap_gate_dim(m), X = sc_cap_x_dim(m);
    sc_cap_step_bufs s;
    s.awe = ws;
    s.gate = s.awe + (size_t)B * E;
    s.x = s.gate + (size_t)B * (G ? G : 1);
    s.alpha = alpha ? alpha : s.x + (size_t)B * X; /* scratch when the caller wants none */
    s.att_cache = s.x + (size_t)B * X + (size_t)B * m->P;
    s.lstm_cache = NULL;
    s.pick = pick;
    sc_status st = sc_cap_step_forward(m, B, features, proj, 1, prev, h, c, h_out, c_out, &s);
    if (!st && logits) st = sc_cap_output(m, B, h_out, s.x, logits);
    return st;
}

static sc_status check_features(const sc_captioner *m, const float *features, const char *fn) {
    if (!m || !features) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL model or features", fn);
    return SC_OK;
}

sc_status sc_captioner_teacher_force(sc_captioner *m, const float *features, const int32_t *tokens,
                                     int n, float *logits, float *alphas) {
    sc_status st = check_features(m, features, "sc_captioner_teacher_force");
    if (st) return st;
    if (!tokens || n <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_teacher_force: no tokens");
    for (int t = 0; t < n; t++)
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return sc_set_error(
                SC_ERR_INVALID_ARG,
                "sc_captioner_teacher_force: token %d (position %d) outside [0, %d)", tokens[t], t,
                m->cfg.vocab_size);
    int P = m->P, E = m->cfg.encoder_dim, A = m->cfg.attention_dim, H = m->cfg.decoder_dim,
        V = m->cfg.vocab_size;
    size_t nws = sc_cap_step_ws_floats(m, 1);
    size_t total = (size_t)P * A + 4 * (size_t)H + (size_t)E + nws + (size_t)V + (size_t)P;
    float *buf = sc_malloc(total * sizeof(float));
    if (!buf) return SC_ERR_NOMEM;
    float *proj = buf, *h = proj + (size_t)P * A, *c = h + H, *h2 = c + H, *c2 = h2 + H;
    float *ws = c2 + H, *lg = ws + (nws > (size_t)E ? nws : (size_t)E), *al = lg + V;
    sc_addatt_desc d1 = sc_cap_att_desc(m, 1);
    sc_addatt_weights aw = sc_cap_att_weights(m);
    if ((st = sc_addatt_precompute(&d1, features, &aw, proj))) goto done;
    if ((st = sc_cap_init_state(m, 1, features, ws, h, c))) goto done;
    int32_t cell = -1;
    const sc_cap_pick pick = {
        sc_cap_att_resolve(m, SC_CAP_ATT_DEFAULT), 0.0f, NULL, NULL, NULL, &cell};
    for (int t = 0; t < n; t++) {
        st = sc_cap_step(m, 1, features, proj, tokens + t, h, c, h2, c2, lg, al, &pick, ws);
        if (st) goto done;
        if (logits) memcpy(logits + (size_t)t * V, lg, (size_t)V * sizeof(float));
        if (alphas && cell >= 0) { /* hard: the cell read */
            memset(alphas + (size_t)t * P, 0, (size_t)P * sizeof(float));
            alphas[(size_t)t * P + cell] = 1.0f;
        } else if (alphas) {
            memcpy(alphas + (size_t)t * P, al, (size_t)P * sizeof(float));
        }
        float *tmp = h;
        h = h2;
        h2 = tmp;
        tmp = c;
        c = c2;
        c2 = tmp;
    }
done:
    sc_free(buf);
    return st;
}

/* ---------------------------------------------------------------- training loss */

typedef struct loss_bufs {
    float *proj, *meanf, *hs, *cs, *xs, *awe, *gate, *attc, *lstmc, *mask, *hd, *logits, *dlogits,
        *alphas, *S;
    /* supervised attention: targets (T, B, P) in the alphas' layout, and the
     * term's gradient with respect to the alphas */
    uint8_t *supmask;
    float *dsup;
    int nsup;
    int32_t *targets, *ids;
    /* backward */
    float *dh, *dc, *dhp, *dcp, *dhd, *dx, *demb, *dawe, *dgate, *dalpha, *dproj, *dmean;
    float *dctx; /* ctx2out: d logits / d gated context, all steps (T, B, E) */
    /* hard attention: the cells read (T, B; -1 the expectation), the given
     * cells of a step (B), per-token cross-entropy (T, B) and the gradient of
     * the REINFORCE and entropy terms with respect to the alphas (T, B, P) */
    int32_t *cells, *given;
    float *tokce, *dhard;
} loss_bufs;

static float *af(sc_arena *a, size_t n, int *fail) {
    float *p = sc_arena_alloc_floats(a, n);
    if (!p) *fail = 1;
    return p;
}

static int alloc_loss_bufs(sc_arena *a, const sc_captioner *m, int B, int T, int train, int bwd,
                           int sup, int rl, loss_bufs *L) {
    size_t P = (size_t)m->P, E = (size_t)m->cfg.encoder_dim, A = (size_t)m->cfg.attention_dim,
           M = (size_t)m->cfg.embed_dim, H = (size_t)m->cfg.decoder_dim,
           V = (size_t)m->cfg.vocab_size, G = (size_t)sc_cap_gate_dim(m), Bz = (size_t)B,
           Tz = (size_t)T, X = (size_t)sc_cap_x_dim(m);
    int fail = 0;
    sc_addatt_desc d = sc_cap_att_desc(m, B);
    size_t ac = sc_addatt_step_cache_floats(&d);
    if (ac == 0) return 1;
    /* Sizes are bounded by the config limits and checked batch sizes; the
     * arena's float allocation checks the last multiplication. */
    L->proj = af(a, Bz * P * A, &fail);
    L->meanf = af(a, Bz * E, &fail);
    L->hs = af(a, (Tz + 1) * Bz * H, &fail);
    L->cs = af(a, (Tz + 1) * Bz * H, &fail);
    L->xs = af(a, Tz * Bz * X, &fail);
    L->awe = af(a, Tz * Bz * E, &fail);
    L->gate = af(a, Tz * Bz * (G ? G : 1), &fail);
    L->attc = af(a, Tz * ac, &fail);
    L->lstmc = af(a, Tz * SC_LSTM_CACHE_FLOATS(Bz, H), &fail);
    L->mask = train ? af(a, Tz * Bz * H, &fail) : NULL;
    L->hd = af(a, Tz * Bz * H, &fail);
    L->logits = af(a, Tz * Bz * V, &fail);
    L->dlogits = bwd ? af(a, Tz * Bz * V, &fail) : NULL;
    L->alphas = af(a, Tz * Bz * P, &fail);
    L->S = af(a, Bz * P, &fail);
    if (sup) {
        L->supmask = sc_arena_alloc(a, Tz * Bz * P);
        if (!L->supmask) fail = 1;
        L->dsup = bwd ? af(a, Tz * Bz * P, &fail) : NULL;
    }
    if (m->cfg.hard_attention) {
        L->cells = sc_arena_alloc(a, Tz * Bz * sizeof(int32_t));
        L->given = sc_arena_alloc(a, Bz * sizeof(int32_t));
        L->tokce = af(a, Tz * Bz, &fail);
        L->dhard = rl ? af(a, Tz * Bz * P, &fail) : NULL;
        if (!L->cells || !L->given) fail = 1;
    }
    L->targets = sc_arena_alloc(a, Tz * Bz * sizeof(int32_t));
    L->ids = sc_arena_alloc(a, Bz * sizeof(int32_t));
    if (!L->targets || !L->ids) fail = 1;
    if (bwd) {
        L->dh = af(a, Bz * H, &fail);
        L->dc = af(a, Bz * H, &fail);
        L->dhp = af(a, Bz * H, &fail);
        L->dcp = af(a, Bz * H, &fail);
        L->dhd = af(a, Tz * Bz * H, &fail);
        L->dctx = m->cfg.ctx2out ? af(a, Tz * Bz * E, &fail) : NULL;
        L->dx = af(a, Bz * X, &fail);
        L->demb = af(a, Bz * M, &fail);
        L->dawe = af(a, Bz * E, &fail);
        L->dgate = af(a, Bz * (G ? G : 1), &fail);
        L->dalpha = af(a, Bz * P, &fail);
        L->dproj = af(a, Bz * P * A, &fail);
        L->dmean = af(a, Bz * E, &fail);
    }
    return fail;
}

/* Hard attention's terms after the forward pass: the reward R_b = log p(caption
 * b | its cells) from the per-token cross-entropy, log p(cells), the entropy
 * at the steps that chose a cell; with train, the entropy bonus joins the
 * loss, and with the backward the REINFORCE and entropy gradients with
 * respect to the alphas go to L->dhard: d/dalpha_k of
 * -lambda_r (R_b - b) log alpha_k / n and d/dalpha of -lambda_e H(alpha) / n,
 * n the tokens the cross-entropy is averaged over. */
static sc_status hard_terms(const sc_captioner *m, const sc_caption_batch *bt, int T,
                            const sc_caption_loss_opts *o, double ntw, loss_bufs *L,
                            sc_caption_loss *out) {
    const int B = bt->B, P = m->P, V = m->cfg.vocab_size;
    sc_ce_opts co = SC_CE_OPTS_DEFAULT;
    co.reduction = SC_REDUCE_NONE;
    sc_status st = sc_cross_entropy(L->logits, L->targets, T * B, V, &co, L->tokce, NULL, NULL);
    if (st) return st;
    if (L->dhard) memset(L->dhard, 0, (size_t)T * B * P * sizeof(float));
    double hsum = 0;
    for (int b = 0; b < B; b++) {
        double r = 0, lp = 0;
        const int n = bt->lengths[b] - 1;
        for (int t = 0; t < n; t++) r -= L->tokce[(size_t)t * B + b];
        const double adv = o->hard_reinforce * (r - o->hard_baseline) / ntw;
        for (int t = 0; t < n; t++) {
            const int k = L->cells[(size_t)t * B + b];
            if (k < 0) continue;
            const float *a = L->alphas + ((size_t)t * B + b) * P;
            float *g = L->dhard ? L->dhard + ((size_t)t * B + b) * P : NULL;
            lp += log(a[k] > 1e-30f ? a[k] : 1e-30f);
            double h = 0;
            for (int p = 0; p < P; p++) {
                const double la = log(a[p] > 1e-30f ? a[p] : 1e-30f);
                h -= a[p] * la;
                if (g) g[p] = (float)(o->hard_entropy * (la + 1.0) / ntw);
            }
            if (g) g[k] -= (float)(adv / (a[k] > 1e-30f ? a[k] : 1e-30f));
            hsum += h;
            out->hard_steps++;
        }
        out->reward += r;
        out->hard_logp += lp;
    }
    out->nreward = B;
    out->entropy = out->hard_steps ? hsum / (double)out->hard_steps : 0.0;
    if (o->train) out->loss -= o->hard_entropy * hsum / ntw;
    return SC_OK;
}

static sc_status loss_forward(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                              int T, const sc_caption_loss_opts *o, const sc_caption_loss_counts *W,
                              sc_rng *rng, loss_bufs *L, sc_caption_loss *out) {
    const sc_captioner_config *cf = &m->cfg;
    int B = bt->B, P = m->P, E = cf->encoder_dim, H = cf->decoder_dim, V = cf->vocab_size,
        G = sc_cap_gate_dim(m), X = sc_cap_x_dim(m);
    size_t Bz = (size_t)B;
    sc_addatt_desc d = sc_cap_att_desc(m, B);
    sc_addatt_weights aw = sc_cap_att_weights(m);
    size_t ac = sc_addatt_step_cache_floats(&d);
    sc_status st = sc_addatt_precompute(&d, features, &aw, L->proj);
    if (st) return st;
    if ((st = sc_cap_init_state(m, B, features, L->meanf, L->hs, L->cs))) return st;
    long ntok = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            int active = t < bt->lengths[b] - 1;
            L->targets[(size_t)t * B + b] = active ? bt->captions[(size_t)b * bt->L + t + 1] : -100;
            ntok += active;
        }
    for (int t = 0; t < T; t++) {
        const float *h = L->hs + (size_t)t * Bz * H, *c = L->cs + (size_t)t * Bz * H;
        for (int b = 0; b < B; b++) L->ids[b] = bt->captions[(size_t)b * bt->L + t];
        sc_cap_pick pick = {o->train ? SC_CAP_ATT_SAMPLE : SC_CAP_ATT_ARGMAX,
                            o->hard_expect,
                            rng,
                            o->row_rngs,
                            NULL,
                            L->cells ? L->cells + (size_t)t * Bz : NULL};
        if (L->cells && o->hard_cells) { /* given cells; finished steps read the expectation */
            for (int b = 0; b < B; b++)
                L->given[b] =
                    t < bt->lengths[b] - 1 ? o->hard_cells[(size_t)b * bt->L + t + 1] : -1;
            pick.given = L->given;
        }
        sc_cap_step_bufs sb = {L->xs + (size_t)t * Bz * X,
                               L->awe + (size_t)t * Bz * E,
                               L->gate + (size_t)t * Bz * (G ? G : 1),
                               L->alphas + (size_t)t * Bz * P,
                               L->attc + (size_t)t * ac,
                               L->lstmc + (size_t)t * SC_LSTM_CACHE_FLOATS(Bz, H),
                               L->cells ? &pick : NULL};
        float *hn = L->hs + (size_t)(t + 1) * Bz * H, *cn = L->cs + (size_t)(t + 1) * Bz * H;
        if ((st = sc_cap_step_forward(m, B, features, L->proj, 0, L->ids, h, c, hn, cn, &sb)))
            return st;
        float *hd = L->hd + (size_t)t * Bz * H;
        int drop = o->train && cf->dropout > 0.0f;
        if (drop && o->row_rngs) { /* each row's mask from its own stream */
            for (size_t b = 0; b < Bz; b++)
                if ((st = sc_dropout_forward(hn + b * H, (size_t)H, cf->dropout, 1, &o->row_rngs[b],
                                             L->mask + ((size_t)t * Bz + b) * H, hd + b * H)))
                    return st;
        } else if ((st = sc_dropout_forward(hn, Bz * H, cf->dropout, drop, rng,
                                            drop ? L->mask + (size_t)t * Bz * H : NULL, hd))) {
            return st;
        }
    }
    /* the output layer for all steps at once: one product instead of T small ones */
    if ((st = sc_cap_output(m, T * B, L->hd, L->xs, L->logits))) return st;
    float ce = 0;
    sc_ce_opts co = SC_CE_OPTS_DEFAULT;
    if (L->dlogits) memset(L->dlogits, 0, (size_t)T * Bz * V * sizeof(float));
    if ((st = sc_cross_entropy(L->logits, L->targets, T * B, V, &co, &ce, NULL, L->dlogits)))
        return st;
    if (W) { /* this slice's part of the whole batch's mean */
        const float f = W->tokens > 0 ? (float)((double)ntok / W->tokens) : 0.0f;
        ce *= f;
        if (L->dlogits && f != 1.0f)
            for (size_t i = 0, n = (size_t)T * Bz * V; i < n; i++) L->dlogits[i] *= f;
    }
    /* doubly stochastic penalty over active steps */
    double pen = 0;
    for (int b = 0; b < B; b++)
        for (int p = 0; p < P; p++) {
            double s = 0;
            for (int t = 0; t < bt->lengths[b] - 1; t++)
                s += L->alphas[((size_t)t * B + b) * P + p];
            L->S[(size_t)b * P + p] = (float)s;
            pen += (1.0 - s) * (1.0 - s);
        }
    pen = o->alpha_c * pen / ((W ? (double)W->examples : (double)B) * P);
    /* supervised attention: targets in the alphas' (T, B) layout, finished
     * captions' steps left out; the gradient is kept for the backward pass */
    double sup = 0;
    L->nsup = 0;
    if (L->supmask) {
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                uint8_t *row = L->supmask + ((size_t)t * B + b) * P;
                if (t < bt->lengths[b] - 1)
                    memcpy(row, bt->att_mask + ((size_t)b * bt->L + t + 1) * P, (size_t)P);
                else
                    memset(row, 0, (size_t)P);
            }
        if ((st = sc_mask_mass_nll(L->alphas, L->supmask, T * B, P, o->att_sup, &sup, &L->nsup,
                                   L->dsup)))
            return st;
        const float f = !W                 ? 1.0f
                        : W->att_steps > 0 ? (float)((double)L->nsup / W->att_steps)
                                           : 0.0f;
        sup *= f;
        if (L->dsup && f != 1.0f)
            for (size_t i = 0, n = (size_t)T * Bz * P; i < n; i++) L->dsup[i] *= f;
    }
    out->ce = ce;
    out->penalty = pen;
    out->att_sup = sup;
    out->att_steps = L->nsup;
    out->loss = ce + pen + sup;
    out->ntokens = ntok;
    if (L->cells) {
        const double ntw = W ? (double)W->tokens : (double)ntok;
        return hard_terms(m, bt, T, o, ntw > 0 ? ntw : 1.0, L, out);
    }
    return SC_OK;
}

static sc_status loss_backward(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                               int T, const sc_caption_loss_opts *o,
                               const sc_caption_loss_counts *W, loss_bufs *L, float *dfeatures) {
    const sc_captioner_config *cf = &m->cfg;
    int B = bt->B, P = m->P, E = cf->encoder_dim, M = cf->embed_dim, H = cf->decoder_dim,
        V = cf->vocab_size, G = sc_cap_gate_dim(m), X = sc_cap_x_dim(m);
    size_t Bz = (size_t)B;
    sc_addatt_desc d = sc_cap_att_desc(m, B);
    sc_addatt_weights aw = sc_cap_att_weights(m);
    sc_addatt_grads ag = {m->g[CW_AE_W], m->g[CW_AE_B], m->g[CW_AD_W],
                          m->g[CW_AD_B], m->g[CW_AF_W], m->g[CW_AF_B]};
    size_t ac = sc_addatt_step_cache_floats(&d);
    int drop = o->train && cf->dropout > 0.0f;
    sc_status st;
    memset(L->dh, 0, Bz * H * sizeof(float));
    memset(L->dc, 0, Bz * H * sizeof(float));
    memset(L->dproj, 0, Bz * P * cf->attention_dim * sizeof(float));
    double pscale = 2.0 * o->alpha_c / ((W ? (double)W->examples : (double)B) * P);
    /* the output layer (and ctx2out) for all steps at once, as in the forward */
    const size_t TB = (size_t)T * Bz;
    memset(L->dhd, 0, TB * H * sizeof(float));
    if ((st = sc_linear_backward(L->dhd, m->g[CW_FC_W], m->g[CW_FC_B], L->dlogits, L->hd,
                                 m->w[CW_FC_W], T * B, H, V)))
        return st;
    if (cf->ctx2out) { /* logits += z fc_ctx^T: to fc_ctx's gradient and to z's */
        sc_sgemm(SC_TRANS, SC_NO_TRANS, V, E, T * B, 1.0f, L->dlogits, V, L->xs + M, X, 1.0f,
                 m->g[CW_FCC_W], E);
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, T * B, E, V, 1.0f, L->dlogits, V, m->w[CW_FCC_W], E,
                 0.0f, L->dctx, E);
    }
    for (int t = T - 1; t >= 0; t--) {
        const float *h = L->hs + (size_t)t * Bz * H, *c = L->cs + (size_t)t * Bz * H;
        const float *x = L->xs + (size_t)t * Bz * X, *awe = L->awe + (size_t)t * Bz * E;
        const float *gate = L->gate + (size_t)t * Bz * (G ? G : 1);
        if ((st = sc_dropout_backward(L->dhd + (size_t)t * Bz * H,
                                      drop ? L->mask + (size_t)t * Bz * H : NULL, Bz * H, L->dh)))
            return st;
        memset(L->dx, 0, Bz * X * sizeof(float));
        memset(L->dhp, 0, Bz * H * sizeof(float));
        memset(L->dcp, 0, Bz * H * sizeof(float));
        if ((st = sc_lstm_cell_backward(B, X, H, x, h, c, m->w[CW_W_IH], m->w[CW_W_HH],
                                        L->lstmc + (size_t)t * SC_LSTM_CACHE_FLOATS(Bz, H), L->dh,
                                        L->dc, L->dx, L->dhp, L->dcp, m->g[CW_W_IH], m->g[CW_W_HH],
                                        m->g[CW_B_IH], m->g[CW_B_HH])))
            return st;
        if (cf->ctx2out) /* z's share of the ctx2out gradient (dx[:, M:]) */
            for (int b = 0; b < B; b++) {
                const float *dz = L->dctx + ((size_t)t * Bz + b) * E;
                float *dxr = L->dx + (size_t)b * X + M;
                for (int e = 0; e < E; e++) dxr[e] += dz[e];
            }
        for (int b = 0; b < B; b++) {
            L->ids[b] = bt->captions[(size_t)b * bt->L + t];
            memcpy(L->demb + (size_t)b * M, L->dx + (size_t)b * X, (size_t)M * sizeof(float));
        }
        if ((st = sc_embedding_backward(L->ids, B, L->demb, V, M, -1, m->g[CW_EMB]))) return st;
        for (int b = 0; b < B; b++) {
            const float *dg = L->dx + (size_t)b * X + M;
            const float *ar = awe + (size_t)b * E;
            float *da = L->dawe + (size_t)b * E;
            if (G == 0) {
                memcpy(da, dg, (size_t)E * sizeof(float));
                continue;
            }
            const float *gr = gate + (size_t)b * G;
            float *dgr = L->dgate + (size_t)b * G;
            if (G == 1) {
                double s = 0;
                for (int e = 0; e < E; e++) {
                    da[e] = dg[e] * gr[0];
                    s += (double)dg[e] * ar[e];
                }
                dgr[0] = (float)(s * gr[0] * (1.0 - gr[0]));
            } else {
                for (int e = 0; e < E; e++) {
                    da[e] = dg[e] * gr[e];
                    dgr[e] = dg[e] * ar[e] * gr[e] * (1.0f - gr[e]);
                }
            }
        }
        if (G > 0 && (st = sc_linear_backward(L->dhp, m->g[CW_FB_W], m->g[CW_FB_B], L->dgate, h,
                                              m->w[CW_FB_W], B, H, G)))
            return st;
        const int32_t *cells = L->cells ? L->cells + (size_t)t * Bz : NULL;
        for (int b = 0; cells && b < B; b++) { /* a chosen cell: awe = features[k] */
            float *da = L->dawe + (size_t)b * E;
            if (cells[b] < 0) continue;
            if (dfeatures) {
                float *df = dfeatures + ((size_t)b * P + (size_t)cells[b]) * E;
                for (int e = 0; e < E; e++) df[e] += da[e];
            }
            memset(da, 0, (size_t)E * sizeof(float));
        }
        for (int b = 0; b < B; b++) {
            int active = t < bt->lengths[b] - 1;
            for (int p = 0; p < P; p++)
                L->dalpha[(size_t)b * P + p] =
                    active ? (float)(pscale * (L->S[(size_t)b * P + p] - 1.0)) : 0.0f;
            if (L->nsup) { /* supervised attention, from the forward pass */
                const float *ds = L->dsup + ((size_t)t * B + b) * P;
                for (int p = 0; p < P; p++) L->dalpha[(size_t)b * P + p] += ds[p];
            }
            if (L->dhard) { /* REINFORCE and entropy, from the forward pass */
                const float *dr = L->dhard + ((size_t)t * B + b) * P;
                for (int p = 0; p < P; p++) L->dalpha[(size_t)b * P + p] += dr[p];
            }
            if (cf->att_coords && active && !(cells && cells[b] >= 0)) {
                /* x[M + E..] = sum_p alpha_p (x_p, y_p); a chosen cell's centre is constant */
                const float *dxy = L->dx + (size_t)b * X + M + E;
                for (int p = 0; p < P; p++)
                    L->dalpha[(size_t)b * P + p] +=
                        dxy[0] * sc_cell_centre(p % cf->grid, cf->grid) +
                        dxy[1] * sc_cell_centre(p / cf->grid, cf->grid);
            }
        }
        if ((st = sc_addatt_step_backward(&d, features, h, &aw, L->attc + (size_t)t * ac, L->dawe,
                                          L->dalpha, dfeatures, L->dproj, L->dhp, &ag)))
            return st;
        float *tmp = L->dh;
        L->dh = L->dhp;
        L->dhp = tmp;
        tmp = L->dc;
        L->dc = L->dcp;
        L->dcp = tmp;
    }
    memset(L->dmean, 0, Bz * E * sizeof(float));
    if ((st = sc_linear_backward(L->dmean, m->g[CW_IH_W], m->g[CW_IH_B], L->dh, L->meanf,
                                 m->w[CW_IH_W], B, E, H)) ||
        (st = sc_linear_backward(L->dmean, m->g[CW_IC_W], m->g[CW_IC_B], L->dc, L->meanf,
                                 m->w[CW_IC_W], B, E, H)))
        return st;
    if (dfeatures)
        for (int b = 0; b < B; b++)
            for (int p = 0; p < P; p++)
                for (int e = 0; e < E; e++)
                    dfeatures[((size_t)b * P + p) * E + e] +=
                        L->dmean[(size_t)b * E + e] / (float)P;
    return sc_addatt_precompute_backward(&d, features, &aw, L->dproj, dfeatures, &ag);
}

sc_status sc_captioner_loss(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                            const sc_caption_loss_opts *o, sc_rng *rng, sc_caption_loss *out,
                            float *dfeatures) {
    return sc_captioner_loss_part(m, features, bt, o, NULL, rng, out, dfeatures);
}

sc_status sc_captioner_loss_part(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                                 const sc_caption_loss_opts *o, const sc_caption_loss_counts *W,
                                 sc_rng *rng, sc_caption_loss *out, float *dfeatures) {
    if (!m || !features || !bt || !o || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_loss: NULL argument");
    memset(out, 0, sizeof *out);
    if (bt->B <= 0 || bt->L < 2 || bt->B > (1 << 20) || bt->L > (1 << 16) || !bt->captions ||
        !bt->lengths)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_loss: bad batch (B %d, L %d)", bt->B,
                            bt->L);
    if (!(o->alpha_c >= 0.0f) || !isfinite(o->alpha_c))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: alpha_c must be finite and >= 0");
    if (!(o->att_sup >= 0.0f) || !isfinite(o->att_sup))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: att_sup must be finite and >= 0");
    if (!(o->item_heads >= 0.0f) || !isfinite(o->item_heads))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: item_heads must be finite and >= 0");
    if (!(o->hard_expect >= 0.0f && o->hard_expect <= 1.0f) || !(o->hard_entropy >= 0.0f) ||
        !isfinite(o->hard_entropy) || !(o->hard_reinforce >= 0.0f) ||
        !isfinite(o->hard_reinforce) || !isfinite(o->hard_baseline))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: hard_expect must be in [0, 1], hard_entropy and "
                            "hard_reinforce finite and >= 0, hard_baseline finite");
    if (m->cfg.hard_attention && o->train && !o->hard_cells && !rng && !o->row_rngs)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: training hard attention needs rng");
    const int items = o->item_heads > 0.0f && bt->items;
    if (items) {
        sc_status st = sc_cap_items_check(m, bt);
        if (st) return st;
    }
    if (o->train && m->cfg.dropout > 0.0f && !rng && !o->row_rngs)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_loss: training with dropout needs rng");
    int T = 0;
    for (int b = 0; b < bt->B; b++) {
        int len = bt->lengths[b];
        if (len < 2 || len > bt->L)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "sc_captioner_loss: caption %d has length %d (must be in [2, %d])",
                                b, len, bt->L);
        if (len - 1 > T) T = len - 1;
        for (int t = 1; m->cfg.hard_attention && o->hard_cells && t < len; t++) {
            int32_t k = o->hard_cells[(size_t)b * bt->L + t];
            if (k < -1 || k >= m->P)
                return sc_set_error(SC_ERR_INVALID_ARG,
                                    "sc_captioner_loss: hard cell %d of caption %d is %d, outside "
                                    "[-1, %d)",
                                    t, b, k, m->P);
        }
        for (int t = 0; t < len; t++) {
            int32_t id = bt->captions[(size_t)b * bt->L + t];
            if (id < 0 || id >= m->cfg.vocab_size)
                return sc_set_error(SC_ERR_INVALID_ARG,
                                    "sc_captioner_loss: caption %d token %d is %d, outside [0, %d)",
                                    b, t, id, m->cfg.vocab_size);
        }
    }
    if (o->backward && !m->grads) {
        const sc_param *pp;
        size_t np;
        sc_status st = sc_captioner_params(m, &pp, &np);
        if (st) return st;
    }
    const int sup = o->att_sup > 0.0f && bt->att_mask;
    sc_arena *plan = sc_arena_plan();
    if (!plan) return SC_ERR_NOMEM;
    loss_bufs L;
    memset(&L, 0, sizeof L);
    const int rl = m->cfg.hard_attention && o->train && o->backward; /* REINFORCE gradient */
    int fail = alloc_loss_bufs(plan, m, bt->B, T, o->train && m->cfg.dropout > 0.0f, o->backward,
                               sup, rl, &L);
    size_t need = sc_arena_peak(plan);
    sc_arena_free(plan);
    if (fail) return sc_set_error(SC_ERR_LIMIT, "sc_captioner_loss: batch too large");
    if (!m->loss_arena || sc_arena_capacity(m->loss_arena) < need) {
        sc_arena_free(m->loss_arena);
        m->loss_arena = sc_arena_create(need);
        if (!m->loss_arena) return SC_ERR_NOMEM;
    }
    sc_arena *a = m->loss_arena;
    sc_arena_reset(a, 0);
    memset(&L, 0, sizeof L);
    if (alloc_loss_bufs(a, m, bt->B, T, o->train && m->cfg.dropout > 0.0f, o->backward, sup, rl,
                        &L))
        return sc_set_error(SC_ERR_INTERNAL, "sc_captioner_loss: arena plan mismatch");
    sc_status st = loss_forward(m, features, bt, T, o, W, rng, &L, out);
    if (!st && o->backward) st = loss_backward(m, features, bt, T, o, W, &L, dfeatures);
    if (!st && items) {
        float w = o->item_heads;
        if (W) {
            long n = 0;
            for (int b = 0; b < bt->B; b++) n += bt->items->n[b];
            w = W->items > 0 ? (float)(w * ((double)n / W->items)) : 0.0f;
        }
        st = sc_cap_items_loss(m, features, bt, w, o->backward, dfeatures, out);
        out->loss += out->items;
    }
    if (st) memset(out, 0, sizeof *out);
    return st;
}

sc_status sc_captioner_loss_counts(const sc_captioner *m, const sc_caption_batch *bt,
                                   const sc_caption_loss_opts *o, sc_caption_loss_counts *out) {
    if (!m || !bt || !o || !out || bt->B < 0 || bt->L < 2 || (bt->B && !bt->lengths))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_loss_counts: bad arguments");
    const int P = m->P;
    double tokens = 0, steps = 0, items = 0;
    for (int b = 0; b < bt->B; b++) {
        const int len = bt->lengths[b] < bt->L ? bt->lengths[b] : bt->L;
        tokens += len > 1 ? len - 1 : 0;
        /* masked maps as sc_mask_mass_nll counts them: steps t < len - 1 whose
         * target row (t + 1) marks a cell */
        for (int t = 0; o->att_sup > 0.0f && bt->att_mask && t < len - 1; t++) {
            const uint8_t *row = bt->att_mask + ((size_t)b * bt->L + t + 1) * P;
            int any = 0;
            for (int p = 0; p < P && !any; p++) any = row[p] != 0;
            steps += any;
        }
        if (o->item_heads > 0.0f && bt->items) items += bt->items->n[b];
    }
    out->tokens = (float)tokens;
    out->examples = (float)bt->B;
    out->att_steps = (float)steps;
    out->items = (float)items;
    return SC_OK;
}

sc_status sc_captioner_whole_counts(struct sc_trainer *tr, const sc_captioner *m,
                                    const sc_caption_batch *bt, const sc_caption_loss_opts *o,
                                    sc_caption_loss_counts *w) {
    if (!tr) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_whole_counts: NULL trainer");
    sc_status s = sc_captioner_loss_counts(m, bt, o, w);
    if (s) return s;
    float c[4] = {w->tokens, w->examples, w->att_steps, w->items};
    if ((s = sc_trainer_allreduce(tr, c, 4))) return s;
    *w = (sc_caption_loss_counts){c[0], c[1], c[2], c[3]};
    return sc_trainer_set_share(tr, 1.0);
}

sc_status sc_captioner_hard_baseline_update(float state[2], double mean_reward, float decay) {
    if (!state || !(decay >= 0.0f && decay < 1.0f) || !isfinite(mean_reward))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_hard_baseline_update: NULL state, decay %g not in [0, 1) "
                            "or a non-finite reward",
                            (double)decay);
    state[0] = state[1] > 0.0f ? (float)(decay * state[0] + (1.0 - decay) * mean_reward)
                               : (float)mean_reward;
    state[1] += 1.0f;
    return SC_OK;
}
