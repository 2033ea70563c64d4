/* saccade saliency: bottom-up and model-based saliency maps and overlays for
 * images. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_maps_io.h"
#include "saccade/sc_saliency_model.h"

#define DEFAULT_MODEL "models/scenes-captioner.safetensors"

typedef enum {
    M_SPECTRAL,
    M_SPECTRAL_HZ,
    M_PQFT,
    M_FINEGRAINED,
    M_ATTENTION,
    M_GRADCAM,
    M_GRADIENT,
    M_ROLLOUT
} sal_method;

static const struct {
    const char *name, *caption;
    int model; /* 1: needs a model (sc_saliency_model.h) */
    sc_model_saliency_method mm;
} METHODS[] = {
    {"spectral", "spectral residual", 0, 0},
    {"spectral-hz", "spectral residual (Hou & Zhang)", 0, 0},
    {"pqft", "PQFT", 0, 0},
    {"finegrained", "fine-grained", 0, 0},
    {"attention", "attention", 1, SC_MSAL_ATTENTION},
    {"gradcam", "Grad-CAM", 1, SC_MSAL_GRADCAM},
    {"gradient", "input gradient", 1, SC_MSAL_GRADIENT},
    {"rollout", "attention rollout", 1, SC_MSAL_ROLLOUT},
};
#define NMETHODS ((int)(sizeof METHODS / sizeof METHODS[0]))

void cli_saliency_help(FILE *out) {
    fprintf(out,
            "usage: saccade saliency IMAGE|DIR|-... -o OUT [--method M] [--colormap NAME]\n"
            "                        [--alpha A] [--raw FILE|DIR] [--raw-format npy|png]\n"
            "                        [--panel] [--panel-size N] [--json] [--threads N]\n"
            "                        [--model M] [--word W] [--aggregate mean|max]\n"
            "                        [--class K] [--discard R] [--rollout-from words|cls]\n\n"
            "Bottom-up or model-based saliency maps, blended onto each image as a heat map.\n"
            "--method   spectral     spectral residual, identical to OpenCV's\n"
            "                        StaticSaliencySpectralResidual (default)\n"
            "           spectral-hz  spectral residual as Hou & Zhang (CVPR 2007) describe it\n"
            "           pqft         phase spectrum of the quaternion Fourier transform\n"
            "                        (Guo et al., CVPR 2008), uses colour\n"
            "           finegrained  centre-surround differences (Montabone & Soto 2010),\n"
            "                        identical to OpenCV's StaticSaliencyFineGrained\n"
            "           attention    a captioner's attention over its own caption: for --word\n"
            "                        W, or aggregated over the caption's words (--aggregate\n"
            "                        mean, the default, or max per cell); upsampled and\n"
            "                        smoothed as in 'saccade caption --attention'\n"
            "           gradcam      Grad-CAM: captioner (target: log-probability of --word\n"
            "                        at the step that generated it, teacher-forced, or of the\n"
            "                        whole caption), classifier or ST-CNN (target: the logit\n"
            "                        of the predicted class or --class; last conv feature\n"
            "                        map, warped back through the transformer)\n"
            "           gradient     plain input gradient, max |d target / d pixel| over\n"
            "                        channels (captioners with a cnn or vit encoder,\n"
            "                        classifiers)\n"
            "           rollout      attention rollout (Abnar & Zuidema 2020) through a\n"
            "                        captioner's ViT encoder: the decoder's attention (for\n"
            "                        --word, or --aggregate over the caption) carried back\n"
            "                        through the ViT's layers to the image patches, or with\n"
            "                        --rollout-from cls the class token's (train such a\n"
            "                        model with 'saccade train captioner --encoder vit')\n"
            "--model M  for the model methods: a captioner, classifier or ST-CNN\n"
            "           .safetensors, recognised by its config (e.g.\n"
            "           assets/models/fashion-stn.safetensors); default: the shipped\n"
            "           assets/" DEFAULT_MODEL "\n"
            "--word W   captioners: explain the first step of the generated caption that\n"
            "           produced W (an error names the caption when W is not in it)\n"
            "--aggregate mean|max  attention / rollout without --word (default mean)\n"
            "--class K  classifiers: explain class K (index or name; default: predicted)\n"
            "--discard R  rollout: drop the share R of smallest attention weights per layer\n"
            "           before rolling out (0 <= R < 1, default 0; vit-explain uses 0.9)\n"
            "--rollout-from words|cls  rollout: from the decoder's attention (default) or\n"
            "           from the ViT's class token\n"
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
            "--threads  threads for saccade's own loops (default: all cores)\n\n"
            "Inputs: files as given; directories are searched recursively for images\n"
            "(.png .jpg .jpeg .bmp .gif .tga .psd .hdr .pnm .ppm .pgm), in sorted order;\n"
            "'-' reads a list of files or directories from standard input, one per line.\n"
            "To read one image from standard input, name it /dev/stdin. An image that\n"
            "cannot be read or processed is reported on stderr ('saccade: PATH: reason')\n"
            "and the others are still processed; the exit status is then 1.\n");
}

typedef struct sal_ctx {
    sal_method method;
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

static sc_status compute(sal_ctx *c, const sc_image *img, sc_map *out,
                         sc_model_saliency_info *info) {
    sal_method m = c->method;
    if (METHODS[m].model)
        return sc_saliency_model_compute(c->model, METHODS[m].mm, img, &c->mp, out, info);
    switch (m) {
    case M_SPECTRAL:
        return sc_saliency_sr_opencv(img, out);
    case M_SPECTRAL_HZ:
        return sc_saliency_sr(img, NULL, out);
    case M_PQFT:
        return sc_saliency_pqft(img, NULL, out);
    case M_FINEGRAINED:
        return sc_saliency_finegrained(img, out);
    default:
        break;
    }
    return sc_set_error(SC_ERR_INVALID_ARG, "unknown method");
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

static int one_image(const cli_batch *b, int i, void *vctx) {
    sal_ctx *c = vctx;
    const char *mname = METHODS[c->method].name;
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
    char label[600];
    if (METHODS[c->method].model && c->mp.word)
        snprintf(label, sizeof label, "%s: %s", METHODS[c->method].caption, c->mp.word);
    else if (METHODS[c->method].model && info.target >= 0 && !c->mp.word &&
             sc_saliency_model_get_kind(c->model) != SC_SMODEL_CAPTIONER)
        snprintf(label, sizeof label, "%s: %s", METHODS[c->method].caption, info.caption);
    else
        snprintf(label, sizeof label, "%s", METHODS[c->method].caption);
    if (c->panel && make_panel(&img, &map, &ov, &c->hp, label, c->panel_size, &panel)) goto done;
    char suffix[64];
    if (b->out_file) {
        out = strdup(b->out_file);
    } else {
        snprintf(suffix, sizeof suffix, ".%s%s.png", mname, c->panel ? "-panel" : "");
        out = cli_batch_output_path(b, b->out_dir, i, suffix);
    }
    if (!out) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (sc_image_save(c->panel ? &panel : &ov, out)) goto done;
    if (c->raw) {
        if (c->raw_is_dir) {
            snprintf(suffix, sizeof suffix, ".%s-map%s", mname, c->raw_ext);
            raw = cli_batch_output_path(b, c->raw, i, suffix);
        } else {
            raw = strdup(c->raw);
        }
        if (!raw) {
            sc_set_error(SC_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (sc_map_save(&map, raw)) goto done;
    }
    if (c->json) {
        size_t n = (size_t)map.w * (size_t)map.h, peak = 0;
        double sum = 0, lo = map.data[0], hi = map.data[0];
        for (size_t k = 0; k < n; k++) {
            double v = map.data[k];
            sum += v;
            if (v < lo) lo = v;
            if (v > hi) hi = v, peak = k;
        }
        printf("{\"path\": ");
        cli_json_string(stdout, b->paths[i]);
        printf(", \"method\": \"%s\", \"width\": %d, \"height\": %d, \"output\": ", mname, img.w,
               img.h);
        cli_json_string(stdout, out);
        printf(", \"panel\": %s, \"raw\": ", c->panel ? "true" : "false");
        if (raw)
            cli_json_string(stdout, raw);
        else
            fputs("null", stdout);
        if (METHODS[c->method].model) {
            int cap = sc_saliency_model_get_kind(c->model) == SC_SMODEL_CAPTIONER;
            printf(", \"model\": ");
            cli_json_string(stdout, c->model_path);
            printf(", \"model_kind\": \"%s\", \"%s\": ",
                   sc_saliency_model_kind_name(sc_saliency_model_get_kind(c->model)),
                   cap ? "caption" : "class_name");
            cli_json_string(stdout, info.caption);
            printf(", \"word\": ");
            if (c->mp.word)
                cli_json_string(stdout, c->mp.word);
            else
                fputs("null", stdout);
            printf(", \"step\": %d, \"target\": %d, \"score\": ", info.step, info.target);
            if (isfinite(info.score))
                printf("%.9g", info.score);
            else
                fputs("null", stdout);
        }
        printf(
            ", \"min\": %.9g, \"max\": %.9g, \"mean\": %.9g, \"peak\": {\"x\": %d, \"y\": %d}}\n",
            lo, hi, sum / (double)n, (int)(peak % (size_t)map.w), (int)(peak / (size_t)map.w));
        fflush(stdout);
    }
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

int cli_saliency_main(int argc, char **argv) {
    const char *V = "saliency";
    sal_ctx c = {0};
    c.method = M_SPECTRAL;
    c.hp = sc_heatmap_default_params();
    c.raw_ext = ".npy";
    c.mp = sc_model_saliency_default_params();
    const char *out = NULL, *threads = NULL, *model = NULL, *aggregate = NULL, *cls = NULL,
               *rollout_from = NULL;
    char model_path[4096];
    char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0, only_positional = 0, rc = CLI_OK;
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
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!more) USAGE("-o needs a file or directory name");
            out = argv[++i];
        } else if (!strcmp(a, "--method")) {
            if (!more) USAGE("--method needs a name");
            const char *m = argv[++i];
            int found = 0;
            for (int k = 0; k < NMETHODS; k++)
                if (!strcmp(m, METHODS[k].name)) c.method = (sal_method)k, found = 1;
            if (!found)
                USAGE("unknown method '%s' (choose spectral, spectral-hz, pqft, finegrained, "
                      "attention, gradcam, gradient or rollout)",
                      m);
        } else if (!strcmp(a, "--model")) {
            if (!more || !argv[i + 1][0]) USAGE("--model needs a model file");
            model = argv[++i];
        } else if (!strcmp(a, "--word")) {
            if (!more || !argv[i + 1][0]) USAGE("--word needs a word");
            c.mp.word = argv[++i];
        } else if (!strcmp(a, "--aggregate")) {
            aggregate = more ? argv[++i] : "";
            if (!strcmp(aggregate, "mean"))
                c.mp.aggregate = SC_SAL_AGG_MEAN;
            else if (!strcmp(aggregate, "max"))
                c.mp.aggregate = SC_SAL_AGG_MAX;
            else
                USAGE("--aggregate needs mean or max");
        } else if (!strcmp(a, "--rollout-from")) {
            rollout_from = more ? argv[++i] : "";
            if (!strcmp(rollout_from, "cls"))
                c.mp.rollout_cls = 1;
            else if (strcmp(rollout_from, "words"))
                USAGE("--rollout-from needs words or cls");
        } else if (!strcmp(a, "--discard")) {
            if (!more || !cli_parse_float(argv[++i], &c.mp.discard_ratio) ||
                !(c.mp.discard_ratio >= 0 && c.mp.discard_ratio < 1))
                USAGE("--discard needs a number in [0, 1)");
        } else if (!strcmp(a, "--class")) {
            if (!more || !argv[i + 1][0]) USAGE("--class needs a class index or name");
            cls = argv[++i];
        } else if (!strcmp(a, "--colormap")) {
            if (!more) USAGE("--colormap needs a name");
            if (sc_colormap_from_name(argv[++i], &c.hp.colormap)) USAGE("%s", sc_last_error());
        } else if (!strcmp(a, "--alpha")) {
            if (!more || !cli_parse_float(argv[++i], &c.hp.alpha) || c.hp.alpha < 0 ||
                c.hp.alpha > 1)
                USAGE("--alpha needs a number from 0 to 1");
        } else if (!strcmp(a, "--raw")) {
            if (!more || !argv[i + 1][0]) USAGE("--raw needs a .npy/.png file or a directory");
            c.raw = argv[++i];
        } else if (!strcmp(a, "--raw-format")) {
            const char *f = more ? argv[++i] : "";
            if (!strcmp(f, "npy"))
                c.raw_ext = ".npy";
            else if (!strcmp(f, "png"))
                c.raw_ext = ".png";
            else
                USAGE("--raw-format needs npy or png");
        } else if (!strcmp(a, "--panel")) {
            c.panel = 1;
        } else if (!strcmp(a, "--panel-size")) {
            if (!more || !cli_parse_int(argv[++i], &c.panel_size) || c.panel_size < 16 ||
                c.panel_size > 8192)
                USAGE("--panel-size needs a number of pixels from 16 to 8192");
            c.panel = 1;
        } else if (!strcmp(a, "--json")) {
            c.json = 1;
        } else if (!strcmp(a, "--threads")) {
            if (!more) USAGE("--threads needs a number");
            threads = argv[++i];
        } else {
            USAGE("unknown option '%s'", a);
        }
    }
    if (ninputs == 0) USAGE("need at least one IMAGE, DIRECTORY or '-'");
    if (!out || !out[0]) USAGE("need -o OUT (a directory, or OUT.png/.jpg for one image)");
    if (threads && (rc = cli_batch_threads(V, threads))) goto end;
    int needs_model = METHODS[c.method].model;
    if (!needs_model && (model || c.mp.word || aggregate || cls))
        USAGE("--model, --word, --aggregate and --class are for the model methods (attention, "
              "gradcam, gradient, rollout), not --method %s",
              METHODS[c.method].name);
    if (aggregate && c.method != M_ATTENTION && c.method != M_ROLLOUT)
        USAGE("--aggregate is for --method attention or rollout");
    if (aggregate && c.mp.word) USAGE("--aggregate and --word exclude each other");
    if (c.mp.discard_ratio > 0 && c.method != M_ROLLOUT) USAGE("--discard is for --method rollout");
    if (rollout_from && c.method != M_ROLLOUT) USAGE("--rollout-from is for --method rollout");
    if (c.mp.rollout_cls && (c.mp.word || aggregate))
        USAGE("--rollout-from cls explains the encoder's class token: no --word or --aggregate");
    if (needs_model) {
        if (!model) {
            if (sc_find_asset(DEFAULT_MODEL, model_path, sizeof model_path)) {
                fprintf(
                    stderr,
                    "saccade saliency: no --model given and the default model assets/" DEFAULT_MODEL
                    " was not found (looked in $SACCADE_ASSETS, the source tree and the "
                    "installed share/saccade); pass --model FILE\n");
                rc = CLI_FAIL;
                goto end;
            }
            model = model_path;
        }
        if (sc_saliency_model_load(model, &c.model)) {
            rc = cli_fail(NULL);
            goto end;
        }
        c.model_path = model;
        sc_saliency_model_kind kind = sc_saliency_model_get_kind(c.model);
        if (kind == SC_SMODEL_CAPTIONER && cls)
            USAGE("--class is for classifiers; %s is a captioner (use --word)", model);
        if (kind != SC_SMODEL_CAPTIONER && c.mp.word)
            USAGE("--word is for captioners; %s is a%s %s (use --class)", model,
                  kind == SC_SMODEL_CLASSIFIER ? "" : "n",
                  kind == SC_SMODEL_CLASSIFIER ? "classifier" : "ST-CNN");
        if (cls) {
            sc_classifier *cm = kind == SC_SMODEL_STCNN
                                    ? sc_stcnn_classifier(sc_saliency_model_stcnn(c.model))
                                    : sc_saliency_model_classifier(c.model);
            int K = sc_classifier_get_config(cm)->num_classes, k = -1;
            for (int j = 0; j < K && k < 0; j++) {
                const char *nm = sc_classifier_class_name(cm, j);
                if (nm && !strcmp(nm, cls)) k = j;
            }
            if (k < 0 && (!cli_parse_int(cls, &k) || k < 0 || k >= K))
                USAGE("--class '%s' is neither a class name nor an index 0..%d of %s", cls, K - 1,
                      model);
            c.mp.target = k;
        }
    }

    cli_batch b;
    rc = cli_batch_expand(V, inputs, ninputs, &b);
    if (!rc) rc = cli_batch_plan_outputs(V, &b, out);
    if (!rc && c.raw) {
        static const char *const raw_exts[] = {".npy", ".png", NULL};
        rc = cli_batch_plan_secondary(V, "--raw", &b, c.raw, raw_exts, &c.raw_is_dir);
    }
    if (!rc) rc = cli_batch_run(&b, "saliency", one_image, &c);
    cli_batch_free(&b);
    sc_saliency_fftw_cleanup();
end:
#undef USAGE
    sc_saliency_model_free(c.model);
    free(inputs);
    return rc;
}
