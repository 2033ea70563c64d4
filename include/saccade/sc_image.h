/* saccade: images. float32, CHW (planar), RGB (or RGBA when asked), values in
 * [0, 1]. Pixel (c, y, x) is data[(c * h + y) * w + x]. */
#ifndef SACCADE_SC_IMAGE_H
#define SACCADE_SC_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_image {
    int w, h, c; /* c is 3 (RGB) or 4 (RGBA), or 1 for single-channel maps */
    float *data; /* c * h * w floats, owned */
} sc_image;

/* What the file said about itself, filled by the loader and by sc_image_probe. */
typedef struct sc_image_info {
    char format[8];        /* "png", "jpeg", "bmp", "gif", "tga", "psd", "hdr", "pnm" */
    int w, h;              /* stored size, before EXIF orientation */
    int channels;          /* channels in the file (1 gray, 2 gray+alpha, 3, 4) */
    int bit_depth;         /* 8, 16, or 32 for HDR */
    int orientation;       /* EXIF orientation 1..8 (1 when absent) */
} sc_image_info;

typedef struct sc_image_load_params {
    uint64_t max_pixels;   /* refuse images larger than this (default 64 megapixels) */
    size_t max_file_bytes; /* refuse files larger than this (default 1 GiB) */
    int keep_alpha;        /* 1: return RGBA; 0: composite alpha over background */
    float background[3];   /* compositing background, RGB in [0,1] (default black) */
    int apply_exif_orientation; /* default 1 */
} sc_image_load_params;

sc_image_load_params sc_image_load_default_params(void);

/* Load from a path ("-" reads standard input). info may be NULL. Errors name
 * the file and the reason (truncated, corrupt, over the pixel limit, ...).
 * Paths must name regular files (or standard input, which may be a pipe):
 * devices, FIFOs and folders are refused (SC_ERR_IO). Before stb_image
 * decodes, each format's structure is checked and the declared size must be
 * in proportion to the file's bytes, so a refused file costs memory and time
 * in proportion to its size (see vision/image/image_check.c for the rules). */
sc_status sc_image_load(const char *path, const sc_image_load_params *p, sc_image *out,
                        sc_image_info *info);
sc_status sc_image_load_memory(const void *buf, size_t len, const sc_image_load_params *p,
                               sc_image *out, sc_image_info *info);
/* Header only: format, size, channels, depth, orientation; no decoding. */
sc_status sc_image_probe(const char *path, sc_image_info *info);
sc_status sc_image_probe_memory(const void *buf, size_t len, sc_image_info *info);

/* Allocate a zeroed image. */
sc_status sc_image_alloc(sc_image *img, int w, int h, int c);
sc_status sc_image_copy(const sc_image *src, sc_image *dst);
void sc_image_free(sc_image *img);

/* Resizing. */
typedef enum sc_resize_filter {
    SC_FILTER_DEFAULT = 0,   /* Mitchell down, Catmull-Rom up (stb's default) */
    SC_FILTER_BOX,
    SC_FILTER_TRIANGLE,      /* bilinear-like; with antialiasing when shrinking */
    SC_FILTER_CUBICBSPLINE,
    SC_FILTER_CATMULLROM,
    SC_FILTER_MITCHELL
} sc_resize_filter;
sc_status sc_image_resize(const sc_image *src, int w, int h, sc_resize_filter f, sc_image *dst);
/* Resize so the shorter side is `size`, keeping the aspect ratio. */
sc_status sc_image_resize_short(const sc_image *src, int size, sc_resize_filter f, sc_image *dst);
sc_status sc_image_center_crop(const sc_image *src, int w, int h, sc_image *dst);
/* Per-channel (x - mean[c]) / std[c], in place. */
sc_status sc_image_normalize(sc_image *img, const float *mean, const float *std);
extern const float SC_IMAGENET_MEAN[3];
extern const float SC_IMAGENET_STD[3];

/* Saving, atomically (temporary file + rename; nothing left on failure).
 * Values are clamped to [0,1] and rounded. c = 1, 3 or 4. */
sc_status sc_image_save_png(const sc_image *img, const char *path);
sc_status sc_image_save_png16(const sc_image *img, const char *path);
sc_status sc_image_save_jpeg(const sc_image *img, const char *path, int quality);
/* By extension: .png or .jpg/.jpeg. */
sc_status sc_image_save(const sc_image *img, const char *path);

#ifdef __cplusplus
}
#endif
#endif
