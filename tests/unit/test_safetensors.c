/* safetensors: round trips, numpy/torch oracles both ways, corrupt files. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_util.h"

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* 8-byte length + header + data, in a malloc'd buffer. */
static unsigned char *make_st(const char *header, const void *data, size_t dlen, size_t *len) {
    size_t n = strlen(header);
    unsigned char *b = malloc(8 + n + dlen + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 8, header, n);
    if (dlen) memcpy(b + 8 + n, data, dlen);
    *len = 8 + n + dlen;
    return b;
}

static void bits_equal(const char *what, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0)
            fail_msg("%s: [%zu] got %.9g expected %.9g", what, i, (double)a[i], (double)b[i]);
}

/* ---- ours -> ours -------------------------------------------------------- */

static void test_roundtrip_ours(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("st_rt");
    char *path = sc_test_join(dir, "rt.safetensors");
    float a[12], h[5] = {1.0f, -2.5f, 65504.0f, 1e-7f, 3.14159f}, s = -7.5f;
    sc_test_fill_uniform(a, 12, -3, 3, 1);
    int64_t sa[2] = {3, 4}, sh[1] = {5}, se[2] = {0, 2}, sb[3] = {1, 1, 5};
    int32_t iv[3] = {-1, 2, 1 << 30};
    int64_t si[1] = {3};
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    SC_TEST_OK(sc_st_writer_set_metadata(w, "arch", "show-attend-tell"));
    SC_TEST_OK(sc_st_writer_add_f32(w, "half", h, 1, sh, SC_ST_F16)); /* 10 bytes */
    SC_TEST_OK(sc_st_writer_add_f32(w, "decoder.w", a, 2, sa, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_add_f32(w, "scalar", &s, 0, NULL, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_add_f32(w, "empty", NULL, 2, se, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_add_f32(w, "brain", h, 3, sb, SC_ST_BF16));
    SC_TEST_OK(sc_st_writer_add_raw(w, "ints", SC_ST_I32, iv, 1, si));
    SC_TEST_OK(sc_st_writer_set_metadata(w, "epoch", "3"));
    SC_TEST_OK(sc_st_writer_set_metadata(w, "arch", "sat")); /* replaces in place */
    /* Duplicates and bad arguments are refused at add time. */
    assert_int_equal(sc_st_writer_add_f32(w, "half", h, 1, sh, SC_ST_F32), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "duplicate tensor name \"half\""));
    assert_int_equal(sc_st_writer_add_f32(w, "__metadata__", h, 1, sh, SC_ST_F32),
                     SC_ERR_INVALID_ARG);
    int64_t neg[1] = {-1};
    assert_int_equal(sc_st_writer_add_f32(w, "neg", h, 1, neg, SC_ST_F32), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_st_writer_add_f32(w, "i", h, 1, sh, SC_ST_I32), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_st_writer_add_f32(w, "bad\xff", h, 1, sh, SC_ST_F32), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    assert_int_equal(count_entries(dir), 1); /* no temporary left behind */

    sc_safetensors *st = NULL;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    assert_string_equal(sc_safetensors_name(st), path);
    assert_int_equal(sc_safetensors_count(st), 6);
    const char *names[6] = {"half", "decoder.w", "scalar", "empty", "brain", "ints"};
    const char *dts[6] = {"F16", "F32", "F32", "F32", "BF16", "I32"};
    const int nd[6] = {1, 2, 0, 2, 3, 1};
    for (size_t i = 0; i < 6; i++) {
        sc_st_tensor_info in;
        SC_TEST_OK(sc_safetensors_info(st, i, &in));
        assert_string_equal(in.name, names[i]);
        assert_string_equal(in.dtype, dts[i]);
        assert_int_equal(in.ndim, nd[i]);
        assert_int_equal(sc_safetensors_find(st, names[i]), (long)i);
        /* Every tensor is aligned to its element size in the file. */
        assert_int_equal((uintptr_t)in.data % sc_st_dtype_size(in.dtype_id), 0);
    }
    assert_int_equal(sc_safetensors_find(st, "nope"), -1);
    assert_int_equal(sc_safetensors_info(st, 6, &(sc_st_tensor_info){0}), SC_ERR_INVALID_ARG);

    /* F32: exact, and zero-copy (the pointer is the mapped data itself). */
    const float *d;
    SC_TEST_OK(sc_safetensors_get_f32(st, "decoder.w", 2, sa, &d));
    bits_equal("decoder.w", d, a, 12);
    sc_st_tensor_info in;
    SC_TEST_OK(sc_safetensors_lookup(st, "decoder.w", &in));
    assert_ptr_equal(d, in.data);
    assert_int_equal(in.numel, 12);
    assert_int_equal(in.nbytes, 48);
    assert_int_equal(in.shape[0], 3);
    assert_int_equal(in.shape[1], 4);
    SC_TEST_OK(sc_safetensors_get_f32(st, "scalar", 0, NULL, &d));
    assert_true(d[0] == -7.5f);
    SC_TEST_OK(sc_safetensors_get_f32(st, "empty", 2, se, &d));
    assert_non_null(d);
    /* F16 / BF16: the round-trip of our own conversions (torch is the oracle
     * for the conversions themselves, see test_ours_to_numpy). */
    SC_TEST_OK(sc_safetensors_get_f32(st, "half", 1, NULL, &d));
    const float *d2;
    SC_TEST_OK(sc_safetensors_get_f32(st, "half", -1, NULL, &d2));
    assert_ptr_equal(d, d2); /* converted once */
    float want16[5] = {1.0f, -2.5f, 65504.0f, 1.1920929e-07f, 3.140625f};
    bits_equal("half", d, want16, 5);
    SC_TEST_OK(sc_safetensors_get_f32(st, "brain", 3, (int64_t[]){1, -1, 5}, &d));
    float wantbf[5] = {1.0f, -2.5f, 65536.0f, 1.00117176e-07f, 3.140625f};
    bits_equal("brain", d, wantbf, 5);
    sc_safetensors_get_f32_at(st, 4, &d2);
    assert_ptr_equal(d, d2);
    /* Integers are listed but not readable as float. */
    assert_int_equal(sc_safetensors_get_f32(st, "ints", -1, NULL, &d), SC_ERR_UNSUPPORTED);
    assert_non_null(strstr(sc_last_error(), "ints has dtype I32"));
    SC_TEST_OK(sc_safetensors_lookup(st, "ints", &in));
    assert_memory_equal(in.data, iv, sizeof iv);
    /* Shape and name errors. */
    assert_int_equal(sc_safetensors_get_f32(st, "decoder.w", 2, (int64_t[]){3, 5}, &d),
                     SC_ERR_SHAPE);
    char want[512];
    snprintf(want, sizeof want, "%s: tensor decoder.w has shape [3, 4], expected [3, 5]", path);
    assert_string_equal(sc_last_error(), want);
    assert_null(d);
    assert_int_equal(sc_safetensors_get_f32(st, "decoder.w", 3, NULL, &d), SC_ERR_SHAPE);
    assert_non_null(strstr(sc_last_error(), "expected 3 dimensions"));
    assert_int_equal(sc_safetensors_get_f32(st, "decoder.x", -1, NULL, &d), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "no tensor named decoder.x"));
    /* Metadata in insertion order. */
    assert_int_equal(sc_safetensors_metadata_count(st), 2);
    assert_string_equal(sc_safetensors_metadata(st, "arch"), "sat");
    assert_string_equal(sc_safetensors_metadata(st, "epoch"), "3");
    assert_null(sc_safetensors_metadata(st, "missing"));
    const char *k, *v;
    SC_TEST_OK(sc_safetensors_metadata_at(st, 1, &k, &v));
    assert_string_equal(k, "epoch");
    assert_int_equal(sc_safetensors_metadata_at(st, 2, &k, &v), SC_ERR_INVALID_ARG);
    sc_safetensors_free(st);

    /* The data buffer starts 8-byte aligned. */
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, 1 << 20, &buf, &len));
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)buf[i] << (8 * i);
    assert_int_equal((8 + n) % 8, 0);
    assert_int_equal(buf[8 + n - 1] == ' ' || buf[8 + n - 1] == '}', 1);
    /* The same bytes through the memory loader. */
    SC_TEST_OK(sc_safetensors_open_memory(buf, len, NULL, &st));
    assert_string_equal(sc_safetensors_name(st), "<memory>");
    assert_int_equal(sc_safetensors_count(st), 6);
    sc_safetensors_free(st);
    free(buf);

    /* Failed writes (missing folder) leave no file and no temporary. */
    w = sc_st_writer_new();
    SC_TEST_OK(sc_st_writer_add_f32(w, "x", a, 2, sa, SC_ST_F32));
    char *bad = sc_test_join(dir, "missing/out.safetensors");
    assert_int_equal(sc_st_writer_write(w, bad), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "missing/out.safetensors"));
    assert_int_equal(count_entries(dir), 1);
    sc_st_writer_free(w);
    free(bad);
    sc_test_rmtree(dir);
    free(path);
    free(dir);
}

/* ---- ours -> numpy (st_numpy.py + torch's own F16/BF16 rounding) ----------- */

static void test_ours_to_numpy(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("st_out");
    /* Values over many magnitudes plus the rounding edge cases. */
    enum { N = 1024 };
    float *x = malloc(N * sizeof(float));
    sc_rng r;
    sc_rng_seed(&r, 7);
    for (int i = 0; i < N; i++)
        x[i] = ldexpf(sc_rng_normal(&r), (int)(sc_rng_uniform(&r) * 60) - 35);
    const float edge[] = {
        65504.0f,        65519.99f,  65520.0f,     65536.0f,   1e10f,      -1e10f,     0x1p-14f,
        0x1.ffcp-15f,    0x1p-24f,   0x1p-25f,     0x1.8p-25f, 0x1p-26f,   0x1.8p-24f, 0x1.4p-24f,
        0x1.4p-23f,      0x1.2p-22f, 0x1.ffep-15f, 0x1.002p0f, 0x1.006p0f, 0x1.01p0f,  0x1.03p0f,
        0x1.fffffep127f, 1e-40f,     -0.0f,        INFINITY,   -INFINITY,  NAN,        -NAN,
        0x1.ff8p15f,     0.1f,       -0.3f};
    memcpy(x, edge, sizeof edge);
    int64_t shp[2] = {N / 8, 8}, s1[1] = {4}, s0[2] = {0, 3};
    int64_t idx[4] = {-1, 0, 5, (int64_t)1 << 40};
    float scalar = 2.5f;
    char *src = sc_test_join(dir, "src.npy");
    SC_TEST_OK(sc_npy_write(src, x, 2, shp));
    sc_st_writer *w = sc_st_writer_new();
    SC_TEST_OK(sc_st_writer_set_metadata(w, "format", "pt"));
    SC_TEST_OK(sc_st_writer_set_metadata(w, "note", "üñí \"quoted\" \\ back\nslash\ttab"));
    SC_TEST_OK(sc_st_writer_set_metadata(w, "empty", ""));
    SC_TEST_OK(sc_st_writer_add_f32(w, "w.f32", x, 2, shp, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_add_f32(w, "w.f16", x, 2, shp, SC_ST_F16));
    SC_TEST_OK(sc_st_writer_add_f32(w, "w.bf16", x, 2, shp, SC_ST_BF16));
    SC_TEST_OK(sc_st_writer_add_raw(w, "idx", SC_ST_I64, idx, 1, s1));
    SC_TEST_OK(sc_st_writer_add_f32(w, "scalar", &scalar, 0, NULL, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_add_f32(w, "empty", NULL, 2, s0, SC_ST_F32));
    char *path = sc_test_join(dir, "ours.safetensors");
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);
    sc_test_python("ref_safetensors.py", "check '%s'", dir);
    /* Our reader's F16/BF16 decoding of our rounding matches the scalar API. */
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    const float *h, *b;
    SC_TEST_OK(sc_safetensors_get_f32(st, "w.f16", 2, shp, &h));
    SC_TEST_OK(sc_safetensors_get_f32(st, "w.bf16", 2, shp, &b));
    for (int i = 0; i < N; i++) {
        float eh = sc_f16_to_f32(sc_f32_to_f16(x[i])), eb = sc_bf16_to_f32(sc_f32_to_bf16(x[i]));
        if (isnan(x[i])) {
            assert_true(isnan(h[i]) && isnan(b[i]));
            continue;
        }
        assert_memory_equal(&h[i], &eh, 4);
        assert_memory_equal(&b[i], &eb, 4);
    }
    sc_safetensors_free(st);
    free(x);
    free(src);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

/* ---- numpy -> ours -------------------------------------------------------- */

static void compare_npy(sc_safetensors *st, const char *dir, const char *tensor, const char *npy) {
    sc_npy e = sc_test_npy(dir, npy);
    const float *d;
    SC_TEST_OK(sc_safetensors_get_f32(st, tensor, e.ndim, e.shape, &d));
    bits_equal(tensor, d, e.data, e.count);
    sc_npy_free(&e);
}

static void test_numpy_to_ours(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("st_in");
    sc_test_python("ref_safetensors.py", "gen '%s'", dir);
    char *path = sc_test_join(dir, "np.safetensors");
    sc_safetensors *st;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    assert_int_equal(sc_safetensors_count(st), 9);
    compare_npy(st, dir, "f32.matrix", "exp_f32_matrix");
    compare_npy(st, dir, "f16.vec", "exp_f16_vec");
    compare_npy(st, dir, "f64.vec", "exp_f64_vec");
    compare_npy(st, dir, "bf16.cube", "exp_bf16_cube");
    sc_st_tensor_info in;
    const float *d;
    /* Aligned F32 is zero-copy; the scalar at data offset 118 is copied. */
    SC_TEST_OK(sc_safetensors_lookup(st, "f32.matrix", &in));
    SC_TEST_OK(sc_safetensors_get_f32(st, "f32.matrix", 2, NULL, &d));
    assert_ptr_equal(d, in.data);
    SC_TEST_OK(sc_safetensors_lookup(st, "f32.scalar", &in));
    assert_int_equal((uintptr_t)in.data % 4, 2);
    SC_TEST_OK(sc_safetensors_get_f32(st, "f32.scalar", 0, NULL, &d));
    assert_ptr_not_equal(d, in.data);
    assert_true(d[0] == 3.25f);
    SC_TEST_OK(sc_safetensors_lookup(st, "i64.idx", &in));
    assert_string_equal(in.dtype, "I64");
    int64_t iv[4];
    memcpy(iv, in.data, sizeof iv);
    assert_true(iv[0] == -3 && iv[2] == 7 && iv[3] == ((int64_t)1 << 40));
    SC_TEST_OK(sc_safetensors_lookup(st, "bool.flags", &in));
    assert_string_equal(in.dtype, "BOOL");
    assert_memory_equal(in.data, "\1\0\1", 3);
    assert_int_equal(sc_safetensors_get_f32(st, "u8.bytes", -1, NULL, &d), SC_ERR_UNSUPPORTED);
    SC_TEST_OK(sc_safetensors_lookup(st, "f32.empty", &in));
    assert_int_equal(in.numel, 0);
    assert_int_equal(in.shape[0], 0);
    assert_int_equal(in.shape[1], 4);
    assert_int_equal(sc_safetensors_metadata_count(st), 3);
    assert_string_equal(sc_safetensors_metadata(st, "format"), "pt");
    assert_string_equal(sc_safetensors_metadata(st, "note"), "üñí \"quoted\" \\ back\nslash\ttab");
    assert_string_equal(sc_safetensors_metadata(st, "empty"), "");
    sc_safetensors_free(st);
    /* Header padded with extra spaces; data misaligned by 2 in the mapping. */
    free(path);
    path = sc_test_join(dir, "padded.safetensors");
    SC_TEST_OK(sc_safetensors_open(path, &st));
    SC_TEST_OK(sc_safetensors_lookup(st, "f32.matrix", &in));
    assert_int_equal((uintptr_t)in.data % 4, 2);
    compare_npy(st, dir, "f32.matrix", "exp_f32_matrix");
    assert_string_equal(sc_safetensors_metadata(st, "k"), "v");
    sc_safetensors_free(st);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

/* ---- corrupt files -------------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    const char *header; /* NULL: raw bytes below */
    size_t dlen;        /* data buffer bytes (zeros) */
    const char *fragment;
} bad_case;

#define T1(off, shape) "{\"dtype\":\"F32\",\"shape\":" shape ",\"data_offsets\":" off "}"

static const bad_case bad_cases[] = {
    {"non-JSON", "{not json}", 0, "header is not valid JSON"},
    {"non-object", "[1, 2]", 0, "is not a JSON object"},
    {"trailing garbage", "{} x", 0, "trailing bytes after the JSON"},
    {"invalid UTF-8", "{\"a\xff\":1}", 0, "not valid UTF-8"},
    {"entry not object", "{\"a\":[1]}", 0, "tensor a: entry is an array"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor a: missing \"dtype\""},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
     "tensor a: missing \"shape\""},
    {"missing offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
     "tensor a: missing \"data_offsets\""},
    {"dtype not string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "\"dtype\" is a number, expected a string"},
    {"unknown dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "tensor a: unknown dtype \"F31\""},
    {"shape not array", "{\"a\":" T1("[0,4]", "4") "}", 4, "\"shape\" is a number"},
    {"negative shape", "{\"a\":" T1("[0,4]", "[-1]") "}", 4, "shape entry 0 is negative"},
    {"fractional shape", "{\"a\":" T1("[0,4]", "[1.5]") "}", 4, "shape entry 0 is not an integer"},
    {"string shape", "{\"a\":" T1("[0,4]", "[\"1\"]") "}", 4, "shape entry 0 is not a number"},
    {"shape overflow", "{\"a\":" T1("[0,4]", "[4294967296,4294967296,16]") "}", 4,
     "shape product overflows"},
    {"huge shape entry", "{\"a\":" T1("[0,4]", "[1e300]") "}", 4, "shape entry 0 is too large"},
    {"byte size overflow", "{\"a\":" T1("[0,4]", "[4611686018427387904]") "}", 4, "too large"},
    {"offsets wrong length", "{\"a\":" T1("[0,4,8]", "[1]") "}", 4, "has 3 entries, expected 2"},
    {"negative offset", "{\"a\":" T1("[-4,0]", "[1]") "}", 4, "data_offsets begin is negative"},
    {"end before begin", "{\"a\":" T1("[8,4]", "[1]") "}", 8, "end before begin"},
    {"offsets out of range", "{\"a\":" T1("[4,12]", "[2]") "}", 8, "out of range"},
    {"size mismatch", "{\"a\":" T1("[0,8]", "[3]") "}", 8, "size mismatch"},
    {"gap", "{\"a\":" T1("[0,4]", "[1]") ",\"b\":" T1("[8,12]", "[1]") "}", 12,
     "tensor b: data_offsets begin at 8, leaving a gap of 4 bytes after tensor a"},
    {"gap at start", "{\"a\":" T1("[4,8]", "[1]") "}", 8, "gap of 4 bytes at the start"},
    {"overlap", "{\"a\":" T1("[0,8]", "[2]") ",\"b\":" T1("[4,8]", "[1]") "}", 8,
     "tensor b: data_offsets [4, 8] overlap tensor a"},
    {"duplicate name", "{\"a\":" T1("[0,4]", "[1]") ",\"a\":" T1("[4,8]", "[1]") "}", 8,
     "tensor a: duplicate tensor name"},
    {"duplicate field",
     "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     "duplicate field \"dtype\""},
    {"non-string metadata", "{\"__metadata__\":{\"k\":1},\"a\":" T1("[0,4]", "[1]") "}", 4,
     "__metadata__ value of \"k\" is a number, expected a string"},
    {"metadata not object", "{\"__metadata__\":[\"k\"]}", 0, "__metadata__ is an array"},
    {"duplicate metadata key", "{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
     "duplicate __metadata__ key \"k\""},
    {"duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
     "duplicate \"__metadata__\""},
    {"trailing data", "{\"a\":" T1("[0,4]", "[1]") "}", 8, "trailing data not covered"},
    {"data without tensors", "{}", 1, "cover only 0"},
};

static void expect_bad(const unsigned char *b, size_t len, const char *what, const char *frag) {
    sc_safetensors *st = (sc_safetensors *)(uintptr_t)1;
    sc_status s = sc_safetensors_open_memory(b, len, "bad.safetensors", &st);
    if (s != SC_ERR_FORMAT)
        fail_msg("%s: status %d (%s), expected a format error", what, s, sc_last_error());
    assert_null(st);
    const char *m = sc_last_error();
    if (strncmp(m, "bad.safetensors: ", 17) != 0 || !strstr(m, frag))
        fail_msg("%s: message \"%s\" lacks \"%s\"", what, m, frag);
}

static void test_corrupt_files_are_format_errors(void **state) {
    (void)state;
    unsigned char zeros[16] = {0};
    size_t len;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        unsigned char *b = make_st(bad_cases[i].header, zeros, bad_cases[i].dlen, &len);
        expect_bad(b, len, bad_cases[i].what, bad_cases[i].fragment);
        free(b);
    }
    /* Truncated length field. */
    unsigned char b[64] = {4, 0, 0, 0, 0};
    expect_bad(b, 5, "truncated length", "too short for the 8-byte header length");
    expect_bad(b, 0, "empty", "file is 0 bytes");
    /* Header longer than the file. */
    memcpy(b, "\x64\0\0\0\0\0\0\0{}", 10);
    expect_bad(b, 10, "header past end", "header length 100 is longer than the file");
    /* Header of more than 100 MB claimed (file is small). */
    memcpy(b, "\0\xc2\xeb\x0b\0\0\0\0{}", 10); /* 200000000 */
    expect_bad(b, 10, "header too large", "exceeds the limit of 100000000 bytes");
    memcpy(b, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    expect_bad(b, 10, "header length 2^64-1", "exceeds the limit");
    /* Empty header / embedded NUL. */
    memset(b, 0, 8);
    expect_bad(b, 8, "zero header", "must start with '{'");
    memcpy(b, "\x03\0\0\0\0\0\0\0{\0}", 11);
    expect_bad(b, 11, "NUL in header", "not valid UTF-8");

    /* Valid edge cases: empty file "{}", padded header, any JSON whitespace. */
    const char *good[] = {"{}", "{}      ", "{} \n\t\r",
                          "{\"a\":" T1("[0,0]", "[0,5]") ",\"b\":" T1("[0,4]", "[]") "}",
                          "{\"__metadata__\":null}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned char *g = make_st(good[i], zeros, i == 3 ? 4 : 0, &len);
        sc_safetensors *st;
        if (sc_safetensors_open_memory(g, len, "good", &st) != SC_OK)
            fail_msg("valid header %s refused: %s", good[i], sc_last_error());
        assert_int_equal(sc_safetensors_count(st), i == 3 ? 2 : 0);
        sc_safetensors_free(st);
        free(g);
    }

    /* Through a file: the message names the path; missing file is an I/O error. */
    char *dir = sc_test_tmpdir("st_bad");
    char *path = sc_test_join(dir, "trunc.safetensors");
    SC_TEST_OK(sc_write_file_atomic(path, "\x10\0\0\0\0\0\0\0{\"a\":", 13));
    sc_safetensors *st = NULL;
    assert_int_equal(sc_safetensors_open(path, &st), SC_ERR_FORMAT);
    assert_null(st);
    assert_non_null(strstr(sc_last_error(), "trunc.safetensors: header length 16 is longer"));
    SC_TEST_OK(sc_write_file_atomic(path, "", 0));
    assert_int_equal(sc_safetensors_open(path, &st), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "file is 0 bytes"));
    assert_int_equal(sc_safetensors_open(dir, &st), SC_ERR_IO);
    char *missing = sc_test_join(dir, "none.safetensors");
    assert_int_equal(sc_safetensors_open(missing, &st), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "none.safetensors: cannot open"));
    free(missing);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

/* ---- releasing mapped pages ------------------------------------------------ */

/* A released tensor leaves the process's resident memory and reads back the
 * same bytes from the file; a buffer opened from memory is never touched. */
static void test_release_mapped_pages(void **state) {
    (void)state;
    enum { N = 1 << 18 }; /* 1 MiB of floats */
    float *a = malloc(N * sizeof(float));
    assert_non_null(a);
    sc_test_fill_uniform(a, N, -1, 1, 5);
    char *dir = sc_test_tmpdir("st_release");
    char *path = sc_test_join(dir, "big.safetensors");
    int64_t shape[1] = {N};
    sc_st_writer *w = sc_st_writer_new();
    assert_non_null(w);
    SC_TEST_OK(sc_st_writer_add_f32(w, "w", a, 1, shape, SC_ST_F32));
    SC_TEST_OK(sc_st_writer_write(w, path));
    sc_st_writer_free(w);

    sc_safetensors *st = NULL;
    const float *d;
    SC_TEST_OK(sc_safetensors_open(path, &st));
    SC_TEST_OK(sc_safetensors_get_f32(st, "w", 1, shape, &d));
    bits_equal("mapped", d, a, N); /* every page read */
    long touched = sc_test_mapping_rss_kb(d);
    assert_true(touched >= 1024);
    sc_safetensors_release(st, d, N * sizeof(float));
    long released = sc_test_mapping_rss_kb(d);
    print_message("mapping resident: %ld KiB read, %ld KiB after release\n", touched, released);
    assert_true(released <= 8); /* the header's page and the last partial one at most */
    bits_equal("read again", d, a, N);
    sc_safetensors_release(st, a, N * sizeof(float)); /* not in the mapping: ignored */
    sc_safetensors_release(st, NULL, 4);
    sc_safetensors_release(NULL, d, 4);
    bits_equal("after foreign releases", a, d, N);
    sc_safetensors_free(st);

    /* From memory: releasing must not drop (zero) the caller's pages. */
    size_t len;
    unsigned char *file;
    SC_TEST_OK(sc_read_file(path, 1 << 24, &file, &len));
    SC_TEST_OK(sc_safetensors_open_memory(file, len, NULL, &st));
    SC_TEST_OK(sc_safetensors_get_f32(st, "w", 1, shape, &d));
    sc_safetensors_release(st, d, N * sizeof(float));
    bits_equal("memory buffer", d, a, N);
    sc_safetensors_free(st);
    free(file);
    free(a);
    free(path);
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_ours),
        cmocka_unit_test(test_ours_to_numpy),
        cmocka_unit_test(test_numpy_to_ours),
        cmocka_unit_test(test_corrupt_files_are_format_errors),
        cmocka_unit_test(test_release_mapped_pages),
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
