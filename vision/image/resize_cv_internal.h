/* Internal: OpenCV-compatible resizing with a pixel callback, so that callers
 * can convert (e.g. RGB float -> 8-bit gray) only the pixels the resize reads. */
#ifndef SACCADE_RESIZE_CV_INTERNAL_H
#define SACCADE_RESIZE_CV_INTERNAL_H

#include <stdint.h>
#include "saccade/sc_error.h"

typedef int (*sc_cv_fetch_u8_fn)(const void *ctx, int x, int y);

/* As sc_resize_cv_linear_u8, reading source pixel (x, y) as fetch(ctx, x, y)
 * (a value in 0..255). Only about 4 * dw * dh pixels are fetched. */
sc_status sc_resize_cv_linear_u8_fetch(sc_cv_fetch_u8_fn fetch, const void *ctx, int sw, int sh,
                                       uint8_t *dst, int dw, int dh);

#endif
