/* saccade: what kind of model a .safetensors file holds.
 *
 * Every writer (sc_captioner_save, sc_classifier_save, sc_vqa_save, the
 * trainers, tools/convert_sat.py, tools/convert_torchvision.py) records the
 * kind in the metadata key "saccade.kind". Files written before that key
 * existed are still recognised by the older conventions, in this order:
 * "saccade.task" ("vqa"; "caption" says nothing more), the "arch" of the
 * JSON in "saccade.config" ("stcnn", "classifier", "resnet18" ... "resnet152"),
 * then "saccade.vocab" (with "saccade.answers": VQA; alone: a captioner).
 * BLIP (sc_blip.h): a folder holding config.json (a Hugging Face model
 * folder), or a file whose "saccade.model" is "blip" (sc_blip_save_single). */
#ifndef SACCADE_SC_MODEL_PROBE_H
#define SACCADE_SC_MODEL_PROBE_H

#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_MODEL_KIND_KEY "saccade.kind"

typedef enum sc_model_kind {
    SC_MODEL_CAPTIONER = 0,  /* sc_captioner.h ("captioner") */
    SC_MODEL_VQA = 1,        /* sc_vqa.h ("vqa") */
    SC_MODEL_CLASSIFIER = 2, /* sc_classifier.h ("classifier") */
    SC_MODEL_STCNN = 3,      /* sc_stn.h, an ST-CNN ("stcnn") */
    SC_MODEL_RESNET = 4,     /* sc_resnet.h, a torchvision ResNet ("resnet") */
    SC_MODEL_BLIP = 5,       /* sc_blip.h, BLIP captioning ("blip") */
    SC_MODEL_VIT_CLASSIFIER = 6 /* sc_imagenet_classifier.h, a torchvision ViT ("vit_classifier") */
} sc_model_kind;

/* The saccade.kind value of k ("captioner", "vqa", "classifier", "stcnn",
 * "resnet", "blip", "vit_classifier"); NULL for a value not in the enum. */
const char *sc_model_kind_name(sc_model_kind k);
/* The kind named by a saccade.kind value; SC_ERR_UNSUPPORTED naming the
 * known kinds otherwise. */
sc_status sc_model_kind_from_name(const char *name, sc_model_kind *out);

/* Read path's header (not its tensors) and set *kind; a folder is BLIP when
 * it has config.json (SC_ERR_FORMAT naming the folder otherwise). Errors: those of
 * sc_safetensors_open for a file that is not a valid .safetensors;
 * SC_ERR_UNSUPPORTED for a saccade.kind or saccade.task it does not know;
 * SC_ERR_FORMAT when no convention says what the file is. Each names path. */
sc_status sc_model_probe(const char *path, sc_model_kind *kind);

#ifdef __cplusplus
}
#endif
#endif
