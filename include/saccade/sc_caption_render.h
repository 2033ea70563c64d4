/* saccade: pictures of captions: the attention grid figure of Show, Attend
 * and Tell, and a static HTML gallery of captioned images.
 *
 * Attention grid (sc_attention_grid): panels of panel x panel pixels, labelled
 * underneath, laid out by sc_contact_sheet:
 *   panel 0       the image squash-resized to the panel (as the tutorial's
 *                 visualize_att resizes it to a square), labelled "<start>"
 *                 and drawn without attention (the tutorial's t = 0)
 *   panel 1 + t   token t's attention map over the same image, labelled with
 *                 the token's word; every generated token has a panel,
 *                 "<end>" included (where the model looked when it stopped)
 * Each map (grid x grid) is upsampled bilinearly to the panel and smoothed
 * with a Gaussian of sigma = (panel / grid) / 3 pixels: the tutorial's
 * skimage.transform.pyramid_expand(alpha, upscale=24, sigma=8) has
 * sigma = upscale / 3, here scaled to the panel's cell size. The map is
 * min-max normalised and blended over the image through a colormap; the
 * default (gray, alpha 0.8) is the tutorial's plt.imshow(alpha, alpha=0.8)
 * with the Greys_r colormap: attended regions light up, the rest darkens.
 * Panels run left to right in rows of at most `cols` panels.
 *
 * Gallery (sc_gallery_*): DIR/index.html, DIR/images/<name>.jpg (thumbnails)
 * and DIR/attention/<name>.png (grids). The page is self-contained: inline
 * CSS, relative links only, no network resource; one inline script marks
 * images that failed to load with a data-broken attribute and sets
 * data-gallery="ok"|"broken" on <body> once the page has loaded (for tests
 * and for a quick look in the inspector). Text is HTML-escaped and file
 * names in links percent-encoded. Every file is written atomically; the
 * index is written by sc_gallery_close. */
#ifndef SACCADE_SC_CAPTION_RENDER_H
#define SACCADE_SC_CAPTION_RENDER_H

#include "saccade/sc_captioner.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_attention_grid_params {
    int panel;            /* panel side in pixels (224) */
    int cols;             /* at most this many panels per row (8) */
    sc_colormap colormap; /* SC_CMAP_GRAY (the tutorial's Greys_r) */
    float alpha;          /* weight of the coloured map in the blend (0.8) */
    float font_px;        /* label size (16) */
} sc_attention_grid_params;
sc_attention_grid_params sc_attention_grid_default_params(void);

/* One attention map (grid x grid, row-major) as a w x h map: bilinear
 * upsampling (align_corners = 0) and a Gaussian of sigma = a third of a grid
 * cell, sqrt((w / grid) * (h / grid)) / 3 pixels (the tutorial's
 * pyramid_expand: sigma = upscale / 3). Values are not normalised. This is
 * the map every attention panel of sc_attention_grid shows, and the
 * attention saliency of sc_saliency_model.h. out receives a new map.
 * Errors: SC_ERR_INVALID_ARG (NULL, grid not in [1, 4096], w or h < 1). */
sc_status sc_attention_upsample(const float *alpha, int grid, int w, int h, sc_map *out);

/* The figure for n tokens: alphas is n x grid x grid (row-major, one map per
 * token), words[t] labels token t (NULL entries are drawn unlabelled). The
 * image may have 1, 3 or 4 channels. Output width: margin + cols' * (panel +
 * margin) with cols' = min(n + 1, cols) and margin 8 (sc_contact_sheet's
 * layout, sc_sheet_default_params otherwise). p may be NULL (defaults).
 * Errors: SC_ERR_INVALID_ARG (NULL, n < 0, n > 10000, grid < 1, panel not in
 * [16, 2048], cols < 1, alpha not in [0, 1]). */
sc_status sc_attention_grid(const sc_image *img, const float *alphas, int grid, int n,
                            const char *const *words, const sc_attention_grid_params *p,
                            sc_image *out);
/* The same for the best hypothesis of a caption result (r->hyps[0], labels
 * r->words). */
sc_status sc_caption_attention_grid(const sc_image *img, const sc_caption_result *r,
                                    const sc_attention_grid_params *p, sc_image *out);

/* ---------------------------------------------------------------- gallery */
typedef struct sc_gallery_params {
    const char *title;    /* page title and heading ("saccade captions") */
    const char *subtitle; /* a line under the heading, e.g. the model (NULL: none) */
    int thumb;            /* thumbnail's longer side in pixels (320) */
} sc_gallery_params;
sc_gallery_params sc_gallery_default_params(void);

typedef struct sc_gallery sc_gallery; /* opaque */

/* Create DIR (and its images/ and attention/ folders; parents must exist).
 * p may be NULL (defaults). */
sc_status sc_gallery_open(const char *dir, const sc_gallery_params *p, sc_gallery **out);
/* Add one entry: writes images/<name>.jpg (img scaled down to the thumbnail
 * size) and, when attention_grid is non-NULL, attention/<name>.png.
 * name: a file stem, unique within the gallery, 1..200 bytes, no '/', no NUL,
 * not starting with '.'; label: the text shown for the entry (e.g. the input
 * path); words/logprobs: the n tokens (each word shown with its
 * log-probability as a tooltip; logprobs may be NULL), caption: the text
 * shown as the caption; score: the total log-probability. */
sc_status sc_gallery_add(sc_gallery *g, const char *name, const char *label, const sc_image *img,
                         const char *caption, const char *const *words, const float *logprobs,
                         int n, double score, const sc_image *attention_grid);
/* Record a failed input (listed at the end of the page with its reason). */
sc_status sc_gallery_add_failure(sc_gallery *g, const char *label, const char *reason);
/* A gallery written by several processes into the same DIR (one slice of
 * the inputs each, e.g. MPI ranks): each writes its images through its own
 * sc_gallery, exports its entries (the records, not the files) with
 * sc_gallery_export (a malloc'ed string, *len bytes), and the process that
 * writes the index imports every other's with sc_gallery_import, in input
 * order, then closes. SC_ERR_FORMAT for data sc_gallery_export did not make. */
sc_status sc_gallery_export(const sc_gallery *g, char **out, size_t *len);
sc_status sc_gallery_import(sc_gallery *g, const char *data, size_t len);
/* Write DIR/index.html atomically (may be called again after more adds). */
sc_status sc_gallery_write_index(sc_gallery *g);
/* sc_gallery_write_index, then free (g may be NULL). Returns the status of
 * the write. */
sc_status sc_gallery_close(sc_gallery *g);
/* Free without writing the index. */
void sc_gallery_free(sc_gallery *g);

#ifdef __cplusplus
}
#endif
#endif
