/* The JPEG encoder's entry for planar pixels (vision/image/jpeg_enc.c). */
#ifndef SACCADE_JPEG_ENC_H
#define SACCADE_JPEG_ENC_H

#include <stddef.h>
#include "saccade/sc_error.h"

/* sc_jpeg_encode for c planes of w x h bytes, one after the other (channel
 * k of pixel (x, y) at px[(k * h + y) * w + x], an sc_image's layout). */
sc_status sc_jpeg_encode_planes(const unsigned char *px, int w, int h, int c, int quality,
                                unsigned char **out, size_t *out_len);

#endif
