/* Hierarchical question-image co-attention for VQA, parallel form (Lu et al.
 * 2016; model and tensor names in sc_vqa.h): phrases, the question LSTM,
 * co-attention at three levels and the answer MLP, forward and backward.
 * Layouts are batch-major (b, t, d) except the LSTM's time-major input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_blas.h"
#include "saccade/sc_ops.h"
#include "saccade/sc_util.h"
#include "sc_internal.h"
#include "vqa_internal.h"

#define L3 COATT_LEVELS

typedef struct vqa_coatt_acts {
    float *qf[L3], *dqf[L3];    /* level features Q (B, T, D), zero past each length */
    float *col[3];              /* width s: windows (B T, s D), im2col of Q_w */
    float *conv[3];             /* width s: tanh(Conv1d_s) (B T, D) */
    uint8_t *arg;               /* width whose value the max kept (B T D) */
    float *dcol;                /* (B T, 3 D) */
    float *dconv;               /* (B T, D) */
    float *xin, *dxin;          /* LSTM input Q_p, time-major (T, B, D) */
    float *qw[L3];              /* Q W_b (B, T, D): C = tanh(Q W_b V^T), the cheaper side */
    float *xv[L3], *xq[L3];     /* V W_v^T (B, P, A), Q W_q^T (B, T, A) */
    float *cm[L3];              /* affinity C (B, T, P) */
    float *hv[L3], *hq[L3];     /* H_v (B, P, A), H_q (B, T, A) */
    float *av, *aq;             /* attention (B, 3, P), (B, 3, T) */
    float *sv, *sq;             /* scores (B, P), (B, T) */
    float *vhat[L3], *qhat[L3]; /* attended (B, D) */
    float *xa[L3], *ha[L3];     /* answer inputs (B, D) and (B, D + H); h_w, h_p, h_s (B, H) */
    float *dqw, *dxv, *dxq, *dcm, *dhv, *dhq; /* one level's gradients */
    float *dxa, *dha, *dhat;                  /* (B, D + H), (B, H), (B, D) */
} vqa_coatt_acts;

static const int PAD_LEFT[3] = {0, 1, 1}; /* width s reads words t - PAD_LEFT .. */

void vqa_coatt_layout(sc_vqa_model *m, size_t *off) {
    const int D = m->D, A = m->A, H = m->F;
    char nm[NAME_LEN];
    for (int s = 0; s < 3; s++) {
        snprintf(nm, sizeof nm, "phrase.%d.weight", s);
        vqa_add_param(m, nm, &m->ph_w[s], off, 3, D, D, s + 1, 0);
        snprintf(nm, sizeof nm, "phrase.%d.bias", s);
        vqa_add_param(m, nm, &m->ph_b[s], off, 1, D, 1, 1, 1);
    }
    for (int l = 0; l < L3; l++) {
        snprintf(nm, sizeof nm, "coatt.%d.affinity.weight", l);
        vqa_add_param(m, nm, &m->co_wb[l], off, 2, D, D, 1, 0);
        snprintf(nm, sizeof nm, "coatt.%d.img.weight", l);
        vqa_add_param(m, nm, &m->co_wv[l], off, 2, A, D, 1, 0);
        snprintf(nm, sizeof nm, "coatt.%d.ques.weight", l);
        vqa_add_param(m, nm, &m->co_wq[l], off, 2, A, D, 1, 0);
        snprintf(nm, sizeof nm, "coatt.%d.img_att.weight", l);
        vqa_add_param(m, nm, &m->co_hv[l], off, 2, 1, A, 1, 0);
        snprintf(nm, sizeof nm, "coatt.%d.ques_att.weight", l);
        vqa_add_param(m, nm, &m->co_hq[l], off, 2, 1, A, 1, 0);
    }
    for (int l = 0; l < L3; l++) {
        snprintf(nm, sizeof nm, "answer.%d.weight", l);
        vqa_add_param(m, nm, &m->ans_w[l], off, 2, H, l ? D + H : D, 1, 0);
        snprintf(nm, sizeof nm, "answer.%d.bias", l);
        vqa_add_param(m, nm, &m->ans_b[l], off, 1, H, 1, 1, 1);
    }
}

static void uniform(sc_rng *r, float *x, size_t n, float bound) {
    for (size_t i = 0; i < n; i++) x[i] = (2.0f * sc_rng_uniform(r) - 1.0f) * bound;
}

/* PyTorch's default: U(+-1/sqrt(fan_in)) for weights and biases. */
void vqa_coatt_init(sc_vqa_model *m, sc_rng *r) {
    const size_t D = (size_t)m->D, A = (size_t)m->A, H = (size_t)m->F;
    for (int s = 0; s < 3; s++) {
        float bd = 1.0f / sqrtf((float)(D * (size_t)(s + 1)));
        uniform(r, m->ph_w[s], D * D * (size_t)(s + 1), bd);
        uniform(r, m->ph_b[s], D, bd);
    }
    for (int l = 0; l < L3; l++) {
        float bd = 1.0f / sqrtf((float)D), ba = 1.0f / sqrtf((float)A);
        uniform(r, m->co_wb[l], D * D, bd);
        uniform(r, m->co_wv[l], A * D, bd);
        uniform(r, m->co_wq[l], A * D, bd);
        uniform(r, m->co_hv[l], A, ba);
        uniform(r, m->co_hq[l], A, ba);
    }
    for (int l = 0; l < L3; l++) {
        size_t in = l ? D + H : D;
        float bd = 1.0f / sqrtf((float)in);
        uniform(r, m->ans_w[l], H * in, bd);
        uniform(r, m->ans_b[l], H, bd);
    }
}

void vqa_coatt_free(sc_vqa_model *m) {
    vqa_coatt_acts *a = m->co;
    if (!a) return;
    for (int l = 0; l < L3; l++) {
        float *per[] = {a->qf[l], a->dqf[l], a->col[l], a->conv[l], a->qw[l],   a->xv[l], a->xq[l],
                        a->cm[l], a->hv[l],  a->hq[l],  a->vhat[l], a->qhat[l], a->xa[l], a->ha[l]};
        for (size_t i = 0; i < sizeof per / sizeof per[0]; i++) sc_free(per[i]);
    }
    float *one[] = {a->dcol, a->dconv, a->xin, a->dxin, a->av,  a->aq,  a->sv,  a->sq,  a->dqw,
                    a->dxv,  a->dxq,   a->dcm, a->dhv,  a->dhq, a->dxa, a->dha, a->dhat};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) sc_free(one[i]);
    sc_free(a->arg);
    free(a);
    m->co = NULL;
}

sc_status vqa_coatt_alloc(sc_vqa_model *m, int B) {
    vqa_coatt_acts *a = calloc(1, sizeof *a);
    if (!a) return SC_ERR_NOMEM;
    m->co = a;
    int ok = 1;
    const size_t Bz = (size_t)B, T = (size_t)m->T, P = (size_t)m->P, D = (size_t)m->D,
                 A = (size_t)m->A, H = (size_t)m->F, BT = Bz * T;
    for (int l = 0; l < L3; l++) {
        a->qf[l] = vqa_alloc_f(BT, D, 1, &ok);
        a->dqf[l] = vqa_alloc_f(BT, D, 1, &ok);
        a->col[l] = vqa_alloc_f(BT, D, (size_t)l + 1, &ok);
        a->conv[l] = vqa_alloc_f(BT, D, 1, &ok);
        a->qw[l] = vqa_alloc_f(BT, D, 1, &ok);
        a->xv[l] = vqa_alloc_f(Bz * P, A, 1, &ok);
        a->xq[l] = vqa_alloc_f(BT, A, 1, &ok);
        a->cm[l] = vqa_alloc_f(BT, P, 1, &ok);
        a->hv[l] = vqa_alloc_f(Bz * P, A, 1, &ok);
        a->hq[l] = vqa_alloc_f(BT, A, 1, &ok);
        a->vhat[l] = vqa_alloc_f(Bz, D, 1, &ok);
        a->qhat[l] = vqa_alloc_f(Bz, D, 1, &ok);
        a->xa[l] = vqa_alloc_f(Bz, l ? D + H : D, 1, &ok);
        a->ha[l] = vqa_alloc_f(Bz, H, 1, &ok);
    }
    a->arg = sc_calloc(BT * D, 1);
    if (!a->arg) ok = 0;
    a->dcol = vqa_alloc_f(BT, 3 * D, 1, &ok);
    a->dconv = vqa_alloc_f(BT, D, 1, &ok);
    a->xin = vqa_alloc_f(BT, D, 1, &ok);
    a->dxin = vqa_alloc_f(BT, D, 1, &ok);
    a->av = vqa_alloc_f(Bz, L3, P, &ok);
    a->aq = vqa_alloc_f(Bz, L3, T, &ok);
    a->sv = vqa_alloc_f(Bz, P, 1, &ok);
    a->sq = vqa_alloc_f(BT, 1, 1, &ok);
    a->dqw = vqa_alloc_f(BT, D, 1, &ok);
    a->dxv = vqa_alloc_f(Bz * P, A, 1, &ok);
    a->dxq = vqa_alloc_f(BT, A, 1, &ok);
    a->dcm = vqa_alloc_f(BT, P, 1, &ok);
    a->dhv = vqa_alloc_f(Bz * P, A, 1, &ok);
    a->dhq = vqa_alloc_f(BT, A, 1, &ok);
    a->dxa = vqa_alloc_f(Bz, D + H, 1, &ok);
    a->dha = vqa_alloc_f(Bz, H, 1, &ok);
    a->dhat = vqa_alloc_f(Bz, D, 1, &ok);
    return ok ? SC_OK : SC_ERR_NOMEM;
}

const float *vqa_coatt_image_att(const sc_vqa_model *m) {
    return m->co ? m->co->av : NULL;
}
const float *vqa_coatt_question_att(const sc_vqa_model *m) {
    return m->co ? m->co->aq : NULL;
}

/* ------------------------------------------------------------ forward */

/* Q_w from the embeddings (T, B, D), zero past each length; the windows of
 * every width; Q_p = max_s tanh(conv_s), zero past each length; the LSTM's
 * time-major copy of Q_p. */
static sc_status phrase_forward(sc_vqa_model *m, int B) {
    vqa_coatt_acts *a = m->co;
    const int T = m->T, D = m->D;
    const size_t BT = (size_t)B * T;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *q = a->qf[0] + ((size_t)b * T + t) * D;
            if (t < m->lens[b])
                memcpy(q, m->emb + ((size_t)t * B + b) * D, sizeof(float) * (size_t)D);
            else
                memset(q, 0, sizeof(float) * (size_t)D);
        }
    sc_status st = SC_OK;
    for (int s = 0; s < 3 && !st; s++) {
        const int w = s + 1;
        /* window row (b, t): element i * w + j is Q_w[t + j - PAD_LEFT[s]][i] (Conv1d layout) */
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                float *row = a->col[s] + ((size_t)b * T + t) * D * w;
                for (int j = 0; j < w; j++) {
                    int tt = t + j - PAD_LEFT[s];
                    const float *x = a->qf[0] + ((size_t)b * T + tt) * D;
                    for (int i = 0; i < D; i++)
                        row[(size_t)i * w + j] = tt >= 0 && tt < T ? x[i] : 0.0f;
                }
            }
        st = sc_linear_forward(a->conv[s], a->col[s], m->ph_w[s], m->ph_b[s], (int)BT, D * w, D);
        if (!st) st = sc_act_forward(SC_ACT_TANH, a->conv[s], a->conv[s], BT * D);
    }
    if (st) return st;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            size_t r = ((size_t)b * T + t) * D;
            float *q = a->qf[1] + r;
            for (int d = 0; d < D; d++) {
                int best = 0;
                for (int s = 1; s < 3; s++)
                    if (a->conv[s][r + d] > a->conv[best][r + d]) best = s;
                a->arg[r + d] = (uint8_t)best;
                q[d] = t < m->lens[b] ? a->conv[best][r + d] : 0.0f;
            }
            memcpy(a->xin + ((size_t)t * B + b) * D, q, sizeof(float) * (size_t)D);
        }
    return SC_OK;
}

/* Co-attention of level l between m->v (B, P, D) and a->qf[l]. */
static sc_status level_forward(sc_vqa_model *m, int B, int l) {
    vqa_coatt_acts *a = m->co;
    const int T = m->T, D = m->D, P = m->P, A = m->A;
    sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, B * T, D, D, 1.0f, a->qf[l], D, m->co_wb[l], D, 0.0f,
             a->qw[l], D);
    sc_status st = sc_linear_forward(a->xv[l], m->v, m->co_wv[l], NULL, B * P, D, A);
    if (!st) st = sc_linear_forward(a->xq[l], a->qf[l], m->co_wq[l], NULL, B * T, D, A);
    if (st) return st;
    memset(a->hq[l], 0, sizeof(float) * (size_t)B * T * A);
    int serial = sc_blas_serial_begin(); /* one sample per thread */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const int L = m->lens[b];
        const float *qw = a->qw[l] + (size_t)b * T * D, *V = m->v + (size_t)b * P * D;
        const float *xv = a->xv[l] + (size_t)b * P * A, *xq = a->xq[l] + (size_t)b * T * A;
        float *C = a->cm[l] + (size_t)b * T * P, *hv = a->hv[l] + (size_t)b * P * A,
              *hq = a->hq[l] + (size_t)b * T * A;
        sc_sgemm(SC_NO_TRANS, SC_TRANS, L, P, D, 1.0f, qw, D, V, D, 0.0f, C, P);
        for (size_t i = 0; i < (size_t)L * P; i++) C[i] = tanhf(C[i]);
        memcpy(hv, xv, sizeof(float) * (size_t)P * A);
        sc_sgemm(SC_TRANS, SC_NO_TRANS, P, A, L, 1.0f, C, P, xq, A, 1.0f, hv, A);
        memcpy(hq, xq, sizeof(float) * (size_t)L * A);
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, L, A, P, 1.0f, C, P, xv, A, 1.0f, hq, A);
    }
    sc_blas_serial_end(serial);
    st = sc_act_forward(SC_ACT_TANH, a->hv[l], a->hv[l], (size_t)B * P * A);
    if (!st) st = sc_act_forward(SC_ACT_TANH, a->hq[l], a->hq[l], (size_t)B * T * A);
    if (!st) st = sc_linear_forward(a->sv, a->hv[l], m->co_hv[l], NULL, B * P, A, 1);
    if (!st) st = sc_linear_forward(a->sq, a->hq[l], m->co_hq[l], NULL, B * T, A, 1);
    if (st) return st;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const int L = m->lens[b];
        float *av = a->av + ((size_t)b * L3 + l) * P, *aq = a->aq + ((size_t)b * L3 + l) * T;
        sc_softmax_forward(a->sv + (size_t)b * P, 1, P, av);
        sc_softmax_forward(a->sq + (size_t)b * T, 1, L, aq); /* padded words masked */
        memset(aq + L, 0, sizeof(float) * (size_t)(T - L));
        float *vh = a->vhat[l] + (size_t)b * D, *qh = a->qhat[l] + (size_t)b * D;
        memset(vh, 0, sizeof(float) * (size_t)D);
        memset(qh, 0, sizeof(float) * (size_t)D);
        for (int i = 0; i < P; i++) {
            const float *vi = m->v + ((size_t)b * P + i) * D;
            for (int d = 0; d < D; d++) vh[d] += av[i] * vi[d];
        }
        for (int t = 0; t < L; t++) {
            const float *qt = a->qf[l] + ((size_t)b * T + t) * D;
            for (int d = 0; d < D; d++) qh[d] += aq[t] * qt[d];
        }
    }
    return SC_OK;
}

/* h_w = tanh(W_w (q^_w + v^_w)), h_p = tanh(W_p [q^_p + v^_p, h_w]), h_s
 * likewise from h_p, logits = W_out h_s + b. */
static sc_status answer_forward(sc_vqa_model *m, int B) {
    vqa_coatt_acts *a = m->co;
    const int D = m->D, H = m->F;
    sc_status st = SC_OK;
    for (int l = 0; l < L3 && !st; l++) {
        const int in = l ? D + H : D;
        for (int b = 0; b < B; b++) {
            float *x = a->xa[l] + (size_t)b * in;
            const float *q = a->qhat[l] + (size_t)b * D, *v = a->vhat[l] + (size_t)b * D;
            for (int d = 0; d < D; d++) x[d] = q[d] + v[d];
            if (l) memcpy(x + D, a->ha[l - 1] + (size_t)b * H, sizeof(float) * (size_t)H);
        }
        st = sc_linear_forward(a->ha[l], a->xa[l], m->ans_w[l], m->ans_b[l], B, in, H);
        if (!st) st = sc_act_forward(SC_ACT_TANH, a->ha[l], a->ha[l], (size_t)B * H);
    }
    if (st) return st;
    return sc_linear_forward(m->logits, a->ha[L3 - 1], m->cls_w, m->cls_b, B, H, m->NA);
}

sc_status vqa_coatt_forward(sc_vqa_model *m, int B) {
    const int T = m->T, D = m->D;
    sc_status st = phrase_forward(m, B);
    if (!st) st = vqa_lstm_forward(m, m->co->xin, D, B, m->Tr);
    if (st) return st;
    vqa_coatt_acts *a = m->co;
    const size_t BD = (size_t)B * D;
    for (int b = 0; b < B; b++) /* Q_s: hidden states, zero past the length */
        for (int t = 0; t < T; t++) {
            float *q = a->qf[2] + ((size_t)b * T + t) * D;
            if (t < m->lens[b])
                memcpy(q, m->h + (size_t)(t + 1) * BD + (size_t)b * D, sizeof(float) * (size_t)D);
            else
                memset(q, 0, sizeof(float) * (size_t)D);
        }
    for (int l = 0; l < L3 && !st; l++) st = level_forward(m, B, l);
    return st ? st : answer_forward(m, B);
}

/* ------------------------------------------------------------ backward */

/* Level l given a->dhat = d q^ = d v^ (the answer adds them): into m->dv,
 * a->dqf[l] and the level's weights; datt (B, 3, P) may be NULL. */
static sc_status level_backward(sc_vqa_model *m, int B, int l, const float *datt) {
    vqa_coatt_acts *a = m->co;
    const int T = m->T, D = m->D, P = m->P, A = m->A;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const int L = m->lens[b];
        const float *g = a->dhat + (size_t)b * D;
        const float *av = a->av + ((size_t)b * L3 + l) * P, *aq = a->aq + ((size_t)b * L3 + l) * T;
        float dav[1024], daq[SC_VQA_MAX_TOKENS];
        for (int i = 0; i < P; i++) {
            const float *vi = m->v + ((size_t)b * P + i) * D;
            float *dvi = m->dv + ((size_t)b * P + i) * D;
            double s = 0;
            for (int d = 0; d < D; d++) {
                s += (double)g[d] * vi[d];
                dvi[d] += av[i] * g[d];
            }
            dav[i] = (float)s + (datt ? datt[((size_t)b * L3 + l) * P + i] : 0.0f);
        }
        for (int t = 0; t < L; t++) {
            const float *qt = a->qf[l] + ((size_t)b * T + t) * D;
            float *dqt = a->dqf[l] + ((size_t)b * T + t) * D;
            double s = 0;
            for (int d = 0; d < D; d++) {
                s += (double)g[d] * qt[d];
                dqt[d] += aq[t] * g[d];
            }
            daq[t] = (float)s;
        }
        float *dsv = a->sv + (size_t)b * P, *dsq = a->sq + (size_t)b * T;
        memset(dsv, 0, sizeof(float) * (size_t)P);
        memset(dsq, 0, sizeof(float) * (size_t)T);
        sc_softmax_backward(av, dav, 1, P, dsv);
        sc_softmax_backward(aq, daq, 1, L, dsq);
    }
    /* scores: into dH (zeroed) and w_hv, w_hq; then the tanh */
    memset(a->dhv, 0, sizeof(float) * (size_t)B * P * A);
    memset(a->dhq, 0, sizeof(float) * (size_t)B * T * A);
    sc_status st = sc_linear_backward(a->dhv, vqa_grad(m, m->co_hv[l]), NULL, a->sv, a->hv[l],
                                      m->co_hv[l], B * P, A, 1);
    if (!st)
        st = sc_linear_backward(a->dhq, vqa_grad(m, m->co_hq[l]), NULL, a->sq, a->hq[l],
                                m->co_hq[l], B * T, A, 1);
    if (st) return st;
    for (size_t i = 0; i < (size_t)B * P * A; i++) a->dhv[i] *= 1.0f - a->hv[l][i] * a->hv[l][i];
    for (size_t i = 0; i < (size_t)B * T * A; i++) a->dhq[i] *= 1.0f - a->hq[l][i] * a->hq[l][i];
    /* H_v = XV + C^T XQ, H_q = XQ + C XV, C = tanh(QW V^T) */
    memcpy(a->dxv, a->dhv, sizeof(float) * (size_t)B * P * A);
    memcpy(a->dxq, a->dhq, sizeof(float) * (size_t)B * T * A);
    memset(a->dqw, 0, sizeof(float) * (size_t)B * T * D);
    int serial = sc_blas_serial_begin(); /* one sample per thread */
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const int L = m->lens[b];
        const float *C = a->cm[l] + (size_t)b * T * P, *V = m->v + (size_t)b * P * D;
        const float *xv = a->xv[l] + (size_t)b * P * A, *xq = a->xq[l] + (size_t)b * T * A;
        const float *dhv = a->dhv + (size_t)b * P * A, *dhq = a->dhq + (size_t)b * T * A;
        const float *qw = a->qw[l] + (size_t)b * T * D;
        float *dxv = a->dxv + (size_t)b * P * A, *dxq = a->dxq + (size_t)b * T * A;
        float *dC = a->dcm + (size_t)b * T * P, *dqw = a->dqw + (size_t)b * T * D;
        float *dV = m->dv + (size_t)b * P * D;
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, L, A, P, 1.0f, C, P, dhv, A, 1.0f, dxq, A);
        sc_sgemm(SC_TRANS, SC_NO_TRANS, P, A, L, 1.0f, C, P, dhq, A, 1.0f, dxv, A);
        sc_sgemm(SC_NO_TRANS, SC_TRANS, L, P, A, 1.0f, xq, A, dhv, A, 0.0f, dC, P);
        sc_sgemm(SC_NO_TRANS, SC_TRANS, L, P, A, 1.0f, dhq, A, xv, A, 1.0f, dC, P);
        for (size_t i = 0; i < (size_t)L * P; i++) dC[i] *= 1.0f - C[i] * C[i];
        sc_sgemm(SC_NO_TRANS, SC_NO_TRANS, L, D, P, 1.0f, dC, P, V, D, 0.0f, dqw, D);
        sc_sgemm(SC_TRANS, SC_NO_TRANS, P, D, L, 1.0f, dC, P, qw, D, 1.0f, dV, D);
    }
    sc_blas_serial_end(serial);
    /* QW = Q W_b: d Q += dQW W_b^T, d W_b += Q^T dQW (padded rows: zero in both) */
    sc_sgemm(SC_NO_TRANS, SC_TRANS, B * T, D, D, 1.0f, a->dqw, D, m->co_wb[l], D, 1.0f, a->dqf[l],
             D);
    sc_sgemm(SC_TRANS, SC_NO_TRANS, D, D, B * T, 1.0f, a->qf[l], D, a->dqw, D, 1.0f,
             vqa_grad(m, m->co_wb[l]), D);
    st = sc_linear_backward(m->dv, vqa_grad(m, m->co_wv[l]), NULL, a->dxv, m->v, m->co_wv[l], B * P,
                            D, A);
    if (!st) /* padded rows: zero Q, zero dXQ */
        st = sc_linear_backward(a->dqf[l], vqa_grad(m, m->co_wq[l]), NULL, a->dxq, a->qf[l],
                                m->co_wq[l], B * T, D, A);
    return st;
}

/* d logits -> d h_s -> ... -> d h_w; each level's d q^ = d v^ into
 * level_backward, from the question level down. */
static sc_status answer_backward(sc_vqa_model *m, int B, const float *dlogits, const float *datt) {
    vqa_coatt_acts *a = m->co;
    const int D = m->D, H = m->F;
    memset(a->dha, 0, sizeof(float) * (size_t)B * H);
    sc_status st = sc_linear_backward(a->dha, vqa_grad(m, m->cls_w), vqa_grad(m, m->cls_b), dlogits,
                                      a->ha[L3 - 1], m->cls_w, B, H, m->NA);
    for (int l = L3 - 1; l >= 0 && !st; l--) {
        const int in = l ? D + H : D;
        for (size_t i = 0; i < (size_t)B * H; i++) a->dha[i] *= 1.0f - a->ha[l][i] * a->ha[l][i];
        memset(a->dxa, 0, sizeof(float) * (size_t)B * in);
        st = sc_linear_backward(a->dxa, vqa_grad(m, m->ans_w[l]), vqa_grad(m, m->ans_b[l]), a->dha,
                                a->xa[l], m->ans_w[l], B, in, H);
        if (st) break;
        for (int b = 0; b < B; b++) {
            memcpy(a->dhat + (size_t)b * D, a->dxa + (size_t)b * in, sizeof(float) * (size_t)D);
            if (l)
                memcpy(a->dha + (size_t)b * H, a->dxa + (size_t)b * in + D,
                       sizeof(float) * (size_t)H);
        }
        st = level_backward(m, B, l, datt);
    }
    return st;
}

/* d Q_p -> the max over widths -> tanh -> Conv1d weights and windows -> d Q_w. */
static sc_status phrase_backward(sc_vqa_model *m, int B) {
    vqa_coatt_acts *a = m->co;
    const int T = m->T, D = m->D;
    const size_t BT = (size_t)B * T;
    sc_status st = SC_OK;
    for (int s = 0; s < 3 && !st; s++) {
        const int w = s + 1;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                size_t r = ((size_t)b * T + t) * D;
                for (int d = 0; d < D; d++) {
                    float y = a->conv[s][r + d];
                    a->dconv[r + d] = t < m->lens[b] && a->arg[r + d] == s
                                          ? a->dqf[1][r + d] * (1.0f - y * y)
                                          : 0.0f;
                }
            }
        memset(a->dcol, 0, sizeof(float) * BT * D * w);
        st = sc_linear_backward(a->dcol, vqa_grad(m, m->ph_w[s]), vqa_grad(m, m->ph_b[s]), a->dconv,
                                a->col[s], m->ph_w[s], (int)BT, D * w, D);
        if (st) break;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const float *row = a->dcol + ((size_t)b * T + t) * D * w;
                for (int j = 0; j < w; j++) {
                    int tt = t + j - PAD_LEFT[s];
                    if (tt < 0 || tt >= m->lens[b]) continue; /* zero padding, masked words */
                    float *dx = a->dqf[0] + ((size_t)b * T + tt) * D;
                    for (int i = 0; i < D; i++) dx[i] += row[(size_t)i * w + j];
                }
            }
    }
    return st;
}

sc_status vqa_coatt_backward(sc_vqa_model *m, const float *dlogits, const float *datt) {
    vqa_coatt_acts *a = m->co;
    const int B = m->B, T = m->T, D = m->D, Tr = m->Tr;
    const size_t BD = (size_t)B * D;
    for (int l = 0; l < L3; l++) memset(a->dqf[l], 0, sizeof(float) * (size_t)B * T * D);
    sc_status st = answer_backward(m, B, dlogits, datt);
    if (st) return st;
    /* question level: d Q_s enters the LSTM at every step before the length */
    memset(m->dh_seq, 0, sizeof(float) * (size_t)Tr * BD);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < m->lens[b]; t++)
            memcpy(m->dh_seq + (size_t)t * BD + (size_t)b * D, a->dqf[2] + ((size_t)b * T + t) * D,
                   sizeof(float) * (size_t)D);
    if ((st = vqa_lstm_backward(m, a->xin, a->dxin, D, B, Tr))) return st;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tr; t++) {
            float *dq = a->dqf[1] + ((size_t)b * T + t) * D;
            const float *dx = a->dxin + ((size_t)t * B + b) * D;
            for (int d = 0; d < D; d++) dq[d] += dx[d];
        }
    if ((st = phrase_backward(m, B))) return st;
    /* word level: d Q_w back to the time-major embeddings (padded words: none) */
    memset(m->demb, 0, sizeof(float) * (size_t)Tr * BD);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < m->lens[b]; t++)
            memcpy(m->demb + ((size_t)t * B + b) * D, a->dqf[0] + ((size_t)b * T + t) * D,
                   sizeof(float) * (size_t)D);
    return sc_embedding_backward(m->ids_tb, Tr * B, m->demb, m->V, D, 0, vqa_grad(m, m->embed));
}
