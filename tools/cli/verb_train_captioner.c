/* saccade train captioner: Show-Attend-Tell with a small CNN or ViT encoder
 * trained end to end on Fashion scenes generated on the fly (sc_scenes.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_train.h"
#include "saccade/sc_vit.h"
#include "saccade/sc_captioner_eval.h"

void cli_train_captioner_help(FILE *out) {
    fprintf(
        out,
        "Options (captioner; Fashion scenes generated on the fly, train split):\n"
        "  --data DIR            Fashion-MNIST folder (default $%s or %s)\n"
        "  --train-size N        distinct train scenes, indices 0..N-1 (default 50000)\n"
        "  --scene-seed S        seed of the scene generator (default 0)\n"
        "  --captions MODE       canonical (default: the first reference) or random (a\n"
        "                        reference drawn per example per epoch by the trainer's rng)\n"
        "  --epochs E            epochs (default 4)\n"
        "  --steps N             total optimiser steps instead of --epochs (the cosine\n"
        "                        schedule spans N steps)\n"
        "  --batch B             batch size (default 32)\n"
        "  --lr LR               AdamW learning rate, cosine schedule (default 0.002)\n"
        "  --warmup N            linear warm-up over the first N steps (from lr/3; default 0)\n"
        "  --weight-decay WD     AdamW decoupled weight decay (default 0.0001)\n"
        "  --clip C              gradient clipping by global norm (default 5)\n"
        "  --alpha-c A           doubly stochastic attention weight (default 0.1)\n"
        "  --att-sup W           supervised attention (Liu et al. 2017): adds W x mean\n"
        "                        -log(attention mass inside the named item's box) at each\n"
        "                        mention's colour and noun steps (default 0: off)\n"
        "  --aux-items W         auxiliary item loss: linear class and colour heads on the\n"
        "                        encoder's features averaged over each item's box cells,\n"
        "                        W x their mean cross entropy (sc_captioner_item_heads;\n"
        "                        training only: the heads are not saved; default 0: off)\n"
        "  --dropout P           dropout before fc (default 0.2)\n"
        "  --ctx2out             deep output: the gated context also feeds the output layer\n"
        "                        (logits = fc(h) + fc_ctx(z), as in the original paper)\n"
        "  --att-coords          the LSTM also gets where each step looked (the attention's\n"
        "                        expected cell centre x, y), to order items in space\n"
        "  --attention KIND      soft (default) or hard: hard (stochastic) attention, Show,\n"
        "                        Attend and Tell's section 4.1: each word reads ONE cell drawn\n"
        "                        from its attention, trained on the variational lower bound\n"
        "                        (REINFORCE with a moving-average baseline, decay 0.9, and an\n"
        "                        entropy bonus); the model decodes with argmax cells by default\n"
        "                        (caption --attention-mode). A number here is the attention\n"
        "                        width, as --attention-dim\n"
        "  --hard-expect P       hard: probability that a word reads the expectation instead\n"
        "                        of a drawn cell (the paper's 0.5; default 0)\n"
        "  --hard-entropy W      hard: entropy bonus weight lambda_e (default 0.01)\n"
        "  --encoder KIND        cnn (default) or vit (ViT-style patch encoder, sc_vit.h)\n"
        "  --channels C1,...     CNN stage widths (default 16,32,64,128; 2x2 max pool after\n"
        "                        every stage but the last; the last width is E)\n"
        "  --kernels K1,...      CNN kernel sizes per stage, odd (default 3 each)\n"
        "  --pools P1,...        1/0 per stage: 2x2 max pool after it (default: all but the\n"
        "                        last)\n"
        "  --no-coords           RGB input only (default: the CNN also gets x, y coordinate\n"
        "                        channels, so attention can tell left from right)\n"
        "  --vit-patch P         ViT patch size (default 8: a 12x12 patch grid on 96x96)\n"
        "  --vit-dim D --vit-depth L --vit-heads H --vit-mlp F\n"
        "                        ViT width (E, default 128), layers (4), heads (4), MLP\n"
        "                        width (256)\n"
        "  --vit-pos KIND        learned (default) or sincos position embeddings\n"
        "  --vit-dropout P       dropout inside the ViT layers (default 0)\n"
        "  --grid N              attention grid N x N (default 12)\n"
        "  --embed M --attention-dim A --decoder H   decoder sizes (default 64, 128, 256)\n"
        "  --val N               held-out test scenes captioned (greedy, sc_captioner_evaluate)\n"
        "                        at each epoch end and at the end (default 200; 0: none)\n"
        "  --seed S              seed for weights, batch order, dropout (default 0)\n"
        "  --threads N           threads (default: all cores)\n"
        "  -o FILE               model output (required) and\n"
        "                        FILE.metrics.json (without .safetensors)\n"
        "  --checkpoint PATH     resumable checkpoints (atomic)\n"
        "  --checkpoint-every N  steps between checkpoints (default: epoch ends only)\n"
        "  --resume              continue from --checkpoint exactly\n"
        "  --metrics FILE.jsonl  per-step metrics\n"
        "  --max-steps N         stop after N steps in total (schedule unchanged)\n"
        "  --quiet               no progress output\n\n"
        "Examples:\n"
        "  saccade train captioner --steps 15000 --att-sup 1 --aux-items 0.5 -o cap.safetensors\n"
        "  saccade train captioner --channels 8,16 --grid 6 --embed 16 --attention-dim 16 \\\n"
        "      --decoder 32 --train-size 2000 --max-steps 20 -o tiny.safetensors\n"
        "  saccade train captioner --encoder vit --vit-dim 64 --steps 2000 --warmup 100 "
        "-o vit.safetensors\n"
        "  saccade train captioner --steps 15000 --checkpoint ck.safetensors --resume "
        "-o cap.safetensors\n"
        "  saccade train captioner --attention hard --hard-expect 0.5 --steps 15000 "
        "-o hard.safetensors\n",
        SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

typedef struct {
    const char *data, *out, *ckpt, *metrics;
    int epochs, steps, batch, seed, threads, ckpt_every, resume, max_steps, quiet, random_caps;
    int warmup, train_size, scene_seed, grid, embed, att, dec, val, no_coords, ctx2out, att_coords;
    float lr, wd, clip, alpha_c, dropout, att_sup, aux_items, hard_expect, hard_entropy;
    int hard;
    int nch, ch[SC_CNN_MAX_STAGES];
    int nker, ker[SC_CNN_MAX_STAGES], npool, pool[SC_CNN_MAX_STAGES];
    int vit, vit_sincos, vit_patch, vit_dim, vit_depth, vit_heads, vit_mlp;
    float vit_dropout;
} cap_opts;

#define V_TRAIN "train"
enum { IMAGE_SIZE = 96, ITEM_CLASSES = 10 };
#define HARD_BASELINE_DECAY 0.9f /* the paper's moving average */

/* The options into o (defaults first); CLI_OK or CLI_USAGE. */
static int parse_train_options(int argc, char **argv, cap_opts *o) {
    const char *captions = "canonical", *encoder = "cnn", *vit_pos = "learned", *attention = NULL;
    *o = (cap_opts){.epochs = 4,
                    .batch = 32,
                    .train_size = 50000,
                    .grid = 12,
                    .embed = 64,
                    .att = 128,
                    .dec = 256,
                    .val = 200,
                    .lr = 2e-3f,
                    .wd = 1e-4f,
                    .clip = 5.0f,
                    .alpha_c = 0.1f,
                    .hard_expect = -1.0f,
                    .hard_entropy = -1.0f,
                    .dropout = 0.2f,
                    .vit_patch = 8,
                    .vit_dim = 128,
                    .vit_depth = 4,
                    .vit_heads = 4,
                    .vit_mlp = 256};
    const cli_opt opts[] = {
        {"--data", CLI_STR, &o->data, 0, 0, "a folder", NULL, 0},
        {"-o|--output", CLI_STR, &o->out, 0, 0, "a file name", NULL, 0},
        {"--checkpoint", CLI_STR, &o->ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o->metrics, 0, 0, "a file name", NULL, 0},
        {"--captions", CLI_STR, &captions, 0, 0, "canonical or random", NULL, 0},
        {"--encoder", CLI_STR, &encoder, 0, 0, "cnn or vit", NULL, 0},
        {"--vit-pos", CLI_STR, &vit_pos, 0, 0, "learned or sincos", NULL, 0},
        {"--vit-patch", CLI_INT, &o->vit_patch, 1, 96, NULL, NULL, 0},
        {"--vit-dim", CLI_INT, &o->vit_dim, 1, 4096, NULL, NULL, 0},
        {"--vit-depth", CLI_INT, &o->vit_depth, 1, SC_VIT_MAX_DEPTH, NULL, NULL, 0},
        {"--vit-heads", CLI_INT, &o->vit_heads, 1, 4096, NULL, NULL, 0},
        {"--vit-mlp", CLI_INT, &o->vit_mlp, 1, 16384, NULL, NULL, 0},
        {"--vit-dropout", CLI_FLOAT, &o->vit_dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--channels", CLI_INTS, o->ch, 1, 1024, NULL, &o->nch, SC_CNN_MAX_STAGES},
        {"--kernels", CLI_INTS, o->ker, 1, 7, NULL, &o->nker, SC_CNN_MAX_STAGES},
        {"--pools", CLI_INTS, o->pool, 0, 1, NULL, &o->npool, SC_CNN_MAX_STAGES},
        {"--epochs", CLI_INT, &o->epochs, 1, 10000, NULL, NULL, 0},
        {"--steps", CLI_INT, &o->steps, 1, 100000000, NULL, NULL, 0},
        {"--batch", CLI_INT, &o->batch, 2, 4096, NULL, NULL, 0},
        {"--seed", CLI_INT, &o->seed, 0, 2147483647, NULL, NULL, 0},
        {"--scene-seed", CLI_INT, &o->scene_seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &o->threads, 1, 2147483647, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o->ckpt_every, 1, 2147483647, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &o->max_steps, 1, 2147483647, NULL, NULL, 0},
        {"--warmup", CLI_INT, &o->warmup, 0, 100000000, NULL, NULL, 0},
        {"--train-size", CLI_INT, &o->train_size, 1, 100000000, NULL, NULL, 0},
        {"--grid", CLI_INT, &o->grid, 1, 64, NULL, NULL, 0},
        {"--embed", CLI_INT, &o->embed, 1, 4096, NULL, NULL, 0},
        {"--attention", CLI_STR, &attention, 0, 0, "soft, hard or a width", NULL, 0},
        {"--attention-dim", CLI_INT, &o->att, 1, 4096, NULL, NULL, 0},
        {"--hard-expect", CLI_FLOAT, &o->hard_expect, 0.0, 1.0, NULL, NULL, 0},
        {"--hard-entropy", CLI_FLOAT, &o->hard_entropy, 0.0, 100.0, NULL, NULL, 0},
        {"--decoder", CLI_INT, &o->dec, 1, 4096, NULL, NULL, 0},
        {"--val", CLI_INT, &o->val, 0, 1000000, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &o->lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--weight-decay", CLI_FLOAT, &o->wd, 0.0, 1.0, NULL, NULL, 0},
        {"--clip", CLI_FLOAT, &o->clip, 0.0, 1e6, NULL, NULL, 0},
        {"--alpha-c", CLI_FLOAT, &o->alpha_c, 0.0, 100.0, NULL, NULL, 0},
        {"--att-sup", CLI_FLOAT, &o->att_sup, 0.0, 100.0, NULL, NULL, 0},
        {"--aux-items", CLI_FLOAT, &o->aux_items, 0.0, 100.0, NULL, NULL, 0},
        {"--dropout", CLI_FLOAT, &o->dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--resume", CLI_FLAG, &o->resume, 0, 0, NULL, NULL, 0},
        {"--no-coords", CLI_FLAG, &o->no_coords, 0, 0, NULL, NULL, 0},
        {"--ctx2out", CLI_FLAG, &o->ctx2out, 0, 0, NULL, NULL, 0},
        {"--att-coords", CLI_FLAG, &o->att_coords, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o->quiet, 0, 0, NULL, NULL, 0},
    };
    int prc =
        cli_parse_options(V_TRAIN, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!strcmp(captions, "random"))
        o->random_caps = 1;
    else if (strcmp(captions, "canonical"))
        return cli_usage(V_TRAIN, "--captions needs canonical or random, not '%s'", captions);
    if (!strcmp(encoder, "vit"))
        o->vit = 1;
    else if (strcmp(encoder, "cnn"))
        return cli_usage(V_TRAIN, "--encoder needs cnn or vit, not '%s'", encoder);
    if (strcmp(vit_pos, "learned") && strcmp(vit_pos, "sincos"))
        return cli_usage(V_TRAIN, "--vit-pos needs learned or sincos, not '%s'", vit_pos);
    o->vit_sincos = !strcmp(vit_pos, "sincos");
    if (attention && !strcmp(attention, "hard")) {
        o->hard = 1;
    } else if (attention && strcmp(attention, "soft")) { /* the width, as --attention-dim */
        char *end;
        long w = strtol(attention, &end, 10);
        if (end == attention || *end || w < 1 || w > 4096)
            return cli_usage(V_TRAIN,
                             "--attention needs soft, hard or a width in [1, 4096], not '%s'",
                             attention);
        o->att = (int)w;
    }
    if (!o->hard && (o->hard_expect >= 0 || o->hard_entropy >= 0))
        return cli_usage(V_TRAIN, "--hard-expect and --hard-entropy need --attention hard");
    if (o->hard_expect < 0) o->hard_expect = 0.0f;
    if (o->hard_entropy < 0) o->hard_entropy = 0.01f;
    if (o->resume && !o->ckpt) return cli_usage(V_TRAIN, "--resume needs --checkpoint PATH");
    if (o->nch == 0) {
        o->nch = 4;
        o->ch[0] = 16, o->ch[1] = 32, o->ch[2] = 64, o->ch[3] = 128;
    }
    if ((o->nker && o->nker != o->nch) || (o->npool && o->npool != o->nch))
        return cli_usage(V_TRAIN, "--kernels and --pools need one entry per --channels stage (%d)",
                         o->nch);
    for (int k = 0; k < o->nker; k++)
        if (o->ker[k] % 2 == 0)
            return cli_usage(V_TRAIN, "--kernels must be odd, not %d", o->ker[k]);
    if (!o->out) return cli_usage(V_TRAIN, "need -o MODEL.safetensors");
    return CLI_OK;
}

/* The model's configs from the options (the recipe's fixed 96 x 96 scenes). */
static void make_configs(const cap_opts *o, sc_cnn_config *cc, sc_vit_config *vc,
                         sc_captioner_config *cfg) {
    *cc = sc_cnn_config_make(o->no_coords ? 3 : 5, o->nch, o->ch);
    for (int k = 0; k + 1 < o->nch; k++) cc->pool[k] = 1;
    for (int k = 0; k < o->nker; k++) cc->kernel[k] = o->ker[k];
    for (int k = 0; k < o->npool; k++) cc->pool[k] = o->pool[k];
    *vc = sc_vit_default_config();
    vc->image_size = IMAGE_SIZE, vc->patch = o->vit_patch, vc->dim = o->vit_dim;
    vc->depth = o->vit_depth, vc->heads = o->vit_heads, vc->mlp_dim = o->vit_mlp;
    vc->dropout = o->vit_dropout;
    vc->pos = o->vit_sincos ? SC_VIT_POS_SINCOS : SC_VIT_POS_LEARNED;
    *cfg = sc_captioner_default_config();
    cfg->encoder = o->vit ? SC_CAP_ENC_VIT : SC_CAP_ENC_CNN;
    snprintf(cfg->encoder_arch, sizeof cfg->encoder_arch, "%s", o->vit ? "vit" : "cnn");
    cfg->grid = o->grid;
    cfg->image_size = IMAGE_SIZE;
    cfg->encoder_dim = o->vit ? o->vit_dim : o->ch[o->nch - 1];
    cfg->attention_dim = o->att;
    cfg->embed_dim = o->embed;
    cfg->decoder_dim = o->dec;
    cfg->dropout = o->dropout;
    cfg->ctx2out = o->ctx2out;
    cfg->att_coords = o->att_coords;
    cfg->hard_attention = o->hard;
}

/* Everything a training run holds. */
typedef struct {
    cap_opts o;
    sc_cnn_config cc;
    sc_vit_config vc;
    sc_captioner_config cfg;
    sc_vocab vocab;
    sc_fashion_mnist train, test;
    sc_captioner *m;
    sc_trainer *tr;
    sc_param *all;
    size_t nitem_heads;
    sc_param *bufs;    /* the encoder's buffers and, for hard attention, the baseline */
    float baseline[2]; /* hard attention: REINFORCE baseline state (a trainer buffer) */
    float *feat, *dfeat;
    sc_rng *row_rngs; /* (batch) hard attention: each example's draws (sc_trainer_example_rng) */
    sc_scenes_params sp;
    sc_capscenes_batch batch;
    char *cfg_json, *enc_json;
    int epochs;
    sc_captioner_eval_result ev;
} train_run;

static void free_run(train_run *r) {
    sc_capscenes_batch_free(&r->batch);
    free(r->feat), free(r->dfeat), free(r->row_rngs), free(r->all), free(r->bufs),
        free(r->cfg_json), free(r->enc_json);
    sc_trainer_free(r->tr);
    sc_captioner_free(r->m);
    sc_vocab_free(&r->vocab);
    sc_fashion_mnist_free(&r->train);
    sc_fashion_mnist_free(&r->test);
}

/* The trainer over encoder, decoder and item-head tensors, with the recipe's
 * AdamW + cosine schedule; the model's metadata goes into its checkpoints. */
static int make_trainer(train_run *r) {
    const cap_opts *o = &r->o;
    const sc_param *dp, *ep, *eb, *hp = NULL;
    size_t nd, ne, nb, nh = 0;
    if (sc_captioner_params(r->m, &dp, &nd) ||
        sc_captioner_encoder_params(r->m, &ep, &ne, &eb, &nb))
        return cli_fail("train captioner");
    if (o->aux_items > 0 && sc_captioner_item_heads(r->m, ITEM_CLASSES, SC_SCENES_NUM_COLOURS,
                                                    (uint64_t)o->seed + 0x61757869ull, &hp, &nh))
        return cli_fail("train captioner");
    r->all = malloc((nd + ne + nh) * sizeof *r->all);
    if (!r->all) return cli_fail("out of memory");
    memcpy(r->all, ep, ne * sizeof *r->all);
    memcpy(r->all + ne, dp, nd * sizeof *r->all);
    if (nh) memcpy(r->all + ne + nd, hp, nh * sizeof *r->all);
    r->nitem_heads = nh;
    size_t per_epoch = ((size_t)o->train_size + (size_t)o->batch - 1) / (size_t)o->batch;
    int64_t total = o->steps ? o->steps : (int64_t)per_epoch * o->epochs;
    r->epochs =
        o->steps ? (int)((o->steps + (int64_t)per_epoch - 1) / (int64_t)per_epoch) : o->epochs;
    if (o->warmup >= total) return cli_usage(V_TRAIN, "--warmup must be below the number of steps");
    sc_train_params tp = sc_train_default_params();
    tp.epochs = r->epochs;
    tp.batch_size = (size_t)o->batch;
    tp.seed = (uint64_t)o->seed;
    tp.optim = sc_adamw_default_params();
    tp.optim.lr = o->lr;
    tp.optim.weight_decay = o->wd;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.base_lr = o->lr;
    tp.schedule.t_max = total - o->warmup; /* the cosine ends with the last step */
    tp.schedule.warmup_steps = o->warmup;
    tp.clip_grad_norm = o->clip;
    tp.checkpoint_path = o->ckpt;
    tp.checkpoint_every = o->ckpt_every;
    tp.metrics_path = o->metrics;
    tp.resume = o->resume;
    tp.max_steps = o->steps ? (o->max_steps && o->max_steps < o->steps ? o->max_steps : o->steps)
                            : o->max_steps;
    tp.label = "train captioner";
    tp.comm = cli_comm();
    if (o->quiet) tp.progress_mode = 3;
    r->bufs = malloc((nb + 1) * sizeof *r->bufs);
    if (!r->bufs) return cli_fail("out of memory");
    if (nb) memcpy(r->bufs, eb, nb * sizeof *r->bufs);
    if (o->hard) /* saved in checkpoints, so a resumed run keeps its baseline */
        r->bufs[nb++] = (sc_param){.name = "hard.baseline", .param = r->baseline, .n = 2};
    if (sc_trainer_create(&tp, (size_t)o->train_size, r->all, nd + ne + nh, r->bufs, nb, &r->tr))
        return cli_fail("train captioner");
    char *voc_json = sc_vocab_to_json(&r->vocab);
    r->cfg_json = sc_captioner_config_to_json(sc_captioner_get_config(r->m));
    r->enc_json = o->vit ? sc_vit_config_to_json(&r->vc) : sc_cnn_config_to_json(&r->cc);
    int bad = !r->cfg_json || !voc_json || !r->enc_json ||
              sc_trainer_set_metadata(r->tr, SC_MODEL_KIND_KEY, "captioner") ||
              sc_trainer_set_metadata(r->tr, "saccade.config", r->cfg_json) ||
              sc_trainer_set_metadata(r->tr, "saccade.vocab", voc_json) ||
              sc_trainer_set_metadata(r->tr, "saccade.encoder", r->enc_json);
    free(voc_json);
    return bad ? cli_fail("train captioner") : CLI_OK;
}

/* Model, data, trainer and batch buffers. */
static int setup_run(train_run *r) {
    const cap_opts *o = &r->o;
    if (sc_capscenes_vocab(&r->vocab)) return cli_fail("train captioner");
    r->cfg.vocab_size = r->vocab.n;
    if (o->vit ? sc_captioner_create_vit(&r->cfg, &r->vc, &r->vocab, (uint64_t)o->seed, &r->m)
               : sc_captioner_create_cnn(&r->cfg, &r->cc, &r->vocab, (uint64_t)o->seed, &r->m))
        return cli_usage(V_TRAIN, "%s", sc_last_error());
    /* data-parallel: read once, by rank 0 */
    if (sc_fashion_mnist_load_shared(cli_comm(), "train", o->data, &r->train) ||
        sc_fashion_mnist_load_shared(cli_comm(), "test", o->data, &r->test))
        return cli_fail("cannot load Fashion-MNIST");
    int rc = make_trainer(r);
    if (rc) return rc;
    const size_t B = (size_t)o->batch, P = (size_t)o->grid * o->grid, E = r->cfg.encoder_dim;
    if (sc_capscenes_batch_init(&r->batch, o->batch, IMAGE_SIZE, o->att_sup > 0 ? o->grid : 0,
                                o->aux_items > 0 ? o->grid : 0))
        return cli_fail("train captioner");
    r->feat = malloc(B * P * E * sizeof(float));
    r->dfeat = malloc(B * P * E * sizeof(float));
    if (o->hard) r->row_rngs = malloc(B * sizeof *r->row_rngs);
    if (!r->feat || !r->dfeat || (o->hard && !r->row_rngs)) return cli_fail("out of memory");
    r->sp = sc_scenes_default_params();
    r->sp.seed = (uint64_t)o->scene_seed;
    r->sp.train = &r->train;
    r->sp.test = &r->test;
    return CLI_OK;
}

/* Greedy captions of o->val held-out test scenes, scored. */
static int validate(train_run *r) {
    sc_captioner_eval_params ep = sc_captioner_eval_default_params();
    ep.n = (size_t)r->o.val;
    ep.beam_size = 1;
    ep.scenes = &r->sp;
    return sc_captioner_evaluate(r->m, &ep, &r->ev) ? -1 : 0;
}

/* One optimiser step on the next batch. */
static int train_step(train_run *r, const int *idx, size_t count) {
    const cap_opts *o = &r->o;
    const size_t P = (size_t)o->grid * o->grid, E = r->cfg.encoder_dim;
    sc_rng *rng = r->o.random_caps ? sc_trainer_rng(r->tr) : NULL;
    if (sc_capscenes_batch_fill(&r->batch, &r->sp, SC_SCENES_TRAIN, &r->vocab, idx, (int)count,
                                rng) ||
        sc_captioner_encode_batch(r->m, r->batch.images, (int)count, IMAGE_SIZE, IMAGE_SIZE, 1,
                                  r->feat))
        return -1;
    memset(r->dfeat, 0, count * P * E * sizeof(float));
    /* Data-parallel: each rank's slice scored against the whole batch's
     * counts, so the ranks' losses add up to the batch's (share 1 each). */
    sc_caption_loss_counts whole;
    sc_caption_loss_opts lo = {.alpha_c = o->alpha_c,
                               .train = 1,
                               .backward = 1,
                               .att_sup = o->att_sup,
                               .item_heads = o->aux_items,
                               .hard_expect = o->hard_expect,
                               .hard_entropy = o->hard_entropy,
                               .hard_reinforce = 1.0f,
                               .hard_baseline = r->baseline[0],
                               .row_rngs = r->row_rngs};
    /* hard attention: each example draws its cells (and dropout) from a stream
     * of its own, so N ranks draw what one process does */
    for (size_t i = 0; r->row_rngs && i < count; i++)
        if (sc_trainer_example_rng(r->tr, i, &r->row_rngs[i])) return -1;
    sc_caption_loss cl;
    if (sc_captioner_whole_counts(r->tr, r->m, &r->batch.batch, &lo, &whole) ||
        sc_captioner_loss_part(r->m, r->feat, &r->batch.batch, &lo, &whole, sc_trainer_rng(r->tr),
                               &cl, r->dfeat) ||
        sc_captioner_encode_backward(r->m, r->dfeat))
        return -1;
    const char *keys[7] = {"ce", "att_penalty", "att_sup", "aux_items"};
    double vals[7] = {cl.ce, cl.penalty, cl.att_sup, cl.items};
    int nk = o->att_sup > 0 ? 3 : 2;
    if (r->nitem_heads) keys[nk] = keys[3], vals[nk] = cl.items, nk++;
    if (o->hard) { /* the baseline follows the whole batch's mean reward (every rank alike) */
        float rw[3] = {(float)cl.reward, (float)cl.nreward, (float)cl.hard_steps};
        if (sc_trainer_allreduce(r->tr, rw, 3)) return -1;
        /* the metrics are summed over the ranks: each logs its part of the batch's */
        const double part = cl.nreward / rw[1];
        keys[nk] = "reward", vals[nk++] = (float)cl.reward / rw[1];
        if (sc_captioner_hard_baseline_update(r->baseline, rw[0] / rw[1], HARD_BASELINE_DECAY))
            return -1;
        keys[nk] = "baseline", vals[nk++] = part * r->baseline[0];
        keys[nk] = "att_entropy", vals[nk++] = rw[2] > 0 ? cl.entropy * cl.hard_steps / rw[2] : 0;
    }
    return sc_trainer_step(r->tr, cl.loss, nk, keys, vals) ? -1 : 0;
}

/* The epochs, with a held-out check at each epoch end (and at the end). */
static int train_loop(train_run *r) {
    const int *idx;
    size_t count;
    int s, evaluated = 0;
    const int rank0 = sc_trainer_is_writer(r->tr); /* data-parallel: rank 0 checks and prints */
    if (r->o.resume && rank0)
        fprintf(stderr, "resuming from %s at step %lld\n", r->o.ckpt,
                (long long)sc_trainer_global_step(r->tr));
    while ((s = sc_trainer_next(r->tr, &idx, &count)) == 1) {
        if (train_step(r, idx, count)) return -1;
        evaluated = 0;
        if (sc_trainer_at_epoch_end(r->tr) && r->o.val > 0 && rank0) {
            if (validate(r)) return -1;
            const char *k2[4] = {"val_bleu4", "val_exact", "val_colour_acc", "val_class_acc"};
            double v2[4] = {r->ev.bleu[3], r->ev.exact_match, r->ev.colour_accuracy,
                            r->ev.class_accuracy};
            if (sc_trainer_log(r->tr, 4, k2, v2)) return -1;
            printf("epoch %lld/%d: train loss %.4f, val (%d test scenes, greedy) BLEU-4 %.4f "
                   "exact %.1f%% colour %.1f%% class %.1f%% (%.1f s)\n",
                   (long long)sc_trainer_epoch(r->tr) + 1, r->epochs, sc_trainer_epoch_loss(r->tr),
                   r->o.val, v2[0], 100 * v2[1], 100 * v2[2], 100 * v2[3],
                   sc_trainer_elapsed(r->tr));
            fflush(stdout);
            evaluated = 1;
        }
    }
    if (s < 0) return -1;
    return !evaluated && r->o.val > 0 && rank0 ? validate(r) : 0;
}

/* MODEL.metrics.json: the run's figures, recipe and command line. */
static int write_summary(const train_run *r, int full_argc, char **full_argv) {
    const cap_opts *o = &r->o;
    char cmd[4096];
    cli_command_line(full_argc, full_argv, cmd, sizeof cmd);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->out);
    cli_json_add_fixed(j, "train_loss", sc_trainer_epoch_loss(r->tr), 6);
    cJSON_AddNumberToObject(j, "val_scenes", o->val);
    cJSON_AddNumberToObject(j, "val_beam", 1);
    cli_json_add_fixed(j, "val_bleu4", r->ev.bleu[3], 6);
    cli_json_add_fixed(j, "val_cider_d", r->ev.cider_d, 6);
    cli_json_add_fixed(j, "val_exact", r->ev.exact_match, 6);
    cli_json_add_fixed(j, "val_colour_acc", r->ev.colour_accuracy, 6);
    cli_json_add_fixed(j, "val_class_acc", r->ev.class_accuracy, 6);
    cJSON_AddNumberToObject(j, "epochs", r->epochs);
    cJSON_AddNumberToObject(j, "steps", (double)sc_trainer_global_step(r->tr));
    cJSON_AddNumberToObject(j, "seed", o->seed);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddItemToObject(j, "lr", cli_json_float(o->lr, 6));
    cJSON_AddNumberToObject(j, "train_size", o->train_size);
    cJSON_AddStringToObject(j, "captions", o->random_caps ? "random" : "canonical");
    cJSON_AddStringToObject(j, "attention", o->hard ? "hard" : "soft");
    if (o->hard) {
        cJSON_AddItemToObject(j, "hard_expect", cli_json_float(o->hard_expect, 6));
        cJSON_AddItemToObject(j, "hard_entropy", cli_json_float(o->hard_entropy, 6));
        cli_json_add_fixed(j, "hard_baseline", r->baseline[0], 6);
    }
    cli_json_add_fixed(j, "seconds", sc_trainer_elapsed(r->tr), 2);
    if (sc_comm_size(cli_comm()) > 1) { /* rank 0's time in the sums over the ranks */
        cJSON_AddNumberToObject(j, "ranks", sc_comm_size(cli_comm()));
        cli_json_add_fixed(j, "comm_seconds", sc_trainer_comm_seconds(r->tr), 3);
    }
    cJSON_AddNumberToObject(j, "threads", sc_get_num_threads());
    cJSON_AddStringToObject(j, "command", cmd);
    cJSON_AddItemToObject(j, "config", cJSON_Parse(r->cfg_json));
    cJSON_AddItemToObject(j, "encoder", cJSON_Parse(r->enc_json));
    char *text = cli_json_print(j);
    int rc = text ? CLI_OK : cli_fail(NULL);
    char *mpath = cli_metrics_path(o->out);
    if (!rc && (!mpath || sc_write_file_atomic(mpath, text, strlen(text))))
        rc = cli_fail("train captioner");
    if (!rc)
        printf("trained %lld steps (%.1f s), final train loss %.4f; model: %s, metrics: %s\n",
               (long long)sc_trainer_global_step(r->tr), sc_trainer_elapsed(r->tr),
               sc_trainer_epoch_loss(r->tr), o->out, mpath);
    free(text);
    free(mpath);
    return rc;
}

int cli_train_captioner_main(int argc, char **argv, int full_argc, char **full_argv) {
    train_run r;
    memset(&r, 0, sizeof r);
    int rc = parse_train_options(argc, argv, &r.o);
    if (rc) return rc;
    make_configs(&r.o, &r.cc, &r.vc, &r.cfg);
    if ((rc = cli_set_threads(V_TRAIN, r.o.threads))) return rc;
    rc = setup_run(&r);
    if (!rc && train_loop(&r)) rc = cli_fail("train captioner");
    const int rank0 = !rc && sc_trainer_is_writer(r.tr);
    if (rank0 && sc_captioner_save(r.m, r.o.out)) rc = cli_fail("train captioner");
    if (rank0 && !rc) rc = write_summary(&r, full_argc, full_argv);
    free_run(&r);
    return rc;
}
