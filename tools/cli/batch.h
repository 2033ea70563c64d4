/* Batch input for image verbs (saliency, caption, ...): expand the command
 * line's inputs into image paths, name outputs, and run a callback per image
 * with error reporting, a progress bar and a final exit status.
 *
 * Inputs:
 *   FILE   used as given, whatever its extension (it may still fail to load)
 *   DIR    searched recursively for images (.png .jpg .jpeg .bmp .gif .tga
 *          .psd .hdr .pnm .ppm .pgm, any case); entries whose name starts with
 *          '.' are skipped, and so are folders holding a saccade gallery
 *          (SC_GALLERY_MARKER); symbolic links are followed (loops are detected);
 *          each directory's images are sorted bytewise (strcmp) so the order
 *          is the same on every machine
 *   -      standard input is a LIST of inputs, one per line (blank lines are
 *          skipped, a trailing '\r' is removed; each line may itself be a file
 *          or a directory). Batch verbs never read an image from standard
 *          input: pass /dev/stdin for that (e.g. `saccade saliency /dev/stdin
 *          -o out.png < photo.jpg`). '-' may appear at most once.
 * An input that does not exist, or a directory that cannot be read, is
 * reported as a failed item (`saccade: PATH: reason`) and the rest go on.
 *
 * Output naming (cli_batch_plan_outputs): `-o DIR` (created, with parents,
 * if missing) writes DIR/<stem><suffix> where stem is the input's file name
 * without its last extension; inputs with equal stems (same name in two
 * folders, or a.png and a.jpg) get <stem>-2, <stem>-3, ... in input order (a
 * name already taken, including a literal "a-2", moves on to the next free
 * number). `-o FILE.png|.jpg|.jpeg` is a single file and only allowed when the
 * inputs expand to exactly one image. An -o ending in an image extension that
 * is an existing directory is a directory.
 *
 * Sharding (cli_batch_shard, --shard K/N): the run covers only the K-th of N
 * contiguous slices of the expanded list (items [(K-1) n / N, K n / N)), so
 * that N separate jobs (a Slurm array, GNU parallel) together cover every
 * input once; output names are planned over the whole list, so they are the
 * same as in one run. Under mpirun the ranks split that (the whole list
 * without --shard): each takes the next small chunk of it from a counter they
 * share whenever it is free (dynamic hand-out: images of unequal cost leave
 * no rank idle), or with SACCADE_MPI_HANDOUT=static runs its own fixed
 * slice; standard output is gathered to rank 0, which prints it in input
 * order (the same lines as one process), and every rank exits with the job's
 * status. */
#ifndef SACCADE_CLI_BATCH_H
#define SACCADE_CLI_BATCH_H

#include "cli.h"

typedef struct cli_batch {
    char **paths; /* expanded image paths, in processing order */
    char **stems; /* unique output stems (after cli_batch_plan_outputs) */
    int n;        /* number of paths */
    int cap;
    int failed;           /* items that failed (expansion errors count) */
    int progress;         /* draw a bar on stderr (set when stderr is a terminal and n > 1) */
    const char *out_dir;  /* set by cli_batch_plan_outputs in directory mode, else NULL */
    const char *out_file; /* single-file mode, else NULL */
    int shard_k, shard_n; /* --shard K/N (1-based K), 0 0: the whole list */
} cli_batch;

/* Expand inputs (see above). Expansion problems are printed and counted in
 * b->failed. Returns CLI_OK, CLI_USAGE (message printed, e.g. '-' twice) or
 * CLI_FAIL (out of memory, or no image at all). */
int cli_batch_expand(const char *verb, char *const *inputs, int ninputs, cli_batch *b);
/* The same, not entering the folders skip_dirs[0..nskip) (at most 8; the
 * verb's output folders: those that do not exist yet are ignored) when they
 * are met inside a directory input. Folders holding a saccade gallery
 * (sc_gallery_is_dir) are never entered, by either function. */
int cli_batch_expand_skipping(const char *verb, char *const *inputs, int ninputs,
                              const char *const *skip_dirs, int nskip, cli_batch *b);
void cli_batch_free(cli_batch *b);

/* Decide between directory and single-file output for `out` (see above),
 * create the directory, and compute the unique stems. Returns CLI_OK,
 * CLI_USAGE (FILE output for several images) or CLI_FAIL (cannot create). */
int cli_batch_plan_outputs(const char *verb, cli_batch *b, const char *out);
/* The same for an output option named opt ("--attention"), named in messages. */
int cli_batch_plan_outputs_for(const char *verb, const char *opt, cli_batch *b, const char *out);
/* Same rule for a secondary output (e.g. --raw FILE.npy|DIR): *is_dir says
 * which; file_exts lists the accepted file extensions ("\0"-free array,
 * NULL-terminated). Creates the directory when is_dir. */
int cli_batch_plan_secondary(const char *verb, const char *opt, const cli_batch *b,
                             const char *path, const char *const *file_exts, int *is_dir);
/* Output path for item i: DIR/<stem><suffix> (malloc'ed; NULL if out of
 * memory). suffix includes the extension, e.g. ".spectral.png". */
char *cli_batch_output_path(const cli_batch *b, const char *dir, int i, const char *suffix);

/* Parse --shard K/N (1 <= K <= N) into b; spec NULL: no sharding. Returns
 * CLI_OK or CLI_USAGE. */
int cli_batch_shard(const char *verb, cli_batch *b, const char *spec);
/* The items [*lo, *hi) of the shard, and this rank's fixed part of it under
 * mpirun (what it runs with SACCADE_MPI_HANDOUT=static). */
void cli_batch_range(const cli_batch *b, int *lo, int *hi);

/* Per-image callback: return 0 on success; nonzero with sc_set_error() set
 * on failure (the batch prints it, prefixed by the input path unless the
 * message already starts with it). */
typedef int (*cli_batch_fn)(const cli_batch *b, int i, void *ctx);
/* Run fn over this process's items (sequentially, in order; under mpirun,
 * chunks of the shard taken from a counter the ranks share as each becomes
 * free, or with SACCADE_MPI_HANDOUT=static the fixed part of
 * cli_batch_range), with a progress bar when b->progress. Returns CLI_OK if everything
 * (expansion included; under mpirun, on every rank) succeeded, else
 * CLI_FAIL. */
int cli_batch_run(cli_batch *b, const char *label, cli_batch_fn fn, void *ctx);
/* Print "saccade: PATH: reason" for item path with sc_last_error() as the
 * reason (not repeating PATH if the message starts with it), clearing the
 * progress bar line first if one is drawn. */
void cli_batch_report(const cli_batch *b, const char *path);

/* Case-insensitive suffix test. */
int cli_has_suffix(const char *s, const char *suffix);
/* mkdir -p; 0 on success, else -1 with sc_set_error naming the path. */
int cli_mkdirs(const char *path);

#endif
