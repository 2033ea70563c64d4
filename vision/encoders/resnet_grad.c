/* Gradients through the ResNet (see resnet_internal.h): a forward that keeps
 * every stage's activations of each image (the tape), its backward to any
 * stage and to the input, and forwards continued from a given stage.
 *
 * The backward needs only input gradients: each conv's dx = col2im(w^T dy)
 * (sc_conv2d_backward without dw) with the BN-folded weights, which is the
 * unfolded network's gradient too (eval-mode BN is affine: folding it into the
 * conv changes nothing but rounding). ReLU masks come from the kept outputs
 * (y > 0), max pool's from its argmax recomputed on the kept input. The stem
 * runs unfolded (conv1, then bn1 as a per-channel affine, then ReLU) so that
 * torchvision's model.conv1 is a layer as well. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "encoders/resnet_internal.h"
#include "sc_internal.h"

typedef struct resnet_tape {
    int H, W, N, valid;
    int nstages;
    size_t per_image; /* floats of one image's activations */
    size_t *off;      /* (nstages) offset of each stage's output */
    size_t *t1, *t2;  /* (nblocks) offsets of the blocks' inner activations */
    int *C, *h, *w;   /* (nstages) output shapes */
    size_t max_act;   /* floats of the largest activation of one image */
    float *data;      /* (N, per_image) */
    size_t cap;       /* floats in data */
} resnet_tape;

int resnet_stage_count(const sc_resnet *m) {
    return 3 + m->nblocks;
}

void resnet_stage_name(const sc_resnet *m, int stage, char *buf, size_t cap) {
    static const char *const stem[3] = {"conv1", "relu", "maxpool"};
    if (stage < 3) {
        snprintf(buf, cap, "%s", stem[stage]);
        return;
    }
    int i = stage - 3;
    for (int l = 0; l < 4; l++) {
        if (i < m->layers[l]) {
            snprintf(buf, cap, "layer%d.%d", l + 1, i);
            return;
        }
        i -= m->layers[l];
    }
    snprintf(buf, cap, "?");
}

void resnet_grad_free(sc_resnet *m) {
    resnet_tape *t = m->tape;
    if (!t) return;
    sc_free(t->off);
    sc_free(t->data);
    sc_free(t);
    m->tape = NULL;
}

/* Shapes and offsets of the tape for H x W (kept until the size changes). */
static sc_status layout(sc_resnet *m, int H, int W) {
    resnet_tape *t = m->tape;
    if (t && t->H == H && t->W == W) return SC_OK;
    sizes z;
    sc_status s = resnet_walk(m, H, W, &z);
    if (s) return s;
    if (!t) {
        t = m->tape = sc_calloc(1, sizeof *t);
        if (!t) return SC_ERR_NOMEM;
    }
    sc_free(t->off);
    const int ns = resnet_stage_count(m), nb = m->nblocks;
    /* one block of size_t for off, t1, t2, then ints for C, h, w */
    size_t bytes = (size_t)(ns + 2 * nb) * sizeof(size_t) + (size_t)3 * ns * sizeof(int);
    t->off = sc_malloc(bytes);
    if (!t->off) return SC_ERR_NOMEM;
    t->t1 = t->off + ns, t->t2 = t->t1 + nb;
    t->C = (int *)(t->t2 + nb), t->h = t->C + ns, t->w = t->h + ns;
    t->valid = 0, t->nstages = ns;
    size_t at = 0, mx = 0;
#define PUT(dst, n)                                                                                \
    do {                                                                                           \
        (dst) = at;                                                                                \
        at += ((size_t)(n) + 15) & ~(size_t)15;                                                    \
        mx = SC_MAX(mx, (size_t)(n));                                                              \
    } while (0)
    int h = resnet_conv_out(H, &m->stem), w = resnet_conv_out(W, &m->stem);
    for (int k = 0; k < 2; k++) {
        t->C[k] = 64, t->h[k] = h, t->w[k] = w;
        PUT(t->off[k], (size_t)64 * h * w);
    }
    h = (h + 2 - 3) / 2 + 1, w = (w + 2 - 3) / 2 + 1;
    t->C[2] = 64, t->h[2] = h, t->w[2] = w;
    PUT(t->off[2], (size_t)64 * h * w);
    for (int i = 0; i < nb; i++) {
        const rblock *b = &m->blocks[i];
        int h1 = resnet_conv_out(h, &b->c1), w1 = resnet_conv_out(w, &b->c1);
        PUT(t->t1[i], (size_t)b->c1.OC * h1 * w1);
        int h2 = resnet_conv_out(h1, &b->c2), w2 = resnet_conv_out(w1, &b->c2);
        const rconv *last = &b->c2;
        if (m->info.bottleneck) {
            PUT(t->t2[i], (size_t)b->c2.OC * h2 * w2);
            last = &b->c3;
            h2 = resnet_conv_out(h2, &b->c3), w2 = resnet_conv_out(w2, &b->c3);
        } else {
            t->t2[i] = 0;
        }
        t->C[3 + i] = last->OC, t->h[3 + i] = h2, t->w[3 + i] = w2;
        PUT(t->off[3 + i], (size_t)last->OC * h2 * w2);
        h = h2, w = w2;
    }
#undef PUT
    t->per_image = at;
    t->max_act = mx;
    t->H = H, t->W = W;
    return SC_OK;
}

sc_status resnet_stage_shape(const sc_resnet *m, int H, int W, int stage, int *C, int *h, int *w) {
    if (stage < 0 || stage >= resnet_stage_count(m))
        return sc_set_error(SC_ERR_INVALID_ARG, "resnet: stage %d out of range", stage);
    sc_status s = layout((sc_resnet *)m, H, W);
    if (s) return s;
    const resnet_tape *t = m->tape;
    *C = t->C[stage], *h = t->h[stage], *w = t->w[stage];
    return SC_OK;
}

/* Stage k of one image from in (the output of stage k - 1, or x for k = 0)
 * into out; a block's inner activations go to t1 / t2 (the tape, or the
 * arena's scratch). The stage's input size is (h, w) of stage k - 1. */
static sc_status run_stage(sc_resnet *m, int k, const float *in, float *out, float *t1, float *t2,
                           int nt) {
    const resnet_tape *t = m->tape;
    const int ih = k ? t->h[k - 1] : t->H, iw = k ? t->w[k - 1] : t->W;
    int oh, ow;
    if (k == 0)
        return resnet_conv_run(m, &m->buf[0], &m->stem_raw, in, ih, iw, out, NULL, 0, &oh, &ow, nt);
    if (k == 1) {
        const size_t hw = (size_t)ih * iw;
        for (int c = 0; c < 64; c++) {
            const float a = m->stem_scale[c], b = m->stem_shift[c];
            const float *src = in + c * hw;
            float *dst = out + c * hw;
            for (size_t i = 0; i < hw; i++) {
                const float v = a * src[i] + b;
                dst[i] = v > 0.0f ? v : 0.0f;
            }
        }
        return SC_OK;
    }
    if (k == 2) {
        resnet_maxpool(in, 64, ih, iw, out, t->h[2], t->w[2], m->buf[0].col, nt);
        return SC_OK;
    }
    const rblock *b = &m->blocks[k - 3];
    const float *id = in;
    sc_status s;
    int h1, w1, h2, w2;
    if (b->has_ds) {
        if ((s = resnet_conv_run(m, &m->buf[0], &b->ds, in, ih, iw, m->buf[0].ds, NULL, 0, &oh, &ow,
                                 nt)))
            return s;
        id = m->buf[0].ds;
    }
    if ((s = resnet_conv_run(m, &m->buf[0], &b->c1, in, ih, iw, t1, NULL, 1, &h1, &w1, nt)))
        return s;
    if (!m->info.bottleneck)
        return resnet_conv_run(m, &m->buf[0], &b->c2, t1, h1, w1, out, id, 1, &oh, &ow, nt);
    if ((s = resnet_conv_run(m, &m->buf[0], &b->c2, t1, h1, w1, t2, NULL, 1, &h2, &w2, nt)))
        return s;
    return resnet_conv_run(m, &m->buf[0], &b->c3, t2, h2, w2, out, id, 1, &oh, &ow, nt);
}

static sc_status check_ready(sc_resnet *m, const char *fn) {
    if (!m->backward)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: the ResNet was loaded for inference only (no gradients)", fn);
    if (!m->info.has_head)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: the ResNet has no classifier head (fc)", fn);
    return SC_OK;
}

sc_status resnet_grad_forward(sc_resnet *m, const float *x, int N, int H, int W, int stage,
                              float *logits, float *act) {
    static const char fn[] = "resnet_grad_forward";
    sc_status s = check_ready(m, fn);
    if (s) return s;
    const int nt = SC_MAX(1, SC_MIN(sc_get_num_threads(), 64));
    if ((s = resnet_ensure_plan(m, 1, H, W, nt, fn)) || (s = layout(m, H, W))) return s;
    resnet_tape *t = m->tape;
    t->valid = 0;
    if (stage >= t->nstages)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: stage %d out of range", fn, stage);
    size_t need;
    if (sc_mul_size(t->per_image, (size_t)N, &need))
        return sc_set_error(SC_ERR_LIMIT, "%s: batch %d too large", fn, N);
    if (need > t->cap) {
        sc_free(t->data);
        t->cap = 0;
        t->data = sc_malloc(need * sizeof(float));
        if (!t->data)
            return sc_set_error(SC_ERR_NOMEM,
                                "%s: out of memory for %d images' activations (%zu MB)", fn, N,
                                need * sizeof(float) >> 20);
        t->cap = need;
    }
    const int prev = nt > 1 ? sc_blas_serial_begin() : 1;
    const size_t in_img = (size_t)3 * H * W, K = (size_t)m->info.num_classes;
    for (int n = 0; n < N && !s; n++) {
        float *tp = t->data + (size_t)n * t->per_image;
        for (int k = 0; k < t->nstages && !s; k++) {
            const float *in = k ? tp + t->off[k - 1] : x + n * in_img;
            const int bi = k - 3;
            s = run_stage(m, k, in, tp + t->off[k], bi >= 0 ? tp + t->t1[bi] : NULL,
                          bi >= 0 ? tp + t->t2[bi] : NULL, nt);
        }
        const int last = t->nstages - 1;
        if (!s && logits)
            resnet_head(m, tp + t->off[last], t->h[last] * t->w[last], m->buf[0].pool,
                        logits + n * K);
        if (!s && act && stage >= 0) {
            const size_t na = (size_t)t->C[stage] * t->h[stage] * t->w[stage];
            memcpy(act + n * na, tp + t->off[stage], na * sizeof(float));
        }
    }
    if (nt > 1) sc_blas_serial_end(prev);
    if (s) return s;
    t->N = N, t->valid = 1;
    return SC_OK;
}

/* dx (C, H, W) = conv c's input gradient for dy (OC, OH, OW), overwritten
 * (accumulated when acc). */
static sc_status conv_dx(const rconv *c, int H, int W, const float *dy, float *dx, int acc) {
    sc_conv2d_desc d = sc_conv2d_make(1, c->C, H, W, c->OC, c->K, c->K, c->stride, c->pad, 1, 1);
    if (!acc) memset(dx, 0, (size_t)c->C * H * W * sizeof(float));
    return sc_conv2d_backward(&d, dx, NULL, NULL, dy, NULL, c->w, NULL, 0);
}

/* g *= (y > 0), n floats */
static void relu_mask(float *g, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(y[i] > 0.0f)) g[i] = 0.0f;
}

sc_status resnet_grad_backward(sc_resnet *m, const float *dlogits, int stage, float *dact,
                               float *dx) {
    static const char fn[] = "resnet_grad_backward";
    sc_status s = check_ready(m, fn);
    if (s) return s;
    resnet_tape *t = m->tape;
    if (!t || !t->valid)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: no gradient forward before", fn);
    if (dact && (stage < 0 || stage >= t->nstages))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: stage %d out of range", fn, stage);
    if (!dx && (!dact || stage < 0)) return SC_OK; /* nothing asked */
    const int stop = dx ? 0 : stage;
    const size_t mx = t->max_act;
    float *g = sc_malloc(4 * mx * sizeof(float));
    if (!g) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    float *gy = g, *gin = g + mx, *ga = g + 2 * mx, *gb = g + 3 * mx;
    const int K = m->info.num_classes, FC = m->info.feature_channels, last = t->nstages - 1;
    const size_t in_img = (size_t)3 * t->H * t->W;
    for (int n = 0; n < t->N && !s; n++) {
        const float *tp = t->data + (size_t)n * t->per_image;
        /* head: logits = fc(mean(feat)) */
        const int hw = t->h[last] * t->w[last];
        for (int c = 0; c < FC; c++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)dlogits[(size_t)n * K + k] * m->fc_w[(size_t)k * FC + c];
            const float v = (float)(acc / hw);
            for (int i = 0; i < hw; i++) gy[(size_t)c * hw + i] = v;
        }
        /* gy: gradient w.r.t. the output of stage k */
        for (int k = last; k >= stop && !s; k--) {
            const size_t na = (size_t)t->C[k] * t->h[k] * t->w[k];
            if (k == stage && dact) memcpy(dact + n * na, gy, na * sizeof(float));
            if (!dx && k == stage) break;
            const int ih = k ? t->h[k - 1] : t->H, iw = k ? t->w[k - 1] : t->W;
            float *dst = k ? gin : dx + n * in_img;
            if (k == 0) {
                s = conv_dx(&m->stem_raw, ih, iw, gy, dst, 0);
            } else if (k == 1) {
                const size_t hw1 = (size_t)ih * iw;
                const float *y = tp + t->off[1];
                for (int c = 0; c < 64; c++)
                    for (size_t i = 0; i < hw1; i++)
                        dst[c * hw1 + i] =
                            y[c * hw1 + i] > 0.0f ? gy[c * hw1 + i] * m->stem_scale[c] : 0.0f;
            } else if (k == 2) {
                const sc_pool2d_desc d = sc_pool2d_make(1, 64, ih, iw, 3, 2, 1, 0, 0);
                int32_t *am = (int32_t *)ga; /* argmax of the kept input, recomputed */
                SC_ASSERT(sizeof(int32_t) == sizeof(float));
                s = sc_maxpool2d_forward(&d, gb, am, tp + t->off[1]);
                if (!s) {
                    memset(dst, 0, (size_t)64 * ih * iw * sizeof(float));
                    s = sc_maxpool2d_backward(&d, dst, gy, am);
                }
            } else {
                const rblock *b = &m->blocks[k - 3];
                const float *y = tp + t->off[k];
                relu_mask(gy, y, na); /* the block's final ReLU */
                if (b->has_ds)
                    s = conv_dx(&b->ds, ih, iw, gy, dst, 0);
                else
                    memcpy(dst, gy, na * sizeof(float));
                int h1 = resnet_conv_out(ih, &b->c1), w1 = resnet_conv_out(iw, &b->c1);
                const size_t n1 = (size_t)b->c1.OC * h1 * w1;
                if (!s && m->info.bottleneck) {
                    int h2 = resnet_conv_out(h1, &b->c2), w2 = resnet_conv_out(w1, &b->c2);
                    s = conv_dx(&b->c3, h2, w2, gy, gb, 0);
                    if (!s) {
                        relu_mask(gb, tp + t->t2[k - 3], (size_t)b->c2.OC * h2 * w2);
                        s = conv_dx(&b->c2, h1, w1, gb, ga, 0);
                    }
                } else if (!s) {
                    s = conv_dx(&b->c2, h1, w1, gy, ga, 0);
                }
                if (!s) {
                    relu_mask(ga, tp + t->t1[k - 3], n1);
                    s = conv_dx(&b->c1, ih, iw, ga, dst, 1);
                }
            }
            if (k) { /* gin is now the gradient w.r.t. stage k - 1's output */
                float *tmp = gy;
                gy = gin, gin = tmp;
            }
        }
    }
    sc_free(g);
    return s;
}

sc_status resnet_forward_from(sc_resnet *m, int stage, const float *act, int N, int H, int W,
                              float *logits) {
    static const char fn[] = "resnet_forward_from";
    if (!m->info.has_head)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: the ResNet has no classifier head (fc)", fn);
    const int nt = SC_MAX(1, SC_MIN(sc_get_num_threads(), 64));
    sc_status s;
    if ((s = resnet_ensure_plan(m, 1, H, W, nt, fn)) || (s = layout(m, H, W))) return s;
    resnet_tape *t = m->tape;
    t->valid = 0;
    if (stage < 0 || stage >= t->nstages)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: stage %d out of range", fn, stage);
    if (stage == 0 && !m->backward)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: conv1 needs a model loaded for gradients", fn);
    const size_t na = (size_t)t->C[stage] * t->h[stage] * t->w[stage];
    const int prev = nt > 1 ? sc_blas_serial_begin() : 1;
    for (int n = 0; n < N && !s; n++) {
        const float *in = act + n * na;
        float *bufs[2] = {m->buf[0].x, m->buf[0].y};
        int cur = 0;
        for (int k = stage + 1; k < t->nstages && !s; k++) {
            s = run_stage(m, k, in, bufs[cur], m->buf[0].t1, m->buf[0].t2, nt);
            in = bufs[cur];
            cur ^= 1;
        }
        const int last = t->nstages - 1;
        if (!s)
            resnet_head(m, in, t->h[last] * t->w[last], m->buf[0].pool,
                        logits + (size_t)n * m->info.num_classes);
    }
    if (nt > 1) sc_blas_serial_end(prev);
    return s;
}
