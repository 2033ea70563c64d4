/* saccade: attention grid figures (see sc_caption_render.h); the gallery is
 * in gallery.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_caption_render.h"
#include "sc_internal.h"

/* ================================================================ grid */
sc_attention_grid_params sc_attention_grid_default_params(void) {
    sc_attention_grid_params p;
    p.panel = 224;
    p.cols = 8;
    p.colormap = SC_CMAP_GRAY;
    p.alpha = 0.8f;
    p.font_px = 16;
    return p;
}

sc_status sc_attention_upsample(const float *alpha, int grid, int w, int h, sc_map *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!alpha || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_attention_upsample: NULL argument");
    if (grid < 1 || grid > 4096 || w < 1 || h < 1)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_attention_upsample: grid %d (must be 1..4096), size %dx%d", grid, w,
                            h);
    sc_map src = {grid, grid, (float *)alpha};
    sc_status s = sc_map_resize_bilinear(&src, w, h, out);
    if (s) return s;
    /* pyramid_expand: sigma = upscale / 3, upscale = the cell size */
    double sigma = sqrt(((double)w / grid) * ((double)h / grid)) / 3.0;
    if (sigma > 1000.0) sigma = 1000.0;
    if ((s = sc_map_gaussian_blur(out, (float)sigma))) sc_map_free(out);
    return s;
}

sc_status sc_attention_grid(const sc_image *img, const float *alphas, int grid, int n,
                            const char *const *words, const sc_attention_grid_params *p,
                            sc_image *out) {
    const char *fn = "sc_attention_grid";
    sc_attention_grid_params def = sc_attention_grid_default_params();
    if (!p) p = &def;
    if (out) memset(out, 0, sizeof *out);
    if (!img || !img->data || !out || (n > 0 && !alphas))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: image must be non-empty with 1, 3 or 4 channels", fn);
    if (n < 0 || n > 10000)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %d tokens (must be 0..10000)", fn, n);
    if (grid < 1 || grid > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: grid %d (must be 1..4096)", fn, grid);
    if (p->panel < 16 || p->panel > 2048 || p->cols < 1 || !(p->alpha >= 0 && p->alpha <= 1) ||
        !(p->font_px >= 0 && p->font_px <= 200))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: bad params (panel %d in [16, 2048], cols %d >= 1, alpha %g in "
                            "[0, 1], font_px %g in [0, 200])",
                            fn, p->panel, p->cols, (double)p->alpha, (double)p->font_px);
    int S = p->panel, np = n + 1;
    sc_image base = {0}, rgb = {0};
    sc_image *panels = calloc((size_t)np, sizeof *panels);
    const char **caps = calloc((size_t)np, sizeof *caps);
    sc_status s = (!panels || !caps) ? sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn) : SC_OK;
    /* The panel image: squash to S x S (antialiased when shrinking), RGB. */
    const sc_image *src = img;
    if (!s && img->c != 3) {
        s = sc_image_to_rgb(img, &rgb);
        src = &rgb;
    }
    if (!s) s = sc_image_resize(src, S, S, SC_FILTER_TRIANGLE, &base);
    if (!s) {
        panels[0] = base;
        caps[0] = "<start>";
    }
    sc_heatmap_params hp = sc_heatmap_default_params();
    hp.colormap = p->colormap;
    hp.norm = SC_NORM_MINMAX;
    hp.alpha = p->alpha;
    hp.smooth_sigma = 0.0f; /* sc_attention_upsample smooths */
    size_t P = (size_t)grid * grid;
    /* The word panels are independent: shared among the threads (a caption's
     * dozen 64-pixel panels are each too small to split); the first failure's
     * message is kept. */
    sc_status ps = SC_OK;
    char msg[512] = "";
    if (!s) {
#pragma omp parallel for schedule(dynamic) if (n >= 4)
        for (int t = 0; t < n; t++) {
            sc_map m = {0};
            sc_status st = sc_attention_upsample(alphas + (size_t)t * P, grid, S, S, &m);
            if (!st) st = sc_overlay_heatmap(&base, &m, &hp, &panels[1 + t]);
            sc_map_free(&m);
            caps[1 + t] = words ? words[t] : NULL;
            if (st) {
#pragma omp critical(sc_attention_grid_error)
                if (!ps) {
                    ps = st;
                    snprintf(msg, sizeof msg, "%s", sc_last_error());
                }
            }
        }
        if (ps) s = sc_set_error(ps, "%s", msg);
    }
    if (!s) {
        sc_sheet_params sp = sc_sheet_default_params();
        sp.cols = np < p->cols ? np : p->cols;
        sp.panel_w = sp.panel_h = S;
        sp.font_px = p->font_px;
        s = sc_contact_sheet(panels, caps, np, &sp, out);
    }
    if (panels)
        for (int i = 1; i < np; i++) sc_image_free(&panels[i]);
    free(panels);
    free(caps);
    sc_image_free(&base);
    sc_image_free(&rgb);
    return s;
}

sc_status sc_caption_attention_grid(const sc_image *img, const sc_caption_result *r,
                                    const sc_attention_grid_params *p, sc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!r || r->n_hyps < 1 || !r->hyps)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_caption_attention_grid: empty caption result");
    const sc_caption_hyp *h = &r->hyps[0];
    if (!h->cells || h->len < 1)
        return sc_attention_grid(img, h->alphas, r->grid, h->len, r->words, p, out);
    /* hard attention: each map is the cell read, the label names it [row,col] */
    char **labels = calloc((size_t)h->len, sizeof *labels);
    sc_status st =
        labels ? SC_OK : sc_set_error(SC_ERR_NOMEM, "sc_caption_attention_grid: no memory");
    for (int t = 0; !st && t < h->len; t++) {
        const char *w = r->words && r->words[t] ? r->words[t] : "";
        size_t n = strlen(w) + 32;
        if (!(labels[t] = malloc(n)))
            st = sc_set_error(SC_ERR_NOMEM, "sc_caption_attention_grid: no memory");
        else if (h->cells[t] >= 0)
            snprintf(labels[t], n, "%s [%d,%d]", w, h->cells[t] / r->grid, h->cells[t] % r->grid);
        else
            snprintf(labels[t], n, "%s", w);
    }
    if (!st)
        st =
            sc_attention_grid(img, h->alphas, r->grid, h->len, (const char *const *)labels, p, out);
    for (int t = 0; labels && t < h->len; t++) free(labels[t]);
    free(labels);
    return st;
}
