/* saccade train: train a model with the shared training loop (sc_train.h).
 * Models: classifier (Fashion-MNIST). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include <cjson/cJSON.h>
#include "saccade/sc_classifier.h"
#include "saccade/sc_stn_train.h"

void cli_train_classifier_help(FILE *out) {
    fprintf(out,
            "usage: saccade train classifier [OPTIONS] -o FILE\n\n"
            "CNN image classifier on Fashion-MNIST (train split; the test split is evaluated\n"
            "after every epoch and at the end).\n\n"
            "Options:\n"
            "  --data DIR            Fashion-MNIST folder (default $%s or %s)\n"
            "  --epochs E            epochs (default 3)\n"
            "  --batch B             batch size (default 128)\n"
            "  --lr LR               AdamW learning rate, cosine schedule (default 0.002)\n"
            "  --weight-decay WD     AdamW decoupled weight decay (default 0.01)\n"
            "  --dropout P           dropout before the head (default 0.1)\n"
            "  --seed S              seed for weights, batch order, augmentation (default 0)\n"
            "  --threads N           threads (default: all cores)\n"
            "  --channels C1,C2,...  encoder stage widths (default 32,64,128; 2x2 max pool\n"
            "                        after every stage but the last)\n"
            "  --augment             random crop (zero padding 2) and horizontal flip\n"
            "  --no-batchnorm        convolutions with biases and no batch norm (then a run\n"
            "                        on N MPI ranks makes the updates of one process)\n"
            "  -o FILE               model output (required); the final metrics go to\n"
            "                        FILE with .metrics.json in place\n"
            "                        of .safetensors\n"
            "  --checkpoint PATH     write resumable checkpoints there (atomically)\n"
            "  --checkpoint-every N  steps between checkpoints (default: epoch ends only)\n"
            "  --resume              continue from --checkpoint exactly\n"
            "  --metrics FILE.jsonl  per-step metrics (loss, lr; test accuracy at epoch ends)\n"
            "  --max-steps N         stop after N optimiser steps in total\n"
            "  --quiet               no progress output\n\n"
            "Examples:\n"
            "  saccade train classifier -o classifier.safetensors\n"
            "  saccade train classifier --epochs 1 --channels 16,32 --augment --max-steps 200 \\\n"
            "      -o small.safetensors\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

void cli_train_help(FILE *out) {
    fprintf(out,
            "usage: saccade train MODEL [OPTIONS]\n\n"
            "Models:\n"
            "  classifier   CNN image classifier on Fashion-MNIST\n"
            "  stn          spatial-transformer classifier (ST-CNN) or plain CNN on distorted\n"
            "               Fashion-MNIST (rotated/scaled/translated, or cluttered)\n"
            "  captioner    Show-Attend-Tell captioner, small CNN encoder trained end to end\n"
            "               on Fashion scenes generated on the fly\n"
            "  vqa          stacked attention network (or a baseline) answering questions\n"
            "               about Fashion scenes, or about your images (JSON lines)\n\n"
            "Under mpirun every rank trains on its slice of each batch and rank 0 writes the\n"
            "files. SIGTERM, SIGINT (Ctrl-C) or SIGHUP, to one rank or to mpirun, stops\n"
            "training at the next step with exit 1, on every rank; a second one ends it at\n"
            "once. The last checkpoint stays whole; no other file is left.\n\n"
            "'saccade train MODEL --help' shows one model's options; all of them follow.\n\n");
    cli_train_classifier_help(out);
    fprintf(out, "\n");
    cli_train_stn_help(out);
    fprintf(out, "\n");
    cli_train_captioner_help(out);
    fprintf(out, "\nModel vqa (stacked attention network, scenes VQA or JSON lines):\n");
    cli_train_vqa_help(out);
    fprintf(out, "\nExamples:\n"
                 "  saccade train classifier --epochs 1 -o classifier.safetensors\n"
                 "  saccade train stn --distortion cluttered --model stcnn -o stcnn.safetensors\n"
                 "  saccade train captioner -o captioner.safetensors\n"
                 "  saccade train vqa --data my-questions.jsonl -o my-vqa.safetensors\n");
}

typedef struct train_opts {
    const char *data, *out, *ckpt, *metrics;
    int epochs, batch, seed, threads, ckpt_every, resume, max_steps, augment, quiet, no_bn;
    float lr, wd, dropout;
    int nch, ch[SC_CNN_MAX_STAGES];
} train_opts;

/* Options and the model config; CLI_USAGE after printing why. */
static int train_classifier_options(int argc, char **argv, train_opts *o,
                                    sc_classifier_config *cfg) {
    *o = (train_opts){
        .epochs = 3, .batch = 128, .lr = 2e-3f, .wd = 0.01f, .dropout = 0.1f, .augment = 0};
    const char *V = "train";
    const cli_opt opts[] = {
        {"--data", CLI_STR, &o->data, 0, 0, "a folder", NULL, 0},
        {"-o|--output", CLI_STR, &o->out, 0, 0, "a file name", NULL, 0},
        {"--checkpoint", CLI_STR, &o->ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o->metrics, 0, 0, "a file name", NULL, 0},
        {"--epochs", CLI_INT, &o->epochs, 1, 10000, NULL, NULL, 0},
        {"--batch", CLI_INT, &o->batch, 2, 60000, NULL, NULL, 0},
        {"--seed", CLI_INT, &o->seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &o->threads, 1, 2147483647, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o->ckpt_every, 1, 2147483647, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &o->max_steps, 1, 2147483647, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &o->lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--weight-decay", CLI_FLOAT, &o->wd, 0.0, 1.0, NULL, NULL, 0},
        {"--dropout", CLI_FLOAT, &o->dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--channels", CLI_INTS, o->ch, 1, 1024, NULL, &o->nch, SC_CNN_MAX_STAGES},
        {"--resume", CLI_FLAG, &o->resume, 0, 0, NULL, NULL, 0},
        {"--augment", CLI_FLAG, &o->augment, 0, 0, NULL, NULL, 0},
        {"--no-batchnorm", CLI_FLAG, &o->no_bn, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o->quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (o->resume && !o->ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    if (o->nch == 0) {
        o->nch = 3;
        o->ch[0] = 32, o->ch[1] = 64, o->ch[2] = 128;
    }
    *cfg = sc_classifier_default_config();
    cfg->encoder = sc_cnn_config_make(1, o->nch, o->ch);
    for (int i = 0; i + 1 < o->nch; i++) cfg->encoder.pool[i] = 1;
    cfg->encoder.batchnorm = !o->no_bn;
    cfg->dropout = o->dropout;
    if (sc_classifier_config_validate(cfg)) return cli_usage(V, "%s", sc_last_error());
    if (!o->out) return cli_usage("train classifier", "need -o MODEL.safetensors");
    if ((prc = cli_set_threads("train classifier", o->threads))) return prc;
    return CLI_OK;
}

/* Everything a run holds; train_classifier_free releases it. */
typedef struct train_classifier_run {
    const train_opts *o;
    sc_classifier_config cfg;
    sc_fashion_mnist train, test;
    sc_classifier *m;
    sc_trainer *tr;
    char *cfg_json;
    double acc, tloss; /* the last test figures */
} train_classifier_run;

static void train_classifier_free(train_classifier_run *r) {
    free(r->cfg_json);
    sc_trainer_free(r->tr);
    sc_classifier_free(r->m);
    sc_fashion_mnist_free(&r->train);
    sc_fashion_mnist_free(&r->test);
}

/* The recipe: data, model, trainer with its metadata. CLI_OK or CLI_FAIL. */
static int train_classifier_setup(train_classifier_run *r) {
    const train_opts *o = r->o;
    const char *names[SC_FASHION_MNIST_CLASSES];
    for (int k = 0; k < SC_FASHION_MNIST_CLASSES; k++) names[k] = sc_fashion_mnist_class_name(k);
    if (sc_fashion_mnist_load("train", o->data, &r->train) ||
        sc_fashion_mnist_load("test", o->data, &r->test))
        return cli_fail("cannot load Fashion-MNIST");
    if (sc_classifier_create(&r->cfg, names, (uint64_t)o->seed, &r->m))
        return cli_fail("train classifier");
    const sc_param *ps, *bs;
    size_t np, nb;
    sc_classifier_params(r->m, &ps, &np);
    sc_classifier_buffers(r->m, &bs, &nb);
    sc_classifier_train_params cp = sc_classifier_train_default_params();
    cp.epochs = o->epochs;
    cp.batch = o->batch;
    cp.lr = o->lr;
    cp.weight_decay = o->wd;
    cp.seed = (uint64_t)o->seed;
    cp.max_steps = o->max_steps;
    sc_train_params tp;
    if (sc_classifier_train_recipe(&cp, r->train.n, &tp)) return cli_fail("train classifier");
    tp.checkpoint_path = o->ckpt;
    tp.checkpoint_every = o->ckpt_every;
    tp.metrics_path = o->metrics;
    tp.resume = o->resume;
    tp.label = "train classifier";
    tp.comm = cli_comm();
    if (o->quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, r->train.n, ps, np, bs, nb, &r->tr))
        return cli_fail("train classifier");
    r->cfg_json = sc_classifier_config_to_json(&r->cfg);
    char *cls_json = sc_classifier_classes_json(r->m);
    int bad = !r->cfg_json || !cls_json ||
              sc_trainer_set_metadata(r->tr, SC_MODEL_KIND_KEY, "classifier") ||
              sc_trainer_set_metadata(r->tr, "saccade.config", r->cfg_json) ||
              sc_trainer_set_metadata(r->tr, "saccade.classes", cls_json);
    free(cls_json);
    return bad ? cli_fail("train classifier") : CLI_OK;
}

static sc_status test_and_log(train_classifier_run *r) {
    const sc_fashion_mnist *t = &r->test;
    sc_status s =
        sc_classifier_evaluate(r->m, t->images, t->labels, t->n, NULL, &r->acc, &r->tloss);
    const char *keys[2] = {"test_accuracy", "test_loss"};
    double vals[2] = {r->acc, r->tloss};
    return s ? s : sc_trainer_log(r->tr, 2, keys, vals);
}

/* The loop, with the test figures at every epoch end (and at the end when
 * the run stops mid-epoch). CLI_OK or CLI_FAIL. */
static int train_classifier_loop(train_classifier_run *r) {
    const train_opts *o = r->o;
    const int S = SC_FASHION_MNIST_SIDE;
    float *x = malloc((size_t)o->batch * S * S * sizeof(float));
    int32_t *y = malloc((size_t)o->batch * sizeof(int32_t));
    if (!x || !y) {
        free(x), free(y);
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return cli_fail("train classifier");
    }
    const int rank0 = sc_trainer_is_writer(r->tr); /* data-parallel: rank 0 tests and prints */
    if (o->resume && rank0)
        fprintf(stderr, "resuming from %s at step %lld\n", o->ckpt,
                (long long)sc_trainer_global_step(r->tr));
    const int *idx;
    size_t count;
    int nx, evaluated_at_end = 0;
    while ((nx = sc_trainer_next(r->tr, &idx, &count)) == 1) {
        double loss;
        sc_fashion_mnist_batch(&r->train, idx, count, o->augment, sc_trainer_rng(r->tr), x, y);
        if (sc_classifier_train_batch(r->m, x, y, (int)count, sc_trainer_rng(r->tr), &loss, NULL) ||
            sc_trainer_step(r->tr, loss, 0, NULL, NULL))
            break;
        evaluated_at_end = 0;
        if (sc_trainer_at_epoch_end(r->tr) && rank0) {
            if (test_and_log(r)) break;
            printf("epoch %lld/%d: train loss %.4f, test accuracy %.2f%%, test loss %.4f (%.1f "
                   "s)\n",
                   (long long)sc_trainer_epoch(r->tr) + 1, o->epochs, sc_trainer_epoch_loss(r->tr),
                   100 * r->acc, r->tloss, sc_trainer_elapsed(r->tr));
            fflush(stdout);
            evaluated_at_end = 1;
        }
    }
    free(x), free(y);
    if (nx != 0 || (rank0 && !evaluated_at_end && test_and_log(r)))
        return cli_fail("train classifier");
    return CLI_OK;
}

/* The model file and its metrics summary. CLI_OK or CLI_FAIL. */
static int train_classifier_finish(train_classifier_run *r, int full_argc, char **full_argv) {
    const train_opts *o = r->o;
    if (!sc_trainer_is_writer(r->tr)) return CLI_OK;
    if (sc_classifier_save(r->m, o->out)) return cli_fail("train classifier");
    char cmd[4096];
    cli_command_line(full_argc, full_argv, cmd, sizeof cmd);
    cJSON *j = cJSON_CreateObject();
    int ok = j && cJSON_AddStringToObject(j, "model", o->out) &&
             cli_json_add_fixed(j, "test_accuracy", r->acc, 6) &&
             cli_json_add_fixed(j, "test_loss", r->tloss, 6) &&
             cli_json_add_fixed(j, "train_loss", sc_trainer_epoch_loss(r->tr), 6) &&
             cJSON_AddNumberToObject(j, "epochs", o->epochs) &&
             cJSON_AddNumberToObject(j, "steps", (double)sc_trainer_global_step(r->tr)) &&
             cJSON_AddNumberToObject(j, "seed", o->seed) &&
             cJSON_AddNumberToObject(j, "batch", o->batch) &&
             cli_json_add_fixed(j, "lr", o->lr, -1) &&
             cli_json_add_fixed(j, "seconds", sc_trainer_elapsed(r->tr), 2) &&
             cJSON_AddNumberToObject(j, "threads", sc_get_num_threads()) &&
             cJSON_AddStringToObject(j, "command", cmd) &&
             cJSON_AddRawToObject(j, "config", r->cfg_json);
    if (!ok) {
        cJSON_Delete(j);
        j = NULL;
    }
    char *mpath;
    int rc = cli_write_metrics(o->out, j, "train classifier", &mpath);
    if (!rc) {
        printf("test accuracy %.2f%% after %lld steps (%.1f s); model: %s, metrics: %s\n",
               100 * r->acc, (long long)sc_trainer_global_step(r->tr), sc_trainer_elapsed(r->tr),
               o->out, mpath);
    }
    free(mpath);
    return rc;
}

static int train_classifier(int argc, char **argv, int full_argc, char **full_argv) {
    train_opts o;
    train_classifier_run r = {.o = &o};
    int rc = train_classifier_options(argc, argv, &o, &r.cfg);
    if (rc) return rc;
    rc = train_classifier_setup(&r);
    if (!rc) rc = train_classifier_loop(&r);
    if (!rc) rc = train_classifier_finish(&r, full_argc, full_argv);
    train_classifier_free(&r);
    return rc;
}

int cli_train_main(int argc, char **argv) {
    if (argc < 2) return cli_usage("train", "need a MODEL (classifier, stn, captioner, vqa)");
    cli_comm(); /* under mpirun: every rank joins before any can fail */
    if (!strcmp(argv[1], "classifier")) return train_classifier(argc - 1, argv + 1, argc, argv);
    if (!strcmp(argv[1], "stn")) return cli_train_stn_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "captioner"))
        return cli_train_captioner_main(argc - 1, argv + 1, argc, argv);
    if (!strcmp(argv[1], "vqa")) return cli_train_vqa_main(argc - 1, argv + 1);
    return cli_usage("train", "unknown model '%s' (known: classifier, stn, captioner, vqa)",
                     argv[1]);
}
