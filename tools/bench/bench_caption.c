/* saccade side of tools/bench/caption.sh: load a captioner (timed), then
 * `reps` times: read the image, preprocess, encode, beam search (beam 5,
 * the tutorial's limits) as sc_captioner_caption_image does; prints best /
 * median ms, load_ms, max RSS (getrusage, KiB) and the caption.
 *   bench_caption MODEL IMAGE [threads=2] [reps=5] [beam=5] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "saccade/saccade.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_caption MODEL IMAGE [threads=2] [reps=5] [beam=5]\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2, reps = argc > 4 ? atoi(argv[4]) : 5;
    int beam = argc > 5 ? atoi(argv[5]) : 5;
    if (reps < 1 || reps > 1000) reps = 5;
    sc_set_num_threads(threads);
    sc_captioner *m = NULL;
    double t0 = now_ms();
    if (sc_captioner_load(argv[1], &m)) {
        fprintf(stderr, "bench_caption: %s\n", sc_last_error());
        return 1;
    }
    double load_ms = now_ms() - t0;
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.beam_size = beam;
    double *ms = calloc((size_t)reps, sizeof *ms);
    sc_caption_result r = {0};
    for (int i = 0; i < reps; i++) {
        sc_caption_result_free(&r);
        t0 = now_ms();
        sc_image img;
        sc_image_load_params lp = sc_image_load_default_params();
        if (sc_image_load(argv[2], &lp, &img, NULL) ||
            sc_captioner_caption_image(m, &img, &bp, &r)) {
            fprintf(stderr, "bench_caption: %s\n", sc_last_error());
            return 1;
        }
        sc_image_free(&img);
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int nw = r.hyps[0].len - (r.hyps[0].finished ? 1 : 0);
    printf(
        "best_ms %.1f median_ms %.1f load_ms %.1f maxrss_kb %ld words %d score %.4f caption %s\n",
        ms[0], ms[reps / 2], load_ms, ru.ru_maxrss, nw, (double)r.hyps[0].score, r.text);
    sc_caption_result_free(&r);
    sc_captioner_free(m);
    free(ms);
    return 0;
}
