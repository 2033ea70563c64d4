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
#include "saccade/sc_stn_train.h"
#include "saccade/sc_train.h"

#define STN_TEST_SEED 1 /* test scenes: fixed, whatever the training seed */

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
                 "Training and evaluation: 'saccade train stn --help', 'saccade eval stn'.\n\n"
                 "Examples:\n"
                 "  saccade stn assets/samples/stn/cluttered-0-Ankle_boot.png -o where.png\n"
                 "  saccade stn assets/samples/chelsea.jpg --json\n"
                 "  saccade stn assets/samples/stn/rts-0-Ankle_boot.png -o where.png --json\n");
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
                 "The final metrics go to M.metrics.json next to the model.\n\n"
                 "Examples:\n"
                 "  saccade train stn --distortion cluttered --model stcnn -o stcnn.safetensors\n"
                 "  saccade train stn --distortion rts --model cnn --epochs 1 --examples 6000 \\\n"
                 "      --eval-n 1000 -o cnn-rts.safetensors\n"
                 "  saccade train stn --distortion rts --model stcnn --transform similarity \\\n"
                 "      --clip-groups -o st-sim.safetensors\n");
}

void cli_eval_stn_help(FILE *out) {
    fprintf(out, "usage: saccade eval stn --model M --distortion rts|cluttered [--n 10000]\n"
                 "                        [--data DIR] [--threads N] [--json]\n\n"
                 "Test error of an ST-CNN or CNN from 'saccade train stn' on N distorted\n"
                 "scenes of the Fashion-MNIST test split (fixed scene seed 1). An ST-CNN also\n"
                 "reports where its glimpse went against the items' true placement.\n\n"
                 "Examples:\n"
                 "  saccade eval stn --model assets/models/fashion-stn.safetensors \\\n"
                 "      --distortion cluttered --n 2000\n"
                 "  saccade eval stn --model cnn-rts.safetensors --distortion rts --json\n");
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

static sc_status stn_test_error(any_model *m, const sc_distort_params *dp,
                                const sc_fashion_mnist *test, size_t n, double *err) {
    sc_stn_test_result ev;
    sc_status s = sc_stn_test(m->st, m->cls, dp, test, STN_TEST_SEED, n, &ev);
    if (!s) *err = ev.error;
    return s;
}

/* ------------------------------------------------------------ train */

typedef struct train_stn_opts {
    sc_stn_train_params p;
    const char *out, *data, *ckpt, *metrics, *dist_name;
    int seed, threads, examples, eval_n, ckpt_every, resume, quiet;
    sc_distort_params dp;
} train_stn_opts;

/* Options into the library's training parameters; CLI_USAGE after printing
 * why. */
static int train_stn_options(int argc, char **argv, train_stn_opts *o) {
    const char *V = "train stn", *model_name = NULL, *transform_name = NULL;
    sc_stn_train_params *p = &o->p;
    *o = (train_stn_opts){.p = sc_stn_train_default_params(), .examples = 60000, .eval_n = 10000};
    const int IMAX = 2147483647;
    const cli_opt opts[] = {
        {"--distortion", CLI_STR, &o->dist_name, 0, 0, "rts or cluttered", NULL, 0},
        {"--model", CLI_STR, &model_name, 0, 0, "cnn or stcnn", NULL, 0},
        {"-o|--output", CLI_STR, &o->out, 0, 0, "a file name", NULL, 0},
        {"--data", CLI_STR, &o->data, 0, 0, "a folder", NULL, 0},
        {"--checkpoint", CLI_STR, &o->ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o->metrics, 0, 0, "a file name", NULL, 0},
        {"--transform", CLI_STR, &transform_name, 0, 0,
         "affine, trans_scale, similarity or translation", NULL, 0},
        {"--epochs", CLI_INT, &p->epochs, 1, 10000, NULL, NULL, 0},
        {"--batch", CLI_INT, &p->batch, 2, 4096, NULL, NULL, 0},
        {"--seed", CLI_INT, &o->seed, 0, IMAX, NULL, NULL, 0},
        {"--threads", CLI_INT, &o->threads, 1, 2147483647, NULL, NULL, 0},
        {"--examples", CLI_INT, &o->examples, 1, IMAX, NULL, NULL, 0},
        {"--eval-n", CLI_INT, &o->eval_n, 1, IMAX, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o->ckpt_every, 1, IMAX, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &p->max_steps, 1, IMAX, NULL, NULL, 0},
        {"--glimpse", CLI_INT, &p->glimpse, 8, 256, NULL, NULL, 0},
        {"--loc-hidden", CLI_INT, &p->loc_hidden, 0, 4096, NULL, NULL, 0},
        {"--head-grid", CLI_INT, &p->head_grid, 0, 16, NULL, NULL, 0},
        {"--loc-warmup", CLI_INT, &p->loc_warmup, 0, IMAX, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &p->lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--init-scale", CLI_FLOAT, &p->init_scale, 1e-6, 4.0, NULL, NULL, 0},
        {"--zoom", CLI_FLOAT, &p->zoom, 1e-3, 4.0, NULL, NULL, 0},
        {"--loc-lr-scale", CLI_FLOAT, &p->loc_lr_scale, 1e-6, 10.0, NULL, NULL, 0},
        {"--channels", CLI_INTS, p->channels, 1, 1024, NULL, &p->n_channels, SC_CNN_MAX_STAGES},
        {"--loc-channels", CLI_INTS, p->loc_channels, 1, 1024, NULL, &p->n_loc_channels,
         SC_CNN_MAX_STAGES},
        {"--clip-groups", CLI_FLAG, &p->clip_groups, 0, 0, NULL, NULL, 0},
        {"--resume", CLI_FLAG, &o->resume, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o->quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (transform_name && sc_stn_transform_from_name(transform_name, &p->transform))
        return cli_usage(V,
                         "--transform needs affine, trans_scale, similarity or translation, "
                         "not '%s'",
                         transform_name);
    sc_distortion dk;
    if (!o->dist_name || sc_distortion_from_name(o->dist_name, &dk))
        return cli_usage(V, "need --distortion rts or cluttered");
    if (model_name && !strcmp(model_name, "stcnn"))
        p->use_st = 1;
    else if (model_name && !strcmp(model_name, "cnn"))
        p->use_st = 0;
    else
        return cli_usage(V, "need --model cnn or stcnn");
    if (!o->out) return cli_usage(V, "need -o MODEL.safetensors");
    if (o->resume && !o->ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    if ((prc = cli_set_threads(V, o->threads))) return prc;
    p->seed = (uint64_t)o->seed;
    o->dp = sc_distort_default_params(dk);
    return CLI_OK;
}

/* Everything a run holds; train_stn_free releases it. */
typedef struct train_stn_run {
    const train_stn_opts *o;
    sc_fashion_mnist train, test;
    any_model am; /* the model being trained */
    sc_trainer *tr;
    char *cfg_json;
    size_t nparam;
    double first_loss, err;
} train_stn_run;

static void train_stn_free(train_stn_run *r) {
    free(r->cfg_json);
    sc_trainer_free(r->tr);
    any_free(&r->am);
    sc_fashion_mnist_free(&r->train);
    sc_fashion_mnist_free(&r->test);
}

/* The recipe: data, model, trainer with its metadata. CLI_OK or CLI_FAIL. */
static int train_stn_setup(train_stn_run *r) {
    const train_stn_opts *o = r->o;
    const char *names[SC_FASHION_MNIST_CLASSES];
    for (int k = 0; k < SC_FASHION_MNIST_CLASSES; k++) names[k] = sc_fashion_mnist_class_name(k);
    if (sc_fashion_mnist_load("train", o->data, &r->train) ||
        sc_fashion_mnist_load("test", o->data, &r->test))
        return cli_fail("cannot load Fashion-MNIST");
    any_model *m = &r->am;
    m->canvas = o->dp.canvas;
    if (sc_stn_train_models(&o->p, o->dp.canvas, names, SC_FASHION_MNIST_CLASSES, &m->st, &m->cls))
        return cli_fail("train stn");
    const sc_param *ps, *bs;
    size_t np, nb;
    char *cls_json;
    if (m->st) {
        sc_stcnn_params(m->st, &ps, &np);
        sc_stcnn_buffers(m->st, &bs, &nb);
        r->cfg_json = sc_stcnn_config_json(m->st);
        cls_json = sc_classifier_classes_json(sc_stcnn_classifier(m->st));
    } else {
        sc_classifier_params(m->cls, &ps, &np);
        sc_classifier_buffers(m->cls, &bs, &nb);
        r->cfg_json = sc_classifier_config_to_json(sc_classifier_get_config(m->cls));
        cls_json = sc_classifier_classes_json(m->cls);
    }
    for (size_t i = 0; i < np; i++) r->nparam += ps[i].n;
    sc_train_params tp;
    int bad = !r->cfg_json || !cls_json || sc_stn_train_recipe(&o->p, (size_t)o->examples, &tp);
    if (!bad) {
        tp.checkpoint_path = o->ckpt;
        tp.checkpoint_every = o->ckpt_every;
        tp.metrics_path = o->metrics;
        tp.resume = o->resume;
        tp.label = m->st ? "train stcnn" : "train cnn";
        tp.comm = cli_comm();
        if (o->quiet) tp.progress_mode = 3;
        bad = sc_trainer_create(&tp, (size_t)o->examples, ps, np, bs, nb, &r->tr) ||
              sc_trainer_set_metadata(r->tr, SC_MODEL_KIND_KEY, m->st ? "stcnn" : "classifier") ||
              sc_trainer_set_metadata(r->tr, "saccade.config", r->cfg_json) ||
              sc_trainer_set_metadata(r->tr, "saccade.classes", cls_json) ||
              sc_trainer_set_metadata(r->tr, "saccade.distortion", o->dist_name);
    }
    free(cls_json);
    if (bad) return cli_fail("train stn");
    if (!o->quiet && sc_trainer_is_writer(r->tr))
        fprintf(stderr, "%s on %s (%dx%d): %zu parameters\n", m->st ? "ST-CNN" : "CNN",
                o->dist_name, o->dp.canvas, o->dp.canvas, r->nparam);
    return CLI_OK;
}

/* The loop: fresh distortions every epoch, the test error on the first 2000
 * test scenes at epoch ends. CLI_OK or CLI_FAIL. */
static int train_stn_loop(train_stn_run *r) {
    const train_stn_opts *o = r->o;
    const size_t B = (size_t)o->p.batch, plane = (size_t)o->dp.canvas * o->dp.canvas;
    float *x = malloc(B * plane * sizeof(float));
    int32_t *y = malloc(B * sizeof(int32_t));
    uint64_t *ids = malloc(B * sizeof(uint64_t));
    const int *idx;
    size_t count;
    int nx = -1;
    r->first_loss = -1;
    if (!x || !y || !ids) sc_set_error(SC_ERR_NOMEM, "out of memory");
    while (x && y && ids && (nx = sc_trainer_next(r->tr, &idx, &count)) == 1) {
        /* epoch e uses scene indices e * examples + idx: fresh distortions */
        uint64_t base = (uint64_t)sc_trainer_epoch(r->tr) * (uint64_t)o->examples;
        for (size_t i = 0; i < count; i++) ids[i] = base + (uint64_t)idx[i];
        double loss;
        if (sc_distort_gather(&o->dp, &r->train, o->p.seed, ids, count, x, y) ||
            sc_stn_train_step(r->tr, r->am.st, r->am.cls, x, y, (int)count, &o->p, &loss))
            break;
        if (r->first_loss < 0) r->first_loss = loss;
        if (sc_trainer_at_epoch_end(r->tr) && sc_trainer_is_writer(r->tr)) { /* rank 0 tests */
            size_t ne = o->eval_n < 2000 ? (size_t)o->eval_n : 2000;
            if (stn_test_error(&r->am, &o->dp, &r->test, ne, &r->err)) break;
            const char *keys[1] = {"test_error_2k"};
            if (sc_trainer_log(r->tr, 1, keys, &r->err)) break;
            if (!o->quiet)
                printf("epoch %lld/%d: train loss %.4f, test error %.2f%% (first %zu, %.1f s)\n",
                       (long long)sc_trainer_epoch(r->tr) + 1, o->p.epochs,
                       sc_trainer_epoch_loss(r->tr), 100 * r->err, ne, sc_trainer_elapsed(r->tr));
            fflush(stdout);
        }
    }
    free(x), free(y), free(ids);
    return nx == 0 ? CLI_OK : cli_fail("train stn");
}

/* The final test error, the model file and its metrics summary. */
static int train_stn_finish(train_stn_run *r, int argc, char **argv) {
    const train_stn_opts *o = r->o;
    const char *arch = r->am.st ? "stcnn" : "cnn";
    double train_secs = sc_trainer_elapsed(r->tr);
    const char *keys[1] = {"test_error"};
    if (!sc_trainer_is_writer(r->tr)) return CLI_OK; /* data-parallel: rank 0 finishes */
    if (stn_test_error(&r->am, &o->dp, &r->test, (size_t)o->eval_n, &r->err) ||
        sc_trainer_log(r->tr, 1, keys, &r->err) || sc_trainer_save(r->tr, o->out))
        return cli_fail("train stn");
    char cmd[8192];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "saccade train");
    for (int i = 0; i < argc && n < sizeof cmd; i++)
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " %s", argv[i]);
    cJSON *j = cJSON_CreateObject();
    int ok = j && cJSON_AddStringToObject(j, "model", o->out) &&
             cJSON_AddStringToObject(j, "arch", arch) &&
             cJSON_AddStringToObject(j, "distortion", o->dist_name) &&
             cli_json_add_fixed(j, "test_error", r->err, 6) &&
             cJSON_AddNumberToObject(j, "test_n", o->eval_n) &&
             cJSON_AddNumberToObject(j, "test_scene_seed", STN_TEST_SEED) &&
             cli_json_add_fixed(j, "first_loss", r->first_loss, 6) &&
             cli_json_add_fixed(j, "final_epoch_loss", sc_trainer_epoch_loss(r->tr), 6) &&
             cJSON_AddNumberToObject(j, "epochs", o->p.epochs) &&
             cJSON_AddNumberToObject(j, "examples_per_epoch", o->examples) &&
             cJSON_AddNumberToObject(j, "steps", (double)sc_trainer_global_step(r->tr)) &&
             cJSON_AddNumberToObject(j, "batch", o->p.batch) &&
             cli_json_add_fixed(j, "lr", o->p.lr, -1) &&
             cli_json_add_fixed(j, "loc_lr_scale", o->p.loc_lr_scale, -1) &&
             cJSON_AddNumberToObject(j, "seed", o->seed) &&
             cJSON_AddNumberToObject(j, "threads", sc_get_num_threads()) &&
             cJSON_AddNumberToObject(j, "parameters", (double)r->nparam) &&
             cli_json_add_fixed(j, "train_seconds", train_secs, 1) &&
             cJSON_AddStringToObject(j, "command", cmd) &&
             cJSON_AddRawToObject(j, "config", r->cfg_json);
    if (!ok) {
        cJSON_Delete(j);
        j = NULL;
    }
    char *mpath;
    int rc = cli_write_metrics(o->out, j, "train stn", &mpath);
    if (!rc) {
        printf("%s %s: test error %.2f%% on %d scenes; loss %.4f -> %.4f; %lld steps, %.1f s; "
               "model %s, metrics %s\n",
               arch, o->dist_name, 100 * r->err, o->eval_n, r->first_loss,
               sc_trainer_epoch_loss(r->tr), (long long)sc_trainer_global_step(r->tr), train_secs,
               o->out, mpath);
    }
    free(mpath);
    return rc;
}

int cli_train_stn_main(int argc, char **argv) {
    train_stn_opts o;
    int rc = train_stn_options(argc, argv, &o);
    if (rc) return rc;
    train_stn_run r = {.o = &o};
    rc = train_stn_setup(&r);
    if (!rc) rc = train_stn_loop(&r);
    if (!rc) rc = train_stn_finish(&r, argc, argv);
    train_stn_free(&r);
    return rc;
}

/* ------------------------------------------------------------ eval */

/* model, arch, distortion, n, scene_seed, error, accuracy, glimpse (ST-CNN). */
static cJSON *eval_stn_json(const char *model, const char *arch, const char *dist_name, int n,
                            const sc_stn_test_result *ev) {
    cJSON *j = cJSON_CreateObject(), *g = NULL;
    int ok = j && cJSON_AddStringToObject(j, "model", model) &&
             cJSON_AddStringToObject(j, "arch", arch) &&
             cJSON_AddStringToObject(j, "distortion", dist_name) &&
             cJSON_AddNumberToObject(j, "n", n) &&
             cJSON_AddNumberToObject(j, "scene_seed", STN_TEST_SEED) &&
             cli_json_add_fixed(j, "error", ev->error, 6) &&
             cli_json_add_fixed(j, "accuracy", 1 - ev->error, 6);
    if (ok && ev->has_loc)
        ok = (g = cJSON_AddObjectToObject(j, "glimpse")) &&
             cli_json_add_fixed(g, "centre_px_median", ev->centre_px_median, 4) &&
             cli_json_add_fixed(g, "centre_px_mean", ev->centre_px_mean, 4) &&
             cli_json_add_fixed(g, "identity_centre_px_median", ev->identity_px_median, 4) &&
             cli_json_add_fixed(g, "centre_on_item", ev->inside, 6) &&
             cli_json_add_fixed(g, "side_ratio_median", ev->side_ratio_median, 4) &&
             cli_json_add_fixed(g, "angle_deg_median", ev->angle_deg_median, 4) &&
             cli_json_add_fixed(g, "identity_angle_deg_median", ev->identity_angle_deg_median, 4);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

int cli_eval_stn_main(int argc, char **argv) {
    const char *V = "eval stn", *model = NULL, *data = NULL, *dist_name = NULL;
    int n = 10000, threads = 0, json = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--distortion", CLI_STR, &dist_name, 0, 0, "rts or cluttered", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "a folder", NULL, 0},
        {"--n", CLI_INT, &n, 1, 10000000, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    sc_distortion dk;
    if (!dist_name || sc_distortion_from_name(dist_name, &dk))
        return cli_usage(V, "need --distortion rts or cluttered");
    if (!model) return cli_usage(V, "need --model FILE");
    if ((prc = cli_set_threads(V, threads))) return prc;
    sc_distort_params dp = sc_distort_default_params(dk);
    any_model m;
    if (any_load(model, &m)) return cli_fail(NULL);
    sc_fashion_mnist test = {0};
    int rc = CLI_FAIL;
    sc_stn_test_result ev;
    if (m.canvas != dp.canvas) {
        fprintf(stderr, "saccade: %s takes %dx%d scenes; %s scenes are %dx%d\n", model, m.canvas,
                m.canvas, dist_name, dp.canvas, dp.canvas);
        goto done;
    }
    if (sc_fashion_mnist_load("test", data, &test)) {
        cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    if (sc_stn_test(m.st, m.cls, &dp, &test, STN_TEST_SEED, (size_t)n, &ev)) {
        cli_fail("eval stn");
        goto done;
    }
    if (json) {
        if (cli_json_emit(stdout, eval_stn_json(model, m.st ? "stcnn" : "cnn", dist_name, n, &ev)))
            goto done;
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
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
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
    if ((prc = cli_set_threads(V, threads))) return prc;
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
    const char *warn = sc_bundled_model_warning(model, img.w, img.h);
    if (warn) fprintf(stderr, "saccade: %s: warning: %s\n", image, warn);
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
        cJSON *j = cJSON_CreateObject(), *th = cJSON_CreateArray(), *top = cJSON_CreateArray();
        int ok = j && th && top && cJSON_AddStringToObject(j, "image", image) &&
                 cJSON_AddStringToObject(j, "model", model) &&
                 (!warn || cJSON_AddStringToObject(j, "warning", warn));
        for (int i = 0; ok && i < 6; i++)
            ok = cJSON_AddItemToArray(th, cli_json_fixed(theta[i], 6));
        for (int i = 0; ok && i < K && i < 5; i++) {
            cJSON *t = cJSON_CreateObject();
            ok = t && cJSON_AddItemToArray(top, t) &&
                 cJSON_AddStringToObject(t, "class", sc_classifier_class_name(cl, order[i])) &&
                 cJSON_AddNumberToObject(t, "index", order[i]) &&
                 cli_json_add_fixed(t, "probability", probs[order[i]], 6);
        }
        if (ok && cJSON_AddItemToObject(j, "theta", th)) th = NULL;
        if (ok && !th && cJSON_AddItemToObject(j, "top", top)) top = NULL;
        if (!ok || th || top) {
            cJSON_Delete(j);
            j = NULL;
        }
        cJSON_Delete(th);
        cJSON_Delete(top);
        if (cli_json_emit(stdout, j)) goto done;
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
