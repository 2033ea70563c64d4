/* saccade eval: score predictions against ground truth.
 * Minimal dispatcher (eval saliency); other eval targets register here. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

void verb_eval_help(FILE *out) {
    fprintf(out,
            "usage: saccade eval WHAT [OPTIONS]\n\n"
            "  saliency     AUC-Judd, NSS, CC, SIM, KLD of saliency maps against fixations\n\n");
    eval_saliency_help(out);
}

int verb_eval(int argc, char **argv) {
    if (argc < 2) return cli_usage("eval", "need what to evaluate (saliency)");
    if (!strcmp(argv[1], "saliency")) return eval_saliency_main(argc - 1, argv + 1);
    return cli_usage("eval", "unknown target '%s' (known: saliency)", argv[1]);
}
