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
 * Gallery (sc_gallery_*): a static site for thousands of captioned images,
 * openable from disk (file://) with no network resource; see below. */
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
 * r->words). Hard attention (the ARGMAX and SAMPLE modes, hyps[0].cells set):
 * each panel shows the one-hot map of the cell the step read, labelled
 * "word [row,col]" with the cell's grid row and column. */
sc_status sc_caption_attention_grid(const sc_image *img, const sc_caption_result *r,
                                    const sc_attention_grid_params *p, sc_image *out);

/* ---------------------------------------------------------------- gallery */
/* A static gallery in DIR, sized for ten thousand images and more:
 *   index.html, page-2.html, ...  listing pages of page_size entries each
 *                       (thumbnail, caption, path, score; linked to the entry's
 *                       page), with first / previous / next / last links (also
 *                       on the arrow keys) and a search box
 *   items/<name>.html   one page per image: caption, score, path, the
 *                       thumbnail, and each word with its log-probability and
 *                       its attention map: a figure.panel-pixel canvas that
 *                       gallery.js draws from the word's grid x grid map held
 *                       in the page (min-max scaled to 8 bits, in hex) as
 *                       sc_attention_grid draws a panel (sc_attention_upsample,
 *                       min-max scaling, figure.colormap, blended with weight
 *                       figure.alpha over the thumbnail squashed to the panel;
 *                       <figure data-maps="drawn"> once every map is drawn);
 *                       previous / next links
 *   images/<name>.jpg   thumbnails (longer side at most thumb pixels)
 *   failed.html         inputs that failed, with their reasons (when any)
 *   search.js           the search index: name, caption and label per entry,
 *                       loaded only when a search starts (typing in the box or
 *                       opening a page with ?q=WORDS); every word must occur in
 *                       the caption or the label, case-insensitively
 *   gallery.css, gallery.js   shared style and script (with the colormap)
 *   .saccade-gallery    the marker (SC_GALLERY_MARKER) that tells image walks
 *                       (sc_gallery_is_dir) the folder holds generated files
 * Thumbnails load lazily (loading="lazy"), so a page costs its HTML plus the
 * thumbnails in view. Each page sets data-gallery="ok"|"broken" on <body> once
 * loaded (an image that failed to load is marked data-broken) and
 * data-load-ms (milliseconds from navigation to the load event), for tests and
 * a quick look in the inspector. Text is HTML-escaped and file names in links
 * percent-encoded. Every file is written atomically; pages that a later
 * sc_gallery_write would not change are not written again. With p.live, the
 * pages follow the images as they are added (after the first image, when a
 * listing page fills, and at most every 2 s): a run killed at any point leaves
 * a gallery of the images added so far whose pages parse and whose links all
 * resolve (earlier pages may show an older image count and last page until
 * sc_gallery_write). */
#define SC_GALLERY_MARKER ".saccade-gallery"

typedef struct sc_gallery_params {
    const char *title;               /* page title and heading ("saccade captions") */
    const char *subtitle;            /* a line under the heading, e.g. the model (NULL: none) */
    int thumb;                       /* thumbnail's longer side in pixels (160), 16..4096 */
    int page_size;                   /* entries per listing page (100), 1..100000 */
    int quality;                     /* JPEG quality of thumbnails (80), 1..100 */
    sc_attention_grid_params figure; /* the maps: panel (64), colormap, alpha;
                                        cols (10) and font_px are checked but
                                        unused (the browser lays the panels out
                                        and labels them) */
    int live;                        /* 1 (default): keep the pages up to date while
                                        images are added (sc_gallery_add), so a
                                        stopped run leaves a usable gallery, and
                                        let go of each image's maps once its page
                                        is final; 0: pages only from
                                        sc_gallery_write, maps kept until freed */
} sc_gallery_params;
sc_gallery_params sc_gallery_default_params(void);

/* One captioned image. */
typedef struct sc_gallery_item {
    const char *name;         /* file stem, unique within the gallery, 1..200 bytes, no
                                 '/', not starting with '.' */
    const char *label;        /* text shown for the entry, e.g. the input path (NULL: name) */
    const char *caption;      /* the caption as shown */
    const char *const *words; /* [n] the tokens, each with its map (NULL entries: "") */
    const float *logprobs;    /* [n] log-probability of each token, or NULL */
    int n;                    /* number of tokens, 0..10000 */
    double score;             /* the caption's score */
    const float *alphas;      /* [n, grid, grid] attention per token, or NULL: no figure */
    int grid;                 /* side of each map (1..4096) when alphas is given */
} sc_gallery_item;

typedef struct sc_gallery sc_gallery; /* opaque */

/* Create DIR (parents must exist) with its images/ and items/ folders and
 * the marker. p may be NULL (defaults).
 * Errors: SC_ERR_INVALID_ARG (NULL, bad params), SC_ERR_IO. */
sc_status sc_gallery_open(const char *dir, const sc_gallery_params *p, sc_gallery **out);
/* Add one image: makes its thumbnail and keeps it->alphas (when given) for
 * its page, 1 byte a cell (img is the image the caption was made from: 1, 3
 * or 4 channels; it is not kept). The thumbnail is encoded and written by
 * the gallery's own writer thread (at most 32 waiting), so the caller goes on
 * to its next image; every page that links a thumbnail is written after it is
 * on disk (sc_gallery_write, live writes, sc_gallery_export wait for the
 * writer).
 * Errors: SC_ERR_INVALID_ARG (bad item or name already used), SC_ERR_IO,
 * SC_ERR_NOMEM; nothing is added then. A thumbnail that could not be written
 * is reported by the next sc_gallery_add, sc_gallery_write, sc_gallery_close
 * or sc_gallery_export. */
sc_status sc_gallery_add(sc_gallery *g, const sc_image *img, const sc_gallery_item *it);
/* Record a failed input (listed on failed.html with its reason). A reason
 * that starts with "label: " (as messages naming the file do) is shown
 * without that repetition. */
sc_status sc_gallery_add_failure(sc_gallery *g, const char *label, const char *reason);
/* A gallery written by several processes into the same DIR (one slice of
 * the inputs each, e.g. MPI ranks): each writes its images through its own
 * sc_gallery, exports its entries (the records, not the files) with
 * sc_gallery_export (a malloc'ed string, *len bytes), and the process that
 * writes the pages imports every other's with sc_gallery_import, in input
 * order, then closes. The records carry the attention maps; a live gallery
 * lets go of them once pages are written, so export galleries opened with
 * live = 0 (SC_ERR_INVALID_ARG otherwise, once a map is gone).
 * SC_ERR_FORMAT for data sc_gallery_export did not make. */
sc_status sc_gallery_export(const sc_gallery *g, char **out, size_t *len);
sc_status sc_gallery_import(sc_gallery *g, const char *data, size_t len);
/* Put the images in the order of names[0..n) and the failures in the order
 * of labels[0..n) (e.g. the inputs' stems and paths, in input order; either
 * may be NULL), those not named after them in the order added; the next
 * sc_gallery_write rewrites every page. For entries imported from processes
 * that took their inputs in no fixed order (MPI ranks handed work as they
 * became free). SC_ERR_NOMEM leaves the order as it was. */
sc_status sc_gallery_order(sc_gallery *g, const char *const *names, const char *const *labels,
                           int n);
/* Write the pages, search index, style and script (may be called again after
 * more adds). Listing pages left from an earlier, longer gallery in DIR are
 * removed. */
sc_status sc_gallery_write(sc_gallery *g);
/* sc_gallery_write, then free (g may be NULL). Returns the status of the
 * write. */
sc_status sc_gallery_close(sc_gallery *g);
/* Free without writing. */
void sc_gallery_free(sc_gallery *g);
/* 1 if DIR holds SC_GALLERY_MARKER (a gallery's own files: image walks skip
 * it), else 0. */
int sc_gallery_is_dir(const char *dir);

#ifdef __cplusplus
}
#endif
#endif
