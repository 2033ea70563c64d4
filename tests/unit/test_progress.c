/* Progress lines and JSON-lines metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_test.h"
#include "saccade/sc_progress.h"

static void test_plain_mode_logs_every_n_steps(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    sc_progress_params p = sc_progress_default_params();
    p.label = "train";
    p.total = 10;
    p.log_every = 4;
    p.force_mode = 2;
    p.out = f;
    sc_progress *pg = sc_progress_create(&p);
    assert_non_null(pg);
    for (int s = 1; s <= 10; s++) sc_progress_update(pg, s, 32, "loss 1.0");
    sc_progress_finish(pg, "done");
    sc_progress_free(pg);
    rewind(f);
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        assert_non_null(strstr(line, "train "));
        if (n == 1) assert_non_null(strstr(line, "4/10 loss 1.0"));
        if (n == 1) assert_non_null(strstr(line, "ETA"));
    }
    assert_int_equal(n, 3); /* steps 4, 8, then the final line */
    fclose(f);
}

static void test_bar_mode_redraws_in_place(void **state) {
    (void)state;
    FILE *f = tmpfile();
    sc_progress_params p = sc_progress_default_params();
    p.total = 4;
    p.force_mode = 1;
    p.out = f;
    sc_progress *pg = sc_progress_create(&p);
    sc_progress_update(pg, 2, 10, NULL);
    sc_progress_finish(pg, NULL);
    sc_progress_free(pg);
    rewind(f);
    char buf[1024] = {0};
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    assert_true(len > 0);
    assert_non_null(strstr(buf, "\r\033[K"));
    assert_non_null(strstr(buf, "[##########..........] 2/4"));
    assert_int_equal(buf[len - 1], '\n');
    fclose(f);
}

static void test_metrics_log_is_json_lines(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("metrics");
    char *path = sc_test_join(dir, "m.jsonl");
    sc_metrics_log *m;
    SC_TEST_OK(sc_metrics_open(path, &m));
    const char *keys[2] = {"loss", "acc"};
    double v1[2] = {0.5, 0.25}, v2[2] = {0.125, 1.0 / 0.0};
    SC_TEST_OK(sc_metrics_write(m, 1, 2, keys, v1));
    SC_TEST_OK(sc_metrics_write(m, 2, 2, keys, v2));
    sc_metrics_close(m);
    /* Reopen appends (resume). */
    SC_TEST_OK(sc_metrics_open(path, &m));
    SC_TEST_OK(sc_metrics_write(m, 3, 1, keys, v1));
    sc_metrics_close(m);
    int rc = sc_test_system("'%s' -c \"import json; L=[json.loads(l) for l in open('%s')]; "
                            "assert [d['step'] for d in L]==[1,2,3]; assert L[0]['acc']==0.25; "
                            "assert L[1]['acc'] is None; assert L[2]=={'step':3,'loss':0.5}\"",
                            sc_test_env("SACCADE_PYTHON"), path);
    assert_int_equal(rc, 0);
    char *bad = sc_test_join(dir, "missing/m.jsonl");
    assert_int_equal(sc_metrics_open(bad, &m), SC_ERR_IO);
    sc_test_rmtree(dir);
    free(bad);
    free(path);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_mode_logs_every_n_steps),
        cmocka_unit_test(test_bar_mode_redraws_in_place),
        cmocka_unit_test(test_metrics_log_is_json_lines),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
