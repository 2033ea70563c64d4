/* saccade caption: Show, Attend and Tell captions for images, with per-word
 * attention figures and a static HTML gallery. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_blip_caption.h"
#include "saccade/sc_bundled_models.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_vit_gpt2.h"

#define DEFAULT_MODEL "models/scenes-captioner.safetensors"

void cli_caption_help(FILE *out) {
    fprintf(out,
            "usage: saccade caption IMAGE|DIR|-... [--model M] [--beam K] [--max-len N]\n"
            "                       [--min-len N] [--length-norm A] [--json]\n"
            "                       [--json-attention] [--attention DIR|FILE.png]\n"
            "                       [--html DIR] [--html-page-size N] [--colormap NAME]\n"
            "                       [--alpha A] [--threads N] [--shard K/N]\n"
            "                       [--attention-mode sample|argmax|expected] [--seed S]\n"
            "       BLIP only:      [--prompt TEXT] [--strip-prompt] [--length-penalty A]\n"
            "                       [--sample] [--top-p P] [--top-k K] [--temperature T]\n"
            "                       [--seed S] [--attention-layer L] [--attention-heads H,..]\n\n"
            "Captions images and prints 'PATH<TAB>caption' per image, with a Show, Attend\n"
            "and Tell model (a .safetensors file; beam search as the PyTorch tutorial's\n"
            "caption.py) or with BLIP (a Hugging Face BlipForConditionalGeneration folder\n"
            "such as Salesforce/blip-image-captioning-base, or a saccade BLIP file;\n"
            "generation as transformers 5.x's generate, see README 'Caption your own\n"
            "photos'), or with ViT-GPT2 (a Hugging Face VisionEncoderDecoderModel folder\n"
            "such as nlpconnect/vit-gpt2-image-captioning: config.json model_type\n"
            "\"vision-encoder-decoder\"; the BLIP options below apply to it too, except\n"
            "--prompt, --strip-prompt and sampling).\n"
            "--model M        captioner .safetensors (tools/convert_sat.py converts the\n"
            "                 tutorial's checkpoints), or a BLIP folder (config.json,\n"
            "                 model.safetensors, vocab.txt, ...); default: the shipped\n"
            "                 assets/" DEFAULT_MODEL "\n"
            "                 (found through $SACCADE_ASSETS, the source tree's assets/ or\n"
            "                 the installed share/saccade/), which knows only synthetic\n"
            "                 Fashion scenes: other images get a warning on stderr\n"
            "--beam K         beam size, 1 (greedy) to 100 (default 3, as the library's\n"
            "                 sc_captioner_beam_default_params and Python's caption(); BLIP:\n"
            "                 the model config's num_beams, 1 unless it says more, since BLIP\n"
            "                 generation follows Hugging Face's defaults, not saccade's)\n"
            "--max-len N      at most N words before <end>: N + 1 decoding steps (default\n"
            "                 50, the tutorial's limit); if no beam ends in time, the best\n"
            "                 unfinished one (N + 1 words, no <end>) is returned\n"
            "                 (\"finished\": false in --json). BLIP: at most N new tokens,\n"
            "                 [SEP] included, as Hugging Face's max_new_tokens (default:\n"
            "                 the config's max_length, 20)\n"
            "--min-len N      <end> ([SEP]) is not allowed before N words (default 0; BLIP:\n"
            "                 new tokens, as Hugging Face's min_new_tokens)\n"
            "--attention-mode M  what each word reads from the image (Show-Attend-Tell\n"
            "                 models): expected (the attention-weighted mean of the cells,\n"
            "                 soft attention), argmax (the most attended cell) or sample (a\n"
            "                 cell drawn from the attention, --seed S, default 0). Default:\n"
            "                 argmax for hard-attention models (train captioner --attention\n"
            "                 hard), expected otherwise. In argmax and sample modes the\n"
            "                 figures show the cell read, labelled \"word [row,col]\", and\n"
            "                 --json adds \"cells\" (row * grid + col per token)\n"
            "--length-norm A  rank finished captions by score / length^A (default 0: the\n"
            "                 raw sum of log-probabilities, as the tutorial)\n"
            "--length-penalty A  BLIP beam score = sum log p / new_tokens^A (default: the\n"
            "                 config's length_penalty, 1.0)\n"
            "--prompt TEXT    BLIP: continue TEXT (\"a picture of\"); the caption keeps it as\n"
            "                 Hugging Face's decode does; --strip-prompt removes it as\n"
            "                 Salesforce's original code does\n"
            "--sample         BLIP: sample instead of searching (implied by --top-p P\n"
            "                 (default 1), --top-k K (default 50), --temperature T (default\n"
            "                 1) and --seed S (default 0; saccade's generator, so the draws\n"
            "                 differ from torch.multinomial's)); needs --beam 1\n"
            "--json           one JSON object per image and line: path, caption, words,\n"
            "                 tokens (ids), logprobs (per token), score (their sum),\n"
            "                 norm_score, finished, beam, max_len, model {file, encoder,\n"
            "                 arch, grid}, outputs written, \"warning\" for a bundled model\n"
            "                 given an image that is not a scene. BLIP: no norm_score;\n"
            "                 words are whole words (word pieces joined), with word_pieces\n"
            "                 (pieces per word) and word_logprobs (their sum); pieces,\n"
            "                 tokens, logprobs and class_attention are per token (piece);\n"
            "                 logprobs as the model gives them (before min-length and\n"
            "                 sampling changes), end_logprob ([SEP]'s, null when cut at\n"
            "                 max_len), score (beam: the beam's normalised score); adds\n"
            "                 length_penalty, prompt, strip_prompt, sampling, attention_layer,\n"
            "                 attention_heads, class_attention (each token's weight on the\n"
            "                 class token, left out of the maps)\n"
            "--json-attention also \"attention\": per token a grid x grid list of weights\n"
            "                 (implies --json); BLIP: also word_attention, per whole word\n"
            "                 the mean of its pieces' maps\n"
            "--attention DIR  write DIR/<name>.attention.png per image (or FILE.png for one\n"
            "                 image): the image, then one panel per generated token (<end>\n"
            "                 included; BLIP: each whole word, [SEP] not; a word of several\n"
            "                 pieces shows the mean of their maps) with its attention\n"
            "                 upsampled, smoothed (Gaussian, sigma = a third of a grid cell,\n"
            "                 as the tutorial's pyramid_expand) and overlaid, the word\n"
            "                 underneath; 224-pixel panels, 8 per row\n"
            "--attention-layer L  BLIP: the text decoder layer (0-based) whose\n"
            "                 cross-attention the maps show (default 2 * layers / 3: 8 of\n"
            "                 BLIP-base's 12, the layer BLIP's own Grad-CAM demo reads)\n"
            "--attention-heads H,..  BLIP: mean over these heads (default: all)\n"
            "                 ViT-GPT2: the GPT-2 layer's cross-attention, default layer\n"
            "                 2 * layers / 3 (8 of 12), mean over all heads; --max-len\n"
            "                 counts new tokens (the config's max_length minus the start\n"
            "                 token, 19 for max_length 20)\n"
            "--colormap NAME  attention colours: gray (default, the tutorial's figure:\n"
            "                 attended regions light up), viridis, inferno, magma, jet\n"
            "--alpha A        weight of the attention overlay, 0..1 (default 0.8)\n"
            "--html DIR       a static gallery openable from disk, no network access:\n"
            "                 DIR/index.html, page-2.html, ...: thumbnails (DIR/images/,\n"
            "                 loaded as they scroll into view), captions, paths and scores,\n"
            "                 with page links (arrow keys too) and a search box over\n"
            "                 captions and paths (index.html?q=WORDS opens a search);\n"
            "                 DIR/items/NAME.html per image: the image and each word with\n"
            "                 its log-probability and its attention map over the image\n"
            "                 (64-pixel panels drawn by the page from the attention grid\n"
            "                 it holds; --colormap and --alpha apply);\n"
            "                 DIR/failed.html lists the images that failed. DIR is marked\n"
            "                 (DIR/.saccade-gallery): folder walks of every verb skip it, so\n"
            "                 DIR may sit inside the inputs. The pages follow the captions\n"
            "                 as they are made (each file written whole), so a run that is\n"
            "                 stopped or killed leaves a gallery of the images done so far\n"
            "--html-page-size N  images per gallery page, 1..100000 (default 100)\n"
            "--shard K/N      only the K-th of N equal slices of the input list (for Slurm\n"
            "                 arrays and GNU parallel; together the N runs cover every\n"
            "                 input once). Under mpirun the ranks take images a few at a\n"
            "                 time as each becomes free (SACCADE_MPI_HANDOUT=static: fixed\n"
            "                 slices) and rank 0 prints all output in input order; SIGTERM,\n"
            "                 SIGINT or SIGHUP to a rank ends the job with exit 1 and no\n"
            "                 output\n"
            "--threads N      threads for saccade's loops and BLAS (default: all cores)\n\n"
            "Inputs: files as given; directories are searched recursively for images\n"
            "(.png .jpg .jpeg .bmp .gif .tga .psd .hdr .pnm .ppm .pgm), in sorted order;\n"
            "'-' reads a list of files or directories from standard input, one per line.\n"
            "Inside directories, the --html and --attention folders are skipped.\n"
            "The model is loaded once, before anything is written. An image that cannot\n"
            "be read or captioned is reported on stderr ('saccade: PATH: reason') and the\n"
            "others are still processed; the exit status is then 1 (2 for usage errors).\n\n"
            "Examples:\n"
            "  saccade caption assets/samples/scenes/images/test_000000.png --beam=3\n"
            "  saccade caption assets/samples/scenes/images --json --attention att/\n"
            "  saccade caption assets/samples/scenes/images --html gallery/\n"
            "  saccade caption --model blip-image-captioning-base photo.jpg --beam 3 \\\n"
            "      --attention photo.attention.png\n"
            "  saccade caption --model blip-image-captioning-large photos/ --prompt "
            "\"a picture of\" \\\n"
            "      --html gallery/\n");
}

typedef struct blip_opts { /* BLIP-only settings; -1 / 0: the model's own */
    sc_blip_generate_params gen;
    const char *prompt;
    int strip_prompt, sample, seed, top_k;
    float length_penalty, top_p, temperature;
    int layer, heads[SC_BLIP_MAX_HEADS], nheads;
} blip_opts;

typedef struct cap_ctx {
    sc_captioner *model;
    sc_blip *blip;          /* a BLIP model instead of model */
    sc_vit_gpt2 *vg;        /* or a ViT-GPT2 model (captioned through the BLIP paths) */
    const char *model_path; /* as given, for the bundled-model check */
    const char *model_file; /* base name, for --json and the gallery */
    sc_beam_params bp;
    int beam, max_words, min_len; /* as given; 0 / 0 / -1: the model family's default */
    int json, json_att;
    const char *att; /* NULL: no figures */
    int att_is_dir;
    sc_attention_grid_params gp;
    sc_gallery *gallery;
    int html_page_size; /* 0: the library's default */
    blip_opts bo;
    const char *shard;    /* --shard K/N */
    const char *att_mode; /* --attention-mode, or NULL */
    int seed;             /* --seed as given, -1 when absent */
    int blip_sampling;    /* --sample, --top-p, --top-k or --temperature given */
} cap_ctx;

/* v NULL (a model that does not give the values): null. */
static cJSON *float_array(const float *v, int n) {
    if (!v) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    for (int t = 0; a && t < n; t++) cJSON_AddItemToArray(a, cli_json_float(v[t], 9));
    return a;
}

static cJSON *string_or_null(const char *s) {
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* "words" and "tokens" of a caption (ids as int32 or int). */
static void add_tokens(cJSON *o, const char *const *wordv, const int32_t *ids32, const int *ids,
                       int n) {
    cJSON *words = cJSON_CreateArray(), *toks = cJSON_CreateArray();
    for (int t = 0; words && toks && t < n; t++) {
        cJSON_AddItemToArray(words, cJSON_CreateString(wordv[t]));
        cJSON_AddItemToArray(toks, cJSON_CreateNumber(ids32 ? ids32[t] : ids[t]));
    }
    cJSON_AddItemToObject(o, "words", words);
    cJSON_AddItemToObject(o, "tokens", toks);
}

/* key ("attention"): per token a G x G list of weights (maps (n, G, G)). */
static void add_attention(cJSON *o, const char *key, const float *maps, int n, int G) {
    cJSON *att = cJSON_AddArrayToObject(o, key);
    for (int t = 0; att && t < n; t++) {
        cJSON *rows = cJSON_CreateArray();
        for (int i = 0; rows && i < G; i++)
            cJSON_AddItemToArray(rows, float_array(maps + ((size_t)t * G + (size_t)i) * G, G));
        cJSON_AddItemToArray(att, rows);
    }
}

/* One image's --json line. */
static int print_json(const cap_ctx *c, const char *path, const sc_caption_result *r,
                      const char *att_path, const char *thumb, const char *warn) {
    const sc_captioner_config *cf = sc_captioner_get_config(c->model);
    const sc_caption_hyp *h = &r->hyps[0];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "caption", r->text);
    add_tokens(o, r->words, h->tokens, NULL, h->len);
    cJSON_AddItemToObject(o, "logprobs", float_array(h->logprobs, h->len));
    cJSON_AddItemToObject(o, "score", cli_json_float(h->score, 9));
    cJSON_AddItemToObject(o, "norm_score", cli_json_float(h->norm_score, 9));
    cJSON_AddBoolToObject(o, "finished", h->finished);
    cJSON_AddNumberToObject(o, "beam", c->bp.beam_size);
    cJSON_AddNumberToObject(o, "max_len", c->max_words);
    cJSON_AddNumberToObject(o, "min_len", c->bp.min_len);
    cJSON_AddItemToObject(o, "length_norm", cli_json_float(c->bp.length_penalty, 7));
    cJSON *mo = cJSON_AddObjectToObject(o, "model");
    const char *enc = cf->encoder == SC_CAP_ENC_RESNET ? "resnet"
                      : cf->encoder == SC_CAP_ENC_CNN  ? "cnn"
                      : cf->encoder == SC_CAP_ENC_VIT  ? "vit"
                                                       : "features";
    cJSON_AddStringToObject(mo, "file", c->model_file);
    cJSON_AddStringToObject(mo, "encoder", enc);
    cJSON_AddStringToObject(mo, "arch", cf->encoder_arch);
    cJSON_AddNumberToObject(mo, "grid", r->grid);
    cJSON_AddNumberToObject(mo, "vocab_size", cf->vocab_size);
    cJSON_AddItemToObject(o, "attention_png", string_or_null(att_path));
    cJSON_AddItemToObject(o, "html_thumbnail", string_or_null(thumb));
    if (warn) cJSON_AddStringToObject(o, "warning", warn);
    if (h->cells) {
        cJSON *cells = cJSON_AddArrayToObject(o, "cells");
        for (int t = 0; cells && t < h->len; t++)
            cJSON_AddItemToArray(cells, cJSON_CreateNumber(h->cells[t]));
    }
    if (c->json_att) add_attention(o, "attention", h->alphas, h->len, r->grid);
    return cli_json_emit(stdout, o);
}

/* A failed image is listed in the gallery; its message stays set. */
static void gallery_failure(cap_ctx *c, const char *path) {
    if (!c->gallery) return;
    char reason[512];
    snprintf(reason, sizeof reason, "%s", sc_last_error());
    sc_gallery_add_failure(c->gallery, path, reason);
    sc_set_error(SC_ERR_INTERNAL, "%s", reason); /* the batch prints the message */
}

static int one_image(const cli_batch *b, int i, void *vctx) {
    cap_ctx *c = vctx;
    const char *path = b->paths[i];
    sc_image img = {0}, grid = {0};
    sc_caption_result r = {0};
    char *att = NULL, *thumb = NULL;
    int bad = 1;
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_image_load(path, &lp, &img, NULL)) goto done;
    const char *warn = sc_bundled_model_warning(c->model_path, img.w, img.h);
    if (warn) fprintf(stderr, "saccade: %s: warning: %s\n", path, warn);
    if (sc_captioner_caption_image(c->model, &img, &c->bp, &r)) goto done;
    if (r.n_hyps < 1) {
        sc_set_error(SC_ERR_INTERNAL, "no caption produced");
        goto done;
    }
    if (c->att && sc_caption_attention_grid(&img, &r, &c->gp, &grid)) goto done;
    if (c->att) {
        att =
            c->att_is_dir ? cli_batch_output_path(b, c->att, i, ".attention.png") : strdup(c->att);
        if (!att) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (sc_image_save(&grid, att)) goto done;
    }
    if (c->gallery) {
        const sc_caption_hyp *h = &r.hyps[0];
        sc_gallery_item it = {.name = b->stems[i],
                              .label = path,
                              .caption = r.text,
                              .words = r.words,
                              .logprobs = h->logprobs,
                              .n = h->len,
                              .score = h->score,
                              .alphas = h->alphas,
                              .grid = r.grid};
        if (sc_gallery_add(c->gallery, &img, &it)) goto done;
        thumb = malloc(strlen(b->stems[i]) + 16);
        if (thumb) sprintf(thumb, "images/%s.jpg", b->stems[i]);
    }
    if (c->json) {
        if (print_json(c, path, &r, att, thumb, warn)) {
            sc_set_error(SC_ERR_NOMEM, "out of memory writing JSON");
            goto done;
        }
    } else {
        fputs(path, stdout);
        putchar('\t');
        fputs(r.text, stdout);
        putchar('\n');
    }
    fflush(stdout);
    bad = 0;
done:
    if (bad) gallery_failure(c, path);
    sc_image_free(&img);
    sc_image_free(&grid);
    sc_caption_result_free(&r);
    free(att);
    free(thumb);
    return bad;
}

/* The text decoder's layers and heads and the vocabulary size of the BLIP or
 * ViT-GPT2 model. */
static void model_dims(const cap_ctx *c, int *layers, int *heads, int *vocab) {
    if (c->vg) {
        const sc_vit_gpt2_decoder_config *d = &sc_vit_gpt2_get_config(c->vg)->decoder;
        *layers = d->n_layer, *heads = d->n_head, *vocab = d->vocab_size;
    } else {
        const sc_blip_text_config *t = &sc_blip_get_config(c->blip)->text;
        *layers = t->num_hidden_layers, *heads = t->num_attention_heads, *vocab = t->vocab_size;
    }
}

/* BLIP's --json line: the captioner's keys where they mean the same, plus the
 * prompt, the sampling settings and the attention layer / heads. */
static int blip_print_json(const cap_ctx *c, const char *path, const sc_blip_result *r,
                           const char *att_path, const char *thumb) {
    const sc_blip_caption *k = &r->caption;
    const sc_blip_generate_params *g = &c->bo.gen;
    const int G = k->grid;
    int layers, heads, vocab;
    model_dims(c, &layers, &heads, &vocab);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "caption", r->text);
    /* words: whole words (the figure's labels); pieces, tokens, logprobs,
     * class_attention and attention: one per token */
    cJSON *wo = cJSON_AddArrayToObject(o, "words"), *wp = cJSON_AddArrayToObject(o, "word_pieces");
    for (int w = 0; wo && wp && w < r->n_words; w++) {
        cJSON_AddItemToArray(wo, cJSON_CreateString(r->words[w]));
        cJSON_AddItemToArray(wp, cJSON_CreateNumber(r->word_start[w + 1] - r->word_start[w]));
    }
    cJSON_AddItemToObject(o, "word_logprobs", float_array(r->word_logprobs, r->n_words));
    cJSON *pc = cJSON_AddArrayToObject(o, "pieces"), *tk = cJSON_AddArrayToObject(o, "tokens");
    for (int t = 0; pc && tk && t < k->n; t++) {
        cJSON_AddItemToArray(pc, cJSON_CreateString(r->pieces[t]));
        cJSON_AddItemToArray(tk, cJSON_CreateNumber(k->ids[t]));
    }
    cJSON_AddItemToObject(o, "logprobs", float_array(k->logprobs, k->n));
    cJSON_AddItemToObject(o, "end_logprob",
                          k->ended ? cli_json_float(k->end_logprob, 9) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "score", cli_json_float(k->score, 9));
    cJSON_AddBoolToObject(o, "finished", k->ended);
    cJSON_AddNumberToObject(o, "beam", g->num_beams);
    cJSON_AddNumberToObject(o, "max_len", g->max_new_tokens);
    cJSON_AddNumberToObject(o, "min_len", g->min_length);
    cJSON_AddItemToObject(o, "length_penalty", cli_json_float(g->length_penalty, 7));
    cJSON_AddItemToObject(o, "prompt", string_or_null(c->bo.prompt));
    cJSON_AddBoolToObject(o, "strip_prompt", c->bo.strip_prompt);
    if (g->do_sample) {
        cJSON *sm = cJSON_AddObjectToObject(o, "sampling");
        cJSON_AddItemToObject(sm, "top_p", cli_json_float(g->top_p, 7));
        cJSON_AddNumberToObject(sm, "top_k", g->top_k);
        cJSON_AddItemToObject(sm, "temperature", cli_json_float(g->temperature, 7));
        cJSON_AddNumberToObject(sm, "seed", (double)g->seed);
    }
    cJSON *mo = cJSON_AddObjectToObject(o, "model");
    cJSON_AddStringToObject(mo, "file", c->model_file);
    cJSON_AddStringToObject(mo, "encoder", "vit");
    cJSON_AddStringToObject(mo, "arch", c->vg ? "vit-gpt2" : "blip");
    cJSON_AddNumberToObject(mo, "grid", G);
    cJSON_AddNumberToObject(mo, "vocab_size", vocab);
    cJSON_AddNumberToObject(mo, "layers", layers);
    cJSON_AddNumberToObject(mo, "heads", heads);
    cJSON_AddNumberToObject(o, "attention_layer", g->attention_layer);
    cJSON *hd = cJSON_AddArrayToObject(o, "attention_heads");
    for (int h = 0; hd && h < heads; h++)
        if (!g->head_mask || (g->head_mask >> h & 1))
            cJSON_AddItemToArray(hd, cJSON_CreateNumber(h));
    cJSON_AddItemToObject(o, "class_attention", float_array(k->class_attention, k->n));
    cJSON_AddItemToObject(o, "attention_png", string_or_null(att_path));
    cJSON_AddItemToObject(o, "html_thumbnail", string_or_null(thumb));
    if (c->json_att) {
        add_attention(o, "attention", k->attention, k->n, G);
        add_attention(o, "word_attention", r->word_attention, r->n_words, G);
    }
    return cli_json_emit(stdout, o);
}

/* The figure and the gallery entry of one BLIP caption; att gets the figure's
 * name (or NULL), thumb the gallery thumbnail's. */
static sc_status blip_outputs(cap_ctx *c, const cli_batch *b, int i, const sc_image *img,
                              const sc_blip_result *r, char **att, char **thumb) {
    const sc_blip_caption *k = &r->caption;
    sc_image grid = {0};
    sc_status s = SC_OK;
    if (c->att)
        s = sc_attention_grid(img, r->word_attention, k->grid, r->n_words,
                              (const char *const *)r->words, &c->gp, &grid);
    if (!s && c->att) {
        *att =
            c->att_is_dir ? cli_batch_output_path(b, c->att, i, ".attention.png") : strdup(c->att);
        s = *att ? sc_image_save(&grid, *att) : sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    if (!s && c->gallery) {
        sc_gallery_item it = {.name = b->stems[i],
                              .label = b->paths[i],
                              .caption = r->text,
                              .words = (const char *const *)r->words,
                              .logprobs = r->word_logprobs,
                              .n = r->n_words,
                              .score = k->score,
                              .alphas = r->word_attention,
                              .grid = k->grid};
        s = sc_gallery_add(c->gallery, img, &it);
        if (!s && (*thumb = malloc(strlen(b->stems[i]) + 16)))
            sprintf(*thumb, "images/%s.jpg", b->stems[i]);
    }
    sc_image_free(&grid);
    return s;
}

static int blip_one_image(const cli_batch *b, int i, void *vctx) {
    cap_ctx *c = vctx;
    const char *path = b->paths[i];
    sc_image img = {0};
    sc_blip_result r = {0};
    char *att = NULL, *thumb = NULL;
    sc_image_load_params lp = sc_image_load_default_params();
    sc_status s = sc_image_load(path, &lp, &img, NULL);
    if (!s && c->vg)
        s = sc_vit_gpt2_caption_image(c->vg, &img, &c->bo.gen, &r);
    else if (!s)
        s = sc_blip_caption_image(c->blip, &img, c->bo.prompt, c->bo.strip_prompt, &c->bo.gen, &r);
    if (!s) s = blip_outputs(c, b, i, &img, &r, &att, &thumb);
    if (!s && c->json) {
        if (blip_print_json(c, path, &r, att, thumb))
            s = sc_set_error(SC_ERR_NOMEM, "out of memory writing JSON");
    } else if (!s) {
        printf("%s\t%s\n", path, r.text);
    }
    fflush(stdout);
    if (s) gallery_failure(c, path);
    sc_image_free(&img);
    sc_blip_result_free(&r);
    free(att);
    free(thumb);
    return s != SC_OK;
}

/* The BLIP settings: the model's own (text config) overridden by the options. */
static int blip_settings(cap_ctx *c) {
    const char *V = "caption";
    blip_opts *o = &c->bo;
    sc_blip_generate_params *g = &o->gen;
    *g = c->vg ? sc_vit_gpt2_default_generate_params(c->vg)
               : sc_blip_default_generate_params(c->blip);
    int layers, heads, vocab;
    model_dims(c, &layers, &heads, &vocab);
    if (c->vg && (o->prompt || o->strip_prompt || o->sample))
        return cli_usage(V, "--prompt, --strip-prompt and sampling need a BLIP model (ViT-GPT2 "
                            "captions without a prompt, by greedy or beam search)");
    if (c->beam) g->num_beams = c->beam;
    if (c->max_words) g->max_new_tokens = c->max_words;
    if (c->min_len >= 0) g->min_length = c->min_len;
    if (o->length_penalty > -99) g->length_penalty = o->length_penalty;
    if (o->sample) {
        g->do_sample = 1;
        g->seed = (uint64_t)o->seed;
        if (o->top_p >= 0) g->top_p = o->top_p;
        if (o->temperature >= 0) g->temperature = o->temperature;
        if (o->top_k >= 0) g->top_k = o->top_k;
    }
    if (g->do_sample && g->num_beams > 1)
        return cli_usage(V, "sampling (--top-p, --temperature, --top-k, --seed, --sample) takes "
                            "--beam 1");
    if (g->min_length > g->max_new_tokens)
        return cli_usage(V, "--min-len %d is more than --max-len %d", g->min_length,
                         g->max_new_tokens);
    if (o->layer >= layers)
        return cli_usage(V, "--attention-layer %d: the model has %d layers (0..%d)", o->layer,
                         layers, layers - 1);
    if (o->layer >= 0) g->attention_layer = o->layer;
    if (g->attention_layer < 0) g->attention_layer = 2 * layers / 3;
    for (int h = 0; h < o->nheads; h++) {
        if (o->heads[h] >= heads)
            return cli_usage(V, "--attention-heads: head %d, the model has %d (0..%d)", o->heads[h],
                             heads, heads - 1);
        g->head_mask |= (uint64_t)1 << o->heads[h];
    }
    return CLI_OK;
}

/* The options into c (and the rest); CLI_OK or CLI_USAGE. */
static int parse_caption_options(int argc, char **argv, cap_ctx *c, const char **model,
                                 int *threads, const char **html, const char **inputs,
                                 int *ninputs) {
    const char *V = "caption", *colormap = NULL;
    int json_att = 0;
    blip_opts *bo = &c->bo;
    const cli_opt opts[] = {
        {"-m|--model", CLI_STR, model, 0, 0, "a .safetensors file or a model folder", NULL, 0},
        {"--beam-size|--beam", CLI_INT, &c->beam, 1, 100, NULL, NULL, 0},
        {"--max-len", CLI_INT, &c->max_words, 1, 1000, NULL, NULL, 0},
        {"--min-len", CLI_INT, &c->min_len, 0, 1000, NULL, NULL, 0},
        {"--length-norm", CLI_FLOAT, &c->bp.length_penalty, 0, 10, NULL, NULL, 0},
        {"--length-penalty", CLI_FLOAT, &bo->length_penalty, -10, 10, NULL, NULL, 0},
        {"--prompt", CLI_STR, &bo->prompt, 0, 0, "a text", NULL, 0},
        {"--strip-prompt", CLI_FLAG, &bo->strip_prompt, 0, 0, NULL, NULL, 0},
        {"--sample", CLI_FLAG, &bo->sample, 0, 0, NULL, NULL, 0},
        {"--top-p", CLI_FLOAT, &bo->top_p, 0, 1, NULL, NULL, 0},
        {"--top-k", CLI_INT, &bo->top_k, 0, 1000000, NULL, NULL, 0},
        {"--temperature", CLI_FLOAT, &bo->temperature, 1e-6, 1000, NULL, NULL, 0},
        {"--seed", CLI_INT, &bo->seed, 0, 2147483647, NULL, NULL, 0},
        {"--attention-layer", CLI_INT, &bo->layer, 0, SC_BLIP_MAX_LAYERS - 1, NULL, NULL, 0},
        {"--attention-heads", CLI_INTS, bo->heads, 0, SC_BLIP_MAX_HEADS - 1, NULL, &bo->nheads,
         SC_BLIP_MAX_HEADS},
        {"--json", CLI_FLAG, &c->json, 0, 0, NULL, NULL, 0},
        {"--json-attention", CLI_FLAG, &json_att, 0, 0, NULL, NULL, 0},
        {"--attention", CLI_STR, &c->att, 0, 0, "a directory or a .png file", NULL, 0},
        {"--html", CLI_STR, html, 0, 0, "a directory", NULL, 0},
        {"--html-page-size", CLI_INT, &c->html_page_size, 1, 100000, NULL, NULL, 0},
        {"--colormap", CLI_STR, &colormap, 0, 0, "a name", NULL, 0},
        {"--alpha", CLI_FLOAT, &c->gp.alpha, 0, 1, NULL, NULL, 0},
        {"--threads", CLI_INT, threads, 1, 2147483647, NULL, NULL, 0},
        {"--shard", CLI_STR, &c->shard, 0, 0, "K/N", NULL, 0},
        {"--attention-mode", CLI_STR, &c->att_mode, 0, 0, "sample, argmax or expected", NULL, 0},
    };
    int rc =
        cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], inputs, argc, ninputs);
    if (rc) return rc;
    if (json_att) c->json = c->json_att = 1;
    if ((*model && !**model) || (c->att && !*c->att) || (*html && !**html))
        return cli_usage(V, "--model, --attention and --html need a non-empty name");
    if (c->html_page_size && !*html) return cli_usage(V, "--html-page-size needs --html");
    if (colormap && sc_colormap_from_name(colormap, &c->gp.colormap))
        return cli_usage(V, "%s", sc_last_error());
    if (*ninputs == 0) return cli_usage(V, "need at least one IMAGE, DIRECTORY or '-'");
    c->seed = bo->seed;
    c->blip_sampling = bo->sample || bo->top_p >= 0 || bo->temperature >= 0 || bo->top_k >= 0;
    if (bo->top_p >= 0 || bo->temperature >= 0 || bo->top_k >= 0 || bo->seed >= 0) bo->sample = 1;
    if (bo->seed < 0) bo->seed = 0;
    return CLI_OK;
}

/* Show, Attend and Tell settings from the options; BLIP-only options are
 * refused. */
static int sat_settings(cap_ctx *c) {
    const char *V = "caption";
    const blip_opts *o = &c->bo;
    if (o->prompt || o->strip_prompt || c->blip_sampling || o->length_penalty > -99 ||
        o->layer >= 0 || o->nheads)
        return cli_usage(V, "--prompt, --strip-prompt, --length-penalty, sampling and "
                            "--attention-layer/--attention-heads need a BLIP model (--model DIR)");
    if (c->att_mode && sc_cap_att_mode_from_name(c->att_mode, &c->bp.attention_mode))
        return cli_usage(V, "--%s", sc_last_error());
    if (c->seed >= 0 && c->bp.attention_mode != SC_CAP_ATT_SAMPLE)
        return cli_usage(V, "--seed needs --attention-mode sample (or a BLIP model's sampling)");
    c->bp.seed = c->seed >= 0 ? (uint64_t)c->seed : 0;
    if (c->beam) c->bp.beam_size = c->beam;
    if (!c->max_words) c->max_words = 50;
    if (c->min_len >= 0) c->bp.min_len = c->min_len;
    if (c->bp.min_len > c->max_words)
        return cli_usage(V, "--min-len %d is more than --max-len %d", c->bp.min_len, c->max_words);
    c->bp.max_len = c->max_words + 1; /* N words + <end> */
    return CLI_OK;
}

/* Load the model (BLIP for a folder or a BLIP file, else a captioner) and
 * apply the options; CLI_OK, CLI_FAIL or CLI_USAGE. */
static int load_model(cap_ctx *c, const char *model) {
    sc_model_kind kind = SC_MODEL_CAPTIONER;
    if (sc_model_probe(model, &kind)) return cli_fail(NULL);
    const char *slash = strrchr(model, '/');
    c->model_path = model;
    c->model_file = slash && slash[1] ? slash + 1 : model;
    if (kind != SC_MODEL_CAPTIONER && c->att_mode)
        return cli_usage("caption", "--attention-mode needs a Show-Attend-Tell captioner");
    if (kind == SC_MODEL_BLIP) {
        if (sc_blip_load(model, &c->blip)) return cli_fail(NULL);
        return blip_settings(c);
    }
    if (kind == SC_MODEL_VIT_GPT2) {
        if (sc_vit_gpt2_load(model, &c->vg)) return cli_fail(NULL);
        return blip_settings(c);
    }
    int rc = sat_settings(c);
    if (!rc && sc_captioner_load(model, &c->model)) rc = cli_fail(NULL);
    return rc;
}

/* The gallery's subtitle line names the model. */
static int open_gallery(cap_ctx *c, const char *html) {
    char sub[512];
    if (c->blip || c->vg) {
        const int G = c->vg ? sc_vit_gpt2_grid(c->vg) : sc_blip_grid(c->blip);
        snprintf(sub, sizeof sub,
                 "model %s (%s, ViT %dx%d patches), beam %d, cross-attention of layer %d",
                 c->model_file, c->vg ? "ViT-GPT2" : "BLIP", G, G, c->bo.gen.num_beams,
                 c->bo.gen.attention_layer);
    } else {
        const sc_captioner_config *cf = sc_captioner_get_config(c->model);
        snprintf(sub, sizeof sub, "model %s (%s, %dx%d attention grid), beam %d", c->model_file,
                 cf->encoder_arch[0] ? cf->encoder_arch : "features", cf->grid, cf->grid,
                 c->bp.beam_size);
    }
    sc_gallery_params gp = sc_gallery_default_params();
    gp.subtitle = sub;
    if (c->html_page_size) gp.page_size = c->html_page_size;
    gp.figure.colormap = c->gp.colormap;
    gp.figure.alpha = c->gp.alpha;
    gp.live = cli_rank0(); /* under mpirun, rank 0 alone writes pages */
    return sc_gallery_open(html, &gp, &c->gallery) ? cli_fail(NULL) : CLI_OK;
}

int cli_caption_main(int argc, char **argv) {
    const char *V = "caption";
    cap_ctx c = {0};
    c.bp = sc_captioner_beam_default_params();
    c.min_len = -1;
    c.bo = (blip_opts){.length_penalty = -100,
                       .top_p = -1,
                       .top_k = -1,
                       .temperature = -1,
                       .seed = -1,
                       .layer = -1};
    c.gp = sc_attention_grid_default_params();
    const char *model = NULL, *html = NULL;
    int threads = 0;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0, rc = CLI_OK;
    char model_path[4096];
    cli_batch b = {0};
    if (!inputs) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
    rc = parse_caption_options(argc, argv, &c, &model, &threads, &html, inputs, &ninputs);
    if (rc) goto end;
    if ((rc = cli_set_threads(V, threads))) goto end;

    if (!model) {
        if (sc_find_asset(DEFAULT_MODEL, model_path, sizeof model_path)) {
            fprintf(stderr,
                    "saccade caption: no --model given and the default model assets/" DEFAULT_MODEL
                    " was not found (looked in $SACCADE_ASSETS, the source tree and the installed "
                    "share/saccade); pass --model FILE\n");
            rc = CLI_FAIL;
            goto end;
        }
        model = model_path;
    }
    /* The model first: a bad folder writes nothing. */
    if ((rc = load_model(&c, model))) goto end;
    /* A second run must not caption the first one's outputs. */
    const char *outputs[2] = {html, c.att};
    rc = cli_batch_expand_skipping(V, (char **)inputs, ninputs, outputs, 2, &b);
    if (!rc) rc = cli_batch_shard(V, &b, c.shard);
    if (rc) goto end;
    /* Output names (stems) come from the attention output, else the gallery. */
    if (html && cli_mkdirs(html)) {
        rc = cli_fail(NULL);
        goto end;
    }
    if (c.att) {
        rc = cli_batch_plan_outputs_for(V, "--attention", &b, c.att);
        if (rc) goto end;
        c.att_is_dir = b.out_dir != NULL;
    } else if (html) {
        rc = cli_batch_plan_outputs(V, &b, html);
        if (rc) goto end;
    }
    if (html && (rc = open_gallery(&c, html))) goto end;
    rc = cli_batch_run(&b, "caption", c.blip || c.vg ? blip_one_image : one_image, &c);
    if (c.gallery) {
        int lo, hi; /* mpirun: one index over all ranks, in input order */
        cli_shard_slice(b.n, b.shard_k, b.shard_n, &lo, &hi);
        int writer = cli_gallery_gather(c.gallery, (const char *const *)b.stems + lo,
                                        (const char *const *)b.paths + lo, hi - lo);
        sc_status s = writer == 1 ? sc_gallery_close(c.gallery) : SC_OK;
        if (writer != 1) sc_gallery_free(c.gallery);
        c.gallery = NULL;
        if (s) rc = cli_fail(html);
        if (writer < 0) rc = CLI_FAIL;
    }
end:
    sc_gallery_free(c.gallery);
    sc_captioner_free(c.model);
    sc_blip_free(c.blip);
    sc_vit_gpt2_free(c.vg);
    cli_batch_free(&b);
    free(inputs);
    return rc;
}
