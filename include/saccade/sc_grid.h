/* saccade: spatial-transformer sampling (affine_grid and 2-D grid_sample)
 * with exactly the semantics of torch.nn.functional.affine_grid and
 * torch.nn.functional.grid_sample (PyTorch 1.13 CPU kernels), forward and
 * backward.
 *
 * Layouts (contiguous, float32):
 *   theta  (N, 2, 3)           row-major affine matrices
 *   grid   (N, H_out, W_out, 2) normalised sampling points, x (width) then y
 *   input  (N, C, H_in, W_in)
 *   output (N, C, H_out, W_out)
 * Normalised coordinates: -1 and +1 are the centres of the corner pixels
 * when align_corners is nonzero, the outer edges of the corner pixels when it
 * is zero.
 *
 * Backward functions ACCUMULATE (+=) into their gradient buffers; pass NULL
 * for a gradient you do not need. Results are deterministic for a fixed
 * thread count (sc_set_num_threads). Every function validates its arguments
 * and returns SC_ERR_INVALID_ARG / SC_ERR_SHAPE / SC_ERR_LIMIT /
 * SC_ERR_NOMEM with a message (sc_last_error) on failure.
 *
 * Non-finite grid values never cause out-of-bounds access: with border or
 * reflection padding they sample pixel 0 (as PyTorch does), with zeros
 * padding they sample zero (PyTorch gives NaN there). Corners outside the
 * image are given weight 0 rather than skipped, so a non-finite input value
 * next to such a corner can make the result NaN where PyTorch's is finite. */
#ifndef SACCADE_SC_GRID_H
#define SACCADE_SC_GRID_H

#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_grid_interp {
    SC_GRID_BILINEAR = 0,
    SC_GRID_NEAREST = 1 /* rounds half to even, like PyTorch (nearbyint) */
} sc_grid_interp;

typedef enum sc_grid_padding {
    SC_GRID_PAD_ZEROS = 0,     /* outside samples are 0 */
    SC_GRID_PAD_BORDER = 1,    /* coordinates clipped to the image */
    SC_GRID_PAD_REFLECTION = 2 /* coordinates reflected at the borders, then clipped */
} sc_grid_padding;

/* grid[n, h, w] = theta[n] @ (x_w, y_h, 1) with x_w the w-th of W points
 * spaced evenly over [-1, 1] (align_corners) or ((2w + 1) / W - 1) (not
 * align_corners); a size of 1 gives the single point 0. */
sc_status sc_affine_grid(const float *theta, int n, int h, int w, int align_corners, float *grid);

/* dtheta[n] += sum over (h, w) of dgrid[n, h, w, :] (x) (x_w, y_h, 1). */
sc_status sc_affine_grid_backward(const float *dgrid, int n, int h, int w, int align_corners,
                                  float *dtheta);

/* output[n, c, h, w] = input[n, c] sampled at grid[n, h, w]. */
sc_status sc_grid_sample(const float *input, const float *grid, float *output, int n, int c,
                         int h_in, int w_in, int h_out, int w_out, sc_grid_interp mode,
                         sc_grid_padding padding, int align_corners);

/* Given grad_output (N, C, H_out, W_out): grad_input (N, C, H_in, W_in) +=
 * dL/dinput, grad_grid (N, H_out, W_out, 2) += dL/dgrid. Either may be NULL.
 * input may be NULL when grad_grid is NULL. The grid gradient is zero in
 * nearest mode (nothing is added) and includes the derivative of the
 * padding transform (0 where a coordinate was clipped, +-1 where it was
 * reflected), as in PyTorch. */
sc_status sc_grid_sample_backward(const float *grad_output, const float *input, const float *grid,
                                  float *grad_input, float *grad_grid, int n, int c, int h_in,
                                  int w_in, int h_out, int w_out, sc_grid_interp mode,
                                  sc_grid_padding padding, int align_corners);

#ifdef __cplusplus
}
#endif
#endif
