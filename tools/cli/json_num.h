/* JSON numbers printed as saccade's --json outputs document them. */
#ifndef SACCADE_CLI_JSON_NUM_H
#define SACCADE_CLI_JSON_NUM_H

struct cJSON;
/* Add v under key in obj written with "%.9g" (null when not finite): the
 * precision of a float32 value, without cJSON's 15-17 digits of noise.
 * Returns 0, or -1 on no memory (obj unchanged). */
int cli_json_add_g9(struct cJSON *obj, const char *key, double v);

#endif
