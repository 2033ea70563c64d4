/* ResNet encoders (inference), see include/saccade/sc_resnet.h.
 *
 * Each conv carries its BN folded in (owned weights + bias). A conv is one
 * product over all output pixels of an image (M = OC, N = OH*OW, K =
 * C*KH*KW; 1x1 stride-1 convs multiply the input directly, others go through
 * im2col) by sc_gemm_packed with the weights packed at plan time, its
 * epilogue (bias, optional residual add, optional ReLU) fused into the
 * product's stores. Stride-1 3x3 convs can use Winograd instead (src/winograd.c):
 * F(4x4, 3x3) (36 products of (OC x C) @ (C x tiles), 4x fewer multiplies)
 * where there are many tiles, F(2x2, 3x3) (16 products, 2.25x fewer) where
 * there are fewer, im2col where there are too few (see pick_wino); the
 * transformed weights are made at plan time for the convs that use them.
 *
 * Threads (sc_par_run, sc_get_num_threads() of them): each conv is one or
 * a few fork-joins in which every thread multiplies its share of the product (output
 * channels when the weights are the bigger operand, else pixel columns) by
 * its own single-threaded sc_gemm_packed; im2col is split by input channel, Winograd by stage (see
 * src/winograd.c). OpenBLAS's own threads are off during the forward: on
 * ResNet's small products (layer3/4) the split is faster than OpenBLAS's
 * threading (tools/bench/resnet.sh), and with one pool there is no fight
 * between two pools' idle threads (sc_par_run's waits yield the CPU, so a
 * busy machine slows the forward down gracefully). Results are deterministic
 * for a fixed thread count. A batch (N > 1) instead runs each image whole on
 * one thread, the threads taking the next image left, each with a buffer set
 * of its own (so the arena holds min(threads, N) sets, not N images): no
 * joins inside an image's forward and no product split into narrow shares,
 * and an image's result is that of the same image alone on one thread. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_resnet.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_tensor.h"
#include "winograd.h"
#include "sc_internal.h"
#include "encoders/resnet_internal.h"

sc_resnet_params sc_resnet_default_params(void) {
    sc_resnet_params p = {0, 0, 1, 0, 0};
    return p;
}

/* ---------------------------------------------------------------- loading */

typedef struct loader {
    sc_safetensors *st;
    const char *path;
    unsigned char *used; /* per tensor in the file */
    size_t bytes;
    const char *prefix; /* prepended to every tensor name ("" for a plain file) */
    int borrow;         /* pre-folded convs may be used in place (params->borrow_weights) */
} loader;

/* prefix + name into buf (names are short; an overlong one cannot match). */
static const char *pname(const loader *L, const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s%s", L->prefix, name);
    return buf;
}

static long find_p(loader *L, const char *name) {
    char nm[320];
    return sc_safetensors_find(L->st, pname(L, name, nm, sizeof nm));
}

static void mark_used(loader *L, const char *name) {
    long i = find_p(L, name);
    if (i >= 0) L->used[i] = 1;
}

static sc_status get(loader *L, const char *name, int ndim, const int64_t *shape,
                     const float **out) {
    char nm[320];
    sc_status s = sc_safetensors_get_f32(L->st, pname(L, name, nm, sizeof nm), ndim, shape, out);
    if (s == SC_OK) mark_used(L, name);
    return s;
}

static sc_status load_conv(loader *L, rconv *c, const char *conv_name, const char *bn_name, int C,
                           int OC, int K, int stride, int pad, float eps) {
    char nm[160];
    c->C = C, c->OC = OC, c->K = K, c->stride = stride, c->pad = pad;
    const int64_t wshape[4] = {OC, C, K, K}, vshape[1] = {OC};
    const float *w, *g, *be, *mu, *var;
    sc_status s;
    snprintf(nm, sizeof nm, "%s.weight", conv_name);
    if ((s = get(L, nm, 4, wshape, &w))) return s;
    /* Pre-folded (convert_sat.py --fold-bn): the conv has a bias and no BN. */
    char bnw[160], cb[160];
    snprintf(bnw, sizeof bnw, "%s.weight", bn_name);
    snprintf(cb, sizeof cb, "%s.bias", conv_name);
    if (find_p(L, bnw) < 0 && find_p(L, cb) >= 0) {
        const float *bias;
        if ((s = get(L, cb, 1, vshape, &bias))) return s;
        size_t n = (size_t)OC * C * K * K;
        if (L->borrow) {
            c->w = (float *)w; /* read only: the forward never writes weights */
            c->b = (float *)bias;
            c->borrowed = 1;
            return SC_OK;
        }
        c->w = sc_malloc(n * sizeof(float));
        c->b = sc_malloc((size_t)OC * sizeof(float));
        if (!c->w || !c->b) return SC_ERR_NOMEM;
        memcpy(c->w, w, n * sizeof(float));
        memcpy(c->b, bias, (size_t)OC * sizeof(float));
        sc_safetensors_release(L->st, w, n * sizeof(float)); /* the copy is the one kept */
        L->bytes += (n + (size_t)OC) * sizeof(float);
        return SC_OK;
    }
    snprintf(nm, sizeof nm, "%s.weight", bn_name);
    if ((s = get(L, nm, 1, vshape, &g))) return s;
    snprintf(nm, sizeof nm, "%s.bias", bn_name);
    if ((s = get(L, nm, 1, vshape, &be))) return s;
    snprintf(nm, sizeof nm, "%s.running_mean", bn_name);
    if ((s = get(L, nm, 1, vshape, &mu))) return s;
    snprintf(nm, sizeof nm, "%s.running_var", bn_name);
    if ((s = get(L, nm, 1, vshape, &var))) return s;
    snprintf(nm, sizeof nm, "%s.num_batches_tracked", bn_name);
    mark_used(L, nm);
    for (int i = 0; i < OC; i++)
        if (!(var[i] >= 0.0f) || !isfinite(var[i]))
            return sc_set_error(SC_ERR_FORMAT, "%s: %s.running_var[%d] = %g is not a variance",
                                L->path, bn_name, i, (double)var[i]);
    size_t per = (size_t)C * K * K, n = (size_t)OC * per;
    c->w = sc_malloc(n * sizeof(float));
    c->b = sc_calloc((size_t)OC, sizeof(float));
    if (!c->w || !c->b) return SC_ERR_NOMEM;
    memcpy(c->w, w, n * sizeof(float));
    sc_safetensors_release(L->st, w, n * sizeof(float));
    L->bytes += (n + (size_t)OC) * sizeof(float);
    return sc_batchnorm2d_fold_into_conv(c->w, c->b, OC, (int)per, g, be, mu, var, eps);
}

static void free_conv(rconv *c) {
    if (!c->borrowed) {
        sc_free(c->w);
        sc_free(c->b);
    }
    sc_free(c->wp);
    sc_free(c->wino);
    memset(c, 0, sizeof *c);
}

static int wino_able(const sc_resnet *m, const rconv *c) {
    return m->winograd && c->K == 3 && c->stride == 1 && c->pad == 1;
}

/* Tile size for a stride-1 3x3 conv on an H x W input: the products are
 * (OC x C) @ (C x T) and OpenBLAS runs them well only for enough tiles T;
 * F(4x4) also reads 36/16 more transformed weights than F(2x2). Measured on
 * ResNet-101's shapes (tools/bench/bench_wino.c): F(4x4) from 64 tiles of
 * 4x4, else F(2x2) from 64 tiles of 2x2, else im2col. SACCADE_WINO_MIN_T4 /
 * SACCADE_WINO_MIN_T2 override the thresholds (for benchmarks). */
static int g_min_t4 = -1, g_min_t2 = -1;
static int pick_wino(const sc_resnet *m, const rconv *c, int H, int W) {
    if (!wino_able(m, c)) return 0;
    if (g_min_t4 < 0) {
        const char *e4 = getenv("SACCADE_WINO_MIN_T4"), *e2 = getenv("SACCADE_WINO_MIN_T2");
        g_min_t4 = e4 && *e4 ? atoi(e4) : 64;
        g_min_t2 = e2 && *e2 ? atoi(e2) : 64;
    }
    const long t4 = (long)((H + 3) / 4) * ((W + 3) / 4), t2 = (long)((H + 1) / 2) * ((W + 1) / 2);
    if (g_min_t4 > 0 && t4 >= g_min_t4) return 4;
    if (g_min_t2 > 0 && t2 >= g_min_t2) return 2;
    return 0;
}

static sc_status parse_config(const char *path, const char *json, char *arch, size_t cap,
                              float *eps) {
    if (!json)
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: no \"saccade.config\" in the file's __metadata__ (convert the "
                            "weights with tools/convert_torchvision.py)",
                            path);
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sc_set_error(SC_ERR_FORMAT, "%s: saccade.config is not a JSON object: %.80s", path,
                            json);
    }
    sc_status s = SC_OK;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "arch");
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "bn_eps");
    if (!cJSON_IsString(a) || !a->valuestring)
        s = sc_set_error(SC_ERR_FORMAT, "%s: saccade.config has no string \"arch\"", path);
    else if (strlen(a->valuestring) >= cap)
        s = sc_set_error(SC_ERR_UNSUPPORTED, "%s: unsupported arch \"%.40s...\"", path,
                         a->valuestring);
    else
        snprintf(arch, cap, "%s", a->valuestring);
    if (!s && e) {
        if (!cJSON_IsNumber(e) || !(e->valuedouble > 0) || e->valuedouble > 1)
            s = sc_set_error(SC_ERR_FORMAT, "%s: saccade.config bn_eps must be a number in (0, 1]",
                             path);
        else
            *eps = (float)e->valuedouble;
    }
    cJSON_Delete(root);
    return s;
}

/* The stem conv as the file has it (before bn1) and bn1 as a per-channel
 * affine scale, shift, for the "conv1" layer of the gradient code; a
 * pre-folded stem is its own conv1 (scale 1, shift 0). */
static sc_status load_stem_raw(sc_resnet *m, loader *L) {
    const int64_t ws[4] = {64, 3, 7, 7}, vs[1] = {64};
    const float *w, *g = NULL, *be = NULL, *mu = NULL, *var = NULL, *bias = NULL;
    sc_status s;
    if ((s = get(L, "conv1.weight", 4, ws, &w))) return s;
    const int folded = find_p(L, "bn1.weight") < 0;
    if (folded ? (s = get(L, "conv1.bias", 1, vs, &bias))
               : ((s = get(L, "bn1.weight", 1, vs, &g)) || (s = get(L, "bn1.bias", 1, vs, &be)) ||
                  (s = get(L, "bn1.running_mean", 1, vs, &mu)) ||
                  (s = get(L, "bn1.running_var", 1, vs, &var))))
        return s;
    rconv *c = &m->stem_raw;
    c->C = 3, c->OC = 64, c->K = 7, c->stride = 2, c->pad = 3;
    c->w = sc_malloc(64 * 147 * sizeof(float));
    c->b = sc_calloc(64, sizeof(float));
    m->stem_scale = sc_malloc(128 * sizeof(float));
    if (!c->w || !c->b || !m->stem_scale) return SC_ERR_NOMEM;
    m->stem_shift = m->stem_scale + 64;
    memcpy(c->w, w, 64 * 147 * sizeof(float));
    for (int i = 0; i < 64; i++) {
        if (folded) {
            c->b[i] = bias[i];
            m->stem_scale[i] = 1.0f, m->stem_shift[i] = 0.0f;
        } else { /* as sc_batchnorm2d_fold_into_conv */
            const float a = g[i] / sqrtf(var[i] + m->eps);
            m->stem_scale[i] = a, m->stem_shift[i] = be[i] - mu[i] * a;
        }
    }
    L->bytes += (64 * 147 + 64 * 3) * sizeof(float);
    return SC_OK;
}

void sc_resnet_free(sc_resnet *m) {
    if (!m) return;
    free_conv(&m->stem);
    free_conv(&m->stem_raw);
    sc_free(m->stem_scale);
    resnet_grad_free(m);
    for (int i = 0; i < m->nblocks; i++) {
        free_conv(&m->blocks[i].c1);
        free_conv(&m->blocks[i].c2);
        free_conv(&m->blocks[i].c3);
        free_conv(&m->blocks[i].ds);
    }
    sc_free(m->blocks);
    sc_free(m->fc_w);
    sc_free(m->fc_b);
    sc_arena_free(m->arena);
    sc_free(m);
}

static sc_status load_all(sc_resnet *m, loader *L, const sc_resnet_params *p) {
    sc_status s;
    const float eps = m->eps;
    if ((s = load_conv(L, &m->stem, "conv1", "bn1", 3, 64, 7, 2, 3, eps))) return s;
    if (p->backward && (s = load_stem_raw(m, L))) return s;
    int nb = m->layers[0] + m->layers[1] + m->layers[2] + m->layers[3];
    m->blocks = sc_calloc((size_t)nb, sizeof(rblock));
    if (!m->blocks) return SC_ERR_NOMEM;
    m->nblocks = nb;
    const int bott = m->info.bottleneck, exp = bott ? 4 : 1;
    int inC = 64, bi = 0;
    for (int l = 0; l < 4; l++) {
        const int width = 64 << l, outC = width * exp;
        for (int i = 0; i < m->layers[l]; i++, bi++) {
            rblock *b = &m->blocks[bi];
            const int stride = (l > 0 && i == 0) ? 2 : 1;
            char cn[64], bn[64];
#define PFX(buf, what) snprintf(buf, sizeof buf, "layer%d.%d.%s", l + 1, i, what)
            PFX(cn, "conv1");
            PFX(bn, "bn1");
            if (bott) {
                if ((s = load_conv(L, &b->c1, cn, bn, inC, width, 1, 1, 0, eps))) return s;
                PFX(cn, "conv2");
                PFX(bn, "bn2");
                if ((s = load_conv(L, &b->c2, cn, bn, width, width, 3, stride, 1, eps))) return s;
                PFX(cn, "conv3");
                PFX(bn, "bn3");
                if ((s = load_conv(L, &b->c3, cn, bn, width, outC, 1, 1, 0, eps))) return s;
            } else {
                if ((s = load_conv(L, &b->c1, cn, bn, inC, width, 3, stride, 1, eps))) return s;
                PFX(cn, "conv2");
                PFX(bn, "bn2");
                if ((s = load_conv(L, &b->c2, cn, bn, width, width, 3, 1, 1, eps))) return s;
            }
            if (stride != 1 || inC != outC) {
                b->has_ds = 1;
                PFX(cn, "downsample.0");
                PFX(bn, "downsample.1");
                if ((s = load_conv(L, &b->ds, cn, bn, inC, outC, 1, stride, 0, eps))) return s;
            }
#undef PFX
            inC = outC;
        }
    }
    m->info.feature_channels = inC;
    if (p->include_head) {
        long fi = find_p(L, "fc.weight");
        if (fi < 0)
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: no tensor named fc.weight (include_head needs the classifier)",
                                L->path);
        sc_st_tensor_info ti;
        if ((s = sc_safetensors_info(L->st, (size_t)fi, &ti))) return s;
        if (ti.ndim != 2 || ti.shape[1] != inC || ti.shape[0] < 1 || ti.shape[0] > (1 << 24))
            return sc_set_error(SC_ERR_SHAPE, "%s: tensor fc.weight has %d dims, expected [*, %d]",
                                L->path, ti.ndim, inC);
        const int nc = (int)ti.shape[0];
        const int64_t ws[2] = {nc, inC}, bs[1] = {nc};
        const float *w, *bb;
        if ((s = get(L, "fc.weight", 2, ws, &w)) || (s = get(L, "fc.bias", 1, bs, &bb))) return s;
        m->fc_w = sc_malloc((size_t)nc * inC * sizeof(float));
        m->fc_b = sc_malloc((size_t)nc * sizeof(float));
        if (!m->fc_w || !m->fc_b) return SC_ERR_NOMEM;
        memcpy(m->fc_w, w, (size_t)nc * inC * sizeof(float));
        memcpy(m->fc_b, bb, (size_t)nc * sizeof(float));
        L->bytes += ((size_t)nc * inC + nc) * sizeof(float);
        m->info.has_head = 1;
        m->info.num_classes = nc;
    } else {
        mark_used(L, "fc.weight");
        mark_used(L, "fc.bias");
    }
    /* Anything left over does not belong to this architecture. */
    size_t cnt = sc_safetensors_count(L->st);
    for (size_t i = 0; i < cnt; i++) {
        if (L->used[i]) continue;
        sc_st_tensor_info ti;
        if ((s = sc_safetensors_info(L->st, i, &ti))) return s;
        if (strncmp(ti.name, L->prefix, strlen(L->prefix)) != 0) continue; /* not ours */
        size_t ln = strlen(ti.name), sl = strlen(".num_batches_tracked");
        if (ln >= sl && !strcmp(ti.name + ln - sl, ".num_batches_tracked")) continue;
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: tensor %s is not part of %s (wrong \"arch\" in saccade.config?)",
                            L->path, ti.name, m->info.arch);
    }
    m->info.weight_bytes = m->base_bytes = L->bytes;
    return SC_OK;
}

static const struct {
    const char *name;
    int depth, bott, layers[4];
} g_archs[] = {{"resnet18", 18, 0, {2, 2, 2, 2}},
               {"resnet34", 34, 0, {3, 4, 6, 3}},
               {"resnet50", 50, 1, {3, 4, 6, 3}},
               {"resnet101", 101, 1, {3, 4, 23, 3}},
               {"resnet152", 152, 1, {3, 8, 36, 3}}};

static sc_status check_params(const sc_resnet_params *params, sc_resnet_params *p, const char *fn) {
    *p = params ? *params : sc_resnet_default_params();
    if (p->threads < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: threads %d < 0", fn, p->threads);
    sc_status s;
    if (p->threads > 0 && (s = sc_set_num_threads(p->threads))) return s;
    return SC_OK;
}

/* Build a model from an open file: arch already in m->info.arch. */
static sc_status load_from(sc_resnet *m, sc_safetensors *st, const char *path, const char *prefix,
                           const sc_resnet_params *p) {
    loader L = {st, path, NULL, 0, prefix, p->borrow_weights != 0};
    if (L.borrow) m->st = st;
    int found = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(m->info.arch, g_archs[i].name)) found = i;
    if (found < 0)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "%s: unsupported arch \"%s\" (supported: resnet18, "
                            "resnet34, resnet50, resnet101, resnet152)",
                            path, m->info.arch);
    m->info.depth = g_archs[found].depth;
    m->info.bottleneck = g_archs[found].bott;
    memcpy(m->layers, g_archs[found].layers, sizeof m->layers);
    L.used = sc_calloc(sc_safetensors_count(st) + 1, 1);
    if (!L.used) return SC_ERR_NOMEM;
    sc_status s = load_all(m, &L, p);
    sc_free(L.used);
    return s;
}

sc_status sc_resnet_load(const char *path, const sc_resnet_params *params, sc_resnet **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_load: out is NULL");
    *out = NULL;
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_load: path is NULL");
    sc_resnet_params p;
    sc_status s = check_params(params, &p, "sc_resnet_load");
    if (s) return s;
    sc_safetensors *st = NULL;
    if ((s = sc_safetensors_open(path, &st))) return s;
    sc_resnet *m = sc_calloc(1, sizeof *m);
    if (!m) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    m->eps = 1e-5f;
    m->winograd = p.winograd != 0;
    m->backward = p.backward != 0;
    if ((s = parse_config(path, sc_safetensors_metadata(st, "saccade.config"), m->info.arch,
                          sizeof m->info.arch, &m->eps)))
        goto done;
    s = load_from(m, st, path, "", &p);
done:
    sc_safetensors_free(st);
    if (s) {
        sc_resnet_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_resnet_load_st(sc_safetensors *st, const char *prefix, const sc_resnet_params *params,
                            sc_resnet **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_load_st: out is NULL");
    *out = NULL;
    if (!st) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_load_st: st is NULL");
    if (!prefix) prefix = "";
    if (strlen(prefix) > 200)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_load_st: prefix too long");
    sc_resnet_params p;
    sc_status s = check_params(params, &p, "sc_resnet_load_st");
    if (s) return s;
    /* The architecture from the tensors: bottleneck blocks have conv3, and the
     * number of blocks per layer is the count of layerL.i.conv1.weight. */
    char nm[320];
    snprintf(nm, sizeof nm, "%slayer1.0.conv3.weight", prefix);
    int bott = sc_safetensors_find(st, nm) >= 0, layers[4];
    for (int l = 0; l < 4; l++) {
        int n = 0;
        for (;; n++) {
            snprintf(nm, sizeof nm, "%slayer%d.%d.conv1.weight", prefix, l + 1, n);
            if (sc_safetensors_find(st, nm) < 0 || n > 64) break;
        }
        layers[l] = n;
    }
    int found = -1;
    for (int i = 0; i < 5; i++)
        if (g_archs[i].bott == bott && !memcmp(g_archs[i].layers, layers, sizeof layers)) found = i;
    if (found < 0)
        return sc_set_error(SC_ERR_FORMAT,
                            "sc_resnet_load_st: tensors under \"%s\" are not a torchvision "
                            "resnet18/34/50/101/152 (blocks per layer %d,%d,%d,%d%s)",
                            prefix, layers[0], layers[1], layers[2], layers[3],
                            bott ? ", bottleneck" : "");
    sc_resnet *m = sc_calloc(1, sizeof *m);
    if (!m) return SC_ERR_NOMEM;
    m->eps = 1e-5f;
    m->winograd = p.winograd != 0;
    m->backward = p.backward != 0;
    snprintf(m->info.arch, sizeof m->info.arch, "%s", g_archs[found].name);
    if ((s = load_from(m, st, "sc_resnet_load_st", prefix, &p))) {
        sc_resnet_free(m);
        return s;
    }
    *out = m;
    return SC_OK;
}

sc_status sc_resnet_get_info(const sc_resnet *m, sc_resnet_info *info) {
    if (!m || !info) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_get_info: NULL argument");
    *info = m->info;
    return SC_OK;
}

/* ---------------------------------------------------------------- sizes */

int resnet_conv_out(int n, const rconv *c) {
    return (n + 2 * c->pad - c->K) / c->stride + 1;
}

/* im2col runs in equal blocks of output rows of at most COL_BLOCK floats
 * (at least one row): the stem's and layer1's full im2col at 256x256 would be
 * 9.6 MB of the arena. 2.5 MB keeps layer3 (16x16) whole and the blocks of
 * layer1-2 at 512+ columns, where sgemm keeps its speed. */
#define COL_BLOCK ((size_t)640 * 1024)

static int col_rows(const rconv *c, int OH, int OW) {
    size_t per_row = (size_t)c->C * c->K * c->K * OW;
    size_t full = per_row * (size_t)OH, nb = (full + COL_BLOCK - 1) / COL_BLOCK;
    size_t rows = ((size_t)OH + nb - 1) / nb; /* equal blocks, no thin remainder */
    return rows < 1 ? 1 : (int)rows;
}

static size_t col_floats(const sc_resnet *m, const rconv *c, int H, int W) {
    int wm = pick_wino(m, c, H, W);
    if (wm) return sc_winograd_workspace_floats(wm, c->C, c->OC, H, W);
    if (c->K == 1 && c->stride == 1) return 0;
    int OH = resnet_conv_out(H, c), OW = resnet_conv_out(W, c);
    return (size_t)c->C * c->K * c->K * col_rows(c, OH, OW) * OW;
}

sc_status resnet_walk(const sc_resnet *m, int H, int W, sizes *z) {
    memset(z, 0, sizeof *z);
    if (H < 1 || W < 1 || H > 65536 || W > 65536)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet: input size %dx%d out of range", H, W);
    int h = resnet_conv_out(H, &m->stem), w = resnet_conv_out(W, &m->stem);
    z->act = (size_t)64 * h * w;
    z->maxn = (int)SC_MIN((long)h * w, INT_MAX); /* later convs have fewer pixels */
    z->col = col_floats(m, &m->stem, H, W);
    h = (h + 2 - 3) / 2 + 1, w = (w + 2 - 3) / 2 + 1; /* max pool */
    if (h < 1 || w < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet: input %dx%d is too small", H, W);
    z->act = SC_MAX(z->act, (size_t)64 * h * w);
    for (int i = 0; i < m->nblocks; i++) {
        const rblock *b = &m->blocks[i];
        const rconv *cs[4] = {&b->c1, &b->c2, m->info.bottleneck ? &b->c3 : NULL,
                              b->has_ds ? &b->ds : NULL};
        const int last = m->info.bottleneck ? 2 : 1;
        int ch = h, cw = w, oh = h, ow = w;
        for (int k = 0; k <= last; k++) {
            z->col = SC_MAX(z->col, col_floats(m, cs[k], ch, cw));
            oh = resnet_conv_out(ch, cs[k]), ow = resnet_conv_out(cw, cs[k]);
            if (oh < 1 || ow < 1)
                return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet: input %dx%d is too small", H,
                                    W);
            size_t n = (size_t)cs[k]->OC * oh * ow;
            if (k < last)
                z->tmp = SC_MAX(z->tmp, n);
            else
                z->act = SC_MAX(z->act, n);
            ch = oh, cw = ow;
        }
        if (cs[3]) {
            z->col = SC_MAX(z->col, col_floats(m, cs[3], h, w));
            z->act = SC_MAX(z->act, (size_t)cs[3]->OC * oh * ow);
        }
        h = oh, w = ow;
    }
    z->FH = h, z->FW = w;
    return SC_OK;
}

sc_status sc_resnet_feature_size(const sc_resnet *m, int H, int W, int *FH, int *FW) {
    if (!m) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_feature_size: model is NULL");
    sizes z;
    sc_status s = resnet_walk(m, H, W, &z);
    if (s) return s;
    if (FH) *FH = z.FH;
    if (FW) *FW = z.FW;
    return SC_OK;
}

/* The allocation sequence of a forward pass (same for plan and real arena):
 * nsets buffer sets, set 0 with a product workspace per planned thread (one
 * image on all threads), the others with one (an image on one thread). */
static sc_status alloc_bufs(sc_resnet *m, sc_arena *a, const sizes *z) {
    m->col_n = z->col;
    m->gemm_n = sc_gemm_packed_workspace_floats(z->maxn);
    for (int i = 0; i < m->nsets; i++) {
        rbufs *b = &m->buf[i];
        b->x = sc_arena_alloc_floats(a, z->act);
        b->y = sc_arena_alloc_floats(a, z->act);
        b->ds = sc_arena_alloc_floats(a, z->act);
        b->t1 = sc_arena_alloc_floats(a, z->tmp);
        b->t2 = sc_arena_alloc_floats(a, z->tmp);
        b->col = sc_arena_alloc_floats(a, z->col);
        b->gemm = sc_arena_alloc_floats(a, m->gemm_n * (size_t)(i ? 1 : m->plan_threads));
        b->pool = sc_arena_alloc_floats(a, (size_t)m->info.feature_channels);
        if (!b->x || !b->y || !b->ds || !b->t1 || !b->t2 || !b->col || !b->gemm || !b->pool)
            return SC_ERR_NOMEM;
    }
    return SC_OK;
}

/* Give conv c the weights its path needs for an H x W input: Winograd's
 * transformed ones, or the packed ones of the im2col / 1x1 path (the other
 * kind is dropped). The plain weights are then kept once, in the derived
 * form: borrowed ones leave the process's memory (their pages of the file
 * mapping are released; a later plan reads them back from the file), owned
 * ones are freed if the conv can never use Winograd (else kept for
 * re-planning). bytes counts what is added to the owned plain weights. */
sc_status resnet_prepare_conv(sc_resnet *m, rconv *c, int H, int W, size_t *bytes) {
    const int want = pick_wino(m, c, H, W);
    if (want != c->wino_m) {
        sc_free(c->wino);
        c->wino = NULL;
        c->wino_m = 0;
        if (want) {
            size_t n = sc_winograd_weight_floats(want, c->C, c->OC);
            c->wino = n ? sc_malloc(n * sizeof(float)) : NULL;
            if (!c->wino) return SC_ERR_NOMEM;
            sc_status s = sc_winograd_weights(want, c->w, c->C, c->OC, c->wino);
            if (s) return s;
            c->wino_m = want;
        }
    }
    const int Kd = c->C * c->K * c->K;
    if (want) {
        sc_free(c->wp);
        c->wp = NULL;
    } else if (!c->wp) {
        size_t n = sc_gemm_pack_floats(c->OC, Kd);
        c->wp = n ? sc_malloc(n * sizeof(float)) : NULL;
        if (!c->wp) return SC_ERR_NOMEM;
        sc_status s = sc_gemm_pack(c->OC, Kd, c->w, Kd, c->wp);
        if (s) return s;
    }
    if (c->borrowed) { /* read back from the file if a later plan needs them */
        sc_safetensors_release(m->st, c->w, (size_t)c->OC * Kd * sizeof(float));
    } else if (c->wp && c->w && !wino_able(m, c) && !m->backward) {
        sc_free(c->w);
        c->w = NULL;
    }
    if (c->wino_m) *bytes += sc_winograd_weight_floats(c->wino_m, c->C, c->OC) * sizeof(float);
    if (c->wp && (c->w || c->borrowed)) *bytes += sc_gemm_pack_floats(c->OC, Kd) * sizeof(float);
    return SC_OK;
}

/* Each conv's weights for an H x W input (same walk as the forward);
 * weight_bytes counts the added ones. */
static sc_status prepare_weights(sc_resnet *m, int H, int W) {
    size_t bytes = m->base_bytes;
    sc_status s;
    if ((s = resnet_prepare_conv(m, &m->stem, H, W, &bytes))) return s;
    if (m->backward && (s = resnet_prepare_conv(m, &m->stem_raw, H, W, &bytes))) return s;
    int h = resnet_conv_out(H, &m->stem), w = resnet_conv_out(W, &m->stem);
    h = (h + 2 - 3) / 2 + 1, w = (w + 2 - 3) / 2 + 1;
    for (int i = 0; i < m->nblocks; i++) {
        rblock *b = &m->blocks[i];
        if (b->has_ds && (s = resnet_prepare_conv(m, &b->ds, h, w, &bytes))) return s;
        rconv *cs[3] = {&b->c1, &b->c2, m->info.bottleneck ? &b->c3 : NULL};
        for (int k = 0; k < 3 && cs[k]; k++) {
            if ((s = resnet_prepare_conv(m, cs[k], h, w, &bytes))) return s;
            h = resnet_conv_out(h, cs[k]), w = resnet_conv_out(w, cs[k]);
        }
    }
    m->info.weight_bytes = bytes;
    return SC_OK;
}

sc_status sc_resnet_plan(sc_resnet *m, int N, int H, int W) {
    if (!m) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_plan: model is NULL");
    if (N < 1) return sc_set_error(SC_ERR_INVALID_ARG, "sc_resnet_plan: batch size %d < 1", N);
    sizes z;
    sc_status s = resnet_walk(m, H, W, &z);
    if (s) return s;
    sc_arena_free(m->arena);
    m->arena = NULL;
    m->info.arena_bytes = 0;
    m->info.planned_N = m->info.planned_H = m->info.planned_W = 0;
    /* Winograd's workspace and bgemm hold a product buffer per thread */
    m->plan_threads = SC_MAX(1, SC_MIN(sc_get_num_threads(), RESNET_MAX_SETS));
    m->nsets = SC_MIN(m->plan_threads, N); /* a batch runs an image per thread */
    if ((s = prepare_weights(m, H, W))) return s;
    sc_arena *plan = sc_arena_plan();
    if (!plan) return SC_ERR_NOMEM;
    s = alloc_bufs(m, plan, &z);
    size_t peak = sc_arena_peak(plan);
    sc_arena_free(plan);
    if (s) return s;
    m->arena = sc_arena_create(peak);
    if (!m->arena) return SC_ERR_NOMEM;
    if ((s = alloc_bufs(m, m->arena, &z))) return s;
    SC_ASSERT(sc_arena_peak(m->arena) == peak);
    m->info.arena_bytes = peak;
    m->info.planned_N = N, m->info.planned_H = H, m->info.planned_W = W;
    return SC_OK;
}

/* ---------------------------------------------------------------- kernels */

/* x (C, H, W) -> col (C*K*K, (oh1-oh0)*OW) for output rows [oh0, oh1), row
 * (c K + kh) K + kw; channels [c0, c1) only. */
static void im2col(const rconv *c, const float *x, int H, int W, int oh0, int oh1, int OW,
                   float *col, int c0, int c1) {
    const int K = c->K, s = c->stride, p = c->pad;
    const size_t OHW = (size_t)(oh1 - oh0) * OW;
    for (int ch = c0; ch < c1; ch++) {
        const float *xc = x + (size_t)ch * H * W;
        for (int kh = 0; kh < K; kh++)
            for (int kw = 0; kw < K; kw++) {
                float *dst = col + ((size_t)(ch * K + kh) * K + kw) * OHW;
                const int offw = kw - p;
                /* output columns whose input column ow*s + offw is inside [0, W) */
                int lo = offw >= 0 ? 0 : (-offw + s - 1) / s;
                int hi = W - offw <= 0 ? 0 : (W - offw + s - 1) / s;
                if (lo > OW) lo = OW;
                if (hi > OW) hi = OW;
                if (hi < lo) hi = lo;
                for (int oh = oh0; oh < oh1; oh++, dst += OW) {
                    const int ih = oh * s + kh - p;
                    if (ih < 0 || ih >= H) {
                        memset(dst, 0, sizeof(float) * (size_t)OW);
                        continue;
                    }
                    const float *src = xc + (size_t)ih * W + offw;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (s == 1)
                        memcpy(dst + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
                    else if (s == 2) /* stem, downsample, stride-2 3x3: constant stride */
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[(size_t)ow * 2];
                    else
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[(size_t)ow * s];
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                }
            }
    }
}

/* One conv's job for sc_par_run: out (M x N, ld) = w (M x Kd) @ B (Kd x N,
 * ldb) then the epilogue, for output columns from col0 of out and res; or
 * (im2col set) the im2col of output rows [oh0, oh1) into col. */
typedef struct cjob {
    const rconv *c;
    const float *x, *res, *bm;
    float *out, *col, *gws; /* gws: sc_gemm_packed workspaces, gwn floats per thread */
    int H, W, OW, oh0, oh1, im2col, relu, M, N, Kd, ldb;
    size_t ld, col0, gwn;
} cjob;

/* This thread's share: output rows when the weights are at least as big as
 * B (each thread then reads only its rows of the weights), else columns
 * (rows on multiples of 16, columns of 32: whole register tiles). The
 * epilogue is fused into the product's last stores. */
static void conv_share(void *arg, int tid, int nt) {
    const cjob *j = arg;
    if (j->im2col) {
        int c0, c1;
        sc_par_share(j->c->C, 1, tid, nt, &c0, &c1);
        im2col(j->c, j->x, j->H, j->W, j->oh0, j->oh1, j->OW, j->col, c0, c1);
        return;
    }
    int m0 = 0, m1 = j->M, n0 = 0, n1 = j->N;
    if (j->M >= j->N)
        sc_par_share(j->M, 16, tid, nt, &m0, &m1);
    else
        sc_par_share(j->N, 32, tid, nt, &n0, &n1);
    if (m1 <= m0 || n1 <= n0) return;
    const size_t at = j->col0 + n0;
    const sc_gemm_epilogue ep = {j->c->b, j->res ? j->res + at : NULL, j->relu, 0};
    sc_status s = sc_gemm_packed(j->c->wp, j->M, j->Kd, m0, m1, n1 - n0, j->bm + n0, j->ldb,
                                 j->out + at, (int)j->ld, &ep, j->gws + (size_t)tid * j->gwn);
    SC_ASSERT(s == SC_OK); /* shapes fixed at plan time */
}

/* One conv (+ folded BN) + optional residual + optional ReLU, one image, on
 * nt threads. */
sc_status resnet_conv_run(const sc_resnet *m, const rbufs *b, const rconv *c, const float *x, int H,
                          int W, float *out, const float *res, int relu, int *OHp, int *OWp,
                          int nt) {
    const int OH = resnet_conv_out(H, c), OW = resnet_conv_out(W, c);
    *OHp = OH, *OWp = OW;
    if (c->wino_m) /* fails only on memory for very wide images */
        return sc_winograd_conv3x3(c->wino_m, c->wino, c->b, x, 1, c->C, c->OC, H, W, res, relu,
                                   out, b->col, m->col_n);
    const size_t OHW = (size_t)OH * OW;
    cjob j = {c,
              x,
              res,
              x,
              out,
              b->col,
              b->gemm,
              H,
              W,
              OW,
              0,
              0,
              0,
              relu,
              c->OC,
              (int)OHW,
              c->C * c->K * c->K,
              (int)OHW,
              OHW,
              0,
              m->gemm_n};
    if (c->K == 1 && c->stride == 1) {
        sc_par_run(nt, conv_share, &j);
        return SC_OK;
    }
    const int rows = col_rows(c, OH, OW);
    for (int oh0 = 0; oh0 < OH; oh0 += rows) {
        j.oh0 = oh0, j.oh1 = SC_MIN(oh0 + rows, OH);
        j.im2col = 1;
        sc_par_run(nt, conv_share, &j);
        j.im2col = 0;
        j.bm = b->col, j.N = j.ldb = (j.oh1 - oh0) * OW, j.col0 = (size_t)oh0 * OW;
        sc_par_run(nt, conv_share, &j);
    }
    return SC_OK;
}

/* 3x3 stride-2 pad-1 max pool (C, H, W) -> (C, OH, OW), NaN propagating;
 * branch-free (data-dependent branches cost more than the compares). */
static inline float max_nan(float v, float t) {
    return (t > v || t != t) ? t : v;
}

typedef struct pjob {
    const float *x;
    float *out, *tmp;
    int C, H, W, OH, OW;
} pjob;

static void maxpool_share(void *arg, int tid, int nt) {
    const pjob *j = arg;
    const int H = j->H, W = j->W, OH = j->OH, OW = j->OW;
    float *restrict vm = j->tmp + (size_t)tid * W; /* max over the window's rows */
    int c0, c1;
    sc_par_share(j->C, 1, tid, nt, &c0, &c1);
    for (int ch = c0; ch < c1; ch++) {
        const float *xc = j->x + (size_t)ch * H * W;
        float *oc = j->out + (size_t)ch * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            const int h0 = SC_MAX(2 * oh - 1, 0), h1 = SC_MIN(2 * oh + 2, H);
            const float *restrict r0 = xc + (size_t)h0 * W;
            for (int jj = 0; jj < W; jj++) vm[jj] = r0[jj];
            for (int i = h0 + 1; i < h1; i++) {
                const float *restrict ri = xc + (size_t)i * W;
                for (int jj = 0; jj < W; jj++) vm[jj] = max_nan(vm[jj], ri[jj]);
            }
            float *restrict o = oc + (size_t)oh * OW;
            for (int ow = 0; ow < OW; ow++) {
                const int w0 = SC_MAX(2 * ow - 1, 0), w1 = SC_MIN(2 * ow + 2, W);
                float v = vm[w0];
                for (int jj = w0 + 1; jj < w1; jj++) v = max_nan(v, vm[jj]);
                o[ow] = v;
            }
        }
    }
}

/* tmp: nt * W floats */
void resnet_maxpool(const float *x, int C, int H, int W, float *out, int OH, int OW, float *tmp,
                    int nt) {
    pjob j = {x, out, tmp, C, H, W, OH, OW};
    sc_par_run(nt, maxpool_share, &j);
}

void resnet_head(const sc_resnet *m, const float *feat, int hw, float *pool, float *logits) {
    const int FC = m->info.feature_channels, nc = m->info.num_classes;
    for (int ch = 0; ch < FC; ch++) {
        double acc = 0;
        for (int i = 0; i < hw; i++) acc += feat[(size_t)ch * hw + i];
        pool[ch] = (float)(acc / (double)hw);
    }
    memcpy(logits, m->fc_b, (size_t)nc * sizeof(float));
    sc_sgemv(SC_NO_TRANS, nc, FC, 1.0f, m->fc_w, FC, pool, 1.0f, logits);
}

/* One image x (3, H, W) -> features (FC, FH, FW) and/or logits (nc), on
 * nt threads with buffer set bs. */
static sc_status forward_one(const sc_resnet *m, const rbufs *bs, const float *x, int H, int W,
                             const sizes *z, int nt, float *features, float *logits) {
    sc_status s;
    int h, w, oh, ow;
    if ((s = resnet_conv_run(m, bs, &m->stem, x, H, W, bs->y, NULL, 1, &h, &w, nt))) return s;
    oh = (h + 2 - 3) / 2 + 1, ow = (w + 2 - 3) / 2 + 1;
    SC_ASSERT(m->col_n >= (size_t)nt * w); /* the stem's im2col holds 147+ rows of w */
    resnet_maxpool(bs->y, 64, h, w, bs->x, oh, ow, bs->col, nt);
    h = oh, w = ow;
    float *cur = bs->x, *nxt = bs->y;
    for (int i = 0; i < m->nblocks; i++) {
        const rblock *b = &m->blocks[i];
        const float *id = cur;
        int h1, w1, h2, w2, h3, w3;
        if (b->has_ds) {
            if ((s = resnet_conv_run(m, bs, &b->ds, cur, h, w, bs->ds, NULL, 0, &h1, &w1, nt)))
                return s;
            id = bs->ds;
        }
        if ((s = resnet_conv_run(m, bs, &b->c1, cur, h, w, bs->t1, NULL, 1, &h1, &w1, nt)))
            return s;
        if (m->info.bottleneck) {
            if ((s = resnet_conv_run(m, bs, &b->c2, bs->t1, h1, w1, bs->t2, NULL, 1, &h2, &w2,
                                     nt)) ||
                (s = resnet_conv_run(m, bs, &b->c3, bs->t2, h2, w2, nxt, id, 1, &h3, &w3, nt)))
                return s;
        } else {
            if ((s = resnet_conv_run(m, bs, &b->c2, bs->t1, h1, w1, nxt, id, 1, &h3, &w3, nt)))
                return s;
        }
        h = h3, w = w3;
        float *t = cur;
        cur = nxt;
        nxt = t;
    }
    SC_ASSERT(h == z->FH && w == z->FW);
    const int FC = m->info.feature_channels;
    if (features) memcpy(features, cur, (size_t)FC * h * w * sizeof(float));
    if (logits) resnet_head(m, cur, h * w, bs->pool, logits);
    return SC_OK;
}

sc_status resnet_ensure_plan(sc_resnet *m, int N, int H, int W, int nt, const char *fn) {
    if (!m->arena || m->info.planned_H != H || m->info.planned_W != W || m->info.planned_N < 1 ||
        nt > m->plan_threads || (N > 1 && m->nsets < SC_MIN(nt, N)))
        return sc_resnet_plan(m, N, H, W);
    if (N < 1) return sc_set_error(SC_ERR_INVALID_ARG, "%s: batch size %d < 1", fn, N);
    return SC_OK;
}

/* A batch: each share (buffer set tid) takes the next image not yet taken
 * and runs it on one thread, so a share whose thread the scheduler holds
 * back leaves its images to the others. Every image is computed the same
 * way whichever share takes it: results do not depend on the split. */
typedef struct ijob {
    const sc_resnet *m;
    const float *x;
    const sizes *z;
    float *features, *logits;
    int N, H, W;
    atomic_int next;
    atomic_int status; /* the first failure, else SC_OK */
} ijob;

static void images_share(void *arg, int tid, int nt) {
    (void)nt;
    ijob *j = arg;
    const sc_resnet *m = j->m;
    const size_t in_img = (size_t)3 * j->H * j->W,
                 feat = (size_t)m->info.feature_channels * j->z->FH * j->z->FW;
    for (int n; (n = atomic_fetch_add(&j->next, 1)) < j->N;) {
        sc_status s = forward_one(m, &m->buf[tid], j->x + n * in_img, j->H, j->W, j->z, 1,
                                  j->features ? j->features + n * feat : NULL,
                                  j->logits ? j->logits + (size_t)n * m->info.num_classes : NULL);
        int ok = SC_OK;
        if (s) atomic_compare_exchange_strong(&j->status, &ok, (int)s);
    }
}

sc_status sc_resnet_forward(sc_resnet *m, const float *x, int N, int H, int W, float *features,
                            float *logits) {
    static const char fn[] = "sc_resnet_forward";
    if (!m || !x) return sc_set_error(SC_ERR_INVALID_ARG, "%s: model or input is NULL", fn);
    if (!features && !logits)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: features and logits are both NULL", fn);
    if (logits && !m->info.has_head)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: logits requested but the model was loaded without the head "
                            "(set include_head in sc_resnet_params)",
                            fn);
    const int nt = SC_MAX(1, SC_MIN(sc_get_num_threads(), RESNET_MAX_SETS));
    sc_status s = resnet_ensure_plan(m, N, H, W, nt, fn);
    if (s) return s;
    sizes z;
    if ((s = resnet_walk(m, H, W, &z))) return s;
    const size_t feat = (size_t)m->info.feature_channels * z.FH * z.FW, in_img = (size_t)3 * H * W;
    /* one pool: our threads, each with a single-threaded OpenBLAS */
    const int prev = nt > 1 ? sc_blas_serial_begin() : 1;
    const int sets = SC_MIN(SC_MIN(nt, N), m->nsets);
    if (sets > 1) { /* an image per thread: no joins inside an image's forward */
        ijob j = {m, x, &z, features, logits, N, H, W, 0, SC_OK};
        sc_par_run(sets, images_share, &j);
        if ((s = (sc_status)atomic_load(&j.status)))
            sc_set_error(s, "%s: an image's forward failed (out of memory?)", fn);
    } else {
        for (int n = 0; n < N && !s; n++)
            s = forward_one(m, &m->buf[0], x + n * in_img, H, W, &z, nt,
                            features ? features + n * feat : NULL,
                            logits ? logits + (size_t)n * m->info.num_classes : NULL);
    }
    if (nt > 1) sc_blas_serial_end(prev);
    return s;
}
