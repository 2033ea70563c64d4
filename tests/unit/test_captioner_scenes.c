/* Scene-caption vocabulary, caption parsing and the evaluation's per-slot
 * accuracy / relation / pointing-game scoring on hand-made captions. */
#include <math.h>
#include <string.h>
#include "saccade/sc_captioner_scenes.h"
#include "sc_test.h"

/* Two items: white coat (class 4, colour 6) on the left, blue coat on the right. */
static sc_scene_info two_items(void) {
    sc_scene_info s;
    memset(&s, 0, sizeof s);
    s.width = s.height = 96;
    s.n_items = 2;
    s.items[0] = (sc_scene_item){4, 2, {60, 32, 85, 70}, {0}, 0, 0}; /* blue coat, right */
    s.items[1] = (sc_scene_item){4, 6, {15, 57, 41, 90}, {0}, 0, 0}; /* white coat, left */
    s.n_captions = 4;
    strcpy(s.captions[0], "a white coat to the left of a blue coat");
    strcpy(s.captions[1], "a blue coat to the right of a white coat");
    strcpy(s.captions[2], "a white coat and a blue coat");
    strcpy(s.captions[3], "a white coat on the left and a blue coat on the right");
    return s;
}

static int split(char *buf, const char **w) {
    int n = 0;
    for (char *s = strtok(buf, " "); s; s = strtok(NULL, " ")) w[n++] = s;
    return n;
}

static sc_capscenes_counts score(const sc_scene_info *s, const char *caption, const float *al,
                                 int grid) {
    char buf[256];
    const char *w[64];
    strcpy(buf, caption);
    int n = split(buf, w);
    sc_capscenes_counts c;
    memset(&c, 0, sizeof c);
    SC_TEST_OK(sc_capscenes_score(s, w, n, al, grid, &c));
    return c;
}

static void test_parse(void **state) {
    (void)state;
    sc_capscenes_parse p;
    SC_TEST_OK(
        sc_capscenes_parse_caption("a pair of blue trousers to the right of an orange bag", &p));
    assert_int_equal(p.n, 2);
    assert_int_equal(p.cls[0], 1);
    assert_int_equal(p.colour[0], 2);
    assert_int_equal(p.cls[1], 8);
    assert_int_equal(p.colour[1], 7);
    assert_int_equal(p.word[0], 4); /* "trousers" */
    assert_int_equal(p.axis, 0);
    assert_int_equal(p.reversed, 1);
    SC_TEST_OK(sc_capscenes_parse_caption(
        "from bottom to top a red bag a green boot and a cyan dress", &p));
    assert_int_equal(p.n, 3);
    assert_int_equal(p.axis, 1);
    assert_int_equal(p.reversed, 1);
    SC_TEST_OK(sc_capscenes_parse_caption(
        "a red bag at the top a green boot in the middle and a cyan dress at the bottom", &p));
    assert_int_equal(p.axis, 1);
    assert_int_equal(p.reversed, 0);
    SC_TEST_OK(sc_capscenes_parse_caption("a red bag b c green t-shirt", &p));
    assert_int_equal(p.n, 2); /* "red bag", "green t-shirt"; "bag b c" is no mention */
    assert_int_equal(p.cls[0], 8);
    assert_int_equal(p.cls[1], 0);
    assert_int_equal(p.word[1], 6);
    assert_int_equal(p.axis, -1);
    SC_TEST_OK(sc_capscenes_parse_caption("three items a red bag a blue bag and a white bag", &p));
    assert_int_equal(p.n, 3);
    assert_int_equal(p.axis, -1);
    SC_TEST_OK(sc_capscenes_parse_caption("", &p));
    assert_int_equal(p.n, 0);
}

static void test_score(void **state) {
    (void)state;
    sc_scene_info s = two_items();
    /* any reference, in any template: exact, all slots right, relation right */
    for (int r = 0; r < 4; r++) {
        sc_capscenes_counts c = score(&s, s.captions[r], NULL, 0);
        assert_int_equal(c.exact, 1);
        assert_int_equal(c.count_ok, 1);
        assert_int_equal(c.slots, 2);
        assert_int_equal(c.colour_ok, 2);
        assert_int_equal(c.class_ok, 2);
        assert_int_equal(c.rel_scenes, 1);
        assert_int_equal(c.rel_ok, 1);
    }
    /* swapped order: relation wrong and both colour slots wrong */
    sc_capscenes_counts c = score(&s, "a blue coat to the left of a white coat", NULL, 0);
    assert_int_equal(c.exact, 0);
    assert_int_equal(c.colour_ok, 0);
    assert_int_equal(c.class_ok, 2);
    assert_int_equal(c.rel_ok, 0);
    /* wrong axis */
    c = score(&s, "a white coat above a blue coat", NULL, 0);
    assert_int_equal(c.colour_ok, 2);
    assert_int_equal(c.rel_ok, 0);
    /* one item wrong class, one missing */
    c = score(&s, "a white bag", NULL, 0);
    assert_int_equal(c.count_ok, 0);
    assert_int_equal(c.colour_ok, 1);
    assert_int_equal(c.class_ok, 0);
    assert_int_equal(c.rel_ok, 0);
}

/* Three items on a diagonal: red bag top-left, green boot in the middle, cyan
 * dress bottom-right, clearly ordered along both axes, with the generator's
 * references along x (canonical) and then along y. */
static sc_scene_info diagonal_three(int with_y_refs) {
    sc_scene_info s;
    memset(&s, 0, sizeof s);
    s.width = s.height = 96;
    s.n_items = 3;
    s.items[0] = (sc_scene_item){9, 1, {36, 30, 60, 58}, {0}, 0, 0}; /* green boot, middle */
    s.items[1] = (sc_scene_item){8, 0, {4, 2, 30, 26}, {0}, 0, 0};   /* red bag, top-left */
    s.items[2] = (sc_scene_item){3, 4, {66, 62, 92, 94}, {0}, 0, 0}; /* cyan dress, bottom-right */
    const char *x = "a red bag a green boot and a cyan dress from left to right";
    const char *y = "a red bag a green boot and a cyan dress from top to bottom";
    strcpy(s.captions[s.n_captions++], x);
    strcpy(s.captions[s.n_captions++], "three items a red bag a green boot and a cyan dress");
    if (with_y_refs) strcpy(s.captions[s.n_captions++], y);
    return s;
}

static void test_score_other_axis(void **state) {
    (void)state;
    /* Along y the order is the same here, so a y caption in that order is right
     * when the y references are there ... */
    sc_scene_info s = diagonal_three(1);
    sc_capscenes_counts c =
        score(&s, "from top to bottom a red bag a green boot and a cyan dress", NULL, 0);
    assert_int_equal(c.colour_ok, 3);
    assert_int_equal(c.class_ok, 3);
    assert_int_equal(c.rel_ok, 1);
    /* ... and a y caption in another order is still wrong (scored in y order). */
    c = score(&s, "a green boot a red bag and a cyan dress from top to bottom", NULL, 0);
    assert_int_equal(c.colour_ok, 1);
    assert_int_equal(c.rel_ok, 0);
    /* Without y references the axis is wrong. */
    s = diagonal_three(0);
    c = score(&s, "from top to bottom a red bag a green boot and a cyan dress", NULL, 0);
    assert_int_equal(c.colour_ok, 3);
    assert_int_equal(c.rel_ok, 0);
}

static void test_pointing(void **state) {
    (void)state;
    sc_scene_info s = two_items();
    const int G = 12, P = G * G; /* cells of 8 px, centres at 4, 12, ... */
    const char *cap = "a white coat to the left of a blue coat";
    float al[10 * 144];
    memset(al, 0, sizeof al);
    /* step 2 ("coat", white, box x 15..41, y 57..90): cell (8, 3) centre (28, 68) inside */
    al[2 * P + 8 * G + 3] = 1;
    /* step 9 ("coat", blue, box x 60..85 y 32..70): cell (1, 1) centre (12, 12) outside */
    al[9 * P + 1 * G + 1] = 1;
    /* colour steps: "white" (1) on the white coat, "blue" (8) on the white coat too */
    al[1 * P + 8 * G + 3] = 1;
    al[8 * P + 8 * G + 3] = 1;
    sc_capscenes_counts c = score(&s, cap, al, G);
    assert_int_equal(c.point_total, 2);
    assert_int_equal(c.point_hit, 1);
    assert_int_equal(c.point_colour_hit, 1);
    al[9 * P + 1 * G + 1] = 0;
    al[9 * P + 5 * G + 9] = 0.5f; /* centre (76, 44) inside the blue coat */
    c = score(&s, cap, al, G);
    assert_int_equal(c.point_hit, 2);
    /* a noun naming no item of the scene is not counted */
    c = score(&s, "a white bag", al, G);
    assert_int_equal(c.point_total, 0);
}

/* Attention targets for supervised attention: the colour and noun tokens of
 * each mention get the cells whose centres lie in the named item's box, the
 * same cells the pointing game counts as hits. */
static void test_attention_mask(void **state) {
    (void)state;
    sc_scene_info s = two_items();
    const int G = 12, P = G * G, T = 16;
    uint8_t mk[16 * 144];
    const char *cap = "a white coat to the left of a blue coat";
    SC_TEST_OK(sc_capscenes_attention_mask(&s, cap, G, mk, T));
    /* tokens: <start> a white coat to the left of a blue coat <end> */
    int count[16] = {0};
    for (int t = 0; t < T; t++)
        for (int p = 0; p < P; p++) count[t] += mk[t * P + p];
    for (int t = 0; t < T; t++) {
        int want = (t == 2 || t == 3) ? 3 * 4 : (t == 9 || t == 10) ? 4 * 5 : 0;
        assert_int_equal(count[t], want);
    }
    assert_int_equal(memcmp(mk + 2 * P, mk + 3 * P, P), 0);
    assert_int_equal(mk[3 * P + 7 * G + 2], 1);   /* centre (20, 60): white coat */
    assert_int_equal(mk[3 * P + 6 * G + 2], 0);   /* centre (20, 52): above its box */
    assert_int_equal(mk[10 * P + 4 * G + 7], 1);  /* centre (60, 36): blue coat */
    assert_int_equal(mk[10 * P + 8 * G + 10], 1); /* centre (84, 68) */
    assert_int_equal(mk[10 * P + 9 * G + 10], 0); /* centre (84, 76): below */
    /* every target cell is a pointing-game hit for its noun */
    float al[10 * 144];
    for (int p = 0; p < P; p++) {
        if (!mk[10 * P + p]) continue;
        memset(al, 0, sizeof al);
        al[2 * P + 8 * G + 3] = 1;
        al[9 * P + p] = 1;
        sc_capscenes_counts c = score(&s, cap, al, G);
        assert_int_equal(c.point_hit, 2);
    }
    /* a tiny box holding no cell centre: the cell of its centre */
    s.items[1].box[0] = 17, s.items[1].box[1] = 1, s.items[1].box[2] = 19, s.items[1].box[3] = 3;
    SC_TEST_OK(sc_capscenes_attention_mask(&s, cap, G, mk, T));
    for (int p = 0; p < P; p++) assert_int_equal(mk[3 * P + p], p == 2);
    /* a mention naming no item of the scene is not supervised; short buffers
     * keep what fits */
    SC_TEST_OK(sc_capscenes_attention_mask(&s, "a red bag above a blue coat", G, mk, 4));
    for (int i = 0; i < 4 * P; i++) assert_int_equal(mk[i], 0);
    assert_int_equal(sc_capscenes_attention_mask(&s, cap, 65, mk, T), SC_ERR_LIMIT);
    assert_int_equal(sc_capscenes_attention_mask(&s, cap, 0, mk, T), SC_ERR_INVALID_ARG);
}

static void test_vocab_covers_scenes(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_capscenes_vocab(&v));
    assert_int_equal(v.pad, 0);
    assert_true(v.n < 60);
    sc_fashion_mnist test;
    SC_TEST_OK(sc_fashion_mnist_load("test", SC_FASHION_MNIST_DEFAULT_DIR, &test));
    sc_scenes_params p = sc_scenes_default_params();
    p.test = &test;
    int32_t tok[40];
    sc_capscenes_counts c;
    memset(&c, 0, sizeof c);
    for (int i = 0; i < 150; i++) {
        sc_image img;
        sc_scene_info info;
        SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, (uint64_t)i, &img, &info));
        sc_image_free(&img);
        for (int r = 0; r < info.n_captions; r++) {
            int n = sc_capscenes_tokens(&v, info.captions[r], tok, 40);
            assert_true(n >= 4);
            assert_int_equal(tok[0], v.start);
            assert_int_equal(tok[n - 1], v.end);
            /* every reference is scored as fully right */
            const char *w[40];
            for (int t = 1; t < n - 1; t++) w[t - 1] = sc_vocab_word(&v, tok[t]);
            sc_capscenes_counts one;
            memset(&one, 0, sizeof one);
            SC_TEST_OK(sc_capscenes_score(&info, w, n - 2, NULL, 0, &one));
            assert_int_equal(one.exact, 1);
            assert_int_equal(one.colour_ok, info.n_items);
            assert_int_equal(one.class_ok, info.n_items);
            assert_int_equal(one.rel_ok, info.n_items >= 2);
        }
    }
    assert_int_equal(sc_capscenes_tokens(&v, "a purple bag", tok, 40), -1);
    assert_int_equal(sc_capscenes_tokens(&v, "a red bag", tok, 4), -1);
    sc_fashion_mnist_free(&test);
    sc_vocab_free(&v);
}

/* A training batch: every example is its scene (image normalised with
 * ImageNet mean/std, tokens of the chosen caption padded with <pad>, the
 * caption's attention targets, the items and their box cells). */
static void check_batch(const sc_capscenes_batch *b, const sc_scenes_params *p, const sc_vocab *v,
                        const int *idx, int n, const int *pick) {
    const sc_caption_batch *cb = &b->batch;
    assert_int_equal(cb->B, n);
    const int S = b->size, G = b->att_grid, P = G * G, PI = b->item_grid * b->item_grid;
    int maxlen = 2;
    for (int e = 0; e < n; e++) {
        sc_image img;
        sc_scene_info info;
        SC_TEST_OK(sc_scenes_generate(p, SC_SCENES_TRAIN, (uint64_t)idx[e], &img, &info));
        for (int i = 0; i < 3 * S * S; i++) {
            const int c = i / (S * S);
            const float want = (img.data[i] - SC_IMAGENET_MEAN[c]) / SC_IMAGENET_STD[c];
            assert_true(fabsf(b->images[(size_t)e * 3 * S * S + i] - want) < 1e-5f);
        }
        const char *cap = info.captions[pick ? pick[e] % info.n_captions : 0];
        int32_t tok[SC_CAPSCENES_MAX_TOKENS];
        const int len = sc_capscenes_tokens(v, cap, tok, SC_CAPSCENES_MAX_TOKENS);
        assert_int_equal(cb->lengths[e], len);
        if (len > maxlen) maxlen = len;
        uint8_t mask[SC_CAPSCENES_MAX_TOKENS * 64];
        SC_TEST_OK(sc_capscenes_attention_mask(&info, cap, G, mask, SC_CAPSCENES_MAX_TOKENS));
        for (int t = 0; t < cb->L; t++) {
            assert_int_equal(cb->captions[e * cb->L + t], t < len ? tok[t] : v->pad);
            assert_memory_equal(cb->att_mask + ((size_t)e * cb->L + t) * P, mask + t * P, P);
        }
        assert_int_equal(b->n_items[e], info.n_items);
        for (int k = 0; k < info.n_items; k++) {
            const int slot = e * SC_SCENES_MAX_ITEMS + k;
            assert_int_equal(b->item_class[slot], info.items[k].cls);
            assert_int_equal(b->item_colour[slot], info.items[k].colour);
            uint8_t cells[64];
            memset(cells, 0, sizeof cells);
            sc_scenes_box_cells(info.items[k].box, info.width, info.height, b->item_grid, cells);
            assert_memory_equal(b->item_cells + (size_t)slot * PI, cells, PI);
        }
        sc_image_free(&img);
    }
    assert_int_equal(cb->L, maxlen);
    assert_ptr_equal(cb->items, &b->items);
}

static void test_training_batch(void **state) {
    (void)state;
    sc_vocab v;
    SC_TEST_OK(sc_capscenes_vocab(&v));
    sc_fashion_mnist train;
    SC_TEST_OK(sc_fashion_mnist_load("train", SC_FASHION_MNIST_DEFAULT_DIR, &train));
    sc_scenes_params p = sc_scenes_default_params();
    p.train = &train;
    sc_capscenes_batch b;
    SC_TEST_OK(sc_capscenes_batch_init(&b, 5, p.size, 6, 4));
    const int idx[4] = {7, 0, 123, 42};
    SC_TEST_OK(sc_capscenes_batch_fill(&b, &p, SC_SCENES_TRAIN, &v, idx, 4, NULL));
    check_batch(&b, &p, &v, idx, 4, NULL);
    /* random references: the picks are drawn from rng in example order */
    sc_rng r1, r2;
    sc_rng_seed(&r1, 9);
    sc_rng_seed(&r2, 9);
    int pick[3];
    for (int e = 0; e < 3; e++) pick[e] = (int)sc_rng_below(&r2, 1 << 20);
    SC_TEST_OK(sc_capscenes_batch_fill(&b, &p, SC_SCENES_TRAIN, &v, idx + 1, 3, &r1));
    check_batch(&b, &p, &v, idx + 1, 3, pick);
    /* more scenes than the batch holds; a size the scenes do not have */
    assert_int_equal(sc_capscenes_batch_fill(&b, &p, SC_SCENES_TRAIN, &v, idx, 6, NULL),
                     SC_ERR_INVALID_ARG);
    sc_capscenes_batch_free(&b);
    SC_TEST_OK(sc_capscenes_batch_init(&b, 2, p.size + 8, 0, 0));
    assert_int_equal(sc_capscenes_batch_fill(&b, &p, SC_SCENES_TRAIN, &v, idx, 2, NULL),
                     SC_ERR_INVALID_ARG);
    sc_capscenes_batch_free(&b);
    assert_int_equal(sc_capscenes_batch_init(&b, 0, 96, 0, 0), SC_ERR_INVALID_ARG);
    sc_fashion_mnist_free(&train);
    sc_vocab_free(&v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_score),
        cmocka_unit_test(test_score_other_axis),
        cmocka_unit_test(test_pointing),
        cmocka_unit_test(test_attention_mask),
        cmocka_unit_test(test_vocab_covers_scenes),
        cmocka_unit_test(test_training_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
