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
/* out = img as 3-channel RGB (new image): RGB is copied, a gray plane is
 * repeated in all three channels, RGBA drops its alpha (no compositing). */
sc_status sc_image_to_rgb(const sc_image *img, sc_image *out);

/* A 2-D float map, row-major h x w (saliency, attention); data owned, freed
 * with sc_map_free. Sides up to 2^20, at most 2^31 values. */
typedef struct sc_map {
    int w, h;
    float *data; /* h * w floats */
} sc_map;
/* Allocate a zeroed map. */
sc_status sc_map_alloc(sc_map *m, int w, int h);
void sc_map_free(sc_map *m);

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
/* Pillow's Image.resize filters, numbered as PIL.Image.Resampling (and as
 * "resample" in Hugging Face preprocessor_config.json files). */
typedef enum sc_pil_filter {
    SC_PIL_LANCZOS = 1,
    SC_PIL_BILINEAR = 2,
    SC_PIL_BICUBIC = 3,
    SC_PIL_BOX = 4,
    SC_PIL_HAMMING = 5
} sc_pil_filter;
/* Bit-exact PIL.Image.resize((w, h), filter) (Pillow 9.x-11.x,
 * libImaging/Resample.c): the source is quantized to 8 bits (round(255 v),
 * clamped), resampled in two 8-bit fixed-point passes (horizontal first), and
 * returned as v / 255 for v = 0..255, correctly rounded (what transformers'
 * rescale(1/255) makes of Pillow's uint8 result). c = 1 is mode "L", 3 "RGB";
 * with alpha (c = 2 or 4) colours are premultiplied as Pillow's "La"/"RGBa"
 * modes do. Same size in and out is a (quantized) copy, as in Pillow. */
sc_status sc_image_resize_pil(const sc_image *src, int w, int h, sc_pil_filter filter,
                              sc_image *out);
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
/* The JPEG file's bytes in memory (*out: a new buffer, free() it); an alpha
 * channel is dropped as sc_image_save_jpeg drops it. Both encode with
 * sc_jpeg_encode: a 1-channel image makes a grayscale JPEG. */
sc_status sc_image_encode_jpeg(const sc_image *img, int quality, unsigned char **out,
                               size_t *out_len);
/* Baseline JPEG (JFIF) from 8-bit pixels: px holds h rows of w pixels, rows
 * `stride` bytes apart, each pixel c interleaved bytes: c = 1 gray (a
 * one-component JPEG), 3 RGB, 4 RGBA (alpha ignored). Colour is YCbCr,
 * 4:2:0 at quality <= 90 and 4:4:4 above; quality 1..100 scales the ITU T.81
 * Annex K quantisation tables as libjpeg does (50: the tables as printed),
 * and the Annex K Huffman tables are used. *out: a new buffer (free() it) of
 * *out_len bytes. Sides 1..65535. Errors: SC_ERR_INVALID_ARG, SC_ERR_NOMEM.
 * Every JPEG saccade writes comes from here. */
sc_status sc_jpeg_encode(const unsigned char *px, int w, int h, int c, size_t stride,
                         int quality, unsigned char **out, size_t *out_len);
/* By extension: .png or .jpg/.jpeg. */
sc_status sc_image_save(const sc_image *img, const char *path);

#ifdef __cplusplus
}
#endif
#endif
