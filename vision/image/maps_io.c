/* Raw map files: float32 .npy and 16-bit PNG writers, and a reader for maps
 * stored as .npy or as images. */
#include <math.h>
#include <string.h>
#include <strings.h>
#include "sc_internal.h"
#include "saccade/sc_image.h"
#include "saccade/sc_maps_io.h"
#include "saccade/sc_npy.h"

static int has_ext(const char *s, const char *ext) {
    size_t n = strlen(s), m = strlen(ext);
    return n >= m && strcasecmp(s + n - m, ext) == 0;
}

static sc_status check_map(const sc_map *m, const char *path) {
    if (!m || !path || !m->data) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    if (m->w <= 0 || m->h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad map size %dx%d", path, m->w, m->h);
    return SC_OK;
}

sc_status sc_map_save_npy(const sc_map *m, const char *path) {
    sc_status s = check_map(m, path);
    if (s) return s;
    int64_t shape[2] = {m->h, m->w};
    return sc_npy_write(path, m->data, 2, shape);
}

sc_status sc_map_save_png16(const sc_map *m, const char *path) {
    sc_status s = check_map(m, path);
    if (s) return s;
    sc_image img;
    s = sc_image_alloc(&img, m->w, m->h, 1);
    if (s) return s;
    size_t n = (size_t)m->w * (size_t)m->h;
    for (size_t i = 0; i < n; i++) {
        float v = m->data[i];
        img.data[i] = v > 0 ? (v < 1 ? v : 1) : 0; /* NaN -> 0 */
    }
    s = sc_image_save_png16(&img, path);
    sc_image_free(&img);
    return s;
}

sc_status sc_map_save(const sc_map *m, const char *path) {
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    if (has_ext(path, ".npy")) return sc_map_save_npy(m, path);
    if (has_ext(path, ".png")) return sc_map_save_png16(m, path);
    return sc_set_error(SC_ERR_INVALID_ARG, "%s: raw maps are written as .npy or .png", path);
}

sc_status sc_map_load(const char *path, sc_map *out) {
    if (!path || !out) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    memset(out, 0, sizeof *out);
    sc_status s;
    if (has_ext(path, ".npy")) {
        sc_npy a;
        s = sc_npy_read(path, &a);
        if (s) return s;
        int64_t h = 0, w = 0;
        if (a.ndim == 2)
            h = a.shape[0], w = a.shape[1];
        else if (a.ndim == 3 && a.shape[0] == 1)
            h = a.shape[1], w = a.shape[2];
        else if (a.ndim == 3 && a.shape[2] == 1)
            h = a.shape[0], w = a.shape[1];
        if (h <= 0 || w <= 0 || h > 65536 || w > 65536) {
            char shape[8 * 24] = "";
            for (int i = 0, n = 0; i < a.ndim; i++)
                n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%lld", i ? ", " : "",
                              (long long)a.shape[i]);
            int nd = a.ndim;
            sc_npy_free(&a);
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: expected a 2-D map (h, w) (or (1, h, w), (h, w, 1)) of sides "
                                "1..65536, got %d dimensions of shape (%s)",
                                path, nd, shape);
        }
        s = sc_map_alloc(out, (int)w, (int)h);
        if (!s) memcpy(out->data, a.data, (size_t)w * (size_t)h * sizeof(float));
        sc_npy_free(&a);
        if (s) sc_error_prefix(path);
        return s;
    }
    sc_image img;
    sc_image_load_params p = sc_image_load_default_params();
    s = sc_image_load(path, &p, &img, NULL);
    if (s) return s;
    s = sc_map_alloc(out, img.w, img.h);
    if (!s) {
        size_t hw = (size_t)img.w * (size_t)img.h;
        int c = img.c >= 3 ? 3 : 1;
        for (size_t i = 0; i < hw; i++) {
            float v = 0;
            for (int k = 0; k < c; k++) v += img.data[(size_t)k * hw + i];
            out->data[i] = c == 1 ? v : v / 3.0f;
        }
    } else {
        sc_error_prefix(path);
    }
    sc_image_free(&img);
    return s;
}
