/* Batch input for image verbs: see batch.h. */
#include "batch.h"
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include "saccade/sc_caption_render.h"

static const char *const IMAGE_EXTS[] = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                         ".psd", ".hdr", ".pnm",  ".ppm", ".pgm", NULL};

int cli_has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int is_image_name(const char *name) {
    for (int i = 0; IMAGE_EXTS[i]; i++)
        if (cli_has_suffix(name, IMAGE_EXTS[i])) return 1;
    return 0;
}

static void report_errno(const char *path, int err) {
    fprintf(stderr, "saccade: %s: %s\n", path, strerror(err));
}

static int push_path(cli_batch *b, const char *path) {
    if (b->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        char **p = realloc(b->paths, (size_t)cap * sizeof *p);
        if (!p) return -1;
        b->paths = p;
        b->cap = cap;
    }
    char *s = strdup(path);
    if (!s) return -1;
    b->paths[b->n++] = s;
    return 0;
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), c = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *s = malloc(a + (size_t)slash + c + 1);
    if (!s) return NULL;
    memcpy(s, dir, a);
    if (slash) s[a] = '/';
    memcpy(s + a + slash, name, c + 1);
    return s;
}

static int cmp_str(const void *x, const void *y) {
    return strcmp(*(char *const *)x, *(char *const *)y);
}

typedef struct dir_chain {
    dev_t dev;
    ino_t ino;
    const struct dir_chain *up;
} dir_chain;

static int in_chain(const dir_chain *c, const struct stat *st) {
    for (; c; c = c->up)
        if (c->dev == st->st_dev && c->ino == st->st_ino) return 1;
    return 0;
}

/* Recursive walk; returns -1 only when out of memory. Subdirectories in skip
 * (output folders) or holding a saccade gallery are not entered. */
static int walk(cli_batch *b, const char *dir, const dir_chain *chain, const dir_chain *skip,
                int depth) {
    if (depth > 64) {
        fprintf(stderr, "saccade: %s: directories nested too deeply\n", dir);
        b->failed++;
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        report_errno(dir, errno);
        b->failed++;
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            char **p = realloc(names, nc * sizeof *p);
            if (!p) {
                rc = -1;
                break;
            }
            names = p;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc && n > 1) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char *p = join(dir, names[i]);
        if (!p) {
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(p, &st) != 0) {
            if (is_image_name(names[i])) { /* e.g. a broken link named like an image */
                report_errno(p, errno);
                b->failed++;
            }
        } else if (S_ISDIR(st.st_mode)) {
            if (!in_chain(chain, &st) && !in_chain(skip, &st) && !sc_gallery_is_dir(p)) {
                dir_chain here = {st.st_dev, st.st_ino, chain};
                rc = walk(b, p, &here, skip, depth + 1);
            }
        } else if (S_ISREG(st.st_mode) && is_image_name(names[i])) {
            rc = push_path(b, p);
        }
        free(p);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}

static int add_input(cli_batch *b, const char *path, const dir_chain *skip) {
    struct stat st;
    if (stat(path, &st) != 0) {
        report_errno(path, errno);
        b->failed++;
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        dir_chain top = {st.st_dev, st.st_ino, NULL};
        return walk(b, path, &top, skip, 0);
    }
    return push_path(b, path);
}

static int read_list(cli_batch *b, const dir_chain *skip) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') line[--len] = 0;
        if (len > 0 && line[len - 1] == '\r') line[--len] = 0;
        if (len == 0) continue;
        if ((size_t)len != strlen(line)) {
            fprintf(stderr, "saccade: <stdin>: list line contains a NUL byte\n");
            b->failed++;
        } else if (!strcmp(line, "-")) {
            fprintf(stderr, "saccade: <stdin>: a list of inputs cannot contain '-'\n");
            b->failed++;
        } else {
            rc = add_input(b, line, skip);
        }
    }
    if (ferror(stdin)) {
        fprintf(stderr, "saccade: <stdin>: read error\n");
        b->failed++;
    }
    free(line);
    return rc;
}

int cli_batch_expand(const char *verb, char *const *inputs, int ninputs, cli_batch *b) {
    return cli_batch_expand_skipping(verb, inputs, ninputs, NULL, 0, b);
}

int cli_batch_expand_skipping(const char *verb, char *const *inputs, int ninputs,
                              const char *const *skip_dirs, int nskip, cli_batch *b) {
    memset(b, 0, sizeof *b);
    dir_chain skip[8], *skip_list = NULL;
    for (int i = 0; i < nskip && i < 8; i++) {
        struct stat st;
        if (!skip_dirs[i] || stat(skip_dirs[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        skip[i] = (dir_chain){st.st_dev, st.st_ino, skip_list};
        skip_list = &skip[i];
    }
    int dashes = 0;
    for (int i = 0; i < ninputs; i++) dashes += !strcmp(inputs[i], "-");
    if (dashes > 1)
        return cli_usage(verb, "'-' (a list of inputs on standard input) can be given once");
    if (ninputs == 0) return cli_usage(verb, "need at least one IMAGE, DIRECTORY or '-'");
    for (int i = 0; i < ninputs; i++) {
        int rc =
            !strcmp(inputs[i], "-") ? read_list(b, skip_list) : add_input(b, inputs[i], skip_list);
        if (rc) {
            fprintf(stderr, "saccade: out of memory while listing inputs\n");
            return CLI_FAIL;
        }
    }
    if (b->n == 0) {
        if (!b->failed) fprintf(stderr, "saccade: no images found in the inputs\n");
        return CLI_FAIL;
    }
    b->progress = b->n > 1 && isatty(STDERR_FILENO);
    return CLI_OK;
}

void cli_batch_free(cli_batch *b) {
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        free(b->paths[i]);
        if (b->stems) free(b->stems[i]);
    }
    free(b->paths);
    free(b->stems);
    memset(b, 0, sizeof *b);
}

int cli_mkdirs(const char *path) {
    char *p = strdup(path);
    if (!p) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return -1;
    }
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s == '/' || end) {
            char keep = *s;
            *s = 0;
            struct stat st;
            if (mkdir(p, 0777) != 0 &&
                !(errno == EEXIST && stat(p, &st) == 0 && S_ISDIR(st.st_mode))) {
                sc_set_error(SC_ERR_IO, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = keep;
        }
        if (end) break;
    }
    free(p);
    return 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- unique stems ---- */

typedef struct stem_slot {
    const char *name;
    int next; /* next -N suffix to try for this base */
} stem_slot;

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static stem_slot *find_slot(stem_slot *t, size_t mask, const char *name) {
    size_t i = (size_t)hash_str(name) & mask;
    while (t[i].name && strcmp(t[i].name, name)) i = (i + 1) & mask;
    return &t[i];
}

static char *stem_of(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    if (len == 0) return strdup("image");
    char *s = malloc(len + 1);
    if (!s) return NULL;
    memcpy(s, base, len);
    s[len] = 0;
    return s;
}

static int make_stems(cli_batch *b) {
    b->stems = calloc((size_t)b->n, sizeof *b->stems);
    size_t cap = 16;
    while (cap < 4 * (size_t)b->n) cap *= 2;
    stem_slot *t = calloc(cap, sizeof *t);
    int rc = 0;
    if (!b->stems || !t) rc = -1;
    for (int i = 0; i < b->n && !rc; i++) {
        char *s = stem_of(b->paths[i]);
        if (!s) {
            rc = -1;
            break;
        }
        stem_slot *slot = find_slot(t, cap - 1, s);
        if (!slot->name) {
            slot->name = s;
            slot->next = 2;
            b->stems[i] = s;
            continue;
        }
        size_t len = strlen(s);
        char *cand = malloc(len + 16);
        if (!cand) {
            free(s);
            rc = -1;
            break;
        }
        stem_slot *c;
        for (;;) {
            snprintf(cand, len + 16, "%s-%d", s, slot->next++);
            c = find_slot(t, cap - 1, cand);
            if (!c->name) break;
        }
        c->name = cand;
        c->next = 2;
        b->stems[i] = cand;
        free(s);
    }
    free(t); /* names are owned by b->stems */
    return rc;
}

int cli_batch_plan_outputs(const char *verb, cli_batch *b, const char *out) {
    return cli_batch_plan_outputs_for(verb, "-o", b, out);
}

int cli_batch_plan_outputs_for(const char *verb, const char *opt, cli_batch *b, const char *out) {
    static const char *const exts[] = {".png", ".jpg", ".jpeg", NULL};
    int dir = 0;
    int rc = cli_batch_plan_secondary(verb, opt, b, out, exts, &dir);
    if (rc) return rc;
    if (dir)
        b->out_dir = out;
    else
        b->out_file = out;
    if (make_stems(b)) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_batch_plan_secondary(const char *verb, const char *opt, const cli_batch *b,
                             const char *path, const char *const *file_exts, int *is_dir_out) {
    int file = 0;
    if (!is_dir(path))
        for (int i = 0; file_exts[i]; i++)
            if (cli_has_suffix(path, file_exts[i])) file = 1;
    *is_dir_out = !file;
    if (file) {
        if (b->n + b->failed != 1)
            return cli_usage(verb,
                             "%s %s names one file but the inputs hold %d images; give a "
                             "directory instead",
                             opt, path, b->n + b->failed);
        return CLI_OK;
    }
    if (cli_mkdirs(path)) return cli_fail(NULL);
    return CLI_OK;
}

char *cli_batch_output_path(const cli_batch *b, const char *dir, int i, const char *suffix) {
    const char *stem = b->stems[i];
    size_t a = strlen(dir), c = strlen(stem), d = strlen(suffix);
    char *s = malloc(a + c + d + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a > 0 && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, stem, c);
    memcpy(s + k + c, suffix, d + 1);
    return s;
}

static int bar_drawn;

void cli_batch_report(const cli_batch *b, const char *path) {
    if (b && b->progress && bar_drawn) fputs("\r\033[K", stderr);
    const char *msg = sc_last_error();
    size_t n = strlen(path);
    if (!strncmp(msg, path, n) && msg[n] == ':')
        fprintf(stderr, "saccade: %s\n", msg);
    else
        fprintf(stderr, "saccade: %s: %s\n", path, msg);
}

int cli_batch_shard(const char *verb, cli_batch *b, const char *spec) {
    return cli_parse_shard(verb, spec, &b->shard_k, &b->shard_n);
}

void cli_batch_range(const cli_batch *b, int *lo, int *hi) {
    cli_slice(b->n, b->shard_k, b->shard_n, lo, hi);
}

/* The next items [*from, *to) of [lo, hi) for this process: under mpirun with
 * dynamic hand-out, a chunk taken from the job's counter (smaller as the
 * items run out: a quarter of what is left per rank, 1..16, so the ranks
 * finish close together); else the rest of its slice. 0 when none are left,
 * -1 on error (reported). */
static int next_items(sc_comm_counter *k, int R, int lo, int hi, int *at, int *from, int *to) {
    if (!k) {
        *from = *at;
        *to = hi;
        *at = hi;
        return *from < *to;
    }
    int left = hi - (*at > lo ? *at : lo), chunk = left / (4 * R);
    chunk = chunk < 1 ? 1 : chunk > 16 ? 16 : chunk;
    long long before;
    if (sc_comm_counter_take(k, chunk, &before)) return -1;
    *at = before < hi ? (int)before : hi; /* what has been handed out, all ranks */
    *from = *at;
    *to = before + chunk < hi ? (int)(before + chunk) : hi;
    return *from < *to;
}

int cli_batch_run(cli_batch *b, const char *label, cli_batch_fn fn, void *ctx) {
    int lo, hi;
    cli_rank_output ro;
    cli_rank_output_begin(&ro);
    /* dynamic hand-out: the whole shard, from a counter shared by the ranks */
    sc_comm_counter *counter = NULL;
    const int R = ro.comm ? sc_comm_size(ro.comm) : 1;
    if (ro.comm && cli_handout_dynamic()) {
        cli_shard_slice(b->n, b->shard_k, b->shard_n, &lo, &hi);
        if (sc_comm_counter_create(ro.comm, lo, &counter)) {
            cli_fail("handing out the images");
            sc_comm_abort(ro.comm, CLI_FAIL, "stopping every rank");
        }
    } else {
        cli_batch_range(b, &lo, &hi);
    }
    if (ro.comm && sc_comm_rank(ro.comm) > 0) b->progress = 0; /* one bar: rank 0's */
    sc_progress *pg = NULL;
    if (b->progress && hi - lo > 1) {
        sc_progress_params pp = sc_progress_default_params();
        pp.label = label;
        pp.total = hi - lo;
        pp.force_mode = 1;
        pg = sc_progress_create(&pp); /* NULL (no bar) if out of memory */
    }
    bar_drawn = 0;
    int bad = 0, at = lo, from, to, more, stopped = 0;
    while (!stopped && (more = next_items(counter, R, lo, hi, &at, &from, &to)) == 1) {
        for (int i = from; i < to; i++) {
            if (cli_stopped()) { /* one process; several ranks end here */
                bad++;
                stopped = 1;
                break;
            }
            sc_set_error(SC_OK, "unknown error");
            if (fn(b, i, ctx)) {
                cli_batch_report(b, b->paths[i]);
                bad++;
            }
            cli_rank_output_item(&ro, i);
            if (pg) { /* dynamic: the items handed out so far, to every rank */
                char st[32];
                snprintf(st, sizeof st, "%d failed", bad);
                sc_progress_update(pg, (counter ? at : i + 1) - lo, 1, bad ? st : NULL);
                bar_drawn = 1;
            }
        }
    }
    if (more < 0) {
        cli_fail("handing out the images");
        sc_comm_abort(ro.comm, CLI_FAIL, "stopping every rank");
    }
    if (pg) {
        char st[32];
        snprintf(st, sizeof st, "%d failed", bad + b->failed);
        sc_progress_finish(pg, bad + b->failed ? st : NULL);
        sc_progress_free(pg);
    }
    b->failed += cli_rank_output_end(&ro, bad);
    sc_comm_counter_free(counter); /* after the gather: every rank is done taking */
    return b->failed ? CLI_FAIL : CLI_OK;
}
