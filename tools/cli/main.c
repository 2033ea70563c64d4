/* saccade: a command-line tool of verbs over libsaccade. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const cli_verb VERBS[] = {
    {"info", "describe images, model files, or the system (BLAS core, threads)", cli_info_main,
     cli_info_help},
    {"overlay", "blend a saliency/attention map (image or .npy) onto an image", cli_overlay_main,
     cli_overlay_help},
    {"caption", "caption images (Show, Attend and Tell) with attention figures and a gallery",
     cli_caption_main, cli_caption_help},
    {"saliency", "bottom-up saliency maps (spectral residual, PQFT, fine-grained) as overlays",
     cli_saliency_main, cli_saliency_help},
    {"data", "generate datasets (Fashion scenes with boxes and captions)", cli_data_main,
     cli_data_help},
    {"train", "train a model (classifier; stn: ST-CNN or CNN on distorted Fashion-MNIST)", cli_train_main,
     cli_train_help},
    {"eval", "evaluate a model or predictions (classifier, stn, saliency)", cli_eval_main,
     cli_eval_help},
    {"stn", "spatial transformer: where an ST-CNN looks, its glimpse and class", cli_stn_main,
     cli_stn_help},
    {"vqa", "answer questions about an image (stacked attention network)", cli_vqa_main,
     cli_vqa_help},
};
static const int NVERBS = (int)(sizeof VERBS / sizeof VERBS[0]);

static void main_help(FILE *out) {
    fprintf(out, "usage: saccade [--version] [--help] VERB [ARGS...]\n\n"
                 "Visual attention from the command line: captions with attention maps,\n"
                 "spatial transformers, saliency overlays, visual question answering.\n\n"
                 "verbs:\n");
    for (int i = 0; i < NVERBS; i++) fprintf(out, "  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(out, "\n'saccade VERB --help' describes a verb. Exit status: 0 success, 1 runtime\n"
                 "error, 2 usage error.\n");
}

int main(int argc, char **argv) {
    sc_process_setup(argv);
    if (argc < 2) {
        main_help(stderr);
        return CLI_USAGE;
    }
    if (cli_is_help(argv[1]) || !strcmp(argv[1], "help")) {
        if (argc >= 3)
            for (int i = 0; i < NVERBS; i++)
                if (!strcmp(argv[2], VERBS[i].name)) {
                    VERBS[i].help(stdout);
                    return CLI_OK;
                }
        main_help(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("saccade %s\n", sc_version());
        return CLI_OK;
    }
    for (int i = 0; i < NVERBS; i++) {
        if (strcmp(argv[1], VERBS[i].name)) continue;
        for (int a = 2; a < argc; a++) {
            if (!strcmp(argv[a], "--")) break;
            if (cli_is_help(argv[a])) {
                VERBS[i].help(stdout);
                return CLI_OK;
            }
        }
        return VERBS[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "saccade: unknown verb '%s'\nTry 'saccade --help'.\n", argv[1]);
    return CLI_USAGE;
}
