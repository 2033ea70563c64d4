/* The job's communicator for the verbs that split work across MPI ranks
 * (training, batch inference). */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"

static sc_comm *job_comm;

sc_comm *cli_comm(void) {
    if (!job_comm && sc_comm_world(&job_comm)) {
        cli_fail("mpi");
        exit(CLI_FAIL);
    }
    return job_comm;
}

int cli_rank0(void) {
    return sc_comm_rank(cli_comm()) == 0;
}

int cli_comm_end(int rc) {
    if (!job_comm) return rc;
    if (rc != CLI_OK && sc_comm_size(job_comm) > 1)
        sc_comm_abort(job_comm, rc, "this rank failed (above); stopping every rank");
    sc_comm_free(job_comm);
    job_comm = NULL;
    return rc;
}
