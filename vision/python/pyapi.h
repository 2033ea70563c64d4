/* Internal (not installed): small helpers for foreign-function bindings (the ctypes package in
 * tools/python/saccade). Nothing here is needed from C. */
#ifndef SACCADE_SC_PYAPI_H
#define SACCADE_SC_PYAPI_H

#include <stddef.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version of the structs a binding mirrors; bumped when one changes. */
#define SC_PYAPI_VERSION 1
int sc_pyapi_version(void);

/* sizeof / offsetof of a public struct and field, so a binding can check its
 * mirrors against the library it loaded. Names are the C names, e.g.
 * ("sc_caption_hyp", "alphas"); field NULL asks for the struct's size.
 * Unknown names: SC_ERR_INVALID_ARG naming them. */
sc_status sc_pyapi_layout(const char *type, const char *field, size_t *out);

/* Release a string the library returned with malloc (the *_to_json and
 * *_classes_json functions), with the library's own free(). NULL is fine. */
void sc_pyapi_free_string(char *s);

/* saccade.cam: the map of a model method (by its table name) for img, with
 * the class given as a name or index (NULL: the top class) and the CAM
 * options of sc_cam_params (batch, samples, steps <= 0: defaults;
 * discard_ratio: rollout's). out is
 * new (img's size); *target gets the class, *score its logit and name (cap
 * bytes) its name. */
struct sc_saliency_model;
struct sc_image;
struct sc_map;
sc_status sc_pyapi_cam(struct sc_saliency_model *m, const struct sc_image *img, const char *method,
                       const char *target, const char *layer, int aug_smooth, int eigen_smooth,
                       int batch, int samples, int steps, unsigned long long seed,
                       float discard_ratio, struct sc_map *out, int *target_out, double *score,
                       char *name, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
