/* saccade eval: evaluate a trained model on its test data.
 * Models: classifier (Fashion-MNIST test split). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include <cjson/cJSON.h>
#include "saccade/sc_classifier.h"

void cli_eval_classifier_help(FILE *out) {
    fprintf(out,
            "usage: saccade eval classifier --model FILE [--data DIR] [--threads N] [--json]\n\n"
            "Test accuracy, per-class accuracy and confusion matrix of a classifier from\n"
            "'saccade train classifier' on the Fashion-MNIST test split.\n"
            "  --model FILE   model .safetensors\n"
            "  --data DIR     Fashion-MNIST folder (default $%s or %s)\n"
            "  --threads N    threads (default: all cores)\n"
            "  --json         machine-readable output\n\n"
            "Examples:\n"
            "  saccade eval classifier --model classifier.safetensors\n"
            "  saccade eval classifier --model classifier.safetensors --json\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

void cli_eval_help(FILE *out) {
    fprintf(out, "usage: saccade eval WHAT [OPTIONS]\n\n"
                 "  classifier   test accuracy, per-class accuracy and confusion matrix of a\n"
                 "               classifier on the Fashion-MNIST test split\n"
                 "  stn          test error of an ST-CNN or CNN on distorted Fashion-MNIST, and\n"
                 "               where an ST-CNN's glimpse went\n"
                 "  saliency     AUC-Judd, NSS, CC, SIM, KLD of predicted maps against fixations\n"
                 "  captioner    BLEU, CIDEr-D, exact match, slot accuracy, pointing game on\n"
                 "               held-out Fashion scenes\n"
                 "  vqa          accuracy (overall, per question family or answer) and the\n"
                 "               pointing game of a VQA model\n\n"
                 "'saccade eval WHAT --help' shows one of them; all follow.\n\n");
    cli_eval_classifier_help(out);
    fputc('\n', out);
    cli_eval_stn_help(out);
    fputc('\n', out);
    cli_eval_saliency_help(out);
    fputc('\n', out);
    cli_eval_captioner_help(out);
    fputc('\n', out);
    cli_eval_vqa_help(out);
    fprintf(out, "\nExamples:\n"
                 "  saccade eval classifier --model classifier.safetensors --json\n"
                 "  saccade eval stn --model assets/models/fashion-stn.safetensors "
                 "--distortion cluttered\n"
                 "  saccade eval vqa --model assets/models/scenes-vqa.safetensors --n 500\n");
}

/* model, n, accuracy, loss, per_class (class, n, accuracy), confusion. */
static cJSON *classifier_json(const char *model, const sc_classifier *m, size_t n, double acc,
                              double loss, const int64_t *conf) {
    const int K = SC_FASHION_MNIST_CLASSES;
    cJSON *j = cJSON_CreateObject(), *per = NULL, *cm = NULL;
    int ok = j && cJSON_AddStringToObject(j, "model", model) &&
             cJSON_AddNumberToObject(j, "n", (double)n) &&
             cli_json_add_fixed(j, "accuracy", acc, 6) && cli_json_add_fixed(j, "loss", loss, 6) &&
             (per = cJSON_AddArrayToObject(j, "per_class")) &&
             (cm = cJSON_AddArrayToObject(j, "confusion"));
    for (int k = 0; ok && k < K; k++) {
        int64_t row = 0;
        for (int c = 0; c < K; c++) row += conf[k * K + c];
        cJSON *e, *r;
        ok =
            (e = cJSON_CreateObject()) && cJSON_AddItemToArray(per, e) &&
            (r = cJSON_CreateArray()) && cJSON_AddItemToArray(cm, r) &&
            cJSON_AddStringToObject(e, "class", sc_classifier_class_name(m, k)) &&
            cJSON_AddNumberToObject(e, "n", (double)row) &&
            cli_json_add_fixed(e, "accuracy", row ? (double)conf[k * K + k] / (double)row : 0.0, 6);
        for (int c = 0; ok && c < K; c++)
            ok = cJSON_AddItemToArray(r, cJSON_CreateNumber((double)conf[k * K + c]));
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int eval_classifier(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *V = "eval";
    int json = 0, threads = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "a folder", NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!model) return cli_usage(V, "need --model FILE");
    if ((prc = cli_set_threads(V, threads))) return prc;
    sc_classifier *m = NULL;
    sc_fashion_mnist test = {0};
    int64_t *conf = NULL;
    int rc = CLI_FAIL;
    if (sc_classifier_load(model, &m)) {
        rc = cli_fail(NULL);
        goto done;
    }
    const sc_classifier_config *c = sc_classifier_get_config(m);
    const int K = SC_FASHION_MNIST_CLASSES;
    if (c->num_classes != K || c->encoder.in_channels != 1 || c->in_h != SC_FASHION_MNIST_SIDE ||
        c->in_w != SC_FASHION_MNIST_SIDE) {
        fprintf(stderr,
                "saccade: %s: model takes %dx%dx%d inputs over %d classes; Fashion-MNIST needs "
                "1x28x28 over 10\n",
                model, c->encoder.in_channels, c->in_h, c->in_w, c->num_classes);
        goto done;
    }
    if (sc_fashion_mnist_load("test", data, &test)) {
        rc = cli_fail("cannot load Fashion-MNIST");
        goto done;
    }
    conf = calloc((size_t)K * K, sizeof *conf);
    double acc, loss;
    if (!conf) {
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        rc = cli_fail(NULL);
        goto done;
    }
    if (sc_classifier_evaluate(m, test.images, test.labels, test.n, conf, &acc, &loss)) {
        rc = cli_fail(model);
        goto done;
    }
    if (json) {
        if (cli_json_emit(stdout, classifier_json(model, m, test.n, acc, loss, conf))) goto done;
    } else {
        printf("%s: test accuracy %.2f%% (%zu images), mean loss %.4f\n\n", model, 100 * acc,
               test.n, loss);
        printf("%-12s %8s\n", "class", "accuracy");
        for (int k = 0; k < K; k++) {
            int64_t row = 0;
            for (int j = 0; j < K; j++) row += conf[k * K + j];
            printf("%-12s %7.2f%%\n", sc_classifier_class_name(m, k),
                   row ? 100.0 * (double)conf[k * K + k] / (double)row : 0.0);
        }
        printf("\nconfusion matrix (rows: true class, columns: predicted)\n%-12s", "");
        for (int j = 0; j < K; j++) printf(" %5d", j);
        printf("\n");
        for (int k = 0; k < K; k++) {
            printf("%d %-10.10s", k, sc_classifier_class_name(m, k));
            for (int j = 0; j < K; j++) printf(" %5lld", (long long)conf[k * K + j]);
            printf("\n");
        }
    }
    rc = CLI_OK;
done:
    free(conf);
    sc_fashion_mnist_free(&test);
    sc_classifier_free(m);
    return rc;
}

int cli_eval_main(int argc, char **argv) {
    if (argc < 2)
        return cli_usage("eval",
                         "need what to evaluate (classifier, stn, saliency, captioner, vqa)");
    if (!strcmp(argv[1], "classifier")) return eval_classifier(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stn")) return cli_eval_stn_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "saliency")) return cli_eval_saliency_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "captioner")) return cli_eval_captioner_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "vqa")) return cli_eval_vqa_main(argc - 1, argv + 1);
    return cli_usage("eval", "unknown '%s' (known: classifier, stn, saliency, captioner, vqa)",
                     argv[1]);
}
