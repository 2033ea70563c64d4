/* Progress bar / log lines and JSON-lines metrics. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sc_internal.h"
#include "saccade/sc_progress.h"

struct sc_progress {
    sc_progress_params p;
    int mode; /* 1 bar, 2 lines, 3 silent */
    double t0, last_draw, rate_t, rate_ex;
    int64_t step, examples, last_logged;
    double rate; /* examples per second, smoothed */
    int drew;
    int bar_shown; /* a bar line without its newline is on the terminal */
};

sc_progress_params sc_progress_default_params(void) {
    sc_progress_params p = {0};
    p.label = "progress";
    p.log_every = 100;
    return p;
}

sc_progress *sc_progress_create(const sc_progress_params *p) {
    sc_progress *pg = calloc(1, sizeof *pg);
    if (!pg) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    pg->p = p ? *p : sc_progress_default_params();
    if (!pg->p.out) pg->p.out = stderr;
    if (!pg->p.label) pg->p.label = "progress";
    if (pg->p.log_every <= 0) pg->p.log_every = 100;
    pg->mode = pg->p.force_mode ? pg->p.force_mode : (isatty(fileno(pg->p.out)) ? 1 : 2);
    pg->t0 = pg->last_draw = pg->rate_t = sc_monotonic_seconds();
    pg->last_draw -= 1.0;
    return pg;
}

static void fmt_duration(char *buf, size_t cap, double s) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else if (t >= 60)
        snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, cap, "%lds", t);
}

static void draw(sc_progress *pg, const char *status, int final) {
    double t = sc_monotonic_seconds(), el = t - pg->t0;
    char eta[32] = "", elapsed[32];
    fmt_duration(elapsed, sizeof elapsed, el);
    if (pg->p.total > 0 && pg->step > 0 && !final) {
        double per = el / (double)pg->step;
        char d[24];
        fmt_duration(d, sizeof d, per * (double)(pg->p.total - pg->step));
        snprintf(eta, sizeof eta, " ETA %s", d);
    }
    char count[48];
    if (pg->p.total > 0)
        snprintf(count, sizeof count, "%lld/%lld", (long long)pg->step, (long long)pg->p.total);
    else
        snprintf(count, sizeof count, "%lld", (long long)pg->step);
    if (pg->mode == 1) {
        char bar[24] = "";
        if (pg->p.total > 0) {
            int w = 20, fill = (int)((double)w * (double)pg->step / (double)pg->p.total);
            if (fill > w) fill = w;
            for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
            bar[w] = 0;
        }
        fprintf(pg->p.out, "\r\033[K%s %s%s%s %s %s %.0f ex/s %s%s", pg->p.label, bar[0] ? "[" : "",
                bar, bar[0] ? "]" : "", count, status ? status : "", pg->rate, final ? "in " : "",
                final ? elapsed : eta + (eta[0] ? 1 : 0));
        if (final) fputc('\n', pg->p.out);
        pg->bar_shown = !final;
    } else {
        fprintf(pg->p.out, "%s %s %s %.0f ex/s elapsed %s%s\n", pg->p.label, count,
                status ? status : "", pg->rate, elapsed, eta);
    }
    fflush(pg->p.out);
    pg->last_draw = t;
    pg->drew = 1;
}

void sc_progress_update(sc_progress *pg, int64_t step, int64_t examples, const char *status) {
    if (!pg) return;
    pg->step = step;
    pg->examples += examples;
    pg->rate_ex += (double)examples;
    double t = sc_monotonic_seconds();
    if (t - pg->rate_t >= 0.5) { /* smoothed throughput over >= 0.5 s windows */
        double r = pg->rate_ex / (t - pg->rate_t);
        pg->rate = pg->rate > 0 ? 0.7 * pg->rate + 0.3 * r : r;
        pg->rate_t = t;
        pg->rate_ex = 0;
    } else if (pg->rate == 0 && t > pg->t0) {
        pg->rate = (double)pg->examples / (t - pg->t0);
    }
    if (pg->mode == 1 && t - pg->last_draw >= 0.1)
        draw(pg, status, 0);
    else if (pg->mode == 2 && step - pg->last_logged >= pg->p.log_every) {
        pg->last_logged = step;
        draw(pg, status, 0);
    }
}

void sc_progress_clear(sc_progress *pg) {
    if (!pg || !pg->bar_shown) return;
    fputs("\r\033[K", pg->p.out);
    fflush(pg->p.out);
    pg->bar_shown = 0;
    pg->last_draw =
        sc_monotonic_seconds() - 1.0; /* redraw on the next update, below the caller's line */
}

void sc_progress_finish(sc_progress *pg, const char *status) {
    if (!pg || pg->mode == 3) return;
    double el = sc_monotonic_seconds() - pg->t0;
    if (el > 0) pg->rate = (double)pg->examples / el;
    draw(pg, status, 1);
}

double sc_progress_elapsed(const sc_progress *pg) {
    return pg ? sc_monotonic_seconds() - pg->t0 : 0;
}

void sc_progress_free(sc_progress *pg) {
    free(pg);
}

struct sc_metrics_log {
    FILE *f;
    char *path;
};

sc_status sc_metrics_open(const char *path, sc_metrics_log **out) {
    *out = NULL;
    sc_metrics_log *m = calloc(1, sizeof *m);
    if (!m) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    m->f = fopen(path, "a");
    if (!m->f) {
        int e = errno;
        free(m);
        return sc_set_error(SC_ERR_IO, "%s: cannot open metrics log: %s", path, strerror(e));
    }
    m->path = strdup(path);
    *out = m;
    return SC_OK;
}

sc_status sc_metrics_write(sc_metrics_log *m, int64_t step, int n, const char *const *keys,
                           const double *values) {
    if (!m || !m->f) return sc_set_error(SC_ERR_INVALID_ARG, "metrics log not open");
    fprintf(m->f, "{\"step\": %lld", (long long)step);
    for (int i = 0; i < n; i++) {
        /* Keys are program-chosen identifiers; JSON has no NaN/Inf, so write null. */
        if (isfinite(values[i]))
            fprintf(m->f, ", \"%s\": %.9g", keys[i], values[i]);
        else
            fprintf(m->f, ", \"%s\": null", keys[i]);
    }
    fputs("}\n", m->f);
    if (fflush(m->f) != 0 || ferror(m->f))
        return sc_set_error(SC_ERR_IO, "%s: write failed: %s", m->path, strerror(errno));
    return SC_OK;
}

sc_status sc_metrics_truncate(const char *path, int64_t max_step) {
    FILE *f = fopen(path, "r+");
    if (!f) {
        if (errno == ENOENT) return SC_OK;
        return sc_set_error(SC_ERR_IO, "%s: cannot open metrics log: %s", path, strerror(errno));
    }
    char *line = NULL;
    size_t cap = 0;
    off_t keep = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        long long step;
        /* sc_metrics_write's lines; a torn last line (no newline) goes */
        if (line[n - 1] != '\n' || sscanf(line, "{\"step\": %lld", &step) != 1 || step > max_step)
            break;
        keep += (off_t)n;
    }
    free(line);
    int bad = ferror(f) || ftruncate(fileno(f), keep) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) bad = 1, err = errno;
    if (bad)
        return sc_set_error(SC_ERR_IO, "%s: cannot cut metrics log back: %s", path, strerror(err));
    return SC_OK;
}

void sc_metrics_close(sc_metrics_log *m) {
    if (!m) return;
    if (m->f) fclose(m->f);
    free(m->path);
    free(m);
}
