/* Optimisers, clipping and lr schedules against torch 1.13 (tools/ref/ref_optim.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_optim.h"

#define NSTEPS 5
#define RTOL 1e-6
#define ATOL 1e-7 /* about one float ulp at 1: values near 0 cannot meet a relative bound */

static const char *NAMES[3] = {"w", "b", "v"};
static const size_t SIZES[3] = {12, 3, 5};

static char *g_dir;

static int setup(void **state) {
    (void)state;
    g_dir = sc_test_reference("optim_parity", "ref_optim.py", "");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sc_test_reference_free(&g_dir);
    return 0;
}

static void load_into(const char *name, float *dst, size_t n) {
    sc_npy a = sc_test_npy(g_dir, name);
    assert_int_equal(a.count, n);
    memcpy(dst, a.data, n * sizeof(float));
    sc_npy_free(&a);
}

static double compare_npy(const char *name, const float *got, size_t n, double rtol, double atol) {
    sc_npy a = sc_test_npy(g_dir, name);
    assert_int_equal(a.count, n);
    sc_test_assert_close(name, got, a.data, n, rtol, atol);
    /* Measured figure: largest absolute difference, in units of the reference's magnitude
     * (max(|ref|, 1) so that values near 0 do not dominate). */
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - a.data[i]) / fmax(fabs((double)a.data[i]), 1.0);
        if (d > worst) worst = d;
    }
    sc_npy_free(&a);
    return worst;
}

static void run_config(const char *cname, sc_optim_params hp) {
    float p[3][12], g[3][12];
    sc_param params[3];
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "init_%s", NAMES[i]);
        load_into(nm, p[i], SIZES[i]);
        params[i] = (sc_param){.name = NAMES[i],
                               .param = p[i],
                               .grad = g[i],
                               .n = SIZES[i],
                               .no_weight_decay = i == 1 /* bias: no wd */};
    }
    sc_optim *o;
    SC_TEST_OK(sc_optim_create(&hp, params, 3, &o));
    double worst = 0;
    for (int k = 0; k < NSTEPS; k++) {
        for (int i = 0; i < 3; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "grad_%s_%d", NAMES[i], k);
            load_into(nm, g[i], SIZES[i]);
        }
        SC_TEST_OK(sc_optim_step(o));
        for (int i = 0; i < 3; i++) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s_%s_%d", cname, NAMES[i], k);
            double r = compare_npy(nm, p[i], SIZES[i], RTOL, ATOL);
            if (r > worst) worst = r;
        }
    }
    assert_int_equal(sc_optim_step_count(o), NSTEPS);
    printf("[ parity ] %-10s %d steps, worst |diff|/max(|ref|,1) %.3g\n", cname, NSTEPS, worst);
    sc_optim_free(o);
}

static void test_sgd_matches_torch(void **state) {
    (void)state;
    sc_optim_params hp = sc_sgd_default_params();
    hp.lr = 0.1;
    hp.momentum = 0.9;
    hp.nesterov = 1;
    hp.weight_decay = 0.01;
    run_config("sgd", hp);
    hp = sc_sgd_default_params();
    hp.lr = 0.05;
    hp.momentum = 0.8;
    hp.dampening = 0.3;
    hp.weight_decay = 0.02;
    run_config("sgd_damp", hp);
    hp = sc_sgd_default_params();
    hp.lr = 0.2;
    run_config("sgd_plain", hp);
}

static void test_adam_matches_torch(void **state) {
    (void)state;
    sc_optim_params hp = sc_adam_default_params();
    hp.lr = 0.01;
    hp.beta1 = 0.9;
    hp.beta2 = 0.99;
    hp.eps = 1e-8;
    hp.weight_decay = 0.05;
    run_config("adam", hp);
    hp = sc_adam_default_params();
    hp.lr = 0.02;
    hp.beta1 = 0.8;
    hp.beta2 = 0.95;
    hp.eps = 1e-6;
    hp.amsgrad = 1;
    run_config("adam_ams", hp);
}

static void test_adamw_matches_torch(void **state) {
    (void)state;
    sc_optim_params hp = sc_adamw_default_params();
    hp.lr = 0.01;
    hp.weight_decay = 0.1;
    run_config("adamw", hp);
    hp = sc_adamw_default_params(); /* torch defaults otherwise */
    hp.lr = 0.03;
    hp.weight_decay = 0.3;
    hp.amsgrad = 1;
    run_config("adamw_ams", hp);
}

static void load_grads(const char *prefix, float g[3][12], sc_param *params) {
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%s%s", prefix, NAMES[i]);
        load_into(nm, g[i], SIZES[i]);
        params[i] = (sc_param){.name = NAMES[i], .param = NULL, .grad = g[i], .n = SIZES[i]};
    }
}

static void test_clipping_matches_torch(void **state) {
    (void)state;
    float g[3][12];
    sc_param params[3];
    load_grads("clip_in_", g, params);
    double total;
    SC_TEST_OK(sc_clip_grad_norm(params, 3, 1.0, &total));
    sc_npy t = sc_test_npy(g_dir, "clip_total");
    float tf = (float)total;
    sc_test_assert_close("clip total norm", &tf, t.data, 1, RTOL, 0);
    double r = fabs((double)tf - t.data[0]) / t.data[0];
    assert_true(total > 1.5); /* the case really clips */
    sc_npy_free(&t);
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "clip_out_%s", NAMES[i]);
        double ri = compare_npy(nm, g[i], SIZES[i], RTOL, ATOL);
        if (ri > r) r = ri;
    }
    /* After clipping the norm is max_norm (up to the 1e-6 guard). */
    double again;
    SC_TEST_OK(sc_clip_grad_norm(params, 3, 10.0, &again));
    assert_true(fabs(again - 1.0) < 1e-5);
    printf("[ parity ] clip_grad_norm_ total %.7g, worst |diff|/max(|ref|,1) %.3g\n", total, r);

    /* Below max_norm: total reported, gradients unchanged. */
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "grad_%s_0", NAMES[i]);
        load_into(nm, g[i], SIZES[i]);
        for (size_t j = 0; j < SIZES[i]; j++) g[i][j] *= 0.01f;
    }
    float before[3][12];
    memcpy(before, g, sizeof before);
    SC_TEST_OK(sc_clip_grad_norm(params, 3, 1.0, &total));
    t = sc_test_npy(g_dir, "noclip_total");
    tf = (float)total;
    sc_test_assert_close("noclip total norm", &tf, t.data, 1, RTOL, 0);
    sc_npy_free(&t);
    assert_memory_equal(before, g, sizeof before);

    load_grads("clipval_in_", g, params);
    SC_TEST_OK(sc_clip_grad_value(params, 3, 0.05));
    int clipped = 0;
    for (int i = 0; i < 3; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "clipval_out_%s", NAMES[i]);
        compare_npy(nm, g[i], SIZES[i], 0, 0);
        for (size_t j = 0; j < SIZES[i]; j++) clipped += fabsf(g[i][j]) == 0.05f;
    }
    assert_true(clipped > 0);

    /* A NaN gradient is reported and nothing is scaled. */
    g[0][0] = NAN;
    g[1][0] = 100.0f;
    assert_int_equal(sc_clip_grad_norm(params, 3, 1.0, &total), SC_ERR_INVALID_ARG);
    assert_true(g[1][0] == 100.0f);
    assert_non_null(strstr(sc_last_error(), "not finite"));
}

static void check_schedule(const char *name, const sc_lr_schedule *s) {
    SC_TEST_OK(sc_lr_schedule_validate(s));
    float got[31];
    for (int t = 0; t < 31; t++) got[t] = (float)sc_lr_at(s, t);
    char nm[64];
    snprintf(nm, sizeof nm, "lr_%s", name);
    double r = compare_npy(nm, got, 31, RTOL, 0);
    printf("[ parity ] lr %-11s 31 steps, worst |diff|/max(|ref|,1) %.3g\n", name, r);
}

static void test_schedules_match_torch(void **state) {
    (void)state;
    sc_lr_schedule s = sc_lr_schedule_default();
    s.base_lr = 0.1;
    s.kind = SC_LR_STEP;
    s.step_size = 7;
    s.gamma = 0.5;
    check_schedule("step", &s);

    s = sc_lr_schedule_default();
    s.base_lr = 0.1;
    s.kind = SC_LR_COSINE;
    s.t_max = 12; /* 30 steps go past t_max: torch's cosine rises again */
    s.eta_min = 1e-3;
    check_schedule("cosine", &s);

    s = sc_lr_schedule_default();
    s.base_lr = 0.1;
    s.kind = SC_LR_STEP;
    s.step_size = 4;
    s.gamma = 0.7;
    s.warmup_steps = 5;
    s.warmup_start_factor = 0.25;
    check_schedule("warm_step", &s);

    s = sc_lr_schedule_default();
    s.base_lr = 0.1;
    s.kind = SC_LR_COSINE;
    s.t_max = 24;
    s.warmup_steps = 6;
    s.warmup_start_factor = 0.1;
    check_schedule("warm_cosine", &s);

    s = sc_lr_schedule_default();
    s.base_lr = 0.1;
    s.warmup_steps = 8;
    s.warmup_start_factor = 0.5;
    check_schedule("warm_const", &s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_matches_torch),     cmocka_unit_test(test_adam_matches_torch),
        cmocka_unit_test(test_adamw_matches_torch),   cmocka_unit_test(test_clipping_matches_torch),
        cmocka_unit_test(test_schedules_match_torch),
    };
    return cmocka_run_group_tests_name("optim_parity", tests, setup, teardown);
}
