/* saccade info: images, model files, system. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "saccade/sc_safetensors.h"

void cli_info_help(FILE *out) {
    fprintf(out, "usage: saccade info [--json] [--threads N] --system\n"
                 "       saccade info [--json] FILE...\n\n"
                 "--system   BLAS library and core in use, thread count, measured sgemm GFLOP/s\n"
                 "FILE       an image: format, size, channels, bit depth, EXIF orientation;\n"
                 "           a model (.safetensors): tensors (name, dtype, shape) and metadata\n"
                 "--json     one JSON object per line\n");
}

static int info_system(int json, int threads) {
    if (threads > 0 && sc_set_num_threads(threads)) return cli_fail(NULL);
    sc_blas_info bi;
    if (sc_blas_get_info(&bi)) return cli_fail("BLAS");
    double gflops = sc_blas_measure_gflops(1024, 3);
    if (json) {
        printf("{\"version\": ");
        cli_json_string(stdout, sc_version());
        printf(", \"blas_library\": ");
        cli_json_string(stdout, bi.library);
        printf(", \"blas_core\": ");
        cli_json_string(stdout, bi.core);
        printf(", \"cpu_best_core\": ");
        cli_json_string(stdout, bi.cpu_best);
        printf(", \"openblas_coretype\": ");
        cli_json_string(stdout, bi.coretype_env);
        printf(", \"autofixed\": %s, \"blas_threads\": %d, \"threads\": %d, "
               "\"omp_wait_policy\": ",
               bi.autofixed ? "true" : "false", bi.threads, sc_get_num_threads());
        cli_json_string(stdout, getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "");
        printf(", \"sgemm_gflops\": %.1f}\n", gflops);
    } else {
        printf("saccade         %s\n", sc_version());
        printf("BLAS library    %s\n", bi.library);
        printf("BLAS core       %s%s\n", bi.core,
               bi.autofixed ? "  (OPENBLAS_CORETYPE set by saccade from the CPU's features)" : "");
        printf("CPU best core   %s\n", bi.cpu_best[0] ? bi.cpu_best : "(no AVX)");
        printf("threads         %d (BLAS %d)\n", sc_get_num_threads(), bi.threads);
        printf("OpenMP waiting  %s\n",
               getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY") : "(libgomp default: spin)");
        printf("sgemm 1024^3    %.1f GFLOP/s\n", gflops);
    }
    return CLI_OK;
}

static const char *orientation_name(int o) {
    static const char *names[] = {
        "normal",     "normal",        "mirrored",    "rotated 180",   "mirrored vertically",
        "transposed", "rotated 90 cw", "transversed", "rotated 90 ccw"};
    return (o >= 1 && o <= 8) ? names[o] : "unknown";
}

static int info_image(const char *path, int json) {
    sc_image_info ii;
    if (sc_image_probe(path, &ii)) return cli_fail(NULL);
    if (json) {
        printf("{\"path\": ");
        cli_json_string(stdout, path);
        printf(", \"kind\": \"image\", \"format\": \"%s\", \"width\": %d, \"height\": %d, "
               "\"channels\": %d, \"bit_depth\": %d, \"orientation\": %d}\n",
               ii.format, ii.w, ii.h, ii.channels, ii.bit_depth, ii.orientation);
    } else {
        printf("%s: %s image, %d x %d, %d channel%s, %d-bit, orientation %d (%s)\n", path,
               ii.format, ii.w, ii.h, ii.channels, ii.channels == 1 ? "" : "s", ii.bit_depth,
               ii.orientation, orientation_name(ii.orientation));
    }
    return CLI_OK;
}

static int has_suffix(const char *s, const char *suf) {
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

static void print_shape(const sc_st_tensor_info *ti, int json) {
    fputs(json ? "[" : "[", stdout);
    for (int d = 0; d < ti->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)ti->shape[d]);
    fputs("]", stdout);
}

static int info_model(const char *path, int json) {
    sc_safetensors *st;
    if (sc_safetensors_open(path, &st)) return cli_fail(NULL);
    size_t n = sc_safetensors_count(st), nm = sc_safetensors_metadata_count(st);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info ti;
        if (!sc_safetensors_info(st, i, &ti)) total += ti.numel;
    }
    if (json) {
        printf("{\"path\": ");
        cli_json_string(stdout, path);
        printf(", \"kind\": \"safetensors\", \"tensors\": [");
    } else {
        printf("%s: safetensors, %zu tensors, %zu values\n", path, n, total);
    }
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info ti;
        if (sc_safetensors_info(st, i, &ti)) continue;
        if (json) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_string(stdout, ti.name);
            printf(", \"dtype\": \"%s\", \"shape\": ", ti.dtype);
            print_shape(&ti, 1);
            printf("}");
        } else {
            printf("  %-48s %-5s ", ti.name, ti.dtype);
            print_shape(&ti, 0);
            printf("\n");
        }
    }
    if (json)
        printf("], \"metadata\": {");
    else if (nm)
        printf("metadata:\n");
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        if (sc_safetensors_metadata_at(st, i, &k, &v)) continue;
        if (json) {
            printf("%s", i ? ", " : "");
            cli_json_string(stdout, k);
            printf(": ");
            cli_json_string(stdout, v);
        } else {
            /* Long values (vocabularies) are shown cut; --json gives them whole. */
            size_t len = strlen(v);
            printf("  %s: %.*s%s\n", k, (int)(len > 200 ? 200 : len), v, len > 200 ? " ..." : "");
        }
    }
    if (json) printf("}}\n");
    sc_safetensors_free(st);
    return CLI_OK;
}

int cli_info_main(int argc, char **argv) {
    int json = 0, sys = 0, threads = 0, nfiles = 0;
    char **files = calloc((size_t)argc, sizeof *files);
    if (!files) return CLI_FAIL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--system"))
            sys = 1;
        else if (!strcmp(argv[i], "--threads")) {
            if (i + 1 >= argc || !cli_parse_int(argv[++i], &threads) || threads < 1) {
                free(files);
                return cli_usage("info", "--threads needs a positive whole number");
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            free(files);
            return cli_usage("info", "unknown option '%s'", argv[i]);
        } else
            files[nfiles++] = argv[i];
    }
    int rc = CLI_OK;
    if (!sys && nfiles == 0)
        rc = cli_usage("info", "give --system or at least one FILE");
    else if (sys)
        rc = info_system(json, threads);
    /* Every file is described even if an earlier one failed; status 1 if any did. */
    for (int i = 0; rc != CLI_USAGE && i < nfiles; i++)
        if ((has_suffix(files[i], ".safetensors") ? info_model(files[i], json)
                                                  : info_image(files[i], json)) != CLI_OK)
            rc = CLI_FAIL;
    free(files);
    return rc;
}
