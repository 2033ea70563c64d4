#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_fail(const char *what) {
    if (what)
        fprintf(stderr, "saccade: %s: %s\n", what, sc_last_error());
    else
        fprintf(stderr, "saccade: %s\n", sc_last_error());
    return CLI_FAIL;
}

int cli_usage(const char *verb, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "saccade %s: ", verb);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'saccade %s --help'.\n", verb);
    return CLI_USAGE;
}

int cli_parse_int(const char *s, int *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < -2147483647L || v > 2147483647L) return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_float(const char *s, float *out) {
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (*end || errno || !isfinite(v)) return 0;
    *out = v;
    return 1;
}

int cli_is_help(const char *arg) {
    return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}

void cli_json_string(FILE *out, const char *s) {
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

int cli_parse_int_list(const char *arg, int *out, int max, int lo, int hi) {
    char s[256], *save = NULL;
    if (!arg || strlen(arg) >= sizeof s) return 0;
    strcpy(s, arg); /* strtok_r writes; argv stays intact for the recorded command */
    int n = 0;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int v;
        if (n >= max || !cli_parse_int(tok, &v) || v < lo || v > hi) return 0;
        out[n++] = v;
    }
    return n;
}

void cli_command_line(int argc, char **argv, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "saccade");
    for (int i = 0; i < argc && n < cap; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *p = a; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,=+:@%",
                        *p))
                plain = 0;
        if (plain) {
            n += (size_t)snprintf(buf + n, cap - n, " %s", a);
        } else {
            n += (size_t)snprintf(buf + n, cap - n, " '");
            for (const char *p = a; *p && n < cap; p++)
                n += (size_t)(*p == '\'' ? snprintf(buf + n, cap - n, "'\\''")
                                         : snprintf(buf + n, cap - n, "%c", *p));
            if (n < cap) n += (size_t)snprintf(buf + n, cap - n, "'");
        }
    }
}
