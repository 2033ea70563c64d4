/* saccade: captioner evaluation on Fashion scenes, see sc_captioner_eval.h. */
#include "saccade/sc_captioner_eval.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "saccade/sc_caption_metrics.h"
#include "saccade/sc_datasets.h"
#include "saccade/sc_image.h"
#include "saccade/sc_util.h"

sc_captioner_eval_params sc_captioner_eval_default_params(void) {
    sc_captioner_eval_params p;
    memset(&p, 0, sizeof p);
    p.n = 1000;
    p.beam_size = sc_captioner_beam_default_params().beam_size; /* one default beam */
    p.max_len = 30;
    return p;
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

/* Where the scenes come from: generated (params, test split) or the
 * annotation lines of a folder. */
typedef struct scene_source {
    const sc_scenes_params *scenes;
    const char *dir;
    unsigned char *ann; /* annotations.jsonl */
    size_t ann_len, pos;
} scene_source;

/* Lines of annotations.jsonl (a last line without '\n' counts). */
static size_t count_lines(const unsigned char *s, size_t n) {
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    return lines + (n > 0 && s[n - 1] != '\n');
}

/* Scene i (in order) -> image and info. */
static sc_status next_scene(scene_source *src, size_t i, sc_image *img, sc_scene_info *info) {
    if (src->scenes) return sc_scenes_generate(src->scenes, SC_SCENES_TEST, i, img, info);
    if (src->pos >= src->ann_len)
        return sc_set_error(SC_ERR_FORMAT, "%s/annotations.jsonl has only %zu scenes", src->dir, i);
    size_t e = src->pos;
    while (e < src->ann_len && src->ann[e] != '\n') e++;
    char *line = malloc(e - src->pos + 1), rel[1024], path[4096];
    if (!line) return sc_set_error(SC_ERR_NOMEM, "captioner evaluation: out of memory");
    memcpy(line, src->ann + src->pos, e - src->pos);
    line[e - src->pos] = 0;
    src->pos = e + 1;
    int ok = parse_annotation(line, info, rel, sizeof rel);
    free(line);
    if (!ok)
        return sc_set_error(SC_ERR_FORMAT, "%s/annotations.jsonl: bad line %zu", src->dir, i + 1);
    snprintf(path, sizeof path, "%s/%s", src->dir, rel);
    return sc_image_load(path, NULL, img, NULL);
}

#define RATE(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)

/* Caption the n scenes of src and score them into out. */
static sc_status run_eval(sc_captioner *m, scene_source *src, size_t n,
                          const sc_captioner_eval_params *p, sc_captioner_eval_result *out) {
    const sc_captioner_config *cfg = sc_captioner_get_config(m);
    const int S = cfg->image_size, G = cfg->grid, P = G * G, E = cfg->encoder_dim;
    const int CH = 32; /* images encoded per batch */
    sc_scene_info *infos = calloc(n ? n : 1, sizeof *infos);
    char **cands = calloc(n ? n : 1, sizeof *cands);
    const char ***refs = calloc(n ? n : 1, sizeof *refs);
    size_t *nrefs = calloc(n ? n : 1, sizeof *nrefs);
    float *x = malloc((size_t)CH * 3 * S * S * sizeof(float));
    float *feat = malloc((size_t)CH * P * E * sizeof(float));
    sc_status s = SC_OK;
    if (!infos || !cands || !refs || !nrefs || !x || !feat) {
        s = sc_set_error(SC_ERR_NOMEM, "captioner evaluation: out of memory");
        goto done;
    }
    sc_beam_params bp = sc_captioner_beam_default_params();
    bp.beam_size = p->beam_size;
    bp.max_len = p->max_len;
    bp.attention_mode = p->attention_mode;
    for (size_t b0 = 0; b0 < n; b0 += CH) {
        int nb = (int)(n - b0 < (size_t)CH ? n - b0 : (size_t)CH);
        for (int b = 0; b < nb; b++) {
            sc_image img = {0}, pre = {0};
            if ((s = next_scene(src, b0 + (size_t)b, &img, &infos[b0 + (size_t)b]))) goto done;
            s = sc_captioner_preprocess(m, &img, &pre);
            sc_image_free(&img);
            if (s) goto done;
            memcpy(x + (size_t)b * 3 * S * S, pre.data, (size_t)3 * S * S * sizeof(float));
            sc_image_free(&pre);
        }
        if ((s = sc_captioner_encode_batch(m, x, nb, S, S, 0, feat))) goto done;
        for (int b = 0; b < nb; b++) {
            size_t i = b0 + (size_t)b;
            sc_caption_result r;
            bp.seed = p->att_seed + i;
            if ((s = sc_captioner_beam_search(m, feat + (size_t)b * P * E, &bp, &r))) goto done;
            const sc_caption_hyp *h = &r.hyps[0];
            int nw = h->len - (h->finished ? 1 : 0);
            s = sc_capscenes_score(&infos[i], r.words, nw, h->alphas, G, &out->counts);
            cands[i] = strdup(r.text);
            if (!s && p->on_caption) p->on_caption(p->user, i, r.text, &infos[i]);
            sc_caption_result_free(&r);
            if (s) goto done;
            refs[i] = malloc(sizeof(char *) * (size_t)infos[i].n_captions);
            if (!cands[i] || !refs[i]) {
                s = sc_set_error(SC_ERR_NOMEM, "captioner evaluation: out of memory");
                goto done;
            }
            for (int k = 0; k < infos[i].n_captions; k++) refs[i][k] = infos[i].captions[k];
            nrefs[i] = (size_t)infos[i].n_captions;
        }
    }
    if (n > 0) {
        sc_caption_scores sc;
        if ((s = sc_caption_metrics_compute((const char *const *)cands,
                                            (const char *const *const *)refs, nrefs, n, &sc)))
            goto done;
        memcpy(out->bleu, sc.bleu, sizeof out->bleu);
        out->cider_d = sc.cider_d;
        sc_caption_scores_free(&sc);
    }
    out->n = n;
done:
    for (size_t i = 0; cands && i < n; i++) free(cands[i]);
    for (size_t i = 0; refs && i < n; i++) free(refs[i]);
    free(cands);
    free(refs);
    free(nrefs);
    free(infos);
    free(x);
    free(feat);
    return s;
}

sc_status sc_captioner_evaluate(sc_captioner *m, const sc_captioner_eval_params *params,
                                sc_captioner_eval_result *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!m || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_captioner_evaluate: NULL argument");
    sc_captioner_eval_params p = params ? *params : sc_captioner_eval_default_params();
    if (p.beam_size < 1 || p.beam_size > 1000 || p.max_len < 1 || p.max_len > 10000 ||
        p.n > ((size_t)1 << 30))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_captioner_evaluate: beam_size %d (1..1000), max_len %d "
                            "(1..10000) or n %zu out of range",
                            p.beam_size, p.max_len, p.n);
    if (sc_captioner_get_config(m)->encoder == SC_CAP_ENC_FEATURES)
        return sc_set_error(SC_ERR_UNSUPPORTED,
                            "sc_captioner_evaluate: a features-only model cannot caption images");
    scene_source src;
    memset(&src, 0, sizeof src);
    sc_fashion_mnist train = {0}, test = {0};
    sc_scenes_params sp = sc_scenes_default_params();
    sc_status s = SC_OK;
    size_t n = p.n;
    if (p.folder) {
        char path[4096];
        snprintf(path, sizeof path, "%s/annotations.jsonl", p.folder);
        if ((s = sc_read_file(path, (size_t)1 << 30, &src.ann, &src.ann_len))) goto done;
        size_t lines = count_lines(src.ann, src.ann_len);
        if (lines == 0) {
            s = sc_set_error(SC_ERR_FORMAT, "%s: empty", path);
            goto done;
        }
        if (n > lines) n = lines;
        src.dir = p.folder;
    } else if (p.scenes) {
        src.scenes = p.scenes;
    } else {
        if ((s = sc_fashion_mnist_load("test", p.fmnist_dir, &test))) goto done;
        sp.seed = p.scene_seed;
        sp.train = &train;
        sp.test = &test;
        src.scenes = &sp;
    }
    double t0 = now(); /* the captioning and scoring, not the loading */
    if ((s = run_eval(m, &src, n, &p, out))) goto done;
    const sc_capscenes_counts *c = &out->counts;
    out->exact_match = RATE(c->exact, c->scenes);
    out->count_accuracy = RATE(c->count_ok, c->scenes);
    out->colour_accuracy = RATE(c->colour_ok, c->slots);
    out->class_accuracy = RATE(c->class_ok, c->slots);
    out->relation_accuracy = RATE(c->rel_ok, c->rel_scenes);
    out->pointing_game = RATE(c->point_hit, c->point_total);
    out->pointing_game_colour_step = RATE(c->point_colour_hit, c->point_total);
    out->seconds = now() - t0;
done:
    if (s) memset(out, 0, sizeof *out);
    free(src.ann);
    sc_fashion_mnist_free(&train);
    sc_fashion_mnist_free(&test);
    return s;
}
