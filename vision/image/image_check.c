/* Checks run before stb_image decodes a buffer, so that what stb reads is
 * present, defined, and costs time and memory in proportion to the file.
 *
 * stb_image reads zeros past the end of a memory buffer instead of failing
 * for BMP, GIF, PNM, PSD and TGA, so a truncated file would "decode" with a
 * black or grey tail; these checks walk each format's layout far enough to
 * know that every byte the decoder will read is present. For Radiance HDR the
 * walk also rejects run-length records with a count of 0, on which stb_image
 * 2.27's decoder loops forever (truncated files hit it too, since stb reads
 * zeros at the end). JPEG and PNG get a walk of their own (below): stb trusts
 * JPEG tables it never initialised and inflates PNG data without bound.
 *
 * Declared sizes against file sizes: each format's data must be able to hold
 * the pixels declared (JPEG: 1 bit per 8x8 block and component; PNG: deflate's
 * 1032:1; GIF: 4096 pixels per byte; BMP, PNM, PSD, TGA and HDR: their raw
 * or run-length data is walked), on top of the caller's pixel limit. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "sc_internal.h"
#include "image_check.h"

static uint32_t le16(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const unsigned char *p) {
    return le16(p) | le16(p + 2) << 16;
}
static uint32_t be16(const unsigned char *p) {
    return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const unsigned char *p) {
    return be16(p) << 16 | be16(p + 2);
}

#define TRUNC(what) sc_set_error(SC_ERR_FORMAT, "truncated or corrupt %s data", what)

/* need bytes at pos (64-bit arithmetic: callers keep sizes far below 2^63) */
static int have(uint64_t pos, uint64_t need, size_t n) {
    return pos <= n && need <= n - pos;
}

static sc_status check_pnm(const unsigned char *b, size_t n, const sc_image_info *in,
                           uint32_t *maxval) {
    size_t pos = 2;
    uint64_t v[3] = {0, 0, 0};
    for (int f = 0; f < 3; f++) {
        for (;;) { /* whitespace and comments, as stb skips them */
            if (pos >= n) return TRUNC("pnm");
            if (b[pos] == '#') {
                while (pos < n && b[pos] != '\n' && b[pos] != '\r') pos++;
            } else if (b[pos] == ' ' || (b[pos] >= '\t' && b[pos] <= '\r')) {
                pos++;
            } else {
                break;
            }
        }
        if (b[pos] < '0' || b[pos] > '9') return TRUNC("pnm");
        while (pos < n && b[pos] >= '0' && b[pos] <= '9' && v[f] < ((uint64_t)1 << 40))
            v[f] = v[f] * 10 + (uint64_t)(b[pos++] - '0');
    }
    pos++; /* the single whitespace byte before the samples */
    if (v[2] == 0 || v[2] > 65535) return sc_set_error(SC_ERR_FORMAT, "pnm maxval out of range");
    *maxval = (uint32_t)v[2];
    uint64_t ch = b[1] == '6' ? 3 : 1, bytes = v[2] > 255 ? 2 : 1;
    uint64_t need = (uint64_t)in->w * in->h * ch * bytes;
    return have(pos, need, n) ? SC_OK : TRUNC("pnm");
}

static sc_status check_bmp(const unsigned char *b, size_t n, const sc_image_info *in) {
    if (n < 30) return TRUNC("bmp");
    uint32_t off = le32(b + 10), hsz = le32(b + 14), bpp, comp = 0;
    if (hsz == 12) {
        bpp = le16(b + 24);
    } else {
        if (n < 34) return TRUNC("bmp");
        bpp = le16(b + 28);
        comp = le32(b + 30);
    }
    if (comp != 0 && comp != 3) return SC_OK; /* stb refuses compressed BMP itself */
    uint64_t row = (((uint64_t)in->w * bpp + 31) / 32) * 4;
    return have(off, row * (uint64_t)in->h, n) ? SC_OK : TRUNC("bmp");
}

static sc_status check_tga(const unsigned char *b, size_t n, const sc_image_info *in) {
    if (n < 18) return TRUNC("tga");
    uint64_t off = 18 + (uint64_t)b[0];
    if (b[1]) off += (uint64_t)le16(b + 5) * ((b[7] + 7u) / 8u);
    uint64_t pb = (b[16] + 7u) / 8u, pixels = (uint64_t)in->w * in->h;
    if (pb == 0) return TRUNC("tga");
    if (b[2] < 8) return have(off, pixels * pb, n) ? SC_OK : TRUNC("tga");
    for (uint64_t done = 0, pos = off; done < pixels;) { /* RLE packets */
        if (!have(pos, 1, n)) return TRUNC("tga");
        unsigned h = b[pos++];
        uint64_t cnt = (h & 0x7F) + 1, bytes = (h & 0x80) ? pb : cnt * pb;
        if (!have(pos, bytes, n)) return TRUNC("tga");
        pos += bytes;
        done += cnt;
    }
    return SC_OK;
}

/* stb "removes a white matte" from PSDs with 4 or more channels: a colour
 * value c under alpha A (neither 0 nor full) becomes c / a + max (1 - 1 / a),
 * computed in float and converted to an integer type, which is undefined
 * behaviour (found by fuzzing) for colours darker than a white matte allows.
 * This is stb's arithmetic, so that exactly the pixels it cannot convert are
 * refused. */
static int psd_matte_ok(unsigned c, unsigned alpha, float max) {
    if (alpha == 0 || alpha == (unsigned)max) return 1;
    float a = (float)alpha / max, ra = 1.0f / a, inv_a = max * (1 - ra);
    float v = (float)c * ra + inv_a;
    return v > -1.0f && v < max + 1.0f;
}

#define PSD_MATTE()                                                                                \
    sc_set_error(SC_ERR_FORMAT, "psd colour darker than its alpha allows (white matte)")

/* One channel of PackBits data from *pos, which stb reads whatever the per-row
 * byte counts say: its values into out, or each checked against alpha (either
 * may be NULL). */
static sc_status psd_rle_channel(const unsigned char *b, size_t n, uint64_t *pos, uint64_t pixels,
                                 unsigned char *out, const unsigned char *alpha) {
    for (uint64_t done = 0; done < pixels;) {
        if (!have(*pos, 1, n)) return TRUNC("psd");
        unsigned len = b[(*pos)++];
        if (len == 128) continue;
        uint64_t run = len < 128 ? len + 1u : 257u - len, bytes = len < 128 ? run : 1;
        if (run > pixels - done) return sc_set_error(SC_ERR_FORMAT, "corrupt psd run-length data");
        if (!have(*pos, bytes, n)) return TRUNC("psd");
        for (uint64_t k = 0; (out || alpha) && k < run; k++) {
            unsigned v = b[*pos + (len < 128 ? k : 0)];
            if (out) out[done + k] = (unsigned char)v;
            if (alpha && !psd_matte_ok(v, alpha[done + k], 255.f)) return PSD_MATTE();
        }
        *pos += bytes;
        done += run;
    }
    return SC_OK;
}

/* stb decodes the first min(channels, 4) channels. */
static sc_status check_psd(const unsigned char *b, size_t n, const sc_image_info *in) {
    if (n < 26) return TRUNC("psd");
    uint64_t ch = be16(b + 12), depth = be16(b + 22), pos = 26;
    for (int s = 0; s < 3; s++) { /* colour mode data, resources, layers and masks */
        if (!have(pos, 4, n)) return TRUNC("psd");
        pos += 4 + (uint64_t)be32(b + pos);
    }
    if (!have(pos, 2, n)) return TRUNC("psd");
    unsigned comp = be16(b + pos);
    pos += 2;
    uint64_t pixels = (uint64_t)in->w * in->h;
    if (comp == 0) { /* planar; 16-bit samples decoded as 16-bit (saccade asks stb for that) */
        uint64_t bps = depth / 8, plane = pixels * bps;
        if (!have(pos, ch * plane, n)) return TRUNC("psd");
        const unsigned char *p = b + pos;
        float max = bps == 2 ? 65535.f : 255.f;
        for (uint64_t i = 0; ch >= 4 && i < pixels; i++) {
            unsigned alpha = bps == 2 ? be16(p + 3 * plane + 2 * i) : p[3 * plane + i];
            for (int k = 0; k < 3; k++) {
                unsigned c = bps == 2 ? be16(p + k * plane + 2 * i) : p[k * plane + i];
                if (!psd_matte_ok(c, alpha, max)) return PSD_MATTE();
            }
        }
        return SC_OK;
    }
    if (comp != 1) return SC_OK;     /* stb refuses other compressions */
    pos += ch * (uint64_t)in->h * 2; /* per-row byte counts */
    uint64_t start[4];
    for (uint64_t c = 0; c < SC_MIN(ch, 4); c++) {
        start[c] = pos;
        sc_status s = psd_rle_channel(b, n, &pos, pixels, NULL, NULL);
        if (s) return s;
    }
    if (ch < 4) return SC_OK;
    /* RLE data comes out 8-bit whatever the depth */
    unsigned char *alpha = malloc(pixels);
    if (!alpha) return sc_set_error(SC_ERR_NOMEM, "out of memory checking psd data");
    sc_status s = psd_rle_channel(b, n, &start[3], pixels, alpha, NULL);
    for (int c = 0; !s && c < 3; c++) s = psd_rle_channel(b, n, &start[c], pixels, NULL, alpha);
    free(alpha);
    return s;
}

static sc_status skip_subblocks(const unsigned char *b, size_t n, uint64_t *pos) {
    for (;;) {
        if (!have(*pos, 1, n)) return TRUNC("gif");
        unsigned sz = b[(*pos)++];
        if (sz == 0) return SC_OK;
        *pos += sz;
    }
}

/* Up to the end of the first image's LZW data (stb decodes only that). stb
 * allocates 9 bytes per pixel of the logical screen before decoding; an LZW
 * code (12 bits at most) stands for at most 4096 pixels, so a file holding
 * the whole screen has at least one byte per GIF_PIXELS_PER_BYTE pixels. */
#define GIF_PIXELS_PER_BYTE 4096
static sc_status check_gif(const unsigned char *b, size_t n, const sc_image_info *in) {
    if (n < 13) return TRUNC("gif");
    uint64_t pixels = (uint64_t)in->w * in->h;
    if (pixels > (uint64_t)GIF_PIXELS_PER_BYTE * n + 65536)
        return sc_set_error(SC_ERR_FORMAT,
                            "gif declares %dx%d pixels, out of proportion to its %zu bytes", in->w,
                            in->h, n);
    uint64_t pos = 13;
    if (b[10] & 0x80) pos += 3u << ((b[10] & 7) + 1);
    for (;;) {
        if (!have(pos, 1, n)) return TRUNC("gif");
        unsigned t = b[pos++];
        if (t == 0x21) {
            if (!have(pos, 2, n)) return TRUNC("gif");
            unsigned label = b[pos], len = b[pos + 1];
            pos++;
            /* stb skips a graphic control extension of a length other than 4
             * and reads its next byte as the next block's type */
            if (label == 0xF9 && len != 4) {
                pos += 1 + (uint64_t)len;
                continue;
            }
            if (skip_subblocks(b, n, &pos)) return SC_ERR_FORMAT;
        } else if (t == 0x2C) {
            if (!have(pos, 9, n)) return TRUNC("gif");
            unsigned fl = b[pos + 8];
            pos += 9;
            if (fl & 0x80) pos += 3u << ((fl & 7) + 1);
            pos++; /* LZW minimum code size */
            return skip_subblocks(b, n, &pos);
        } else if (t == 0x3B) {
            return sc_set_error(SC_ERR_FORMAT, "gif has no image");
        } else {
            return TRUNC("gif");
        }
    }
}

static sc_status check_hdr(const unsigned char *b, size_t n, const sc_image_info *in) {
    /* Header lines up to an empty one, then the resolution line. */
    uint64_t pos = 0;
    int empty_seen = 0, lines = 0;
    while (!empty_seen || lines == 0) {
        const unsigned char *nl = memchr(b + pos, '\n', n - pos);
        if (!nl) return TRUNC("hdr");
        uint64_t len = (uint64_t)(nl - (b + pos));
        if (lines > 0 && len == 0) empty_seen = 1;
        pos += len + 1;
        lines++;
    }
    const unsigned char *nl = memchr(b + pos, '\n', n - pos); /* "-Y h +X w" */
    if (!nl) return TRUNC("hdr");
    pos = (uint64_t)(nl - b) + 1;
    uint64_t w = (uint64_t)in->w, h = (uint64_t)in->h;
    if (w < 8 || w >= 32768) return have(pos, w * h * 4, n) ? SC_OK : TRUNC("hdr");
    for (uint64_t j = 0; j < h; j++) {
        if (!have(pos, 4, n)) return TRUNC("hdr");
        if (b[pos] != 2 || b[pos + 1] != 2 || (b[pos + 2] & 0x80)) {
            /* stb falls back to flat RGBE for the whole image from here */
            return have(pos, w * h * 4, n) ? SC_OK : TRUNC("hdr");
        }
        pos += 4;
        for (int k = 0; k < 4; k++)
            for (uint64_t i = 0; i < w;) {
                if (!have(pos, 1, n)) return TRUNC("hdr");
                unsigned cnt = b[pos++];
                if (cnt > 128) {
                    cnt -= 128;
                    if (!have(pos, 1, n)) return TRUNC("hdr");
                    pos++;
                } else {
                    if (cnt == 0)
                        return sc_set_error(SC_ERR_FORMAT, "corrupt hdr data (zero-length run)");
                    if (!have(pos, cnt, n)) return TRUNC("hdr");
                    pos += cnt;
                }
                if (cnt > w - i) return SC_OK; /* stb reports the bad run itself */
                i += cnt;
            }
    }
    return SC_OK;
}

/* stb_image 2.27 parses PNM header numbers into an int without an overflow
 * check (undefined behaviour, found by fuzzing): refuse numbers over INT_MAX. */
sc_status sc_image_check_pnm_header(const unsigned char *b, size_t n) {
    size_t pos = 2;
    for (int f = 0; f < 3; f++) {
        while (pos < n && (b[pos] == '#' || b[pos] == ' ' || (b[pos] >= '\t' && b[pos] <= '\r'))) {
            if (b[pos] == '#')
                while (pos < n && b[pos] != '\n' && b[pos] != '\r') pos++;
            else
                pos++;
        }
        uint64_t v = 0;
        while (pos < n && b[pos] >= '0' && b[pos] <= '9') {
            v = v * 10 + (uint64_t)(b[pos++] - '0');
            if (v > INT32_MAX) return sc_set_error(SC_ERR_FORMAT, "pnm header number too large");
        }
    }
    return SC_OK;
}

/* ---- JPEG ----
 *
 * A walk over every segment, as stb_image 2.27 reads them, before stb sees the
 * file. stb allocates its decoder state with malloc and never clears it, so a
 * scan using a Huffman or quantisation table that no DHT/DQT segment of this
 * file defined reads whatever an earlier image left there (a crash); a
 * component no scan decodes comes out as uninitialised memory. So every table
 * a scan uses must have been defined before it, scan components must be frame
 * components (each once), and every component must be decoded by a sequential
 * or a DC first scan.
 *
 * Decoding work is bounded by the file's size. stb decodes every 8x8 block a
 * scan covers whatever data the scan holds (zeros after its end), so empty
 * scans over a large frame cost seconds each. A Huffman code is at least one
 * bit, so a sequential or DC scan holds at least one bit per block, and an AC
 * scan at least 15 bits (the longest end-of-band run code) per 32767 blocks:
 *   sequential, DC scans:  blocks <= 8 * bytes + 8
 *   progressive AC scans:  blocks <= 17476 * bytes + 32767
 * where bytes counts the scan's entropy-coded data. With every component
 * decoded by a sequential or DC scan, the declared frame needs at least one
 * byte per 8 blocks (8192x8192 grey: 128 KiB). On top of that, all scans
 * together may decode each block of the frame at most JPEG_MAX_PASSES times
 * (libjpeg's default progression decodes each about 4 times), which bounds
 * the number of scans. */
#define JPEG_MAX_PASSES 64

typedef struct jpeg_comp {
    unsigned id, h, v, tq;
    uint64_t blocks; /* 8x8 blocks a single-component scan covers */
    int decoded;     /* a sequential or DC first scan covered it */
} jpeg_comp;

#define JPEG_CORRUPT(...) sc_set_error(SC_ERR_FORMAT, "corrupt jpeg: " __VA_ARGS__)
/* The file ends too early: where (a format and its arguments, after "ends"). */
#define JPEG_TRUNC(where, ...)                                                                     \
    sc_set_error(SC_ERR_FORMAT, "truncated or corrupt jpeg data (the file ends " where ")",        \
                 __VA_ARGS__)

/* DHT segment at seg (length field at seg - 2). stb builds each table from the
 * 16 counts before checking them against the segment length, reading zeros
 * past the end of the buffer: a table with more than 256 codes overflows its
 * 257-entry code size table (found by fuzzing), so count as stb does. */
static sc_status jpeg_dht(const unsigned char *b, size_t n, size_t seg, size_t len,
                          int defined[2][4]) {
    long left = (long)len - 2;
    size_t p = seg;
    while (left > 0) {
        unsigned q = p < n ? b[p] : 0;
        if ((q >> 4) > 1 || (q & 15) > 3) return JPEG_CORRUPT("bad Huffman table header");
        size_t sum = 0;
        for (size_t k = 1; k <= 16; k++) sum += p + k < n ? b[p + k] : 0;
        if (sum > 256) return JPEG_CORRUPT("Huffman table with %zu codes (at most 256)", sum);
        defined[q >> 4][q & 15] = 1;
        p += 17 + sum;
        left -= (long)(17 + sum);
    }
    if (left == 0) return SC_OK;
    return have(seg - 2, len, n) ? JPEG_CORRUPT("Huffman table segment length")
                                 : JPEG_TRUNC("%s", "inside a Huffman table segment");
}

static sc_status jpeg_dqt(const unsigned char *s, size_t len, int defined[4]) {
    size_t p = 0;
    while (p < len) {
        unsigned prec = s[p] >> 4, t = s[p] & 15;
        if (prec > 1 || t > 3) return JPEG_CORRUPT("bad quantisation table header");
        size_t need = 1 + 64 * (prec + 1);
        if (need > len - p) return JPEG_CORRUPT("quantisation table segment length");
        defined[t] = 1;
        p += need;
    }
    return SC_OK;
}

static sc_status jpeg_frame(const unsigned char *s, size_t len, jpeg_comp *c, unsigned *nc,
                            uint64_t *mcu_x, uint64_t *mcu_y) {
    if (len < 6) return JPEG_CORRUPT("frame header length");
    if (s[0] != 8)
        return sc_set_error(SC_ERR_UNSUPPORTED, "jpeg with %u-bit samples (only 8-bit supported)",
                            s[0]);
    uint64_t h = be16(s + 1), w = be16(s + 3);
    if (h == 0)
        return sc_set_error(SC_ERR_UNSUPPORTED, "jpeg with the height given after the scans (DNL)");
    if (w == 0) return JPEG_CORRUPT("width 0");
    *nc = s[5];
    if (*nc != 1 && *nc != 3 && *nc != 4) return JPEG_CORRUPT("%u components", *nc);
    if (len != 6 + 3 * (size_t)*nc) return JPEG_CORRUPT("frame header length");
    unsigned hmax = 1, vmax = 1;
    for (unsigned k = 0; k < *nc; k++) {
        const unsigned char *e = s + 6 + 3 * k;
        c[k] = (jpeg_comp){.id = e[0], .h = e[1] >> 4, .v = e[1] & 15, .tq = e[2]};
        if (c[k].h < 1 || c[k].h > 4 || c[k].v < 1 || c[k].v > 4)
            return JPEG_CORRUPT("sampling factors");
        if (c[k].tq > 3) return JPEG_CORRUPT("quantisation table %u", c[k].tq);
        for (unsigned j = 0; j < k; j++)
            if (c[j].id == c[k].id) return JPEG_CORRUPT("two components with id %u", c[k].id);
        hmax = SC_MAX(hmax, c[k].h);
        vmax = SC_MAX(vmax, c[k].v);
    }
    for (unsigned k = 0; k < *nc; k++) {
        if (hmax % c[k].h || vmax % c[k].v) return JPEG_CORRUPT("sampling factors");
        uint64_t cw = (w * c[k].h + hmax - 1) / hmax, ch = (h * c[k].v + vmax - 1) / vmax;
        c[k].blocks = ((cw + 7) / 8) * ((ch + 7) / 8);
    }
    *mcu_x = (w + 8 * hmax - 1) / (8 * hmax);
    *mcu_y = (h + 8 * vmax - 1) / (8 * vmax);
    return SC_OK;
}

/* Bytes of entropy-coded data from pos up to the next marker that is not a
 * restart marker (stb reads 0xFF 0x00 as a data byte and skips 0xFF fill
 * bytes); *rst counts the restart markers passed. 0 = no marker before the end. */
static int jpeg_scan_end(const unsigned char *b, size_t n, size_t pos, size_t *end, uint64_t *rst) {
    *rst = 0;
    for (;;) {
        const unsigned char *ff = memchr(b + pos, 0xFF, n - pos);
        if (!ff) return 0;
        size_t r = (size_t)(ff - b) + 1;
        while (r < n && b[r] == 0xFF) r++;
        if (r >= n) return 0;
        if (b[r] >= 0xD0 && b[r] <= 0xD7) {
            ++*rst;
        } else if (b[r] != 0) {
            *end = (size_t)(ff - b);
            return 1;
        }
        pos = r + 1;
    }
}

typedef struct jpeg_state {
    int progressive, dht[2][4], dqt[4];
    unsigned nc, restart, scans;
    jpeg_comp c[4];
    uint64_t mcu_x, mcu_y, frame_blocks, work;
} jpeg_state;

/* SOS segment s (len bytes after the length field) whose entropy-coded data
 * is `bytes` long with `rst` restart markers. */
static sc_status jpeg_scan(jpeg_state *j, const unsigned char *s, size_t len, uint64_t bytes,
                           uint64_t rst) {
    unsigned ns = len ? s[0] : 0, idx[4];
    j->scans++;
    if (ns < 1 || ns > 4 || ns > j->nc)
        return JPEG_CORRUPT("scan %u has %u components", j->scans, ns);
    if (len != 4 + 2 * (size_t)ns) return JPEG_CORRUPT("scan header length");
    unsigned ss = s[1 + 2 * ns], se = s[2 + 2 * ns], ah = s[3 + 2 * ns] >> 4,
             al = s[3 + 2 * ns] & 15;
    if (j->progressive) {
        /* libjpeg's progression rules (stb checks only some of them) */
        int bad = ss > se || se > 63 || al > 13 || (ah && al != ah - 1) || (ss == 0 && se != 0) ||
                  (ss > 0 && ns != 1);
        if (bad)
            return JPEG_CORRUPT("scan %u has a bad progression (Ss=%u Se=%u Ah=%u Al=%u)", j->scans,
                                ss, se, ah, al);
    } else if (ss != 0 || ah != 0 || al != 0) {
        return JPEG_CORRUPT("sequential scan %u with Ss=%u Ah=%u Al=%u", j->scans, ss, ah, al);
    }
    int uses_dc = !j->progressive || (ss == 0 && ah == 0), uses_ac = !j->progressive || ss > 0;
    uint64_t blocks = 0, per_mcu = 0;
    for (unsigned k = 0; k < ns; k++) {
        unsigned id = s[1 + 2 * k], td = s[2 + 2 * k] >> 4, ta = s[2 + 2 * k] & 15, m;
        for (m = 0; m < j->nc && j->c[m].id != id; m++) {
        }
        if (m == j->nc)
            return JPEG_CORRUPT("scan %u names component %u, which the frame does not have",
                                j->scans, id);
        for (unsigned q = 0; q < k; q++)
            if (idx[q] == m) return JPEG_CORRUPT("scan %u names component %u twice", j->scans, id);
        idx[k] = m;
        if (td > 3 || ta > 3) return JPEG_CORRUPT("scan %u Huffman table number", j->scans);
        if (uses_dc && !j->dht[0][td])
            return JPEG_CORRUPT(
                "scan %u uses DC Huffman table %u, which no DHT segment before it defined",
                j->scans, td);
        if (uses_ac && !j->dht[1][ta])
            return JPEG_CORRUPT(
                "scan %u uses AC Huffman table %u, which no DHT segment before it defined",
                j->scans, ta);
        if (!j->dqt[j->c[m].tq])
            return JPEG_CORRUPT("component %u uses quantisation table %u, which no DQT segment "
                                "before scan %u defined",
                                id, j->c[m].tq, j->scans);
        blocks += j->c[m].blocks;
        per_mcu += (uint64_t)j->c[m].h * j->c[m].v;
    }
    uint64_t mcus = blocks; /* a single-component scan codes one block per MCU */
    if (ns > 1) blocks = per_mcu * (mcus = j->mcu_x * j->mcu_y);
    /* stb ends a scan early (leaving blocks unwritten) when a restart marker is missing */
    if (j->restart && rst < (mcus - 1) / j->restart)
        return JPEG_CORRUPT("scan %u has %llu restart markers, needs %llu", j->scans,
                            (unsigned long long)rst, (unsigned long long)((mcus - 1) / j->restart));
    int ac_scan = j->progressive && ss > 0;
    uint64_t most = ac_scan ? 17476 * bytes + 32767 : 8 * bytes + 8;
    if (blocks > most)
        return JPEG_CORRUPT("scan %u covers %llu blocks with only %llu bytes of data", j->scans,
                            (unsigned long long)blocks, (unsigned long long)bytes);
    j->work += blocks;
    if (j->work > JPEG_MAX_PASSES * j->frame_blocks)
        return sc_set_error(SC_ERR_LIMIT,
                            "jpeg scans decode its %llu blocks more than %d times over (%u scans)",
                            (unsigned long long)j->frame_blocks, JPEG_MAX_PASSES, j->scans);
    if (uses_dc)
        for (unsigned k = 0; k < ns; k++) j->c[idx[k]].decoded = 1;
    return SC_OK;
}

sc_status sc_image_check_jpeg(const unsigned char *b, size_t n) {
    jpeg_state j;
    memset(&j, 0, sizeof j);
    size_t i = 0;
    while (i < n && b[i] == 0xFF) i++; /* stb skips fill bytes before SOI */
    if (i == 0 || i >= n || b[i] != 0xD8) return JPEG_CORRUPT("no start-of-image marker");
    i++;
    int frame = 0;
    for (;;) {
        while (i < n && b[i] != 0xFF) i++; /* stb skips other bytes between segments */
        while (i < n && b[i] == 0xFF) i++;
        if (i >= n) /* stb fails without an end-of-image marker */
            return JPEG_TRUNC("%s", frame ? "before its end-of-image marker" : "before its frame");
        unsigned m = b[i++];
        if (m == 0xD9) break;
        int is_sof = m == 0xC0 || m == 0xC1 || m == 0xC2;
        if ((m >= 0xC3 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC))
            return sc_set_error(SC_ERR_UNSUPPORTED,
                                "jpeg coding process not supported (marker 0x%02X: lossless, "
                                "hierarchical or arithmetic)",
                                m);
        if (!(is_sof || m == 0xC4 || m == 0xDB || m == 0xDD || m == 0xDA || m == 0xDC ||
              m == 0xFE || (m >= 0xE0 && m <= 0xEF)))
            return JPEG_CORRUPT("unexpected marker 0x%02X", m);
        if (!have(i, 2, n)) return JPEG_TRUNC("inside a marker segment (0x%02X)", m);
        size_t len = be16(b + i);
        if (len < 2) return JPEG_CORRUPT("segment length %zu", len);
        if (m == 0xC4) { /* before the length check: stb reads past the segment */
            sc_status s = jpeg_dht(b, n, i + 2, len, j.dht);
            if (s) return s;
        }
        if (!have(i, len, n)) return JPEG_TRUNC("inside a marker segment (0x%02X)", m);
        const unsigned char *seg = b + i + 2;
        size_t sl = len - 2, next = i + len;
        sc_status s = SC_OK;
        if (is_sof) {
            if (frame) return JPEG_CORRUPT("second frame header");
            frame = 1;
            j.progressive = m == 0xC2;
            s = jpeg_frame(seg, sl, j.c, &j.nc, &j.mcu_x, &j.mcu_y);
            for (unsigned k = 0; !s && k < j.nc; k++) j.frame_blocks += j.c[k].blocks;
        } else if (m == 0xDB) {
            s = jpeg_dqt(seg, sl, j.dqt);
        } else if (m == 0xDD) {
            if (sl != 2) return JPEG_CORRUPT("restart interval segment length");
            j.restart = be16(seg);
        } else if (m == 0xDC) {
            if (!frame || sl != 2) return JPEG_CORRUPT("bad DNL segment");
        } else if (m == 0xDA) {
            if (!frame) return JPEG_CORRUPT("scan before the frame header");
            size_t end;
            uint64_t rst;
            if (!jpeg_scan_end(b, n, next, &end, &rst))
                return JPEG_TRUNC("inside the data of scan %u", j.scans + 1);
            s = jpeg_scan(&j, seg, sl, end - next, rst);
            next = end;
        }
        if (s) return s;
        i = next;
    }
    if (!frame) return JPEG_CORRUPT("no frame header");
    for (unsigned k = 0; k < j.nc; k++)
        if (!j.c[k].decoded)
            return JPEG_CORRUPT("component %u is never decoded (no %sscan covers it)", j.c[k].id,
                                j.progressive ? "DC first " : "");
    return SC_OK;
}

/* stb fills missing colour channels with 0 (a PSD declaring 0 channels
 * decodes as black): stb reads RGB mode only, which has 3 or more. */
sc_status sc_image_check_psd_header(const unsigned char *b, size_t n) {
    if (n < 14) return TRUNC("psd");
    unsigned ch = be16(b + 12);
    if (ch < 3)
        return sc_set_error(SC_ERR_FORMAT, "psd declares %u channels (RGB needs 3 or more)", ch);
    return SC_OK;
}

/* ---- PNG ----
 * stb inflates all image data into a buffer it grows without bound, then
 * compares its size with the image's: a 3 MB file inflating to 3 GiB peaks
 * at 2 GB. So the data is inflated here first with zlib, into a small
 * scratch buffer, stopping as soon as it exceeds what the header declares.
 * Before that, a cheap bound: deflate stands for at most 258 bytes with 2
 * bits (ratio 1032:1), so less compressed data than 1/1032 of the image
 * cannot hold it. Critical chunks (IHDR, PLTE, IDAT, IEND) must pass their
 * CRC, as libpng requires; ancillary ones are not checked (libpng drops them
 * with a warning; stb ignores all but tRNS). */
#define PNG_MAX_RATIO 1032

/* Bytes of filtered image data (filter byte + packed row, per pass). */
static uint64_t png_raw_bytes(uint64_t w, uint64_t h, uint64_t bits, int interlace) {
    if (!interlace) return h * (1 + (w * bits + 7) / 8);
    static const unsigned x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
    static const unsigned dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
    uint64_t sum = 0;
    for (int p = 0; p < 7; p++) {
        uint64_t pw = w > x0[p] ? (w - x0[p] + dx[p] - 1) / dx[p] : 0;
        uint64_t ph = h > y0[p] ? (h - y0[p] + dy[p] - 1) / dy[p] : 0;
        if (pw && ph) sum += ph * (1 + (pw * bits + 7) / 8);
    }
    return sum;
}

typedef struct png_inflate {
    z_stream z;
    unsigned char hdr[2], scratch[1 << 15];
    unsigned hdr_have;
    int done;
    uint64_t out, limit;
} png_inflate;

static sc_status png_feed(png_inflate *st, const unsigned char *p, size_t len, int iphone) {
    while (st->hdr_have < 2 && len && !iphone) { /* zlib header (stb checks the same) */
        st->hdr[st->hdr_have++] = *p++;
        len--;
        if (st->hdr_have == 2 && ((st->hdr[0] & 15) != 8 || (st->hdr[0] >> 4) > 7 ||
                                  (st->hdr[0] * 256u + st->hdr[1]) % 31 || (st->hdr[1] & 32)))
            return sc_set_error(SC_ERR_FORMAT, "corrupt png data (bad zlib header)");
    }
    st->z.next_in = (Bytef *)p;
    while (len && !st->done) {
        uInt chunk = (uInt)SC_MIN(len, (size_t)1 << 30);
        st->z.next_in = (Bytef *)p;
        st->z.avail_in = chunk;
        while (st->z.avail_in && !st->done) {
            st->z.next_out = st->scratch;
            st->z.avail_out = sizeof st->scratch;
            int r = inflate(&st->z, Z_NO_FLUSH);
            st->out += sizeof st->scratch - st->z.avail_out;
            if (st->out > st->limit)
                return sc_set_error(
                    SC_ERR_FORMAT,
                    "png data inflates to more than the %llu bytes its header declares",
                    (unsigned long long)st->limit);
            if (r == Z_STREAM_END)
                st->done = 1;
            else if (r == Z_MEM_ERROR)
                return sc_set_error(SC_ERR_NOMEM, "out of memory inflating png data");
            else if (r != Z_OK && r != Z_BUF_ERROR)
                return sc_set_error(SC_ERR_FORMAT, "corrupt png data (%s)",
                                    st->z.msg ? st->z.msg : "inflate failed");
        }
        p += chunk;
        len -= chunk;
    }
    return SC_OK;
}

static sc_status check_png(const unsigned char *b, size_t n, const sc_image_info *in) {
    uint64_t pos = 8, idat = 0;
    int iphone = 0;
    unsigned bits = 0, interlace = 0;
    for (int pass = 0; pass < 2; pass++) { /* 1: sizes, 2: inflate */
        png_inflate *st = NULL;
        if (pass == 1) {
            uint64_t need = png_raw_bytes((uint64_t)in->w, (uint64_t)in->h, bits, (int)interlace);
            if (need > PNG_MAX_RATIO * idat + PNG_MAX_RATIO)
                return sc_set_error(
                    SC_ERR_FORMAT, "png has %llu bytes of image data, too few to hold %dx%d pixels",
                    (unsigned long long)idat, in->w, in->h);
            st = calloc(1, sizeof *st);
            if (!st) return sc_set_error(SC_ERR_NOMEM, "out of memory checking png data");
            if (inflateInit2(&st->z, -15) != Z_OK) {
                free(st);
                return sc_set_error(SC_ERR_NOMEM, "out of memory checking png data");
            }
            st->limit = need;
            pos = 8;
        }
        sc_status s = SC_OK;
        for (;;) {
            if (!have(pos, 8, n)) {
                s = TRUNC("png");
                break;
            }
            uint32_t len = be32(b + pos);
            const unsigned char *t = b + pos + 4, *d = b + pos + 8;
            if (!have(pos + 8, len, n)) {
                s = TRUNC("png");
                break;
            }
            /* a critical chunk (type starting upper case) with a wrong CRC is
             * damaged, as libpng judges it; stb never checks */
            if (pass == 0 && !(t[0] & 0x20)) {
                if (!have(pos + 8 + (uint64_t)len, 4, n)) return TRUNC("png");
                uLong crc = crc32(crc32(0L, t, 4), d, len);
                if ((uint32_t)crc != be32(d + len))
                    return sc_set_error(SC_ERR_FORMAT,
                                        "corrupt png data (%.4s chunk at byte %llu fails its CRC)",
                                        (const char *)t, (unsigned long long)pos);
            }
            if (!memcmp(t, "IEND", 4)) break;
            if (pass == 0 && !memcmp(t, "CgBI", 4)) iphone = 1; /* raw deflate, no zlib header */
            if (pass == 0 && !memcmp(t, "IHDR", 4) && len == 13) {
                static const unsigned channels[7] = {1, 0, 3, 1, 2, 0, 4};
                unsigned type = d[9];
                if (type > 6 || !channels[type]) return SC_OK; /* stb refuses it */
                bits = channels[type] * d[8];
                interlace = d[12];
            }
            if (!memcmp(t, "IDAT", 4)) {
                if (pass == 0)
                    idat += len;
                else if ((s = png_feed(st, d, len, iphone)))
                    break;
            }
            pos += 12 + (uint64_t)len;
        }
        if (pass == 1) {
            if (!s && !st->done) s = TRUNC("png");
            if (!s && st->out < st->limit)
                s = sc_set_error(SC_ERR_FORMAT,
                                 "png data inflates to %llu bytes, its header declares %llu",
                                 (unsigned long long)st->out, (unsigned long long)st->limit);
            inflateEnd(&st->z);
            free(st);
        }
        if (s) return s;
        if (bits == 0) return SC_OK; /* no usable IHDR: stb refuses the file */
    }
    return SC_OK;
}

sc_status sc_image_check_complete(const unsigned char *b, size_t n, const sc_image_info *in,
                                  uint32_t *pnm_maxval) {
    const char *f = in->format;
    *pnm_maxval = 0;
    if (!strcmp(f, "pnm")) return check_pnm(b, n, in, pnm_maxval);
    if (!strcmp(f, "bmp")) return check_bmp(b, n, in);
    if (!strcmp(f, "tga")) return check_tga(b, n, in);
    if (!strcmp(f, "psd")) return check_psd(b, n, in);
    if (!strcmp(f, "gif")) return check_gif(b, n, in);
    if (!strcmp(f, "hdr")) return check_hdr(b, n, in);
    if (!strcmp(f, "png")) return check_png(b, n, in);
    return SC_OK;
}

/* Reasons stb_image gives when a format's signature test fails; stb tests
 * formats in turn before decoding, so after a failed decode that returned
 * without a reason of its own, the last one set may be another format's. */
static const struct {
    const char *reason, *format;
} STB_SIGNATURE_REASONS[] = {{"bad png sig", "png"}, {"no SOI", "jpeg"}, {"not BMP", "bmp"},
                             {"not GIF", "gif"},     {"not PSD", "psd"}, {"not HDR", "hdr"}};

const char *sc_image_stb_reason(const char *format, const char *why) {
    if (!why || !*why) return NULL; /* stb's GIF header clears it to "" */
    for (size_t i = 0; i < sizeof STB_SIGNATURE_REASONS / sizeof STB_SIGNATURE_REASONS[0]; i++)
        if (!strcmp(why, STB_SIGNATURE_REASONS[i].reason))
            return format && !strcmp(format, STB_SIGNATURE_REASONS[i].format) ? why : NULL;
    return why;
}
