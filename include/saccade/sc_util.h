/* saccade: memory, files and threads shared by every module. */
#ifndef SACCADE_SC_UTIL_H
#define SACCADE_SC_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_VERSION_STRING "0.1.0"
const char *sc_version(void);

/* 64-byte aligned allocation (SIMD and cache-line friendly). Failure sets
 * SC_ERR_NOMEM and returns NULL. Free with sc_free (NULL is fine). */
void *sc_malloc(size_t bytes);
void *sc_calloc(size_t n, size_t size);
void sc_free(void *p);

/* Read a whole file, or standard input when path is "-", into a buffer the
 * caller frees with free(). Fails with SC_ERR_LIMIT beyond max_bytes and names
 * the path in the message. A NUL is appended (not counted in out_len). */
sc_status sc_read_file(const char *path, size_t max_bytes, unsigned char **out, size_t *out_len);

/* Atomic file output: data goes to an unnamed file (O_TMPFILE) in path's
 * folder and gets its name only in sc_atomic_commit, so a failure or a kill
 * never leaves a partial or temporary file, and any name the folder accepts
 * works. Where O_TMPFILE is unsupported, a short hidden name ".sc-tmpXXXXXX"
 * is used and renamed over path; sc_atomic_abort (or any failed call)
 * removes it. */
typedef struct sc_atomic_file {
    FILE *fp;
    char *tmp_path; /* the fallback's temporary name; NULL with O_TMPFILE */
    char *path;
    int failed;
} sc_atomic_file;
sc_status sc_atomic_begin(sc_atomic_file *af, const char *path);
sc_status sc_atomic_write(sc_atomic_file *af, const void *data, size_t len);
sc_status sc_atomic_commit(sc_atomic_file *af);
void sc_atomic_abort(sc_atomic_file *af);
/* One-shot: write a whole buffer atomically. */
sc_status sc_write_file_atomic(const char *path, const void *data, size_t len);

/* UTF-8 for text outputs (JSON, HTML) that must be valid UTF-8 whatever a
 * file name holds. Valid means no overlong forms, surrogates or code points
 * past U+10FFFF (NUL is valid). sc_utf8_valid_prefix: the length of the
 * longest valid prefix of s[0..len) (len when all of it is valid).
 * sc_utf8_sanitize: a malloc'd, NUL-terminated copy with each maximal invalid
 * subpart replaced by U+FFFD, as Python's bytes.decode("utf-8", "replace")
 * does (NULL with SC_ERR_NOMEM). */
size_t sc_utf8_valid_prefix(const char *s, size_t len);
char *sc_utf8_sanitize(const char *s, size_t len);

/* Locate a shipped asset (e.g. "fonts/DejaVuSans.ttf", "models/x.safetensors"):
 * $SACCADE_ASSETS; for code running from its CMake build folder, the source
 * tree's assets/; then the installed share/saccade/ relative to the library's
 * own folder (or the program's, when linked statically), so an installed
 * prefix can be moved; then the configured install folder. Writes the first
 * existing path into out. */
sc_status sc_find_asset(const char *relpath, char *out, size_t cap);

/* Process set-up for programs (the CLI calls it first thing in main):
 * libgomp's idle OpenMP threads spin by default and take the cores that
 * OpenBLAS's own threads need, slowing every matrix product that follows an
 * OpenMP loop several times over. libgomp reads OMP_WAIT_POLICY only when it
 * is loaded, so if the variable is unset this sets it to PASSIVE and
 * re-executes the program (/proc/self/exe, same argv) once. A value the user
 * set is respected; SACCADE_NO_REEXEC=1 turns this off. Returns only if no
 * re-exec happened (or it failed, which is harmless). With glibc it also
 * keeps blocks under 32 MB on the heap and up to 256 MB of freed heap mapped
 * (mallopt), so that the kernels' per-call scratch does not page-fault. */
void sc_process_setup(char **argv);

/* Threads used by saccade's own loops and by OpenBLAS. n <= 0 means all
 * cores. Results are deterministic for a fixed thread count. More than
 * sc_max_num_threads() is SC_ERR_INVALID_ARG. */
sc_status sc_set_num_threads(int n);
/* The most threads sc_set_num_threads accepts: 4 per online core, at least 64. */
int sc_max_num_threads(void);
int sc_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
