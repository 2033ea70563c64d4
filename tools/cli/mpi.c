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

int cli_gallery_gather(sc_gallery *g, const char *const *names, const char *const *labels, int n) {
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
    /* dynamic hand-out: the ranks' items interleave */
    if (rank0 && g && rc == 1 && sc_gallery_order(g, names, labels, n))
        rc = -1, cli_fail("gallery");
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

void cli_shard_slice(int n, int shard_k, int shard_n, int *lo, int *hi) {
    long long a = 0, z = n;
    if (shard_n > 0) {
        a = (long long)n * (shard_k - 1) / shard_n;
        z = (long long)n * shard_k / shard_n;
    }
    *lo = (int)a;
    *hi = (int)z;
}

void cli_slice(int n, int shard_k, int shard_n, int *lo, int *hi) {
    int l, h;
    cli_shard_slice(n, shard_k, shard_n, &l, &h);
    long long a = l, z = h;
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

int cli_handout_dynamic(void) {
    static int mode = -1;
    if (mode >= 0) return mode;
    const char *v = getenv("SACCADE_MPI_HANDOUT");
    mode = !(v && !strcmp(v, "static"));
    sc_comm *c = cli_comm();
    if (sc_comm_broadcast(c, &mode, sizeof mode, 0)) { /* one setting for the job */
        cli_fail("mpi");
        sc_comm_abort(c, CLI_FAIL, "stopping every rank");
    }
    return mode;
}

void cli_rank_output_item(cli_rank_output *o, int item) {
    if (!o->mem) return;
    if (o->nspans == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        cli_rank_output_span *sp = realloc(o->spans, cap * sizeof *sp);
        if (!sp) return; /* the text then goes with the next item, or at the end */
        o->spans = sp;
        o->cap = cap;
    }
    fflush(o->mem); /* brings o->len up to date */
    o->spans[o->nspans++] = (cli_rank_output_span){item, o->len};
}

/* One item's text in rank 0's gathered buffer. */
typedef struct {
    int item;
    size_t start, end;
} item_text;

static int item_cmp(const void *a, const void *b) {
    const int x = ((const item_text *)a)->item, y = ((const item_text *)b)->item;
    return (x > y) - (x < y);
}

/* Rank 0: the ranks' texts all (lens[r] bytes each) printed item by item in
 * item order (every rank's spans, span_lens[r] bytes each, ends relative to
 * that rank's text), then what each rank printed after its last item, in
 * rank order. */
static void print_by_item(int R, const char *all, const size_t *lens, const char *spans,
                          const size_t *span_lens) {
    size_t total = 0, base = 0, sbase = 0, k = 0;
    for (int r = 0; r < R; r++) total += span_lens[r] / sizeof(cli_rank_output_span);
    item_text *v = malloc((total ? total : 1) * sizeof *v);
    if (!v) { /* no memory to sort: rank order, every line still printed */
        for (int r = 0; r < R; r++) base += lens[r];
        fwrite(all, 1, base, stdout);
        return;
    }
    for (int r = 0; r < R; r++) {
        size_t start = 0;
        for (size_t i = 0; i < span_lens[r] / sizeof(cli_rank_output_span); i++) {
            cli_rank_output_span sp;
            memcpy(&sp, spans + sbase + i * sizeof sp, sizeof sp);
            v[k++] = (item_text){sp.item, base + start, base + sp.end};
            start = sp.end;
        }
        base += lens[r];
        sbase += span_lens[r];
    }
    qsort(v, total, sizeof *v, item_cmp);
    for (size_t i = 0; i < total; i++) fwrite(all + v[i].start, 1, v[i].end - v[i].start, stdout);
    /* each rank's text after its last item */
    base = sbase = 0;
    for (int r = 0; r < R; r++) {
        const size_t ns = span_lens[r] / sizeof(cli_rank_output_span);
        size_t from = 0;
        if (ns) {
            cli_rank_output_span sp;
            memcpy(&sp, spans + sbase + (ns - 1) * sizeof sp, sizeof sp);
            from = sp.end;
        }
        fwrite(all + base + from, 1, lens[r] - from, stdout);
        base += lens[r];
        sbase += span_lens[r];
    }
    free(v);
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
    size_t *lens = rank0 ? calloc(2 * (size_t)R, sizeof *lens) : NULL;
    char *all = NULL, *spans = NULL;
    float nbad = (float)bad;
    if ((rank0 && !lens) ||
        sc_comm_gather_bytes(o->comm, o->text ? o->text : "", o->text ? o->len : 0, 0, &all,
                             lens) ||
        sc_comm_gather_bytes(o->comm, o->spans ? (const void *)o->spans : "",
                             o->nspans * sizeof *o->spans, 0, &spans, lens ? lens + R : NULL) ||
        sc_comm_allreduce_sum(o->comm, &nbad, 1)) {
        cli_fail("gathering the ranks' output");
        sc_comm_abort(o->comm, CLI_FAIL, "stopping every rank");
    }
    if (rank0) {
        print_by_item(R, all, lens, spans, lens + R);
        fflush(stdout);
    }
    free(all);
    free(spans);
    free(lens);
    free(o->text);
    free(o->spans);
    cli_comm_agreed(); /* every rank returns the job's status */
    return (int)nbad;
}
