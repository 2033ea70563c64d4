/* saccade vqa: answer questions about an image. */
#include <stdio.h>
#include "vqa_cli.h"
void verb_vqa_help(FILE *out) { fprintf(out, "usage: saccade vqa IMAGE [QUESTION]\n"); }
int verb_vqa(int argc, char **argv) { (void)argc; (void)argv; return CLI_USAGE; }
