/* saccade stn: run a trained ST-CNN on an image and show where it looked;
 * plus the stn parts of 'saccade train' and 'saccade eval' (distorted
 * Fashion-MNIST, ST-CNN vs a plain CNN). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_datasets.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_stn.h"
#include "saccade/sc_train.h"

#define STN_TEST_SEED 1 /* test scenes: fixed, whatever the training seed */
#define STN_EVAL_CHUNK 500

/* ------------------------------------------------------------ help */

void cli_stn_help(FILE *out) {
    fprintf(out, "usage: saccade stn IMAGE [--model M] -o OUT.png [--json]\n\n"
                 "Run a spatial-transformer classifier (ST-CNN) on an image: the image is\n"
                 "converted to gray and resized to the model's canvas; the output is a\n"
                 "contact sheet of the input with the sampled region's outline (the\n"
                 "transformed unit square) and the rectified glimpse captioned with the\n"
                 "predicted class and its probability.\n\n"
                 "Options:\n"
                 "  --model M    ST-CNN .safetensors (default: the shipped\n"
                 "               models/fashion-stn.safetensors, Fashion-MNIST classes)\n"
                 "  -o OUT.png   output image (required unless --json)\n"
                 "  --json       print theta (6 values) and the top-5 classes\n"
                 "  --threads N  threads (default: all cores)\n\n"
                 "Training and evaluation: 'saccade train stn --help', 'saccade eval stn'.\n");
}

void cli_train_stn_help(FILE *out) {
    fprintf(out, "usage: saccade train stn --distortion rts|cluttered --model cnn|stcnn\n"
                 "                         -o M.safetensors [OPTIONS]\n\n"
                 "Train on distorted Fashion-MNIST scenes generated on the fly from the train\n"
                 "split (rts: 42x42, rotation +-45 deg, scale 0.7-1.2, random position;\n"
                 "cluttered: 60x60, random position, 4-8 6x6 fragments of other items).\n"
                 "Every epoch sees new distortions of the 60000 items. Models: a plain CNN\n"
                 "classifier on the whole canvas, or a spatial transformer (CNN\n"
                 "localisation net, affine, glimpse of the canvas size) followed by the\n"
                 "same CNN classifier (20-40-80 channels).\n\n"
                 "Options:\n"
                 "  --epochs E            epochs (default 3)\n"
                 "  --batch B             batch size (default 64)\n"
                 "  --lr LR               AdamW learning rate, cosine schedule (default 0.002)\n"
                 "  --glimpse SIZE        ST-CNN glimpse side (default: the canvas side)\n"
                 "  --loc-hidden N        ST-CNN localisation hidden units (default 16)\n"
                 "  --transform T         ST-CNN transform: affine (default), trans_scale\n"
                 "                        (isotropic scale + translation), similarity\n"
                 "                        (rotation + isotropic scale + translation) or\n"
                 "                        translation (a glimpse of fixed zoom that moves)\n"
                 "  --zoom Z              translation's fixed zoom: the glimpse covers Z x the\n"
                 "                        canvas side (default 0.6)\n"
                 "  --loc-lr-scale F      learning-rate factor of the transformer's parameters\n"
                 "                        (default 0.1: a slower localisation net is stabler)\n"
                 "  --loc-warmup N        first N steps train only the classifier (default 0)\n"
                 "  --clip-groups         ST-CNN: clip the transformer's and the classifier's\n"
                 "                        gradients to norm 5 each (default: one global norm,\n"
                 "                        where the transformer's large gradients shrink the\n"
                 "                        classifier's steps)\n"
                 "  --init-scale S        ST-CNN starting zoom: theta's scale starts at S\n"
                 "                        instead of 1 (S < 1 zooms into the centre)\n"
                 "  --loc-channels a,b,c  localisation CNN widths, 2x2 pool after each stage\n"
                 "                        (default 8,16,16)\n"
                 "  --channels a,b,c      classifier CNN widths (default 20,40,80)\n"
                 "  --head-grid G         classifier head: 0 = global average pool (default),\n"
                 "                        G = adaptive average pool to GxG + linear\n"
                 "  --seed S              weights, batch order, training scenes (default 0)\n"
                 "  --threads N           threads (default: all cores)\n"
                 "  --examples N          training scenes per epoch (default 60000)\n"
                 "  --eval-n N            test scenes for the final error (default 10000)\n"
                 "  --data DIR            Fashion-MNIST folder\n"
                 "  --checkpoint PATH     resumable checkpoints; --checkpoint-every N steps\n"
                 "  --resume              continue from --checkpoint exactly\n"
                 "  --metrics F.jsonl     per-step metrics\n"
                 "  --max-steps N         stop after N steps in total\n"
                 "  --quiet               no progress output\n"
                 "The final metrics go to M.metrics.json next to the model.\n");
}

void cli_eval_stn_help(FILE *out) {
    fprintf(out, "usage: saccade eval stn --model M --distortion rts|cluttered [--n 10000]\n"
                 "                        [--data DIR] [--threads N] [--json]\n\n"
                 "Test error of an ST-CNN or CNN from 'saccade train stn' on N distorted\n"
                 "scenes of the Fashion-MNIST test split (fixed scene seed 1).\n");
}

/* ------------------------------------------------------------ models */

/* Either kind of model behind one interface. */
typedef struct {
    sc_stcnn *st;
    sc_classifier *cls;
    int canvas;
} any_model;

static void any_free(any_model *m) {
    sc_stcnn_free(m->st);
    sc_classifier_free(m->cls);
}

static sc_status any_load(const char *path, any_model *m) {
    memset(m, 0, sizeof *m);
    sc_model_kind kind;
    sc_status s = sc_model_probe(path, &kind);
    if (s) return s;
    int is_st = kind == SC_MODEL_STCNN;
    if (!is_st && kind != SC_MODEL_CLASSIFIER)
        return sc_set_error(SC_ERR_FORMAT, "%s: not a saccade ST-CNN or classifier (a %s model)",
                            path, sc_model_kind_name(kind));
    if (is_st) {
        if ((s = sc_stcnn_load(path, &m->st))) return s;
        const sc_stn_config *c = sc_stn_get_config(sc_stcnn_stn(m->st));
        m->canvas = c->in_h == c->in_w && c->in_c == 1 ? c->in_h : -1;
    } else {
        if ((s = sc_classifier_load(path, &m->cls))) return s;
        const sc_classifier_config *c = sc_classifier_get_config(m->cls);
        m->canvas = c->in_h == c->in_w && c->encoder.in_channels == 1 ? c->in_h : -1;
    }
    sc_classifier *cl = m->st ? sc_stcnn_classifier(m->st) : m->cls;
    if (sc_classifier_get_config(cl)->num_classes != SC_FASHION_MNIST_CLASSES || m->canvas < 0) {
        any_free(m);
        return sc_set_error(
            SC_ERR_FORMAT, "%s: model does not take square 1-channel scenes over 10 classes", path);
    }
    return SC_OK;
}

static sc_status any_predict(any_model *m, const float *x, size_t n, float *probs) {
    return m->st ? sc_stcnn_predict(m->st, x, n, probs, NULL)
                 : sc_classifier_predict(m->cls, x, n, probs);
}

/* Test figures on n scenes: the error rate and, for an ST-CNN, where its
 * glimpse went against the item's true placement (theta_true of
 * sc_distort_example): the distance from the glimpse's centre to the
 * item's centre in canvas pixels (and the same for an identity transform,
 * the canvas centre), whether the glimpse's centre falls on the item's
 * (rotated, scaled) 28x28 square, the glimpse's side over the item's, and
 * how far the glimpse's rotation is from the item's (and the identity's). */
typedef struct stn_eval {
    double error;
    int has_loc;
    double centre_px_median, centre_px_mean, identity_px_median, inside, side_ratio_median;
    double angle_deg_median, identity_angle_deg_median;
} stn_eval;

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

static sc_status stn_test_eval(any_model *m, const sc_distort_params *dp,
                               const sc_fashion_mnist *test, size_t n, stn_eval *ev) {
    memset(ev, 0, sizeof *ev);
    size_t plane = (size_t)dp->canvas * dp->canvas;
    float *x = malloc(STN_EVAL_CHUNK * plane * sizeof(float));
    float *pr = malloc(STN_EVAL_CHUNK * SC_FASHION_MNIST_CLASSES * sizeof(float));
    float *th = m->st ? malloc(STN_EVAL_CHUNK * 6 * sizeof(float)) : NULL;
    float *one = m->st ? malloc(plane * sizeof(float)) : NULL;
    float *dist = m->st ? malloc((n ? n : 1) * 5 * sizeof(float)) : NULL;
    int32_t lab[STN_EVAL_CHUNK];
    sc_status s = x && pr && (!m->st || (th && one && dist))
                      ? SC_OK
                      : sc_set_error(SC_ERR_NOMEM, "out of memory");
    size_t wrong = 0, inside = 0;
    double sum = 0;
    for (size_t f = 0; !s && f < n; f += STN_EVAL_CHUNK) {
        size_t k = n - f < STN_EVAL_CHUNK ? n - f : STN_EVAL_CHUNK;
        s = sc_distort_batch(dp, test, STN_TEST_SEED, f, k, x, lab);
        if (!s) s = m->st ? sc_stcnn_predict(m->st, x, k, pr, th) : any_predict(m, x, k, pr);
        for (size_t i = 0; !s && i < k; i++) {
            int best = 0;
            for (int c = 1; c < SC_FASHION_MNIST_CLASSES; c++)
                if (pr[i * SC_FASHION_MNIST_CLASSES + c] > pr[i * SC_FASHION_MNIST_CLASSES + best])
                    best = c;
            wrong += best != lab[i];
            if (!m->st) continue;
            float tt[6];
            int in;
            s = sc_distort_example(dp, test, STN_TEST_SEED, f + i, one, NULL, tt);
            if (s) break;
            locate(th + 6 * i, tt, 0.5 * dp->canvas, &dist[f + i], &dist[n + f + i], &in,
                   &dist[2 * n + f + i], &dist[3 * n + f + i], &dist[4 * n + f + i]);
            inside += in;
            sum += dist[f + i];
        }
    }
    if (!s) {
        ev->error = n ? (double)wrong / (double)n : 0;
        if (m->st && n) {
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

static sc_status stn_test_error(any_model *m, const sc_distort_params *dp,
                                const sc_fashion_mnist *test, size_t n, double *err) {
    stn_eval ev;
    sc_status s = stn_test_eval(m, dp, test, n, &ev);
    if (!s) *err = ev.error;
    return s;
}

/* ------------------------------------------------------------ train */

static size_t count_params(const sc_param *p, size_t n) {
    size_t t = 0;
    for (size_t i = 0; i < n; i++) t += p[i].n;
    return t;
}

int cli_train_stn_main(int argc, char **argv) {
    const char *V = "train stn", *out = NULL, *data = NULL, *ckpt = NULL, *metrics = NULL;
    const char *dist_name = NULL, *model_name = NULL;
    int epochs = 3, batch = 64, seed = 0, threads = 0, examples = 60000, eval_n = 10000;
    int ckpt_every = 0, resume = 0, max_steps = 0, quiet = 0, glimpse = 0, loc_hidden = 16;
    int head_grid = 0, loc_warmup = 0, nch = 3, nloc_ch = 3, clip_groups = 0;
    int chans[SC_CNN_MAX_STAGES] = {20, 40, 80}, loc_chans[SC_CNN_MAX_STAGES] = {8, 16, 16};
    float lr = 2e-3f, loc_scale = 0.1f, init_scale = 1.0f, zoom = 0.6f;
    sc_stn_transform transform = SC_STN_AFFINE;
    const char *transform_name = NULL;
    const cli_opt opts[] = {
        {"--distortion", CLI_STR, &dist_name, 0, 0, "rts or cluttered", NULL, 0},
        {"--model", CLI_STR, &model_name, 0, 0, "cnn or stcnn", NULL, 0},
        {"-o|--output", CLI_STR, &out, 0, 0, "a file name", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "a folder", NULL, 0},
        {"--checkpoint", CLI_STR, &ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &metrics, 0, 0, "a file name", NULL, 0},
        {"--transform", CLI_STR, &transform_name, 0, 0,
         "affine, trans_scale, similarity or translation", NULL, 0},
        {"--epochs", CLI_INT, &epochs, 1, 10000, NULL, NULL, 0},
        {"--batch", CLI_INT, &batch, 2, 4096, NULL, NULL, 0},
        {"--seed", CLI_INT, &seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 1024, NULL, NULL, 0},
        {"--examples", CLI_INT, &examples, 1, 2147483647, NULL, NULL, 0},
        {"--eval-n", CLI_INT, &eval_n, 1, 2147483647, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &ckpt_every, 1, 2147483647, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &max_steps, 1, 2147483647, NULL, NULL, 0},
        {"--glimpse", CLI_INT, &glimpse, 8, 256, NULL, NULL, 0},
        {"--loc-hidden", CLI_INT, &loc_hidden, 0, 4096, NULL, NULL, 0},
        {"--head-grid", CLI_INT, &head_grid, 0, 16, NULL, NULL, 0},
        {"--loc-warmup", CLI_INT, &loc_warmup, 0, 2147483647, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--init-scale", CLI_FLOAT, &init_scale, 1e-6, 4.0, NULL, NULL, 0},
        {"--zoom", CLI_FLOAT, &zoom, 1e-3, 4.0, NULL, NULL, 0},
        {"--loc-lr-scale", CLI_FLOAT, &loc_scale, 1e-6, 10.0, NULL, NULL, 0},
        {"--channels", CLI_INTS, chans, 1, 1024, NULL, &nch, SC_CNN_MAX_STAGES},
        {"--loc-channels", CLI_INTS, loc_chans, 1, 1024, NULL, &nloc_ch, SC_CNN_MAX_STAGES},
        {"--clip-groups", CLI_FLAG, &clip_groups, 0, 0, NULL, NULL, 0},
        {"--resume", CLI_FLAG, &resume, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (transform_name && sc_stn_transform_from_name(transform_name, &transform))
        return cli_usage(V,
                         "--transform needs affine, trans_scale, similarity or translation, "
                         "not '%s'",
                         transform_name);
    sc_distortion dk;
    if (!dist_name || sc_distortion_from_name(dist_name, &dk))
        return cli_usage(V, "need --distortion rts or cluttered");
    int use_st;
    if (model_name && !strcmp(model_name, "stcnn"))
        use_st = 1;
    else if (model_name && !strcmp(model_name, "cnn"))
        use_st = 0;
    else
        return cli_usage(V, "need --model cnn or stcnn");
    if (!out) return cli_usage(V, "need -o M.safetensors");
    if (resume && !ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);

    sc_distort_params dp = sc_distort_default_params(dk);
    const int S = dp.canvas;
    /* The same classifier either on the whole canvas (CNN) or on the
     * transformer's glimpse (ST-CNN; by default a glimpse of the canvas's
     * size, so that the identity start is exactly the CNN). */
    if (!glimpse) glimpse = S;
    sc_classifier_config cc = sc_classifier_default_config();
    cc.encoder = sc_cnn_config_make(1, nch, chans);
    for (int k = 0; k < nch - 1 && k < 2; k++) cc.encoder.pool[k] = 1; /* 2x2 pools after two */
    cc.dropout = 0.1f;
    cc.head_grid = head_grid;
    cc.in_h = cc.in_w = use_st ? glimpse : S;
    sc_stn_config sconf = sc_stn_default_config(S);
    sconf.loc_cnn = sc_cnn_config_make(1, nloc_ch, loc_chans);
    for (int k = 0; k < nloc_ch; k++) sconf.loc_cnn.pool[k] = 1;
    sconf.out_h = sconf.out_w = glimpse;
    sconf.hidden = loc_hidden;
    sconf.transform = transform;
    sconf.zoom = zoom;

    sc_fashion_mnist train = {0}, test = {0};
    sc_stcnn *st = NULL;
    sc_classifier *cls = NULL;
    sc_trainer *tr = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    uint64_t *ids = NULL;
    float *locsave = NULL;
    char *cfg_json = NULL, *cls_json = NULL, *mpath = NULL;
    int rc = CLI_FAIL;
    const char *names[SC_FASHION_MNIST_CLASSES];
    for (int k = 0; k < SC_FASHION_MNIST_CLASSES; k++) names[k] = sc_fashion_mnist_class_name(k);
    if (sc_fashion_mnist_load("train", data, &train) ||
        sc_fashion_mnist_load("test", data, &test)) {
        cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    const sc_param *ps, *bs;
    size_t np, nb;
    if (use_st) {
        if (sc_stcnn_create(&sconf, &cc, names, (uint64_t)seed, &st)) goto fail;
        sc_stcnn_params(st, &ps, &np);
        sc_stcnn_buffers(st, &bs, &nb);
        cfg_json = sc_stcnn_config_json(st);
        cls_json = sc_classifier_classes_json(sc_stcnn_classifier(st));
    } else {
        if (sc_classifier_create(&cc, names, (uint64_t)seed, &cls)) goto fail;
        sc_classifier_params(cls, &ps, &np);
        sc_classifier_buffers(cls, &bs, &nb);
        cfg_json = sc_classifier_config_to_json(&cc);
        cls_json = sc_classifier_classes_json(cls);
    }
    if (!cfg_json || !cls_json) goto fail;
    size_t nparam = count_params(ps, np), nloc = 0;
    if (use_st) {
        const sc_param *lp;
        sc_stn_params(sc_stcnn_stn(st), &lp, &nloc); /* the first nloc of ps */
        if (!(locsave = malloc(count_params(lp, nloc) * sizeof(float)))) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        /* fc2's bias is the starting transform: (s,0,0,0,s,0), (s,0,0) or (s,0,0,0);
         * a translation starts centred at its fixed zoom */
        float *b2 = lp[nloc - 1].param;
        if (transform != SC_STN_TRANSLATION) b2[0] = init_scale;
        if (transform == SC_STN_AFFINE) b2[4] = init_scale;
    }
    sc_train_params tp = sc_train_default_params();
    tp.epochs = epochs;
    tp.batch_size = (size_t)batch;
    tp.seed = (uint64_t)seed;
    tp.optim = sc_adamw_default_params();
    tp.optim.lr = lr;
    tp.optim.weight_decay = 1e-4;
    size_t per_epoch = ((size_t)examples + (size_t)batch - 1) / (size_t)batch;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.base_lr = lr;
    tp.schedule.t_max = (int64_t)(per_epoch * (size_t)epochs);
    tp.clip_grad_norm = use_st && clip_groups ? 0.0 : 5.0; /* else per group below */
    tp.checkpoint_path = ckpt;
    tp.checkpoint_every = ckpt_every;
    tp.metrics_path = metrics;
    tp.resume = resume;
    tp.max_steps = max_steps;
    tp.label = use_st ? "train stcnn" : "train cnn";
    if (quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, (size_t)examples, ps, np, bs, nb, &tr)) goto fail;
    if (sc_trainer_set_metadata(tr, "saccade.config", cfg_json) ||
        sc_trainer_set_metadata(tr, "saccade.classes", cls_json) ||
        sc_trainer_set_metadata(tr, "saccade.distortion", dist_name))
        goto fail;
    size_t plane = (size_t)S * S;
    x = malloc((size_t)batch * plane * sizeof(float));
    y = malloc((size_t)batch * sizeof(int32_t));
    ids = malloc((size_t)batch * sizeof(uint64_t));
    if (!x || !y || !ids) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!quiet)
        fprintf(stderr, "%s on %s (%dx%d): %zu parameters\n", use_st ? "ST-CNN" : "CNN", dist_name,
                S, S, nparam);
    const int *idx;
    size_t count;
    int r;
    double first_loss = -1, err = 0;
    any_model am = {.st = st, .cls = cls, .canvas = S};
    while ((r = sc_trainer_next(tr, &idx, &count)) == 1) {
        /* epoch e uses scene indices e * examples + idx: fresh distortions */
        uint64_t base = (uint64_t)sc_trainer_epoch(tr) * (uint64_t)examples;
        for (size_t i = 0; i < count; i++) ids[i] = base + (uint64_t)idx[i];
        if (sc_distort_gather(&dp, &train, (uint64_t)seed, ids, count, x, y)) goto fail;
        double loss;
        if (use_st
                ? sc_stcnn_train_batch(st, x, y, (int)count, sc_trainer_rng(tr), &loss)
                : sc_classifier_train_batch(cls, x, y, (int)count, sc_trainer_rng(tr), &loss, NULL))
            goto fail;
        if (first_loss < 0) first_loss = loss;
        /* The transformer's parameters take a loc_scale-times smaller step:
         * p = p_old + loc_scale (p_new - p_old), which for AdamW is exactly
         * a parameter group with lr * loc_scale (weight decay included). */
        for (size_t i = 0, o = 0; use_st && i < nloc; o += ps[i].n, i++)
            memcpy(locsave + o, ps[i].param, ps[i].n * sizeof(float));
        /* During the warm-up the transformer stays put (factor 0). */
        float f = sc_trainer_global_step(tr) < (int64_t)loc_warmup ? 0.0f : loc_scale;
        double norms[2];
        const char *nkeys[2] = {"loc_grad_norm", "cls_grad_norm"};
        if (use_st && clip_groups &&
            (sc_clip_grad_norm(ps, nloc, 5.0, &norms[0]) ||
             sc_clip_grad_norm(ps + nloc, np - nloc, 5.0, &norms[1])))
            goto fail;
        if (sc_trainer_step(tr, loss, use_st && clip_groups ? 2 : 0, nkeys, norms)) goto fail;
        for (size_t i = 0, o = 0; use_st && f != 1.0f && i < nloc; o += ps[i].n, i++)
            for (size_t k = 0; k < ps[i].n; k++)
                ps[i].param[k] = locsave[o + k] + f * (ps[i].param[k] - locsave[o + k]);
        if (sc_trainer_at_epoch_end(tr)) {
            size_t ne = eval_n < 2000 ? (size_t)eval_n : 2000;
            if (stn_test_error(&am, &dp, &test, ne, &err)) goto fail;
            const char *keys[1] = {"test_error_2k"};
            if (sc_trainer_log(tr, 1, keys, &err)) goto fail;
            if (!quiet)
                printf("epoch %lld/%d: train loss %.4f, test error %.2f%% (first %zu, %.1f s)\n",
                       (long long)sc_trainer_epoch(tr) + 1, epochs, sc_trainer_epoch_loss(tr),
                       100 * err, ne, sc_trainer_elapsed(tr));
            fflush(stdout);
        }
    }
    if (r < 0) goto fail;
    double train_secs = sc_trainer_elapsed(tr);
    if (stn_test_error(&am, &dp, &test, (size_t)eval_n, &err)) goto fail;
    const char *keys[1] = {"test_error"};
    if (sc_trainer_log(tr, 1, keys, &err)) goto fail;
    if (sc_trainer_save(tr, out)) goto fail;
    mpath = cli_metrics_path(out);
    FILE *f = NULL;
    char tmp[8192];
    f = fmemopen(tmp, sizeof tmp, "w");
    if (!mpath || !f) {
        if (f) fclose(f);
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    fprintf(f, "{\"model\": ");
    cli_json_string(f, out);
    fprintf(f,
            ", \"arch\": \"%s\", \"distortion\": \"%s\", \"test_error\": %.6f, \"test_n\": %d, "
            "\"test_scene_seed\": %d, \"first_loss\": %.6f, \"final_epoch_loss\": %.6f, "
            "\"epochs\": %d, \"examples_per_epoch\": %d, \"steps\": %lld, \"batch\": %d, "
            "\"lr\": %g, \"loc_lr_scale\": %g, \"seed\": %d, \"threads\": %d, \"parameters\": %zu, "
            "\"train_seconds\": %.1f, \"command\": \"saccade",
            use_st ? "stcnn" : "cnn", dist_name, err, eval_n, STN_TEST_SEED, first_loss,
            sc_trainer_epoch_loss(tr), epochs, examples, (long long)sc_trainer_global_step(tr),
            batch, (double)lr, (double)loc_scale, seed, sc_get_num_threads(), nparam, train_secs);
    fprintf(f, " train");
    for (int i = 0; i < argc; i++) {
        fprintf(f, " ");
        for (const char *p = argv[i]; *p; p++)
            if (*p == '"' || *p == '\\')
                fprintf(f, "\\%c", *p);
            else if ((unsigned char)*p >= 0x20)
                fputc(*p, f);
    }
    fprintf(f, "\", \"config\": %s}\n", cfg_json);
    long len = ftell(f);
    fclose(f);
    if (len <= 0 || (size_t)len >= sizeof tmp) {
        sc_set_error(SC_ERR_LIMIT, "metrics summary too long");
        goto fail;
    }
    if (sc_write_file_atomic(mpath, tmp, (size_t)len)) goto fail;
    printf("%s %s: test error %.2f%% on %d scenes; loss %.4f -> %.4f; %lld steps, %.1f s; "
           "model %s, metrics %s\n",
           use_st ? "stcnn" : "cnn", dist_name, 100 * err, eval_n, first_loss,
           sc_trainer_epoch_loss(tr), (long long)sc_trainer_global_step(tr), train_secs, out,
           mpath);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail("train stn");
done:
    free(x);
    free(y);
    free(ids);
    free(locsave);
    free(cfg_json);
    free(cls_json);
    free(mpath);
    sc_trainer_free(tr);
    sc_stcnn_free(st);
    sc_classifier_free(cls);
    sc_fashion_mnist_free(&train);
    sc_fashion_mnist_free(&test);
    return rc;
}

/* ------------------------------------------------------------ eval */

int cli_eval_stn_main(int argc, char **argv) {
    const char *V = "eval stn", *model = NULL, *data = NULL, *dist_name = NULL;
    int n = 10000, threads = 0, json = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--distortion", CLI_STR, &dist_name, 0, 0, "rts or cluttered", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "a folder", NULL, 0},
        {"--n", CLI_INT, &n, 1, 10000000, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 1024, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    sc_distortion dk;
    if (!dist_name || sc_distortion_from_name(dist_name, &dk))
        return cli_usage(V, "need --distortion rts or cluttered");
    if (!model) return cli_usage(V, "need --model FILE");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);
    sc_distort_params dp = sc_distort_default_params(dk);
    any_model m;
    if (any_load(model, &m)) return cli_fail(NULL);
    sc_fashion_mnist test = {0};
    int rc = CLI_FAIL;
    stn_eval ev;
    if (m.canvas != dp.canvas) {
        fprintf(stderr, "saccade: %s takes %dx%d scenes; %s scenes are %dx%d\n", model, m.canvas,
                m.canvas, dist_name, dp.canvas, dp.canvas);
        goto done;
    }
    if (sc_fashion_mnist_load("test", data, &test)) {
        cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    if (stn_test_eval(&m, &dp, &test, (size_t)n, &ev)) {
        cli_fail("eval stn");
        goto done;
    }
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"arch\": \"%s\", \"distortion\": \"%s\", \"n\": %d, \"scene_seed\": %d, "
               "\"error\": %.6f, \"accuracy\": %.6f",
               m.st ? "stcnn" : "cnn", dist_name, n, STN_TEST_SEED, ev.error, 1 - ev.error);
        if (ev.has_loc)
            printf(", \"glimpse\": {\"centre_px_median\": %.4f, \"centre_px_mean\": %.4f, "
                   "\"identity_centre_px_median\": %.4f, \"centre_on_item\": %.6f, "
                   "\"side_ratio_median\": %.4f, \"angle_deg_median\": %.4f, "
                   "\"identity_angle_deg_median\": %.4f}",
                   ev.centre_px_median, ev.centre_px_mean, ev.identity_px_median, ev.inside,
                   ev.side_ratio_median, ev.angle_deg_median, ev.identity_angle_deg_median);
        printf("}\n");
    } else {
        printf("%s (%s) on %d %s test scenes: error %.2f%% (accuracy %.2f%%)\n", model,
               m.st ? "ST-CNN" : "CNN", n, dist_name, 100 * ev.error, 100 * (1 - ev.error));
        if (ev.has_loc)
            printf("glimpse: centre %.2f px from the item's centre (median; mean %.2f; an "
                   "identity transform: %.2f), on the item in %.1f%% of scenes, side %.2fx the "
                   "item's (median)\n",
                   ev.centre_px_median, ev.centre_px_mean, ev.identity_px_median, 100 * ev.inside,
                   ev.side_ratio_median);
        if (ev.has_loc && ev.identity_angle_deg_median > 0.5)
            printf("glimpse rotation: %.1f degrees from the item's (median; an identity "
                   "transform: %.1f)\n",
                   ev.angle_deg_median, ev.identity_angle_deg_median);
    }
    rc = CLI_OK;
done:
    any_free(&m);
    sc_fashion_mnist_free(&test);
    return rc;
}

/* ------------------------------------------------------------ stn verb */

int cli_stn_main(int argc, char **argv) {
    const char *V = "stn", *image = NULL, *model = NULL, *out = NULL;
    int json = 0, threads = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"-o|--output", CLI_STR, &out, 0, 0, "a file name", NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 1024, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    const char *pos[2];
    int npos = 0;
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 2, &npos);
    if (prc) return prc;
    if (npos > 1) return cli_usage(V, "only one IMAGE, got '%s' and '%s'", pos[0], pos[1]);
    if (npos == 1) image = pos[0];
    if (!image) return cli_usage(V, "need an IMAGE");
    if (!out && !json) return cli_usage(V, "need -o OUT.png (or --json)");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);
    char mbuf[4096];
    if (!model) {
        if (sc_find_asset("models/fashion-stn.safetensors", mbuf, sizeof mbuf))
            return cli_fail("default model");
        model = mbuf;
    }
    sc_stcnn *m = NULL;
    sc_image img = {0}, small = {0}, gray = {0}, big = {0}, rgb = {0}, glimpse = {0}, sheet = {0};
    int rc = CLI_FAIL;
    if (sc_stcnn_load(model, &m)) {
        rc = cli_fail(NULL);
        goto done;
    }
    const sc_stn_config *sc = sc_stn_get_config(sc_stcnn_stn(m));
    if (sc->in_c != 1) {
        fprintf(stderr, "saccade: %s: stn verb needs a 1-channel model\n", model);
        goto done;
    }
    if (sc_image_load(image, NULL, &img, NULL)) {
        rc = cli_fail(NULL);
        goto done;
    }
    if (sc_image_resize(&img, sc->in_w, sc->in_h, SC_FILTER_TRIANGLE, &small) ||
        sc_image_alloc(&gray, sc->in_w, sc->in_h, 1)) {
        rc = cli_fail(image);
        goto done;
    }
    size_t hw = (size_t)sc->in_w * sc->in_h;
    for (size_t i = 0; i < hw; i++)
        gray.data[i] = small.c >= 3 ? 0.299f * small.data[i] + 0.587f * small.data[hw + i] +
                                          0.114f * small.data[2 * hw + i]
                                    : small.data[i];
    int K = sc_classifier_get_config(sc_stcnn_classifier(m))->num_classes;
    float probs[SC_CLASSIFIER_MAX_CLASSES > 64 ? 64 : SC_CLASSIFIER_MAX_CLASSES], theta[6];
    if (K > 64) {
        fprintf(stderr, "saccade: %s: more than 64 classes\n", model);
        goto done;
    }
    if (sc_stcnn_predict(m, gray.data, 1, probs, theta)) {
        rc = cli_fail("stn");
        goto done;
    }
    int order[64];
    for (int k = 0; k < K; k++) order[k] = k;
    for (int a = 0; a < K; a++)
        for (int b = a + 1; b < K; b++)
            if (probs[order[b]] > probs[order[a]]) {
                int t = order[a];
                order[a] = order[b];
                order[b] = t;
            }
    sc_classifier *cl = sc_stcnn_classifier(m);
    if (out) {
        const int P = 224;
        sc_sheet_params sp = sc_sheet_default_params();
        if (sc_image_resize(&gray, P, P, SC_FILTER_TRIANGLE, &big) ||
            sc_image_alloc(&rgb, P, P, 3) || sc_stn_glimpse(&gray, theta, P, P, &glimpse)) {
            rc = cli_fail("stn");
            goto done;
        }
        for (int c = 0; c < 3; c++)
            memcpy(rgb.data + (size_t)c * P * P, big.data, sizeof(float) * P * P);
        float cr[8];
        sc_stn_corners(theta, P, P, cr); /* same normalised frame at panel size */
        const float red[3] = {1.0f, 0.15f, 0.1f};
        for (int i = 0; i < 4; i++) {
            int j = (i + 1) % 4;
            sc_draw_line(&rgb, cr[2 * i], cr[2 * i + 1], cr[2 * j], cr[2 * j + 1], red, 2);
        }
        char cap2[256];
        snprintf(cap2, sizeof cap2, "%s %.1f%%", sc_classifier_class_name(cl, order[0]),
                 100.0 * probs[order[0]]);
        sc_image panels[2] = {rgb, glimpse};
        const char *caps[2] = {"input + sampling grid", cap2};
        if (sc_contact_sheet(panels, caps, 2, &sp, &sheet) || sc_image_save(&sheet, out)) {
            rc = cli_fail(out);
            goto done;
        }
    }
    if (json) {
        printf("{\"image\": ");
        cli_json_string(stdout, image);
        printf(", \"model\": ");
        cli_json_string(stdout, model);
        printf(", \"theta\": [");
        for (int i = 0; i < 6; i++) printf("%s%.6f", i ? ", " : "", (double)theta[i]);
        printf("], \"top\": [");
        for (int i = 0; i < K && i < 5; i++) {
            printf("%s{\"class\": ", i ? ", " : "");
            cli_json_string(stdout, sc_classifier_class_name(cl, order[i]));
            printf(", \"index\": %d, \"probability\": %.6f}", order[i], (double)probs[order[i]]);
        }
        printf("]}\n");
    } else {
        printf("%s: %s (%.1f%%); theta [%.3f %.3f %.3f; %.3f %.3f %.3f]; wrote %s\n", image,
               sc_classifier_class_name(cl, order[0]), 100.0 * probs[order[0]], (double)theta[0],
               (double)theta[1], (double)theta[2], (double)theta[3], (double)theta[4],
               (double)theta[5], out);
    }
    rc = CLI_OK;
done:
    sc_stcnn_free(m);
    sc_image_free(&img);
    sc_image_free(&small);
    sc_image_free(&gray);
    sc_image_free(&big);
    sc_image_free(&rgb);
    sc_image_free(&glimpse);
    sc_image_free(&sheet);
    return rc;
}
