/* The job's communicator for the verbs that split work across MPI ranks
 * (training, batch inference). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void cli_catch_stop_signals(const char *verb) {
    static const char *const batch[] = {"caption", "saliency", "vqa", "classify"};
    int catch = !strcmp(verb, "train");
    for (size_t i = 0; i < sizeof batch / sizeof batch[0]; i++)
        catch |= !strcmp(verb, batch[i]) && sc_comm_launched_by_mpi();
    if (catch && sc_comm_catch_signals()) cli_fail("signals");
}

int cli_stopped(void) {
    if (!sc_comm_check_stop()) return 0;
    cli_fail(NULL);
    if (job_comm && sc_comm_size(job_comm) > 1)
        sc_comm_abort(job_comm, CLI_FAIL, "stopping every rank");
    return 1;
}

int cli_comm_end(int rc) {
    if (rc == CLI_OK && sc_comm_check_stop()) /* a signal no loop saw: still no success */
        rc = cli_fail(NULL);
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
    /* rank 0 writes the pages: the others' entries only are sent (its own
     * live gallery has let go of the maps of the pages it wrote) */
    if ((rank0 && !lens) || (!rank0 && g && sc_gallery_export(g, &mine, &len)) ||
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

int cli_parse_shard(const char *verb, const char *spec, int *k, int *n) {
    *k = *n = 0;
    if (!spec) return CLI_OK;
    int a = 0, b = 0, used = 0;
    if (sscanf(spec, "%d/%d%n", &a, &b, &used) != 2 || spec[used] || b < 1 || a < 1 || a > b)
        return cli_usage(verb, "--shard needs K/N with 1 <= K <= N (got '%s')", spec);
    *k = a;
    *n = b;
    return CLI_OK;
}

void cli_slice(int n, int shard_k, int shard_n, int *lo, int *hi) {
    long long a = 0, z = n;
    if (shard_n > 0) {
        a = (long long)n * (shard_k - 1) / shard_n;
        z = (long long)n * shard_k / shard_n;
    }
    if (sc_comm_launched_by_mpi()) {
        const long long r = sc_comm_rank(cli_comm()), R = sc_comm_size(cli_comm()), m = z - a;
        z = a + m * (r + 1) / R;
        a = a + m * r / R;
    }
    *lo = (int)a;
    *hi = (int)z;
}

void cli_rank_output_begin(cli_rank_output *o) {
    memset(o, 0, sizeof *o);
    if (!sc_comm_launched_by_mpi() || sc_comm_size(cli_comm()) < 2) return;
    o->comm = cli_comm();
    fflush(stdout);
    o->mem = open_memstream(&o->text, &o->len);
    if (o->mem) {
        o->saved = stdout;
        stdout = o->mem; /* glibc's stdout is an assignable variable */
    }
}

int cli_rank_output_end(cli_rank_output *o, int bad) {
    if (!o->comm) return bad;
    if (o->mem) {
        stdout = o->saved;
        fclose(o->mem);
    } else {
        fprintf(stderr, "saccade: rank %d: cannot keep its output in memory\n",
                sc_comm_rank(o->comm));
        bad++;
    }
    const int R = sc_comm_size(o->comm), rank0 = sc_comm_rank(o->comm) == 0;
    size_t *lens = rank0 ? calloc((size_t)R, sizeof *lens) : NULL;
    char *all = NULL;
    float nbad = (float)bad;
    if ((rank0 && !lens) ||
        sc_comm_gather_bytes(o->comm, o->text ? o->text : "", o->text ? o->len : 0, 0, &all,
                             lens) ||
        sc_comm_allreduce_sum(o->comm, &nbad, 1)) {
        cli_fail("gathering the ranks' output");
        sc_comm_abort(o->comm, CLI_FAIL, "stopping every rank");
    }
    if (rank0) {
        size_t total = 0;
        for (int r = 0; r < R; r++) total += lens[r];
        fwrite(all, 1, total, stdout);
        fflush(stdout);
    }
    free(all);
    free(lens);
    free(o->text);
    cli_comm_agreed(); /* every rank returns the job's status */
    return (int)nbad;
}
