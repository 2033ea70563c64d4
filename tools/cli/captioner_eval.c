/* Captioner evaluation on Fashion scenes, see captioner_eval.h. */
#include "captioner_eval.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/sc_caption_metrics.h"
#include "saccade/sc_image.h"
#include "saccade/sc_util.h"

void cap_normalise(const float *img, int S, float *out) {
    size_t plane = (size_t)S * S;
    for (int c = 0; c < 3; c++) {
        float mu = SC_IMAGENET_MEAN[c], is = 1.0f / SC_IMAGENET_STD[c];
        for (size_t i = 0; i < plane; i++) out[c * plane + i] = (img[c * plane + i] - mu) * is;
    }
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* One annotation line -> info (+ image path relative to dir). */
static int parse_annotation(const char *line, sc_scene_info *info, char *img, size_t cap) {
    cJSON *o = cJSON_Parse(line);
    int ok = o && cJSON_IsObject(o);
    memset(info, 0, sizeof *info);
    if (ok) {
        cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "image");
        cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "width");
        cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "height");
        cJSON *items = cJSON_GetObjectItemCaseSensitive(o, "items");
        cJSON *caps = cJSON_GetObjectItemCaseSensitive(o, "captions");
        ok = cJSON_IsString(im) && cJSON_IsNumber(w) && cJSON_IsNumber(h) && cJSON_IsArray(items) &&
             cJSON_IsArray(caps) && strlen(im->valuestring) < cap && w->valueint > 0 &&
             h->valueint > 0;
        if (ok) {
            strcpy(img, im->valuestring);
            info->width = w->valueint, info->height = h->valueint;
            cJSON *it;
            cJSON_ArrayForEach(it, items) {
                if (info->n_items >= SC_SCENES_MAX_ITEMS) {
                    ok = 0;
                    break;
                }
                sc_scene_item *si = &info->items[info->n_items++];
                cJSON *cl = cJSON_GetObjectItemCaseSensitive(it, "class");
                cJSON *co = cJSON_GetObjectItemCaseSensitive(it, "colour");
                cJSON *bx = cJSON_GetObjectItemCaseSensitive(it, "box");
                if (!cJSON_IsNumber(cl) || !cJSON_IsString(co) || !cJSON_IsArray(bx) ||
                    cJSON_GetArraySize(bx) != 4 || cl->valueint < 0 || cl->valueint > 9) {
                    ok = 0;
                    break;
                }
                si->cls = cl->valueint;
                si->colour = -1;
                for (int c = 0; c < SC_SCENES_NUM_COLOURS; c++)
                    if (!strcmp(co->valuestring, sc_scenes_colour_name(c))) si->colour = c;
                for (int k = 0; k < 4; k++) si->box[k] = cJSON_GetArrayItem(bx, k)->valueint;
                if (si->colour < 0) ok = 0;
            }
            cJSON_ArrayForEach(it, caps) {
                if (!ok || info->n_captions >= SC_SCENES_MAX_CAPTIONS) break;
                if (!cJSON_IsString(it) || strlen(it->valuestring) >= SC_SCENES_CAPTION_CAP) {
                    ok = 0;
                    break;
                }
                strcpy(info->captions[info->n_captions++], it->valuestring);
            }
            ok = ok && info->n_items > 0 && info->n_captions > 0;
        }
    }
    cJSON_Delete(o);
    return ok;
}

int cap_eval_run(sc_captioner *m, const cap_eval_source *src, size_t n, int beam,
                 cap_eval_result *out, FILE *samples, int nsamples) {
    memset(out, 0, sizeof *out);
    double t0 = now();
    const sc_captioner_config *cfg = sc_captioner_get_config(m);
    const int S = cfg->image_size, G = cfg->grid, P = G * G, E = cfg->encoder_dim;
    const int CH = 32; /* images encoded per batch */
    sc_scene_info *infos = calloc(n ? n : 1, sizeof *infos);
    char **cands = calloc(n ? n : 1, sizeof *cands);
    const char ***refs = calloc(n ? n : 1, sizeof *refs);
    size_t *nrefs = calloc(n ? n : 1, sizeof *nrefs);
    float *x = malloc((size_t)CH * 3 * S * S * sizeof(float));
    float *feat = malloc((size_t)CH * P * E * sizeof(float));
    unsigned char *ann = NULL;
    size_t ann_len = 0, pos = 0;
    int rc = -1;
    if (!infos || !cands || !refs || !nrefs || !x || !feat) {
        sc_set_error(SC_ERR_NOMEM, "eval: out of memory");
        goto done;
    }
    if (!src->scenes) {
        char path[4096];
        snprintf(path, sizeof path, "%s/annotations.jsonl", src->dir);
        if (sc_read_file(path, (size_t)1 << 30, &ann, &ann_len)) goto done;
    }
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.beam_size = beam;
    bp.max_len = 30;
    for (size_t b0 = 0; b0 < n; b0 += CH) {
        int nb = (int)(n - b0 < (size_t)CH ? n - b0 : (size_t)CH);
        for (int b = 0; b < nb; b++) {
            size_t i = b0 + (size_t)b;
            sc_image img = {0}, pre = {0};
            sc_status s;
            if (src->scenes) {
                s = sc_scenes_generate(src->scenes, src->split, i, &img, &infos[i]);
            } else {
                if (pos >= ann_len) {
                    sc_set_error(SC_ERR_FORMAT, "%s/annotations.jsonl has only %zu scenes",
                                 src->dir, i);
                    goto done;
                }
                size_t e = pos;
                while (e < ann_len && ann[e] != '\n') e++;
                char *line = malloc(e - pos + 1), rel[1024], path[4096];
                if (!line) goto done;
                memcpy(line, ann + pos, e - pos);
                line[e - pos] = 0;
                pos = e + 1;
                int ok = parse_annotation(line, &infos[i], rel, sizeof rel);
                free(line);
                if (!ok) {
                    sc_set_error(SC_ERR_FORMAT, "%s/annotations.jsonl: bad line %zu", src->dir,
                                 i + 1);
                    goto done;
                }
                snprintf(path, sizeof path, "%s/%s", src->dir, rel);
                s = sc_image_load(path, NULL, &img, NULL);
            }
            if (s) goto done;
            s = sc_captioner_preprocess(m, &img, &pre);
            sc_image_free(&img);
            if (s) goto done;
            memcpy(x + (size_t)b * 3 * S * S, pre.data, (size_t)3 * S * S * sizeof(float));
            sc_image_free(&pre);
        }
        if (sc_captioner_encode_batch(m, x, nb, S, S, 0, feat)) goto done;
        for (int b = 0; b < nb; b++) {
            size_t i = b0 + (size_t)b;
            sc_caption_result r;
            if (sc_captioner_beam_search(m, feat + (size_t)b * P * E, &bp, &r)) goto done;
            const sc_caption_hyp *h = &r.hyps[0];
            int nw = h->len - (h->finished ? 1 : 0);
            sc_status s = sc_capscenes_score(&infos[i], r.words, nw, h->alphas, G, &out->c);
            cands[i] = strdup(r.text);
            if (samples && (int)i < nsamples)
                fprintf(samples, "  %-58s | %s\n", r.text, infos[i].captions[0]);
            sc_caption_result_free(&r);
            if (s || !cands[i]) goto done;
            refs[i] = malloc(sizeof(char *) * (size_t)infos[i].n_captions);
            if (!refs[i]) goto done;
            for (int k = 0; k < infos[i].n_captions; k++) refs[i][k] = infos[i].captions[k];
            nrefs[i] = (size_t)infos[i].n_captions;
        }
    }
    if (n > 0) {
        sc_caption_scores sc;
        if (sc_caption_metrics_compute((const char *const *)cands, (const char *const *const *)refs,
                                       nrefs, n, &sc))
            goto done;
        memcpy(out->bleu, sc.bleu, sizeof out->bleu);
        out->cider_d = sc.cider_d;
        sc_caption_scores_free(&sc);
    }
    out->n = n;
    out->seconds = now() - t0;
    rc = 0;
done:
    for (size_t i = 0; cands && i < n; i++) free(cands[i]);
    for (size_t i = 0; refs && i < n; i++) free(refs[i]);
    free(cands);
    free(refs);
    free(nrefs);
    free(infos);
    free(x);
    free(feat);
    free(ann);
    return rc;
}
