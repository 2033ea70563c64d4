/* The communicator's single-process implementation (the MPI one is tested
 * under mpirun in tests/mpi), how a process knows it was launched by MPI, and
 * stopping on a termination signal. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "sc_test.h"
#include "saccade/sc_comm.h"

static void test_single(void **state) {
    (void)state;
    sc_comm *c = NULL;
    SC_TEST_OK(sc_comm_single(&c));
    assert_int_equal(sc_comm_rank(c), 0);
    assert_int_equal(sc_comm_size(c), 1);
    float v[3] = {1.5f, -2.0f, 3.25f};
    SC_TEST_OK(sc_comm_allreduce_sum(c, v, 3)); /* the sum over one rank: itself */
    assert_true(v[0] == 1.5f && v[1] == -2.0f && v[2] == 3.25f);
    SC_TEST_OK(sc_comm_broadcast(c, v, sizeof v, 0));
    assert_int_equal(sc_comm_broadcast(c, v, sizeof v, 1), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_comm_allreduce_sum(c, NULL, 3), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_comm_barrier(c));
    char *all = NULL;
    size_t lens[1] = {99};
    SC_TEST_OK(sc_comm_gather_bytes(c, "abc", 3, 0, &all, lens));
    assert_int_equal(lens[0], 3);
    assert_memory_equal(all, "abc", 3);
    free(all);
    SC_TEST_OK(sc_comm_gather_bytes(c, NULL, 0, 0, &all, lens));
    assert_int_equal(lens[0], 0);
    free(all);
    assert_int_equal(sc_comm_gather_bytes(c, "x", 1, 0, &all, NULL), SC_ERR_INVALID_ARG);
    sc_comm_free(c);
    sc_comm_free(NULL);
    /* a NULL communicator reads as one process */
    assert_int_equal(sc_comm_rank(NULL), 0);
    assert_int_equal(sc_comm_size(NULL), 1);
}

static void test_world_without_launcher(void **state) {
    (void)state;
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    assert_int_equal(sc_comm_launched_by_mpi(), 0);
    sc_comm *c = NULL;
    SC_TEST_OK(sc_comm_world(&c)); /* started by hand: one process, no MPI_Init */
    assert_int_equal(sc_comm_size(c), 1);
    sc_comm_free(c);
    setenv("PMI_RANK", "0", 1); /* srun / MPICH's launchers */
    assert_int_equal(sc_comm_launched_by_mpi(), 1);
    unsetenv("PMI_RANK");
    if (!sc_comm_mpi_available()) {
        assert_int_equal(sc_comm_mpi(&c), SC_ERR_UNSUPPORTED);
        assert_null(c);
        setenv("OMPI_COMM_WORLD_SIZE", "2", 1); /* mpirun, but no MPI built in: refuse */
        assert_int_equal(sc_comm_world(&c), SC_ERR_UNSUPPORTED);
        assert_non_null(strstr(sc_last_error(), "built without MPI"));
        unsetenv("OMPI_COMM_WORLD_SIZE");
    }
}

/* In a child (the caught signal stays for the rest of a process): a first
 * SIGTERM only records itself, later ones of other kinds do not replace it. */
static int child_first_signal(void) {
    if (sc_comm_stop_signal() != 0 || sc_comm_check_stop() != SC_OK) return 10;
    if (sc_comm_catch_signals() != SC_OK) return 11;
    if (raise(SIGTERM) != 0) return 12;
    if (sc_comm_stop_signal() != SIGTERM) return 13;
    if (sc_comm_check_stop() != SC_ERR_STOPPED) return 14;
    if (strcmp(sc_last_error(), "stopped by SIGTERM")) return 15;
    if (strcmp(sc_status_name(SC_ERR_STOPPED), "stopped")) return 16;
    if (raise(SIGINT) != 0 || sc_comm_stop_signal() != SIGTERM) return 17;
    sc_comm *c = NULL;
    if (sc_comm_single(&c)) return 18;
    float v = 1; /* one process: the collectives have nothing to wait for */
    int bad = sc_comm_allreduce_sum(c, &v, 1) != SC_OK;
    sc_comm_free(c);
    return bad ? 19 : 0;
}

static void test_stop_signals(void **state) {
    (void)state;
    fflush(NULL);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) _exit(child_first_signal());
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* a second signal of the same kind ends the process at once */
    p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        if (sc_comm_catch_signals() || raise(SIGHUP) || sc_comm_stop_signal() != SIGHUP) _exit(20);
        raise(SIGHUP);
        _exit(21);
    }
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGHUP);
    assert_int_equal(sc_comm_stop_signal(), 0); /* this process: nothing caught */
}

static void test_counter_single(void **state) {
    (void)state;
    sc_comm *c = NULL;
    sc_comm_counter *k = NULL;
    SC_TEST_OK(sc_comm_single(&c));
    SC_TEST_OK(sc_comm_counter_create(c, 5, &k));
    long long v = -1;
    SC_TEST_OK(sc_comm_counter_take(k, 3, &v));
    assert_int_equal(v, 5);
    SC_TEST_OK(sc_comm_counter_take(k, 0, &v));
    assert_int_equal(v, 8);
    SC_TEST_OK(sc_comm_counter_take(k, 2, &v));
    assert_int_equal(v, 8);
    assert_int_equal(sc_comm_counter_take(k, -1, &v), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_comm_counter_take(k, 1, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_comm_counter_create(NULL, 0, &k), SC_ERR_INVALID_ARG);
    sc_comm_counter_free(k);
    sc_comm_counter_free(NULL);
    sc_comm_free(c);
}

/* Under mpirun (tests/mpi/test_mpi_batch.sh): every rank takes chunks of 1
 * to 3 from one counter as fast as it can, 20000 items between them; every
 * item must be taken exactly once (a lost or doubled update shows), and every
 * rank must have taken some (the ranks ran side by side). Exit 0 if so. */
static int ranks_counter(void) {
    enum { N = 20000 };
    sc_comm *c = NULL;
    sc_comm_counter *k = NULL;
    if (sc_comm_world(&c) || sc_comm_counter_create(c, 0, &k)) return 30;
    int *mine = malloc(N * sizeof *mine), n = 0;
    long long at = 0;
    /* Every rank takes its first chunk before any takes a second: on a loaded
     * machine a rank may start after another has taken everything. */
    for (unsigned chunk = 1 + (unsigned)sc_comm_rank(c); mine; chunk = chunk % 3 + 1) {
        if (sc_comm_counter_take(k, chunk, &at)) return 31;
        if (n == 0 && sc_comm_barrier(c)) return 31;
        for (long long i = at; i < at + chunk && i < N; i++) mine[n++] = (int)i;
        if (at + chunk >= N) break;
    }
    const int R = sc_comm_size(c), rank0 = sc_comm_rank(c) == 0;
    size_t *lens = calloc((size_t)R, sizeof *lens);
    char *all = NULL;
    if (!mine || !lens || sc_comm_gather_bytes(c, mine, (size_t)n * sizeof *mine, 0, &all, lens))
        return 32;
    sc_comm_counter_free(k);
    int bad = 0;
    if (rank0) {
        unsigned char *seen = calloc(N, 1);
        size_t total = 0;
        for (int r = 0; r < R; r++) {
            bad |= lens[r] == 0; /* a rank that took nothing */
            total += lens[r] / sizeof(int);
        }
        for (size_t i = 0; seen && i < total; i++) {
            int v;
            memcpy(&v, all + i * sizeof v, sizeof v);
            bad |= v < 0 || v >= N || seen[v]++;
        }
        for (int i = 0; seen && i < N; i++) bad |= !seen[i];
        if (!seen || bad) fprintf(stderr, "counter: items lost, doubled or a rank idle\n");
        bad |= !seen;
        free(seen);
    }
    free(all), free(lens), free(mine);
    float fb = (float)bad;
    if (sc_comm_allreduce_sum(c, &fb, 1)) return 33;
    sc_comm_free(c);
    return fb == 0 ? 0 : 34;
}

int main(void) {
    if (getenv("SACCADE_TEST_COMM_RANKS")) return ranks_counter();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_world_without_launcher),
        cmocka_unit_test(test_stop_signals),
        cmocka_unit_test(test_counter_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
