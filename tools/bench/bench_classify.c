/* saccade side of tools/bench/classify.sh (never run by the test suite).
 *
 *   bench_classify classify MODEL PHOTO... [--threads N]
 *     load the model, then time the loop over the photos (sc_image_load +
 *     sc_imagenet_classifier_classify, top-5): prints total_ms and the sum of
 *     the top-1 probabilities (a checksum against the PyTorch side).
 *   bench_classify gradcam MODEL PHOTO REPS [THREADS]
 *     the photo preprocessed once; per rep sc_cam_model_forward (logits and
 *     the layer4 activation) + sc_cam_model_backward of the top class's logit
 *     to layer4 (dx not asked): Grad-CAM's gradient work. 2 warm-ups, prints
 *     the median ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/saccade.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int die(const char *what) {
    fprintf(stderr, "bench_classify %s: %s\n", what, sc_last_error());
    return 1;
}

static int run_classify(int argc, char **argv) {
    int threads = 2, n = 0;
    for (int i = 3; i < argc; i++)
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    sc_imagenet_classifier_params p = sc_imagenet_classifier_default_params();
    p.threads = threads;
    p.gradients = 0;
    sc_imagenet_classifier *m = NULL;
    if (sc_imagenet_classifier_load(argv[2], &p, &m)) return die("load");
    sc_class_score top[5];
    double sum = 0, t0 = now(), c0 = cpu_now();
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--threads")) {
            i++;
            continue;
        }
        sc_image img = {0};
        if (sc_image_load(argv[i], NULL, &img, NULL) ||
            sc_imagenet_classifier_classify(m, &img, 5, top, NULL))
            return die(argv[i]);
        sc_image_free(&img);
        sum += top[0].prob;
        n++;
    }
    double t = now() - t0, c = cpu_now() - c0;
    printf("saccade classify %d photos threads %d: total_ms %.1f cpu_ms %.1f per_photo_ms %.2f "
           "top1_sum %.6f\n",
           n, threads, 1e3 * t, 1e3 * c, 1e3 * t / n, sum);
    sc_imagenet_classifier_free(m);
    return 0;
}

static int run_gradcam(int argc, char **argv) {
    if (argc < 5) return 2;
    const int reps = atoi(argv[4]), threads = argc > 5 ? atoi(argv[5]) : 2;
    sc_set_num_threads(threads);
    sc_cam_model *m = NULL;
    if (sc_cam_model_load(argv[2], &m)) return die("load");
    sc_cam_model_info info;
    sc_cam_model_get_info(m, &info);
    int C, h, w;
    if (sc_cam_model_layer_shape(m, "layer4", &C, &h, &w)) return die("layer4");
    sc_image img = {0};
    const size_t nin = (size_t)3 * info.in_h * info.in_w, na = (size_t)C * h * w;
    float *x = malloc(nin * sizeof(float)), *act = malloc(na * sizeof(float)),
          *dact = malloc(na * sizeof(float)), *lg = malloc(info.num_classes * sizeof(float)),
          *dl = calloc(info.num_classes, sizeof(float));
    double *t = calloc((size_t)reps + 2, sizeof(double)),
           *ct = calloc((size_t)reps + 2, sizeof(double));
    if (!x || !act || !dact || !lg || !dl || !t || !ct) return 1;
    if (sc_image_load(argv[3], NULL, &img, NULL) || sc_cam_model_preprocess(m, &img, x, NULL))
        return die(argv[3]);
    double sum = 0;
    for (int r = 0; r < reps + 2; r++) {
        double a = now(), ca = cpu_now();
        if (sc_cam_model_forward(m, x, 1, "layer4", lg, act)) return die("forward");
        int k = 0;
        for (int c = 1; c < info.num_classes; c++)
            if (lg[c] > lg[k]) k = c;
        memset(dl, 0, info.num_classes * sizeof(float));
        dl[k] = 1.0f;
        if (sc_cam_model_backward(m, dl, dact, NULL)) return die("backward");
        t[r] = now() - a, ct[r] = cpu_now() - ca;
        sum = 0;
        for (size_t i = 0; i < na; i++) sum += dact[i] * act[i];
    }
    qsort(t + 2, (size_t)reps, sizeof(double), cmp);
    qsort(ct + 2, (size_t)reps, sizeof(double), cmp);
    printf("saccade gradcam layer4 threads %d: median_ms %.1f best_ms %.1f cpu_ms %.1f checksum "
           "%.6g\n",
           threads, 1e3 * t[2 + reps / 2], 1e3 * t[2], 1e3 * ct[2 + reps / 2], sum);
    sc_image_free(&img);
    sc_cam_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "classify")) return run_classify(argc, argv);
    if (argc >= 5 && !strcmp(argv[1], "gradcam")) return run_gradcam(argc, argv);
    fprintf(stderr, "usage: bench_classify classify MODEL PHOTO... [--threads N]\n"
                    "       bench_classify gradcam MODEL PHOTO REPS [THREADS]\n");
    return 2;
}
