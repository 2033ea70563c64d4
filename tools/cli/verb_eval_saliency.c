/* saccade eval saliency: saliency-benchmark metrics of predicted maps against
 * fixation maps (and optionally continuous ground-truth density maps). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_maps_io.h"

void cli_eval_saliency_help(FILE *out) {
    fprintf(
        out,
        "usage: saccade eval saliency --pred MAP... --fixations FIX... [--density MAP...]\n"
        "                             [--json]\n"
        "       saccade eval saliency --pred-dir DIR --fixations-dir DIR\n"
        "                             [--density-dir DIR] [--json]\n\n"
        "Scores predicted saliency maps as the MIT saliency benchmark does: AUC-Judd\n"
        "and NSS against binary fixation maps, CC, SIM and KLD against ground-truth\n"
        "density maps (--density; without it, against the binary fixation maps).\n"
        "Maps are .npy arrays (2-D) or images (gray, or the mean of R, G, B; 8-bit\n"
        "values / 255, 16-bit / 65535). Fixation maps are binarised: value > 0.5 is a\n"
        "fixation. A prediction of another size is resized bilinearly to the\n"
        "fixation map's size; density maps must have the fixation map's size.\n"
        "--pred, --fixations, --density   lists paired by position (same length)\n"
        "--pred-dir, --fixations-dir (or --gt-dir), --density-dir   pair the maps in\n"
        "           the directories (not recursive; .npy and image files) by name: a\n"
        "           prediction NAME.EXT or NAME.anything.EXT (e.g. 'saccade saliency\n"
        "           --raw' output NAME.spectral-map.npy) goes with fixations NAME.EXT'\n"
        "--json     one JSON object per pair, then one with the means\n"
        "Output: one line per pair and the mean over pairs (over the pairs where a\n"
        "metric is defined: an empty fixation map or a constant map gives NaN/null).\n"
        "AUC-Judd is computed without random jitter (deterministic).\n"
        "Options take their value as '--opt value' or '--opt=value'.\n\n"
        "Examples:\n"
        "  saccade saliency assets/samples/chelsea.jpg -o chelsea-sal.png --raw pred.npy\n"
        "  saccade eval saliency --pred pred.npy --fixations assets/samples/chelsea-map.png\n"
        "  saccade eval saliency --pred pred.npy --fixations assets/samples/chelsea-map.png \\\n"
        "      --density assets/samples/chelsea-map.png --json\n\n");
    cli_eval_faithfulness_help(out);
}

enum { NMET = 5 };
static const char *const MET[NMET] = {"auc_judd", "nss", "cc", "sim", "kld"};

typedef struct list {
    char **v;
    int n;
} list;

static void list_free(list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_push(list *l, const char *s) {
    char **p = realloc(l->v, (size_t)(l->n + 1) * sizeof *p);
    if (!p) return -1;
    l->v = p;
    if (!(l->v[l->n] = strdup(s))) return -1;
    l->n++;
    return 0;
}

static int is_map_name(const char *n) {
    static const char *const ext[] = {".npy", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga",
                                      ".psd", ".hdr", ".pnm", ".ppm",  ".pgm", NULL};
    if (n[0] == '.') return 0;
    for (int i = 0; ext[i]; i++)
        if (cli_has_suffix(n, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted file names (not paths) of maps in dir. */
static int list_dir(const char *dir, list *out) {
    DIR *d = opendir(dir);
    if (!d) return sc_set_error(SC_ERR_IO, "%s: cannot open directory", dir), -1;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d)))
        if (is_map_name(e->d_name)) rc = list_push(out, e->d_name);
    closedir(d);
    if (rc) return sc_set_error(SC_ERR_NOMEM, "out of memory"), -1;
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return 0;
}

static size_t stem_len(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

/* Index in names of the map for prediction file pname: equal stem, else the
 * longest stem S with pname starting "S."; -1 if none. */
static int match(const list *names, const char *pname) {
    size_t pl = stem_len(pname);
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < names->n; i++) {
        size_t l = stem_len(names->v[i]);
        if (l > pl || strncmp(names->v[i], pname, l)) continue;
        if (l == pl) return i;
        if (pname[l] == '.' && l > best_len) best = i, best_len = l;
    }
    return best;
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t k = a;
    if (a && dir[a - 1] != '/') s[k++] = '/';
    memcpy(s + k, name, b + 1);
    return s;
}

/* Build pred/fix/dens path lists from directories. Unmatched predictions are
 * reported and counted in *failed. */
static int pair_dirs(const char *pd, const char *fd, const char *dd, list *pred, list *fix,
                     list *dens, int *failed) {
    list pn = {0}, fn = {0}, dn = {0};
    int rc = CLI_OK;
    if (list_dir(pd, &pn) || list_dir(fd, &fn) || (dd && list_dir(dd, &dn))) {
        rc = cli_fail(NULL);
        goto end;
    }
    for (int i = 0; i < pn.n; i++) {
        int f = match(&fn, pn.v[i]), g = dd ? match(&dn, pn.v[i]) : -1;
        char *pp = join(pd, pn.v[i]);
        if (!pp) {
            rc = CLI_FAIL;
            break;
        }
        if (f < 0 || (dd && g < 0)) {
            fprintf(stderr, "saccade: %s: no matching %s map in %s\n", pp,
                    f < 0 ? "fixation" : "density", f < 0 ? fd : dd);
            (*failed)++;
            free(pp);
            continue;
        }
        char *fp = join(fd, fn.v[f]), *gp = dd ? join(dd, dn.v[g]) : NULL;
        int bad = !fp || (dd && !gp) || list_push(pred, pp) || list_push(fix, fp) ||
                  (dd && list_push(dens, gp));
        free(pp);
        free(fp);
        free(gp);
        if (bad) {
            fprintf(stderr, "saccade: out of memory\n");
            rc = CLI_FAIL;
            break;
        }
    }
    if (!rc && pred->n == 0 && !*failed) {
        fprintf(stderr, "saccade: %s: no prediction maps found\n", pd);
        rc = CLI_FAIL;
    }
end:
    list_free(&pn);
    list_free(&fn);
    list_free(&dn);
    return rc;
}

/* Score one pair; 0 on success (sc_last_error otherwise, naming the file). */
static int score(const char *pp, const char *fp, const char *dp, double m[NMET]) {
    sc_map pred = {0}, fix = {0}, dens = {0}, tmp = {0};
    int bad = 1;
    if (sc_map_load(pp, &pred) || sc_map_load(fp, &fix)) goto done;
    if (dp && sc_map_load(dp, &dens)) goto done;
    size_t n = (size_t)fix.w * (size_t)fix.h;
    for (size_t i = 0; i < n; i++) fix.data[i] = fix.data[i] > 0.5f ? 1.0f : 0.0f;
    if (dp && (dens.w != fix.w || dens.h != fix.h)) {
        sc_set_error(SC_ERR_INVALID_ARG, "%s: density map is %dx%d but the fixation map is %dx%d",
                     dp, dens.w, dens.h, fix.w, fix.h);
        goto done;
    }
    if (pred.w != fix.w || pred.h != fix.h) {
        if (sc_map_resize_bilinear(&pred, fix.w, fix.h, &tmp)) goto done;
        sc_map_free(&pred);
        pred = tmp;
        tmp.data = NULL;
    }
    const sc_map *g = dp ? &dens : &fix;
    if (sc_saliency_auc_judd(&pred, &fix, 0, 0, &m[0]) || sc_saliency_nss(&pred, &fix, &m[1]) ||
        sc_saliency_cc(&pred, g, &m[2]) || sc_saliency_sim(&pred, g, &m[3]) ||
        sc_saliency_kld(&pred, g, &m[4]))
        goto done;
    bad = 0;
done:
    sc_map_free(&pred);
    sc_map_free(&fix);
    sc_map_free(&dens);
    sc_map_free(&tmp);
    return bad;
}

/* One JSON line: the pair's files and metrics (NaN -> null). */
static int print_pair_json(const char *pp, const char *fp, const char *dp, const double m[NMET]) {
    cJSON *o = cJSON_CreateObject();
    int bad =
        !o || !cJSON_AddStringToObject(o, "prediction", pp) ||
        !cJSON_AddStringToObject(o, "fixations", fp) ||
        !(dp ? cJSON_AddStringToObject(o, "density", dp) : cJSON_AddNullToObject(o, "density"));
    for (int k = 0; k < NMET && !bad; k++) bad = cli_json_add_g9(o, MET[k], m[k]);
    if (bad) {
        cJSON_Delete(o);
        o = NULL;
    }
    return cli_json_emit(stdout, o);
}

/* The last JSON line: mean metrics over the pairs where each is defined. */
static int print_mean_json(const double sum[NMET], const int cnt[NMET], int ok, int failed) {
    cJSON *o = cJSON_CreateObject(), *mean = o ? cJSON_AddObjectToObject(o, "mean") : NULL;
    int bad = !mean;
    for (int k = 0; k < NMET && !bad; k++)
        bad = cli_json_add_g9(mean, MET[k], cnt[k] ? sum[k] / cnt[k] : NAN);
    bad = bad || !cJSON_AddNumberToObject(o, "pairs", ok) ||
          !cJSON_AddNumberToObject(o, "failed", failed);
    if (bad) {
        cJSON_Delete(o);
        o = NULL;
    }
    return cli_json_emit(stdout, o);
}

/* The command line: lists (paired by position) or directories. */
typedef struct eval_args {
    const char **pred, **fix, **dens;
    int npred, nfix, ndens;
    const char *pd, *fd, *dd;
    int json;
} eval_args;

/* Parse and check the options; the pairs into pred/fix/dens (directories
 * paired here, unmatched predictions counted in *failed). */
static int eval_inputs(int argc, char **argv, eval_args *a, list *pred, list *fix, list *dens,
                       int *failed) {
    const char *V = "eval saliency";
    const cli_opt opts[] = {
        {"--pred", CLI_STRS, a->pred, 0, 0, "one or more files", &a->npred, argc},
        {"--fixations", CLI_STRS, a->fix, 0, 0, "one or more files", &a->nfix, argc},
        {"--density", CLI_STRS, a->dens, 0, 0, "one or more files", &a->ndens, argc},
        {"--pred-dir", CLI_STR, &a->pd, 0, 0, "a directory", NULL, 0},
        {"--fixations-dir|--gt-dir", CLI_STR, &a->fd, 0, 0, "a directory", NULL, 0},
        {"--density-dir", CLI_STR, &a->dd, 0, 0, "a directory", NULL, 0},
        {"--json", CLI_FLAG, &a->json, 0, 0, NULL, NULL, 0},
    };
    int rc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, NULL);
    if (rc) return rc;
    int lists = a->npred || a->nfix || a->ndens, dirs = a->pd || a->fd || a->dd;
    if (lists && dirs)
        return cli_usage(V, "give either --pred/--fixations lists or --pred-dir/--fixations-dir");
    if (dirs) {
        if (!a->pd || !a->fd)
            return cli_usage(V, "--pred-dir needs --fixations-dir and vice versa");
        return pair_dirs(a->pd, a->fd, a->dd, pred, fix, dens, failed);
    }
    if (!a->npred || !a->nfix)
        return cli_usage(V, "need --pred MAP... and --fixations FIX... (or the -dir forms)");
    if (a->npred != a->nfix || (a->ndens && a->ndens != a->npred))
        return cli_usage(V, "--pred has %d maps but --fixations has %d%s", a->npred, a->nfix,
                         a->ndens && a->ndens != a->npred ? " and --density a different number"
                                                          : "");
    for (int i = 0; i < a->npred; i++)
        if (list_push(pred, a->pred[i]) || list_push(fix, a->fix[i]) ||
            (a->ndens && list_push(dens, a->dens[i]))) {
            fprintf(stderr, "saccade: out of memory\n");
            return CLI_FAIL;
        }
    return CLI_OK;
}

int cli_eval_saliency_main(int argc, char **argv) {
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--faithfulness")) return cli_eval_faithfulness_main(argc, argv);
    list pred = {0}, fix = {0}, dens = {0};
    int failed = 0;
    eval_args a = {0};
    a.pred = calloc((size_t)argc, sizeof *a.pred);
    a.fix = calloc((size_t)argc, sizeof *a.fix);
    a.dens = calloc((size_t)argc, sizeof *a.dens);
    int rc = a.pred && a.fix && a.dens ? CLI_OK : CLI_FAIL;
    if (rc) fprintf(stderr, "saccade: out of memory\n");
    if (!rc) rc = eval_inputs(argc, argv, &a, &pred, &fix, &dens, &failed);
    if (rc) goto end;
    double sum[NMET] = {0};
    int cnt[NMET] = {0}, ok = 0;
    if (!a.json && pred.n)
        printf("%9s %9s %9s %9s %9s  %s\n", "auc_judd", "nss", "cc", "sim", "kld", "prediction");
    for (int i = 0; i < pred.n; i++) {
        double m[NMET];
        const char *dp = dens.n ? dens.v[i] : NULL;
        if (score(pred.v[i], fix.v[i], dp, m)) {
            cli_batch_report(NULL, pred.v[i]);
            failed++;
            continue;
        }
        ok++;
        for (int k = 0; k < NMET; k++)
            if (isfinite(m[k])) sum[k] += m[k], cnt[k]++;
        if (a.json) {
            if (print_pair_json(pred.v[i], fix.v[i], dp, m)) failed++;
        } else {
            for (int k = 0; k < NMET; k++) printf("%9.4f ", m[k]);
            printf(" %s\n", pred.v[i]);
        }
    }
    if (a.json) {
        if (print_mean_json(sum, cnt, ok, failed)) failed++;
    } else if (ok) {
        for (int k = 0; k < NMET; k++) printf("%9.4f ", cnt[k] ? sum[k] / cnt[k] : NAN);
        printf(" mean of %d pair%s%s\n", ok, ok == 1 ? "" : "s",
               failed ? " (some pairs failed)" : "");
    }
    rc = failed ? CLI_FAIL : CLI_OK;
end:
    free(a.pred);
    free(a.fix);
    free(a.dens);
    list_free(&pred);
    list_free(&fix);
    list_free(&dens);
    return rc;
}
