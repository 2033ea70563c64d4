/* Fine-grained centre-surround saliency (Montabone & Soto, 2010), reproducing
 * the integer/float arithmetic of OpenCV's StaticSaliencyFineGrained so that
 * the 8-bit output matches it. */
#include <math.h>
#include <string.h>
#include "sc_internal.h"
#include "saliency_internal.h"
#include "saccade/sc_saliency.h"

/* OpenCV's bit-exact 3x3 Gaussian (sigma 0 -> [1 2 1] / 4 each way) on 8-bit
 * data with reflect-101 border: round-half-up of the 16-weighted sum. */
static void gauss3_u8(const uint8_t *src, uint8_t *dst, uint16_t *tmp, int w, int h) {
#pragma omp parallel for schedule(static) if ((size_t)w * h > 65536)
    for (int y = 0; y < h; y++) {
        const uint8_t *S = src + (size_t)y * w;
        uint16_t *T = tmp + (size_t)y * w;
        if (w == 1) {
            T[0] = (uint16_t)(4 * S[0]);
            continue;
        }
        T[0] = (uint16_t)(S[1] + 2 * S[0] + S[1]);
        for (int x = 1; x < w - 1; x++) T[x] = (uint16_t)(S[x - 1] + 2 * S[x] + S[x + 1]);
        T[w - 1] = (uint16_t)(S[w - 2] + 2 * S[w - 1] + S[w - 2]);
    }
#pragma omp parallel for schedule(static) if ((size_t)w * h > 65536)
    for (int y = 0; y < h; y++) {
        const uint16_t *A = tmp + (size_t)refl101(y - 1, h) * w, *B = tmp + (size_t)y * w,
                       *C = tmp + (size_t)refl101(y + 1, h) * w;
        uint8_t *D = dst + (size_t)y * w;
        for (int x = 0; x < w; x++) D[x] = (uint8_t)((A[x] + 2 * B[x] + C[x] + 8) >> 4);
    }
}

sc_status sc_saliency_finegrained(const sc_image *img, sc_map *out) {
    sc_status s = sc_sal_check_image("sc_saliency_finegrained", img, out);
    if (s) return s;
    const int w = img->w, h = img->h;
    const size_t n = (size_t)w * h, iw = (size_t)w + 1;
    size_t nint;
    if (sc_mul_size(iw, (size_t)h + 1, &nint))
        return sc_set_error(SC_ERR_LIMIT, "sc_saliency_finegrained: image too large");
    uint8_t *gray = sc_malloc(n * 2);
    uint16_t *tmp = sc_malloc(n * sizeof(uint16_t) * 3);
    float *I = sc_malloc(nint * sizeof(float));
    if (!gray || !tmp || !I) {
        s = SC_ERR_NOMEM;
        goto done;
    }
    uint8_t *g2 = gray + n;
    uint16_t *mon = tmp + n, *moff = tmp + 2 * n;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int y = 0; y < h; y++) sc_sal_gray_row_u8(img, y, gray + (size_t)y * w);
    gauss3_u8(gray, g2, tmp, w, h);
    gauss3_u8(g2, gray, tmp, w, h);

    /* Integral image in float as OpenCV's integral(..., CV_32F): exact integer
     * row prefix sums added to the float row above. */
    memset(I, 0, iw * sizeof(float));
    for (int y = 0; y < h; y++) {
        float *R = I + (size_t)(y + 1) * iw, *P = I + (size_t)y * iw;
        const uint8_t *G = gray + (size_t)y * w;
        int acc = 0;
        R[0] = 0.f;
        for (int x = 0; x < w; x++) {
            acc += G[x];
            R[x + 1] = P[x + 1] + (float)acc;
        }
    }

    static const int hoods[6] = {12, 24, 48, 28, 56, 112};
    int max_on = 0, max_off = 0;
#pragma omp parallel for schedule(static) if (n > 16384) reduction(max : max_on, max_off)
    for (int y = 0; y < h; y++) {
        const uint8_t *G = gray + (size_t)y * w;
        uint16_t *On = mon + (size_t)y * w, *Off = moff + (size_t)y * w;
        for (int x = 0; x < w; x++) On[x] = Off[x] = 0;
        for (int k = 0; k < 6; k++) {
            const int nb = hoods[k];
            const int y1 = SC_MIN(SC_MAX(y - nb + 1, 0), h), y2 = SC_MIN(SC_MAX(y + nb + 1, 0), h);
            const float *R1 = I + (size_t)y1 * iw, *R2 = I + (size_t)y2 * iw;
            /* Interior columns (no clamping): x - nb + 1 >= 0 and x + nb + 1 <= w. */
            const int xa = SC_MIN(nb - 1, w), xb = SC_MAX(xa, w - nb);
            for (int part = 0; part < 2; part++) {
                int lo = part ? xb : 0, hi = part ? w : xa;
                for (int x = lo; x < hi; x++) { /* borders: clamped box */
                    int x1 = SC_MIN(SC_MAX(x - nb + 1, 0), w),
                        x2 = SC_MIN(SC_MAX(x + nb + 1, 0), w);
                    int den = (x2 - x1) * (y2 - y1) - 1;
                    if (den == 0) continue;
                    float c = (float)G[x];
                    float v = R2[x2] + R1[x1];
                    v = v - R2[x1];
                    v = v - R1[x2];
                    v = (v - c) / (float)den;
                    float on = c - v, off = v - c;
                    On[x] = (uint16_t)(On[x] + (on > 0.f ? (on >= 255.f ? 255 : (int)on) : 0));
                    Off[x] = (uint16_t)(Off[x] + (off > 0.f ? (off >= 255.f ? 255 : (int)off) : 0));
                }
            }
            const float fden = (float)(2 * nb * (y2 - y1) - 1);
            const float *A = R2 + 1 + nb, *B = R1 + 1 - nb, *C = R2 + 1 - nb, *D = R1 + 1 + nb;
            for (int x = xa; x < xb; x++) { /* same float operations, vectorisable */
                float c = (float)G[x];
                float v = A[x] + B[x];
                v = v - C[x];
                v = v - D[x];
                v = (v - c) / fden;
                float on = c - v, off = v - c;
                on = on > 0.f ? on : 0.f;
                off = off > 0.f ? off : 0.f;
                on = on < 255.f ? on : 255.f;
                off = off < 255.f ? off : 255.f;
                On[x] = (uint16_t)(On[x] + (int)on);
                Off[x] = (uint16_t)(Off[x] + (int)off);
            }
        }
        for (int x = 0; x < w; x++) {
            max_on = SC_MAX(max_on, (int)On[x]);
            max_off = SC_MAX(max_off, (int)Off[x]);
        }
    }
    /* Per-channel 8-bit normalisation, then on + off over the larger maximum. */
    int m8_on = 0, m8_off = 0;
#pragma omp parallel for schedule(static) if (n > 65536) reduction(max : m8_on, m8_off)
    for (size_t i = 0; i < n; i++) {
        int a = max_on ? (int)(255. * (double)((float)mon[i] / (float)max_on)) : 0;
        int b = max_off ? (int)(255. * (double)((float)moff[i] / (float)max_off)) : 0;
        mon[i] = (uint16_t)a;
        moff[i] = (uint16_t)b;
        m8_on = SC_MAX(m8_on, a);
        m8_off = SC_MAX(m8_off, b);
    }
    int mx = SC_MAX(m8_on, m8_off);
    if ((s = sc_map_alloc(out, w, h))) goto done;
    float *o = out->data;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; i++) {
        /* OpenCV casts a double that can exceed 255 to uchar: it wraps mod 256. */
        int v = mx ? (int)(255. * (double)(float)(mon[i] + moff[i]) / (double)(float)mx) : 0;
        o[i] = (float)(uint8_t)(v & 255) / 255.f;
    }
done:
    sc_free(gray);
    sc_free(tmp);
    sc_free(I);
    return s;
}
