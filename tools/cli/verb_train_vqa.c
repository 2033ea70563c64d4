/* saccade train vqa: stacked attention network (or a baseline) on scenes VQA
 * or a user JSON-lines file, with the shared training loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "vqa_cli.h"

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
        "                        (paths relative to the file; images resized to 96x96;\n"
        "                        vocabulary and answer set built from this file)\n"
        "  --arch san|qonly|pooled   model (default san)\n"
        "  --epochs E            epochs (default 10)\n"
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
        "                        is above B?\" (default 0: off)\n"
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
        "  -o FILE               model output (default vqa.safetensors)\n"
        "  --checkpoint PATH     resumable checkpoints   --checkpoint-every N  steps\n"
        "  --resume              continue from --checkpoint exactly\n"
        "  --metrics FILE.jsonl  per-step metrics (held-out accuracy at epoch ends)\n"
        "  --max-steps N         stop after N optimiser steps\n"
        "  --quiet               no progress output\n");
}

static int print_eval(FILE *out, const vqa_eval_result *r, int scenes) {
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
    return 0;
}

static sc_status answers_from(const vqa_data *d, sc_vqa_vocab *out) {
    memset(out, 0, sizeof *out);
    char **list = malloc(sizeof(char *) * (size_t)d->n);
    if (!list) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = !strcmp(list[j], d->answers[i]);
        if (!seen) list[n++] = d->answers[i];
    }
    /* JSON round trip gives an owned copy. */
    sc_vqa_vocab tmp = {n, list};
    char *j = sc_vqa_vocab_to_json(&tmp);
    free(list);
    if (!j) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status st = sc_vqa_vocab_from_json(j, out);
    free(j);
    return st;
}

int cli_train_vqa_main(int argc, char **argv) {
    const char *V = "train vqa";
    const char *data = "scenes", *out = "vqa.safetensors", *ckpt = NULL, *metrics = NULL;
    const char *arch = "san", *enc_from = NULL;
    int freeze = 0, hop_coords = 0, mlp = 0, hidden = 0, att_dim = 0, embed = 0, cache_mb = 2048;
    int epochs = 10, questions = 40000, pool = 10000, eval_n = 2000, batch = 64, hops = 2;
    int seed = 0, threads = 0, ckpt_every = 0, resume = 0, max_steps = 0, quiet = 0;
    float lr = 0.002f, att_sup = 0.0f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int last = i + 1 >= argc;
#define NEED                                                                                       \
    if (last) return cli_usage(V, "%s needs a value", a);
#define INTARG(var, lo)                                                                            \
    {                                                                                              \
        NEED;                                                                                      \
        if (!cli_parse_int(argv[++i], &var) || var < (lo))                                         \
            return cli_usage(V, "bad value for %s: '%s'", a, argv[i]);                             \
    }
        if (!strcmp(a, "--data")) {
            NEED;
            data = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            NEED;
            out = argv[++i];
        } else if (!strcmp(a, "--arch")) {
            NEED;
            arch = argv[++i];
        } else if (!strcmp(a, "--checkpoint")) {
            NEED;
            ckpt = argv[++i];
        } else if (!strcmp(a, "--metrics")) {
            NEED;
            metrics = argv[++i];
        } else if (!strcmp(a, "--epochs"))
            INTARG(epochs, 1)
        else if (!strcmp(a, "--questions"))
            INTARG(questions, 1)
        else if (!strcmp(a, "--pool"))
            INTARG(pool, 1)
        else if (!strcmp(a, "--eval-n"))
            INTARG(eval_n, 0)
        else if (!strcmp(a, "--batch"))
            INTARG(batch, 1)
        else if (!strcmp(a, "--hops"))
            INTARG(hops, 1)
        else if (!strcmp(a, "--mlp"))
            INTARG(mlp, 0)
        else if (!strcmp(a, "--hidden"))
            INTARG(hidden, 1)
        else if (!strcmp(a, "--att-dim"))
            INTARG(att_dim, 1)
        else if (!strcmp(a, "--embed"))
            INTARG(embed, 1)
        else if (!strcmp(a, "--cache-mb"))
            INTARG(cache_mb, 0)
        else if (!strcmp(a, "--encoder-from")) {
            NEED;
            enc_from = argv[++i];
        } else if (!strcmp(a, "--freeze-encoder"))
            freeze = 1;
        else if (!strcmp(a, "--hop-coords"))
            hop_coords = 1;
        else if (!strcmp(a, "--seed"))
            INTARG(seed, 0)
        else if (!strcmp(a, "--threads"))
            INTARG(threads, 1)
        else if (!strcmp(a, "--checkpoint-every"))
            INTARG(ckpt_every, 1)
        else if (!strcmp(a, "--max-steps"))
            INTARG(max_steps, 1)
        else if (!strcmp(a, "--lr")) {
            NEED;
            if (!cli_parse_float(argv[++i], &lr) || !(lr > 0))
                return cli_usage(V, "bad value for --lr: '%s'", argv[i]);
        } else if (!strcmp(a, "--att-sup")) {
            NEED;
            if (!cli_parse_float(argv[++i], &att_sup) || !(att_sup >= 0) || !(att_sup <= 100))
                return cli_usage(V, "bad value for --att-sup: '%s' (0..100)", argv[i]);
        } else if (!strcmp(a, "--resume"))
            resume = 1;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else
            return cli_usage(V, "unknown %s '%s'", a[0] == '-' ? "option" : "argument", a);
    }
    if (resume && !ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    sc_vqa_config cfg = sc_vqa_default_config();
    if (sc_vqa_arch_from_name(arch, &cfg.arch)) return cli_usage(V, "%s", sc_last_error());
    cfg.hops = hops;
    if (hidden) cfg.hidden_dim = hidden;
    if (att_dim) cfg.att_dim = att_dim;
    if (embed) cfg.embed_dim = embed;
    cfg.mlp_dim = mlp;
    cfg.hop_coords = hop_coords;
    if (freeze && !enc_from) return cli_usage(V, "--freeze-encoder needs --encoder-from FILE");
    if (att_sup > 0 && (cfg.arch != SC_VQA_SAN || strcmp(data, "scenes")))
        return cli_usage(V, "--att-sup needs --arch san and scenes data (item boxes)");
    if (enc_from && cfg.arch == SC_VQA_QONLY)
        return cli_usage(V, "--encoder-from: the qonly baseline has no image encoder");
    if (sc_vqa_config_validate(&cfg)) return cli_usage(V, "%s", sc_last_error());
    if (enc_from) {
        if (sc_vqa_encoder_config_from_file(enc_from, &cfg)) return cli_fail(NULL);
        cfg.freeze_encoder = freeze;
    }
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);

    int scenes = !strcmp(data, "scenes");
    vqa_data tr_d = {0}, te_d = {0};
    sc_vqa_vocab vocab = {0}, answers = {0};
    sc_vqa_model *m = NULL;
    sc_trainer *tr = NULL;
    float *img = NULL, *dlog = NULL, *cache = NULL, *fb = NULL, *datt = NULL;
    uint8_t *amask = NULL; /* attention targets (--att-sup) */
    int *img_ix = NULL;
    int32_t *ids = NULL, *tg = NULL;
    int *lens = NULL;
    int rc = CLI_FAIL;
    if (scenes) {
        if (vqa_data_scenes(&tr_d, SC_SCENES_TRAIN, pool, (uint64_t)seed)) goto done;
        if (eval_n &&
            vqa_data_scenes(&te_d, SC_SCENES_TEST, eval_n < 2000 ? eval_n : 2000, (uint64_t)seed))
            goto done;
        if (sc_vqa_scene_vocab(&vocab) || sc_vqa_scene_answers(&answers)) goto fail;
    } else {
        if (vqa_data_jsonl(&tr_d, data, cfg.image_size)) goto done;
        questions = tr_d.n;
        if (sc_vqa_vocab_build((const char *const *)tr_d.questions, (size_t)tr_d.n, &vocab) ||
            answers_from(&tr_d, &answers))
            goto fail;
    }
    if (sc_vqa_create(&cfg, &vocab, &answers, (uint64_t)seed, &m)) goto fail;
    if (enc_from && sc_vqa_load_encoder(m, enc_from)) goto fail;
    /* Frozen encoder: the features of every training image once, kept in
     * memory (n_images x P x C floats: 10000 scenes x 144 x 128 = 737 MB),
     * if that stays within --cache-mb. */
    if (cfg.freeze_encoder) {
        int nimg = vqa_data_n_images(&tr_d), P = sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
        int C = sc_vqa_feature_dim(m), S = cfg.image_size;
        double mb = (double)nimg * P * C * sizeof(float) / 1048576.0;
        if (mb <= (double)cache_mb) {
            double t0 = cli_now();
            cache = malloc(sizeof(float) * (size_t)nimg * P * C);
            fb = malloc(sizeof(float) * 256 * 3 * (size_t)S * S);
            if (!cache || !fb) {
                sc_set_error(SC_ERR_NOMEM, "out of memory for the feature cache (%.0f MB)", mb);
                goto fail;
            }
            for (int s0 = 0; s0 < nimg; s0 += 256) {
                int n = nimg - s0 < 256 ? nimg - s0 : 256;
#pragma omp parallel for schedule(static)
                for (int i = 0; i < n; i++)
                    vqa_data_image(&tr_d, s0 + i, fb + (size_t)i * 3 * S * S);
                if (sc_vqa_encode_images(m, fb, n, cache + (size_t)s0 * P * C)) goto fail;
            }
            free(fb);
            fb = malloc(sizeof(float) * (size_t)batch * P * C);
            img_ix = malloc(sizeof(int) * (size_t)batch);
            if (!fb || !img_ix) {
                sc_set_error(SC_ERR_NOMEM, "out of memory");
                goto fail;
            }
            if (!quiet)
                fprintf(stderr, "frozen encoder: features of %d images cached (%.0f MB, %.1f s)\n",
                        nimg, mb, cli_now() - t0);
        } else if (!quiet) {
            fprintf(stderr,
                    "frozen encoder: feature cache of %.0f MB is above --cache-mb %d; "
                    "recomputing features every batch\n",
                    mb, cache_mb);
        }
    }
    const sc_param *ps, *bs;
    size_t np, nb;
    sc_vqa_params(m, &ps, &np);
    sc_vqa_buffers(m, &bs, &nb);
    sc_train_params tp = sc_train_default_params();
    tp.epochs = epochs;
    tp.batch_size = (size_t)batch;
    tp.seed = (uint64_t)seed;
    tp.optim = sc_adam_default_params();
    tp.optim.lr = lr;
    size_t per_epoch = ((size_t)questions + (size_t)batch - 1) / (size_t)batch;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.base_lr = lr;
    tp.schedule.t_max = (int64_t)(per_epoch * (size_t)epochs);
    if (max_steps && max_steps < tp.schedule.t_max) tp.schedule.t_max = max_steps;
    tp.schedule.warmup_steps = 200 < tp.schedule.t_max / 4 ? 200 : tp.schedule.t_max / 4;
    tp.schedule.warmup_start_factor = 0.1;
    tp.clip_grad_norm = 5.0;
    tp.checkpoint_path = ckpt;
    tp.checkpoint_every = ckpt_every;
    tp.metrics_path = metrics;
    tp.resume = resume;
    tp.max_steps = max_steps;
    tp.label = "train vqa";
    if (quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, (size_t)questions, ps, np, bs, nb, &tr)) goto fail;
    for (int i = 0; i < sc_vqa_metadata_count(m); i++) {
        const char *k;
        char *v;
        if (sc_vqa_metadata_at(m, i, &k, &v)) goto fail;
        sc_status s = sc_trainer_set_metadata(tr, k, v);
        free(v);
        if (s) goto fail;
    }
    int S = cfg.image_size, T = cfg.max_len, NA = answers.n;
    img = malloc(sizeof(float) * (size_t)batch * 3 * S * S);
    ids = malloc(sizeof(int32_t) * (size_t)batch * T);
    tg = malloc(sizeof(int32_t) * (size_t)batch);
    lens = malloc(sizeof(int) * (size_t)batch);
    dlog = malloc(sizeof(float) * (size_t)batch * NA);
    const int KP = cfg.hops * sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
    if (att_sup > 0) {
        amask = malloc((size_t)batch * KP);
        datt = malloc(sizeof(float) * (size_t)batch * KP);
    }
    if (!img || !ids || !tg || !lens || !dlog || (att_sup > 0 && (!amask || !datt))) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (resume)
        fprintf(stderr, "resuming from %s at step %lld\n", ckpt,
                (long long)sc_trainer_global_step(tr));
    const int *idx;
    size_t count;
    int r;
    vqa_eval_result ev = {0};
    int have_ev = 0;
    while ((r = sc_trainer_next(tr, &idx, &count)) == 1) {
        int B = (int)count;
        if (vqa_batch(&tr_d, m, idx, B, cache ? NULL : img, ids, lens, tg, NULL, NULL, img_ix,
                      amask))
            goto done;
        const float *logits, *att = NULL;
        const float **attp = amask ? &att : NULL;
        if (cache) {
            size_t per = (size_t)sc_vqa_feature_dim(m) * sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
            for (int b = 0; b < B; b++)
                memcpy(fb + per * (size_t)b, cache + per * (size_t)img_ix[b], sizeof(float) * per);
            if (sc_vqa_forward_features(m, fb, ids, lens, B, 1, &logits, attp)) goto fail;
        } else if (sc_vqa_forward(m, cfg.arch == SC_VQA_QONLY ? NULL : img, ids, lens, B, 1,
                                  &logits, attp))
            goto fail;
        float loss = 0;
        memset(dlog, 0, sizeof(float) * (size_t)B * NA);
        if (sc_cross_entropy(logits, tg, B, NA, NULL, &loss, NULL, dlog)) goto fail;
        double sup = 0.0;
        if (amask &&
            sc_mask_mass_nll(att, amask, B * cfg.hops, KP / cfg.hops, att_sup, &sup, NULL, datt))
            goto fail;
        const char *skeys[2] = {"ce", "att_sup"};
        double svals[2] = {loss, sup};
        if (sc_vqa_backward_att(m, dlog, amask ? datt : NULL) ||
            sc_trainer_step(tr, loss + sup, amask ? 2 : 0, skeys, svals))
            goto fail;
        if (sc_trainer_at_epoch_end(tr) && (scenes ? eval_n > 0 : 1)) {
            vqa_eval_result_free(&ev);
            if (vqa_evaluate(m, scenes ? &te_d : &tr_d, eval_n, &ev)) goto done;
            have_ev = 1;
            const char *keys[1] = {scenes ? "test_accuracy" : "train_accuracy"};
            double vals[1] = {ev.n ? (double)ev.correct / ev.n : 0};
            if (sc_trainer_log(tr, 1, keys, vals)) goto fail;
            printf("epoch %lld/%d: loss %.4f, %s ", (long long)sc_trainer_epoch(tr) + 1, epochs,
                   sc_trainer_epoch_loss(tr), scenes ? "held-out" : "train");
            print_eval(stdout, &ev, scenes);
            fflush(stdout);
        }
    }
    if (r < 0) goto fail;
    if (sc_vqa_save(m, out)) goto fail;
    printf("saved %s after %lld steps (%.1f s)\n", out, (long long)sc_trainer_global_step(tr),
           sc_trainer_elapsed(tr));
    (void)have_ev;
    vqa_eval_result_free(&ev);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail("train vqa");
done:
    free(img);
    free(cache);
    free(fb);
    free(img_ix);
    free(ids);
    free(tg);
    free(lens);
    free(dlog);
    free(datt);
    free(amask);
    sc_trainer_free(tr);
    sc_vqa_free(m);
    sc_vqa_vocab_free(&vocab);
    sc_vqa_vocab_free(&answers);
    vqa_data_free(&tr_d);
    vqa_data_free(&te_d);
    return rc;
}
