/* The CAM family and input attributions (sc_cam.h) against a PyTorch
 * implementation following pytorch-grad-cam 1.5.5 and Captum
 * (tools/ref/ref_cam.py, hooks on the chosen layer): a random classifier at
 * two layers, the shipped ST-CNN, a random torchvision resnet18 and a small
 * random ViT at two layers each, two classes each; every method, with
 * eigen_smooth and aug_smooth (the ViT's AblationCAM as pytorch-grad-cam's
 * AblationLayerVit; its HiResCAM at the first layer, refused at the
 * second), and the ViT's attention rollout as jacobgil/vit-explain. Maps
 * within 1e-4. Faithfulness scores against the twin's RISE and ROAD. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_cam.h"
#include "saccade/sc_cam_model.h"
#include "saccade/sc_npy.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_saliency_model.h"

SC_TEST_REFERENCE_GROUP("cam_parity", "ref_cam.py", sc_test_source_arg())

static const sc_model_saliency_method CAMS[] = {
    SC_MSAL_GRADCAM,  SC_MSAL_GRADCAMPP,    SC_MSAL_XGRADCAM, SC_MSAL_HIRESCAM,   SC_MSAL_LAYERCAM,
    SC_MSAL_EIGENCAM, SC_MSAL_EIGENGRADCAM, SC_MSAL_SCORECAM, SC_MSAL_ABLATIONCAM};

/* One map against <case>_<name>.npy within 1e-4; returns how non-trivial it
 * is (its mean). */
static double compare(const sc_cam_net *m, sc_model_saliency_method meth, const float *x, int k,
                      const sc_cam_params *p, const char *name) {
    sc_npy ref = sc_test_npy(g_dir, name);
    size_t n = (size_t)m->in_h * m->in_w;
    assert_int_equal(ref.count, n);
    float *map = calloc(n, sizeof(float));
    sc_cam_info info;
    SC_TEST_OK(sc_cam_compute(m, meth, x, k, p, map, &info));
    assert_int_equal(info.target, k);
    sc_test_assert_close(name, map, ref.data, n, 0, 1e-4);
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += map[i] / (double)n;
    free(map);
    sc_npy_free(&ref);
    return mean;
}

/* Every method of CAMS at each layer (but hirescam at a ViT's last layer
 * but one: vit), two classes; eigen_smooth / aug_smooth for several methods
 * (small) or gradcam only; then the input attributions at the last layer's
 * net. */
static void check_case(const char *c, const sc_cam_net *const *models, const char *const *layers,
                       int nlayers, int small, int vit) {
    char name[128];
    snprintf(name, sizeof name, "%s_x", c);
    sc_npy x = sc_test_npy(g_dir, name);
    snprintf(name, sizeof name, "%s_targets", c);
    sc_npy t = sc_test_npy(g_dir, name);
    sc_cam_params p = sc_cam_default_params();
    int trivial = 0, maps = 0;
    for (int l = 0; l < nlayers; l++)
        for (int j = 0; j < 2; j++) {
            int k = (int)t.data[j];
            for (size_t i = 0; i < sizeof CAMS / sizeof CAMS[0]; i++) {
                /* a ViT's last layer but one: sum_c G A is zero (its patch tokens
                 * reach the class token only through the last layer's LayerNorm,
                 * blind to their scale): refused with the reason */
                if (vit && l == nlayers - 1 && CAMS[i] == SC_MSAL_HIRESCAM) {
                    float *map = calloc((size_t)models[l]->in_h * models[l]->in_w, sizeof(float));
                    assert_int_equal(sc_cam_compute(models[l], CAMS[i], x.data, k, &p, map, NULL),
                                     SC_ERR_UNSUPPORTED);
                    assert_non_null(
                        strstr(sc_last_error(), "hirescam is zero at encoder.layers.1"));
                    assert_non_null(strstr(sc_last_error(), "needs encoder.layers.0 .. 0"));
                    free(map);
                    continue;
                }
                /* one layer's ScoreCAM is enough for the resnet18 */
                if (!strcmp(c, "resnet18") && l && CAMS[i] == SC_MSAL_SCORECAM) continue;
                snprintf(name, sizeof name, "%s_%s_%s_%d", c, layers[l],
                         sc_model_saliency_method_name(CAMS[i]), k);
                double mean = compare(models[l], CAMS[i], x.data, k, &p, name);
                trivial += !(mean > 0.01 && mean < 0.99), maps++;
            }
            p.eigen_smooth = 1;
            const sc_model_saliency_method eig[] = {SC_MSAL_GRADCAM, SC_MSAL_SCORECAM,
                                                    SC_MSAL_ABLATIONCAM, SC_MSAL_LAYERCAM};
            for (int i = 0; i < (small ? 4 : 1); i++) {
                snprintf(name, sizeof name, "%s_%s_%s_eigen_%d", c, layers[l],
                         sc_model_saliency_method_name(eig[i]), k);
                compare(models[l], eig[i], x.data, k, &p, name);
            }
            p.eigen_smooth = 0;
            p.aug_smooth = 1;
            const sc_model_saliency_method aug[] = {SC_MSAL_GRADCAM, SC_MSAL_SCORECAM};
            for (int i = 0; i < (!strcmp(c, "cls") ? 2 : 1); i++) {
                snprintf(name, sizeof name, "%s_%s_%s_aug_%d", c, layers[l],
                         sc_model_saliency_method_name(aug[i]), k);
                compare(models[l], aug[i], x.data, k, &p, name);
            }
            p.aug_smooth = 0;
        }
    /* a class's CAM may be all zero (no positive evidence), but not most */
    assert_true(trivial <= maps / 5);
    const sc_cam_net *last = models[nlayers - 1];
    p.steps = 16; /* Integrated Gradients: 16 Gauss-Legendre nodes, as the reference */
    for (int j = 0; j < 2; j++) {
        int k = (int)t.data[j];
        snprintf(name, sizeof name, "%s_gradient_%d", c, k);
        compare(last, SC_MSAL_GRADIENT, x.data, k, &p, name);
        snprintf(name, sizeof name, "%s_intgrad_%d", c, k);
        /* against the float64 integrand: near alpha = 0 float32 rounding
         * decides the CNNs' nearly tied max-pool windows (tools/ref/ref_cam.py) */
        compare(last, SC_MSAL_INTGRAD, x.data, k, &p, name);
    }
    /* SmoothGrad: the noise the library draws (sc_rng(seed), sample by
     * sample, tensor order, sigma = 0.15 (max - min)), handed to the
     * reference */
    p.samples = 4;
    p.seed = 9;
    size_t xs = (size_t)last->in_c * last->in_h * last->in_w;
    float lo = x.data[0], hi = x.data[0];
    for (size_t i = 0; i < xs; i++) lo = fminf(lo, x.data[i]), hi = fmaxf(hi, x.data[i]);
    float *noise = malloc(4 * xs * sizeof(float));
    sc_rng r;
    sc_rng_seed(&r, 9);
    for (size_t i = 0; i < 4 * xs; i++) noise[i] = 0.15f * (hi - lo) * sc_rng_normal(&r);
    int64_t shape[4] = {4, last->in_c, last->in_h, last->in_w};
    snprintf(name, sizeof name, "%s/%s_noise.npy", g_dir, c);
    SC_TEST_OK(sc_npy_write(name, noise, 4, shape));
    free(noise);
    sc_test_python("ref_cam.py", "'%s' '%s' smoothgrad", g_dir, sc_test_env("SACCADE_SOURCE_DIR"));
    for (int j = 0; j < 2; j++) {
        int k = (int)t.data[j];
        snprintf(name, sizeof name, "%s_smoothgrad_%d", c, k);
        compare(last, SC_MSAL_SMOOTHGRAD, x.data, k, &p, name);
    }
    sc_npy_free(&x), sc_npy_free(&t);
}

static void test_classifier_random(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "cls.safetensors");
    sc_classifier *m;
    SC_TEST_OK(sc_classifier_load(path, &m));
    sc_cam_net l1, l2;
    SC_TEST_OK(sc_cam_net_classifier(m, "encoder.stages.1", &l1));
    SC_TEST_OK(sc_cam_net_classifier(m, NULL, &l2)); /* the last stage */
    assert_string_equal(l2.layer, "encoder.stages.2");
    assert_int_equal(l1.act_c, 8);
    const sc_cam_net *models[2] = {&l1, &l2};
    const char *const layers[2] = {"1", "2"};
    check_case("cls", models, layers, 2, 1, 0);
    /* bad input: an unknown layer lists the valid ones; classes out of range */
    sc_cam_net bad;
    assert_int_equal(sc_cam_net_classifier(m, "layer4", &bad), SC_ERR_INVALID_ARG);
    assert_non_null(
        strstr(sc_last_error(), "encoder.stages.0, encoder.stages.1, encoder.stages.2"));
    float x[3 * 20 * 24] = {0}, map[20 * 24];
    assert_int_equal(sc_cam_compute(&l2, SC_MSAL_GRADCAM, x, 5, NULL, map, NULL),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_cam_compute(&l2, SC_MSAL_ROLLOUT, x, -1, NULL, map, NULL),
                     SC_ERR_UNSUPPORTED);
    assert_int_equal(sc_cam_compute(&l2, SC_MSAL_ATTENTION, x, -1, NULL, map, NULL),
                     SC_ERR_INVALID_ARG);
    int k = -1;
    SC_TEST_OK(sc_cam_class_from_string(&l2, "c3", &k));
    assert_int_equal(k, 3);
    SC_TEST_OK(sc_cam_class_from_string(&l2, "4", &k));
    assert_int_equal(k, 4);
    assert_int_equal(sc_cam_class_from_string(&l2, "5", &k), SC_ERR_INVALID_ARG);
    sc_cam_net_release(&l1);
    sc_cam_net_release(&l2);
    sc_classifier_free(m);
    free(path);
}

/* Deletion / insertion (RISE) and ROAD of a random map against the twin's
 * RISE CausalMetric and pytorch-grad-cam ROADCombined (noise 0). */
static void test_faithfulness(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "cls.safetensors");
    sc_classifier *m;
    SC_TEST_OK(sc_classifier_load(path, &m));
    sc_cam_net cm;
    SC_TEST_OK(sc_cam_net_classifier(m, NULL, &cm));
    sc_npy x = sc_test_npy(g_dir, "cls_x"), t = sc_test_npy(g_dir, "cls_targets"),
           fmap = sc_test_npy(g_dir, "cls_fmap"), del = sc_test_npy(g_dir, "cls_del"),
           ins = sc_test_npy(g_dir, "cls_ins"), road = sc_test_npy(g_dir, "cls_road");
    sc_faithfulness f;
    SC_TEST_OK(sc_cam_faithfulness(&cm, x.data, fmap.data, (int)t.data[0], 0, 0, NULL, &f));
    assert_int_equal(f.npoints, 21); /* 480 pixels, 24 per step */
    assert_int_equal(del.count, 21);
    /* a random classifier's probabilities move little: compare tightly */
    sc_test_assert_close("deletion curve", f.deletion, del.data, 21, 0, 2e-6);
    sc_test_assert_close("insertion curve", f.insertion, ins.data, 21, 0, 2e-6);
    double a = 0;
    for (int i = 0; i < 21; i++) a += del.data[i];
    a = (a - del.data[0] / 2 - del.data[20] / 2) / 20;
    assert_true(fabs(f.deletion_auc - a) < 2e-6);
    float got[3] = {(float)f.road_morf, (float)f.road_lerf, (float)f.road};
    sc_test_assert_close("ROAD MoRF, LeRF, combined", got, road.data, 3, 0, 2e-6);
    sc_faithfulness_free(&f);
    /* bad input */
    assert_int_equal(sc_cam_faithfulness(&cm, x.data, fmap.data, 5, 0, 0, NULL, &f),
                     SC_ERR_INVALID_ARG);
    assert_int_equal(sc_cam_faithfulness(&cm, x.data, fmap.data, 0, -1, 0, NULL, &f),
                     SC_ERR_INVALID_ARG);
    assert_null(f.deletion);
    sc_npy_free(&x), sc_npy_free(&t), sc_npy_free(&fmap), sc_npy_free(&del), sc_npy_free(&ins);
    sc_npy_free(&road);
    sc_cam_net_release(&cm);
    sc_classifier_free(m);
    free(path);
}

static void test_stcnn_shipped(void **state) {
    (void)state;
    char *path = sc_test_source_path("assets/models/fashion-stn.safetensors");
    sc_stcnn *m;
    SC_TEST_OK(sc_stcnn_load(path, &m));
    sc_cam_net l2;
    SC_TEST_OK(sc_cam_net_stcnn(m, "encoder.stages.2", &l2));
    const sc_cam_net *models[1] = {&l2};
    const char *const layers[1] = {"2"};
    check_case("stn", models, layers, 1, 1, 0);
    sc_cam_net_release(&l2);
    sc_stcnn_free(m);
    free(path);
}

/* torchvision classifiers through sc_cam_model (sc_cam_net_from_model). */
static void check_torchvision(const char *tag, const char *l1, const char *l2, int size, int vit) {
    char file[64];
    snprintf(file, sizeof file, "%s.safetensors", tag);
    char *path = sc_test_join(g_dir, file);
    sc_cam_model *m;
    SC_TEST_OK(sc_cam_model_load(path, &m));
    if (size) SC_TEST_OK(sc_cam_model_set_input_size(m, size, size));
    sc_cam_net a, b;
    SC_TEST_OK(sc_cam_net_from_model(m, l1, &a));
    SC_TEST_OK(sc_cam_net_from_model(m, l2, &b));
    const sc_cam_net *models[2] = {&a, &b};
    const char *const layers[2] = {l1, l2};
    check_case(tag, models, layers, 2, 0, vit);
    sc_cam_net bad;
    assert_int_equal(sc_cam_net_from_model(m, "layer9", &bad), SC_ERR_INVALID_ARG);
    sc_cam_net_release(&a);
    sc_cam_net_release(&b);
    sc_cam_model_free(m);
    free(path);
}

static void test_resnet18(void **state) {
    (void)state;
    check_torchvision("resnet18", "layer2", "layer3", 32, 0);
}

static void test_vit(void **state) {
    (void)state;
    check_torchvision("vit", "encoder.layers.0", "encoder.layers.1", 0, 1);
}

/* A ViT classifier's attention rollout (jacobgil/vit-explain, head fusion
 * mean) with discard ratios 0 and 0.9, the same for any class and layer;
 * bad discard ratios; hirescam at the last layer refused. */
static void test_vit_rollout(void **state) {
    (void)state;
    char *path = sc_test_join(g_dir, "vit.safetensors");
    sc_cam_model *m;
    SC_TEST_OK(sc_cam_model_load(path, &m));
    sc_cam_net a, last;
    SC_TEST_OK(sc_cam_net_from_model(m, NULL, &a));
    SC_TEST_OK(sc_cam_net_from_model(m, "encoder.layers.encoder_layer_2", &last));
    sc_npy x = sc_test_npy(g_dir, "vit_x"), t = sc_test_npy(g_dir, "vit_targets");
    sc_cam_params p = sc_cam_default_params();
    compare(&a, SC_MSAL_ROLLOUT, x.data, (int)t.data[0], &p, "vit_rollout_0");
    double mean = compare(&last, SC_MSAL_ROLLOUT, x.data, (int)t.data[1], &p, "vit_rollout_0");
    assert_true(mean > 0.05 && mean < 0.95);
    p.discard_ratio = 0.9f;
    compare(&a, SC_MSAL_ROLLOUT, x.data, (int)t.data[0], &p, "vit_rollout_90");
    float map[32 * 32];
    p.discard_ratio = 1.0f;
    assert_int_equal(sc_cam_compute(&a, SC_MSAL_ROLLOUT, x.data, -1, &p, map, NULL),
                     SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "discard ratio 1 is outside [0, 1)"));
    p.discard_ratio = -0.1f;
    assert_int_equal(sc_cam_compute(&a, SC_MSAL_ROLLOUT, x.data, -1, &p, map, NULL),
                     SC_ERR_INVALID_ARG);
    p.discard_ratio = 0;
    assert_int_equal(sc_cam_compute(&last, SC_MSAL_HIRESCAM, x.data, -1, &p, map, NULL),
                     SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "the last of this ViT's 3 layers"));
    sc_npy_free(&x), sc_npy_free(&t);
    sc_cam_net_release(&a);
    sc_cam_net_release(&last);
    sc_cam_model_free(m);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classifier_random),
        cmocka_unit_test(test_stcnn_shipped),
        cmocka_unit_test(test_faithfulness),
        cmocka_unit_test(test_resnet18),
        cmocka_unit_test(test_vit),
        cmocka_unit_test(test_vit_rollout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
