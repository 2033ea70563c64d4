/* saccade: the attention figure of a VQA answer (stacked attention network,
 * co-attention).
 *
 * A contact sheet (sc_contact_sheet) of hops + 1 panels of panel x panel
 * pixels in one row: panel 0 is the image, captioned "Q: <question>"; panel
 * 1 + k is hop k's attention map (grid x grid) blended over the image by
 * sc_overlay_heatmap with its default parameters, captioned
 * "hop <k+1>: <answer> (<probability, 2 decimals>)". For a co-attention
 * answer (a->levels 3): panel 0 is captioned "Q: <question> A: <answer>
 * (<probability>)" and panel 1 + l shows level l's image attention, captioned
 * "<level>: <word>, <word>" with the two question words that level attended
 * to most. Captions wider than the panel are cut with an ellipsis. */
#ifndef SACCADE_SC_VQA_RENDER_H
#define SACCADE_SC_VQA_RENDER_H

#include "saccade/sc_error.h"
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_vqa.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_vqa_figure_params {
    int panel;     /* panel side in pixels (192) */
    float font_px; /* caption size (13) */
} sc_vqa_figure_params;
sc_vqa_figure_params sc_vqa_figure_default_params(void);

/* The figure for hops maps att (hops x grid x grid, row-major) over img (1,
 * 3 or 4 channels, any size), the question, the answer and its probability.
 * p may be NULL (defaults). out receives a new RGB image.
 * Errors: SC_ERR_INVALID_ARG (NULL image, att, question or answer; hops not
 * in [1, SC_VQA_MAX_HOPS]; grid not in [1, 1024]; panel not in [16, 2048];
 * font_px < 0 or not finite). */
sc_status sc_vqa_hop_figure(const sc_image *img, const float *att, int hops, int grid,
                            const char *question, const char *answer, float prob,
                            const sc_vqa_figure_params *p, sc_image *out);
/* The same for an answer of sc_vqa_ask (a->att, a->hops, a->grid, the best
 * answer's probability a->prob[0]); answer is its text (the model's answer
 * word for a->top[0]). A model without attention maps (a->hops == 0) is
 * SC_ERR_INVALID_ARG. */
sc_status sc_vqa_answer_figure(const sc_image *img, const sc_vqa_answer *a, const char *question,
                               const char *answer, const sc_vqa_figure_params *p, sc_image *out);

#ifdef __cplusplus
}
#endif
#endif
