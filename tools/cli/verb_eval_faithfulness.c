/* saccade eval saliency --faithfulness: deletion / insertion AUC and ROAD of
 * the model methods' maps on a classifier (sc_saliency_model_faithfulness). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_saliency_model.h"

void cli_eval_faithfulness_help(FILE *out) {
    fprintf(out,
            "usage: saccade eval saliency --faithfulness IMAGE|DIR|-... --model M\n"
            "                             [--methods LIST] [--layer NAME] [--class K]\n"
            "                             [--step N] [--road-noise S] [--seed N] [--json]\n\n"
            "How faithful each method's map is to a classifier (or ST-CNN): for every image\n"
            "and method, the deletion and insertion curves of RISE (Petsiuk et al. 2018:\n"
            "the class probability as the most salient pixels of the model's input are\n"
            "set to 0, or copied into a blurred input, --step pixels at a time; the area\n"
            "under each curve, lower is better for deletion, higher for insertion) and\n"
            "ROAD (Rong et al. 2022, as pytorch-grad-cam's ROADCombined: (LeRF - MoRF) / 2\n"
            "over the percentiles 10..90 with noisy linear imputation; higher is better).\n"
            "--methods LIST  comma-separated (default: gradcam, gradcam++, xgradcam,\n"
            "           hirescam, layercam, eigencam, eigengradcam, scorecam, ablationcam,\n"
            "           gradient, smoothgrad, intgrad)\n"
            "--layer, --class  as 'saccade saliency' (default: last stage, top class)\n"
            "--step N   pixels per deletion / insertion step (default: the input's width)\n"
            "--road-noise S  imputation noise (default 0.01, pytorch-grad-cam's)\n"
            "--seed N   seed of SmoothGrad's and ROAD's noise (default 0)\n"
            "--json     one JSON object per image and method, then one mean per method\n"
            "Output: one line per image and method, then the means per method.\n\n"
            "Example:\n"
            "  saccade eval saliency --faithfulness assets/samples/stn \\\n"
            "      --model assets/models/fashion-stn.safetensors --methods gradcam,scorecam\n");
}

static const sc_model_saliency_method DEFAULT_METHODS[] = {
    SC_MSAL_GRADCAM,     SC_MSAL_GRADCAMPP, SC_MSAL_XGRADCAM,     SC_MSAL_HIRESCAM,
    SC_MSAL_LAYERCAM,    SC_MSAL_EIGENCAM,  SC_MSAL_EIGENGRADCAM, SC_MSAL_SCORECAM,
    SC_MSAL_ABLATIONCAM, SC_MSAL_GRADIENT,  SC_MSAL_SMOOTHGRAD,   SC_MSAL_INTGRAD};
#define MAXM 32

/* "a,b,c" -> methods (CLI_OK or CLI_USAGE). */
static int parse_methods(const char *V, const char *list, sc_model_saliency_method *out, int *n) {
    *n = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        char name[64];
        if (len == 0 || len >= sizeof name || *n >= MAXM)
            return cli_usage(V, "--methods needs a comma-separated list of method names");
        memcpy(name, p, len);
        name[len] = 0;
        sc_saliency_method sm;
        if (sc_saliency_method_from_name(name, &sm)) return cli_usage(V, "%s", sc_last_error());
        const sc_saliency_method_info *r = sc_saliency_method_info_of(sm);
        if (!r->needs_model || r->model_method == SC_MSAL_ATTENTION ||
            r->model_method == SC_MSAL_ROLLOUT)
            return cli_usage(V, "--methods: %s is not a classifier method", name);
        out[(*n)++] = (sc_model_saliency_method)r->model_method;
        p += len;
        if (*p == ',') p++;
    }
    return *n ? CLI_OK : cli_usage(V, "--methods needs at least one method");
}

int cli_eval_faithfulness_main(int argc, char **argv) {
    const char *V = "eval saliency";
    const char *model = NULL, *methods = NULL, *cls = NULL;
    int faith = 0, json = 0, step = 0, seed = 0, threads = 0;
    float noise = 0.01f;
    sc_model_saliency_params mp = sc_model_saliency_default_params();
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    if (!inputs) {
        fprintf(stderr, "saccade: out of memory\n");
        return CLI_FAIL;
    }
    const cli_opt opts[] = {
        {"--faithfulness", CLI_FLAG, &faith, 0, 0, NULL, NULL, 0},
        {"--model", CLI_STR, &model, 0, 0, "a model file", NULL, 0},
        {"--methods", CLI_STR, &methods, 0, 0, "a list of methods", NULL, 0},
        {"--layer", CLI_STR, &mp.layer, 0, 0, "a layer name", NULL, 0},
        {"--class", CLI_STR, &cls, 0, 0, "a class index or name", NULL, 0},
        {"--step", CLI_INT, &step, 1, 1 << 24, NULL, NULL, 0},
        {"--road-noise", CLI_FLOAT, &noise, 0, 1e6, NULL, NULL, 0},
        {"--seed", CLI_INT, &seed, 0, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
    };
    int ninputs = 0, nm = 0, rc;
    sc_model_saliency_method ms[MAXM];
    sc_saliency_model *m = NULL;
    cli_batch b = {0};
    double(*sum)[3] = NULL;
    int *cnt = NULL;
    rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], inputs, argc,
                           &ninputs);
    if (!rc && !model) rc = cli_usage(V, "--faithfulness needs --model M (a classifier)");
    if (!rc && !ninputs) rc = cli_usage(V, "need at least one IMAGE, DIRECTORY or '-'");
    if (!rc && methods) rc = parse_methods(V, methods, ms, &nm);
    if (!rc && !methods) {
        nm = (int)(sizeof DEFAULT_METHODS / sizeof DEFAULT_METHODS[0]);
        memcpy(ms, DEFAULT_METHODS, sizeof DEFAULT_METHODS);
    }
    if (!rc) rc = cli_set_threads(V, threads);
    if (rc) goto end;
    mp.cam.seed = (uint64_t)seed;
    if (sc_saliency_model_load(model, &m)) {
        rc = cli_fail(NULL);
        goto end;
    }
    sc_saliency_model_kind kind = sc_saliency_model_get_kind(m);
    if (kind != SC_SMODEL_CLASSIFIER && kind != SC_SMODEL_STCNN) {
        rc = cli_usage(V, "--faithfulness needs a classifier or ST-CNN; %s is a %s", model,
                       sc_saliency_model_kind_name(kind));
        goto end;
    }
    if (cls && sc_saliency_model_class(m, cls, &mp.target)) {
        rc = cli_usage(V, "--class: %s (%s)", sc_last_error(), model);
        goto end;
    }
    if ((rc = cli_batch_expand(V, (char *const *)inputs, ninputs, &b))) goto end;
    sum = calloc((size_t)nm, sizeof *sum);
    cnt = calloc((size_t)nm, sizeof *cnt);
    if (!sum || !cnt) {
        rc = cli_fail("out of memory");
        goto end;
    }
    int failed = 0;
    if (!json)
        printf("%-13s %-14s %9s %9s %9s  %s\n", "method", "class", "deletion", "insertion", "road",
               "image");
    for (int i = 0; i < b.n; i++) {
        sc_image img = {0};
        sc_image_load_params lp = sc_image_load_default_params();
        if (sc_image_load(b.paths[i], &lp, &img, NULL)) {
            cli_batch_report(NULL, b.paths[i]);
            failed++;
            continue;
        }
        for (int j = 0; j < nm; j++) {
            sc_faithfulness f;
            sc_model_saliency_info info;
            const char *mn = sc_model_saliency_method_name(ms[j]);
            if (sc_saliency_model_faithfulness(m, ms[j], &img, &mp, step, noise, &f, &info)) {
                cli_batch_report(NULL, b.paths[i]);
                failed++;
                continue;
            }
            sum[j][0] += f.deletion_auc, sum[j][1] += f.insertion_auc, sum[j][2] += f.road;
            cnt[j]++;
            if (json) {
                cJSON *o = cJSON_CreateObject();
                int bad = !o || !cJSON_AddStringToObject(o, "path", b.paths[i]) ||
                          !cJSON_AddStringToObject(o, "method", mn) ||
                          !cJSON_AddNumberToObject(o, "target", info.target) ||
                          !cJSON_AddStringToObject(o, "class_name", info.caption) ||
                          cli_json_add_g9(o, "deletion_auc", f.deletion_auc) ||
                          cli_json_add_g9(o, "insertion_auc", f.insertion_auc) ||
                          cli_json_add_g9(o, "road", f.road) ||
                          cli_json_add_g9(o, "road_morf", f.road_morf) ||
                          cli_json_add_g9(o, "road_lerf", f.road_lerf);
                if (bad) cJSON_Delete(o);
                if (cli_json_emit(stdout, bad ? NULL : o)) failed++;
            } else {
                printf("%-13s %-14.14s %9.4f %9.4f %9.4f  %s\n", mn, info.caption, f.deletion_auc,
                       f.insertion_auc, f.road, b.paths[i]);
            }
            sc_faithfulness_free(&f);
        }
        sc_image_free(&img);
    }
    for (int j = 0; j < nm; j++) {
        if (!cnt[j]) continue;
        const char *mn = sc_model_saliency_method_name(ms[j]);
        double d = sum[j][0] / cnt[j], in = sum[j][1] / cnt[j], r = sum[j][2] / cnt[j];
        if (json) {
            cJSON *o = cJSON_CreateObject();
            int bad = !o || !cJSON_AddStringToObject(o, "mean_of", mn) ||
                      !cJSON_AddNumberToObject(o, "images", cnt[j]) ||
                      cli_json_add_g9(o, "deletion_auc", d) ||
                      cli_json_add_g9(o, "insertion_auc", in) || cli_json_add_g9(o, "road", r);
            if (bad) cJSON_Delete(o);
            if (cli_json_emit(stdout, bad ? NULL : o)) failed++;
        } else {
            printf("%-13s %-14s %9.4f %9.4f %9.4f  mean of %d image%s\n", mn, "", d, in, r, cnt[j],
                   cnt[j] == 1 ? "" : "s");
        }
    }
    fflush(stdout);
    rc = failed ? CLI_FAIL : CLI_OK;
end:
    cli_batch_free(&b);
    sc_saliency_model_free(m);
    free(sum);
    free(cnt);
    free(inputs);
    return rc;
}
