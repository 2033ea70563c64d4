/* saccade: evaluation of a captioner on Fashion scenes (sc_scenes.h): caption
 * n held-out scenes with beam search, then BLEU-1..4 and CIDEr-D
 * (sc_caption_metrics.h, all references) and the scene-aware scores of
 * sc_captioner_scenes.h (exact match, item count, colour / class / relation
 * accuracy, pointing game). What `saccade eval captioner` reports and
 * `saccade train captioner` checks after each epoch.
 *
 *   sc_captioner_eval_params p = sc_captioner_eval_default_params();
 *   p.n = 200;
 *   sc_captioner_eval_result r;
 *   if (sc_captioner_evaluate(model, &p, &r) == SC_OK) printf("%f\n", r.bleu[3]); */
#ifndef SACCADE_SC_CAPTIONER_EVAL_H
#define SACCADE_SC_CAPTIONER_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_captioner_scenes.h"
#include "saccade/sc_scenes.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_captioner_eval_params {
    size_t n;           /* scenes (1000); from a folder: at most as many as it holds */
    int beam_size;      /* beam search width (3; 1 = greedy) */
    int max_len;        /* decode steps, <end> included (30) */
    const char *folder; /* NULL: generated test scenes, indices 0..n-1; else a folder
                         * written by `saccade data scenes` (annotations.jsonl, images) */
    /* Generated scenes: these generator params (their test set), or when NULL
     * sc_scenes_default_params() with seed scene_seed over the Fashion-MNIST test
     * split read from fmnist_dir (NULL: $SACCADE_FASHION_MNIST_DIR or the default). */
    const sc_scenes_params *scenes;
    const char *fmnist_dir;
    uint64_t scene_seed; /* (0) */
    /* Called after each scene is captioned, in order (NULL: not called), e.g. to
     * print samples; caption is the generated text. */
    void (*on_caption)(void *user, size_t index, const char *caption, const sc_scene_info *scene);
    void *user;
    /* What each word reads (sc_beam_params.attention_mode; DEFAULT: argmax for
     * hard-attention models, the expectation for soft ones). The pointing game
     * scores the maps the hypotheses carry: in the argmax and sample modes the
     * cell each word read. SAMPLE draws scene i's cells with seed att_seed + i. */
    sc_cap_att_mode attention_mode;
    uint64_t att_seed;
} sc_captioner_eval_params;

sc_captioner_eval_params sc_captioner_eval_default_params(void);

typedef struct sc_captioner_eval_result {
    size_t n;                         /* scenes captioned */
    double bleu[4];                   /* BLEU-1..4, corpus level */
    double cider_d;                   /* CIDEr-D */
    double exact_match;               /* counts.exact / counts.scenes (0 when no scene) */
    double count_accuracy;            /* count_ok / scenes */
    double colour_accuracy;           /* colour_ok / slots */
    double class_accuracy;            /* class_ok / slots */
    double relation_accuracy;         /* rel_ok / rel_scenes */
    double pointing_game;             /* point_hit / point_total */
    double pointing_game_colour_step; /* point_colour_hit / point_total */
    sc_capscenes_counts counts;       /* the raw counts */
    double seconds;                   /* wall time */
} sc_captioner_eval_result;

/* Evaluate m (an image encoder is needed: SC_ERR_UNSUPPORTED for a features
 * model) as described above; params NULL = defaults. Errors name the file or
 * the line of annotations.jsonl at fault. */
sc_status sc_captioner_evaluate(sc_captioner *m, const sc_captioner_eval_params *params,
                                sc_captioner_eval_result *out);

#ifdef __cplusplus
}
#endif
#endif
