/* Internals of the ImageNet classifiers (imagenet_classifier.c) shared with
 * their layer view (cam_model.c). Not installed. */
#ifndef SACCADE_CLASSIFY_INTERNAL_H
#define SACCADE_CLASSIFY_INTERNAL_H

#include "saccade/sc_imagenet_classifier.h"
#include "saccade/sc_resnet.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_vit.h"

struct sc_imagenet_classifier {
    sc_imagenet_classifier_info info;
    int gradients;       /* loaded with params.gradients */
    sc_resnet *resnet;   /* a ResNet, or NULL */
    sc_vit *vit;         /* a ViT (a view over st), or NULL */
    sc_safetensors *st;  /* the ViT's file mapping (NULL for a ResNet) */
    const float *head_w; /* ViT: heads.head.weight (K, D), in st */
    const float *head_b; /* ViT: heads.head.bias (K) */
    char **classes;      /* num_classes names (one allocation: pointers then text) */
};

/* ViT logits (B, K) from the encoder output (B, T, D): the head on token 0. */
void imagenet_vit_head(const sc_imagenet_classifier *m, const float *out, int B, float *logits);

#endif
