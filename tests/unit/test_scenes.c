/* Fashion scenes: determinism, split separation, geometry, tints and
 * captions checked against the boxes (with an independent rule set here). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "sc_test.h"
#include "saccade/sc_caption_metrics.h"
#include "saccade/sc_scenes.h"

static sc_fashion_mnist g_test;

static int setup(void **state) {
    (void)state;
    sc_status s = sc_fashion_mnist_load("test", SC_FASHION_MNIST_DEFAULT_DIR, &g_test);
    if (s) fprintf(stderr, "cannot load Fashion-MNIST test split: %s\n", sc_last_error());
    return s ? -1 : 0;
}
static int teardown(void **state) {
    (void)state;
    sc_fashion_mnist_free(&g_test);
    return 0;
}

static sc_scenes_params test_params(uint64_t seed) {
    sc_scenes_params p = sc_scenes_default_params();
    p.seed = seed;
    p.test = &g_test;
    return p;
}

static int same_scene(const sc_image *a, const sc_scene_info *ia, const sc_image *b,
                      const sc_scene_info *ib) {
    return a->w == b->w && a->h == b->h && a->c == b->c &&
           !memcmp(a->data, b->data, (size_t)a->w * a->h * a->c * sizeof(float)) &&
           !memcmp(ia, ib, sizeof *ia);
}

static void test_determinism(void **state) {
    (void)state;
    sc_scenes_params p = test_params(7);
    sc_image a, b, c;
    sc_scene_info ia, ib, ic;
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 5, &a, &ia));
    /* Generating other scenes in between must not matter. */
    for (uint64_t i = 0; i < 5; i++) {
        SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, i, &c, &ic));
        assert_false(same_scene(&a, &ia, &c, &ic));
        sc_image_free(&c);
    }
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 5, &b, &ib));
    assert_true(same_scene(&a, &ia, &b, &ib));
    sc_image_free(&b);
    p.seed = 8; /* another seed gives another scene */
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 5, &b, &ib));
    assert_false(same_scene(&a, &ia, &b, &ib));
    assert_int_not_equal(memcmp(a.data, b.data, (size_t)96 * 96 * 3 * sizeof(float)), 0);
    sc_image_free(&b);
    sc_image_free(&a);
}

/* Fake splits: train items are full 28x28 squares, test items a 6x6 centre
 * blob. Test scenes must never show a square: the pixels near a placement
 * square's corner stay background. Train scenes (the control) do show them. */
static void test_split_separation(void **state) {
    (void)state;
    enum { NTR = 40, NTE = 30 };
    static uint8_t tr_img[NTR * 784], te_img[NTE * 784], tr_lab[NTR], te_lab[NTE];
    memset(tr_img, 255, sizeof tr_img);
    memset(te_img, 0, sizeof te_img);
    for (int i = 0; i < NTE; i++)
        for (int y = 11; y < 17; y++)
            for (int x = 11; x < 17; x++) te_img[i * 784 + y * 28 + x] = 255;
    for (int i = 0; i < NTR; i++) tr_lab[i] = (uint8_t)(i % 10);
    for (int i = 0; i < NTE; i++) te_lab[i] = (uint8_t)((i * 3) % 10);
    sc_fashion_mnist tr = {NTR, 28, 28, tr_img, tr_lab}, te = {NTE, 28, 28, te_img, te_lab};
    sc_scenes_params p = sc_scenes_default_params();
    p.seed = 3;
    p.train = &tr;
    p.test = &te;
    for (int split = 0; split < 2; split++)
        for (uint64_t i = 0; i < 40; i++) {
            sc_image img;
            sc_scene_info info;
            SC_TEST_OK(sc_scenes_generate(&p, (sc_scene_split)split, i, &img, &info));
            assert_int_equal(info.split, split);
            for (int k = 0; k < info.n_items; k++) {
                const sc_scene_item *it = &info.items[k];
                size_t nsrc = split == SC_SCENES_TEST ? NTE : NTR;
                const uint8_t *lab = split == SC_SCENES_TEST ? te_lab : tr_lab;
                assert_true(it->source_index < nsrc);
                assert_int_equal(it->cls, lab[it->source_index]);
                /* Pixel 2 px inside the square's top-left corner, max channel. */
                int x = it->cell[0] + 2, y = it->cell[1] + 2;
                float m = 0;
                for (int c = 0; c < 3; c++) {
                    float v = img.data[((size_t)c * 96 + y) * 96 + x];
                    m = v > m ? v : m;
                }
                if (split == SC_SCENES_TEST)
                    assert_true(m <= SC_SCENES_BG_MAX + 1e-6f);
                else
                    assert_true(m > 0.6f);
            }
            sc_image_free(&img);
        }
    /* A split that is not loaded is refused. */
    p.train = NULL;
    sc_image img;
    sc_scene_info info;
    assert_int_equal(sc_scenes_generate(&p, SC_SCENES_TRAIN, 0, &img, &info), SC_ERR_INVALID_ARG);
    assert_non_null(strstr(sc_last_error(), "train"));
    /* With the real test split: indices and classes come from it. */
    sc_scenes_params q = test_params(11);
    for (uint64_t i = 0; i < 50; i++) {
        SC_TEST_OK(sc_scenes_generate(&q, SC_SCENES_TEST, i, &img, &info));
        for (int k = 0; k < info.n_items; k++) {
            assert_true(info.items[k].source_index < g_test.n);
            assert_int_equal(info.items[k].cls, g_test.labels[info.items[k].source_index]);
        }
        sc_image_free(&img);
    }
}

static double cx(const sc_scene_item *it, int axis) {
    return 0.5 * (it->box[axis] + it->box[axis + 2]);
}

static void item_phrase(const sc_scene_item *it, char *out, size_t cap) {
    const char *col = sc_scenes_colour_name(it->colour);
    if (it->cls == 1)
        snprintf(out, cap, "a pair of %s trousers", col);
    else
        snprintf(out, cap, "%s %s %s", strcmp(col, "orange") ? "a" : "an", col,
                 sc_scenes_noun(it->cls));
}

/* Is caption a true statement about the scene? Enumerates every template
 * over every ordering of the items and decides truth from the box centres. */
static int caption_true(const sc_scene_info *info, const char *cap) {
    char P[3][64], buf[256];
    for (int i = 0; i < info->n_items; i++) item_phrase(&info->items[i], P[i], sizeof P[i]);
    const sc_scene_item *it = info->items;
    if (info->n_items == 1) {
        const char *rest = strchr(P[0], ' ') + 1;
        const char *fmts[] = {"%s", "%s on a dark background", "there is %s"};
        for (int f = 0; f < 3; f++) {
            snprintf(buf, sizeof buf, fmts[f], P[0]);
            if (!strcmp(buf, cap)) return 1;
        }
        snprintf(buf, sizeof buf, "a single %s in the picture", rest);
        return !strcmp(buf, cap);
    }
    if (info->n_items == 2) {
        for (int a = 0; a < 2; a++) {
            int b = 1 - a;
            double dx = cx(&it[b], 0) - cx(&it[a], 0), dy = cx(&it[b], 1) - cx(&it[a], 1);
            int left = dx > 0 && fabs(dx) > fabs(dy), above = dy > 0 && fabs(dy) > fabs(dx);
            snprintf(buf, sizeof buf, "%s and %s", P[a], P[b]);
            if (!strcmp(buf, cap)) return 1;
            snprintf(buf, sizeof buf, "%s to the left of %s", P[a], P[b]);
            if (!strcmp(buf, cap)) return left;
            snprintf(buf, sizeof buf, "%s to the right of %s", P[b], P[a]);
            if (!strcmp(buf, cap)) return left;
            snprintf(buf, sizeof buf, "%s on the left and %s on the right", P[a], P[b]);
            if (!strcmp(buf, cap)) return left;
            snprintf(buf, sizeof buf, "%s above %s", P[a], P[b]);
            if (!strcmp(buf, cap)) return above;
            snprintf(buf, sizeof buf, "%s below %s", P[b], P[a]);
            if (!strcmp(buf, cap)) return above;
            snprintf(buf, sizeof buf, "%s at the top and %s at the bottom", P[a], P[b]);
            if (!strcmp(buf, cap)) return above;
        }
        return 0;
    }
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int q = 0; q < 6; q++) {
        int a = perms[q][0], b = perms[q][1], c = perms[q][2];
        int lr = cx(&it[a], 0) < cx(&it[b], 0) && cx(&it[b], 0) < cx(&it[c], 0);
        int tb = cx(&it[a], 1) < cx(&it[b], 1) && cx(&it[b], 1) < cx(&it[c], 1);
        snprintf(buf, sizeof buf, "three items %s %s and %s", P[a], P[b], P[c]);
        if (!strcmp(buf, cap)) return 1;
        const char *fw[2] = {"from left to right", "from top to bottom"};
        const char *bw[2] = {"from right to left", "from bottom to top"};
        for (int ax = 0; ax < 2; ax++) {
            int ok = ax ? tb : lr;
            snprintf(buf, sizeof buf, "%s %s and %s %s", P[a], P[b], P[c], fw[ax]);
            if (!strcmp(buf, cap)) return ok;
            snprintf(buf, sizeof buf, "%s %s %s and %s", fw[ax], P[a], P[b], P[c]);
            if (!strcmp(buf, cap)) return ok;
            snprintf(buf, sizeof buf, "%s %s and %s %s", P[c], P[b], P[a], bw[ax]);
            if (!strcmp(buf, cap)) return ok;
        }
        snprintf(buf, sizeof buf, "%s on the left %s in the middle and %s on the right", P[a], P[b],
                 P[c]);
        if (!strcmp(buf, cap)) return lr;
        snprintf(buf, sizeof buf, "%s at the top %s in the middle and %s at the bottom", P[a], P[b],
                 P[c]);
        if (!strcmp(buf, cap)) return tb;
    }
    return 0;
}

/* Nearest palette colour of the mean of clearly-item pixels (max channel > 0.55,
 * above any background), compared after dividing by the max channel. */
static int dominant_colour(const sc_image *img, const int *box, int *npix) {
    size_t hw = (size_t)img->w * img->h;
    double sum[3] = {0};
    int n = 0;
    for (int y = box[1]; y < box[3]; y++)
        for (int x = box[0]; x < box[2]; x++) {
            size_t o = (size_t)y * img->w + x;
            float r = img->data[o], g = img->data[hw + o], b = img->data[2 * hw + o];
            float m = fmaxf(r, fmaxf(g, b));
            if (m > 0.55f) sum[0] += r, sum[1] += g, sum[2] += b, n++;
        }
    *npix = n;
    if (!n) return -1;
    double m = fmax(sum[0], fmax(sum[1], sum[2]));
    int best = -1;
    double bestd = 1e9;
    for (int c = 0; c < SC_SCENES_NUM_COLOURS; c++) {
        float rgb[3];
        sc_scenes_colour_rgb(c, rgb);
        float mm = fmaxf(rgb[0], fmaxf(rgb[1], rgb[2]));
        double d = 0;
        for (int k = 0; k < 3; k++) d += pow(sum[k] / m - rgb[k] / mm, 2);
        if (d < bestd) bestd = d, best = c;
    }
    return best;
}

static void test_geometry_tint_captions(void **state) {
    (void)state;
    sc_scenes_params p = test_params(2026);
    int counts[4] = {0}, colours_seen[8] = {0}, axis_v = 0, tint_checked = 0, both_axes = 0;
    for (uint64_t i = 0; i < 300; i++) {
        sc_image img;
        sc_scene_info info;
        SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, i, &img, &info));
        assert_int_equal(img.w, 96);
        assert_int_equal(img.h, 96);
        assert_int_equal(img.c, 3);
        assert_true(info.n_items >= 1 && info.n_items <= 3);
        counts[info.n_items]++;
        for (int k = 0; k < info.n_items; k++) {
            const sc_scene_item *it = &info.items[k];
            int side = it->cell[2] - it->cell[0];
            assert_true(side >= 24 && side <= 40);
            assert_int_equal(it->cell[3] - it->cell[1], side);
            assert_true(it->cell[0] >= 0 && it->cell[1] >= 0 && it->cell[2] <= 96 &&
                        it->cell[3] <= 96);
            assert_true(it->box[0] >= it->cell[0] && it->box[1] >= it->cell[1] &&
                        it->box[2] <= it->cell[2] && it->box[3] <= it->cell[3]);
            assert_true(it->box[0] < it->box[2] && it->box[1] < it->box[3]);
            for (int j = 0; j < k; j++) {
                const int *a = it->box, *b = info.items[j].box;
                int overlap = a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
                assert_false(overlap);
                a = it->cell, b = info.items[j].cell;
                assert_false(a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]);
            }
            int npix, dom = dominant_colour(&img, it->box, &npix);
            if (npix >= 8) {
                if (dom != it->colour)
                    fail_msg("scene %d item %d: named %s, pixels look %s", (int)i, k,
                             sc_scenes_colour_name(it->colour), sc_scenes_colour_name(dom));
                tint_checked++;
            }
            colours_seen[it->colour]++;
        }
        /* Background (outside every placement square) stays dark. */
        size_t hw = 96 * 96;
        for (int y = 0; y < 96; y++)
            for (int x = 0; x < 96; x++) {
                int inside = 0;
                for (int k = 0; k < info.n_items; k++) {
                    const int *c = info.items[k].cell;
                    inside |= x >= c[0] && x < c[2] && y >= c[1] && y < c[3];
                }
                if (inside) continue;
                for (int c = 0; c < 3; c++)
                    assert_true(img.data[c * hw + (size_t)y * 96 + x] <= SC_SCENES_BG_MAX);
            }
        /* Captions: 4-9, distinct, already tokenised, and all true. */
        assert_true(info.n_captions >= 4 && info.n_captions <= SC_SCENES_MAX_CAPTIONS);
        if (info.n_items == 3) {
            /* Both axes' captions exactly when both orders are clear (>= 6 px). */
            int clear[2];
            for (int a = 0; a < 2; a++) {
                double c3[3];
                for (int k = 0; k < 3; k++) c3[k] = cx(&info.items[k], a);
                for (int u = 0; u < 3; u++)
                    for (int v = u + 1; v < 3; v++)
                        if (c3[v] < c3[u]) {
                            double t = c3[u];
                            c3[u] = c3[v], c3[v] = t;
                        }
                clear[a] = c3[1] - c3[0] >= 6 && c3[2] - c3[1] >= 6;
            }
            int has_x = 0, has_y = 0;
            for (int c = 0; c < info.n_captions; c++) {
                has_x |= strstr(info.captions[c], "from left to right") != NULL;
                has_y |= strstr(info.captions[c], "from top to bottom") != NULL;
            }
            assert_int_equal(has_x, clear[0]);
            assert_int_equal(has_y, clear[1]);
            both_axes += has_x && has_y;
            /* 5 along the canonical axis, 4 more along the other one */
            assert_int_equal(info.n_captions, has_x && has_y ? 9 : 5);
        }
        for (int c = 0; c < info.n_captions; c++) {
            char tok[SC_SCENES_CAPTION_CAP];
            assert_true(sc_caption_tokenize(info.captions[c], tok, sizeof tok) > 0);
            assert_string_equal(tok, info.captions[c]);
            if (!caption_true(&info, info.captions[c]))
                fail_msg("scene %d: caption '%s' does not match the boxes", (int)i,
                         info.captions[c]);
            for (int d = 0; d < c; d++) assert_string_not_equal(info.captions[c], info.captions[d]);
            if (strstr(info.captions[c], "above") || strstr(info.captions[c], "top to bottom"))
                axis_v++;
        }
        sc_image_free(&img);
    }
    for (int n = 1; n <= 3; n++) assert_true(counts[n] > 50);
    for (int c = 0; c < 8; c++) assert_true(colours_seen[c] > 10);
    assert_true(axis_v > 10);
    assert_true(both_axes > 5);
    assert_true(tint_checked > 400);
}

/* Caption checker sanity: a swapped relation is rejected. */
static void test_caption_checker_rejects(void **state) {
    (void)state;
    sc_scenes_params p = test_params(5);
    p.min_items = p.max_items = 2;
    sc_image img;
    sc_scene_info info;
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 0, &img, &info));
    assert_true(caption_true(&info, info.captions[0]));
    char P[2][64], wrong[256];
    item_phrase(&info.items[0], P[0], sizeof P[0]);
    item_phrase(&info.items[1], P[1], sizeof P[1]);
    double dx = cx(&info.items[1], 0) - cx(&info.items[0], 0);
    double dy = cx(&info.items[1], 1) - cx(&info.items[0], 1);
    if (fabs(dx) > fabs(dy))
        snprintf(wrong, sizeof wrong, "%s to the left of %s", dx > 0 ? P[1] : P[0],
                 dx > 0 ? P[0] : P[1]);
    else
        snprintf(wrong, sizeof wrong, "%s above %s", dy > 0 ? P[1] : P[0], dy > 0 ? P[0] : P[1]);
    assert_false(caption_true(&info, wrong));
    sc_image_free(&img);
}

static void test_json_and_params(void **state) {
    (void)state;
    sc_scenes_params p = test_params(1);
    p.size = 128;
    sc_image img;
    sc_scene_info info;
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 12, &img, &info));
    assert_int_equal(img.w, 128);
    char *js = sc_scenes_info_json(&info, "images/test_000012.png");
    assert_non_null(js);
    cJSON *o = cJSON_Parse(js);
    assert_non_null(o);
    assert_string_equal(cJSON_GetObjectItem(o, "image")->valuestring, "images/test_000012.png");
    assert_string_equal(cJSON_GetObjectItem(o, "split")->valuestring, "test");
    assert_int_equal(cJSON_GetObjectItem(o, "index")->valueint, 12);
    assert_int_equal(cJSON_GetObjectItem(o, "width")->valueint, 128);
    cJSON *items = cJSON_GetObjectItem(o, "items");
    assert_int_equal(cJSON_GetArraySize(items), info.n_items);
    for (int k = 0; k < info.n_items; k++) {
        cJSON *it = cJSON_GetArrayItem(items, k);
        assert_int_equal(cJSON_GetObjectItem(it, "class")->valueint, info.items[k].cls);
        assert_string_equal(cJSON_GetObjectItem(it, "noun")->valuestring,
                            sc_scenes_noun(info.items[k].cls));
        assert_string_equal(cJSON_GetObjectItem(it, "colour")->valuestring,
                            sc_scenes_colour_name(info.items[k].colour));
        for (int j = 0; j < 4; j++)
            assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(it, "box"), j)->valueint,
                             info.items[k].box[j]);
        /* Boxes scale with the canvas: 32..53 px items at 128. */
        int side = info.items[k].cell[2] - info.items[k].cell[0];
        assert_true(side >= 32 && side <= 53);
    }
    cJSON *caps = cJSON_GetObjectItem(o, "captions");
    assert_int_equal(cJSON_GetArraySize(caps), info.n_captions);
    assert_string_equal(cJSON_GetArrayItem(caps, 0)->valuestring, info.captions[0]);
    cJSON_Delete(o);
    free(js);
    sc_image_free(&img);

    sc_scenes_params bad = test_params(1);
    bad.size = 20;
    assert_int_equal(sc_scenes_generate(&bad, SC_SCENES_TEST, 0, &img, &info), SC_ERR_INVALID_ARG);
    bad = test_params(1);
    bad.min_items = 3, bad.max_items = 2;
    assert_int_equal(sc_scenes_generate(&bad, SC_SCENES_TEST, 0, &img, &info), SC_ERR_INVALID_ARG);
    bad.min_items = 1, bad.max_items = 4;
    assert_int_equal(sc_scenes_generate(&bad, SC_SCENES_TEST, 0, &img, &info), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_scenes_generate(NULL, SC_SCENES_TEST, 0, &img, &info), SC_ERR_INVALID_ARG);
    assert_int_equal(sc_scenes_generate(&p, (sc_scene_split)7, 0, &img, &info), SC_ERR_INVALID_ARG);
    assert_null(sc_scenes_noun(10));
    assert_null(sc_scenes_colour_name(8));
}

/* Small canvases and the 3-item maximum still place every scene. */
static void test_placement_never_fails(void **state) {
    (void)state;
    sc_scenes_params p = test_params(99);
    p.min_items = p.max_items = 3;
    for (int size = 64; size <= 96; size += 32)
        for (uint64_t i = 0; i < 200; i++) {
            p.size = size;
            sc_image img;
            sc_scene_info info;
            SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, i, &img, &info));
            assert_int_equal(info.n_items, 3);
            sc_image_free(&img);
        }
}

static void test_write_folder(void **state) {
    (void)state;
    char *dir = sc_test_tmpdir("scenes_write");
    sc_scenes_params p = test_params(4);
    char *out = sc_test_join(dir, "set");
    SC_TEST_OK(sc_scenes_write(&p, SC_SCENES_TEST, 7, out));
    char *ann = sc_test_join(out, "annotations.jsonl");
    unsigned char *buf;
    size_t len;
    SC_TEST_OK(sc_read_file(ann, 1 << 20, &buf, &len));
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    assert_int_equal(lines, 7);
    free(buf);
    /* The PNG round-trips to the generated pixels (8-bit). */
    char *png = sc_test_join(out, "images/test_000006.png");
    sc_image a, b;
    sc_scene_info info;
    sc_image_load_params lp = sc_image_load_default_params();
    SC_TEST_OK(sc_image_load(png, &lp, &a, NULL));
    SC_TEST_OK(sc_scenes_generate(&p, SC_SCENES_TEST, 6, &b, &info));
    sc_test_assert_close("png vs generated", a.data, b.data, (size_t)96 * 96 * 3, 0,
                         0.5 / 255 + 1e-6);
    sc_image_free(&a);
    sc_image_free(&b);
    /* A folder that cannot be created: a regular file in the way. */
    char *blocker = sc_test_join(dir, "file");
    SC_TEST_OK(sc_write_file_atomic(blocker, "x", 1));
    char *bad = sc_test_join(blocker, "sub");
    assert_int_equal(sc_scenes_write(&p, SC_SCENES_TEST, 3, bad), SC_ERR_IO);
    assert_non_null(strstr(sc_last_error(), "file"));
    free(bad);
    free(blocker);
    free(png);
    free(ann);
    free(out);
    sc_test_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_split_separation),
        cmocka_unit_test(test_geometry_tint_captions),
        cmocka_unit_test(test_caption_checker_rejects),
        cmocka_unit_test(test_json_and_params),
        cmocka_unit_test(test_placement_never_fails),
        cmocka_unit_test(test_write_folder),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
