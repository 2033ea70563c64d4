/* Data and evaluation shared by the VQA verbs. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vqa_cli.h"

int vqa_data_scenes(vqa_data *d, sc_scene_split split, int pool_n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->is_scenes = 1;
    d->seed = seed;
    const char *name = split == SC_SCENES_TRAIN ? "train" : "test";
    if (sc_fashion_mnist_load(name, NULL, &d->fm)) return cli_fail("cannot load Fashion-MNIST");
    sc_scenes_params p = sc_scenes_default_params();
    p.seed = seed;
    if (split == SC_SCENES_TRAIN)
        p.train = &d->fm;
    else
        p.test = &d->fm;
    if (sc_vqa_scene_pool_make(&p, split, pool_n, &d->pool)) {
        sc_fashion_mnist_free(&d->fm);
        return cli_fail("cannot generate scenes");
    }
    d->size = p.size;
    return 0;
}

static char *dir_of(const char *path) {
    const char *sl = strrchr(path, '/');
    if (!sl) return strdup(".");
    char *s = strndup(path, (size_t)(sl - path));
    return s;
}

int vqa_data_jsonl(vqa_data *d, const char *path, int size) {
    memset(d, 0, sizeof *d);
    d->size = size;
    unsigned char *buf = NULL;
    size_t len = 0;
    if (sc_read_file(path, (size_t)1 << 30, &buf, &len)) return cli_fail(path);
    char *dir = dir_of(path);
    char **paths = NULL;
    int cap = 0, icap = 0, rc = 0, lineno = 0;
    size_t per = (size_t)3 * size * size;
    char *s = (char *)buf, *save = NULL;
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image");
        cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
        cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "answer");
        if (!o || !cJSON_IsString(im) || !cJSON_IsString(q) || !cJSON_IsString(a)) {
            cJSON_Delete(o);
            sc_set_error(SC_ERR_FORMAT,
                         "%s line %d: need a JSON object with string \"image\", \"question\" "
                         "and \"answer\"",
                         path, lineno);
            rc = cli_fail(NULL);
            break;
        }
        char full[4096];
        if (im->valuestring[0] == '/')
            snprintf(full, sizeof full, "%s", im->valuestring);
        else
            snprintf(full, sizeof full, "%s/%s", dir, im->valuestring);
        int img = -1;
        for (int i = 0; i < d->n_images; i++)
            if (!strcmp(paths[i], full)) img = i;
        if (img < 0) {
            if (d->n_images == icap) {
                icap = icap ? icap * 2 : 64;
                paths = realloc(paths, sizeof *paths * (size_t)icap);
                d->images = realloc(d->images, sizeof(float) * per * (size_t)icap);
                if (!paths || !d->images) {
                    cJSON_Delete(o);
                    sc_set_error(SC_ERR_NOMEM, "out of memory");
                    rc = cli_fail(NULL);
                    break;
                }
            }
            sc_image_load_params lp = sc_image_load_default_params();
            sc_image raw = {0}, rs = {0};
            if (sc_image_load(full, &lp, &raw, NULL) ||
                sc_image_resize(&raw, size, size, SC_FILTER_TRIANGLE, &rs)) {
                sc_image_free(&raw);
                cJSON_Delete(o);
                rc = cli_fail(full);
                break;
            }
            float *dst = d->images + per * (size_t)d->n_images;
            size_t plane = (size_t)size * size;
            for (int ch = 0; ch < 3; ch++)
                memcpy(dst + ch * plane, rs.data + (size_t)(rs.c >= 3 ? ch : 0) * plane,
                       sizeof(float) * plane);
            sc_image_free(&raw);
            sc_image_free(&rs);
            paths[d->n_images] = strdup(full);
            img = d->n_images++;
        }
        if (d->n == cap) {
            cap = cap ? cap * 2 : 256;
            d->questions = realloc(d->questions, sizeof(char *) * (size_t)cap);
            d->answers = realloc(d->answers, sizeof(char *) * (size_t)cap);
            d->image_of = realloc(d->image_of, sizeof(int) * (size_t)cap);
        }
        d->questions[d->n] = strdup(q->valuestring);
        /* answers: lowercase, trimmed */
        char *ans = strdup(a->valuestring);
        for (char *c = ans; *c; c++)
            if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');
        d->answers[d->n] = ans;
        d->image_of[d->n] = img;
        d->n++;
        cJSON_Delete(o);
    }
    for (int i = 0; i < d->n_images; i++) free(paths[i]);
    free(paths);
    free(dir);
    sc_free(buf);
    if (!rc && d->n == 0) {
        sc_set_error(SC_ERR_FORMAT, "%s: no questions", path);
        rc = cli_fail(NULL);
    }
    if (rc) vqa_data_free(d);
    return rc;
}

void vqa_data_free(vqa_data *d) {
    if (!d) return;
    sc_vqa_scene_pool_free(&d->pool);
    sc_fashion_mnist_free(&d->fm);
    for (int i = 0; i < d->n; i++) {
        free(d->questions[i]);
        free(d->answers[i]);
    }
    free(d->questions);
    free(d->answers);
    free(d->images);
    free(d->image_of);
    memset(d, 0, sizeof *d);
}

void vqa_att_targets(const sc_scene_info *info, const sc_vqa_question *q, int K, int grid,
                     uint8_t *mask) {
    size_t P = (size_t)grid * grid;
    memset(mask, 0, (size_t)K * P);
    int first = q->ref[0] >= 0 ? q->ref[0] : q->item;
    int last = q->item >= 0 ? q->item : q->ref[1] >= 0 ? q->ref[1] : q->ref[0];
    if (q->family == SC_VQA_COUNT) first = last = -1;
    if (q->family == SC_VQA_RELATION && K > 1) {
        /* "is A above B?" read as a class query: first B, then whatever is
         * above B (A exactly when the answer is yes); nothing there: no target */
        int b = q->ref[1];
        if (b >= 0 && b < info->n_items)
            sc_scenes_box_cells(info->items[b].box, info->width, info->height, grid, mask);
        for (int x = 0; x < info->n_items; x++)
            if (x != b && sc_vqa_scene_relation(info, x, b) == q->rel)
                sc_scenes_box_cells(info->items[x].box, info->width, info->height, grid,
                                    mask + (size_t)(K - 1) * P);
        return;
    }
    if (first >= 0 && first < info->n_items)
        sc_scenes_box_cells(info->items[first].box, info->width, info->height, grid, mask);
    if (last >= 0 && last < info->n_items && (K > 1 || first < 0))
        sc_scenes_box_cells(info->items[last].box, info->width, info->height, grid,
                            mask + (size_t)(K - 1) * P);
}

int vqa_batch(const vqa_data *d, const sc_vqa_model *m, const int *idx, int B, float *images,
              int32_t *ids, int *lens, int32_t *targets, int *family, int (*box)[4],
              int *image_index, uint8_t *att_mask) {
    const sc_vqa_config *c = sc_vqa_get_config(m);
    int T = c->max_len, S = c->image_size;
    size_t per = (size_t)3 * S * S;
    int rc = 0;
    if (S != d->size) {
        sc_set_error(SC_ERR_SHAPE, "model input %d but data images are %d", S, d->size);
        return cli_fail(NULL);
    }
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const char *text, *ans;
        int img = -1;
        sc_vqa_question q;
        if (d->is_scenes) {
            if (sc_vqa_scene_question(&d->pool, d->seed, (uint64_t)idx[b], &q)) {
#pragma omp critical
                rc = 1;
                continue;
            }
            text = q.text;
            ans = q.answer;
            if (image_index) image_index[b] = q.scene;
            if (images) sc_vqa_scene_pool_image(&d->pool, q.scene, images + per * (size_t)b);
            if (family) family[b] = q.family;
            if (att_mask) {
                int g = sc_vqa_grid_side(m);
                vqa_att_targets(&d->pool.info[q.scene], &q, c->hops, g,
                                att_mask + (size_t)b * c->hops * g * g);
            }
            if (box) {
                if (q.item >= 0)
                    memcpy(box[b], d->pool.info[q.scene].items[q.item].box, sizeof box[b]);
                else
                    box[b][0] = -1;
            }
        } else {
            text = d->questions[idx[b]];
            ans = d->answers[idx[b]];
            img = d->image_of[idx[b]];
            if (image_index) image_index[b] = img;
            if (images)
                memcpy(images + per * (size_t)b, d->images + per * (size_t)img,
                       sizeof(float) * per);
            if (family) family[b] = -1;
            if (box) box[b][0] = -1;
            if (att_mask) {
                size_t KP = (size_t)c->hops * sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
                memset(att_mask + (size_t)b * KP, 0, KP); /* no boxes: unsupervised */
            }
        }
        int len = 0, trunc = 0;
        sc_vqa_encode(sc_vqa_get_vocab(m), text, T, ids + (size_t)b * T, &len, &trunc, NULL, 0);
        if (len < 1) { /* an empty question: a single <unk> */
            ids[(size_t)b * T] = SC_VQA_UNK;
            len = 1;
        }
        lens[b] = len;
        if (targets) targets[b] = sc_vqa_vocab_find(sc_vqa_get_answers(m), ans);
    }
    if (rc) return cli_fail("scene question");
    return 0;
}

int vqa_data_n_images(const vqa_data *d) {
    return d->is_scenes ? d->pool.n : d->n_images;
}

void vqa_data_image(const vqa_data *d, int i, float *out) {
    if (d->is_scenes) {
        sc_vqa_scene_pool_image(&d->pool, i, out);
    } else {
        size_t per = (size_t)3 * d->size * d->size;
        memcpy(out, d->images + per * (size_t)i, sizeof(float) * per);
    }
}

void vqa_eval_result_free(vqa_eval_result *r) {
    free(r->ans_n);
    free(r->ans_correct);
    r->ans_n = r->ans_correct = NULL;
}

int vqa_evaluate(sc_vqa_model *m, const vqa_data *d, int n, vqa_eval_result *r) {
    memset(r, 0, sizeof *r);
    const sc_vqa_config *c = sc_vqa_get_config(m);
    int NA = sc_vqa_get_answers(m)->n, T = c->max_len, S = c->image_size, g = sc_vqa_grid_side(m);
    int P = g * g, K = c->hops;
    r->ans_n = calloc((size_t)NA, sizeof(int));
    r->ans_correct = calloc((size_t)NA, sizeof(int));
    if (!d->is_scenes) n = d->n;
    enum { CH = 64 };
    float *img = malloc(sizeof(float) * CH * 3 * (size_t)S * S);
    int32_t *ids = malloc(sizeof(int32_t) * CH * (size_t)T), *tg = malloc(sizeof(int32_t) * CH);
    int idx[CH], lens[CH], fam[CH], box[CH][4];
    if (!img || !ids || !tg || !r->ans_n || !r->ans_correct) {
        free(img), free(ids), free(tg);
        sc_set_error(SC_ERR_NOMEM, "out of memory");
        return cli_fail(NULL);
    }
    int rc = 0;
    for (int s = 0; s < n && !rc; s += CH) {
        int B = n - s < CH ? n - s : CH;
        for (int b = 0; b < B; b++) idx[b] = s + b;
        const float *logits, *att;
        if (vqa_batch(d, m, idx, B, img, ids, lens, tg, fam, box, NULL, NULL)) {
            rc = CLI_FAIL;
            break;
        }
        if (sc_vqa_forward(m, c->arch == SC_VQA_QONLY ? NULL : img, ids, lens, B, 0, &logits,
                           &att)) {
            rc = cli_fail("vqa forward");
            break;
        }
        for (int b = 0; b < B; b++) {
            int best = 0;
            for (int a = 1; a < NA; a++)
                if (logits[(size_t)b * NA + a] > logits[(size_t)b * NA + best]) best = a;
            int ok = tg[b] >= 0 && best == tg[b];
            r->n++;
            r->correct += ok;
            if (fam[b] >= 0) {
                r->fam_n[fam[b]]++;
                r->fam_correct[fam[b]] += ok;
            }
            if (tg[b] >= 0) {
                r->ans_n[tg[b]]++;
                r->ans_correct[tg[b]] += ok;
            }
            if (att && box[b][0] >= 0) {
                const float *pk = att + ((size_t)b * K + (K - 1)) * P;
                int bi = 0;
                for (int i = 1; i < P; i++)
                    if (pk[i] > pk[bi]) bi = i;
                float cx = ((float)(bi % g) + 0.5f) * (float)S / (float)g;
                float cy = ((float)(bi / g) + 0.5f) * (float)S / (float)g;
                r->point_n++;
                r->point_hit +=
                    cx >= box[b][0] && cx < box[b][2] && cy >= box[b][1] && cy < box[b][3];
            }
        }
    }
    free(img), free(ids), free(tg);
    return rc;
}
