/* Raw map files (sc_maps_io.h): .npy and 16-bit PNG writers, map reader.
 * The files are checked with numpy/OpenCV in tests/cli/test_saliency.sh; here
 * the C round trips, exact 16-bit quantisation, clamping and errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_maps_io.h"
#include "saccade/sc_npy.h"

static void fill(sc_map *m, int w, int h) {
    SC_TEST_OK(sc_map_alloc(m, w, h));
    for (int i = 0; i < w * h; i++) m->data[i] = (float)i / (float)(w * h - 1);
}

static void test_npy_roundtrip_is_exact(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("mapsio");
    char *p = sc_test_join(dir, "m.NPY");
    sc_map m, r;
    fill(&m, 7, 5);
    m.data[3] = -2.5f; /* values are stored as they are */
    SC_TEST_OK(sc_map_save(&m, p));
    SC_TEST_OK(sc_map_load(p, &r));
    assert_int_equal(r.w, 7);
    assert_int_equal(r.h, 5);
    assert_memory_equal(r.data, m.data, sizeof(float) * 35);
    sc_npy a;
    SC_TEST_OK(sc_npy_read(p, &a));
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 5);
    assert_int_equal(a.shape[1], 7);
    sc_npy_free(&a);
    sc_map_free(&r);
    sc_map_free(&m);
    free(p);
    sc_test_rmtree(dir);
    free(dir);
}

static void test_png16_quantises_to_1_over_65535_and_clamps(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("mapsio");
    char *p = sc_test_join(dir, "m.png");
    sc_map m, r;
    fill(&m, 13, 11);
    m.data[0] = NAN;
    m.data[1] = -1;
    m.data[2] = 7;
    SC_TEST_OK(sc_map_save(&m, p));
    sc_image_info info;
    SC_TEST_OK(sc_image_probe(p, &info));
    assert_int_equal(info.bit_depth, 16);
    assert_int_equal(info.channels, 1);
    SC_TEST_OK(sc_map_load(p, &r));
    assert_int_equal(r.w, 13);
    assert_int_equal(r.h, 11);
    assert_true(r.data[0] == 0 && r.data[1] == 0 && r.data[2] == 1);
    for (int i = 3; i < 13 * 11; i++) {
        double want = floor(m.data[i] * 65535.0 + 0.5) / 65535.0;
        assert_true(fabs(r.data[i] - want) < 1e-7);
    }
    sc_map_free(&r);
    sc_map_free(&m);
    free(p);
    sc_test_rmtree(dir);
    free(dir);
}

static void test_errors_name_the_file(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("mapsio");
    char *p = sc_test_join(dir, "m.tif"), *q = sc_test_join(dir, "cube.npy");
    char *bad = sc_test_join(dir, "no/such/dir/m.npy");
    sc_map m, r;
    fill(&m, 4, 3);
    assert_int_equal(sc_map_save(&m, p), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "m.tif"));
    assert_int_not_equal(sc_map_save(&m, bad), SC_OK);
    float cube[8] = {0};
    int64_t shape[3] = {2, 2, 2};
    SC_TEST_OK(sc_npy_write(q, cube, 3, shape));
    assert_int_equal(sc_map_load(q, &r), SC_ERR_FORMAT);
    assert_non_null(strstr(sc_last_error(), "cube.npy"));
    /* the real rank and shape are named */
    assert_non_null(strstr(sc_last_error(), "got 3 dimensions of shape (2, 2, 2)"));
    assert_null(r.data);
    shape[0] = 1; /* (1, 2, 4) is a map */
    shape[2] = 4;
    SC_TEST_OK(sc_npy_write(q, cube, 3, shape));
    SC_TEST_OK(sc_map_load(q, &r));
    assert_true(r.w == 4 && r.h == 2);
    sc_map_free(&r);
    assert_int_not_equal(sc_map_load(p, &r), SC_OK); /* missing file */
    assert_non_null(strstr(sc_last_error(), "m.tif"));
    sc_map empty = {0};
    assert_int_equal(sc_map_save_npy(&empty, q), SC_ERR_INVALID_ARG);
    sc_map_free(&m);
    free(p);
    free(q);
    free(bad);
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_roundtrip_is_exact),
        cmocka_unit_test(test_png16_quantises_to_1_over_65535_and_clamps),
        cmocka_unit_test(test_errors_name_the_file),
    };
    return cmocka_run_group_tests_name("maps_io", tests, NULL, NULL);
}
