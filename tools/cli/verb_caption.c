/* saccade caption: Show, Attend and Tell captions for images, with per-word
 * attention figures and a static HTML gallery. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_caption_render.h"

#define DEFAULT_MODEL "models/scenes-captioner.safetensors"

void cli_caption_help(FILE *out) {
    fprintf(out,
            "usage: saccade caption IMAGE|DIR|-... [--model M] [--beam K] [--max-len N]\n"
            "                       [--min-len N] [--length-norm A] [--json]\n"
            "                       [--json-attention] [--attention DIR|FILE.png]\n"
            "                       [--html DIR] [--colormap NAME] [--alpha A] [--threads N]\n\n"
            "Captions images with a Show, Attend and Tell model (beam search as the\n"
            "PyTorch tutorial's caption.py) and prints 'PATH<TAB>caption' per image.\n"
            "--model M        captioner .safetensors (tools/convert_sat.py converts the\n"
            "                 tutorial's checkpoints); default: the shipped\n"
            "                 assets/" DEFAULT_MODEL "\n"
            "                 (found through $SACCADE_ASSETS, the source tree's assets/ or\n"
            "                 the installed share/saccade/)\n"
            "--beam K         beam size, 1 (greedy) to 100 (default 5 here; the library's\n"
            "                 sc_captioner_beam_default_params and Python's caption() use 3)\n"
            "--max-len N      at most N words before <end>: N + 1 decoding steps (default\n"
            "                 50, the tutorial's limit); if no beam ends in time, the best\n"
            "                 unfinished one (N + 1 words, no <end>) is returned\n"
            "                 (\"finished\": false in --json)\n"
            "--min-len N      <end> is not allowed before N words (default 0)\n"
            "--length-norm A  rank finished captions by score / length^A (default 0: the\n"
            "                 raw sum of log-probabilities, as the tutorial)\n"
            "--json           one JSON object per image and line: path, caption, words,\n"
            "                 tokens (ids), logprobs (per token), score (their sum),\n"
            "                 norm_score, finished, beam, max_len, model {file, encoder,\n"
            "                 arch, grid}, outputs written\n"
            "--json-attention also \"attention\": per token a grid x grid list of weights\n"
            "                 (implies --json)\n"
            "--attention DIR  write DIR/<name>.attention.png per image (or FILE.png for one\n"
            "                 image): the image, then one panel per generated token (<end>\n"
            "                 included) with its attention upsampled, smoothed (Gaussian,\n"
            "                 sigma = a third of a grid cell, as the tutorial's\n"
            "                 pyramid_expand) and overlaid, the word underneath; 224-pixel\n"
            "                 panels, 8 per row\n"
            "--colormap NAME  attention colours: gray (default, the tutorial's figure:\n"
            "                 attended regions light up), viridis, inferno, magma, jet\n"
            "--alpha A        weight of the attention overlay, 0..1 (default 0.8)\n"
            "--html DIR       a static gallery openable from disk: DIR/index.html with each\n"
            "                 image's thumbnail (DIR/images/), caption, score, per-word\n"
            "                 log-probabilities and attention figure (DIR/attention/); no\n"
            "                 network access, failed images listed at the end\n"
            "--threads N      threads for saccade's loops and BLAS (default: all cores)\n\n"
            "Inputs: files as given; directories are searched recursively for images\n"
            "(.png .jpg .jpeg .bmp .gif .tga .psd .hdr .pnm .ppm .pgm), in sorted order;\n"
            "'-' reads a list of files or directories from standard input, one per line.\n"
            "The model is loaded once. An image that cannot be read or captioned is\n"
            "reported on stderr ('saccade: PATH: reason') and the others are still\n"
            "processed; the exit status is then 1 (2 for usage errors).\n\n"
            "Examples:\n"
            "  saccade caption assets/samples/scenes/images/test_000000.png --beam=3\n"
            "  saccade caption assets/samples/scenes/images --json --attention att/\n"
            "  saccade caption assets/samples/astronaut.jpg --attention astronaut.png "
            "--colormap viridis\n"
            "  saccade caption assets/samples/scenes/images --html gallery/\n");
}

typedef struct cap_ctx {
    sc_captioner *model;
    const char *model_file; /* base name, for --json and the gallery */
    sc_beam_params bp;
    int max_words;
    int json, json_att;
    const char *att; /* NULL: no figures */
    int att_is_dir;
    sc_attention_grid_params gp;
    sc_gallery *gallery;
} cap_ctx;

static cJSON *float_array(const float *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int t = 0; a && t < n; t++) cJSON_AddItemToArray(a, cli_json_float(v[t], 9));
    return a;
}

static cJSON *string_or_null(const char *s) {
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* One image's --json line. */
static int print_json(const cap_ctx *c, const char *path, const sc_caption_result *r,
                      const char *att_path, const char *thumb) {
    const sc_captioner_config *cf = sc_captioner_get_config(c->model);
    const sc_caption_hyp *h = &r->hyps[0];
    const int P = r->grid * r->grid;
    cJSON *o = cJSON_CreateObject(), *words = cJSON_CreateArray(), *toks = cJSON_CreateArray();
    for (int t = 0; words && toks && t < h->len; t++) {
        cJSON_AddItemToArray(words, cJSON_CreateString(r->words[t]));
        cJSON_AddItemToArray(toks, cJSON_CreateNumber(h->tokens[t]));
    }
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "caption", r->text);
    cJSON_AddItemToObject(o, "words", words);
    cJSON_AddItemToObject(o, "tokens", toks);
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
    if (c->json_att) { /* per token a grid x grid list of weights */
        cJSON *att = cJSON_AddArrayToObject(o, "attention");
        for (int t = 0; att && t < h->len; t++) {
            cJSON *rows = cJSON_CreateArray();
            for (int i = 0; rows && i < r->grid; i++)
                cJSON_AddItemToArray(
                    rows, float_array(h->alphas + (size_t)t * P + (size_t)i * r->grid, r->grid));
            cJSON_AddItemToArray(att, rows);
        }
    }
    return cli_json_emit(stdout, o);
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
    if (sc_captioner_caption_image(c->model, &img, &c->bp, &r)) goto done;
    if (r.n_hyps < 1) {
        sc_set_error(SC_ERR_INTERNAL, "no caption produced");
        goto done;
    }
    if ((c->att || c->gallery) && sc_caption_attention_grid(&img, &r, &c->gp, &grid)) goto done;
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
        if (sc_gallery_add(c->gallery, b->stems[i], path, &img, r.text, r.words, h->logprobs,
                           h->len, h->score, &grid))
            goto done;
        thumb = malloc(strlen(b->stems[i]) + 16);
        if (thumb) sprintf(thumb, "images/%s.jpg", b->stems[i]);
    }
    if (c->json) {
        if (print_json(c, path, &r, att, thumb)) {
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
    if (bad && c->gallery) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", sc_last_error());
        sc_gallery_add_failure(c->gallery, path, reason);
        sc_set_error(SC_ERR_INTERNAL, "%s", reason); /* the batch prints the message */
    }
    sc_image_free(&img);
    sc_image_free(&grid);
    sc_caption_result_free(&r);
    free(att);
    free(thumb);
    return bad;
}

/* The options into c (and the rest); CLI_OK or CLI_USAGE. */
static int parse_caption_options(int argc, char **argv, cap_ctx *c, const char **model,
                                 const char **threads, const char **html, const char **inputs,
                                 int *ninputs) {
    const char *V = "caption", *colormap = NULL;
    int json_att = 0;
    const cli_opt opts[] = {
        {"-m|--model", CLI_STR, model, 0, 0, "a .safetensors file", NULL, 0},
        {"--beam-size|--beam", CLI_INT, &c->bp.beam_size, 1, 100, NULL, NULL, 0},
        {"--max-len", CLI_INT, &c->max_words, 1, 1000, NULL, NULL, 0},
        {"--min-len", CLI_INT, &c->bp.min_len, 0, 1000, NULL, NULL, 0},
        {"--length-norm", CLI_FLOAT, &c->bp.length_penalty, 0, 10, NULL, NULL, 0},
        {"--json", CLI_FLAG, &c->json, 0, 0, NULL, NULL, 0},
        {"--json-attention", CLI_FLAG, &json_att, 0, 0, NULL, NULL, 0},
        {"--attention", CLI_STR, &c->att, 0, 0, "a directory or a .png file", NULL, 0},
        {"--html", CLI_STR, html, 0, 0, "a directory", NULL, 0},
        {"--colormap", CLI_STR, &colormap, 0, 0, "a name", NULL, 0},
        {"--alpha", CLI_FLOAT, &c->gp.alpha, 0, 1, NULL, NULL, 0},
        {"--threads", CLI_STR, threads, 0, 0, "a number", NULL, 0},
    };
    int rc =
        cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], inputs, argc, ninputs);
    if (rc) return rc;
    if (json_att) c->json = c->json_att = 1;
    if ((*model && !**model) || (c->att && !*c->att) || (*html && !**html))
        return cli_usage(V, "--model, --attention and --html need a non-empty name");
    if (colormap && sc_colormap_from_name(colormap, &c->gp.colormap))
        return cli_usage(V, "%s", sc_last_error());
    if (*ninputs == 0) return cli_usage(V, "need at least one IMAGE, DIRECTORY or '-'");
    if (c->bp.min_len > c->max_words)
        return cli_usage(V, "--min-len %d is more than --max-len %d", c->bp.min_len, c->max_words);
    c->bp.max_len = c->max_words + 1; /* N words + <end> */
    return CLI_OK;
}

int cli_caption_main(int argc, char **argv) {
    const char *V = "caption";
    cap_ctx c = {0};
    c.bp = sc_captioner_beam_default_params();
    c.bp.beam_size = 5; /* the CLI's default (the library's and Python's is 3) */
    c.max_words = 50;
    c.gp = sc_attention_grid_default_params();
    const char *model = NULL, *threads = NULL, *html = NULL;
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
    if (threads && (rc = cli_batch_threads(V, threads))) goto end;

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
    rc = cli_batch_expand(V, (char **)inputs, ninputs, &b);
    if (rc) goto end;
    /* Output names (stems) come from the attention output, else the gallery. */
    if (html && cli_mkdirs(html)) {
        rc = cli_fail(NULL);
        goto end;
    }
    if (c.att) {
        rc = cli_batch_plan_outputs(V, &b, c.att);
        if (rc) goto end;
        c.att_is_dir = b.out_dir != NULL;
    } else if (html) {
        rc = cli_batch_plan_outputs(V, &b, html);
        if (rc) goto end;
    }
    if (sc_captioner_load(model, &c.model)) {
        rc = cli_fail(NULL);
        goto end;
    }
    const char *slash = strrchr(model, '/');
    c.model_file = slash ? slash + 1 : model;
    if (html) {
        char sub[512];
        const sc_captioner_config *cf = sc_captioner_get_config(c.model);
        snprintf(sub, sizeof sub, "model %s (%s, %dx%d attention grid), beam %d", c.model_file,
                 cf->encoder_arch[0] ? cf->encoder_arch : "features", cf->grid, cf->grid,
                 c.bp.beam_size);
        sc_gallery_params gp = sc_gallery_default_params();
        gp.subtitle = sub;
        if (sc_gallery_open(html, &gp, &c.gallery)) {
            rc = cli_fail(NULL);
            goto end;
        }
    }
    rc = cli_batch_run(&b, "caption", one_image, &c);
    if (c.gallery) {
        sc_status s = sc_gallery_close(c.gallery);
        c.gallery = NULL;
        if (s) rc = cli_fail(html);
    }
end:
    sc_gallery_free(c.gallery);
    sc_captioner_free(c.model);
    cli_batch_free(&b);
    free(inputs);
    return rc;
}
