/* The caption gallery at scale (sc_gallery_*): real captions and attention
 * maps of the sample scenes (from `saccade caption --json-attention`, run
 * once) fed to the gallery writer 2,000 times under distinct names, so no
 * test captions thousands of images. Asserts the page count, the search
 * index, the links, and the size budget of 60 KB per image at the default
 * settings. With arguments (`test_gallery_scale DIR N`) it only writes such
 * a gallery of N images to DIR, for tests/cli/test_gallery.sh to open in a
 * browser. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "sc_test.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_util.h"

typedef struct capt {
    sc_image img;
    char *path, *caption;
    char **words;
    float *lp, *alphas; /* [n], [n, grid, grid] */
    int n, grid;
    double score;
} capt;

enum { MAX_CAPT = 16 };

static float num(const cJSON *a, int i) {
    return (float)cJSON_GetNumberValue(cJSON_GetArrayItem(a, i));
}

/* One --json-attention line into c; 0 on success. */
static int parse_line(const char *line, capt *c) {
    cJSON *o = cJSON_Parse(line);
    if (!o) return -1;
    const cJSON *w = cJSON_GetObjectItem(o, "words"), *lp = cJSON_GetObjectItem(o, "logprobs"),
                *att = cJSON_GetObjectItem(o, "attention");
    c->path = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(o, "path")));
    c->caption = strdup(cJSON_GetStringValue(cJSON_GetObjectItem(o, "caption")));
    c->score = cJSON_GetNumberValue(cJSON_GetObjectItem(o, "score"));
    c->n = cJSON_GetArraySize(w);
    c->grid = cJSON_GetArraySize(cJSON_GetArrayItem(att, 0));
    c->words = calloc((size_t)c->n, sizeof *c->words);
    c->lp = calloc((size_t)c->n, sizeof *c->lp);
    c->alphas = calloc((size_t)c->n * c->grid * c->grid, sizeof *c->alphas);
    for (int t = 0; t < c->n; t++) {
        c->words[t] = strdup(cJSON_GetStringValue(cJSON_GetArrayItem(w, t)));
        c->lp[t] = num(lp, t);
        const cJSON *rows = cJSON_GetArrayItem(att, t);
        for (int y = 0; y < c->grid; y++)
            for (int x = 0; x < c->grid; x++)
                c->alphas[((size_t)t * c->grid + y) * c->grid + x] =
                    num(cJSON_GetArrayItem(rows, y), x);
    }
    cJSON_Delete(o);
    return sc_image_load(c->path, NULL, &c->img, NULL) == SC_OK ? 0 : -1;
}

/* Caption the sample scenes with the CLI: returns how many (0 on failure). */
static int sample_captions(capt *c) {
    const char *cli = getenv("SACCADE_CLI"), *assets = getenv("SACCADE_ASSETS");
    if (!cli || !assets) return 0;
    size_t len = strlen(cli) + strlen(assets) + 128;
    char *cmd = malloc(len);
    snprintf(cmd, len, "'%s' caption --beam 3 --json-attention '%s/samples/scenes/images'", cli,
             assets);
    FILE *p = popen(cmd, "r");
    free(cmd);
    if (!p) return 0;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, p) > 0 && n < MAX_CAPT)
        if (!parse_line(line, &c[n])) n++;
    free(line);
    return pclose(p) == 0 ? n : 0;
}

static void capt_free(capt *c) {
    sc_image_free(&c->img);
    for (int t = 0; t < c->n; t++) free(c->words[t]);
    free(c->words);
    free(c->lp);
    free(c->alphas);
    free(c->path);
    free(c->caption);
}

/* N entries named scene-<k> labelled shard-<k / 100>/<sample path>, cycling
 * through the captions. */
static sc_status write_gallery(const char *dir, int n, const capt *c, int nc) {
    sc_gallery_params gp = sc_gallery_default_params();
    gp.subtitle = "the sample scenes, many times over";
    sc_gallery *g = NULL;
    sc_status s = sc_gallery_open(dir, &gp, &g);
    for (int k = 0; !s && k < n; k++) {
        const capt *e = &c[k % nc];
        char name[32], label[4096];
        snprintf(name, sizeof name, "scene-%05d", k);
        snprintf(label, sizeof label, "shard-%03d/%s", k / 100, e->path);
        sc_gallery_item it = {.name = name,
                              .label = label,
                              .caption = e->caption,
                              .words = (const char *const *)e->words,
                              .logprobs = e->lp,
                              .n = e->n,
                              .score = e->score,
                              .alphas = e->alphas,
                              .grid = e->grid};
        s = sc_gallery_add(g, &e->img, &it);
    }
    if (!s) s = sc_gallery_add_failure(g, "shard-000/broken.png", "truncated or corrupt png data");
    if (!s) return sc_gallery_close(g);
    sc_gallery_free(g);
    return s;
}

/* Bytes of the regular files under dir (recursively), and their count. */
static void tree_size(const char *dir, long long *bytes, int *files) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = sc_test_join(dir, e->d_name);
        struct stat st;
        assert_int_equal(stat(p, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            tree_size(p, bytes, files);
        } else {
            *bytes += st.st_size;
            ++*files;
        }
        free(p);
    }
    closedir(d);
}

static int count(const char *hay, const char *needle) {
    int k = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) k++;
    return k;
}

static void test_two_thousand(void **state) {
    (void)state;
    enum { N = 2000 };
    capt c[MAX_CAPT];
    memset(c, 0, sizeof c);
    int nc = sample_captions(c);
    assert_true(nc >= 5);
    char *tmp = sc_test_tmpdir("galscale");
    char *dir = sc_test_join(tmp, "gal");
    assert_int_equal(write_gallery(dir, N, c, nc), SC_OK);

    long long bytes = 0;
    int files = 0;
    tree_size(dir, &bytes, &files);
    /* per image: thumbnail and own page (its maps inside); plus 20 listing
     * pages, the failed list, search index, style, script, marker */
    assert_int_equal(files, 2 * N + 20 + 5);
    print_message("gallery of %d images: %.1f KB per image\n", N, bytes / 1024.0 / N);
    assert_true(bytes <= (long long)N * 60 * 1024);

    char *page = NULL, *p = sc_test_join(dir, "page-20.html");
    size_t len;
    assert_int_equal(sc_read_file(p, 1 << 24, (unsigned char **)&page, &len), SC_OK);
    assert_int_equal(count(page, "class=\"card\""), 100);
    assert_non_null(strstr(page, "href=\"items/scene-01999.html\""));
    assert_non_null(strstr(page, "<span class=\"cur\">20</span>"));
    assert_null(strstr(page, "rel=\"next\""));
    free(page);
    free(p);
    p = sc_test_join(dir, "search.js");
    assert_int_equal(sc_read_file(p, 1 << 24, (unsigned char **)&page, &len), SC_OK);
    assert_int_equal(count(page, "[\"scene-"), N);
    free(page);
    free(p);
    p = sc_test_join(dir, "items/scene-01000.html");
    assert_int_equal(sc_read_file(p, 1 << 24, (unsigned char **)&page, &len), SC_OK);
    assert_int_equal(count(page, "class=\"map\""), c[1000 % nc].n);
    assert_non_null(strstr(page, "href=\"../page-11.html#e1001\""));
    assert_non_null(strstr(page, "rel=\"next\" href=\"scene-01001.html\""));
    free(page);
    free(p);

    for (int i = 0; i < nc; i++) capt_free(&c[i]);
    sc_test_rmtree(tmp);
    free(dir);
    free(tmp);
}

int main(int argc, char **argv) {
    /* idle OpenMP threads wait passively, as in the CLI */
    sc_process_setup(argv);
    if (argc == 3) { /* test_gallery_scale DIR N: write only */
        capt c[MAX_CAPT];
        memset(c, 0, sizeof c);
        int nc = sample_captions(c), n = atoi(argv[2]);
        sc_status s = nc > 0 && n > 0 ? write_gallery(argv[1], n, c, nc) : SC_ERR_INVALID_ARG;
        for (int i = 0; i < nc; i++) capt_free(&c[i]);
        if (s) fprintf(stderr, "test_gallery_scale: %s\n", nc ? sc_last_error() : "no captions");
        return s != SC_OK;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_thousand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
