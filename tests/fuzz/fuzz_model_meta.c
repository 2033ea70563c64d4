/* libFuzzer harness for the model loaders' metadata parsing: the first byte
 * picks a loader (VQA, captioner, classifier, STN classifier, saliency
 * model, ResNet), the rest, split at NULs, gives its metadata values
 * ("saccade.config", then the vocabulary / answers / classes / task / encoder
 * entry that loader reads) in a safetensors file without tensors. Checks:
 * loading fails with a message that names the file once and keeps its
 * reason. Files go to $TMPDIR (default /tmp). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_classifier.h"
#include "saccade/sc_resnet.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_saliency_model.h"
#include "saccade/sc_stn.h"
#include "saccade/sc_vqa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[6][3] = {
    {"saccade.config", "saccade.vocab", "saccade.answers"},
    {"saccade.config", "saccade.vocab", "saccade.encoder"},
    {"saccade.config", "saccade.classes", NULL},
    {"saccade.config", "saccade.classes", NULL},
    {"saccade.config", "saccade.task", "saccade.vocab"},
    {"saccade.config", NULL, NULL},
};

/* A refusal names the file once, followed by a non-empty reason. */
static void check_message(sc_status s, const char *path) {
    const char *e = sc_last_error();
    size_t n = strlen(path);
    if (s == SC_OK) __builtin_trap();
    if (!strncmp(e, path, n) && !strncmp(e + n, ": ", 2)) e += n + 2;
    if (!*e || !strncmp(e, path, n)) __builtin_trap();
}

static char path[512];

static void cleanup(void) {
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/saccade_fuzz_model_%d.safetensors", tmp ? tmp : "/tmp",
                 (int)getpid());
        atexit(cleanup);
    }
    if (size < 1) return 0;
    int which = data[0] % 6;
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    sc_st_writer *w = sc_st_writer_new();
    if (!w) __builtin_trap();
    const char *v = text, *end = text + size - 1;
    sc_status s = SC_OK;
    for (int k = 0; k < 3 && keys[which][k] && v <= end && !s; k++) {
        s = sc_st_writer_set_metadata(w, keys[which][k], v);
        v += strlen(v) + 1;
    }
    if (!s) s = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    free(text);
    if (s) return 0; /* e.g. text that is not UTF-8 */
    switch (which) {
    case 0: {
        sc_vqa_model *m = NULL;
        check_message(sc_vqa_load(path, &m), path);
        sc_vqa_free(m);
        break;
    }
    case 1: {
        sc_captioner *m = NULL;
        check_message(sc_captioner_load(path, &m), path);
        sc_captioner_free(m);
        break;
    }
    case 2: {
        sc_classifier *m = NULL;
        check_message(sc_classifier_load(path, &m), path);
        sc_classifier_free(m);
        break;
    }
    case 3: {
        sc_stcnn *m = NULL;
        check_message(sc_stcnn_load(path, &m), path);
        sc_stcnn_free(m);
        break;
    }
    case 4: {
        sc_saliency_model *m = NULL;
        check_message(sc_saliency_model_load(path, &m), path);
        sc_saliency_model_free(m);
        break;
    }
    case 5: {
        sc_resnet *m = NULL;
        sc_resnet_params rp = sc_resnet_default_params();
        check_message(sc_resnet_load(path, &rp, &m), path);
        sc_resnet_free(m);
        break;
    }
    }
    return 0;
}
