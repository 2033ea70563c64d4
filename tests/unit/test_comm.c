/* The communicator's single-process implementation (the MPI one is tested
 * under mpirun in tests/mpi), and how a process knows it was launched by MPI. */
#include <stdlib.h>
#include <string.h>
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single),
        cmocka_unit_test(test_world_without_launcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
