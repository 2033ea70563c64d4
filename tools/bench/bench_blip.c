/* saccade side of tools/bench/blip.sh (never run by the test suite).
 *
 *   bench_blip caption MODEL IMAGE [threads=2] [reps=1] [beam=1]
 * Loads a BLIP folder or file (timed: load_ms), then `reps` times captions
 * IMAGE from the file: read + preprocess (sc_image_load, sc_blip_preprocess),
 * sc_blip_generate (vision + decoding), sc_blip_decode; caption_ms is that
 * whole time (cpu_ms: the process CPU time of it). For the split each repetition also runs the
 * vision model alone once more (vit_ms, not part of caption_ms); decode_ms = generate - vit_ms.
 * Prints medians, the ViT's GFLOP (multiply-adds x 2 of the patch conv,
 * every layer's products and attention), max RSS (getrusage, KiB) and the
 * caption.
 *
 *   bench_blip vit MODEL [threads=2] [reps=3]
 * The vision model alone on the fixed pseudo-random (3, S, S) input of
 * bench_resnet_ort.js (same generator), after one warm-up: median ms, best
 * process CPU time of one forward, max RSS and the output checksum (must
 * match ONNX Runtime's on the exported twin).
 *
 *   bench_blip vqa MODEL IMAGE THREADS REPS QUESTION...   (tools/bench/blip_vqa.sh)
 * Loads a BLIP VQA folder (timed: load_ms), then REPS times: read IMAGE and
 * encode it once (sc_blip_vqa_set_image: preprocessing, the ViT, the text
 * encoder's image keys / values), then answer every QUESTION
 * (sc_blip_vqa_answer: question encoder, greedy answer, decode); median_ms is
 * the whole time of one repetition (image_ms its image part), cpu_ms its
 * process CPU time. Prints medians, max RSS (KiB) and the answers joined by
 * " | ". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "saccade/saccade.h"
#include "bench_input.h"
#include "saccade/sc_blip.h"
#include "saccade/sc_blip_vqa.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static long maxrss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Floating-point operations of one vision forward (2 per multiply-add). */
static double vit_gflop(const sc_blip_config *c) {
    const double D = c->vision.hidden_size, F = c->vision.intermediate_size;
    const double G = c->vision.image_size / c->vision.patch_size, P = c->vision.patch_size;
    const double T = G * G + 1;
    const double patch = 2.0 * G * G * D * (3.0 * P * P);
    const double layer = 2.0 * T * D * (3 * D + D + 2 * F) + 2.0 * 2.0 * T * T * D;
    return (patch + c->vision.num_hidden_layers * layer) / 1e9;
}

static int fail(void) {
    fprintf(stderr, "bench_blip: %s\n", sc_last_error());
    return 1;
}

static int bench_caption(sc_blip *m, double load_ms, const char *image, int threads, int reps,
                         int beam) {
    const sc_blip_config *c = sc_blip_get_config(m);
    const size_t npx = (size_t)3 * c->vision.image_size * c->vision.image_size;
    float *px = malloc(npx * sizeof(float));
    float *feat = malloc((size_t)sc_blip_image_tokens(m) * c->vision.hidden_size * sizeof(float));
    double *cap = calloc((size_t)reps, sizeof(double)), *vit = calloc((size_t)reps, sizeof(double));
    double *dec = calloc((size_t)reps, sizeof(double)), *pre = calloc((size_t)reps, sizeof(double));
    double *cpu = calloc((size_t)reps, sizeof(double));
    if (!px || !feat || !cap || !vit || !dec || !pre || !cpu) return 1;
    sc_blip_generate_params gp = sc_blip_default_generate_params(m);
    gp.num_beams = beam;
    char *text = NULL;
    int n = 0;
    for (int r = 0; r < reps; r++) {
        sc_blip_caption out;
        sc_image img;
        sc_image_load_params lp = sc_image_load_default_params();
        free(text);
        text = NULL;
        double t0 = now_ms(), c0 = cpu_ms();
        if (sc_image_load(image, &lp, &img, NULL)) return fail();
        sc_status s = sc_blip_preprocess(m, &img, px);
        sc_image_free(&img);
        if (s) return fail();
        double t1 = now_ms();
        if (sc_blip_generate(m, px, NULL, 0, &gp, &out) ||
            sc_blip_decode(m, out.ids, out.n, 1, &text))
            return fail();
        double t2 = now_ms();
        cpu[r] = cpu_ms() - c0;
        n = out.n;
        sc_blip_caption_free(&out);
        if (sc_blip_vision_forward(m, px, feat)) return fail();
        double t3 = now_ms();
        pre[r] = t1 - t0, cap[r] = t2 - t0, vit[r] = t3 - t2, dec[r] = t2 - t1 - vit[r];
    }
    const double gf = vit_gflop(c), vm = median(vit, reps);
    printf("saccade caption threads %d beam %d: median_ms %.1f preprocess_ms %.1f vit_ms %.1f "
           "decode_ms %.1f cpu_ms %.1f load_ms %.1f maxrss_kb %ld vit_gflop %.1f vit_gflops %.1f "
           "tokens %d "
           "caption %s\n",
           threads, beam, median(cap, reps), median(pre, reps), vm, median(dec, reps),
           median(cpu, reps), load_ms, maxrss_kb(), gf, gf / (vm / 1e3), n, text);
    free(text), free(px), free(feat), free(cap), free(vit), free(dec), free(pre), free(cpu);
    return 0;
}

static int bench_vit(sc_blip *m, int threads, int reps) {
    const sc_blip_config *c = sc_blip_get_config(m);
    const int S = c->vision.image_size;
    const size_t npx = (size_t)3 * S * S;
    const size_t nf = (size_t)sc_blip_image_tokens(m) * c->vision.hidden_size;
    float *px = malloc(npx * sizeof(float)), *feat = malloc(nf * sizeof(float));
    double *t = calloc((size_t)reps, sizeof(double)), best_cpu = 1e30;
    if (!px || !feat || !t) return 1;
    bench_fill_input(px, npx);
    if (sc_blip_vision_forward(m, px, feat)) return fail();
    for (int r = 0; r < reps; r++) {
        double a = now_ms(), ca = cpu_ms();
        if (sc_blip_vision_forward(m, px, feat)) return fail();
        t[r] = now_ms() - a;
        if (cpu_ms() - ca < best_cpu) best_cpu = cpu_ms() - ca;
    }
    double sum = 0;
    for (size_t i = 0; i < nf; i++) sum += feat[i];
    const double gf = vit_gflop(c), tm = median(t, reps);
    printf("saccade vit threads %d: median_ms %.1f cpu_ms %.1f maxrss_kb %ld vit_gflop %.1f "
           "vit_gflops %.1f checksum %.6g\n",
           threads, tm, best_cpu, maxrss_kb(), gf, gf / (tm / 1e3), sum);
    free(px), free(feat), free(t);
    return 0;
}

static int bench_vqa(int argc, char **argv) {
    int threads = atoi(argv[3]), reps = atoi(argv[4]);
    if (threads < 1) threads = 1;
    if (reps < 1 || reps > 1000) reps = 1;
    sc_set_num_threads(threads);
    sc_blip_vqa *v = NULL;
    double t0 = now_ms();
    if (sc_blip_vqa_load(argv[1], &v)) return fail();
    const double load_ms = now_ms() - t0;
    double *tot = calloc((size_t)reps, sizeof(double)), *imt = calloc((size_t)reps, sizeof(double));
    double *cpu = calloc((size_t)reps, sizeof(double));
    char answers[4096] = "";
    if (!tot || !imt || !cpu) return 1;
    for (int r = 0; r < reps; r++) {
        sc_image img;
        sc_image_load_params lp = sc_image_load_default_params();
        double a = now_ms(), ca = cpu_ms();
        if (sc_image_load(argv[2], &lp, &img, NULL)) return fail();
        sc_status s = sc_blip_vqa_set_image(v, &img);
        sc_image_free(&img);
        if (s) return fail();
        imt[r] = now_ms() - a;
        answers[0] = 0;
        for (int q = 5; q < argc; q++) {
            sc_blip_answer ans;
            if (sc_blip_vqa_answer(v, argv[q], NULL, &ans)) return fail();
            size_t L = strlen(answers);
            snprintf(answers + L, sizeof answers - L, "%s%s", q > 5 ? " | " : "", ans.text);
            sc_blip_answer_free(&ans);
        }
        tot[r] = now_ms() - a, cpu[r] = cpu_ms() - ca;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("saccade vqa threads %d questions %d: median_ms %.1f image_ms %.1f cpu_ms %.1f "
           "load_ms %.1f maxrss_kb %ld answers %s\n",
           threads, argc - 5, median(tot, reps), median(imt, reps), median(cpu, reps), load_ms,
           ru.ru_maxrss, answers);
    free(tot), free(imt), free(cpu);
    sc_blip_vqa_free(v);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 7 && !strcmp(argv[1], "vqa")) return bench_vqa(argc - 1, argv + 1);
    const int cap = argc >= 4 && !strcmp(argv[1], "caption");
    if (!cap && !(argc >= 3 && !strcmp(argv[1], "vit"))) {
        fprintf(stderr, "usage: bench_blip caption MODEL IMAGE [threads=2] [reps=1] [beam=1]\n"
                        "       bench_blip vit MODEL [threads=2] [reps=3]\n"
                        "       bench_blip vqa MODEL IMAGE THREADS REPS QUESTION...\n");
        return 2;
    }
    const int a = cap ? 4 : 3;
    int threads = argc > a ? atoi(argv[a]) : 2;
    int reps = argc > a + 1 ? atoi(argv[a + 1]) : (cap ? 1 : 3);
    int beam = cap && argc > a + 2 ? atoi(argv[a + 2]) : 1;
    if (threads < 1) threads = 1;
    if (reps < 1 || reps > 1000) reps = 1;
    if (beam < 1 || beam > SC_BLIP_MAX_BEAMS) beam = 1;
    sc_set_num_threads(threads);
    sc_blip *m = NULL;
    double t0 = now_ms();
    if (sc_blip_load(argv[2], &m)) return fail();
    double load_ms = now_ms() - t0;
    int rc =
        cap ? bench_caption(m, load_ms, argv[3], threads, reps, beam) : bench_vit(m, threads, reps);
    sc_blip_free(m);
    return rc;
}
