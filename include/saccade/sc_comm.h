/* saccade: a communicator between the processes of one job — what
 * data-parallel training and sharded inference need, nothing more.
 *
 *   sc_comm *c;
 *   sc_comm_world(&c);              // MPI under mpirun/srun, else one process
 *   sc_comm_allreduce_sum(c, g, n); // the same sum on every rank
 *   ...
 *   sc_comm_free(c);                // MPI_Finalize
 *
 * Two implementations: a single process (rank 0 of 1: the collectives are
 * no-ops), and Open MPI's MPI_COMM_WORLD when the library was built with
 * SACCADE_MPI. Model code only ever talks to this interface.
 *
 * Reproducibility: sc_comm_allreduce_sum adds the ranks' buffers on rank 0
 * in rank order ((b0 + b1) + b2) + ..., then broadcasts the sum, so a run
 * on N ranks gives bit-identical sums every time, whatever the network.
 * (This costs N - 1 receives at rank 0 per call: right for tens of ranks; see
 * tools/bench/README.md for where a ring allreduce becomes necessary.)
 *
 * Errors: a rank that cannot go on calls sc_comm_abort, which prints its
 * message and ends every rank of the job with that exit code, so no rank is
 * left waiting in a collective.
 *
 * Stopping on a signal: after sc_comm_catch_signals, SIGTERM, SIGINT or SIGHUP
 * only records that the job should stop. Every collective then fails with
 * SC_ERR_STOPPED ("stopped by SIGTERM"), also one already waiting, and so
 * does sc_trainer_step (sc_train.h); a batch loop calls sc_comm_check_stop
 * between items. The rank that sees it calls sc_comm_abort(c, 1, ...), so one
 * rank terminated ends the whole job with exit code 1, at a step boundary:
 * outputs are written atomically (sc_write_file_atomic), so nothing is left
 * half-written. A second signal of the same kind ends the process at once. */
#ifndef SACCADE_SC_COMM_H
#define SACCADE_SC_COMM_H

#include <stddef.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_comm sc_comm; /* opaque */

/* 1 when this library was built with MPI (SACCADE_MPI), else 0. */
int sc_comm_mpi_available(void);
/* True when this process was started by an MPI launcher (mpirun, mpiexec,
 * srun with PMI): the launcher's environment variables are set. */
int sc_comm_launched_by_mpi(void);

/* One process: rank 0 of 1. */
sc_status sc_comm_single(sc_comm **out);
/* MPI_COMM_WORLD (MPI_Init on the first call). SC_ERR_UNSUPPORTED when the
 * library was built without MPI. Under Open MPI with every rank on this node
 * and no pml or btl chosen (OMPI_MCA_pml, OMPI_MCA_btl, mpirun --mca), it
 * sets those two to shared memory first (ob1; self,vader): opening the
 * network transports would only cost start-up time. */
sc_status sc_comm_mpi(sc_comm **out);
/* sc_comm_mpi when launched by MPI and built with it, else sc_comm_single.
 * Launched by mpirun but built without MPI: SC_ERR_UNSUPPORTED (every rank
 * would otherwise silently do the whole job). */
sc_status sc_comm_world(sc_comm **out);
/* Ends MPI for the MPI communicator: every rank meets first (waiting without
 * spinning), then MPI_Finalize; collective, like MPI_Finalize. NULL is fine. */
void sc_comm_free(sc_comm *c);

int sc_comm_rank(const sc_comm *c); /* 0..size-1 */
int sc_comm_size(const sc_comm *c); /* >= 1 */

/* buf[0..n) := the sum over ranks of every rank's buf[0..n), in rank order
 * (see above); the same bits on every rank. */
sc_status sc_comm_allreduce_sum(sc_comm *c, float *buf, size_t n);
/* buf[0..bytes) of rank root to every rank. */
sc_status sc_comm_broadcast(sc_comm *c, void *buf, size_t bytes, int root);
sc_status sc_comm_barrier(sc_comm *c);
/* Variable-length byte records to root: every rank passes its data[0..len);
 * root gets *out (malloc'ed, the ranks' data one after another in rank
 * order) and lens[0..size) (caller's array, size entries); others get
 * *out = NULL. The caller frees *out. */
sc_status sc_comm_gather_bytes(sc_comm *c, const void *data, size_t len, int root, char **out,
                               size_t *lens);
/* A counter every rank can add to without the rank that holds it taking
 * part: for handing out work (each rank takes the next chunk of a batch when
 * it is ready for it, so a rank given cheap items does not sit idle while
 * another still has costly ones). With MPI it lives in a one-sided window on
 * rank 0 (MPI_Fetch_and_op); with every rank on one node, Open MPI makes that
 * an atomic add in shared memory, a microsecond or so. Across nodes without
 * hardware atomics (TCP), a take may wait until rank 0 next calls into MPI,
 * which it does at its own next take. For one process it is a plain count.
 * Create and free are collective (free after a collective that every rank
 * reaches only when done taking, e.g. a gather, so no rank waits in it). */
typedef struct sc_comm_counter sc_comm_counter; /* opaque */
/* A counter starting at start, on every rank of c. */
sc_status sc_comm_counter_create(sc_comm *c, long long start, sc_comm_counter **out);
/* Atomically: *before := the counter, then the counter += add (add >= 0). */
sc_status sc_comm_counter_take(sc_comm_counter *k, long long add, long long *before);
/* Collective; NULL is fine. */
void sc_comm_counter_free(sc_comm_counter *k);
/* Catch SIGTERM, SIGINT and SIGHUP for the rest of the process (see above).
 * SIGPIPE is left alone. */
sc_status sc_comm_catch_signals(void);
/* The first of those signals received since, 0 if none. */
int sc_comm_stop_signal(void);
/* SC_ERR_STOPPED, with "stopped by SIGTERM" (...) as message, once one came;
 * else SC_OK. Async-signal-safe it is not: call it from the loop. */
sc_status sc_comm_check_stop(void);
/* Prints "saccade: rank R of N: message" to stderr and ends every rank of the
 * job with exit code `code` (MPI_Abort); for one process, exit(code). */
_Noreturn void sc_comm_abort(sc_comm *c, int code, const char *message);

#ifdef __cplusplus
}
#endif
#endif
