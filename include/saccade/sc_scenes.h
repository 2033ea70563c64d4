/* saccade: "Fashion scenes", a synthetic captioning dataset built from
 * Fashion-MNIST items.
 *
 * A scene is a size x size RGB canvas (96 by default) with a dark, softly
 * textured background (a dark base colour, a gentle linear gradient,
 * low-frequency noise and a little pixel noise; every background pixel stays
 * at or below SC_SCENES_BG_MAX) and 1 to 3 Fashion-MNIST items. Each item is
 * resized from 28x28 to a random side in [item_min, item_max] (24..40 px at
 * size 96; scaled with the canvas by default) with the Mitchell/Catmull-Rom
 * filter, possibly mirrored left-right, and tinted with one of 8 colours: the
 * item's intensity a in [0,1] is its alpha and the colour is premultiplied by
 * it, out = a * colour + (1 - a) * background. Items are placed in squares
 * that do not intersect (2 px apart), by deterministic rejection sampling.
 *
 * Determinism: scene (seed, split, index) depends on nothing else; its
 * generator is seeded from a hash of the three, so scenes can be produced on
 * the fly, in any order, in parallel. Train scenes draw items only from the
 * Fashion-MNIST train split, test scenes only from the test split.
 *
 * Nouns per class (one token each): 0 "t-shirt", 1 "trousers", 2 "pullover",
 * 3 "dress", 4 "coat", 5 "sandal", 6 "shirt", 7 "sneaker", 8 "bag", 9 "boot".
 * Colours: red, green, blue, yellow, cyan, magenta, white, orange.
 *
 * Captions: lowercase words separated by single spaces, no punctuation (so
 * sc_caption_tokenize leaves them unchanged). An item phrase is "a COLOUR
 * NOUN", with "an" before "orange", and "a pair of COLOUR trousers" for
 * trousers. Relations use the centres of the item boxes.
 *  1 item:  "a red sneaker" / "a red sneaker on a dark background" /
 *           "there is a red sneaker" / "a single red sneaker in the picture"
 *  2 items: the dominant axis of the centre offset decides (placement ensures
 *           it is clear: |major| >= |minor| + 6 px). With A left of (or above) B:
 *           "A to the left of B" / "B to the right of A" / "A and B" /
 *           "A on the left and B on the right"   (vertical: "A above B" /
 *           "B below A" / "A and B" / "A at the top and B at the bottom")
 *  3 items: ordered along the axis where consecutive centres are farthest
 *           apart (placement ensures >= 6 px). With A, B, C left to right:
 *           "A B and C from left to right" / "from left to right A B and C" /
 *           "A on the left B in the middle and C on the right" /
 *           "C B and A from right to left" / "three items A B and C"
 *           (vertical: top to bottom, "at the top" / "in the middle" /
 *           "at the bottom", "from bottom to top"). When the items are also
 *           clearly ordered along the other axis (consecutive centres >= 6 px
 *           apart there too), the same captions along that axis follow, since
 *           they are true as well (but for "three items", which states no
 *           axis): 9 captions.
 * The first caption is the canonical one; its axis is the describing axis.
 *
 * Files (saccade data scenes): DIR/images/<split>_<index:06>.png and
 * DIR/annotations.jsonl with one JSON object per scene, in index order:
 *  {"image": "images/test_000012.png", "split": "test", "index": 12,
 *   "width": 96, "height": 96,
 *   "items": [{"class": 7, "noun": "sneaker", "colour": "red",
 *              "box": [x0, y0, x1, y1], "source_index": 1234}, ...],
 *   "captions": ["a red sneaker to the left of a blue bag", ...]}
 * Boxes are tight around the item's visible pixels (alpha > 0.1), in pixels,
 * x1/y1 exclusive. source_index is the item's index in its Fashion-MNIST split. */
#ifndef SACCADE_SC_SCENES_H
#define SACCADE_SC_SCENES_H

#include <stdint.h>
#include "saccade/sc_datasets.h"
#include "saccade/sc_error.h"
#include "saccade/sc_image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_SCENES_MAX_ITEMS 3
#define SC_SCENES_MAX_CAPTIONS 9
#define SC_SCENES_CAPTION_CAP 192
#define SC_SCENES_NUM_COLOURS 8
#define SC_SCENES_BG_MAX 0.30f /* brightest background value, any channel */

typedef enum sc_scene_split { SC_SCENES_TRAIN = 0, SC_SCENES_TEST = 1 } sc_scene_split;

typedef struct sc_scenes_params {
    uint64_t seed;
    int size;                 /* canvas side, 48..1024 (default 96) */
    int min_items, max_items; /* 1 <= min <= max <= 3 (default 1, 3) */
    int item_min, item_max;   /* item side range; 0 = scaled from 24..40 at 96 */
    /* Sources (borrowed): train scenes need `train`, test scenes `test`. */
    const sc_fashion_mnist *train;
    const sc_fashion_mnist *test;
} sc_scenes_params;

typedef struct sc_scene_item {
    int cls;             /* Fashion-MNIST class 0..9 */
    int colour;          /* 0..7, see sc_scenes_colour_name */
    int box[4];          /* x0, y0, x1, y1 (exclusive), tight around the item */
    int cell[4];         /* the placement square, same convention */
    size_t source_index; /* index of the item in its split */
    int flipped;         /* mirrored left-right */
} sc_scene_item;

typedef struct sc_scene_info {
    sc_scene_split split;
    uint64_t index;
    int width, height;
    int n_items;
    sc_scene_item items[SC_SCENES_MAX_ITEMS];
    int n_captions;
    char captions[SC_SCENES_MAX_CAPTIONS][SC_SCENES_CAPTION_CAP]; /* [0] is canonical */
} sc_scene_info;

sc_scenes_params sc_scenes_default_params(void);

/* Generate scene `index` of `split` into img (allocated here, 3 x size x size;
 * the caller frees it with sc_image_free) and info. Fails with
 * SC_ERR_INVALID_ARG on bad parameters or a missing source split. */
sc_status sc_scenes_generate(const sc_scenes_params *p, sc_scene_split split, uint64_t index,
                             sc_image *img, sc_scene_info *info);

/* Names and colours. NULL / no-op outside the valid range. */
const char *sc_scenes_noun(int cls);
const char *sc_scenes_colour_name(int colour);
const char *sc_scenes_split_name(sc_scene_split split); /* "train", "test" */
/* Linear RGB in [0,1] of colour (0..7); returns 0 on success, -1 if out of range. */
int sc_scenes_colour_rgb(int colour, float rgb[3]);

/* Attention-grid cells of a box: over a grid x grid map of a width x height
 * image, mark (OR into cells, grid*grid bytes) the cells whose centres
 * ((j + 0.5) width / grid, (i + 0.5) height / grid) lie in box [x0, x1) x
 * [y0, y1) -- the cells the pointing games count as hits -- or, when no centre
 * does, the cell holding the box centre. Returns the number of cells marked. */
int sc_scenes_box_cells(const int box[4], int width, int height, int grid, uint8_t *cells);

/* The annotation line of a scene as compact JSON (malloc'd, caller free()s).
 * image_path is the relative path written into "image". */
char *sc_scenes_info_json(const sc_scene_info *info, const char *image_path);

/* Write scenes [0, n) of split into dir (created if missing, with dir/images):
 * PNGs and then dir/annotations.jsonl, atomically (on failure no annotation
 * file is left). Scenes are generated in parallel (OpenMP). */
sc_status sc_scenes_write(const sc_scenes_params *p, sc_scene_split split, uint64_t n,
                          const char *dir);

#ifdef __cplusplus
}
#endif
#endif
