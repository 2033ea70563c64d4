/* saccade overlay: blend a heat map made elsewhere onto an image. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"
#include "saccade/sc_npy.h"

void cli_overlay_help(FILE *out) {
    fprintf(out, "usage: saccade overlay IMAGE MAP -o OUT.png [--colormap NAME] [--alpha A]\n"
                 "                       [--range LO,HI] [--smooth SIGMA]\n\n"
                 "Overlay a saliency or attention map made elsewhere on IMAGE.\n"
                 "MAP        a grayscale image (any format saccade reads; RGB maps use their\n"
                 "           mean), or a 2-D float32/float64 NumPy array (.npy) of any size:\n"
                 "           it is upsampled bilinearly to the image size\n"
                 "-o OUT     output .png or .jpg (written atomically)\n"
                 "--colormap viridis (default), inferno, magma, jet, gray\n"
                 "--alpha    weight of the heat map in the blend, 0..1 (default 0.5)\n"
                 "--range    fixed normalisation LO,HI instead of min-max\n"
                 "--smooth   Gaussian sigma in output pixels after upsampling (default 0)\n");
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* Read MAP as a float map: .npy (2-D, or 3-D with a leading/trailing 1) or an image. */
static sc_status load_map(const char *path, sc_map *m) {
    memset(m, 0, sizeof *m);
    if (has_suffix(path, ".npy")) {
        sc_npy a;
        sc_status s = sc_npy_read(path, &a);
        if (s) return s;
        int64_t h = 0, w = 0;
        if (a.ndim == 2)
            h = a.shape[0], w = a.shape[1];
        else if (a.ndim == 3 && a.shape[0] == 1)
            h = a.shape[1], w = a.shape[2];
        else if (a.ndim == 3 && a.shape[2] == 1)
            h = a.shape[0], w = a.shape[1];
        if (h <= 0 || w <= 0 || h > 65536 || w > 65536) {
            sc_npy_free(&a);
            return sc_set_error(SC_ERR_FORMAT, "%s: expected a 2-D map, got %d dimensions", path,
                                a.ndim);
        }
        s = sc_map_alloc(m, (int)w, (int)h);
        if (!s) memcpy(m->data, a.data, (size_t)w * h * sizeof(float));
        sc_npy_free(&a);
        return s;
    }
    sc_image img;
    sc_image_load_params p = sc_image_load_default_params();
    sc_status s = sc_image_load(path, &p, &img, NULL);
    if (s) return s;
    s = sc_map_alloc(m, img.w, img.h);
    if (!s) {
        size_t hw = (size_t)img.w * img.h;
        int c = img.c == 4 ? 3 : img.c;
        for (size_t i = 0; i < hw; i++) {
            float v = 0;
            for (int k = 0; k < c; k++) v += img.data[k * hw + i];
            m->data[i] = v / (float)c;
        }
    }
    sc_image_free(&img);
    return s;
}

int cli_overlay_main(int argc, char **argv) {
    const char *in = NULL, *map_path = NULL, *out = NULL;
    sc_heatmap_params hp = sc_heatmap_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!more) return cli_usage("overlay", "-o needs a file name");
            out = argv[++i];
        } else if (!strcmp(a, "--colormap")) {
            if (!more) return cli_usage("overlay", "--colormap needs a name");
            if (sc_colormap_from_name(argv[++i], &hp.colormap))
                return cli_usage("overlay", "%s", sc_last_error());
        } else if (!strcmp(a, "--alpha")) {
            if (!more || !cli_parse_float(argv[++i], &hp.alpha) || hp.alpha < 0 || hp.alpha > 1)
                return cli_usage("overlay", "--alpha needs a number from 0 to 1");
        } else if (!strcmp(a, "--smooth")) {
            if (!more || !cli_parse_float(argv[++i], &hp.smooth_sigma) || hp.smooth_sigma < 0 ||
                hp.smooth_sigma > 1000)
                return cli_usage("overlay", "--smooth needs a sigma from 0 to 1000");
        } else if (!strcmp(a, "--range")) {
            char *v = more ? argv[++i] : NULL, *comma = v ? strchr(v, ',') : NULL;
            if (!comma) return cli_usage("overlay", "--range needs LO,HI");
            *comma = 0;
            int ok = cli_parse_float(v, &hp.lo) && cli_parse_float(comma + 1, &hp.hi);
            *comma = ',';
            if (!ok || !(hp.hi > hp.lo))
                return cli_usage("overlay", "--range needs LO,HI with LO < HI");
            hp.norm = SC_NORM_FIXED;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage("overlay", "unknown option '%s'", a);
        } else if (!in) {
            in = a;
        } else if (!map_path) {
            map_path = a;
        } else {
            return cli_usage("overlay", "unexpected argument '%s'", a);
        }
    }
    if (!in || !map_path) return cli_usage("overlay", "need IMAGE and MAP");
    if (!out) return cli_usage("overlay", "need -o OUT.png");
    if (!has_suffix(out, ".png") && !has_suffix(out, ".jpg") && !has_suffix(out, ".jpeg"))
        return cli_usage("overlay", "output must end in .png, .jpg or .jpeg");

    sc_image img = {0}, res = {0};
    sc_map map = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    int rc = CLI_OK;
    if (sc_image_load(in, &lp, &img, NULL))
        rc = cli_fail(NULL);
    else if (load_map(map_path, &map))
        rc = cli_fail(NULL);
    else if (sc_overlay_heatmap(&img, &map, &hp, &res))
        rc = cli_fail(NULL);
    else if (sc_image_save(&res, out))
        rc = cli_fail(NULL);
    sc_image_free(&img);
    sc_image_free(&res);
    sc_map_free(&map);
    return rc;
}
