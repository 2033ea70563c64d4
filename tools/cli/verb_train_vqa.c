/* saccade train vqa: stacked attention network (or a baseline) on scenes VQA
 * or a user JSON-lines file, with the shared training loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <float.h>
#include "cli.h"
#include "saccade/sc_vqa_train.h"

static double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_train_vqa_help(FILE *out) {
    fprintf(
        out,
        "usage: saccade train vqa [OPTIONS] -o MODEL.safetensors\n\n"
        "  --data scenes|FILE.jsonl  scenes VQA generated on the fly (default), or JSON\n"
        "                        lines {\"image\": path, \"question\": text, \"answer\": text}\n"
        "                        (a relative image path is relative to the folder holding\n"
        "                        FILE.jsonl, not the working directory; images resized to\n"
        "                        96x96; vocabulary and answer set built from the training\n"
        "                        questions)\n"
        "  --val-split F         FILE: hold out a fraction F (0 to <1) of the questions,\n"
        "                        chosen by --seed (the same seed, the same lines), and\n"
        "                        report accuracy on them each epoch (\"val_accuracy\" in\n"
        "                        --metrics) besides the training accuracy (default 0)\n"
        "  --arch san|qonly|pooled|coatt   model (default san): stacked attention,\n"
        "                        question only, mean-pooled image, or hierarchical\n"
        "                        question-image co-attention (Lu et al. 2016: parallel\n"
        "                        co-attention at word, phrase and question level;\n"
        "                        --embed defaults to --hidden, --mlp sets the width of\n"
        "                        its answer layers, --hops is unused)\n"
        "  --epochs E            epochs (default 10: enough for scenes, whose epochs are\n"
        "                        --questions 40000 questions; a file's epoch is one pass\n"
        "                        over it, so a 50-question file gets 10 steps in 10\n"
        "                        epochs: give it hundreds)\n"
        "  --questions N         scenes: questions per epoch (default 40000)\n"
        "  --pool N              scenes: train scenes kept in memory (default 10000)\n"
        "  --eval-n N            scenes: held-out questions evaluated per epoch (default 2000)\n"
        "  --batch B             batch size (default 64)\n"
        "  --lr LR               Adam learning rate, cosine schedule (default 0.002)\n"
        "  --hops K              attention hops (default 2)\n"
        "  --hidden D  --att-dim A  --embed E   sizes (defaults 128, 64, 64)\n"
        "  --att-sup W           scenes: supervised attention, adds W x the mean over\n"
        "                        supervised hops of -log(attention mass in the target\n"
        "                        item's box): first hop on the first item named, last\n"
        "                        hop on the item asked about; \"is A above B?\" as \"what\n"
        "                        is above B?\" (default 0: off). coatt: its word-level\n"
        "                        image attention as the first hop, its question-level\n"
        "                        one as the last\n"
        "  --hop-coords          hops know positions: each hop after the first sees every\n"
        "                        cell's offset from where the previous hop looked, and\n"
        "                        the classifier gets every hop's attended position\n"
        "  --mlp H               answer classifier with a hidden ReLU layer of H units\n"
        "                        (default 0: linear, as the SAN paper)\n"
        "  --encoder-from FILE   start the image encoder from the encoder.* tensors,\n"
        "                        encoder config and input normalisation of a saccade\n"
        "                        model file (e.g. the scenes captioner); the VQA file\n"
        "                        keeps its own copy and names FILE in its config\n"
        "  --freeze-encoder      keep that encoder fixed (BN in eval mode); image\n"
        "                        features are then computed once per image and cached\n"
        "  --cache-mb N          memory bound of that cache (default 2048; above it,\n"
        "                        or with 0, features are recomputed every batch)\n"
        "  --seed S              seed for data, weights and batch order (default 0)\n"
        "  --threads N           threads (default: all cores)\n"
        "  -o FILE               model output (required)\n"
        "  --checkpoint PATH     resumable checkpoints   --checkpoint-every N  steps\n"
        "  --resume              continue from --checkpoint exactly\n"
        "  --metrics FILE.jsonl  per-step metrics (held-out accuracy at epoch ends)\n"
        "  --max-steps N         stop after N optimiser steps\n"
        "  --quiet               no progress output\n\n"
        "Examples:\n"
        "  saccade train vqa -o vqa.safetensors\n"
        "  saccade train vqa --epochs 1 --questions 2000 --pool 500 --eval-n 200 -o "
        "small.safetensors\n"
        "  saccade train vqa --data my-questions.jsonl --epochs 20 --batch 16 -o "
        "my-vqa.safetensors\n"
        "  saccade train vqa --data my-questions.jsonl --val-split 0.2 --epochs 300 --batch 16 "
        "-o my-vqa.safetensors\n"
        "  saccade train vqa --encoder-from assets/models/scenes-captioner.safetensors \\\n"
        "      --freeze-encoder --att-sup 1 -o vqa-frozen.safetensors\n");
}

static void print_eval(FILE *out, const sc_vqa_eval_result *r, int scenes) {
    fprintf(out, "accuracy %.2f%% (%d/%d)", r->n ? 100.0 * r->correct / r->n : 0.0, r->correct,
            r->n);
    if (scenes) {
        for (int f = 0; f < SC_VQA_NUM_FAMILIES; f++)
            fprintf(out, ", %s %.1f%%", sc_vqa_family_name(f),
                    r->fam_n[f] ? 100.0 * r->fam_correct[f] / r->fam_n[f] : 0.0);
        if (r->point_n)
            fprintf(out, ", pointing %.1f%% (%d)", 100.0 * r->point_hit / r->point_n, r->point_n);
    }
    fprintf(out, "\n");
}

typedef struct train_vqa_opts {
    const char *data, *out, *ckpt, *metrics, *arch, *enc_from;
    int freeze, hop_coords, mlp, hidden, att_dim, embed, cache_mb;
    int epochs, questions, pool, eval_n, batch, hops;
    int seed, threads, ckpt_every, resume, max_steps, quiet;
    float lr, att_sup, val_split;
} train_vqa_opts;

/* Options and the model config they describe; CLI_USAGE after printing why. */
static int train_vqa_options(int argc, char **argv, train_vqa_opts *o, sc_vqa_config *cfg) {
    const char *V = "train vqa";
    *o = (train_vqa_opts){.data = "scenes",
                          .arch = "san",
                          .cache_mb = 2048,
                          .epochs = 10,
                          .questions = 40000,
                          .pool = 10000,
                          .eval_n = 2000,
                          .batch = 64,
                          .hops = 2,
                          .lr = 0.002f};
    const int IMAX = 2147483647;
    const cli_opt opts[] = {
        {"--data", CLI_STR, &o->data, 0, 0, "scenes or a .jsonl file", NULL, 0},
        {"-o|--output", CLI_STR, &o->out, 0, 0, "a file name", NULL, 0},
        {"--arch", CLI_STR, &o->arch, 0, 0, "san, qonly, pooled or coatt", NULL, 0},
        {"--checkpoint", CLI_STR, &o->ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o->metrics, 0, 0, "a file name", NULL, 0},
        {"--encoder-from", CLI_STR, &o->enc_from, 0, 0, "a model file", NULL, 0},
        {"--epochs", CLI_INT, &o->epochs, 1, IMAX, NULL, NULL, 0},
        {"--questions", CLI_INT, &o->questions, 1, IMAX, NULL, NULL, 0},
        {"--pool", CLI_INT, &o->pool, 1, IMAX, NULL, NULL, 0},
        {"--eval-n", CLI_INT, &o->eval_n, 0, IMAX, NULL, NULL, 0},
        {"--batch", CLI_INT, &o->batch, 1, IMAX, NULL, NULL, 0},
        {"--hops", CLI_INT, &o->hops, 1, IMAX, NULL, NULL, 0},
        {"--mlp", CLI_INT, &o->mlp, 0, IMAX, NULL, NULL, 0},
        {"--hidden", CLI_INT, &o->hidden, 1, IMAX, NULL, NULL, 0},
        {"--att-dim", CLI_INT, &o->att_dim, 1, IMAX, NULL, NULL, 0},
        {"--embed", CLI_INT, &o->embed, 1, IMAX, NULL, NULL, 0},
        {"--cache-mb", CLI_INT, &o->cache_mb, 0, IMAX, NULL, NULL, 0},
        {"--seed", CLI_INT, &o->seed, 0, IMAX, NULL, NULL, 0},
        {"--threads", CLI_INT, &o->threads, 1, 2147483647, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o->ckpt_every, 1, IMAX, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &o->max_steps, 1, IMAX, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &o->lr, FLT_MIN, FLT_MAX, NULL, NULL, 0},
        {"--att-sup", CLI_FLOAT, &o->att_sup, 0, 100, NULL, NULL, 0},
        {"--val-split", CLI_FLOAT, &o->val_split, 0, 0.999f, NULL, NULL, 0},
        {"--freeze-encoder", CLI_FLAG, &o->freeze, 0, 0, NULL, NULL, 0},
        {"--hop-coords", CLI_FLAG, &o->hop_coords, 0, 0, NULL, NULL, 0},
        {"--resume", CLI_FLAG, &o->resume, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o->quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (o->resume && !o->ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    *cfg = sc_vqa_default_config();
    if (sc_vqa_arch_from_name(o->arch, &cfg->arch)) return cli_usage(V, "%s", sc_last_error());
    cfg->hops = o->hops;
    if (o->hidden) cfg->hidden_dim = o->hidden;
    if (o->att_dim) cfg->att_dim = o->att_dim;
    if (o->embed) cfg->embed_dim = o->embed;
    if (cfg->arch == SC_VQA_COATT && !o->embed) cfg->embed_dim = cfg->hidden_dim;
    cfg->mlp_dim = o->mlp;
    cfg->hop_coords = o->hop_coords;
    if (o->freeze && !o->enc_from)
        return cli_usage(V, "--freeze-encoder needs --encoder-from FILE");
    if (o->att_sup > 0 &&
        ((cfg->arch != SC_VQA_SAN && cfg->arch != SC_VQA_COATT) || strcmp(o->data, "scenes")))
        return cli_usage(V, "--att-sup needs --arch san or coatt and scenes data (item boxes)");
    if (o->val_split > 0 && !strcmp(o->data, "scenes"))
        return cli_usage(V, "--val-split needs --data FILE.jsonl (scenes have --eval-n)");
    if (o->enc_from && cfg->arch == SC_VQA_QONLY)
        return cli_usage(V, "--encoder-from: the qonly baseline has no image encoder");
    if (sc_vqa_config_validate(cfg)) return cli_usage(V, "%s", sc_last_error());
    if (!o->out) return cli_usage(V, "need -o MODEL.safetensors");
    if (o->enc_from) {
        if (sc_vqa_encoder_config_from_file(o->enc_from, cfg)) return cli_fail(NULL);
        cfg->freeze_encoder = o->freeze;
    }
    if ((prc = cli_set_threads(V, o->threads))) return prc;
    return CLI_OK;
}

/* Everything a run holds; train_vqa_free releases it. */
typedef struct train_vqa_run {
    const train_vqa_opts *o;
    sc_vqa_config cfg;
    int scenes, questions;
    sc_vqa_dataset train, test, val; /* test: scenes; val: --val-split of a file */
    sc_vqa_vocab vocab, answers;
    sc_vqa_model *m;
    sc_trainer *tr;
    float *img, *cache, *feats; /* batch images; frozen encoder: all features, batch features */
    uint8_t *amask;             /* attention targets (--att-sup) */
    int *img_ix, *lens;
    int32_t *ids, *tg;
} train_vqa_run;

static void train_vqa_free(train_vqa_run *r) {
    free(r->img);
    free(r->cache);
    free(r->feats);
    free(r->img_ix);
    free(r->ids);
    free(r->tg);
    free(r->lens);
    free(r->amask);
    sc_trainer_free(r->tr);
    sc_vqa_free(r->m);
    sc_vqa_vocab_free(&r->vocab);
    sc_vqa_vocab_free(&r->answers);
    sc_vqa_dataset_free(&r->train);
    sc_vqa_dataset_free(&r->test);
    sc_vqa_dataset_free(&r->val);
}

/* Frozen encoder: the features of every training image once, kept in
 * memory (n_images x P x C floats: 10000 scenes x 144 x 128 = 737 MB), if
 * that stays within --cache-mb. */
static sc_status train_vqa_cache(train_vqa_run *r) {
    const train_vqa_opts *o = r->o;
    int nimg = sc_vqa_dataset_n_images(&r->train),
        P = sc_vqa_grid_side(r->m) * sc_vqa_grid_side(r->m);
    int C = sc_vqa_feature_dim(r->m);
    double mb = (double)nimg * P * C * sizeof(float) / 1048576.0;
    if (mb > (double)o->cache_mb) {
        if (!o->quiet)
            fprintf(stderr,
                    "frozen encoder: feature cache of %.0f MB is above --cache-mb %d; "
                    "recomputing features every batch\n",
                    mb, o->cache_mb);
        return SC_OK;
    }
    double t0 = cli_now();
    sc_status s = sc_vqa_dataset_features(r->m, &r->train, &r->cache);
    if (s) return s;
    r->feats = malloc(sizeof(float) * (size_t)o->batch * P * C);
    r->img_ix = malloc(sizeof(int) * (size_t)o->batch);
    if (!r->feats || !r->img_ix) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!o->quiet)
        fprintf(stderr, "frozen encoder: features of %d images cached (%.0f MB, %.1f s)\n", nimg,
                mb, cli_now() - t0);
    return SC_OK;
}

/* The recipe: data, vocabularies, model, feature cache, trainer, buffers.
 * Returns CLI_OK or CLI_FAIL (reported). */
static int train_vqa_setup(train_vqa_run *r) {
    const train_vqa_opts *o = r->o;
    r->scenes = !strcmp(o->data, "scenes");
    r->questions = o->questions;
    if (r->scenes) {
        if (sc_vqa_dataset_scenes(&r->train, SC_SCENES_TRAIN, o->pool, (uint64_t)o->seed) ||
            (o->eval_n &&
             sc_vqa_dataset_scenes(&r->test, SC_SCENES_TEST, o->eval_n < 2000 ? o->eval_n : 2000,
                                   (uint64_t)o->seed)))
            return cli_fail(NULL);
        if (sc_vqa_scene_vocab(&r->vocab) || sc_vqa_scene_answers(&r->answers))
            return cli_fail("train vqa");
    } else {
        if (sc_vqa_dataset_jsonl(&r->train, o->data, r->cfg.image_size) ||
            sc_vqa_dataset_split(&r->train, o->val_split, (uint64_t)o->seed, &r->val))
            return cli_fail(NULL);
        if (o->val_split > 0 && !o->quiet)
            fprintf(stderr, "held out %d of %d questions (--val-split %g, seed %d)\n", r->val.n,
                    r->val.n + r->train.n, (double)o->val_split, o->seed);
        r->questions = r->train.n;
        if (sc_vqa_vocab_build((const char *const *)r->train.questions, (size_t)r->train.n,
                               &r->vocab) ||
            sc_vqa_dataset_answers(&r->train, &r->answers))
            return cli_fail("train vqa");
    }
    if (sc_vqa_create(&r->cfg, &r->vocab, &r->answers, (uint64_t)o->seed, &r->m) ||
        (o->enc_from && sc_vqa_load_encoder(r->m, o->enc_from)) ||
        (r->cfg.freeze_encoder && train_vqa_cache(r)))
        return cli_fail("train vqa");
    const sc_param *ps, *bs;
    size_t np, nb;
    sc_vqa_params(r->m, &ps, &np);
    sc_vqa_buffers(r->m, &bs, &nb);
    sc_vqa_train_params vp = sc_vqa_train_default_params();
    vp.epochs = o->epochs;
    vp.batch = o->batch;
    vp.lr = o->lr;
    vp.seed = (uint64_t)o->seed;
    vp.max_steps = o->max_steps;
    sc_train_params tp;
    if (sc_vqa_train_recipe(&vp, (size_t)r->questions, &tp)) return cli_fail("train vqa");
    tp.checkpoint_path = o->ckpt;
    tp.checkpoint_every = o->ckpt_every;
    tp.metrics_path = o->metrics;
    tp.resume = o->resume;
    tp.label = "train vqa";
    tp.comm = cli_comm();
    if (o->quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, (size_t)r->questions, ps, np, bs, nb, &r->tr))
        return cli_fail("train vqa");
    for (int i = 0; i < sc_vqa_metadata_count(r->m); i++) {
        const char *k;
        char *v;
        if (sc_vqa_metadata_at(r->m, i, &k, &v)) return cli_fail("train vqa");
        sc_status s = sc_trainer_set_metadata(r->tr, k, v);
        free(v);
        if (s) return cli_fail("train vqa");
    }
    const int S = r->cfg.image_size, T = r->cfg.max_len, B = o->batch;
    r->img = malloc(sizeof(float) * (size_t)B * 3 * S * S);
    r->ids = malloc(sizeof(int32_t) * (size_t)B * T);
    r->tg = malloc(sizeof(int32_t) * (size_t)B);
    r->lens = malloc(sizeof(int) * (size_t)B);
    if (o->att_sup > 0)
        r->amask = malloc((size_t)B * sc_vqa_attention_maps(r->m) * sc_vqa_grid_side(r->m) *
                          sc_vqa_grid_side(r->m));
    if (!r->img || !r->ids || !r->tg || !r->lens || (o->att_sup > 0 && !r->amask)) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return cli_fail("train vqa");
    }
    return CLI_OK;
}

/* The loop: batches, steps, held-out (or train) accuracy at epoch ends, and
 * the model file. Returns CLI_OK or CLI_FAIL (reported). */
static int train_vqa_loop(train_vqa_run *r) {
    const train_vqa_opts *o = r->o;
    const int rank0 = sc_trainer_is_writer(r->tr); /* data-parallel: rank 0 checks and saves */
    if (o->resume && rank0)
        fprintf(stderr, "resuming from %s at step %lld\n", o->ckpt,
                (long long)sc_trainer_global_step(r->tr));
    const size_t per =
        (size_t)sc_vqa_feature_dim(r->m) * sc_vqa_grid_side(r->m) * sc_vqa_grid_side(r->m);
    const int *idx;
    size_t count;
    int nx;
    sc_vqa_eval_result ev = {0};
    while ((nx = sc_trainer_next(r->tr, &idx, &count)) == 1) {
        int B = (int)count;
        if (sc_vqa_dataset_batch(&r->train, r->m, idx, B, r->cache ? NULL : r->img, r->ids, r->lens,
                                 r->tg, NULL, NULL, r->img_ix, r->amask))
            break;
        for (int b = 0; r->cache && b < B; b++)
            memcpy(r->feats + per * (size_t)b, r->cache + per * (size_t)r->img_ix[b],
                   sizeof(float) * per);
        float loss;
        double sup;
        if (sc_vqa_train_step(r->m, r->img, r->cache ? r->feats : NULL, r->ids, r->lens, r->tg,
                              r->amask, B, o->att_sup, &loss, &sup))
            break;
        const char *skeys[2] = {"ce", "att_sup"};
        double svals[2] = {loss, sup};
        if (sc_trainer_step(r->tr, loss + sup, r->amask ? 2 : 0, skeys, svals)) break;
        if (sc_trainer_at_epoch_end(r->tr) && rank0 && (r->scenes ? o->eval_n > 0 : 1)) {
            sc_vqa_eval_result_free(&ev);
            if (sc_vqa_evaluate(r->m, r->scenes ? &r->test : &r->train, o->eval_n, &ev)) break;
            const char *keys[2] = {r->scenes ? "test_accuracy" : "train_accuracy", "val_accuracy"};
            double vals[2] = {ev.n ? (double)ev.correct / ev.n : 0, 0};
            printf("epoch %lld/%d: loss %.4f, %s ", (long long)sc_trainer_epoch(r->tr) + 1,
                   o->epochs, sc_trainer_epoch_loss(r->tr), r->scenes ? "held-out" : "train");
            print_eval(stdout, &ev, r->scenes);
            if (r->val.n) {
                sc_vqa_eval_result_free(&ev);
                if (sc_vqa_evaluate(r->m, &r->val, 0, &ev)) break;
                vals[1] = ev.n ? (double)ev.correct / ev.n : 0;
                printf("  held-out (--val-split) ");
                print_eval(stdout, &ev, 0);
            }
            if (sc_trainer_log(r->tr, r->val.n ? 2 : 1, keys, vals)) break;
            fflush(stdout);
        }
    }
    sc_vqa_eval_result_free(&ev);
    if (nx != 0 || (rank0 && sc_vqa_save(r->m, o->out))) return cli_fail("train vqa");
    if (!rank0) return CLI_OK;
    printf("saved %s after %lld steps (%.1f s)\n", o->out, (long long)sc_trainer_global_step(r->tr),
           sc_trainer_elapsed(r->tr));
    return CLI_OK;
}

int cli_train_vqa_main(int argc, char **argv) {
    train_vqa_opts o;
    train_vqa_run r = {.o = &o};
    int rc = train_vqa_options(argc, argv, &o, &r.cfg);
    if (rc) return rc;
    rc = train_vqa_setup(&r);
    if (!rc) rc = train_vqa_loop(&r);
    train_vqa_free(&r);
    return rc;
}
