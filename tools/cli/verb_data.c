/* saccade data: dataset generators. "scenes": Fashion scenes (sc_scenes.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "saccade/sc_scenes.h"

void cli_data_help(FILE *out) {
    fprintf(out, "usage: saccade data scenes --n N --seed S --split train|test -o DIR\n"
                 "                           [--size 96] [--min-items 1] [--max-items 3]\n"
                 "                           [--data-dir FOLDER] [--threads T]\n\n"
                 "Generate Fashion scenes: dark textured canvases with 1 to 3 tinted\n"
                 "Fashion-MNIST items, their boxes and reference captions. Scene i depends\n"
                 "only on (seed, split, i); train scenes use Fashion-MNIST train items only,\n"
                 "test scenes test items only.\n"
                 "--n          number of scenes (indices 0..N-1), 1..100000000\n"
                 "--seed       unsigned 64-bit seed\n"
                 "--split      train or test\n"
                 "-o DIR       output folder: DIR/images/<split>_<index>.png and\n"
                 "             DIR/annotations.jsonl (one JSON object per scene, written\n"
                 "             atomically after all images)\n"
                 "--size       canvas side in pixels, 48..1024 (default 96)\n"
                 "--min-items, --max-items   items per scene, 1..3 (default 1 and 3)\n"
                 "--data-dir   Fashion-MNIST folder (default $" SC_FASHION_MNIST_ENV " or\n"
                 "             " SC_FASHION_MNIST_DEFAULT_DIR ")\n"
                 "--threads    worker threads (default: all cores)\n");
}

static int parse_u64(const char *s, uint64_t *out) {
    if (!s || !*s || *s == '-' || *s == '+') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno) return 0;
    *out = (uint64_t)v;
    return 1;
}

static int data_scenes(int argc, char **argv) {
    sc_scenes_params p = sc_scenes_default_params();
    const char *out = NULL, *split_name = NULL, *data_dir = NULL;
    uint64_t n = 0;
    int have_n = 0, have_seed = 0, threads = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!v) return cli_usage("data", "-o needs a folder");
            out = v, i++;
        } else if (!strcmp(a, "--n")) {
            if (!parse_u64(v, &n) || n < 1 || n > 100000000ULL)
                return cli_usage("data", "--n needs a count from 1 to 100000000");
            have_n = 1, i++;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_u64(v, &p.seed))
                return cli_usage("data", "--seed needs an unsigned integer");
            have_seed = 1, i++;
        } else if (!strcmp(a, "--split")) {
            if (!v || (strcmp(v, "train") && strcmp(v, "test")))
                return cli_usage("data", "--split must be train or test");
            split_name = v, i++;
        } else if (!strcmp(a, "--size")) {
            if (!cli_parse_int(v, &p.size) || p.size < 48 || p.size > 1024)
                return cli_usage("data", "--size needs a side from 48 to 1024");
            i++;
        } else if (!strcmp(a, "--min-items")) {
            if (!cli_parse_int(v, &p.min_items) || p.min_items < 1 || p.min_items > 3)
                return cli_usage("data", "--min-items needs 1, 2 or 3");
            i++;
        } else if (!strcmp(a, "--max-items")) {
            if (!cli_parse_int(v, &p.max_items) || p.max_items < 1 || p.max_items > 3)
                return cli_usage("data", "--max-items needs 1, 2 or 3");
            i++;
        } else if (!strcmp(a, "--data-dir")) {
            if (!v) return cli_usage("data", "--data-dir needs a folder");
            data_dir = v, i++;
        } else if (!strcmp(a, "--threads")) {
            if (!cli_parse_int(v, &threads) || threads < 1 || threads > 1024)
                return cli_usage("data", "--threads needs a count from 1 to 1024");
            i++;
        } else {
            return cli_usage("data", "unknown option '%s'", a);
        }
    }
    if (!have_n) return cli_usage("data", "need --n N");
    if (!have_seed) return cli_usage("data", "need --seed S");
    if (!split_name) return cli_usage("data", "need --split train|test");
    if (!out) return cli_usage("data", "need -o DIR");
    if (p.min_items > p.max_items)
        return cli_usage("data", "--min-items (%d) is larger than --max-items (%d)", p.min_items,
                         p.max_items);
    if (threads && sc_set_num_threads(threads)) return cli_fail(NULL);

    sc_scene_split split = strcmp(split_name, "train") ? SC_SCENES_TEST : SC_SCENES_TRAIN;
    sc_fashion_mnist src;
    if (sc_fashion_mnist_load(split_name, data_dir, &src)) return cli_fail(NULL);
    if (split == SC_SCENES_TRAIN)
        p.train = &src;
    else
        p.test = &src;
    int rc = CLI_OK;
    if (sc_scenes_write(&p, split, n, out))
        rc = cli_fail(NULL);
    else
        fprintf(stderr, "saccade data: wrote %llu %s scenes to %s\n", (unsigned long long)n,
                split_name, out);
    sc_fashion_mnist_free(&src);
    return rc;
}

int cli_data_main(int argc, char **argv) {
    if (argc < 2) return cli_usage("data", "need a dataset name (scenes)");
    if (!strcmp(argv[1], "scenes")) return data_scenes(argc, argv);
    return cli_usage("data", "unknown dataset '%s' (known: scenes)", argv[1]);
}
