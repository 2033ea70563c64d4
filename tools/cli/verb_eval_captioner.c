/* saccade eval captioner: caption quality on held-out Fashion scenes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "captioner_eval.h"
#include "cli.h"

void cli_eval_captioner_help(FILE *out) {
    fprintf(out,
            "usage: saccade eval captioner --model FILE [OPTIONS]\n\n"
            "Caption n held-out Fashion scenes with beam search and report BLEU-1..4 and\n"
            "CIDEr-D (COCO toolkit definitions, all references), exact match (the caption\n"
            "equals one of the references), per-slot accuracy (colour and class of each item\n"
            "in spatial order, relation = right axis and order; see sc_captioner_scenes.h)\n"
            "and the attention pointing game (the attention argmax at each generated noun\n"
            "falls inside the box of the item it names; also reported with the attention of\n"
            "the step of the noun's colour word).\n\n"
            "  --model FILE   captioner .safetensors (from 'saccade train captioner')\n"
            "  --data SRC     'scenes' (default: generated test scenes, indices 0..n-1) or a\n"
            "                 folder with annotations.jsonl from 'saccade data scenes'\n"
            "  --n N          scenes (default 1000; with a folder: at most its count)\n"
            "  --seed S       scene generator seed (default 0)\n"
            "  --beam K       beam size (default 3)\n"
            "  --fmnist DIR   Fashion-MNIST folder for generated scenes (default $%s or %s)\n"
            "  --samples K    print K generated | canonical caption pairs (default 0)\n"
            "  --threads N    threads (default: all cores)\n"
            "  --json         machine-readable output\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

static size_t count_lines(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/annotations.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = 0;
    int c, last = '\n';
    while ((c = fgetc(f)) != EOF) {
        if (c == '\n') n++;
        last = c;
    }
    if (last != '\n') n++;
    fclose(f);
    return n;
}

int cli_eval_captioner_main(int argc, char **argv) {
    const char *model = NULL, *data = "scenes", *fm = NULL, *V = "eval";
    int n = 1000, seed = 0, beam = 3, threads = 0, json = 0, nsamples = 0;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "'scenes' or a folder", NULL, 0},
        {"--fmnist", CLI_STR, &fm, 0, 0, "a folder", NULL, 0},
        {"--n", CLI_INT, &n, 1, 10000000, NULL, NULL, 0},
        {"--seed", CLI_INT, &seed, 0, 2147483647, NULL, NULL, 0},
        {"--beam", CLI_INT, &beam, 1, 100, NULL, NULL, 0},
        {"--samples", CLI_INT, &nsamples, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 1024, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!model) return cli_usage(V, "need --model FILE");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);
    sc_captioner *m = NULL;
    sc_fashion_mnist train = {0}, test = {0};
    int rc = CLI_FAIL;
    cap_eval_source src = {NULL, SC_SCENES_TEST, NULL};
    sc_scenes_params sp = sc_scenes_default_params();
    if (sc_captioner_load(model, &m)) {
        rc = cli_fail(NULL);
        goto done;
    }
    if (sc_captioner_get_config(m)->encoder == SC_CAP_ENC_FEATURES) {
        fprintf(stderr, "saccade: %s: a features-only model cannot caption images\n", model);
        goto done;
    }
    if (!strcmp(data, "scenes")) {
        if (sc_fashion_mnist_load("test", fm, &test)) {
            rc = cli_fail("cannot load Fashion-MNIST");
            goto done;
        }
        sp.seed = (uint64_t)seed;
        sp.train = &train;
        sp.test = &test;
        src.scenes = &sp;
    } else {
        size_t k = count_lines(data);
        if (k == 0) {
            fprintf(stderr, "saccade: %s/annotations.jsonl: missing or empty\n", data);
            goto done;
        }
        if ((size_t)n > k) n = (int)k;
        src.dir = data;
    }
    cap_eval_result r;
    if (cap_eval_run(m, &src, (size_t)n, beam, &r, json ? NULL : stdout, json ? 0 : nsamples)) {
        rc = cli_fail(model);
        goto done;
    }
    const sc_capscenes_counts *c = &r.c;
#define RATE(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)
    if (json) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"data\": ");
        cli_json_string(stdout, data);
        printf(", \"n\": %zu, \"seed\": %d, \"beam\": %d, \"bleu1\": %.6f, \"bleu2\": %.6f, "
               "\"bleu3\": %.6f, \"bleu4\": %.6f, \"cider_d\": %.6f, \"exact_match\": %.6f, "
               "\"count_accuracy\": %.6f, \"colour_accuracy\": %.6f, \"class_accuracy\": %.6f, "
               "\"relation_accuracy\": %.6f, \"relation_scenes\": %ld, \"pointing_game\": %.6f, "
               "\"pointing_game_colour_step\": %.6f, \"pointing_nouns\": %ld, \"seconds\": %.3f}\n",
               r.n, seed, beam, r.bleu[0], r.bleu[1], r.bleu[2], r.bleu[3], r.cider_d,
               RATE(c->exact, c->scenes), RATE(c->count_ok, c->scenes),
               RATE(c->colour_ok, c->slots), RATE(c->class_ok, c->slots),
               RATE(c->rel_ok, c->rel_scenes), c->rel_scenes, RATE(c->point_hit, c->point_total),
               RATE(c->point_colour_hit, c->point_total), c->point_total, r.seconds);
    } else {
        printf("%s on %zu %s scenes, beam %d (%.1f s)\n", model, r.n,
               src.scenes ? "generated test" : data, beam, r.seconds);
        printf("  BLEU-1 %.4f  BLEU-2 %.4f  BLEU-3 %.4f  BLEU-4 %.4f  CIDEr-D %.4f\n", r.bleu[0],
               r.bleu[1], r.bleu[2], r.bleu[3], r.cider_d);
        printf("  exact match        %6.2f%%\n", 100 * RATE(c->exact, c->scenes));
        printf("  item count         %6.2f%%\n", 100 * RATE(c->count_ok, c->scenes));
        printf("  colour accuracy    %6.2f%%  (%ld items)\n", 100 * RATE(c->colour_ok, c->slots),
               c->slots);
        printf("  class accuracy     %6.2f%%\n", 100 * RATE(c->class_ok, c->slots));
        printf("  relation accuracy  %6.2f%%  (%ld scenes with 2-3 items)\n",
               100 * RATE(c->rel_ok, c->rel_scenes), c->rel_scenes);
        printf("  pointing game      %6.2f%%  (%ld nouns)\n",
               100 * RATE(c->point_hit, c->point_total), c->point_total);
    }
#undef RATE
    rc = CLI_OK;
done:
    sc_captioner_free(m);
    sc_fashion_mnist_free(&train);
    sc_fashion_mnist_free(&test);
    return rc;
}
