/* saccade eval captioner: caption quality on held-out Fashion scenes
 * (sc_captioner_evaluate). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
            "the step of the noun's colour word). The library call is sc_captioner_evaluate\n"
            "(sc_captioner_eval.h); Python: saccade.Captioner(...).evaluate().\n\n"
            "  --model FILE   captioner .safetensors (from 'saccade train captioner')\n"
            "  --data SRC     'scenes' (default: generated test scenes, indices 0..n-1) or a\n"
            "                 folder with annotations.jsonl from 'saccade data scenes'\n"
            "  --n N          scenes (default 1000; with a folder: at most its count)\n"
            "  --seed S       scene generator seed (default 0)\n"
            "  --beam K       beam size (default 3, as the library and Python)\n"
            "  --attention-mode M  expected, argmax or sample: what each word reads (default:\n"
            "                 argmax for hard-attention models, expected otherwise; see\n"
            "                 saccade caption); the pointing game then scores the cell read\n"
            "  --sample-seed S  sample mode: scene i draws with seed S + i (default 0)\n"
            "  --fmnist DIR   Fashion-MNIST folder for generated scenes (default $%s or %s)\n"
            "  --samples K    print K generated | canonical caption pairs (default 0)\n"
            "  --threads N    threads (default: all cores)\n"
            "  --json         machine-readable output\n\n"
            "Examples:\n"
            "  saccade eval captioner --model assets/models/scenes-captioner.safetensors "
            "--n 200 --beam 3\n"
            "  saccade eval captioner --model assets/models/scenes-captioner.safetensors "
            "--data assets/samples/scenes --samples 3\n"
            "  saccade eval captioner --model assets/models/scenes-captioner.safetensors "
            "--n 100 --beam=1 --json\n",
            SC_FASHION_MNIST_ENV, SC_FASHION_MNIST_DEFAULT_DIR);
}

typedef struct {
    int nsamples;
} sample_printer;

static void print_sample(void *user, size_t i, const char *caption, const sc_scene_info *scene) {
    const sample_printer *sp = user;
    if ((long long)i < sp->nsamples) printf("  %-58s | %s\n", caption, scene->captions[0]);
}

static int print_json(const char *model, const char *data, int seed, int beam,
                      const sc_captioner_eval_result *r) {
    const sc_capscenes_counts *c = &r->counts;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "data", data);
        cJSON_AddNumberToObject(o, "n", (double)r->n);
        cJSON_AddNumberToObject(o, "seed", seed);
        cJSON_AddNumberToObject(o, "beam", beam);
        const char *bk[4] = {"bleu1", "bleu2", "bleu3", "bleu4"};
        for (int k = 0; k < 4; k++) cli_json_add_fixed(o, bk[k], r->bleu[k], 6);
        cli_json_add_fixed(o, "cider_d", r->cider_d, 6);
        cli_json_add_fixed(o, "exact_match", r->exact_match, 6);
        cli_json_add_fixed(o, "count_accuracy", r->count_accuracy, 6);
        cli_json_add_fixed(o, "colour_accuracy", r->colour_accuracy, 6);
        cli_json_add_fixed(o, "class_accuracy", r->class_accuracy, 6);
        cli_json_add_fixed(o, "relation_accuracy", r->relation_accuracy, 6);
        cJSON_AddNumberToObject(o, "relation_scenes", (double)c->rel_scenes);
        cli_json_add_fixed(o, "pointing_game", r->pointing_game, 6);
        cli_json_add_fixed(o, "pointing_game_colour_step", r->pointing_game_colour_step, 6);
        cJSON_AddNumberToObject(o, "pointing_nouns", (double)c->point_total);
        cli_json_add_fixed(o, "seconds", r->seconds, 3);
    }
    return cli_json_emit(stdout, o);
}

static void print_text(const char *model, const char *what, int beam,
                       const sc_captioner_eval_result *r) {
    const sc_capscenes_counts *c = &r->counts;
    printf("%s on %zu %s scenes, beam %d (%.1f s)\n", model, r->n, what, beam, r->seconds);
    printf("  BLEU-1 %.4f  BLEU-2 %.4f  BLEU-3 %.4f  BLEU-4 %.4f  CIDEr-D %.4f\n", r->bleu[0],
           r->bleu[1], r->bleu[2], r->bleu[3], r->cider_d);
    printf("  exact match        %6.2f%%\n", 100 * r->exact_match);
    printf("  item count         %6.2f%%\n", 100 * r->count_accuracy);
    printf("  colour accuracy    %6.2f%%  (%ld items)\n", 100 * r->colour_accuracy, c->slots);
    printf("  class accuracy     %6.2f%%\n", 100 * r->class_accuracy);
    printf("  relation accuracy  %6.2f%%  (%ld scenes with 2-3 items)\n",
           100 * r->relation_accuracy, c->rel_scenes);
    printf("  pointing game      %6.2f%%  (%ld nouns)\n", 100 * r->pointing_game, c->point_total);
}

int cli_eval_captioner_main(int argc, char **argv) {
    const char *model = NULL, *data = "scenes", *fm = NULL, *V = "eval";
    int n = 1000, seed = 0, threads = 0, json = 0, nsamples = 0;
    int beam = sc_captioner_beam_default_params().beam_size, sample_seed = -1;
    const char *att_mode = NULL;
    sc_cap_att_mode mode = SC_CAP_ATT_DEFAULT;
    const cli_opt opts[] = {
        {"--attention-mode", CLI_STR, &att_mode, 0, 0, "sample, argmax or expected", NULL, 0},
        {"--sample-seed", CLI_INT, &sample_seed, 0, 2147483647, NULL, NULL, 0},
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--data", CLI_STR, &data, 0, 0, "'scenes' or a folder", NULL, 0},
        {"--fmnist", CLI_STR, &fm, 0, 0, "a folder", NULL, 0},
        {"--n", CLI_INT, &n, 1, 10000000, NULL, NULL, 0},
        {"--seed", CLI_INT, &seed, 0, 2147483647, NULL, NULL, 0},
        {"--beam", CLI_INT, &beam, 1, 100, NULL, NULL, 0},
        {"--samples", CLI_INT, &nsamples, 0, 2147483647, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (!model) return cli_usage(V, "need --model FILE");
    if (att_mode && sc_cap_att_mode_from_name(att_mode, &mode))
        return cli_usage(V, "--%s", sc_last_error());
    if (sample_seed >= 0 && mode != SC_CAP_ATT_SAMPLE)
        return cli_usage(V, "--sample-seed needs --attention-mode sample");
    if ((prc = cli_set_threads(V, threads))) return prc;
    sc_captioner *m = NULL;
    if (sc_captioner_load(model, &m)) return cli_fail(NULL);
    const int generated = !strcmp(data, "scenes");
    sample_printer sp = {json ? 0 : nsamples};
    sc_captioner_eval_params p = sc_captioner_eval_default_params();
    p.n = (size_t)n;
    p.beam_size = beam;
    p.attention_mode = mode;
    p.att_seed = sample_seed >= 0 ? (uint64_t)sample_seed : 0;
    p.folder = generated ? NULL : data;
    p.fmnist_dir = fm;
    p.scene_seed = (uint64_t)seed;
    p.on_caption = print_sample;
    p.user = &sp;
    sc_captioner_eval_result r;
    int rc;
    if (sc_captioner_evaluate(m, &p, &r))
        rc = cli_fail(model);
    else if (json)
        rc = print_json(model, data, seed, beam, &r);
    else {
        print_text(model, generated ? "generated test" : data, beam, &r);
        rc = CLI_OK;
    }
    sc_captioner_free(m);
    return rc;
}
