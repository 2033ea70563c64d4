/* saccade: safetensors files (https://github.com/huggingface/safetensors).
 *
 * Layout: 8-byte little-endian u64 N, N bytes of UTF-8 JSON header (may be
 * padded with trailing spaces), then the data buffer. The header maps each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data buffer) plus an optional "__metadata__" object whose
 * values are all strings. The tensors must cover the data buffer exactly:
 * sorted by offset they are contiguous, with no gap, overlap or trailing byte.
 *
 * Reading validates all of that (and more: header size <= 100 MB, UTF-8,
 * duplicate names, shape overflow, byte size = numel * dtype size), failing
 * with SC_ERR_FORMAT and a message naming the file, the tensor and the
 * problem. Files are memory-mapped (read-only, private), not copied; F32 data
 * that is 4-byte aligned in the mapping is returned as a direct pointer
 * (zero copy). F16, BF16, F64 and misaligned F32 are converted to float32 on
 * first access, once per tensor, into a buffer owned by the context.
 *
 * Thread safety: a context may be read from several threads at once (the
 * lazy conversion is serialized by a mutex inside the context); freeing it
 * must not race with any other use.
 *
 * Iteration order is the order of the tensors in the JSON header.
 * Deviation from the reference (Rust) reader, all on the strict side or
 * harmless: duplicate tensor names and duplicate metadata keys are rejected
 * (serde silently keeps the last), and JSON numbers in shapes/offsets are
 * accepted if integral and <= 2^53 even when spelled "2.0" or "2e0". */
#ifndef SACCADE_SC_SAFETENSORS_H
#define SACCADE_SC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header size limit of the format (the reference implementation's). */
#define SC_ST_MAX_HEADER ((uint64_t)100000000)

typedef enum sc_st_dtype {
    SC_ST_F64,
    SC_ST_F32,
    SC_ST_F16,
    SC_ST_BF16,
    SC_ST_I64,
    SC_ST_I32,
    SC_ST_I16,
    SC_ST_I8,
    SC_ST_U64,
    SC_ST_U32,
    SC_ST_U16,
    SC_ST_U8,
    SC_ST_BOOL,
    SC_ST_F8_E4M3,
    SC_ST_F8_E5M2,
    SC_ST_DTYPE_COUNT
} sc_st_dtype;

/* "F32", "BF16", ... (NULL for an out-of-range value). */
const char *sc_st_dtype_name(sc_st_dtype d);
/* Bytes per element (0 for an out-of-range value). */
size_t sc_st_dtype_size(sc_st_dtype d);

/* ---- Reading -------------------------------------------------------------- */

typedef struct sc_safetensors sc_safetensors;

typedef struct sc_st_tensor_info {
    const char *name;  /* owned by the context */
    const char *dtype; /* "F32", ... */
    sc_st_dtype dtype_id;
    int ndim;             /* 0 for a scalar */
    const int64_t *shape; /* ndim entries, owned by the context */
    size_t numel;         /* product of shape (1 for a scalar) */
    size_t nbytes;        /* numel * dtype size */
    const void *data;     /* raw little-endian bytes inside the file mapping */
} sc_st_tensor_info;

/* Map and validate a file. On failure *out is NULL. */
sc_status sc_safetensors_open(const char *path, sc_safetensors **out);
/* Validate a buffer in memory. The buffer is NOT copied: it must stay valid
 * and unchanged until sc_safetensors_free. `name` (may be NULL) is used in
 * error messages in place of a file name. */
sc_status sc_safetensors_open_memory(const void *buf, size_t len, const char *name,
                                     sc_safetensors **out);
void sc_safetensors_free(sc_safetensors *st);

/* The file name given at open ("<memory>" for an unnamed buffer). */
const char *sc_safetensors_name(const sc_safetensors *st);
size_t sc_safetensors_count(const sc_safetensors *st);
/* Tensor `index` (header order), 0 <= index < count. */
sc_status sc_safetensors_info(const sc_safetensors *st, size_t index, sc_st_tensor_info *out);
/* Index of a tensor by name, or -1 (no error is recorded) when absent. */
long sc_safetensors_find(const sc_safetensors *st, const char *name);
/* Info by name; SC_ERR_FORMAT "<file>: no tensor named X" when absent. */
sc_status sc_safetensors_lookup(const sc_safetensors *st, const char *name, sc_st_tensor_info *out);

/* Float32 view of tensor `name`. expected_ndim < 0 skips the shape check;
 * otherwise the tensor must have that many dimensions and, when
 * expected_shape is not NULL, those sizes (an entry of -1 matches any size).
 * Mismatches give SC_ERR_SHAPE, e.g. "model.safetensors: tensor w has shape
 * [2048, 512], expected [2048, 1024]"; a missing tensor SC_ERR_FORMAT; an
 * integer/bool/F8 dtype SC_ERR_UNSUPPORTED. *data stays valid until
 * sc_safetensors_free and must not be written through. */
sc_status sc_safetensors_get_f32(sc_safetensors *st, const char *name, int expected_ndim,
                                 const int64_t *expected_shape, const float **data);
/* The same by index, without a shape check. */
sc_status sc_safetensors_get_f32_at(sc_safetensors *st, size_t index, const float **data);

/* Drop the pages of [data, data + nbytes), a tensor's bytes inside a mapped
 * file, from the process's memory once they have been copied or repacked:
 * a later read maps them back from the file, so pointers stay valid and see
 * the same bytes. No effect on memory buffers (sc_safetensors_open_memory),
 * converted copies or any pointer outside the mapping. */
void sc_safetensors_release(const sc_safetensors *st, const void *data, size_t nbytes);

/* Metadata ("__metadata__"), in header order. Returns NULL when absent. */
const char *sc_safetensors_metadata(const sc_safetensors *st, const char *key);
size_t sc_safetensors_metadata_count(const sc_safetensors *st);
sc_status sc_safetensors_metadata_at(const sc_safetensors *st, size_t index, const char **key,
                                     const char **value);

/* ---- Writing -------------------------------------------------------------- */

/* Collects tensors (borrowed data pointers, which must stay valid until
 * sc_st_writer_write returns) and metadata (copied), then writes the file
 * atomically, streaming tensor data. The header lists tensors and metadata
 * in insertion order ("__metadata__" first) and is padded with spaces so the
 * data buffer starts 8-byte aligned; data is laid out by decreasing element
 * size so every tensor is aligned to its element size. */
typedef struct sc_st_writer sc_st_writer;

sc_st_writer *sc_st_writer_new(void);
void sc_st_writer_free(sc_st_writer *w);
/* Add float32 data stored as F32, F16 or BF16 (conversions round to nearest
 * even; NaN stays NaN, overflow gives infinity). Names must be non-empty
 * UTF-8, not "__metadata__", and unique (SC_ERR_INVALID_ARG otherwise). */
sc_status sc_st_writer_add_f32(sc_st_writer *w, const char *name, const float *data, int ndim,
                               const int64_t *shape, sc_st_dtype store_as);
/* Add raw little-endian bytes of any dtype (numel * dtype size bytes). */
sc_status sc_st_writer_add_raw(sc_st_writer *w, const char *name, sc_st_dtype dtype,
                               const void *data, int ndim, const int64_t *shape);
/* Set a metadata entry (UTF-8 key and value; a repeated key replaces the
 * value in place). */
sc_status sc_st_writer_set_metadata(sc_st_writer *w, const char *key, const char *value);
/* Write everything to path atomically. The writer can be written again. */
sc_status sc_st_writer_write(sc_st_writer *w, const char *path);

/* Scalar conversions used by reader and writer (exposed for tests). */
float sc_f16_to_f32(uint16_t h);
float sc_bf16_to_f32(uint16_t h);
uint16_t sc_f32_to_f16(float f);
uint16_t sc_f32_to_bf16(float f);

#ifdef __cplusplus
}
#endif
#endif
