/* sc_tensor and sc_arena (including planning mode). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_tensor.h"

static void test_tensor_create_view_reshape(void **state) {
    (void)state;
    sc_tensor t;
    int64_t shape[4] = {2, 3, 4, 5};
    SC_TEST_OK(sc_tensor_create(&t, 4, shape));
    assert_int_equal(sc_tensor_numel(&t), 120);
    assert_int_equal(t.strides[0], 60);
    assert_int_equal(t.strides[1], 20);
    assert_int_equal(t.strides[2], 5);
    assert_int_equal(t.strides[3], 1);
    assert_true(sc_tensor_is_contiguous(&t));
    assert_int_equal((uintptr_t)t.data % 64, 0);
    for (size_t i = 0; i < 120; i++) assert_true(t.data[i] == 0.0f);
    t.data[119] = 7.0f;
    /* Reshape with an inferred dim shares the data. */
    sc_tensor r;
    int64_t s2[3] = {6, -1, 2};
    SC_TEST_OK(sc_tensor_reshape(&t, 3, s2, &r));
    assert_int_equal(r.shape[1], 10);
    assert_int_equal(r.strides[0], 20);
    assert_ptr_equal(r.data, t.data);
    assert_int_equal(r.owns_data, 0);
    assert_true(r.data[5 * 20 + 9 * 2 + 1] == 7.0f);
    /* Wrong element count, two -1, non-divisible inference. */
    int64_t bad[2] = {7, 17};
    assert_int_equal(sc_tensor_reshape(&t, 2, bad, &r), SC_ERR_SHAPE);
    int64_t two[2] = {-1, -1};
    assert_int_equal(sc_tensor_reshape(&t, 2, two, &r), SC_ERR_INVALID_ARG);
    int64_t nd[2] = {-1, 7};
    assert_int_equal(sc_tensor_reshape(&t, 2, nd, &r), SC_ERR_SHAPE);
    /* A transposed (non-contiguous) view cannot be reshaped. */
    sc_tensor tr = t;
    tr.shape[2] = 5, tr.shape[3] = 4, tr.strides[2] = 1, tr.strides[3] = 5;
    assert_false(sc_tensor_is_contiguous(&tr));
    assert_int_equal(sc_tensor_reshape(&tr, 2, s2, &r), SC_ERR_SHAPE);
    assert_non_null(strstr(sc_last_error(), "contiguous"));
    sc_tensor_free(&t);
    assert_null(t.data);
    /* Views do not own. */
    float buf[6] = {1, 2, 3, 4, 5, 6};
    int64_t vs[2] = {2, 3};
    SC_TEST_OK(sc_tensor_view(&t, buf, 2, vs));
    assert_int_equal(t.owns_data, 0);
    sc_tensor_free(&t); /* must not free buf */
    assert_true(buf[5] == 6.0f);
    /* Scalars, bad ndim, negative dims, NULL data, overflow. */
    SC_TEST_OK(sc_tensor_create(&t, 0, NULL));
    assert_int_equal(sc_tensor_numel(&t), 1);
    sc_tensor_free(&t);
    int64_t neg[2] = {2, -3};
    assert_int_equal(sc_tensor_create(&t, 2, neg), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_tensor_create(&t, 9, shape), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_tensor_view(&t, NULL, 2, vs), SC_ERR_INVALID_ARG);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4};
    assert_int_equal(sc_tensor_create(&t, 3, huge), SC_ERR_LIMIT);
    assert_null(t.data);
}

static void test_arena_alignment_mark_reset_peak(void **state) {
    (void)state;
    sc_arena *a = sc_arena_create(1000); /* rounded up to 1024 */
    assert_non_null(a);
    assert_int_equal(sc_arena_capacity(a), 1024);
    assert_false(sc_arena_is_plan(a));
    char *p1 = sc_arena_alloc(a, 10);
    char *p2 = sc_arena_alloc(a, 100);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal((uintptr_t)p1 % 64, 0);
    assert_int_equal((uintptr_t)p2 % 64, 0);
    assert_int_equal(p2 - p1, 64);
    memset(p2, 0xab, 100);
    assert_int_equal(sc_arena_used(a), 64 + 128);
    sc_arena_mark_t m = sc_arena_mark(a);
    float *f = sc_arena_alloc_floats(a, 100); /* 400 -> 448 bytes */
    assert_non_null(f);
    assert_int_equal(sc_arena_used(a), 192 + 448);
    sc_arena_reset(a, m);
    assert_int_equal(sc_arena_used(a), 192);
    assert_int_equal(sc_arena_peak(a), 640);
    /* Reuse after reset returns the same memory. */
    assert_ptr_equal(sc_arena_alloc_floats(a, 1), f);
    /* Too big: NULL, clear error, arena unchanged. */
    size_t used = sc_arena_used(a);
    assert_null(sc_arena_alloc(a, 2000));
    assert_non_null(strstr(sc_last_error(), "2000 bytes requested"));
    assert_int_equal(sc_arena_used(a), used);
    assert_null(sc_arena_alloc_floats(a, SIZE_MAX / 2));
    /* A tensor in the arena. */
    sc_arena_reset(a, 0);
    sc_tensor t;
    int64_t sh[2] = {4, 8};
    SC_TEST_OK(sc_arena_tensor(a, &t, 2, sh));
    assert_int_equal(sc_tensor_numel(&t), 32);
    assert_int_equal(t.owns_data, 0);
    t.data[31] = 1.0f;
    assert_int_equal(sc_arena_tensor(a, &t, 2, (int64_t[]){100, 100}), SC_ERR_NOMEM);
    sc_arena_free(a);
    sc_arena_free(NULL);
}

/* The allocation sequence of a toy two-layer "model", used both to plan and
 * to run. `run` touches memory only with a real arena. */
static int toy_forward(sc_arena *a, int n, int run) {
    sc_arena_mark_t m0 = sc_arena_mark(a);
    float *h = sc_arena_alloc_floats(a, (size_t)n * 16);
    if (!h) return -1;
    sc_arena_mark_t m1 = sc_arena_mark(a);
    float *scratch = sc_arena_alloc_floats(a, (size_t)n * 40);
    if (!scratch) return -1;
    if (run) {
        for (int i = 0; i < n * 40; i++) scratch[i] = 1.0f;
        for (int i = 0; i < n * 16; i++) h[i] = scratch[i] * 2;
    }
    sc_arena_reset(a, m1);
    float *out = sc_arena_alloc_floats(a, (size_t)n * 3);
    if (!out) return -1;
    if (run)
        for (int i = 0; i < n * 3; i++) out[i] = h[i] + 1;
    int ok = run ? out[0] == 3.0f : 1;
    sc_arena_reset(a, m0);
    return ok ? 0 : -1;
}

static void test_arena_planning_gives_exact_size(void **state) {
    (void)state;
    sc_arena *plan = sc_arena_plan();
    assert_non_null(plan);
    assert_true(sc_arena_is_plan(plan));
    assert_int_equal(sc_arena_capacity(plan), SIZE_MAX);
    /* Plan mode: non-NULL dummy, bookkeeping only. */
    assert_non_null(sc_arena_alloc(plan, (size_t)1 << 40));
    sc_arena_reset(plan, 0);
    sc_arena_reset_peak(plan);
    assert_int_equal(sc_arena_peak(plan), 0);
    assert_int_equal(toy_forward(plan, 37, 0), 0);
    size_t need = sc_arena_peak(plan);
    assert_int_equal(need, 37 * 16 * 4 + (37 * 40 * 4 + 63) / 64 * 64); /* 2368 + 5952 */
    sc_arena_free(plan);
    /* An arena of exactly the planned size runs the real pass... */
    sc_arena *a = sc_arena_create(need);
    assert_int_equal(toy_forward(a, 37, 1), 0);
    assert_int_equal(sc_arena_peak(a), need);
    sc_arena_free(a);
    /* ...and one 64 bytes smaller does not. */
    a = sc_arena_create(need - 64);
    assert_int_equal(toy_forward(a, 37, 1), -1);
    sc_arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tensor_create_view_reshape),
        cmocka_unit_test(test_arena_alignment_mark_reset_peak),
        cmocka_unit_test(test_arena_planning_gives_exact_size),
    };
    return cmocka_run_group_tests_name("tensor", tests, NULL, NULL);
}
