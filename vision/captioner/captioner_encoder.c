/* saccade: captioner image encoders (pluggable: features | resnet | cnn).
 *
 * resnet: torchvision ResNet truncated before pooling (sc_resnet, BN folded)
 *         -> adaptive average pool to grid x grid -> (P, E), p = i * grid + j.
 * cnn:    sc_cnn (prefix "encoder.", config in the "saccade.encoder" metadata;
 *         in_channels 5 appends two coordinate channels x, y in (-1, 1) to the
 *         RGB input, CoordConv, so features know where they are)
 *         -> adaptive average pool to grid x grid -> (P, C); trainable: the
 *         loss's dfeatures go back through the pool into the CNN. */
#include <stdlib.h>
#include <string.h>
#include "captioner_internal.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_resnet.h"
#include "saccade/sc_vit.h"
#include "sc_internal.h"

struct sc_encoder_impl {
    int kind;
    sc_resnet *resnet;
    sc_cnn *cnn;
    sc_vit *vit;
    sc_rng rng;  /* ViT dropout */
    float *dtok; /* ViT token gradients (N, T, D) */
    size_t dtok_cap;
    float *fmap, *pooled, *dpooled, *dfmap, *xin; /* scratch, grown on demand */
    size_t fmap_cap, pooled_cap, dpooled_cap, dfmap_cap, xin_cap;
    /* last encode_batch (for the backward pass) */
    int last_N, last_C, last_h, last_w, last_train;
    int last_cnn, last_H, last_W; /* last encode ran the CNN (any mode), its input size */
    float *dxin;                  /* scratch for the input gradient (N, in_channels, H, W) */
    size_t dxin_cap;
};

static sc_status grow(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return SC_OK;
    float *p = sc_malloc(n * sizeof(float));
    if (!p) return sc_set_error(SC_ERR_NOMEM, "captioner encoder: out of memory (%zu floats)", n);
    sc_free(*buf);
    *buf = p;
    *cap = n;
    return SC_OK;
}

void sc_cap_encoder_free(struct sc_encoder_impl *e) {
    if (!e) return;
    sc_resnet_free(e->resnet);
    sc_cnn_free(e->cnn);
    sc_vit_free(e->vit);
    sc_free(e->dtok);
    sc_free(e->fmap);
    sc_free(e->pooled);
    sc_free(e->dpooled);
    sc_free(e->dfmap);
    sc_free(e->xin);
    sc_free(e->dxin);
    sc_free(e);
}

static sc_status check_cnn_dims(const sc_captioner_config *c, const sc_cnn_config *cc) {
    sc_status s = sc_cnn_config_validate(cc);
    if (s) return s;
    if (cc->in_channels != 3 && cc->in_channels != 5)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "captioner cnn encoder: in_channels is %d, must be 3 (RGB) or 5 "
                            "(RGB + x, y coordinate channels)",
                            cc->in_channels);
    if (cc->channels[cc->nstages - 1] != c->encoder_dim)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "captioner cnn encoder: last stage has %d channels but encoder_dim is %d",
            cc->channels[cc->nstages - 1], c->encoder_dim);
    int C, h, w;
    if ((s = sc_cnn_output_size(cc, c->image_size, c->image_size, &C, &h, &w))) return s;
    return SC_OK;
}

static sc_status check_vit_dims(const sc_captioner_config *c, const sc_vit_config *v) {
    sc_status s = sc_vit_config_validate(v);
    if (s) return s;
    if (v->in_channels != 3)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "captioner vit encoder: in_channels is %d, must be 3 (RGB)",
                            v->in_channels);
    if (v->image_size != c->image_size)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "captioner vit encoder: image_size %d but the captioner's is %d",
                            v->image_size, c->image_size);
    if (v->dim != c->encoder_dim)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "captioner vit encoder: dim %d but encoder_dim is %d", v->dim,
                            c->encoder_dim);
    if (c->grid > sc_vit_grid(v))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "captioner vit encoder: grid %d is finer than the %dx%d patch grid",
                            c->grid, sc_vit_grid(v), sc_vit_grid(v));
    return SC_OK;
}

sc_status sc_cap_encoder_load(sc_captioner *m, sc_safetensors *st, const char *path) {
    m->enc = NULL;
    struct sc_encoder_impl *e = sc_calloc(1, sizeof *e);
    if (!e) return SC_ERR_NOMEM;
    e->kind = m->cfg.encoder;
    sc_status s = SC_OK;
    if (m->cfg.encoder == SC_CAP_ENC_RESNET) {
        /* Pre-folded convs stay in the file's mapping, which the model keeps open.
         * im2col, not Winograd: one image per caption gains nothing measurable
         * from Winograd (tools/bench/caption.sh: 0.51x PyTorch's time without,
         * 0.59x with) and its transformed weights cost ~97 MB of peak memory. */
        sc_resnet_params rp = sc_resnet_default_params();
        rp.borrow_weights = 1;
        rp.winograd = 0;
        if ((s = sc_resnet_load_st(st, "encoder.", &rp, &e->resnet))) {
            sc_error_prefix(path);
            goto fail;
        }
        sc_resnet_info info;
        sc_resnet_get_info(e->resnet, &info);
        if (m->cfg.encoder_arch[0] && strcmp(m->cfg.encoder_arch, info.arch) != 0) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: config encoder_arch \"%s\" but the tensors are %s",
                             path, m->cfg.encoder_arch, info.arch);
            goto fail;
        }
        if (info.feature_channels != m->cfg.encoder_dim) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: %s gives %d channels but encoder_dim is %d", path,
                             info.arch, info.feature_channels, m->cfg.encoder_dim);
            goto fail;
        }
    } else if (m->cfg.encoder == SC_CAP_ENC_CNN) {
        const char *ej = sc_safetensors_metadata(st, "saccade.encoder");
        sc_cnn_config cc;
        if (!ej) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: cnn encoder without \"saccade.encoder\" metadata",
                             path);
            goto fail;
        }
        if ((s = sc_cnn_config_from_json(ej, &cc)) || (s = check_cnn_dims(&m->cfg, &cc))) {
            sc_error_prefix(path);
            goto fail;
        }
        sc_rng r;
        sc_rng_seed(&r, 0);
        if ((s = sc_cnn_create(&cc, "encoder.", &r, &e->cnn))) goto fail;
        if ((s = sc_cnn_load(e->cnn, st))) {
            sc_error_prefix(path);
            goto fail;
        }
        const sc_param *pl, *bl;
        size_t np, nb;
        sc_cnn_params(e->cnn, &pl, &np);
        sc_cnn_buffers(e->cnn, &bl, &nb);
        if ((s = sc_st_check_known_tensors(st, path, "encoder.", pl, np, bl, nb,
                                           "the cnn encoder")))
            goto fail;
    } else if (m->cfg.encoder == SC_CAP_ENC_VIT) {
        const char *ej = sc_safetensors_metadata(st, "saccade.encoder");
        sc_vit_config vc;
        if (!ej) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: vit encoder without \"saccade.encoder\" metadata",
                             path);
            goto fail;
        }
        if ((s = sc_vit_config_from_json(ej, &vc)) || (s = check_vit_dims(&m->cfg, &vc))) {
            sc_error_prefix(path);
            goto fail;
        }
        sc_rng_seed(&e->rng, 0);
        if ((s = sc_vit_create(&vc, "encoder.", &e->rng, &e->vit))) goto fail;
        if ((s = sc_vit_load(e->vit, st))) {
            sc_error_prefix(path);
            goto fail;
        }
        const sc_param *pl;
        size_t np;
        sc_vit_params(e->vit, &pl, &np);
        if ((s = sc_st_check_known_tensors(st, path, "encoder.", pl, np, NULL, 0,
                                           "the vit encoder")))
            goto fail;
    } else {
        sc_free(e);
        return SC_OK;
    }
    m->enc = e;
    return SC_OK;
fail:
    sc_cap_encoder_free(e);
    return s;
}

/* A new decoder (sc_captioner_create) with a fresh trainable encoder of kind
 * (cnn: enc is an sc_cnn_config, vit: an sc_vit_config). */
static sc_status create_with_encoder(const char *fn, const sc_captioner_config *config,
                                     const void *enc, sc_cap_encoder_kind kind,
                                     const sc_vocab *vocab, uint64_t seed, sc_captioner **out) {
    const char *name = kind == SC_CAP_ENC_CNN ? "cnn" : "vit";
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    if (!config || !enc) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL config", fn);
    if (config->encoder != kind)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: config encoder must be \"%s\"", fn, name);
    sc_status s =
        kind == SC_CAP_ENC_CNN ? check_cnn_dims(config, enc) : check_vit_dims(config, enc);
    if (s) return s;
    sc_captioner_config fc = *config;
    fc.encoder = SC_CAP_ENC_FEATURES;
    sc_captioner *m = NULL;
    if ((s = sc_captioner_create(&fc, vocab, seed, &m))) return s;
    m->cfg.encoder = kind;
    if (!m->cfg.encoder_arch[0])
        snprintf(m->cfg.encoder_arch, sizeof m->cfg.encoder_arch, "%s", name);
    struct sc_encoder_impl *e = sc_calloc(1, sizeof *e);
    if (!e) {
        sc_captioner_free(m);
        return SC_ERR_NOMEM;
    }
    e->kind = kind;
    m->enc = e;
    sc_rng_seed(&e->rng, seed ^ 0x9e3779b97f4a7c15ull); /* a stream apart from the decoder's */
    s = kind == SC_CAP_ENC_CNN ? sc_cnn_create(enc, "encoder.", &e->rng, &e->cnn)
                               : sc_vit_create(enc, "encoder.", &e->rng, &e->vit);
    if (s) {
        sc_captioner_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_captioner_create_cnn(const sc_captioner_config *config, const sc_cnn_config *cnn,
                                  const sc_vocab *vocab, uint64_t seed, sc_captioner **out) {
    return create_with_encoder("sc_captioner_create_cnn", config, cnn, SC_CAP_ENC_CNN, vocab, seed,
                               out);
}

sc_status sc_captioner_create_vit(const sc_captioner_config *config, const sc_vit_config *vit,
                                  const sc_vocab *vocab, uint64_t seed, sc_captioner **out) {
    return create_with_encoder("sc_captioner_create_vit", config, vit, SC_CAP_ENC_VIT, vocab, seed,
                               out);
}

sc_status sc_captioner_encoder_params(sc_captioner *m, const sc_param **params, size_t *n,
                                      const sc_param **buffers, size_t *nb) {
    if (!m || !params || !n || !buffers || !nb)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_encoder_params: NULL argument");
    *params = *buffers = NULL;
    *n = *nb = 0;
    if (m->enc && m->enc->cnn) {
        sc_cnn_params(m->enc->cnn, params, n);
        sc_cnn_buffers(m->enc->cnn, buffers, nb);
    } else if (m->enc && m->enc->vit) {
        sc_vit_params(m->enc->vit, params, n);
    }
    return SC_OK;
}

char *sc_cap_encoder_config_json(const sc_captioner *m) {
    if (m->enc && m->enc->vit) return sc_vit_config_to_json(sc_vit_get_config(m->enc->vit));
    if (!m->enc || !m->enc->cnn) return NULL;
    return sc_cnn_config_to_json(sc_cnn_get_config(m->enc->cnn));
}

/* (N, C, G, G) -> (N, P, C). */
static void to_pc(const float *x, int N, int C, int P, float *out) {
#pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++)
                out[((size_t)n * P + p) * C + c] = x[((size_t)n * C + c) * P + p];
}
static void from_pc(const float *x, int N, int C, int P, float *out) {
#pragma omp parallel for schedule(static) if (N > 1)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < P; p++)
                out[((size_t)n * C + c) * P + p] = x[((size_t)n * P + p) * C + c];
}

sc_status sc_captioner_encode_batch(sc_captioner *m, const float *images, int N, int H, int W,
                                    int train, float *features) {
    if (!m || !images || !features || N <= 0 || H <= 0 || W <= 0 || H > 16384 || W > 16384)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_encode: bad argument");
    if (m->cfg.encoder == SC_CAP_ENC_FEATURES)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_encode: the model has no image encoder (features model)");
    struct sc_encoder_impl *e = m->enc;
    if (!e)
        return sc_set_error(SC_ERR_UNSUPPORTED, "sc_captioner_encode: encoder \"%s\" not available",
                            m->cfg.encoder_arch);
    const int G = m->cfg.grid, P = m->P, E = m->cfg.encoder_dim;
    sc_status s;
    const float *fmap;
    int C, h, w;
    if (e->resnet) {
        if (train)
            return sc_set_error(SC_ERR_UNSUPPORTED,
                                "sc_captioner_encode: the resnet encoder is inference only");
        if ((s = sc_resnet_feature_size(e->resnet, H, W, &h, &w))) return s;
        C = E;
        size_t n;
        if (sc_mul_size((size_t)N * C, (size_t)h * w, &n))
            return sc_set_error(SC_ERR_LIMIT, "sc_captioner_encode: image too large");
        if ((s = grow(&e->fmap, &e->fmap_cap, n))) return s;
        if ((s = sc_resnet_forward(e->resnet, images, N, H, W, e->fmap, NULL))) return s;
        fmap = e->fmap;
    } else if (e->vit) {
        const sc_vit_config *vc = sc_vit_get_config(e->vit);
        if (H != vc->image_size || W != vc->image_size)
            return sc_set_error(
                SC_ERR_SHAPE, "sc_captioner_encode: the vit encoder takes %dx%d images, not %dx%d",
                vc->image_size, vc->image_size, H, W);
        const float *tok;
        if ((s = sc_vit_forward(e->vit, images, N, train != 0, &e->rng, &tok))) return s;
        /* patch tokens (N, T, D), class token first -> map (N, D, G, G) */
        const int VG = sc_vit_grid(vc), T = sc_vit_tokens(vc), c0 = vc->cls_token;
        C = vc->dim, h = w = VG;
        if ((s = grow(&e->fmap, &e->fmap_cap, (size_t)N * C * VG * VG))) return s;
        for (int b = 0; b < N; b++)
            for (int p = 0; p < VG * VG; p++) {
                const float *t = tok + ((size_t)b * T + c0 + p) * C;
                for (int c = 0; c < C; c++) e->fmap[((size_t)b * C + c) * VG * VG + p] = t[c];
            }
        fmap = e->fmap;
    } else {
        const float *xin = images;
        if (sc_cnn_get_config(e->cnn)->in_channels == 5) { /* CoordConv: append x, y */
            size_t plane = (size_t)H * W, n;
            if (sc_mul_size((size_t)N * 5, plane, &n))
                return sc_set_error(SC_ERR_LIMIT, "sc_captioner_encode: image too large");
            if ((s = grow(&e->xin, &e->xin_cap, n))) return s;
            for (int b = 0; b < N; b++) {
                float *o = e->xin + (size_t)b * 5 * plane;
                memcpy(o, images + (size_t)b * 3 * plane, 3 * plane * sizeof(float));
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++) {
                        o[3 * plane + (size_t)i * W + j] = sc_cell_centre(j, W);
                        o[4 * plane + (size_t)i * W + j] = sc_cell_centre(i, H);
                    }
            }
            xin = e->xin;
        }
        if ((s = sc_cnn_forward(e->cnn, xin, N, H, W, train != 0, &fmap, &C, &h, &w))) return s;
        if (C != E) return sc_set_error(SC_ERR_INTERNAL, "captioner cnn: %d channels", C);
    }
    if ((s = grow(&e->pooled, &e->pooled_cap, (size_t)N * C * P))) return s;
    if ((s = sc_adaptive_avgpool2d_forward(e->pooled, fmap, N, C, h, w, G, G))) return s;
    to_pc(e->pooled, N, C, P, features);
    e->last_N = N, e->last_C = C, e->last_h = h, e->last_w = w;
    e->last_train = train && (e->cnn || e->vit);
    e->last_cnn = e->cnn || e->vit, e->last_H = H, e->last_W = W;
    return SC_OK;
}

/* dfeatures (N, P, C) -> gradient at the encoder's output map e->dfmap. */
static sc_status pool_backward(sc_captioner *m, const float *dfeatures) {
    struct sc_encoder_impl *e = m->enc;
    const int N = e->last_N, C = e->last_C, h = e->last_h, w = e->last_w, G = m->cfg.grid;
    sc_status s;
    if ((s = grow(&e->dpooled, &e->dpooled_cap, (size_t)N * C * m->P)) ||
        (s = grow(&e->dfmap, &e->dfmap_cap, (size_t)N * C * h * w)))
        return s;
    from_pc(dfeatures, N, C, m->P, e->dpooled);
    memset(e->dfmap, 0, (size_t)N * C * h * w * sizeof(float)); /* the pool accumulates */
    return sc_adaptive_avgpool2d_backward(e->dfmap, e->dpooled, N, C, h, w, G, G);
}

/* e->dfmap (N, D, G, G) -> token gradients (N, T, D) (class token 0) -> the
 * ViT's backward, accumulating dx when non-NULL. */
static sc_status vit_backward(struct sc_encoder_impl *e, float *dx) {
    const sc_vit_config *vc = sc_vit_get_config(e->vit);
    const int N = e->last_N, C = vc->dim, G = sc_vit_grid(vc), T = sc_vit_tokens(vc);
    const int c0 = vc->cls_token;
    sc_status s = grow(&e->dtok, &e->dtok_cap, (size_t)N * T * C);
    if (s) return s;
    for (int b = 0; b < N; b++) {
        if (c0) memset(e->dtok + (size_t)b * T * C, 0, (size_t)C * sizeof(float));
        for (int p = 0; p < G * G; p++) {
            float *t = e->dtok + ((size_t)b * T + c0 + p) * C;
            for (int c = 0; c < C; c++) t[c] = e->dfmap[((size_t)b * C + c) * G * G + p];
        }
    }
    return sc_vit_backward(e->vit, e->dtok, dx);
}

sc_status sc_captioner_encode_backward(sc_captioner *m, const float *dfeatures) {
    if (!m || !dfeatures)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_encode_backward: NULL argument");
    struct sc_encoder_impl *e = m->enc;
    if (!e || (!e->cnn && !e->vit))
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_encode_backward: only the cnn and vit encoders are "
                            "trainable");
    if (!e->last_train)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_encode_backward: no sc_captioner_encode_batch before");
    sc_status s = pool_backward(m, dfeatures);
    if (s) return s;
    return e->vit ? vit_backward(e, NULL) : sc_cnn_backward(e->cnn, e->dfmap, NULL);
}

sc_status sc_captioner_encode_input_backward(sc_captioner *m, const float *dfeatures,
                                             float *dimages) {
    if (!m || !dfeatures || !dimages)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_encode_input_backward: NULL argument");
    struct sc_encoder_impl *e = m->enc;
    if (!e || (!e->cnn && !e->vit))
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_encode_input_backward: only the cnn and vit encoders "
                            "have a backward pass (this model's encoder is \"%s\")",
                            m->cfg.encoder == SC_CAP_ENC_RESNET ? "resnet" : "features");
    if (!e->last_cnn)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_encode_input_backward: no sc_captioner_encode before");
    sc_status s = pool_backward(m, dfeatures);
    if (s) return s;
    if (e->vit) return vit_backward(e, dimages); /* 3 input channels: dx is dimages */
    const int N = e->last_N, IC = sc_cnn_get_config(e->cnn)->in_channels;
    const size_t plane = (size_t)e->last_H * e->last_W, nx = (size_t)N * IC * plane;
    if ((s = grow(&e->dxin, &e->dxin_cap, nx))) return s;
    memset(e->dxin, 0, nx * sizeof(float));
    if ((s = sc_cnn_backward(e->cnn, e->dfmap, e->dxin))) return s;
    for (int b = 0; b < N; b++)
        for (size_t i = 0; i < 3 * plane; i++)
            dimages[(size_t)b * 3 * plane + i] += e->dxin[(size_t)b * IC * plane + i];
    return SC_OK;
}

sc_status sc_captioner_encoder_rollout(const sc_captioner *m, int b, float discard_ratio,
                                       const float *alpha, float *out, int *gh, int *gw) {
    if (!m || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_encoder_rollout: NULL argument");
    if (!m->enc || !m->enc->vit)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "attention rollout needs a model with a ViT encoder; this model's "
                            "encoder is \"%s\"",
                            m->cfg.encoder == SC_CAP_ENC_RESNET ? "resnet"
                            : m->cfg.encoder == SC_CAP_ENC_CNN  ? "cnn"
                                                                : "features");
    const sc_vit_config *vc = sc_vit_get_config(m->enc->vit);
    const int G = sc_vit_grid(vc), T = sc_vit_tokens(vc), c0 = vc->cls_token, N = G * G;
    sc_status s;
    if (!alpha) {
        if ((s = sc_vit_rollout(m->enc->vit, b, discard_ratio, out))) return s;
    } else {
        /* decoder attention over the grid -> weights over the patch tokens (the
         * adjoint of the adaptive pool: each cell's weight shared by its patches),
         * then through the rollout: out[j] = sum_p w[p] R[p, j] over patches */
        float *R = sc_malloc(((size_t)T * T + N) * sizeof(float));
        if (!R) return sc_set_error(SC_ERR_NOMEM, "sc_captioner_encoder_rollout: out of memory");
        float *w = R + (size_t)T * T;
        memset(w, 0, (size_t)N * sizeof(float));
        s = sc_vit_rollout_matrix(m->enc->vit, b, discard_ratio, R);
        if (!s) s = sc_adaptive_avgpool2d_backward(w, alpha, 1, 1, G, G, m->cfg.grid, m->cfg.grid);
        if (!s) {
            for (int j = 0; j < N; j++) {
                double acc = 0;
                for (int p = 0; p < N; p++) acc += (double)w[p] * R[(size_t)(c0 + p) * T + c0 + j];
                out[j] = (float)acc;
            }
        }
        sc_free(R);
        if (s) return s;
    }
    if (gh) *gh = G;
    if (gw) *gw = G;
    return SC_OK;
}

sc_status sc_captioner_encode(sc_captioner *m, const float *image, int H, int W, float *features) {
    return sc_captioner_encode_batch(m, image, 1, H, W, 0, features);
}
