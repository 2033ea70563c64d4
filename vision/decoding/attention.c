/* Attention of the encoder-decoder text decoders (decoding.h). */
#include <math.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_blip.h"
#include "saccade/sc_ops.h"
#include "decoding/decoding.h"

void dec_self_attention(int rows, int n, int past, int H, int D, const float *q, const float *K,
                        const float *V, size_t row_stride, float *scores, float *ctx,
                        float *probs) {
    const int hd = D / H, keys = past + n;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int r = 0; r < rows; r++)
        for (int hh = 0; hh < H; hh++) {
            float *S = scores;
            sc_sgemm(SC_NO_TRANS, SC_TRANS, n, keys, hd, scale, q + (size_t)r * n * D + hh * hd, D,
                     K + r * row_stride + hh * hd, D, 0.0f, S, keys);
            for (int i = 0; i < n; i++) {
                float *Si = S + (size_t)i * keys;
                const int visible = past + i + 1; /* masked keys: exp underflows to 0 */
                sc_softmax_forward(Si, 1, visible, Si);
                for (int j = visible; j < keys; j++) Si[j] = 0.0f;
            }
            if (probs) memcpy(probs + (size_t)hh * n * n, S, (size_t)n * n * sizeof(float));
            sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, n, hd, keys, 1.0f, S, keys,
                     V + r * row_stride + hh * hd, D, 0.0f, ctx + (size_t)r * n * D + hh * hd, D);
        }
}

void dec_cross_attention(int R, int Ti, int H, int D, const float *q, const float *IK,
                         const float *IV, float *scores, float *ctx, float *probs, int layer,
                         int layers, const dec_nudge *nudge) {
    const int hd = D / H;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int hh = 0; hh < H; hh++) {
        float *S = scores;
        sc_sgemm(SC_NO_TRANS, SC_TRANS, R, Ti, hd, scale, q + hh * hd, D, IK + hh * hd, D, 0.0f, S,
                 Ti);
        sc_softmax_forward(S, R, Ti, S);
        if (nudge && nudge->head == hh) S[nudge->index] += nudge->delta;
        if (probs)
            for (int i = 0; i < R; i++)
                memcpy(probs + (((size_t)i * layers + layer) * H + hh) * Ti, S + (size_t)i * Ti,
                       (size_t)Ti * sizeof(float));
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, R, hd, Ti, 1.0f, S, Ti, IV + hh * hd, D, 0.0f,
                 ctx + hh * hd, D);
    }
}

void dec_record_word(sc_blip_caption *out, int t, const float *cross, int layers, int H, int Ti,
                     int layer, uint64_t mask) {
    const size_t per_query = (size_t)layers * H * Ti;
    float *map = out->attention + (size_t)t * (Ti - 1);
    int nh = 0;
    for (int j = 0; j < Ti - 1; j++) map[j] = 0.0f;
    double c = 0;
    for (int h = 0; h < H; h++) {
        if (mask && !((mask >> h) & 1)) continue;
        const float *a = cross + ((size_t)layer * H + h) * Ti;
        c += a[0];
        for (int j = 1; j < Ti; j++) map[j - 1] += a[j];
        nh++;
    }
    for (int j = 0; j < Ti - 1; j++) map[j] /= (float)nh;
    out->class_attention[t] = (float)(c / nh);
    if (out->attention_all)
        memcpy(out->attention_all + (size_t)t * per_query, cross, per_query * sizeof(float));
}
