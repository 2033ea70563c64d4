/* Fashion-MNIST reader: gzipped IDX files (see include/saccade/sc_datasets.h).
 *
 * Hostile headers: the item count is capped, and the data buffer grows with
 * the bytes actually decompressed instead of being allocated from the
 * header's count, so a small file claiming 10^7 images fails as truncated
 * without a multi-gigabyte allocation. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "saccade/sc_comm.h"
#include "saccade/sc_datasets.h"
#include "sc_internal.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define READ_CHUNK ((size_t)1 << 24)

static const char *const CLASS_NAMES[SC_FASHION_MNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

const char *sc_fashion_mnist_class_name(int label) {
    return label >= 0 && label < SC_FASHION_MNIST_CLASSES ? CLASS_NAMES[label] : NULL;
}

void sc_fashion_mnist_free(sc_fashion_mnist *d) {
    if (!d) return;
    sc_free(d->images);
    sc_free(d->labels);
    memset(d, 0, sizeof *d);
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Open a gzip file after checking that it exists, is non-empty and starts
 * with the gzip magic (zlib would otherwise read plain files transparently). */
static sc_status open_gz(const char *path, gzFile *out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sc_set_error(SC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char m[2];
    size_t got = fread(m, 1, 2, f);
    fclose(f);
    if (got == 0) return sc_set_error(SC_ERR_FORMAT, "%s: empty file (expected gzip data)", path);
    if (got < 2 || m[0] != 0x1f || m[1] != 0x8b)
        return sc_set_error(SC_ERR_FORMAT, "%s: not a gzip file (expected a .gz IDX file)", path);
    gzFile gz = gzopen(path, "rb");
    if (!gz) return sc_set_error(SC_ERR_IO, "%s: cannot open gzip stream", path);
    gzbuffer(gz, 1 << 17);
    *out = gz;
    return SC_OK;
}

/* zlib's message, without the "path: " prefix gzerror adds. */
static const char *zmsg(gzFile gz, const char *path, int *zerr) {
    const char *msg = gzerror(gz, zerr);
    if (!msg || !*msg) return "zlib error";
    size_t pl = strlen(path);
    if (!strncmp(msg, path, pl) && msg[pl] == ':' && msg[pl + 1] == ' ') msg += pl + 2;
    return msg;
}

/* Read up to len bytes; returns bytes read or -1 (error set) on a zlib error. */
static long long read_some(gzFile gz, const char *path, void *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        size_t want = SC_MIN(len - done, (size_t)INT_MAX / 2);
        int r = gzread(gz, (char *)buf + done, (unsigned)want);
        if (r < 0) {
            int zerr = 0;
            const char *msg = zmsg(gz, path, &zerr);
            sc_set_error(SC_ERR_FORMAT, "%s: corrupt gzip data (%s)", path, msg);
            return -1;
        }
        if (r == 0) {
            int zerr = 0;
            const char *msg = zmsg(gz, path, &zerr);
            if (zerr != Z_OK) {
                sc_set_error(SC_ERR_FORMAT, "%s: truncated or corrupt gzip stream (%s)", path, msg);
                return -1;
            }
            break;
        }
        done += (size_t)r;
    }
    return (long long)done;
}

/* Read exactly `len` payload bytes into a buffer that grows with the data. */
static sc_status read_payload(gzFile gz, const char *path, size_t len, size_t item_bytes,
                              size_t count, uint8_t **out) {
    *out = NULL;
    size_t cap = SC_MIN(len, READ_CHUNK);
    uint8_t *buf = sc_malloc(cap ? cap : 1);
    if (!buf) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", path);
    size_t have = 0;
    while (have < len) {
        if (have == cap) {
            size_t ncap = cap > len / 2 ? len : cap * 2;
            uint8_t *nb = sc_malloc(ncap);
            if (!nb) {
                sc_free(buf);
                return sc_set_error(SC_ERR_NOMEM, "%s: out of memory (%zu bytes)", path, ncap);
            }
            memcpy(nb, buf, have);
            sc_free(buf);
            buf = nb;
            cap = ncap;
        }
        long long r = read_some(gz, path, buf + have, cap - have);
        if (r < 0) {
            sc_free(buf);
            return SC_ERR_FORMAT;
        }
        if ((size_t)r < cap - have) { /* end of data before the header's count */
            have += (size_t)r;
            sc_free(buf);
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: truncated: header says %zu items (%zu bytes) "
                                "but the file holds only %zu bytes of data (%zu whole items)",
                                path, count, len, have, have / item_bytes);
        }
        have += (size_t)r;
    }
    /* Nothing may follow; reading on also verifies the gzip CRC. */
    unsigned char extra;
    long long r = read_some(gz, path, &extra, 1);
    if (r != 0) {
        sc_free(buf);
        if (r > 0)
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: trailing data after the %zu items the header "
                                "declares",
                                path, count);
        return SC_ERR_FORMAT;
    }
    *out = buf;
    return SC_OK;
}

static sc_status read_header(gzFile gz, const char *path, unsigned char *hdr, size_t len) {
    long long r = read_some(gz, path, hdr, len);
    if (r < 0) return SC_ERR_FORMAT;
    if ((size_t)r < len)
        return sc_set_error(SC_ERR_FORMAT, "%s: truncated IDX header (%lld of %zu bytes)", path, r,
                            len);
    return SC_OK;
}

static sc_status load_images(const char *path, uint8_t **images, size_t *n) {
    gzFile gz;
    sc_status st = open_gz(path, &gz);
    if (st) return st;
    unsigned char h[16];
    st = read_header(gz, path, h, 4); /* magic first: the clearest error for a wrong file */
    if (!st && be32(h) != IDX_MAGIC_IMAGES)
        st = sc_set_error(SC_ERR_FORMAT,
                          "%s: bad magic 0x%08x (expected 0x%08x, an IDX3 unsigned "
                          "byte image file)",
                          path, be32(h), IDX_MAGIC_IMAGES);
    if (!st) st = read_header(gz, path, h + 4, 12);
    const uint32_t count = st ? 0 : be32(h + 4), rows = st ? 0 : be32(h + 8),
                   cols = st ? 0 : be32(h + 12);
    if (!st && (rows != SC_FASHION_MNIST_SIDE || cols != SC_FASHION_MNIST_SIDE))
        st = sc_set_error(SC_ERR_FORMAT, "%s: images are %ux%u (expected %dx%d)", path, rows, cols,
                          SC_FASHION_MNIST_SIDE, SC_FASHION_MNIST_SIDE);
    if (!st && count > SC_FASHION_MNIST_MAX_ITEMS)
        st = sc_set_error(SC_ERR_LIMIT, "%s: header claims %u images (limit %d)", path, count,
                          SC_FASHION_MNIST_MAX_ITEMS);
    if (!st) {
        const size_t item = (size_t)rows * cols;
        st = read_payload(gz, path, (size_t)count * item, item, count, images);
        *n = count;
    }
    gzclose(gz);
    return st;
}

static sc_status load_labels(const char *path, uint8_t **labels, size_t *n) {
    gzFile gz;
    sc_status st = open_gz(path, &gz);
    if (st) return st;
    unsigned char h[8];
    st = read_header(gz, path, h, 4);
    if (!st && be32(h) != IDX_MAGIC_LABELS)
        st = sc_set_error(SC_ERR_FORMAT,
                          "%s: bad magic 0x%08x (expected 0x%08x, an IDX1 unsigned "
                          "byte label file)",
                          path, be32(h), IDX_MAGIC_LABELS);
    if (!st) st = read_header(gz, path, h + 4, 4);
    const uint32_t count = st ? 0 : be32(h + 4);
    if (!st && count > SC_FASHION_MNIST_MAX_ITEMS)
        st = sc_set_error(SC_ERR_LIMIT, "%s: header claims %u labels (limit %d)", path, count,
                          SC_FASHION_MNIST_MAX_ITEMS);
    if (!st) {
        st = read_payload(gz, path, count, 1, count, labels);
        *n = count;
    }
    gzclose(gz);
    if (!st) {
        for (size_t i = 0; i < *n; i++)
            if ((*labels)[i] >= SC_FASHION_MNIST_CLASSES) {
                st = sc_set_error(SC_ERR_FORMAT, "%s: label %u at index %zu is outside 0..9", path,
                                  (*labels)[i], i);
                sc_free(*labels);
                *labels = NULL;
                break;
            }
    }
    return st;
}

sc_status sc_fashion_mnist_load_files(const char *images_gz, const char *labels_gz,
                                      sc_fashion_mnist *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_fashion_mnist_load_files: out is NULL");
    memset(out, 0, sizeof *out);
    if (!images_gz || !labels_gz || !*images_gz || !*labels_gz)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_fashion_mnist_load_files: image and label paths are required");
    uint8_t *images = NULL, *labels = NULL;
    size_t ni = 0, nl = 0;
    sc_status st = load_labels(labels_gz, &labels, &nl);
    if (!st) st = load_images(images_gz, &images, &ni);
    if (!st && ni != nl)
        st = sc_set_error(SC_ERR_FORMAT,
                          "Fashion-MNIST: %s holds %zu images but %s holds %zu "
                          "labels",
                          images_gz, ni, labels_gz, nl);
    if (st) {
        sc_free(images);
        sc_free(labels);
        return st;
    }
    out->n = ni;
    out->rows = out->cols = SC_FASHION_MNIST_SIDE;
    out->images = images;
    out->labels = labels;
    return SC_OK;
}

sc_status sc_fashion_mnist_load(const char *split, const char *data_dir, sc_fashion_mnist *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_fashion_mnist_load: out is NULL");
    memset(out, 0, sizeof *out);
    const char *prefix;
    if (split && !strcmp(split, "train"))
        prefix = "train";
    else if (split && !strcmp(split, "test"))
        prefix = "t10k";
    else
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "Fashion-MNIST: unknown split '%s' (expected "
                            "\"train\" or \"test\")",
                            split ? split : "(null)");
    const char *dir = data_dir;
    if (!dir || !*dir) dir = getenv(SC_FASHION_MNIST_ENV);
    if (!dir || !*dir) dir = SC_FASHION_MNIST_DEFAULT_DIR;
    size_t len = strlen(dir) + 64;
    char *ip = malloc(len), *lp = malloc(len);
    if (!ip || !lp) {
        free(ip);
        free(lp);
        return sc_set_error(SC_ERR_NOMEM, "Fashion-MNIST: out of memory");
    }
    snprintf(ip, len, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lp, len, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    sc_status st = sc_fashion_mnist_load_files(ip, lp, out);
    if (st == SC_ERR_IO) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", sc_last_error());
        sc_set_error(st, "%s (install Debian's dataset-fashion-mnist package or set %s)", msg,
                     SC_FASHION_MNIST_ENV);
    }
    free(ip);
    free(lp);
    return st;
}

sc_status sc_fashion_mnist_load_shared(sc_comm *c, const char *split, const char *data_dir,
                                       sc_fashion_mnist *out) {
    if (sc_comm_size(c) <= 1) return sc_fashion_mnist_load(split, data_dir, out);
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_fashion_mnist_load_shared: out is NULL");
    memset(out, 0, sizeof *out);
    const int rank0 = sc_comm_rank(c) == 0;
    sc_status st = rank0 ? sc_fashion_mnist_load(split, data_dir, out) : SC_OK;
    /* rank 0's outcome and sizes first: the others fail with it or make room */
    uint64_t hdr[4] = {(uint64_t)st, out->n, (uint64_t)out->rows, (uint64_t)out->cols};
    sc_status cs = sc_comm_broadcast(c, hdr, sizeof hdr, 0);
    if (!cs && hdr[0] && !rank0)
        cs = sc_set_error((sc_status)hdr[0],
                          "rank 0 could not load the %s split (its message above)",
                          split ? split : "(null)");
    if (cs || hdr[0]) {
        sc_fashion_mnist_free(out);
        return cs ? cs : st;
    }
    size_t pixels;
    if (sc_mul_size((size_t)hdr[1], (size_t)(hdr[2] * hdr[3]), &pixels))
        return sc_set_error(SC_ERR_LIMIT, "Fashion-MNIST: size overflow");
    if (!rank0) {
        out->n = (size_t)hdr[1];
        out->rows = (int)hdr[2];
        out->cols = (int)hdr[3];
        out->images = sc_malloc(pixels ? pixels : 1);
        out->labels = sc_malloc(out->n ? out->n : 1);
        if (!out->images || !out->labels) { /* the caller ends the job (sc_comm_abort) */
            sc_fashion_mnist_free(out);
            return sc_set_error(SC_ERR_NOMEM, "Fashion-MNIST: out of memory");
        }
    }
    cs = sc_comm_broadcast(c, out->images, pixels, 0);
    if (!cs) cs = sc_comm_broadcast(c, out->labels, out->n, 0);
    if (cs) sc_fashion_mnist_free(out);
    return cs;
}
