/* Helpers for foreign-function bindings: struct layouts and freeing strings. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "python/pyapi.h"
#include "saccade/sc_blip_caption.h"
#include "saccade/sc_blip_itm.h"
#include "saccade/sc_blip_vqa.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_captioner_eval.h"
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_saliency.h"
#include "saccade/sc_saliency_model.h"
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
    SC_F(sc_beam_params, attention_mode),
    SC_F(sc_beam_params, seed),
    SC_T(sc_caption_hyp),
    SC_F(sc_caption_hyp, tokens),
    SC_F(sc_caption_hyp, logprobs),
    SC_F(sc_caption_hyp, alphas),
    SC_F(sc_caption_hyp, cells),
    SC_F(sc_caption_hyp, score),
    SC_F(sc_caption_hyp, norm_score),
    SC_F(sc_caption_hyp, finished),
    SC_T(sc_blip_generate_params),
    SC_F(sc_blip_generate_params, max_new_tokens),
    SC_F(sc_blip_generate_params, min_length),
    SC_F(sc_blip_generate_params, num_beams),
    SC_F(sc_blip_generate_params, length_penalty),
    SC_F(sc_blip_generate_params, early_stopping),
    SC_F(sc_blip_generate_params, do_sample),
    SC_F(sc_blip_generate_params, top_k),
    SC_F(sc_blip_generate_params, top_p),
    SC_F(sc_blip_generate_params, temperature),
    SC_F(sc_blip_generate_params, seed),
    SC_F(sc_blip_generate_params, attention_layer),
    SC_F(sc_blip_generate_params, head_mask),
    SC_F(sc_blip_generate_params, keep_all_attention),
    SC_F(sc_blip_generate_params, gradcam),
    SC_T(sc_blip_caption),
    SC_F(sc_blip_caption, ids),
    SC_F(sc_blip_caption, n),
    SC_F(sc_blip_caption, ended),
    SC_F(sc_blip_caption, logprobs),
    SC_F(sc_blip_caption, end_logprob),
    SC_F(sc_blip_caption, score),
    SC_F(sc_blip_caption, grid),
    SC_F(sc_blip_caption, attention),
    SC_F(sc_blip_caption, class_attention),
    SC_F(sc_blip_caption, attention_all),
    SC_F(sc_blip_caption, gradcam),
    SC_T(sc_blip_result),
    SC_F(sc_blip_result, caption),
    SC_F(sc_blip_result, text),
    SC_F(sc_blip_result, pieces),
    SC_F(sc_blip_result, prompt_ids),
    SC_F(sc_blip_result, n_prompt),
    SC_F(sc_blip_result, n_words),
    SC_F(sc_blip_result, words),
    SC_F(sc_blip_result, word_start),
    SC_F(sc_blip_result, word_attention),
    SC_F(sc_blip_result, word_logprobs),
    SC_T(sc_blip_answer),
    SC_F(sc_blip_answer, text),
    SC_F(sc_blip_answer, ids),
    SC_F(sc_blip_answer, n),
    SC_F(sc_blip_answer, ended),
    SC_F(sc_blip_answer, logprob),
    SC_F(sc_blip_answer, score),
    SC_F(sc_blip_answer, words),
    SC_F(sc_blip_answer, question_ids),
    SC_F(sc_blip_answer, nq),
    SC_F(sc_blip_answer, question_words),
    SC_F(sc_blip_answer, grid),
    SC_F(sc_blip_answer, answer_attention),
    SC_F(sc_blip_answer, question_attention),
    SC_F(sc_blip_answer, question_class_attention),
    SC_F(sc_blip_answer, answer_maps),
    SC_T(sc_blip_match),
    SC_F(sc_blip_match, itm_logits),
    SC_F(sc_blip_match, probability),
    SC_F(sc_blip_match, cosine),
    SC_F(sc_blip_match, ids),
    SC_F(sc_blip_match, n),
    SC_F(sc_blip_match, words),
    SC_F(sc_blip_match, grid),
    SC_F(sc_blip_match, layer),
    SC_F(sc_blip_match, gradcam),
    SC_F(sc_blip_match, phrase),
    SC_T(sc_caption_result),
    SC_F(sc_caption_result, hyps),
    SC_F(sc_caption_result, words),
    SC_F(sc_caption_result, text),
    SC_F(sc_caption_result, grid),
    SC_T(sc_captioner_eval_params),
    SC_F(sc_captioner_eval_params, n),
    SC_F(sc_captioner_eval_params, beam_size),
    SC_F(sc_captioner_eval_params, max_len),
    SC_F(sc_captioner_eval_params, folder),
    SC_F(sc_captioner_eval_params, scenes),
    SC_F(sc_captioner_eval_params, fmnist_dir),
    SC_F(sc_captioner_eval_params, scene_seed),
    SC_F(sc_captioner_eval_params, on_caption),
    SC_F(sc_captioner_eval_params, user),
    SC_F(sc_captioner_eval_params, attention_mode),
    SC_F(sc_captioner_eval_params, att_seed),
    SC_T(sc_capscenes_counts),
    SC_F(sc_capscenes_counts, point_colour_hit),
    SC_T(sc_captioner_eval_result),
    SC_F(sc_captioner_eval_result, bleu),
    SC_F(sc_captioner_eval_result, cider_d),
    SC_F(sc_captioner_eval_result, pointing_game_colour_step),
    SC_F(sc_captioner_eval_result, counts),
    SC_F(sc_captioner_eval_result, seconds),
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
    SC_F(sc_vqa_answer, levels),
    SC_F(sc_vqa_answer, qatt),
    SC_T(sc_vqa_figure_params),
    SC_F(sc_vqa_figure_params, panel),
    SC_F(sc_vqa_figure_params, font_px),
    SC_T(sc_vqa_vocab),
    SC_F(sc_vqa_vocab, words),
    SC_T(sc_class_score),
    SC_F(sc_class_score, index),
    SC_F(sc_class_score, prob),
    SC_F(sc_class_score, logit),
    SC_F(sc_class_score, name),
    SC_T(sc_imagenet_geometry),
    SC_F(sc_imagenet_geometry, resized_w),
    SC_F(sc_imagenet_geometry, crop),
    SC_T(sc_cam_model_info),
    SC_F(sc_cam_model_info, arch),
    SC_F(sc_cam_model_info, in_channels),
    SC_F(sc_cam_model_info, num_classes),
    SC_F(sc_cam_model_info, tokens),
    SC_F(sc_cam_model_info, default_layer),
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

sc_status sc_pyapi_cam(sc_saliency_model *m, const sc_image *img, const char *method,
                       const char *target, const char *layer, int aug_smooth, int eigen_smooth,
                       int batch, int samples, int steps, unsigned long long seed,
                       float discard_ratio, sc_map *out, int *target_out, double *score, char *name,
                       size_t cap) {
    if (!m || !img || !method || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_pyapi_cam: NULL argument");
    sc_saliency_method sm;
    sc_status s = sc_saliency_method_from_name(method, &sm);
    if (s) return s;
    const sc_saliency_method_info *r = sc_saliency_method_info_of(sm);
    if (!r->needs_model)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s is a bottom-up method (saccade.saliency); cam takes a model method",
                            method);
    sc_model_saliency_params p = sc_model_saliency_default_params();
    p.layer = layer;
    p.cam.aug_smooth = aug_smooth;
    p.cam.eigen_smooth = eigen_smooth;
    if (batch > 0) p.cam.batch = batch;
    if (samples > 0) p.cam.samples = samples;
    if (steps > 0) p.cam.steps = steps;
    p.cam.seed = seed;
    p.discard_ratio = discard_ratio;
    if (target && (s = sc_saliency_model_class(m, target, &p.target))) return s;
    sc_model_saliency_info info;
    if ((s = sc_saliency_model_compute(m, (sc_model_saliency_method)r->model_method, img, &p, out,
                                       &info)))
        return s;
    if (target_out) *target_out = info.target;
    if (score) *score = info.score;
    if (name && cap) snprintf(name, cap, "%s", info.caption);
    return SC_OK;
}
