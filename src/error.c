/* Thread-local error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"

#define SC_ERR_CAP 1024
static _Thread_local char sc_err_msg[SC_ERR_CAP];

const char *sc_last_error(void) { return sc_err_msg; }

const char *sc_status_name(sc_status s) {
    switch (s) {
    case SC_OK: return "ok";
    case SC_ERR_INVALID_ARG: return "invalid argument";
    case SC_ERR_IO: return "i/o error";
    case SC_ERR_FORMAT: return "format error";
    case SC_ERR_NOMEM: return "out of memory";
    case SC_ERR_LIMIT: return "limit exceeded";
    case SC_ERR_UNSUPPORTED: return "unsupported";
    case SC_ERR_SHAPE: return "shape mismatch";
    case SC_ERR_INTERNAL: return "internal error";
    case SC_ERR_STOPPED: return "stopped";
    }
    return "unknown status";
}

sc_status sc_set_error(sc_status s, const char *fmt, ...) {
    /* Arguments may point into sc_err_msg itself (context added to
     * sc_last_error()): format into a temporary, then copy. */
    char tmp[SC_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(sc_err_msg, tmp, strlen(tmp) + 1);
    return s;
}

void sc_error_prefix(const char *prefix) {
    char tmp[SC_ERR_CAP];
    size_t n = strlen(prefix);
    if (n > SC_ERR_CAP / 2) n = SC_ERR_CAP / 2; /* keep room for the reason */
    memcpy(tmp, prefix, n);
    tmp[n] = ':';
    tmp[n + 1] = ' ';
    size_t rest = strnlen(sc_err_msg, SC_ERR_CAP - 1);
    if (rest > SC_ERR_CAP - n - 3) rest = SC_ERR_CAP - n - 3;
    memcpy(tmp + n + 2, sc_err_msg, rest);
    tmp[n + 2 + rest] = 0;
    memcpy(sc_err_msg, tmp, sizeof tmp);
}

void sc_clear_error(void) { sc_err_msg[0] = '\0'; }

void sc_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "saccade: internal invariant broken: %s (%s:%d)\n", expr, file, line);
    abort();
}
