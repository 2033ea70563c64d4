/* saccade: status codes and the thread-local error message.
 *
 * Every public function returns sc_status (or NULL for constructors) and, on
 * failure, leaves a human-readable reason readable with sc_last_error() on the
 * calling thread until the next failure on that thread. */
#ifndef SACCADE_SC_ERROR_H
#define SACCADE_SC_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sc_status {
    SC_OK = 0,
    SC_ERR_INVALID_ARG = 1, /* a caller passed something out of contract */
    SC_ERR_IO = 2,          /* open/read/write/rename failed */
    SC_ERR_FORMAT = 3,      /* input file is corrupt, truncated or not the expected format */
    SC_ERR_NOMEM = 4,       /* allocation failed */
    SC_ERR_LIMIT = 5,       /* input exceeds a configured limit (pixels, header size, ...) */
    SC_ERR_UNSUPPORTED = 6, /* valid input saccade does not handle */
    SC_ERR_SHAPE = 7,       /* tensor shapes do not fit together */
    SC_ERR_INTERNAL = 8,    /* a dependency failed in an unexpected way */
    SC_ERR_STOPPED = 9      /* a termination signal asked the job to stop (sc_comm.h) */
} sc_status;

/* The message of the last failure on this thread ("" if none). */
const char *sc_last_error(void);
/* Short name of a status code, e.g. "format error". */
const char *sc_status_name(sc_status s);
/* Record a failure: formats the message, stores it thread-locally, returns s.
 * The arguments may include sc_last_error() (to add context to it). */
sc_status sc_set_error(sc_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefix the current message with "prefix: " (used to add a file name). */
void sc_error_prefix(const char *prefix);
void sc_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
