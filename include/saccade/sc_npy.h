/* saccade: NumPy .npy files (version 1.0/2.0, little-endian float32 / float64
 * / uint8 / int64 read as float32, C order), for exchanging maps and test
 * references with Python. */
#ifndef SACCADE_SC_NPY_H
#define SACCADE_SC_NPY_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_NPY_MAX_DIMS 8

typedef struct sc_npy {
    int ndim;
    int64_t shape[SC_NPY_MAX_DIMS];
    size_t count; /* product of shape */
    float *data;  /* converted to float32, owned (sc_free) */
} sc_npy;

sc_status sc_npy_read(const char *path, sc_npy *out);
sc_status sc_npy_read_memory(const void *buf, size_t len, sc_npy *out);
void sc_npy_free(sc_npy *a);
/* Write float32 C-order data atomically. */
sc_status sc_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif
#endif
