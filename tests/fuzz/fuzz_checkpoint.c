/* libFuzzer harness for the training checkpoint metadata parser: the input
 * is the "saccade.train" metadata of an otherwise valid checkpoint (one
 * parameter, AdamW state), which a resuming trainer then reads and trains
 * from for a few steps. Checks: resuming fails cleanly or gives a position
 * inside the run. Files go to $TMPDIR (default /tmp; a tmpfs is faster). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "saccade/sc_safetensors.h"
#include "saccade/sc_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static float weight[4], grad[4];
static char path[512];
static sc_safetensors *reference; /* a valid checkpoint's tensors */

static sc_train_params params(void) {
    sc_train_params p = sc_train_default_params();
    p.epochs = 3;
    p.batch_size = 2;
    p.seed = 7;
    p.checkpoint_path = path;
    p.progress_mode = 3;
    return p;
}

static sc_param the_param(void) {
    sc_param q = {0};
    q.name = "w";
    q.param = weight;
    q.grad = grad;
    q.n = 4;
    return q;
}

static void cleanup(void) {
    sc_safetensors_free(reference);
    unlink(path);
}

static void setup(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/saccade_fuzz_checkpoint_%d.safetensors", tmp ? tmp : "/tmp",
             (int)getpid());
    sc_train_params p = params();
    sc_param q = the_param();
    sc_trainer *tr;
    if (sc_trainer_create(&p, 5, &q, 1, NULL, 0, &tr) || sc_trainer_checkpoint(tr))
        __builtin_trap();
    sc_trainer_free(tr);
    if (sc_safetensors_open(path, &reference)) __builtin_trap();
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!reference) setup();
    char *meta = malloc(size + 1);
    if (!meta) return 0;
    memcpy(meta, data, size);
    meta[size] = 0;
    sc_st_writer *w = sc_st_writer_new();
    if (!w) __builtin_trap();
    for (size_t i = 0; i < sc_safetensors_count(reference); i++) {
        sc_st_tensor_info in;
        if (sc_safetensors_info(reference, i, &in) ||
            sc_st_writer_add_raw(w, in.name, in.dtype_id, in.data, in.ndim, in.shape))
            __builtin_trap();
    }
    sc_status s = sc_st_writer_set_metadata(w, "saccade.train", meta);
    if (!s) s = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    free(meta);
    if (s) return 0; /* e.g. text that is not UTF-8 */
    sc_train_params p = params();
    p.resume = 1;
    sc_param q = the_param();
    sc_trainer *tr;
    if (sc_trainer_create(&p, 5, &q, 1, NULL, 0, &tr) != SC_OK) return 0;
    /* 3 batches per epoch, 3 epochs */
    int64_t at = sc_trainer_global_step(tr);
    if (at < 0) __builtin_trap();
    const int *idx;
    size_t count;
    for (int k = 0; k < 4; k++) {
        int r = sc_trainer_next(tr, &idx, &count);
        if (r == 0) break;
        if (r < 0) __builtin_trap();
        if (at + k >= 9 || count == 0 || count > 2) __builtin_trap();
        for (size_t i = 0; i < count; i++)
            if (idx[i] < 0 || idx[i] >= 5) __builtin_trap();
        for (int i = 0; i < 4; i++) grad[i] = 0.25f;
        if (sc_trainer_step(tr, 1.0, 0, NULL, NULL) != SC_OK) __builtin_trap();
    }
    sc_trainer_free(tr);
    return 0;
}
