/* Training a classifier on Fashion-MNIST: the recipe and the batches of
 * `saccade train classifier` (sc_stn_train.h). */
#include "saccade/sc_stn_train.h"

sc_classifier_train_params sc_classifier_train_default_params(void) {
    sc_classifier_train_params p = {.epochs = 3, .batch = 128, .lr = 2e-3f, .weight_decay = 0.01f};
    return p;
}

sc_status sc_classifier_train_recipe(const sc_classifier_train_params *p, size_t examples,
                                     sc_train_params *out) {
    if (!p || !out || p->epochs < 1 || p->batch < 1 || !(p->lr > 0) || !(p->weight_decay >= 0) ||
        p->max_steps < 0 || examples < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_classifier_train_recipe: bad parameters");
    sc_optim_params opt = sc_adamw_default_params();
    opt.lr = p->lr;
    opt.weight_decay = p->weight_decay;
    *out = sc_train_cosine_params(&opt, p->epochs, p->batch, examples, p->seed, p->max_steps);
    return SC_OK;
}

void sc_fashion_mnist_batch(const sc_fashion_mnist *d, const int *idx, size_t n, int augment,
                            sc_rng *rng, float *x, int32_t *y) {
    const int S = SC_FASHION_MNIST_SIDE;
    for (size_t b = 0; b < n; b++) {
        const uint8_t *img = d->images + (size_t)idx[b] * S * S;
        float *o = x + b * S * S;
        y[b] = d->labels[idx[b]];
        int dy = 0, dx = 0, flip = 0;
        if (augment) {
            dy = (int)sc_rng_below(rng, 5) - 2;
            dx = (int)sc_rng_below(rng, 5) - 2;
            flip = (int)sc_rng_below(rng, 2);
        }
        for (int r = 0; r < S; r++)
            for (int c = 0; c < S; c++) {
                int sr = r + dy, sc = (flip ? S - 1 - c : c) + dx;
                o[r * S + c] = (sr >= 0 && sr < S && sc >= 0 && sc < S)
                                   ? img[sr * S + sc] * (1.0f / 255)
                                   : 0.0f;
            }
    }
}
