/* Plain float32 tensor helpers (see include/saccade/sc_tensor.h). */
#include <string.h>
#include "saccade/sc_tensor.h"
#include "sc_internal.h"

static sc_status check_shape(int ndim, const int64_t *shape, size_t *numel) {
    if (ndim < 0 || ndim > SC_TENSOR_MAX_DIMS)
        return sc_set_error(SC_ERR_INVALID_ARG, "tensor: ndim %d is outside 0..%d", ndim,
                            SC_TENSOR_MAX_DIMS);
    if (ndim > 0 && !shape) return sc_set_error(SC_ERR_INVALID_ARG, "tensor: shape is NULL");
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return sc_set_error(SC_ERR_INVALID_ARG, "tensor: dim %d is negative (%lld)", i,
                                (long long)shape[i]);
        if ((uint64_t)shape[i] > SIZE_MAX || sc_mul_size(n, (size_t)shape[i], &n))
            return sc_set_error(SC_ERR_LIMIT, "tensor: element count overflows");
    }
    size_t bytes;
    if (sc_mul_size(n, sizeof(float), &bytes) || n > (size_t)INT64_MAX)
        return sc_set_error(SC_ERR_LIMIT, "tensor: byte size overflows");
    *numel = n;
    return SC_OK;
}

static void set_layout(sc_tensor *t, float *data, int ndim, const int64_t *shape) {
    t->data = data;
    t->ndim = ndim;
    for (int i = 0; i < SC_TENSOR_MAX_DIMS; i++) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->strides[i] = 1;
    }
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->strides[i] = s;
        s *= t->shape[i] > 0 ? t->shape[i] : 1;
    }
}

size_t sc_tensor_numel(const sc_tensor *t) {
    if (!t) return 0;
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

int sc_tensor_is_contiguous(const sc_tensor *t) {
    if (!t) return 0;
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != s) return 0;
        s *= t->shape[i];
    }
    return 1;
}

sc_status sc_tensor_create(sc_tensor *t, int ndim, const int64_t *shape) {
    if (!t) return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_create: t is NULL");
    memset(t, 0, sizeof *t);
    size_t n;
    sc_status s = check_shape(ndim, shape, &n);
    if (s) return s;
    float *d = sc_calloc(n ? n : 1, sizeof(float));
    if (!d) return SC_ERR_NOMEM;
    set_layout(t, d, ndim, shape);
    t->owns_data = 1;
    return SC_OK;
}

void sc_tensor_free(sc_tensor *t) {
    if (!t) return;
    if (t->owns_data) sc_free(t->data);
    memset(t, 0, sizeof *t);
}

sc_status sc_tensor_view(sc_tensor *t, float *data, int ndim, const int64_t *shape) {
    if (!t) return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_view: t is NULL");
    size_t n;
    sc_status s = check_shape(ndim, shape, &n);
    if (s) return s;
    if (!data && n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_view: data is NULL for %zu elements", n);
    memset(t, 0, sizeof *t);
    set_layout(t, data, ndim, shape);
    return SC_OK;
}

sc_status sc_tensor_reshape(const sc_tensor *t, int ndim, const int64_t *shape, sc_tensor *out) {
    if (!t || !out || (ndim > 0 && !shape))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_reshape: NULL argument");
    if (ndim < 0 || ndim > SC_TENSOR_MAX_DIMS)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_reshape: ndim %d is outside 0..%d", ndim,
                            SC_TENSOR_MAX_DIMS);
    if (!sc_tensor_is_contiguous(t))
        return sc_set_error(SC_ERR_SHAPE, "sc_tensor_reshape: tensor is not contiguous");
    size_t have = sc_tensor_numel(t);
    int64_t dims[SC_TENSOR_MAX_DIMS];
    int infer = -1;
    size_t known = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_reshape: more than one -1");
            infer = i;
            continue;
        }
        if (shape[i] < 0)
            return sc_set_error(SC_ERR_INVALID_ARG, "sc_tensor_reshape: dim %d is negative", i);
        if (sc_mul_size(known, (size_t)shape[i], &known))
            return sc_set_error(SC_ERR_SHAPE, "sc_tensor_reshape: element count overflows");
    }
    if (infer >= 0) {
        if (known == 0 || have % known)
            return sc_set_error(SC_ERR_SHAPE,
                                "sc_tensor_reshape: cannot infer dim %d: %zu elements are not a "
                                "multiple of %zu",
                                infer, have, known);
        dims[infer] = (int64_t)(have / known);
        known = have;
    }
    if (known != have)
        return sc_set_error(SC_ERR_SHAPE,
                            "sc_tensor_reshape: new shape has %zu elements, tensor has %zu", known,
                            have);
    float *data = t->data;
    memset(out, 0, sizeof *out);
    set_layout(out, data, ndim, dims);
    return SC_OK;
}
