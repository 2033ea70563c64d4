/* saccade side of tools/bench/scorecam.sh (never run by the test suite).
 *
 *   bench_scorecam MODEL PHOTO CHANNELS REPS [THREADS]
 *     ScoreCAM (sc_cam_compute, SC_MSAL_SCORECAM, batches of 16) of the top
 *     class at layer4, on the first CHANNELS channels of layer4 (the work is
 *     linear in the channels: a net over those channels only), the photo
 *     preprocessed once. 1 warm-up, prints the median ms (and process CPU
 *     ms) over REPS and the
 *     map's sum (a checksum against the PyTorch side). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/saccade.h"
#include "saccade/sc_cam.h"

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

typedef struct first_channels {
    sc_cam_net inner;
    int nch;
    float *buf; /* the whole activation of one batch */
} first_channels;

static sc_status fc_forward(void *ctx, const float *x, int n, float *logits, float *act) {
    first_channels *f = ctx;
    const sc_cam_net *in = &f->inner;
    if (!act) return in->forward(in->ctx, x, n, logits, NULL);
    size_t hw = (size_t)in->act_h * in->act_w;
    sc_status s = in->forward(in->ctx, x, n, logits, f->buf);
    for (int i = 0; !s && i < n; i++)
        memcpy(act + (size_t)i * f->nch * hw, f->buf + (size_t)i * in->act_c * hw,
               (size_t)f->nch * hw * sizeof(float));
    return s;
}

static sc_status fc_backward(void *ctx, const float *x, int k, float *logits, float *act,
                             float *dact, float *dx) {
    (void)ctx, (void)x, (void)k, (void)logits, (void)act, (void)dact, (void)dx;
    return sc_set_error(SC_ERR_UNSUPPORTED, "bench: forwards only");
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_scorecam MODEL PHOTO CHANNELS REPS [THREADS]\n");
        return 2;
    }
    const int nch = atoi(argv[3]), reps = atoi(argv[4]), threads = argc > 5 ? atoi(argv[5]) : 2;
    sc_set_num_threads(threads);
    sc_cam_model *m = NULL;
    sc_cam_net net;
    if (sc_cam_model_load(argv[1], &m) || sc_cam_net_from_model(m, "layer4", &net)) {
        fprintf(stderr, "bench_scorecam: %s\n", sc_last_error());
        return 1;
    }
    first_channels f = {net, nch < net.act_c ? nch : net.act_c, NULL};
    f.buf = malloc((size_t)net.act_c * net.act_h * net.act_w * sizeof(float));
    sc_cam_net t = net;
    t.ctx = &f;
    t.act_c = f.nch;
    t.forward = fc_forward;
    t.backward = fc_backward;
    t.forward_from = NULL;
    t.release = NULL;
    size_t hw = (size_t)net.in_h * net.in_w;
    float *x = malloc(3 * hw * sizeof(float)), *map = malloc(hw * sizeof(float));
    double *ms = calloc((size_t)reps + 1, sizeof(double)),
           *cms = calloc((size_t)reps + 1, sizeof(double));
    sc_image img = {0};
    if (!f.buf || !x || !map || !ms || !cms || sc_image_load(argv[2], NULL, &img, NULL) ||
        !net.prepare || net.prepare(net.ctx, &img, x)) {
        fprintf(stderr, "bench_scorecam: %s\n", sc_last_error());
        return 1;
    }
    sc_cam_params p = sc_cam_default_params();
    p.batch = 16;
    double sum = 0;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now(), c0 = cpu_now();
        if (sc_cam_compute(&t, SC_MSAL_SCORECAM, x, -1, &p, map, NULL)) {
            fprintf(stderr, "bench_scorecam: %s\n", sc_last_error());
            return 1;
        }
        ms[r] = 1e3 * (now() - t0), cms[r] = 1e3 * (cpu_now() - c0);
    }
    for (size_t i = 0; i < hw; i++) sum += map[i];
    qsort(ms + 1, (size_t)reps, sizeof *ms, cmp);
    qsort(cms + 1, (size_t)reps, sizeof *cms, cmp);
    printf("saccade scorecam layer4 channels %d threads %d: median_ms %.1f cpu_ms %.1f "
           "per_channel_ms %.2f checksum %.4f\n",
           f.nch, threads, ms[1 + reps / 2], cms[1 + reps / 2], ms[1 + reps / 2] / f.nch, sum);
    sc_image_free(&img);
    sc_cam_net_release(&net);
    sc_cam_model_free(m);
    free(f.buf), free(x), free(map), free(ms), free(cms);
    return 0;
}
