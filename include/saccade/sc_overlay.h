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
/* Table index of a normalised value t: floor(t * 255 + 0.5) (round to
 * nearest, halves up) clamped to [0, 255]; NaN maps to 0 (the minimum). */
int sc_colormap_index(float t);
/* rgb = table(cm)[sc_colormap_index(t)]; an unknown cm gives black. */
void sc_colormap_lookup(sc_colormap cm, float t, float rgb[3]);

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
/* Notes: resizing propagates NaN like PyTorch; colorize computes
 * t = (v - lo) / (hi - lo) in float and takes sc_colormap_index(t), so NaN
 * (and -inf) get the lowest colour and +inf the highest; min-max uses the
 * finite values only and a constant map is all entry 0. A map already of the
 * image's size is used as is. The image may have 1 (replicated), 3 or 4
 * (alpha ignored) channels. out receives a new image and must not be img.
 * p may be NULL (defaults). Blur: sigma 0 does nothing, sigma <= 1000. */
sc_status sc_overlay_heatmap(const sc_image *img, const sc_map *m, const sc_heatmap_params *p,
                             sc_image *out);

/* Text with stb_truetype. The font is loaded once (thread-safe) from the
 * shipped assets/fonts/DejaVuSans.ttf, or from SACCADE_FONT if set. */
sc_status sc_font_load(const char *ttf_path); /* optional override */
/* sc_font_load(NULL) loads the default font now (if not yet loaded) and
 * returns whether a font is available. Fonts are trusted input (stb_truetype
 * does not validate them). A replaced font stays in memory (drawing on other
 * threads may still use it). Lookup order: sc_font_load(path), $SACCADE_FONT,
 * sc_find_asset("fonts/DejaVuSans.ttf"). Text is one line; UTF-8 with invalid
 * sequences drawn as U+FFFD; control characters are skipped; kerning applied;
 * pixels are blended with the glyph coverage (antialiased) and clipped to the
 * image. On 1-channel images the Rec. 601 luma of rgb is used; on RGBA the
 * alpha channel is blended towards 1. px must be in (0, 1000]. */
/* Draw UTF-8 text with its top-left at (x, y), pixel height px, colour rgb. */
sc_status sc_draw_text(sc_image *img, int x, int y, const char *text, float px, const float rgb[3]);
/* Width in pixels the text would take: from x to the right end of the ink
 * or of the last advance, whichever is further (drawing shifts the pen right
 * when a glyph's ink would start left of x). 0 for NULL or empty text, -1 if
 * px is invalid or no font can be loaded (sc_last_error says why). */
int sc_text_width(const char *text, float px);
/* Height of the text box, ceil(px) + 1 (0 if px is invalid). The baseline
 * is at y + round(ascent * scale). ASCII text stays inside
 * [x, x + sc_text_width) x [y, y + sc_text_height); accents on capitals and
 * some other glyphs of DejaVu Sans reach a few pixels above or below. */
int sc_text_height(float px);
/* Filled rectangle and rectangle outline (clipped). Corners are inclusive
 * pixel coordinates (swapped corners are fine); an outline's thickness
 * (<= 0 means 1) grows inwards. Lines: pixel centres are at integer
 * coordinates; every pixel whose centre is within thickness / 2 of the
 * segment is set (no antialiasing), clipped to the image. Colours as for
 * text; NULL or empty images and non-finite coordinates are ignored. */
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
/* Defaults: cols 0, 224 x 224 panels, margin 8, font_px 16, white
 * background, text (0.1, 0.1, 0.1). Output is RGB; gray panels are
 * replicated, an alpha channel is ignored. Panels are resized bilinearly
 * (PyTorch convention, no antialiasing). Captions (captions may be NULL, and
 * so may entries) are centred under the panel, or cut and ended with an
 * ellipsis (U+2026) when wider than panel_w. */
sc_sheet_params sc_sheet_default_params(void);
/* Geometry. cols = p->cols, or ceil(sqrt(n)) when 0, at most n;
 * rows = ceil(n / cols); caption_h = sc_text_height(font_px) + 4 when
 * captions are given and font_px > 0, else 0;
 * w = margin + cols * (panel_w + margin);
 * h = margin + rows * (panel_h + caption_h + margin).
 * Panel i's box has its top-left at
 * (margin + (i % cols) * (panel_w + margin), margin + (i / cols) * (panel_h + caption_h + margin));
 * the scaled image is centred in it and its caption's top is 2 pixels below it. */
typedef struct sc_sheet_layout {
    int cols, rows, caption_h, w, h;
} sc_sheet_layout;
sc_status sc_contact_sheet_layout(int n, const sc_sheet_params *p, int has_captions,
                                  sc_sheet_layout *out);
sc_status sc_contact_sheet_panel_origin(const sc_sheet_layout *L, const sc_sheet_params *p, int i,
                                        int *x, int *y);
sc_status sc_contact_sheet(const sc_image *panels, const char *const *captions, int n,
                           const sc_sheet_params *p, sc_image *out);

#ifdef __cplusplus
}
#endif
#endif
