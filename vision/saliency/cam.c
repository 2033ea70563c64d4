/* The CAM family and input attributions of sc_cam.h, on any sc_cam_net. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_cam.h"
#include "saccade/sc_grid.h"
#include "saccade/sc_overlay.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_util.h"
#include "saliency_internal.h"
#include "sc_internal.h"

const char *sc_model_saliency_method_name(sc_model_saliency_method m) {
    static const char *const names[] = {"attention",  "gradcam",      "gradient", "rollout",
                                        "gradcam++",  "xgradcam",     "hirescam", "layercam",
                                        "eigencam",   "eigengradcam", "scorecam", "ablationcam",
                                        "smoothgrad", "intgrad",      "itm"};
    return (int)m >= 0 && (int)m < (int)(sizeof names / sizeof names[0]) ? names[m] : NULL;
}

sc_cam_params sc_cam_default_params(void) {
    sc_cam_params p;
    memset(&p, 0, sizeof p);
    p.batch = 16;
    p.samples = 25;
    p.stdev = -0.15f;
    p.steps = 50;
    return p;
}

void sc_cam_net_release(sc_cam_net *m) {
    if (!m) return;
    if (m->release) m->release(m->ctx);
    memset(m, 0, sizeof *m);
}

void sc_cam_scale(float *x, size_t n) {
    if (!n) return;
    float lo = x[0], hi;
    for (size_t i = 1; i < n; i++)
        if (x[i] < lo) lo = x[i];
    hi = x[0] - lo;
    for (size_t i = 0; i < n; i++) {
        x[i] -= lo;
        if (x[i] > hi) hi = x[i];
    }
    float d = (float)(1e-7 + (double)hi);
    for (size_t i = 0; i < n; i++) x[i] /= d;
}

static void relu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(x[i] > 0)) x[i] = 0;
}

sc_status sc_cam_resize_maps(const float *src, int n, int h, int w, int H, int W, int align_corners,
                             float *dst) {
    /* An identity affine grid sampled with border padding is exactly
     * F.interpolate(bilinear) (and cv2.resize's INTER_LINEAR) at either
     * align_corners. */
    float *grid = sc_malloc((size_t)H * W * 2 * sizeof(float));
    if (!grid) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    const float id[6] = {1, 0, 0, 0, 1, 0};
    sc_status s = sc_affine_grid(id, 1, H, W, align_corners, grid);
    if (!s)
        s = sc_grid_sample(src, grid, dst, 1, n, h, w, H, W, SC_GRID_BILINEAR, SC_GRID_PAD_BORDER,
                           align_corners);
    sc_free(grid);
    return s;
}

static sc_status place(const sc_cam_net *m, const float *maps, int n, int align, float *out) {
    if (m->place) return m->place(m->ctx, maps, n, align, out);
    return sc_cam_resize_maps(maps, n, m->act_h, m->act_w, m->in_h, m->in_w, align, out);
}

/* ---------------------------------------------------------------- principal component */
/* Top eigenvector of the symmetric n x n matrix g (destroyed) by cyclic
 * Jacobi rotations; v gets it (unit length). */
static sc_status top_eigvec(double *g, int n, double *v) {
    double *V = calloc((size_t)n * n, sizeof *V);
    if (!V) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    for (int i = 0; i < n; i++) V[(size_t)i * n + i] = 1;
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, diag = 0;
        for (int p = 0; p < n; p++) {
            diag += g[(size_t)p * n + p] * g[(size_t)p * n + p];
            for (int q = p + 1; q < n; q++) off += g[(size_t)p * n + q] * g[(size_t)p * n + q];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = g[(size_t)p * n + q];
                if (fabs(apq) < 1e-300) continue;
                double app = g[(size_t)p * n + p], aqq = g[(size_t)q * n + q];
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double gkp = g[(size_t)k * n + p], gkq = g[(size_t)k * n + q];
                    g[(size_t)k * n + p] = c * gkp - s * gkq;
                    g[(size_t)k * n + q] = s * gkp + c * gkq;
                }
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double gpk = g[(size_t)p * n + k], gqk = g[(size_t)q * n + k];
                    g[(size_t)p * n + k] = c * gpk - s * gqk;
                    g[(size_t)q * n + k] = s * gpk + c * gqk;
                }
                for (int k = 0; k < n; k++) {
                    double vkp = V[(size_t)k * n + p], vkq = V[(size_t)k * n + q];
                    V[(size_t)k * n + p] = c * vkp - s * vkq;
                    V[(size_t)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (g[(size_t)i * n + i] > g[(size_t)best * n + best]) best = i;
    for (int k = 0; k < n; k++) v[k] = V[(size_t)k * n + best];
    free(V);
    return SC_OK;
}

sc_status sc_cam_projection(const float *a, int C, int h, int w, float *proj) {
    if (!a || !proj || C < 1 || h < 1 || w < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_projection: NULL argument or empty map");
    const int n = h * w;
    const int small = C <= n ? C : n; /* the Gram matrix on the smaller side */
    double *A = malloc((size_t)n * C * sizeof *A), *G = calloc((size_t)small * small, sizeof *G),
           *v = calloc((size_t)C, sizeof *v), *u = calloc((size_t)small, sizeof *u);
    sc_status s = SC_OK;
    if (!A || !G || !v || !u) {
        s = sc_set_error(SC_ERR_NOMEM, "sc_cam_projection: out of memory");
        goto done;
    }
    for (int c = 0; c < C; c++) { /* A (n, C), centred per channel */
        double mean = 0;
        for (int i = 0; i < n; i++) {
            float f = a[(size_t)c * n + i];
            A[(size_t)i * C + c] = isnan(f) ? 0 : f;
            mean += A[(size_t)i * C + c];
        }
        mean /= n;
        for (int i = 0; i < n; i++) A[(size_t)i * C + c] -= mean;
    }
    if (C <= n) { /* A^T A -> v directly */
        for (int i = 0; i < n; i++)
            for (int p = 0; p < C; p++) {
                double x = A[(size_t)i * C + p];
                if (x == 0) continue;
                for (int q = 0; q < C; q++) G[(size_t)p * C + q] += x * A[(size_t)i * C + q];
            }
        if ((s = top_eigvec(G, C, v))) goto done;
    } else { /* A A^T -> u, v = A^T u / |A^T u| */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double d = 0;
                for (int c = 0; c < C; c++) d += A[(size_t)i * C + c] * A[(size_t)j * C + c];
                G[(size_t)i * n + j] = d;
            }
        if ((s = top_eigvec(G, n, u))) goto done;
        double nv = 0;
        for (int c = 0; c < C; c++) {
            double d = 0;
            for (int i = 0; i < n; i++) d += A[(size_t)i * C + c] * u[i];
            v[c] = d;
            nv += d * d;
        }
        nv = sqrt(nv);
        for (int c = 0; c < C; c++) v[c] = nv > 0 ? v[c] / nv : 0;
    }
    double sum = 0;
    for (int c = 0; c < C; c++) sum += v[c];
    double sign = sum < 0 ? -1 : 1;
    for (int i = 0; i < n; i++) {
        double d = 0;
        for (int c = 0; c < C; c++) d += A[(size_t)i * C + c] * v[c];
        proj[i] = (float)(sign * d);
    }
done:
    free(A), free(G), free(v), free(u);
    return s;
}

/* ---------------------------------------------------------------- helpers */
static int is_gradient_method(sc_model_saliency_method mt) {
    return mt == SC_MSAL_GRADIENT || mt == SC_MSAL_SMOOTHGRAD || mt == SC_MSAL_INTGRAD;
}
static int needs_layer_grad(sc_model_saliency_method mt) {
    return mt == SC_MSAL_GRADCAM || mt == SC_MSAL_GRADCAMPP || mt == SC_MSAL_XGRADCAM ||
           mt == SC_MSAL_HIRESCAM || mt == SC_MSAL_LAYERCAM || mt == SC_MSAL_EIGENGRADCAM;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static int batch_of(const sc_cam_net *m, const sc_cam_params *p) {
    int b = p->batch > 0 ? p->batch : 16;
    return b < m->max_batch ? b : m->max_batch > 0 ? m->max_batch : 1;
}

/* ScoreCAM's channel weights: softmax of the logit k of the input masked by
 * each upsampled, min-max scaled channel. */
static sc_status scorecam_weights(const sc_cam_net *m, const float *x, const float *act, int k,
                                  const sc_cam_params *p, double *wts) {
    const int C = m->act_c, K = m->num_classes, B = batch_of(m, p);
    const size_t hw = (size_t)m->act_h * m->act_w, HW = (size_t)m->in_h * m->in_w,
                 xs = (size_t)m->in_c * HW;
    float *up = sc_malloc((size_t)B * HW * sizeof(float)),
          *xb = sc_malloc((size_t)B * xs * sizeof(float)),
          *lg = sc_malloc((size_t)B * K * sizeof(float));
    sc_status s = SC_OK;
    if (!up || !xb || !lg) s = sc_set_error(SC_ERR_NOMEM, "scorecam: out of memory");
    for (int c0 = 0; !s && c0 < C; c0 += B) {
        int nb = C - c0 < B ? C - c0 : B;
        if ((s = place(m, act + (size_t)c0 * hw, nb, 1, up))) break;
        for (int j = 0; j < nb; j++) {
            float *u = up + (size_t)j * HW, lo = u[0], hi = u[0];
            for (size_t i = 1; i < HW; i++) {
                if (u[i] < lo) lo = u[i];
                if (u[i] > hi) hi = u[i];
            }
            float d = hi - lo + 1e-8f;
            for (size_t i = 0; i < HW; i++) u[i] = (u[i] - lo) / d;
            for (int ic = 0; ic < m->in_c; ic++)
                for (size_t i = 0; i < HW; i++)
                    xb[(size_t)j * xs + ic * HW + i] = x[ic * HW + i] * u[i];
        }
        if ((s = m->forward(m->ctx, xb, nb, lg, NULL))) break;
        for (int j = 0; j < nb; j++) wts[c0 + j] = lg[(size_t)j * K + k];
    }
    if (!s) { /* softmax */
        double mx = wts[0], z = 0;
        for (int c = 1; c < C; c++) mx = wts[c] > mx ? wts[c] : mx;
        for (int c = 0; c < C; c++) z += (wts[c] = exp(wts[c] - mx));
        for (int c = 0; c < C; c++) wts[c] /= z;
    }
    sc_free(up), sc_free(xb), sc_free(lg);
    return s;
}

/* AblationCAM's channel weights (s - s_c) / s. */
static sc_status ablation_weights(const sc_cam_net *m, const float *act, double score, int k,
                                  const sc_cam_params *p, double *wts) {
    if (!m->forward_from && !m->forward_ablated)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "ablationcam needs to run the model on from layer %s, which this "
                            "model does not offer",
                            m->layer ? m->layer : "?");
    const int C = m->act_c, K = m->num_classes, B = batch_of(m, p);
    const size_t hw = (size_t)m->act_h * m->act_w, as = (size_t)C * hw;
    float lo = act[0];
    for (size_t i = 1; i < as; i++)
        if (act[i] < lo) lo = act[i];
    /* pytorch-grad-cam's AblationLayer: 0 when the minimum is 0 (after a
     * ReLU), else far below it */
    const float value = lo == 0 ? 0.0f : lo - 1e7f;
    float *ab = m->forward_ablated ? NULL : sc_malloc((size_t)B * as * sizeof(float)),
          *lg = sc_malloc((size_t)B * K * sizeof(float));
    sc_status s = SC_OK;
    if ((!ab && !m->forward_ablated) || !lg)
        s = sc_set_error(SC_ERR_NOMEM, "ablationcam: out of memory");
    for (int c0 = 0; !s && c0 < C; c0 += B) {
        int nb = C - c0 < B ? C - c0 : B;
        if (m->forward_ablated) {
            if ((s = m->forward_ablated(m->ctx, act, c0, nb, value, lg))) break;
        } else {
            for (int j = 0; j < nb; j++) {
                float *a = ab + (size_t)j * as;
                memcpy(a, act, as * sizeof(float));
                for (size_t i = 0; i < hw; i++) a[(size_t)(c0 + j) * hw + i] = value;
            }
            if ((s = m->forward_from(m->ctx, ab, nb, lg))) break;
        }
        for (int j = 0; j < nb; j++) wts[c0 + j] = (score - lg[(size_t)j * K + k]) / score;
    }
    sc_free(ab), sc_free(lg);
    return s;
}

/* One CAM at the layer's resolution (before ReLU and scaling). */
static sc_status cam_at_layer(const sc_cam_net *m, sc_model_saliency_method mt, const float *x,
                              int k, const sc_cam_params *p, float *cam) {
    const int C = m->act_c, K = m->num_classes;
    const size_t hw = (size_t)m->act_h * m->act_w, as = (size_t)C * hw;
    float *act = sc_malloc(as * sizeof(float)), *grad = NULL, *lg = sc_malloc(K * sizeof(float)),
          *e = NULL;
    double *wts = NULL;
    sc_status s = SC_OK;
    if (!act || !lg) s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    if (!s && needs_layer_grad(mt)) {
        if (!(grad = sc_malloc(as * sizeof(float))))
            s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
        else
            s = m->backward(m->ctx, x, k, lg, act, grad, NULL);
    } else if (!s) {
        s = m->forward(m->ctx, x, 1, lg, act);
    }
    if (s) goto done;
    if (mt == SC_MSAL_HIRESCAM || mt == SC_MSAL_LAYERCAM || mt == SC_MSAL_EIGENCAM ||
        mt == SC_MSAL_EIGENGRADCAM) {
        /* elementwise: G A, ReLU(G) A or A */
        if (!(e = sc_malloc(as * sizeof(float)))) {
            s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
            goto done;
        }
        for (size_t i = 0; i < as; i++)
            e[i] = mt == SC_MSAL_EIGENCAM   ? act[i]
                   : mt == SC_MSAL_LAYERCAM ? (grad[i] > 0 ? grad[i] : 0) * act[i]
                                            : grad[i] * act[i];
        int proj = mt == SC_MSAL_EIGENCAM || mt == SC_MSAL_EIGENGRADCAM || p->eigen_smooth;
        if (proj) {
            s = sc_cam_projection(e, C, m->act_h, m->act_w, cam);
        } else {
            for (size_t i = 0; i < hw; i++) {
                double d = 0;
                for (int c = 0; c < C; c++) d += e[(size_t)c * hw + i];
                cam[i] = (float)d;
            }
        }
        goto done;
    }
    if (!(wts = calloc((size_t)C, sizeof *wts))) {
        s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
        goto done;
    }
    for (int c = 0;
         c < C && (mt == SC_MSAL_GRADCAM || mt == SC_MSAL_GRADCAMPP || mt == SC_MSAL_XGRADCAM);
         c++) {
        const float *g = grad + (size_t)c * hw, *a = act + (size_t)c * hw;
        double sa = 0, w = 0;
        for (size_t i = 0; i < hw; i++) sa += a[i];
        for (size_t i = 0; i < hw; i++) {
            double gi = g[i];
            if (mt == SC_MSAL_GRADCAM) {
                w += gi;
            } else if (mt == SC_MSAL_XGRADCAM) {
                w += gi * a[i] / (sa + 1e-7);
            } else if (gi != 0) { /* Grad-CAM++, eq. 19 */
                double g2 = gi * gi, g3 = g2 * gi;
                double aij = g2 / (2 * g2 + sa * g3 + 1e-6);
                w += (gi > 0 ? gi : 0) * aij;
            }
        }
        wts[c] = mt == SC_MSAL_GRADCAM ? w / (double)hw : w;
    }
    if (mt == SC_MSAL_SCORECAM) s = scorecam_weights(m, x, act, k, p, wts);
    if (mt == SC_MSAL_ABLATIONCAM) s = ablation_weights(m, act, lg[k], k, p, wts);
    if (s) goto done;
    if (p->eigen_smooth) {
        if (!(e = sc_malloc(as * sizeof(float)))) {
            s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
            goto done;
        }
        for (int c = 0; c < C; c++)
            for (size_t i = 0; i < hw; i++)
                e[(size_t)c * hw + i] = (float)(wts[c] * act[(size_t)c * hw + i]);
        s = sc_cam_projection(e, C, m->act_h, m->act_w, cam);
    } else {
        for (size_t i = 0; i < hw; i++) {
            double d = 0;
            for (int c = 0; c < C; c++) d += wts[c] * act[(size_t)c * hw + i];
            cam[i] = (float)d;
        }
    }
done:
    sc_free(act), sc_free(grad), sc_free(lg), sc_free(e);
    free(wts);
    return s;
}

/* Gauss-Legendre nodes t and weights w on [-1, 1] (n >= 1), by Newton's
 * method on the Legendre polynomial. */
static void gauss_legendre(int n, double *t, double *w) {
    for (int i = 0; i < n; i++) {
        double x = cos(3.14159265358979323846 * (i + 0.75) / (n + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = x;
            for (int j = 2; j <= n; j++) {
                double p2 = ((2 * j - 1) * x * p1 - (j - 1) * p0) / j;
                p0 = p1, p1 = p2;
            }
            dp = n * (x * p1 - p0) / (x * x - 1);
            double dx = p1 / dp;
            x -= dx;
            if (fabs(dx) < 1e-15) break;
        }
        t[n - 1 - i] = x; /* ascending, as numpy's leggauss */
        w[n - 1 - i] = 2 / ((1 - x * x) * dp * dp);
    }
}

/* Input attributions: gradient, smoothgrad, intgrad -> map (in_h * in_w). */
static sc_status input_attribution(const sc_cam_net *m, sc_model_saliency_method mt, const float *x,
                                   int k, const sc_cam_params *p, float *map) {
    const size_t HW = (size_t)m->in_h * m->in_w, xs = (size_t)m->in_c * HW;
    float *dx = sc_malloc(xs * sizeof(float)), *xn = sc_malloc(xs * sizeof(float));
    double *acc = calloc(xs, sizeof *acc), *t = NULL, *w = NULL;
    sc_status s = SC_OK;
    if (!dx || !xn || !acc) s = sc_set_error(SC_ERR_NOMEM, "attribution: out of memory");
    if (!s && mt == SC_MSAL_GRADIENT) {
        if (!(s = m->backward(m->ctx, x, k, NULL, NULL, NULL, dx)))
            for (size_t i = 0; i < xs; i++) acc[i] = fabsf(dx[i]);
    } else if (!s && mt == SC_MSAL_SMOOTHGRAD) {
        float lo = x[0], hi = x[0];
        for (size_t i = 1; i < xs; i++) lo = x[i] < lo ? x[i] : lo, hi = x[i] > hi ? x[i] : hi;
        float sd = p->stdev >= 0 ? p->stdev : -p->stdev * (hi - lo);
        int ns = p->samples > 0 ? p->samples : 1;
        sc_rng r;
        sc_rng_seed(&r, p->seed);
        for (int n = 0; !s && n < ns; n++) {
            for (size_t i = 0; i < xs; i++) xn[i] = x[i] + sd * sc_rng_normal(&r);
            if (!(s = m->backward(m->ctx, xn, k, NULL, NULL, NULL, dx)))
                for (size_t i = 0; i < xs; i++) acc[i] += fabsf(dx[i]) / ns;
        }
    } else if (!s) { /* Integrated Gradients, baseline 0 */
        int n = p->steps > 0 ? p->steps : 50;
        t = malloc((size_t)n * sizeof *t), w = malloc((size_t)n * sizeof *w);
        if (!t || !w) s = sc_set_error(SC_ERR_NOMEM, "attribution: out of memory");
        if (!s) gauss_legendre(n, t, w);
        for (int i = 0; !s && i < n; i++) {
            double alpha = 0.5 * (1 + t[i]), step = 0.5 * w[i];
            for (size_t j = 0; j < xs; j++) xn[j] = (float)(alpha * x[j]);
            if (!(s = m->backward(m->ctx, xn, k, NULL, NULL, NULL, dx)))
                for (size_t j = 0; j < xs; j++) acc[j] += step * dx[j];
        }
        for (size_t j = 0; !s && j < xs; j++) acc[j] *= x[j];
    }
    if (!s)
        for (size_t i = 0; i < HW; i++) {
            double v = 0;
            for (int c = 0; c < m->in_c; c++) {
                double a = acc[(size_t)c * HW + i];
                if (mt == SC_MSAL_INTGRAD)
                    v += a;
                else if (a > v)
                    v = a;
            }
            map[i] = (float)fabs(v);
        }
    if (!s) sc_cam_scale(map, HW);
    sc_free(dx), sc_free(xn);
    free(acc), free(t), free(w);
    return s;
}

/* One map of input x for class k, on the input tensor (in_h * in_w). */
static sc_status map_once(const sc_cam_net *m, sc_model_saliency_method mt, const float *x, int k,
                          const sc_cam_params *p, float *map) {
    const size_t HW = (size_t)m->in_h * m->in_w;
    if (is_gradient_method(mt)) return input_attribution(m, mt, x, k, p, map);
    if (mt == SC_MSAL_ROLLOUT) {
        sc_status s = m->rollout(m->ctx, x, p->discard_ratio, map);
        if (!s) sc_cam_scale(map, HW);
        return s;
    }
    const size_t hw = (size_t)m->act_h * m->act_w;
    float *cam = sc_malloc(hw * sizeof(float));
    if (!cam) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    sc_status s = cam_at_layer(m, mt, x, k, p, cam);
    if (!s) {
        relu(cam, hw);
        sc_cam_scale(cam, hw);
        s = place(m, cam, 1, 0, map);
    }
    if (!s) { /* aggregate_multi_layers over one layer */
        relu(map, HW);
        sc_cam_scale(map, HW);
    }
    sc_free(cam);
    return s;
}

sc_status sc_cam_compute(const sc_cam_net *m, sc_model_saliency_method method, const float *x,
                         int target, const sc_cam_params *p, float *map, sc_cam_info *info) {
    if (!m || !x || !map || !m->forward || !m->backward)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_compute: NULL argument");
    const char *name = sc_model_saliency_method_name(method);
    if (!name || method == SC_MSAL_ATTENTION || method == SC_MSAL_ITM)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_cam_compute: method %s is not one of the CAM family or the input "
                            "attributions",
                            name ? name : "?");
    if (method == SC_MSAL_ROLLOUT && !m->rollout)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "attention rollout needs a model with attention (a ViT); this model "
                            "has none");
    if (m->check) {
        sc_status c = m->check(m->ctx, method);
        if (c) return c;
    }
    const int K = m->num_classes;
    if (target < -1 || target >= K)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "class %d is out of range (the model has %d: 0..%d)", target, K, K - 1);
    sc_cam_params def = sc_cam_default_params();
    if (!p) p = &def;
    if (p->batch < 0 || p->samples < 0 || p->steps < 0 || !isfinite(p->stdev))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_compute: negative batch, samples or steps");
    if (!(p->discard_ratio >= 0.0f && p->discard_ratio < 1.0f))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_cam_compute: discard ratio %g is outside [0, 1)",
                            (double)p->discard_ratio);
    const size_t HW = (size_t)m->in_h * m->in_w, xs = (size_t)m->in_c * HW;
    float *lg = sc_malloc((size_t)K * sizeof(float)), *xa = NULL, *ma = NULL;
    if (!lg) return sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    sc_status s = m->forward(m->ctx, x, 1, lg, NULL);
    if (s) goto done;
    int k = target >= 0 ? target : argmax(lg, K);
    if (info) {
        double mx = lg[0], z = 0;
        for (int j = 1; j < K; j++) mx = lg[j] > mx ? lg[j] : mx;
        for (int j = 0; j < K; j++) z += exp((double)lg[j] - mx);
        info->target = k;
        info->logit = lg[k];
        info->prob = exp((double)lg[k] - mx) / z;
    }
    if (!p->aug_smooth) {
        s = map_once(m, method, x, k, p, map);
        goto done;
    }
    /* ttach: HorizontalFlip x Multiply(0.9, 1, 1.1); masks flipped back */
    xa = sc_malloc(xs * sizeof(float)), ma = sc_malloc(HW * sizeof(float));
    double *acc = calloc(HW, sizeof *acc);
    if (!xa || !ma || !acc) s = sc_set_error(SC_ERR_NOMEM, "cam: out of memory");
    static const float factors[3] = {0.9f, 1.0f, 1.1f};
    const int W = m->in_w;
    for (int flip = 0; !s && flip < 2; flip++)
        for (int f = 0; !s && f < 3; f++) {
            for (size_t r = 0; r < xs / W; r++)
                for (int c = 0; c < W; c++)
                    xa[r * W + c] = x[r * W + (flip ? W - 1 - c : c)] * factors[f];
            if ((s = map_once(m, method, xa, k, p, ma))) break;
            for (size_t r = 0; r < HW / W; r++)
                for (int c = 0; c < W; c++) acc[r * W + c] += ma[r * W + (flip ? W - 1 - c : c)];
        }
    for (size_t i = 0; !s && i < HW; i++) map[i] = (float)(acc[i] / 6);
    free(acc);
done:
    sc_free(lg), sc_free(xa), sc_free(ma);
    return s;
}

sc_status sc_cam_compute_image(const sc_cam_net *m, sc_model_saliency_method method,
                               const sc_image *img, int target, const sc_cam_params *p, sc_map *out,
                               sc_cam_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !img || !img->data || !out || !m->prepare)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_compute_image: NULL argument");
    const size_t HW = (size_t)m->in_h * m->in_w;
    float *x = sc_malloc((size_t)m->in_c * HW * sizeof(float)),
          *map = sc_malloc(HW * sizeof(float));
    sc_status s = !x || !map ? sc_set_error(SC_ERR_NOMEM, "cam: out of memory") : SC_OK;
    if (!s) s = m->prepare(m->ctx, img, x);
    if (!s) s = sc_cam_compute(m, method, x, target, p, map, info);
    if (!s) s = sc_map_alloc(out, img->w, img->h);
    if (!s && m->to_image) {
        s = m->to_image(m->ctx, map, img->w, img->h, out->data);
    } else if (!s) {
        sc_map src = {m->in_w, m->in_h, map}, full = {0};
        if (!(s = sc_map_resize_bilinear(&src, img->w, img->h, &full))) {
            memcpy(out->data, full.data, (size_t)img->w * img->h * sizeof(float));
            sc_map_free(&full);
        }
    }
    if (!s) sc_cam_scale(out->data, (size_t)img->w * img->h); /* a resize may miss the peak */
    if (s) sc_map_free(out);
    sc_free(x), sc_free(map);
    return s;
}

sc_status sc_cam_class_from_string(const sc_cam_net *m, const char *str, int *k) {
    if (!m || !str || !k) return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_class_from_string: NULL");
    for (int j = 0; m->class_name && j < m->num_classes; j++) {
        const char *nm = m->class_name(m->ctx, j);
        if (nm && !strcmp(nm, str)) {
            *k = j;
            return SC_OK;
        }
    }
    char *end = NULL;
    long v = strtol(str, &end, 10);
    if (*str && end && !*end && v >= 0 && v < m->num_classes) {
        *k = (int)v;
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG,
                        "class '%s' is neither a class name nor an index 0..%d of the model", str,
                        m->num_classes - 1);
}
