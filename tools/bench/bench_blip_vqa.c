/* saccade side of tools/bench/blip_vqa.sh (never run by the test suite).
 *
 *   bench_blip_vqa MODEL IMAGE THREADS REPS QUESTION...
 * Loads a BLIP VQA folder (timed: load_ms), then REPS times: read IMAGE and
 * encode it once (sc_blip_vqa_set_image: preprocessing, the ViT, the text
 * encoder's image keys / values), then answer every QUESTION
 * (sc_blip_vqa_answer: question encoder, greedy answer, decode); total_ms is
 * the whole time of one repetition (image_ms its image part), cpu_ms its
 * process CPU time. Prints medians, max RSS (getrusage, KiB) and the answers
 * joined by " | ". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "saccade/saccade.h"
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

static int fail(void) {
    fprintf(stderr, "bench_blip_vqa: %s\n", sc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: bench_blip_vqa MODEL IMAGE THREADS REPS QUESTION...\n");
        return 2;
    }
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
