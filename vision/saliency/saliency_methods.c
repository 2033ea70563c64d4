/* The table of saliency methods shared by the CLI and the Python binding,
 * and sc_saliency_compute, which runs a bottom-up method from it. */
#include <stdio.h>
#include <string.h>
#include "saccade/sc_saliency.h"
#include "saccade/sc_saliency_model.h"

/* Adapters to the table's one signature, for methods without parameters. */
static sc_status sr_opencv(const sc_image *img, const sc_saliency_params *p, sc_map *out) {
    (void)p;
    return sc_saliency_sr_opencv(img, out);
}
static sc_status finegrained(const sc_image *img, const sc_saliency_params *p, sc_map *out) {
    (void)p;
    return sc_saliency_finegrained(img, out);
}

/* Rows in the order help texts list them; row i's method need not be i. */
static const sc_saliency_method_info METHODS[] = {
    {SC_SAL_SPECTRAL, "spectral", "spectral residual",
     "spectral residual, identical to OpenCV's StaticSaliencySpectralResidual (the default)", 0, -1,
     0, sr_opencv},
    {SC_SAL_SPECTRAL_HZ, "spectral-hz", "spectral residual (Hou & Zhang)",
     "spectral residual as Hou & Zhang (CVPR 2007) describe it", 0, -1, 1, sc_saliency_sr},
    {SC_SAL_PQFT, "pqft", "PQFT",
     "phase spectrum of the quaternion Fourier transform (Guo et al., CVPR 2008), uses colour", 0,
     -1, 1, sc_saliency_pqft},
    {SC_SAL_FINEGRAINED, "finegrained", "fine-grained",
     "centre-surround differences (Montabone & Soto 2010), identical to OpenCV's "
     "StaticSaliencyFineGrained",
     0, -1, 0, finegrained},
    {SC_SAL_ATTENTION, "attention", "attention",
     "a captioner's attention over its own caption: for --word W, or aggregated over the "
     "caption's words (--aggregate mean, the default, or max per cell); upsampled and smoothed "
     "as in 'saccade caption --attention'",
     1, SC_MSAL_ATTENTION, 0, NULL},
    {SC_SAL_GRADCAM, "gradcam", "Grad-CAM",
     "Grad-CAM: captioner (target: log-probability of --word at the step that generated it, "
     "teacher-forced, or of the whole caption), classifier or ST-CNN (target: the logit of the "
     "top class or --class, at --layer, default the last conv stage; the glimpse's map warped "
     "back through the transformer), normalised as pytorch-grad-cam",
     1, SC_MSAL_GRADCAM, 0, NULL},
    {SC_SAL_GRADIENT, "gradient", "input gradient",
     "plain input gradient, max |d target / d pixel| over channels (captioners with a cnn or "
     "vit encoder, classifiers: w.r.t. the normalised input)",
     1, SC_MSAL_GRADIENT, 0, NULL},
    {SC_SAL_ROLLOUT, "rollout", "attention rollout",
     "attention rollout (Abnar & Zuidema 2020) through a captioner's ViT encoder: the decoder's "
     "attention (for --word, or --aggregate over the caption) carried back through the ViT's "
     "layers to the image patches, or with --rollout-from cls the class token's (train such a "
     "model with 'saccade train captioner --encoder vit'); a ViT classifier's from its class "
     "token, as jacobgil/vit-explain (--discard R)",
     1, SC_MSAL_ROLLOUT, 0, NULL},
    {SC_SAL_GRADCAMPP, "gradcam++", "Grad-CAM++",
     "Grad-CAM++ (Chattopadhyay et al. 2018) from the raw logit's gradients, as pytorch-grad-cam "
     "(classifiers)",
     1, SC_MSAL_GRADCAMPP, 0, NULL},
    {SC_SAL_XGRADCAM, "xgradcam", "XGrad-CAM",
     "XGrad-CAM (Fu et al. 2020): gradients weighted by the normalised activations (classifiers)",
     1, SC_MSAL_XGRADCAM, 0, NULL},
    {SC_SAL_HIRESCAM, "hirescam", "HiResCAM",
     "HiResCAM (Draelos & Carin 2020): sum over channels of gradient times activation "
     "(classifiers)",
     1, SC_MSAL_HIRESCAM, 0, NULL},
    {SC_SAL_LAYERCAM, "layercam", "LayerCAM",
     "LayerCAM (Jiang et al. 2021): positive gradients times activations (classifiers)", 1,
     SC_MSAL_LAYERCAM, 0, NULL},
    {SC_SAL_EIGENCAM, "eigencam", "EigenCAM",
     "EigenCAM (Muhammad & Yeasin 2020): the layer's first principal component, no gradients "
     "and no class (classifiers)",
     1, SC_MSAL_EIGENCAM, 0, NULL},
    {SC_SAL_EIGENGRADCAM, "eigengradcam", "Eigen-Grad-CAM",
     "first principal component of gradient times activation (classifiers)", 1,
     SC_MSAL_EIGENGRADCAM, 0, NULL},
    {SC_SAL_SCORECAM, "scorecam", "Score-CAM",
     "Score-CAM (Wang et al. 2020): each channel, upsampled and min-max scaled, masks the input; "
     "weights = softmax of the masked inputs' logits; batched forwards, no gradients "
     "(classifiers)",
     1, SC_MSAL_SCORECAM, 0, NULL},
    {SC_SAL_ABLATIONCAM, "ablationcam", "Ablation-CAM",
     "Ablation-CAM (Desai & Ramaswamy 2020): weight (s - s_c) / s from the logit's drop when "
     "channel c is zeroed; batched forwards, no gradients (classifiers)",
     1, SC_MSAL_ABLATIONCAM, 0, NULL},
    {SC_SAL_SMOOTHGRAD, "smoothgrad", "SmoothGrad",
     "SmoothGrad (Smilkov et al. 2017) as Captum's NoiseTunnel: mean |input gradient| over "
     "noisy copies (classifiers)",
     1, SC_MSAL_SMOOTHGRAD, 0, NULL},
    {SC_SAL_INTGRAD, "intgrad", "Integrated Gradients",
     "Integrated Gradients (Sundararajan et al. 2017) as Captum: zero baseline, Gauss-Legendre "
     "steps; |sum over channels| (classifiers)",
     1, SC_MSAL_INTGRAD, 0, NULL},
    {SC_SAL_ITM, "itm", "image-text matching",
     "where a text is: the Grad-CAM of BLIP's image-text matching (--model a Hugging Face "
     "BlipForImageTextRetrieval folder, --text T): a text-encoder layer's cross-attention times "
     "the positive part of its gradient for the match logit, mean over heads and over the "
     "text's words, as BLIP's demo draws it",
     1, SC_MSAL_ITM, 0, NULL},
};
#define NMETHODS ((int)(sizeof METHODS / sizeof METHODS[0]))

int sc_saliency_method_count(void) {
    return NMETHODS;
}

const sc_saliency_method_info *sc_saliency_method_at(int i) {
    return i >= 0 && i < NMETHODS ? &METHODS[i] : NULL;
}

const sc_saliency_method_info *sc_saliency_method_info_of(sc_saliency_method m) {
    for (int i = 0; i < NMETHODS; i++)
        if (METHODS[i].method == m) return &METHODS[i];
    return NULL;
}

const char *sc_saliency_method_name(int i) {
    const sc_saliency_method_info *r = sc_saliency_method_at(i);
    return r ? r->name : NULL;
}

const char *sc_saliency_method_summary(int i) {
    const sc_saliency_method_info *r = sc_saliency_method_at(i);
    return r ? r->summary : NULL;
}

int sc_saliency_method_needs_model(int i) {
    const sc_saliency_method_info *r = sc_saliency_method_at(i);
    return r ? r->needs_model : -1;
}

int sc_saliency_method_takes_params(int i) {
    const sc_saliency_method_info *r = sc_saliency_method_at(i);
    return r ? r->takes_params : -1;
}

sc_status sc_saliency_method_from_name(const char *name, sc_saliency_method *out) {
    if (!name || !out)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_method_from_name: NULL");
    for (int i = 0; i < NMETHODS; i++)
        if (!strcmp(name, METHODS[i].name)) {
            *out = METHODS[i].method;
            return SC_OK;
        }
    /* "unknown method 'x' (choose a, b, ... or z)" */
    char list[1024] = "";
    size_t n = 0;
    for (int i = 0; i < NMETHODS && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s",
                              i == 0              ? ""
                              : i == NMETHODS - 1 ? " or "
                                                  : ", ",
                              METHODS[i].name);
    return sc_set_error(SC_ERR_INVALID_ARG, "unknown method '%s' (choose %s)", name, list);
}

sc_status sc_saliency_compute(sc_saliency_method method, const sc_image *img,
                              const sc_saliency_params *p, sc_map *out) {
    const sc_saliency_method_info *r = sc_saliency_method_info_of(method);
    if (!r)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_saliency_compute: unknown method %d",
                            (int)method);
    if (r->needs_model)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_saliency_compute: method '%s' needs a model "
                            "(sc_saliency_model_compute)",
                            r->name);
    return r->compute(img, r->takes_params ? p : NULL, out);
}
