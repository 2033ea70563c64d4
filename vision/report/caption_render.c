/* saccade: attention grid figures and the static HTML caption gallery
 * (see sc_caption_render.h). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <cjson/cJSON.h>
#include "saccade/sc_caption_render.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"

/* ================================================================ grid */
sc_attention_grid_params sc_attention_grid_default_params(void) {
    sc_attention_grid_params p;
    p.panel = 224;
    p.cols = 8;
    p.colormap = SC_CMAP_GRAY;
    p.alpha = 0.8f;
    p.font_px = 16;
    return p;
}

sc_status sc_attention_upsample(const float *alpha, int grid, int w, int h, sc_map *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!alpha || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_attention_upsample: NULL argument");
    if (grid < 1 || grid > 4096 || w < 1 || h < 1)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_attention_upsample: grid %d (must be 1..4096), size %dx%d", grid, w,
                            h);
    sc_map src = {grid, grid, (float *)alpha};
    sc_status s = sc_map_resize_bilinear(&src, w, h, out);
    if (s) return s;
    /* pyramid_expand: sigma = upscale / 3, upscale = the cell size */
    double sigma = sqrt(((double)w / grid) * ((double)h / grid)) / 3.0;
    if (sigma > 1000.0) sigma = 1000.0;
    if ((s = sc_map_gaussian_blur(out, (float)sigma))) sc_map_free(out);
    return s;
}

sc_status sc_attention_grid(const sc_image *img, const float *alphas, int grid, int n,
                            const char *const *words, const sc_attention_grid_params *p,
                            sc_image *out) {
    const char *fn = "sc_attention_grid";
    sc_attention_grid_params def = sc_attention_grid_default_params();
    if (!p) p = &def;
    if (out) memset(out, 0, sizeof *out);
    if (!img || !img->data || !out || (n > 0 && !alphas))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: image must be non-empty with 1, 3 or 4 channels", fn);
    if (n < 0 || n > 10000)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %d tokens (must be 0..10000)", fn, n);
    if (grid < 1 || grid > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: grid %d (must be 1..4096)", fn, grid);
    if (p->panel < 16 || p->panel > 2048 || p->cols < 1 || !(p->alpha >= 0 && p->alpha <= 1) ||
        !(p->font_px >= 0 && p->font_px <= 200))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: bad params (panel %d in [16, 2048], cols %d >= 1, alpha %g in "
                            "[0, 1], font_px %g in [0, 200])",
                            fn, p->panel, p->cols, (double)p->alpha, (double)p->font_px);
    int S = p->panel, np = n + 1;
    sc_image base = {0}, rgb = {0};
    sc_image *panels = calloc((size_t)np, sizeof *panels);
    const char **caps = calloc((size_t)np, sizeof *caps);
    sc_status s = (!panels || !caps) ? sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn) : SC_OK;
    /* The panel image: squash to S x S (antialiased when shrinking), RGB. */
    const sc_image *src = img;
    if (!s && img->c != 3) {
        s = sc_image_to_rgb(img, &rgb);
        src = &rgb;
    }
    if (!s) s = sc_image_resize(src, S, S, SC_FILTER_TRIANGLE, &base);
    if (!s) {
        panels[0] = base;
        caps[0] = "<start>";
    }
    sc_heatmap_params hp = sc_heatmap_default_params();
    hp.colormap = p->colormap;
    hp.norm = SC_NORM_MINMAX;
    hp.alpha = p->alpha;
    hp.smooth_sigma = 0.0f; /* sc_attention_upsample smooths */
    size_t P = (size_t)grid * grid;
    for (int t = 0; !s && t < n; t++) {
        sc_map m = {0};
        s = sc_attention_upsample(alphas + (size_t)t * P, grid, S, S, &m);
        if (!s) s = sc_overlay_heatmap(&base, &m, &hp, &panels[1 + t]);
        sc_map_free(&m);
        caps[1 + t] = words ? words[t] : NULL;
    }
    if (!s) {
        sc_sheet_params sp = sc_sheet_default_params();
        sp.cols = np < p->cols ? np : p->cols;
        sp.panel_w = sp.panel_h = S;
        sp.font_px = p->font_px;
        s = sc_contact_sheet(panels, caps, np, &sp, out);
    }
    if (panels)
        for (int i = 1; i < np; i++) sc_image_free(&panels[i]);
    free(panels);
    free(caps);
    sc_image_free(&base);
    sc_image_free(&rgb);
    return s;
}

sc_status sc_caption_attention_grid(const sc_image *img, const sc_caption_result *r,
                                    const sc_attention_grid_params *p, sc_image *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!r || r->n_hyps < 1 || !r->hyps)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_caption_attention_grid: empty caption result");
    return sc_attention_grid(img, r->hyps[0].alphas, r->grid, r->hyps[0].len, r->words, p, out);
}

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

/* ================================================================ gallery */
typedef struct gentry {
    char *name, *label, *caption, *reason; /* reason != NULL: a failure */
    char **words;
    float *lp;
    int n, has_lp, has_att;
    double score;
    int tw, th; /* thumbnail size */
} gentry;

struct sc_gallery {
    char *dir, *title, *subtitle;
    int thumb;
    gentry *e;
    int n, cap;
};

sc_gallery_params sc_gallery_default_params(void) {
    sc_gallery_params p;
    p.title = "saccade captions";
    p.subtitle = NULL;
    p.thumb = 320;
    return p;
}

static char *dupstr(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *join_path(const char *a, const char *b, const char *c) {
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s%s", a, b, c);
    return p;
}

static sc_status make_dir(const char *path) {
    if (mkdir(path, 0777) == 0) return SC_OK;
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return SC_OK;
    return sc_set_error(SC_ERR_IO, "gallery: cannot create directory %s: %s", path,
                        errno == EEXIST ? "a file of that name exists" : strerror(errno));
}

static void entry_free(gentry *e) {
    free(e->name);
    free(e->label);
    free(e->caption);
    free(e->reason);
    if (e->words)
        for (int i = 0; i < e->n; i++) free(e->words[i]);
    free(e->words);
    free(e->lp);
}

void sc_gallery_free(sc_gallery *g) {
    if (!g) return;
    for (int i = 0; i < g->n; i++) entry_free(&g->e[i]);
    free(g->e);
    free(g->dir);
    free(g->title);
    free(g->subtitle);
    free(g);
}

sc_status sc_gallery_open(const char *dir, const sc_gallery_params *p, sc_gallery **out) {
    sc_gallery_params def = sc_gallery_default_params();
    if (!p) p = &def;
    if (out) *out = NULL;
    if (!dir || !dir[0] || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_open: NULL or empty argument");
    if (p->thumb < 16 || p->thumb > 4096)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_open: thumb %d (must be 16..4096)",
                            p->thumb);
    sc_gallery *g = calloc(1, sizeof *g);
    if (!g) return sc_set_error(SC_ERR_NOMEM, "sc_gallery_open: out of memory");
    g->thumb = p->thumb;
    g->dir = dupstr(dir);
    g->title = dupstr(p->title ? p->title : "saccade captions");
    g->subtitle = p->subtitle ? dupstr(p->subtitle) : NULL;
    if (!g->dir || !g->title || (p->subtitle && !g->subtitle)) {
        sc_gallery_free(g);
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_open: out of memory");
    }
    sc_status s = make_dir(dir);
    const char *subs[2] = {"/images", "/attention"};
    for (int i = 0; i < 2 && !s; i++) {
        char *sub = join_path(dir, subs[i], "");
        s = sub ? make_dir(sub) : sc_set_error(SC_ERR_NOMEM, "sc_gallery_open: out of memory");
        free(sub);
    }
    if (s) {
        sc_gallery_free(g);
        return s;
    }
    *out = g;
    return SC_OK;
}

static gentry *new_entry(sc_gallery *g) {
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        gentry *e = realloc(g->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        g->e = e;
        g->cap = cap;
    }
    gentry *e = &g->e[g->n];
    memset(e, 0, sizeof *e);
    return e;
}

static sc_status save_thumb(const sc_image *img, int thumb, const char *path, int *tw, int *th) {
    sc_image rgb = {0}, small = {0};
    const sc_image *src = img;
    sc_status s = SC_OK;
    if (img->c == 4) { /* JPEG has no alpha: keep the colour channels */
        if ((s = sc_image_to_rgb(img, &rgb))) return s;
        src = &rgb;
    }
    int big = img->w > img->h ? img->w : img->h;
    if (big > thumb) {
        int w = (int)fmax(1.0, floor((double)img->w * thumb / big + 0.5));
        int h = (int)fmax(1.0, floor((double)img->h * thumb / big + 0.5));
        if (!(s = sc_image_resize(src, w, h, SC_FILTER_TRIANGLE, &small))) src = &small;
    }
    if (!s) s = sc_image_save_jpeg(src, path, 90);
    if (!s) *tw = src->w, *th = src->h;
    sc_image_free(&rgb);
    sc_image_free(&small);
    return s;
}

sc_status sc_gallery_add(sc_gallery *g, const char *name, const char *label, const sc_image *img,
                         const char *caption, const char *const *words, const float *logprobs,
                         int n, double score, const sc_image *attention_grid) {
    const char *fn = "sc_gallery_add";
    if (!g || !name || !img || !img->data || (n > 0 && !words) || n < 0 || n > 100000)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: bad argument", fn);
    size_t nl = strlen(name);
    if (nl < 1 || nl > 200 || name[0] == '.' || strchr(name, '/'))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: bad name \"%s\" (1..200 bytes, no '/', not starting with '.')", fn,
                            name);
    if (img->c != 1 && img->c != 3 && img->c != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: image has %d channels", fn, img->c);
    for (int i = 0; i < g->n; i++)
        if (g->e[i].name && !strcmp(g->e[i].name, name))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: name \"%s\" is already in the gallery", fn,
                                name);
    gentry *e = new_entry(g);
    if (!e) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    e->name = dupstr(name);
    e->label = dupstr(label ? label : name);
    e->caption = dupstr(caption);
    e->words = calloc((size_t)(n ? n : 1), sizeof *e->words);
    e->lp = calloc((size_t)(n ? n : 1), sizeof *e->lp);
    e->n = n;
    e->has_lp = logprobs != NULL;
    e->score = score;
    sc_status s = (!e->name || !e->label || !e->caption || !e->words || !e->lp)
                      ? sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn)
                      : SC_OK;
    for (int i = 0; !s && i < n; i++) {
        if (!(e->words[i] = dupstr(words[i]))) s = sc_set_error(SC_ERR_NOMEM, "%s: no memory", fn);
        e->lp[i] = logprobs ? logprobs[i] : 0.0f;
    }
    char *path = NULL;
    if (!s) {
        path = join_path(g->dir, "/images/", name);
        char *jp = path ? join_path(path, ".jpg", "") : NULL;
        free(path);
        path = jp;
        s = path ? save_thumb(img, g->thumb, path, &e->tw, &e->th)
                 : sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        free(path);
        path = NULL;
    }
    if (!s && attention_grid) {
        path = join_path(g->dir, "/attention/", name);
        char *pp = path ? join_path(path, ".png", "") : NULL;
        free(path);
        path = pp;
        s = path ? sc_image_save_png(attention_grid, path)
                 : sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
        free(path);
        e->has_att = !s;
    }
    if (s) {
        entry_free(e);
        return s;
    }
    g->n++;
    return SC_OK;
}

sc_status sc_gallery_add_failure(sc_gallery *g, const char *label, const char *reason) {
    if (!g) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_add_failure: NULL gallery");
    gentry *e = new_entry(g);
    if (!e) return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add_failure: out of memory");
    e->label = dupstr(label);
    e->reason = dupstr(reason ? reason : "failed");
    if (!e->label || !e->reason) {
        entry_free(e);
        return sc_set_error(SC_ERR_NOMEM, "sc_gallery_add_failure: out of memory");
    }
    g->n++;
    return SC_OK;
}

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;padding:1.5em;"
    "background:#f4f4f2;color:#222}\n"
    "h1{font-weight:600;margin:0 0 .2em}\n"
    ".sub{color:#666;margin:0 0 1.5em}\n"
    ".item{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.15);"
    "margin:0 0 1.5em;padding:1em;overflow:hidden}\n"
    ".row{display:flex;gap:1.2em;align-items:flex-start;flex-wrap:wrap}\n"
    ".thumb{display:block;max-width:100%;height:auto;border-radius:3px}\n"
    ".text{flex:1;min-width:16em}\n"
    ".caption{font-size:1.35em;margin:0 0 .4em}\n"
    ".meta{color:#666;font-size:.9em;margin:0 0 .6em;word-break:break-all}\n"
    ".words span{display:inline-block;margin:0 .25em .25em 0;padding:.1em .4em;"
    "background:#eef;border-radius:3px;font-size:.9em}\n"
    ".words small{color:#777;margin-left:.3em}\n"
    ".att{margin-top:1em;overflow-x:auto}\n"
    ".att img{max-width:100%;height:auto}\n"
    ".failed li{color:#a00;word-break:break-all}\n";

static const char SCRIPT[] =
    "<script>\n"
    "window.addEventListener('load', function () {\n"
    "  var bad = 0, im = document.images;\n"
    "  for (var i = 0; i < im.length; i++)\n"
    "    if (!im[i].complete || im[i].naturalWidth === 0) {\n"
    "      im[i].setAttribute('data-broken', 'true'); bad++;\n"
    "    }\n"
    "  document.body.setAttribute('data-gallery', bad ? 'broken' : 'ok');\n"
    "});\n"
    "</script>\n";

sc_status sc_gallery_write_index(sc_gallery *g) {
    if (!g) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_write_index: NULL gallery");
    sbuf b = {0};
    int nok = 0, nfail = 0;
    for (int i = 0; i < g->n; i++) {
        if (g->e[i].reason)
            nfail++;
        else
            nok++;
    }
    sb_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                "<meta name=\"generator\" content=\"saccade\">\n<title>");
    sb_html(&b, g->title);
    sb_puts(&b, "</title>\n<style>\n");
    sb_puts(&b, CSS);
    sb_puts(&b, "</style>\n</head>\n<body>\n<h1>");
    sb_html(&b, g->title);
    sb_puts(&b, "</h1>\n<p class=\"sub\">");
    if (g->subtitle) {
        sb_html(&b, g->subtitle);
        sb_puts(&b, " &middot; ");
    }
    sb_printf(&b, "%d image%s", nok, nok == 1 ? "" : "s");
    if (nfail) sb_printf(&b, ", %d failed", nfail);
    sb_puts(&b, "</p>\n");
    int k = 0;
    for (int i = 0; i < g->n; i++) {
        const gentry *e = &g->e[i];
        if (e->reason) continue;
        k++;
        sb_printf(&b, "<div class=\"item\" id=\"item-%d\">\n<div class=\"row\">\n", k);
        if (e->has_att) {
            sb_puts(&b, "<a href=\"attention/");
            sb_url(&b, e->name);
            sb_puts(&b, ".png\">");
        }
        sb_puts(&b, "<img class=\"thumb\" src=\"images/");
        sb_url(&b, e->name);
        sb_printf(&b, ".jpg\" width=\"%d\" height=\"%d\" alt=\"", e->tw, e->th);
        sb_html(&b, e->caption);
        sb_puts(&b, "\">");
        if (e->has_att) sb_puts(&b, "</a>");
        sb_puts(&b, "\n<div class=\"text\">\n<p class=\"caption\">");
        sb_html(&b, e->caption);
        sb_puts(&b, "</p>\n<p class=\"meta\">");
        sb_printf(&b, "score %.4f &middot; ", e->score);
        sb_html(&b, e->label);
        sb_puts(&b, "</p>\n");
        if (e->n > 0) {
            sb_puts(&b, "<p class=\"words\">");
            for (int t = 0; t < e->n; t++) {
                sb_puts(&b, "<span");
                if (e->has_lp) sb_printf(&b, " title=\"log p = %.4f\"", (double)e->lp[t]);
                sb_puts(&b, ">");
                sb_html(&b, e->words[t]);
                if (e->has_lp) sb_printf(&b, "<small>%.2f</small>", (double)e->lp[t]);
                sb_puts(&b, "</span>");
            }
            sb_puts(&b, "</p>\n");
        }
        sb_puts(&b, "</div>\n</div>\n");
        if (e->has_att) {
            sb_puts(&b, "<div class=\"att\"><img src=\"attention/");
            sb_url(&b, e->name);
            sb_puts(&b, ".png\" alt=\"attention for each word of: ");
            sb_html(&b, e->caption);
            sb_puts(&b, "\"></div>\n");
        }
        sb_puts(&b, "</div>\n");
    }
    if (nfail) {
        sb_puts(&b, "<h2>Failed</h2>\n<ul class=\"failed\">\n");
        for (int i = 0; i < g->n; i++) {
            const gentry *e = &g->e[i];
            if (!e->reason) continue;
            sb_puts(&b, "<li>");
            sb_html(&b, e->label);
            sb_puts(&b, ": ");
            sb_html(&b, e->reason);
            sb_puts(&b, "</li>\n");
        }
        sb_puts(&b, "</ul>\n");
    }
    sb_puts(&b, SCRIPT);
    sb_puts(&b, "</body>\n</html>\n");
    sc_status s;
    if (b.oom) {
        s = sc_set_error(SC_ERR_NOMEM, "sc_gallery_write_index: out of memory");
    } else {
        char *path = join_path(g->dir, "/index.html", "");
        s = path ? sc_write_file_atomic(path, b.p, b.n)
                 : sc_set_error(SC_ERR_NOMEM, "sc_gallery_write_index: out of memory");
        free(path);
    }
    free(b.p);
    return s;
}

sc_status sc_gallery_close(sc_gallery *g) {
    if (!g) return SC_OK;
    sc_status s = sc_gallery_write_index(g);
    sc_gallery_free(g);
    return s;
}

/* ---------------------------------------------------- gallery in pieces */
sc_status sc_gallery_export(const sc_gallery *g, char **out, size_t *len) {
    if (!g || !out || !len) return sc_set_error(SC_ERR_INVALID_ARG, "sc_gallery_export: NULL");
    *out = NULL;
    *len = 0;
    cJSON *a = cJSON_CreateArray();
    int ok = a != NULL;
    for (int i = 0; ok && i < g->n; i++) {
        const gentry *e = &g->e[i];
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
        ok = cJSON_AddStringToObject(o, "label", e->label) &&
             (!e->reason || cJSON_AddStringToObject(o, "reason", e->reason));
        if (ok && !e->reason)
            ok = cJSON_AddStringToObject(o, "name", e->name) &&
                 cJSON_AddStringToObject(o, "caption", e->caption) &&
                 cJSON_AddNumberToObject(o, "score", e->score) &&
                 cJSON_AddNumberToObject(o, "has_lp", e->has_lp) &&
                 cJSON_AddNumberToObject(o, "has_att", e->has_att) &&
                 cJSON_AddNumberToObject(o, "tw", e->tw) && cJSON_AddNumberToObject(o, "th", e->th);
        for (int t = 0; ok && !e->reason && t < e->n; t++)
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
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "words"),
                    *lp = cJSON_GetObjectItemCaseSensitive(o, "lp");
        const cJSON *score = cJSON_GetObjectItemCaseSensitive(o, "score");
        int n = cJSON_GetArraySize(w), has_lp = 0, has_att = 0, tw = 0, th = 0;
        const char *name = jstr(o, "name"), *caption = jstr(o, "caption");
        if (!label || !cJSON_IsArray(w) || !cJSON_IsArray(lp) || cJSON_GetArraySize(lp) != n ||
            (!reason &&
             (!name || !caption || !cJSON_IsNumber(score) || !jint(o, "has_lp", 0, 1, &has_lp) ||
              !jint(o, "has_att", 0, 1, &has_att) || !jint(o, "tw", 1, 100000, &tw) ||
              !jint(o, "th", 1, 100000, &th) || !*name || strchr(name, '/') || name[0] == '.'))) {
            s = sc_set_error(SC_ERR_FORMAT, "sc_gallery_import: malformed entry");
            break;
        }
        if (reason) {
            if ((s = sc_gallery_add_failure(g, label, reason))) break;
            continue;
        }
        gentry *e = new_entry(g);
        if (!e) {
            s = sc_set_error(SC_ERR_NOMEM, "sc_gallery_import: out of memory");
            break;
        }
        e->name = dupstr(name);
        e->label = dupstr(label);
        e->caption = dupstr(caption);
        e->words = calloc((size_t)(n ? n : 1), sizeof *e->words);
        e->lp = calloc((size_t)(n ? n : 1), sizeof *e->lp);
        e->n = n;
        e->has_lp = has_lp;
        e->has_att = has_att;
        e->score = score->valuedouble;
        e->tw = tw, e->th = th;
        int bad = !e->name || !e->label || !e->caption || !e->words || !e->lp;
        for (int t = 0; !bad && t < n; t++) {
            const cJSON *wt = cJSON_GetArrayItem(w, t), *lt = cJSON_GetArrayItem(lp, t);
            bad = !cJSON_IsString(wt) || !cJSON_IsNumber(lt) ||
                  !(e->words[t] = dupstr(wt->valuestring));
            if (!bad) e->lp[t] = (float)lt->valuedouble;
        }
        if (bad) {
            entry_free(e);
            s = sc_set_error(SC_ERR_FORMAT, "sc_gallery_import: malformed entry");
            break;
        }
        g->n++;
    }
    cJSON_Delete(a);
    return s;
}
