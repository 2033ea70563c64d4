/* Helpers for foreign-function bindings: struct layouts and freeing strings. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "python/pyapi.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_saliency.h"
#include "saccade/sc_vqa.h"
#include "saccade/sc_vqa_render.h"

int sc_pyapi_version(void) {
    return SC_PYAPI_VERSION;
}

void sc_pyapi_free_string(char *s) {
    free(s);
}

#define SC_F(T, f)                                                                                 \
    { #T, #f, offsetof(T, f) }
#define SC_T(T)                                                                                    \
    { #T, NULL, sizeof(T) }
static const struct {
    const char *type, *field;
    size_t value;
} sc_layouts[] = {
    SC_T(sc_image),
    SC_F(sc_image, w),
    SC_F(sc_image, h),
    SC_F(sc_image, c),
    SC_F(sc_image, data),
    SC_T(sc_image_info),
    SC_F(sc_image_info, w),
    SC_F(sc_image_info, orientation),
    SC_T(sc_image_load_params),
    SC_F(sc_image_load_params, max_file_bytes),
    SC_F(sc_image_load_params, keep_alpha),
    SC_F(sc_image_load_params, background),
    SC_F(sc_image_load_params, apply_exif_orientation),
    SC_T(sc_map),
    SC_F(sc_map, data),
    SC_T(sc_heatmap_params),
    SC_F(sc_heatmap_params, lo),
    SC_F(sc_heatmap_params, alpha),
    SC_F(sc_heatmap_params, smooth_sigma),
    SC_T(sc_saliency_params),
    SC_F(sc_saliency_params, sigma),
    SC_F(sc_saliency_params, full_size),
    SC_T(sc_vocab),
    SC_F(sc_vocab, words),
    SC_F(sc_vocab, pad),
    SC_F(sc_vocab, end),
    SC_F(sc_vocab, sorted),
    SC_T(sc_captioner_config),
    SC_T(sc_beam_params),
    SC_F(sc_beam_params, length_penalty),
    SC_T(sc_caption_hyp),
    SC_F(sc_caption_hyp, tokens),
    SC_F(sc_caption_hyp, logprobs),
    SC_F(sc_caption_hyp, alphas),
    SC_F(sc_caption_hyp, score),
    SC_F(sc_caption_hyp, norm_score),
    SC_F(sc_caption_hyp, finished),
    SC_T(sc_caption_result),
    SC_F(sc_caption_result, hyps),
    SC_F(sc_caption_result, words),
    SC_F(sc_caption_result, text),
    SC_F(sc_caption_result, grid),
    SC_T(sc_st_tensor_info),
    SC_F(sc_st_tensor_info, dtype_id),
    SC_F(sc_st_tensor_info, ndim),
    SC_F(sc_st_tensor_info, shape),
    SC_F(sc_st_tensor_info, numel),
    SC_F(sc_st_tensor_info, nbytes),
    SC_F(sc_st_tensor_info, data),
    SC_T(sc_vqa_answer),
    SC_F(sc_vqa_answer, top),
    SC_F(sc_vqa_answer, prob),
    SC_F(sc_vqa_answer, n_tokens),
    SC_F(sc_vqa_answer, truncated),
    SC_F(sc_vqa_answer, unknown),
    SC_F(sc_vqa_answer, hops),
    SC_F(sc_vqa_answer, grid),
    SC_F(sc_vqa_answer, att),
    SC_T(sc_vqa_figure_params),
    SC_F(sc_vqa_figure_params, panel),
    SC_F(sc_vqa_figure_params, font_px),
    SC_T(sc_vqa_vocab),
    SC_F(sc_vqa_vocab, words),
};
#undef SC_F
#undef SC_T

sc_status sc_pyapi_layout(const char *type, const char *field, size_t *out) {
    if (!type || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_pyapi_layout: NULL argument");
    for (size_t i = 0; i < sizeof sc_layouts / sizeof sc_layouts[0]; i++) {
        if (strcmp(sc_layouts[i].type, type) != 0) continue;
        if ((field == NULL) != (sc_layouts[i].field == NULL)) continue;
        if (field && strcmp(sc_layouts[i].field, field) != 0) continue;
        *out = sc_layouts[i].value;
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG, "sc_pyapi_layout: unknown %s%s%.64s", type,
                        field ? "." : "", field ? field : "");
}
