/* saccade classify: the top-k classes of photos under a torchvision ImageNet
 * classifier (sc_imagenet_classifier.h), one line (or JSON object) per image. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_imagenet_classifier.h"

void cli_classify_help(FILE *out) {
    fprintf(out,
            "usage: saccade classify IMAGE|DIR|- ... --model M [--top-k K] [--json]\n"
            "                        [--threads N] [--shard K/N]\n\n"
            "Classify photos with a torchvision ImageNet classifier (ResNet-18..152 or\n"
            "ViT-B/16, B/32) converted by tools/convert_torchvision.py. Each image is\n"
            "preprocessed as its weights' own transforms (written into the model file:\n"
            "resize of the short side with Pillow's filter, centre crop, ImageNet mean /\n"
            "std), as torchvision does on a PIL image.\n\n"
            "Inputs: files, folders (searched recursively for images) or '-' (a list of\n"
            "inputs on standard input, one per line).\n\n"
            "Options:\n"
            "  --model M    the classifier .safetensors (required)\n"
            "  --top-k K    classes per image, most probable first (default 5)\n"
            "  --json       one JSON object per image and line: {\"path\", \"top\": [{\"index\",\n"
            "               \"name\", \"prob\", \"logit\"}, ...]}\n"
            "  --threads N  threads (default: all cores)\n"
            "  --shard K/N  only the K-th of N equal slices of the input list (Slurm arrays,\n"
            "               GNU parallel); under mpirun the ranks take images a few at a\n"
            "               time as each becomes free (SACCADE_MPI_HANDOUT=static: fixed\n"
            "               slices) and rank 0 prints all output in input order; SIGTERM,\n"
            "               SIGINT or SIGHUP to a rank ends the job with exit 1 and no\n"
            "               output\n\n"
            "Output without --json: per image its path, then K lines\n"
            "\"  <prob>  <index>  <name>\".\n\n"
            "Examples:\n"
            "  /usr/bin/python3 tools/convert_torchvision.py --arch resnet50 \\\n"
            "      --weights resnet50-11ad3fa6.pth -o r50.safetensors\n"
            "  saccade classify assets/samples/chelsea.jpg --model r50.safetensors\n"
            "  saccade classify photos/ --model vit_b_16.safetensors --top-k 3 --json\n"
            "  ls *.jpg | saccade classify - --model r50.safetensors --top-k 1\n");
}

typedef struct classify_ctx {
    sc_imagenet_classifier *m;
    int k, json;
    sc_class_score *top;
} classify_ctx;

static int one_image(const cli_batch *b, int i, void *vctx) {
    classify_ctx *c = vctx;
    sc_image img = {0};
    sc_status s = sc_image_load(b->paths[i], NULL, &img, NULL);
    if (!s) s = sc_imagenet_classifier_classify(c->m, &img, c->k, c->top, NULL);
    sc_image_free(&img);
    if (s) return 1;
    if (!c->json) {
        printf("%s\n", b->paths[i]);
        for (int j = 0; j < c->k; j++)
            printf("  %.6f  %4d  %s\n", (double)c->top[j].prob, c->top[j].index, c->top[j].name);
        return 0;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", b->paths[i]);
    cJSON *arr = cJSON_AddArrayToObject(o, "top");
    for (int j = 0; arr && j < c->k; j++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", c->top[j].index);
        cJSON_AddStringToObject(e, "name", c->top[j].name);
        cJSON_AddItemToObject(e, "prob", cli_json_float(c->top[j].prob, 9));
        cJSON_AddItemToObject(e, "logit", cli_json_float(c->top[j].logit, 9));
        if (!e || !cJSON_AddItemToArray(arr, e)) { /* out of memory: report it */
            cJSON_Delete(e);
            cJSON_Delete(o);
            o = NULL;
            break;
        }
    }
    return cli_json_emit(stdout, o) != CLI_OK;
}

int cli_classify_main(int argc, char **argv) {
    const char *V = "classify";
    const char *model = NULL, *shard = NULL;
    int k = 5, json = 0, threads = 0, ninputs = 0, rc;
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a model file", NULL, 0},
        {"--top-k", CLI_INT, &k, 1, 1 << 20, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--shard", CLI_STR, &shard, 0, 0, "K/N", NULL, 0},
    };
    classify_ctx c = {0};
    cli_batch b = {0};
    rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], inputs, argc,
                           &ninputs);
    if (rc) goto end;
    if (!ninputs) {
        rc = cli_usage(V, "no input image");
        goto end;
    }
    if (!model) {
        rc = cli_usage(V, "--model is required (a classifier from tools/convert_torchvision.py)");
        goto end;
    }
    if ((rc = cli_set_threads(V, threads))) goto end;
    if (sc_imagenet_classifier_load(model, NULL, &c.m)) {
        rc = cli_fail(NULL);
        goto end;
    }
    sc_imagenet_classifier_info info;
    sc_imagenet_classifier_get_info(c.m, &info);
    if (k > info.num_classes) {
        rc = cli_usage(V, "--top-k %d exceeds the model's %d classes", k, info.num_classes);
        goto end;
    }
    c.k = k, c.json = json;
    c.top = calloc((size_t)k, sizeof *c.top);
    if (!c.top) {
        fprintf(stderr, "saccade: out of memory\n");
        rc = CLI_FAIL;
        goto end;
    }
    if ((rc = cli_batch_expand(V, (char **)inputs, ninputs, &b)) ||
        (rc = cli_batch_shard(V, &b, shard)))
        goto end;
    rc = cli_batch_run(&b, "classify", one_image, &c);
end:
    free(c.top);
    sc_imagenet_classifier_free(c.m);
    cli_batch_free(&b);
    free(inputs);
    return rc;
}
