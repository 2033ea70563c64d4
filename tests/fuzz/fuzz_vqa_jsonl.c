/* libFuzzer harness for the JSON-lines VQA data reader
 * (sc_vqa_dataset_jsonl): the input is the file, whose relative image
 * paths resolve next to it, where a 4x3 PNG "a.png" exists. Checks: reading
 * fails cleanly or gives questions, answers and image indices that are all
 * there. Files go to $TMPDIR (default /tmp). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "saccade/sc_image.h"
#include "saccade/sc_vqa_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[512], file[600];

static void cleanup(void) {
    char png[700];
    snprintf(png, sizeof png, "%s/a.png", dir);
    unlink(png);
    unlink(file);
    rmdir(dir);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/saccade_fuzz_jsonl_%d", tmp ? tmp : "/tmp", (int)getpid());
    mkdir(dir, 0700);
    char png[700];
    snprintf(png, sizeof png, "%s/a.png", dir);
    sc_image img;
    if (sc_image_alloc(&img, 4, 3, 3)) __builtin_trap();
    for (size_t i = 0; i < (size_t)4 * 3 * 3; i++) img.data[i] = (float)(i % 7) / 7.0f;
    if (sc_image_save(&img, png)) __builtin_trap();
    sc_image_free(&img);
    snprintf(file, sizeof file, "%s/data.jsonl", dir);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) setup();
    FILE *f = fopen(file, "wb");
    if (!f) __builtin_trap();
    if (size && fwrite(data, 1, size, f) != size) __builtin_trap();
    fclose(f);
    sc_vqa_dataset d;
    memset(&d, 0, sizeof d);
    if (sc_vqa_dataset_jsonl(&d, file, 8)) return 0;
    if (d.n <= 0 || d.n_images <= 0 || !d.images) __builtin_trap();
    for (int i = 0; i < d.n; i++) {
        if (!d.questions[i] || !d.answers[i]) __builtin_trap();
        if (d.image_of[i] < 0 || d.image_of[i] >= d.n_images) __builtin_trap();
    }
    volatile float sink = 0;
    for (size_t i = 0; i < (size_t)d.n_images * 3 * 8 * 8; i++) sink += d.images[i];
    (void)sink;
    sc_vqa_dataset_free(&d);
    return 0;
}
