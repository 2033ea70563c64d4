/* Timing of the overlay pipeline: bench_overlay [reps]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "saccade/saccade.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

#define CHECK(e)                                                                                   \
    do {                                                                                           \
        if ((e) != SC_OK) {                                                                        \
            fprintf(stderr, "%s: %s\n", #e, sc_last_error());                                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 20;
    if (reps < 1) reps = 1;
    sc_image img, out, sheet;
    sc_map m;
    CHECK(sc_image_alloc(&img, 640, 480, 3));
    CHECK(sc_map_alloc(&m, 14, 14));
    for (int i = 0; i < 196; i++) m.data[i] = (float)((i * 37) % 11);
    sc_heatmap_params p = sc_heatmap_default_params();
    p.smooth_sigma = 8;
    const float rgb[3] = {1, 1, 1};
    CHECK(sc_font_load(NULL));
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        CHECK(sc_overlay_heatmap(&img, &m, &p, &out));
        sc_image_free(&out);
    }
    double t1 = now();
    for (int r = 0; r < reps; r++)
        CHECK(sc_draw_text(&img, 5, 5, "The quick brown fox jumps", 24, rgb));
    double t2 = now();
    sc_image panels[16];
    const char *caps[16];
    for (int i = 0; i < 16; i++) panels[i] = img, caps[i] = "attention";
    sc_sheet_params sp = sc_sheet_default_params();
    for (int r = 0; r < reps; r++) {
        CHECK(sc_contact_sheet(panels, caps, 16, &sp, &sheet));
        sc_image_free(&sheet);
    }
    double t3 = now();
    printf("threads %d\n", sc_get_num_threads());
    printf("overlay 14x14 -> 640x480, sigma 8: %.2f ms\n", (t1 - t0) / reps * 1e3);
    printf("text 25 chars at 24 px:            %.3f ms\n", (t2 - t1) / reps * 1e3);
    printf("contact sheet 16 x 640x480 -> 224: %.2f ms\n", (t3 - t2) / reps * 1e3);
    sc_image_free(&img);
    sc_map_free(&m);
    return 0;
}
