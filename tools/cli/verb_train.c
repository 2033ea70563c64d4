/* saccade train: train a model with the shared training loop (sc_train.h).
 * Models: classifier (Fashion-MNIST). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "saccade/sc_classifier.h"

void cli_train_help(FILE *out) {
    fprintf(out,
            "usage: saccade train MODEL [OPTIONS]\n\n"
            "Models:\n"
            "  classifier   CNN image classifier on Fashion-MNIST (train split; the test\n"
            "               split is evaluated after every epoch and at the end)\n"
            "  captioner    Show-Attend-Tell captioner, small CNN encoder trained end to end\n"
            "               on Fashion scenes generated on the fly\n\n"
            "Options (classifier):\n"
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
            "  -o FILE               model output (default classifier.safetensors); the\n"
            "                        final metrics go to FILE with .metrics.json in place\n"
            "                        of .safetensors\n"
            "  --checkpoint PATH     write resumable checkpoints there (atomically)\n"
            "  --checkpoint-every N  steps between checkpoints (default: epoch ends only)\n"
            "  --resume              continue from --checkpoint exactly\n"
            "  --metrics FILE.jsonl  per-step metrics (loss, lr; test accuracy at epoch ends)\n"
            "  --max-steps N         stop after N optimiser steps in total\n"
            "  --quiet               no progress output\n\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
    fprintf(out, "\n");
    cli_train_stn_help(out);
    fprintf(out, "\n");
    cli_train_captioner_help(out);
    fprintf(out, "\nModel vqa (stacked attention network, scenes VQA or JSON lines):\n");
    cli_train_vqa_help(out);
}

typedef struct {
    const char *data, *out, *ckpt, *metrics;
    int epochs, batch, seed, threads, ckpt_every, resume, max_steps, augment, quiet;
    float lr, wd, dropout;
    int nch, ch[SC_CNN_MAX_STAGES];
} train_opts;

/* Batch of 28x28 uint8 images -> floats in [0, 1], with optional random
 * crop (zero padding 2) and horizontal flip from the trainer's rng. */
static void make_batch(const sc_fashion_mnist *d, const int *idx, size_t n, int augment,
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

static int train_classifier(int argc, char **argv, int full_argc, char **full_argv) {
    train_opts o = {.out = "classifier.safetensors",
                    .epochs = 3,
                    .batch = 128,
                    .lr = 2e-3f,
                    .wd = 0.01f,
                    .dropout = 0.1f,
                    .augment = 0};
    const char *V = "train";
    const cli_opt opts[] = {
        {"--data", CLI_STR, &o.data, 0, 0, "a folder", NULL, 0},
        {"-o|--output", CLI_STR, &o.out, 0, 0, "a file name", NULL, 0},
        {"--checkpoint", CLI_STR, &o.ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o.metrics, 0, 0, "a file name", NULL, 0},
        {"--epochs", CLI_INT, &o.epochs, 1, 10000, NULL, NULL, 0},
        {"--batch", CLI_INT, &o.batch, 2, 60000, NULL, NULL, 0},
        {"--seed", CLI_INT, &o.seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &o.threads, 1, 1024, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o.ckpt_every, 1, 2147483647, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &o.max_steps, 1, 2147483647, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &o.lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--weight-decay", CLI_FLOAT, &o.wd, 0.0, 1.0, NULL, NULL, 0},
        {"--dropout", CLI_FLOAT, &o.dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--channels", CLI_INTS, o.ch, 1, 1024, NULL, &o.nch, SC_CNN_MAX_STAGES},
        {"--resume", CLI_FLAG, &o.resume, 0, 0, NULL, NULL, 0},
        {"--augment", CLI_FLAG, &o.augment, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o.quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (o.resume && !o.ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    if (o.nch == 0) {
        o.nch = 3;
        o.ch[0] = 32, o.ch[1] = 64, o.ch[2] = 128;
    }
    sc_classifier_config cfg = sc_classifier_default_config();
    cfg.encoder = sc_cnn_config_make(1, o.nch, o.ch);
    for (int i = 0; i + 1 < o.nch; i++) cfg.encoder.pool[i] = 1;
    cfg.dropout = o.dropout;
    if (sc_classifier_config_validate(&cfg)) return cli_usage(V, "%s", sc_last_error());
    if (o.threads && sc_set_num_threads(o.threads)) return cli_fail(NULL);

    sc_fashion_mnist train = {0}, test = {0};
    sc_classifier *m = NULL;
    sc_trainer *tr = NULL;
    float *x = NULL;
    int32_t *y = NULL;
    char *cfg_json = NULL, *cls_json = NULL, *mpath = NULL;
    int rc = CLI_FAIL;
    const char *names[SC_FASHION_MNIST_CLASSES];
    for (int k = 0; k < SC_FASHION_MNIST_CLASSES; k++) names[k] = sc_fashion_mnist_class_name(k);
    if (sc_fashion_mnist_load("train", o.data, &train) ||
        sc_fashion_mnist_load("test", o.data, &test)) {
        cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    if (sc_classifier_create(&cfg, names, (uint64_t)o.seed, &m)) goto fail;
    const sc_param *ps, *bs;
    size_t np, nb;
    sc_classifier_params(m, &ps, &np);
    sc_classifier_buffers(m, &bs, &nb);
    sc_train_params tp = sc_train_default_params();
    tp.epochs = o.epochs;
    tp.batch_size = (size_t)o.batch;
    tp.seed = (uint64_t)o.seed;
    tp.optim = sc_adamw_default_params();
    tp.optim.lr = o.lr;
    tp.optim.weight_decay = o.wd;
    size_t per_epoch = (train.n + (size_t)o.batch - 1) / (size_t)o.batch;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.base_lr = o.lr;
    tp.schedule.t_max = (int64_t)(per_epoch * (size_t)o.epochs);
    tp.checkpoint_path = o.ckpt;
    tp.checkpoint_every = o.ckpt_every;
    tp.metrics_path = o.metrics;
    tp.resume = o.resume;
    tp.max_steps = o.max_steps;
    tp.label = "train classifier";
    if (o.quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, train.n, ps, np, bs, nb, &tr)) goto fail;
    cfg_json = sc_classifier_config_to_json(&cfg);
    cls_json = sc_classifier_classes_json(m);
    if (!cfg_json || !cls_json || sc_trainer_set_metadata(tr, SC_MODEL_KIND_KEY, "classifier") ||
        sc_trainer_set_metadata(tr, "saccade.config", cfg_json) ||
        sc_trainer_set_metadata(tr, "saccade.classes", cls_json))
        goto fail;
    const int S = SC_FASHION_MNIST_SIDE;
    x = malloc((size_t)o.batch * S * S * sizeof(float));
    y = malloc((size_t)o.batch * sizeof(int32_t));
    if (!x || !y) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (o.resume)
        fprintf(stderr, "resuming from %s at step %lld\n", o.ckpt,
                (long long)sc_trainer_global_step(tr));
    const int *idx;
    size_t count;
    int r;
    double acc = 0, tloss = 0;
    int evaluated_at_end = 0;
    while ((r = sc_trainer_next(tr, &idx, &count)) == 1) {
        double loss;
        make_batch(&train, idx, count, o.augment, sc_trainer_rng(tr), x, y);
        if (sc_classifier_train_batch(m, x, y, (int)count, sc_trainer_rng(tr), &loss, NULL))
            goto fail;
        if (sc_trainer_step(tr, loss, 0, NULL, NULL)) goto fail;
        evaluated_at_end = 0;
        if (sc_trainer_at_epoch_end(tr)) {
            if (sc_classifier_evaluate(m, test.images, test.labels, test.n, NULL, &acc, &tloss))
                goto fail;
            const char *keys[2] = {"test_accuracy", "test_loss"};
            double vals[2] = {acc, tloss};
            if (sc_trainer_log(tr, 2, keys, vals)) goto fail;
            printf(
                "epoch %lld/%d: train loss %.4f, test accuracy %.2f%%, test loss %.4f (%.1f s)\n",
                (long long)sc_trainer_epoch(tr) + 1, o.epochs, sc_trainer_epoch_loss(tr), 100 * acc,
                tloss, sc_trainer_elapsed(tr));
            fflush(stdout);
            evaluated_at_end = 1;
        }
    }
    if (r < 0) goto fail;
    if (!evaluated_at_end) {
        if (sc_classifier_evaluate(m, test.images, test.labels, test.n, NULL, &acc, &tloss))
            goto fail;
        const char *keys[2] = {"test_accuracy", "test_loss"};
        double vals[2] = {acc, tloss};
        if (sc_trainer_log(tr, 2, keys, vals)) goto fail;
    }
    if (sc_classifier_save(m, o.out)) goto fail;
    char cmd[4096], json[8192];
    cli_command_line(full_argc, full_argv, cmd, sizeof cmd);
    FILE *mem = fmemopen(json, sizeof json, "w");
    if (!mem) {
        sc_set_error(SC_ERR_IO, "fmemopen failed");
        goto fail;
    }
    fprintf(mem, "{\"model\": ");
    cli_json_string(mem, o.out);
    fprintf(mem,
            ", \"test_accuracy\": %.6f, \"test_loss\": %.6f, \"train_loss\": %.6f, "
            "\"epochs\": %d, \"steps\": %lld, \"seed\": %d, \"batch\": %d, \"lr\": %g, "
            "\"seconds\": %.2f, \"threads\": %d, \"command\": ",
            acc, tloss, sc_trainer_epoch_loss(tr), o.epochs, (long long)sc_trainer_global_step(tr),
            o.seed, o.batch, (double)o.lr, sc_trainer_elapsed(tr), sc_get_num_threads());
    cli_json_string(mem, cmd);
    fprintf(mem, ", \"config\": %s}\n", cfg_json);
    long len = ftell(mem);
    fclose(mem);
    if (len <= 0 || (size_t)len >= sizeof json) {
        sc_set_error(SC_ERR_LIMIT, "metrics summary too long");
        goto fail;
    }
    mpath = cli_metrics_path(o.out);
    if (!mpath || sc_write_file_atomic(mpath, json, (size_t)len)) goto fail;
    printf("test accuracy %.2f%% after %lld steps (%.1f s); model: %s, metrics: %s\n", 100 * acc,
           (long long)sc_trainer_global_step(tr), sc_trainer_elapsed(tr), o.out, mpath);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail("train classifier");
done:
    free(x);
    free(y);
    free(cfg_json);
    free(cls_json);
    free(mpath);
    sc_trainer_free(tr);
    sc_classifier_free(m);
    sc_fashion_mnist_free(&train);
    sc_fashion_mnist_free(&test);
    return rc;
}

int cli_train_main(int argc, char **argv) {
    if (argc < 2) return cli_usage("train", "need a MODEL (classifier, stn, captioner, vqa)");
    if (!strcmp(argv[1], "classifier")) return train_classifier(argc - 1, argv + 1, argc, argv);
    if (!strcmp(argv[1], "stn")) return cli_train_stn_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "captioner")) return cli_train_captioner_main(argc - 1, argv + 1, argc, argv);
    if (!strcmp(argv[1], "vqa")) return cli_train_vqa_main(argc - 1, argv + 1);
    return cli_usage("train", "unknown model '%s' (known: classifier, stn, captioner, vqa)",
                     argv[1]);
}
