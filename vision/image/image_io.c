/* Image loading (stb_image), probing, EXIF orientation, and saving (PNG 8/16
 * bit, JPEG).
 *
 * Decoding: stb_image from Debian's libstb (the implementation lives in
 * libstb.so; STB_IMAGE_IMPLEMENTATION is never defined here). stb keeps a few
 * process-wide settings (vertical flip, iPhone PNG conversion, unpremultiply,
 * HDR gamma); saccade never changes them, so callers that do are on their own.
 *
 * Pixels are always requested from stb with 4 channels: stb reports the
 * channel count of the file header, which for PNG with a tRNS chunk does not
 * include the alpha it produces, so trusting it would misread the buffer.
 *
 * Value ranges: 8-bit data / 255, 16-bit data (PNG, PSD, PNM with maxval >
 * 255) / 65535 (full precision kept), HDR (Radiance .hdr): linear radiance
 * as decoded by stbi_loadf, clamped to [0, 1] (no tone mapping, no gamma). */
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stb_image.h>
#include <stb_image_write.h>
#include <zlib.h>
#include "sc_internal.h"
#include "saccade/sc_image.h"
#include "image_check.h"
#include "jpeg_enc.h"

#define SC_IMAGE_DEFAULT_MAX_PIXELS ((uint64_t)64 << 20) /* 64 Mi pixels (8192 x 8192) */
#define SC_IMAGE_DEFAULT_MAX_FILE ((size_t)1 << 30)      /* 1 GiB */

sc_image_load_params sc_image_load_default_params(void) {
    sc_image_load_params p;
    memset(&p, 0, sizeof p);
    p.max_pixels = SC_IMAGE_DEFAULT_MAX_PIXELS;
    p.max_file_bytes = SC_IMAGE_DEFAULT_MAX_FILE;
    p.keep_alpha = 0;
    p.apply_exif_orientation = 1;
    return p;
}

/* ---- EXIF orientation (JPEG APP1 "Exif\0\0" + TIFF header, IFD0 tag 0x0112) ---- */

static unsigned rd16(const unsigned char *p, int le) {
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}
static uint32_t rd32(const unsigned char *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation from a TIFF block (the APP1 payload after "Exif\0\0"); 1 when
 * absent or malformed. Every offset is checked against n. */
static int tiff_orientation(const unsigned char *t, size_t n) {
    if (n < 8) return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n || n - ifd < 2) return 1;
    unsigned count = rd16(t + ifd, le);
    size_t entries = ((size_t)n - ifd - 2) / 12;
    if (count > entries) count = (unsigned)entries;
    for (unsigned i = 0; i < count; i++) {
        const unsigned char *e = t + ifd + 2 + (size_t)i * 12;
        if (rd16(e, le) != 0x0112) continue;
        unsigned type = rd16(e + 2, le);
        uint32_t cnt = rd32(e + 4, le);
        unsigned v;
        if (type == 3 && cnt >= 1)
            v = rd16(e + 8, le); /* SHORT, inline */
        else if (type == 4 && cnt >= 1)
            v = rd32(e + 8, le); /* LONG (non-standard) */
        else
            return 1;
        return (v >= 1 && v <= 8) ? (int)v : 1;
    }
    return 1;
}

/* Walk JPEG marker segments up to the start of scan looking for EXIF. */
static int jpeg_exif_orientation(const unsigned char *b, size_t n) {
    if (n < 4 || b[0] != 0xFF) return 1; /* leading fill bytes are walked over */
    size_t i = 2;
    while (i + 4 <= n) {
        if (b[i] != 0xFF) return 1;
        unsigned m = b[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01) { /* no length */
            i += 2;
            continue;
        }
        if (m == 0xDA || m == 0xD9) return 1; /* start of scan / end: no EXIF */
        size_t len = rd16(b + i + 2, 0);
        if (len < 2 || len > n - i - 2) return 1;
        const unsigned char *seg = b + i + 4;
        size_t seglen = len - 2;
        if (m == 0xE1 && seglen >= 6 && memcmp(seg, "Exif\0\0", 6) == 0)
            return tiff_orientation(seg + 6, seglen - 6);
        i += 2 + len;
    }
    return 1;
}

/* ---- Probing ---- */

static const char *magic_format(const unsigned char *b, size_t n) {
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
    if (n >= 2 && b[0] == 0xFF) { /* stb skips any number of 0xFF fill bytes before SOI */
        size_t k = 1;
        while (k < n && b[k] == 0xFF) k++;
        if (k < n && b[k] == 0xD8) return "jpeg";
    }
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return "bmp";
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "gif";
    if (n >= 4 && memcmp(b, "8BPS", 4) == 0) return "psd";
    if ((n >= 10 && memcmp(b, "#?RADIANCE", 10) == 0) || (n >= 6 && memcmp(b, "#?RGBE", 6) == 0))
        return "hdr";
    if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) return "pnm";
    if (n >= 4 && memcmp(b, "\x53\x80\xF6\x34", 4) == 0) return "pic";
    return NULL;
}

/* Header-only probe of a memory buffer. Messages carry no file name. */
static sc_status probe_mem(const unsigned char *b, size_t n, sc_image_info *info) {
    memset(info, 0, sizeof *info);
    if (n == 0) return sc_set_error(SC_ERR_FORMAT, "empty file");
    if (n > INT_MAX) return sc_set_error(SC_ERR_LIMIT, "file of %zu bytes is too large", n);
    const char *fmt = magic_format(b, n);
    if (fmt && strcmp(fmt, "pic") == 0)
        return sc_set_error(SC_ERR_UNSUPPORTED, "Softimage PIC images are not supported");
    if (fmt && strcmp(fmt, "jpeg") == 0) {
        sc_status s = sc_image_check_jpeg(b, n);
        if (s) return s;
    }
    if (fmt && strcmp(fmt, "pnm") == 0) {
        sc_status s = sc_image_check_pnm_header(b, n);
        if (s) return s;
    }
    if (fmt && strcmp(fmt, "psd") == 0) {
        sc_status s = sc_image_check_psd_header(b, n);
        if (s) return s;
    }
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(b, (int)n, &w, &h, &comp)) {
        /* stb tries every format in turn, so its failure reason belongs to the
         * last one tried; only "too large" (header dimensions stb itself
         * refuses) is worth passing on. */
        const char *why = stbi_failure_reason();
        /* PNG IHDR read directly: stb's own size refusal may be masked. */
        if (fmt && strcmp(fmt, "png") == 0 && n >= 24 && memcmp(b + 12, "IHDR", 4) == 0) {
            uint64_t pw = rd32(b + 16, 0), ph = rd32(b + 20, 0);
            if (pw * ph * 4 > ((uint64_t)1 << 30) || pw > (1u << 24) || ph > (1u << 24)) {
                info->w = (int)SC_MIN(pw, (uint64_t)INT_MAX);
                info->h = (int)SC_MIN(ph, (uint64_t)INT_MAX);
                return sc_set_error(SC_ERR_LIMIT,
                                    "png header declares %llux%llu pixels, too large to decode",
                                    (unsigned long long)pw, (unsigned long long)ph);
            }
        }
        if (why && strcmp(why, "too large") == 0) {
            return sc_set_error(SC_ERR_LIMIT, "%s header declares dimensions too large to decode",
                                fmt ? fmt : "image");
        }
        if (fmt) return sc_set_error(SC_ERR_FORMAT, "truncated or corrupt %s header", fmt);
        return sc_set_error(SC_ERR_FORMAT, "not a recognised image format");
    }
    /* stb reports a top-down BMP's negative height as it is (and decodes the
     * rows in order); the 32-bit header field limits it to 2^31. */
    if (fmt && strcmp(fmt, "bmp") == 0 && h < 0 && h != INT_MIN) h = -h;
    if (w <= 0 || h <= 0 || comp < 1 || comp > 4)
        return sc_set_error(SC_ERR_FORMAT, "bad header: size %dx%d, %d channels", w, h, comp);
    /* stb tries TGA last and TGA has no magic bytes. */
    snprintf(info->format, sizeof info->format, "%s", fmt ? fmt : "tga");
    info->w = w;
    info->h = h;
    info->channels = comp;
    if (strcmp(info->format, "psd") == 0 && n >= 14) /* stb always says 4 */
        info->channels = (int)SC_MIN(rd16(b + 12, 0), 4u);
    if (stbi_is_hdr_from_memory(b, (int)n))
        info->bit_depth = 32;
    else if (stbi_is_16_bit_from_memory(b, (int)n))
        info->bit_depth = 16;
    else
        info->bit_depth = 8;
    if (strcmp(info->format, "psd") == 0 && n >= 24) /* stbi_is_16_bit misses PSD */
        info->bit_depth = rd16(b + 22, 0) == 16 ? 16 : 8;
    info->orientation = strcmp(info->format, "jpeg") == 0 ? jpeg_exif_orientation(b, n) : 1;
    return SC_OK;
}

sc_status sc_image_probe_memory(const void *buf, size_t len, sc_image_info *info) {
    if (!info || (!buf && len)) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    sc_status s = probe_mem(buf, len, info);
    if (s) sc_error_prefix("image buffer");
    return s;
}

sc_status sc_image_probe(const char *path, sc_image_info *info) {
    if (!path || !info) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    unsigned char *buf = NULL;
    size_t len = 0;
    /* the whole file: the JPEG check walks every segment */
    sc_status s = sc_read_file(path, SC_IMAGE_DEFAULT_MAX_FILE, &buf, &len);
    if (s) return s; /* message already names the path */
    s = probe_mem(buf, len, info);
    free(buf);
    if (s) sc_error_prefix(strcmp(path, "-") == 0 ? "<stdin>" : path);
    return s;
}

/* ---- Loading ---- */

/* Source pixel (sx, sy) of output pixel (x, y) for EXIF orientation o, stored
 * size w x h. Orientations 5..8 swap width and height. */
static inline void orient_src(int o, int x, int y, int w, int h, int *sx, int *sy) {
    switch (o) {
    case 2:
        *sx = w - 1 - x;
        *sy = y;
        break; /* mirror horizontal */
    case 3:
        *sx = w - 1 - x;
        *sy = h - 1 - y;
        break; /* rotate 180 */
    case 4:
        *sx = x;
        *sy = h - 1 - y;
        break; /* mirror vertical */
    case 5:
        *sx = y;
        *sy = x;
        break; /* transpose */
    case 6:
        *sx = y;
        *sy = h - 1 - x;
        break; /* rotate 90 clockwise */
    case 7:
        *sx = w - 1 - y;
        *sy = h - 1 - x;
        break; /* transverse */
    case 8:
        *sx = w - 1 - y;
        *sy = x;
        break; /* rotate 90 counter-clockwise */
    default:
        *sx = x;
        *sy = y;
        break;
    }
}

static atomic_ullong decode_count;

unsigned long long sc_image_decode_count(void) {
    return atomic_load(&decode_count);
}

static sc_status load_mem(const unsigned char *b, size_t n, const sc_image_load_params *p,
                          sc_image *out, sc_image_info *info_out) {
    sc_image_info info;
    size_t max_file = p->max_file_bytes ? p->max_file_bytes : SC_IMAGE_DEFAULT_MAX_FILE;
    uint64_t max_pixels = p->max_pixels ? p->max_pixels : SC_IMAGE_DEFAULT_MAX_PIXELS;
    if (n > max_file)
        return sc_set_error(SC_ERR_LIMIT, "file is %zu bytes, over the limit of %zu", n, max_file);
    sc_status s = probe_mem(b, n, &info);
    if (s) return s;
    uint64_t npix = (uint64_t)info.w * (uint64_t)info.h;
    if (npix > max_pixels)
        return sc_set_error(SC_ERR_LIMIT,
                            "image is %dx%d = %llu pixels, over the limit of %llu pixels", info.w,
                            info.h, (unsigned long long)npix, (unsigned long long)max_pixels);

    uint32_t maxval;
    s = sc_image_check_complete(b, n, &info, &maxval);
    if (s) return s;
    int w = 0, h = 0, comp = 0, pc = 4; /* pc: channels in px */
    void *px;
    atomic_fetch_add(&decode_count, 1);
    if (info.bit_depth == 32) {
        px = stbi_loadf_from_memory(b, (int)n, &w, &h, &comp, 4);
    } else if (info.bit_depth == 16 && maxval) {
        /* stb 2.27 converts 16-bit PNM channels with its 8-bit routine (reading
         * past the buffer) and leaves samples in file (big-endian) order: take
         * the raw samples and convert here. */
        px = stbi_load_16_from_memory(b, (int)n, &w, &h, &comp, 0);
        pc = comp;
        if (px && (comp != info.channels || (comp != 1 && comp != 3))) {
            stbi_image_free(px);
            return sc_set_error(SC_ERR_FORMAT, "pnm: unexpected channel count %d", comp);
        }
        if (px) {
            unsigned short *u = px;
            for (size_t i = 0, m = (size_t)w * h * comp; i < m; i++)
                u[i] = (unsigned short)(u[i] >> 8 | u[i] << 8);
        }
    } else if (info.bit_depth == 16) {
        px = stbi_load_16_from_memory(b, (int)n, &w, &h, &comp, 4);
    } else {
        px = stbi_load_from_memory(b, (int)n, &w, &h, &comp, 4);
    }
    if (!px) {
        const char *why = sc_image_stb_reason(info.format, stbi_failure_reason());
        return sc_set_error(SC_ERR_FORMAT, "cannot decode %s: %s", info.format,
                            why ? why : "corrupt or truncated data");
    }
    if (w != info.w || h != info.h) { /* should not happen; never trust it */
        stbi_image_free(px);
        return sc_set_error(SC_ERR_FORMAT, "%s header says %dx%d but data decodes as %dx%d",
                            info.format, info.w, info.h, w, h);
    }
    int o = p->apply_exif_orientation ? info.orientation : 1;
    int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    int oc = p->keep_alpha ? 4 : 3;
    s = sc_image_alloc(out, ow, oh, oc);
    if (s) {
        stbi_image_free(px);
        return s;
    }
    const int depth = info.bit_depth;
    const float scale = maxval ? 1.f / (float)maxval : depth == 16 ? 1.f / 65535.f : 1.f / 255.f;
    const float bg0 = p->background[0], bg1 = p->background[1], bg2 = p->background[2];
    const int keep = p->keep_alpha;
    const size_t plane = (size_t)ow * oh;
    float *dst = out->data;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            orient_src(o, x, y, w, h, &sx, &sy);
            size_t si = ((size_t)sy * w + sx) * pc;
            float v[4] = {0, 0, 0, 1};
            if (depth == 32) {
                const float *f = (const float *)px + si;
                for (int k = 0; k < 4; k++) v[k] = fminf(fmaxf(f[k], 0.f), 1.f);
            } else if (depth == 16) {
                const unsigned short *u = (const unsigned short *)px + si;
                for (int k = 0; k < pc; k++) v[k] = fminf(u[k] * scale, 1.f);
                if (pc == 1) v[1] = v[2] = v[0];
            } else {
                const unsigned char *u = (const unsigned char *)px + si;
                for (int k = 0; k < 3; k++) v[k] = fminf(u[k] * scale, 1.f);
                v[3] = u[3] * (1.f / 255.f);
            }
            size_t di = (size_t)y * ow + x;
            if (keep) {
                for (int k = 0; k < 4; k++) dst[k * plane + di] = v[k];
            } else {
                float a = v[3], ia = 1.f - a;
                dst[di] = v[0] * a + bg0 * ia;
                dst[plane + di] = v[1] * a + bg1 * ia;
                dst[2 * plane + di] = v[2] * a + bg2 * ia;
            }
        }
    }
    stbi_image_free(px);
    if (info_out) *info_out = info;
    return SC_OK;
}

static sc_status check_params(const sc_image_load_params *p) {
    if (!p) return SC_OK;
    for (int k = 0; k < 3; k++)
        if (!(p->background[k] >= 0.f && p->background[k] <= 1.f))
            return sc_set_error(SC_ERR_INVALID_ARG, "background[%d] = %g is outside [0, 1]", k,
                                (double)p->background[k]);
    return SC_OK;
}

sc_status sc_image_load_memory(const void *buf, size_t len, const sc_image_load_params *p,
                               sc_image *out, sc_image_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (!out || (!buf && len)) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    sc_image_load_params d = sc_image_load_default_params();
    sc_status s = check_params(p);
    if (s) return s;
    s = load_mem(buf, len, p ? p : &d, out, info);
    if (s) sc_error_prefix("image buffer");
    return s;
}

sc_status sc_image_load(const char *path, const sc_image_load_params *p, sc_image *out,
                        sc_image_info *info) {
    if (out) memset(out, 0, sizeof *out);
    if (!path || !out) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    sc_image_load_params d = sc_image_load_default_params();
    if (!p) p = &d;
    sc_status s = check_params(p);
    if (s) return s;
    unsigned char *buf;
    size_t len;
    s = sc_read_file(path, p->max_file_bytes ? p->max_file_bytes : SC_IMAGE_DEFAULT_MAX_FILE, &buf,
                     &len);
    if (s) return s; /* message already starts with the path */
    s = load_mem(buf, len, p, out, info);
    free(buf);
    if (s) sc_error_prefix(strcmp(path, "-") == 0 ? "<stdin>" : path);
    return s;
}

/* ---- Saving ---- */

typedef struct membuf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} membuf;

static void membuf_put(membuf *m, const void *data, size_t n) {
    if (m->failed || n == 0) return;
    if (n > SIZE_MAX - m->len) {
        m->failed = 1;
        return;
    }
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->len + n) {
            if (cap > SIZE_MAX / 2) {
                m->failed = 1;
                return;
            }
            cap *= 2;
        }
        unsigned char *d = realloc(m->data, cap);
        if (!d) {
            m->failed = 1;
            return;
        }
        m->data = d;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, n);
    m->len += n;
}

static void stb_write_cb(void *ctx, void *data, int size) {
    if (size > 0) membuf_put(ctx, data, (size_t)size);
}

static sc_status check_save(const sc_image *img, const char *path) {
    if (!img || !path || !img->data) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    if (img->w <= 0 || img->h <= 0 || !(img->c == 1 || img->c == 3 || img->c == 4))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: cannot save a %dx%dx%d image (channels must be 1, 3 or 4)", path,
                            img->w, img->h, img->c);
    return SC_OK;
}

static inline float clamp01(float v) {
    return v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;
}

/* Interleaved quantized copy: 8-bit (maxv 255) or 16-bit host-order (65535).
 * Threads only from a megapixel: under that, starting them costs more than
 * the copy (the gallery's thumbnails and figures). */
static void *interleave(const sc_image *img, int sixteen) {
    size_t plane = (size_t)img->w * img->h, n;
    if (sc_mul_size(plane, (size_t)img->c, &n)) return NULL;
    void *out = sc_malloc(sixteen ? n * 2 : n);
    if (!out) return NULL;
    const int c = img->c;
    /* one plane at a time, the 8- and 16-bit loops apart: both vectorise */
    for (int k = 0; k < c; k++) {
        const float *src = img->data + (size_t)k * plane;
        if (sixteen) {
            uint16_t *o = (uint16_t *)out + k;
#pragma omp parallel for schedule(static) if (plane >= ((size_t)1 << 20))
            for (long long i = 0; i < (long long)plane; i++)
                o[(size_t)i * c] = (uint16_t)(clamp01(src[i]) * 65535.f + 0.5f);
        } else {
            unsigned char *o = (unsigned char *)out + k;
#pragma omp parallel for schedule(static) if (plane >= ((size_t)1 << 20))
            for (long long i = 0; i < (long long)plane; i++)
                o[(size_t)i * c] = (unsigned char)(clamp01(src[i]) * 255.f + 0.5f);
        }
    }
    return out;
}

static sc_status finish_save(membuf *m, int ok, const char *path, const char *what) {
    sc_status s;
    if (!ok || m->failed)
        s = sc_set_error(SC_ERR_NOMEM, "%s: cannot encode %s", path, what);
    else
        s = sc_write_file_atomic(path, m->data, m->len);
    free(m->data);
    return s;
}

sc_status sc_image_save_png(const sc_image *img, const char *path) {
    sc_status s = check_save(img, path);
    if (s) return s;
    if ((size_t)img->w * img->c > INT_MAX / 2)
        return sc_set_error(SC_ERR_LIMIT, "%s: image too wide for PNG", path);
    unsigned char *px = interleave(img, 0);
    if (!px) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", path);
    membuf m = {0};
    int ok = stbi_write_png_to_func(stb_write_cb, &m, img->w, img->h, img->c, px, img->w * img->c);
    sc_free(px);
    return finish_save(&m, ok, path, "PNG");
}

/* JPEG bytes of img into m (its data freed by the caller); path only names
 * the output in messages. */
static sc_status encode_jpeg(const sc_image *img, const char *path, int quality, membuf *m) {
    sc_status s = check_save(img, path);
    if (s) return s;
    if (quality < 1 || quality > 100)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: JPEG quality %d is outside 1..100", path,
                            quality);
    if (img->w > 65535 || img->h > 65535)
        return sc_set_error(SC_ERR_LIMIT, "%s: %dx%d is too large for JPEG (max 65535)", path,
                            img->w, img->h);
    /* the planes quantised as they are (contiguous loops that vectorise);
     * an alpha plane is ignored */
    const size_t plane = (size_t)img->w * img->h;
    const int c = img->c == 4 ? 3 : img->c;
    unsigned char *px = sc_malloc(plane * c);
    if (!px) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < plane * c; i++)
        px[i] = (unsigned char)(clamp01(img->data[i]) * 255.f + 0.5f);
    unsigned char *jpg = NULL;
    size_t n = 0;
    s = sc_jpeg_encode_planes(px, img->w, img->h, c, quality, &jpg, &n);
    sc_free(px);
    if (s) return sc_set_error(s, "%s: cannot encode JPEG: %s", path, sc_last_error());
    m->data = jpg;
    m->len = m->cap = n;
    return SC_OK;
}

sc_status sc_image_save_jpeg(const sc_image *img, const char *path, int quality) {
    membuf m = {0};
    sc_status s = encode_jpeg(img, path, quality, &m);
    if (!s) s = sc_write_file_atomic(path, m.data, m.len);
    free(m.data);
    return s;
}

sc_status sc_image_encode_jpeg(const sc_image *img, int quality, unsigned char **out,
                               size_t *out_len) {
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!out || !out_len) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    membuf m = {0};
    sc_status s = encode_jpeg(img, "image", quality, &m);
    if (s) {
        free(m.data);
        return s;
    }
    *out = m.data;
    *out_len = m.len;
    return SC_OK;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void png_chunk(membuf *m, const char type[4], const unsigned char *data, size_t n) {
    unsigned char hdr[8];
    put_be32(hdr, (uint32_t)n);
    memcpy(hdr + 4, type, 4);
    membuf_put(m, hdr, 8);
    membuf_put(m, data, n);
    uLong crc = crc32(0L, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, (uInt)n);
    unsigned char c[4];
    put_be32(c, (uint32_t)crc);
    membuf_put(m, c, 4);
}

/* 16-bit PNG written directly: stb_image_write only writes 8-bit. Rows use
 * filter type 0 (none); samples are big-endian as PNG requires. */
sc_status sc_image_save_png16(const sc_image *img, const char *path) {
    sc_status s = check_save(img, path);
    if (s) return s;
    size_t rowbytes, raw;
    if (sc_mul_size((size_t)img->w, (size_t)img->c * 2, &rowbytes) ||
        sc_add_size(rowbytes, 1, &rowbytes) || sc_mul_size(rowbytes, (size_t)img->h, &raw) ||
        raw > (size_t)UINT32_MAX)
        return sc_set_error(SC_ERR_LIMIT, "%s: image too large for 16-bit PNG", path);
    uint16_t *px = interleave(img, 1);
    if (!px) return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", path);
    unsigned char *rawbuf = malloc(raw);
    uLong zcap = compressBound((uLong)raw);
    unsigned char *z = malloc(zcap);
    if (!rawbuf || !z) {
        sc_free(px);
        free(rawbuf);
        free(z);
        return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t rowvals = (size_t)img->w * img->c;
    for (int y = 0; y < img->h; y++) {
        unsigned char *r = rawbuf + (size_t)y * rowbytes;
        const uint16_t *src = px + (size_t)y * rowvals;
        r[0] = 0;
        for (size_t i = 0; i < rowvals; i++) {
            r[1 + 2 * i] = (unsigned char)(src[i] >> 8);
            r[2 + 2 * i] = (unsigned char)(src[i] & 0xFF);
        }
    }
    sc_free(px);
    uLongf zlen = zcap;
    int zr = compress2(z, &zlen, rawbuf, (uLong)raw, 6);
    free(rawbuf);
    if (zr != Z_OK) {
        free(z);
        return sc_set_error(SC_ERR_INTERNAL, "%s: zlib compress2 failed (%d)", path, zr);
    }
    membuf m = {0};
    membuf_put(&m, "\x89PNG\r\n\x1a\n", 8);
    unsigned char ihdr[13];
    put_be32(ihdr, (uint32_t)img->w);
    put_be32(ihdr + 4, (uint32_t)img->h);
    ihdr[8] = 16;
    ihdr[9] = img->c == 1 ? 0 : img->c == 3 ? 2 : 6; /* gray, RGB, RGBA */
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    png_chunk(&m, "IHDR", ihdr, sizeof ihdr);
    const size_t chunk = (size_t)1 << 20;
    for (size_t off = 0; off < zlen; off += chunk)
        png_chunk(&m, "IDAT", z + off, SC_MIN(chunk, (size_t)zlen - off));
    png_chunk(&m, "IEND", NULL, 0);
    free(z);
    return finish_save(&m, 1, path, "16-bit PNG");
}

sc_status sc_image_save(const sc_image *img, const char *path) {
    if (!path) return sc_set_error(SC_ERR_INVALID_ARG, "NULL path");
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash)) {
        if (strcasecmp(dot, ".png") == 0) return sc_image_save_png(img, path);
        if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
            return sc_image_save_jpeg(img, path, 95);
    }
    return sc_set_error(SC_ERR_INVALID_ARG, "%s: unknown image extension (use .png, .jpg or .jpeg)",
                        path);
}
