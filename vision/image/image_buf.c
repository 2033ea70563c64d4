/* sc_image buffers: allocation, copy, free. */
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_image.h"

/* Hard ceiling on any image buffer saccade allocates (loaded or made):
 * 2^31 floats = 8 GiB. Loading has its own, lower, configurable limit. */
#define SC_IMAGE_MAX_FLOATS ((size_t)1 << 31)

sc_status sc_image_alloc(sc_image *img, int w, int h, int c) {
    memset(img, 0, sizeof *img);
    if (w <= 0 || h <= 0 || c <= 0 || c > 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "bad image size %dx%dx%d", w, h, c);
    size_t n;
    if (sc_mul_size((size_t)w, (size_t)h, &n) || sc_mul_size(n, (size_t)c, &n) ||
        n > SC_IMAGE_MAX_FLOATS)
        return sc_set_error(SC_ERR_LIMIT, "image %dx%dx%d is too large", w, h, c);
    img->data = sc_calloc(n, sizeof(float));
    if (!img->data) return SC_ERR_NOMEM;
    img->w = w;
    img->h = h;
    img->c = c;
    return SC_OK;
}

sc_status sc_image_copy(const sc_image *src, sc_image *dst) {
    sc_status s = sc_image_alloc(dst, src->w, src->h, src->c);
    if (s) return s;
    memcpy(dst->data, src->data, (size_t)src->w * src->h * src->c * sizeof(float));
    return SC_OK;
}

void sc_image_free(sc_image *img) {
    if (!img) return;
    sc_free(img->data);
    memset(img, 0, sizeof *img);
}

sc_status sc_image_to_rgb(const sc_image *img, sc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!img || !out || !img->data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_image_to_rgb: NULL argument");
    if (img->c != 1 && img->c != 3 && img->c != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_image_to_rgb: %d channels (need 1, 3 or 4)",
                            img->c);
    sc_status s = sc_image_alloc(out, img->w, img->h, 3);
    if (s) return s;
    size_t plane = (size_t)img->w * (size_t)img->h;
    for (int ch = 0; ch < 3; ch++)
        memcpy(out->data + (size_t)ch * plane, img->data + (size_t)(img->c == 1 ? 0 : ch) * plane,
               plane * sizeof(float));
    return SC_OK;
}
