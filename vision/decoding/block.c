/* The transformer decoder layer shared by the encoder-decoder captioners
 * (decoding.h): self-attention over the cache, cross-attention to the image,
 * feed-forward, each with its LayerNorm before (pre-LN) or after (post-LN). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "decoding/decoding.h"
#include "sc_internal.h"

void dec_linear_apply(float *y, const float *x, const dec_linear *l, int R, int in, int out) {
    if (l->b)
        for (int r = 0; r < R; r++) memcpy(y + (size_t)r * out, l->b, (size_t)out * sizeof(float));
    sc_sgemm(SC_NO_TRANS, l->in_major ? SC_NO_TRANS : SC_TRANS, R, out, in, 1.0f, x, in, l->w,
             l->ld, l->b ? 1.0f : 0.0f, y, out);
}

void dec_block_image(const dec_block *b, const dec_layer *L, dec_state *s, const float *image) {
    const size_t per = (size_t)b->Ti * b->D;
    for (int l = 0; l < b->layers; l++) {
        dec_linear_apply(s->img_k + l * per, image, &L[l].xk, b->Ti, b->Dimg, b->D);
        dec_linear_apply(s->img_v + l * per, image, &L[l].xv, b->Ti, b->Dimg, b->D);
    }
}

void dec_linear_backward(float *dx, const float *dy, const dec_linear *l, int R, int in, int out) {
    sc_sgemm(SC_NO_TRANS, l->in_major ? SC_TRANS : SC_NO_TRANS, R, in, out, 1.0f, dy, out, l->w,
             l->ld, 1.0f, dx, in);
}

/* A sublayer's input: LN(h) into tmp (pre-LN; h, the LayerNorm's input, is
 * recorded in r when not NULL) or h itself (post-LN). */
static sc_status sub_in(const dec_block *b, dec_state *s, const float *w, const float *bias, int R,
                        const float **x, float *r) {
    if (!b->pre_ln) {
        *x = s->h;
        return SC_OK;
    }
    if (r) memcpy(r, s->h, (size_t)R * b->D * sizeof(float));
    *x = s->tmp;
    return sc_layernorm_forward(s->tmp, NULL, NULL, s->h, w, bias, R, b->D, b->eps);
}

/* A sublayer's output f in s->tmp into the stream: h += f (pre-LN), or
 * h = LN(h + f) (post-LN; the sum, the LayerNorm's input, is recorded in r
 * when not NULL). */
static sc_status sub_out(const dec_block *b, dec_state *s, const float *w, const float *bias, int R,
                         float *r) {
    const size_t n = (size_t)R * b->D;
    if (b->pre_ln) {
        for (size_t i = 0; i < n; i++) s->h[i] += s->tmp[i];
        return SC_OK;
    }
    for (size_t i = 0; i < n; i++) s->tmp[i] += s->h[i];
    if (r) memcpy(r, s->tmp, n * sizeof(float));
    sc_status st = sc_layernorm_forward(s->h2, NULL, NULL, s->tmp, w, bias, R, b->D, b->eps);
    float *x = s->h;
    s->h = s->h2, s->h2 = x;
    return st;
}

sc_status dec_block_forward(const dec_block *b, const dec_layer *L, dec_state *s, int rows, int n,
                            dec_trace *tr, const dec_probe *probe) {
    const int D = b->D, F = b->F, H = b->H, Ti = b->Ti, R = rows * n, past = s->len;
    const size_t row = (size_t)s->cap * D, layer = (size_t)s->rows * row, nD = (size_t)n * D;
    sc_status st;
    for (int l = 0; l < b->layers; l++) {
        const dec_layer *W = &L[l];
        float *K = s->self_k + l * layer, *V = s->self_v + l * layer;
        const float *x;
        /* ---- causal self-attention over the cache and the new tokens */
        if ((st = sub_in(b, s, W->ln_w[0], W->ln_b[0], R, &x, tr ? tr->r1 + l * nD : NULL)))
            return st;
        dec_linear_apply(s->q, x, &W->q, R, D, D);
        dec_linear_apply(s->ctx, x, &W->k, R, D, D);
        if (tr) memcpy(tr->sq + l * nD, s->q, nD * sizeof(float));
        if (tr) memcpy(tr->sk + l * nD, s->ctx, nD * sizeof(float));
        for (int r = 0; r < rows; r++)
            memcpy(K + r * row + (size_t)past * D, s->ctx + (size_t)r * n * D, nD * sizeof(float));
        dec_linear_apply(s->ctx, x, &W->v, R, D, D); /* x may be tmp: ctx holds v */
        if (tr) memcpy(tr->sv + l * nD, s->ctx, nD * sizeof(float));
        for (int r = 0; r < rows; r++)
            memcpy(V + r * row + (size_t)past * D, s->ctx + (size_t)r * n * D, nD * sizeof(float));
        dec_self_attention(rows, n, past, H, D, b->causal, s->q, K, V, row, s->scores, s->ctx,
                           tr ? tr->sp + (size_t)l * H * n * n : NULL);
        dec_linear_apply(s->tmp, s->ctx, &W->o, R, D, D);
        if ((st = sub_out(b, s, W->ln_w[0], W->ln_b[0], R,
                          tr && !b->pre_ln ? tr->r1 + l * nD : NULL)))
            return st;
        /* ---- cross-attention to the image tokens (shared by every row) */
        if (!b->cross) goto feed_forward;
        if ((st = sub_in(b, s, W->ln_w[1], W->ln_b[1], R, &x, tr ? tr->r2 + l * nD : NULL)))
            return st;
        dec_linear_apply(s->q, x, &W->xq, R, D, D);
        const dec_nudge nudge = {probe ? probe->head : 0,
                                 probe ? (size_t)probe->query * Ti + (size_t)probe->key : 0,
                                 probe ? probe->delta : 0.0f};
        dec_cross_attention(
            R, Ti, H, D, s->q, s->img_k + (size_t)l * Ti * D, s->img_v + (size_t)l * Ti * D,
            s->scores, s->ctx, s->cross, l, b->layers,
            probe && probe->on && probe->layer == l && probe->query < R ? &nudge : NULL);
        dec_linear_apply(s->tmp, s->ctx, &W->xo, R, D, D);
        if ((st = sub_out(b, s, W->ln_w[1], W->ln_b[1], R,
                          tr && !b->pre_ln ? tr->r2 + l * nD : NULL)))
            return st;
    feed_forward:
        if ((st = sub_in(b, s, W->ln_w[2], W->ln_b[2], R, &x, tr ? tr->r3 + l * nD : NULL)))
            return st;
        dec_linear_apply(s->ff, x, &W->up, R, D, F);
        if (tr) memcpy(tr->ff + (size_t)l * n * F, s->ff, (size_t)n * F * sizeof(float));
        if ((st = sc_act_forward((sc_activation)b->act, s->ff, s->ff, (size_t)R * F))) return st;
        dec_linear_apply(s->tmp, s->ff, &W->down, R, F, D);
        if ((st = sub_out(b, s, W->ln_w[2], W->ln_b[2], R,
                          tr && !b->pre_ln ? tr->r3 + l * nD : NULL)))
            return st;
    }
    return SC_OK;
}

const float *dec_head_rows(dec_state *s, int rows, int n, int D, int all) {
    if (all || n == 1) return s->h;
    for (int r = 0; r < rows; r++)
        memcpy(s->h2 + (size_t)r * D, s->h + ((size_t)r * n + n - 1) * D, D * sizeof(float));
    return s->h2;
}

void dec_gradcam_maps(const float *grad, const float *attn, int n, int H, int G, uint64_t mask,
                      float *out) {
    const int Ti = 1 + G * G;
    for (int i = 0; i < n; i++) {
        const float *g = grad + (size_t)i * H * Ti, *a = attn + (size_t)i * H * Ti;
        float *o = out + (size_t)i * G * G;
        int nh = 0;
        for (int j = 0; j < G * G; j++) o[j] = 0.0f;
        for (int h = 0; h < H; h++) {
            if (mask && !((mask >> h) & 1)) continue;
            for (int j = 0; j < G * G; j++) {
                float d = g[(size_t)h * Ti + 1 + j];
                o[j] += a[(size_t)h * Ti + 1 + j] * (d > 0 ? d : 0.0f);
            }
            nh++;
        }
        for (int j = 0; j < G * G; j++) o[j] /= (float)nh;
    }
}

float *dec_grad_alloc(dec_trace *tr, dec_grad_scratch *w, int L, int n, int D, int F, int H, int V,
                      int Ti) {
    const size_t nD = (size_t)L * n * D, K = (size_t)(n > Ti ? n : Ti);
    const size_t total = 6 * nD + (size_t)L * n * F + (size_t)L * H * n * n + (size_t)n * D +
                         8 * (size_t)D + 2 * (size_t)F + (size_t)V + 2 * K;
    float *mem = malloc(total * sizeof(float));
    if (!mem) {
        sc_set_error(SC_ERR_NOMEM, "out of memory for the gradients of %d tokens", n);
        return NULL;
    }
    float *p = mem;
    memset(tr, 0, sizeof *tr);
    tr->n = n;
    float **f6[6] = {&tr->sq, &tr->sk, &tr->sv, &tr->r1, &tr->r2, &tr->r3};
    for (int i = 0; i < 6; i++) *f6[i] = p, p += nD;
    tr->ff = p, p += (size_t)L * n * F;
    tr->sp = p, p += (size_t)L * H * n * n;
    tr->hd = p, p += (size_t)n * D;
    float **v[8] = {&w->dh, &w->a, &w->b, &w->c, &w->d, &w->dq, &w->dk, &w->dv};
    for (int i = 0; i < 8; i++) *v[i] = p, p += D;
    w->f = p, p += F;
    w->f2 = p, p += F;
    w->gz = p, p += V;
    w->dP = p, w->dS = p + K;
    return mem;
}

sc_status dec_cross_attention_grads(const dec_grad_model *g, const float *features, const int *seq,
                                    int n, int q0, int layer, float *grad, float *attn) {
    dec_trace tr;
    dec_grad_scratch w;
    const size_t HT = (size_t)g->H * g->Ti;
    float *mem = dec_grad_alloc(&tr, &w, g->layers, n, g->D, g->F, g->H, g->V, g->Ti);
    if (!mem) return SC_ERR_NOMEM;
    const float *cross = NULL;
    sc_status st = g->forward(g->ctx, features, seq, n, &tr, &cross);
    for (int q = q0; q < n - 1 && !st; q++) {
        const size_t o = (size_t)(q - q0) * HT;
        g->grad_at(g->ctx, &tr, q, seq[q + 1], layer, grad + o, &w);
        if (attn)
            memcpy(attn + o, cross + ((size_t)q * g->layers + layer) * HT, HT * sizeof(float));
    }
    free(mem);
    return st;
}

void dec_cross_row_backward(const float *dctx, const float *Pq, const float *IK, const float *IV,
                            int Ti, int H, int D, float *grad, dec_grad_scratch *w) {
    const int hd = D / H;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < H; h++) { /* dA_j = dctx_h . V_j,h */
        float *dP = grad ? grad + (size_t)h * Ti : w->dP;
        sc_sgemv(SC_NO_TRANS, Ti, hd, 1.0f, IV + h * hd, D, dctx + h * hd, 0.0f, dP);
        if (grad) continue;
        sc_softmax_backward(Pq + (size_t)h * Ti, dP, 1, Ti, dec_zeroed(w->dS, Ti));
        sc_sgemv(SC_TRANS, Ti, hd, scale, IK + h * hd, D, w->dS, 0.0f, w->dq + h * hd);
    }
}

void dec_self_row_backward(const dec_trace *tr, int l, int q, int H, int D, const float *dctx,
                           dec_grad_scratch *w) {
    const int n = tr->n, hd = D / H;
    const float scale = 1.0f / sqrtf((float)hd);
    const size_t nD = (size_t)n * D, qD = (size_t)q * D;
    const float *Q = tr->sq + l * nD, *K = tr->sk + l * nD, *Vv = tr->sv + l * nD;
    for (int h = 0; h < H; h++) {
        const float *P = tr->sp + (((size_t)l * H + h) * n + q) * n; /* keys 0..q */
        sc_sgemv(SC_NO_TRANS, q + 1, hd, 1.0f, Vv + h * hd, D, dctx + h * hd, 0.0f, w->dP);
        float *dS = dec_zeroed(w->dS, q + 1);
        sc_softmax_backward(P, w->dP, 1, q + 1, dS);
        sc_sgemv(SC_TRANS, q + 1, hd, scale, K + h * hd, D, dS, 0.0f, w->dq + h * hd);
        for (int e = 0; e < hd; e++) { /* q's own key and value */
            w->dk[h * hd + e] = scale * dS[q] * Q[qD + h * hd + e];
            w->dv[h * hd + e] = P[q] * dctx[h * hd + e];
        }
    }
}

float *dec_zeroed(float *x, int n) {
    memset(x, 0, (size_t)n * sizeof(float));
    return x;
}
