/* saccade vqa: answer questions about an image with a VQA model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vqa_cli.h"

void cli_vqa_help(FILE *out) {
    fprintf(out, "usage: saccade vqa IMAGE [QUESTION] [--model M] [--top-k K] [--json]\n"
                 "                   [--attention OUT.png] [--threads N]\n\n"
                 "Answers QUESTION about IMAGE (any size; resized to the model's input) and\n"
                 "prints the answer and its probability. Without QUESTION, reads questions from\n"
                 "standard input, one per line, and answers each (the image is encoded once;\n"
                 "blank lines are skipped).\n\n"
                 "  --model M          model file (default: the shipped scenes-vqa model,\n"
                 "                     trained on Fashion scenes; see models/scenes-vqa.md)\n"
                 "  --top-k K          print the K most probable answers (1..8, default 1)\n"
                 "  --json             one JSON object per question: question, answer,\n"
                 "                     probability, top_k, unknown_words, tokens, truncated\n"
                 "  --attention OUT.png  contact sheet: the image and one attention overlay per\n"
                 "                     hop, with the question and answer written under them\n"
                 "                     (stdin mode: OUT-1.png, OUT-2.png, ...)\n\n"
                 "Words the model does not know are named in the output (\"unknown words: ...\")\n"
                 "and answered as <unk>. Questions longer than the model's limit are cut, with a\n"
                 "warning on stderr. An empty question is an error (exit 1).\n");
}

static int write_attention(const sc_image *img, const sc_vqa_answer *a, const char *q,
                           const char *ans, const char *path) {
    int K = a->hops, g = a->grid;
    sc_image panels[SC_VQA_MAX_HOPS + 1];
    char caps[SC_VQA_MAX_HOPS + 1][256];
    const char *cp[SC_VQA_MAX_HOPS + 1];
    memset(panels, 0, sizeof panels);
    int rc = 0;
    if (sc_image_copy(img, &panels[0])) return cli_fail("attention");
    snprintf(caps[0], sizeof caps[0], "Q: %s", q);
    cp[0] = caps[0];
    for (int k = 0; k < K && !rc; k++) {
        sc_map mp = {0};
        if (sc_map_alloc(&mp, g, g)) {
            rc = cli_fail("attention");
            break;
        }
        memcpy(mp.data, a->att + (size_t)k * g * g, sizeof(float) * (size_t)g * g);
        sc_heatmap_params hp = sc_heatmap_default_params();
        if (sc_overlay_heatmap(img, &mp, &hp, &panels[k + 1])) rc = cli_fail("attention");
        sc_map_free(&mp);
        snprintf(caps[k + 1], sizeof caps[k + 1], "hop %d: %s (%.2f)", k + 1, ans,
                 (double)a->prob[0]);
        cp[k + 1] = caps[k + 1];
    }
    sc_image sheet = {0};
    if (!rc) {
        sc_sheet_params sp = sc_sheet_default_params();
        sp.cols = K + 1;
        sp.panel_w = sp.panel_h = 192;
        sp.font_px = 13;
        if (sc_contact_sheet(panels, cp, K + 1, &sp, &sheet) || sc_image_save_png(&sheet, path))
            rc = cli_fail(path);
    }
    sc_image_free(&sheet);
    for (int k = 0; k <= K; k++) sc_image_free(&panels[k]);
    return rc;
}

static int answer_one(sc_vqa_model *m, const sc_image *img, const char *q, int top_k, int json,
                      const char *att_path) {
    sc_vqa_answer *a = malloc(sizeof *a);
    if (!a) return cli_fail("out of memory");
    if (sc_vqa_ask(m, q, top_k, a)) {
        free(a);
        return cli_fail(NULL);
    }
    const sc_vqa_vocab *ans = sc_vqa_get_answers(m);
    const char *best = ans->words[a->top[0]];
    if (a->truncated)
        fprintf(stderr, "saccade vqa: warning: question cut to the model's limit of %d tokens\n",
                sc_vqa_get_config(m)->max_len);
    if (json) {
        printf("{\"question\": ");
        cli_json_string(stdout, q);
        printf(", \"answer\": ");
        cli_json_string(stdout, best);
        printf(", \"probability\": %.6f, \"top_k\": [", (double)a->prob[0]);
        for (int k = 0; k < a->n_top; k++) {
            printf("%s{\"answer\": ", k ? ", " : "");
            cli_json_string(stdout, ans->words[a->top[k]]);
            printf(", \"probability\": %.6f}", (double)a->prob[k]);
        }
        printf("], \"unknown_words\": [");
        char tmp[sizeof a->unknown];
        memcpy(tmp, a->unknown, sizeof tmp);
        int first = 1;
        char *save = NULL;
        for (char *w = strtok_r(tmp, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
            printf("%s", first ? "" : ", ");
            cli_json_string(stdout, w);
            first = 0;
        }
        printf("], \"tokens\": %d, \"truncated\": %s}\n", a->n_tokens,
               a->truncated ? "true" : "false");
    } else {
        printf("%s (%.3f)\n", best, (double)a->prob[0]);
        for (int k = 1; k < a->n_top; k++)
            printf("  %d. %s (%.3f)\n", k + 1, ans->words[a->top[k]], (double)a->prob[k]);
        if (a->unknown[0]) printf("unknown words: %s\n", a->unknown);
    }
    fflush(stdout);
    int rc = 0;
    if (att_path) {
        if (!a->hops) {
            sc_set_error(SC_ERR_INVALID_ARG, "this model (%s) has no attention maps",
                         sc_vqa_arch_name(sc_vqa_get_config(m)->arch));
            rc = cli_fail("--attention");
        } else
            rc = write_attention(img, a, q, best, att_path);
    }
    free(a);
    return rc;
}

int cli_vqa_main(int argc, char **argv) {
    const char *V = "vqa";
    const char *image = NULL, *question = NULL, *model = NULL, *att = NULL;
    int top_k = 1, json = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int last = i + 1 >= argc;
        if (!strcmp(a, "--model")) {
            if (last) return cli_usage(V, "--model needs a value");
            model = argv[++i];
        } else if (!strcmp(a, "--attention")) {
            if (last) return cli_usage(V, "--attention needs a value");
            att = argv[++i];
        } else if (!strcmp(a, "--top-k")) {
            if (last || !cli_parse_int(argv[++i], &top_k) || top_k < 1 || top_k > 8)
                return cli_usage(V, "--top-k needs a number in 1..8");
        } else if (!strcmp(a, "--threads")) {
            if (last || !cli_parse_int(argv[++i], &threads) || threads < 1)
                return cli_usage(V, "--threads needs a positive number");
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (a[0] == '-' && a[1] && strcmp(a, "--")) {
            return cli_usage(V, "unknown option '%s'", a);
        } else if (!image) {
            image = a;
        } else if (!question) {
            question = a;
        } else {
            return cli_usage(V, "too many arguments ('%s')", a);
        }
    }
    if (!image) return cli_usage(V, "need an IMAGE");
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);
    char mpath[4096];
    if (!model) {
        if (sc_find_asset("models/scenes-vqa.safetensors", mpath, sizeof mpath))
            return cli_fail("default model");
        model = mpath;
    }
    if (question) {
        sc_vqa_tokens *tk = malloc(sizeof *tk);
        if (!tk) return cli_fail("out of memory");
        sc_vqa_tokenize(question, tk);
        int empty = tk->n == 0;
        free(tk);
        if (empty) {
            sc_set_error(SC_ERR_INVALID_ARG, "the question is empty (no words)");
            return cli_fail(NULL);
        }
    }
    sc_vqa_model *m = NULL;
    sc_image img = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_vqa_load(model, &m)) return cli_fail(NULL);
    int rc = CLI_OK;
    if (sc_image_load(image, &lp, &img, NULL) || sc_vqa_set_image(m, &img)) {
        rc = cli_fail(image);
        goto done;
    }
    if (question) {
        rc = answer_one(m, &img, question, top_k, json, att) ? CLI_FAIL : CLI_OK;
    } else {
        char line[4096];
        int n = 0;
        while (fgets(line, sizeof line, stdin)) {
            size_t L = strlen(line);
            while (L && (line[L - 1] == '\n' || line[L - 1] == '\r')) line[--L] = 0;
            const char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            if (!*s) continue;
            n++;
            char apath[4200], *ap = NULL;
            if (att) {
                const char *dot = strrchr(att, '.');
                int stem = dot ? (int)(dot - att) : (int)strlen(att);
                snprintf(apath, sizeof apath, "%.*s-%d%s", stem, att, n, dot ? dot : "");
                ap = apath;
            }
            if (answer_one(m, &img, s, top_k, json, ap)) rc = CLI_FAIL;
        }
    }
done:
    sc_image_free(&img);
    sc_vqa_free(m);
    return rc;
}
