/* The attention figure of a VQA answer: the image and one heatmap per hop
 * (sc_vqa_render.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "saccade/sc_vqa_render.h"

sc_vqa_figure_params sc_vqa_figure_default_params(void) {
    sc_vqa_figure_params p = {.panel = 192, .font_px = 13.0f};
    return p;
}

/* Validates, then the sheet: img captioned cap0, then n maps (grid x grid)
 * over it captioned caps[k]. */
static sc_status att_figure(const sc_image *img, const float *att, int n, int grid,
                            const char *cap0, char caps[][256], const sc_vqa_figure_params *p,
                            sc_image *out) {
    if (n < 1 || n > SC_VQA_MAX_HOPS)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: hops %d not in [1, %d]", n,
                            SC_VQA_MAX_HOPS);
    if (grid < 1 || grid > 1024)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: grid %d not in [1, 1024]",
                            grid);
    if (p->panel < 16 || p->panel > 2048 || !isfinite(p->font_px) || p->font_px < 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_vqa_hop_figure: panel %d not in [16, 2048] or bad font_px",
                            p->panel);
    const size_t P = (size_t)grid * grid;
    sc_image panels[SC_VQA_MAX_HOPS + 1];
    const char *cp[SC_VQA_MAX_HOPS + 1];
    memset(panels, 0, sizeof panels);
    sc_status s = sc_image_copy(img, &panels[0]);
    cp[0] = cap0;
    for (int k = 0; k < n && !s; k++) {
        sc_map mp = {0};
        if ((s = sc_map_alloc(&mp, grid, grid))) break;
        memcpy(mp.data, att + (size_t)k * P, sizeof(float) * P);
        sc_heatmap_params hp = sc_heatmap_default_params();
        s = sc_overlay_heatmap(img, &mp, &hp, &panels[k + 1]);
        sc_map_free(&mp);
        cp[k + 1] = caps[k];
    }
    if (!s) {
        sc_sheet_params sp = sc_sheet_default_params();
        sp.cols = n + 1;
        sp.panel_w = sp.panel_h = p->panel;
        sp.font_px = p->font_px;
        s = sc_contact_sheet(panels, cp, n + 1, &sp, out);
    }
    for (int k = 0; k <= n; k++) sc_image_free(&panels[k]);
    return s;
}

sc_status sc_vqa_hop_figure(const sc_image *img, const float *att, int hops, int grid,
                            const char *question, const char *answer, float prob,
                            const sc_vqa_figure_params *p, sc_image *out) {
    sc_vqa_figure_params def = sc_vqa_figure_default_params();
    if (!p) p = &def;
    if (!img || !att || !question || !answer || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: NULL argument");
    char cap0[256], caps[SC_VQA_MAX_HOPS][256]; /* longer captions are cut to the panel anyway */
    snprintf(cap0, sizeof cap0, "Q: %s", question);
    for (int k = 0; k < hops && k < SC_VQA_MAX_HOPS; k++)
        snprintf(caps[k], sizeof caps[k], "hop %d: %s (%.2f)", k + 1, answer, (double)prob);
    return att_figure(img, att, hops, grid, cap0, caps, p, out);
}

/* coatt: panel l is level l's image attention, captioned with the level and
 * its two most attended question words; the first panel has the answer. */
static sc_status coatt_figure(const sc_image *img, const sc_vqa_answer *a, const char *question,
                              const char *answer, const sc_vqa_figure_params *p, sc_image *out) {
    sc_vqa_tokens tok;
    sc_status s = sc_vqa_tokenize(question, &tok);
    if (s) return s;
    int n = a->n_tokens < tok.n ? a->n_tokens : tok.n;
    char cap0[256], caps[SC_VQA_MAX_HOPS][256];
    snprintf(cap0, sizeof cap0, "Q: %s A: %s (%.2f)", question, answer, (double)a->prob[0]);
    for (int l = 0; l < a->levels && l < a->hops; l++) {
        const float *w = a->qatt + (size_t)l * a->n_tokens;
        int b1 = -1, b2 = -1;
        for (int t = 0; t < n; t++)
            if (b1 < 0 || w[t] > w[b1])
                b2 = b1, b1 = t;
            else if (b2 < 0 || w[t] > w[b2])
                b2 = t;
        snprintf(caps[l], sizeof caps[l], "%s: %s%s%s", sc_vqa_level_name(l),
                 b1 >= 0 ? tok.words[b1] : "", b2 >= 0 ? ", " : "", b2 >= 0 ? tok.words[b2] : "");
    }
    sc_vqa_figure_params def = sc_vqa_figure_default_params();
    return att_figure(img, a->att, a->hops, a->grid, cap0, caps, p ? p : &def, out);
}

sc_status sc_vqa_answer_figure(const sc_image *img, const sc_vqa_answer *a, const char *question,
                               const char *answer, const sc_vqa_figure_params *p, sc_image *out) {
    if (!a) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_answer_figure: NULL answer");
    if (a->hops < 1)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "this answer has no attention maps (the model has no hops)");
    if ((size_t)a->hops * a->grid * a->grid > sizeof a->att / sizeof a->att[0])
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_answer_figure: %d hops of %dx%d do not fit",
                            a->hops, a->grid, a->grid);
    if (a->levels > 0) {
        if (!img || !question || !answer || !out)
            return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: NULL argument");
        return coatt_figure(img, a, question, answer, p, out);
    }
    return sc_vqa_hop_figure(img, a->att, a->hops, a->grid, question, answer, a->prob[0], p, out);
}
