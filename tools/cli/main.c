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
    {"saliency",
     "saliency maps as overlays: bottom-up (spectral residual, PQFT, fine-grained) or\n"
     "             from a model (attention, Grad-CAM, gradients, rollout)",
     cli_saliency_main, cli_saliency_help},
    {"data", "generate datasets (Fashion scenes with boxes and captions)", cli_data_main,
     cli_data_help},
    {"train", "train a model: classifier, stn (ST-CNN or CNN), captioner, vqa", cli_train_main,
     cli_train_help},
    {"eval", "evaluate a model or predictions: classifier, stn, saliency, captioner, vqa",
     cli_eval_main, cli_eval_help},
    {"stn", "spatial transformer: where an ST-CNN looks, its glimpse and class", cli_stn_main,
     cli_stn_help},
    {"vqa", "answer questions about an image (stacked attention network, or BLIP)", cli_vqa_main,
     cli_vqa_help},
    {"ground", "where is a phrase in a photo: BLIP image-text matching and its Grad-CAM",
     cli_ground_main, cli_ground_help},
    {"classify", "top-k ImageNet classes of photos (torchvision ResNet or ViT)", cli_classify_main,
     cli_classify_help},
};
static const int NVERBS = (int)(sizeof VERBS / sizeof VERBS[0]);

/* 'saccade train MODEL --help' and 'saccade eval WHAT --help': one model's help. */
static const struct {
    const char *verb, *what;
    void (*help)(FILE *out);
} SUBHELP[] = {
    {"train", "classifier", cli_train_classifier_help},
    {"train", "stn", cli_train_stn_help},
    {"train", "captioner", cli_train_captioner_help},
    {"train", "vqa", cli_train_vqa_help},
    {"eval", "classifier", cli_eval_classifier_help},
    {"eval", "stn", cli_eval_stn_help},
    {"eval", "saliency", cli_eval_saliency_help},
    {"eval", "captioner", cli_eval_captioner_help},
    {"eval", "vqa", cli_eval_vqa_help},
};

static void main_help(FILE *out) {
    fprintf(out, "usage: saccade [--version] [--help] VERB [ARGS...]\n\n"
                 "Visual attention from the command line: captions with attention maps,\n"
                 "spatial transformers, saliency overlays, visual question answering.\n\n"
                 "verbs:\n");
    for (int i = 0; i < NVERBS; i++) fprintf(out, "  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
    fprintf(out,
            "\nmodels (.safetensors; 'saccade info MODEL' lists its config and tensors):\n"
            "  captioner   Show, Attend and Tell with a CNN, ResNet or ViT encoder\n"
            "              (shipped: models/scenes-captioner, Fashion scenes)\n"
            "  vqa         stacked attention network, or the qonly / pooled baselines\n"
            "              (shipped: models/scenes-vqa, Fashion scenes)\n"
            "  stcnn       spatial transformer + CNN classifier (shipped: models/fashion-stn,\n"
            "              cluttered Fashion-MNIST)\n"
            "  classifier  CNN classifier (Fashion-MNIST; also the plain CNN of 'train stn')\n"
            "\n'saccade VERB --help' describes a verb, with examples. Exit status: 0 success,\n"
            "1 runtime error, 2 usage error.\n\n"
            "Examples:\n"
            "  saccade caption assets/samples/chelsea.jpg --attention words.png\n"
            "  saccade vqa assets/samples/scenes/images/test_000001.png \"is there a bag?\"\n"
            "  saccade saliency assets/samples/chelsea.jpg -o saliency.png\n");
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
                for (size_t k = 0; argc > 2 && k < sizeof SUBHELP / sizeof SUBHELP[0]; k++)
                    if (!strcmp(VERBS[i].name, SUBHELP[k].verb) &&
                        !strcmp(argv[2], SUBHELP[k].what)) {
                        SUBHELP[k].help(stdout);
                        return CLI_OK;
                    }
                VERBS[i].help(stdout);
                return CLI_OK;
            }
        }
        cli_catch_stop_signals(VERBS[i].name);
        return cli_comm_end(VERBS[i].run(argc - 1, argv + 1));
    }
    fprintf(stderr, "saccade: unknown verb '%s'\nTry 'saccade --help'.\n", argv[1]);
    return CLI_USAGE;
}
