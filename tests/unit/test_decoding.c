/* The shared decoder block (vision/decoding/) in the arrangements BLIP's and
 * ViT-GPT2's parity tests do not run: a bidirectional (not causal) layer
 * without cross-attention, post-LN and pre-LN, against a direct computation
 * of the same layer in double precision; and the causal mask (a token's
 * output does not change with later tokens) against the bidirectional one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_nn.h"
#include "decoding/decoding.h"

enum { N = 4, D = 8, H = 2, F = 12 };

typedef struct {
    float w[6][F * D]; /* q, k, v, o (D x D), up (F x D), down (D x F) */
    float b[6][F];
    float g[3][D], beta[3][D];
} weights;

static void make(weights *w, uint64_t seed) {
    sc_test_fill_uniform(&w->w[0][0], sizeof w->w / sizeof(float), -0.5f, 0.5f, seed);
    sc_test_fill_uniform(&w->b[0][0], sizeof w->b / sizeof(float), -0.1f, 0.1f, seed + 1);
    sc_test_fill_uniform(&w->g[0][0], sizeof w->g / sizeof(float), 0.8f, 1.2f, seed + 2);
    sc_test_fill_uniform(&w->beta[0][0], sizeof w->beta / sizeof(float), -0.1f, 0.1f, seed + 3);
}

/* y (n, out) = x (n, in) W^T + b in double */
static void lin(double *y, const double *x, const float *W, const float *b, int n, int in,
                int out) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b[o];
            for (int k = 0; k < in; k++) s += x[i * in + k] * W[o * in + k];
            y[i * out + o] = s;
        }
}

static void layernorm(double *x, const float *g, const float *b, int n, double eps) {
    for (int i = 0; i < n; i++) {
        double m = 0, v = 0;
        for (int k = 0; k < D; k++) m += x[i * D + k] / D;
        for (int k = 0; k < D; k++) v += (x[i * D + k] - m) * (x[i * D + k] - m) / D;
        for (int k = 0; k < D; k++) x[i * D + k] = (x[i * D + k] - m) / sqrt(v + eps) * g[k] + b[k];
    }
}

/* The layer without cross-attention, every token seeing every token. */
static void reference(const weights *w, int pre_ln, const float *x0, double *x) {
    double a[N * F], q[N * D], k[N * D], v[N * D], c[N * D], o[N * F];
    for (int i = 0; i < N * D; i++) x[i] = x0[i];
    for (int sub = 0; sub < 2; sub++) {
        const int ln = sub ? 2 : 0;
        memcpy(a, x, sizeof(double) * N * D);
        if (pre_ln) layernorm(a, w->g[ln], w->beta[ln], N, 1e-5);
        if (sub == 0) {
            lin(q, a, w->w[0], w->b[0], N, D, D);
            lin(k, a, w->w[1], w->b[1], N, D, D);
            lin(v, a, w->w[2], w->b[2], N, D, D);
            const int hd = D / H;
            for (int h = 0; h < H; h++)
                for (int i = 0; i < N; i++) {
                    double s[N], mx = -1e300, z = 0;
                    for (int j = 0; j < N; j++) {
                        s[j] = 0;
                        for (int t = 0; t < hd; t++)
                            s[j] += q[i * D + h * hd + t] * k[j * D + h * hd + t];
                        s[j] /= sqrt((double)hd);
                        mx = fmax(mx, s[j]);
                    }
                    for (int j = 0; j < N; j++) z += s[j] = exp(s[j] - mx);
                    for (int t = 0; t < hd; t++) {
                        double acc = 0;
                        for (int j = 0; j < N; j++) acc += s[j] / z * v[j * D + h * hd + t];
                        c[i * D + h * hd + t] = acc;
                    }
                }
            lin(o, c, w->w[3], w->b[3], N, D, D);
        } else {
            double u[N * F];
            lin(u, a, w->w[4], w->b[4], N, D, F);
            for (int i = 0; i < N * F; i++) u[i] = 0.5 * u[i] * (1 + erf(u[i] / sqrt(2.0)));
            lin(o, u, w->w[5], w->b[5], N, F, D);
        }
        for (int i = 0; i < N * D; i++) x[i] += o[i];
        if (!pre_ln) layernorm(x, w->g[ln], w->beta[ln], N, 1e-5);
    }
}

/* dec_block_forward of one row of N tokens; out (N, D) */
static void run(const weights *w, int pre_ln, int causal, const float *x0, float *out) {
    dec_block b = {.pre_ln = pre_ln,
                   .causal = causal,
                   .cross = 0,
                   .act = SC_ACT_GELU,
                   .eps = 1e-5f,
                   .layers = 1,
                   .D = D,
                   .F = F,
                   .H = H,
                   .Ti = 1,
                   .Dimg = D};
    dec_layer L;
    memset(&L, 0, sizeof L);
    dec_linear *lins[6] = {&L.q, &L.k, &L.v, &L.o, &L.up, &L.down};
    const int in[6] = {D, D, D, D, D, F};
    for (int i = 0; i < 6; i++) *lins[i] = (dec_linear){w->w[i], w->b[i], in[i], 0};
    for (int i = 0; i < 3; i++) L.ln_w[i] = w->g[i], L.ln_b[i] = w->beta[i];
    dec_dims d = {1, D, F, 16, H, 1, D};
    dec_state s;
    memset(&s, 0, sizeof s);
    sc_arena *arena = NULL;
    int fresh = 0;
    SC_TEST_OK(dec_plan(&s, &arena, &d, 1, N, N, &fresh, "test"));
    assert_int_equal(fresh, 1);
    memcpy(s.h, x0, sizeof(float) * N * D);
    SC_TEST_OK(dec_block_forward(&b, &L, &s, 1, N, NULL, NULL));
    memcpy(out, s.h, sizeof(float) * N * D);
    sc_arena_free(arena);
}

static void test_bidirectional_without_cross(void **state) {
    (void)state;
    weights w;
    make(&w, 7);
    float x0[N * D], out[N * D], want[N * D];
    double ref[N * D];
    sc_test_fill_uniform(x0, N * D, -1.0f, 1.0f, 11);
    for (int pre = 0; pre < 2; pre++) {
        reference(&w, pre, x0, ref);
        for (int i = 0; i < N * D; i++) want[i] = (float)ref[i];
        run(&w, pre, 0, x0, out);
        sc_test_assert_close(pre ? "pre-LN bidirectional" : "post-LN bidirectional", out, want,
                             N * D, 1e-5, 1e-5);
    }
}

static void test_causal_mask(void **state) {
    (void)state;
    weights w;
    make(&w, 21);
    float x0[N * D], x1[N * D], a[N * D], b[N * D];
    sc_test_fill_uniform(x0, N * D, -1.0f, 1.0f, 5);
    memcpy(x1, x0, sizeof x0);
    for (int i = (N - 1) * D; i < N * D; i++) /* change the last token (not by a constant: */
        x1[i] += 0.5f * (float)(i % D) / D;   /* a LayerNorm would remove that) */
    run(&w, 1, 1, x0, a);
    run(&w, 1, 1, x1, b);
    /* causal: the first N - 1 outputs do not see the last token */
    assert_memory_equal(a, b, sizeof(float) * (N - 1) * D);
    run(&w, 1, 0, x0, a);
    run(&w, 1, 0, x1, b);
    /* bidirectional: they do */
    double diff = 0;
    for (int i = 0; i < (N - 1) * D; i++) diff = fmax(diff, fabs((double)a[i] - b[i]));
    assert_true(diff > 1e-3);
}

/* dec_linear_backward against finite differences of dec_linear_apply, for
 * both weight layouts (nn.Linear's (out, ld), Conv1D's (in, ld)) viewed at a
 * column offset of a wider stacked weight (ld > width) */
typedef struct {
    dec_linear l;
    const float *dy;
    float *x, *y;
    int R, in, out;
} lin_ctx;
static double lin_loss(void *p) {
    lin_ctx *c = p;
    dec_linear_apply(c->y, c->x, &c->l, c->R, c->in, c->out);
    return sc_test_dot(c->y, c->dy, (size_t)c->R * c->out);
}
static void test_linear_backward(void **state) {
    (void)state;
    const int R = 3, in = 5, out = 4, ld = 11;
    float W[5 * 11], b[4], x[3 * 5], dy[3 * 4], y[3 * 4], dx[3 * 5];
    for (int i = 0; i < 5 * 11; i++) W[i] = sinf(0.7f * (float)i + 0.3f);
    for (int i = 0; i < 4; i++) b[i] = 0.1f * (float)i;
    for (int i = 0; i < R * in; i++) x[i] = cosf(1.3f * (float)i);
    for (int i = 0; i < R * out; i++) dy[i] = sinf(2.1f * (float)i + 1.0f);
    for (int major = 0; major < 2; major++) {
        lin_ctx c = {{W + 2, b, ld, major}, dy, x, y, R, in, out};
        for (int i = 0; i < R * in; i++) dx[i] = 0.5f; /* it accumulates */
        dec_linear_backward(dx, dy, &c.l, R, in, out);
        for (int i = 0; i < R * in; i++) dx[i] -= 0.5f;
        sc_test_gradcheck(major ? "Conv1D view dx" : "Linear view dx", lin_loss, &c, x, dx,
                          (size_t)R * in, R * in, 1e-2, 1e-3, 1e-4);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bidirectional_without_cross),
        cmocka_unit_test(test_causal_mask),
        cmocka_unit_test(test_linear_backward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
