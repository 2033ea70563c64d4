/* sc_bundled_model_warning: a bundled Fashion model given an image it was not
 * made for. */
#include <string.h>
#include "saccade/sc_bundled_models.h"

static const struct {
    const char *file;
    int side;
} BUNDLED[] = {
    {"scenes-captioner.safetensors", 96},
    {"scenes-vqa.safetensors", 96},
    {"fashion-stn.safetensors", 60},
};

int sc_bundled_model_input_side(const char *model_path) {
    if (!model_path) return 0;
    const char *slash = strrchr(model_path, '/');
    const char *base = slash ? slash + 1 : model_path;
    for (size_t i = 0; i < sizeof BUNDLED / sizeof BUNDLED[0]; i++)
        if (!strcmp(base, BUNDLED[i].file)) return BUNDLED[i].side;
    return 0;
}

const char *sc_bundled_model_warning(const char *model_path, int w, int h) {
    const int side = sc_bundled_model_input_side(model_path);
    return side && (w != side || h != side) ? SC_BUNDLED_MODEL_WARNING : NULL;
}
