/* saccade: colormaps, heatmap overlays, text labels, contact sheets. */
#ifndef SACCADE_SC_OVERLAY_H
#define SACCADE_SC_OVERLAY_H

#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_colormap {
    SC_CMAP_VIRIDIS = 0,
    SC_CMAP_INFERNO,
    SC_CMAP_MAGMA,
    SC_CMAP_JET,
    SC_CMAP_GRAY
} sc_colormap;

/* 256 RGB entries in [0,1] (as matplotlib's colormaps sampled at 256). */
const float (*sc_colormap_table(sc_colormap cm))[3];
/* Parse "viridis", "inferno", ... ; SC_ERR_INVALID_ARG names the choices. */
sc_status sc_colormap_from_name(const char *name, sc_colormap *out);
const char *sc_colormap_name(sc_colormap cm);

/* A 2-D float map, row-major h x w (saliency, attention). */
typedef struct sc_map {
    int w, h;
    float *data;
} sc_map;
sc_status sc_map_alloc(sc_map *m, int w, int h);
void sc_map_free(sc_map *m);

typedef enum sc_norm_mode {
    SC_NORM_MINMAX = 0, /* (v - min) / (max - min); a constant map becomes 0 */
    SC_NORM_FIXED       /* (v - lo) / (hi - lo), clamped */
} sc_norm_mode;

typedef struct sc_heatmap_params {
    sc_colormap colormap;  /* default viridis */
    sc_norm_mode norm;     /* default min-max */
    float lo, hi;          /* for SC_NORM_FIXED */
    float alpha;           /* blend weight of the heatmap, default 0.5 */
    float smooth_sigma;    /* Gaussian sigma in output pixels after upsampling; 0 = none */
} sc_heatmap_params;
sc_heatmap_params sc_heatmap_default_params(void);

/* Bilinear upsampling (align_corners=False, PyTorch's convention). */
sc_status sc_map_resize_bilinear(const sc_map *src, int w, int h, sc_map *dst);
/* Separable Gaussian blur, reflect-101 border, radius ceil(3 sigma). */
sc_status sc_map_gaussian_blur(sc_map *m, float sigma);
/* Map -> RGB image through a colormap with normalisation. */
sc_status sc_map_colorize(const sc_map *m, const sc_heatmap_params *p, sc_image *out);
/* Full pipeline: upsample map to the image size, smooth, colorize, blend
 * out = (1 - alpha) * image + alpha * heat. out is RGB. */
sc_status sc_overlay_heatmap(const sc_image *img, const sc_map *m, const sc_heatmap_params *p,
                             sc_image *out);

/* Text with stb_truetype. The font is loaded once (thread-safe) from the
 * shipped assets/fonts/DejaVuSans.ttf, or from SACCADE_FONT if set. */
sc_status sc_font_load(const char *ttf_path); /* optional override */
/* Draw UTF-8 text with its top-left at (x, y), pixel height px, colour rgb. */
sc_status sc_draw_text(sc_image *img, int x, int y, const char *text, float px, const float rgb[3]);
/* Width in pixels the text would take. */
int sc_text_width(const char *text, float px);
/* Filled rectangle and rectangle outline (clipped). */
void sc_draw_rect(sc_image *img, int x0, int y0, int x1, int y1, const float rgb[3], int filled,
                  int thickness);
void sc_draw_line(sc_image *img, float x0, float y0, float x1, float y1, const float rgb[3],
                  int thickness);

/* Contact sheet: N panels in a grid (cols columns, 0 = automatic), each
 * scaled to panel_w x panel_h (aspect kept, letterboxed) with its caption
 * written underneath. White background, dark text. */
typedef struct sc_sheet_params {
    int cols;
    int panel_w, panel_h;
    int margin;
    float font_px;
    float background[3];
    float text_rgb[3];
} sc_sheet_params;
sc_sheet_params sc_sheet_default_params(void);
sc_status sc_contact_sheet(const sc_image *panels, const char *const *captions, int n,
                           const sc_sheet_params *p, sc_image *out);

#ifdef __cplusplus
}
#endif
#endif
