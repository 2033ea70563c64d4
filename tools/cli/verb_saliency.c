/* saccade saliency: bottom-up and model-based saliency maps and overlays for
 * images. The methods come from the library's table (sc_saliency.h). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_maps_io.h"
#include "saccade/sc_saliency_model.h"

#define DEFAULT_MODEL "models/scenes-captioner.safetensors"

/* text, wrapped to 79 columns; the first line after head (padded to indent),
 * the others indented by indent. */
static void print_wrapped(FILE *out, const char *head, int indent, const char *text) {
    int col = fprintf(out, "%-*s", indent, head);
    while (*text) {
        size_t n = strcspn(text, " ");
        if (col > indent && col + 1 + (int)n > 79)
            col = fprintf(out, "\n%*s", indent, "") - 1;
        else if (col > indent)
            col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)n, text);
        text += n;
        while (*text == ' ') text++;
    }
    fputc('\n', out);
}

void cli_saliency_help(FILE *out) {
    fprintf(out,
            "usage: saccade saliency IMAGE|DIR|-... -o OUT [--method M] [--colormap NAME]\n"
            "                        [--alpha A] [--raw FILE|DIR] [--raw-format npy|png]\n"
            "                        [--panel] [--panel-size N] [--json] [--threads N]\n"
            "                        [--model M] [--word W] [--aggregate mean|max]\n"
            "                        [--class K] [--discard R] [--rollout-from words|cls]\n"
            "                        [--layer NAME] [--aug-smooth] [--eigen-smooth]\n"
            "                        [--batch N] [--samples N] [--steps N] [--shard K/N]\n"
            "                        [--text T] [--attention-layer L]\n\n"
            "Bottom-up or model-based saliency maps, blended onto each image as a heat map.\n");
    for (int i = 0; i < sc_saliency_method_count(); i++) {
        const sc_saliency_method_info *r = sc_saliency_method_at(i);
        char head[40];
        snprintf(head, sizeof head, "%s%s", i ? "           " : "--method   ", r->name);
        print_wrapped(out, head, 24, r->summary);
    }
    fprintf(out,
            "--model M  for the model methods: a captioner, classifier or ST-CNN\n"
            "           .safetensors, recognised by its metadata (saccade.kind; e.g.\n"
            "           assets/models/fashion-stn.safetensors), or a BLIP or ViT-GPT2\n"
            "           folder (Hugging Face files; attention: its cross-attention,\n"
            "           gradcam: the gradient-weighted cross-attention); default: the shipped\n"
            "           assets/" DEFAULT_MODEL "\n"
            "--text T   itm: the phrase to find (the model: a Hugging Face\n"
            "           BlipForImageTextRetrieval folder, e.g. Salesforce/blip-itm-base-coco)\n"
            "--attention-layer L  itm: the text encoder's layer (default 2L/3: 8 of 12)\n"
            "--word W   captioners: explain the first step of the generated caption that\n"
            "           produced W (an error names the caption when W is not in it)\n"
            "--aggregate mean|max  attention / rollout without --word (default mean)\n"
            "--class K  classifiers: explain class K (index or name; default: predicted)\n"
            "--layer NAME  classifiers: the CAM layer, e.g. encoder.stages.1 (default: the\n"
            "           last conv stage; an unknown name lists the model's layers)\n"
            "--aug-smooth  classifiers: average the map over 6 test-time augmentations\n"
            "           (horizontal flip x brightness 0.9, 1, 1.1), as pytorch-grad-cam\n"
            "--eigen-smooth  classifiers: first principal component of the weighted\n"
            "           activations instead of their sum, as pytorch-grad-cam\n"
            "--batch N  scorecam / ablationcam: forwards per batch (default 16)\n"
            "--samples N  smoothgrad: noisy copies (default 25)\n"
            "--steps N  intgrad: integration steps (default 50)\n"
            "CAM maps follow pytorch-grad-cam: ReLU, (x - min) / (max + 1e-7), resized to\n"
            "the model's input, scaled again, then resized to the image (see sc_cam.h).\n"
            "--discard R  rollout: drop the share R of smallest attention weights per layer\n"
            "           before rolling out (0 <= R < 1, default 0; vit-explain uses 0.9)\n"
            "--rollout-from words|cls  rollout: from the decoder's attention (default) or\n"
            "           from the ViT's class token (a ViT classifier: always the class token)\n"
            "-o OUT     a directory (created if missing): DIR/<name>.<method>.png per image\n"
            "           (<name>-2, -3, ... when names repeat), or OUT.png/.jpg for one image\n"
            "--colormap viridis (default), inferno, magma, jet, gray\n"
            "--alpha    weight of the heat map in the blend, 0..1 (default 0.5)\n"
            "--raw      also write the map itself at the image's size: FILE.npy (float32,\n"
            "           shape (height, width)), FILE.png (16-bit gray), or a directory\n"
            "           (DIR/<name>.<method>-map.npy, or .png with --raw-format png);\n"
            "           values in [0, 1] exactly as the method normalises them\n"
            "--panel    write image | map | overlay side by side, labelled, instead of the\n"
            "           overlay alone (<name>.<method>-panel.png in a directory); each panel\n"
            "           has the image's size, scaled down to 1024 pixels at most\n"
            "--panel-size N  scale each panel so its longer side is N pixels (implies --panel)\n"
            "--json     print one JSON object per image: path, method, size, outputs, map\n"
            "           min/max/mean and the peak's location; model methods add model,\n"
            "           caption (or class name), word, step, target and score (the\n"
            "           differentiated log-probability or logit)\n"
            "--threads  threads for saccade's own loops (default: all cores)\n"
            "--shard K/N  only the K-th of N equal slices of the input list (for Slurm\n"
            "           arrays and GNU parallel; together the N runs cover every input\n"
            "           once). Under mpirun the ranks take images a few at a time as\n"
            "           each becomes free (SACCADE_MPI_HANDOUT=static: fixed slices) and\n"
            "           rank 0 prints all output in input order; SIGTERM, SIGINT or\n"
            "           SIGHUP to a rank ends the job with exit 1 and no output\n"
            "Options take their value as '--opt value' or '--opt=value'.\n\n"
            "Inputs: files as given; directories are searched recursively for images\n"
            "(.png .jpg .jpeg .bmp .gif .tga .psd .hdr .pnm .ppm .pgm), in sorted order;\n"
            "'-' reads a list of files or directories from standard input, one per line.\n"
            "To read one image from standard input, name it /dev/stdin. An image that\n"
            "cannot be read or processed is reported on stderr ('saccade: PATH: reason')\n"
            "and the others are still processed; the exit status is then 1.\n\n"
            "Examples:\n"
            "  saccade saliency assets/samples/chelsea.jpg -o chelsea-saliency.png\n"
            "  saccade saliency assets/samples --method pqft -o maps --raw maps --json\n"
            "  saccade saliency assets/samples/stn/cluttered-1-Pullover.png --method gradcam \\\n"
            "      --model assets/models/fashion-stn.safetensors --panel -o pullover.png\n"
            "  saccade saliency assets/samples/stn/cluttered-1-Pullover.png --method scorecam \\\n"
            "      --model assets/models/fashion-stn.safetensors --layer encoder.stages.1 \\\n"
            "      --class Pullover --aug-smooth -o pullover-scorecam.png\n"
            "  saccade saliency assets/samples/scenes/images --method attention -o attention\n"
            "  saccade saliency photo.jpg --method gradcam --word dog \\\n"
            "      --model blip-image-captioning-base --panel -o dog.png\n");
}

typedef struct sal_ctx {
    const sc_saliency_method_info *method;
    sc_saliency_model *model; /* model methods */
    const char *model_path;
    sc_model_saliency_params mp;
    sc_heatmap_params hp;
    int panel, json;
    int panel_size;  /* longer side of each panel (0: the image's, at most 1024) */
    const char *raw; /* NULL: no raw output */
    int raw_is_dir;
    const char *raw_ext; /* ".npy" or ".png" in directory mode */
} sal_ctx;

/* The command line's strings, checked after parsing. */
typedef struct sal_args {
    const char *out, *model, *aggregate, *cls, *rollout_from, *method, *colormap, *raw_format,
        *shard;
    int cam_opts; /* any of --layer, --aug-smooth, --eigen-smooth, --batch, --samples, --steps */
    const char **inputs;
    int ninputs, threads; /* threads: 0 = not given */
} sal_args;

static sc_status compute(sal_ctx *c, const sc_image *img, sc_map *out,
                         sc_model_saliency_info *info) {
    if (c->method->needs_model)
        return sc_saliency_model_compute(
            c->model, (sc_model_saliency_method)c->method->model_method, img, &c->mp, out, info);
    return sc_saliency_compute(c->method->method, img, NULL, out);
}

static sc_status make_panel(const sc_image *img, const sc_map *map, const sc_image *overlay,
                            const sc_heatmap_params *hp, const char *caption, int size,
                            sc_image *out) {
    sc_image panels[3] = {*img, {0}, *overlay};
    sc_status s = sc_map_colorize(map, hp, &panels[1]);
    if (s) return s;
    sc_sheet_params sp = sc_sheet_default_params();
    sp.cols = 3;
    int w = img->w, h = img->h, big = w > h ? w : h;
    if (size <= 0) size = big < 1024 ? big : 1024;
    if (big != size) { /* keep the aspect, longer side = size */
        w = (int)((double)w * size / big + 0.5);
        h = (int)((double)h * size / big + 0.5);
        if (w < 1) w = 1;
        if (h < 1) h = 1;
    }
    sp.panel_w = w;
    sp.panel_h = h;
    float px = (float)h / 20.0f;
    sp.font_px = px < 14 ? 14 : px > 40 ? 40 : px;
    const char *caps[3] = {"image", caption, "overlay"};
    s = sc_contact_sheet(panels, caps, 3, &sp, out);
    sc_image_free(&panels[1]);
    return s;
}

/* Captioners (Show, Attend and Tell, BLIP, ViT-GPT2) explain words, not classes. */
static int is_captioner(sc_saliency_model_kind k) {
    return k == SC_SMODEL_CAPTIONER || k == SC_SMODEL_BLIP || k == SC_SMODEL_VIT_GPT2;
}

/* The figure's label: the method, with the word or class explained. */
static void make_label(const sal_ctx *c, const sc_model_saliency_info *info, char *label,
                       size_t cap) {
    const sc_saliency_method_info *r = c->method;
    if (r->needs_model && c->mp.text)
        snprintf(label, cap, "%s: %s", r->caption, c->mp.text);
    else if (r->needs_model && c->mp.word)
        snprintf(label, cap, "%s: %s", r->caption, c->mp.word);
    else if (r->needs_model && info->target >= 0 && !c->mp.word &&
             !is_captioner(sc_saliency_model_get_kind(c->model)))
        snprintf(label, cap, "%s: %s", r->caption, info->caption);
    else
        snprintf(label, cap, "%s", r->caption);
}

/* One --json line: paths, size, outputs, the map's statistics and, for the
 * model methods, what was explained. */
static int print_json(const sal_ctx *c, const char *path, const sc_image *img, const sc_map *map,
                      const char *out, const char *raw, const sc_model_saliency_info *info) {
    size_t n = (size_t)map->w * (size_t)map->h, peak = 0;
    double sum = 0, lo = map->data[0], hi = map->data[0];
    for (size_t k = 0; k < n; k++) {
        double v = map->data[k];
        sum += v;
        if (v < lo) lo = v;
        if (v > hi) hi = v, peak = k;
    }
    cJSON *o = cJSON_CreateObject();
    int bad = !o || !cJSON_AddStringToObject(o, "path", path) ||
              !cJSON_AddStringToObject(o, "method", c->method->name) ||
              !cJSON_AddNumberToObject(o, "width", img->w) ||
              !cJSON_AddNumberToObject(o, "height", img->h) ||
              !cJSON_AddStringToObject(o, "output", out) ||
              !cJSON_AddBoolToObject(o, "panel", c->panel) ||
              !(raw ? cJSON_AddStringToObject(o, "raw", raw) : cJSON_AddNullToObject(o, "raw"));
    if (!bad && c->method->needs_model) {
        sc_saliency_model_kind kind = sc_saliency_model_get_kind(c->model);
        bad = !cJSON_AddStringToObject(o, "model", c->model_path) ||
              !cJSON_AddStringToObject(o, "model_kind", sc_saliency_model_kind_name(kind)) ||
              !cJSON_AddStringToObject(o,
                                       kind == SC_SMODEL_BLIP_ITM ? "text"
                                       : is_captioner(kind)       ? "caption"
                                                                  : "class_name",
                                       info->caption) ||
              !(c->mp.word ? cJSON_AddStringToObject(o, "word", c->mp.word)
                           : cJSON_AddNullToObject(o, "word")) ||
              !cJSON_AddNumberToObject(o, "step", info->step) ||
              !cJSON_AddNumberToObject(o, "target", info->target) ||
              cli_json_add_g9(o, "score", info->score);
    }
    bad = bad || cli_json_add_g9(o, "min", lo) || cli_json_add_g9(o, "max", hi) ||
          cli_json_add_g9(o, "mean", sum / (double)n);
    cJSON *pk = bad ? NULL : cJSON_AddObjectToObject(o, "peak");
    bad = bad || !pk || !cJSON_AddNumberToObject(pk, "x", (int)(peak % (size_t)map->w)) ||
          !cJSON_AddNumberToObject(pk, "y", (int)(peak / (size_t)map->w));
    if (bad) {
        cJSON_Delete(o);
        o = NULL;
    }
    int rc = cli_json_emit(stdout, o);
    fflush(stdout);
    return rc;
}

/* Path of output `what` for image i: the single file, or DIR/<stem><suffix>. */
static char *output_path(const cli_batch *b, const char *file, const char *dir, int i,
                         const char *suffix) {
    char *p = file ? strdup(file) : cli_batch_output_path(b, dir, i, suffix);
    if (!p) sc_set_error(SC_ERR_NOMEM, "out of memory");
    return p;
}

static int one_image(const cli_batch *b, int i, void *vctx) {
    sal_ctx *c = vctx;
    const char *mname = c->method->name;
    sc_image img = {0}, ov = {0}, panel = {0};
    sc_map map = {0};
    char *out = NULL, *raw = NULL;
    int bad = 1;
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_image_load(b->paths[i], &lp, &img, NULL)) goto done;
    sc_model_saliency_info info;
    memset(&info, 0, sizeof info);
    if (compute(c, &img, &map, &info)) goto done;
    if (map.w != img.w || map.h != img.h) { /* the methods return full size; make sure */
        sc_map full;
        if (sc_map_resize_bilinear(&map, img.w, img.h, &full)) goto done;
        sc_map_free(&map);
        map = full;
    }
    if (sc_overlay_heatmap(&img, &map, &c->hp, &ov)) goto done;
    char label[600], suffix[64];
    make_label(c, &info, label, sizeof label);
    if (c->panel && make_panel(&img, &map, &ov, &c->hp, label, c->panel_size, &panel)) goto done;
    snprintf(suffix, sizeof suffix, ".%s%s.png", mname, c->panel ? "-panel" : "");
    if (!(out = output_path(b, b->out_file, b->out_dir, i, suffix))) goto done;
    if (sc_image_save(c->panel ? &panel : &ov, out)) goto done;
    if (c->raw) {
        snprintf(suffix, sizeof suffix, ".%s-map%s", mname, c->raw_ext);
        if (!(raw = output_path(b, c->raw_is_dir ? NULL : c->raw, c->raw, i, suffix))) goto done;
        if (sc_map_save(&map, raw)) goto done;
    }
    if (c->json && print_json(c, b->paths[i], &img, &map, out, raw, &info)) goto done;
    bad = 0;
done:
    sc_image_free(&img);
    sc_image_free(&ov);
    sc_image_free(&panel);
    sc_map_free(&map);
    free(out);
    free(raw);
    return bad;
}

/* Options into c and a; CLI_OK or CLI_USAGE (printed). */
static int parse_args(int argc, char **argv, sal_ctx *c, sal_args *a) {
    const char *V = "saliency";
    const cli_opt opts[] = {
        {"-o|--output", CLI_STR, &a->out, 0, 0, "a file or directory name", NULL, 0},
        {"--method", CLI_STR, &a->method, 0, 0, "a name", NULL, 0},
        {"--model", CLI_STR, &a->model, 0, 0, "a model file", NULL, 0},
        {"--word", CLI_STR, &c->mp.word, 0, 0, "a word", NULL, 0},
        {"--text", CLI_STR, &c->mp.text, 0, 0, "a text", NULL, 0},
        {"--attention-layer", CLI_INT, &c->mp.itm_layer, 0, 4095, NULL, NULL, 0},
        {"--aggregate", CLI_STR, &a->aggregate, 0, 0, "mean or max", NULL, 0},
        {"--rollout-from", CLI_STR, &a->rollout_from, 0, 0, "words or cls", NULL, 0},
        {"--discard", CLI_FLOAT, &c->mp.discard_ratio, 0, 1, NULL, NULL, 0},
        {"--class", CLI_STR, &a->cls, 0, 0, "a class index or name", NULL, 0},
        {"--layer", CLI_STR, &c->mp.layer, 0, 0, "a layer name", NULL, 0},
        {"--aug-smooth", CLI_FLAG, &c->mp.cam.aug_smooth, 0, 0, NULL, NULL, 0},
        {"--eigen-smooth", CLI_FLAG, &c->mp.cam.eigen_smooth, 0, 0, NULL, NULL, 0},
        {"--batch", CLI_INT, &c->mp.cam.batch, 1, 64, NULL, NULL, 0},
        {"--samples", CLI_INT, &c->mp.cam.samples, 1, 10000, NULL, NULL, 0},
        {"--steps", CLI_INT, &c->mp.cam.steps, 1, 10000, NULL, NULL, 0},
        {"--colormap", CLI_STR, &a->colormap, 0, 0, "a name", NULL, 0},
        {"--alpha", CLI_FLOAT, &c->hp.alpha, 0, 1, NULL, NULL, 0},
        {"--raw", CLI_STR, &c->raw, 0, 0, "a .npy/.png file or a directory", NULL, 0},
        {"--raw-format", CLI_STR, &a->raw_format, 0, 0, "npy or png", NULL, 0},
        {"--panel", CLI_FLAG, &c->panel, 0, 0, NULL, NULL, 0},
        {"--panel-size", CLI_INT, &c->panel_size, 16, 8192, NULL, NULL, 0},
        {"--json", CLI_FLAG, &c->json, 0, 0, NULL, NULL, 0},
        {"--threads", CLI_INT, &a->threads, 1, 2147483647, NULL, NULL, 0},
        {"--shard", CLI_STR, &a->shard, 0, 0, "K/N", NULL, 0},
    };
    int rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], a->inputs, argc,
                               &a->ninputs);
    if (rc) return rc;
    sc_saliency_method m = SC_SAL_SPECTRAL;
    if (a->method && sc_saliency_method_from_name(a->method, &m))
        return cli_usage(V, "%s", sc_last_error());
    c->method = sc_saliency_method_info_of(m);
    if (a->model && !a->model[0]) return cli_usage(V, "--model needs a model file");
    if (c->mp.word && !c->mp.word[0]) return cli_usage(V, "--word needs a word");
    if (c->mp.text && !c->mp.text[0]) return cli_usage(V, "--text needs a text");
    if (a->cls && !a->cls[0]) return cli_usage(V, "--class needs a class index or name");
    if (c->raw && !c->raw[0]) return cli_usage(V, "--raw needs a .npy/.png file or a directory");
    if (c->panel_size) c->panel = 1;
    if (c->mp.discard_ratio >= 1) return cli_usage(V, "--discard needs a number in [0, 1)");
    if (a->colormap && sc_colormap_from_name(a->colormap, &c->hp.colormap))
        return cli_usage(V, "%s", sc_last_error());
    if (a->aggregate && !strcmp(a->aggregate, "max"))
        c->mp.aggregate = SC_SAL_AGG_MAX;
    else if (a->aggregate && strcmp(a->aggregate, "mean"))
        return cli_usage(V, "--aggregate needs mean or max");
    if (a->rollout_from && !strcmp(a->rollout_from, "cls"))
        c->mp.rollout_cls = 1;
    else if (a->rollout_from && strcmp(a->rollout_from, "words"))
        return cli_usage(V, "--rollout-from needs words or cls");
    if (a->raw_format && !strcmp(a->raw_format, "png"))
        c->raw_ext = ".png";
    else if (a->raw_format && strcmp(a->raw_format, "npy"))
        return cli_usage(V, "--raw-format needs npy or png");
    if (a->ninputs == 0) return cli_usage(V, "need at least one IMAGE, DIRECTORY or '-'");
    if (!a->out || !a->out[0])
        return cli_usage(V, "need -o OUT (a directory, or OUT.png/.jpg for one image)");
    if ((rc = cli_set_threads(V, a->threads))) return rc;
    sc_cam_params dp = sc_cam_default_params();
    a->cam_opts = c->mp.layer || c->mp.cam.aug_smooth || c->mp.cam.eigen_smooth ||
                  c->mp.cam.batch != dp.batch || c->mp.cam.samples != dp.samples ||
                  c->mp.cam.steps != dp.steps;
    if (c->mp.layer && !c->mp.layer[0]) return cli_usage(V, "--layer needs a layer name");
    return CLI_OK;
}

/* The options that only some methods take; CLI_OK or CLI_USAGE. */
static int check_method_options(const sal_ctx *c, const sal_args *a) {
    const char *V = "saliency";
    sc_saliency_method m = c->method->method;
    if (!c->method->needs_model &&
        (a->model || c->mp.word || a->aggregate || a->cls || a->cam_opts))
        return cli_usage(V,
                         "--model, --word, --aggregate, --class, --layer and the CAM options are "
                         "for the model methods, not --method %s",
                         c->method->name);
    if (a->cam_opts && (m == SC_SAL_ATTENTION || m == SC_SAL_ROLLOUT || m == SC_SAL_ITM))
        return cli_usage(V,
                         "--layer and the CAM options are for the CAM family and the input "
                         "attributions, not --method %s",
                         c->method->name);
    if ((m == SC_SAL_ITM) != (c->mp.text != NULL))
        return cli_usage(V, m == SC_SAL_ITM ? "--method itm needs --text T (the phrase to find)"
                                            : "--text is for --method itm");
    if (m == SC_SAL_ITM && !a->model)
        return cli_usage(V, "--method itm needs --model DIR (a Hugging Face "
                            "BlipForImageTextRetrieval folder)");
    if (m != SC_SAL_ITM && c->mp.itm_layer >= 0)
        return cli_usage(V, "--attention-layer is for --method itm");
    if (m == SC_SAL_ITM && (c->mp.word || a->aggregate || a->cls))
        return cli_usage(V, "--method itm explains --text: no --word, --aggregate or --class");
    if (a->aggregate && m != SC_SAL_ATTENTION && m != SC_SAL_ROLLOUT)
        return cli_usage(V, "--aggregate is for --method attention or rollout");
    if (a->aggregate && c->mp.word)
        return cli_usage(V, "--aggregate and --word exclude each other");
    if (c->mp.discard_ratio > 0 && m != SC_SAL_ROLLOUT)
        return cli_usage(V, "--discard is for --method rollout");
    if (a->rollout_from && m != SC_SAL_ROLLOUT)
        return cli_usage(V, "--rollout-from is for --method rollout");
    if (c->mp.rollout_cls && (c->mp.word || a->aggregate))
        return cli_usage(
            V, "--rollout-from cls explains the encoder's class token: no --word or --aggregate");
    return CLI_OK;
}

/* Load the model of a model method (--model or the shipped captioner) into
 * c, and resolve --class; CLI_OK, CLI_FAIL or CLI_USAGE (printed). */
static int load_model(sal_ctx *c, const sal_args *a, char *path_buf, size_t cap) {
    const char *V = "saliency", *model = a->model, *cls = a->cls;
    if (!model) {
        if (sc_find_asset(DEFAULT_MODEL, path_buf, cap)) {
            fprintf(stderr,
                    "saccade saliency: no --model given and the default model assets/" DEFAULT_MODEL
                    " was not found (looked in $SACCADE_ASSETS, the source tree and the "
                    "installed share/saccade); pass --model FILE\n");
            return CLI_FAIL;
        }
        model = path_buf;
    }
    if (sc_saliency_model_load(model, &c->model)) return cli_fail(NULL);
    c->model_path = model;
    sc_saliency_model_kind kind = sc_saliency_model_get_kind(c->model);
    if (is_captioner(kind) && cls)
        return cli_usage(V, "--class is for classifiers; %s is a captioner (use --word)", model);
    if (is_captioner(kind) && a->cam_opts)
        return cli_usage(V, "--layer and the CAM options are for classifiers; %s is a captioner",
                         model);
    if (kind == SC_SMODEL_BLIP_ITM && c->method->method != SC_SAL_ITM)
        return cli_usage(V, "%s is a BLIP image-text matching model: use --method itm --text T",
                         model);
    if (!is_captioner(kind) && c->mp.word)
        return cli_usage(V, "--word is for captioners; %s is a%s %s (use --class)", model,
                         kind == SC_SMODEL_CLASSIFIER ? "" : "n",
                         kind == SC_SMODEL_CLASSIFIER ? "classifier" : "ST-CNN");
    if (!cls) return CLI_OK;
    int k = -1;
    if (sc_saliency_model_class(c->model, cls, &k))
        return cli_usage(V, "--class: %s (%s)", sc_last_error(), model);
    c->mp.target = k;
    return CLI_OK;
}

int cli_saliency_main(int argc, char **argv) {
    const char *V = "saliency";
    sal_ctx c = {0};
    c.hp = sc_heatmap_default_params();
    c.raw_ext = ".npy";
    c.mp = sc_model_saliency_default_params();
    sal_args a = {0};
    char model_path[4096];
    a.inputs = calloc((size_t)argc, sizeof *a.inputs);
    if (!a.inputs) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
    int rc = parse_args(argc, argv, &c, &a);
    if (!rc) rc = check_method_options(&c, &a);
    if (!rc && c.method->needs_model) rc = load_model(&c, &a, model_path, sizeof model_path);
    if (!rc) {
        cli_batch b;
        rc = cli_batch_expand(V, (char *const *)a.inputs, a.ninputs, &b);
        if (!rc) rc = cli_batch_shard(V, &b, a.shard);
        if (!rc) rc = cli_batch_plan_outputs(V, &b, a.out);
        if (!rc && c.raw) {
            static const char *const raw_exts[] = {".npy", ".png", NULL};
            rc = cli_batch_plan_secondary(V, "--raw", &b, c.raw, raw_exts, &c.raw_is_dir);
        }
        if (!rc) rc = cli_batch_run(&b, "saliency", one_image, &c);
        cli_batch_free(&b);
        sc_saliency_fftw_cleanup();
    }
    sc_saliency_model_free(c.model);
    free(a.inputs);
    return rc;
}
