/* Drawing on sc_image: text (stb_truetype, DejaVu Sans), rectangles, lines. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <stb_truetype.h> /* implementation lives in libstb */
#include "sc_internal.h"
#include "saccade/sc_overlay.h"

#define SC_FONT_MAX_BYTES ((size_t)64 << 20)
#define SC_TEXT_MAX_PX 1000.0f

/* ---- Colour and pixel blending -------------------------------------------- */

/* Per-channel target colour for an image with c channels. */
static void target_color(const sc_image *img, const float rgb[3], float col[4]) {
    if (img->c == 1) {
        col[0] = 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2];
    } else {
        col[0] = rgb[0];
        col[1] = rgb[1];
        col[2] = rgb[2];
        col[3] = 1.0f;
    }
}

static int image_ok(const sc_image *img) {
    return img && img->data && img->w > 0 && img->h > 0 &&
           (img->c == 1 || img->c == 3 || img->c == 4);
}

/* Blend colour col with weight a into pixel (x, y), which must be inside. */
static inline void blend_px(sc_image *img, size_t plane, int x, int y, const float col[4],
                            float a) {
    float *p = img->data + (size_t)y * img->w + x;
    for (int c = 0; c < img->c; c++, p += plane) *p = (1.0f - a) * *p + a * col[c];
}

/* ---- Fonts ------------------------------------------------------------------ */

typedef struct sc_font {
    unsigned char *ttf;
    stbtt_fontinfo info;
    int ascent, descent, line_gap; /* font units */
    int fallback_glyph;            /* U+FFFD, else '?', else 0 (.notdef) */
    struct sc_font *prev;          /* fonts replaced by sc_font_load stay alive */
} sc_font;

static pthread_mutex_t font_mu = PTHREAD_MUTEX_INITIALIZER;
static sc_font *font_override; /* guarded by font_mu */
static pthread_once_t font_once = PTHREAD_ONCE_INIT;
static sc_font *font_default;
static sc_status font_default_status;
static char font_default_err[640];

static sc_status font_open(const char *path, sc_font **out) {
    unsigned char *buf;
    size_t len;
    sc_status s = sc_read_file(path, SC_FONT_MAX_BYTES, &buf, &len);
    if (s) return s;
    int off = len >= 12 && len < (size_t)INT32_MAX ? stbtt_GetFontOffsetForIndex(buf, 0) : -1;
    sc_font *f = calloc(1, sizeof *f);
    if (!f) {
        free(buf);
        return sc_set_error(SC_ERR_NOMEM, "font %s: out of memory", path);
    }
    if (off < 0 || (size_t)off >= len || !stbtt_InitFont(&f->info, buf, off)) {
        free(buf);
        free(f);
        return sc_set_error(SC_ERR_FORMAT, "font %s: not a TrueType/OpenType font", path);
    }
    f->ttf = buf;
    stbtt_GetFontVMetrics(&f->info, &f->ascent, &f->descent, &f->line_gap);
    if (f->ascent - f->descent <= 0) {
        free(buf);
        free(f);
        return sc_set_error(SC_ERR_FORMAT, "font %s: bad vertical metrics", path);
    }
    f->fallback_glyph = stbtt_FindGlyphIndex(&f->info, 0xFFFD);
    if (!f->fallback_glyph) f->fallback_glyph = stbtt_FindGlyphIndex(&f->info, '?');
    *out = f;
    return SC_OK;
}

static void font_load_default(void) {
    char path[4096];
    const char *env = getenv("SACCADE_FONT");
    sc_status s;
    if (env && *env) {
        s = font_open(env, &font_default);
        if (s) sc_error_prefix("$SACCADE_FONT");
    } else {
        s = sc_find_asset("fonts/DejaVuSans.ttf", path, sizeof path);
        if (!s) s = font_open(path, &font_default);
    }
    font_default_status = s;
    if (s) snprintf(font_default_err, sizeof font_default_err, "%s", sc_last_error());
}

/* The font to draw with, or NULL with the error set. */
static const sc_font *font_get(void) {
    pthread_mutex_lock(&font_mu);
    const sc_font *f = font_override;
    pthread_mutex_unlock(&font_mu);
    if (f) return f;
    pthread_once(&font_once, font_load_default);
    if (!font_default) sc_set_error(font_default_status, "%s", font_default_err);
    return font_default;
}

sc_status sc_font_load(const char *ttf_path) {
    if (!ttf_path)
        return font_get() ? SC_OK : sc_set_error(font_default_status, "%s", font_default_err);
    sc_font *f;
    sc_status s = font_open(ttf_path, &f);
    if (s) return s;
    pthread_mutex_lock(&font_mu);
    f->prev = font_override;
    font_override = f;
    pthread_mutex_unlock(&font_mu);
    return SC_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

/* Decode one code point from s[0 .. n), n >= 1. Invalid input (bad lead
 * byte, missing continuation, overlong form, surrogate, > U+10FFFF) yields
 * U+FFFD for its maximal invalid prefix (at least one byte). Never reads
 * s[n] or beyond. Returns the number of bytes consumed. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t need;
    unsigned v, lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        v = c & 0x0F;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        v = c & 0x07;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        *cp = 0xFFFD;
        return 1;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= n) break;
        unsigned b = s[i];
        if (i == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
        v = (v << 6) | (b & 0x3F);
    }
    if (i <= need) {
        *cp = 0xFFFD;
        return i; /* lead byte plus the valid continuation bytes seen */
    }
    *cp = v;
    return need + 1;
}

/* ---- Text layout, shared by width and drawing ---------------------------------
 * The pen starts at 0 and moves by advance + kerning (float, font units times
 * scale). Glyph ink is placed at integer pen floor(pen) with the fractional
 * part as stb_truetype's subpixel shift. */

typedef struct glyph_pos {
    int glyph;
    long long ix;       /* floor(pen) */
    float shift;        /* pen - ix */
    int x0, y0, x1, y1; /* ink box relative to (ix, baseline) */
} glyph_pos;

typedef void (*glyph_fn)(const sc_font *f, float scale, const glyph_pos *g, void *ctx);

static int is_control(unsigned cp) {
    return cp < 0x20 || (cp >= 0x7F && cp < 0xA0);
}

/* Lays out text; calls fn (if any) for glyphs with ink. Returns the ink and
 * advance extent: *left = min(0, leftmost ink), *right = max(ceil(pen end),
 * rightmost ink). */
static void layout(const sc_font *f, const char *text, float px, glyph_fn fn, void *ctx,
                   long long *left, long long *right) {
    float scale = stbtt_ScaleForPixelHeight(&f->info, px);
    const unsigned char *s = (const unsigned char *)text;
    size_t n = strlen(text);
    double pen = 0.0;
    long long lft = 0, rgt = 0;
    int prev = -1;
    for (size_t i = 0; i < n;) {
        unsigned cp;
        i += utf8_next(s + i, n - i, &cp);
        if (is_control(cp)) continue;
        int g = stbtt_FindGlyphIndex(&f->info, (int)cp);
        if (!g) g = f->fallback_glyph;
        if (prev >= 0) pen += scale * stbtt_GetGlyphKernAdvance(&f->info, prev, g);
        int adv, lsb;
        stbtt_GetGlyphHMetrics(&f->info, g, &adv, &lsb);
        glyph_pos gp;
        gp.glyph = g;
        double fl = floor(pen);
        gp.ix = (long long)fl;
        gp.shift = (float)(pen - fl);
        stbtt_GetGlyphBitmapBoxSubpixel(&f->info, g, scale, scale, gp.shift, 0.0f, &gp.x0, &gp.y0,
                                        &gp.x1, &gp.y1);
        if (gp.x1 > gp.x0 && gp.y1 > gp.y0) {
            lft = SC_MIN(lft, gp.ix + gp.x0);
            rgt = SC_MAX(rgt, gp.ix + gp.x1);
            if (fn) fn(f, scale, &gp, ctx);
        }
        pen += scale * adv;
        prev = g;
    }
    rgt = SC_MAX(rgt, (long long)ceil(pen));
    *left = lft;
    *right = rgt;
}

static int px_ok(float px) {
    return px > 0.0f && px <= SC_TEXT_MAX_PX;
}

int sc_text_width(const char *text, float px) {
    if (!px_ok(px)) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_text_width: pixel height %g is outside (0, %g]",
                     (double)px, (double)SC_TEXT_MAX_PX);
        return -1;
    }
    if (!text || !*text) return 0;
    const sc_font *f = font_get();
    if (!f) return -1;
    long long l, r;
    layout(f, text, px, NULL, NULL, &l, &r);
    long long w = r - l;
    return w > INT32_MAX ? INT32_MAX : (int)w;
}

int sc_text_height(float px) {
    if (!px_ok(px)) return 0;
    return (int)ceilf(px) + 1; /* glyph boxes are rounded outwards by a pixel */
}

typedef struct draw_ctx {
    sc_image *img;
    long long ox, baseline; /* image position of pen 0 and of the baseline */
    float col[4];
    unsigned char *buf;
    size_t cap;
    sc_status status;
} draw_ctx;

static void draw_glyph(const sc_font *f, float scale, const glyph_pos *g, void *vctx) {
    draw_ctx *d = vctx;
    if (d->status) return;
    sc_image *img = d->img;
    long long gx = d->ox + g->ix + g->x0, gy = d->baseline + g->y0;
    int gw = g->x1 - g->x0, gh = g->y1 - g->y0;
    /* Clip to the image. */
    long long cx0 = SC_MAX(gx, 0), cy0 = SC_MAX(gy, 0);
    long long cx1 = SC_MIN(gx + gw, (long long)img->w), cy1 = SC_MIN(gy + gh, (long long)img->h);
    if (cx0 >= cx1 || cy0 >= cy1) return;
    size_t need = (size_t)gw * (size_t)gh;
    if (need > d->cap) {
        unsigned char *nb = sc_malloc(need);
        if (!nb) {
            d->status = SC_ERR_NOMEM;
            return;
        }
        sc_free(d->buf);
        d->buf = nb;
        d->cap = need;
    }
    stbtt_MakeGlyphBitmapSubpixel(&f->info, d->buf, gw, gh, gw, scale, scale, g->shift, 0.0f,
                                  g->glyph);
    size_t plane = (size_t)img->w * img->h;
    for (long long y = cy0; y < cy1; y++) {
        const unsigned char *row = d->buf + (size_t)(y - gy) * gw;
        for (long long x = cx0; x < cx1; x++) {
            unsigned cov = row[x - gx];
            if (cov) blend_px(img, plane, (int)x, (int)y, d->col, (float)cov * (1.0f / 255.0f));
        }
    }
}

sc_status sc_draw_text(sc_image *img, int x, int y, const char *text, float px,
                       const float rgb[3]) {
    if (!image_ok(img))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_draw_text: image is NULL, empty or has %d "
                            "channels",
                            img ? img->c : 0);
    if (!text || !rgb) return sc_set_error(SC_ERR_INVALID_ARG, "sc_draw_text: text or rgb is NULL");
    if (!px_ok(px))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_draw_text: pixel height %g is outside (0, %g]",
                            (double)px, (double)SC_TEXT_MAX_PX);
    const sc_font *f = font_get();
    if (!f) return font_default_status ? font_default_status : SC_ERR_IO;
    if (!*text) return SC_OK;
    long long l, r;
    layout(f, text, px, NULL, NULL, &l, &r);
    draw_ctx d;
    memset(&d, 0, sizeof d);
    d.img = img;
    d.ox = (long long)x - l;
    float scale = stbtt_ScaleForPixelHeight(&f->info, px);
    d.baseline = (long long)y + (long long)floorf(f->ascent * scale + 0.5f);
    target_color(img, rgb, d.col);
    /* Nothing to do when the text box misses the image entirely. */
    long long h = sc_text_height(px) + (long long)ceilf(px) + 2; /* generous for accents */
    if ((long long)x + (r - l) < 0 || (long long)x >= img->w || (long long)y + h < 0 ||
        (long long)y - h >= img->h)
        return SC_OK;
    layout(f, text, px, draw_glyph, &d, &l, &r);
    sc_free(d.buf);
    if (d.status) return sc_set_error(d.status, "sc_draw_text: out of memory");
    return SC_OK;
}

/* ---- Rectangles and lines ----------------------------------------------------- */

/* Set the clipped, inclusive box [x0, x1] x [y0, y1] to col. */
static void fill_box(sc_image *img, long long x0, long long y0, long long x1, long long y1,
                     const float col[4]) {
    x0 = SC_MAX(x0, 0);
    y0 = SC_MAX(y0, 0);
    x1 = SC_MIN(x1, (long long)img->w - 1);
    y1 = SC_MIN(y1, (long long)img->h - 1);
    if (x0 > x1 || y0 > y1) return;
    size_t plane = (size_t)img->w * img->h;
    for (int c = 0; c < img->c; c++)
        for (long long y = y0; y <= y1; y++) {
            float *p = img->data + c * plane + (size_t)y * img->w;
            for (long long x = x0; x <= x1; x++) p[x] = col[c];
        }
}

void sc_draw_rect(sc_image *img, int x0, int y0, int x1, int y1, const float rgb[3], int filled,
                  int thickness) {
    if (!image_ok(img) || !rgb) return;
    float col[4];
    target_color(img, rgb, col);
    long long ax = SC_MIN(x0, x1), bx = SC_MAX(x0, x1), ay = SC_MIN(y0, y1), by = SC_MAX(y0, y1);
    long long t = thickness <= 0 ? 1 : thickness;
    if (filled || 2 * t > bx - ax || 2 * t > by - ay) {
        fill_box(img, ax, ay, bx, by, col);
        return;
    }
    fill_box(img, ax, ay, bx, ay + t - 1, col);         /* top */
    fill_box(img, ax, by - t + 1, bx, by, col);         /* bottom */
    fill_box(img, ax, ay + t, ax + t - 1, by - t, col); /* left */
    fill_box(img, bx - t + 1, ay + t, bx, by - t, col); /* right */
}

void sc_draw_line(sc_image *img, float x0, float y0, float x1, float y1, const float rgb[3],
                  int thickness) {
    if (!image_ok(img) || !rgb) return;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1)) return;
    float col[4];
    target_color(img, rgb, col);
    double half = (thickness <= 0 ? 1 : (double)thickness) * 0.5;
    /* Pixels whose centres lie in the segment's bounding box grown by half,
     * clipped to the image (so far-away endpoints cost nothing extra). */
    double bx0 = fmax(ceil(fmin(x0, x1) - half), 0.0);
    double by0 = fmax(ceil(fmin(y0, y1) - half), 0.0);
    double bx1 = fmin(floor(fmax(x0, x1) + half), img->w - 1.0);
    double by1 = fmin(floor(fmax(y0, y1) + half), img->h - 1.0);
    if (bx0 > bx1 || by0 > by1) return;
    double dx = (double)x1 - x0, dy = (double)y1 - y0, len2 = dx * dx + dy * dy;
    double h2 = half * half;
    size_t plane = (size_t)img->w * img->h;
    for (int y = (int)by0; y <= (int)by1; y++) {
        for (int x = (int)bx0; x <= (int)bx1; x++) {
            double px = x - (double)x0, py = y - (double)y0;
            double t = len2 > 0 ? (px * dx + py * dy) / len2 : 0.0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = px - t * dx, ey = py - t * dy;
            if (ex * ex + ey * ey <= h2) blend_px(img, plane, x, y, col, 1.0f);
        }
    }
}
