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

void sc_fashion_mnist_free(sc_fashion_mnist *d);

/* "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
 * "Sneaker", "Bag", "Ankle boot"; NULL outside 0..9. */
const char *sc_fashion_mnist_class_name(int label);

#ifdef __cplusplus
}
#endif
#endif
