/* Internal helpers shared by the saliency sources. */
#ifndef SACCADE_SALIENCY_INTERNAL_H
#define SACCADE_SALIENCY_INTERNAL_H

#include <stdint.h>
#include <fftw3.h>
#include "saccade/sc_image.h"

sc_status sc_sal_fft2d(fftwf_complex *buf, int w, int h, int sign);
sc_status sc_sal_check_image(const char *fn, const sc_image *img, const sc_map *out);
/* Index i mirrored into 0..n-1 without repeating the edge (OpenCV's
 * BORDER_REFLECT_101: ... 2 1 | 0 1 2 ... n-1 | n-2 ...). */
static inline int refl101(int i, int n) {
    if (n == 1) return 0;
    int period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}
/* Row y as 8-bit gray: OpenCV's BGR2GRAY of the 8-bit quantised image. */
void sc_sal_gray_row_u8(const sc_image *im, int y, uint8_t *dst);
/* An image as a classifier's input (C, H, W), malloc'd (sc_free): resized
 * with the triangle filter, gray for 1-channel models (as 'saccade saliency'). */
sc_status sc_sal_classifier_input(const sc_image *img, int C, int H, int W, float **out);

#endif
