/* BLIP image-text matching (sc_blip_itm.h): the ITM head and the contrastive
 * heads of BlipForImageTextRetrieval, and the Grad-CAM of the text encoder's
 * cross-attention for the positive ITM logit.
 *
 * The backward runs over every position: the encoder's self-attention is
 * bidirectional, so the [CLS] state the head reads depends on every token.
 * From the top down to the chosen layer each layer is undone as a whole
 * (LayerNorms, feed-forward, cross-attention through its queries, the
 * image's keys and values being constants, self-attention through queries,
 * keys and values). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "saccade/sc_util.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_blip_itm.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "blip_internal.h"
#include "sc_internal.h"

struct sc_blip_itm {
    sc_blip *m;
    blip_encoded_image im; /* the image set last */
};

sc_status sc_blip_itm_load(const char *path, sc_blip_itm **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_load: out is NULL");
    *out = NULL;
    sc_blip_itm *r = calloc(1, sizeof *r);
    if (!r) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status s = blip_load_encoder_model(path, BLIP_PART_ITM, &r->m, &r->im);
    if (s) {
        free(r);
        return s;
    }
    *out = r;
    return SC_OK;
}

void sc_blip_itm_free(sc_blip_itm *r) {
    if (!r) return;
    sc_blip_free(r->m);
    blip_encoded_image_free(&r->im);
    free(r);
}

int sc_blip_is_itm(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return 0;
    char *json = NULL;
    if (S_ISDIR(sb.st_mode)) {
        size_t n = strlen(path) + 16, len = 0;
        char *p = malloc(n);
        unsigned char *buf = NULL;
        if (p) snprintf(p, n, "%s/config.json", path);
        if (p && !sc_read_file(p, (size_t)16 << 20, &buf, &len)) json = (char *)buf;
        free(p);
    } else {
        sc_safetensors *st = NULL;
        if (!sc_safetensors_open(path, &st)) {
            const char *c = sc_safetensors_metadata(st, "saccade.config");
            json = c ? strdup(c) : NULL;
            sc_safetensors_free(st);
        }
    }
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    const cJSON *arch = root ? cJSON_GetObjectItemCaseSensitive(root, "architectures") : NULL, *a;
    int yes = 0;
    cJSON_ArrayForEach(a, arch) yes |=
        cJSON_IsString(a) && !strcmp(a->valuestring, "BlipForImageTextRetrieval");
    cJSON_Delete(root);
    free(json);
    sc_clear_error();
    return yes;
}

sc_blip *sc_blip_itm_model(sc_blip_itm *r) {
    return r ? r->m : NULL;
}

sc_status sc_blip_itm_set_pixels(sc_blip_itm *r, const float *pixel_values) {
    if (!r || !pixel_values)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_set_pixels: NULL argument");
    return blip_encode_image(r->m, pixel_values, NULL, &r->im);
}

sc_status sc_blip_itm_set_image(sc_blip_itm *r, const sc_image *img) {
    if (!r) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_set_image: NULL argument");
    return blip_encode_image(r->m, NULL, img, &r->im);
}

sc_status sc_blip_itm_text_ids(const sc_blip_itm *r, const char *text, int **ids, int *n) {
    if (!r || !text || !ids || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_text_ids: NULL argument");
    return blip_text_ids(r->m, text, "phrase", ids, n);
}

static sc_status check_ids(const sc_blip_itm *r, const int *ids, int n) {
    if (!r || !ids || n <= 0) return sc_set_error(SC_ERR_INVALID_ARG, "blip itm: bad ids");
    if (!r->im.ok) return sc_set_error(SC_ERR_INVALID_ARG, "blip itm: no image set");
    const int P = r->m->cfg.text.max_position_embeddings;
    if (n > P) return sc_set_error(SC_ERR_LIMIT, "blip itm: %d tokens exceed %d positions", n, P);
    return SC_OK;
}

/* y (E) = normalize(W x + b) as torch.nn.functional.normalize (eps 1e-12) */
static void project_normalized(const float *W, const float *b, const float *x, int E, int D,
                               float *y) {
    sc_sgemv(SC_NO_TRANS, E, D, 1.0f, W, D, x, 0.0f, y);
    double ss = 0;
    for (int e = 0; e < E; e++) {
        y[e] += b[e];
        ss += (double)y[e] * y[e];
    }
    const float norm = (float)sqrt(ss);
    const float d = norm > 1e-12f ? norm : 1e-12f;
    for (int e = 0; e < E; e++) y[e] /= d;
}

sc_status sc_blip_itm_scores(sc_blip_itm *r, const int *ids, int n, float *itm_logits,
                             float *probability, float *cosine) {
    sc_status st = check_ids(r, ids, n);
    if (st) return st;
    sc_blip *m = r->m;
    const int D = m->cfg.text.hidden_size, E = m->proj_dim, Dv = m->cfg.vision.hidden_size;
    if ((st = blip_plan(m, 1, n, n))) return st;
    if (itm_logits || probability) {
        if ((st = blip_encode_text(m, r->im.enc_k, r->im.enc_v, ids, n))) return st;
        float z[2];
        sc_sgemv(SC_NO_TRANS, 2, D, 1.0f, m->itm_w, D, m->s.h, 0.0f, z); /* the [CLS] row */
        z[0] += m->itm_b[0], z[1] += m->itm_b[1];
        if (itm_logits) itm_logits[0] = z[0], itm_logits[1] = z[1];
        if (probability) {
            float p[2];
            sc_softmax_forward(z, 1, 2, p);
            *probability = p[1];
        }
    }
    if (cosine) {
        if ((st = blip_encode_text(m, NULL, NULL, ids, n))) return st;
        float *a = malloc((size_t)2 * E * sizeof(float));
        if (!a) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        project_normalized(m->vision_proj_w, m->vision_proj_b, r->im.features, E, Dv, a);
        project_normalized(m->text_proj_w, m->text_proj_b, m->s.h, E, D, a + E);
        double c = 0;
        for (int e = 0; e < E; e++) c += (double)a[e] * a[E + e];
        *cosine = (float)c;
        free(a);
    }
    return SC_OK;
}

/* ---------------------------------------------------------------- backward */
sc_status sc_blip_itm_cross_grad(sc_blip_itm *r, const int *ids, int n, int layer, float *grad,
                                 float *attn) {
    sc_status st = check_ids(r, ids, n);
    if (st) return st;
    sc_blip *m = r->m;
    const sc_blip_text_config *t = &m->cfg.text;
    const int D = t->hidden_size, F = t->intermediate_size, H = t->num_attention_heads, hd = D / H,
              NL = t->num_hidden_layers, Ti = sc_blip_image_tokens(m);
    const float eps = t->layer_norm_eps, scale = 1.0f / sqrtf((float)hd);
    if (layer < -1 || layer >= NL || !grad)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip itm: layer %d outside 0..%d", layer, NL - 1);
    if (layer < 0) layer = 2 * NL / 3;
    /* the trace of the forward and the backward's buffers */
    blip_trace tr = {0};
    tr.n = n;
    const size_t nD = (size_t)n * D, LnD = (size_t)NL * nD, K = (size_t)SC_MAX(n, Ti);
    size_t total;
    if (sc_mul_size(LnD, 6, &total)) return sc_set_error(SC_ERR_LIMIT, "blip itm: too large");
    total += (size_t)NL * n * F + (size_t)NL * H * n * n + nD + 7 * nD + 2 * (size_t)n * F +
             2 * (size_t)n * K;
    float *mem = malloc(total * sizeof(float));
    if (!mem) return sc_set_error(SC_ERR_NOMEM, "blip itm: out of memory for the gradients");
    float *p = mem;
    float **f6[6] = {&tr.sq, &tr.sk, &tr.sv, &tr.r1, &tr.r2, &tr.r3};
    for (int i = 0; i < 6; i++) *f6[i] = p, p += LnD;
    tr.ff = p, p += (size_t)NL * n * F;
    tr.sp = p, p += (size_t)NL * H * n * n;
    tr.hd = p, p += nD;
    float *dX = p, *dA = p + nD, *dB = p + 2 * nD, *dC = p + 3 * nD, *dQ = p + 4 * nD,
          *dK = p + 5 * nD, *dV = p + 6 * nD;
    p += 7 * nD;
    float *dG = p, *dF = p + (size_t)n * F;
    p += 2 * (size_t)n * F;
    float *dP = p, *dS = p + (size_t)n * K; /* (n, max(n, Ti)) each */
    st = blip_plan(m, 1, n, n);
    if (!st) {
        m->trace = &tr;
        st = blip_encode_text(m, r->im.enc_k, r->im.enc_v, ids, n);
        m->trace = NULL;
    }
    if (st) {
        free(mem);
        return st;
    }
    const float *cross = m->s.cross; /* (n, NL, H, Ti) */
    const size_t nF = (size_t)n * F, bytes = nD * sizeof(float);
    /* d logits[1] / d last hidden: itm_head's row 1 at [CLS] */
    memset(dX, 0, bytes);
    memcpy(dX, m->itm_w + D, (size_t)D * sizeof(float));
    /* the kernels accumulate: each gradient starts from zero or from the
     * residual path's */
    for (int l = NL - 1; l >= layer && !st; l--) {
        const blip_text_layer *L = &m->enc.layers[l];
        /* x3 = LN(r3), r3 = x2 + fo(gelu(fi x2)) */
        memset(dA, 0, bytes);
        if ((st = sc_layernorm_backward_input(dA, dX, tr.r3 + l * nD, L->fln_w, n, D, eps))) break;
        memset(dG, 0, nF * sizeof(float));
        sc_linear_backward(dG, NULL, NULL, dA, NULL, L->fo_w, n, F, D);
        memset(dF, 0, nF * sizeof(float));
        sc_act_backward(SC_ACT_GELU, dF, dG, tr.ff + (size_t)l * n * F, NULL, nF);
        memcpy(dB, dA, bytes); /* d x2 */
        sc_linear_backward(dB, NULL, NULL, dF, NULL, L->fi_w, n, D, F);
        /* x2 = LN(r2), r2 = x1 + co(cross context) */
        memset(dC, 0, bytes);
        if ((st = sc_layernorm_backward_input(dC, dB, tr.r2 + l * nD, L->cln_w, n, D, eps))) break;
        memset(dA, 0, bytes); /* d cross context (n, D) */
        sc_linear_backward(dA, NULL, NULL, dC, NULL, L->co_w, n, D, D);
        const float *IK = r->im.enc_k + (size_t)l * Ti * D, *IV = r->im.enc_v + (size_t)l * Ti * D;
        for (int h = 0; h < H; h++) {
            /* dA_h (n, Ti) = dctx_h IV_h^T */
            sc_sgemm(SC_NO_TRANS, SC_TRANS, n, Ti, hd, 1.0f, dA + h * hd, D, IV + h * hd, D, 0.0f,
                     dP, Ti);
            if (l == layer) {
                for (int i = 0; i < n; i++) {
                    memcpy(grad + ((size_t)i * H + h) * Ti, dP + (size_t)i * Ti,
                           (size_t)Ti * sizeof(float));
                    if (attn)
                        memcpy(attn + ((size_t)i * H + h) * Ti,
                               cross + (((size_t)i * NL + l) * H + h) * Ti,
                               (size_t)Ti * sizeof(float));
                }
                continue;
            }
            /* softmax backward with this layer's probabilities, row by row */
            memset(dS, 0, (size_t)n * Ti * sizeof(float));
            for (int i = 0; i < n; i++)
                sc_softmax_backward(cross + (((size_t)i * NL + l) * H + h) * Ti,
                                    dP + (size_t)i * Ti, 1, Ti, dS + (size_t)i * Ti);
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, hd, Ti, scale, dS, Ti, IK + h * hd, D, 0.0f,
                     dQ + h * hd, D);
        }
        if (l == layer) break;
        memcpy(dB, dC, bytes); /* d x1 */
        sc_linear_backward(dB, NULL, NULL, dQ, NULL, L->cq_w, n, D, D);
        /* x1 = LN(r1), r1 = x0 + so(self context) */
        memset(dC, 0, bytes);
        if ((st = sc_layernorm_backward_input(dC, dB, tr.r1 + l * nD, L->sln_w, n, D, eps))) break;
        memset(dA, 0, bytes); /* d self context */
        sc_linear_backward(dA, NULL, NULL, dC, NULL, L->so_w, n, D, D);
        const float *Q = tr.sq + l * nD, *Kk = tr.sk + l * nD, *Vv = tr.sv + l * nD;
        for (int h = 0; h < H; h++) {
            const float *P = tr.sp + ((size_t)l * H + h) * n * n;
            /* dP = dctx V^T, dV = P^T dctx, dS = softmax', dQ = s dS K, dK = s dS^T Q */
            sc_sgemm(SC_NO_TRANS, SC_TRANS, n, n, hd, 1.0f, dA + h * hd, D, Vv + h * hd, D, 0.0f,
                     dP, n);
            sc_sgemm(SC_TRANS, SC_NO_TRANS, n, hd, n, 1.0f, P, n, dA + h * hd, D, 0.0f, dV + h * hd,
                     D);
            memset(dS, 0, (size_t)n * n * sizeof(float));
            sc_softmax_backward(P, dP, n, n, dS);
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, hd, n, scale, dS, n, Kk + h * hd, D, 0.0f,
                     dQ + h * hd, D);
            sc_sgemm(SC_TRANS, SC_NO_TRANS, n, hd, n, scale, dS, n, Q + h * hd, D, 0.0f,
                     dK + h * hd, D);
        }
        memcpy(dX, dC, bytes); /* d x0: the layer below's output */
        sc_linear_backward(dX, NULL, NULL, dQ, NULL, L->sq_w, n, D, D);
        sc_linear_backward(dX, NULL, NULL, dK, NULL, L->sk_w, n, D, D);
        sc_linear_backward(dX, NULL, NULL, dV, NULL, L->sv_w, n, D, D);
    }
    free(mem);
    return st;
}

/* ---------------------------------------------------------------- match */
void sc_blip_match_free(sc_blip_match *mt) {
    if (!mt) return;
    if (mt->words)
        for (int i = 0; i < mt->n; i++) free(mt->words[i]);
    free(mt->words), free(mt->ids), free(mt->gradcam), free(mt->phrase);
    memset(mt, 0, sizeof *mt);
}

sc_status sc_blip_itm_match(sc_blip_itm *r, const char *text, int gradcam, int layer,
                            uint64_t head_mask, sc_blip_match *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_match: out is NULL");
    memset(out, 0, sizeof *out);
    if (!r || !text) return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_match: NULL argument");
    sc_blip *m = r->m;
    const int NL = m->cfg.text.num_hidden_layers, H = m->cfg.text.num_attention_heads,
              G = sc_blip_grid(m), Ti = sc_blip_image_tokens(m);
    if (layer < -1 || layer >= NL)
        return sc_set_error(SC_ERR_INVALID_ARG, "blip itm: layer %d outside 0..%d", layer, NL - 1);
    if (H < 64 && (head_mask >> H))
        return sc_set_error(SC_ERR_INVALID_ARG, "blip itm: head mask names heads beyond the %d", H);
    out->layer = layer < 0 ? 2 * NL / 3 : layer;
    out->grid = G;
    sc_status st = sc_blip_itm_text_ids(r, text, &out->ids, &out->n);
    if (!st)
        st = sc_blip_itm_scores(r, out->ids, out->n, out->itm_logits, &out->probability,
                                &out->cosine);
    if (!st) st = blip_token_words(m, out->ids, out->n, &out->words);
    if (!st && gradcam) {
        const int n = out->n;
        float *g = malloc((size_t)2 * n * H * Ti * sizeof(float));
        out->gradcam = malloc((size_t)n * G * G * sizeof(float));
        out->phrase = calloc((size_t)G * G, sizeof(float));
        if (!g || !out->gradcam || !out->phrase) st = sc_set_error(SC_ERR_NOMEM, "out of memory");
        if (!st) st = sc_blip_itm_cross_grad(r, out->ids, n, out->layer, g, g + (size_t)n * H * Ti);
        if (!st) {
            dec_gradcam_maps(g, g + (size_t)n * H * Ti, n, H, G, head_mask, out->gradcam);
            for (int i = 1; i < n - 1; i++) /* the words: [CLS] and [SEP] left out */
                for (int j = 0; j < G * G; j++)
                    out->phrase[j] += out->gradcam[(size_t)i * G * G + j] / (float)(n - 2);
        }
        free(g);
    }
    if (st) sc_blip_match_free(out);
    return st;
}

sc_status sc_blip_itm_saliency(sc_blip_itm *r, const sc_image *img, const char *text, int layer,
                               sc_map *out, sc_blip_match *match) {
    if (out) memset(out, 0, sizeof *out);
    if (match) memset(match, 0, sizeof *match);
    if (!r || !img || !text || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_itm_saliency: NULL argument");
    sc_blip_match mt;
    sc_status st = sc_blip_itm_set_image(r, img);
    if (!st) st = sc_blip_itm_match(r, text, 1, layer, 0, &mt);
    if (st) return st;
    st = sc_attention_upsample(mt.phrase, mt.grid, img->w, img->h, out);
    if (!st) {
        const size_t n = (size_t)out->w * out->h;
        float hi = 0.0f;
        for (size_t i = 0; i < n; i++) hi = out->data[i] > hi ? out->data[i] : hi;
        for (size_t i = 0; i < n; i++) out->data[i] = hi > 0.0f ? out->data[i] / hi : 0.0f;
    }
    if (!st && match)
        *match = mt;
    else
        sc_blip_match_free(&mt);
    return st;
}
