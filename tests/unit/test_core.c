/* Errors, files, atomic writes, npy, rng, BLAS loading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <math.h>
#include "sc_test.h"
#include "saccade/sc_rng.h"

static void test_error_message_is_thread_local_and_formatted(void **state) {
    (void)state;
    sc_clear_error();
    assert_string_equal(sc_last_error(), "");
    assert_int_equal(sc_set_error(SC_ERR_FORMAT, "bad %s %d", "thing", 7), SC_ERR_FORMAT);
    assert_string_equal(sc_last_error(), "bad thing 7");
    sc_error_prefix("file.png");
    assert_string_equal(sc_last_error(), "file.png: bad thing 7");
    /* the message itself may be an argument (context added to a reason) */
    assert_int_equal(sc_set_error(SC_ERR_IO, "%s: %s", "M", sc_last_error()), SC_ERR_IO);
    assert_string_equal(sc_last_error(), "M: file.png: bad thing 7");
    assert_int_equal(sc_set_error(SC_ERR_IO, "%s (again %s)", sc_last_error(), sc_last_error()),
                     SC_ERR_IO);
    assert_string_equal(sc_last_error(),
                        "M: file.png: bad thing 7 (again M: file.png: bad thing 7)");
    assert_string_equal(sc_status_name(SC_ERR_LIMIT), "limit exceeded");
}

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_atomic_write_and_failure_leaves_nothing(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("atomic");
    char *path = sc_test_join(dir, "out.bin");
    SC_TEST_OK(sc_write_file_atomic(path, "hello", 5));
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, 100, &buf, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    /* Aborted write: the old file stays, no temporary is left. */
    sc_atomic_file af;
    SC_TEST_OK(sc_atomic_begin(&af, path));
    SC_TEST_OK(sc_atomic_write(&af, "partial", 7));
    sc_atomic_abort(&af);
    assert_int_equal(count_entries(dir), 1);
    SC_TEST_OK(sc_read_file(path, 100, &buf, &len));
    assert_memory_equal(buf, "hello", 5);
    free(buf);
    /* Read-only folder: clear error and no file (skip the check as root,
     * which ignores permissions; the missing-folder case covers that). */
    char *missing = sc_test_join(dir, "nope/out.bin");
    assert_int_equal(sc_write_file_atomic(missing, "x", 1), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "nope/out.bin"));
    free(missing);
    /* Size limit on reads. */
    assert_int_equal(sc_read_file(path, 3, &buf, &len), SC_ERR_LIMIT);
    assert_int_equal(sc_read_file(dir, 100, &buf, &len), SC_ERR_IO);
    sc_test_rmtree(dir);
    free(path);
    free(dir);
}

/* Outputs named near NAME_MAX (255 bytes) are written and replaced; no
 * temporary file is left after a success, a failure or a SIGKILL mid-write. */
static void test_atomic_long_names_and_kill_leave_nothing(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("atomic_long");
    char name[251];
    memset(name, 'n', 250);
    memcpy(name + 250 - 4, ".bin", 5);
    char *path = sc_test_join(dir, name);
    SC_TEST_OK(sc_write_file_atomic(path, "first", 5));
    SC_TEST_OK(sc_write_file_atomic(path, "second!", 7)); /* replaces */
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(path, 100, &buf, &len));
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "second!", 7);
    free(buf);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(count_entries(dir), 1);
    /* A failed commit (the name is a folder): error, the folder untouched. */
    char *sub = sc_test_join(dir, "taken");
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(sc_write_file_atomic(sub, "x", 1), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "taken"));
    assert_int_equal(count_entries(dir), 2);
    /* Killed between writes: nothing new in the folder. */
    char *killed = sc_test_join(dir, "killed.bin");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sc_atomic_file af;
        if (sc_atomic_begin(&af, killed) || sc_atomic_write(&af, "partial", 7) ||
            fflush(af.fp) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(2);
    }
    int wst;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    assert_int_equal(count_entries(dir), 2);
    sc_test_rmtree(dir);
    free(killed);
    free(sub);
    free(path);
    free(dir);
}

static void test_npy_roundtrip_with_numpy(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("npy");
    float x[6] = {1, -2.5f, 3, 4e-7f, 5, 6};
    int64_t shape[2] = {2, 3};
    char *p = sc_test_join(dir, "a.npy");
    SC_TEST_OK(sc_npy_write(p, x, 2, shape));
    /* numpy reads ours and writes its own (float64, 3-D) for us to read. */
    int rc =
        sc_test_system("'%s' -c \"import numpy as np; a=np.load('%s'); assert a.dtype==np.float32 "
                       "and a.shape==(2,3) and a[0,1]==-2.5; np.save('%s/b.npy', "
                       "np.arange(24, dtype=np.float64).reshape(2,3,4)/8)\"",
                       sc_test_env("SACCADE_PYTHON"), p, dir);
    assert_int_equal(rc, 0);
    sc_npy b = sc_test_npy(dir, "b");
    assert_int_equal(b.ndim, 3);
    assert_int_equal(b.shape[2], 4);
    assert_true(b.data[23] == 23.0f / 8);
    sc_npy_free(&b);
    /* Truncated file is a clear error. */
    assert_int_equal(sc_npy_read_memory("\x93NUMPY\x01\x00\x10\x00{'descr'", 17, &b),
                     SC_ERR_FORMAT);
    /* A shape whose byte size wraps around past the file end is refused. */
    static const char huge[] = "\x93NUMPY\x01\x00\x4c\x00{'descr': '<f4', 'fortran_order': "
                               "False, 'shape': (4611686018427387903,), }\n";
    assert_int_equal(sc_npy_read_memory(huge, sizeof huge - 1, &b), SC_ERR_FORMAT);
    assert_null(b.data);
    assert_non_null(strstr(sc_last_error(), "truncated"));
    sc_test_rmtree(dir);
    free(p);
    free(dir);
}

static void test_rng_is_reproducible_and_uniform(void **state) {
    (void)state;
    sc_rng a, b;
    sc_rng_seed(&a, 42);
    sc_rng_seed(&b, 42);
    double sum = 0, sq = 0;
    for (int i = 0; i < 100000; i++) {
        float u = sc_rng_uniform(&a);
        assert_true(u == sc_rng_uniform(&b));
        assert_true(u >= 0 && u < 1);
        sum += u;
        float z = sc_rng_normal(&a);
        sc_rng_normal(&b);
        sq += (double)z * z;
    }
    assert_true(fabs(sum / 100000 - 0.5) < 0.01);
    assert_true(fabs(sq / 100000 - 1.0) < 0.03);
    int idx[10];
    for (int i = 0; i < 10; i++) idx[i] = i;
    sc_rng_shuffle(&a, idx, 10);
    int seen = 0;
    for (int i = 0; i < 10; i++) seen |= 1 << idx[i];
    assert_int_equal(seen, 1023);
}

static void test_blas_loads_and_multiplies(void **state) {
    (void)state;
    SC_TEST_OK(sc_blas_init());
    sc_blas_info info;
    SC_TEST_OK(sc_blas_get_info(&info));
    assert_true(info.core[0] != 0);
    /* 2x3 @ 3x2, and the transposed forms. */
    float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {7, 8, 9, 10, 11, 12}, C[4] = {1, 1, 1, 1};
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
    float want[4] = {58, 64, 139, 154};
    sc_test_assert_close("sgemm", C, want, 4, 0, 0);
    float At[6] = {1, 4, 2, 5, 3, 6}; /* A transposed, 3x2 */
    sc_sgemm(SC_TRANS, SC_NO_TRANS, 2, 2, 3, 2.0f, At, 2, B, 2, 0.0f, C, 2);
    for (int i = 0; i < 4; i++) want[i] *= 2;
    sc_test_assert_close("sgemm transA", C, want, 4, 0, 0);
    float x[3] = {1, 0, -1}, y[2];
    sc_sgemv(SC_NO_TRANS, 2, 3, 1.0f, A, 3, x, 0.0f, y);
    float wy[2] = {-2, -2};
    sc_test_assert_close("sgemv", y, wy, 2, 0, 0);
    SC_TEST_OK(sc_set_num_threads(2));
    assert_int_equal(sc_get_num_threads(), 2);
    /* The cap: 4 per online core, at least 64; above it an error, unchanged count. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int cap = sc_max_num_threads();
    assert_int_equal(cap, 4 * cores < 64 ? 64 : 4 * cores);
    assert_int_equal(sc_set_num_threads(cap + 1), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "too many"));
    assert_int_equal(sc_get_num_threads(), 2);
    assert_int_equal(sc_set_num_threads(100000), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_set_num_threads(2));
}

static void test_blas_autofix_sets_coretype_from_cpu(void **state) {
    (void)state;
    /* Runs the CLI in a clean environment: with the variable unset the
     * library must choose the core from the CPU's features. */
    int rc = sc_test_system(
        "env -u OPENBLAS_CORETYPE '%s' info --system --json | grep -q '\"autofixed\": *true'",
        sc_test_env("SACCADE_CLI"));
    sc_blas_info info;
    SC_TEST_OK(sc_blas_get_info(&info));
    if (info.cpu_best[0]) assert_int_equal(rc, 0);
    /* A user's explicit choice is respected. */
    rc = sc_test_system("OPENBLAS_CORETYPE=Haswell '%s' info --system --json | grep -qi "
                        "'\"blas_core\": *\"Haswell\"'",
                        sc_test_env("SACCADE_CLI"));
    assert_int_equal(rc, 0);
}

static void test_cli_sets_passive_openmp_waiting(void **state) {
    (void)state;
    /* Unset: the CLI re-executes itself with OMP_WAIT_POLICY=PASSIVE. */
    int rc = sc_test_system("env -u OMP_WAIT_POLICY '%s' info --system --json | grep -q "
                            "'\"omp_wait_policy\": \"PASSIVE\"'",
                            sc_test_env("SACCADE_CLI"));
    assert_int_equal(rc, 0);
    /* A user's value is kept, and SACCADE_NO_REEXEC=1 leaves the variable unset. */
    rc = sc_test_system("OMP_WAIT_POLICY=active '%s' info --system --json | grep -q "
                        "'\"omp_wait_policy\": \"active\"'",
                        sc_test_env("SACCADE_CLI"));
    assert_int_equal(rc, 0);
    rc = sc_test_system("env -u OMP_WAIT_POLICY SACCADE_NO_REEXEC=1 '%s' info --system --json | "
                        "grep -q '\"omp_wait_policy\": \"\"'",
                        sc_test_env("SACCADE_CLI"));
    assert_int_equal(rc, 0);
}

/* Expected values from Python 3.11: bytes.decode("utf-8", "replace") (one
 * U+FFFD per maximal invalid subpart) and the start of the UnicodeDecodeError. */
static void test_utf8_validity_and_replacement_match_python(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
        size_t valid;
    } cases[] = {
        {"\x61\x62\x63", "\x61\x62\x63", 3},
        {"\x63\x61\x66\xE9", "\x63\x61\x66\xEF\xBF\xBD", 3},
        {"\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD", 0},
        {"\xED\xA0\x80\x78", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\x78", 0},
        {"\xE2\x82", "\xEF\xBF\xBD", 0},
        {"\xE2\x82\xAC", "\xE2\x82\xAC", 3},
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 0},
        {"\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD", 0},
        {"\xF0\x9F\x98", "\xEF\xBF\xBD", 0},
        {"\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 4},
        {"\xE0\x80\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 0},
        {"\xF0\x9F\x98\x79", "\xEF\xBF\xBD\x79", 0},
        {"\xFF\x25", "\xEF\xBF\xBD\x25", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].in);
        assert_int_equal(sc_utf8_valid_prefix(cases[i].in, n), cases[i].valid);
        char *out = sc_utf8_sanitize(cases[i].in, n);
        assert_non_null(out);
        assert_string_equal(out, cases[i].out);
        free(out);
    }
    /* a NUL is valid UTF-8 (callers that refuse it check for it) */
    assert_int_equal(sc_utf8_valid_prefix("a\0b", 3), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_is_thread_local_and_formatted),
        cmocka_unit_test(test_utf8_validity_and_replacement_match_python),
        cmocka_unit_test(test_atomic_write_and_failure_leaves_nothing),
        cmocka_unit_test(test_atomic_long_names_and_kill_leave_nothing),
        cmocka_unit_test(test_npy_roundtrip_with_numpy),
        cmocka_unit_test(test_rng_is_reproducible_and_uniform),
        cmocka_unit_test(test_blas_loads_and_multiplies),
        cmocka_unit_test(test_blas_autofix_sets_coretype_from_cpu),
        cmocka_unit_test(test_cli_sets_passive_openmp_waiting),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
