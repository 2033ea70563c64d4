/* saccade: reading and writing raw 2-D maps (saliency, attention, fixations)
 * at full precision, for exchange with Python and benchmark tools. */
#ifndef SACCADE_SC_MAPS_IO_H
#define SACCADE_SC_MAPS_IO_H

#include "saccade/sc_error.h"
#include "saccade/sc_image.h" /* sc_map */

#ifdef __cplusplus
extern "C" {
#endif

/* float32 .npy of shape (h, w), C order, written atomically; values as they
 * are (no normalisation). np.load(path) gives the map. */
sc_status sc_map_save_npy(const sc_map *m, const char *path);
/* 16-bit grayscale PNG, written atomically: round(clamp(v, 0, 1) * 65535)
 * (NaN is written as 0). Values are not renormalised: a map already in
 * [0, 1] is stored exactly to 1/65535. */
sc_status sc_map_save_png16(const sc_map *m, const char *path);
/* By extension (case-insensitive): .npy -> sc_map_save_npy, .png ->
 * sc_map_save_png16; anything else is SC_ERR_INVALID_ARG. */
sc_status sc_map_save(const sc_map *m, const char *path);

/* Read a map: .npy (float32/float64/uint8/int64, 2-D or 3-D with a leading or
 * trailing dimension of 1; values as stored), or any image sc_image_load
 * reads (8-bit / 255, 16-bit / 65535; colour images give the mean of R, G, B;
 * alpha is ignored). Sides up to 65536. out->data is freed with sc_map_free.
 * Errors name the file. */
sc_status sc_map_load(const char *path, sc_map *out);

#ifdef __cplusplus
}
#endif
#endif
