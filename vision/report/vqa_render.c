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

sc_status sc_vqa_hop_figure(const sc_image *img, const float *att, int hops, int grid,
                            const char *question, const char *answer, float prob,
                            const sc_vqa_figure_params *p, sc_image *out) {
    sc_vqa_figure_params def = sc_vqa_figure_default_params();
    if (!p) p = &def;
    if (!img || !att || !question || !answer || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: NULL argument");
    if (hops < 1 || hops > SC_VQA_MAX_HOPS)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_hop_figure: hops %d not in [1, %d]", hops,
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
    char caps[SC_VQA_MAX_HOPS + 1][256]; /* longer captions are cut to the panel anyway */
    const char *cp[SC_VQA_MAX_HOPS + 1];
    memset(panels, 0, sizeof panels);
    sc_status s = sc_image_copy(img, &panels[0]);
    snprintf(caps[0], sizeof caps[0], "Q: %s", question);
    cp[0] = caps[0];
    for (int k = 0; k < hops && !s; k++) {
        sc_map mp = {0};
        if ((s = sc_map_alloc(&mp, grid, grid))) break;
        memcpy(mp.data, att + (size_t)k * P, sizeof(float) * P);
        sc_heatmap_params hp = sc_heatmap_default_params();
        s = sc_overlay_heatmap(img, &mp, &hp, &panels[k + 1]);
        sc_map_free(&mp);
        snprintf(caps[k + 1], sizeof caps[k + 1], "hop %d: %s (%.2f)", k + 1, answer, (double)prob);
        cp[k + 1] = caps[k + 1];
    }
    if (!s) {
        sc_sheet_params sp = sc_sheet_default_params();
        sp.cols = hops + 1;
        sp.panel_w = sp.panel_h = p->panel;
        sp.font_px = p->font_px;
        s = sc_contact_sheet(panels, cp, hops + 1, &sp, out);
    }
    for (int k = 0; k <= hops; k++) sc_image_free(&panels[k]);
    return s;
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
    return sc_vqa_hop_figure(img, a->att, a->hops, a->grid, question, answer, a->prob[0], p, out);
}
