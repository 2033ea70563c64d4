/* BlipImageProcessor: RGB (alpha composited over white, as transformers'
 * convert_to_rgb does with Pillow), Pillow's resize to size x size (bit-exact,
 * sc_image_resize_pil), rescale, normalise with the configured mean / std. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_image.h"
#include "blip_internal.h"
#include "sc_internal.h"

static unsigned to8(float v) {
    float r = v * 255.0f + 0.5f;
    return r <= 0.0f ? 0u : r >= 255.0f ? 255u : (unsigned)r;
}

/* Pillow's Image.alpha_composite of a colour value v with alpha a (both 8-bit
 * quantities as v / 255) over opaque white, in its integer arithmetic
 * (libImaging/AlphaComposite.c, PRECISION_BITS 7): the colour as v8 / 255. */
static float over_white(float v, float a) {
    const unsigned c = to8(v), al = to8(a);
    const unsigned coef1 = al * 128u, coef2 = 255u * 128u - coef1; /* outa255 = 255 * 255 */
    const unsigned tmp = c * coef1 + 255u * coef2 + (0x80u << 7);
    return (float)((((tmp >> 8) + tmp) >> 8) >> 7) / 255.0f;
}

sc_status sc_blip_preprocess(const sc_blip *m, const sc_image *img, float *pixel_values) {
    if (!m || !img || !img->data || !pixel_values)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_preprocess: NULL argument");
    if (img->c != 3 && img->c != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_blip_preprocess: %d channels (RGB or RGBA)",
                            img->c);
    const sc_blip_preprocess_config *p = &m->cfg.preprocess;
    const int S = m->cfg.vision.image_size;
    if (p->do_resize && p->size != S)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_blip_preprocess: the processor resizes to %d, the model takes %d",
                            p->size, S);
    if (!p->do_resize && (img->w != S || img->h != S))
        return sc_set_error(SC_ERR_SHAPE,
                            "sc_blip_preprocess: without resizing the image must be %d x %d (it is "
                            "%d x %d)",
                            S, S, img->w, img->h);
    sc_image rgb = {0}, sized = {0};
    sc_status s = sc_image_alloc(&rgb, img->w, img->h, 3);
    if (s) return s;
    const size_t plane = (size_t)img->w * img->h;
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            rgb.data[c * plane + i] =
                img->c == 4 ? over_white(img->data[c * plane + i], img->data[3 * plane + i])
                            : img->data[c * plane + i];
    if (p->do_resize)
        s = sc_image_resize_pil(&rgb, S, S, (sc_pil_filter)p->resample, &sized);
    else
        s = sc_image_copy(&rgb, &sized);
    sc_image_free(&rgb);
    if (s) return s;
    /* sc_image values are v / 255 correctly rounded: what rescale_factor 1/255
     * makes of Pillow's 8-bit values; another factor scales them */
    if (!p->do_rescale || p->rescale != 1.0f / 255.0f) {
        const double f = p->do_rescale ? (double)p->rescale * 255.0 : 255.0;
        for (size_t i = 0; i < 3 * (size_t)S * S; i++)
            sized.data[i] = (float)(to8(sized.data[i]) / 255.0 * f);
    }
    if (p->do_normalize) s = sc_image_normalize(&sized, p->mean, p->std);
    if (!s) memcpy(pixel_values, sized.data, 3 * (size_t)S * S * sizeof(float));
    sc_image_free(&sized);
    return s;
}

sc_status blip_image_pixels(const sc_blip *m, const sc_image *img, float **pixels) {
    *pixels = NULL;
    if (!m || !img || !img->data) return sc_set_error(SC_ERR_INVALID_ARG, "blip: no image");
    const size_t S = (size_t)m->cfg.vision.image_size;
    float *pix = malloc(3 * S * S * sizeof *pix);
    sc_image rgb = {0};
    const sc_image *src = img;
    sc_status s = pix ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!s && img->c < 3) { /* gray: repeated to RGB, as the processor's convert_rgb */
        s = sc_image_to_rgb(img, &rgb);
        src = &rgb;
    }
    if (!s) s = sc_blip_preprocess(m, src, pix);
    sc_image_free(&rgb);
    if (s)
        free(pix);
    else
        *pixels = pix;
    return s;
}
