/* saccade caption: Show, Attend and Tell captions for images, with per-word
 * attention figures and a static HTML gallery. */
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
            "--beam K         beam size, 1 (greedy) to 100 (default 5)\n"
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
            "processed; the exit status is then 1 (2 for usage errors).\n");
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

static void json_float(float v) {
    printf("%.9g", (double)v);
}

static void print_json(const cap_ctx *c, const char *path, const sc_caption_result *r,
                       const char *att_path, const char *thumb) {
    const sc_captioner_config *cf = sc_captioner_get_config(c->model);
    const sc_caption_hyp *h = &r->hyps[0];
    int P = r->grid * r->grid;
    printf("{\"path\": ");
    cli_json_string(stdout, path);
    printf(", \"caption\": ");
    cli_json_string(stdout, r->text);
    printf(", \"words\": [");
    for (int t = 0; t < h->len; t++) {
        if (t) printf(", ");
        cli_json_string(stdout, r->words[t]);
    }
    printf("], \"tokens\": [");
    for (int t = 0; t < h->len; t++) printf("%s%d", t ? ", " : "", (int)h->tokens[t]);
    printf("], \"logprobs\": [");
    for (int t = 0; t < h->len; t++) {
        if (t) printf(", ");
        json_float(h->logprobs[t]);
    }
    printf("], \"score\": ");
    json_float(h->score);
    printf(", \"norm_score\": ");
    json_float(h->norm_score);
    printf(", \"finished\": %s, \"beam\": %d, \"max_len\": %d, \"min_len\": %d, "
           "\"length_norm\": %.7g, \"model\": {\"file\": ",
           h->finished ? "true" : "false", c->bp.beam_size, c->max_words, c->bp.min_len,
           (double)c->bp.length_penalty);
    cli_json_string(stdout, c->model_file);
    const char *enc = cf->encoder == SC_CAP_ENC_RESNET ? "resnet"
                      : cf->encoder == SC_CAP_ENC_CNN  ? "cnn"
                      : cf->encoder == SC_CAP_ENC_VIT  ? "vit"
                                                       : "features";
    printf(", \"encoder\": \"%s\", \"arch\": ", enc);
    cli_json_string(stdout, cf->encoder_arch);
    printf(", \"grid\": %d, \"vocab_size\": %d}, \"attention_png\": ", r->grid, cf->vocab_size);
    if (att_path)
        cli_json_string(stdout, att_path);
    else
        printf("null");
    printf(", \"html_thumbnail\": ");
    if (thumb)
        cli_json_string(stdout, thumb);
    else
        printf("null");
    if (c->json_att) {
        printf(", \"attention\": [");
        for (int t = 0; t < h->len; t++) {
            printf("%s[", t ? ", " : "");
            for (int i = 0; i < r->grid; i++) {
                printf("%s[", i ? ", " : "");
                for (int j = 0; j < r->grid; j++) {
                    if (j) printf(", ");
                    json_float(h->alphas[(size_t)t * P + (size_t)i * r->grid + j]);
                }
                printf("]");
            }
            printf("]");
        }
        printf("]");
    }
    printf("}\n");
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
        print_json(c, path, &r, att, thumb);
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

int cli_caption_main(int argc, char **argv) {
    const char *V = "caption";
    cap_ctx c = {0};
    c.bp = sc_captioner_beam_default_params();
    c.bp.beam_size = 5;
    c.max_words = 50;
    c.gp = sc_attention_grid_default_params();
    const char *model = NULL, *threads = NULL, *html = NULL;
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0, only_positional = 0, rc = CLI_OK;
    char model_path[4096];
    cli_batch b = {0};
    if (!inputs) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
#define USAGE(...)                                                                                 \
    do {                                                                                           \
        rc = cli_usage(V, __VA_ARGS__);                                                            \
        goto end;                                                                                  \
    } while (0)
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (only_positional || a[0] != '-' || !strcmp(a, "-")) {
            inputs[ninputs++] = argv[i];
        } else if (!strcmp(a, "--")) {
            only_positional = 1;
        } else if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
            if (!more || !argv[i + 1][0]) USAGE("--model needs a .safetensors file");
            model = argv[++i];
        } else if (!strcmp(a, "--beam") || !strcmp(a, "--beam-size")) {
            if (!more || !cli_parse_int(argv[++i], &c.bp.beam_size) || c.bp.beam_size < 1 ||
                c.bp.beam_size > 100)
                USAGE("--beam needs a whole number from 1 to 100");
        } else if (!strcmp(a, "--max-len")) {
            if (!more || !cli_parse_int(argv[++i], &c.max_words) || c.max_words < 1 ||
                c.max_words > 1000)
                USAGE("--max-len needs a number of words from 1 to 1000");
        } else if (!strcmp(a, "--min-len")) {
            if (!more || !cli_parse_int(argv[++i], &c.bp.min_len) || c.bp.min_len < 0 ||
                c.bp.min_len > 1000)
                USAGE("--min-len needs a number of words from 0 to 1000");
        } else if (!strcmp(a, "--length-norm")) {
            if (!more || !cli_parse_float(argv[++i], &c.bp.length_penalty) ||
                c.bp.length_penalty < 0 || c.bp.length_penalty > 10)
                USAGE("--length-norm needs a number from 0 to 10");
        } else if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "--json-attention")) {
            c.json = c.json_att = 1;
        } else if (!strcmp(a, "--attention")) {
            if (!more || !argv[i + 1][0]) USAGE("--attention needs a directory or a .png file");
            c.att = argv[++i];
        } else if (!strcmp(a, "--html")) {
            if (!more || !argv[i + 1][0]) USAGE("--html needs a directory");
            html = argv[++i];
        } else if (!strcmp(a, "--colormap")) {
            if (!more) USAGE("--colormap needs a name");
            if (sc_colormap_from_name(argv[++i], &c.gp.colormap)) USAGE("%s", sc_last_error());
        } else if (!strcmp(a, "--alpha")) {
            if (!more || !cli_parse_float(argv[++i], &c.gp.alpha) || c.gp.alpha < 0 ||
                c.gp.alpha > 1)
                USAGE("--alpha needs a number from 0 to 1");
        } else if (!strcmp(a, "--threads")) {
            if (!more) USAGE("--threads needs a number");
            threads = argv[++i];
        } else {
            USAGE("unknown option '%s'", a);
        }
    }
    if (ninputs == 0) USAGE("need at least one IMAGE, DIRECTORY or '-'");
    if (c.bp.min_len > c.max_words)
        USAGE("--min-len %d is more than --max-len %d", c.bp.min_len, c.max_words);
    c.bp.max_len = c.max_words + 1; /* N words + <end> */
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
    rc = cli_batch_expand(V, inputs, ninputs, &b);
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
#undef USAGE
    sc_gallery_free(c.gallery);
    sc_captioner_free(c.model);
    cli_batch_free(&b);
    free(inputs);
    return rc;
}
