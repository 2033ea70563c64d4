/* Gradient-weighted cross-attention of ViT-GPT2, as BLIP's (blip_gradcam.c):
 * for a caption token w produced by query q, the gradient of log p(w) with
 * respect to the cross-attention probabilities A of one layer at query q,
 * and the map mean_heads(A * max(dA, 0)) over the patches.
 *
 * The backward follows query q alone through GPT-2's pre-LN blocks (x + f(LN
 * x)): with causal self-attention nothing at a position < q depends on
 * position q, so from the logits of q down to the chosen layer the gradient
 * flows through q's own rows only (its query, and its own key and value among
 * the keys), the other positions' keys and values and the image's acting as
 * constants. The weights are the shared block's views (Conv1D, input-major). */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "sc_internal.h"
#include "vitgpt2_internal.h"

/* Gradient of log p(target) at query q w.r.t. the cross-attention
 * probabilities of `layer` at q: grad (H, Ti). The trace and the state's
 * logits / cross-attention are those of the forward just run. */
static void grad_at(void *ctx, const dec_trace *tr, int q, int target, int layer, float *grad,
                    dec_grad_scratch *w) {
    sc_vit_gpt2 *m = ctx;
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const dec_block *bk = &m->block;
    const dec_state *s = &m->s;
    const int D = d->n_embd, F = bk->F, V = d->vocab_size, H = d->n_head, NL = d->n_layer,
              n = tr->n, Ti = sc_vit_gpt2_image_tokens(m);
    const float eps = d->layer_norm_epsilon;
    const size_t nD = (size_t)n * D, qD = (size_t)q * D;
    /* d log softmax(z)[target] / dz = onehot - softmax(z) */
    float *gz = w->gz;
    memcpy(gz, s->logits + (size_t)q * V, (size_t)V * sizeof(float));
    sc_softmax_forward(gz, 1, V, gz);
    for (int v = 0; v < V; v++) gz[v] = (v == target) - gz[v];
    /* head: z = wte LN_f(h) */
    sc_linear_backward(dec_zeroed(w->a, D), NULL, NULL, gz, NULL, m->wte, 1, D, V);
    sc_layernorm_backward_input(dec_zeroed(w->dh, D), w->a, tr->hd + qD, m->lnf_w, 1, D, eps);
    for (int l = NL - 1; l >= layer; l--) { /* w->dh: d of the layer's output at q */
        const dec_layer *L = &m->block_layers[l];
        /* h3 = h2 + down(act(up(LN3 h2))) */
        const float *ffq = tr->ff + (size_t)l * n * F + (size_t)q * F;
        dec_linear_backward(dec_zeroed(w->f, F), w->dh, &L->down, 1, F, D);
        sc_act_backward((sc_activation)bk->act, dec_zeroed(w->f2, F), w->f, ffq, NULL, (size_t)F);
        dec_linear_backward(dec_zeroed(w->a, D), w->f2, &L->up, 1, D, F);
        sc_layernorm_backward_input(w->dh, w->a, tr->r3 + l * nD + qD, L->ln_w[2], 1, D, eps);
        /* h2 = h1 + xo(cross(xq(LN2 h1))): w->dh is now d h2 */
        dec_linear_backward(dec_zeroed(w->b, D), w->dh, &L->xo, 1, D, D); /* d cross context */
        const float *IK = s->img_k + (size_t)l * Ti * D, *IV = s->img_v + (size_t)l * Ti * D;
        const float *Pq = s->cross + ((size_t)q * NL + l) * H * Ti;
        dec_cross_row_backward(w->b, Pq, IK, IV, Ti, H, D, l == layer ? grad : NULL, w);
        if (l == layer) break;
        dec_linear_backward(dec_zeroed(w->a, D), w->dq, &L->xq, 1, D, D);
        sc_layernorm_backward_input(w->dh, w->a, tr->r2 + l * nD + qD, L->ln_w[1], 1, D, eps);
        /* h1 = h0 + o(self(LN1 h0)): w->dh is now d h1 */
        dec_linear_backward(dec_zeroed(w->c, D), w->dh, &L->o, 1, D, D); /* d self context */
        dec_self_row_backward(tr, l, q, H, D, w->c, w);
        dec_zeroed(w->a, D); /* d LN1 output: the q, k, v paths */
        dec_linear_backward(w->a, w->dq, &L->q, 1, D, D);
        dec_linear_backward(w->a, w->dk, &L->k, 1, D, D);
        dec_linear_backward(w->a, w->dv, &L->v, 1, D, D);
        sc_layernorm_backward_input(w->dh, w->a, tr->r1 + l * nD + qD, L->ln_w[0], 1, D, eps);
    }
}

/* The forward the backward follows, recorded. */
static sc_status traced_forward(void *ctx, const float *features, const int *seq, int n,
                                dec_trace *tr, const float **cross) {
    sc_vit_gpt2 *m = ctx;
    sc_status st = gpt2_plan(m, 1, n, n);
    if (!st) st = gpt2_set_image(m, features);
    m->trace = tr;
    if (!st) st = gpt2_step(m, 1, seq, n, 1);
    m->trace = NULL;
    *cross = m->s.cross;
    return st;
}

sc_status gpt2_cross_attention_grads(sc_vit_gpt2 *m, const float *features, const int *seq, int n,
                                     int q0, int layer, float *grad, float *attn) {
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const int D = d->n_embd, F = m->block.F, H = d->n_head, NL = d->n_layer,
              Ti = sc_vit_gpt2_image_tokens(m);
    if (n < 2 || q0 < 0 || q0 > n - 2 || layer < 0 || layer >= NL)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vit-gpt2: gradients of %d tokens from %d, layer %d", n, q0, layer);
    if (n > d->n_positions)
        return sc_set_error(SC_ERR_LIMIT, "vit-gpt2: %d tokens exceed n_positions %d", n,
                            d->n_positions);
    const dec_grad_model g = {m, NL, D, F, H, d->vocab_size, Ti, traced_forward, grad_at};
    return dec_cross_attention_grads(&g, features, seq, n, q0, layer, grad, attn);
}

sc_status sc_vit_gpt2_gradcam(sc_vit_gpt2 *m, const float *pixel_values, const int *ids, int n,
                              int layer, uint64_t head_mask, float *out) {
    if (!m || !pixel_values || !out || (n > 0 && !ids) || n < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_gradcam: bad argument");
    const sc_vit_gpt2_decoder_config *d = &m->cfg.decoder;
    const int NL = d->n_layer, H = d->n_head, Ti = sc_vit_gpt2_image_tokens(m), len = 1 + n;
    if (layer < -1 || layer >= NL)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vit_gpt2_gradcam: layer %d outside 0..%d",
                            layer, NL - 1);
    if (H < 64 && (head_mask >> H))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_vit_gpt2_gradcam: head mask names heads beyond the %d heads", H);
    if (n == 0) return SC_OK;
    if (len > d->n_positions)
        return sc_set_error(SC_ERR_LIMIT, "sc_vit_gpt2_gradcam: %d tokens exceed %d positions", len,
                            d->n_positions);
    if (layer < 0) layer = 2 * NL / 3;
    int *seq = malloc((size_t)len * sizeof(int));
    float *grad = malloc((size_t)2 * n * H * Ti * sizeof(float));
    sc_status st =
        seq && grad ? SC_OK : sc_set_error(SC_ERR_NOMEM, "sc_vit_gpt2_gradcam: out of memory");
    if (!st) {
        seq[0] = m->cfg.generation.decoder_start_token_id;
        memcpy(seq + 1, ids, (size_t)n * sizeof(int));
        st = gpt2_plan(m, 1, len, len);
    }
    if (!st) st = sc_vit_gpt2_vision_forward(m, pixel_values, m->s.image);
    if (!st)
        st = gpt2_cross_attention_grads(m, m->s.image, seq, len, 0, layer, grad,
                                        grad + (size_t)n * H * Ti);
    if (!st)
        dec_gradcam_maps(grad, grad + (size_t)n * H * Ti, n, H, sc_vit_gpt2_grid(m), head_mask,
                         out);
    free(seq), free(grad);
    return st;
}
