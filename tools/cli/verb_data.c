/* saccade data: dataset generators. "scenes": Fashion scenes (sc_scenes.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "saccade/sc_scenes.h"

void cli_data_help(FILE *out) {
    fprintf(out,
            "usage: saccade data scenes --n N --seed S --split train|test -o DIR\n"
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
            "--threads    worker threads (default: all cores)\n\n"
            "Examples:\n"
            "  saccade data scenes --n 100 --seed 1 --split test -o scenes-test\n"
            "  saccade data scenes --n 1000 --seed 7 --split train --size 128 --max-items 2 \\\n"
            "      -o scenes-train\n");
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

/* argv[0] is "scenes". */
static int data_scenes(int argc, char **argv) {
    sc_scenes_params p = sc_scenes_default_params();
    const char *out = NULL, *split_name = NULL, *data_dir = NULL, *seed = NULL;
    int n = 0, threads = 0;
    const cli_opt opts[] = {
        {"-o|--output", CLI_STR, &out, 0, 0, "a folder", NULL, 0},
        {"--n", CLI_INT, &n, 1, 100000000, NULL, NULL, 0},
        {"--seed", CLI_STR, &seed, 0, 0, "an unsigned integer", NULL, 0},
        {"--split", CLI_STR, &split_name, 0, 0, "train or test", NULL, 0},
        {"--size", CLI_INT, &p.size, 48, 1024, NULL, NULL, 0},
        {"--min-items", CLI_INT, &p.min_items, 1, 3, NULL, NULL, 0},
        {"--max-items", CLI_INT, &p.max_items, 1, 3, NULL, NULL, 0},
        {"--data-dir", CLI_STR, &data_dir, 0, 0, "a folder", NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
    };
    int prc =
        cli_parse_options("data", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (prc) return prc;
    if (seed && !parse_u64(seed, &p.seed))
        return cli_usage("data", "--seed needs an unsigned integer");
    if (split_name && strcmp(split_name, "train") && strcmp(split_name, "test"))
        return cli_usage("data", "--split must be train or test");
    int have_n = n > 0, have_seed = seed != NULL;
    if (!have_n) return cli_usage("data", "need --n N");
    if (!have_seed) return cli_usage("data", "need --seed S");
    if (!split_name) return cli_usage("data", "need --split train|test");
    if (!out) return cli_usage("data", "need -o DIR");
    if (p.min_items > p.max_items)
        return cli_usage("data", "--min-items (%d) is larger than --max-items (%d)", p.min_items,
                         p.max_items);
    if ((prc = cli_set_threads("data", threads))) return prc;

    sc_scene_split split = strcmp(split_name, "train") ? SC_SCENES_TEST : SC_SCENES_TRAIN;
    sc_fashion_mnist src;
    if (sc_fashion_mnist_load(split_name, data_dir, &src)) return cli_fail(NULL);
    if (split == SC_SCENES_TRAIN)
        p.train = &src;
    else
        p.test = &src;
    int rc = CLI_OK;
    if (sc_scenes_write(&p, split, (uint64_t)n, out))
        rc = cli_fail(NULL);
    else
        fprintf(stderr, "saccade data: wrote %d %s scenes to %s\n", n, split_name, out);
    sc_fashion_mnist_free(&src);
    return rc;
}

int cli_data_main(int argc, char **argv) {
    if (argc < 2) return cli_usage("data", "need a dataset name (scenes)");
    if (!strcmp(argv[1], "scenes")) return data_scenes(argc - 1, argv + 1);
    return cli_usage("data", "unknown dataset '%s' (known: scenes)", argv[1]);
}
