/* safetensors reader (memory-mapped, validated) and atomic streaming writer.
 * See include/saccade/sc_safetensors.h. */
#define _DEFAULT_SOURCE /* madvise */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "sc_internal.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_safetensors.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ST_LITTLE_ENDIAN 1
#else
#define ST_LITTLE_ENDIAN 0
#endif

/* Largest integer a JSON number (double) holds exactly. */
#define ST_MAX_JSON_INT 9007199254740992.0

static const struct {
    const char *name;
    size_t size;
} st_dtypes[SC_ST_DTYPE_COUNT] = {
    [SC_ST_F64] = {"F64", 8},   [SC_ST_F32] = {"F32", 4},         [SC_ST_F16] = {"F16", 2},
    [SC_ST_BF16] = {"BF16", 2}, [SC_ST_I64] = {"I64", 8},         [SC_ST_I32] = {"I32", 4},
    [SC_ST_I16] = {"I16", 2},   [SC_ST_I8] = {"I8", 1},           [SC_ST_U64] = {"U64", 8},
    [SC_ST_U32] = {"U32", 4},   [SC_ST_U16] = {"U16", 2},         [SC_ST_U8] = {"U8", 1},
    [SC_ST_BOOL] = {"BOOL", 1}, [SC_ST_F8_E4M3] = {"F8_E4M3", 1}, [SC_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *sc_st_dtype_name(sc_st_dtype d) {
    return ((unsigned)d < SC_ST_DTYPE_COUNT) ? st_dtypes[d].name : NULL;
}

size_t sc_st_dtype_size(sc_st_dtype d) {
    return ((unsigned)d < SC_ST_DTYPE_COUNT) ? st_dtypes[d].size : 0;
}

static int dtype_from_name(const char *s, sc_st_dtype *out) {
    for (int i = 0; i < SC_ST_DTYPE_COUNT; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *out = (sc_st_dtype)i;
            return 1;
        }
    return 0;
}

/* ---- Scalar conversions ------------------------------------------------------ */

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float sc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 5.9604644775390625e-8f;
        return u2f(f2u(v) | sign);
    }
    if (exp == 31) return u2f(sign | 0x7f800000u | (mant << 13));
    return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

float sc_bf16_to_f32(uint16_t h) {
    return u2f((uint32_t)h << 16);
}

uint16_t sc_f32_to_f16(float f) {
    uint32_t x = f2u(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00;  /* NaN */
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* rounds to infinity (>= 65520) */
    if (ax >= 0x38800000u) {                     /* normal half (>= 2^-14) */
        uint32_t r = ax - 0x38000000u;           /* rebias exponent 127 -> 15 */
        r += 0xfffu + ((r >> 13) & 1u);          /* round to nearest even */
        return sign | (uint16_t)(r >> 13);
    }
    if (ax <= 0x33000000u) return sign; /* <= 2^-25: rounds to (signed) zero */
    /* Subnormal half: value / 2^-24 = m * 2^(e - 126) with 102 <= e <= 112. */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126 - e;
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return sign | (uint16_t)q;
}

uint16_t sc_f32_to_bf16(float f) {
    uint32_t x = f2u(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)(((x >> 16) & 0x8000) | 0x7fc0);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

/* ---- Reader ------------------------------------------------------------------ */

typedef struct st_tensor {
    char *name;
    sc_st_dtype dtype;
    int ndim;
    int64_t *shape;
    size_t numel, nbytes;
    uint64_t begin, end;
    float *converted; /* lazily filled float32 copy (F16/BF16/F64/misaligned F32) */
} st_tensor;

struct sc_safetensors {
    char *name;
    const unsigned char *base; /* whole file / buffer */
    size_t len;
    void *map; /* mmap'ed region (NULL for memory buffers) */
    size_t map_len;
    const unsigned char *data; /* data buffer: base + 8 + N */
    size_t data_len;
    size_t n;
    st_tensor *t;
    size_t *by_name; /* tensor indices sorted by name */
    size_t nmeta;
    char **mkey, **mval;
    pthread_mutex_t lock;
};

/* Error helpers: names in messages are cut to keep the file name visible. */
#define NM "%.200s"

static char *dupstr(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

/* Valid UTF-8 (no overlongs, surrogates or code points > U+10FFFF), no NUL.
 * Returns the offset of the first bad byte, or len. */
static size_t utf8_check(const unsigned char *s, size_t len) {
    size_t valid = sc_utf8_valid_prefix((const char *)s, len);
    const unsigned char *nul = memchr(s, 0, valid);
    return nul ? (size_t)(nul - s) : valid;
}

/* Non-negative integral JSON number <= 2^53. 0 ok, 1 not a number, 2 negative,
 * 3 not an integer, 4 too large. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 1;
    double d = v->valuedouble;
    if (d < 0) return 2;
    if (!(d <= ST_MAX_JSON_INT)) return 4; /* also catches NaN */
    if ((double)(uint64_t)d != d) return 3;
    *out = (uint64_t)d;
    return 0;
}

static const char *json_uint_problem(int code) {
    switch (code) {
    case 1:
        return "is not a number";
    case 2:
        return "is negative";
    case 3:
        return "is not an integer";
    default:
        return "is too large";
    }
}

static const char *json_type(const cJSON *v) {
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    return "invalid";
}

static sc_st_tensor_info make_info(const sc_safetensors *st, const st_tensor *t) {
    sc_st_tensor_info in;
    in.name = t->name;
    in.dtype = st_dtypes[t->dtype].name;
    in.dtype_id = t->dtype;
    in.ndim = t->ndim;
    in.shape = t->shape;
    in.numel = t->numel;
    in.nbytes = t->nbytes;
    in.data = st->data + t->begin;
    return in;
}

void sc_safetensors_free(sc_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].shape);
        sc_free(st->t[i].converted);
    }
    free(st->t);
    free(st->by_name);
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->mkey[i]);
        free(st->mval[i]);
    }
    free(st->mkey);
    free(st->mval);
    if (st->map) munmap(st->map, st->map_len);
    pthread_mutex_destroy(&st->lock);
    free(st->name);
    free(st);
}

/* Sorting helpers (qsort has no context argument: sort pointers). */
static int cmp_name(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_offset(const void *a, const void *b) {
    const st_tensor *x = *(st_tensor *const *)a, *y = *(st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x < y ? -1 : (x > y);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static sc_status fmt_err(const sc_safetensors *st, const char *tensor, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static sc_status fmt_err(const sc_safetensors *st, const char *tensor, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tensor) return sc_set_error(SC_ERR_FORMAT, NM ": tensor " NM ": %s", st->name, tensor, msg);
    return sc_set_error(SC_ERR_FORMAT, NM ": %s", st->name, msg);
}

static sc_status parse_metadata(sc_safetensors *st, const cJSON *md) {
    if (cJSON_IsNull(md)) return SC_OK;
    if (!cJSON_IsObject(md))
        return fmt_err(st, NULL, "__metadata__ is %s, expected an object of strings",
                       json_type(md));
    size_t n = 0;
    for (const cJSON *c = md->child; c; c = c->next) n++;
    st->mkey = calloc(n ? n : 1, sizeof(char *));
    st->mval = calloc(n ? n : 1, sizeof(char *));
    if (!st->mkey || !st->mval) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (const cJSON *c = md->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return fmt_err(st, NULL, "__metadata__ value of \"" NM "\" is %s, expected a string",
                           c->string, json_type(c));
        st->mkey[st->nmeta] = dupstr(c->string);
        st->mval[st->nmeta] = dupstr(c->valuestring);
        st->nmeta++;
        if (!st->mkey[st->nmeta - 1] || !st->mval[st->nmeta - 1])
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    if (n > 1) {
        char **keys = malloc(n * sizeof(char *));
        if (!keys) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        memcpy(keys, st->mkey, n * sizeof(char *));
        qsort(keys, n, sizeof(char *), cmp_str);
        for (size_t i = 1; i < n; i++)
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                sc_status s = fmt_err(st, NULL, "duplicate __metadata__ key \"" NM "\"", keys[i]);
                free(keys);
                return s;
            }
        free(keys);
    }
    return SC_OK;
}

static sc_status parse_tensor(sc_safetensors *st, const cJSON *e, st_tensor *t) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return fmt_err(st, nm, "entry is %s, expected an object", json_type(e));
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = NULL;
        if (strcmp(c->string, "dtype") == 0)
            slot = &dt;
        else if (strcmp(c->string, "shape") == 0)
            slot = &sh;
        else if (strcmp(c->string, "data_offsets") == 0)
            slot = &off;
        if (!slot) continue; /* unknown fields are ignored, as by the reference reader */
        if (*slot) return fmt_err(st, nm, "duplicate field \"%s\"", c->string);
        *slot = c;
    }
    if (!dt) return fmt_err(st, nm, "missing \"dtype\"");
    if (!sh) return fmt_err(st, nm, "missing \"shape\"");
    if (!off) return fmt_err(st, nm, "missing \"data_offsets\"");
    if (!cJSON_IsString(dt))
        return fmt_err(st, nm, "\"dtype\" is %s, expected a string", json_type(dt));
    if (!dtype_from_name(dt->valuestring, &t->dtype))
        return fmt_err(st, nm, "unknown dtype \"%.32s\"", dt->valuestring);
    if (!cJSON_IsArray(sh))
        return fmt_err(st, nm, "\"shape\" is %s, expected an array", json_type(sh));
    if (!cJSON_IsArray(off))
        return fmt_err(st, nm, "\"data_offsets\" is %s, expected an array", json_type(off));
    size_t nd = 0;
    for (const cJSON *c = sh->child; c; c = c->next) nd++;
    if (nd > 4096) return fmt_err(st, nm, "shape has %zu dimensions (limit 4096)", nd);
    t->ndim = (int)nd;
    t->shape = malloc((nd ? nd : 1) * sizeof(int64_t));
    if (!t->shape) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    size_t numel = 1, k = 0;
    int overflow = 0;
    for (const cJSON *c = sh->child; c; c = c->next, k++) {
        uint64_t v;
        int r = json_uint(c, &v);
        if (r == 2)
            return fmt_err(st, nm, "shape entry %zu is negative (%.17g)", k, c->valuedouble);
        if (r) return fmt_err(st, nm, "shape entry %zu %s", k, json_uint_problem(r));
        t->shape[k] = (int64_t)v;
        if (sc_mul_size(numel, (size_t)v, &numel)) overflow = 1;
    }
    /* A zero dimension makes the product 0 whatever came before, but an
     * overflowing partial product is still rejected (as the reference does). */
    if (overflow) return fmt_err(st, nm, "shape product overflows");
    t->numel = numel;
    if (sc_mul_size(numel, st_dtypes[t->dtype].size, &t->nbytes))
        return fmt_err(st, nm, "byte size overflows");
    if (cJSON_GetArraySize(off) != 2)
        return fmt_err(st, nm, "\"data_offsets\" has %d entries, expected 2",
                       cJSON_GetArraySize(off));
    int r = json_uint(off->child, &t->begin);
    if (r) return fmt_err(st, nm, "data_offsets begin %s", json_uint_problem(r));
    r = json_uint(off->child->next, &t->end);
    if (r) return fmt_err(st, nm, "data_offsets end %s", json_uint_problem(r));
    if (t->end < t->begin)
        return fmt_err(st, nm, "data_offsets [%" PRIu64 ", %" PRIu64 "] end before begin", t->begin,
                       t->end);
    if (t->end - t->begin != (uint64_t)t->nbytes)
        return fmt_err(st, nm,
                       "data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                       " bytes but %s shape needs %zu (size mismatch)",
                       t->begin, t->end, t->end - t->begin, st_dtypes[t->dtype].name, t->nbytes);
    if (t->end > (uint64_t)st->data_len)
        return fmt_err(st, nm,
                       "data_offsets [%" PRIu64 ", %" PRIu64
                       "] out of range of the %zu-byte data buffer",
                       t->begin, t->end, st->data_len);
    t->name = dupstr(nm);
    if (!t->name) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    return SC_OK;
}

static sc_status parse_header(sc_safetensors *st) {
    if (st->len < 8)
        return fmt_err(st, NULL,
                       "file is %zu bytes, too short for the 8-byte header length (truncated)",
                       st->len);
    uint64_t n = rd64(st->base);
    if (n > SC_ST_MAX_HEADER)
        return fmt_err(st, NULL, "header length %" PRIu64 " exceeds the limit of %" PRIu64 " bytes",
                       n, SC_ST_MAX_HEADER);
    if (n > (uint64_t)(st->len - 8))
        return fmt_err(st, NULL,
                       "header length %" PRIu64
                       " is longer than the file (%zu bytes after the length)",
                       n, st->len - 8);
    const unsigned char *h = st->base + 8;
    st->data = h + n;
    st->data_len = st->len - 8 - (size_t)n;
    size_t bad = utf8_check(h, (size_t)n);
    if (bad != n)
        return fmt_err(st, NULL, "header is not valid UTF-8 JSON (byte %zu of the header)", bad);
    if (n == 0 || h[0] != '{')
        return fmt_err(st, NULL, "header is not a JSON object (it must start with '{')");
    /* Parse a NUL-terminated copy: cJSON then cannot read past the header
     * whatever its length handling does (the mapping may end right there). */
    char *text = malloc((size_t)n + 1);
    if (!text) return sc_set_error(SC_ERR_NOMEM, NM ": out of memory for the header", st->name);
    memcpy(text, h, (size_t)n);
    text[n] = 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t at = (ep && ep >= text && ep <= text + n) ? (size_t)(ep - text) : 0;
        free(text);
        return fmt_err(st, NULL, "header is not valid JSON (near byte %zu)", at);
    }
    sc_status s = SC_OK;
    /* Only whitespace may follow the JSON (the writer pads with spaces). */
    for (const char *p = end; p && p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = fmt_err(st, NULL, "header has trailing bytes after the JSON object (byte %zu)",
                        (size_t)(p - text));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = fmt_err(st, NULL, "header is %s, expected a JSON object", json_type(root));
        goto done;
    }
    size_t count = 0;
    int seen_meta = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            if (seen_meta) {
                s = fmt_err(st, NULL, "duplicate \"__metadata__\" entry");
                goto done;
            }
            seen_meta = 1;
            if ((s = parse_metadata(st, c))) goto done;
        } else {
            count++;
        }
    }
    st->t = calloc(count ? count : 1, sizeof(st_tensor));
    st_tensor **order = malloc((count ? count : 1) * sizeof(st_tensor *));
    st->by_name = malloc((count ? count : 1) * sizeof(size_t));
    if (!st->t || !order || !st->by_name) {
        free(order);
        s = sc_set_error(SC_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) continue;
        st_tensor *t = &st->t[st->n++];
        if ((s = parse_tensor(st, c, t))) {
            free(order);
            goto done;
        }
    }
    /* Duplicate names (cJSON keeps every member of an object). */
    for (size_t i = 0; i < count; i++) order[i] = &st->t[i];
    qsort(order, count, sizeof *order, cmp_name);
    for (size_t i = 0; i < count; i++) {
        st->by_name[i] = (size_t)(order[i] - st->t);
        if (i && strcmp(order[i - 1]->name, order[i]->name) == 0) {
            s = fmt_err(st, order[i]->name, "duplicate tensor name");
            free(order);
            goto done;
        }
    }
    /* The tensors must tile the data buffer exactly. */
    qsort(order, count, sizeof *order, cmp_offset);
    uint64_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        const st_tensor *t = order[i];
        if (t->begin < pos) {
            s = fmt_err(st, t->name,
                        "data_offsets [%" PRIu64 ", %" PRIu64 "] overlap tensor " NM
                        " (which ends at %" PRIu64 ")",
                        t->begin, t->end, order[i - 1]->name, pos);
            break;
        }
        if (t->begin > pos) {
            if (i)
                s = fmt_err(st, t->name,
                            "data_offsets begin at %" PRIu64 ", leaving a gap of %" PRIu64
                            " bytes after tensor " NM,
                            t->begin, t->begin - pos, order[i - 1]->name);
            else
                s = fmt_err(st, t->name,
                            "data_offsets begin at %" PRIu64 ", leaving a gap of %" PRIu64
                            " bytes at the start of the data buffer",
                            t->begin, t->begin);
            break;
        }
        pos = t->end;
    }
    if (!s && pos != (uint64_t)st->data_len)
        s = fmt_err(st, NULL,
                    "data buffer has %zu bytes but the tensors cover only %" PRIu64
                    " (trailing data not covered by any tensor)",
                    st->data_len, pos);
    free(order);
done:
    cJSON_Delete(root);
    free(text);
    return s;
}

static sc_status st_new(const char *name, sc_safetensors **out) {
    sc_safetensors *st = calloc(1, sizeof *st);
    if (!st) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    st->name = dupstr(name);
    if (!st->name || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st->name);
        free(st);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    *out = st;
    return SC_OK;
}

sc_status sc_safetensors_open_memory(const void *buf, size_t len, const char *name,
                                     sc_safetensors **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_open_memory: out is NULL");
    *out = NULL;
    if (!buf && len)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_open_memory: NULL buffer");
    sc_safetensors *st = NULL;
    sc_status s = st_new(name ? name : "<memory>", &st);
    if (s) return s;
    st->base = buf ? buf : (const unsigned char *)"";
    st->len = len;
    if ((s = parse_header(st))) {
        sc_safetensors_free(st);
        return s;
    }
    *out = st;
    return SC_OK;
}

sc_status sc_safetensors_open(const char *path, sc_safetensors **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sc_set_error(SC_ERR_IO, NM ": cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sc_set_error(SC_ERR_IO, NM ": cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sc_set_error(SC_ERR_IO, NM ": not a regular file", path);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return sc_set_error(SC_ERR_LIMIT, NM ": file too large to map", path);
    }
    sc_safetensors *st = NULL;
    sc_status s = st_new(path, &st);
    if (s) {
        close(fd);
        return s;
    }
    st->len = (size_t)sb.st_size;
    if (st->len > 0) {
        void *m = mmap(NULL, st->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            sc_safetensors_free(st);
            return sc_set_error(SC_ERR_IO, NM ": cannot map: %s", path, strerror(e));
        }
        st->map = m;
        st->map_len = st->len;
        st->base = m;
    } else {
        st->base = (const unsigned char *)"";
    }
    close(fd);
    if ((s = parse_header(st))) {
        sc_safetensors_free(st);
        return s;
    }
    *out = st;
    return SC_OK;
}

const char *sc_safetensors_name(const sc_safetensors *st) {
    return st ? st->name : NULL;
}

size_t sc_safetensors_count(const sc_safetensors *st) {
    return st ? st->n : 0;
}

sc_status sc_safetensors_info(const sc_safetensors *st, size_t index, sc_st_tensor_info *out) {
    if (!st || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_info: NULL argument");
    if (index >= st->n)
        return sc_set_error(SC_ERR_INVALID_ARG, NM ": tensor index %zu out of range (%zu tensors)",
                            st->name, index, st->n);
    *out = make_info(st, &st->t[index]);
    return SC_OK;
}

long sc_safetensors_find(const sc_safetensors *st, const char *name) {
    if (!st || !name) return -1;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->t[st->by_name[mid]].name, name);
        if (c == 0) return (long)st->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

sc_status sc_safetensors_lookup(const sc_safetensors *st, const char *name,
                                sc_st_tensor_info *out) {
    if (!st || !name || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_lookup: NULL argument");
    long i = sc_safetensors_find(st, name);
    if (i < 0) return sc_set_error(SC_ERR_FORMAT, NM ": no tensor named " NM, st->name, name);
    *out = make_info(st, &st->t[i]);
    return SC_OK;
}

static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++) {
        if (n + 24 >= cap) {
            snprintf(buf + n, cap - n, "...");
            n = cap;
            break;
        }
        if (shape[i] < 0)
            n += (size_t)snprintf(buf + n, cap - n, "%s*", i ? ", " : "");
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    }
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
    else
        snprintf(buf + cap - 5, 5, "...]");
}

/* Convert tensor data to float32 (or point at it). Called under st->lock. */
static sc_status tensor_f32(sc_safetensors *st, st_tensor *t, const float **data) {
    const unsigned char *p = st->data + t->begin;
    if (t->dtype == SC_ST_F32 && ST_LITTLE_ENDIAN && ((uintptr_t)p % _Alignof(float)) == 0) {
        *data = (const float *)(const void *)p;
        return SC_OK;
    }
    if (t->converted) {
        *data = t->converted;
        return SC_OK;
    }
    if (t->dtype != SC_ST_F32 && t->dtype != SC_ST_F16 && t->dtype != SC_ST_BF16 &&
        t->dtype != SC_ST_F64)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            NM ": tensor " NM " has dtype %s; only F32, F16, BF16 and F64 can be "
                               "read as float32",
                            st->name, t->name, st_dtypes[t->dtype].name);
    float *f = sc_malloc(t->numel ? t->numel * sizeof(float) : 1);
    if (!f)
        return sc_set_error(SC_ERR_NOMEM, NM ": out of memory converting tensor " NM, st->name,
                            t->name);
    size_t n = t->numel;
    switch (t->dtype) {
    case SC_ST_F32:
        for (size_t i = 0; i < n; i++) f[i] = u2f(rd32(p + 4 * i));
        break;
    case SC_ST_F16:
        for (size_t i = 0; i < n; i++) f[i] = sc_f16_to_f32(rd16(p + 2 * i));
        break;
    case SC_ST_BF16:
        for (size_t i = 0; i < n; i++) f[i] = sc_bf16_to_f32(rd16(p + 2 * i));
        break;
    default: /* F64 */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = rd64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            f[i] = (float)d;
        }
        break;
    }
    t->converted = f;
    *data = f;
    return SC_OK;
}

sc_status sc_safetensors_get_f32_at(sc_safetensors *st, size_t index, const float **data) {
    if (!st || !data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_get_f32_at: NULL argument");
    *data = NULL;
    if (index >= st->n)
        return sc_set_error(SC_ERR_INVALID_ARG, NM ": tensor index %zu out of range (%zu tensors)",
                            st->name, index, st->n);
    pthread_mutex_lock(&st->lock);
    sc_status s = tensor_f32(st, &st->t[index], data);
    pthread_mutex_unlock(&st->lock);
    return s;
}

void sc_safetensors_release(const sc_safetensors *st, const void *data, size_t nbytes) {
    if (!st || !st->map || !data || !nbytes) return;
    const uintptr_t lo = (uintptr_t)st->map, hi = lo + st->map_len, p = (uintptr_t)data;
    if (p < lo || p > hi || nbytes > hi - p) return; /* not in the mapping: a converted copy */
    /* Whole pages inside the range only: a page shared with a neighbouring
     * tensor may be in use. The mapping is read-only and private, so a
     * dropped page is read back from the file when touched again. */
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (p + page - 1) / page * page, b = (p + nbytes) / page * page;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

sc_status sc_safetensors_get_f32(sc_safetensors *st, const char *name, int expected_ndim,
                                 const int64_t *expected_shape, const float **data) {
    if (!st || !name || !data)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_get_f32: NULL argument");
    *data = NULL;
    long i = sc_safetensors_find(st, name);
    if (i < 0) return sc_set_error(SC_ERR_FORMAT, NM ": no tensor named " NM, st->name, name);
    const st_tensor *t = &st->t[i];
    if (expected_ndim >= 0) {
        int ok = t->ndim == expected_ndim;
        for (int k = 0; ok && expected_shape && k < expected_ndim; k++)
            if (expected_shape[k] >= 0 && expected_shape[k] != t->shape[k]) ok = 0;
        if (!ok) {
            char have[160], want[160];
            shape_str(have, sizeof have, t->ndim, t->shape);
            if (expected_shape) {
                shape_str(want, sizeof want, expected_ndim, expected_shape);
                return sc_set_error(SC_ERR_SHAPE, NM ": tensor " NM " has shape %s, expected %s",
                                    st->name, name, have, want);
            }
            return sc_set_error(SC_ERR_SHAPE,
                                NM ": tensor " NM
                                   " has shape %s (%d dimensions), expected %d dimensions",
                                st->name, name, have, t->ndim, expected_ndim);
        }
    }
    return sc_safetensors_get_f32_at(st, (size_t)i, data);
}

const char *sc_safetensors_metadata(const sc_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->mkey[i], key) == 0) return st->mval[i];
    return NULL;
}

size_t sc_safetensors_metadata_count(const sc_safetensors *st) {
    return st ? st->nmeta : 0;
}

sc_status sc_safetensors_metadata_at(const sc_safetensors *st, size_t index, const char **key,
                                     const char **value) {
    if (!st) return sc_set_error(SC_ERR_INVALID_ARG, "sc_safetensors_metadata_at: NULL argument");
    if (index >= st->nmeta)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            NM ": metadata index %zu out of range (%zu entries)", st->name, index,
                            st->nmeta);
    if (key) *key = st->mkey[index];
    if (value) *value = st->mval[index];
    return SC_OK;
}

/* ---- Writer ------------------------------------------------------------------ */

typedef struct wt_tensor {
    char *name;
    sc_st_dtype dtype;
    int ndim;
    int64_t *shape;
    size_t numel, nbytes;
    const void *data;
    int from_f32; /* data is float32, stored converted to dtype */
    uint64_t begin;
} wt_tensor;

struct sc_st_writer {
    wt_tensor *t;
    size_t n, cap;
    char **mkey, **mval;
    size_t nmeta, mcap;
};

sc_st_writer *sc_st_writer_new(void) {
    sc_st_writer *w = calloc(1, sizeof *w);
    if (!w) sc_set_error(SC_ERR_NOMEM, "out of memory");
    return w;
}

void sc_st_writer_free(sc_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].shape);
    }
    free(w->t);
    for (size_t i = 0; i < w->nmeta; i++) {
        free(w->mkey[i]);
        free(w->mval[i]);
    }
    free(w->mkey);
    free(w->mval);
    free(w);
}

static int utf8_ok(const char *s) {
    size_t n = strlen(s);
    return utf8_check((const unsigned char *)s, n) == n;
}

static sc_status writer_add(sc_st_writer *w, const char *name, sc_st_dtype dtype, const void *data,
                            int ndim, const int64_t *shape, int from_f32) {
    if (!w || !name)
        return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: NULL writer or name");
    if (!*name || !utf8_ok(name) || strcmp(name, "__metadata__") == 0)
        return sc_set_error(
            SC_ERR_INVALID_ARG,
            "safetensors writer: tensor name \"" NM "\" is empty, not UTF-8 or reserved", name);
    if ((unsigned)dtype >= SC_ST_DTYPE_COUNT)
        return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: tensor " NM ": bad dtype %d",
                            name, (int)dtype);
    if (ndim < 0 || ndim > 4096 || (ndim > 0 && !shape))
        return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: tensor " NM ": bad ndim %d",
                            name, ndim);
    size_t numel = 1, nbytes;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "safetensors writer: tensor " NM ": negative dimension %" PRId64,
                                name, shape[i]);
        if ((uint64_t)shape[i] > (uint64_t)SIZE_MAX || sc_mul_size(numel, (size_t)shape[i], &numel))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "safetensors writer: tensor " NM ": shape product overflows", name);
    }
    if (sc_mul_size(numel, st_dtypes[dtype].size, &nbytes) ||
        (from_f32 && sc_mul_size(numel, sizeof(float), &(size_t){0})))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "safetensors writer: tensor " NM ": byte size overflows", name);
    if (!data && numel)
        return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: tensor " NM ": NULL data",
                            name);
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "safetensors writer: duplicate tensor name \"" NM "\"", name);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        wt_tensor *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        w->t = nt;
        w->cap = nc;
    }
    wt_tensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->name = dupstr(name);
    t->shape = malloc((ndim ? (size_t)ndim : 1) * sizeof(int64_t));
    if (!t->name || !t->shape) {
        free(t->name);
        free(t->shape);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    if (ndim) memcpy(t->shape, shape, (size_t)ndim * sizeof(int64_t));
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = numel;
    t->nbytes = nbytes;
    t->data = data;
    t->from_f32 = from_f32;
    w->n++;
    return SC_OK;
}

sc_status sc_st_writer_add_f32(sc_st_writer *w, const char *name, const float *data, int ndim,
                               const int64_t *shape, sc_st_dtype store_as) {
    if (store_as != SC_ST_F32 && store_as != SC_ST_F16 && store_as != SC_ST_BF16)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "safetensors writer: tensor " NM
                            ": float data can be stored as F32, F16 or BF16 only",
                            name ? name : "(null)");
    return writer_add(w, name, store_as, data, ndim, shape, 1);
}

sc_status sc_st_writer_add_raw(sc_st_writer *w, const char *name, sc_st_dtype dtype,
                               const void *data, int ndim, const int64_t *shape) {
    return writer_add(w, name, dtype, data, ndim, shape, 0);
}

sc_status sc_st_writer_set_metadata(sc_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value)
        return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: NULL metadata argument");
    if (!utf8_ok(key) || !utf8_ok(value))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "safetensors writer: metadata \"" NM "\" is not valid UTF-8", key);
    char *v = dupstr(value);
    if (!v) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w->nmeta; i++)
        if (strcmp(w->mkey[i], key) == 0) {
            free(w->mval[i]);
            w->mval[i] = v;
            return SC_OK;
        }
    if (w->nmeta == w->mcap) {
        size_t nc = w->mcap ? 2 * w->mcap : 8;
        char **nk = realloc(w->mkey, nc * sizeof(char *));
        if (nk) w->mkey = nk;
        char **nv = nk ? realloc(w->mval, nc * sizeof(char *)) : NULL;
        if (nv) w->mval = nv;
        if (!nk || !nv) {
            free(v);
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
        }
        w->mcap = nc;
    }
    w->mkey[w->nmeta] = dupstr(key);
    if (!w->mkey[w->nmeta]) {
        free(v);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    w->mval[w->nmeta++] = v;
    return SC_OK;
}

/* Growable string for the JSON header. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

static void sb_json_string(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            sb_put(b, "\\\"", 2);
            break;
        case '\\':
            sb_put(b, "\\\\", 2);
            break;
        case '\n':
            sb_put(b, "\\n", 2);
            break;
        case '\r':
            sb_put(b, "\\r", 2);
            break;
        case '\t':
            sb_put(b, "\\t", 2);
            break;
        case '\b':
            sb_put(b, "\\b", 2);
            break;
        case '\f':
            sb_put(b, "\\f", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                sb_put(b, esc, 6);
            } else {
                sb_put(b, (const char *)p, 1);
            }
        }
    }
    sb_put(b, "\"", 1);
}

static int wt_cmp_size(const void *a, const void *b) {
    const wt_tensor *x = *(wt_tensor *const *)a, *y = *(wt_tensor *const *)b;
    size_t sx = st_dtypes[x->dtype].size, sy = st_dtypes[y->dtype].size;
    if (sx != sy) return sx > sy ? -1 : 1;
    return x < y ? -1 : (x > y); /* stable: insertion order */
}

/* Stream one tensor's bytes, converting float32 data in chunks. */
static sc_status write_tensor(sc_atomic_file *af, const wt_tensor *t) {
    if (!t->from_f32 || (t->dtype == SC_ST_F32 && ST_LITTLE_ENDIAN))
        return sc_atomic_write(af, t->data, t->nbytes);
    enum { CHUNK = 8192 };
    unsigned char buf[CHUNK * 4];
    const float *f = t->data;
    for (size_t i = 0; i < t->numel; i += CHUNK) {
        size_t m = SC_MIN((size_t)CHUNK, t->numel - i), bytes;
        if (t->dtype == SC_ST_F32) {
            for (size_t k = 0; k < m; k++) {
                uint32_t u = f2u(f[i + k]);
                for (int j = 0; j < 4; j++) buf[4 * k + j] = (unsigned char)(u >> (8 * j));
            }
            bytes = 4 * m;
        } else {
            for (size_t k = 0; k < m; k++) {
                uint16_t h =
                    t->dtype == SC_ST_F16 ? sc_f32_to_f16(f[i + k]) : sc_f32_to_bf16(f[i + k]);
                buf[2 * k] = (unsigned char)h;
                buf[2 * k + 1] = (unsigned char)(h >> 8);
            }
            bytes = 2 * m;
        }
        sc_status s = sc_atomic_write(af, buf, bytes);
        if (s) return s;
    }
    return SC_OK;
}

sc_status sc_st_writer_write(sc_st_writer *w, const char *path) {
    if (!w || !path) return sc_set_error(SC_ERR_INVALID_ARG, "safetensors writer: NULL argument");
    /* Data layout: decreasing element size keeps every tensor aligned. */
    wt_tensor **order = malloc((w->n ? w->n : 1) * sizeof *order);
    if (!order) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < w->n; i++) order[i] = &w->t[i];
    qsort(order, w->n, sizeof *order, wt_cmp_size);
    uint64_t pos = 0;
    for (size_t i = 0; i < w->n; i++) {
        order[i]->begin = pos;
        pos += order[i]->nbytes;
    }
    sbuf b = {0};
    char num[64];
    sb_puts(&b, "{");
    if (w->nmeta) {
        sb_puts(&b, "\"__metadata__\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            if (i) sb_puts(&b, ",");
            sb_json_string(&b, w->mkey[i]);
            sb_puts(&b, ":");
            sb_json_string(&b, w->mval[i]);
        }
        sb_puts(&b, "}");
    }
    for (size_t i = 0; i < w->n; i++) {
        const wt_tensor *t = &w->t[i];
        if (i || w->nmeta) sb_puts(&b, ",");
        sb_json_string(&b, t->name);
        sb_puts(&b, ":{\"dtype\":\"");
        sb_puts(&b, st_dtypes[t->dtype].name);
        sb_puts(&b, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            snprintf(num, sizeof num, "%s%" PRId64, k ? "," : "", t->shape[k]);
            sb_puts(&b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", t->begin,
                 t->begin + t->nbytes);
        sb_puts(&b, num);
    }
    sb_puts(&b, "}");
    while ((8 + b.n) % 8) sb_puts(&b, " ");
    if (b.oom) {
        free(b.p);
        free(order);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    if ((uint64_t)b.n > SC_ST_MAX_HEADER) {
        free(b.p);
        free(order);
        return sc_set_error(SC_ERR_LIMIT,
                            NM ": safetensors header would be %zu bytes (limit %" PRIu64 ")", path,
                            b.n, SC_ST_MAX_HEADER);
    }
    unsigned char len8[8];
    for (int j = 0; j < 8; j++) len8[j] = (unsigned char)((uint64_t)b.n >> (8 * j));
    sc_atomic_file af;
    sc_status s = sc_atomic_begin(&af, path);
    if (!s) s = sc_atomic_write(&af, len8, 8);
    if (!s) s = sc_atomic_write(&af, b.p, b.n);
    for (size_t i = 0; !s && i < w->n; i++) s = write_tensor(&af, order[i]);
    free(b.p);
    free(order);
    if (s) {
        if (af.fp) sc_atomic_abort(&af);
        return s;
    }
    return sc_atomic_commit(&af);
}

sc_status sc_st_check_known_tensors(sc_safetensors *st, const char *path, const char *prefix,
                                    const sc_param *a, size_t na, const sc_param *b, size_t nb,
                                    const char *what) {
    const size_t pl = strlen(prefix), sl = strlen(".num_batches_tracked");
    for (size_t i = 0; i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info info;
        sc_status s = sc_safetensors_info(st, i, &info);
        if (s) return s;
        if (strncmp(info.name, prefix, pl) != 0) continue;
        int known = 0;
        for (size_t k = 0; k < na && !known; k++) known = !strcmp(a[k].name, info.name);
        for (size_t k = 0; k < nb && !known; k++) known = !strcmp(b[k].name, info.name);
        size_t ln = strlen(info.name);
        if (ln >= sl && !strcmp(info.name + ln - sl, ".num_batches_tracked")) known = 1;
        if (!known)
            return sc_set_error(SC_ERR_FORMAT, "%s: tensor %s is not part of %s", path, info.name,
                                what);
    }
    return SC_OK;
}
