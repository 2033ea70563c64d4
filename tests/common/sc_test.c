#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sc_test.h"
#include "saccade/sc_rng.h"

const char *sc_test_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("environment variable %s is not set (run the tests through ctest)", name);
    return v;
}

char *sc_test_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

char *sc_test_source_path(const char *relpath) {
    return sc_test_join(sc_test_env("SACCADE_SOURCE_DIR"), relpath);
}

char *sc_test_tmpdir(const char *tag) {
    char *base = sc_test_join(sc_test_env("SACCADE_BUILD_DIR"), "testtmp");
    mkdir(base, 0755);
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/%s.XXXXXX", base, tag);
    free(base);
    char *d = mkdtemp(tmpl);
    if (!d) fail_msg("mkdtemp failed: %s", strerror(errno));
    return strdup(d);
}

void sc_test_rmtree(const char *dir) {
    if (dir && *dir) sc_test_system("chmod -R u+w '%s' 2>/dev/null; rm -rf '%s'", dir, dir);
}

int sc_test_system(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    int rc = system(cmd);
    if (rc == -1) return -1;
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

void sc_test_python(const char *script, const char *args_fmt, ...) {
    char args[6144];
    va_list ap;
    va_start(ap, args_fmt);
    vsnprintf(args, sizeof args, args_fmt, ap);
    va_end(ap);
    const char *py = sc_test_env("SACCADE_PYTHON");
    const char *src = sc_test_env("SACCADE_SOURCE_DIR");
    int rc = sc_test_system("'%s' '%s/tools/ref/%s' %s", py, src, script, args);
    if (rc != 0) fail_msg("reference script %s %s exited with %d", script, args, rc);
}

sc_npy sc_test_npy(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.npy", dir, name);
    sc_npy a;
    if (sc_npy_read(path, &a) != SC_OK) fail_msg("cannot read %s: %s", path, sc_last_error());
    return a;
}

double sc_test_assert_close(const char *what, const float *a, const float *b, size_t n, double rtol,
                            double atol) {
    double worst_rel = 0, worst_excess = 0;
    size_t worst = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double tol = atol + rtol * fabs((double)b[i]);
        double rel = d / (fabs((double)b[i]) + 1e-30);
        if (!(d <= tol)) { /* catches NaN too */
            bad++;
            if (!(d - tol <= worst_excess)) {
                worst_excess = d - tol;
                worst = i;
            }
        }
        if (d > atol && rel > worst_rel) worst_rel = rel;
    }
    if (bad)
        fail_msg(
            "%s: %d of %zu values differ; worst at [%zu]: got %.9g expected %.9g (rtol %g atol %g)",
            what, bad, n, worst, (double)a[worst], (double)b[worst], rtol, atol);
    return worst_rel;
}

void sc_test_gradcheck(const char *what, double (*loss)(void *ctx), void *ctx, float *param,
                       const float *grad, size_t n, int max_checks, double eps, double rtol,
                       double atol) {
    if (n == 0) return;
    size_t checks = (size_t)max_checks < n ? (size_t)max_checks : n;
    size_t step = n / checks;
    int bad = 0;
    char first[512] = "";
    for (size_t k = 0; k < checks; k++) {
        size_t i = k * step + (k * 7919) % (step ? step : 1);
        if (i >= n) i = n - 1;
        float orig = param[i];
        param[i] = (float)(orig + eps);
        double lp = loss(ctx);
        param[i] = (float)(orig - eps);
        double lm = loss(ctx);
        param[i] = orig;
        double fd = (lp - lm) / (2 * eps);
        double g = grad[i];
        double tol = atol + rtol * fmax(fabs(fd), fabs(g));
        if (!(fabs(fd - g) <= tol)) {
            if (!bad)
                snprintf(first, sizeof first, "[%zu]: analytic %.8g, finite difference %.8g", i, g,
                         fd);
            bad++;
        }
    }
    loss(ctx); /* leave the forward state as it was */
    if (bad) fail_msg("%s gradcheck: %d of %zu elements off; first %s", what, bad, checks, first);
}

void sc_test_fill_uniform(float *x, size_t n, float lo, float hi, uint64_t seed) {
    sc_rng r;
    sc_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * sc_rng_uniform(&r);
}

char *sc_test_reference(const char *tag, const char *script, const char *extra) {
    char *dir = sc_test_tmpdir(tag);
    sc_test_python(script, "'%s' %s", dir, extra ? extra : "");
    return dir;
}

void sc_test_reference_free(char **dir) {
    if (!*dir) return;
    sc_test_rmtree(*dir);
    free(*dir);
    *dir = NULL;
}

const char *sc_test_source_arg(void) {
    static char buf[4200];
    snprintf(buf, sizeof buf, "'%s'", sc_test_env("SACCADE_SOURCE_DIR"));
    return buf;
}

sc_npy sc_test_case_npy(const char *dir, const char *case_, const char *name) {
    char buf[300];
    snprintf(buf, sizeof buf, "%.100s/%.100s", case_, name);
    return sc_test_npy(dir, buf);
}

double sc_test_check_rel(const char *what, const float *a, const float *b, size_t n, double tol) {
    double num = 0, den = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]), r = fabs((double)b[i]);
        num = d > num ? d : num;
        den = r > den ? r : den;
    }
    const double e = num / den;
    printf("  %-44s rel err %.2e\n", what, e);
    if (!(e <= tol)) fail_msg("%s: relative error %.3e > %.0e", what, e, tol);
    return e;
}

void sc_test_gradcam_maps(const float *attn, const float *grad, int n, int layers, int layer, int H,
                          int G, float *out) {
    const int Ti = 1 + G * G;
    memset(out, 0, (size_t)n * G * G * sizeof(float));
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < G * G; j++) {
                size_t o = (((size_t)t * layers + layer) * H + h) * Ti + 1 + j;
                float d = grad[o];
                out[(size_t)t * G * G + j] += attn[o] * (d > 0 ? d : 0.0f) / H;
            }
}

float *sc_test_random(size_t n, float lo, float hi, uint64_t seed) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    assert_non_null(p);
    sc_test_fill_uniform(p, n, lo, hi, seed);
    return p;
}

float *sc_test_zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    assert_non_null(p);
    return p;
}

double sc_test_dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

void sc_test_close_to_npy(const char *what, const float *a, const sc_npy *ref, double rtol,
                          double atol) {
    size_t n = 1;
    for (int i = 0; i < ref->ndim; i++) n *= (size_t)ref->shape[i];
    sc_test_assert_close(what, a, ref->data, n, rtol, atol);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs((double)a[i] - ref->data[i]));
        scale = fmax(scale, fabs((double)ref->data[i]));
    }
    printf("  %-48s max |err| %.2e (max |ref| %.2e)\n", what, worst, scale);
}

long sc_test_mapping_rss_kb(const void *p) {
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int inside = 0;
    long rss = -1;
    while (rss < 0 && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's first line */
            inside = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (inside && sscanf(line, "Rss: %ld kB", &rss) == 1)
            break;
    }
    fclose(f);
    if (rss < 0) fail_msg("no mapping holds %p", p);
    return rss;
}
