/* saccade: item heads of the captioner, a training-only auxiliary loss (see
 * sc_captioner_item_heads). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_internal.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "sc_internal.h"

enum { HEAD_TENSORS = 4 };

struct sc_cap_item_heads {
    int n_classes, n_colours, E;
    float *w; /* one block: class w (K1 x E), class b, colour w (K2 x E), colour b; grads after */
    sc_param p[HEAD_TENSORS];
};

void sc_cap_item_heads_free(struct sc_cap_item_heads *h) {
    if (!h) return;
    free(h->w);
    free(h);
}

sc_status sc_captioner_item_heads(sc_captioner *m, int n_classes, int n_colours, uint64_t seed,
                                  const sc_param **params, size_t *n) {
    if (!m || !params || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_item_heads: NULL argument");
    if (n_classes < 1 || n_colours < 1 || n_classes > 65536 || n_colours > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_item_heads: %d classes and %d colours (each 1..65536)",
                            n_classes, n_colours);
    const int E = m->cfg.encoder_dim;
    struct sc_cap_item_heads *h = m->heads;
    if (h) {
        if (h->n_classes != n_classes || h->n_colours != n_colours)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "sc_captioner_item_heads: the model's heads have %d classes and "
                                "%d colours, not %d and %d",
                                h->n_classes, h->n_colours, n_classes, n_colours);
        *params = h->p;
        *n = HEAD_TENSORS;
        return SC_OK;
    }
    const size_t nw = (size_t)(n_classes + n_colours) * ((size_t)E + 1);
    h = calloc(1, sizeof *h);
    if (!h || !(h->w = calloc(2 * nw, sizeof(float)))) {
        free(h);
        return sc_set_error(SC_ERR_NOMEM, "sc_captioner_item_heads: out of memory");
    }
    h->n_classes = n_classes, h->n_colours = n_colours, h->E = E;
    sc_rng r;
    sc_rng_seed(&r, seed);
    const float bound = 1.0f / sqrtf((float)E); /* PyTorch's nn.Linear default */
    for (size_t i = 0; i < nw; i++) h->w[i] = bound * (2.0f * sc_rng_uniform(&r) - 1.0f);
    static const char *names[HEAD_TENSORS] = {"aux.class.weight", "aux.class.bias",
                                              "aux.colour.weight", "aux.colour.bias"};
    const int rows[HEAD_TENSORS] = {n_classes, n_classes, n_colours, n_colours};
    size_t off = 0;
    for (int k = 0; k < HEAD_TENSORS; k++) {
        const int is_w = k % 2 == 0;
        sc_param *q = &h->p[k];
        q->name = names[k];
        q->n = (size_t)rows[k] * (is_w ? (size_t)E : 1);
        q->param = h->w + off;
        q->grad = h->w + nw + off;
        q->no_weight_decay = !is_w;
        q->ndim = is_w ? 2 : 1;
        q->shape[0] = rows[k];
        q->shape[1] = E;
        off += q->n;
    }
    m->heads = h;
    *params = h->p;
    *n = HEAD_TENSORS;
    return SC_OK;
}

sc_status sc_cap_items_check(const sc_captioner *m, const sc_caption_batch *bt) {
    const sc_caption_items *it = bt->items;
    const struct sc_cap_item_heads *h = m->heads;
    if (!h)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "sc_captioner_loss: item_heads > 0 needs sc_captioner_item_heads first");
    if (it->max_items < 1 || it->max_items > 4096 || !it->n || !it->cls || !it->colour ||
        !it->cells)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "sc_captioner_loss: bad items (max_items %d in [1, 4096], NULL arrays?)",
            it->max_items);
    for (int b = 0; b < bt->B; b++) {
        if (it->n[b] < 0 || it->n[b] > it->max_items)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "sc_captioner_loss: example %d has %d items (0..%d)", b, it->n[b],
                                it->max_items);
        for (int k = 0; k < it->n[b]; k++) {
            const size_t slot = (size_t)b * it->max_items + k;
            if (it->cls[slot] < 0 || it->cls[slot] >= h->n_classes || it->colour[slot] < 0 ||
                it->colour[slot] >= h->n_colours)
                return sc_set_error(SC_ERR_INVALID_ARG,
                                    "sc_captioner_loss: item %d of example %d has class %d and "
                                    "colour %d (heads: %d classes, %d colours)",
                                    k, b, (int)it->cls[slot], (int)it->colour[slot], h->n_classes,
                                    h->n_colours);
        }
    }
    return SC_OK;
}

/* One head: logits = f W^T + b over n items, cross entropy with weight wt
 * into *loss; with dlogits, gradients into W, b and df. */
static sc_status item_head(const sc_param *w, const sc_param *b, int K, const float *f, int n,
                           int E, const int32_t *target, float wt, float *logits, float *dlogits,
                           float *df, double *loss) {
    float l;
    sc_status st;
    if (dlogits) memset(dlogits, 0, (size_t)n * K * sizeof(float));
    if ((st = sc_linear_forward(logits, f, w->param, b->param, n, E, K)) ||
        (st = sc_cross_entropy(logits, target, n, K, NULL, &l, &wt, dlogits)))
        return st;
    if (dlogits && (st = sc_linear_backward(df, w->grad, b->grad, dlogits, f, w->param, n, E, K)))
        return st;
    *loss += (double)wt * l;
    return SC_OK;
}

sc_status sc_cap_items_loss(sc_captioner *m, const float *features, const sc_caption_batch *bt,
                            float w, int backward, float *dfeatures, sc_caption_loss *out) {
    const sc_caption_items *it = bt->items;
    const struct sc_cap_item_heads *h = m->heads;
    const int B = bt->B, P = m->P, E = m->cfg.encoder_dim;
    const int K = h->n_classes > h->n_colours ? h->n_classes : h->n_colours;
    int n = 0;
    for (int b = 0; b < B; b++) n += it->n[b];
    out->items = 0;
    out->nitems = n;
    if (!n) return SC_OK;
    /* per item: pooled features, their gradient, logits and dlogits of the
     * wider head; class and colour targets, source example; box cells */
    float *f = calloc((size_t)n * (2 * (size_t)E + 2 * (size_t)K), sizeof(float));
    int32_t *idx = malloc((size_t)n * 3 * sizeof(int32_t));
    uint8_t *cells = malloc((size_t)n * P);
    sc_status st = SC_OK;
    if (!f || !idx || !cells) {
        st = sc_set_error(SC_ERR_NOMEM, "sc_captioner_loss: out of memory for the item heads");
        goto done;
    }
    float *df = f + (size_t)n * E, *logits = df + (size_t)n * E, *dlogits = logits + (size_t)n * K;
    int32_t *cls = idx, *col = idx + n, *src = idx + 2 * n;
    for (int b = 0, i = 0; b < B; b++)
        for (int k = 0; k < it->n[b]; k++, i++) {
            const size_t slot = (size_t)b * it->max_items + k;
            cls[i] = it->cls[slot], col[i] = it->colour[slot], src[i] = b;
            memcpy(cells + (size_t)i * P, it->cells + slot * P, (size_t)P);
        }
    float *dl = backward ? dlogits : NULL;
    if ((st = sc_masked_avgpool_forward(f, features, B, P, E, cells, src, n)) ||
        (st = item_head(&h->p[0], &h->p[1], h->n_classes, f, n, E, cls, 0.5f * w, logits, dl, df,
                        &out->items)) ||
        (st = item_head(&h->p[2], &h->p[3], h->n_colours, f, n, E, col, 0.5f * w, logits, dl, df,
                        &out->items)))
        goto done;
    if (backward && dfeatures)
        st = sc_masked_avgpool_backward(dfeatures, df, B, P, E, cells, src, n);
done:
    free(f), free(idx), free(cells);
    return st;
}
