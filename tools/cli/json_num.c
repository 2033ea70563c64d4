/* JSON numbers for --json outputs (json_num.h). */
#include <math.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "json_num.h"

int cli_json_add_g9(cJSON *obj, const char *key, double v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.9g", v);
    cJSON *n = isfinite(v) ? cJSON_CreateRaw(buf) : cJSON_CreateNull();
    if (!n || !cJSON_AddItemToObject(obj, key, n)) {
        cJSON_Delete(n);
        return -1;
    }
    return 0;
}
