/* Shared pieces of `saccade train vqa`, `eval vqa` and `vqa`. */
#ifndef SACCADE_VQA_CLI_H
#define SACCADE_VQA_CLI_H

#include "cli.h"
#include "saccade/sc_vqa.h"

/* A question set: generated scenes VQA, or a user JSON-lines file. */
typedef struct vqa_data {
    int is_scenes;
    /* scenes */
    sc_fashion_mnist fm;
    sc_vqa_scene_pool pool;
    uint64_t seed;
    /* file */
    int n;         /* questions in the file */
    int size;      /* image side the images were resized to */
    float *images; /* n_images x 3 x size x size */
    int n_images;
    int *image_of; /* question -> image */
    char **questions, **answers;
} vqa_data;

/* Scenes: pool of `pool_n` scenes of split. */
int vqa_data_scenes(vqa_data *d, sc_scene_split split, int pool_n, uint64_t seed);
/* JSON lines {"image", "question", "answer"}; image paths relative to the file's folder. */
int vqa_data_jsonl(vqa_data *d, const char *path, int size);
void vqa_data_free(vqa_data *d);

/* Fill a batch for question indices idx[0..B): images (B,3,S,S) (may be NULL
 * for qonly or cached features), ids (B,T), lens, targets (answer index in the
 * model, -1 if the answer is not in the model's set), family (-1 for files),
 * item box (x0..y1 or -1) for the pointing game, image index (scene in the
 * pool, or image of the file; may be NULL), and attention targets att_mask
 * (B, hops, P bytes; may be NULL; scenes only, see vqa_att_targets). Returns 0
 * or CLI_FAIL. */
int vqa_batch(const vqa_data *d, const sc_vqa_model *m, const int *idx, int B, float *images,
              int32_t *ids, int *lens, int32_t *targets, int *family, int (*box)[4],
              int *image_index, uint8_t *att_mask);
/* Attention targets of one scenes question for K hops over a grid x grid map
 * (mask: K x grid^2 bytes, zeroed here; an all-zero hop is unsupervised): the
 * first hop on the first item the question names (else the item it is about),
 * the last hop on the item it is about (the pointing-game item: the answer of
 * a class query, the named item of a colour query, the unique match of an
 * existence query), else on the second named item (comparison). A relation
 * question "is A <rel> B?" is read as a class query: first hop on B, last hop
 * on the items in relation <rel> to B (A when the answer is yes; none: no
 * target). Counting questions and existence questions without a unique match
 * get none. */
void vqa_att_targets(const sc_scene_info *info, const sc_vqa_question *q, int K, int grid,
                     uint8_t *mask);
/* Number of distinct images of the data (pool scenes or file images), and
 * image i as floats (3, size, size). */
int vqa_data_n_images(const vqa_data *d);
void vqa_data_image(const vqa_data *d, int i, float *out);

typedef struct vqa_eval_result {
    int n, correct;
    int fam_n[SC_VQA_NUM_FAMILIES], fam_correct[SC_VQA_NUM_FAMILIES];
    int point_n, point_hit;
    int *ans_n, *ans_correct; /* per answer (model's set), malloc'd */
} vqa_eval_result;
/* Evaluate questions [0, n) (scenes) or the whole file. */
int vqa_evaluate(sc_vqa_model *m, const vqa_data *d, int n, vqa_eval_result *r);
void vqa_eval_result_free(vqa_eval_result *r);

#endif
