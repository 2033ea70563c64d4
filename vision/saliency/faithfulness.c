/* Faithfulness of a saliency map (sc_cam.h): RISE's deletion and insertion
 * curves and ROAD's remove-and-debias score, through an sc_cam_net. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_cam.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

void sc_faithfulness_free(sc_faithfulness *f) {
    if (!f) return;
    free(f->deletion);
    free(f->insertion);
    memset(f, 0, sizeof *f);
}

/* Softmax probability of class k for n inputs xs (n, in), in batches. */
static sc_status probs(const sc_cam_net *m, const float *xs, int n, int k, int batch, float *out) {
    const int K = m->num_classes;
    const size_t xsz = (size_t)m->in_c * m->in_h * m->in_w;
    float *lg = sc_malloc((size_t)batch * K * sizeof(float));
    if (!lg) return sc_set_error(SC_ERR_NOMEM, "faithfulness: out of memory");
    sc_status s = SC_OK;
    for (int i0 = 0; !s && i0 < n; i0 += batch) {
        int nb = n - i0 < batch ? n - i0 : batch;
        if ((s = m->forward(m->ctx, xs + (size_t)i0 * xsz, nb, lg, NULL))) break;
        for (int j = 0; j < nb; j++) {
            const float *l = lg + (size_t)j * K;
            double mx = l[0], z = 0;
            for (int c = 1; c < K; c++) mx = l[c] > mx ? l[c] : mx;
            for (int c = 0; c < K; c++) z += exp((double)l[c] - mx);
            out[i0 + j] = (float)(exp((double)l[k] - mx) / z);
        }
    }
    sc_free(lg);
    return s;
}

/* Pixel order by decreasing value; ties: higher index first (numpy's
 * flipped stable argsort). */
typedef struct ranked {
    float v;
    int i;
} ranked;
static int by_value_desc(const void *a, const void *b) {
    const ranked *p = a, *q = b;
    if (p->v != q->v) return p->v > q->v ? -1 : 1;
    return p->i > q->i ? -1 : p->i < q->i;
}

/* RISE's blur: scipy.ndimage.gaussian_filter of an 11 x 11 delta (sigma 5,
 * truncate 4, mode 'reflect'), separable; k1 gets the 1-D factor. */
static void rise_kernel(double k1[11]) {
    double w[41], z = 0;
    for (int j = -20; j <= 20; j++) z += (w[j + 20] = exp(-0.5 * j * j / 25.0));
    for (int i = 0; i < 11; i++) {
        k1[i] = 0;
        for (int j = -20; j <= 20; j++) {
            int q = ((i + j) % 22 + 22) % 22; /* half-sample symmetric reflection */
            if (q >= 11) q = 21 - q;
            if (q == 5) k1[i] += w[j + 20] / z;
        }
    }
}

/* conv2d(x, kernel, padding 5) per channel, zero padding. */
static void rise_blur(const float *x, int C, int H, int W, float *out) {
    double k1[11];
    rise_kernel(k1);
    for (int c = 0; c < C; c++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                double acc = 0;
                for (int dy = -5; dy <= 5; dy++) {
                    int yy = y + dy;
                    if (yy < 0 || yy >= H) continue;
                    for (int dx = -5; dx <= 5; dx++) {
                        int x2 = xx + dx;
                        if (x2 < 0 || x2 >= W) continue;
                        acc += k1[dy + 5] * k1[dx + 5] * x[((size_t)c * H + yy) * W + x2];
                    }
                }
                out[((size_t)c * H + y) * W + xx] = (float)acc;
            }
}

/* One causal curve: from start, the pixels in order replaced by finish's,
 * step at a time; curve (npoints) gets the probabilities. */
static sc_status causal_curve(const sc_cam_net *m, const float *start, const float *finish,
                              const int *order, int step, int npoints, int k, int batch,
                              float *curve) {
    const size_t HW = (size_t)m->in_h * m->in_w, xsz = (size_t)m->in_c * HW;
    float *xs = sc_malloc((size_t)batch * xsz * sizeof(float)),
          *cur = sc_malloc(xsz * sizeof(float));
    sc_status s = !xs || !cur ? sc_set_error(SC_ERR_NOMEM, "faithfulness: out of memory") : SC_OK;
    if (!s) memcpy(cur, start, xsz * sizeof(float));
    size_t done = 0;
    for (int i0 = 0; !s && i0 < npoints; i0 += batch) {
        int nb = npoints - i0 < batch ? npoints - i0 : batch;
        for (int j = 0; j < nb; j++) {
            size_t upto = (size_t)(i0 + j) * step;
            if (upto > HW) upto = HW;
            for (; done < upto; done++)
                for (int c = 0; c < m->in_c; c++)
                    cur[c * HW + order[done]] = finish[c * HW + order[done]];
            memcpy(xs + (size_t)j * xsz, cur, xsz * sizeof(float));
        }
        s = probs(m, xs, nb, k, nb, curve + i0);
    }
    sc_free(xs), sc_free(cur);
    return s;
}

static double auc(const float *a, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i];
    return (s - a[0] / 2.0 - a[n - 1] / 2.0) / (n - 1);
}

/* numpy.percentile (linear) of sorted v (n). */
static double percentile(const float *v, size_t n, double p) {
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    double t = pos - (double)lo;
    return (double)v[lo] + ((double)v[hi] - (double)v[lo]) * t;
}

static int cmp_float(const void *a, const void *b) {
    float u = *(const float *)a, v = *(const float *)b;
    return u < v ? -1 : u > v;
}

sc_status sc_road_impute(float *x, int C, int H, int W, const uint8_t *keep, float noise,
                         sc_rng *rng) {
    if (!x || !keep || C < 1 || H < 1 || W < 1 || (noise != 0 && !rng))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_road_impute: NULL argument or empty image");
    static const int off[8][2] = {{1, 1},  {0, 1},   {-1, 1}, {1, -1},
                                  {0, -1}, {-1, -1}, {1, 0},  {-1, 0}};
    static const double wt[8] = {1 / 12.0, 1 / 6.0,  1 / 12.0, 1 / 12.0,
                                 1 / 6.0,  1 / 12.0, 1 / 6.0,  1 / 6.0};
    const size_t HW = (size_t)H * W;
    size_t n = 0;
    int *idx = malloc(HW * sizeof *idx), *var = malloc(HW * sizeof *var);
    double *diag = NULL, *b = NULL, *v = NULL, *r = NULL, *pv = NULL, *ap = NULL;
    sc_status s = SC_OK;
    if (!idx || !var) {
        s = sc_set_error(SC_ERR_NOMEM, "sc_road_impute: out of memory");
        goto done;
    }
    for (size_t i = 0; i < HW; i++) {
        var[i] = keep[i] ? -1 : (int)n;
        if (!keep[i]) idx[n++] = (int)i;
    }
    if (!n) goto done;
    diag = malloc(n * sizeof *diag), b = malloc(n * sizeof *b), v = malloc(n * sizeof *v);
    r = malloc(n * sizeof *r), pv = malloc(n * sizeof *pv), ap = malloc(n * sizeof *ap);
    if (!diag || !b || !v || !r || !pv || !ap) {
        s = sc_set_error(SC_ERR_NOMEM, "sc_road_impute: out of memory");
        goto done;
    }
    /* M v = b with M = diag(sum of in-image weights) - W(unknown, unknown),
     * b = W(unknown, known) x: symmetric positive definite when any pixel is
     * known, so conjugate gradients solve it */
    for (size_t e = 0; e < n; e++) {
        int y = idx[e] / W, xx = idx[e] % W;
        double d = 1;
        for (int o = 0; o < 8; o++) {
            int yy = y + off[o][0], x2 = xx + off[o][1];
            if (yy < 0 || x2 < 0 || yy >= H || x2 >= W) d -= wt[o];
        }
        diag[e] = d;
    }
    for (int c = 0; c < C; c++) {
        float *xc = x + (size_t)c * HW;
        double rr = 0, bb = 0;
        for (size_t e = 0; e < n; e++) {
            int y = idx[e] / W, xx = idx[e] % W;
            double acc = 0;
            for (int o = 0; o < 8; o++) {
                int yy = y + off[o][0], x2 = xx + off[o][1];
                if (yy < 0 || x2 < 0 || yy >= H || x2 >= W) continue;
                if (keep[(size_t)yy * W + x2]) acc += wt[o] * xc[(size_t)yy * W + x2];
            }
            b[e] = acc, v[e] = 0, r[e] = acc, pv[e] = acc;
            rr += acc * acc;
        }
        bb = rr;
        for (size_t it = 0; it < 4 * n + 100 && rr > 1e-26 * (bb > 0 ? bb : 1); it++) {
            double pap = 0;
            for (size_t e = 0; e < n; e++) {
                int y = idx[e] / W, xx = idx[e] % W;
                double acc = diag[e] * pv[e];
                for (int o = 0; o < 8; o++) {
                    int yy = y + off[o][0], x2 = xx + off[o][1];
                    if (yy < 0 || x2 < 0 || yy >= H || x2 >= W) continue;
                    int q = var[(size_t)yy * W + x2];
                    if (q >= 0) acc -= wt[o] * pv[q];
                }
                ap[e] = acc;
                pap += pv[e] * acc;
            }
            if (!(pap > 0)) break;
            double alpha = rr / pap, rr2 = 0;
            for (size_t e = 0; e < n; e++) {
                v[e] += alpha * pv[e];
                r[e] -= alpha * ap[e];
                rr2 += r[e] * r[e];
            }
            double beta = rr2 / rr;
            for (size_t e = 0; e < n; e++) pv[e] = r[e] + beta * pv[e];
            rr = rr2;
        }
        for (size_t e = 0; e < n; e++)
            xc[idx[e]] = (float)v[e] + (noise != 0 ? noise * sc_rng_normal(rng) : 0.0f);
    }
done:
    free(idx), free(var), free(diag), free(b), free(v), free(r), free(pv), free(ap);
    return s;
}

sc_status sc_cam_faithfulness(const sc_cam_net *m, const float *x, const float *map, int k,
                              int step, float road_noise, const sc_cam_params *p,
                              sc_faithfulness *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !x || !map || !out || !m->forward)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_cam_faithfulness: NULL argument");
    if (k < 0 || k >= m->num_classes)
        return sc_set_error(SC_ERR_INVALID_ARG, "class %d is out of range (the model has %d)", k,
                            m->num_classes);
    if (step < 0 || !(road_noise >= 0) || !isfinite(road_noise))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_cam_faithfulness: step must be >= 0 and the noise finite, >= 0");
    sc_cam_params def = sc_cam_default_params();
    if (!p) p = &def;
    int batch = p->batch > 0 ? p->batch : 16;
    if (batch > m->max_batch) batch = m->max_batch > 0 ? m->max_batch : 1;
    const size_t HW = (size_t)m->in_h * m->in_w, xsz = (size_t)m->in_c * HW;
    if (!step) step = m->in_w;
    const int nsteps = (int)((HW + (size_t)step - 1) / (size_t)step), npoints = nsteps + 1;
    int *order = malloc(HW * sizeof *order);
    float *zero = sc_calloc(xsz, sizeof(float)), *blur = sc_malloc(xsz * sizeof(float)),
          *sorted = sc_malloc(HW * sizeof(float)), *imp = sc_malloc(2 * xsz * sizeof(float));
    uint8_t *keep = malloc(HW);
    out->deletion = malloc((size_t)npoints * sizeof(float));
    out->insertion = malloc((size_t)npoints * sizeof(float));
    sc_status s = SC_OK;
    if (!order || !zero || !blur || !sorted || !imp || !keep || !out->deletion || !out->insertion) {
        s = sc_set_error(SC_ERR_NOMEM, "faithfulness: out of memory");
        goto done;
    }
    out->npoints = npoints;
    ranked *rk = malloc(HW * sizeof *rk);
    if (!rk) {
        s = sc_set_error(SC_ERR_NOMEM, "faithfulness: out of memory");
        goto done;
    }
    for (size_t i = 0; i < HW; i++) rk[i].v = map[i], rk[i].i = (int)i;
    qsort(rk, HW, sizeof *rk, by_value_desc);
    for (size_t i = 0; i < HW; i++) order[i] = rk[i].i;
    free(rk);
    rise_blur(x, m->in_c, m->in_h, m->in_w, blur);
    if ((s = causal_curve(m, x, zero, order, step, npoints, k, batch, out->deletion)) ||
        (s = causal_curve(m, blur, x, order, step, npoints, k, batch, out->insertion)))
        goto done;
    out->deletion_auc = auc(out->deletion, npoints);
    out->insertion_auc = auc(out->insertion, npoints);
    /* ROAD: MoRF imputes the pixels at or above the p-th percentile of the
     * map, LeRF those at or above it of 1 - map; probability changes */
    float base = 0;
    if ((s = probs(m, x, 1, k, 1, &base))) goto done;
    sc_rng rng;
    sc_rng_seed(&rng, p->seed);
    double morf = 0, lerf = 0;
    for (int pc = 10; pc <= 90; pc += 10) {
        for (int lr = 0; lr < 2; lr++) {
            for (size_t i = 0; i < HW; i++) sorted[i] = lr ? 1.0f - map[i] : map[i];
            qsort(sorted, HW, sizeof *sorted, cmp_float);
            double thr = percentile(sorted, HW, pc);
            for (size_t i = 0; i < HW; i++) keep[i] = (double)(lr ? 1.0f - map[i] : map[i]) < thr;
            float *xi = imp + (size_t)lr * xsz;
            memcpy(xi, x, xsz * sizeof(float));
            if ((s = sc_road_impute(xi, m->in_c, m->in_h, m->in_w, keep, road_noise, &rng)))
                goto done;
        }
        float pr[2];
        if ((s = probs(m, imp, 2, k, 2 <= batch ? 2 : 1, pr))) goto done;
        morf += (pr[0] - base) / 9.0;
        lerf += (pr[1] - base) / 9.0;
    }
    out->road_morf = morf;
    out->road_lerf = lerf;
    out->road = (lerf - morf) / 2;
done:
    free(order), free(keep);
    sc_free(zero), sc_free(blur), sc_free(sorted), sc_free(imp);
    if (s) sc_faithfulness_free(out);
    return s;
}
