/* Resize parity: sc_image_resize (stb_image_resize filters) against PIL's
 * Image.resize (BILINEAR / BICUBIC, antialiased, as torchvision.transforms.Resize
 * uses on PIL images) and torch.nn.functional.interpolate (bilinear / bicubic,
 * antialias on and off), on real photos (tools/ref/ref_resize.py). Prints the
 * whole table (max and mean absolute error in [0, 255] units) and asserts the
 * bounds documented at the top of vision/image/image_ops.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"

static const char *cases[] = {"down_astronaut", "down_coffee", "up_astronaut", "up_coffee"};
enum { NCASES = 4, NFILT = 6, NREF = 6 };
static const char *refs[NREF] = {"pil_bilinear",   "pil_bicubic",      "torch_bilinear_aa",
                                 "torch_bilinear", "torch_bicubic_aa", "torch_bicubic"};
static const char *filt_names[NFILT] = {"default",      "box",        "triangle",
                                        "cubicbspline", "catmullrom", "mitchell"};

/* err[dir][filter][ref]: dir 0 = down, 1 = up; max and mean over both photos. */
static double err_max[2][NFILT][NREF], err_mean[2][NFILT][NREF];

static void measure(void) {
    char *dir = sc_test_tmpdir("resize");
    sc_test_python("ref_resize.py", "'%s'", dir);
    double sum[2][NFILT][NREF] = {{{0}}};
    size_t cnt[2] = {0, 0};
    for (int ci = 0; ci < NCASES; ci++) {
        int d = strncmp(cases[ci], "up", 2) == 0;
        char name[128];
        snprintf(name, sizeof name, "in_%s", cases[ci]);
        sc_npy in = sc_test_npy(dir, name);
        assert_int_equal(in.ndim, 3);
        sc_image src = {(int)in.shape[2], (int)in.shape[1], (int)in.shape[0], in.data};
        for (int r = 0; r < NREF; r++) {
            snprintf(name, sizeof name, "ref_%s_%s", cases[ci], refs[r]);
            sc_npy ref = sc_test_npy(dir, name);
            int w = (int)ref.shape[2], h = (int)ref.shape[1];
            for (int f = 0; f < NFILT; f++) {
                sc_image out;
                SC_TEST_OK(sc_image_resize(&src, w, h, (sc_resize_filter)f, &out));
                assert_int_equal((size_t)out.w * out.h * out.c, ref.count);
                for (size_t i = 0; i < ref.count; i++) {
                    double e = fabs((double)out.data[i] - ref.data[i]) * 255.0;
                    sum[d][f][r] += e;
                    if (e > err_max[d][f][r]) err_max[d][f][r] = e;
                }
                sc_image_free(&out);
            }
            if (r == 0) cnt[d] += ref.count;
            sc_npy_free(&ref);
        }
        sc_npy_free(&in);
    }
    for (int d = 0; d < 2; d++)
        for (int f = 0; f < NFILT; f++)
            for (int r = 0; r < NREF; r++) err_mean[d][f][r] = sum[d][f][r] / (double)cnt[d];
    sc_test_rmtree(dir);
    free(dir);
}

static void test_resize_parity_table(void **state) {
    (void)state;
    measure();
    for (int d = 0; d < 2; d++) {
        printf("\n%s (mean / max abs error, 0..255 units)\n",
               d ? "upscale x4 (64->256, 75x50->300x200)"
                 : "downscale /2 (512->256, 600x400->300x200)");
        printf("%-13s", "filter");
        for (int r = 0; r < NREF; r++) printf(" %17s", refs[r]);
        printf("\n");
        for (int f = 0; f < NFILT; f++) {
            printf("%-13s", filt_names[f]);
            for (int r = 0; r < NREF; r++)
                printf("  %6.3f / %7.3f", err_mean[d][f][r], err_max[d][f][r]);
            printf("\n");
        }
    }
    fflush(stdout);
    /* Bounds documented in vision/image/image_ops.c (mean abs error, 0..255). */
    enum { TRI = SC_FILTER_TRIANGLE, CR = SC_FILTER_CATMULLROM };
    const struct {
        int dir, filter, ref;
        double mean_bound;
    } bounds[] = {
        {0, TRI, 0, 0.35},  {1, TRI, 0, 0.35},  /* PIL bilinear */
        {0, CR, 1, 0.35},   {1, CR, 1, 0.45},   /* PIL bicubic */
        {0, TRI, 2, 0.02},  {1, TRI, 2, 0.002}, /* torch bilinear antialias */
        {1, TRI, 3, 0.002},                     /* torch bilinear, upscaling */
        {0, CR, 4, 0.02},   {1, CR, 4, 0.05},   /* torch bicubic antialias */
    };
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        int d = bounds[i].dir, f = bounds[i].filter, r = bounds[i].ref;
        if (!(err_mean[d][f][r] <= bounds[i].mean_bound))
            fail_msg("%s vs %s (%s): mean abs error %.4f over the documented %.3f", filt_names[f],
                     refs[r], d ? "up" : "down", err_mean[d][f][r], bounds[i].mean_bound);
        /* and it must be the best of all filters for that reference */
        for (int g = 0; g < NFILT; g++)
            if (g != f && g != SC_FILTER_DEFAULT && err_mean[d][g][r] < err_mean[d][f][r])
                fail_msg("%s matches %s better than %s", filt_names[g], refs[r], filt_names[f]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_parity_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
