/* saccade: honesty about the bundled models.
 *
 * The models shipped in assets/models were trained on synthetic Fashion-MNIST
 * data only: scenes-captioner and scenes-vqa on 96x96 scenes
 * (sc_scenes.h), fashion-stn on 60x60 cluttered canvases. Given anything
 * else (a photo) they still answer, confidently and wrongly. The test is the
 * image's size, the one property every generated input has exactly: a scene
 * is 96x96 pixels, an ST-CNN canvas 60x60. A bundled model is recognised by
 * its file's base name (the name it ships under). */
#ifndef SACCADE_SC_BUNDLED_MODELS_H
#define SACCADE_SC_BUNDLED_MODELS_H

#ifdef __cplusplus
extern "C" {
#endif

#define SC_BUNDLED_MODEL_WARNING                                                                   \
    "the bundled model knows only synthetic Fashion scenes; see README 'Caption your own photos'"

/* The input side (96 or 60) of the bundled model whose file is model_path
 * (any folder; the base name decides), 0 for any other file (or NULL). */
int sc_bundled_model_input_side(const char *model_path);
/* SC_BUNDLED_MODEL_WARNING when model_path is a bundled model and the image
 * (w x h as loaded, before any resizing) is not its input size; else NULL. */
const char *sc_bundled_model_warning(const char *model_path, int w, int h);

#ifdef __cplusplus
}
#endif
#endif
