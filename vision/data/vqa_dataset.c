/* VQA question sets for training and evaluation (sc_vqa_train.h): scenes
 * VQA drawn from a pool of generated scenes, or a JSON-lines file. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_rng.h"
#include "saccade/sc_util.h"
#include "saccade/sc_vqa_train.h"

sc_status sc_vqa_dataset_scenes(sc_vqa_dataset *d, sc_scene_split split, int pool_n,
                                uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->is_scenes = 1;
    d->seed = seed;
    const char *name = split == SC_SCENES_TRAIN ? "train" : "test";
    sc_status s = sc_fashion_mnist_load(name, NULL, &d->fm);
    if (s) {
        sc_error_prefix("cannot load Fashion-MNIST");
        return s;
    }
    sc_scenes_params p = sc_scenes_default_params();
    p.seed = seed;
    if (split == SC_SCENES_TRAIN)
        p.train = &d->fm;
    else
        p.test = &d->fm;
    if ((s = sc_vqa_scene_pool_make(&p, split, pool_n, &d->pool))) {
        sc_fashion_mnist_free(&d->fm);
        sc_error_prefix("cannot generate scenes");
        return s;
    }
    d->size = p.size;
    return SC_OK;
}

static char *dir_of(const char *path) {
    const char *sl = strrchr(path, '/');
    if (!sl) return strdup(".");
    char *s = strndup(path, (size_t)(sl - path));
    return s;
}

sc_status sc_vqa_dataset_jsonl(sc_vqa_dataset *d, const char *path, int size) {
    memset(d, 0, sizeof *d);
    d->size = size;
    unsigned char *buf = NULL;
    size_t len = 0;
    sc_status s = sc_read_file(path, (size_t)1 << 30, &buf, &len);
    if (s) {
        sc_error_prefix(path);
        return s;
    }
    char *dir = dir_of(path);
    char **paths = NULL;
    int cap = 0, icap = 0, lineno = 0;
    size_t per = (size_t)3 * size * size;
    char *text = (char *)buf, *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        while (*line == ' ' || *line == '\t' || *line == '\r') line++;
        if (!*line) continue;
        cJSON *o = cJSON_Parse(line);
        cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image");
        cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "question");
        cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "answer");
        if (!o || !cJSON_IsString(im) || !cJSON_IsString(q) || !cJSON_IsString(a)) {
            cJSON_Delete(o);
            s = sc_set_error(SC_ERR_FORMAT,
                             "%s line %d: need a JSON object with string \"image\", "
                             "\"question\" and \"answer\"",
                             path, lineno);
            break;
        }
        char full[4096];
        int fl = im->valuestring[0] == '/'
                     ? snprintf(full, sizeof full, "%s", im->valuestring)
                     : snprintf(full, sizeof full, "%s/%s", dir, im->valuestring);
        if (fl < 0 || (size_t)fl >= sizeof full) {
            cJSON_Delete(o);
            s = sc_set_error(SC_ERR_LIMIT, "%s line %d: image path of %d bytes is too long", path,
                             lineno, fl);
            break;
        }
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
                    s = sc_set_error(SC_ERR_NOMEM, "out of memory");
                    break;
                }
            }
            sc_image_load_params lp = sc_image_load_default_params();
            sc_image raw = {0}, rs = {0};
            if ((s = sc_image_load(full, &lp, &raw, NULL)) ||
                (s = sc_image_resize(&raw, size, size, SC_FILTER_TRIANGLE, &rs))) {
                sc_image_free(&raw);
                cJSON_Delete(o);
                sc_error_prefix(full);
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
    if (!s && d->n == 0) s = sc_set_error(SC_ERR_FORMAT, "%s: no questions", path);
    if (s) sc_vqa_dataset_free(d);
    return s;
}

sc_status sc_vqa_dataset_split(sc_vqa_dataset *d, double fraction, uint64_t seed,
                               sc_vqa_dataset *held_out) {
    if (held_out) memset(held_out, 0, sizeof *held_out);
    if (!d || !held_out) return sc_set_error(SC_ERR_INVALID_ARG, "NULL argument");
    if (d->is_scenes) return sc_set_error(SC_ERR_INVALID_ARG, "a held-out split needs a file");
    if (!(fraction >= 0 && fraction < 1))
        return sc_set_error(SC_ERR_INVALID_ARG, "held-out fraction %g is outside [0, 1)", fraction);
    held_out->size = d->size;
    int nv = (int)(fraction * d->n + 0.5);
    if (fraction > 0 && nv < 1) nv = 1;
    if (nv > d->n - 1) nv = d->n - 1;
    if (nv <= 0) return SC_OK;
    int *order = malloc(sizeof(int) * (size_t)d->n);
    char *in_val = calloc((size_t)d->n, 1);
    int *img_map = malloc(sizeof(int) * (size_t)d->n_images);
    size_t per = (size_t)3 * d->size * d->size;
    held_out->questions = malloc(sizeof(char *) * (size_t)nv);
    held_out->answers = malloc(sizeof(char *) * (size_t)nv);
    held_out->image_of = malloc(sizeof(int) * (size_t)nv);
    held_out->images = malloc(sizeof(float) * per * (size_t)nv); /* at most one image each */
    if (!order || !in_val || !img_map || !held_out->questions || !held_out->answers ||
        !held_out->image_of || !held_out->images) {
        free(order), free(in_val), free(img_map);
        sc_vqa_dataset_free(held_out);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    sc_rng rng;
    sc_rng_seed(&rng, seed);
    for (int i = 0; i < d->n; i++) order[i] = i;
    sc_rng_shuffle(&rng, order, d->n);
    for (int k = 0; k < nv; k++) in_val[order[k]] = 1;
    for (int i = 0; i < d->n_images; i++) img_map[i] = -1;
    int kept = 0;
    for (int i = 0; i < d->n; i++) { /* both parts keep the file's order */
        if (!in_val[i]) {
            d->questions[kept] = d->questions[i];
            d->answers[kept] = d->answers[i];
            d->image_of[kept++] = d->image_of[i];
            continue;
        }
        int img = d->image_of[i];
        if (img_map[img] < 0) {
            img_map[img] = held_out->n_images++;
            memcpy(held_out->images + per * (size_t)img_map[img], d->images + per * (size_t)img,
                   sizeof(float) * per);
        }
        held_out->questions[held_out->n] = d->questions[i];
        held_out->answers[held_out->n] = d->answers[i];
        held_out->image_of[held_out->n++] = img_map[img];
    }
    d->n = kept;
    free(order), free(in_val), free(img_map);
    return SC_OK;
}

void sc_vqa_dataset_free(sc_vqa_dataset *d) {
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

void sc_vqa_att_targets(const sc_scene_info *info, const sc_vqa_question *q, int K, int grid,
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

sc_status sc_vqa_dataset_batch(const sc_vqa_dataset *d, const sc_vqa_model *m, const int *idx,
                               int B, float *images, int32_t *ids, int *lens, int32_t *targets,
                               int *family, int (*box)[4], int *image_index, uint8_t *att_mask) {
    const sc_vqa_config *c = sc_vqa_get_config(m);
    int T = c->max_len, S = c->image_size;
    size_t per = (size_t)3 * S * S;
    int rc = 0;
    if (S != d->size)
        return sc_set_error(SC_ERR_SHAPE, "model input %d but data images are %d", S, d->size);
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
                int K = sc_vqa_attention_maps(m);
                sc_vqa_att_targets(&d->pool.info[q.scene], &q, K, g,
                                   att_mask + (size_t)b * K * g * g);
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
                size_t KP =
                    (size_t)sc_vqa_attention_maps(m) * sc_vqa_grid_side(m) * sc_vqa_grid_side(m);
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
    if (rc) {
        sc_error_prefix("scene question");
        return SC_ERR_INTERNAL;
    }
    return SC_OK;
}

int sc_vqa_dataset_n_images(const sc_vqa_dataset *d) {
    return d->is_scenes ? d->pool.n : d->n_images;
}

void sc_vqa_dataset_image(const sc_vqa_dataset *d, int i, float *out) {
    if (d->is_scenes) {
        sc_vqa_scene_pool_image(&d->pool, i, out);
    } else {
        size_t per = (size_t)3 * d->size * d->size;
        memcpy(out, d->images + per * (size_t)i, sizeof(float) * per);
    }
}
