/* sc_vit against its PyTorch twin (tools/ref/ref_vit.py, tools/ref/torch_vit.py
 * with nn.TransformerEncoderLayer): the model files are written by the Python
 * side (PyTorch state_dict names), loaded by saccade, and the eval forward,
 * every parameter gradient, the input gradient and the attention rollout are
 * compared; plus a train-mode forward/backward finite-difference check with
 * dropout off, and config validation; and a file view (sc_vit_open_view,
 * packed layers) against the model whose weights it maps, before and after
 * sc_vit_view_keep_activations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_vit.h"

#define RTOL 1e-4
#define ATOL 1e-4

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_tmpdir("vit_parity");
    sc_test_python("ref_vit.py", "%s", g_dir);
    return 0;
}
static int teardown(void **state) {
    (void)state;
    sc_test_rmtree(g_dir);
    free(g_dir);
    return 0;
}

static sc_npy npy(const char *case_, const char *name) {
    char buf[600];
    snprintf(buf, sizeof buf, "%.60s_%.500s", case_, name);
    return sc_test_npy(g_dir, buf);
}

static size_t numel(const sc_npy *a) {
    size_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    return n;
}

static void close_to(const char *what, const float *a, const sc_npy *ref) {
    sc_test_close_to_npy(what, a, ref, RTOL, ATOL);
}

static void check_case(const char *cs, int has_cls) {
    char fname[64];
    snprintf(fname, sizeof fname, "%s.safetensors", cs);
    char *path = sc_test_join(g_dir, fname);
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    const char *ej = sc_safetensors_metadata(st, "saccade.encoder");
    assert_non_null(ej);
    sc_vit_config c;
    SC_TEST_OK(sc_vit_config_from_json(ej, &c));
    assert_int_equal(c.cls_token, has_cls);
    sc_rng r;
    sc_rng_seed(&r, 1);
    sc_vit *m;
    SC_TEST_OK(sc_vit_create(&c, "encoder.", &r, &m));
    SC_TEST_OK(sc_vit_load(m, st));
    sc_npy x = npy(cs, "x"), out = npy(cs, "out"), gout = npy(cs, "gout"), dx = npy(cs, "dx");
    const int B = (int)x.shape[0];
    assert_int_equal(out.shape[1], sc_vit_tokens(&c));
    const float *y;
    SC_TEST_OK(sc_vit_forward(m, x.data, B, 0, NULL, &y));
    close_to("eval output", y, &out);
    float *gx = calloc(numel(&x), sizeof(float));
    sc_vit_zero_grad(m);
    SC_TEST_OK(sc_vit_backward(m, gout.data, gx));
    close_to("input gradient", gx, &dx);
    const sc_param *ps;
    size_t np;
    sc_vit_params(m, &ps, &np);
    assert_int_equal(np, 4 - !has_cls - (c.pos != SC_VIT_POS_LEARNED) + 12 * c.depth + 2);
    for (size_t i = 0; i < np; i++) {
        char name[256];
        snprintf(name, sizeof name, "grad_%s", ps[i].name + strlen("encoder."));
        sc_npy g = npy(cs, name);
        assert_int_equal((size_t)numel(&g), ps[i].n);
        close_to(ps[i].name, ps[i].grad, &g);
        sc_npy_free(&g);
    }
    const int G = sc_vit_grid(&c);
    float *roll = calloc((size_t)G * G, sizeof(float));
    if (has_cls) {
        /* the backward must not have disturbed the kept attention */
        sc_npy ro = npy(cs, "rollout");
        SC_TEST_OK(sc_vit_rollout(m, 1, 0.0f, roll));
        close_to("rollout of image 1", roll, &ro);
        sc_npy_free(&ro);
        assert_int_equal(sc_vit_rollout(m, B, 0.0f, roll), SC_ERR_INVALID_ARG);
    } else {
        assert_int_equal(sc_vit_rollout(m, 0, 0.0f, roll), SC_ERR_UNSUPPORTED);
    }
    /* a train-mode forward keeps no attention */
    SC_TEST_OK(sc_vit_forward(m, x.data, B, 1, NULL, &y));
    close_to("train output (dropout 0)", y, &out);
    if (has_cls) assert_int_equal(sc_vit_rollout(m, 0, 0.0f, roll), SC_ERR_INVALID_ARG);
    free(roll);
    free(gx);
    sc_npy_free(&x), sc_npy_free(&out), sc_npy_free(&gout), sc_npy_free(&dx);
    sc_vit_free(m);
    sc_safetensors_free(st);
    free(path);
}

static void test_learned_cls(void **state) {
    (void)state;
    check_case("learned", 1);
}

static void test_sincos_nocls(void **state) {
    (void)state;
    check_case("sincos", 0);
}

/* Finite differences through the whole encoder in train mode with dropout
 * (a fixed rng stream per evaluation makes the loss a smooth function). */
typedef struct {
    sc_vit *m;
    float *x;
    const float *w; /* loss weights (B, T, D) */
    int B;
} fd_ctx;

static double fd_loss(void *ctx) {
    fd_ctx *f = ctx;
    sc_rng r;
    sc_rng_seed(&r, 77);
    const float *y;
    if (sc_vit_forward(f->m, f->x, f->B, 1, &r, &y)) return NAN;
    const sc_vit_config *c = sc_vit_get_config(f->m);
    size_t n = (size_t)f->B * sc_vit_tokens(c) * c->dim;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)y[i] * f->w[i];
    return s;
}

static void test_gradcheck_dropout(void **state) {
    (void)state;
    sc_vit_config c = sc_vit_default_config();
    c.image_size = 8, c.patch = 4, c.dim = 8, c.depth = 2, c.heads = 2, c.mlp_dim = 12;
    c.dropout = 0.2f;
    sc_rng r;
    sc_rng_seed(&r, 5);
    sc_vit *m;
    SC_TEST_OK(sc_vit_create(&c, NULL, &r, &m));
    const int B = 2, T = sc_vit_tokens(&c);
    size_t nx = (size_t)B * 3 * 8 * 8, ny = (size_t)B * T * c.dim;
    float *x = malloc(nx * sizeof(float)), *w = malloc(ny * sizeof(float));
    float *dx = calloc(nx, sizeof(float));
    for (size_t i = 0; i < nx; i++) x[i] = sc_rng_uniform(&r) * 2 - 1;
    for (size_t i = 0; i < ny; i++) w[i] = sc_rng_uniform(&r) * 2 - 1;
    fd_ctx f = {m, x, w, B};
    fd_loss(&f);
    sc_vit_zero_grad(m);
    SC_TEST_OK(sc_vit_backward(m, w, dx));
    sc_test_gradcheck("vit dx", fd_loss, &f, x, dx, nx, 40, 3e-3, 3e-2, 3e-3);
    const sc_param *ps;
    size_t np;
    sc_vit_params(m, &ps, &np);
    for (size_t i = 0; i < np; i++) {
        sc_test_gradcheck(ps[i].name, fd_loss, &f, ps[i].param, ps[i].grad, ps[i].n, 12, 3e-3, 3e-2,
                          3e-3);
    }
    free(x), free(w), free(dx);
    sc_vit_free(m);
}

static void test_config_errors(void **state) {
    (void)state;
    sc_vit_config c;
    assert_int_equal(sc_vit_config_from_json("{\"type\": \"vit\"}", &c), SC_ERR_FORMAT);
    assert_int_equal(sc_vit_config_from_json("[1]", &c), SC_ERR_FORMAT);
    const char *ok = "{\"image_size\": 32, \"patch\": 8, \"in_channels\": 3, \"dim\": 16, "
                     "\"depth\": 1, \"heads\": 4, \"mlp_dim\": 8%s}";
    char buf[512];
    snprintf(buf, sizeof buf, ok, "");
    SC_TEST_OK(sc_vit_config_from_json(buf, &c));
    char *j = sc_vit_config_to_json(&c);
    sc_vit_config c2;
    SC_TEST_OK(sc_vit_config_from_json(j, &c2));
    assert_memory_equal(&c, &c2, sizeof c);
    free(j);
    const char *bad[] = {", \"typo\": 1",       ", \"pos_embed\": \"rope\"",
                         ", \"dropout\": 1",    ", \"cls_token\": 2",
                         ", \"type\": \"cnn\"", ", \"patch\": 7",
                         ", \"heads\": 3",      ", \"depth\": 0",
                         ", \"dim\": 1e9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf,
                 "{\"image_size\": 32, \"patch\": 8, \"in_channels\": 3, "
                 "\"dim\": 16, \"depth\": 1, \"heads\": 4, \"mlp_dim\": 8%s}",
                 bad[i]);
        sc_status s = sc_vit_config_from_json(buf, &c);
        if (s == SC_OK) fail_msg("accepted %s", buf);
        assert_non_null(strstr(sc_last_error(), "vit config"));
    }
    c = sc_vit_default_config();
    c.pos = SC_VIT_POS_SINCOS, c.dim = 18, c.heads = 3;
    assert_int_equal(sc_vit_config_validate(&c), SC_ERR_INVALID_ARG);
}

static int same_name(const char *vit_name, char *out, size_t cap, void *ctx) {
    (void)ctx;
    return snprintf(out, cap, "%s", vit_name) >= (int)cap;
}

/* A view of a saved model: its packed layers give the model's eval output
 * (and keep the last layer's tokens); after sc_vit_view_keep_activations
 * the per-layer path gives it again, with the model's input gradient. */
static void test_view_matches_model(void **state) {
    (void)state;
    sc_vit_config c = sc_vit_default_config();
    c.image_size = 32, c.patch = 8, c.dim = 48, c.depth = 2, c.heads = 3, c.mlp_dim = 80;
    c.ln_eps = 1e-6f;
    sc_rng r;
    sc_rng_seed(&r, 7);
    sc_vit *m = NULL, *v = NULL;
    SC_TEST_OK(sc_vit_create(&c, NULL, &r, &m));
    const sc_param *ps;
    size_t np;
    sc_vit_params(m, &ps, &np);
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    for (size_t i = 0; i < np; i++)
        SC_TEST_OK(
            sc_st_writer_add_f32(w, ps[i].name, ps[i].param, ps[i].ndim, ps[i].shape, SC_ST_F32));
    char *dir = sc_test_tmpdir("vit_view"), *path = sc_test_join(dir, "vit.safetensors");
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    sc_safetensors *st = NULL;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    SC_TEST_OK(sc_vit_open_view(&c, st, same_name, NULL, &v));
    enum { B = 2 };
    const int T = sc_vit_tokens(&c);
    const size_t nx = (size_t)B * 3 * 32 * 32, ny = (size_t)B * T * c.dim;
    float *x = sc_test_random(nx, -1.0f, 1.0f, 3), *want = malloc(ny * sizeof(float)),
          *dout = sc_test_random(ny, -1.0f, 1.0f, 4), *dx = sc_test_zeros(nx),
          *dxv = sc_test_zeros(nx);
    const float *y;
    SC_TEST_OK(sc_vit_forward(m, x, B, 0, NULL, &y));
    memcpy(want, y, ny * sizeof(float));
    SC_TEST_OK(sc_vit_backward(m, dout, dx));
    for (int pass = 0; pass < 2; pass++) { /* packed; then per layer, keeping activations */
        SC_TEST_OK(sc_vit_forward(v, x, B, 0, NULL, &y));
        sc_test_assert_close(pass ? "view, per layer" : "view, packed layers", y, want, ny, 1e-5,
                             1e-5);
        assert_non_null(sc_vit_layer_tokens(v, c.depth - 1));
        if (pass) {
            SC_TEST_OK(sc_vit_backward(v, dout, dxv));
            sc_test_assert_close("view input gradient", dxv, dx, nx, 1e-4, 1e-5);
        } else {
            assert_int_equal(sc_vit_backward(v, dout, dxv), SC_ERR_UNSUPPORTED);
            SC_TEST_OK(sc_vit_view_keep_activations(v));
        }
    }
    sc_vit_free(v), sc_vit_free(m);
    sc_safetensors_free(st);
    sc_test_rmtree(dir);
    free(dir), free(path), free(x), free(want), free(dout), free(dx), free(dxv);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learned_cls),        cmocka_unit_test(test_sincos_nocls),
        cmocka_unit_test(test_gradcheck_dropout),  cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_view_matches_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
