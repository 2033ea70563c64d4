/* Shared pieces of the saccade CLI: every verb is one file with one entry
 * point, registered in main.c's table. */
#ifndef SACCADE_CLI_H
#define SACCADE_CLI_H

#include <stdio.h>
#include "saccade/saccade.h"

/* Exit codes: 0 ok, 1 runtime error, 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct cli_verb {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the verb name */
    void (*help)(FILE *out);
} cli_verb;

/* Print "saccade: <what>: <sc_last_error()>" (what may be NULL) and return CLI_FAIL. */
int cli_fail(const char *what);
/* Print "saccade VERB: <message>" plus a hint to run --help; return CLI_USAGE. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Apply --threads N (0: not given, all cores); the library's limit
 * (sc_max_num_threads) is a usage error. */
int cli_set_threads(const char *verb, int n);
/* Parse a whole base-10 int / float argument strictly (no trailing junk). */
int cli_parse_int(const char *s, int *out);
int cli_parse_float(const char *s, float *out);
/* Parse "a,b,c" into out[0..max-1], each a whole number in [lo, hi]; returns
 * how many, or 0 on any error (argv is left intact). */
int cli_parse_int_list(const char *arg, int *out, int max, int lo, int hi);
/* "saccade ARGS..." with arguments shell-quoted where needed, for records of
 * the exact command that made a model. */
void cli_command_line(int argc, char **argv, char *buf, size_t cap);
/* Table-driven options: one entry per option, parsed by cli_parse_options.
 * name may hold aliases separated by '|' ("-o|--output"). Numbers are range
 * checked (inclusive); CLI_INTS parses "a,b,c" into dst[0..max-1] and stores
 * the count in *count. CLI_FLAG sets *(int *)dst = 1. CLI_STRS takes the
 * arguments that follow up to the next one starting with '-' ("--pred a b c";
 * at least one), appended to (const char **)dst[*count..max-1]. */
typedef enum { CLI_FLAG, CLI_INT, CLI_FLOAT, CLI_STR, CLI_INTS, CLI_STRS } cli_opt_kind;
typedef struct cli_opt {
    const char *name;
    cli_opt_kind kind;
    void *dst;
    double lo, hi;    /* CLI_INT / CLI_FLOAT / CLI_INTS (per element) */
    const char *what; /* CLI_STR: what the value is ("a file name") */
    int *count, max;  /* CLI_INTS */
} cli_opt;
/* Parse argv[1..argc-1] against opts[0..nopts-1] ("--opt value" and
 * "--opt=value" alike; "--" ends the options); other arguments are
 * positional, kept in pos[0..maxpos-1] (*npos of them; pos may be NULL when
 * the verb takes none). Returns CLI_OK, or CLI_USAGE after printing why. */
int cli_parse_options(const char *verb, int argc, char **argv, const cli_opt *opts, size_t nopts,
                      const char **pos, int maxpos, int *npos);
/* MODEL.safetensors -> MODEL.metrics.json (other names: NAME.metrics.json);
 * malloc'd, NULL on no memory. Where trainers write their summary. */
char *cli_metrics_path(const char *model);
/* Write summary (cJSON, freed here; NULL: out of memory) to
 * cli_metrics_path(model) atomically. CLI_OK with *path the file's name
 * (malloc'd), or CLI_FAIL reported as "what" with *path NULL. */
struct cJSON;
int cli_write_metrics(const char *model, struct cJSON *summary, const char *what, char **path);
/* Is argv[i] one of --help/-h? */
int cli_is_help(const char *arg);
/* Print item as one line of JSON (cJSON, a space after ':' and ',') and free
 * it; a NULL item (a failed allocation while building it) is reported.
 * Returns CLI_OK or CLI_FAIL. Every --json output goes through here. */
struct cJSON;
int cli_json_emit(FILE *out, struct cJSON *item);
/* The same line as a malloc'd string ending in a newline (for files); frees
 * item; NULL (error set) on no memory or a NULL item. */
char *cli_json_print(struct cJSON *item);
/* A JSON number written with a fixed count of decimals ("%.*f"; decimals < 0:
 * "%g"; null when not finite), so that outputs keep the precision they
 * document. _add_ puts it under key in obj (NULL on no memory; then obj is
 * unchanged). */
struct cJSON *cli_json_fixed(double v, int decimals);
struct cJSON *cli_json_add_fixed(struct cJSON *obj, const char *key, double v, int decimals);
/* A number with `digits` significant digits ("%.*g"; 9 keeps every float
 * exactly); null when not finite. _float takes a float, _add_g9 puts v with 9
 * digits under key in obj (0, or -1 on no memory: obj unchanged). */
struct cJSON *cli_json_g(double v, int digits);
struct cJSON *cli_json_float(float v, int digits);
int cli_json_add_g9(struct cJSON *obj, const char *key, double v);

/* Verbs. */
int cli_info_main(int argc, char **argv);
void cli_info_help(FILE *out);
int cli_overlay_main(int argc, char **argv);
void cli_overlay_help(FILE *out);
int cli_data_main(int argc, char **argv);
void cli_data_help(FILE *out);
int cli_train_main(int argc, char **argv);
void cli_train_help(FILE *out);
void cli_train_classifier_help(FILE *out);
int cli_eval_main(int argc, char **argv);
void cli_eval_help(FILE *out);
void cli_eval_classifier_help(FILE *out);
int cli_saliency_main(int argc, char **argv);
void cli_saliency_help(FILE *out);
int cli_caption_main(int argc, char **argv);
void cli_caption_help(FILE *out);
/* "saccade train captioner ..." / "saccade eval captioner ..." (argv[0] is "captioner"). */
int cli_train_captioner_main(int argc, char **argv, int full_argc, char **full_argv);
void cli_train_captioner_help(FILE *out);
int cli_eval_captioner_main(int argc, char **argv);
void cli_eval_captioner_help(FILE *out);
/* "saccade eval saliency ..." (argv[0] is "saliency"), in verb_eval_saliency.c. */
int cli_eval_saliency_main(int argc, char **argv);
void cli_eval_saliency_help(FILE *out);
/* "saccade eval saliency --faithfulness ...", in verb_eval_faithfulness.c. */
int cli_eval_faithfulness_main(int argc, char **argv);
void cli_eval_faithfulness_help(FILE *out);
int cli_stn_main(int argc, char **argv);
void cli_stn_help(FILE *out);
/* 'saccade train stn' / 'saccade eval stn' (verb_stn.c); argv[0] is "stn". */
int cli_train_stn_main(int argc, char **argv);
void cli_train_stn_help(FILE *out);
int cli_eval_stn_main(int argc, char **argv);
void cli_eval_stn_help(FILE *out);
int cli_train_vqa_main(int argc, char **argv);
void cli_train_vqa_help(FILE *out);
int cli_eval_vqa_main(int argc, char **argv);
void cli_eval_vqa_help(FILE *out);
int cli_vqa_main(int argc, char **argv);
void cli_vqa_help(FILE *out);
int cli_ground_main(int argc, char **argv);
void cli_ground_help(FILE *out);
int cli_classify_main(int argc, char **argv);
void cli_classify_help(FILE *out);

/* MPI (mpi.c). The job's communicator: MPI's under mpirun, else one process
 * (created on the first call; exits 1 when MPI cannot start). */
sc_comm *cli_comm(void);
/* 1 on the rank that writes the job's files and prints its results. */
int cli_rank0(void);
/* Before running verb: training, and the batch verbs under mpirun, catch
 * SIGTERM, SIGINT and SIGHUP (sc_comm_catch_signals), so that one rank
 * terminated stops the whole job at its next step or image, with exit 1. */
void cli_catch_stop_signals(const char *verb);
/* Between items of a batch: 0 normally; after a caught signal, prints
 * "saccade: stopped by SIGTERM" and returns 1 (one process), or ends every
 * rank of the job with exit 1 (several). */
int cli_stopped(void);
/* At the end of main: a failed rank of several ends them all (exit rc); a
 * caught signal makes a success a failure. */
int cli_comm_end(int rc);
/* From here on every rank returns the job's status (so a failure is no
 * reason to abort the others). */
void cli_comm_agreed(void);
/* Under mpirun, after a batch run: every rank's gallery entries (its images
 * are written) into rank 0's, put in input order (names[0..n): the run's
 * output stems in input order, labels[0..n) its input paths; the failures
 * follow labels). Collective. Returns 1 where the index is to be written
 * (rank 0, or one process), 0 on the other ranks, -1 when the entries could
 * not be merged (reported). */
int cli_gallery_gather(sc_gallery *g, const char *const *names, const char *const *labels, int n);
/* --shard K/N into *k, *n (0 0 for a NULL spec); CLI_OK or CLI_USAGE. */
int cli_parse_shard(const char *verb, const char *spec, int *k, int *n);
/* Items [*lo, *hi) of n for this process: the K-th of N contiguous slices
 * (shard_n 0: all), and under mpirun this rank's part of that. */
void cli_slice(int n, int shard_k, int shard_n, int *lo, int *hi);
/* The K-th of N contiguous slices alone (every rank the same). */
void cli_shard_slice(int n, int shard_k, int shard_n, int *lo, int *hi);
/* Under mpirun (else no-ops): begin keeps this rank's standard output in
 * memory; end gives it to rank 0, which prints every rank's in rank order
 * (or, when items were marked with cli_rank_output_item, item by item in
 * item order, whichever rank ran each), and returns the job's count of
 * failures (bad: this rank's), the same on every rank, which then return the
 * job's status (cli_comm_agreed). */
typedef struct cli_rank_output_span {
    int item;   /* the item's index */
    size_t end; /* its text ends here in the rank's text (starts where the last ended) */
} cli_rank_output_span;
typedef struct cli_rank_output {
    sc_comm *comm; /* NULL: one process, nothing kept */
    FILE *saved, *mem;
    char *text;
    size_t len;
    cli_rank_output_span *spans; /* (nspans) the items marked, in the order run */
    size_t nspans, cap;
} cli_rank_output;
void cli_rank_output_begin(cli_rank_output *o);
/* The output since the last mark (or the start) is item's. */
void cli_rank_output_item(cli_rank_output *o, int item);
int cli_rank_output_end(cli_rank_output *o, int bad);
/* Under mpirun: 1 when the batch verbs hand items out dynamically (the
 * default), 0 for fixed slices (SACCADE_MPI_HANDOUT=static); rank 0's
 * setting holds for every rank. Collective on the first call. */
int cli_handout_dynamic(void);

#endif
