/* saccade: the static HTML caption gallery (see sc_caption_render.h): listing
 * pages, one page per image with its attention maps (drawn by the browser from
 * 8-bit grids in the page), thumbnails, and a search index loaded on demand. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "saccade/sc_caption_render.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

/* ================================================================ text buffer */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + len + 1) {
            if (cap > ((size_t)-1) / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) {
    sb_put(b, s, strlen(s));
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        b->oom = 1; /* only short formatted pieces go through here */
        return;
    }
    sb_put(b, tmp, (size_t)k);
}

/* HTML text and attribute values: & < > " ' escaped; control characters
 * other than tab/newline dropped. */
static void sb_html(sbuf *b, const char *s) {
    for (const unsigned char *q = (const unsigned char *)(s ? s : ""); *q; q++) {
        switch (*q) {
        case '&':
            sb_puts(b, "&amp;");
            break;
        case '<':
            sb_puts(b, "&lt;");
            break;
        case '>':
            sb_puts(b, "&gt;");
            break;
        case '"':
            sb_puts(b, "&quot;");
            break;
        case '\'':
            sb_puts(b, "&#39;");
            break;
        default:
            if (*q < 0x20 && *q != '\t' && *q != '\n') break;
            if (*q == 0x7f) break;
            sb_put(b, (const char *)q, 1);
        }
    }
}

/* A relative URL path segment: unreserved bytes kept, the rest %XX. */
static void sb_url(sbuf *b, const char *s) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        int c = *q;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            char ch = (char)c;
            sb_put(b, &ch, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            sb_put(b, e, 3);
        }
    }
}

/* Bytes as lower-case hex, two digits each. */
static void sb_hex(sbuf *b, const unsigned char *v, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        const char h[2] = {hex[v[i] >> 4], hex[v[i] & 15]};
        sb_put(b, h, 2);
    }
}

/* A hex digit's value, -1 for anything else. */
static int hex_digit(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A JSON string (quotes included): " \ and control bytes escaped; '<' too,
 * so the text can never close a script element. */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)(s ? s : ""); *q; q++) {
        if (*q == '"' || *q == '\\') {
            char e[2] = {'\\', (char)*q};
            sb_put(b, e, 2);
        } else if (*q < 0x20 || *q == '<' || *q == 0x7f) {
            sb_printf(b, "\\u%04x", *q);
        } else {
            sb_put(b, (const char *)q, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ================================================================ state */
typedef struct gentry {
    char *name, *url, *label, *caption; /* url: name percent-encoded */
    char **words;                       /* [n] */
    float *lp;                          /* [n] */
    int n, has_lp;
    double score;
    int tw, th;         /* thumbnail size */
    int grid;           /* side of each attention map, 0: no maps */
    unsigned char *att; /* [n, grid, grid] each map min-max scaled to 0..255; NULL
                           without maps or, in a live gallery, once the page is final */
} gentry;

typedef struct gfail {
    char *label, *reason;
} gfail;

/* A thumbnail waiting to be encoded and written by the gallery's writer
 * thread. */
typedef struct thumb_job {
    sc_image img; /* owned, already at thumbnail size */
    char *path;   /* owned */
    struct thumb_job *next;
} thumb_job;

enum { THUMB_QUEUE_MAX = 32 }; /* thumbnails in flight: bounds the memory held */

/* Thumbnails are encoded and written on a thread of their own, so that a
 * caller captioning on every core does not wait for the encoder and the file
 * system between images. Pages that link thumbnails are written only after
 * the queue is drained (thumbs_drain), so a stopped run still leaves no link
 * to a missing file. */
typedef struct thumb_writer {
    pthread_mutex_t mu;
    pthread_cond_t has_job, job_done;
    pthread_t thread;
    int started, stop;
    thumb_job *head, *tail;
    int pending;       /* jobs queued or being written */
    sc_status err;     /* first failure, reported by the next call */
    char err_msg[512]; /* its message */
} thumb_writer;

struct sc_gallery {
    char *dir, *title, *subtitle;
    sc_gallery_params p; /* title / subtitle point at the copies above */
    gentry *e;           /* [n] captioned images in the order added */
    int n, cap;
    gfail *f; /* [nf] failures */
    int nf, fcap;
    int *slots; /* [nslots] name hash table: entry index + 1, 0 empty */
    size_t nslots;
    int items_written;  /* item pages 0..items_written-1 are on disk */
    int static_written; /* gallery.css, gallery.js, marker */
    int search_written; /* entries in the search.js on disk */
    int failed_written; /* failures on the failed.html on disk */
    double live_at;     /* monotonic seconds of the last live write */
    thumb_writer tw;
};

sc_gallery_params sc_gallery_default_params(void) {
    sc_gallery_params p;
    p.title = "saccade captions";
    p.subtitle = NULL;
    p.thumb = 160;
    p.page_size = 100;
    p.quality = 80;
    p.figure = sc_attention_grid_default_params();
    p.figure.panel = 64;
    p.figure.cols = 10;
    p.live = 1;
    return p;
}

static double mono_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *dupstr(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* dir + "/" + rel (malloc'ed, NULL when out of memory). */
static char *gpath(const sc_gallery *g, const char *rel) {
    size_t n = strlen(g->dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", g->dir, rel);
    return p;
}

static sc_status make_dir(const char *path) {
    if (mkdir(path, 0777) == 0) return SC_OK;
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return SC_OK;
    return sc_set_error(SC_ERR_IO, "gallery: cannot create directory %s: %s", path,
                        errno == EEXIST ? "a file of that name exists" : strerror(errno));
}

/* Write rel inside the gallery from a text buffer (freed). Gallery files are
 * written without a sync each: thousands of small files, each cheap to make
 * again, would otherwise cost more in syncs than in making them. */
static sc_status write_buf(const sc_gallery *g, const char *rel, sbuf *b) {
    sc_status s;
    char *path = gpath(g, rel);
    if (b->oom || !path)
        s = sc_set_error(SC_ERR_NOMEM, "gallery: out of memory writing %s", rel);
    else
        s = sc_write_file_atomic_nosync(path, b->p ? b->p : "", b->n);
    free(path);
    free(b->p);
    memset(b, 0, sizeof *b);
    return s;
}

static void entry_free(gentry *e) {
    free(e->name);
    free(e->url);
    free(e->label);
    free(e->caption);
    if (e->words)
        for (int i = 0; i < e->n; i++) free(e->words[i]);
    free(e->words);
    free(e->lp);
    free(e->att);
}

static void thumbs_stop(sc_gallery *g);

void sc_gallery_free(sc_gallery *g) {
    if (!g) return;
    thumbs_stop(g);
    for (int i = 0; i < g->n; i++) entry_free(&g->e[i]);
    for (int i = 0; i < g->nf; i++) {
        free(g->f[i].label);
        free(g->f[i].reason);
    }
    free(g->e);
    free(g->f);
    free(g->slots);
    free(g->dir);
    free(g->title);
    free(g->subtitle);
    free(g);
}

int sc_gallery_is_dir(const char *dir) {
    if (!dir) return 0;
    size_t n = strlen(dir) + sizeof SC_GALLERY_MARKER + 1;
    char *p = malloc(n);
    if (!p) return 0;
    snprintf(p, n, "%s/%s", dir, SC_GALLERY_MARKER);
    struct stat st;
    int yes = stat(p, &st) == 0 && S_ISREG(st.st_mode);
    free(p);
    return yes;
}

sc_status sc_gallery_open(const char *dir, const sc_gallery_params *p, sc_gallery **out) {
    const char *fn = "sc_gallery_open";
    sc_gallery_params def = sc_gallery_default_params();
    if (!p) p = &def;
    if (out) *out = NULL;
    if (!dir || !dir[0] || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL or empty argument", fn);
    const sc_attention_grid_params *f = &p->figure;
    if (p->thumb < 16 || p->thumb > 4096 || p->page_size < 1 || p->page_size > 100000 ||
        p->quality < 1 || p->quality > 100 || f->panel < 16 || f->panel > 2048 || f->cols < 1 ||
        !(f->alpha >= 0 && f->alpha <= 1) || !(f->font_px >= 0 && f->font_px <= 200) ||
        !sc_colormap_table(f->colormap))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: bad params (thumb %d in 16..4096, page_size %d in 1..100000, "
                            "quality %d in 1..100, figure panel %d in 16..2048, cols %d >= 1, "
                            "alpha in [0, 1], font_px in [0, 200], a known colormap)",
                            fn, p->thumb, p->page_size, p->quality, f->panel, f->cols);
    sc_gallery *g = calloc(1, sizeof *g);
    if (!g) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    g->p = *p;
    g->dir = dupstr(dir);
    g->title = dupstr(p->title ? p->title : "saccade captions");
    g->subtitle = p->subtitle ? dupstr(p->subtitle) : NULL;
    g->p.title = g->title;
    g->p.subtitle = g->subtitle;
    if (!g->dir || !g->title || (p->subtitle && !g->subtitle)) {
        sc_gallery_free(g);
        return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    }
    sc_status s = make_dir(dir);
    const char *subs[2] = {"images", "items"};
    for (int i = 0; i < 2 && !s; i++) {
        char *sub = gpath(g, subs[i]);
        s = sub ? make_dir(sub) : sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        free(sub);
    }
    /* The marker first: a run stopped half-way still leaves a folder that
     * image walks skip. */
    if (!s) {
        sbuf b = {0};
        sb_puts(&b, "saccade caption gallery: saccade skips this folder when it searches "
                    "folders for images.\n");
        s = write_buf(g, SC_GALLERY_MARKER, &b);
    }
    if (s) {
        sc_gallery_free(g);
        return s;
    }
    g->live_at = mono_seconds();
    *out = g;
    return SC_OK;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The slot of name in the table: its entry, or the empty slot to use. */
static int *name_slot(const sc_gallery *g, const char *name) {
    size_t mask = g->nslots - 1, i = (size_t)hash_name(name) & mask;
    while (g->slots[i] && strcmp(g->e[g->slots[i] - 1].name, name)) i = (i + 1) & mask;
    return &g->slots[i];
}

/* Keep the table at most half full (room for one more entry). */
static sc_status grow_names(sc_gallery *g) {
    if (2 * ((size_t)g->n + 1) <= g->nslots) return SC_OK;
    size_t ns = g->nslots ? 2 * g->nslots : 64;
    int *old = g->slots;
    size_t oldn = g->nslots;
    g->slots = calloc(ns, sizeof *g->slots);
    if (!g->slots) {
        g->slots = old;
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add: out of memory");
    }
    g->nslots = ns;
    for (size_t i = 0; i < oldn; i++)
        if (old[i]) *name_slot(g, g->e[old[i] - 1].name) = old[i];
    free(old);
    return SC_OK;
}

static sc_status save_jpeg(const sc_image *img, int quality, const char *path) {
    unsigned char *jpg = NULL;
    size_t n = 0;
    sc_status s = sc_image_encode_jpeg(img, quality, &jpg, &n);
    if (!s) s = sc_write_file_atomic_nosync(path, jpg, n);
    free(jpg);
    return s;
}

/* The thumbnail of img: at most thumb pixels on its longer side, a copy when
 * already that small. */
static sc_status make_thumb(const sc_image *img, int thumb, sc_image *out) {
    int big = img->w > img->h ? img->w : img->h;
    if (big <= thumb) return sc_image_copy(img, out);
    int w = (int)fmax(1.0, floor((double)img->w * thumb / big + 0.5));
    int h = (int)fmax(1.0, floor((double)img->h * thumb / big + 0.5));
    return sc_image_resize(img, w, h, SC_FILTER_TRIANGLE, out);
}

static void *thumb_main(void *arg) {
    sc_gallery *g = arg;
    thumb_writer *t = &g->tw;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->head && !t->stop) pthread_cond_wait(&t->has_job, &t->mu);
        thumb_job *j = t->head;
        if (!j) break; /* stopped with nothing left */
        t->head = j->next;
        if (!t->head) t->tail = NULL;
        pthread_mutex_unlock(&t->mu);
        sc_status s = save_jpeg(&j->img, g->p.quality, j->path); /* drops an alpha channel */
        pthread_mutex_lock(&t->mu);
        if (s && !t->err) {
            t->err = s;
            snprintf(t->err_msg, sizeof t->err_msg, "%s", sc_last_error());
        }
        t->pending--;
        pthread_cond_broadcast(&t->job_done);
        sc_image_free(&j->img);
        free(j->path);
        free(j);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* The writer's first failure as this thread's error (SC_OK when none). */
static sc_status thumbs_error(thumb_writer *t) {
    return t->err ? sc_set_error(t->err, "%s", t->err_msg) : SC_OK;
}

/* Queue img (owned from here on) for path; waits while the queue is full. */
static sc_status thumbs_put(sc_gallery *g, sc_image *img, char *path) {
    thumb_writer *t = &g->tw;
    thumb_job *j = malloc(sizeof *j);
    if (!j) {
        sc_image_free(img);
        free(path);
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add: out of memory");
    }
    j->img = *img;
    j->path = path;
    j->next = NULL;
    if (!t->started) {
        pthread_mutex_init(&t->mu, NULL);
        pthread_cond_init(&t->has_job, NULL);
        pthread_cond_init(&t->job_done, NULL);
        if (pthread_create(&t->thread, NULL, thumb_main, g) != 0) {
            pthread_cond_destroy(&t->job_done);
            pthread_cond_destroy(&t->has_job);
            pthread_mutex_destroy(&t->mu);
            sc_image_free(&j->img);
            free(j->path);
            free(j);
            return sc_set_error(SC_ERR_IO, "sc_gallery_add: cannot start the thumbnail writer");
        }
        t->started = 1;
    }
    pthread_mutex_lock(&t->mu);
    while (t->pending >= THUMB_QUEUE_MAX) pthread_cond_wait(&t->job_done, &t->mu);
    sc_status s = thumbs_error(t);
    if (s) { /* an earlier thumbnail failed: this image is not added, nor its file */
        pthread_mutex_unlock(&t->mu);
        sc_image_free(&j->img);
        free(j->path);
        free(j);
        return s;
    }
    if (t->tail)
        t->tail->next = j;
    else
        t->head = j;
    t->tail = j;
    t->pending++;
    pthread_cond_signal(&t->has_job);
    pthread_mutex_unlock(&t->mu);
    return SC_OK;
}

/* Wait until every queued thumbnail is on disk; the writer's first failure,
 * if any. */
static sc_status thumbs_drain(sc_gallery *g) {
    thumb_writer *t = &g->tw;
    if (!t->started) return SC_OK;
    pthread_mutex_lock(&t->mu);
    while (t->pending > 0) pthread_cond_wait(&t->job_done, &t->mu);
    sc_status s = thumbs_error(t);
    pthread_mutex_unlock(&t->mu);
    return s;
}

static void thumbs_stop(sc_gallery *g) {
    thumb_writer *t = &g->tw;
    if (!t->started) return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->has_job);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->job_done);
    pthread_cond_destroy(&t->has_job);
    pthread_mutex_destroy(&t->mu);
    t->started = 0;
}

/* images/<url>.jpg, items/<url>.html relative to the gallery (the file name
 * itself is the raw name). */
static char *entry_file(const sc_gallery *g, const char *folder, const char *name,
                        const char *ext) {
    size_t n = strlen(g->dir) + strlen(folder) + strlen(name) + strlen(ext) + 3;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s/%s%s", g->dir, folder, name, ext);
    return p;
}

/* Each of the n grid x grid maps min-max scaled to 0..255 (a constant map,
 * NaN and infinite values give 0): the browser upsamples, smooths and
 * normalises again, which min-max scaling first does not change (both are
 * affine in the map), so only the rounding to 8 bits is lost. */
static void quantize_maps(const float *alphas, int n, int grid, unsigned char *out) {
    const size_t P = (size_t)grid * grid;
    for (int t = 0; t < n; t++) {
        const float *a = alphas + (size_t)t * P;
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < P; i++)
            if (isfinite(a[i])) {
                if (a[i] < lo) lo = a[i];
                if (a[i] > hi) hi = a[i];
            }
        const double scale = hi > lo ? 255.0 / ((double)hi - lo) : 0.0;
        for (size_t i = 0; i < P; i++)
            out[(size_t)t * P + i] =
                isfinite(a[i]) ? (unsigned char)floor(((double)a[i] - lo) * scale + 0.5) : 0;
    }
}

/* Check it and fill g->e[g->n] with its record (no files; the caller
 * commits it with entry_commit or frees it). */
static sc_status entry_fill(sc_gallery *g, const sc_gallery_item *it, const char *fn) {
    if (!it || !it->name || it->n < 0 || it->n > 10000 || (it->n > 0 && !it->words) ||
        (it->alphas && (it->grid < 1 || it->grid > 4096)))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    size_t nl = strlen(it->name);
    if (nl < 1 || nl > 200 || it->name[0] == '.' || strchr(it->name, '/'))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: bad name \"%s\" (1..200 bytes, no '/', not starting with '.')", fn,
                            it->name);
    if (g->n == INT32_MAX - 1) return sc_set_error(SC_ERR_LIMIT, "%s: gallery is full", fn);
    sc_status s = grow_names(g);
    if (s) return s;
    if (*name_slot(g, it->name))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: name \"%s\" is already in the gallery", fn,
                            it->name);
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 64;
        gentry *e = realloc(g->e, (size_t)cap * sizeof *e);
        if (!e) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        g->e = e;
        g->cap = cap;
    }
    gentry *e = &g->e[g->n];
    memset(e, 0, sizeof *e);
    sbuf u = {0};
    sb_url(&u, it->name);
    e->url = u.oom ? NULL : u.p;
    if (u.oom) free(u.p);
    e->name = dupstr(it->name);
    e->label = dupstr(it->label ? it->label : it->name);
    e->caption = dupstr(it->caption);
    e->words = calloc((size_t)(it->n ? it->n : 1), sizeof *e->words);
    e->lp = calloc((size_t)(it->n ? it->n : 1), sizeof *e->lp);
    e->n = it->n;
    e->has_lp = it->logprobs != NULL;
    e->score = it->score;
    if (!e->url || !e->name || !e->label || !e->caption || !e->words || !e->lp)
        s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    for (int i = 0; !s && i < it->n; i++) {
        if (!(e->words[i] = dupstr(it->words[i])))
            s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        e->lp[i] = it->logprobs ? it->logprobs[i] : 0.0f;
    }
    if (!s && it->alphas && it->n > 0) {
        /* n <= 10000 and grid <= 4096 are checked: the product fits a size_t */
        e->grid = it->grid;
        if (!(e->att = malloc((size_t)it->n * it->grid * it->grid)))
            s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        else
            quantize_maps(it->alphas, it->n, it->grid, e->att);
    }
    if (s) entry_free(e);
    return s;
}

static void entry_commit(sc_gallery *g) {
    *name_slot(g, g->e[g->n].name) = g->n + 1;
    g->n++;
}

static sc_status live_write(sc_gallery *g);

sc_status sc_gallery_add(sc_gallery *g, const sc_image *img, const sc_gallery_item *it) {
    const char *fn = "sc_gallery_add";
    if (!g || !img || !img->data) return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    if (img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: image is %dx%d with %d channels", fn, img->w,
                            img->h, img->c);
    sc_status s = entry_fill(g, it, fn);
    if (s) return s;
    gentry *e = &g->e[g->n];
    sc_image small = {0};
    char *thumb = entry_file(g, "images", it->name, ".jpg");
    s = thumb ? make_thumb(img, g->p.thumb, &small)
              : sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    if (!s) {
        e->tw = small.w, e->th = small.h;
        s = thumbs_put(g, &small, thumb); /* takes small and thumb */
    } else {
        free(thumb);
    }
    if (s) {
        entry_free(e);
        return s;
    }
    entry_commit(g);
    return live_write(g);
}

sc_status sc_gallery_add_failure(sc_gallery *g, const char *label, const char *reason) {
    if (!g) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_add_failure: NULL gallery");
    if (!label) label = "";
    if (!reason) reason = "failed";
    size_t ln = strlen(label);
    /* "PATH: reason" from a message that names the file already */
    if (ln && !strncmp(reason, label, ln) && reason[ln] == ':') {
        reason += ln + 1;
        while (*reason == ' ') reason++;
    }
    if (g->nf == g->fcap) {
        int cap = g->fcap ? 2 * g->fcap : 16;
        gfail *f = realloc(g->f, (size_t)cap * sizeof *f);
        if (!f) return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add_failure: out of memory");
        g->f = f;
        g->fcap = cap;
    }
    gfail *f = &g->f[g->nf];
    f->label = dupstr(label);
    f->reason = dupstr(reason);
    if (!f->label || !f->reason) {
        free(f->label);
        free(f->reason);
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add_failure: out of memory");
    }
    g->nf++;
    return SC_OK;
}

/* ================================================================ pages */
static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;"
    "padding:1em 1.5em;background:#f4f4f2;color:#222}\n"
    "a{color:#1a4f8a}\n"
    "h1{font-weight:600;margin:0 0 .2em}\n"
    "h1 a{color:inherit;text-decoration:none}\n"
    ".sub{color:#666;margin:0 0 .8em}\n"
    ".search input{font-size:1em;padding:.35em .6em;width:24em;max-width:70vw}\n"
    "#hits{color:#666;margin-left:.6em}\n"
    ".pager{margin:1em 0;color:#888}\n"
    ".pager a,.pager span{margin-right:.5em}\n"
    ".pager .cur{font-weight:600;color:#222}\n"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:1em}\n"
    ".card{display:flex;flex-direction:column;background:#fff;border-radius:6px;"
    "box-shadow:0 1px 3px rgba(0,0,0,.15);padding:.6em;text-decoration:none;color:inherit}\n"
    ".card:hover{box-shadow:0 2px 8px rgba(0,0,0,.25)}\n"
    ".card img{width:100%;height:160px;object-fit:contain;background:#e8e8e6;"
    "border-radius:3px}\n"
    ".cap{margin:.5em 0 .3em}\n"
    ".path,.score{color:#777;font-size:.8em;word-break:break-all}\n"
    ".caption{font-size:1.4em;margin:.3em 0}\n"
    ".meta{color:#666;word-break:break-all;margin:0 0 .4em}\n"
    ".photo img{max-width:100%;height:auto}\n"
    ".fig{margin:0}\n"
    ".fig figcaption{color:#666;font-size:.85em;margin-top:.4em}\n"
    ".map{display:block;margin:0 auto .3em}\n"
    ".words{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.8em}\n"
    ".words li{background:#fff;border-radius:4px;padding:.4em;text-align:center;"
    "box-shadow:0 1px 2px rgba(0,0,0,.12)}\n"
    ".words small{color:#777;display:block}\n"
    ".failed li{color:#a00;word-break:break-all}\n"
    "[hidden]{display:none!important}\n";

/* Marks images that fail to load; runs before any image is parsed. */
static const char HEAD_SCRIPT[] =
    "<script>document.addEventListener('error',function(e){var t=e.target;"
    "if(t&&t.tagName==='IMG'){t.setAttribute('data-broken','true');"
    "if(document.body&&document.body.hasAttribute('data-gallery'))"
    "document.body.setAttribute('data-gallery','broken');}},true);</script>\n";

static const char JS[] =
    "/* saccade gallery: attention maps, load status, arrow-key navigation, search. */\n"
    "(function () {\n"
    "  'use strict';\n"
    "  var body = document.body, root = body.getAttribute('data-root') || '';\n"
    "  /* Attention maps: each canvas.map holds its word's grid x grid map in hex\n"
    "   * (0..255); drawn as the library draws sc_attention_grid's panels: bilinear\n"
    "   * upsampling (align_corners = false), a Gaussian of sigma = a third of a\n"
    "   * cell (reflect-101 border), min-max scaling, the gallery's colormap\n"
    "   * (window.saccadeColormap, 256 RGB entries in hex), blended over the photo\n"
    "   * with weight alpha. */\n"
    "  function axis(n, size) {\n"
    "    var a = [], scale = n / size;\n"
    "    for (var d = 0; d < size; d++) {\n"
    "      var s = Math.max(0, scale * (d + 0.5) - 0.5), i = Math.min(Math.floor(s), n - 1);\n"
    "      a.push([i, Math.min(i + 1, n - 1), Math.min(s - i, 1)]);\n"
    "    }\n"
    "    return a;\n"
    "  }\n"
    "  function reflect(p, n) {\n"
    "    if (n === 1) return 0;\n"
    "    while (p < 0 || p >= n) p = p < 0 ? -p : 2 * n - 2 - p;\n"
    "    return p;\n"
    "  }\n"
    "  function blur(m, S, sigma) {\n"
    "    var r = Math.ceil(3 * sigma), k = [], sum = 0, tmp = new Float32Array(S * S), i, x, y, "
    "j;\n"
    "    for (i = -r; i <= r; i++) { k.push(Math.exp(-0.5 * i * i / (sigma * sigma))); sum += "
    "k[k.length - 1]; }\n"
    "    for (i = 0; i < k.length; i++) k[i] /= sum;\n"
    "    var at = [];\n"
    "    for (i = -r; i < S + r; i++) at.push(reflect(i, S));\n"
    "    for (y = 0; y < S; y++)\n"
    "      for (x = 0; x < S; x++) {\n"
    "        var acc = 0;\n"
    "        for (j = 0; j < k.length; j++) acc += k[j] * m[y * S + at[x + j]];\n"
    "        tmp[y * S + x] = acc;\n"
    "      }\n"
    "    for (y = 0; y < S; y++)\n"
    "      for (x = 0; x < S; x++) {\n"
    "        var acc2 = 0;\n"
    "        for (j = 0; j < k.length; j++) acc2 += k[j] * tmp[at[y + j] * S + x];\n"
    "        m[y * S + x] = acc2;\n"
    "      }\n"
    "  }\n"
    "  function drawMap(c, G, alpha, photo, cmap) {\n"
    "    var S = c.width, hex = c.getAttribute('data-a') || '', v = [], i, x, y;\n"
    "    if (hex.length !== 2 * G * G || c.height !== S) return false;\n"
    "    for (i = 0; i < G * G; i++) v.push(parseInt(hex.substr(2 * i, 2), 16) / 255);\n"
    "    var ax = axis(G, S), m = new Float32Array(S * S);\n"
    "    for (y = 0; y < S; y++)\n"
    "      for (x = 0; x < S; x++) {\n"
    "        var a = ax[y], b = ax[x], r0 = a[0] * G, r1 = a[1] * G;\n"
    "        m[y * S + x] = (1 - a[2]) * ((1 - b[2]) * v[r0 + b[0]] + b[2] * v[r0 + b[1]]) +\n"
    "                       a[2] * ((1 - b[2]) * v[r1 + b[0]] + b[2] * v[r1 + b[1]]);\n"
    "      }\n"
    "    var sigma = Math.min(S / G / 3, 1000);\n"
    "    if (sigma > 0) blur(m, S, sigma);\n"
    "    var lo = Infinity, hi = -Infinity;\n"
    "    for (i = 0; i < S * S; i++) { lo = Math.min(lo, m[i]); hi = Math.max(hi, m[i]); }\n"
    "    var heat = document.createElement('canvas');\n"
    "    heat.width = heat.height = S;\n"
    "    var hctx = heat.getContext('2d'), img = hctx.createImageData(S, S);\n"
    "    for (i = 0; i < S * S; i++) {\n"
    "      var t = hi > lo ? (m[i] - lo) / (hi - lo) : 0;\n"
    "      var k = t > 0 ? (t >= 1 ? 255 : Math.floor(t * 255 + 0.5)) : 0;\n"
    "      img.data[4 * i] = cmap[3 * k];\n"
    "      img.data[4 * i + 1] = cmap[3 * k + 1];\n"
    "      img.data[4 * i + 2] = cmap[3 * k + 2];\n"
    "      img.data[4 * i + 3] = 255;\n"
    "    }\n"
    "    hctx.putImageData(img, 0, 0);\n"
    "    var ctx = c.getContext('2d');\n"
    "    if (photo && photo.complete && photo.naturalWidth) ctx.drawImage(photo, 0, 0, S, S);\n"
    "    else alpha = 1;\n"
    "    ctx.globalAlpha = alpha;\n"
    "    ctx.drawImage(heat, 0, 0);\n"
    "    ctx.globalAlpha = 1;\n"
    "    return true;\n"
    "  }\n"
    "  function drawMaps() {\n"
    "    var fig = document.querySelector('figure.fig[data-grid]');\n"
    "    if (!fig) return;\n"
    "    var G = +fig.getAttribute('data-grid'), alpha = +fig.getAttribute('data-alpha');\n"
    "    var photo = document.querySelector('.photo img'), maps = "
    "fig.querySelectorAll('canvas.map');\n"
    "    var hex = window.saccadeColormap || '', cmap = [], drawn = 0;\n"
    "    for (var i = 0; i < 768; i++) cmap.push(parseInt(hex.substr(2 * i, 2), 16) || 0);\n"
    "    for (var j = 0; j < maps.length; j++) if (drawMap(maps[j], G, alpha, photo, cmap)) "
    "drawn++;\n"
    "    fig.setAttribute('data-maps', drawn === maps.length ? 'drawn' : 'bad');\n"
    "  }\n"
    "  window.addEventListener('load', function () {\n"
    "    drawMaps();\n"
    "    body.setAttribute('data-load-ms', String(Math.round(performance.now())));\n"
    "    body.setAttribute('data-gallery',\n"
    "                      document.querySelector('img[data-broken]') ? 'broken' : 'ok');\n"
    "  });\n"
    "  document.addEventListener('keydown', function (e) {\n"
    "    var t = e.target && e.target.tagName;\n"
    "    if (t === 'INPUT' || t === 'TEXTAREA' || e.altKey || e.ctrlKey || e.metaKey) return;\n"
    "    var rel = e.key === 'ArrowLeft' ? 'prev' : e.key === 'ArrowRight' ? 'next' : '';\n"
    "    var a = rel && document.querySelector('a[rel=\"' + rel + '\"]');\n"
    "    if (a) location.href = a.href;\n"
    "  });\n"
    "  var q = document.getElementById('q');\n"
    "  if (!q) return;\n"
    "  var results = document.getElementById('results'), page = document.getElementById('page');\n"
    "  var hits = document.getElementById('hits'), pagers = document.querySelectorAll('.pager');\n"
    "  var items = null, lower = null, waiting = null, timer = 0, MAX = 500;\n"
    "  /* search.js calls this with the index */\n"
    "  window.saccadeIndex = function (d) {\n"
    "    items = d.items;\n"
    "    lower = items.map(function (it) { return (it[1] + '\\n' + it[2]).toLowerCase(); });\n"
    "    if (waiting) { var f = waiting; waiting = null; f(); }\n"
    "  };\n"
    "  function withIndex(f) {\n"
    "    if (items) return f();\n"
    "    waiting = f;\n"
    "    if (document.getElementById('search-index')) return;\n"
    "    var s = document.createElement('script');\n"
    "    s.id = 'search-index';\n"
    "    s.src = root + 'search.js';\n"
    "    s.onerror = function () { hits.textContent = 'the search index (search.js) is "
    "missing'; };\n"
    "    document.head.appendChild(s);\n"
    "  }\n"
    "  function show(searching) {\n"
    "    results.hidden = !searching;\n"
    "    page.hidden = searching;\n"
    "    for (var i = 0; i < pagers.length; i++) pagers[i].hidden = searching;\n"
    "  }\n"
    "  function card(it) {\n"
    "    var a = document.createElement('a'), im = document.createElement('img');\n"
    "    a.className = 'card';\n"
    "    a.href = root + 'items/' + it[0] + '.html';\n"
    "    im.loading = 'lazy';\n"
    "    im.width = it[3];\n"
    "    im.height = it[4];\n"
    "    im.alt = '';\n"
    "    im.src = root + 'images/' + it[0] + '.jpg';\n"
    "    a.appendChild(im);\n"
    "    [['cap', it[1]], ['path', it[2]]].forEach(function (p) {\n"
    "      var s = document.createElement('span');\n"
    "      s.className = p[0];\n"
    "      s.textContent = p[1];\n"
    "      a.appendChild(s);\n"
    "    });\n"
    "    return a;\n"
    "  }\n"
    "  function run() {\n"
    "    var words = q.value.toLowerCase().split(/\\s+/).filter(function (w) { return w; });\n"
    "    if (!words.length) { show(false); hits.textContent = ''; return; }\n"
    "    withIndex(function () {\n"
    "      var found = [], frag = document.createDocumentFragment();\n"
    "      for (var i = 0; i < lower.length; i++) {\n"
    "        var ok = true;\n"
    "        for (var k = 0; ok && k < words.length; k++) ok = lower[i].indexOf(words[k]) >= 0;\n"
    "        if (ok) found.push(i);\n"
    "      }\n"
    "      for (var j = 0; j < found.length && j < MAX; j++) "
    "frag.appendChild(card(items[found[j]]));\n"
    "      results.textContent = '';\n"
    "      results.appendChild(frag);\n"
    "      hits.textContent = found.length + (found.length === 1 ? ' match' : ' matches') +\n"
    "                         (found.length > MAX ? ' (the first ' + MAX + ' shown)' : '');\n"
    "      show(true);\n"
    "    });\n"
    "  }\n"
    "  q.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(run, "
    "150); });\n"
    "  var m = /[?&]q=([^&#]*)/.exec(location.search);\n"
    "  if (m) {\n"
    "    try { q.value = decodeURIComponent(m[1].replace(/\\+/g, ' ')); } catch (e) { q.value = "
    "''; }\n"
    "    run();\n"
    "  }\n"
    "})();\n";

static int n_pages(const sc_gallery *g) {
    return g->n ? (g->n - 1) / g->p.page_size + 1 : 1;
}

/* File name of listing page k (0-based). */
static void page_name(int k, char *out, size_t n) {
    if (k == 0)
        snprintf(out, n, "index.html");
    else
        snprintf(out, n, "page-%d.html", k + 1);
}

/* <!DOCTYPE> to <body ...>: root is "" for listing pages, "../" for items. */
static void page_head(sbuf *b, const sc_gallery *g, const char *title, const char *root,
                      const char *cls) {
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               "<meta name=\"generator\" content=\"saccade\">\n<title>");
    if (title) {
        sb_html(b, title);
        sb_puts(b, " &middot; ");
    }
    sb_html(b, g->title);
    sb_printf(b, "</title>\n<link rel=\"stylesheet\" href=\"%sgallery.css\">\n", root);
    sb_puts(b, HEAD_SCRIPT);
    sb_printf(b, "</head>\n<body class=\"%s\" data-root=\"%s\">\n", cls, root);
}

static void page_tail(sbuf *b, const char *root) {
    sb_printf(b, "<script src=\"%sgallery.js\"></script>\n</body>\n</html>\n", root);
}

/* A pager link, or a greyed label where there is none. */
static void pager_link(sbuf *b, int k, int npages, const char *rel, const char *text) {
    char name[32];
    if (k < 0 || k >= npages) {
        sb_printf(b, "<span class=\"off\">%s</span>", text);
        return;
    }
    page_name(k, name, sizeof name);
    sb_printf(b, "<a rel=\"%s\" href=\"%s\">%s</a>", rel, name, text);
}

/* first / previous / a few page numbers / next / last for listing page k. */
static void pager(sbuf *b, int k, int npages) {
    sb_puts(b, "<nav class=\"pager\">");
    pager_link(b, k == 0 ? -1 : 0, npages, "first", "&laquo; first");
    pager_link(b, k - 1, npages, "prev", "&lsaquo; previous");
    int lo = k - 3 < 0 ? 0 : k - 3, hi = k + 3 >= npages ? npages - 1 : k + 3;
    if (lo > 0) sb_puts(b, "<span>&hellip;</span>");
    for (int j = lo; j <= hi; j++) {
        char name[32];
        page_name(j, name, sizeof name);
        if (j == k)
            sb_printf(b, "<span class=\"cur\">%d</span>", j + 1);
        else
            sb_printf(b, "<a href=\"%s\">%d</a>", name, j + 1);
    }
    if (hi < npages - 1) sb_puts(b, "<span>&hellip;</span>");
    pager_link(b, k + 1, npages, "next", "next &rsaquo;");
    pager_link(b, k == npages - 1 ? -1 : npages - 1, npages, "last", "last &raquo;");
    sb_printf(b, "<span>page %d of %d</span></nav>\n", k + 1, npages);
}

/* The heading of listing pages and failed.html. */
static void heading(sbuf *b, const sc_gallery *g) {
    sb_puts(b, "<header>\n<h1><a href=\"index.html\">");
    sb_html(b, g->title);
    sb_puts(b, "</a></h1>\n<p class=\"sub\">");
    if (g->subtitle) {
        sb_html(b, g->subtitle);
        sb_puts(b, " &middot; ");
    }
    sb_printf(b, "%d image%s", g->n, g->n == 1 ? "" : "s");
    if (g->nf) sb_printf(b, ", <a href=\"failed.html\">%d failed</a>", g->nf);
    sb_puts(b, "</p>\n");
}

static sc_status write_listing(const sc_gallery *g, int k, int npages) {
    sbuf b = {0};
    char name[32], title[48];
    snprintf(title, sizeof title, "page %d", k + 1);
    page_head(&b, g, k ? title : NULL, "", "list");
    heading(&b, g);
    sb_puts(&b, "<form class=\"search\" action=\"index.html\" method=\"get\" role=\"search\">"
                "<input id=\"q\" name=\"q\" type=\"search\" placeholder=\"search captions and "
                "paths\" autocomplete=\"off\" aria-label=\"search captions and paths\">"
                "<span id=\"hits\" aria-live=\"polite\"></span></form>\n</header>\n");
    pager(&b, k, npages);
    sb_puts(&b, "<div id=\"results\" class=\"grid\" hidden></div>\n<main id=\"page\" "
                "class=\"grid\">\n");
    int lo = k * g->p.page_size, hi = lo + g->p.page_size > g->n ? g->n : lo + g->p.page_size;
    for (int i = lo; i < hi; i++) {
        const gentry *e = &g->e[i];
        sb_printf(&b, "<a class=\"card\" id=\"e%d\" href=\"items/", i + 1);
        sb_puts(&b, e->url);
        sb_puts(&b, ".html\"><img src=\"images/");
        sb_puts(&b, e->url);
        sb_printf(&b, ".jpg\" width=\"%d\" height=\"%d\" loading=\"lazy\" alt=\"\">", e->tw, e->th);
        sb_puts(&b, "<span class=\"cap\">");
        sb_html(&b, e->caption);
        sb_puts(&b, "</span><span class=\"path\">");
        sb_html(&b, e->label);
        sb_printf(&b, "</span><span class=\"score\">score %.4f</span></a>\n", e->score);
    }
    sb_puts(&b, "</main>\n");
    pager(&b, k, npages);
    page_tail(&b, "");
    page_name(k, name, sizeof name);
    return write_buf(g, name, &b);
}

/* items/<name>.html for entry i. */
static sc_status write_item(const sc_gallery *g, int i) {
    const gentry *e = &g->e[i];
    if (e->grid > 0 && e->n > 0 && !e->att) /* freed by write_new_items: never written again */
        return sc_set_error(SC_ERR_INTERNAL, "gallery: the maps of %s are gone", e->name);
    const int k = i / g->p.page_size;
    char page[32];
    page_name(k, page, sizeof page);
    sbuf b = {0};
    page_head(&b, g, e->caption, "../", "item");
    sb_puts(&b, "<nav class=\"pager\">");
    if (i > 0) {
        sb_puts(&b, "<a rel=\"prev\" href=\"");
        sb_puts(&b, g->e[i - 1].url);
        sb_puts(&b, ".html\">&lsaquo; previous</a>");
    } else {
        sb_puts(&b, "<span class=\"off\">&lsaquo; previous</span>");
    }
    sb_printf(&b, "<a rel=\"up\" href=\"../%s#e%d\">page %d</a>", page, i + 1, k + 1);
    if (i + 1 < g->n) {
        sb_puts(&b, "<a rel=\"next\" href=\"");
        sb_puts(&b, g->e[i + 1].url);
        sb_puts(&b, ".html\">next &rsaquo;</a>");
    } else {
        sb_puts(&b, "<span class=\"off\">next &rsaquo;</span>");
    }
    sb_puts(&b, "<a href=\"../index.html\">");
    sb_html(&b, g->title);
    sb_printf(&b, "</a><span>image %d</span></nav>\n<h1 class=\"caption\">", i + 1);
    sb_html(&b, e->caption);
    sb_printf(&b, "</h1>\n<p class=\"meta\">score %.4f &middot; ", e->score);
    sb_html(&b, e->label);
    sb_puts(&b, "</p>\n");
    if (g->subtitle) {
        sb_puts(&b, "<p class=\"sub\">");
        sb_html(&b, g->subtitle);
        sb_puts(&b, "</p>\n");
    }
    sb_puts(&b, "<p class=\"photo\"><img src=\"../images/");
    sb_puts(&b, e->url);
    sb_printf(&b, ".jpg\" width=\"%d\" height=\"%d\" alt=\"\"></p>\n", e->tw, e->th);
    if (e->n > 0) {
        /* with maps, a figure of one canvas per word that gallery.js draws
         * from the word's 8-bit grid (hex in data-a) over the photo */
        const int S = g->p.figure.panel, maps = e->grid > 0;
        const size_t P = (size_t)e->grid * e->grid;
        sb_puts(&b, "<h2>Words</h2>\n");
        if (maps)
            sb_printf(&b, "<figure class=\"fig\" data-grid=\"%d\" data-alpha=\"%g\">", e->grid,
                      (double)g->p.figure.alpha);
        sb_puts(&b, "<ol class=\"words\">\n");
        for (int t = 0; t < e->n; t++) {
            sb_puts(&b, "<li>");
            if (maps) {
                sb_printf(&b, "<canvas class=\"map\" width=\"%d\" height=\"%d\" data-a=\"", S, S);
                sb_hex(&b, e->att + (size_t)t * P, P);
                sb_puts(&b, "\"></canvas>");
            }
            sb_puts(&b, "<span class=\"w\">");
            sb_html(&b, e->words[t]);
            sb_puts(&b, "</span>");
            if (e->has_lp) sb_printf(&b, "<small>log p %.4f</small>", (double)e->lp[t]);
            sb_puts(&b, "</li>\n");
        }
        sb_puts(&b, "</ol>\n");
        if (maps) {
            sb_puts(&b, "<figcaption>attention for each word of: ");
            sb_html(&b, e->caption);
            sb_puts(&b, "</figcaption></figure>\n");
        }
    }
    page_tail(&b, "../");
    size_t n = strlen(e->name) + 16;
    char *rel = malloc(n);
    if (!rel) {
        free(b.p);
        return sc_set_error(SC_ERR_NOMEM, "gallery: out of memory");
    }
    snprintf(rel, n, "items/%s.html", e->name);
    sc_status s = write_buf(g, rel, &b);
    free(rel);
    return s;
}

static sc_status write_failed(const sc_gallery *g) {
    char *path = gpath(g, "failed.html");
    if (!path) return sc_set_error(SC_ERR_NOMEM, "gallery: out of memory");
    if (!g->nf) { /* nothing failed: no stale list from an earlier run */
        int bad = unlink(path) != 0 && errno != ENOENT;
        sc_status s =
            bad ? sc_set_error(SC_ERR_IO, "%s: cannot remove: %s", path, strerror(errno)) : SC_OK;
        free(path);
        return s;
    }
    free(path);
    sbuf b = {0};
    page_head(&b, g, "failed", "", "failed");
    heading(&b, g);
    sb_puts(&b, "</header>\n<h2>Failed</h2>\n<ul class=\"failed\">\n");
    for (int i = 0; i < g->nf; i++) {
        sb_puts(&b, "<li>");
        sb_html(&b, g->f[i].label);
        sb_puts(&b, ": ");
        sb_html(&b, g->f[i].reason);
        sb_puts(&b, "</li>\n");
    }
    sb_puts(&b, "</ul>\n");
    page_tail(&b, "");
    return write_buf(g, "failed.html", &b);
}

static sc_status write_search_index(const sc_gallery *g) {
    sbuf b = {0};
    sb_printf(&b, "saccadeIndex({\"pageSize\":%d,\"items\":[\n", g->p.page_size);
    for (int i = 0; i < g->n; i++) {
        const gentry *e = &g->e[i];
        sb_put(&b, "[", 1);
        sb_json(&b, e->url);
        sb_put(&b, ",", 1);
        sb_json(&b, e->caption);
        sb_put(&b, ",", 1);
        sb_json(&b, e->label);
        sb_printf(&b, ",%d,%d]%s\n", e->tw, e->th, i + 1 < g->n ? "," : "");
    }
    sb_puts(&b, "]});\n");
    return write_buf(g, "search.js", &b);
}

/* Listing pages past the last one, left by an earlier and longer gallery. */
static sc_status remove_stale_pages(const sc_gallery *g, int npages) {
    for (int k = npages;; k++) {
        char name[32];
        page_name(k, name, sizeof name);
        char *path = gpath(g, name);
        if (!path) return sc_set_error(SC_ERR_NOMEM, "gallery: out of memory");
        int rc = unlink(path), e = errno;
        sc_status s = rc && e != ENOENT
                          ? sc_set_error(SC_ERR_IO, "%s: cannot remove: %s", path, strerror(e))
                          : SC_OK;
        free(path);
        if (rc || s) return s;
    }
}

static sc_status write_static(sc_gallery *g) {
    if (g->static_written) return SC_OK;
    sbuf b = {0};
    sb_puts(&b, CSS);
    sc_status s = write_buf(g, "gallery.css", &b);
    if (!s) {
        /* the script, after the colormap of the maps (0..255 RGB, in hex) */
        const float(*cm)[3] = sc_colormap_table(g->p.figure.colormap);
        unsigned char lut[256 * 3] = {0};
        for (int i = 0; cm && i < 256 * 3; i++)
            lut[i] =
                (unsigned char)floorf(255.0f * fminf(fmaxf(cm[i / 3][i % 3], 0.0f), 1.0f) + 0.5f);
        sb_puts(&b, "window.saccadeColormap = '");
        sb_hex(&b, lut, sizeof lut);
        sb_puts(&b, "';\n");
        sb_puts(&b, JS);
        s = write_buf(g, "gallery.js", &b);
    }
    g->static_written = !s;
    return s;
}

/* Item pages not yet on disk; the last one written before gains its "next"
 * link. In a live gallery a page before the last is final, so its maps are
 * freed (memory stays in proportion to the images since the last write). */
static sc_status write_new_items(sc_gallery *g) {
    sc_status s = SC_OK;
    int from = g->items_written > 0 ? g->items_written - 1 : 0;
    for (int i = from; !s && i < g->n; i++) s = write_item(g, i);
    if (s) return s;
    g->items_written = g->n;
    for (int i = from; g->p.live && i < g->n - 1; i++) {
        free(g->e[i].att);
        g->e[i].att = NULL;
    }
    return s;
}

sc_status sc_gallery_write(sc_gallery *g) {
    if (!g) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_write: NULL gallery");
    sc_status s = thumbs_drain(g);
    if (!s) s = write_static(g);
    if (!s && !(s = write_search_index(g))) g->search_written = g->n;
    const int npages = n_pages(g);
    for (int k = 0; !s && k < npages; k++) s = write_listing(g, k, npages);
    if (!s) s = write_new_items(g);
    if (!s && !(s = write_failed(g))) g->failed_written = g->nf;
    if (!s) s = remove_stale_pages(g, npages);
    return s;
}

/* While images are added (p.live): after the first image, whenever a listing
 * page fills, and at most every 2 s otherwise, the pages are brought up to
 * date with the images so far, each file atomically, so a run stopped at any
 * point (even by SIGKILL) leaves a gallery whose pages all parse and whose
 * links all resolve. The cost stays in proportion to the images: the item
 * pages are new ones; the listing pages rewritten are the last one and the
 * three before it (whose pagers reach it) and index.html; a full page is
 * written when it fills, so earlier pages hold all their entries and link only
 * to pages that exist (their "last" and the image count may be behind until
 * sc_gallery_write); search.js is rewritten once the images grew by a quarter. */
static sc_status live_write(sc_gallery *g) {
    if (!g->p.live) return SC_OK;
    const double now = mono_seconds();
    if (g->n != 1 && g->n % g->p.page_size && now - g->live_at < 2.0) return SC_OK;
    g->live_at = now;
    sc_status s = thumbs_drain(g);
    if (!s) s = write_static(g);
    if (!s) s = write_new_items(g);
    if (!s && g->nf != g->failed_written && !(s = write_failed(g))) g->failed_written = g->nf;
    if (!s && (!g->search_written || g->n - g->search_written >= g->search_written / 4) &&
        !(s = write_search_index(g)))
        g->search_written = g->n;
    const int npages = n_pages(g);
    for (int k = npages - 4 > 0 ? npages - 4 : 0; !s && k < npages; k++)
        s = write_listing(g, k, npages);
    if (!s && npages > 4) s = write_listing(g, 0, npages);
    return s;
}

sc_status sc_gallery_close(sc_gallery *g) {
    if (!g) return SC_OK;
    sc_status s = sc_gallery_write(g);
    sc_gallery_free(g);
    return s;
}

/* ================================================================ in pieces */
/* One JSON array: failures as {label, reason}, images as {name, label,
 * caption, score, words, lp, has_lp, tw, th, grid, att} (att: the 8-bit maps
 * in hex, "" without maps); the thumbnails stay where the exporting process
 * wrote them (the same DIR). */
sc_status sc_gallery_export(const sc_gallery *g, char **out, size_t *len) {
    if (!g || !out || !len) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_export: NULL");
    *out = NULL;
    *len = 0;
    /* the importing process writes pages linking these thumbnails: they must
     * be on disk (the writer thread is bookkeeping, not the gallery's value) */
    sc_status ws = thumbs_drain((sc_gallery *)g);
    if (ws) return ws;
    cJSON *a = cJSON_CreateArray();
    int ok = a != NULL;
    for (int i = 0; ok && i < g->nf; i++) {
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(a, o) &&
             cJSON_AddStringToObject(o, "label", g->f[i].label) &&
             cJSON_AddStringToObject(o, "reason", g->f[i].reason);
        if (!ok && o && !cJSON_GetArraySize(a)) cJSON_Delete(o);
    }
    for (int i = 0; ok && i < g->n; i++) {
        const gentry *e = &g->e[i];
        if (e->grid > 0 && e->n > 0 && !e->att) {
            cJSON_Delete(a);
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "sc_gallery_export: the maps of %s were freed once its page was "
                                "written (export galleries opened with live = 0)",
                                e->name);
        }
        cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateArray(), *lp = cJSON_CreateArray();
        ok = o && w && lp && cJSON_AddItemToArray(a, o);
        if (!ok) {
            cJSON_Delete(o);
            cJSON_Delete(w);
            cJSON_Delete(lp);
            break;
        }
        cJSON_AddItemToObject(o, "words", w);
        cJSON_AddItemToObject(o, "lp", lp);
        ok = cJSON_AddStringToObject(o, "name", e->name) &&
             cJSON_AddStringToObject(o, "label", e->label) &&
             cJSON_AddStringToObject(o, "caption", e->caption) &&
             cJSON_AddNumberToObject(o, "score", e->score) &&
             cJSON_AddNumberToObject(o, "has_lp", e->has_lp) &&
             cJSON_AddNumberToObject(o, "tw", e->tw) && cJSON_AddNumberToObject(o, "th", e->th) &&
             cJSON_AddNumberToObject(o, "grid", e->grid);
        if (ok) {
            sbuf hx = {0};
            sb_put(&hx, "", 0);
            if (e->att) sb_hex(&hx, e->att, (size_t)e->n * e->grid * e->grid);
            ok = !hx.oom && cJSON_AddStringToObject(o, "att", hx.p);
            free(hx.p);
        }
        for (int t = 0; ok && t < e->n; t++)
            ok = cJSON_AddItemToArray(w, cJSON_CreateString(e->words[t])) &&
                 cJSON_AddItemToArray(lp, cJSON_CreateNumber(e->lp[t]));
    }
    char *text = ok ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    if (!text) return sc_set_error(SC_ERR_NOMEM, "sc_gallery_export: out of memory");
    *out = text;
    *len = strlen(text);
    return SC_OK;
}

static const char *jstr(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jint(const cJSON *o, const char *k, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi)) return 0;
    *out = (int)v->valuedouble;
    return 1;
}

/* One exported image record -> the gallery (files are not touched). */
static sc_status import_entry(sc_gallery *g, const cJSON *o) {
    const char *fn = "sc_gallery_import";
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "words"),
                *lp = cJSON_GetObjectItemCaseSensitive(o, "lp"),
                *score = cJSON_GetObjectItemCaseSensitive(o, "score");
    const char *att = jstr(o, "att");
    int n = cJSON_GetArraySize(w), has_lp, tw, th, grid;
    if (!cJSON_IsArray(w) || !cJSON_IsArray(lp) || cJSON_GetArraySize(lp) != n || n > 10000 ||
        !jstr(o, "name") || !jstr(o, "caption") || !cJSON_IsNumber(score) ||
        !jint(o, "has_lp", 0, 1, &has_lp) || !jint(o, "tw", 1, 100000, &tw) ||
        !jint(o, "th", 1, 100000, &th) || !jint(o, "grid", 0, 4096, &grid) || !att ||
        strlen(att) != (grid && n ? 2 * (size_t)n * grid * grid : 0))
        return sc_set_error(SC_ERR_FORMAT, "%s: malformed entry", fn);
    const char **words = calloc((size_t)(n ? n : 1), sizeof *words);
    float *lps = calloc((size_t)(n ? n : 1), sizeof *lps);
    sc_status s = words && lps ? SC_OK : sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    for (int t = 0; !s && t < n; t++) {
        const cJSON *wt = cJSON_GetArrayItem(w, t), *lt = cJSON_GetArrayItem(lp, t);
        if (!cJSON_IsString(wt) || !cJSON_IsNumber(lt))
            s = sc_set_error(SC_ERR_FORMAT, "%s: malformed entry", fn);
        else
            words[t] = wt->valuestring, lps[t] = (float)lt->valuedouble;
    }
    sc_gallery_item it = {.name = jstr(o, "name"),
                          .label = jstr(o, "label"),
                          .caption = jstr(o, "caption"),
                          .words = words,
                          .logprobs = has_lp ? lps : NULL,
                          .n = n,
                          .score = score->valuedouble};
    if (!s && !(s = entry_fill(g, &it, fn))) {
        gentry *e = &g->e[g->n];
        e->tw = tw, e->th = th;
        const size_t na = strlen(att) / 2;
        if (na) {
            e->grid = grid;
            if (!(e->att = malloc(na))) s = sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        }
        for (size_t k = 0; !s && k < na; k++) {
            const int hi = hex_digit(att[2 * k]), lo = hex_digit(att[2 * k + 1]);
            if (hi < 0 || lo < 0)
                s = sc_set_error(SC_ERR_FORMAT, "%s: malformed entry", fn);
            else
                e->att[k] = (unsigned char)(hi << 4 | lo);
        }
        if (s)
            entry_free(e);
        else
            entry_commit(g);
    }
    free(words);
    free(lps);
    return s;
}

/* A record's place in the requested order (sc_gallery_order), and where it
 * was: sorting on (key, at) keeps records without a place in the order added. */
typedef struct {
    long key;
    int at;
    const char *label; /* failures: the label looked up */
} order_key;

static int key_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->at > y->at) - (x->at < y->at);
}

static int label_cmp(const void *a, const void *b) {
    const order_key *x = a, *y = b;
    int c = strcmp(x->label, y->label);
    return c ? c : key_cmp(a, b);
}

sc_status sc_gallery_order(sc_gallery *g, const char *const *names, const char *const *labels,
                           int n) {
    if (!g || n < 0) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_order: bad arguments");
    const size_t ne = (size_t)g->n, nf = (size_t)g->nf, nl = labels ? (size_t)n : 0;
    order_key *k = malloc((ne + nf + nl + 1) * sizeof *k);
    gentry *e = malloc((ne + 1) * sizeof *e);
    gfail *f = malloc((nf + 1) * sizeof *f);
    if (!k || !e || !f) {
        free(k), free(e), free(f);
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_order: out of memory");
    }
    /* images: their name's place in names (the first, for a repeated name) */
    for (size_t i = 0; i < ne; i++) k[i] = (order_key){(long)n + (long)i, (int)i, NULL};
    for (int j = n - 1; names && ne && j >= 0; j--) {
        const int slot = names[j] ? *name_slot(g, names[j]) : 0;
        if (slot) k[slot - 1].key = j;
    }
    qsort(k, ne, sizeof *k, key_cmp);
    for (size_t i = 0; i < ne; i++) e[i] = g->e[k[i].at];
    if (ne) memcpy(g->e, e, ne * sizeof *e); /* g->e is NULL in a gallery without images */
    if (ne) memset(g->slots, 0, g->nslots * sizeof *g->slots);
    for (size_t i = 0; i < ne; i++) *name_slot(g, g->e[i].name) = (int)i + 1;
    /* failures: their label's first place in labels, found in a sorted copy */
    order_key *fk = k, *lk = k + nf;
    for (size_t j = 0; j < nl; j++) lk[j] = (order_key){(long)j, 0, labels[j] ? labels[j] : ""};
    qsort(lk, nl, sizeof *lk, label_cmp);
    for (size_t i = 0; i < nf; i++) {
        fk[i] = (order_key){(long)n + (long)i, (int)i, g->f[i].label};
        size_t a = 0, z = nl; /* the first entry with this label */
        while (a < z) {
            size_t m = a + (z - a) / 2;
            if (strcmp(lk[m].label, fk[i].label) < 0)
                a = m + 1;
            else
                z = m;
        }
        if (a < nl && !strcmp(lk[a].label, fk[i].label)) fk[i].key = lk[a].key;
    }
    qsort(fk, nf, sizeof *fk, key_cmp);
    for (size_t i = 0; i < nf; i++) f[i] = g->f[fk[i].at];
    if (nf) memcpy(g->f, f, nf * sizeof *f);
    free(k), free(e), free(f);
    g->items_written = g->search_written = g->failed_written = 0; /* every page anew */
    return SC_OK;
}

sc_status sc_gallery_import(sc_gallery *g, const char *data, size_t len) {
    if (!g || (!data && len)) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_import: NULL");
    if (len == 0) return SC_OK;
    cJSON *a = cJSON_ParseWithLength(data, len);
    if (!cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return sc_set_error(SC_ERR_FORMAT, "sc_gallery_import: not an exported gallery");
    }
    sc_status s = SC_OK;
    const cJSON *o;
    cJSON_ArrayForEach(o, a) {
        const char *label = jstr(o, "label"), *reason = jstr(o, "reason");
        if (!label)
            s = sc_set_error(SC_ERR_FORMAT, "sc_gallery_import: malformed entry");
        else if (reason)
            s = sc_gallery_add_failure(g, label, reason);
        else
            s = import_entry(g, o);
        if (s) break;
    }
    cJSON_Delete(a);
    return s;
}
