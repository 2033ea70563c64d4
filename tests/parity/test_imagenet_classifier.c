/* ImageNet classifiers and their layer view against torchvision and PyTorch
 * autograd (tools/ref/ref_imagenet.py): a seeded random resnet18 (perturbed
 * BatchNorm, ImageNet names and transforms) and a small torchvision ViT.
 *  - classify: skimage's chelsea, astronaut and coffee through
 *    weights.transforms() on the PIL image: the same preprocessed tensor, the
 *    same top-5 classes, every probability within 1e-5;
 *  - gradients of two class logits (one per image of a batch of 2) w.r.t.
 *    layer outputs (ResNet: conv1, relu, maxpool, layer1.0, layer3.1, layer3,
 *    layer4, with Winograd and im2col; ViT: every encoder layer, patch tokens
 *    reshaped to the grid) and the input, against autograd through forward
 *    hooks, within 1e-4 (relative, plus 1e-4 of the largest |value|);
 *  - finite differences of the logits for the same gradients, through
 *    sc_cam_model_forward_from (layer) and sc_cam_model_logits (input),
 *    skipping elements with a ReLU / max-pool kink inside the step;
 *  - bad input: an unknown layer (the message lists the valid ones), a class
 *    out of range, a ResNet without its fc head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_imagenet_classifier.h"

static char *g_dir;

static const char *refdir(void) {
    if (!g_dir) g_dir = sc_test_reference("imagenet", "ref_imagenet.py", "");
    return g_dir;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static const char *const PHOTOS[3] = {"chelsea", "astronaut", "coffee"};

static void check_classify(const char *tag) {
    char name[96];
    snprintf(name, sizeof name, "%s.safetensors", tag);
    char *path = sc_test_join(refdir(), name);
    sc_imagenet_classifier *m = NULL;
    SC_TEST_OK(sc_imagenet_classifier_load(path, NULL, &m));
    sc_imagenet_classifier_info info;
    SC_TEST_OK(sc_imagenet_classifier_get_info(m, &info));
    const int K = info.num_classes, S = info.input_size;
    float *x = malloc((size_t)3 * S * S * sizeof(float)), *probs = malloc(K * sizeof(float));
    assert_non_null(x);
    assert_non_null(probs);
    for (int p = 0; p < 3; p++) {
        snprintf(name, sizeof name, "%s.png", PHOTOS[p]);
        char *png = sc_test_join(refdir(), name);
        sc_image img = {0};
        SC_TEST_OK(sc_image_load(png, NULL, &img, NULL));
        SC_TEST_OK(sc_imagenet_classifier_preprocess(m, &img, x));
        snprintf(name, sizeof name, "%s_%s_input", tag, PHOTOS[p]);
        sc_npy ein = sc_test_npy(refdir(), name);
        assert_int_equal(ein.count, (size_t)3 * S * S);
        sc_test_close_to_npy(name, x, &ein, 0, 1e-6);
        sc_class_score top[5];
        SC_TEST_OK(sc_imagenet_classifier_classify(m, &img, 5, top, probs));
        snprintf(name, sizeof name, "%s_%s_probs", tag, PHOTOS[p]);
        sc_npy ep = sc_test_npy(refdir(), name);
        assert_int_equal(ep.count, (size_t)K);
        sc_test_close_to_npy(name, probs, &ep, 0, 1e-5);
        for (int k = 0; k < 5; k++) { /* torch's top-5 by its own probabilities */
            int best = -1;
            for (int c = 0; c < K; c++) {
                int taken = 0;
                for (int j = 0; j < k; j++) taken |= top[j].index == c;
                if (!taken && (best < 0 || ep.data[c] > ep.data[best])) best = c;
            }
            if (top[k].index != best)
                fail_msg("%s %s: top-%d is class %d, torchvision's %d", tag, PHOTOS[p], k + 1,
                         top[k].index, best);
            assert_string_equal(top[k].name, sc_imagenet_classifier_class_name(m, best));
        }
        printf("%s %s: top-1 %d \"%s\" p=%.6f\n", tag, PHOTOS[p], top[0].index, top[0].name,
               (double)top[0].prob);
        sc_npy_free(&ep);
        sc_npy_free(&ein);
        sc_image_free(&img);
        free(png);
    }
    free(x);
    free(probs);
    sc_imagenet_classifier_free(m);
    free(path);
}

static void test_classify_resnet18(void **state) {
    (void)state;
    check_classify("resnet18");
}

static void test_classify_vit(void **state) {
    (void)state;
    check_classify("vit");
}

/* ---------------------------------------------------------------- gradients */

typedef struct fd_ctx {
    sc_cam_model *m;
    const char *layer; /* NULL: logits of x */
    float *act, *x;
    const float *dl; /* (N, K) weights of the logits */
    int N, K;
    float *lg;
} fd_ctx;

static double fd_loss(void *arg) {
    fd_ctx *c = arg;
    if (c->layer)
        SC_TEST_OK(sc_cam_model_forward_from(c->m, c->layer, c->act, c->N, c->lg));
    else
        SC_TEST_OK(sc_cam_model_logits(c->m, c->x, c->N, c->lg));
    return sc_test_dot(c->lg, c->dl, (size_t)c->N * c->K);
}

/* Central differences of fd_loss for `checks` elements of v against g,
 * skipping an element whose one-sided differences disagree (a ReLU or max
 * pool kink inside the step, where no difference quotient is the gradient);
 * at least three quarters of the elements must be kink-free. Float32 logits
 * of a piecewise-linear net give difference quotients good to about 1% of
 * the largest gradient (kinks just outside the detection): the tolerance
 * says so; the tight check is autograd's above. */
static void gradcheck_kinks(const char *what, fd_ctx *c, float *v, const float *g, size_t n,
                            int checks, double eps) {
    const double f0 = fd_loss(c), gmax = max_abs(g, n);
    int kinks = 0;
    for (int k = 0; k < checks; k++) {
        const size_t i = (size_t)((k + 0.5) * (double)n / checks);
        const float orig = v[i];
        v[i] = (float)(orig + eps);
        const double fp = fd_loss(c);
        v[i] = (float)(orig - eps);
        const double fm = fd_loss(c);
        v[i] = orig;
        const double fwd = (fp - f0) / eps, bwd = (f0 - fm) / eps, fd = (fp - fm) / (2 * eps);
        const double tol = 2e-2 * gmax + 5e-2 * fmax(fabs(fd), fabs(g[i]));
        if (fabs(fwd - bwd) > 2 * tol) {
            kinks++;
            continue;
        }
        if (!(fabs(fd - g[i]) <= tol))
            fail_msg("%s [%zu]: analytic %.8g, finite difference %.8g", what, i, (double)g[i], fd);
    }
    if (kinks * 4 > checks) fail_msg("%s: %d of %d elements at kinks", what, kinks, checks);
    fd_loss(c);
}

/* Each layer's activations against PyTorch, and its gradient too from layer
 * torch_from on (below it, finite differences only: see test_grads_resnet18). */
static void check_grads(const char *tag, const char *ref, const char *const *layers, int nl,
                        const int *targets, const sc_imagenet_classifier_params *p, int fd,
                        int with_dx, int torch_from) {
    char name[128];
    snprintf(name, sizeof name, "%s.safetensors", tag);
    char *path = sc_test_join(refdir(), name);
    sc_imagenet_classifier *c = NULL;
    SC_TEST_OK(sc_imagenet_classifier_load(path, p, &c));
    sc_cam_model *m = NULL;
    SC_TEST_OK(sc_cam_model_from_imagenet(c, &m));
    snprintf(name, sizeof name, "grad_%s_x", ref);
    sc_npy x = sc_test_npy(refdir(), name);
    snprintf(name, sizeof name, "grad_%s_logits", ref);
    sc_npy el = sc_test_npy(refdir(), name);
    snprintf(name, sizeof name, "grad_%s_dx", ref);
    sc_npy edx = sc_test_npy(refdir(), name);
    const int N = 2, K = (int)(el.count / N);
    const int S = (int)lround(sqrt((double)x.count / (3.0 * N)));
    float *dl = calloc((size_t)N * K, sizeof(float)), *lg = malloc((size_t)N * K * sizeof(float));
    float *dx = malloc(x.count * sizeof(float));
    for (int n = 0; n < N; n++) dl[n * K + targets[n]] = 1.0f;
    SC_TEST_OK(sc_cam_model_set_input_size(m, S, S)); /* ResNet: smaller than its crop */
    for (int i = 0; i < nl; i++) {
        int C, h, w;
        SC_TEST_OK(sc_cam_model_layer_shape(m, layers[i], &C, &h, &w));
        const size_t na = (size_t)N * C * h * w;
        float *act = malloc(na * sizeof(float)), *dact = malloc(na * sizeof(float));
        assert_non_null(act);
        assert_non_null(dact);
        SC_TEST_OK(sc_cam_model_forward(m, x.data, N, layers[i], lg, act));
        snprintf(name, sizeof name, "grad_%s_%s_act", ref, layers[i]);
        sc_npy ea = sc_test_npy(refdir(), name);
        assert_int_equal(ea.count, na);
        sc_test_close_to_npy(name, act, &ea, 1e-4, 1e-4 * max_abs(ea.data, na));
        sc_test_close_to_npy("logits", lg, &el, 1e-4, 1e-4 * max_abs(el.data, el.count));
        SC_TEST_OK(sc_cam_model_backward(m, dl, dact, i == nl - 1 ? dx : NULL));
        snprintf(name, sizeof name, "grad_%s_%s_dact", ref, layers[i]);
        sc_npy ed = sc_test_npy(refdir(), name);
        if (i >= torch_from)
            sc_test_close_to_npy(name, dact, &ed, 1e-4, 1e-4 * max_abs(ed.data, na));
        if (i == nl - 1 && with_dx)
            sc_test_close_to_npy("dx", dx, &edx, 1e-4, 1e-4 * max_abs(edx.data, edx.count));
        if (fd) {
            fd_ctx ctx = {m, layers[i], act, NULL, dl, N, K, lg};
            gradcheck_kinks(layers[i], &ctx, act, dact, na, 32, 1e-2);
        }
        sc_npy_free(&ea);
        sc_npy_free(&ed);
        free(act);
        free(dact);
    }
    if (fd) {
        fd_ctx ctx = {m, NULL, NULL, x.data, dl, N, K, lg};
        gradcheck_kinks("input", &ctx, x.data, dx, x.count, 32, 1e-2);
    }
    free(dl);
    free(lg);
    free(dx);
    sc_npy_free(&x);
    sc_npy_free(&el);
    sc_npy_free(&edx);
    sc_cam_model_free(m);
    sc_imagenet_classifier_free(c);
    free(path);
}

static const char *const RESNET_LAYERS[] = {"conv1",    "relu",   "maxpool", "layer1.0",
                                            "layer3.1", "layer3", "layer4"};
static const int RESNET_TARGETS[2] = {3, 500};

static void test_grads_resnet18(void **state) {
    (void)state;
    sc_imagenet_classifier_params p = sc_imagenet_classifier_default_params();
    p.gradients = 1;
    for (int wino = 1; wino >= 0; wino--) {
        p.winograd = wino;
        /* With saccade's AVX2 kernel, whose sums run in another order
         * than PyTorch's, one ReLU or max-pool choice below layer3.1 (inputs
         * within rounding of each other) goes the other way on both conv
         * paths, changing every gradient beneath it, as in the folded test
         * below. There the gradients below layer3.1 are checked against
         * finite differences of the same forward (which tell kinks apart)
         * and against PyTorch from layer3.1 up; elsewhere against PyTorch
         * at every layer and the input. */
        const int avx2 = strcmp(sc_gemm_packed_kernel(), "avx2") == 0;
        check_grads("resnet18", "resnet18", RESNET_LAYERS, 7, RESNET_TARGETS, &p, wino || avx2,
                    !avx2, avx2 ? 4 : 0);
    }
}

/* BatchNorm folded into the convs in the file: the same activations at every
 * layer and the same gradients down to layer3. Below, one ReLU of layer2.1
 * whose input is within rounding of 0 here lands on the other side in the
 * folded arithmetic, which changes the gradient of everything beneath it: a
 * kink, not a difference of the backward (the same code runs for both). */
static void test_grads_resnet18_folded(void **state) {
    (void)state;
    sc_imagenet_classifier_params p = sc_imagenet_classifier_default_params();
    p.gradients = 1;
    check_grads("resnet18_folded", "resnet18", RESNET_LAYERS + 4, 3, RESNET_TARGETS, &p, 0, 0, 0);
}

static void test_grads_vit(void **state) {
    (void)state;
    static const char *const layers[] = {"encoder.layers.0", "encoder.layers.1",
                                         "encoder.layers.2"};
    static const int targets[2] = {1, 7};
    sc_imagenet_classifier_params p = sc_imagenet_classifier_default_params();
    p.gradients = 1;
    check_grads("vit", "vit", layers, 3, targets, &p, 1, 1, 0);
    /* attention rollout of image 0 against the attention weights of PyTorch's own layers */
    char *path = sc_test_join(refdir(), "vit.safetensors");
    sc_cam_model *m = NULL;
    SC_TEST_OK(sc_cam_model_load(path, &m));
    sc_npy x = sc_test_npy(refdir(), "grad_vit_x"), er = sc_test_npy(refdir(), "grad_vit_rollout");
    float out[16];
    assert_int_equal(er.count, 16);
    assert_int_equal(sc_cam_model_vit_rollout(m, 0, 0.0f, out), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_cam_model_forward(m, x.data, 2, NULL, NULL, NULL));
    SC_TEST_OK(sc_cam_model_vit_rollout(m, 0, 0.0f, out));
    sc_test_close_to_npy("rollout", out, &er, 1e-4, 1e-6);
    sc_npy_free(&x);
    sc_npy_free(&er);
    sc_cam_model_free(m);
    free(path);
}

/* ---------------------------------------------------------------- bad input */

static void test_errors(void **state) {
    (void)state;
    char *path = sc_test_join(refdir(), "resnet18.safetensors");
    sc_cam_model *m = NULL;
    SC_TEST_OK(sc_cam_model_load(path, &m));
    int C, h, w;
    assert_int_equal(sc_cam_model_layer_shape(m, "layer5", &C, &h, &w), SC_ERR_INVALID_ARG);
    const char *e = sc_last_error();
    assert_non_null(strstr(e, "layer5"));
    assert_non_null(strstr(e, "layer3.1"));
    assert_non_null(strstr(e, "layer4"));
    float x[3 * 64 * 64] = {0};
    SC_TEST_OK(sc_cam_model_set_input_size(m, 64, 64));
    assert_int_equal(sc_cam_model_forward(m, x, 1, "fc", NULL, NULL), SC_ERR_INVALID_ARG);
    float roll[49];
    assert_int_equal(sc_cam_model_vit_rollout(m, 0, 0.0f, roll), SC_ERR_UNSUPPORTED);
    int k = -1;
    assert_int_equal(sc_cam_model_class_from_string(m, "1000", &k), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "0..999"));
    assert_int_equal(sc_cam_model_class_from_string(m, "-1", &k), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_cam_model_class_from_string(m, "no such animal", &k), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_cam_model_class_from_string(m, "tabby", &k));
    assert_int_equal(k, 281);
    SC_TEST_OK(sc_cam_model_class_from_string(m, "Tabby", &k));
    assert_int_equal(k, 281);
    SC_TEST_OK(sc_cam_model_class_from_string(m, "999", &k));
    assert_int_equal(k, 999);
    float dl[1000] = {0};
    assert_int_equal(sc_cam_model_backward(m, dl, NULL, NULL), SC_ERR_INVALID_ARG); /* no forward */
    sc_cam_model_free(m);
    free(path);

    path = sc_test_join(refdir(), "resnet18_nofc.safetensors");
    sc_imagenet_classifier *c = NULL;
    assert_int_equal(sc_imagenet_classifier_load(path, NULL, &c), SC_ERR_UNSUPPORTED);
    assert_null(c);
    assert_non_null(strstr(sc_last_error(), "classifier head"));
    assert_int_equal(sc_cam_model_load(path, &m), SC_ERR_UNSUPPORTED);
    assert_null(m);
    free(path);

    /* inference-only (the default): no gradients */
    path = sc_test_join(refdir(), "resnet18.safetensors");
    SC_TEST_OK(sc_imagenet_classifier_load(path, NULL, &c));
    SC_TEST_OK(sc_cam_model_from_imagenet(c, &m));
    assert_int_equal(sc_cam_model_forward(m, x, 1, "layer4", NULL, NULL), SC_ERR_UNSUPPORTED);
    sc_class_score top[2];
    assert_int_equal(sc_imagenet_classifier_classify_batch(c, x, 1, 1001, top, NULL),
                     SC_ERR_INVALID_ARG);
    sc_cam_model_free(m);
    sc_imagenet_classifier_free(c);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_resnet18), cmocka_unit_test(test_classify_vit),
        cmocka_unit_test(test_grads_resnet18),    cmocka_unit_test(test_grads_resnet18_folded),
        cmocka_unit_test(test_grads_vit),         cmocka_unit_test(test_errors),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    sc_test_reference_free(&g_dir);
    return r;
}
