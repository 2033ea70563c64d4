/* Memory, whole-file reads, atomic writes, thread count. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <link.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "sc_internal.h"
#include "saccade/sc_blas.h"

const char *sc_version(void) {
    return SC_VERSION_STRING;
}

void *sc_malloc(size_t bytes) {
    size_t rounded;
    if (bytes == 0) bytes = 1;
    if (sc_add_size(bytes, 63, &rounded)) {
        sc_set_error(SC_ERR_NOMEM, "allocation of %zu bytes overflows", bytes);
        return NULL;
    }
    rounded &= ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    if (!p) sc_set_error(SC_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *sc_calloc(size_t n, size_t size) {
    size_t bytes;
    if (sc_mul_size(n, size, &bytes)) {
        sc_set_error(SC_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", n, size);
        return NULL;
    }
    void *p = sc_malloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void sc_free(void *p) {
    free(p);
}

static const char *file_kind(mode_t m) {
    return S_ISCHR(m)    ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* Only regular files by name: a device such as /dev/zero never ends and a
 * FIFO may never be written to (it is opened non-blocking so that open()
 * does not wait for a writer). Standard input, as "-" or by a name such as
 * /dev/stdin, may also be a pipe or socket, read up to max_bytes. */
sc_status sc_read_file(const char *path, size_t max_bytes, unsigned char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return sc_set_error(SC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st, in;
    unsigned char *buf = NULL;
    FILE *f = NULL;
    sc_status s = SC_OK;
    if (fstat(fd, &st) != 0) {
        s = sc_set_error(SC_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        s = sc_set_error(SC_ERR_IO, "%s: is a directory", path);
        goto done;
    }
    int names_stdin = !is_stdin && fstat(STDIN_FILENO, &in) == 0 && in.st_dev == st.st_dev &&
                      in.st_ino == st.st_ino;
    int stream = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
    if (!is_stdin && !S_ISREG(st.st_mode) && !(names_stdin && stream)) {
        s = sc_set_error(SC_ERR_IO, "%s: is %s, not a regular file", path, file_kind(st.st_mode));
        goto done;
    }
    if (!is_stdin && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        s = sc_set_error(SC_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    size_t cap = 1 << 16, len = 0;
    if (S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > max_bytes) {
            s = sc_set_error(SC_ERR_LIMIT, "%s: file is %lld bytes, over the limit of %zu", path,
                             (long long)st.st_size, max_bytes);
            goto done;
        }
        cap = (size_t)st.st_size + 1; /* + 1: sees a file that grew, and the NUL */
    }
    /* stdio for standard input: the caller may have read from it already */
    f = is_stdin ? stdin : fdopen(fd, "rb");
    if (!f) {
        s = sc_set_error(SC_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    buf = malloc(cap);
    if (!buf) goto nomem;
    for (;;) {
        if (len + 1 >= cap) {
            if (len > max_bytes) {
                s = sc_set_error(SC_ERR_LIMIT, "%s: input over the limit of %zu bytes", path,
                                 max_bytes);
                goto done;
            }
            size_t ncap = SC_MIN(cap * 2, max_bytes + 2);
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) goto nomem;
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) break;
    }
    if (ferror(f)) {
        s = sc_set_error(SC_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        goto done;
    }
    if (len > max_bytes) {
        s = sc_set_error(SC_ERR_LIMIT, "%s: input over the limit of %zu bytes", path, max_bytes);
        goto done;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
    goto done;
nomem:
    s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory reading file", path);
done:
    free(buf);
    if (f && !is_stdin)
        fclose(f);
    else if (!is_stdin)
        close(fd);
    return s;
}

/* The folder part of path ("." for a bare name); NULL when out of memory. */
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) memcpy(d, path, n), d[n] = 0;
    return d;
}

/* A short unused name ".sc-tmpXXXXXX" in `folder` (short, so that an output
 * name near NAME_MAX still gets one), or NULL when out of memory. */
static char *short_tmp_template(const char *folder) {
    size_t n = strlen(folder);
    char *t = malloc(n + 16);
    if (t) snprintf(t, n + 16, "%s/.sc-tmpXXXXXX", folder);
    return t;
}

static void atomic_clear(sc_atomic_file *af) {
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

sc_status sc_atomic_begin(sc_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    if (!path || !*path) return sc_set_error(SC_ERR_INVALID_ARG, "empty output path");
    af->path = strdup(path);
    char *folder = folder_of(path);
    if (!af->path || !folder) {
        free(folder);
        atomic_clear(af);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    /* An unnamed file in the output's folder (linked in by sc_atomic_commit):
     * a killed process leaves nothing behind. File systems without O_TMPFILE
     * get a short hidden name instead, removed on failure. */
    int fd = open(folder, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        af->tmp_path = short_tmp_template(folder);
        if (!af->tmp_path) {
            free(folder);
            atomic_clear(af);
            return sc_set_error(SC_ERR_NOMEM, "out of memory");
        }
        fd = mkstemp(af->tmp_path);
        if (fd < 0) free(af->tmp_path), af->tmp_path = NULL;
    }
    free(folder);
    if (fd < 0) {
        int e = errno;
        atomic_clear(af);
        return sc_set_error(SC_ERR_IO, "%s: cannot create output: %s", path, strerror(e));
    }
    fchmod(fd, 0644); /* outputs are ordinary files, whatever the temporary's mode */
    af->fp = fdopen(fd, "wb");
    if (!af->fp) {
        close(fd);
        if (af->tmp_path) unlink(af->tmp_path);
        atomic_clear(af);
        return sc_set_error(SC_ERR_IO, "%s: cannot open output stream", path);
    }
    return SC_OK;
}

sc_status sc_atomic_write(sc_atomic_file *af, const void *data, size_t len) {
    if (!af->fp) return sc_set_error(SC_ERR_INVALID_ARG, "atomic file not open");
    if (af->failed) return SC_ERR_IO;
    if (len && fwrite(data, 1, len, af->fp) != len) {
        af->failed = 1;
        return sc_set_error(SC_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    }
    return SC_OK;
}

void sc_atomic_abort(sc_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    atomic_clear(af);
}

/* Give the unnamed file of fd the name path, replacing any file there: a new
 * name is linked directly; an existing one is replaced by linking a short
 * temporary name and renaming it over (rename is atomic, link is not). */
static int link_unnamed(int fd, const char *path) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0) return 0;
    if (errno != EEXIST) return -1;
    char *folder = folder_of(path), *tmp = folder ? short_tmp_template(folder) : NULL;
    free(folder);
    if (!tmp) {
        errno = ENOMEM;
        return -1;
    }
    size_t n = strlen(tmp);
    int rc = -1;
    for (unsigned tries = 0; tries < 100 && rc != 0; tries++) {
        /* a fresh random suffix per try; a taken name is retried */
        static _Thread_local uint64_t calls;
        uint64_t r = ((uint64_t)getpid() << 32) ^ (++calls << 16) ^ (uint64_t)(uintptr_t)&r;
        r *= 0x9E3779B97F4A7C15ULL;
        r ^= r >> 29;
        for (int i = 0; i < 6; i++, r >>= 6)
            tmp[n - 6 + i] =
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"[r & 63];
        rc = linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW);
        if (rc != 0 && errno != EEXIST) break;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        rc = -1;
    }
    free(tmp);
    return rc;
}

static sc_status atomic_commit(sc_atomic_file *af, int sync) {
    if (!af->fp) return sc_set_error(SC_ERR_INVALID_ARG, "atomic file not open");
    if (af->failed) {
        sc_atomic_abort(af);
        return SC_ERR_IO;
    }
    int bad = fflush(af->fp) != 0 || (sync && fsync(fileno(af->fp)) != 0);
    int e = errno;
    if (!bad) {
        bad = af->tmp_path ? rename(af->tmp_path, af->path) != 0
                           : link_unnamed(fileno(af->fp), af->path) != 0;
        if (bad) {
            sc_set_error(SC_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
            sc_atomic_abort(af);
            return SC_ERR_IO;
        }
        free(af->tmp_path), af->tmp_path = NULL; /* now the output's own name */
    }
    bad |= fclose(af->fp) != 0;
    af->fp = NULL;
    if (bad) {
        sc_set_error(SC_ERR_IO, "%s: write failed: %s", af->path, strerror(e));
        sc_atomic_abort(af);
        return SC_ERR_IO;
    }
    atomic_clear(af);
    return SC_OK;
}

sc_status sc_atomic_commit(sc_atomic_file *af) {
    return atomic_commit(af, 1);
}

static sc_status write_file_atomic(const char *path, const void *data, size_t len, int sync) {
    sc_atomic_file af;
    sc_status s = sc_atomic_begin(&af, path);
    if (s) return s;
    if ((s = sc_atomic_write(&af, data, len))) {
        sc_atomic_abort(&af);
        return s;
    }
    return atomic_commit(&af, sync);
}

sc_status sc_write_file_atomic(const char *path, const void *data, size_t len) {
    return write_file_atomic(path, data, len, 1);
}

sc_status sc_write_file_atomic_nosync(const char *path, const void *data, size_t len) {
    return write_file_atomic(path, data, len, 0);
}

/* Where the shipped assets are, set by CMakeLists.txt: the source tree's
 * assets/ and the build folder (the source tree is used only by code running
 * from the build folder itself), the install folder relative to the installed
 * library and program (so a moved prefix still works), and the absolute
 * install folder (for programs linked statically anywhere else). */
#ifndef SC_SOURCE_ASSETS
#define SC_SOURCE_ASSETS ""
#endif
#ifndef SC_BUILD_DIR
#define SC_BUILD_DIR ""
#endif
#ifndef SC_LIBDIR_TO_ASSETS
#define SC_LIBDIR_TO_ASSETS ""
#endif
#ifndef SC_BINDIR_TO_ASSETS
#define SC_BINDIR_TO_ASSETS ""
#endif
#ifndef SC_INSTALL_ASSETS
#define SC_INSTALL_ASSETS ""
#endif

/* The folder of the file holding this code: the shared library, or the program
 * it is linked into statically (dladdr names a program by its argv[0], so
 * /proc/self/exe instead). *is_program tells which. Symlinks are resolved. */
static int sc_own_dir(char *out, size_t cap, int *is_program) {
    Dl_info info;
    struct link_map *map = NULL;
    if (!dladdr1((void *)&sc_find_asset, &info, (void **)&map, RTLD_DL_LINKMAP) || !map) return -1;
    *is_program = !map->l_name || !map->l_name[0];
    char *real = *is_program ? realpath("/proc/self/exe", NULL)
                             : (info.dli_fname ? realpath(info.dli_fname, NULL) : NULL);
    if (!real) return -1;
    char *slash = strrchr(real, '/');
    int ok = slash && (size_t)(slash - real) < cap;
    if (ok) {
        memcpy(out, real, (size_t)(slash - real));
        out[slash - real] = '\0';
    }
    free(real);
    return ok ? 0 : -1;
}

static int sc_same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return *a && *b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

sc_status sc_find_asset(const char *relpath, char *out, size_t cap) {
    if (!relpath || !out || cap == 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_find_asset: relpath and out are required");
    char own[4096], installed[4096 + 256];
    int is_program = 0;
    const char *dirs[4] = {getenv("SACCADE_ASSETS"), NULL, NULL, SC_INSTALL_ASSETS};
    if (sc_own_dir(own, sizeof own, &is_program) == 0) {
        if (sc_same_dir(own, SC_BUILD_DIR)) dirs[1] = SC_SOURCE_ASSETS;
        const char *rel = is_program ? SC_BINDIR_TO_ASSETS : SC_LIBDIR_TO_ASSETS;
        int n = snprintf(installed, sizeof installed, "%s/%s", own, rel);
        if (*rel && n > 0 && (size_t)n < sizeof installed) {
            dirs[2] = installed;
            char *real = realpath(installed, NULL); /* without the bin/.. in messages */
            if (real && strlen(real) < sizeof installed) strcpy(installed, real);
            free(real);
        }
    }
    char tried[3 * 4096] = "";
    size_t used = 0;
    for (int i = 0; i < 4; i++) {
        if (!dirs[i] || !*dirs[i]) continue;
        int n = snprintf(out, cap, "%s/%s", dirs[i], relpath);
        if (n < 0 || (size_t)n >= cap) continue;
        if (access(out, R_OK) == 0) return SC_OK;
        n = snprintf(tried + used, sizeof tried - used, ", %s", dirs[i]);
        if (n > 0 && (size_t)n < sizeof tried - used) used += (size_t)n;
    }
    return sc_set_error(SC_ERR_IO, "asset %s not found (looked in $SACCADE_ASSETS%s)", relpath,
                        tried);
}

double sc_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sc_process_setup(char **argv) {
#ifdef __GLIBC__
    /* Kernels take scratch of a few MB per call (attention backward, conv
     * workspaces): keep such blocks on the heap and the heap's pages mapped,
     * instead of an mmap, page faults and munmap on every call */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    const char *no = getenv("SACCADE_NO_REEXEC");
    if (!argv || getenv("OMP_WAIT_POLICY") || (no && *no && strcmp(no, "0") != 0)) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on in this process (spinning threads are only slower) */
}

static int sc_threads = 0;

void sc_blas_set_threads_internal(int n); /* blas.c */

static int online_cores(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 && c < 1000000 ? (int)c : 1;
}

int sc_max_num_threads(void) {
    /* More threads than a few per core only adds switching; thousands make
     * libgomp abort ("Thread creation failed") instead of returning. The floor
     * keeps a fixed count (results depend on it) usable on small machines. */
    int cap = 4 * online_cores();
    return cap < 64 ? 64 : cap;
}

sc_status sc_set_num_threads(int n) {
    if (n <= 0) n = online_cores();
    if (n > sc_max_num_threads())
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%d threads is too many: at most %d (4 per core, at least 64)", n,
                            sc_max_num_threads());
    sc_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    sc_blas_set_threads_internal(n);
    return SC_OK;
}

int sc_get_num_threads(void) {
    if (sc_threads > 0) return sc_threads;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

sc_status sc_check_finite_images(const char *what, const float *x, size_t n, int c, int h, int w) {
    size_t plane = (size_t)h * (size_t)w, per = plane * (size_t)c;
    for (size_t i = 0; i < n * per; i++) {
        if (isfinite(x[i])) continue;
        size_t img = i / per, ch = i % per / plane, y = i % plane / (size_t)w, xx = i % (size_t)w;
        char which[48] = "";
        if (n > 1) snprintf(which, sizeof which, " of image %zu", img);
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: pixel (%zu, %zu) of channel %zu%s is %s", what,
                            xx, y, ch, which, isnan(x[i]) ? "NaN" : "infinite");
    }
    return SC_OK;
}

/* Length of the valid UTF-8 sequence at s (avail bytes there), or 0 with *bad
 * set to the length of its maximal invalid subpart (at least 1): the longest
 * start of a valid sequence, whose second byte's range excludes overlong
 * forms, surrogates and code points past U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t avail, size_t *bad) {
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t k = 1;
    for (; k < n && k < avail; k++) {
        unsigned b = s[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
    }
    if (k == n) return n;
    *bad = k;
    return 0;
}

size_t sc_utf8_valid_prefix(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < len) {
        size_t n = utf8_sequence(u + i, len - i, &bad);
        if (!n) return i;
        i += n;
    }
    return len;
}

char *sc_utf8_sanitize(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t cap;
    /* U+FFFD is 3 bytes and replaces at least one */
    if (sc_mul_size(len, 3, &cap) || sc_add_size(cap, 1, &cap)) {
        sc_set_error(SC_ERR_NOMEM, "text of %zu bytes is too long", len);
        return NULL;
    }
    char *out = malloc(cap);
    if (!out) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return NULL;
    }
    size_t i = 0, o = 0, bad;
    while (i < len) {
        size_t n = utf8_sequence(u + i, len - i, &bad);
        if (n) {
            memcpy(out + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += bad;
        }
    }
    out[o] = 0;
    return out;
}

/* ---------------------------------------------------------------- UTF-8 */
/* Strict UTF-8 (as Python's decoder): no overlong forms, surrogates or code
 * points past U+10FFFF. Returns the sequence length at s (1-4), 0 if invalid. */
int sc_utf8_next(const unsigned char *s, size_t avail, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int n;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if ((size_t)n > avail) return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

size_t sc_utf8_put(uint32_t cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
