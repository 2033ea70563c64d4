/* sc_model_probe: the model kind from a file's metadata (saccade.kind, or
 * the conventions of files written before it). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "saccade/sc_model_probe.h"
#include "saccade/sc_safetensors.h"

static const char *const KIND_NAMES[] = {"captioner", "vqa",  "classifier",    "stcnn",
                                         "resnet",    "blip", "vit_classifier"};
#define NKINDS ((int)(sizeof KIND_NAMES / sizeof KIND_NAMES[0]))

const char *sc_model_kind_name(sc_model_kind k) {
    return (int)k >= 0 && (int)k < NKINDS ? KIND_NAMES[k] : NULL;
}

sc_status sc_model_kind_from_name(const char *name, sc_model_kind *out) {
    if (!name || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_model_kind_from_name: NULL");
    for (int i = 0; i < NKINDS; i++)
        if (!strcmp(name, KIND_NAMES[i])) {
            *out = (sc_model_kind)i;
            return SC_OK;
        }
    return sc_set_error(SC_ERR_UNSUPPORTED,
                        "unknown model kind \"%.40s\" (known: captioner, vqa, classifier, "
                        "stcnn, resnet, blip, vit_classifier)",
                        name);
}

/* The string "arch" of the JSON object in saccade.config, or "" (cap > 0). */
static void config_arch(const char *cfg, char *arch, size_t cap) {
    arch[0] = 0;
    cJSON *root = cfg ? cJSON_Parse(cfg) : NULL;
    const cJSON *a = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "arch") : NULL;
    if (cJSON_IsString(a)) snprintf(arch, cap, "%s", a->valuestring);
    cJSON_Delete(root);
}

/* The kind from the metadata of an open file; errors name path. */
static sc_status kind_of(const sc_safetensors *st, const char *path, sc_model_kind *kind) {
    const char *k = sc_safetensors_metadata(st, SC_MODEL_KIND_KEY);
    if (k) {
        sc_status s = sc_model_kind_from_name(k, kind);
        if (s) sc_error_prefix(path);
        return s;
    }
    const char *task = sc_safetensors_metadata(st, "saccade.task");
    if (task && !strcmp(task, "vqa")) {
        *kind = SC_MODEL_VQA;
        return SC_OK;
    }
    if (task && strcmp(task, "caption") != 0)
        return sc_set_error(SC_ERR_UNSUPPORTED, "%s: a %.40s model (unknown saccade.task)", path,
                            task);
    const char *family = sc_safetensors_metadata(st, "saccade.model");
    if (family && !strcmp(family, "blip")) {
        *kind = SC_MODEL_BLIP;
        return SC_OK;
    }
    char arch[32];
    config_arch(sc_safetensors_metadata(st, "saccade.config"), arch, sizeof arch);
    if (!strcmp(arch, "stcnn")) {
        *kind = SC_MODEL_STCNN;
    } else if (!strcmp(arch, "classifier")) {
        *kind = SC_MODEL_CLASSIFIER;
    } else if (!strncmp(arch, "resnet", 6)) {
        *kind = SC_MODEL_RESNET;
    } else if (sc_safetensors_metadata(st, "saccade.vocab")) {
        *kind = sc_safetensors_metadata(st, "saccade.answers") ? SC_MODEL_VQA : SC_MODEL_CAPTIONER;
    } else {
        return sc_set_error(SC_ERR_FORMAT,
                            "%s: not a saccade model: no saccade.kind, and neither saccade.task, "
                            "a saccade.config \"arch\" nor saccade.vocab says what it holds",
                            path);
    }
    return SC_OK;
}

sc_status sc_model_probe(const char *path, sc_model_kind *kind) {
    if (!path || !kind) return sc_set_error(SC_ERR_INVALID_ARG, "sc_model_probe: NULL argument");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) { /* a Hugging Face model folder */
        char cfg[4096];
        snprintf(cfg, sizeof cfg, "%s/config.json", path);
        if (stat(cfg, &sb) != 0)
            return sc_set_error(SC_ERR_FORMAT,
                                "%s: a folder without config.json (a model folder holds "
                                "config.json, model.safetensors, vocab.txt, ...)",
                                path);
        *kind = SC_MODEL_BLIP;
        return SC_OK;
    }
    sc_safetensors *st = NULL;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    s = kind_of(st, path, kind);
    sc_safetensors_free(st);
    return s;
}
