/* saccade info: images, model files, system. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "cli.h"
#include "saccade/sc_blas.h"
#include "saccade/sc_safetensors.h"

void cli_info_help(FILE *out) {
    fprintf(out, "usage: saccade info [--json] [--threads N] --system\n"
                 "       saccade info [--json] FILE...\n\n"
                 "--system   BLAS library and core in use, thread count, measured sgemm GFLOP/s\n"
                 "FILE       an image: format, size, channels, bit depth, EXIF orientation;\n"
                 "           a model (.safetensors): tensors (name, dtype, shape) and metadata\n"
                 "           Images are decoded whole, with the checks and limits every verb\n"
                 "           applies (64 Mi pixels, 1 GiB), so a damaged file (truncated, a\n"
                 "           PNG that fails its CRC or inflates past its size, ...) is reported\n"
                 "           with its reason: 'saccade: FILE: reason' on stderr (with --json\n"
                 "           also {\"path\": FILE, \"error\": reason} on stdout). Every FILE is\n"
                 "           described; exit status 1 if any is damaged or unreadable.\n"
                 "--json     one JSON object per line\n"
                 "--threads  threads for --system's measurement (default: all cores)\n\n"
                 "Examples:\n"
                 "  saccade info assets/samples/chelsea.jpg assets/samples/chelsea-map.png\n"
                 "  saccade info assets/models/fashion-stn.safetensors\n"
                 "  saccade info --json assets/models/scenes-captioner.safetensors\n"
                 "  saccade info --system --threads 1\n");
}

static int info_system(int json, int threads) {
    int rc = cli_set_threads("info", threads);
    if (rc) return rc;
    sc_blas_info bi;
    if (sc_blas_get_info(&bi)) return cli_fail("BLAS");
    double gflops = sc_blas_measure_gflops(1024, 3);
    if (json) {
        const char *wait = getenv("OMP_WAIT_POLICY");
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "version", sc_version()) ||
            !cJSON_AddStringToObject(o, "blas_library", bi.library) ||
            !cJSON_AddStringToObject(o, "blas_core", bi.core) ||
            !cJSON_AddStringToObject(o, "cpu_best_core", bi.cpu_best) ||
            !cJSON_AddStringToObject(o, "openblas_coretype", bi.coretype_env) ||
            !cJSON_AddBoolToObject(o, "autofixed", bi.autofixed) ||
            !cJSON_AddNumberToObject(o, "blas_threads", bi.threads) ||
            !cJSON_AddNumberToObject(o, "threads", sc_get_num_threads()) ||
            !cJSON_AddStringToObject(o, "omp_wait_policy", wait ? wait : "") ||
            !cJSON_AddStringToObject(o, "gemm_kernel", sc_gemm_packed_kernel()) ||
            !cli_json_add_fixed(o, "sgemm_gflops", gflops, 1)) {
            cJSON_Delete(o);
            o = NULL;
        }
        return cli_json_emit(stdout, o);
    } else {
        printf("saccade         %s\n", sc_version());
        printf("BLAS library    %s\n", bi.library);
        printf("BLAS core       %s%s\n", bi.core,
               bi.autofixed ? "  (OPENBLAS_CORETYPE set by saccade from the CPU's features)" : "");
        printf("CPU best core   %s\n", bi.cpu_best[0] ? bi.cpu_best : "(no AVX)");
        printf("packed GEMM     %s\n", sc_gemm_packed_kernel());
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

/* A file that could not be read or decoded: the reason on stderr and, for
 * --json, as a line of its own so that every FILE has one. */
static int info_failed(const char *path, int json) {
    if (json) {
        const char *why = sc_last_error();
        size_t n = strlen(path);
        if (!strncmp(why, path, n) && !strncmp(why + n, ": ", 2)) why += n + 2; /* path is there */
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "path", path) ||
            !cJSON_AddStringToObject(o, "error", why)) {
            cJSON_Delete(o);
            o = NULL;
        }
        char *line = cli_json_print(o);
        if (line) fputs(line, stdout);
        free(line);
    }
    return cli_fail(NULL);
}

static int info_image(const char *path, int json) {
    sc_image_info ii;
    sc_image img;
    /* Decoded, not only probed: a header can be whole in a file whose data is not. */
    if (sc_image_load(path, NULL, &img, &ii)) return info_failed(path, json);
    sc_image_free(&img);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "path", path) ||
            !cJSON_AddStringToObject(o, "kind", "image") ||
            !cJSON_AddStringToObject(o, "format", ii.format) ||
            !cJSON_AddNumberToObject(o, "width", ii.w) ||
            !cJSON_AddNumberToObject(o, "height", ii.h) ||
            !cJSON_AddNumberToObject(o, "channels", ii.channels) ||
            !cJSON_AddNumberToObject(o, "bit_depth", ii.bit_depth) ||
            !cJSON_AddNumberToObject(o, "orientation", ii.orientation)) {
            cJSON_Delete(o);
            o = NULL;
        }
        return cli_json_emit(stdout, o);
    } else {
        printf("%s: %s image, %d x %d, %d channel%s, %d-bit, orientation %d (%s)\n", path,
               ii.format, ii.w, ii.h, ii.channels, ii.channels == 1 ? "" : "s", ii.bit_depth,
               ii.orientation, orientation_name(ii.orientation));
    }
    return CLI_OK;
}

/* The file's tensors and metadata as one JSON object (NULL on no memory). */
static cJSON *model_json(const sc_safetensors *st, const char *path) {
    cJSON *o = cJSON_CreateObject(), *tensors = NULL, *meta = NULL;
    int bad = !o || !cJSON_AddStringToObject(o, "path", path) ||
              !cJSON_AddStringToObject(o, "kind", "safetensors") ||
              !(tensors = cJSON_AddArrayToObject(o, "tensors")) ||
              !(meta = cJSON_AddObjectToObject(o, "metadata"));
    for (size_t i = 0; !bad && i < sc_safetensors_count(st); i++) {
        sc_st_tensor_info ti;
        if (sc_safetensors_info(st, i, &ti)) continue;
        cJSON *t = cJSON_CreateObject(), *shape = NULL;
        bad = !t || !cJSON_AddStringToObject(t, "name", ti.name) ||
              !cJSON_AddStringToObject(t, "dtype", ti.dtype) ||
              !(shape = cJSON_AddArrayToObject(t, "shape"));
        for (int d = 0; !bad && d < ti.ndim; d++) {
            cJSON *x = cJSON_CreateNumber((double)ti.shape[d]);
            bad = !x || !cJSON_AddItemToArray(shape, x);
            if (bad) cJSON_Delete(x);
        }
        if (bad || !cJSON_AddItemToArray(tensors, t)) {
            cJSON_Delete(t);
            bad = 1;
        }
    }
    for (size_t i = 0; !bad && i < sc_safetensors_metadata_count(st); i++) {
        const char *k, *v;
        if (sc_safetensors_metadata_at(st, i, &k, &v)) continue;
        bad = !cJSON_AddStringToObject(meta, k, v);
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void print_model_text(const sc_safetensors *st, const char *path) {
    size_t n = sc_safetensors_count(st), nm = sc_safetensors_metadata_count(st), total = 0;
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info ti;
        if (!sc_safetensors_info(st, i, &ti)) total += ti.numel;
    }
    printf("%s: safetensors, %zu tensors, %zu values\n", path, n, total);
    for (size_t i = 0; i < n; i++) {
        sc_st_tensor_info ti;
        if (sc_safetensors_info(st, i, &ti)) continue;
        printf("  %-48s %-5s [", ti.name, ti.dtype);
        for (int d = 0; d < ti.ndim; d++) printf("%s%lld", d ? ", " : "", (long long)ti.shape[d]);
        printf("]\n");
    }
    if (nm) printf("metadata:\n");
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        if (sc_safetensors_metadata_at(st, i, &k, &v)) continue;
        /* Long values (vocabularies) are shown cut; --json gives them whole. */
        size_t len = strlen(v);
        printf("  %s: %.*s%s\n", k, (int)(len > 200 ? 200 : len), v, len > 200 ? " ..." : "");
    }
}

static int info_model(const char *path, int json) {
    sc_safetensors *st;
    if (sc_safetensors_open(path, &st)) return info_failed(path, json);
    int rc = CLI_OK;
    if (json)
        rc = cli_json_emit(stdout, model_json(st, path));
    else
        print_model_text(st, path);
    sc_safetensors_free(st);
    return rc;
}

int cli_info_main(int argc, char **argv) {
    int json = 0, sys = 0, threads = 0, nfiles = 0;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) return CLI_FAIL;
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
        {"--system", CLI_FLAG, &sys, 0, 0, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
    };
    int rc = cli_parse_options("info", argc, argv, opts, sizeof opts / sizeof opts[0], files, argc,
                               &nfiles);
    if (!rc && !sys && nfiles == 0)
        rc = cli_usage("info", "give --system or at least one FILE");
    else if (!rc && sys)
        rc = info_system(json, threads);
    /* Every file is described even if an earlier one failed; status 1 if any did. */
    for (int i = 0; rc != CLI_USAGE && i < nfiles; i++)
        if ((cli_has_suffix(files[i], ".safetensors") ? info_model(files[i], json)
                                                      : info_image(files[i], json)) != CLI_OK)
            rc = CLI_FAIL;
    free(files);
    return rc;
}
