/* saccade: captioner image encoders (pluggable: features | resnet | cnn). */
#include <string.h>
#include "captioner_internal.h"
#include "sc_internal.h"

struct sc_encoder_impl {
    int kind;
};

sc_status sc_cap_encoder_load(sc_captioner *m, sc_safetensors *st, const char *path) {
    (void)st;
    (void)path;
    m->enc = NULL; /* image encoders are attached when available (see sc_captioner_encode) */
    return SC_OK;
}

void sc_cap_encoder_free(struct sc_encoder_impl *e) {
    sc_free(e);
}

sc_status sc_captioner_encode(sc_captioner *m, const float *image, int H, int W, float *features) {
    if (!m || !image || !features || H <= 0 || W <= 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_encode: bad argument");
    if (m->cfg.encoder == SC_CAP_ENC_FEATURES)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_encode: the model has no image encoder (features model)");
    if (!m->enc)
        return sc_set_error(SC_ERR_UNSUPPORTED, "sc_captioner_encode: encoder \"%s\" not available",
                            m->cfg.encoder_arch);
    return SC_ERR_UNSUPPORTED;
}
