/* Internals of the ResNet (vision/encoders/resnet.c) shared with its
 * gradient code (resnet_grad.c): the model struct and the kernels one forward
 * stage is made of. Not installed. */
#ifndef SACCADE_RESNET_INTERNAL_H
#define SACCADE_RESNET_INTERNAL_H

#include <stddef.h>
#include "saccade/sc_resnet.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_tensor.h"

typedef struct rconv {
    int C, OC, K, stride, pad;
    float *w;     /* (OC, C*K*K), BN folded; NULL once packed if never needed again (owned) */
    float *wp;    /* w packed by sc_gemm_pack for the im2col / 1x1 path, or NULL */
    float *b;     /* (OC) */
    float *wino;  /* Winograd weights (A*A, OC, C) for tile size wino_m, or NULL */
    int wino_m;   /* 0 (none), 2 or 4: set by sc_resnet_plan for the planned size */
    int borrowed; /* w, b point into the caller's safetensors mapping (not owned) */
} rconv;

typedef struct rblock {
    rconv c1, c2, c3; /* c3 unused for basic blocks */
    rconv ds;
    int has_ds;
} rblock;

/* One forward's scratch in the arena: activations, im2col / Winograd
 * workspace, sc_gemm_packed workspaces, pooled features. */
typedef struct rbufs {
    float *x, *y, *ds, *t1, *t2, *col, *gemm, *pool;
} rbufs;

/* Most buffer sets: images of a batch run on separate threads, one set each. */
#define RESNET_MAX_SETS 64

struct sc_resnet {
    sc_resnet_info info;
    int layers[4];
    float eps;
    int winograd;
    const sc_safetensors *st; /* the mapping borrowed convs point into, or NULL */
    rconv stem;
    rblock *blocks;
    int nblocks;
    float *fc_w, *fc_b;
    size_t base_bytes; /* weight bytes without the Winograd ones */
    size_t col_n;      /* floats in bcol */
    size_t gemm_n;     /* floats of each thread's sc_gemm_packed workspace in bgemm */
    int plan_threads;  /* threads buf[0].gemm and Winograd's workspace were planned for */
    sc_arena *arena;
    /* buffers inside the arena: set 0 for one image on every thread, sets
     * 1..nsets-1 for images run each on a thread of its own (batches) */
    rbufs buf[RESNET_MAX_SETS];
    int nsets;
    /* gradients (params.backward): plain weights kept, the stem unfolded */
    int backward;
    rconv stem_raw;                 /* conv1 as in the file, zero bias (or the folded one) */
    float *stem_scale, *stem_shift; /* (64) each: bn1 as relu input = scale conv1 + shift */
    struct resnet_tape *tape;       /* activations of the last gradient forward (resnet_grad.c) */
};

typedef struct sizes {
    size_t act, tmp, col; /* floats */
    int maxn;             /* most output pixels of a conv: the widest product */
    int FH, FW;
} sizes;

int resnet_conv_out(int n, const rconv *c);
/* Buffer sizes of a forward for an H x W input (and the input's checks). */
sc_status resnet_walk(const sc_resnet *m, int H, int W, sizes *z);
/* One conv (+ folded BN) + optional residual + optional ReLU, one image, on
 * nt threads, with the scratch of buffer set b. */
sc_status resnet_conv_run(const sc_resnet *m, const rbufs *b, const rconv *c, const float *x, int H,
                          int W, float *out, const float *res, int relu, int *OHp, int *OWp,
                          int nt);
/* 3x3 stride-2 pad-1 max pool (C, H, W) -> (C, OH, OW); tmp: nt * W floats. */
void resnet_maxpool(const float *x, int C, int H, int W, float *out, int OH, int OW, float *tmp,
                    int nt);
/* Give conv c the packed or Winograd weights its path needs for H x W. */
sc_status resnet_prepare_conv(sc_resnet *m, rconv *c, int H, int W, size_t *bytes);

/* Average pool feat (feature_channels, hw) into pool and apply fc: logits
 * (num_classes). */
void resnet_head(const sc_resnet *m, const float *feat, int hw, float *pool, float *logits);
/* Plan the arena for N x 3 x H x W on nt threads unless it already fits. */
sc_status resnet_ensure_plan(sc_resnet *m, int N, int H, int W, int nt, const char *fn);

/* ---- gradients (resnet_grad.c) ----
 * Stages of one image: 0 "conv1" (the stem conv before bn1), 1 "relu" (bn1 +
 * ReLU), 2 "maxpool", 3 + i block i ("layerL.B"). */
int resnet_stage_count(const sc_resnet *m);
/* Name of stage i into buf ("layer3.5"). */
void resnet_stage_name(const sc_resnet *m, int stage, char *buf, size_t cap);
sc_status resnet_stage_shape(const sc_resnet *m, int H, int W, int stage, int *C, int *h, int *w);
/* Forward of N images keeping every activation (the tape); logits (N, K) and
 * act (N, C, h, w) of `stage` may be NULL (stage < 0: none). */
sc_status resnet_grad_forward(sc_resnet *m, const float *x, int N, int H, int W, int stage,
                              float *logits, float *act);
/* Backward of the tape for dlogits (N, K): dact at the forward's stage
 * (overwritten; may be NULL), dx (N, 3, H, W) (overwritten; NULL: stop at
 * the stage). */
sc_status resnet_grad_backward(sc_resnet *m, const float *dlogits, int stage, float *dact,
                               float *dx);
/* Logits of N activations of `stage` run through the rest of the network
 * (input size H x W). */
sc_status resnet_forward_from(sc_resnet *m, int stage, const float *act, int N, int H, int W,
                              float *logits);
void resnet_grad_free(sc_resnet *m);

#endif
