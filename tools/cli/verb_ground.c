/* saccade ground: where is a phrase in a photo? BLIP image-text matching
 * (sc_blip_itm.h): match probability, contrastive cosine and Grad-CAM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "saccade/sc_blip_itm.h"
#include "saccade/sc_caption_render.h"
#include "cli.h"

void cli_ground_help(FILE *out) {
    fprintf(
        out,
        "usage: saccade ground IMAGE TEXT [TEXT...] --model DIR [--attention OUT.png]\n"
        "                      [--attention-layer L] [--json] [--threads N]\n\n"
        "Where is TEXT in IMAGE? With a BLIP image-text matching model (--model DIR: a\n"
        "Hugging Face BlipForImageTextRetrieval folder such as\n"
        "Salesforce/blip-itm-base-coco, or a saccade BLIP file) prints, per TEXT:\n"
        "  match   the image-text matching probability (softmax of the ITM head, class 1)\n"
        "  cosine  the cosine similarity of the contrastive heads (the text encoded\n"
        "          without the image, no temperature)\n"
        "and the peak of the phrase's Grad-CAM in image pixels. The image is encoded\n"
        "once for all texts.\n\n"
        "  --attention OUT.png  the Grad-CAM figure: the whole phrase, then each word\n"
        "                     piece (several TEXTs: OUT-1.png, OUT-2.png, ...). Grad-CAM\n"
        "                     as BLIP's demo computes it: the cross-attention of one\n"
        "                     text-encoder layer times the positive part of its gradient\n"
        "                     for the positive match logit, image class token dropped,\n"
        "                     mean over heads; the phrase is the mean of its words\n"
        "  --attention-layer L  that layer (default 2L/3: 8 of BLIP-base's 12; the last\n"
        "                     layer gives empty word maps: the head reads [CLS] alone)\n"
        "  --json             one JSON object per TEXT: text, match, itm_logits, cosine,\n"
        "                     tokens, layer, peak {x, y}, attention_png\n\n"
        "An empty TEXT, invalid UTF-8 or a TEXT longer than the model's positions is\n"
        "an error (exit 1); the other texts are still matched.\n\n"
        "Examples:\n"
        "  saccade ground photo.jpg \"a red umbrella\" --model blip-itm-base-coco\n"
        "  saccade ground photo.jpg \"a dog\" \"a cat on a sofa\" --model blip-itm-base-coco \\\n"
        "      --attention where.png --json\n"
        "  saccade saliency photo.jpg --method itm --text \"a red umbrella\" \\\n"
        "      --model blip-itm-base-coco -o umbrella.png\n");
}

/* The figure: the phrase's map, then each word piece's ([CLS] and [SEP]
 * left out). */
static sc_status figure(const sc_image *img, const sc_blip_match *mt, const char *text,
                        const char *path) {
    const int G = mt->grid, P = G * G, nw = mt->n - 2;
    float *maps = malloc((size_t)(1 + nw) * P * sizeof(float));
    const char **labels = calloc((size_t)(1 + nw), sizeof *labels);
    sc_status s = maps && labels ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!s) {
        memcpy(maps, mt->phrase, (size_t)P * sizeof(float));
        memcpy(maps + P, mt->gradcam + P, (size_t)nw * P * sizeof(float));
        labels[0] = text;
        for (int i = 0; i < nw; i++) labels[1 + i] = mt->words[1 + i];
    }
    sc_image fig = {0};
    sc_attention_grid_params gp = sc_attention_grid_default_params();
    if (!s) s = sc_attention_grid(img, maps, G, 1 + nw, labels, &gp, &fig);
    if (!s) s = sc_image_save(&fig, path);
    sc_image_free(&fig);
    free(maps), free(labels);
    return s;
}

/* The peak of the phrase's map at the image's size. */
static sc_status peak_of(const sc_image *img, const sc_blip_match *mt, int *x, int *y) {
    sc_map m = {0};
    sc_status s = sc_attention_upsample(mt->phrase, mt->grid, img->w, img->h, &m);
    if (s) return s;
    size_t best = 0, n = (size_t)m.w * m.h;
    for (size_t i = 1; i < n; i++)
        if (m.data[i] > m.data[best]) best = i;
    *x = (int)(best % (size_t)m.w), *y = (int)(best / (size_t)m.w);
    sc_map_free(&m);
    return SC_OK;
}

static int print_json(const sc_blip_match *mt, const char *text, int x, int y, const char *fig) {
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_CreateArray(), *z = cJSON_CreateArray();
    int ok = o && toks && z && cJSON_AddStringToObject(o, "text", text) &&
             cli_json_add_fixed(o, "match", mt->probability, 6) &&
             cli_json_add_fixed(o, "cosine", mt->cosine, 6);
    for (int i = 0; ok && i < 2; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%.6f", (double)mt->itm_logits[i]);
        ok = cJSON_AddItemToArray(z, cJSON_CreateRaw(buf));
    }
    for (int i = 0; ok && i < mt->n; i++)
        ok = cJSON_AddItemToArray(toks, cJSON_CreateString(mt->words[i]));
    ok = ok && cJSON_AddItemToObject(o, "itm_logits", z);
    if (ok) z = NULL;
    ok = ok && cJSON_AddItemToObject(o, "tokens", toks);
    if (ok) toks = NULL;
    cJSON *pk = ok ? cJSON_AddObjectToObject(o, "peak") : NULL;
    ok = ok && pk && cJSON_AddNumberToObject(o, "layer", mt->layer) &&
         cJSON_AddNumberToObject(pk, "x", x) && cJSON_AddNumberToObject(pk, "y", y) &&
         (fig ? cJSON_AddStringToObject(o, "attention_png", fig) != NULL
              : cJSON_AddNullToObject(o, "attention_png") != NULL);
    cJSON_Delete(z), cJSON_Delete(toks);
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    return cli_json_emit(stdout, o);
}

static int one_text(sc_blip_itm *r, const sc_image *img, const char *text, int layer, int json,
                    const char *fig) {
    sc_blip_match mt;
    if (sc_blip_itm_match(r, text, 1, layer, 0, &mt)) return cli_fail(NULL);
    int x = 0, y = 0, rc = CLI_OK;
    if (peak_of(img, &mt, &x, &y)) rc = cli_fail(NULL);
    if (!rc && fig && figure(img, &mt, text, fig)) rc = cli_fail(fig);
    if (!rc && json)
        rc = print_json(&mt, text, x, y, fig);
    else if (!rc)
        printf("\"%s\": match %.3f, cosine %.3f, peak at (%d, %d)\n", text, (double)mt.probability,
               (double)mt.cosine, x, y);
    fflush(stdout);
    sc_blip_match_free(&mt);
    return rc;
}

int cli_ground_main(int argc, char **argv) {
    const char *V = "ground";
    const char *model = NULL, *att = NULL;
    int json = 0, threads = 0, layer = -1;
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a folder", NULL, 0},
        {"--attention", CLI_STR, &att, 0, 0, "a file name", NULL, 0},
        {"--attention-layer", CLI_INT, &layer, 0, 4095, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
    };
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!pos) return cli_fail("out of memory");
    int npos = 0;
    int rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], pos, argc, &npos);
    if (!rc && npos < 2) rc = cli_usage(V, "need an IMAGE and at least one TEXT");
    if (!rc && !model)
        rc = cli_usage(V, "need --model DIR (a Hugging Face BlipForImageTextRetrieval folder, "
                          "e.g. Salesforce/blip-itm-base-coco)");
    if (!rc) rc = cli_set_threads(V, threads);
    sc_blip_itm *r = NULL;
    sc_image img = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    if (!rc && sc_blip_itm_load(model, &r)) rc = cli_fail(NULL);
    if (!rc && layer >= sc_blip_get_config(sc_blip_itm_model(r))->text.num_hidden_layers)
        rc = cli_usage(V, "--attention-layer %d: the text encoder has %d layers", layer,
                       sc_blip_get_config(sc_blip_itm_model(r))->text.num_hidden_layers);
    if (!rc && (sc_image_load(pos[0], &lp, &img, NULL) || sc_blip_itm_set_image(r, &img)))
        rc = cli_fail(pos[0]);
    for (int i = 1; !(rc == CLI_USAGE) && r && img.data && i < npos; i++) {
        char fig[4200], *fp = NULL;
        if (att && npos > 2) {
            const char *dot = strrchr(att, '.');
            int stem = dot ? (int)(dot - att) : (int)strlen(att);
            snprintf(fig, sizeof fig, "%.*s-%d%s", stem, att, i, dot ? dot : "");
            fp = fig;
        } else if (att) {
            fp = (char *)att;
        }
        if (one_text(r, &img, pos[i], layer, json, fp)) rc = CLI_FAIL;
    }
    sc_image_free(&img);
    sc_blip_itm_free(r);
    free(pos);
    return rc;
}
