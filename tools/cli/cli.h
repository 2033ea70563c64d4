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
 * the count in *count. CLI_FLAG sets *(int *)dst = 1. */
typedef enum { CLI_FLAG, CLI_INT, CLI_FLOAT, CLI_STR, CLI_INTS } cli_opt_kind;
typedef struct cli_opt {
    const char *name;
    cli_opt_kind kind;
    void *dst;
    double lo, hi;    /* CLI_INT / CLI_FLOAT / CLI_INTS (per element) */
    const char *what; /* CLI_STR: what the value is ("a file name") */
    int *count, max;  /* CLI_INTS */
} cli_opt;
/* Parse argv[1..argc-1] against opts[0..nopts-1]; other arguments are
 * positional, kept in pos[0..maxpos-1] (*npos of them; pos may be NULL when
 * the verb takes none). Returns CLI_OK, or CLI_USAGE after printing why. */
int cli_parse_options(const char *verb, int argc, char **argv, const cli_opt *opts, size_t nopts,
                      const char **pos, int maxpos, int *npos);
/* MODEL.safetensors -> MODEL.metrics.json (other names: NAME.metrics.json);
 * malloc'd, NULL on no memory. Where trainers write their summary. */
char *cli_metrics_path(const char *model);
/* Is argv[i] one of --help/-h? */
int cli_is_help(const char *arg);
/* Print a JSON string literal, escaped. */
void cli_json_string(FILE *out, const char *s);

/* Verbs. */
int verb_info(int argc, char **argv);
void verb_info_help(FILE *out);
int verb_overlay(int argc, char **argv);
void verb_overlay_help(FILE *out);
int verb_data(int argc, char **argv);
void verb_data_help(FILE *out);
int verb_train(int argc, char **argv);
void verb_train_help(FILE *out);
int verb_eval(int argc, char **argv);
void verb_eval_help(FILE *out);
int verb_saliency(int argc, char **argv);
void verb_saliency_help(FILE *out);
int verb_caption(int argc, char **argv);
void verb_caption_help(FILE *out);
/* "saccade train captioner ..." / "saccade eval captioner ..." (argv[0] is "captioner"). */
int train_captioner_main(int argc, char **argv, int full_argc, char **full_argv);
void train_captioner_help(FILE *out);
int eval_captioner_main(int argc, char **argv);
void eval_captioner_help(FILE *out);
/* "saccade eval saliency ..." (argv[0] is "saliency"), in verb_eval_saliency.c. */
int eval_saliency_main(int argc, char **argv);
void eval_saliency_help(FILE *out);
int verb_stn(int argc, char **argv);
void verb_stn_help(FILE *out);
/* 'saccade train stn' / 'saccade eval stn' (verb_stn.c); argv[0] is "stn". */
int cli_train_stn(int argc, char **argv);
void stn_train_help(FILE *out);
int cli_eval_stn(int argc, char **argv);
void stn_eval_help(FILE *out);
int train_vqa_main(int argc, char **argv);
void train_vqa_help(FILE *out);
int eval_vqa_main(int argc, char **argv);
void eval_vqa_help(FILE *out);
int verb_vqa(int argc, char **argv);
void verb_vqa_help(FILE *out);

#endif
