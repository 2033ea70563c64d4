/* saccade eval vqa: accuracy overall, per family (scenes) or per answer
 * (files), the pointing game and co-attention's words on relation questions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "saccade/sc_vqa_train.h"

void cli_eval_vqa_help(FILE *out) {
    fprintf(out,
            "\nusage: saccade eval vqa --model M [--data scenes|FILE.jsonl] [--n 2000] [--seed S]\n"
            "                        [--threads N] [--json]\n"
            "  scenes: the first N held-out questions (test split scenes, seed S, default 0);\n"
            "  accuracy overall and per family, and the pointing game (argmax of the last\n"
            "  attention hop inside the box of the item the question is about; coatt: the\n"
            "  question-level map). coatt also reports, per level, how often the 3 question\n"
            "  words it attends to most hold the relation word and both nouns of relation\n"
            "  questions (\"is the bag left of the coat?\").\n"
            "  FILE.jsonl: accuracy overall and per answer (lines as 'saccade train vqa'\n"
            "  reads them: a relative image path is relative to the file's folder).\n\n"
            "Examples:\n"
            "  saccade eval vqa --model assets/models/scenes-vqa.safetensors --n 500\n"
            "  saccade eval vqa --model my-vqa.safetensors --data my-questions.jsonl --json\n");
}

static int add_accuracy(cJSON *parent, const char *key, int n, int correct) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToObject(parent, key, o)) {
        cJSON_Delete(o);
        return 0;
    }
    return cJSON_AddNumberToObject(o, "n", n) &&
           cli_json_add_fixed(o, "accuracy", n ? (double)correct / n : 0, 6);
}

/* model, arch, data, n, accuracy, families (scenes), answers, pointing,
 * relation_word_attention (coatt on scenes). */
static cJSON *eval_json(const char *model, const char *data, sc_vqa_arch arch,
                        const sc_vqa_vocab *ans, const sc_vqa_eval_result *r, int scenes) {
    cJSON *o = cJSON_CreateObject(), *fam = NULL, *per = NULL;
    int ok = o && cJSON_AddStringToObject(o, "model", model) &&
             cJSON_AddStringToObject(o, "arch", sc_vqa_arch_name(arch)) &&
             cJSON_AddStringToObject(o, "data", data) && cJSON_AddNumberToObject(o, "n", r->n) &&
             cli_json_add_fixed(o, "accuracy", r->n ? (double)r->correct / r->n : 0, 6);
    if (ok && scenes) {
        ok = (fam = cJSON_AddObjectToObject(o, "families")) != NULL;
        for (int f = 0; ok && f < SC_VQA_NUM_FAMILIES; f++)
            ok = add_accuracy(fam, sc_vqa_family_name(f), r->fam_n[f], r->fam_correct[f]);
    }
    ok = ok && (per = cJSON_AddObjectToObject(o, "answers")) != NULL;
    for (int a = 0; ok && a < ans->n; a++)
        if (r->ans_n[a]) ok = add_accuracy(per, ans->words[a], r->ans_n[a], r->ans_correct[a]);
    if (ok && r->point_n)
        ok = add_accuracy(o, "pointing", r->point_n, r->point_hit);
    else if (ok)
        ok = cJSON_AddNullToObject(o, "pointing") != NULL;
    if (ok && r->qrel_n) { /* coatt: question-word attention on relation questions */
        cJSON *q = cJSON_AddObjectToObject(o, "relation_word_attention");
        ok = q && cJSON_AddNumberToObject(q, "n", r->qrel_n);
        for (int l = 0; ok && l < 3; l++) {
            cJSON *lv = cJSON_AddObjectToObject(q, sc_vqa_level_name(l));
            ok = lv &&
                 cli_json_add_fixed(lv, "relation_word", (double)r->qrel_word[l] / r->qrel_n, 6) &&
                 cli_json_add_fixed(lv, "both_nouns", (double)r->qrel_nouns[l] / r->qrel_n, 6) &&
                 cli_json_add_fixed(lv, "all_three", (double)r->qrel_all[l] / r->qrel_n, 6);
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int cli_eval_vqa_main(int argc, char **argv) {
    const char *V = "eval vqa";
    const char *model = NULL, *data = "scenes";
    int n = 2000, seed = 0, threads = 0, json = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "scenes or a .jsonl file", NULL, 0},
        {"--n", CLI_INT, &n, 1, 2147483647, NULL, NULL, 0},
        {"--seed", CLI_INT, &seed, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!model) return cli_usage(V, "need --model FILE");
    if ((prc = cli_set_threads(V, threads))) return prc;
    sc_vqa_model *m = NULL;
    if (sc_vqa_load(model, &m)) return cli_fail(NULL);
    sc_vqa_dataset d = {0};
    int scenes = !strcmp(data, "scenes");
    int rc = CLI_FAIL;
    sc_vqa_eval_result r = {0};
    if (scenes ? sc_vqa_dataset_scenes(&d, SC_SCENES_TEST, n < 2000 ? n : 2000, (uint64_t)seed)
               : sc_vqa_dataset_jsonl(&d, data, sc_vqa_get_config(m)->image_size)) {
        cli_fail(NULL);
        goto done;
    }
    if (sc_vqa_evaluate(m, &d, n, &r)) {
        cli_fail(NULL);
        goto done;
    }
    const sc_vqa_vocab *ans = sc_vqa_get_answers(m);
    double acc = r.n ? (double)r.correct / r.n : 0;
    if (json) {
        if (cli_json_emit(stdout,
                          eval_json(model, data, sc_vqa_get_config(m)->arch, ans, &r, scenes)))
            goto done;
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
        if (r.qrel_n)
            printf("question attention, top 3 words of %d relation questions "
                   "(relation word / both nouns / all three):\n",
                   r.qrel_n);
        for (int l = 0; r.qrel_n && l < 3; l++)
            printf("  %-9s %6.2f%% %6.2f%% %6.2f%%\n", sc_vqa_level_name(l),
                   100.0 * r.qrel_word[l] / r.qrel_n, 100.0 * r.qrel_nouns[l] / r.qrel_n,
                   100.0 * r.qrel_all[l] / r.qrel_n);
    }
    rc = CLI_OK;
done:
    sc_vqa_eval_result_free(&r);
    sc_vqa_dataset_free(&d);
    sc_vqa_free(m);
    return rc;
}
