/* Gradient-weighted cross-attention of BLIP (the "Grad-CAM" its demos draw
 * for grounding): for a caption token w produced by query q, the gradient of
 * log p(w) with respect to the cross-attention probabilities A of one layer
 * at query q, and the map mean_heads(A * max(dA, 0)) over the patches.
 *
 * The backward follows query q alone: with causal self-attention nothing at a
 * position < q depends on position q, so from the logits of q down to the
 * chosen layer the gradient flows through q's own rows only (its query, and
 * its own key and value among the keys), the other positions' keys and values
 * and the image's acting as constants. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "blip_internal.h"
#include "sc_internal.h"

/* Gradient of log p(target) at query q w.r.t. the cross-attention
 * probabilities of `layer` at q: grad (H, Ti). The trace and the state's
 * logits / cross-attention are those of the forward just run. */
static void grad_at(void *ctx, const dec_trace *tr, int q, int target, int layer, float *grad,
                    dec_grad_scratch *w) {
    sc_blip *m = ctx;
    const sc_blip_text_config *t = &m->cfg.text;
    const blip_state *s = &m->s;
    const int D = t->hidden_size, F = t->intermediate_size, V = t->vocab_size,
              H = t->num_attention_heads, NL = t->num_hidden_layers, n = tr->n,
              Ti = sc_blip_image_tokens(m);
    const float eps = t->layer_norm_eps;
    const size_t nD = (size_t)n * D;
    /* d log softmax(z)[target] / dz = onehot - softmax(z) */
    float *gz = w->gz;
    memcpy(gz, s->logits + (size_t)q * V, (size_t)V * sizeof(float));
    sc_softmax_forward(gz, 1, V, gz);
    for (int v = 0; v < V; v++) gz[v] = (v == target) - gz[v];
    /* head: z = dec_w LN(GELU(hd)) + bias */
    sc_linear_backward(dec_zeroed(w->a, D), NULL, NULL, gz, NULL, m->dec_w, 1, D, V);
    const float *hdq = tr->hd + (size_t)q * D;
    sc_act_forward(SC_ACT_GELU, w->b, hdq, (size_t)D); /* the LayerNorm's input */
    sc_layernorm_backward_input(dec_zeroed(w->c, D), w->a, w->b, m->head_ln_w, 1, D, eps);
    sc_act_backward(SC_ACT_GELU, dec_zeroed(w->d, D), w->c, hdq, NULL, (size_t)D);
    sc_linear_backward(dec_zeroed(w->dh, D), NULL, NULL, w->d, NULL, m->head_w, 1, D, D);
    for (int l = NL - 1; l >= layer; l--) { /* w->dh: d of the layer's output at q */
        const blip_text_layer *L = &m->layers[l];
        /* x3 = LN(r3), r3 = x2 + fo(gelu(fi x2)) */
        sc_layernorm_backward_input(dec_zeroed(w->a, D), w->dh, tr->r3 + l * nD + (size_t)q * D,
                                    L->fln_w, 1, D, eps);
        const float *ffq = tr->ff + (size_t)l * n * F + (size_t)q * F;
        sc_linear_backward(dec_zeroed(w->f, F), NULL, NULL, w->a, NULL, L->fo_w, 1, F, D);
        sc_act_backward(SC_ACT_GELU, dec_zeroed(w->f2, F), w->f, ffq, NULL, (size_t)F);
        memcpy(w->b, w->a, (size_t)D * sizeof(float)); /* d x2 = a + fi^T d pre-activation */
        sc_linear_backward(w->b, NULL, NULL, w->f2, NULL, L->fi_w, 1, D, F);
        /* x2 = LN(r2), r2 = x1 + co(cross context) */
        sc_layernorm_backward_input(dec_zeroed(w->c, D), w->b, tr->r2 + l * nD + (size_t)q * D,
                                    L->cln_w, 1, D, eps);
        sc_linear_backward(dec_zeroed(w->d, D), NULL, NULL, w->c, NULL, L->co_w, 1, D, D);
        const float *IK = s->img_k + (size_t)l * Ti * D, *IV = s->img_v + (size_t)l * Ti * D;
        const float *Pq = s->cross + ((size_t)q * NL + l) * H * Ti;
        dec_cross_row_backward(w->d, Pq, IK, IV, Ti, H, D, l == layer ? grad : NULL, w);
        if (l == layer) break;
        memcpy(w->a, w->c, (size_t)D * sizeof(float)); /* d x1 = c + cq^T dq */
        sc_linear_backward(w->a, NULL, NULL, w->dq, NULL, L->cq_w, 1, D, D);
        /* x1 = LN(r1), r1 = x0 + so(self context) */
        sc_layernorm_backward_input(dec_zeroed(w->b, D), w->a, tr->r1 + l * nD + (size_t)q * D,
                                    L->sln_w, 1, D, eps);
        sc_linear_backward(dec_zeroed(w->c, D), NULL, NULL, w->b, NULL, L->so_w, 1, D, D);
        dec_self_row_backward(tr, l, q, H, D, w->c, w);
        memcpy(w->dh, w->b, (size_t)D * sizeof(float)); /* d x0 = b + the q, k, v paths */
        sc_linear_backward(w->dh, NULL, NULL, w->dq, NULL, L->sq_w, 1, D, D);
        sc_linear_backward(w->dh, NULL, NULL, w->dk, NULL, L->sk_w, 1, D, D);
        sc_linear_backward(w->dh, NULL, NULL, w->dv, NULL, L->sv_w, 1, D, D);
    }
}

/* The forward the backward follows, recorded. */
static sc_status traced_forward(void *ctx, const float *features, const int *seq, int n,
                                dec_trace *tr, const float **cross) {
    sc_blip *m = ctx;
    sc_status st = blip_plan(m, 1, n, n);
    if (!st) st = blip_set_image(m, features);
    m->trace = tr;
    if (!st) st = blip_step(m, 1, seq, n, 1);
    m->trace = NULL;
    *cross = m->s.cross;
    return st;
}

sc_status blip_cross_attention_grads(sc_blip *m, const float *image_features, const int *seq, int n,
                                     int q0, int layer, float *grad, float *attn) {
    const sc_blip_text_config *t = &m->cfg.text;
    const int D = t->hidden_size, F = t->intermediate_size, H = t->num_attention_heads,
              NL = t->num_hidden_layers, Ti = sc_blip_image_tokens(m);
    if (n < 2 || q0 < 0 || q0 > n - 2 || layer < 0 || layer >= NL)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip: gradients of %d tokens from %d, layer %d", n,
                            q0, layer);
    if (n > t->max_position_embeddings)
        return sc_set_error(SC_ERR_LIMIT, "blip: %d tokens exceed max_position_embeddings %d", n,
                            t->max_position_embeddings);
    const dec_grad_model g = {m, NL, D, F, H, t->vocab_size, Ti, traced_forward, grad_at};
    return dec_cross_attention_grads(&g, image_features, seq, n, q0, layer, grad, attn);
}

sc_status sc_blip_gradcam(sc_blip *m, const float *pixel_values, const int *prompt_ids,
                          int n_prompt, const int *ids, int n, int layer, uint64_t head_mask,
                          float *out) {
    if (!m || !pixel_values || !out || (n_prompt > 0 && !prompt_ids) || (n > 0 && !ids) ||
        n_prompt < 0 || n < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_gradcam: bad argument");
    const sc_blip_text_config *t = &m->cfg.text;
    const int NL = t->num_hidden_layers, H = t->num_attention_heads, Ti = sc_blip_image_tokens(m),
              n0 = 1 + n_prompt, len = n0 + n;
    if (layer < -1 || layer >= NL)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_gradcam: layer %d outside 0..%d", layer,
                            NL - 1);
    if (H < 64 && (head_mask >> H))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_blip_gradcam: head mask names heads beyond the %d heads", H);
    if (n == 0) return SC_OK;
    if (layer < 0) layer = 2 * NL / 3;
    int *seq = malloc((size_t)len * sizeof(int));
    float *grad = malloc((size_t)2 * n * H * Ti * sizeof(float));
    sc_status st =
        seq && grad ? SC_OK : sc_set_error(SC_ERR_NOMEM, "sc_blip_gradcam: out of memory");
    if (!st) {
        seq[0] = t->bos_token_id;
        if (n_prompt) memcpy(seq + 1, prompt_ids, (size_t)n_prompt * sizeof(int));
        memcpy(seq + n0, ids, (size_t)n * sizeof(int));
        if (len > t->max_position_embeddings)
            st = sc_set_error(SC_ERR_LIMIT, "sc_blip_gradcam: %d tokens exceed %d positions", len,
                              t->max_position_embeddings);
    }
    if (!st) st = blip_plan(m, 1, len, len);
    if (!st) st = sc_blip_vision_forward(m, pixel_values, m->image);
    /* one more token than needed: the forward runs over [DEC] prompt ids */
    if (!st)
        st = blip_cross_attention_grads(m, m->image, seq, len, n0 - 1, layer, grad,
                                        grad + (size_t)n * H * Ti);
    if (!st)
        dec_gradcam_maps(grad, grad + (size_t)n * H * Ti, n, H, sc_blip_grid(m), head_mask, out);
    free(seq), free(grad);
    return st;
}
