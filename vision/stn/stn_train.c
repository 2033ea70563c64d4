/* Training and testing ST-CNNs and plain CNNs on distorted Fashion-MNIST
 * (sc_stn_train.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_optim.h"
#include "saccade/sc_stn_train.h"

#define TEST_CHUNK 500

sc_stn_train_params sc_stn_train_default_params(void) {
    sc_stn_train_params p = {.use_st = 1,
                             .epochs = 3,
                             .batch = 64,
                             .lr = 2e-3f,
                             .n_channels = 3,
                             .channels = {20, 40, 80},
                             .n_loc_channels = 3,
                             .loc_channels = {8, 16, 16},
                             .loc_hidden = 16,
                             .transform = SC_STN_AFFINE,
                             .zoom = 0.6f,
                             .init_scale = 1.0f,
                             .loc_lr_scale = 0.1f};
    return p;
}

static sc_status check_params(const sc_stn_train_params *p) {
    if (!p || p->epochs < 1 || p->batch < 1 || !(p->lr > 0) || p->max_steps < 0 ||
        p->n_channels < 1 || p->n_channels > SC_CNN_MAX_STAGES || p->n_loc_channels < 1 ||
        p->n_loc_channels > SC_CNN_MAX_STAGES || p->glimpse < 0 || p->loc_warmup < 0 ||
        !(p->loc_lr_scale >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_train: bad parameters");
    return SC_OK;
}

sc_status sc_stn_train_models(const sc_stn_train_params *p, int canvas, const char *const *names,
                              int n_classes, sc_stcnn **st, sc_classifier **cls) {
    sc_status s = check_params(p);
    if (s) return s;
    if (!st || !cls || canvas < 8)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_train_models: bad arguments");
    *st = NULL;
    *cls = NULL;
    const int glimpse = p->glimpse ? p->glimpse : canvas;
    sc_classifier_config cc = sc_classifier_default_config();
    cc.encoder = sc_cnn_config_make(1, p->n_channels, p->channels);
    for (int k = 0; k < p->n_channels - 1 && k < 2; k++) cc.encoder.pool[k] = 1;
    cc.dropout = 0.1f;
    cc.head_grid = p->head_grid;
    cc.num_classes = n_classes;
    cc.in_h = cc.in_w = p->use_st ? glimpse : canvas;
    if (!p->use_st) return sc_classifier_create(&cc, names, p->seed, cls);
    sc_stn_config sconf = sc_stn_default_config(canvas);
    sconf.loc_cnn = sc_cnn_config_make(1, p->n_loc_channels, p->loc_channels);
    for (int k = 0; k < p->n_loc_channels; k++) sconf.loc_cnn.pool[k] = 1;
    sconf.out_h = sconf.out_w = glimpse;
    sconf.hidden = p->loc_hidden;
    sconf.transform = p->transform;
    sconf.zoom = p->zoom;
    if ((s = sc_stcnn_create(&sconf, &cc, names, p->seed, st))) return s;
    /* fc2's bias is the starting transform: (s,0,0,0,s,0), (s,0,0) or (s,0,0,0);
     * a translation starts centred at its fixed zoom */
    const sc_param *lp;
    size_t nloc;
    sc_stn_params(sc_stcnn_stn(*st), &lp, &nloc);
    float *b2 = lp[nloc - 1].param;
    if (p->transform != SC_STN_TRANSLATION) b2[0] = p->init_scale;
    if (p->transform == SC_STN_AFFINE) b2[4] = p->init_scale;
    return SC_OK;
}

sc_status sc_stn_train_recipe(const sc_stn_train_params *p, size_t examples, sc_train_params *out) {
    sc_status s = check_params(p);
    if (s) return s;
    if (!out || examples < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_train_recipe: bad arguments");
    sc_optim_params opt = sc_adamw_default_params();
    opt.lr = p->lr;
    opt.weight_decay = 1e-4;
    *out = sc_train_cosine_params(&opt, p->epochs, p->batch, examples, p->seed, p->max_steps);
    out->clip_grad_norm = p->use_st && p->clip_groups ? 0.0 : 5.0; /* else per group */
    return SC_OK;
}

sc_status sc_stn_train_step(sc_trainer *tr, sc_stcnn *st, sc_classifier *cls, const float *x,
                            const int32_t *y, int n, const sc_stn_train_params *p, double *loss) {
    if (!tr || !(st || cls) || !x || !y || n < 1 || !p || !loss)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_train_step: bad arguments");
    sc_status s = st ? sc_stcnn_train_batch(st, x, y, n, sc_trainer_rng(tr), loss)
                     : sc_classifier_train_batch(cls, x, y, n, sc_trainer_rng(tr), loss, NULL);
    /* data-parallel: the ranks' gradients summed before the group clipping */
    if (!s) s = sc_trainer_reduce(tr, loss);
    if (s) return s;
    if (!st) return sc_trainer_step(tr, *loss, 0, NULL, NULL);
    const sc_param *ps, *lp;
    size_t np, nloc, nsave = 0;
    sc_stcnn_params(st, &ps, &np);
    sc_stn_params(sc_stcnn_stn(st), &lp, &nloc); /* the first nloc of ps */
    for (size_t i = 0; i < nloc; i++) nsave += ps[i].n;
    float *save = malloc((nsave ? nsave : 1) * sizeof(float));
    if (!save) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0, o = 0; i < nloc; o += ps[i].n, i++)
        memcpy(save + o, ps[i].param, ps[i].n * sizeof(float));
    /* During the warm-up the transformer stays put (factor 0). */
    float f = sc_trainer_global_step(tr) < (int64_t)p->loc_warmup ? 0.0f : p->loc_lr_scale;
    double norms[2];
    const char *nkeys[2] = {"loc_grad_norm", "cls_grad_norm"};
    if (p->clip_groups && ((s = sc_clip_grad_norm(ps, nloc, 5.0, &norms[0])) ||
                           (s = sc_clip_grad_norm(ps + nloc, np - nloc, 5.0, &norms[1])))) {
        free(save);
        return s;
    }
    s = sc_trainer_step(tr, *loss, p->clip_groups ? 2 : 0, nkeys, norms);
    for (size_t i = 0, o = 0; !s && f != 1.0f && i < nloc; o += ps[i].n, i++)
        for (size_t k = 0; k < ps[i].n; k++)
            ps[i].param[k] = save[o + k] + f * (ps[i].param[k] - save[o + k]);
    free(save);
    return s;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median_of(float *v, size_t n) {
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_float);
    return n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

/* Where glimpse theta g landed on the item placed by theta t (both map
 * glimpse coordinates to the canvas's, [-1, 1]): centre distances in pixels
 * (half = canvas / 2), inside (|u|, |v| <= 1 in the item's frame), sides,
 * rotation errors in degrees (the angle of each map's first column). */
static void locate(const float *g, const float *t, double half, float *dist, float *idist,
                   int *inside, float *side, float *angle, float *iangle) {
    const double dx = g[2] - t[2], dy = g[5] - t[5];
    *dist = (float)(half * sqrt(dx * dx + dy * dy));
    *idist = (float)(half * sqrt((double)t[2] * t[2] + (double)t[5] * t[5]));
    const double det = (double)t[0] * t[4] - (double)t[1] * t[3];
    const double u = (t[4] * dx - t[1] * dy) / det, v = (-t[3] * dx + t[0] * dy) / det;
    *inside = fabs(u) <= 1 && fabs(v) <= 1;
    const double gd = fabs((double)g[0] * g[4] - (double)g[1] * g[3]);
    *side = (float)sqrt(gd / fabs(det));
    const double ta = atan2(t[3], t[0]), ga = atan2(g[3], g[0]), deg = 180.0 / 3.14159265358979;
    double da = fabs(ga - ta);
    if (da > 3.14159265358979) da = 2 * 3.14159265358979 - da;
    *angle = (float)(da * deg);
    *iangle = (float)(fabs(ta) * deg);
}

sc_status sc_stn_test(sc_stcnn *st, sc_classifier *cls, const sc_distort_params *dp,
                      const sc_fashion_mnist *test, uint64_t scene_seed, size_t n,
                      sc_stn_test_result *ev) {
    if (!(st || cls) || !dp || !test || !ev)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_stn_test: NULL argument");
    memset(ev, 0, sizeof *ev);
    const int K = sc_classifier_get_config(st ? sc_stcnn_classifier(st) : cls)->num_classes;
    size_t plane = (size_t)dp->canvas * dp->canvas;
    float *x = malloc(TEST_CHUNK * plane * sizeof(float));
    float *pr = malloc(TEST_CHUNK * (size_t)K * sizeof(float));
    float *th = st ? malloc(TEST_CHUNK * 6 * sizeof(float)) : NULL;
    float *one = st ? malloc(plane * sizeof(float)) : NULL;
    float *dist = st ? malloc((n ? n : 1) * 5 * sizeof(float)) : NULL;
    int32_t lab[TEST_CHUNK];
    sc_status s = x && pr && (!st || (th && one && dist))
                      ? SC_OK
                      : sc_set_error(SC_ERR_NOMEM, "out of memory");
    size_t wrong = 0, inside = 0;
    double sum = 0;
    for (size_t f = 0; !s && f < n; f += TEST_CHUNK) {
        size_t k = n - f < TEST_CHUNK ? n - f : TEST_CHUNK;
        s = sc_distort_batch(dp, test, scene_seed, f, k, x, lab);
        if (!s) s = st ? sc_stcnn_predict(st, x, k, pr, th) : sc_classifier_predict(cls, x, k, pr);
        for (size_t i = 0; !s && i < k; i++) {
            int best = 0;
            for (int c = 1; c < K; c++)
                if (pr[i * K + c] > pr[i * K + best]) best = c;
            wrong += best != lab[i];
            if (!st) continue;
            float tt[6];
            int in;
            s = sc_distort_example(dp, test, scene_seed, f + i, one, NULL, tt);
            if (s) break;
            locate(th + 6 * i, tt, 0.5 * dp->canvas, &dist[f + i], &dist[n + f + i], &in,
                   &dist[2 * n + f + i], &dist[3 * n + f + i], &dist[4 * n + f + i]);
            inside += in;
            sum += dist[f + i];
        }
    }
    if (!s) {
        ev->error = n ? (double)wrong / (double)n : 0;
        if (st && n) {
            ev->has_loc = 1;
            ev->centre_px_mean = sum / (double)n;
            ev->inside = (double)inside / (double)n;
            ev->centre_px_median = median_of(dist, n);
            ev->identity_px_median = median_of(dist + n, n);
            ev->side_ratio_median = median_of(dist + 2 * n, n);
            ev->angle_deg_median = median_of(dist + 3 * n, n);
            ev->identity_angle_deg_median = median_of(dist + 4 * n, n);
        }
    }
    free(x), free(pr), free(th), free(one), free(dist);
    return s;
}
