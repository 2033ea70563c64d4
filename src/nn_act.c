/* Elementwise activations: relu, tanh, sigmoid, gelu (erf and tanh forms). */
#include <math.h>
#include "saccade/sc_nn.h"
#include "nn_internal.h"

#define ACT_PAR_MIN 32768
#define SQRT1_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794
#define GELU_K 0.79788456080286535588 /* sqrt(2 / pi) */
#define GELU_C 0.044715

static sc_status act_check(const char *fn, sc_activation act) {
    if ((int)act < SC_ACT_RELU || (int)act > SC_ACT_GELU_TANH)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown activation %d", fn, (int)act);
    return SC_OK;
}

sc_status sc_act_forward(sc_activation act, float *out, const float *x, size_t n) {
    static const char fn[] = "sc_act_forward";
    sc_status st = act_check(fn, act);
    if (st) return st;
    if (n == 0) return SC_OK;
    NN_REQUIRE(out, fn);
    NN_REQUIRE(x, fn);
    const long long nn = (long long)n;
    switch (act) {
    case SC_ACT_RELU:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++)
            out[i] = x[i] > 0.0f ? x[i] : (x[i] == x[i] ? 0.0f : x[i]);
        break;
    case SC_ACT_TANH:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) out[i] = tanhf(x[i]);
        break;
    case SC_ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) out[i] = (float)(1.0 / (1.0 + exp(-(double)x[i])));
        break;
    case SC_ACT_GELU:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            double v = x[i];
            out[i] = (float)(0.5 * v * (1.0 + erf(v * SQRT1_2)));
        }
        break;
    case SC_ACT_GELU_TANH:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            double v = x[i];
            out[i] = (float)(0.5 * v * (1.0 + tanh(GELU_K * (v + GELU_C * v * v * v))));
        }
        break;
    }
    return SC_OK;
}

sc_status sc_act_backward(sc_activation act, float *dx, const float *dout, const float *x,
                          const float *y, size_t n) {
    static const char fn[] = "sc_act_backward";
    sc_status st = act_check(fn, act);
    if (st) return st;
    if (n == 0 || !dx) return SC_OK;
    NN_REQUIRE(dout, fn);
    if (act == SC_ACT_GELU || act == SC_ACT_GELU_TANH) NN_REQUIRE(x, fn);
    if (!x && !y) return sc_set_error(SC_ERR_INVALID_ARG, "%s: x and y are both NULL", fn);
    const long long nn = (long long)n;
    switch (act) {
    case SC_ACT_RELU: {
        const float *s = x ? x : y;
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++)
            dx[i] += s[i] > 0.0f ? dout[i] : 0.0f; /* a select vectorises, a branch does not */
        break;
    }
    case SC_ACT_TANH:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            float t = y ? y[i] : tanhf(x[i]);
            dx[i] += dout[i] * (1.0f - t * t);
        }
        break;
    case SC_ACT_SIGMOID:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            float s = y ? y[i] : (float)(1.0 / (1.0 + exp(-(double)x[i])));
            dx[i] += dout[i] * s * (1.0f - s);
        }
        break;
    case SC_ACT_GELU:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            double v = x[i];
            double cdf = 0.5 * (1.0 + erf(v * SQRT1_2));
            double pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
            dx[i] += (float)(dout[i] * (cdf + v * pdf));
        }
        break;
    case SC_ACT_GELU_TANH:
#pragma omp parallel for schedule(static) if (n >= ACT_PAR_MIN)
        for (long long i = 0; i < nn; i++) {
            double v = x[i];
            double t = tanh(GELU_K * (v + GELU_C * v * v * v));
            double d =
                0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * GELU_K * (1.0 + 3.0 * GELU_C * v * v);
            dx[i] += (float)(dout[i] * d);
        }
        break;
    }
    return SC_OK;
}
