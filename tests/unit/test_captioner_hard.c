/* Hard (stochastic) attention in the captioner (config hard_attention):
 * - the REINFORCE gradient estimator is unbiased: the mean of many sampled
 *   estimates equals the exact gradient of the expected objective, computed by
 *   enumerating every choice of cells on a model with 4 cells (finite
 *   differences of the exact expectation, and the probability-weighted sum of
 *   the estimates of every choice), within a tolerance from the sample
 *   variance; with the paper's mix of sampling and the expectation too; the
 *   estimator without its REINFORCE term is shown to be biased;
 * - finite differences for the deterministic parts (the words' loss given the
 *   cells, the entropy bonus, the doubly stochastic penalty; gates, ctx2out,
 *   att_coords);
 * - the baseline update, a short training run that lowers the loss, the model
 *   file round trip, the decoding modes and the argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_train.h"
#include "sc_test.h"

static const char *toy_words[] = {"<pad>", "a", "b", "c", "d", "<unk>", "<start>", "<end>"};
enum { G = 2, P = G * G, E = 3, V = 8 };

static sc_captioner *hard_model(float dropout, int ctx2out, int att_coords, int gate,
                                uint64_t seed) {
    sc_vocab v;
    SC_TEST_OK(sc_vocab_from_words(toy_words, V, &v));
    sc_captioner_config c = sc_captioner_default_config();
    c.grid = G;
    c.encoder_dim = E;
    c.attention_dim = 4;
    c.embed_dim = 3;
    c.decoder_dim = 5;
    c.vocab_size = V;
    c.gate = (sc_cap_gate)gate;
    c.dropout = dropout;
    c.ctx2out = ctx2out;
    c.att_coords = att_coords;
    c.hard_attention = 1;
    sc_captioner *m = NULL;
    SC_TEST_OK(sc_captioner_create(&c, &v, seed, &m));
    sc_vocab_free(&v);
    return m;
}

/* Two examples: "<start> a b <end>" (3 steps) and "<start> c <end>" (2 steps). */
enum { B = 2, L = 4, S0 = 3, S1 = 2 };
static const int32_t caps[B * L] = {6, 1, 2, 7, 6, 3, 7, 0};
static const int32_t lens[B] = {4, 3};

typedef struct {
    sc_captioner *m;
    float *feat;
    const int32_t *cells; /* (B, L) given cells or NULL */
    float expect, entropy, reinforce, baseline, alpha_c;
    uint64_t seed; /* of the rng each call starts from */
} ctx_t;

static sc_caption_loss run(ctx_t *c, int backward, float *dfeat) {
    sc_rng r;
    sc_rng_seed(&r, c->seed);
    sc_caption_batch b = {B, L, caps, lens, NULL, NULL};
    sc_caption_loss_opts o = {.alpha_c = c->alpha_c,
                              .train = 1,
                              .backward = backward,
                              .hard_expect = c->expect,
                              .hard_entropy = c->entropy,
                              .hard_reinforce = c->reinforce,
                              .hard_baseline = c->baseline,
                              .hard_cells = c->cells};
    sc_caption_loss out;
    SC_TEST_OK(sc_captioner_loss(c->m, c->feat, &b, &o, &r, &out, dfeat));
    return out;
}

static double fd_loss(void *p) {
    return run(p, 0, NULL).loss;
}

/* All the model's parameters as one vector view. */
typedef struct {
    const sc_param *ps;
    size_t np, n;
} pview;

static pview params_of(sc_captioner *m) {
    pview v = {0};
    SC_TEST_OK(sc_captioner_params(m, &v.ps, &v.np));
    for (size_t i = 0; i < v.np; i++) v.n += v.ps[i].n;
    return v;
}
static void zero_grads(const pview *v) {
    for (size_t i = 0; i < v->np; i++) memset(v->ps[i].grad, 0, v->ps[i].n * sizeof(float));
}
static void grads_into(const pview *v, double *out, double w) {
    for (size_t i = 0, o = 0; i < v->np; o += v->ps[i].n, i++)
        for (size_t j = 0; j < v->ps[i].n; j++) out[o + j] += w * v->ps[i].grad[j];
}
static float *param_at(const pview *v, size_t k) {
    for (size_t i = 0; i < v->np; k -= v->ps[i].n, i++)
        if (k < v->ps[i].n) return v->ps[i].param + k;
    return NULL;
}

/* Every choice of cells for the 5 steps: choices per step are the P cells
 * (and -1, the expectation, when mix). Path index -> given cells (B, L). */
static int n_choices(int mix) {
    return P + (mix ? 1 : 0);
}
static void path_cells(long path, int mix, int32_t *cells) {
    const int nc = n_choices(mix);
    for (int i = 0; i < B * L; i++) cells[i] = -1;
    const int slots[S0 + S1] = {0 * L + 1, 0 * L + 2, 0 * L + 3, 1 * L + 1, 1 * L + 2};
    for (int s = 0; s < S0 + S1; s++, path /= nc) cells[slots[s]] = (int32_t)(path % nc) - mix;
}
static long n_paths(int mix) {
    long n = 1;
    for (int s = 0; s < S0 + S1; s++) n *= n_choices(mix);
    return n;
}
/* The probability of a path: prod alpha at the drawn cells, times 1/2 per step
 * under the mix (the coin: expectation or a draw). */
static double path_prob(const sc_caption_loss *o, int mix) {
    return exp(o->hard_logp + (mix ? (S0 + S1) * log(0.5) : 0.0));
}

/* The exact expected objective E_cells[ce] by enumeration. */
static double exact_objective(ctx_t *c, int mix) {
    int32_t cells[B * L];
    const int32_t *keep = c->cells;
    c->cells = cells;
    double J = 0, tot = 0;
    for (long k = 0; k < n_paths(mix); k++) {
        path_cells(k, mix, cells);
        sc_caption_loss o = run(c, 0, NULL);
        J += path_prob(&o, mix) * o.ce;
        tot += path_prob(&o, mix);
    }
    c->cells = keep;
    assert_true(fabs(tot - 1.0) < 1e-5); /* the paths' probabilities sum to 1 */
    return J;
}

/* sum over paths of p(path) * (the estimate the backward gives for that path) */
static void enumerated_mean(ctx_t *c, const pview *v, int mix, double *out) {
    int32_t cells[B * L];
    const int32_t *keep = c->cells;
    c->cells = cells;
    memset(out, 0, v->n * sizeof(double));
    for (long k = 0; k < n_paths(mix); k++) {
        path_cells(k, mix, cells);
        zero_grads(v);
        sc_caption_loss o = run(c, 1, NULL);
        grads_into(v, out, path_prob(&o, mix));
    }
    c->cells = keep;
}

/* Mean and standard error of n sampled estimates (seeds 1000..1000+n-1). */
static void sampled_mean(ctx_t *c, const pview *v, int n, double *mean, double *se) {
    double *sq = calloc(v->n, sizeof(double)), *one = calloc(v->n, sizeof(double));
    memset(mean, 0, v->n * sizeof(double));
    for (int s = 0; s < n; s++) {
        c->seed = 1000 + (uint64_t)s;
        zero_grads(v);
        run(c, 1, NULL);
        memset(one, 0, v->n * sizeof(double));
        grads_into(v, one, 1.0);
        for (size_t i = 0; i < v->n; i++) mean[i] += one[i], sq[i] += one[i] * one[i];
    }
    for (size_t i = 0; i < v->n; i++) {
        mean[i] /= n;
        double var = (sq[i] / n - mean[i] * mean[i]) * n / (n - 1.0);
        se[i] = sqrt(var > 0 ? var : 0) / sqrt((double)n);
    }
    free(sq), free(one);
}

/* Entries where |a - b| > k se + atol; returns the count (and prints the worst). */
static int deviations(const char *what, const double *a, const double *b, const double *se,
                      size_t n, double k, double atol) {
    int bad = 0;
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double z = fabs(a[i] - b[i]) / (k * se[i] + atol);
        if (z > 1) bad++;
        if (z > worst) worst = z, wi = i;
    }
    print_message("%s: %d of %zu beyond tolerance; worst entry %zu: %.6g vs %.6g (se %.3g)\n", what,
                  bad, n, wi, a[wi], b[wi], se[wi]);
    return bad;
}

enum { NSAMPLES = 20000 };

static void test_reinforce_unbiased(void **state) {
    (void)state;
    sc_captioner *m = hard_model(0.0f, 0, 0, SC_CAP_GATE_VECTOR, 7);
    pview v = params_of(m);
    /* peakier attention than the initialisation, so the choices matter */
    for (size_t i = 0; i < v.np; i++)
        if (strstr(v.ps[i].name, "attention.full_att.weight"))
            for (size_t j = 0; j < v.ps[i].n; j++) v.ps[i].param[j] *= 6.0f;
    float *feat = sc_test_random((size_t)B * P * E, -2, 2, 3);
    ctx_t c = {m, feat, NULL, 0.0f, 0.0f, 1.0f, -2.5f, 0.0f, 0};
    double *exact = calloc(v.n, sizeof(double)), *enu = calloc(v.n, sizeof(double));
    double *mean = calloc(v.n, sizeof(double)), *se = calloc(v.n, sizeof(double));
    double *zero = calloc(v.n, sizeof(double));

    /* 1. the exact gradient: central differences of the enumerated expectation
     * (NFD entries spread over every tensor), against the p-weighted sum of
     * the estimates of every path (checks the REINFORCE term's formula) */
    enum { NFD = 5 };
    const double eps = 2e-3;
    size_t sub[64 * NFD], nsub = 0;
    for (size_t i = 0, off = 0; i < v.np; off += v.ps[i].n, i++)
        for (size_t j = 0; j < NFD && j < v.ps[i].n; j++)
            sub[nsub++] = off + j * v.ps[i].n / (NFD < v.ps[i].n ? NFD : v.ps[i].n);
    double *fd = calloc(nsub, sizeof(double)), *a = calloc(nsub, sizeof(double)),
           *sa = calloc(nsub, sizeof(double));
    for (size_t q = 0; q < nsub; q++) {
        float *w = param_at(&v, sub[q]), w0 = *w;
        *w = w0 + (float)eps;
        double jp = exact_objective(&c, 0);
        *w = w0 - (float)eps;
        double jm = exact_objective(&c, 0);
        *w = w0;
        fd[q] = (jp - jm) / (2 * eps);
    }
    enumerated_mean(&c, &v, 0, exact);
    for (size_t q = 0; q < nsub; q++) a[q] = exact[sub[q]], sa[q] = fabs(fd[q]);
    assert_int_equal(deviations("enumerated estimates vs d E[ce] (finite differences)", a, fd, sa,
                                nsub, 2e-2, 2e-4),
                     0);

    /* 2. the sampled estimates' mean: within 5 standard errors of the exact
     * gradient, on every entry (and of its finite differences on the subset) */
    sampled_mean(&c, &v, NSAMPLES, mean, se);
    assert_int_equal(deviations("sampled mean vs exact", mean, exact, se, v.n, 5.0, 1e-5), 0);
    for (size_t q = 0; q < nsub; q++) a[q] = mean[sub[q]], sa[q] = se[sub[q]];
    assert_int_equal(deviations("sampled mean vs finite differences", a, fd, sa, nsub, 5.0, 2e-4),
                     0);
    /* ... and the test can tell: without the REINFORCE term the estimator
     * (the words' gradient at the sampled cells alone) is biased */
    c.reinforce = 0.0f;
    sampled_mean(&c, &v, NSAMPLES / 4, mean, se);
    assert_true(deviations("pathwise only (biased) vs exact", mean, exact, se, v.n, 5.0, 1e-5) > 5);
    c.reinforce = 1.0f;
    free(fd), free(a), free(sa);

    /* 3. the paper's mix: each step reads the expectation with probability
     * 0.5; the expectation is over the coins too (5 choices a step) */
    c.expect = 0.5f;
    enumerated_mean(&c, &v, 1, enu);
    sampled_mean(&c, &v, NSAMPLES, mean, se);
    assert_int_equal(deviations("mix: sampled mean vs enumerated", mean, enu, se, v.n, 5.0, 1e-5),
                     0);
    /* the mix's exact gradient is not the pure one's */
    assert_true(deviations("mix vs pure", enu, exact, zero, v.n, 1.0, 1e-3) > 0);
    free(exact), free(enu), free(mean), free(se), free(zero), free(feat);
    sc_captioner_free(m);
}

/* Finite differences of the loss given the cells (no REINFORCE term): the
 * words, the chosen cells' features, the entropy bonus, the penalty. */
static void fd_variant(int ctx2out, int att_coords, int gate) {
    sc_captioner *m = hard_model(0.3f, ctx2out, att_coords, gate, 5);
    pview v = params_of(m);
    float *feat = sc_test_random((size_t)B * P * E, -1, 1, 9);
    float *dfeat = sc_test_zeros((size_t)B * P * E);
    /* cells for every step, one step reading the expectation */
    const int32_t cells[B * L] = {0, 2, -1, 3, 0, 1, 0, 0};
    ctx_t c = {m, feat, cells, 0.0f, 0.4f, 0.0f, 0.0f, 1.0f, 99};
    zero_grads(&v);
    sc_caption_loss o = run(&c, 1, dfeat);
    assert_int_equal(o.hard_steps, 4);
    assert_int_equal(o.nreward, 2);
    assert_true(o.entropy > 0 && o.entropy < log((double)P) + 1e-6);
    /* loss = ce + penalty - lambda_e * (entropy summed over the 4 steps) / 5 tokens */
    assert_true(fabs(o.loss - (o.ce + o.penalty - 0.4 * o.entropy * 4 / 5)) < 1e-5);
    for (size_t i = 0; i < v.np; i++)
        sc_test_gradcheck(v.ps[i].name, fd_loss, &c, v.ps[i].param, v.ps[i].grad, v.ps[i].n, 12,
                          1e-3, 3e-2, 2e-4);
    sc_test_gradcheck("dfeatures", fd_loss, &c, feat, dfeat, (size_t)B * P * E, 24, 1e-3, 3e-2,
                      2e-4);
    free(feat), free(dfeat);
    sc_captioner_free(m);
}

static void test_deterministic_parts_fd(void **state) {
    (void)state;
    fd_variant(0, 0, SC_CAP_GATE_VECTOR);
    fd_variant(1, 1, SC_CAP_GATE_SCALAR);
    fd_variant(0, 1, SC_CAP_GATE_NONE);
}

/* Sampling is deterministic given the rng; argmax without train. */
static void test_loss_values(void **state) {
    (void)state;
    sc_captioner *m = hard_model(0.0f, 0, 0, SC_CAP_GATE_VECTOR, 5);
    float *feat = sc_test_random((size_t)B * P * E, -1, 1, 9);
    ctx_t c = {m, feat, NULL, 0.5f, 0.1f, 1.0f, -3.0f, 1.0f, 42};
    sc_caption_loss a = run(&c, 0, NULL), a2 = run(&c, 0, NULL);
    assert_true(a.loss == a2.loss && a.hard_logp == a2.hard_logp && a.reward == a2.reward);
    /* reward = -ce * tokens summed over the examples (no dropout, no penalty) */
    assert_true(fabs(a.reward + a.ce * a.ntokens) < 1e-4);
    /* other seeds draw other cells */
    int differ = 0;
    for (uint64_t s = 43; s < 60 && !differ; s++) {
        c.seed = s;
        differ = run(&c, 0, NULL).hard_logp != a.hard_logp;
    }
    assert_true(differ);
    /* eval mode reads the most attended cells: equal to giving them */
    sc_caption_batch bt = {B, L, caps, lens, NULL, NULL};
    sc_caption_loss_opts o = {.alpha_c = 1.0f};
    sc_caption_loss ev, given;
    SC_TEST_OK(sc_captioner_loss(m, feat, &bt, &o, NULL, &ev, NULL));
    assert_int_equal(ev.hard_steps, S0 + S1);
    float al[L * P];
    int32_t cells[B * L];
    for (int b = 0; b < B; b++) { /* the argmax cells, by teacher forcing's one-hot maps */
        SC_TEST_OK(sc_captioner_teacher_force(m, feat + (size_t)b * P * E, caps + b * L,
                                              lens[b] - 1, NULL, al));
        cells[b * L] = -1;
        for (int t = 0; t < lens[b] - 1; t++) {
            int k = -1;
            for (int p = 0; p < P; p++)
                if (al[t * P + p] == 1.0f) k = p;
            assert_true(k >= 0);
            cells[b * L + t + 1] = k;
        }
        for (int t = lens[b]; t < L; t++) cells[b * L + t] = 7; /* past the end: ignored */
    }
    o.hard_cells = cells;
    SC_TEST_OK(sc_captioner_loss(m, feat, &bt, &o, NULL, &given, NULL));
    assert_true(fabs(given.loss - ev.loss) < 1e-6);
    free(feat);
    sc_captioner_free(m);
}

static void test_baseline_update(void **state) {
    (void)state;
    float st[2] = {0, 0};
    SC_TEST_OK(sc_captioner_hard_baseline_update(st, -10.0, 0.9f));
    assert_true(st[0] == -10.0f && st[1] == 1.0f);
    SC_TEST_OK(sc_captioner_hard_baseline_update(st, -20.0, 0.9f));
    assert_true(fabs(st[0] - (-11.0)) < 1e-5 && st[1] == 2.0f);
    assert_int_equal(sc_captioner_hard_baseline_update(st, -1.0, 1.0f), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_captioner_hard_baseline_update(st, NAN, 0.9f), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_captioner_hard_baseline_update(NULL, 0.0, 0.9f), SC_ERR_INVALID_ARG);
    assert_true(fabs(st[0] - (-11.0)) < 1e-5 && st[1] == 2.0f);
}

static void test_bad_options(void **state) {
    (void)state;
    sc_captioner *m = hard_model(0.0f, 0, 0, SC_CAP_GATE_VECTOR, 5);
    float *feat = sc_test_random((size_t)B * P * E, -1, 1, 9);
    sc_caption_batch bt = {B, L, caps, lens, NULL, NULL};
    sc_caption_loss out;
    sc_rng r;
    sc_rng_seed(&r, 1);
    const sc_caption_loss_opts bad[] = {{.train = 1, .hard_expect = 1.5f},
                                        {.train = 1, .hard_expect = -0.1f},
                                        {.train = 1, .hard_entropy = -1},
                                        {.train = 1, .hard_reinforce = NAN},
                                        {.train = 1, .hard_baseline = INFINITY}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sc_captioner_loss(m, feat, &bt, &bad[i], &r, &out, NULL),
                         SC_ERR_INVALID_ARG);
    /* training draws need an rng */
    sc_caption_loss_opts o = {.train = 1};
    assert_int_equal(sc_captioner_loss(m, feat, &bt, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    /* given cells outside [-1, P) */
    int32_t cells[B * L] = {0, 1, 2, 3, 0, 4, 0, 0};
    o.hard_cells = cells;
    assert_int_equal(sc_captioner_loss(m, feat, &bt, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "hard cell"));
    cells[5] = -2;
    assert_int_equal(sc_captioner_loss(m, feat, &bt, &o, NULL, &out, NULL), SC_ERR_INVALID_ARG);
    cells[5] = -1;
    SC_TEST_OK(sc_captioner_loss(m, feat, &bt, &o, NULL, &out, NULL));
    /* beam search: unknown attention mode */
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.attention_mode = (sc_cap_att_mode)4;
    sc_caption_result res;
    assert_int_equal(sc_captioner_beam_search(m, feat, &bp, &res), SC_ERR_INVALID_ARG);
    free(feat);
    sc_captioner_free(m);
}

/* Decoding modes; the saved model keeps hard_attention and decodes alike. */
static void test_modes_and_round_trip(void **state) {
    (void)state;
    sc_captioner *m = hard_model(0.0f, 0, 1, SC_CAP_GATE_VECTOR, 11);
    float *feat = sc_test_random((size_t)P * E, -1, 1, 4);
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.max_len = 6;
    sc_caption_result ex, am, s1, s2, s3;
    bp.attention_mode = SC_CAP_ATT_EXPECTED;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &ex));
    assert_null(ex.hyps[0].cells);
    bp.attention_mode = SC_CAP_ATT_DEFAULT; /* argmax for a hard model */
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &am));
    assert_non_null(am.hyps[0].cells);
    for (int t = 0; t < am.hyps[0].len; t++) {
        int k = am.hyps[0].cells[t];
        assert_true(k >= 0 && k < P);
        for (int p = 0; p < P; p++)
            assert_true(am.hyps[0].alphas[t * P + p] == (p == k ? 1.0f : 0.0f));
    }
    /* greedy argmax decoding = teacher forcing its own tokens (one-hot maps) */
    bp.beam_size = 1;
    sc_caption_result g;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &g));
    int32_t tok[8] = {6};
    for (int t = 0; t < g.hyps[0].len; t++) tok[t + 1] = g.hyps[0].tokens[t];
    float al[8 * P], lg[8 * V];
    SC_TEST_OK(sc_captioner_teacher_force(m, feat, tok, g.hyps[0].len, lg, al));
    for (int t = 0; t < g.hyps[0].len; t++) assert_true(al[t * P + g.hyps[0].cells[t]] == 1.0f);
    sc_caption_result_free(&g);
    bp.beam_size = 3;
    bp.attention_mode = SC_CAP_ATT_SAMPLE;
    bp.seed = 5;
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &s1));
    SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &s2));
    assert_int_equal(s1.hyps[0].len, s2.hyps[0].len);
    assert_memory_equal(s1.hyps[0].cells, s2.hyps[0].cells, s1.hyps[0].len * sizeof(int32_t));
    int differ = 0;
    for (uint64_t sd = 6; sd < 40 && !differ; sd++) {
        bp.seed = sd;
        SC_TEST_OK(sc_captioner_beam_search(m, feat, &bp, &s3));
        differ = s3.hyps[0].len != s1.hyps[0].len ||
                 memcmp(s3.hyps[0].cells, s1.hyps[0].cells, s1.hyps[0].len * sizeof(int32_t));
        sc_caption_result_free(&s3);
    }
    assert_true(differ);
    /* round trip */
    char *dir = sc_test_tmpdir("hard_rt");
    char *path = sc_test_join(dir, "m.safetensors");
    SC_TEST_OK(sc_captioner_save(m, path));
    sc_captioner *m2 = NULL;
    SC_TEST_OK(sc_captioner_load(path, &m2));
    assert_int_equal(sc_captioner_get_config(m2)->hard_attention, 1);
    assert_int_equal(sc_captioner_get_config(m2)->att_coords, 1);
    bp.attention_mode = SC_CAP_ATT_DEFAULT;
    sc_caption_result am2;
    SC_TEST_OK(sc_captioner_beam_search(m2, feat, &bp, &am2));
    assert_int_equal(am2.hyps[0].len, am.hyps[0].len);
    assert_memory_equal(am2.hyps[0].tokens, am.hyps[0].tokens, am.hyps[0].len * sizeof(int32_t));
    assert_memory_equal(am2.hyps[0].cells, am.hyps[0].cells, am.hyps[0].len * sizeof(int32_t));
    /* the config's JSON names it; a soft config leaves it out */
    char *js = sc_captioner_config_to_json(sc_captioner_get_config(m2));
    assert_non_null(strstr(js, "\"hard_attention\":true"));
    sc_captioner_config cf;
    SC_TEST_OK(sc_captioner_config_from_json(js, &cf));
    assert_int_equal(cf.hard_attention, 1);
    free(js);
    cf.hard_attention = 0;
    js = sc_captioner_config_to_json(&cf);
    assert_null(strstr(js, "hard_attention"));
    free(js);
    assert_int_equal(
        sc_captioner_config_from_json("{\"encoder_dim\":3,\"attention_dim\":4,\"embed_dim\":3,"
                                      "\"decoder_dim\":5,\"vocab_size\":8,\"hard_attention\":1}",
                                      &cf),
        SC_ERR_FORMAT);
    sc_caption_result_free(&am2);
    sc_captioner_free(m2);
    sc_test_rmtree(dir);
    free(dir), free(path);
    sc_caption_result_free(&ex), sc_caption_result_free(&am);
    sc_caption_result_free(&s1), sc_caption_result_free(&s2);
    free(feat);
    sc_captioner_free(m);
}

/* A few steps of REINFORCE training on a task where the word names the item
 * in ONE cell (the others are blank): the loss falls and argmax decoding
 * names the item. */
static void test_training_lowers_loss(void **state) {
    (void)state;
    enum { N = 24, TL = 3 };
    sc_captioner *m = hard_model(0.0f, 0, 0, SC_CAP_GATE_VECTOR, 8);
    static float feats[N * P * E];
    static int32_t tcaps[N * TL], tlens[N];
    static int where[N];
    sc_test_fill_uniform(feats, N * P * E, -0.1f, 0.1f, 21);
    for (int i = 0; i < N; i++) {
        int k = i % 3, cell = (i / 3) % P;
        where[i] = cell;
        feats[(i * P + cell) * E + k] += 2.0f; /* class k's pattern at one cell */
        tcaps[i * TL] = 6, tcaps[i * TL + 1] = 1 + k, tcaps[i * TL + 2] = 7;
        tlens[i] = TL;
    }
    const sc_param *ps;
    size_t np;
    SC_TEST_OK(sc_captioner_params(m, &ps, &np));
    float base[2] = {0, 0};
    sc_param bufp = {"hard.baseline", base, NULL, 2, 1, 0, {0}};
    sc_train_params tp = sc_train_default_params();
    tp.epochs = 60;
    tp.batch_size = 8;
    tp.seed = 3;
    tp.optim = sc_adam_default_params();
    tp.optim.lr = 0.03;
    tp.clip_grad_norm = 5.0;
    tp.log_every = 1000000;
    tp.progress_mode = 2;
    sc_trainer *tr;
    SC_TEST_OK(sc_trainer_create(&tp, N, ps, np, &bufp, 1, &tr));
    const int *idx;
    size_t cnt;
    double first = 0, last = 0;
    int step = 0, rc;
    static float bf[8 * P * E];
    static int32_t bc[8 * TL], bl[8];
    const int nsteps = 60 * 3;
    while ((rc = sc_trainer_next(tr, &idx, &cnt)) == 1) {
        for (size_t j = 0; j < cnt; j++) {
            memcpy(bf + j * P * E, feats + idx[j] * P * E, sizeof(float) * P * E);
            memcpy(bc + j * TL, tcaps + idx[j] * TL, sizeof(int32_t) * TL);
            bl[j] = tlens[idx[j]];
        }
        sc_caption_batch b = {(int)cnt, TL, bc, bl, NULL, NULL};
        sc_caption_loss_opts o = {.alpha_c = 0.0f,
                                  .train = 1,
                                  .backward = 1,
                                  .hard_entropy = 0.01f,
                                  .hard_reinforce = 1.0f,
                                  .hard_baseline = base[0]};
        sc_caption_loss out;
        SC_TEST_OK(sc_captioner_loss(m, bf, &b, &o, sc_trainer_rng(tr), &out, NULL));
        SC_TEST_OK(sc_captioner_hard_baseline_update(base, out.reward / out.nreward, 0.9f));
        if (step < 15) first += out.ce / 15;
        if (step >= nsteps - 15) last += out.ce / 15;
        step++;
        SC_TEST_OK(sc_trainer_step(tr, out.loss, 0, NULL, NULL));
    }
    assert_int_equal(rc, 0);
    assert_int_equal(step, nsteps);
    sc_trainer_free(tr);
    print_message("hard toy training: ce %.4f -> %.4f (mean of 15 steps), baseline %.3f\n", first,
                  last, (double)base[0]);
    assert_true(last < 0.4 * first);
    /* argmax decoding names the item (the cell it reads is printed only: the
     * initial state, from the mean of the features, may carry the class too) */
    int right = 0, cell = 0;
    for (int i = 0; i < N; i++) {
        sc_beam_params bp = sc_captioner_beam_default_params();
        bp.beam_size = 1;
        bp.max_len = 4;
        sc_caption_result r;
        SC_TEST_OK(sc_captioner_beam_search(m, feats + i * P * E, &bp, &r));
        right += r.hyps[0].len >= 1 && r.hyps[0].tokens[0] == tcaps[i * TL + 1];
        cell += r.hyps[0].cells[0] == where[i];
        sc_caption_result_free(&r);
    }
    print_message("argmax decoding: %d of %d name the item, %d read its cell\n", right, N, cell);
    assert_true(right >= N * 3 / 4);
    sc_captioner_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reinforce_unbiased),   cmocka_unit_test(test_deterministic_parts_fd),
        cmocka_unit_test(test_loss_values),          cmocka_unit_test(test_baseline_update),
        cmocka_unit_test(test_bad_options),          cmocka_unit_test(test_modes_and_round_trip),
        cmocka_unit_test(test_training_lowers_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
