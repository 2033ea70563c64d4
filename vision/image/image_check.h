/* Internal: verify a buffer holds all the data stb_image will read, in a
 * structure stb handles safely, at a cost proportional to its size. */
#ifndef SACCADE_IMAGE_CHECK_H
#define SACCADE_IMAGE_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_image.h"
/* pnm_maxval receives the PNM maximum sample value (0 for other formats):
 * stb_image 2.27 neither rescales PNM samples by it nor byte-swaps 16-bit ones. */
sc_status sc_image_check_complete(const unsigned char *b, size_t n, const sc_image_info *info,
                                  uint32_t *pnm_maxval);
/* Run before any stb call on the data (stb's header parsers already read
 * what they check). JPEG: the whole structure (tables, components, scans and
 * the work they cost); PSD: the channel count. */
sc_status sc_image_check_jpeg(const unsigned char *b, size_t n);
sc_status sc_image_check_pnm_header(const unsigned char *b, size_t n);
sc_status sc_image_check_psd_header(const unsigned char *b, size_t n);
/* stb_image's reason for a failed decode of a file of this format (the
 * format's name as sc_image_info gives it), or NULL when stb left none of the
 * file's own: an empty reason, or another format's signature test failing. */
const char *sc_image_stb_reason(const char *format, const char *why);
/* Number of times stb_image has been asked to decode pixels in this process:
 * tests use it to show that a hostile file is refused before decoding. */
unsigned long long sc_image_decode_count(void);
#endif
