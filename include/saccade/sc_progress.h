/* saccade: progress reporting and metrics logs for long loops (training,
 * batch captioning, evaluation).
 *
 * On a terminal, a one-line bar on stderr redrawn at most 10 times a second:
 *   epoch 2/10 [#######.......] 1234/5000 loss 0.4213 812 ex/s ETA 1m05s
 * Elsewhere (logs, CI), a plain line every `log_every` steps and at the end. */
#ifndef SACCADE_SC_PROGRESS_H
#define SACCADE_SC_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_progress_params {
    const char *label; /* e.g. "train" (default "progress") */
    int64_t total;     /* steps in the whole run (0: unknown, no ETA) */
    int log_every;     /* non-terminal: log a line every N steps (default 100) */
    int force_mode;    /* 0 auto (isatty), 1 bar, 2 plain lines, 3 silent */
    FILE *out;         /* default stderr */
} sc_progress_params;
sc_progress_params sc_progress_default_params(void);

typedef struct sc_progress sc_progress; /* opaque */
sc_progress *sc_progress_create(const sc_progress_params *p);
/* Record that `step` steps (absolute, 1-based) are done, having processed
 * `examples` more examples since the last call; `status` is free text such as
 * "epoch 2/10 loss 0.4213" (may be NULL). Draws or logs as configured. */
void sc_progress_update(sc_progress *pg, int64_t step, int64_t examples, const char *status);
/* Erase the bar from the terminal (nothing in other modes) so that a log line
 * written next starts on a clean line; the next update draws it again. */
void sc_progress_clear(sc_progress *pg);
/* Final line (always printed unless silent). */
void sc_progress_finish(sc_progress *pg, const char *status);
double sc_progress_elapsed(const sc_progress *pg);
void sc_progress_free(sc_progress *pg);

/* JSON-lines metrics log: one object per call, flushed, so a crashed run
 * keeps what it logged. Opened in append mode (resume continues the file). */
typedef struct sc_metrics_log sc_metrics_log; /* opaque */
sc_status sc_metrics_open(const char *path, sc_metrics_log **out);
/* Write {"step": step, k0: v0, ...} with n numeric fields. */
sc_status sc_metrics_write(sc_metrics_log *m, int64_t step, int n, const char *const *keys,
                           const double *values);
void sc_metrics_close(sc_metrics_log *m);
/* Cut a metrics log back to the records of steps <= max_step (for a resumed
 * run, the checkpoint's step): it keeps the leading whole lines up to the
 * first later or unreadable one, so records of a killed run's later steps
 * are not kept twice. A missing file is not an error. */
sc_status sc_metrics_truncate(const char *path, int64_t max_step);

#ifdef __cplusplus
}
#endif
#endif
