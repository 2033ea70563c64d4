/* saccade: training and evaluating VQA models (sc_vqa.h) on a question set:
 * scenes VQA generated on the fly, or a user's JSON-lines file. What `saccade
 * train vqa` and `saccade eval vqa` run, as library calls:
 *
 *   sc_vqa_dataset d;  sc_vqa_dataset_scenes(&d, SC_SCENES_TRAIN, 10000, seed);
 *   sc_vqa_train_params tp = sc_vqa_train_default_params();
 *   sc_train_params trp;  sc_vqa_train_recipe(&tp, n_questions, &trp);
 *   sc_trainer_create(&trp, n_questions, params..., &tr);
 *   while (sc_trainer_next(tr, &idx, &B) == 1) {
 *       sc_vqa_dataset_batch(&d, m, idx, B, images, ids, lens, targets, ...);
 *       sc_vqa_train_step(m, images, NULL, ids, lens, targets, NULL, B, 0, &ce, &sup);
 *       sc_trainer_step(tr, ce + sup, ...);
 *   }
 *   sc_vqa_evaluate(m, &test, 2000, &result);
 */
#ifndef SACCADE_SC_VQA_TRAIN_H
#define SACCADE_SC_VQA_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_datasets.h"
#include "saccade/sc_error.h"
#include "saccade/sc_train.h"
#include "saccade/sc_vqa.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ question sets */
/* Scenes (is_scenes = 1): a pool of generated scenes and questions drawn
 * from it by index (sc_vqa_scene_question with seed). File: questions with
 * their answers (lowercased) and the images, resized once. */
typedef struct sc_vqa_dataset {
    int is_scenes;
    /* scenes */
    sc_fashion_mnist fm; /* the split the pool's items come from */
    sc_vqa_scene_pool pool;
    uint64_t seed;
    /* file */
    int n;         /* questions in the file */
    int size;      /* image side (scenes: the pool's; file: the size asked for) */
    float *images; /* n_images x 3 x size x size, in [0, 1] */
    int n_images;
    int *image_of; /* question -> image */
    char **questions, **answers;
} sc_vqa_dataset;

/* Scenes: a pool of pool_n scenes of split (Fashion-MNIST from its default
 * folder), questions drawn with seed. */
sc_status sc_vqa_dataset_scenes(sc_vqa_dataset *d, sc_scene_split split, int pool_n, uint64_t seed);
/* JSON lines {"image": path, "question": text, "answer": text}; image paths
 * relative to the folder holding the file, not the working directory
 * (absolute ones as they are; path "-" reads standard input, whose relative
 * paths resolve against the working directory); images resized
 * to size x size (triangle filter; gray replicated). Errors name the file and
 * line. */
sc_status sc_vqa_dataset_jsonl(sc_vqa_dataset *d, const char *path, int size);
void sc_vqa_dataset_free(sc_vqa_dataset *d);
/* Hold out a fraction of a file's questions: round(fraction x n) of them (at
 * least 1 and at most n - 1 when fraction > 0), drawn with seed (sc_rng
 * shuffle, so the same seed holds out the same lines), move from d to
 * *held_out, which gets copies of the images they use; both keep the file's
 * order, and d keeps all its images. fraction in [0, 1); 0 holds out nothing
 * (held_out->n = 0). Held-out questions may share an image with training
 * ones. Build the vocabulary and answer set from d after splitting, so that
 * nothing of the held-out part is seen in training. */
sc_status sc_vqa_dataset_split(sc_vqa_dataset *d, double fraction, uint64_t seed,
                               sc_vqa_dataset *held_out);
/* Distinct images of the set (pool scenes or file images), and image i as
 * floats (3, size, size). */
int sc_vqa_dataset_n_images(const sc_vqa_dataset *d);
void sc_vqa_dataset_image(const sc_vqa_dataset *d, int i, float *out);
/* The file's distinct answers in order of first appearance (a model's answer
 * set). */
sc_status sc_vqa_dataset_answers(const sc_vqa_dataset *d, sc_vqa_vocab *out);

/* A batch for question indices idx[0..B): images (B, 3, S, S) (may be NULL
 * for qonly or cached features), ids (B, T), lens, targets (answer index in
 * the model, -1 if the answer is not in the model's set; may be NULL),
 * family (-1 for files; may be NULL), item box (x0, y0, x1, y1, or x0 = -1;
 * may be NULL) for the pointing game, image index (scene in the pool, or
 * image of the file; may be NULL), and attention targets att_mask (B, hops,
 * P bytes; may be NULL; scenes only, see sc_vqa_att_targets). An empty
 * question is read as one <unk>. SC_ERR_SHAPE when the model's input side is
 * not the set's. */
sc_status sc_vqa_dataset_batch(const sc_vqa_dataset *d, const sc_vqa_model *m, const int *idx,
                               int B, float *images, int32_t *ids, int *lens, int32_t *targets,
                               int *family, int (*box)[4], int *image_index, uint8_t *att_mask);
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
void sc_vqa_att_targets(const sc_scene_info *info, const sc_vqa_question *q, int K, int grid,
                        uint8_t *mask);

/* ------------------------------------------------------------ evaluation */
typedef struct sc_vqa_eval_result {
    int n, correct;
    int fam_n[SC_VQA_NUM_FAMILIES], fam_correct[SC_VQA_NUM_FAMILIES];
    int point_n, point_hit;   /* pointing game: argmax of the last hop in the item's box */
    int *ans_n, *ans_correct; /* per answer of the model's set, malloc'd */
    /* coatt, scenes relation questions ("is the A <rel> the B?"): per level
     * (word, phrase, question), how often its 3 most attended question words
     * hold the relation word (left, right, above, over, higher, below, under,
     * lower), both nouns, all three */
    int qrel_n, qrel_word[3], qrel_nouns[3], qrel_all[3];
} sc_vqa_eval_result;
/* Accuracy of m (eval mode, batches of 64) on questions [0, n) of a scenes
 * set or every question of a file (n ignored): overall, per family, per
 * answer, the pointing game (san and coatt: the last map, on questions about
 * one item) and coatt's question-word attention on relation questions. */
sc_status sc_vqa_evaluate(sc_vqa_model *m, const sc_vqa_dataset *d, int n, sc_vqa_eval_result *r);
void sc_vqa_eval_result_free(sc_vqa_eval_result *r);

/* ------------------------------------------------------------ training */
typedef struct sc_vqa_train_params {
    int epochs;    /* 10 */
    int batch;     /* 64 */
    float lr;      /* Adam, cosine schedule with warm-up (0.002) */
    uint64_t seed; /* batch order (0) */
    int max_steps; /* stop after this many steps (0: none); also shortens the schedule */
} sc_vqa_train_params;
sc_vqa_train_params sc_vqa_train_default_params(void);
/* The recipe of `saccade train vqa` as trainer parameters for `questions`
 * questions per epoch: Adam at lr, cosine decay over all steps (or
 * max_steps), a linear warm-up from 0.1 lr over min(200, steps / 4) steps,
 * gradient norm clipped to 5. Checkpoints, metrics and progress are left at
 * sc_train_default_params. */
sc_status sc_vqa_train_recipe(const sc_vqa_train_params *p, size_t questions, sc_train_params *out);
/* One training step's loss and gradients (accumulated; the trainer zeroes
 * them): forward in train mode from images (B, 3, S, S; NULL for qonly) or,
 * when feats is not NULL, from cached image features (B, P, C, see
 * sc_vqa_encode_images), cross-entropy against targets (*ce), plus, with
 * att_mask (B, hops, P bytes; san only) and att_sup > 0, att_sup x the mean
 * over supervised hops of -log(attention mass on the mask) (*sup, else 0). */
sc_status sc_vqa_train_step(sc_vqa_model *m, const float *images, const float *feats,
                            const int32_t *ids, const int *lens, const int32_t *targets,
                            const uint8_t *att_mask, int B, float att_sup, float *ce, double *sup);
/* Frozen encoder: the features of every image of d (n_images x P x C floats,
 * malloc'd into *out; free()), encoded in chunks of 256. */
sc_status sc_vqa_dataset_features(sc_vqa_model *m, const sc_vqa_dataset *d, float **out);

#ifdef __cplusplus
}
#endif
#endif
