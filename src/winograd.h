/* Internal (not installed): Winograd convolution for 3x3, stride 1, pad 1
 * (Lavin & Gray 2015), F(2x2, 3x3) and F(4x4, 3x3), inference only.
 *
 * The weights are transformed once: U, A*A planes of (OC, C) with A = m + 2
 * (16 planes for m = 2, 36 for m = 4; 16/9 resp. 4x the plain weights), each
 * plane packed by sc_gemm_pack (an opaque layout). A forward transforms each
 * input patch of A x A pixels into V (A*A, C, T) (T output tiles of m x m),
 * runs A*A products M[xi] (OC, T) = U[xi] (OC, C) @ V[xi] (C, T) through
 * sc_gemm_packed, and transforms M back into m x m output tiles,
 * fused with bias, an optional residual add and an optional ReLU.
 * F(4x4) uses the interpolation points 0, +-1, +-2 and infinity. Measured
 * float32 error against PyTorch's conv2d, as a fraction of max |output|: up
 * to 3e-6 for F(4x4), 4e-7 for F(2x2) (tests/parity/test_winograd.c). */
#ifndef SACCADE_SC_WINOGRAD_H
#define SACCADE_SC_WINOGRAD_H

#include <stddef.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Floats of the transformed weights U for tile size m (2 or 4); 0 if m is
 * not 2 or 4, a size is < 1, or the size overflows. */
size_t sc_winograd_weight_floats(int m, int C, int OC);

/* w (OC, C, 3, 3) -> U (A*A packed planes), U holding
 * sc_winograd_weight_floats. */
sc_status sc_winograd_weights(int m, const float *w, int C, int OC, float *U);

/* Floats of workspace sc_winograd_conv3x3 needs for one C x H x W image:
 * A*A*T*(C + OC), T = ceil(H/m) * ceil(W/m), plus one product buffer
 * (sc_gemm_packed_workspace_floats(T)) per thread of sc_get_num_threads()
 * now. 0 on bad arguments/overflow. A workspace with buffers for fewer
 * threads than are set at the call runs on fewer threads. */
size_t sc_winograd_workspace_floats(int m, int C, int OC, int H, int W);

/* out (N, OC, H, W) = relu?(conv3x3(x (N, C, H, W)) + bias + res?), stride 1,
 * pad 1. bias (OC) and res (N, OC, H, W) may be NULL; relu 0 or 1. ws holds
 * sc_winograd_workspace_floats(m, C, OC, H, W) floats (reused per image).
 * out must not alias x or res. Runs on sc_get_num_threads() threads: the
 * transforms split by channel, the A*A products by plane (each a
 * single-threaded sc_gemm_packed; OpenBLAS's own threads are off meanwhile),
 * so the result does not depend on the thread count. */
sc_status sc_winograd_conv3x3(int m, const float *U, const float *bias, const float *x, int N,
                              int C, int OC, int H, int W, const float *res, int relu, float *out,
                              float *ws, size_t ws_floats);

#ifdef __cplusplus
}
#endif
#endif
