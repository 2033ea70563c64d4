/* saccade: the captioner on Fashion scenes (sc_scenes.h) — vocabulary,
 * caption tokens, and the scene-aware evaluation (slot accuracy, pointing game).
 *
 * Vocabulary: "<pad>" "<unk>" "<start>" "<end>" then every word the scene
 * caption templates use (articles, relation words, the 8 colours, the 10
 * nouns), in a fixed order; captions are already lowercase words separated by
 * spaces, so tokens are the space-separated words.
 *
 * Parsing a caption (sc_capscenes_parse): an item mention is a colour word
 * immediately followed by a noun word ("a red sneaker", "a pair of blue
 * trousers", "a single red sneaker"), in caption order. The relation phrase
 * gives the axis and the direction of that order:
 *   "to the left of", "on the left", "left to right"   -> x, caption order = left to right
 *   "to the right of", "right to left"                  -> x, caption order reversed
 *   "above", "at the top", "top to bottom"              -> y, caption order = top to bottom
 *   "below", "bottom to top"                            -> y, caption order reversed
 *   otherwise ("A and B", "three items A B and C", one item) -> no axis, caption
 *   order taken as forward (the templates list items left->right / top->bottom).
 * "forward order" = mentions sorted left->right (x) or top->bottom (y).
 *
 * Scoring one scene against a generated caption (sc_capscenes_score): the
 * scene's true forward order is the parse of its canonical caption (captions[0],
 * which lists the items along the axis the generator chose) or, when the
 * generated caption states the other axis and a reference along that axis
 * exists (3 items clearly ordered along both axes), of that reference.
 *  - count_ok: as many mentions as items.
 *  - colour / class accuracy: per true item i (forward order), is mention i
 *    (forward order) of the generated caption the same colour / class; a missing
 *    mention counts as wrong (denominator: number of items).
 *  - relation accuracy (scenes with >= 2 items): the generated caption states
 *    the true axis or none, and in forward order each mention is closest to
 *    (same colour and class, else same class, else same colour as) the true
 *    item at its position, i.e. the items come in the right spatial order.
 *  - pointing game: for each generated noun step whose mention names an item of
 *    the scene (items of that class and colour; if none, of that class; else
 *    the noun is not counted), the argmax of that step's attention map (grid
 *    cell (i, j), centre ((j + 0.5) W / G, (i + 0.5) H / G) in pixels) must lie
 *    inside the box [x0, x1) x [y0, y1) of one of those items. point_colour_hit
 *    counts the same with the attention of the step that emitted the mention's
 *    colour word (the word before the noun), since a captioner may look at the
 *    item when it starts the phrase and name the class from memory. */
#ifndef SACCADE_SC_CAPTIONER_SCENES_H
#define SACCADE_SC_CAPTIONER_SCENES_H

#include <stdint.h>
#include "saccade/sc_captioner.h"
#include "saccade/sc_rng.h"
#include "saccade/sc_scenes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The scene-caption vocabulary described above. */
sc_status sc_capscenes_vocab(sc_vocab *out);

/* <start> w1 .. wn <end> of a caption into out (cap entries); returns the
 * length or -1 with an error when a word is not in the vocabulary or cap is
 * too small. */
int sc_capscenes_tokens(const sc_vocab *v, const char *caption, int32_t *out, int cap);

#define SC_CAPSCENES_MAX_MENTIONS 8
typedef struct sc_capscenes_parse {
    int n;                                 /* mentions (capped) */
    int colour[SC_CAPSCENES_MAX_MENTIONS]; /* 0..7, caption order */
    int cls[SC_CAPSCENES_MAX_MENTIONS];    /* 0..9 */
    int word[SC_CAPSCENES_MAX_MENTIONS];   /* index of the noun among the words */
    int axis;                              /* -1 none, 0 x, 1 y */
    int reversed;                          /* caption order is right->left / bottom->top */
} sc_capscenes_parse;

/* Parse a caption (space-separated words; at most 256 words). */
sc_status sc_capscenes_parse_caption(const char *caption, sc_capscenes_parse *out);
/* Same from a word list. */
void sc_capscenes_parse_words(const char *const *words, int n, sc_capscenes_parse *out);

typedef struct sc_capscenes_counts {
    long scenes, exact, count_ok;
    long slots, colour_ok, class_ok;
    long rel_scenes, rel_ok;
    long point_total, point_hit;
    long point_colour_hit; /* same nouns, attention at the step of their colour word */
} sc_capscenes_counts;

/* Add one scene: generated words (n, without <start>/<end>) and, optionally,
 * their attention maps alphas (n x grid*grid; NULL: no pointing game) to acc.
 * exact: the words joined by spaces equal one of the references. */
sc_status sc_capscenes_score(const sc_scene_info *info, const char *const *words, int n,
                             const float *alphas, int grid, sc_capscenes_counts *acc);

/* Attention targets for supervised attention (sc_caption_batch.att_mask):
 * for the tokens of `caption` as sc_capscenes_tokens lays them out (token 0 is
 * <start>, word i is token i + 1), mask (max_tokens x grid*grid, zeroed here)
 * gets, at the token of each mention's colour word and of its noun, the grid
 * cells whose centres lie in the box of the item the mention names (items of
 * that class and colour, all of them if several; the cell holding the box
 * centre when no cell centre falls inside). Other tokens stay all zero (not
 * supervised). Mentions naming no item of the scene are skipped. grid <= 64
 * (SC_ERR_LIMIT above). */
sc_status sc_capscenes_attention_mask(const sc_scene_info *info, const char *caption, int grid,
                                      uint8_t *mask, int max_tokens);

/* ================================================================ training batches
 * A batch of generated scenes for sc_captioner_loss, as `saccade train
 * captioner` feeds it: images ImageNet-normalised (3, S, S) (S = the scenes'
 * size, sc_scenes_params.size), each scene's caption (the canonical one, or
 * with rng a reference drawn per example) as tokens padded with <pad> to the
 * batch's longest, and when asked for, attention targets
 * (sc_capscenes_attention_mask, att_grid) and the items for the item heads
 * (class, colour, box cells on item_grid; sc_captioner_item_heads). Scenes are
 * generated in parallel. */
#define SC_CAPSCENES_MAX_TOKENS 40 /* caption tokens, <start> and <end> included */
typedef struct sc_capscenes_batch {
    int capacity, size, att_grid, item_grid;
    float *images;       /* (capacity, 3, size, size) */
    int32_t *captions;   /* (n, L) after a fill */
    int32_t *lengths;    /* (n) */
    uint8_t *att_mask;   /* (n, L, att_grid^2), NULL without att_grid */
    int *n_items;        /* (capacity) items per example (item_grid > 0) */
    int32_t *item_class; /* (capacity * SC_SCENES_MAX_ITEMS) */
    int32_t *item_colour;
    uint8_t *item_cells;    /* (capacity * SC_SCENES_MAX_ITEMS, item_grid^2) */
    sc_caption_items items; /* the item arrays, for batch.items */
    sc_caption_batch batch; /* after a fill: n, L, captions, lengths, att_mask, items */
    int32_t *tokens;        /* scratch (capacity, SC_CAPSCENES_MAX_TOKENS) */
    uint8_t *att_scratch;   /* scratch (capacity, SC_CAPSCENES_MAX_TOKENS, att_grid^2) */
} sc_capscenes_batch;

/* Buffers for up to capacity (1..4096) scenes of size x size pixels;
 * att_grid / item_grid 0 (off) or 1..64. */
sc_status sc_capscenes_batch_init(sc_capscenes_batch *b, int capacity, int size, int att_grid,
                                  int item_grid);
/* Generate scenes idx[0..n) of split with p (whose size must be b->size) and
 * fill the batch; rng NULL: the canonical captions, else one reference per
 * example drawn from rng (in example order). b->batch is then ready for
 * sc_captioner_loss. */
sc_status sc_capscenes_batch_fill(sc_capscenes_batch *b, const sc_scenes_params *p,
                                  sc_scene_split split, const sc_vocab *v, const int *idx, int n,
                                  sc_rng *rng);
void sc_capscenes_batch_free(sc_capscenes_batch *b);

#ifdef __cplusplus
}
#endif
#endif
