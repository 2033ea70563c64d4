/* torchvision ImageNet classifiers (see include/saccade/sc_imagenet_classifier.h):
 * loading a ResNet with fc or a ViT (a view over the file's tensors under
 * torchvision's names), preprocessing as the weights' transforms, logits and
 * top-k classes. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_util.h"
#include "classify/classify_internal.h"
#include "sc_internal.h"

sc_imagenet_classifier_params sc_imagenet_classifier_default_params(void) {
    sc_imagenet_classifier_params p = {0, 1, 1};
    return p;
}

/* ---------------------------------------------------------------- metadata */

static const sc_imagenet_preprocess DEFAULT_PREPROCESS = {
    256, 224, SC_PIL_BILINEAR, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};

static sc_status read_floats3(const cJSON *a, float *out) {
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) return SC_ERR_FORMAT;
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble)) return SC_ERR_FORMAT;
        out[i] = (float)e->valuedouble;
    }
    return SC_OK;
}

static sc_status parse_preprocess(const char *path, const char *json, sc_imagenet_preprocess *p) {
    *p = DEFAULT_PREPROCESS;
    if (!json) return SC_OK;
    cJSON *root = cJSON_Parse(json);
    sc_status s = SC_OK;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "resize"),
                *cr = cJSON_GetObjectItemCaseSensitive(root, "crop"),
                *in = cJSON_GetObjectItemCaseSensitive(root, "interpolation");
    if (!cJSON_IsObject(root) || !cJSON_IsNumber(rs) || !cJSON_IsNumber(cr) ||
        rs->valuedouble < 1 || rs->valuedouble > 8192 || cr->valuedouble < 1 ||
        cr->valuedouble > 8192 ||
        read_floats3(cJSON_GetObjectItemCaseSensitive(root, "mean"), p->mean) ||
        read_floats3(cJSON_GetObjectItemCaseSensitive(root, "std"), p->std)) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: saccade.preprocess must hold \"resize\" and \"crop\" (1..8192) and "
                         "3 \"mean\" and \"std\" values: %.120s",
                         path, json);
    } else {
        p->resize = (int)rs->valuedouble, p->crop = (int)cr->valuedouble;
        const char *f = cJSON_IsString(in) ? in->valuestring : "bilinear";
        if (!strcmp(f, "bilinear"))
            p->filter = SC_PIL_BILINEAR;
        else if (!strcmp(f, "bicubic"))
            p->filter = SC_PIL_BICUBIC;
        else
            s = sc_set_error(SC_ERR_UNSUPPORTED,
                             "%s: saccade.preprocess interpolation \"%.40s\" (supported: "
                             "bilinear, bicubic)",
                             path, f);
        for (int i = 0; i < 3 && !s; i++)
            if (!(p->std[i] > 0.0f))
                s = sc_set_error(SC_ERR_FORMAT, "%s: saccade.preprocess std[%d] is not > 0", path,
                                 i);
    }
    cJSON_Delete(root);
    return s;
}

/* The class names of saccade.classes (K of them) or "0".."K-1". */
static sc_status parse_classes(const char *path, const char *json, int K, char ***out) {
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    sc_status s = SC_OK;
    if (json && (!cJSON_IsArray(root) || cJSON_GetArraySize(root) != K))
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: saccade.classes must be a JSON list of %d names (the head has %d "
                         "outputs)",
                         path, K, K);
    size_t text = 0;
    for (int k = 0; k < K && !s; k++) {
        const cJSON *e = root ? cJSON_GetArrayItem(root, k) : NULL;
        if (root && !cJSON_IsString(e))
            s = sc_set_error(SC_ERR_FORMAT, "%s: saccade.classes[%d] is not a string", path, k);
        else
            text += (e ? strlen(e->valuestring) : 11) + 1;
    }
    char **names = NULL;
    if (!s && !(names = sc_malloc((size_t)K * sizeof(char *) + text)))
        s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory for class names", path);
    char *p = names ? (char *)(names + K) : NULL;
    for (int k = 0; k < K && !s; k++) {
        const cJSON *e = root ? cJSON_GetArrayItem(root, k) : NULL;
        names[k] = p;
        if (e)
            p += sprintf(p, "%s", e->valuestring) + 1;
        else
            p += sprintf(p, "%d", k) + 1;
    }
    cJSON_Delete(root);
    if (s) {
        sc_free(names);
        return s;
    }
    *out = names;
    return SC_OK;
}

/* ---------------------------------------------------------------- ViT */

/* sc_vit.h's tensor names -> torchvision's VisionTransformer state_dict names. */
static int tv_vit_name(const char *vit_name, char *out, size_t cap, void *ctx) {
    (void)ctx;
    static const struct {
        const char *from, *to;
    } fixed[] = {{"patch_embed.proj.weight", "conv_proj.weight"},
                 {"patch_embed.proj.bias", "conv_proj.bias"},
                 {"cls_token", "class_token"},
                 {"pos_embed", "encoder.pos_embedding"},
                 {"norm.weight", "encoder.ln.weight"},
                 {"norm.bias", "encoder.ln.bias"}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(vit_name, fixed[i].from))
            return snprintf(out, cap, "%s", fixed[i].to) >= (int)cap;
    static const struct {
        const char *from, *to;
    } layer[] = {{"self_attn.", "self_attention."},
                 {"linear1.", "mlp.0."},
                 {"linear2.", "mlp.3."},
                 {"norm1.", "ln_1."},
                 {"norm2.", "ln_2."}};
    int l, n = 0;
    if (sscanf(vit_name, "layers.%d.%n", &l, &n) != 1 || n == 0) return 1;
    const char *rest = vit_name + n;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++) {
        size_t k = strlen(layer[i].from);
        if (!strncmp(rest, layer[i].from, k))
            return snprintf(out, cap, "encoder.layers.encoder_layer_%d.%s%s", l, layer[i].to,
                            rest + k) >= (int)cap;
    }
    return 1;
}

static sc_status int_key(const cJSON *root, const char *key, int lo, int hi, int *out,
                         const char *path) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < lo ||
        e->valuedouble > hi)
        return sc_set_error(SC_ERR_FORMAT, "%s: saccade.config needs an integer \"%s\" in %d..%d",
                            path, key, lo, hi);
    *out = (int)e->valuedouble;
    return SC_OK;
}

static sc_status load_vit(sc_imagenet_classifier *m, const char *path) {
    const char *json = sc_safetensors_metadata(m->st, "saccade.config");
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sc_set_error(SC_ERR_FORMAT, "%s: no JSON object in saccade.config", path);
    }
    sc_vit_config c = sc_vit_default_config();
    int K = 0;
    sc_status s;
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "arch"),
                *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_eps");
    if ((s = int_key(root, "image_size", 1, SC_VIT_MAX_IMAGE, &c.image_size, path)) ||
        (s = int_key(root, "patch", 1, SC_VIT_MAX_IMAGE, &c.patch, path)) ||
        (s = int_key(root, "dim", 1, SC_VIT_MAX_DIM, &c.dim, path)) ||
        (s = int_key(root, "depth", 1, SC_VIT_MAX_DEPTH, &c.depth, path)) ||
        (s = int_key(root, "heads", 1, SC_VIT_MAX_DIM, &c.heads, path)) ||
        (s = int_key(root, "mlp_dim", 1, 4 * SC_VIT_MAX_DIM, &c.mlp_dim, path)) ||
        (s = int_key(root, "num_classes", 1, 1 << 20, &K, path))) {
        cJSON_Delete(root);
        return s;
    }
    snprintf(m->info.arch, sizeof m->info.arch, "%s",
             cJSON_IsString(arch) ? arch->valuestring : "vit");
    c.ln_eps = cJSON_IsNumber(eps) ? (float)eps->valuedouble : 1e-6f;
    cJSON_Delete(root);
    c.in_channels = 3, c.cls_token = 1, c.pos = SC_VIT_POS_LEARNED, c.gelu = 1, c.dropout = 0.0f;
    if ((s = sc_vit_config_validate(&c))) return sc_error_prefix(path), s;
    if ((s = sc_vit_open_view(&c, m->st, tv_vit_name, NULL, &m->vit)))
        return sc_error_prefix(path), s;
    if (m->gradients && (s = sc_vit_view_keep_activations(m->vit))) return s;
    const int64_t hw[2] = {K, c.dim}, hb[1] = {K};
    if (sc_safetensors_find(m->st, "heads.head.weight") < 0)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: a ViT without a classifier head (no heads.head.weight)", path);
    if ((s = sc_safetensors_get_f32(m->st, "heads.head.weight", 2, hw, &m->head_w)) ||
        (s = sc_safetensors_get_f32(m->st, "heads.head.bias", 1, hb, &m->head_b)))
        return sc_error_prefix(path), s;
    m->info.num_classes = K;
    snprintf(m->info.kind, sizeof m->info.kind, "vit");
    return SC_OK;
}

void imagenet_vit_head(const sc_imagenet_classifier *m, const float *out, int B, float *logits) {
    const sc_vit_config *c = sc_vit_get_config(m->vit);
    const int K = m->info.num_classes, D = c->dim, T = sc_vit_tokens(c);
    for (int b = 0; b < B; b++) {
        memcpy(logits + (size_t)b * K, m->head_b, (size_t)K * sizeof(float));
        sc_sgemv(SC_NO_TRANS, K, D, 1.0f, m->head_w, D, out + (size_t)b * T * D, 1.0f,
                 logits + (size_t)b * K);
    }
}

/* ---------------------------------------------------------------- loading */

static sc_status load_resnet(sc_imagenet_classifier *m, const char *path,
                             const sc_imagenet_classifier_params *p) {
    if (sc_safetensors_find(m->st, "fc.weight") < 0)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: a ResNet encoder without a classifier head (no fc.weight; "
                            "convert without --no-fc)",
                            path);
    sc_resnet_params rp = sc_resnet_default_params();
    rp.include_head = 1;
    rp.winograd = p->winograd;
    rp.backward = p->gradients;
    sc_status s = sc_resnet_load(path, &rp, &m->resnet);
    if (s) return s;
    sc_resnet_info ri;
    sc_resnet_get_info(m->resnet, &ri);
    snprintf(m->info.arch, sizeof m->info.arch, "%s", ri.arch);
    snprintf(m->info.kind, sizeof m->info.kind, "resnet");
    m->info.num_classes = ri.num_classes;
    /* the mapping is not needed any more: the ResNet holds its own copy */
    sc_safetensors_free(m->st);
    m->st = NULL;
    return SC_OK;
}

sc_status sc_imagenet_classifier_load(const char *path, const sc_imagenet_classifier_params *params,
                                      sc_imagenet_classifier **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_load: out is NULL");
    *out = NULL;
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_load: path is NULL");
    sc_imagenet_classifier_params p = params ? *params : sc_imagenet_classifier_default_params();
    if (p.threads < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_load: threads %d < 0",
                            p.threads);
    sc_status s;
    if (p.threads > 0 && (s = sc_set_num_threads(p.threads))) return s;
    sc_model_kind kind;
    if ((s = sc_model_probe(path, &kind))) return s;
    if (kind != SC_MODEL_RESNET && kind != SC_MODEL_VIT_CLASSIFIER)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: a %s model, not an ImageNet classifier (a torchvision ResNet or "
                            "ViT converted by tools/convert_torchvision.py)",
                            path, sc_model_kind_name(kind));
    sc_imagenet_classifier *m = sc_calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->gradients = p.gradients != 0;
    char *classes_json = NULL;
    if ((s = sc_safetensors_open(path, &m->st))) goto fail;
    if ((s = parse_preprocess(path, sc_safetensors_metadata(m->st, "saccade.preprocess"),
                              &m->info.preprocess)))
        goto fail;
    const char *cj = sc_safetensors_metadata(m->st, "saccade.classes");
    if (cj && !(classes_json = strdup(cj))) {
        s = sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s = kind == SC_MODEL_RESNET ? load_resnet(m, path, &p) : load_vit(m, path);
    if (s) goto fail;
    if ((s = parse_classes(path, classes_json, m->info.num_classes, &m->classes))) goto fail;
    m->info.input_size = m->info.preprocess.crop;
    if (m->vit && m->info.input_size != sc_vit_get_config(m->vit)->image_size) {
        s = sc_set_error(SC_ERR_FORMAT,
                         "%s: saccade.preprocess crop %d differs from the ViT's image_size %d",
                         path, m->info.input_size, sc_vit_get_config(m->vit)->image_size);
        goto fail;
    }
    free(classes_json);
    *out = m;
    return SC_OK;
fail:
    free(classes_json);
    sc_imagenet_classifier_free(m);
    return s;
}

void sc_imagenet_classifier_free(sc_imagenet_classifier *m) {
    if (!m) return;
    sc_resnet_free(m->resnet);
    sc_vit_free(m->vit);
    sc_safetensors_free(m->st);
    sc_free(m->classes);
    sc_free(m);
}

sc_status sc_imagenet_classifier_get_info(const sc_imagenet_classifier *m,
                                          sc_imagenet_classifier_info *info) {
    if (!m || !info)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_get_info: NULL argument");
    *info = m->info;
    return SC_OK;
}

const char *sc_imagenet_classifier_class_name(const sc_imagenet_classifier *m, int k) {
    return m && k >= 0 && k < m->info.num_classes ? m->classes[k] : NULL;
}

/* ---------------------------------------------------------------- preprocessing */

sc_status sc_imagenet_geometry_of(const sc_imagenet_preprocess *p, int w, int h,
                                  sc_imagenet_geometry *g) {
    if (!p || !g || w < 1 || h < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_geometry_of: bad argument");
    /* torchvision's _compute_resized_output_size: the long side is
     * int(size * long / short), Python's float division truncated */
    const int shorter = SC_MIN(w, h), longer = SC_MAX(w, h);
    const double l = (double)p->resize * (double)longer / (double)shorter;
    if (l > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG, "preprocess: a %dx%d image resizes to over 65536",
                            w, h);
    const int nl = (int)l;
    g->resized_w = w <= h ? p->resize : nl;
    g->resized_h = w <= h ? nl : p->resize;
    g->crop = p->crop;
    /* center_crop: int(round((side - crop) / 2.0)), half to even; padded
     * symmetrically ((crop - side) // 2 before) when the side is shorter */
    int *x0[2] = {&g->crop_x0, &g->crop_y0};
    const int side[2] = {g->resized_w, g->resized_h};
    for (int i = 0; i < 2; i++) {
        const int d = side[i] - p->crop;
        if (d >= 0)
            *x0[i] = d / 2 + ((d % 2) && ((d / 2) % 2)); /* half to even */
        else
            *x0[i] = -((-d) / 2);
    }
    return SC_OK;
}

sc_status sc_imagenet_preprocess_image(const sc_imagenet_preprocess *p, const sc_image *img,
                                       float *x, sc_imagenet_geometry *g) {
    if (!p || !img || !x)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_preprocess_image: NULL argument");
    sc_imagenet_geometry geo;
    sc_status s = sc_imagenet_geometry_of(p, img->w, img->h, &geo);
    if (s) return s;
    sc_image rgb = {0}, resized = {0}, crop = {0};
    if (!(s = sc_image_to_rgb(img, &rgb)) &&
        !(s = sc_image_resize_pil(&rgb, geo.resized_w, geo.resized_h, p->filter, &resized)) &&
        !(s = sc_image_center_crop(&resized, p->crop, p->crop, &crop)) &&
        !(s = sc_image_normalize(&crop, p->mean, p->std)))
        memcpy(x, crop.data, (size_t)3 * p->crop * p->crop * sizeof(float));
    sc_image_free(&rgb);
    sc_image_free(&resized);
    sc_image_free(&crop);
    if (!s && g) *g = geo;
    return s;
}

sc_status sc_imagenet_classifier_preprocess(const sc_imagenet_classifier *m, const sc_image *img,
                                            float *x) {
    if (!m)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_preprocess: NULL model");
    return sc_imagenet_preprocess_image(&m->info.preprocess, img, x, NULL);
}

/* ---------------------------------------------------------------- inference */

/* Images per ViT forward: its buffers grow with the batch. */
#define VIT_CHUNK 8

sc_status sc_imagenet_classifier_logits(sc_imagenet_classifier *m, const float *x, int N,
                                        float *logits) {
    if (!m || !x || !logits || N < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_logits: bad argument");
    const int S = m->info.input_size;
    if (m->resnet) return sc_resnet_forward(m->resnet, x, N, S, S, NULL, logits);
    const size_t in_img = (size_t)3 * S * S;
    for (int n = 0; n < N; n += VIT_CHUNK) {
        const int B = SC_MIN(VIT_CHUNK, N - n);
        const float *out;
        sc_status s = sc_vit_forward(m->vit, x + n * in_img, B, 0, NULL, &out);
        if (s) return s;
        imagenet_vit_head(m, out, B, logits + (size_t)n * m->info.num_classes);
    }
    return SC_OK;
}

sc_status sc_imagenet_classifier_classify_batch(sc_imagenet_classifier *m, const float *x, int N,
                                                int k, sc_class_score *top, float *probs) {
    if (!m || !x || !top || N < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_classify: bad argument");
    const int K = m->info.num_classes;
    if (k < 1 || k > K)
        return sc_set_error(SC_ERR_INVALID_ARG, "classify: top-k %d out of range 1..%d", k, K);
    float *lg = sc_malloc((size_t)2 * N * K * sizeof(float));
    if (!lg) return sc_set_error(SC_ERR_NOMEM, "classify: out of memory");
    float *pr = lg + (size_t)N * K;
    sc_status s = sc_imagenet_classifier_logits(m, x, N, lg);
    if (!s) s = sc_softmax_forward(lg, N, K, pr);
    for (int n = 0; n < N && !s; n++) {
        const float *p = pr + (size_t)n * K;
        sc_class_score *t = top + (size_t)n * k;
        /* insertion into a sorted top-k: probability down, index up on ties */
        int have = 0;
        for (int c = 0; c < K; c++) {
            if (have == k && !(p[c] > t[k - 1].prob)) continue;
            int at = have < k ? have++ : k - 1;
            while (at > 0 && p[c] > t[at - 1].prob) {
                t[at] = t[at - 1];
                at--;
            }
            t[at].index = c, t[at].prob = p[c], t[at].logit = lg[(size_t)n * K + c];
            t[at].name = m->classes[c];
        }
        if (probs) memcpy(probs + (size_t)n * K, p, (size_t)K * sizeof(float));
    }
    sc_free(lg);
    return s;
}

sc_status sc_imagenet_classifier_classify(sc_imagenet_classifier *m, const sc_image *img, int k,
                                          sc_class_score *top, float *probs) {
    if (!m || !img || !top)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_imagenet_classifier_classify: NULL argument");
    const int S = m->info.input_size;
    float *x = sc_malloc((size_t)3 * S * S * sizeof(float));
    if (!x) return sc_set_error(SC_ERR_NOMEM, "classify: out of memory");
    sc_status s = sc_imagenet_classifier_preprocess(m, img, x);
    if (!s) s = sc_imagenet_classifier_classify_batch(m, x, 1, k, top, probs);
    sc_free(x);
    return s;
}
