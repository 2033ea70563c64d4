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

#ifdef __cplusplus
}
#endif
#endif
