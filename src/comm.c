/* The communicator (sc_comm.h): one process, or MPI_COMM_WORLD when built
 * with SACCADE_MPI (SACCADE_HAVE_MPI defined by CMake). */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_comm.h"
#ifdef SACCADE_HAVE_MPI
#include <mpi.h>
#include <time.h>
#endif

struct sc_comm {
    int rank, size;
    int mpi; /* 1: MPI_COMM_WORLD */
};

/* MPI counts are ints: large buffers go in pieces of this many elements
 * (also bounds rank 0's receive buffer in the reduction). */
#define PIECE ((size_t)1 << 22)

/* The first termination signal caught (sc_comm_catch_signals), 0 if none. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) {
    if (!stop_signal) stop_signal = sig;
}

sc_status sc_comm_catch_signals(void) {
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    /* A second signal of the same kind takes its default action: ends the
     * process at once, for a loop that does not come back to a check. */
    sa.sa_flags = SA_RESTART | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return sc_set_error(SC_ERR_INTERNAL, "cannot catch signal %d", sigs[i]);
    return SC_OK;
}

int sc_comm_stop_signal(void) {
    return stop_signal;
}

sc_status sc_comm_check_stop(void) {
    const int sig = stop_signal;
    if (!sig) return SC_OK;
    return sc_set_error(SC_ERR_STOPPED, "stopped by %s",
                        sig == SIGTERM  ? "SIGTERM"
                        : sig == SIGINT ? "SIGINT"
                        : sig == SIGHUP ? "SIGHUP"
                                        : "a signal");
}

int sc_comm_mpi_available(void) {
#ifdef SACCADE_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

int sc_comm_launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

sc_status sc_comm_single(sc_comm **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_single: NULL out");
    *out = calloc(1, sizeof **out);
    if (!*out) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    (*out)->size = 1;
    return SC_OK;
}

#ifdef SACCADE_HAVE_MPI
/* Open MPI, every rank on this node (its launcher says so): shared memory
 * (pml ob1, btl self,vader) unless the user chose a pml or btl. Otherwise
 * MPI_Init also opens the network transports (UCX, TCP, ...), which on one
 * node only cost start-up time: about 0.03 CPU s and, on a busy machine, 0.3 s
 * of wall time per rank (tools/bench/README.md). */
static void one_node_transports(void) {
    const char *size = getenv("OMPI_COMM_WORLD_SIZE");
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!size || !local || strcmp(size, local)) return;
    if (getenv("OMPI_MCA_pml") || getenv("OMPI_MCA_btl")) return;
    setenv("OMPI_MCA_pml", "ob1", 0);
    setenv("OMPI_MCA_btl", "self,vader", 0);
}
#endif

sc_status sc_comm_mpi(sc_comm **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_mpi: NULL out");
    *out = NULL;
#ifdef SACCADE_HAVE_MPI
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        one_node_transports();
        int provided;
        /* OpenMP threads compute; only the calling thread talks to MPI. */
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return sc_set_error(SC_ERR_INTERNAL, "MPI_Init failed");
    }
    sc_comm *c = calloc(1, sizeof *c);
    if (!c) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    c->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    *out = c;
    return SC_OK;
#else
    return sc_set_error(SC_ERR_UNSUPPORTED,
                        "this saccade was built without MPI (configure with -DSACCADE_MPI=ON)");
#endif
}

sc_status sc_comm_world(sc_comm **out) {
    if (!sc_comm_launched_by_mpi()) return sc_comm_single(out);
    if (!sc_comm_mpi_available()) {
        const char *n = getenv("OMPI_COMM_WORLD_SIZE");
        if (n && !strcmp(n, "1")) return sc_comm_single(out); /* mpirun -np 1: harmless */
        if (out) *out = NULL;
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "started by mpirun, but this saccade was built without MPI "
                            "(configure with -DSACCADE_MPI=ON); every rank would do the whole job");
    }
    return sc_comm_mpi(out);
}

void sc_comm_free(sc_comm *c) {
    if (!c) return;
#ifdef SACCADE_HAVE_MPI
    if (c->mpi) {
        int fin = 0;
        MPI_Finalized(&fin);
        /* meet first without spinning: a rank waiting inside MPI_Finalize for
         * one still writing its outputs polls, about 0.1 CPU s a second
         * (tools/bench/README.md) */
        if (!fin && c->size > 1) (void)sc_comm_barrier(c);
        if (!fin) MPI_Finalize();
    }
#endif
    free(c);
}

int sc_comm_rank(const sc_comm *c) {
    return c ? c->rank : 0;
}
int sc_comm_size(const sc_comm *c) {
    return c ? c->size : 1;
}

#ifdef SACCADE_HAVE_MPI
/* wait_quietly's answer when a stop signal came while waiting (MPI's error
 * codes are >= 0). */
#define STOPPED (-1)

static sc_status mpi_fail(const char *what, int rc) {
    if (rc == STOPPED) return sc_comm_check_stop();
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len < MPI_MAX_ERROR_STRING ? len : MPI_MAX_ERROR_STRING - 1] = 0;
    return sc_set_error(SC_ERR_IO, "%s failed: %s", what, msg);
}

/* Wait for r without spinning: Open MPI's blocking calls poll at full speed,
 * so a rank that waits for a slower one (in every step, on a busy machine
 * for long) would burn a core, often the very core the slower rank needs.
 * Test, then sleep 20 us doubling to 1 ms: at most about a millisecond late,
 * on steps of tens to hundreds of milliseconds. A stop signal
 * (sc_comm_catch_signals) ends the wait with STOPPED. */
static int wait_quietly(MPI_Request *r) {
    long ns = 20000;
    for (;;) {
        /* a stopped rank takes part in no collective: the others would
         * otherwise go on without it, or wait for it forever */
        if (stop_signal) return STOPPED;
        int done = 0, rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done) return rc;
        struct timespec ts = {0, ns};
        nanosleep(&ts, NULL);
        if (ns < 1000000) ns *= 2;
    }
}

static sc_status bcast_bytes(void *buf, size_t bytes, int root) {
    for (size_t o = 0; o < bytes; o += PIECE) {
        int k = (int)(bytes - o < PIECE ? bytes - o : PIECE);
        MPI_Request r;
        int rc = MPI_Ibcast((char *)buf + o, k, MPI_BYTE, root, MPI_COMM_WORLD, &r);
        if (rc == MPI_SUCCESS) rc = wait_quietly(&r);
        if (rc != MPI_SUCCESS) return mpi_fail("MPI_Bcast", rc);
    }
    return SC_OK;
}

static int recv_quietly(void *buf, int n, MPI_Datatype t, int from, int tag) {
    MPI_Request r;
    int rc = MPI_Irecv(buf, n, t, from, tag, MPI_COMM_WORLD, &r);
    return rc == MPI_SUCCESS ? wait_quietly(&r) : rc;
}

static int send_quietly(const void *buf, int n, MPI_Datatype t, int to, int tag) {
    MPI_Request r;
    int rc = MPI_Isend(buf, n, t, to, tag, MPI_COMM_WORLD, &r);
    return rc == MPI_SUCCESS ? wait_quietly(&r) : rc;
}
#endif

sc_status sc_comm_allreduce_sum(sc_comm *c, float *buf, size_t n) {
    if (!c || (!buf && n)) return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_allreduce_sum: NULL");
    if (c->size == 1 || n == 0) return SC_OK;
#ifdef SACCADE_HAVE_MPI
    /* Rank order on rank 0, then one broadcast: the same bits every run. */
    if (c->rank == 0) {
        float *tmp = malloc((n < PIECE ? n : PIECE) * sizeof(float));
        if (!tmp) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        for (size_t o = 0; o < n; o += PIECE) {
            size_t k = n - o < PIECE ? n - o : PIECE;
            for (int r = 1; r < c->size; r++) {
                int rc = recv_quietly(tmp, (int)k, MPI_FLOAT, r, 17);
                if (rc != MPI_SUCCESS) {
                    free(tmp);
                    return mpi_fail("MPI_Recv", rc);
                }
                float *d = buf + o;
                for (size_t i = 0; i < k; i++) d[i] += tmp[i];
            }
        }
        free(tmp);
    } else {
        for (size_t o = 0; o < n; o += PIECE) {
            size_t k = n - o < PIECE ? n - o : PIECE;
            int rc = send_quietly(buf + o, (int)k, MPI_FLOAT, 0, 17);
            if (rc != MPI_SUCCESS) return mpi_fail("MPI_Send", rc);
        }
    }
    size_t bytes;
    if (sc_mul_size(n, sizeof(float), &bytes))
        return sc_set_error(SC_ERR_LIMIT, "allreduce: size overflow");
    return bcast_bytes(buf, bytes, 0);
#else
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

sc_status sc_comm_broadcast(sc_comm *c, void *buf, size_t bytes, int root) {
    if (!c || (!buf && bytes) || root < 0 || root >= c->size)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_broadcast: bad arguments");
    if (c->size == 1 || bytes == 0) return SC_OK;
#ifdef SACCADE_HAVE_MPI
    return bcast_bytes(buf, bytes, root);
#else
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

sc_status sc_comm_barrier(sc_comm *c) {
    if (!c) return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_barrier: NULL");
    if (c->size == 1) return SC_OK;
#ifdef SACCADE_HAVE_MPI
    MPI_Request r;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &r);
    if (rc == MPI_SUCCESS) rc = wait_quietly(&r);
    return rc == MPI_SUCCESS ? SC_OK : mpi_fail("MPI_Barrier", rc);
#else
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

sc_status sc_comm_gather_bytes(sc_comm *c, const void *data, size_t len, int root, char **out,
                               size_t *lens) {
    if (!c || !out || (!data && len) || root < 0 || root >= c->size || (c->rank == root && !lens))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_gather_bytes: bad arguments");
    *out = NULL;
    if (c->size == 1) {
        *out = malloc(len ? len : 1);
        if (!*out) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        if (len) memcpy(*out, data, len);
        lens[0] = len;
        return SC_OK;
    }
#ifdef SACCADE_HAVE_MPI
    unsigned long long mine = len, *all = NULL;
    if (c->rank == root && !(all = malloc((size_t)c->size * sizeof *all)))
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    MPI_Request req;
    int rc = MPI_Igather(&mine, 1, MPI_UNSIGNED_LONG_LONG, all, 1, MPI_UNSIGNED_LONG_LONG, root,
                         MPI_COMM_WORLD, &req);
    if (rc == MPI_SUCCESS) rc = wait_quietly(&req);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail("MPI_Gather", rc);
    }
    if (c->rank != root) {
        for (size_t o = 0; o < len; o += PIECE) {
            int k = (int)(len - o < PIECE ? len - o : PIECE);
            if ((rc = send_quietly((const char *)data + o, k, MPI_BYTE, root, 18)) != MPI_SUCCESS)
                return mpi_fail("MPI_Send", rc);
        }
        return SC_OK;
    }
    size_t total = 0;
    for (int r = 0; r < c->size; r++) {
        lens[r] = (size_t)all[r];
        if (sc_add_size(total, lens[r], &total)) {
            free(all);
            return sc_set_error(SC_ERR_LIMIT, "gather: size overflow");
        }
    }
    free(all);
    char *buf = malloc(total ? total : 1);
    if (!buf) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    size_t at = 0;
    for (int r = 0; r < c->size; r++) {
        if (r == root) {
            if (len) memcpy(buf + at, data, len);
        } else {
            for (size_t o = 0; o < lens[r]; o += PIECE) {
                int k = (int)(lens[r] - o < PIECE ? lens[r] - o : PIECE);
                if ((rc = recv_quietly(buf + at + o, k, MPI_BYTE, r, 18)) != MPI_SUCCESS) {
                    free(buf);
                    return mpi_fail("MPI_Recv", rc);
                }
            }
        }
        at += lens[r];
    }
    *out = buf;
    return SC_OK;
#else
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

struct sc_comm_counter {
    sc_comm *comm;
    long long local; /* one process: the count itself */
#ifdef SACCADE_HAVE_MPI
    MPI_Win win; /* the count, on rank 0 */
    long long *base;
#endif
};

sc_status sc_comm_counter_create(sc_comm *c, long long start, sc_comm_counter **out) {
    if (!c || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_counter_create: NULL");
    *out = NULL;
    sc_comm_counter *k = calloc(1, sizeof *k);
    if (!k) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    k->comm = c;
    k->local = start;
    if (c->size == 1) {
        *out = k;
        return SC_OK;
    }
#ifdef SACCADE_HAVE_MPI
    /* every rank here first, without spinning: MPI_Win_allocate waits busily */
    sc_status s = sc_comm_barrier(c);
    if (s) {
        free(k);
        return s;
    }
    const MPI_Aint bytes = c->rank == 0 ? (MPI_Aint)sizeof(long long) : 0;
    int rc = MPI_Win_allocate(bytes, (int)sizeof(long long), MPI_INFO_NULL, MPI_COMM_WORLD,
                              &k->base, &k->win);
    if (rc != MPI_SUCCESS) {
        free(k);
        return mpi_fail("MPI_Win_allocate", rc);
    }
    if (c->rank == 0) *k->base = start;
    /* one passive-target epoch for the counter's life: takes need no
     * partner; the barrier orders rank 0's store before any take */
    rc = MPI_Win_lock_all(MPI_MODE_NOCHECK, k->win);
    if (rc == MPI_SUCCESS && (s = sc_comm_barrier(c))) rc = MPI_ERR_OTHER;
    if (rc != MPI_SUCCESS) {
        MPI_Win_free(&k->win);
        free(k);
        return s ? s : mpi_fail("MPI_Win_lock_all", rc);
    }
    *out = k;
    return SC_OK;
#else
    free(k);
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

sc_status sc_comm_counter_take(sc_comm_counter *k, long long add, long long *before) {
    if (!k || !before || add < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_comm_counter_take: bad arguments");
    if (k->comm->size == 1) {
        *before = k->local;
        k->local += add;
        return SC_OK;
    }
#ifdef SACCADE_HAVE_MPI
    int rc = MPI_Fetch_and_op(&add, before, MPI_LONG_LONG, 0, 0, MPI_SUM, k->win);
    if (rc == MPI_SUCCESS) rc = MPI_Win_flush(0, k->win);
    return rc == MPI_SUCCESS ? SC_OK : mpi_fail("MPI_Fetch_and_op", rc);
#else
    return sc_set_error(SC_ERR_INTERNAL, "sc_comm: MPI communicator without MPI");
#endif
}

void sc_comm_counter_free(sc_comm_counter *k) {
    if (!k) return;
#ifdef SACCADE_HAVE_MPI
    if (k->comm->size > 1) {
        MPI_Win_unlock_all(k->win);
        MPI_Win_free(&k->win);
    }
#endif
    free(k);
}

_Noreturn void sc_comm_abort(sc_comm *c, int code, const char *message) {
    if (c && c->size > 1)
        fprintf(stderr, "saccade: rank %d of %d: %s\n", c->rank, c->size,
                message ? message : "failed");
    else if (message)
        fprintf(stderr, "saccade: %s\n", message);
    fflush(stderr);
#ifdef SACCADE_HAVE_MPI
    if (c && c->mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    exit(code);
}
