/* saccade: datasets. Fashion-MNIST from gzipped IDX files, as shipped by
 * Debian's dataset-fashion-mnist package
 * (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz). */
#ifndef SACCADE_SC_DATASETS_H
#define SACCADE_SC_DATASETS_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_FASHION_MNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define SC_FASHION_MNIST_ENV "SACCADE_FASHION_MNIST_DIR"
#define SC_FASHION_MNIST_CLASSES 10
#define SC_FASHION_MNIST_SIDE 28
/* Headers claiming more items than this are refused (SC_ERR_LIMIT). */
#define SC_FASHION_MNIST_MAX_ITEMS 10000000

typedef struct sc_fashion_mnist {
    size_t n;        /* number of examples */
    int rows, cols;  /* 28 x 28 */
    uint8_t *images; /* n x rows x cols, row-major, 0 = background (owned) */
    uint8_t *labels; /* n labels in 0..9 (owned) */
} sc_fashion_mnist;

/* Load split "train" (60000 examples) or "test" (10000; files "t10k-*").
 * data_dir: folder holding the four .gz files; NULL or "" means
 * $SACCADE_FASHION_MNIST_DIR if set and non-empty, else
 * SC_FASHION_MNIST_DEFAULT_DIR. Errors name the offending file. */
sc_status sc_fashion_mnist_load(const char *split, const char *data_dir, sc_fashion_mnist *out);

/* Load an explicit pair of gzipped IDX files. Checks: gzip stream, magic
 * 0x00000803 / 0x00000801, 28x28 images, counts <= SC_FASHION_MNIST_MAX_ITEMS
 * and equal in both files, data length exactly matching the header
 * (truncated or trailing data is SC_ERR_FORMAT), labels in 0..9. */
sc_status sc_fashion_mnist_load_files(const char *images_gz, const char *labels_gz,
                                      sc_fashion_mnist *out);

/* sc_fashion_mnist_load on every rank of c (sc_comm.h), reading the files
 * once: rank 0 loads and broadcasts, so N ranks decompress the split once,
 * not N times. Collective. When rank 0 fails, every rank fails (rank 0 with
 * its own message, the others saying rank 0 could not load the split); a
 * rank out of memory returns SC_ERR_NOMEM at once and must end the job
 * (sc_comm_abort). One process (c NULL or of size 1): sc_fashion_mnist_load. */
struct sc_comm;
sc_status sc_fashion_mnist_load_shared(struct sc_comm *c, const char *split, const char *data_dir,
                                       sc_fashion_mnist *out);

void sc_fashion_mnist_free(sc_fashion_mnist *d);

/* "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
 * "Sneaker", "Bag", "Ankle boot"; NULL outside 0..9. */
const char *sc_fashion_mnist_class_name(int label);

/* ---- Distorted Fashion-MNIST (vision/data/fashion_distort.c) -------------------
 * Scenes generated on the fly from (seed, index), so any example can be
 * reproduced without storing it. Example i of a split uses item i mod n of
 * the source set given (pass the train split for training scenes and the test
 * split for test scenes: a scene only ever contains pixels of its own source
 * set, clutter included). Indices >= n give fresh distortions of the same
 * items (epoch e of training uses indices e*n .. e*n + n-1).
 *
 *   RTS        42x42 canvas; the item is rotated by U(-45, 45) degrees, scaled
 *              by U(0.7, 1.2) and placed at a random position such that the
 *              scaled, unrotated 28s x 28s box lies inside the canvas (the
 *              rotation can push the box's empty corners out, the garment
 *              itself stays inside or almost inside).
 *   CLUTTERED  60x60 canvas; the upright 28x28 item at a random integer
 *              position fully inside, plus U{4..8} fragments: 6x6 crops at
 *              random positions of OTHER random items of the same source set,
 *              each at a random canvas position (pixel-wise max). The STN
 *              paper's translated-cluttered MNIST uses 6x6 crops of other
 *              digits as clutter; its 60x60 benchmark (after Mnih et al.'s
 *              RAM) uses 4 distractor pieces; we draw 4 to 8.
 * Pixels are floats in [0, 1] (0 = background), bilinear resampling for RTS.
 *
 * theta_true (optional, 6 floats) receives the affine map, in
 * affine_grid / grid_sample coordinates (align_corners = 0), from a 28x28
 * glimpse to the canvas that recovers the upright item: sampling the canvas
 * with it gives the item back (up to interpolation and clutter). */
typedef enum sc_distortion { SC_DISTORT_RTS = 0, SC_DISTORT_CLUTTERED = 1 } sc_distortion;

typedef struct sc_distort_params {
    sc_distortion kind;
    int canvas;                       /* side: 42 (RTS) / 60 (cluttered); >= 28 */
    float max_rotation_deg;           /* RTS: 45 */
    float min_scale, max_scale;       /* RTS: 0.7, 1.2 */
    int min_fragments, max_fragments; /* cluttered: 4, 8 */
    int fragment_size;                /* cluttered: 6 */
} sc_distort_params;

/* The defaults above for a kind. */
sc_distort_params sc_distort_default_params(sc_distortion kind);
/* "rts" / "cluttered" -> kind (SC_ERR_INVALID_ARG otherwise). */
sc_status sc_distortion_from_name(const char *name, sc_distortion *out);
const char *sc_distortion_name(sc_distortion kind);
/* Checks every field (canvas 28..1024, 28 * max_scale <= canvas, ...). */
sc_status sc_distort_params_validate(const sc_distort_params *p);

/* Example `index` of the scenes built from src: writes canvas*canvas floats
 * into out, the item's label into *label (may be NULL) and theta_true (may
 * be NULL). Deterministic in (p, src, seed, index); thread-safe. */
sc_status sc_distort_example(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                             uint64_t index, float *out, int *label, float *theta_true);
/* n consecutive examples index0 .. index0 + n - 1 into out (n x canvas^2),
 * labels (n, may be NULL); OpenMP over examples, same result for any thread
 * count. */
sc_status sc_distort_batch(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                           uint64_t index0, size_t n, float *out, int32_t *labels);
/* Same for an explicit list of indices (a shuffled training batch). */
sc_status sc_distort_gather(const sc_distort_params *p, const sc_fashion_mnist *src, uint64_t seed,
                            const uint64_t *indices, size_t n, float *out, int32_t *labels);

#ifdef __cplusplus
}
#endif
#endif
