/* The job's communicator for the verbs that split work across MPI ranks
 * (training, batch inference). */
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"

static sc_comm *job_comm;
static int job_agreed; /* the ranks know each other's outcome: no abort needed */

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
    if (rc != CLI_OK && sc_comm_size(job_comm) > 1 && !job_agreed)
        sc_comm_abort(job_comm, rc, "this rank failed (above); stopping every rank");
    sc_comm_free(job_comm);
    job_comm = NULL;
    return rc;
}

void cli_comm_agreed(void) {
    job_agreed = 1;
}

int cli_gallery_gather(sc_gallery *g) {
    if (!job_comm || sc_comm_size(job_comm) < 2) return 1;
    const int R = sc_comm_size(job_comm), rank0 = sc_comm_rank(job_comm) == 0;
    char *mine = NULL, *all = NULL;
    size_t len = 0, *lens = rank0 ? calloc((size_t)R, sizeof *lens) : NULL;
    if ((rank0 && !lens) || (g && sc_gallery_export(g, &mine, &len)) ||
        sc_comm_gather_bytes(job_comm, mine ? mine : "", len, 0, &all, lens)) {
        cli_fail("gallery");
        sc_comm_abort(job_comm, CLI_FAIL, "stopping every rank");
    }
    int rc = rank0;
    size_t at = lens ? lens[0] : 0; /* rank 0's own entries are in g already */
    for (int r = 1; rank0 && g && r < R; at += lens[r], r++)
        if (sc_gallery_import(g, all + at, lens[r])) {
            cli_fail("gallery");
            rc = -1;
            break;
        }
    free(mine);
    free(all);
    free(lens);
    return rc;
}
