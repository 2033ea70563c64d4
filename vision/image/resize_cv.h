/* Internal (not installed): OpenCV-compatible resizing of single-channel planes.
 *
 * These reproduce cv::resize (OpenCV 4.x, no IPP) so that pipelines ported
 * from OpenCV sample exactly the same source pixels:
 *  - linear: INTER_LINEAR with half-pixel centres, source coordinate
 *    (d + 0.5) * (src / dst) - 0.5 clamped at the borders. 8-bit data use
 *    OpenCV's 11-bit fixed-point coefficients and its SIMD rounding; float
 *    data are plain bilinear in float. As in OpenCV, an exact 2x shrink in
 *    both directions is done as a 2x2 average (INTER_AREA's fast path).
 *  - area: INTER_AREA for shrinking (pixel-area overlap weights).
 * Planes are row-major, tightly packed (stride = width). */
#ifndef SACCADE_SC_RESIZE_CV_H
#define SACCADE_SC_RESIZE_CV_H

#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR), CV_8U. */
sc_status sc_resize_cv_linear_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh);
/* cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR), CV_32F. */
sc_status sc_resize_cv_linear_f32(const float *src, int sw, int sh, float *dst, int dw, int dh);
/* cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA), CV_32F; shrinking
 * only (dw <= sw and dh <= sh), otherwise SC_ERR_UNSUPPORTED. */
sc_status sc_resize_cv_area_f32(const float *src, int sw, int sh, float *dst, int dw, int dh);

#ifdef __cplusplus
}
#endif
#endif
