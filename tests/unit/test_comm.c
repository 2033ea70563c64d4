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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_world_without_launcher),
        cmocka_unit_test(test_stop_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
