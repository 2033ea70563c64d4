/* saccade side of tools/bench/vit_gpt2.sh (never run by the test suite).
 *
 *   bench_vit_gpt2 MODEL IMAGE [threads=2] [reps=1] [beam=0]
 * Loads a ViT-GPT2 folder (timed: load_ms), then `reps` times captions IMAGE
 * from the file: sc_image_load, then sc_vit_gpt2_caption_image (preprocess,
 * the ViT, generation with the key/value cache, decode); caption_ms is that
 * whole time (cpu_ms its process CPU time). For the split each repetition also runs the
 * ViT alone once more (vit_ms, not part of caption_ms); decode_ms = caption -
 * vit. beam 0 keeps the folder's own num_beams. Prints medians, max RSS
 * (getrusage, KiB) and the caption. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include "saccade/saccade.h"
#include "saccade/sc_vit_gpt2.h"

static double now_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
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
    fprintf(stderr, "bench_vit_gpt2: %s\n", sc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_vit_gpt2 MODEL IMAGE [threads=2] [reps=1] [beam=0]\n");
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2, reps = argc > 4 ? atoi(argv[4]) : 1,
        beam = argc > 5 ? atoi(argv[5]) : 0;
    if (threads < 1) threads = 1;
    if (reps < 1 || reps > 1000) reps = 1;
    sc_set_num_threads(threads);
    sc_vit_gpt2 *m = NULL;
    double t0 = now_ms(CLOCK_MONOTONIC);
    if (sc_vit_gpt2_load(argv[1], &m)) return fail();
    const double load_ms = now_ms(CLOCK_MONOTONIC) - t0;
    const sc_vit_gpt2_config *c = sc_vit_gpt2_get_config(m);
    const int S = c->encoder.image_size;
    float *px = malloc((size_t)3 * S * S * sizeof(float)),
          *feat =
              malloc((size_t)sc_vit_gpt2_image_tokens(m) * c->encoder.hidden_size * sizeof(float));
    double *cap = calloc((size_t)reps, sizeof(double)), *vit = calloc((size_t)reps, sizeof(double)),
           *cpu = calloc((size_t)reps, sizeof(double));
    if (!px || !feat || !cap || !vit || !cpu) return 1;
    sc_blip_generate_params gp = sc_vit_gpt2_default_generate_params(m);
    if (beam > 0) gp.num_beams = beam;
    char text[4096] = "";
    int n = 0;
    for (int r = 0; r < reps; r++) {
        sc_image img;
        sc_image_load_params lp = sc_image_load_default_params();
        sc_blip_result out;
        double a = now_ms(CLOCK_MONOTONIC), ca = now_ms(CLOCK_PROCESS_CPUTIME_ID);
        if (sc_image_load(argv[2], &lp, &img, NULL) ||
            sc_vit_gpt2_caption_image(m, &img, &gp, &out))
            return fail();
        cap[r] = now_ms(CLOCK_MONOTONIC) - a;
        cpu[r] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - ca;
        snprintf(text, sizeof text, "%s", out.text);
        n = out.caption.n;
        sc_blip_result_free(&out);
        if (sc_vit_gpt2_preprocess(m, &img, px)) return fail();
        sc_image_free(&img);
        a = now_ms(CLOCK_MONOTONIC);
        if (sc_vit_gpt2_vision_forward(m, px, feat)) return fail();
        vit[r] = now_ms(CLOCK_MONOTONIC) - a;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    const double cm = median(cap, reps), vm = median(vit, reps);
    printf("saccade caption threads %d beam %d: median_ms %.1f vit_ms %.1f decode_ms %.1f cpu_ms "
           "%.1f load_ms %.1f maxrss_kb %ld tokens %d caption %s\n",
           threads, gp.num_beams, cm, vm, cm - vm, median(cpu, reps), load_ms, ru.ru_maxrss, n,
           text);
    free(px), free(feat), free(cap), free(vit), free(cpu);
    sc_vit_gpt2_free(m);
    return 0;
}
