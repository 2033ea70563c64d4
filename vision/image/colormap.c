/* Colormaps: 256-entry RGB tables taken from matplotlib (see
 * tools/ref/gen_colormaps.py; the tables are data generated from matplotlib's
 * published colormap values) and the value -> entry lookup. */
#include <math.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_overlay.h"
#include "colormap_tables.h"

static const struct {
    const char *name;
    const float (*table)[3];
} sc_cmaps[] = {
    [SC_CMAP_VIRIDIS] = {"viridis", sc_cmap_viridis},
    [SC_CMAP_INFERNO] = {"inferno", sc_cmap_inferno},
    [SC_CMAP_MAGMA] = {"magma", sc_cmap_magma},
    [SC_CMAP_JET] = {"jet", sc_cmap_jet},
    [SC_CMAP_GRAY] = {"gray", sc_cmap_gray},
};
#define SC_NUM_CMAPS ((int)(sizeof sc_cmaps / sizeof sc_cmaps[0]))

const float (*sc_colormap_table(sc_colormap cm))[3] {
    if ((int)cm < 0 || (int)cm >= SC_NUM_CMAPS) {
        sc_set_error(SC_ERR_INVALID_ARG, "colormap %d is not one of the %d known colormaps",
                     (int)cm, SC_NUM_CMAPS);
        return NULL;
    }
    return sc_cmaps[cm].table;
}

const char *sc_colormap_name(sc_colormap cm) {
    if ((int)cm < 0 || (int)cm >= SC_NUM_CMAPS) return "unknown";
    return sc_cmaps[cm].name;
}

sc_status sc_colormap_from_name(const char *name, sc_colormap *out) {
    if (!name || !out) return sc_set_error(SC_ERR_INVALID_ARG, "colormap name is NULL");
    for (int i = 0; i < SC_NUM_CMAPS; i++) {
        if (strcmp(name, sc_cmaps[i].name) == 0) {
            *out = (sc_colormap)i;
            return SC_OK;
        }
    }
    if (strcmp(name, "grey") == 0) {
        *out = SC_CMAP_GRAY;
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG,
                        "unknown colormap '%.64s' (choose viridis, inferno, magma, jet or gray)",
                        name);
}

int sc_colormap_index(float t) {
    if (!(t > 0.0f)) return 0; /* NaN, negative and zero */
    if (t >= 1.0f) return 255;
    float f = floorf(t * 255.0f + 0.5f);
    return f > 255.0f ? 255 : (int)f;
}

void sc_colormap_lookup(sc_colormap cm, float t, float rgb[3]) {
    if ((int)cm < 0 || (int)cm >= SC_NUM_CMAPS) {
        rgb[0] = rgb[1] = rgb[2] = 0.0f;
        return;
    }
    const float *e = sc_cmaps[cm].table[sc_colormap_index(t)];
    rgb[0] = e[0];
    rgb[1] = e[1];
    rgb[2] = e[2];
}
