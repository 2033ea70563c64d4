/* saccade overlay: blend a heat map made elsewhere onto an image. */
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_maps_io.h"

void cli_overlay_help(FILE *out) {
    fprintf(out,
            "usage: saccade overlay IMAGE MAP -o OUT.png [--colormap NAME] [--alpha A]\n"
            "                       [--range LO,HI] [--smooth SIGMA]\n\n"
            "Overlay a saliency or attention map made elsewhere on IMAGE.\n"
            "MAP        a grayscale image (any format saccade reads; RGB maps use their\n"
            "           mean), or a 2-D float32/float64 NumPy array (.npy) of any size:\n"
            "           it is upsampled bilinearly to the image size\n"
            "-o OUT     output .png or .jpg (written atomically)\n"
            "--colormap viridis (default), inferno, magma, jet, gray\n"
            "--alpha    weight of the heat map in the blend, 0..1 (default 0.5)\n"
            "--range    fixed normalisation LO,HI instead of min-max\n"
            "--smooth   Gaussian sigma in output pixels after upsampling (default 0)\n"
            "Options take their value as '--opt value' or '--opt=value'.\n\n"
            "Examples:\n"
            "  saccade overlay assets/samples/chelsea.jpg assets/samples/chelsea-map.png \\\n"
            "      -o chelsea-overlay.png\n"
            "  saccade overlay assets/samples/chelsea.jpg assets/samples/chelsea-map.png \\\n"
            "      -o chelsea-inferno.jpg --colormap inferno --alpha 0.6 --smooth 4\n"
            "  saccade saliency assets/samples/chelsea.jpg -o sal.png --raw map.npy && \\\n"
            "      saccade overlay assets/samples/chelsea.jpg map.npy -o fixed.png --range 0,1\n");
}

/* "LO,HI" with LO < HI into hp (fixed normalisation); 0 if malformed. */
static int parse_range(const char *v, sc_heatmap_params *hp) {
    const char *comma = strchr(v, ',');
    char lo[64];
    if (!comma || (size_t)(comma - v) >= sizeof lo) return 0;
    memcpy(lo, v, (size_t)(comma - v));
    lo[comma - v] = 0;
    if (!cli_parse_float(lo, &hp->lo) || !cli_parse_float(comma + 1, &hp->hi) || !(hp->hi > hp->lo))
        return 0;
    hp->norm = SC_NORM_FIXED;
    return 1;
}

int cli_overlay_main(int argc, char **argv) {
    const char *V = "overlay", *out = NULL, *colormap = NULL, *range = NULL, *pos[2];
    sc_heatmap_params hp = sc_heatmap_default_params();
    const cli_opt opts[] = {
        {"-o|--output", CLI_STR, &out, 0, 0, "a file name", NULL, 0},
        {"--colormap", CLI_STR, &colormap, 0, 0, "a name", NULL, 0},
        {"--alpha", CLI_FLOAT, &hp.alpha, 0, 1, NULL, NULL, 0},
        {"--smooth", CLI_FLOAT, &hp.smooth_sigma, 0, 1000, NULL, NULL, 0},
        {"--range", CLI_STR, &range, 0, 0, "LO,HI", NULL, 0},
    };
    int npos = 0;
    int rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 2, &npos);
    if (rc) return rc;
    if (colormap && sc_colormap_from_name(colormap, &hp.colormap))
        return cli_usage(V, "%s", sc_last_error());
    if (range && !parse_range(range, &hp)) return cli_usage(V, "--range needs LO,HI with LO < HI");
    if (npos < 2) return cli_usage(V, "need IMAGE and MAP");
    if (!out) return cli_usage(V, "need -o OUT.png");
    if (!cli_has_suffix(out, ".png") && !cli_has_suffix(out, ".jpg") &&
        !cli_has_suffix(out, ".jpeg"))
        return cli_usage(V, "output must end in .png, .jpg or .jpeg");

    sc_image img = {0}, res = {0};
    sc_map map = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_image_load(pos[0], &lp, &img, NULL) || sc_map_load(pos[1], &map) ||
        sc_overlay_heatmap(&img, &map, &hp, &res) || sc_image_save(&res, out))
        rc = cli_fail(NULL);
    sc_image_free(&img);
    sc_image_free(&res);
    sc_map_free(&map);
    return rc;
}
