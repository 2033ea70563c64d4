/* Completeness checks run before stb_image decodes a buffer.
 *
 * stb_image reads zeros past the end of a memory buffer instead of failing
 * for BMP, GIF, PNM, PSD and TGA, so a truncated file would "decode" with a
 * black or grey tail; these checks walk each format's layout far enough to
 * know that every byte the decoder will read is present. For Radiance HDR the
 * walk also rejects run-length records with a count of 0, on which stb_image
 * 2.27's decoder loops forever (truncated files hit it too, since stb reads
 * zeros at the end). PNG and JPEG fail cleanly on truncation inside stb, but
 * for JPEG every DHT segment (also those between progressive scans) is checked:
 * stb_image 2.27 writes past its 257-entry code size table when a Huffman
 * table declares more than 256 codes (found by fuzzing, tests/fuzz). */
#include <string.h>
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
    uint64_t rows = ch * (uint64_t)in->h;
    if (comp == 0) return have(pos, rows * in->w * (depth / 8), n) ? SC_OK : TRUNC("psd");
    if (comp != 1) return SC_OK; /* stb refuses other compressions */
    if (!have(pos, rows * 2, n)) return TRUNC("psd");
    uint64_t sum = 0;
    for (uint64_t r = 0; r < rows; r++) sum += be16(b + pos + 2 * r);
    return have(pos + rows * 2, sum, n) ? SC_OK : TRUNC("psd");
}

static sc_status skip_subblocks(const unsigned char *b, size_t n, uint64_t *pos) {
    for (;;) {
        if (!have(*pos, 1, n)) return TRUNC("gif");
        unsigned sz = b[(*pos)++];
        if (sz == 0) return SC_OK;
        *pos += sz;
    }
}

/* Up to the end of the first image's LZW data (stb decodes only that). */
static sc_status check_gif(const unsigned char *b, size_t n) {
    if (n < 13) return TRUNC("gif");
    uint64_t pos = 13;
    if (b[10] & 0x80) pos += 3u << ((b[10] & 7) + 1);
    for (;;) {
        if (!have(pos, 1, n)) return TRUNC("gif");
        unsigned t = b[pos++];
        if (t == 0x21) {
            pos++; /* label */
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

/* Walk all JPEG segments; refuse Huffman tables with more than 256 codes. */
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

sc_status sc_image_check_jpeg(const unsigned char *b, size_t n) {
    size_t i = 2;
    while (i + 1 < n) {
        if (b[i] != 0xFF) { /* entropy-coded data: skip to the next real marker */
            i++;
            continue;
        }
        unsigned m = b[i + 1];
        if (m == 0x00 || m == 0xFF || (m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8) {
            i += (m == 0xFF) ? 1 : 2;
            continue;
        }
        if (m == 0xD9) return SC_OK;
        if (i + 4 > n) return SC_OK; /* stb reports the truncation */
        size_t len = be16(b + i + 2);
        if (len < 2) return SC_OK;
        if (m == 0xC4) {
            /* Mirror stb: it builds each table from the 16 counts before it
             * checks them against the segment length, reading zeros past the
             * end of the buffer, and fails afterwards if they do not fit. */
            long left = (long)len - 2;
            size_t p = i + 4;
            while (left > 0) {
                unsigned q = p < n ? b[p] : 0;
                if ((q >> 4) > 1 || (q & 15) > 3) return SC_OK; /* stb: bad DHT header */
                size_t sum = 0;
                for (size_t k = 1; k <= 16; k++) sum += p + k < n ? b[p + k] : 0;
                if (sum > 256)
                    return sc_set_error(SC_ERR_FORMAT, "corrupt jpeg Huffman table (%zu codes)",
                                        sum);
                p += 17 + sum;
                left -= (long)(17 + sum);
            }
            if (left != 0) return SC_OK; /* stb fails on this segment */
        }
        if (len > n - i - 2) return SC_OK; /* past the end: stb fails here */
        i += 2 + len;
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
    if (!strcmp(f, "gif")) return check_gif(b, n);
    if (!strcmp(f, "hdr")) return check_hdr(b, n, in);
    return SC_OK;
}
