/* Baseline JPEG encoder (sc_jpeg_encode, see sc_image.h): JFIF, 8-bit,
 * Huffman-coded with the standard tables of ITU T.81 Annex K, quantisation
 * tables of Annex K.1 scaled by quality as libjpeg scales them.
 *
 * Per 8x8 block: colour conversion (RGB -> YCbCr, BT.601 full range as JFIF
 * defines it; chroma averaged over 2x2 pixels for 4:2:0), the float AAN
 * forward DCT (Arai, Agui, Nakajima; the flow of libjpeg's jfdctflt.c) whose
 * output scales are folded into the quantisation reciprocals, quantisation to
 * zigzag order with a 64-bit mask of the non-zero coefficients, and Huffman
 * coding that walks only the set bits of that mask, each code and its value
 * bits written together through a 64-bit bit buffer. No per-pixel calls.
 *
 * Colour images are 4:2:0 at quality <= 90 and 4:4:4 above (as stb_image_write
 * chooses); grayscale images are one-component JPEGs. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_image.h"
#include "jpeg_enc.h"

/* ---- tables (ITU T.81 Annex K) ---- */
static const unsigned char ZIGZAG[64] = {/* zigzag position -> natural index */
                                         0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18,
                                         11, 4,  5,  12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
                                         13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43,
                                         36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45,
                                         38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

static const unsigned char QUANT_LUMA[64] = {/* natural order */
                                             16,  11,  10,  16, 24,  40,  51,  61,  12,  12,  14,
                                             19,  26,  58,  60, 55,  14,  13,  16,  24,  40,  57,
                                             69,  56,  14,  17, 22,  29,  51,  87,  80,  62,  18,
                                             22,  37,  56,  68, 109, 103, 77,  24,  35,  55,  64,
                                             81,  104, 113, 92, 49,  64,  78,  87,  103, 121, 120,
                                             101, 72,  92,  95, 98,  112, 100, 103, 99};
static const unsigned char QUANT_CHROMA[64] = {
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99,
    99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

/* Huffman tables: counts of codes of length 1..16, then the symbols. */
static const unsigned char DC_LUMA_BITS[16] = {0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0};
static const unsigned char DC_CHROMA_BITS[16] = {0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
static const unsigned char DC_VALS[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const unsigned char AC_LUMA_BITS[16] = {0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d};
static const unsigned char AC_LUMA_VALS[162] = {
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
    0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52,
    0xd1, 0xf0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25,
    0x26, 0x27, 0x28, 0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45,
    0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64,
    0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83,
    0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
    0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
    0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3,
    0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8,
    0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};
static const unsigned char AC_CHROMA_BITS[16] = {0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77};
static const unsigned char AC_CHROMA_VALS[162] = {
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
    0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33,
    0x52, 0xf0, 0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18,
    0x19, 0x1a, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44,
    0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63,
    0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a,
    0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
    0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca,
    0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
    0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa};

/* A Huffman table as code and length per symbol (0 length: no code). */
typedef struct huff {
    uint16_t code[256];
    uint8_t len[256];
} huff;

static void huff_build(huff *t, const unsigned char bits[16], const unsigned char *vals) {
    memset(t, 0, sizeof *t);
    unsigned code = 0;
    int k = 0;
    for (int l = 1; l <= 16; l++) {
        for (int i = 0; i < bits[l - 1]; i++, k++) {
            t->code[vals[k]] = (uint16_t)code++;
            t->len[vals[k]] = (uint8_t)l;
        }
        code <<= 1;
    }
}

/* ---- output ---- */
typedef struct jout {
    unsigned char *p;
    size_t n, cap;
    uint64_t acc; /* pending bits, the oldest highest */
    int nacc;     /* number of pending bits, < 32 between puts */
} jout;

/* Room for at least more bytes; 0 when out of memory. */
static int jroom(jout *o, size_t more) {
    if (o->cap - o->n >= more) return 1;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap - o->n < more) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *q = realloc(o->p, cap);
    if (!q) return 0;
    o->p = q;
    o->cap = cap;
    return 1;
}

static void put_u8(jout *o, unsigned v) {
    o->p[o->n++] = (unsigned char)v;
}
static void put_u16(jout *o, unsigned v) {
    o->p[o->n++] = (unsigned char)(v >> 8);
    o->p[o->n++] = (unsigned char)v;
}

/* Append n (<= 32) bits; the caller guarantees room for 8 bytes. Whole bytes
 * leave 32 bits at a time, each 0xFF followed by a stuffed 0. */
static inline void put_bits(jout *o, uint32_t bits, int n) {
    o->acc = (o->acc << n) | bits;
    o->nacc += n;
    if (o->nacc >= 32) {
        o->nacc -= 32;
        uint32_t w = (uint32_t)(o->acc >> o->nacc);
        unsigned char *q = o->p + o->n;
        /* no byte is 0xFF (the usual case): four plain stores */
        const uint32_t nw = ~w; /* a 0xFF byte of w is a zero byte of nw */
        if (((nw - 0x01010101u) & ~nw & 0x80808080u) == 0) {
            q[0] = (unsigned char)(w >> 24);
            q[1] = (unsigned char)(w >> 16);
            q[2] = (unsigned char)(w >> 8);
            q[3] = (unsigned char)w;
            o->n += 4;
        } else {
            for (int s = 24; s >= 0; s -= 8) {
                unsigned char b = (unsigned char)(w >> s);
                *q++ = b;
                if (b == 0xFF) *q++ = 0;
            }
            o->n = (size_t)(q - o->p);
        }
    }
}

/* Pad the last byte with 1 bits and write out what is pending. */
static void flush_bits(jout *o) {
    int pad = (8 - (o->nacc & 7)) & 7;
    if (pad) put_bits(o, (1u << pad) - 1, pad);
    while (o->nacc > 0) {
        o->nacc -= 8;
        unsigned char b = (unsigned char)(o->acc >> o->nacc);
        o->p[o->n++] = b;
        if (b == 0xFF) o->p[o->n++] = 0;
    }
}

/* ---- one block ---- */
/* In-place forward DCT of an 8x8 block (rows, then columns); the output of
 * coefficient (u, v) is 8 * s(u) * s(v) times the orthonormal DCT's, where
 * s is AAN_SCALE (divided out in the quantisation reciprocals). */
static inline void fdct8(float *p, const int step) {
    float t0 = p[0] + p[7 * step], t7 = p[0] - p[7 * step];
    float t1 = p[step] + p[6 * step], t6 = p[step] - p[6 * step];
    float t2 = p[2 * step] + p[5 * step], t5 = p[2 * step] - p[5 * step];
    float t3 = p[3 * step] + p[4 * step], t4 = p[3 * step] - p[4 * step];
    float t10 = t0 + t3, t13 = t0 - t3, t11 = t1 + t2, t12 = t1 - t2;
    p[0] = t10 + t11;
    p[4 * step] = t10 - t11;
    float z1 = (t12 + t13) * 0.707106781f;
    p[2 * step] = t13 + z1;
    p[6 * step] = t13 - z1;
    t10 = t4 + t5;
    t11 = t5 + t6;
    t12 = t6 + t7;
    float z5 = (t10 - t12) * 0.382683433f;
    float z2 = 0.541196100f * t10 + z5;
    float z4 = 1.306562965f * t12 + z5;
    float z3 = t11 * 0.707106781f;
    float z11 = t7 + z3, z13 = t7 - z3;
    p[5 * step] = z13 + z2;
    p[3 * step] = z13 - z2;
    p[step] = z11 + z4;
    p[7 * step] = z11 - z4;
}

static void fdct(float *d) {
    for (int i = 0; i < 8; i++) fdct8(d + 8 * i, 1); /* rows */
    for (int i = 0; i < 8; i++) fdct8(d + i, 8);     /* columns */
}

static const float AAN_SCALE[8] = {1.0f, 1.387039845f, 1.306562965f, 1.175875602f,
                                   1.0f, 0.785694958f, 0.541196100f, 0.275899379f};

/* DCT, quantise (recip in zigzag order), Huffman-code one block; *dc is the
 * component's previous DC value. */
static void code_block(jout *o, float *blk, const float *recip, int *dc, const huff *hdc,
                       const huff *hac) {
    fdct(blk);
    int q[64];
    uint64_t nz = 0;
    for (int i = 0; i < 64; i++) {
        /* floor(v + 0.5) for |v| < 16384 without a call */
        int v = (int)(blk[ZIGZAG[i]] * recip[i] + 16384.5f) - 16384;
        q[i] = v;
        nz |= (uint64_t)(v != 0) << i;
    }
    int diff = q[0] - *dc;
    if (diff > 2047) diff = 2047;
    if (diff < -2047) diff = -2047;
    *dc += diff;
    int ad = diff < 0 ? -diff : diff, s = ad ? 32 - __builtin_clz((unsigned)ad) : 0;
    uint32_t vb = (uint32_t)(diff + (diff >> 31)) & ((1u << s) - 1);
    put_bits(o, ((uint32_t)hdc->code[s] << s) | vb, hdc->len[s] + s);
    nz &= ~(uint64_t)1;
    int last = 0;
    while (nz) {
        int k = __builtin_ctzll(nz);
        nz &= nz - 1;
        int run = k - last - 1;
        while (run >= 16) {
            put_bits(o, hac->code[0xF0], hac->len[0xF0]);
            run -= 16;
        }
        int v = q[k];
        if (v > 1023) v = 1023;
        if (v < -1023) v = -1023;
        int av = v < 0 ? -v : v;
        s = 32 - __builtin_clz((unsigned)av);
        vb = (uint32_t)(v + (v >> 31)) & ((1u << s) - 1);
        int sym = run << 4 | s;
        put_bits(o, ((uint32_t)hac->code[sym] << s) | vb, hac->len[sym] + s);
        last = k;
    }
    if (last != 63) put_bits(o, hac->code[0], hac->len[0]);
}

/* ---- headers ---- */
/* libjpeg's jpeg_quality_scaling and jpeg_add_quant_table (baseline: <= 255). */
static void quant_table(const unsigned char *base, int quality, unsigned char *out_nat) {
    int scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
    for (int i = 0; i < 64; i++) {
        long t = ((long)base[i] * scale + 50) / 100;
        out_nat[i] = (unsigned char)(t < 1 ? 1 : t > 255 ? 255 : t);
    }
}

static void put_dht(jout *o, int cls_id, const unsigned char bits[16], const unsigned char *vals) {
    int n = 0;
    for (int i = 0; i < 16; i++) n += bits[i];
    put_u16(o, 0xFFC4);
    put_u16(o, (unsigned)(2 + 1 + 16 + n));
    put_u8(o, (unsigned)cls_id);
    for (int i = 0; i < 16; i++) put_u8(o, bits[i]);
    for (int i = 0; i < n; i++) put_u8(o, vals[i]);
}

static void put_headers(jout *o, int w, int h, int ncomp, int sub, const unsigned char qt[2][64]) {
    static const unsigned char jfif[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F',
                                         0,    1,    1,    0,    0, 1,  0,   1,   0,   0};
    memcpy(o->p + o->n, jfif, sizeof jfif);
    o->n += sizeof jfif;
    const int nt = ncomp == 1 ? 1 : 2;
    for (int t = 0; t < nt; t++) {
        put_u16(o, 0xFFDB);
        put_u16(o, 67);
        put_u8(o, (unsigned)t);
        for (int i = 0; i < 64; i++) put_u8(o, qt[t][ZIGZAG[i]]);
    }
    put_u16(o, 0xFFC0); /* SOF0: baseline */
    put_u16(o, (unsigned)(8 + 3 * ncomp));
    put_u8(o, 8);
    put_u16(o, (unsigned)h);
    put_u16(o, (unsigned)w);
    put_u8(o, (unsigned)ncomp);
    for (int c = 0; c < ncomp; c++) {
        put_u8(o, (unsigned)(c + 1));
        put_u8(o, c == 0 && sub ? 0x22 : 0x11);
        put_u8(o, c == 0 ? 0 : 1);
    }
    put_dht(o, 0x00, DC_LUMA_BITS, DC_VALS);
    put_dht(o, 0x10, AC_LUMA_BITS, AC_LUMA_VALS);
    if (ncomp == 3) {
        put_dht(o, 0x01, DC_CHROMA_BITS, DC_VALS);
        put_dht(o, 0x11, AC_CHROMA_BITS, AC_CHROMA_VALS);
    }
    put_u16(o, 0xFFDA); /* SOS */
    put_u16(o, (unsigned)(6 + 2 * ncomp));
    put_u8(o, (unsigned)ncomp);
    for (int c = 0; c < ncomp; c++) {
        put_u8(o, (unsigned)(c + 1));
        put_u8(o, c == 0 ? 0x00 : 0x11);
    }
    put_u8(o, 0);
    put_u8(o, 63);
    put_u8(o, 0);
}

/* ---- MCUs ---- */
/* The MCU's source columns (clamped to the image: edge pixels repeat), as
 * byte offsets in a row. */
static void mcu_columns(int x0, int n, int w, size_t pstride, size_t *xo) {
    for (int i = 0; i < n; i++) xo[i] = (size_t)(x0 + i < w ? x0 + i : w - 1) * pstride;
}

/* Worst case of one block's entropy-coded bytes: 26 bits per coefficient,
 * every byte stuffed. */
#define BLOCK_MAX_BYTES (64 * 26 / 8 * 2 + 16)

/* sc_jpeg_encode with pixels anywhere: channel k of pixel (x, y) at
 * px[y * stride + x * pstride + k * kstride]. */
static sc_status encode(const unsigned char *px, int w, int h, int c, size_t stride, size_t pstride,
                        size_t kstride, int quality, unsigned char **out, size_t *out_len) {
    const char *fn = "sc_jpeg_encode";
    if (out) *out = NULL;
    if (out_len) *out_len = 0;
    if (!px || !out || !out_len) return sc_set_error(SC_ERR_INVALID_ARG, "%s: NULL argument", fn);
    if (c != 1 && c != 3 && c != 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: %d channels (want 1, 3 or 4)", fn, c);
    if (w < 1 || h < 1 || w > 65535 || h > 65535)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: size %dx%d is outside 1..65535", fn, w, h);
    if (quality < 1 || quality > 100)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: quality %d is outside 1..100", fn, quality);
    huff H_DC[2], H_AC[2]; /* about a microsecond to build */
    huff_build(&H_DC[0], DC_LUMA_BITS, DC_VALS);
    huff_build(&H_AC[0], AC_LUMA_BITS, AC_LUMA_VALS);
    huff_build(&H_DC[1], DC_CHROMA_BITS, DC_VALS);
    huff_build(&H_AC[1], AC_CHROMA_BITS, AC_CHROMA_VALS);
    const int gray = c == 1, sub = !gray && quality <= 90;
    const int mw = sub ? 16 : 8, mh = mw; /* MCU size */
    const int ncomp = gray ? 1 : 3;
    unsigned char qt[2][64];
    quant_table(QUANT_LUMA, quality, qt[0]);
    quant_table(QUANT_CHROMA, quality, qt[1]);
    float recip[2][64]; /* zigzag order, the DCT's scales divided out */
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 64; i++) {
            int k = ZIGZAG[i];
            recip[t][i] = 1.0f / ((float)qt[t][k] * AAN_SCALE[k >> 3] * AAN_SCALE[k & 7] * 8.0f);
        }
    const size_t mx = ((size_t)w + mw - 1) / mw, my = ((size_t)h + mh - 1) / mh;
    const size_t per_mcu = (size_t)(sub ? 6 : ncomp) * BLOCK_MAX_BYTES;
    jout o = {0};
    if (!jroom(&o, 1024 + per_mcu + mx * my * 32))
        return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
    put_headers(&o, w, h, ncomp, sub, qt);
    int dc[3] = {0, 0, 0};
    size_t xo[16];
    float Y[4][64], Cb[64], Cr[64];
    const size_t g1 = c > 1 ? kstride : 0, b2 = c > 2 ? 2 * kstride : 0;
    for (size_t by = 0; by < my; by++) {
        int rows[16];
        for (int i = 0; i < mh; i++) {
            size_t y = by * mh + i;
            rows[i] = (int)(y < (size_t)h ? y : (size_t)h - 1);
        }
        for (size_t bx = 0; bx < mx; bx++) {
            if (!jroom(&o, per_mcu + 16)) {
                free(o.p);
                return sc_set_error(SC_ERR_NOMEM, "%s: out of memory", fn);
            }
            mcu_columns((int)(bx * mw), mw, w, pstride, xo);
            if (gray) {
                for (int i = 0; i < 8; i++) {
                    const unsigned char *r = px + (size_t)rows[i] * stride;
                    for (int j = 0; j < 8; j++) Y[0][i * 8 + j] = (float)r[xo[j]] - 128.0f;
                }
                code_block(&o, Y[0], recip[0], &dc[0], &H_DC[0], &H_AC[0]);
                continue;
            }
            if (!sub) {
                for (int i = 0; i < 8; i++) {
                    const unsigned char *r = px + (size_t)rows[i] * stride;
                    for (int j = 0; j < 8; j++) {
                        const unsigned char *p = r + xo[j];
                        float R = p[0], G = p[g1], B = p[b2];
                        Y[0][i * 8 + j] = 0.299f * R + 0.587f * G + 0.114f * B - 128.0f;
                        Cb[i * 8 + j] = -0.168735892f * R - 0.331264108f * G + 0.5f * B;
                        Cr[i * 8 + j] = 0.5f * R - 0.418687589f * G - 0.081312411f * B;
                    }
                }
                code_block(&o, Y[0], recip[0], &dc[0], &H_DC[0], &H_AC[0]);
                code_block(&o, Cb, recip[1], &dc[1], &H_DC[1], &H_AC[1]);
                code_block(&o, Cr, recip[1], &dc[2], &H_DC[1], &H_AC[1]);
                continue;
            }
            /* 4:2:0: four luma blocks, chroma from the 2x2 means of RGB */
            for (int i = 0; i < 16; i += 2) {
                const unsigned char *r0 = px + (size_t)rows[i] * stride;
                const unsigned char *r1 = px + (size_t)rows[i + 1] * stride;
                float *y0 = Y[(i >> 3) * 2] + (i & 7) * 8;
                for (int j = 0; j < 16; j += 2) {
                    const unsigned char *a = r0 + xo[j], *b = r0 + xo[j + 1];
                    const unsigned char *e = r1 + xo[j], *f = r1 + xo[j + 1];
                    float *yb = y0 + (j >> 3) * 64 + (j & 7);
                    float Ra = a[0], Ga = a[g1], Ba = a[b2], Rb = b[0], Gb = b[g1], Bb = b[b2];
                    float Re = e[0], Ge = e[g1], Be = e[b2], Rf = f[0], Gf = f[g1], Bf = f[b2];
                    yb[0] = 0.299f * Ra + 0.587f * Ga + 0.114f * Ba - 128.0f;
                    yb[1] = 0.299f * Rb + 0.587f * Gb + 0.114f * Bb - 128.0f;
                    yb[8] = 0.299f * Re + 0.587f * Ge + 0.114f * Be - 128.0f;
                    yb[9] = 0.299f * Rf + 0.587f * Gf + 0.114f * Bf - 128.0f;
                    float R = 0.25f * (Ra + Rb + Re + Rf), G = 0.25f * (Ga + Gb + Ge + Gf),
                          B = 0.25f * (Ba + Bb + Be + Bf);
                    int k = (i >> 1) * 8 + (j >> 1);
                    Cb[k] = -0.168735892f * R - 0.331264108f * G + 0.5f * B;
                    Cr[k] = 0.5f * R - 0.418687589f * G - 0.081312411f * B;
                }
            }
            for (int k = 0; k < 4; k++) code_block(&o, Y[k], recip[0], &dc[0], &H_DC[0], &H_AC[0]);
            code_block(&o, Cb, recip[1], &dc[1], &H_DC[1], &H_AC[1]);
            code_block(&o, Cr, recip[1], &dc[2], &H_DC[1], &H_AC[1]);
        }
    }
    flush_bits(&o);
    put_u16(&o, 0xFFD9);
    *out = o.p;
    *out_len = o.n;
    return SC_OK;
}

sc_status sc_jpeg_encode(const unsigned char *px, int w, int h, int c, size_t stride, int quality,
                         unsigned char **out, size_t *out_len) {
    if (w > 0 && (c == 1 || c == 3 || c == 4) && stride < (size_t)w * c) {
        if (out) *out = NULL;
        if (out_len) *out_len = 0;
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_jpeg_encode: row stride %zu is under %d x %d bytes", stride, w, c);
    }
    return encode(px, w, h, c, stride, (size_t)c, 1, quality, out, out_len);
}

/* Planar 8-bit pixels (image_io.c: an sc_image's planes, quantised). */
sc_status sc_jpeg_encode_planes(const unsigned char *px, int w, int h, int c, int quality,
                                unsigned char **out, size_t *out_len) {
    const size_t plane = w > 0 && h > 0 ? (size_t)w * (size_t)h : 0;
    return encode(px, w, h, c, (size_t)(w > 0 ? w : 0), 1, plane, quality, out, out_len);
}
