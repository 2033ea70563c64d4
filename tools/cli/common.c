#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include <cjson/cJSON.h>

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

int cli_set_threads(const char *verb, int n) {
    if (n && sc_set_num_threads(n)) return cli_usage(verb, "--threads: %s", sc_last_error());
    return CLI_OK;
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

static int opt_matches(const char *names, const char *arg) {
    size_t n = strlen(arg);
    for (const char *p = names; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, arg, n)) return 1;
        p += len + (bar ? 1 : 0);
    }
    return 0;
}

/* The last alias ("--output" of "-o|--output") names the option in messages. */
static const char *opt_label(const char *names) {
    const char *bar = strrchr(names, '|');
    return bar ? bar + 1 : names;
}

int cli_parse_options(const char *verb, int argc, char **argv, const cli_opt *opts, size_t nopts,
                      const char **pos, int maxpos, int *npos) {
    int np = 0, only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && !strcmp(a, "--")) { /* everything after "--" is positional */
            only_pos = 1;
            continue;
        }
        const cli_opt *o = NULL;
        /* "--opt=value": the name is matched without "=value". */
        const char *eq = (!only_pos && a[0] == '-' && a[1] == '-') ? strchr(a, '=') : NULL;
        char name[64];
        const char *key = a;
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof name) return cli_usage(verb, "unknown option '%s'", a);
            memcpy(name, a, n);
            name[n] = 0;
            key = name;
        }
        for (size_t k = 0; k < nopts && !o && !only_pos; k++)
            if (opt_matches(opts[k].name, key)) o = &opts[k];
        if (!o) {
            if (!only_pos && a[0] == '-' && a[1] != 0)
                return cli_usage(verb, "unknown option '%s'", key);
            if (!pos || np >= maxpos) return cli_usage(verb, "unexpected argument '%s'", a);
            pos[np++] = a;
            continue;
        }
        const char *label = opt_label(o->name);
        if (o->kind == CLI_FLAG) {
            if (eq) return cli_usage(verb, "%s takes no value", label);
            *(int *)o->dst = 1;
            continue;
        }
        if (o->kind == CLI_STRS) {
            const char **dst = o->dst;
            int n0 = *o->count;
            if (eq && *o->count < o->max) dst[(*o->count)++] = eq + 1;
            while (i + 1 < argc && argv[i + 1][0] != '-' && *o->count < o->max)
                dst[(*o->count)++] = argv[++i];
            if (*o->count == n0)
                return cli_usage(verb, "%s needs %s", label, o->what ? o->what : "values");
            continue;
        }
        if (!eq && i + 1 >= argc)
            return cli_usage(verb, "%s needs %s", label,
                             o->kind == CLI_STR    ? (o->what ? o->what : "a value")
                             : o->kind == CLI_INTS ? "a list of numbers"
                                                   : "a number");
        const char *v = eq ? eq + 1 : argv[++i];
        switch (o->kind) {
        case CLI_STR:
            *(const char **)o->dst = v;
            break;
        case CLI_INT: {
            int x;
            if (!cli_parse_int(v, &x) || x < o->lo || x > o->hi)
                return cli_usage(verb, "%s needs a whole number from %.0f to %.0f, not '%s'", label,
                                 o->lo, o->hi, v);
            *(int *)o->dst = x;
            break;
        }
        case CLI_FLOAT: {
            float x;
            if (!cli_parse_float(v, &x) || !(x >= o->lo) || !(x <= o->hi))
                return cli_usage(verb, "%s needs a number from %g to %g, not '%s'", label, o->lo,
                                 o->hi, v);
            *(float *)o->dst = x;
            break;
        }
        case CLI_INTS: {
            int n = cli_parse_int_list(v, (int *)o->dst, o->max, (int)o->lo, (int)o->hi);
            if (!n)
                return cli_usage(verb, "%s needs 1 to %d comma-separated numbers from %.0f to %.0f",
                                 label, o->max, o->lo, o->hi);
            *o->count = n;
            break;
        }
        default:
            break;
        }
    }
    if (npos) *npos = np;
    return CLI_OK;
}

char *cli_metrics_path(const char *model) {
    size_t n = strlen(model), k = strlen(".safetensors");
    char *p = malloc(n + 32);
    if (!p) return NULL;
    memcpy(p, model, n + 1);
    if (n > k && !strcmp(model + n - k, ".safetensors")) p[n - k] = 0;
    strcat(p, ".metrics.json");
    return p;
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

/* "%XX" for every byte outside printable ASCII, and for '%' itself, so that
 * percent-decoding gives the bytes back. */
static char *percent_escape(const char *s) {
    size_t n = strlen(s);
    char *out = n < SIZE_MAX / 3 ? malloc(3 * n + 1) : NULL, *o = out;
    for (const unsigned char *p = (const unsigned char *)s; out && *p; p++)
        o += *p >= 0x20 && *p < 0x7F && *p != '%' ? sprintf(o, "%c", *p) : sprintf(o, "%%%02X", *p);
    if (out) *o = 0;
    return out;
}

/* JSON text is UTF-8, but file names are bytes: a string that is not valid
 * UTF-8 is printed with U+FFFD for each invalid part, and an object member
 * KEY so changed gets a sibling KEY_bytes holding the original bytes
 * percent-escaped (README, "JSON output"). 0, or -1 on no memory. */
static int json_fix_utf8(cJSON *parent) {
    for (cJSON *c = parent ? parent->child : NULL; c; c = c->next) {
        if (cJSON_IsArray(c) || cJSON_IsObject(c)) {
            if (json_fix_utf8(c)) return -1;
            continue;
        }
        if (!cJSON_IsString(c) || !c->valuestring) continue;
        size_t n = strlen(c->valuestring);
        if (sc_utf8_valid_prefix(c->valuestring, n) == n) continue;
        char *fixed = sc_utf8_sanitize(c->valuestring, n), *esc = percent_escape(c->valuestring);
        char *key = NULL;
        int bad = !fixed || !esc;
        if (!bad && cJSON_IsObject(parent) && c->string) {
            size_t k = strlen(c->string);
            key = malloc(k + sizeof "_bytes");
            bad = !key;
            if (key) {
                memcpy(key, c->string, k);
                memcpy(key + k, "_bytes", sizeof "_bytes");
                bad = !cJSON_GetObjectItemCaseSensitive(parent, key) &&
                      !cJSON_AddStringToObject(parent, key, esc);
            }
        }
        if (!bad) { /* the node keeps its place; only its text changes */
            cJSON_free(c->valuestring);
            c->valuestring = fixed;
            fixed = NULL;
        }
        free(fixed);
        free(esc);
        free(key);
        if (bad) return -1;
    }
    return 0;
}

/* cJSON's unformatted text with a space after every ':' and ',' outside
 * strings (the one-line style saccade has always printed) and a newline. */
char *cli_json_print(cJSON *item) {
    if (item && json_fix_utf8(item)) {
        cJSON_Delete(item);
        item = NULL;
    }
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    size_t n = 0, spaces = 0;
    for (int in_str = 0; text && text[n]; n++) {
        if (in_str) {
            if (text[n] == '\\' && text[n + 1])
                n++;
            else if (text[n] == '"')
                in_str = 0;
        } else if (text[n] == '"') {
            in_str = 1;
        } else if (text[n] == ':' || text[n] == ',') {
            spaces++;
        }
    }
    char *out = text ? malloc(n + spaces + 2) : NULL;
    if (!out) {
        cJSON_free(text);
        sc_set_error(SC_ERR_NOMEM, "out of memory writing JSON");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0, in_str = 0; i < n; i++) {
        out[o++] = text[i];
        if (in_str) {
            if (text[i] == '\\' && i + 1 < n)
                out[o++] = text[++i];
            else if (text[i] == '"')
                in_str = 0;
        } else if (text[i] == '"') {
            in_str = 1;
        } else if (text[i] == ':' || text[i] == ',') {
            out[o++] = ' ';
        }
    }
    out[o++] = '\n';
    out[o] = 0;
    cJSON_free(text);
    return out;
}

int cli_json_emit(FILE *out, cJSON *item) {
    char *text = cli_json_print(item);
    if (!text) return cli_fail(NULL);
    fputs(text, out);
    free(text);
    return CLI_OK;
}

cJSON *cli_json_fixed(double v, int decimals) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[384]; /* %.*f of DBL_MAX is 309 digits */
    if (decimals < 0)
        snprintf(buf, sizeof buf, "%g", v);
    else
        snprintf(buf, sizeof buf, "%.*f", decimals > 17 ? 17 : decimals, v);
    return cJSON_CreateRaw(buf);
}

cJSON *cli_json_add_fixed(cJSON *obj, const char *key, double v, int decimals) {
    cJSON *n = cli_json_fixed(v, decimals);
    if (n && !cJSON_AddItemToObject(obj, key, n)) {
        cJSON_Delete(n);
        return NULL;
    }
    return n;
}

cJSON *cli_json_g(double v, int digits) {
    if (!isfinite(v)) return cJSON_CreateNull();
    char buf[64];
    snprintf(buf, sizeof buf, "%.*g", digits < 1 ? 1 : digits > 17 ? 17 : digits, v);
    return cJSON_CreateRaw(buf);
}

cJSON *cli_json_float(float v, int digits) {
    return cli_json_g((double)v, digits);
}

int cli_json_add_g9(cJSON *obj, const char *key, double v) {
    cJSON *n = cli_json_g(v, 9);
    if (!n || !cJSON_AddItemToObject(obj, key, n)) {
        cJSON_Delete(n);
        return -1;
    }
    return 0;
}

int cli_write_metrics(const char *model, cJSON *summary, const char *what, char **path) {
    char *text = cli_json_print(summary), *mpath = cli_metrics_path(model);
    int rc = CLI_OK;
    if (!text || !mpath) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        rc = cli_fail(what);
    } else if (sc_write_file_atomic(mpath, text, strlen(text))) {
        rc = cli_fail(what);
    }
    free(text);
    if (rc) {
        free(mpath);
        mpath = NULL;
    }
    *path = mpath;
    return rc;
}
