/* Resizing (stb_image_resize), center crop and normalization.
 *
 * How the filters compare with PyTorch-world resizers, measured by
 * tests/parity/test_image_resize.c (references: tools/ref/ref_resize.py) on
 * skimage's astronaut.png (512x512) and coffee.png (600x400), all 3 channels.
 * Mean / max absolute error in [0, 255] units. PIL = Image.resize on uint8
 * (antialiased; what torchvision.transforms.Resize does on PIL images);
 * torch = F.interpolate(align_corners=False) on float input.
 *
 *   downscale /2 (512->256, 600x400->300x200)
 *   reference           best filter     mean    max    2nd best
 *   PIL BILINEAR        TRIANGLE        0.279   9.0    MITCHELL  0.617
 *   PIL BICUBIC         CATMULLROM      0.282  18.0    MITCHELL  1.021
 *   torch bilinear AA   TRIANGLE        0.006   8.7    MITCHELL  0.493
 *   torch bilinear      BOX             0.000   0.0    (exact only at factor 2)
 *   torch bicubic AA    CATMULLROM      0.005   4.5    MITCHELL  0.944
 *   torch bicubic       BOX             1.680  51.2    (a = -0.75, no match)
 *
 *   upscale x4 (64->256, 75x50->300x200)
 *   PIL BILINEAR        TRIANGLE        0.297   1.0    MITCHELL  0.905
 *   PIL BICUBIC         CATMULLROM      0.360  23.6    MITCHELL  1.739
 *   torch bilinear      TRIANGLE        0.000   0.0    (antialias on or off)
 *   torch bicubic AA    CATMULLROM      0.022   5.6
 *   torch bicubic       CATMULLROM      1.131  20.2    (torch uses a = -0.75)
 *
 * So: SC_FILTER_TRIANGLE reproduces torchvision's default Resize (PIL
 * bilinear) and F.interpolate(bilinear, antialias=True); SC_FILTER_CATMULLROM
 * reproduces bicubic with antialias. The mean error against PIL is mostly
 * PIL's rounding to uint8 (about 0.25); the larger maxima sit on the image
 * border, where stb clamps the edge pixel while PIL / torch renormalize the
 * truncated kernel, and (bicubic) where PIL clips its uint8 intermediate
 * between the horizontal and vertical passes. SC_FILTER_DEFAULT is MITCHELL
 * when shrinking and CATMULLROM when enlarging. The test asserts the mean
 * bounds of the best filters (with a little headroom). */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
/* Our own static copy of stb_image_resize: Debian's libstb (v0.97) is built
 * with assert() enabled, and its check that the downsampling coefficients of
 * an output pixel sum to 1 +- 0.1 (stbir__normalize_downsample_coefficients)
 * fails for the triangle filter at many ratios (e.g. 300 -> 224 or 343 ->
 * 256), aborting the process. The coefficients are renormalised right after
 * that check, so it is compiled out here (the other checks are parameter
 * validations that stbir_resize_* also reports by returning 0). */
#define STB_IMAGE_RESIZE_STATIC
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STBIR_ASSERT(x) ((void)sizeof(x))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <stb_image_resize.h>
#pragma GCC diagnostic pop
#include "sc_internal.h"
#include "saccade/sc_image.h"

const float SC_IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f};
const float SC_IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

static int stb_filter(sc_resize_filter f) {
    switch (f) {
    case SC_FILTER_DEFAULT:
        return STBIR_FILTER_DEFAULT;
    case SC_FILTER_BOX:
        return STBIR_FILTER_BOX;
    case SC_FILTER_TRIANGLE:
        return STBIR_FILTER_TRIANGLE;
    case SC_FILTER_CUBICBSPLINE:
        return STBIR_FILTER_CUBICBSPLINE;
    case SC_FILTER_CATMULLROM:
        return STBIR_FILTER_CATMULLROM;
    case SC_FILTER_MITCHELL:
        return STBIR_FILTER_MITCHELL;
    }
    return -1;
}

static sc_status check_image(const sc_image *img, const char *what) {
    if (!img || !img->data || img->w <= 0 || img->h <= 0 || img->c <= 0 || img->c > 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: not a valid image", what);
    return SC_OK;
}

/* Channels 1..3 are resized plane by plane (in parallel); RGBA is resized
 * interleaved with stb's alpha weighting so transparent pixels do not bleed
 * their colour. Edges clamp; values are treated as linear. */
sc_status sc_image_resize(const sc_image *src, int w, int h, sc_resize_filter f, sc_image *dst) {
    if (dst) memset(dst, 0, sizeof *dst);
    sc_status s = check_image(src, "resize source");
    if (s) return s;
    if (!dst) return sc_set_error(SC_ERR_INVALID_ARG, "resize: NULL destination");
    int filter = stb_filter(f);
    if (filter < 0) return sc_set_error(SC_ERR_INVALID_ARG, "resize: unknown filter %d", (int)f);
    if (w <= 0 || h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "resize: bad target size %dx%d", w, h);
    if ((size_t)src->w * src->c > INT_MAX / 4 || (size_t)w * src->c > INT_MAX / 4)
        return sc_set_error(SC_ERR_LIMIT, "resize: rows too wide (%d or %d pixels)", src->w, w);
    s = sc_image_alloc(dst, w, h, src->c);
    if (s) return s;
    const size_t ip = (size_t)src->w * src->h, op = (size_t)w * h;
    int failed = 0;
    if (src->c != 4) {
#pragma omp parallel for schedule(static) reduction(| : failed)
        for (int k = 0; k < src->c; k++)
            failed |= !stbir_resize_float_generic(
                src->data + k * ip, src->w, src->h, src->w * (int)sizeof(float), dst->data + k * op,
                w, h, w * (int)sizeof(float), 1, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                (stbir_filter)filter, STBIR_COLORSPACE_LINEAR, NULL);
    } else {
        float *in = sc_malloc(ip * 4 * sizeof(float));
        float *out = sc_malloc(op * 4 * sizeof(float));
        if (!in || !out) {
            sc_free(in);
            sc_free(out);
            sc_image_free(dst);
            return SC_ERR_NOMEM;
        }
        for (size_t i = 0; i < ip; i++)
            for (int k = 0; k < 4; k++) in[i * 4 + k] = src->data[k * ip + i];
        failed =
            !stbir_resize_float_generic(in, src->w, src->h, src->w * 4 * (int)sizeof(float), out, w,
                                        h, w * 4 * (int)sizeof(float), 4, 3, 0, STBIR_EDGE_CLAMP,
                                        (stbir_filter)filter, STBIR_COLORSPACE_LINEAR, NULL);
        for (size_t i = 0; i < op; i++)
            for (int k = 0; k < 4; k++) dst->data[k * op + i] = out[i * 4 + k];
        sc_free(in);
        sc_free(out);
    }
    if (failed) {
        sc_image_free(dst);
        return sc_set_error(SC_ERR_NOMEM, "resize %dx%d -> %dx%d: stb_image_resize failed", src->w,
                            src->h, w, h);
    }
    return SC_OK;
}

/* torchvision.transforms.Resize(size) with a single int: the short side
 * becomes size, the long side int(size * long / short) (truncated). */
sc_status sc_image_resize_short(const sc_image *src, int size, sc_resize_filter f, sc_image *dst) {
    if (dst) memset(dst, 0, sizeof *dst);
    sc_status s = check_image(src, "resize source");
    if (s) return s;
    if (size <= 0) return sc_set_error(SC_ERR_INVALID_ARG, "resize: bad short side %d", size);
    int sw = src->w <= src->h;
    int shrt = sw ? src->w : src->h, lng = sw ? src->h : src->w;
    double nl = (double)((long long)size * lng) / (double)shrt;
    if (nl >= (double)INT_MAX) return sc_set_error(SC_ERR_LIMIT, "resize: target too large");
    int nlong = (int)nl;
    if (nlong < 1) nlong = 1;
    return sc_image_resize(src, sw ? size : nlong, sw ? nlong : size, f, dst);
}

/* Python's round() on a multiple of 0.5: d / 2 rounded half to even. */
static int half_round_even(int d) {
    int q = d / 2;
    if (d % 2 == 0) return q;
    return (q % 2 == 0) ? q : q + 1;
}

/* torchvision.transforms.CenterCrop: top = int(round((H - ch) / 2.0)) (half to
 * even), left likewise; a crop larger than the image pads with zeros,
 * (crop - size) // 2 before. */
sc_status sc_image_center_crop(const sc_image *src, int w, int h, sc_image *dst) {
    if (dst) memset(dst, 0, sizeof *dst);
    sc_status s = check_image(src, "center crop source");
    if (s) return s;
    if (!dst) return sc_set_error(SC_ERR_INVALID_ARG, "center crop: NULL destination");
    if (w <= 0 || h <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "center crop: bad size %dx%d", w, h);
    int top = h <= src->h ? half_round_even(src->h - h) : -((h - src->h) / 2);
    int left = w <= src->w ? half_round_even(src->w - w) : -((w - src->w) / 2);
    s = sc_image_alloc(dst, w, h, src->c);
    if (s) return s;
    for (int k = 0; k < src->c; k++)
        for (int y = 0; y < h; y++) {
            int sy = y + top;
            if (sy < 0 || sy >= src->h) continue;
            const float *srow = src->data + ((size_t)k * src->h + sy) * src->w;
            float *drow = dst->data + ((size_t)k * h + y) * w;
            int x0 = SC_MAX(0, -left), x1 = SC_MIN(w, src->w - left);
            if (x1 > x0) memcpy(drow + x0, srow + x0 + left, (size_t)(x1 - x0) * sizeof(float));
        }
    return SC_OK;
}

sc_status sc_image_normalize(sc_image *img, const float *mean, const float *std) {
    sc_status s = check_image(img, "normalize");
    if (s) return s;
    if (!mean || !std) return sc_set_error(SC_ERR_INVALID_ARG, "normalize: NULL mean or std");
    for (int k = 0; k < img->c; k++)
        if (!(std[k] != 0.f) || !isfinite(std[k]) || !isfinite(mean[k]))
            return sc_set_error(SC_ERR_INVALID_ARG, "normalize: bad mean/std for channel %d", k);
    const size_t plane = (size_t)img->w * img->h;
    for (int k = 0; k < img->c; k++) {
        float m = mean[k], sd = std[k];
        float *p = img->data + k * plane;
#pragma omp parallel for schedule(static)
        for (long long i = 0; i < (long long)plane; i++) p[i] = (p[i] - m) / sd;
    }
    return SC_OK;
}
