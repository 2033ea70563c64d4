/* VQA models (SAN, SAN with hop_coords, question-only, pooled, co-attention) against a PyTorch
 * re-implementation with the same state_dict names (tools/ref/ref_vqa.py): train-mode logits,
 * attention maps (co-attention: image and question, questions padded to different lengths) and
 * the gradient of every parameter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_vqa.h"

static void check_arch(const char *dir, const char *arch) {
    char name[1024];
    snprintf(name, sizeof name, "%s/%s.safetensors", dir, arch);
    sc_vqa_model *m = NULL;
    SC_TEST_OK(sc_vqa_load(name, &m));
    const sc_vqa_config *c = sc_vqa_get_config(m);
    int NA = sc_vqa_get_answers(m)->n;
    assert_int_equal(c->hop_coords, !strcmp(arch, "san_coords"));
#define NPY(var, what)                                                                             \
    snprintf(name, sizeof name, "%s_%s", arch, what);                                              \
    sc_npy var = sc_test_npy(dir, name);
    NPY(x, "images");
    NPY(idsf, "ids");
    NPY(lensf, "lens");
    NPY(wgt, "wgt");
    NPY(logits_ref, "logits");
    int B = (int)lensf.shape[0], T = c->max_len;
    assert_int_equal((int)idsf.shape[1], T);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * T);
    int *lens = malloc(sizeof(int) * (size_t)B);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)(idsf.data)[i];
    for (int b = 0; b < B; b++) lens[b] = (int)(lensf.data)[b];
    const float *logits, *att;
    SC_TEST_OK(sc_vqa_forward(m, x.data, ids, lens, B, 1, &logits, &att));
    sc_test_assert_close(arch, logits, logits_ref.data, (size_t)B * NA, 1e-4, 1e-5);
    if (c->arch == SC_VQA_SAN || c->arch == SC_VQA_COATT) {
        NPY(att_ref, "att");
        assert_non_null(att);
        assert_int_equal(att_ref.count, (size_t)B * sc_vqa_attention_maps(m) * sc_vqa_grid_side(m) *
                                            sc_vqa_grid_side(m));
        sc_test_assert_close("attention", att, att_ref.data, att_ref.count, 1e-4, 1e-6);
        sc_npy_free(&att_ref);
    } else {
        assert_null(att);
    }
    if (c->arch == SC_VQA_COATT) { /* question attention (B, 3, T), zero past each length */
        NPY(qatt_ref, "qatt");
        const float *qatt = sc_vqa_question_attention(m);
        assert_non_null(qatt);
        assert_int_equal(qatt_ref.count, (size_t)B * 3 * T);
        sc_test_assert_close("question attention", qatt, qatt_ref.data, qatt_ref.count, 1e-4, 1e-6);
        sc_npy_free(&qatt_ref);
    } else {
        assert_null(sc_vqa_question_attention(m));
    }
    sc_vqa_zero_grad(m);
    SC_TEST_OK(sc_vqa_backward(m, wgt.data));
    const sc_param *ps;
    size_t np;
    sc_vqa_params(m, &ps, &np);
    assert_true(np > 5);
    for (size_t i = 0; i < np; i++) {
        char what[512];
        snprintf(what, sizeof what, "grad_%s", ps[i].name);
        NPY(g, what);
        assert_int_equal(g.count, ps[i].n);
        snprintf(what, sizeof what, "%s grad %s", arch, ps[i].name);
        sc_test_assert_close(what, ps[i].grad, g.data, ps[i].n, 1e-4, 2e-5);
        sc_npy_free(&g);
    }
    sc_npy_free(&x);
    sc_npy_free(&idsf);
    sc_npy_free(&lensf);
    sc_npy_free(&wgt);
    sc_npy_free(&logits_ref);
    free(ids);
    free(lens);
    sc_vqa_free(m);
}

static void test_vqa_parity(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("vqa_parity");
    sc_test_python("ref_vqa.py", "%s", dir);
    check_arch(dir, "san");
    check_arch(dir, "qonly");
    check_arch(dir, "pooled");
    check_arch(dir, "san_coords"); /* 3 hops, hop_coords */
    check_arch(dir, "coatt");
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_vqa_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
