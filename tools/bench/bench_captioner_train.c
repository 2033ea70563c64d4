/* Benchmark (not a test): one training step of the scenes captioner recipe
 * (assets/models/README.md): CNN 16,32,64,64,128, kernels 3,3,3,3,5 (BN, 2x2 max
 * pools after the first three) on 96x96 RGB + x, y coordinate channels -> adaptive pool 12x12 ->
 * Show-Attend-Tell decoder (E 128, A 128, M 64, H 256, V 48, vector gate, relu attention, dropout
 * 0.2), masked CE + 0.1 doubly stochastic penalty, backward through the CNN, clip 5, AdamW. Batch
 * 32, captions of lengths 5..15 (+<start>/<end>), random inputs (scene generation excluded, as in
 * bench_captioner_train.py). Usage: bench_captioner_train THREADS [STEPS] -> "saccade_captrain
 * ex_per_s=... step_ms=..." */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/saccade.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_captioner.h"
#include "saccade/sc_cnn.h"

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if ((x) != SC_OK) {                                                                        \
            fprintf(stderr, "bench_captioner_train: %s: %s\n", #x, sc_last_error());               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, steps = argc > 2 ? atoi(argv[2]) : 20;
    if (threads <= 0 || steps <= 0 || steps > 10000) {
        fprintf(stderr, "usage: bench_captioner_train THREADS [STEPS]\n");
        return 2;
    }
    sc_process_setup(argv); /* as the CLI: passive OpenMP waits, heap kept mapped */
    CHECK(sc_set_num_threads(threads));
    CHECK(sc_blas_init());
    const int B = 32, S = 96, V = 48, L = 17;
    const char *words[48];
    char buf[48][8];
    for (int i = 0; i < V; i++) {
        snprintf(buf[i], sizeof buf[i], "w%d", i);
        words[i] = buf[i];
    }
    words[0] = "<pad>", words[1] = "<unk>", words[2] = "<start>", words[3] = "<end>";
    sc_vocab v;
    CHECK(sc_vocab_from_words(words, V, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.encoder = SC_CAP_ENC_CNN;
    c.grid = 12, c.image_size = S, c.encoder_dim = 128, c.attention_dim = 128;
    c.embed_dim = 64, c.decoder_dim = 256, c.vocab_size = V, c.dropout = 0.2f;
    c.ctx2out = 1, c.att_coords = 1; /* the shipped recipe: --ctx2out --att-coords */
    int ch[5] = {16, 32, 64, 64, 128};
    sc_cnn_config cc = sc_cnn_config_make(5, 5, ch); /* RGB + coordinate channels */
    cc.pool[0] = cc.pool[1] = cc.pool[2] = 1;
    cc.kernel[4] = 5; /* --kernels 3,3,3,3,5 --pools 1,1,1,0,0 */
    sc_captioner *m;
    CHECK(sc_captioner_create_cnn(&c, &cc, &v, 1, &m));
    const sc_param *dp, *ep, *eb;
    size_t nd, ne, nb;
    CHECK(sc_captioner_params(m, &dp, &nd));
    CHECK(sc_captioner_encoder_params(m, &ep, &ne, &eb, &nb));
    sc_param *all = malloc((nd + ne) * sizeof *all);
    memcpy(all, ep, ne * sizeof *all);
    memcpy(all + ne, dp, nd * sizeof *all);
    sc_optim_params op = sc_adamw_default_params();
    op.lr = 1e-3;
    sc_optim *opt;
    CHECK(sc_optim_create(&op, all, nd + ne, &opt));
    const size_t P = 144, E = 128;
    float *x = malloc((size_t)B * 3 * S * S * sizeof(float));
    float *feat = malloc(B * P * E * sizeof(float)), *dfeat = malloc(B * P * E * sizeof(float));
    int32_t caps[32 * 17], lens[32];
    /* --att-sup 1: tokens 2 and 3 (a mention's colour and noun) of every caption
     * look at a 4x4 block of cells, placed per caption */
    static uint8_t mask[32 * 17 * 144];
    for (int b = 0; b < B; b++)
        for (int j = 2; j <= 3; j++)
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 4; k++)
                    mask[((size_t)b * L + j) * P + (size_t)(b % 8 + i) * 12 + (size_t)(b % 5 + k)] =
                        1;
    sc_rng r;
    sc_rng_seed(&r, 5);
    for (size_t i = 0; i < (size_t)B * 3 * S * S; i++) x[i] = 2 * sc_rng_uniform(&r) - 1;
    for (int b = 0; b < B; b++) {
        lens[b] = 7 + b % 11; /* 5..15 words + <start>/<end> */
        for (int t = 0; t < L; t++)
            caps[b * L + t] = t == 0             ? 2
                              : t < lens[b] - 1  ? 4 + (int)sc_rng_below(&r, V - 4)
                              : t == lens[b] - 1 ? 3
                                                 : 0;
    }
    double *ms = malloc(sizeof(double) * (size_t)steps);
    for (int s = -3; s < steps; s++) {
        double t0 = now_ms();
        sc_optim_zero_grad(opt);
        CHECK(sc_captioner_encode_batch(m, x, B, S, S, 1, feat));
        memset(dfeat, 0, B * P * E * sizeof(float));
        sc_caption_batch cb = {B, L, caps, lens, mask, NULL};
        sc_caption_loss_opts lo = {
            .alpha_c = 0.1f, .train = 1, .backward = 1, .att_sup = 1.0f, .item_heads = 0.0f};
        sc_caption_loss out;
        CHECK(sc_captioner_loss(m, feat, &cb, &lo, &r, &out, dfeat));
        CHECK(sc_captioner_encode_backward(m, dfeat));
        CHECK(sc_clip_grad_norm(all, nd + ne, 5.0, NULL));
        CHECK(sc_optim_step(opt));
        if (s >= 0) ms[s] = now_ms() - t0;
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp);
    double med = ms[steps / 2];
    printf("saccade_captrain threads=%d batch=%d ex_per_s=%.2f step_ms=%.2f\n", threads, B,
           B / (med / 1e3), med);
    free(ms);
    free(x);
    free(feat);
    free(dfeat);
    free(all);
    sc_optim_free(opt);
    sc_captioner_free(m);
    sc_vocab_free(&v);
    return 0;
}
