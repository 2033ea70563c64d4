/* Captioner evaluation on Fashion scenes (shared by `saccade train captioner`
 * for its held-out check and `saccade eval captioner`). */
#ifndef SACCADE_CLI_CAPTIONER_EVAL_H
#define SACCADE_CLI_CAPTIONER_EVAL_H

#include <stdio.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_captioner_scenes.h"
#include "saccade/sc_scenes.h"

/* Where the evaluation scenes come from: generated (params + split, indices
 * 0..n-1) or a folder written by `saccade data scenes` (annotations.jsonl). */
typedef struct cap_eval_source {
    const sc_scenes_params *scenes; /* generated when non-NULL */
    sc_scene_split split;
    const char *dir; /* else: folder with annotations.jsonl */
} cap_eval_source;

typedef struct cap_eval_result {
    size_t n;
    double bleu[4], cider_d;
    sc_capscenes_counts c;
    double seconds;
} cap_eval_result;

/* Caption n scenes with beam search (beam k) and score them. samples: when
 * non-NULL, the first nsamples "generated | canonical" lines go there. */
int cap_eval_run(sc_captioner *m, const cap_eval_source *src, size_t n, int beam,
                 cap_eval_result *out, FILE *samples, int nsamples);

/* Normalise a scene image (3 x S x S, values in [0, 1]) with ImageNet
 * mean/std into out (what sc_captioner_preprocess gives at image_size = S). */
void cap_normalise(const float *img, int S, float *out);

#endif
