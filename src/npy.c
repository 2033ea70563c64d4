/* .npy reader/writer (see sc_npy.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_npy.h"

#define NPY_MAX_FILE ((size_t)1 << 34)

static const char *find_key(const char *hdr, const char *key) {
    const char *p = strstr(hdr, key);
    if (!p) return NULL;
    p += strlen(key);
    while (*p == ' ' || *p == ':') p++;
    return p;
}

sc_status sc_npy_read_memory(const void *buf, size_t len, sc_npy *out) {
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        return sc_set_error(SC_ERR_FORMAT, "not a .npy file (bad magic)");
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hoff = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return sc_set_error(SC_ERR_FORMAT, ".npy header truncated");
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hoff = 12;
    } else {
        return sc_set_error(SC_ERR_UNSUPPORTED, ".npy version %d not supported", major);
    }
    if (hlen > 65536 || hoff + hlen > len) return sc_set_error(SC_ERR_FORMAT, ".npy header truncated");
    char hdr[65537];
    memcpy(hdr, b + hoff, hlen);
    hdr[hlen] = 0;
    const char *descr = find_key(hdr, "'descr'");
    const char *fortran = find_key(hdr, "'fortran_order'");
    const char *shape = find_key(hdr, "'shape'");
    if (!descr || !fortran || !shape) return sc_set_error(SC_ERR_FORMAT, ".npy header incomplete");
    if (strncmp(fortran, "False", 5) != 0)
        return sc_set_error(SC_ERR_UNSUPPORTED, ".npy in Fortran order not supported");
    int kind; /* 0 f4, 1 f8, 2 u1, 3 i8, 4 i4 */
    size_t esize;
    if (!strncmp(descr, "'<f4'", 5)) kind = 0, esize = 4;
    else if (!strncmp(descr, "'<f8'", 5)) kind = 1, esize = 8;
    else if (!strncmp(descr, "'|u1'", 5)) kind = 2, esize = 1;
    else if (!strncmp(descr, "'<i8'", 5)) kind = 3, esize = 8;
    else if (!strncmp(descr, "'<i4'", 5)) kind = 4, esize = 4;
    else return sc_set_error(SC_ERR_UNSUPPORTED, ".npy dtype %.8s not supported", descr);
    if (*shape != '(') return sc_set_error(SC_ERR_FORMAT, ".npy shape malformed");
    const char *p = shape + 1;
    size_t count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0) return sc_set_error(SC_ERR_FORMAT, ".npy shape malformed");
        if (out->ndim >= SC_NPY_MAX_DIMS) return sc_set_error(SC_ERR_UNSUPPORTED, ".npy has too many dims");
        out->shape[out->ndim++] = v;
        if (sc_mul_size(count, (size_t)v, &count)) return sc_set_error(SC_ERR_FORMAT, ".npy shape overflows");
        p = end;
    }
    size_t bytes;
    if (sc_mul_size(count, esize, &bytes) || bytes > len - hoff - hlen)
        return sc_set_error(SC_ERR_FORMAT, ".npy data truncated (%zu values expected)", count);
    out->count = count;
    out->data = sc_malloc((count ? count : 1) * sizeof(float));
    if (!out->data) return SC_ERR_NOMEM;
    const unsigned char *d = b + hoff + hlen;
    for (size_t i = 0; i < count; i++) {
        switch (kind) {
        case 0: memcpy(&out->data[i], d + 4 * i, 4); break;
        case 1: { double v; memcpy(&v, d + 8 * i, 8); out->data[i] = (float)v; } break;
        case 2: out->data[i] = d[i]; break;
        case 3: { int64_t v; memcpy(&v, d + 8 * i, 8); out->data[i] = (float)v; } break;
        case 4: { int32_t v; memcpy(&v, d + 4 * i, 4); out->data[i] = (float)v; } break;
        }
    }
    return SC_OK;
}

sc_status sc_npy_read(const char *path, sc_npy *out) {
    unsigned char *buf;
    size_t len;
    memset(out, 0, sizeof *out);
    sc_status s = sc_read_file(path, NPY_MAX_FILE, &buf, &len);
    if (s) return s;
    s = sc_npy_read_memory(buf, len, out);
    free(buf);
    if (s) sc_error_prefix(path);
    return s;
}

void sc_npy_free(sc_npy *a) {
    sc_free(a->data);
    memset(a, 0, sizeof *a);
}

sc_status sc_npy_write(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > SC_NPY_MAX_DIMS) return sc_set_error(SC_ERR_INVALID_ARG, "bad ndim %d", ndim);
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(hdr + n, sizeof hdr - n, "%lld,%s", (long long)shape[i], i + 1 < ndim ? " " : "");
        count *= (size_t)shape[i];
    }
    n += snprintf(hdr + n, sizeof hdr - n, "), }");
    /* Pad with spaces so magic + header is a multiple of 64, ending in '\n'. */
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int hl = n + pad + 1;
    pre[8] = (unsigned char)(hl & 0xff);
    pre[9] = (unsigned char)(hl >> 8);
    sc_atomic_file af;
    sc_status s = sc_atomic_begin(&af, path);
    if (s) return s;
    char spaces[64];
    memset(spaces, ' ', sizeof spaces);
    if ((s = sc_atomic_write(&af, pre, 10)) || (s = sc_atomic_write(&af, hdr, (size_t)n)) ||
        (s = sc_atomic_write(&af, spaces, (size_t)pad)) || (s = sc_atomic_write(&af, "\n", 1)) ||
        (s = sc_atomic_write(&af, data, count * sizeof(float)))) {
        sc_atomic_abort(&af);
        return s;
    }
    return sc_atomic_commit(&af);
}
