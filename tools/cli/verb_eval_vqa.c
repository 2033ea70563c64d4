/* saccade eval vqa: accuracy overall, per family (scenes) or per answer
 * (files), and the pointing game. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vqa_cli.h"

void cli_eval_vqa_help(FILE *out) {
    fprintf(out,
            "\nusage: saccade eval vqa --model M [--data scenes|FILE.jsonl] [--n 2000] [--seed S]\n"
            "                        [--threads N] [--json]\n"
            "  scenes: the first N held-out questions (test split scenes, seed S, default 0);\n"
            "  accuracy overall and per family, and the pointing game (argmax of the last\n"
            "  attention hop inside the box of the item the question is about).\n"
            "  FILE.jsonl: accuracy overall and per answer.\n");
}

int cli_eval_vqa_main(int argc, char **argv) {
    const char *V = "eval vqa";
    const char *model = NULL, *data = "scenes";
    int n = 2000, seed = 0, threads = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int last = i + 1 >= argc;
        if (!strcmp(a, "--model") && !last)
            model = argv[++i];
        else if (!strcmp(a, "--data") && !last)
            data = argv[++i];
        else if (!strcmp(a, "--n") && !last) {
            if (!cli_parse_int(argv[++i], &n) || n < 1) return cli_usage(V, "bad --n");
        } else if (!strcmp(a, "--seed") && !last) {
            if (!cli_parse_int(argv[++i], &seed) || seed < 0) return cli_usage(V, "bad --seed");
        } else if (!strcmp(a, "--threads") && !last) {
            if (!cli_parse_int(argv[++i], &threads) || threads < 1)
                return cli_usage(V, "bad --threads");
        } else if (!strcmp(a, "--json"))
            json = 1;
        else
            return cli_usage(V, "unknown or incomplete %s '%s'",
                             a[0] == '-' ? "option" : "argument", a);
    }
    if (!model) return cli_usage(V, "need --model FILE");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);
    sc_vqa_model *m = NULL;
    if (sc_vqa_load(model, &m)) return cli_fail(NULL);
    vqa_data d = {0};
    int scenes = !strcmp(data, "scenes");
    int rc = CLI_FAIL;
    vqa_eval_result r = {0};
    if (scenes ? vqa_data_scenes(&d, SC_SCENES_TEST, n < 2000 ? n : 2000, (uint64_t)seed)
               : vqa_data_jsonl(&d, data, sc_vqa_get_config(m)->image_size))
        goto done;
    if (vqa_evaluate(m, &d, n, &r)) goto done;
    const sc_vqa_vocab *ans = sc_vqa_get_answers(m);
    double acc = r.n ? (double)r.correct / r.n : 0;
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"arch\": \"%s\", \"data\": ", sc_vqa_arch_name(sc_vqa_get_config(m)->arch));
        cli_json_string(stdout, data);
        printf(", \"n\": %d, \"accuracy\": %.6f", r.n, acc);
        if (scenes) {
            printf(", \"families\": {");
            for (int f = 0; f < SC_VQA_NUM_FAMILIES; f++)
                printf("%s\"%s\": {\"n\": %d, \"accuracy\": %.6f}", f ? ", " : "",
                       sc_vqa_family_name(f), r.fam_n[f],
                       r.fam_n[f] ? (double)r.fam_correct[f] / r.fam_n[f] : 0);
            printf("}");
        }
        printf(", \"answers\": {");
        int first = 1;
        for (int a = 0; a < ans->n; a++) {
            if (!r.ans_n[a]) continue;
            printf("%s", first ? "" : ", ");
            first = 0;
            cli_json_string(stdout, ans->words[a]);
            printf(": {\"n\": %d, \"accuracy\": %.6f}", r.ans_n[a],
                   (double)r.ans_correct[a] / r.ans_n[a]);
        }
        printf("}, \"pointing\": ");
        if (r.point_n)
            printf("{\"n\": %d, \"accuracy\": %.6f}", r.point_n, (double)r.point_hit / r.point_n);
        else
            printf("null");
        printf("}\n");
    } else {
        printf("model %s (%s), %d questions: accuracy %.2f%%\n", model,
               sc_vqa_arch_name(sc_vqa_get_config(m)->arch), r.n, 100 * acc);
        if (scenes)
            for (int f = 0; f < SC_VQA_NUM_FAMILIES; f++)
                printf("  %-9s %6.2f%%  (%d)\n", sc_vqa_family_name(f),
                       r.fam_n[f] ? 100.0 * r.fam_correct[f] / r.fam_n[f] : 0.0, r.fam_n[f]);
        else
            for (int a = 0; a < ans->n; a++)
                if (r.ans_n[a])
                    printf("  %-12s %6.2f%%  (%d)\n", ans->words[a],
                           100.0 * r.ans_correct[a] / r.ans_n[a], r.ans_n[a]);
        if (r.point_n)
            printf("pointing game: %.2f%% (%d questions naming one item)\n",
                   100.0 * r.point_hit / r.point_n, r.point_n);
    }
    rc = CLI_OK;
done:
    vqa_eval_result_free(&r);
    vqa_data_free(&d);
    sc_vqa_free(m);
    return rc;
}
