/* saccade train captioner: Show-Attend-Tell with a small CNN or ViT encoder
 * trained end to end on Fashion scenes generated on the fly (sc_scenes.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_eval.h"
#include "cli.h"
#include "saccade/sc_cnn.h"
#include "saccade/sc_nn.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_train.h"
#include "saccade/sc_vit.h"

void cli_train_captioner_help(FILE *out) {
    fprintf(out,
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
            "                        W x their mean cross entropy (training only: the heads\n"
            "                        are not saved; default 0: off)\n"
            "  --dropout P           dropout before fc (default 0.2)\n"
            "  --ctx2out             deep output: the gated context also feeds the output layer\n"
            "                        (logits = fc(h) + fc_ctx(z), as in the original paper)\n"
            "  --att-coords          the LSTM also gets where each step looked (the attention's\n"
            "                        expected cell centre x, y), to order items in space\n"
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
            "  --embed M --attention A --decoder H   decoder sizes (default 64, 128, 256)\n"
            "  --val N               held-out test scenes captioned (greedy) at each epoch end\n"
            "                        and at the end (default 200; 0: none)\n"
            "  --seed S              seed for weights, batch order, dropout (default 0)\n"
            "  --threads N           threads (default: all cores)\n"
            "  -o FILE               model output (default captioner.safetensors) and\n"
            "                        FILE.metrics.json (without .safetensors)\n"
            "  --checkpoint PATH     resumable checkpoints (atomic)\n"
            "  --checkpoint-every N  steps between checkpoints (default: epoch ends only)\n"
            "  --resume              continue from --checkpoint exactly\n"
            "  --metrics FILE.jsonl  per-step metrics\n"
            "  --max-steps N         stop after N steps in total (schedule unchanged)\n"
            "  --quiet               no progress output\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

typedef struct {
    const char *data, *out, *ckpt, *metrics;
    int epochs, steps, batch, seed, threads, ckpt_every, resume, max_steps, quiet, random_caps;
    int warmup, train_size, scene_seed, grid, embed, att, dec, val, no_coords, ctx2out, att_coords;
    float lr, wd, clip, alpha_c, dropout, att_sup, aux_items;
    int nch, ch[SC_CNN_MAX_STAGES];
    int nker, ker[SC_CNN_MAX_STAGES], npool, pool[SC_CNN_MAX_STAGES];
    int vit, vit_patch, vit_dim, vit_depth, vit_heads, vit_mlp;
    float vit_dropout;
} cap_opts;

typedef struct {
    sc_scenes_params sp;
    const sc_vocab *vocab;
    int S, L, random_caps, grid; /* grid > 0: attention targets too */
    int aux_grid;                /* > 0: the items' classes, colours and box cells too */
} data_ctx;

/* The items of a batch for the auxiliary item loss (--aux-items): example,
 * class, colour and box cells (sc_scenes_box_cells on the attention grid) of
 * up to SC_SCENES_MAX_ITEMS per example, slot b * SC_SCENES_MAX_ITEMS + k. */
typedef struct {
    int8_t n[4096];
    int32_t *cls, *colour;
    uint8_t *cells;
} aux_batch;

/* Training-only heads on the encoder's features averaged over an item's box
 * cells: class (10 logits) and colour (8). They push the encoder to tell the
 * items apart where they are; sc_captioner_save drops them. */
enum { AUX_HEADS = 4, AUX_CLASSES = 10, AUX_COLOURS = 8 };
typedef struct {
    float *w; /* one block: class w (10 x E), class b, colour w (8 x E), colour b; grads after */
    sc_param p[AUX_HEADS];
} aux_heads;

static int aux_heads_init(aux_heads *h, int E, uint64_t seed) {
    const size_t n = (size_t)(AUX_CLASSES + AUX_COLOURS) * (E + 1);
    h->w = calloc(2 * n, sizeof(float));
    if (!h->w) return -1;
    sc_rng r;
    sc_rng_seed(&r, seed);
    const float bound = 1.0f / sqrtf((float)E); /* PyTorch's nn.Linear default */
    for (size_t i = 0; i < n; i++) h->w[i] = bound * (2.0f * sc_rng_uniform(&r) - 1.0f);
    static const char *names[AUX_HEADS] = {"aux.class.weight", "aux.class.bias",
                                           "aux.colour.weight", "aux.colour.bias"};
    const int rows[AUX_HEADS] = {AUX_CLASSES, AUX_CLASSES, AUX_COLOURS, AUX_COLOURS};
    size_t off = 0;
    for (int k = 0; k < AUX_HEADS; k++) {
        const int is_w = k % 2 == 0;
        sc_param *q = &h->p[k];
        memset(q, 0, sizeof *q);
        q->name = names[k];
        q->n = (size_t)rows[k] * (is_w ? E : 1);
        q->param = h->w + off;
        q->grad = h->w + n + off;
        q->no_weight_decay = !is_w;
        q->ndim = is_w ? 2 : 1;
        q->shape[0] = rows[k];
        q->shape[1] = E;
        off += q->n;
    }
    return 0;
}

/* One head: logits = f W^T + b over n items, cross entropy with weight wt
 * into the loss, gradients into W, b and df. */
static int aux_head(const sc_param *w, const sc_param *b, int K, const float *f, int n, int E,
                    const int32_t *target, float wt, float *logits, float *df, double *loss) {
    float l;
    memset(logits + (size_t)n * K, 0, (size_t)n * K * sizeof(float));
    if (sc_linear_forward(logits, f, w->param, b->param, n, E, K) ||
        sc_cross_entropy(logits, target, n, K, NULL, &l, &wt, logits + (size_t)n * K) ||
        sc_linear_backward(df, w->grad, b->grad, logits + (size_t)n * K, f, w->param, n, E, K))
        return -1;
    *loss += (double)wt * l;
    return 0;
}

/* W x the mean over the batch's items of (class CE + colour CE) / 2, on the
 * encoder's features averaged over each item's box cells
 * (sc_masked_avgpool_forward); adds its gradient to dfeat (B, P, E). */
static int aux_items_loss(const aux_heads *h, const aux_batch *a, int B, int P, int E,
                          const float *feat, float *dfeat, float W, double *loss) {
    *loss = 0;
    int n = 0;
    for (int b = 0; b < B; b++) n += a->n[b];
    if (!n || W <= 0) return 0;
    /* per item: pooled features, their gradient, logits + dlogits of the wider
     * head; class and colour targets, source example; box cells */
    float *f = calloc((size_t)n * (2 * E + 2 * AUX_CLASSES), sizeof(float));
    int32_t *idx = malloc((size_t)n * 3 * sizeof(int32_t));
    uint8_t *cells = malloc((size_t)n * P);
    if (!f || !idx || !cells) {
        free(f), free(idx), free(cells);
        return -1;
    }
    float *df = f + (size_t)n * E, *logits = df + (size_t)n * E;
    int32_t *cls = idx, *col = idx + n, *src = idx + 2 * n;
    int i = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < a->n[b]; k++, i++) {
            const int slot = b * SC_SCENES_MAX_ITEMS + k;
            cls[i] = a->cls[slot], col[i] = a->colour[slot], src[i] = b;
            memcpy(cells + (size_t)i * P, a->cells + (size_t)slot * P, (size_t)P);
        }
    int rc = sc_masked_avgpool_forward(f, feat, B, P, E, cells, src, n) ||
             aux_head(&h->p[0], &h->p[1], AUX_CLASSES, f, n, E, cls, 0.5f * W, logits, df, loss) ||
             aux_head(&h->p[2], &h->p[3], AUX_COLOURS, f, n, E, col, 0.5f * W, logits, df, loss) ||
             sc_masked_avgpool_backward(dfeat, df, B, P, E, cells, src, n);
    free(f), free(idx), free(cells);
    return rc ? -1 : 0;
}

#define CAP_MAX_TOKENS 40

/* Scenes idx[0..n) -> normalised images x (n, 3, S, S) and padded captions;
 * with d->grid, attention targets amask (n, L, grid^2) too (sc_capscenes_attention_mask;
 * scratch holds n * CAP_MAX_TOKENS * grid^2 bytes). */
static int make_batch(const data_ctx *d, const int *idx, size_t n, sc_rng *rng, float *x,
                      int32_t *caps, int32_t *lens, int *L, uint8_t *scratch, uint8_t *amask,
                      aux_batch *aux) {
    int pick[4096];
    for (size_t b = 0; b < n; b++) pick[b] = d->random_caps ? (int)sc_rng_below(rng, 1 << 20) : 0;
    int fail = 0, maxlen = 2;
    int32_t *tok = malloc(n * CAP_MAX_TOKENS * sizeof(int32_t));
    if (!tok) return -1;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : fail) reduction(max : maxlen)
    for (size_t b = 0; b < n; b++) {
        sc_image img = {0};
        sc_scene_info info;
        if (sc_scenes_generate(&d->sp, SC_SCENES_TRAIN, (uint64_t)idx[b], &img, &info)) {
            fail = 1;
            continue;
        }
        cap_normalise(img.data, d->S, x + b * 3 * d->S * d->S);
        if (d->aux_grid) {
            const size_t P = (size_t)d->aux_grid * d->aux_grid;
            aux->n[b] = (int8_t)info.n_items;
            for (int k = 0; k < info.n_items; k++) {
                const size_t slot = b * SC_SCENES_MAX_ITEMS + (size_t)k;
                aux->cls[slot] = info.items[k].cls;
                aux->colour[slot] = info.items[k].colour;
                memset(aux->cells + slot * P, 0, P);
                sc_scenes_box_cells(info.items[k].box, img.w, img.h, d->aux_grid,
                                    aux->cells + slot * P);
            }
        }
        sc_image_free(&img);
        int r = pick[b] % info.n_captions;
        int k = sc_capscenes_tokens(d->vocab, info.captions[r], tok + b * CAP_MAX_TOKENS,
                                    CAP_MAX_TOKENS);
        if (k < 0) fail = 1;
        if (d->grid && sc_capscenes_attention_mask(&info, info.captions[r], d->grid,
                                                   scratch + b * CAP_MAX_TOKENS * d->grid * d->grid,
                                                   CAP_MAX_TOKENS))
            fail = 1;
        lens[b] = k;
        if (k > maxlen) maxlen = k;
    }
    if (!fail)
        for (size_t b = 0; b < n; b++) {
            for (int t = 0; t < maxlen; t++)
                caps[b * maxlen + t] = t < lens[b] ? tok[b * CAP_MAX_TOKENS + t] : 0;
            if (d->grid) {
                size_t P = (size_t)d->grid * d->grid;
                memcpy(amask + b * maxlen * P, scratch + b * CAP_MAX_TOKENS * P, maxlen * P);
            }
        }
    free(tok);
    *L = maxlen;
    return fail ? -1 : 0;
}

int cli_train_captioner_main(int argc, char **argv, int full_argc, char **full_argv) {
    cap_opts o = {.out = "captioner.safetensors",
                  .epochs = 4,
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
                  .dropout = 0.2f,
                  .vit_patch = 8,
                  .vit_dim = 128,
                  .vit_depth = 4,
                  .vit_heads = 4,
                  .vit_mlp = 256};
    const char *V = "train";
    const char *captions = "canonical", *encoder = "cnn", *vit_pos = "learned";
    const cli_opt opts[] = {
        {"--data", CLI_STR, &o.data, 0, 0, "a folder", NULL, 0},
        {"-o|--output", CLI_STR, &o.out, 0, 0, "a file name", NULL, 0},
        {"--checkpoint", CLI_STR, &o.ckpt, 0, 0, "a file name", NULL, 0},
        {"--metrics", CLI_STR, &o.metrics, 0, 0, "a file name", NULL, 0},
        {"--captions", CLI_STR, &captions, 0, 0, "canonical or random", NULL, 0},
        {"--encoder", CLI_STR, &encoder, 0, 0, "cnn or vit", NULL, 0},
        {"--vit-pos", CLI_STR, &vit_pos, 0, 0, "learned or sincos", NULL, 0},
        {"--vit-patch", CLI_INT, &o.vit_patch, 1, 96, NULL, NULL, 0},
        {"--vit-dim", CLI_INT, &o.vit_dim, 1, 4096, NULL, NULL, 0},
        {"--vit-depth", CLI_INT, &o.vit_depth, 1, SC_VIT_MAX_DEPTH, NULL, NULL, 0},
        {"--vit-heads", CLI_INT, &o.vit_heads, 1, 4096, NULL, NULL, 0},
        {"--vit-mlp", CLI_INT, &o.vit_mlp, 1, 16384, NULL, NULL, 0},
        {"--vit-dropout", CLI_FLOAT, &o.vit_dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--channels", CLI_INTS, o.ch, 1, 1024, NULL, &o.nch, SC_CNN_MAX_STAGES},
        {"--kernels", CLI_INTS, o.ker, 1, 7, NULL, &o.nker, SC_CNN_MAX_STAGES},
        {"--pools", CLI_INTS, o.pool, 0, 1, NULL, &o.npool, SC_CNN_MAX_STAGES},
        {"--epochs", CLI_INT, &o.epochs, 1, 10000, NULL, NULL, 0},
        {"--steps", CLI_INT, &o.steps, 1, 100000000, NULL, NULL, 0},
        {"--batch", CLI_INT, &o.batch, 2, 4096, NULL, NULL, 0},
        {"--seed", CLI_INT, &o.seed, 0, 2147483647, NULL, NULL, 0},
        {"--scene-seed", CLI_INT, &o.scene_seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &o.threads, 1, 1024, NULL, NULL, 0},
        {"--checkpoint-every", CLI_INT, &o.ckpt_every, 1, 2147483647, NULL, NULL, 0},
        {"--max-steps", CLI_INT, &o.max_steps, 1, 2147483647, NULL, NULL, 0},
        {"--warmup", CLI_INT, &o.warmup, 0, 100000000, NULL, NULL, 0},
        {"--train-size", CLI_INT, &o.train_size, 1, 100000000, NULL, NULL, 0},
        {"--grid", CLI_INT, &o.grid, 1, 64, NULL, NULL, 0},
        {"--embed", CLI_INT, &o.embed, 1, 4096, NULL, NULL, 0},
        {"--attention", CLI_INT, &o.att, 1, 4096, NULL, NULL, 0},
        {"--decoder", CLI_INT, &o.dec, 1, 4096, NULL, NULL, 0},
        {"--val", CLI_INT, &o.val, 0, 1000000, NULL, NULL, 0},
        {"--lr", CLI_FLOAT, &o.lr, 1e-8, 10.0, NULL, NULL, 0},
        {"--weight-decay", CLI_FLOAT, &o.wd, 0.0, 1.0, NULL, NULL, 0},
        {"--clip", CLI_FLOAT, &o.clip, 0.0, 1e6, NULL, NULL, 0},
        {"--alpha-c", CLI_FLOAT, &o.alpha_c, 0.0, 100.0, NULL, NULL, 0},
        {"--att-sup", CLI_FLOAT, &o.att_sup, 0.0, 100.0, NULL, NULL, 0},
        {"--aux-items", CLI_FLOAT, &o.aux_items, 0.0, 100.0, NULL, NULL, 0},
        {"--dropout", CLI_FLOAT, &o.dropout, 0.0, 0.99, NULL, NULL, 0},
        {"--resume", CLI_FLAG, &o.resume, 0, 0, NULL, NULL, 0},
        {"--no-coords", CLI_FLAG, &o.no_coords, 0, 0, NULL, NULL, 0},
        {"--ctx2out", CLI_FLAG, &o.ctx2out, 0, 0, NULL, NULL, 0},
        {"--att-coords", CLI_FLAG, &o.att_coords, 0, 0, NULL, NULL, 0},
        {"--quiet", CLI_FLAG, &o.quiet, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!strcmp(captions, "random"))
        o.random_caps = 1;
    else if (strcmp(captions, "canonical"))
        return cli_usage(V, "--captions needs canonical or random, not '%s'", captions);
    if (!strcmp(encoder, "vit"))
        o.vit = 1;
    else if (strcmp(encoder, "cnn"))
        return cli_usage(V, "--encoder needs cnn or vit, not '%s'", encoder);
    if (strcmp(vit_pos, "learned") && strcmp(vit_pos, "sincos"))
        return cli_usage(V, "--vit-pos needs learned or sincos, not '%s'", vit_pos);
    if (o.resume && !o.ckpt) return cli_usage(V, "--resume needs --checkpoint PATH");
    if (o.nch == 0) {
        o.nch = 4;
        o.ch[0] = 16, o.ch[1] = 32, o.ch[2] = 64, o.ch[3] = 128;
    }
    const int S = 96;
    sc_cnn_config cc = sc_cnn_config_make(o.no_coords ? 3 : 5, o.nch, o.ch);
    for (int k = 0; k + 1 < o.nch; k++) cc.pool[k] = 1;
    if ((o.nker && o.nker != o.nch) || (o.npool && o.npool != o.nch))
        return cli_usage(V, "--kernels and --pools need one entry per --channels stage (%d)",
                         o.nch);
    for (int k = 0; k < o.nker; k++) {
        if (o.ker[k] % 2 == 0) return cli_usage(V, "--kernels must be odd, not %d", o.ker[k]);
        cc.kernel[k] = o.ker[k];
    }
    for (int k = 0; k < o.npool; k++) cc.pool[k] = o.pool[k];
    sc_vit_config vc = sc_vit_default_config();
    vc.image_size = S, vc.patch = o.vit_patch, vc.dim = o.vit_dim, vc.depth = o.vit_depth;
    vc.heads = o.vit_heads, vc.mlp_dim = o.vit_mlp, vc.dropout = o.vit_dropout;
    vc.pos = strcmp(vit_pos, "sincos") ? SC_VIT_POS_LEARNED : SC_VIT_POS_SINCOS;
    sc_captioner_config cfg = sc_captioner_default_config();
    cfg.encoder = o.vit ? SC_CAP_ENC_VIT : SC_CAP_ENC_CNN;
    snprintf(cfg.encoder_arch, sizeof cfg.encoder_arch, "%s", o.vit ? "vit" : "cnn");
    cfg.grid = o.grid;
    cfg.image_size = S;
    cfg.encoder_dim = o.vit ? o.vit_dim : o.ch[o.nch - 1];
    cfg.attention_dim = o.att;
    cfg.embed_dim = o.embed;
    cfg.decoder_dim = o.dec;
    cfg.dropout = o.dropout;
    cfg.ctx2out = o.ctx2out;
    cfg.att_coords = o.att_coords;
    if (o.threads && sc_set_num_threads(o.threads)) return cli_fail(NULL);

    sc_vocab vocab = {0};
    sc_fashion_mnist train = {0}, test = {0};
    sc_captioner *m = NULL;
    sc_trainer *tr = NULL;
    sc_param *all = NULL;
    float *x = NULL, *feat = NULL, *dfeat = NULL;
    int32_t *caps = NULL, *lens = NULL;
    uint8_t *ascratch = NULL, *amask = NULL; /* attention targets (--att-sup) */
    aux_batch aux = {{0}, NULL, NULL, NULL}; /* items (--aux-items) */
    aux_heads heads = {NULL, {{0}}};
    char *cfg_json = NULL, *voc_json = NULL, *enc_json = NULL, *mpath = NULL;
    int rc = CLI_FAIL;
    cap_eval_result ev;
    memset(&ev, 0, sizeof ev);
    if (sc_capscenes_vocab(&vocab)) goto fail;
    cfg.vocab_size = vocab.n;
    if (o.vit ? sc_captioner_create_vit(&cfg, &vc, &vocab, (uint64_t)o.seed, &m)
              : sc_captioner_create_cnn(&cfg, &cc, &vocab, (uint64_t)o.seed, &m)) {
        rc = cli_usage(V, "%s", sc_last_error());
        goto done;
    }
    if (sc_fashion_mnist_load("train", o.data, &train) ||
        sc_fashion_mnist_load("test", o.data, &test)) {
        cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    const sc_param *dp, *ep, *eb;
    size_t nd, ne, nb;
    if (sc_captioner_params(m, &dp, &nd) || sc_captioner_encoder_params(m, &ep, &ne, &eb, &nb))
        goto fail;
    const size_t naux = o.aux_items > 0 ? AUX_HEADS : 0;
    all = malloc((nd + ne + naux) * sizeof *all);
    if (!all) goto fail;
    memcpy(all, ep, ne * sizeof *all);
    memcpy(all + ne, dp, nd * sizeof *all);
    if (naux) {
        if (aux_heads_init(&heads, cfg.encoder_dim, (uint64_t)o.seed + 0x61757869ull)) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto fail;
        }
        memcpy(all + ne + nd, heads.p, naux * sizeof *all);
    }
    size_t per_epoch = ((size_t)o.train_size + (size_t)o.batch - 1) / (size_t)o.batch;
    int64_t total = o.steps ? o.steps : (int64_t)per_epoch * o.epochs;
    int epochs =
        o.steps ? (int)((o.steps + (int64_t)per_epoch - 1) / (int64_t)per_epoch) : o.epochs;
    sc_train_params tp = sc_train_default_params();
    tp.epochs = epochs;
    tp.batch_size = (size_t)o.batch;
    tp.seed = (uint64_t)o.seed;
    tp.optim = sc_adamw_default_params();
    tp.optim.lr = o.lr;
    tp.optim.weight_decay = o.wd;
    tp.schedule.kind = SC_LR_COSINE;
    tp.schedule.base_lr = o.lr;
    if (o.warmup >= total) {
        rc = cli_usage(V, "--warmup must be below the number of steps");
        goto done;
    }
    tp.schedule.t_max = total - o.warmup; /* the cosine ends with the last step */
    tp.schedule.warmup_steps = o.warmup;
    tp.clip_grad_norm = o.clip;
    tp.checkpoint_path = o.ckpt;
    tp.checkpoint_every = o.ckpt_every;
    tp.metrics_path = o.metrics;
    tp.resume = o.resume;
    tp.max_steps =
        o.steps ? (o.max_steps && o.max_steps < o.steps ? o.max_steps : o.steps) : o.max_steps;
    tp.label = "train captioner";
    if (o.quiet) tp.progress_mode = 3;
    if (sc_trainer_create(&tp, (size_t)o.train_size, all, nd + ne + naux, eb, nb, &tr)) goto fail;
    cfg_json = sc_captioner_config_to_json(sc_captioner_get_config(m));
    voc_json = sc_vocab_to_json(&vocab);
    enc_json = o.vit ? sc_vit_config_to_json(&vc) : sc_cnn_config_to_json(&cc);
    if (!cfg_json || !voc_json || !enc_json ||
        sc_trainer_set_metadata(tr, "saccade.config", cfg_json) ||
        sc_trainer_set_metadata(tr, "saccade.vocab", voc_json) ||
        sc_trainer_set_metadata(tr, "saccade.encoder", enc_json))
        goto fail;
    const int P = o.grid * o.grid, E = cfg.encoder_dim;
    x = malloc((size_t)o.batch * 3 * S * S * sizeof(float));
    feat = malloc((size_t)o.batch * P * E * sizeof(float));
    dfeat = malloc((size_t)o.batch * P * E * sizeof(float));
    caps = malloc((size_t)o.batch * CAP_MAX_TOKENS * sizeof(int32_t));
    lens = malloc((size_t)o.batch * sizeof(int32_t));
    if (o.att_sup > 0) {
        ascratch = malloc((size_t)o.batch * CAP_MAX_TOKENS * P);
        amask = malloc((size_t)o.batch * CAP_MAX_TOKENS * P);
        if (!ascratch || !amask) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (o.aux_items > 0) {
        const size_t slots = (size_t)o.batch * SC_SCENES_MAX_ITEMS;
        aux.cls = malloc(slots * sizeof(int32_t));
        aux.colour = malloc(slots * sizeof(int32_t));
        aux.cells = malloc(slots * P);
        if (!aux.cls || !aux.colour || !aux.cells) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (!x || !feat || !dfeat || !caps || !lens) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto fail;
    }
    data_ctx d;
    d.sp = sc_scenes_default_params();
    d.sp.seed = (uint64_t)o.scene_seed;
    d.sp.train = &train;
    d.sp.test = &test;
    d.vocab = &vocab;
    d.S = S;
    d.random_caps = o.random_caps;
    d.grid = o.att_sup > 0 ? o.grid : 0;
    d.aux_grid = o.aux_items > 0 ? o.grid : 0;
    cap_eval_source vs = {&d.sp, SC_SCENES_TEST, NULL};
    if (o.resume)
        fprintf(stderr, "resuming from %s at step %lld\n", o.ckpt,
                (long long)sc_trainer_global_step(tr));
    const int *idx;
    size_t count;
    int r, evaluated = 0;
    while ((r = sc_trainer_next(tr, &idx, &count)) == 1) {
        int L;
        if (make_batch(&d, idx, count, sc_trainer_rng(tr), x, caps, lens, &L, ascratch, amask,
                       &aux))
            goto fail;
        if (sc_captioner_encode_batch(m, x, (int)count, S, S, 1, feat)) goto fail;
        memset(dfeat, 0, count * (size_t)P * E * sizeof(float));
        sc_caption_batch cb = {(int)count, L, caps, lens, amask};
        sc_caption_loss_opts lo = {o.alpha_c, 1, 1, o.att_sup};
        sc_caption_loss cl;
        if (sc_captioner_loss(m, feat, &cb, &lo, sc_trainer_rng(tr), &cl, dfeat)) goto fail;
        double aux_loss = 0;
        if (naux &&
            aux_items_loss(&heads, &aux, (int)count, P, E, feat, dfeat, o.aux_items, &aux_loss))
            goto fail;
        if (sc_captioner_encode_backward(m, dfeat)) goto fail;
        const char *keys[4] = {"ce", "att_penalty", "att_sup", "aux_items"};
        double vals[4] = {cl.ce, cl.penalty, cl.att_sup, aux_loss};
        int nk = o.att_sup > 0 ? 3 : 2;
        if (naux) keys[nk] = keys[3], vals[nk] = aux_loss, nk++;
        if (sc_trainer_step(tr, cl.loss + aux_loss, nk, keys, vals)) goto fail;
        evaluated = 0;
        if (sc_trainer_at_epoch_end(tr) && o.val > 0) {
            if (cap_eval_run(m, &vs, (size_t)o.val, 1, &ev, NULL, 0)) goto fail;
            const char *k2[4] = {"val_bleu4", "val_exact", "val_colour_acc", "val_class_acc"};
            double v2[4] = {ev.bleu[3], (double)ev.c.exact / ev.c.scenes,
                            (double)ev.c.colour_ok / ev.c.slots,
                            (double)ev.c.class_ok / ev.c.slots};
            if (sc_trainer_log(tr, 4, k2, v2)) goto fail;
            printf("epoch %lld/%d: train loss %.4f, val (%d test scenes, greedy) BLEU-4 %.4f "
                   "exact %.1f%% colour %.1f%% class %.1f%% (%.1f s)\n",
                   (long long)sc_trainer_epoch(tr) + 1, epochs, sc_trainer_epoch_loss(tr), o.val,
                   v2[0], 100 * v2[1], 100 * v2[2], 100 * v2[3], sc_trainer_elapsed(tr));
            fflush(stdout);
            evaluated = 1;
        }
    }
    if (r < 0) goto fail;
    if (!evaluated && o.val > 0) {
        if (cap_eval_run(m, &vs, (size_t)o.val, 1, &ev, NULL, 0)) goto fail;
    }
    if (sc_captioner_save(m, o.out)) goto fail;
    char cmd[4096], json[16384];
    cli_command_line(full_argc, full_argv, cmd, sizeof cmd);
    FILE *mem = fmemopen(json, sizeof json, "w");
    if (!mem) {
        sc_set_error(SC_ERR_IO, "fmemopen failed");
        goto fail;
    }
    double sc_n = ev.c.scenes ? (double)ev.c.scenes : 1, sl = ev.c.slots ? (double)ev.c.slots : 1;
    fprintf(mem, "{\"model\": ");
    cli_json_string(mem, o.out);
    fprintf(mem,
            ", \"train_loss\": %.6f, \"val_scenes\": %d, \"val_beam\": 1, \"val_bleu4\": %.6f, "
            "\"val_cider_d\": %.6f, \"val_exact\": %.6f, \"val_colour_acc\": %.6f, "
            "\"val_class_acc\": %.6f, \"epochs\": %d, \"steps\": %lld, \"seed\": %d, "
            "\"batch\": %d, \"lr\": %g, \"train_size\": %d, \"captions\": \"%s\", "
            "\"seconds\": %.2f, \"threads\": %d, \"command\": ",
            sc_trainer_epoch_loss(tr), o.val, ev.bleu[3], ev.cider_d, ev.c.exact / sc_n,
            ev.c.colour_ok / sl, ev.c.class_ok / sl, epochs, (long long)sc_trainer_global_step(tr),
            o.seed, o.batch, (double)o.lr, o.train_size, o.random_caps ? "random" : "canonical",
            sc_trainer_elapsed(tr), sc_get_num_threads());
    cli_json_string(mem, cmd);
    fprintf(mem, ", \"config\": %s, \"encoder\": %s}\n", cfg_json, enc_json);
    long len = ftell(mem);
    fclose(mem);
    if (len <= 0 || (size_t)len >= sizeof json) {
        sc_set_error(SC_ERR_LIMIT, "metrics summary too long");
        goto fail;
    }
    mpath = cli_metrics_path(o.out);
    if (!mpath || sc_write_file_atomic(mpath, json, (size_t)len)) goto fail;
    printf("trained %lld steps (%.1f s), final train loss %.4f; model: %s, metrics: %s\n",
           (long long)sc_trainer_global_step(tr), sc_trainer_elapsed(tr), sc_trainer_epoch_loss(tr),
           o.out, mpath);
    rc = CLI_OK;
    goto done;
fail:
    rc = cli_fail("train captioner");
done:
    free(x);
    free(feat);
    free(dfeat);
    free(caps);
    free(lens);
    free(ascratch);
    free(amask);
    free(aux.cls);
    free(aux.colour);
    free(aux.cells);
    free(heads.w);
    free(all);
    free(cfg_json);
    free(voc_json);
    free(enc_json);
    free(mpath);
    sc_trainer_free(tr);
    sc_captioner_free(m);
    sc_vocab_free(&vocab);
    sc_fashion_mnist_free(&train);
    sc_fashion_mnist_free(&test);
    return rc;
}
