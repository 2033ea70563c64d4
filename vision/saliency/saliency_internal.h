/* Internal helpers shared by the saliency sources. */
#ifndef SACCADE_SALIENCY_INTERNAL_H
#define SACCADE_SALIENCY_INTERNAL_H

#include <stdint.h>
#include <fftw3.h>
#include "saccade/sc_image.h"
#include "saccade/sc_overlay.h"

sc_status sc_sal_fft2d(fftwf_complex *buf, int w, int h, int sign);
sc_status sc_sal_check_image(const char *fn, const sc_image *img, const sc_map *out);
sc_status sc_sal_map_alloc(sc_map *m, int w, int h);
/* Row y as 8-bit gray: OpenCV's BGR2GRAY of the 8-bit quantised image. */
void sc_sal_gray_row_u8(const sc_image *im, int y, uint8_t *dst);

#endif
