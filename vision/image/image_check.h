/* Internal: verify a buffer holds all the data stb_image will read. */
#ifndef SACCADE_IMAGE_CHECK_H
#define SACCADE_IMAGE_CHECK_H
#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_image.h"
/* pnm_maxval receives the PNM maximum sample value (0 for other formats):
 * stb_image 2.27 neither rescales PNM samples by it nor byte-swaps 16-bit ones. */
sc_status sc_image_check_complete(const unsigned char *b, size_t n, const sc_image_info *info,
                                  uint32_t *pnm_maxval);
/* JPEG Huffman tables: run before any stb call on JPEG data (stb's header
 * parser already builds them). */
sc_status sc_image_check_jpeg(const unsigned char *b, size_t n);
sc_status sc_image_check_pnm_header(const unsigned char *b, size_t n);
#endif
