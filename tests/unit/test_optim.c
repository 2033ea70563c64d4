/* Optimisers on a small least-squares problem, state save/restore, clipping
 * and schedule properties, argument validation. Parity with torch is in
 * tests/parity/test_optim_parity.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"

#define NS 64 /* samples */
#define NF 4  /* features */

typedef struct problem {
    float x[NS * NF], y[NS];
    float w[NF], b[1];
    float gw[NF], gb[1];
    sc_param params[2];
} problem;

static void problem_init(problem *pb) {
    memset(pb, 0, sizeof *pb);
    sc_test_fill_uniform(pb->x, NS * NF, -1, 1, 7);
    const float wt[NF] = {1.5f, -2.0f, 0.5f, 3.0f};
    sc_rng r;
    sc_rng_seed(&r, 11);
    for (int i = 0; i < NS; i++) {
        double s = 0.7;
        for (int j = 0; j < NF; j++) s += (double)pb->x[i * NF + j] * wt[j];
        pb->y[i] = (float)(s + 0.01 * sc_rng_normal(&r));
    }
    pb->params[0] = (sc_param){"linear.weight", pb->w, pb->gw, NF, 0};
    pb->params[1] = (sc_param){"linear.bias", pb->b, pb->gb, 1, 1};
}

/* Mean squared error; fills the gradients. */
static double loss_and_grad(problem *pb) {
    double l = 0, gw[NF] = {0}, gb = 0;
    for (int i = 0; i < NS; i++) {
        double e = pb->b[0] - pb->y[i];
        for (int j = 0; j < NF; j++) e += (double)pb->x[i * NF + j] * pb->w[j];
        l += e * e;
        for (int j = 0; j < NF; j++) gw[j] += 2 * e * pb->x[i * NF + j] / NS;
        gb += 2 * e / NS;
    }
    for (int j = 0; j < NF; j++) pb->gw[j] = (float)gw[j];
    pb->gb[0] = (float)gb;
    return l / NS;
}

static double g_pb_loss(void *ctx) {
    problem *pb = ctx;
    float saved[NF + 1];
    memcpy(saved, pb->gw, sizeof pb->gw);
    saved[NF] = pb->gb[0];
    double l = loss_and_grad(pb);
    memcpy(pb->gw, saved, sizeof pb->gw);
    pb->gb[0] = saved[NF];
    return l;
}

static void test_problem_gradient_is_right(void **state) {
    (void)state;
    problem pb;
    problem_init(&pb);
    sc_test_fill_uniform(pb.w, NF, -1, 1, 3);
    loss_and_grad(&pb);
    sc_test_gradcheck("lsq w", g_pb_loss, &pb, pb.w, pb.gw, NF, NF, 1e-3, 1e-3, 1e-4);
    sc_test_gradcheck("lsq b", g_pb_loss, &pb, pb.b, pb.gb, 1, 1, 1e-3, 1e-3, 1e-4);
}

static sc_optim_params config(int which) {
    sc_optim_params hp;
    switch (which) {
    case 0:
        hp = sc_sgd_default_params();
        hp.lr = 0.05;
        hp.momentum = 0.9;
        hp.nesterov = 1;
        hp.weight_decay = 1e-4;
        return hp;
    case 1:
        hp = sc_sgd_default_params();
        hp.lr = 0.1;
        return hp;
    case 2:
        hp = sc_adam_default_params();
        hp.lr = 0.05;
        hp.weight_decay = 1e-4;
        return hp;
    case 3:
        hp = sc_adam_default_params();
        hp.lr = 0.05;
        hp.amsgrad = 1;
        return hp;
    default:
        hp = sc_adamw_default_params();
        hp.lr = 0.05;
        return hp;
    }
}

static void test_every_optimiser_reduces_the_loss(void **state) {
    (void)state;
    for (int c = 0; c < 5; c++) {
        problem pb;
        problem_init(&pb);
        sc_optim_params hp = config(c);
        sc_optim *o;
        SC_TEST_OK(sc_optim_create(&hp, pb.params, 2, &o));
        double l0 = loss_and_grad(&pb), l = l0;
        for (int it = 0; it < 200; it++) {
            sc_optim_zero_grad(o);
            assert_true(pb.gw[0] == 0 && pb.gb[0] == 0);
            l = loss_and_grad(&pb);
            SC_TEST_OK(sc_optim_step(o));
        }
        l = loss_and_grad(&pb);
        printf("[ optim ] config %d: loss %.4g -> %.4g, bias %.4f (true 0.7)\n", c, l0, l,
               (double)pb.b[0]);
        assert_true(l < 0.01 * l0);
        assert_true(fabs(pb.b[0] - 0.7) < 0.1);
        assert_int_equal(sc_optim_step_count(o), 200);
        sc_optim_free(o);
    }
}

static void test_state_save_restore_continues_bit_identically(void **state) {
    (void)state;
    for (int c = 0; c < 5; c++) {
        problem a, b;
        problem_init(&a);
        problem_init(&b);
        sc_optim_params hp = config(c);
        sc_optim *oa, *ob;
        SC_TEST_OK(sc_optim_create(&hp, a.params, 2, &oa));
        SC_TEST_OK(sc_optim_create(&hp, b.params, 2, &ob));
        for (int it = 0; it < 10; it++) {
            loss_and_grad(&a);
            SC_TEST_OK(sc_optim_step(oa));
        }
        /* "Checkpoint": parameters plus every state entry, copied out by name. */
        size_t ne = sc_optim_state_count(oa);
        size_t want = 1 + 2 * (size_t)(c <= 1 ? (c == 0 ? 1 : 0) : (c == 3 ? 3 : 2));
        assert_int_equal(ne, want);
        char **names = calloc(ne, sizeof *names);
        float **data = calloc(ne, sizeof *data);
        size_t *lens = calloc(ne, sizeof *lens);
        for (size_t i = 0; i < ne; i++) {
            sc_optim_state_entry e;
            SC_TEST_OK(sc_optim_state_get(oa, i, &e));
            names[i] = strdup(e.name);
            lens[i] = e.n;
            data[i] = malloc(e.n * sizeof(float) + 1);
            memcpy(data[i], e.data, e.n * sizeof(float));
        }
        assert_string_equal(names[0], "optim.step");
        assert_true(data[0][0] == 10.0f && data[0][1] == 0.0f);
        if (c == 0) assert_string_equal(names[1], "optim.linear.weight.momentum_buffer");
        if (c >= 2) {
            assert_string_equal(names[1], "optim.linear.weight.exp_avg");
            assert_string_equal(names[2], "optim.linear.weight.exp_avg_sq");
        }
        if (c == 3) assert_string_equal(names[6], "optim.linear.bias.max_exp_avg_sq");
        memcpy(b.w, a.w, sizeof a.w);
        b.b[0] = a.b[0];
        /* Restore in reverse order: order must not matter. */
        for (size_t i = ne; i-- > 0;)
            SC_TEST_OK(sc_optim_state_set(ob, names[i], data[i], lens[i]));
        assert_int_equal(sc_optim_step_count(ob), 10);
        for (int it = 0; it < 15; it++) {
            loss_and_grad(&a);
            SC_TEST_OK(sc_optim_step(oa));
            loss_and_grad(&b);
            SC_TEST_OK(sc_optim_step(ob));
        }
        assert_memory_equal(a.w, b.w, sizeof a.w);
        assert_memory_equal(a.b, b.b, sizeof a.b);
        /* Without the state the continuation differs (the test can fail). */
        if (c != 1) {
            problem d;
            problem_init(&d);
            memcpy(d.w, b.w, sizeof d.w);
            d.b[0] = b.b[0];
            sc_optim *od;
            SC_TEST_OK(sc_optim_create(&hp, d.params, 2, &od));
            loss_and_grad(&d);
            loss_and_grad(&b);
            SC_TEST_OK(sc_optim_step(od));
            SC_TEST_OK(sc_optim_step(ob));
            assert_memory_not_equal(d.w, b.w, sizeof d.w);
            sc_optim_free(od);
        }
        /* Wrong length / unknown name / bad step encoding are rejected. */
        assert_int_equal(sc_optim_state_set(ob, names[0], data[0], 1), SC_ERR_SHAPE);
        assert_int_equal(sc_optim_state_set(ob, "optim.nope", data[0], 2), SC_ERR_INVALID_ARG);
        assert_non_null(strstr(sc_last_error(), "optim.nope"));
        float bad[2] = {0.5f, 0};
        assert_int_equal(sc_optim_state_set(ob, "optim.step", bad, 2), SC_ERR_FORMAT);
        for (size_t i = 0; i < ne; i++) {
            free(names[i]);
            free(data[i]);
        }
        free(names);
        free(data);
        free(lens);
        sc_optim_free(oa);
        sc_optim_free(ob);
    }
}

static void test_step_counter_encoding_is_exact_beyond_float_range(void **state) {
    (void)state;
    float p[1] = {1}, g[1] = {1};
    sc_param prm = {"p", p, g, 1, 0};
    sc_optim_params hp = sc_adam_default_params();
    sc_optim *o;
    SC_TEST_OK(sc_optim_create(&hp, &prm, 1, &o));
    const int64_t big = ((int64_t)1 << 40) + 12345;
    float enc[2] = {(float)(big & 0xFFFFFF), (float)(big >> 24)};
    SC_TEST_OK(sc_optim_state_set(o, "optim.step", enc, 2));
    assert_true(sc_optim_step_count(o) == big);
    SC_TEST_OK(sc_optim_step(o));
    sc_optim_state_entry e;
    SC_TEST_OK(sc_optim_state_get(o, 0, &e));
    assert_true((int64_t)e.data[0] + ((int64_t)e.data[1] << 24) == big + 1);
    /* At such a step the bias corrections are 1: a plain m / (sqrt(v) + eps) step. */
    assert_true(isfinite(p[0]));
    assert_int_equal(sc_optim_state_get(o, 3, &e), SC_ERR_INVALID_ARG);
    sc_optim_free(o);
}

static void test_large_tensor_update_matches_single_element(void **state) {
    (void)state;
    /* Large enough for the OpenMP path; every element must get the same value
     * as a one-element tensor given the same inputs. */
    const size_t n = 100000;
    float *p = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) p[i] = 0.3f, g[i] = -0.2f;
    float p1 = 0.3f, g1 = -0.2f;
    for (int c = 0; c < 5; c++) {
        sc_optim_params hp = config(c);
        sc_param big = {"big", p, g, n, 0}, one = {"one", &p1, &g1, 1, 0};
        sc_optim *ob, *o1;
        SC_TEST_OK(sc_optim_create(&hp, &big, 1, &ob));
        SC_TEST_OK(sc_optim_create(&hp, &one, 1, &o1));
        for (int it = 0; it < 3; it++) {
            SC_TEST_OK(sc_optim_step(ob));
            SC_TEST_OK(sc_optim_step(o1));
        }
        for (size_t i = 0; i < n; i++)
            if (p[i] != p1)
                fail_msg("config %d: element %zu = %.9g, expected %.9g", c, i, p[i], p1);
        sc_optim_free(ob);
        sc_optim_free(o1);
    }
    free(p);
    free(g);
}

static void test_weight_decay_flag_and_adamw_decoupling(void **state) {
    (void)state;
    /* Zero gradient: Adam's L2 decay moves p by a normalised step (lr), AdamW
     * decays it multiplicatively by lr*wd; flagged tensors do not move. */
    float p[2] = {2, 2}, g[2] = {0, 0};
    sc_param prm[2] = {{"w", &p[0], &g[0], 1, 0}, {"bias", &p[1], &g[1], 1, 1}};
    sc_optim_params hp = sc_adamw_default_params();
    hp.lr = 0.1;
    hp.weight_decay = 0.5;
    sc_optim *o;
    SC_TEST_OK(sc_optim_create(&hp, prm, 2, &o));
    SC_TEST_OK(sc_optim_step(o));
    assert_true(p[0] == (float)(2.0f * (float)(1 - 0.1 * 0.5)));
    assert_true(p[1] == 2.0f);
    sc_optim_free(o);
    p[0] = 2;
    hp = sc_adam_default_params();
    hp.lr = 0.1;
    hp.weight_decay = 0.5;
    SC_TEST_OK(sc_optim_create(&hp, prm, 2, &o));
    SC_TEST_OK(sc_optim_step(o));
    assert_true(fabs(p[0] - 1.9) < 1e-6); /* first Adam step is lr * sign */
    assert_true(p[1] == 2.0f);
    sc_optim_free(o);
}

static void test_invalid_arguments_are_clear_errors(void **state) {
    (void)state;
    float p[2], g[2];
    sc_param prm[2] = {{"a", p, g, 1, 0}, {"a", p + 1, g + 1, 1, 0}};
    sc_optim *o = (sc_optim *)1;
    sc_optim_params hp = sc_sgd_default_params();
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    assert_null(o);
    assert_non_null(strstr(sc_last_error(), "used twice"));
    prm[1].name = "";
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    prm[1].name = "b";
    prm[1].grad = NULL;
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "'b'"));
    prm[1].grad = g + 1;
    hp.nesterov = 1; /* without momentum */
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "nesterov"));
    hp = sc_adam_default_params();
    hp.beta2 = 1.0;
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "beta2"));
    hp = sc_adamw_default_params();
    hp.lr = NAN;
    assert_int_equal(sc_optim_create(&hp, prm, 2, &o), SC_ERR_INVALID_ARG);
    hp.lr = 1e-3;
    SC_TEST_OK(sc_optim_create(&hp, prm, 2, &o));
    assert_int_equal(sc_optim_set_lr(o, -1), SC_ERR_INVALID_ARG);
    SC_TEST_OK(sc_optim_set_lr(o, 0.25));
    assert_true(sc_optim_get_lr(o) == 0.25);
    sc_optim_free(o);
    assert_int_equal(sc_clip_grad_norm(prm, 2, -1, NULL), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_clip_grad_value(prm, 2, NAN), SC_ERR_INVALID_ARG);
    /* Empty parameter list and zero-sized tensors are fine. */
    sc_param empty = {"e", NULL, NULL, 0, 0};
    SC_TEST_OK(sc_optim_create(&hp, &empty, 1, &o));
    SC_TEST_OK(sc_optim_step(o));
    sc_optim_free(o);
    double total = -1;
    SC_TEST_OK(sc_clip_grad_norm(NULL, 0, 1.0, &total));
    assert_true(total == 0);
}

static void test_schedule_properties(void **state) {
    (void)state;
    sc_lr_schedule s = sc_lr_schedule_default();
    s.base_lr = 1.0;
    s.kind = SC_LR_COSINE;
    s.t_max = 100;
    s.eta_min = 0.01;
    s.warmup_steps = 10;
    s.warmup_start_factor = 0.1;
    SC_TEST_OK(sc_lr_schedule_validate(&s));
    assert_true(sc_lr_at(&s, 0) == 0.1);
    assert_true(sc_lr_at(&s, -5) == 0.1);
    assert_true(sc_lr_at(&s, 10) == 1.0);                /* main schedule starts at its step 0 */
    assert_true(fabs(sc_lr_at(&s, 110) - 0.01) < 1e-15); /* reaches eta_min at t_max */
    for (int t = 1; t < 10; t++) assert_true(sc_lr_at(&s, t) > sc_lr_at(&s, t - 1));
    for (int t = 11; t <= 110; t++) assert_true(sc_lr_at(&s, t) < sc_lr_at(&s, t - 1));
    /* Periodic like torch's closed form; huge steps stay accurate. */
    int64_t far = 10 + 200 * (int64_t)1000000000;
    assert_true(fabs(sc_lr_at(&s, far + 37) - sc_lr_at(&s, 47)) < 1e-15);
    s.kind = SC_LR_STEP;
    s.step_size = 3;
    s.gamma = 0.5;
    s.warmup_steps = 0;
    assert_true(sc_lr_at(&s, 2) == 1.0 && sc_lr_at(&s, 3) == 0.5 && sc_lr_at(&s, 9) == 0.125);
    s.step_size = 0;
    assert_int_equal(sc_lr_schedule_validate(&s), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "step_size"));
    assert_true(isnan(sc_lr_at(&s, 1)));
    s.step_size = 3;
    s.warmup_steps = 4;
    s.warmup_start_factor = 0;
    assert_int_equal(sc_lr_schedule_validate(&s), SC_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem_gradient_is_right),
        cmocka_unit_test(test_every_optimiser_reduces_the_loss),
        cmocka_unit_test(test_state_save_restore_continues_bit_identically),
        cmocka_unit_test(test_step_counter_encoding_is_exact_beyond_float_range),
        cmocka_unit_test(test_large_tensor_update_matches_single_element),
        cmocka_unit_test(test_weight_decay_flag_and_adamw_decoupling),
        cmocka_unit_test(test_invalid_arguments_are_clear_errors),
        cmocka_unit_test(test_schedule_properties),
    };
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
