/* saccade: bottom-up saliency and saliency-benchmark metrics.
 *
 * Inputs are sc_image (float32 CHW in [0,1]; c = 1 gray, 3 RGB, or 4 RGBA
 * whose alpha is ignored). Outputs are sc_map (row-major h x w float) whose
 * data the caller frees with sc_free (or sc_map_free). Spectral methods use
 * single-precision FFTW; plans are made once per size and cached (thread-safe,
 * FFTW_ESTIMATE unless wisdom is loaded). All functions may be called from
 * several threads at once. */
#ifndef SACCADE_SC_SALIENCY_H
#define SACCADE_SC_SALIENCY_H

#include <stdint.h>
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Spectral residual exactly as OpenCV's
 * cv2.saliency.StaticSaliencySpectralResidual_create().computeSaliency(bgr8):
 * the image is quantised to 8 bits, converted to gray with OpenCV's
 * fixed-point BGR2GRAY weights, resized to 64x64 (INTER_LINEAR, 8-bit), the
 * log amplitude is 3x3 box filtered (reflect-101), the residual spectrum with
 * the original phase is inverted, its magnitude blurred (5x5 Gaussian,
 * sigma 8), squared, divided by its maximum and resized (INTER_LINEAR, float)
 * back to the input size. Output in [0, 1], input size. */
sc_status sc_saliency_sr_opencv(const sc_image *img, sc_map *out);

/* Parameters of the authors' versions (SR and PQFT). */
typedef struct sc_saliency_params {
    int work_width; /* working width (default 64); height keeps the aspect (>= 1) */
    float sigma;    /* Gaussian sigma in working pixels (default 8, the value in Hou & Zhang
                     * 2007 for 64-pixel-wide images; their MATLAB code used 2.5);
                     * <= 0 disables smoothing */
    int full_size;  /* 1 (default): bilinear resize to the input size; 0: working size */
} sc_saliency_params;
sc_saliency_params sc_saliency_default_params(void);

/* Spectral residual, Hou & Zhang (CVPR 2007): gray (0.299, 0.587, 0.114),
 * INTER_AREA shrink to the working size, log amplitude minus its 3x3 mean
 * (replicated border), inverse transform with the original phase, squared
 * magnitude, Gaussian smoothing (reflect-101), min-max normalised to [0, 1].
 * p may be NULL for the defaults. */
sc_status sc_saliency_sr(const sc_image *img, const sc_saliency_params *p, sc_map *out);

/* Phase spectrum of the quaternion Fourier transform, Guo, Ma & Zhang (CVPR
 * 2008), single image (motion channel M = 0): I = (r+g+b)/3, RG = R - G,
 * BY = B - Y with broadly tuned R, G, B, Y; q = f1 + f2 mu2, f1 = M + RG mu1,
 * f2 = BY + I mu1, transformed by two complex FFTs (symplectic decomposition),
 * phase only (divided by the quaternion modulus), inverted, squared modulus,
 * Gaussian smoothing, min-max normalised to [0, 1]. Gray images (c = 1) use
 * I only. Working size and smoothing as for sc_saliency_sr. */
sc_status sc_saliency_pqft(const sc_image *img, const sc_saliency_params *p, sc_map *out);

/* Fine-grained centre-surround saliency, Montabone & Soto (2010), exactly as
 * OpenCV's cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency():
 * 8-bit gray, two 3x3 Gaussian blurs, integral image, on/off centre-surround
 * at neighbourhoods 12, 24, 48, 28, 56, 112, its 8-bit normalisations (values
 * above 255 wrap as in OpenCV). Output = OpenCV's 8-bit map / 255, input size. */
sc_status sc_saliency_finegrained(const sc_image *img, sc_map *out);

/* ------------------------------------------------------------ methods
 * One table names every saliency method the CLI ('saccade saliency
 * --method') and the Python binding offer, in this order. The bottom-up
 * methods (needs_model 0) run through sc_saliency_compute; the model methods
 * (needs_model 1) through sc_saliency_model_compute (sc_saliency_model.h)
 * with model_method. A new bottom-up method is one enum value here, its
 * function and one row of the table (vision/saliency/saliency_methods.c). */
typedef enum sc_saliency_method {
    SC_SAL_SPECTRAL = 0,    /* sc_saliency_sr_opencv */
    SC_SAL_SPECTRAL_HZ = 1, /* sc_saliency_sr */
    SC_SAL_PQFT = 2,        /* sc_saliency_pqft */
    SC_SAL_FINEGRAINED = 3, /* sc_saliency_finegrained */
    SC_SAL_ATTENTION = 4,   /* model: SC_MSAL_ATTENTION */
    SC_SAL_GRADCAM = 5,     /* model: SC_MSAL_GRADCAM */
    SC_SAL_GRADIENT = 6,    /* model: SC_MSAL_GRADIENT */
    SC_SAL_ROLLOUT = 7,     /* model: SC_MSAL_ROLLOUT */
    /* the rest of the CAM family and input attributions (sc_cam.h) */
    SC_SAL_GRADCAMPP = 8,
    SC_SAL_XGRADCAM = 9,
    SC_SAL_HIRESCAM = 10,
    SC_SAL_LAYERCAM = 11,
    SC_SAL_EIGENCAM = 12,
    SC_SAL_EIGENGRADCAM = 13,
    SC_SAL_SCORECAM = 14,
    SC_SAL_ABLATIONCAM = 15,
    SC_SAL_SMOOTHGRAD = 16,
    SC_SAL_INTGRAD = 17,
    SC_SAL_ITM = 18 /* model: SC_MSAL_ITM */
} sc_saliency_method;

typedef struct sc_saliency_method_info {
    sc_saliency_method method;
    const char *name;    /* CLI / Python name, e.g. "spectral-hz" */
    const char *caption; /* label in figures, e.g. "spectral residual (Hou & Zhang)" */
    const char *summary; /* one paragraph for help texts (no line breaks) */
    int needs_model;     /* 1: computed by sc_saliency_model_compute */
    int model_method;    /* needs_model: its sc_model_saliency_method; else -1 */
    int takes_params;    /* bottom-up: uses sc_saliency_params (work size, sigma) */
    /* bottom-up: the method itself (p is NULL for the defaults); NULL for the
     * model methods */
    sc_status (*compute)(const sc_image *img, const sc_saliency_params *p, sc_map *out);
} sc_saliency_method_info;

/* Number of methods and row i (0 <= i < count, in table order; NULL outside). */
int sc_saliency_method_count(void);
const sc_saliency_method_info *sc_saliency_method_at(int i);
/* The row of method m (NULL for a value not in the table). */
const sc_saliency_method_info *sc_saliency_method_info_of(sc_saliency_method m);
/* Scalar views of row i for foreign-function bindings: name and summary
 * (NULL outside the table), needs_model and takes_params (-1 outside). */
const char *sc_saliency_method_name(int i);
const char *sc_saliency_method_summary(int i);
int sc_saliency_method_needs_model(int i);
int sc_saliency_method_takes_params(int i);
/* Method by name; SC_ERR_INVALID_ARG listing the names for an unknown one. */
sc_status sc_saliency_method_from_name(const char *name, sc_saliency_method *out);

/* The map of a bottom-up method for img into out (new, img's size unless
 * p->full_size = 0). p: NULL for the defaults; methods with takes_params = 0
 * ignore it. Exactly the method's own function (the table's compute).
 * SC_ERR_UNSUPPORTED for a model method (use sc_saliency_model_compute),
 * SC_ERR_INVALID_ARG for a value not in the table. */
sc_status sc_saliency_compute(sc_saliency_method method, const sc_image *img,
                              const sc_saliency_params *p, sc_map *out);

/* FFTW wisdom (optional): load before first use to get measured plans, save to
 * reuse them. Saving is atomic. */
sc_status sc_saliency_fftw_wisdom_load(const char *path);
sc_status sc_saliency_fftw_wisdom_save(const char *path);
/* Drop every cached plan (e.g. before exit, for leak checkers). */
void sc_saliency_fftw_cleanup(void);

/* Metrics as the MIT saliency benchmark defines them (cvzoya/saliency,
 * code_forMetrics). Maps must have the same size (resize first). Computed in
 * double. *score is NaN (with SC_OK) exactly where the MIT code yields NaN:
 * no fixations, constant maps where a normalisation divides by zero. */

/* AUC-Judd: saliency min-max normalised; thresholds are the saliency values at
 * fixated pixels (fix > 0); trapezoidal area. jitter != 0 adds uniform
 * [0, 1e-7) noise from sc_rng(seed) before normalising, as the MATLAB code
 * does by default to break ties; jitter = 0 is deterministic (our default). */
sc_status sc_saliency_auc_judd(const sc_map *sal, const sc_map *fix, int jitter, uint64_t seed,
                               double *score);
/* NSS: mean of (sal - mean) / std (std with N - 1) over pixels where fix != 0. */
sc_status sc_saliency_nss(const sc_map *sal, const sc_map *fix, double *score);
/* CC: Pearson correlation between the two maps. */
sc_status sc_saliency_cc(const sc_map *sal, const sc_map *gt, double *score);
/* SIM: sum of min over both maps, each min-max normalised then summing to 1
 * (an all-zero map stays zero). */
sc_status sc_saliency_sim(const sc_map *sal, const sc_map *gt, double *score);
/* KLD: sum gt * log(eps + gt / (sal + eps)), both divided by their sums,
 * eps = 2.2204e-16 (MATLAB's eps). */
sc_status sc_saliency_kld(const sc_map *sal, const sc_map *gt, double *score);

#ifdef __cplusplus
}
#endif
#endif
