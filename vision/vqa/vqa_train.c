/* Training and evaluating VQA models on a question set (sc_vqa_train.h):
 * the evaluation of `saccade eval vqa`, the recipe and loss step of `saccade
 * train vqa`. */
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_ops.h"
#include "saccade/sc_vqa_train.h"

void sc_vqa_eval_result_free(sc_vqa_eval_result *r) {
    free(r->ans_n);
    free(r->ans_correct);
    r->ans_n = r->ans_correct = NULL;
}

/* Relation question b of a batch: does each level's top 3 of the question
 * attention qatt (B, 3, T) hold the relation word and both nouns? */
static void count_relation_words(sc_vqa_model *m, const float *qatt, const int32_t *ids, int len,
                                 sc_vqa_eval_result *r) {
    static const char *const REL[] = {"left",   "right", "above", "over",
                                      "higher", "below", "under", "lower"};
    const sc_vqa_vocab *v = sc_vqa_get_vocab(m);
    sc_vqa_vocab nouns;
    if (sc_vqa_scene_answers(&nouns)) return;
    int rel = -1, noun[2] = {-1, -1}, nn = 0;
    for (int t = 0; t < len; t++) {
        const char *w = v->words[ids[t]];
        for (size_t k = 0; k < sizeof REL / sizeof REL[0]; k++)
            if (!strcmp(w, REL[k])) rel = t;
        for (int k = 14; k < nouns.n; k++) /* yes no 0-3, 8 colours, then the 10 nouns */
            if (!strcmp(w, nouns.words[k]) && nn < 2) noun[nn++] = t;
    }
    sc_vqa_vocab_free(&nouns);
    if (rel < 0 || nn < 2) return;
    const int T = sc_vqa_get_config(m)->max_len;
    r->qrel_n++;
    for (int l = 0; l < 3; l++) {
        const float *w = qatt + (size_t)l * T;
        int top[3] = {-1, -1, -1};
        for (int k = 0; k < 3; k++)
            for (int t = 0; t < len; t++)
                if (t != top[0] && t != top[1] && (top[k] < 0 || w[t] > w[top[k]])) top[k] = t;
        int has_rel = 0, has_n = 0;
        for (int k = 0; k < 3; k++) {
            has_rel |= top[k] == rel;
            has_n += top[k] == noun[0] || top[k] == noun[1];
        }
        r->qrel_word[l] += has_rel;
        r->qrel_nouns[l] += has_n == 2;
        r->qrel_all[l] += has_rel && has_n == 2;
    }
}

sc_status sc_vqa_evaluate(sc_vqa_model *m, const sc_vqa_dataset *d, int n, sc_vqa_eval_result *r) {
    memset(r, 0, sizeof *r);
    const sc_vqa_config *c = sc_vqa_get_config(m);
    int NA = sc_vqa_get_answers(m)->n, T = c->max_len, S = c->image_size, g = sc_vqa_grid_side(m);
    int P = g * g, K = sc_vqa_attention_maps(m);
    r->ans_n = calloc((size_t)NA, sizeof(int));
    r->ans_correct = calloc((size_t)NA, sizeof(int));
    if (!d->is_scenes) n = d->n;
    enum { CH = 64 };
    float *img = malloc(sizeof(float) * CH * 3 * (size_t)S * S);
    int32_t *ids = malloc(sizeof(int32_t) * CH * (size_t)T), *tg = malloc(sizeof(int32_t) * CH);
    int idx[CH], lens[CH], fam[CH], box[CH][4];
    if (!img || !ids || !tg || !r->ans_n || !r->ans_correct) {
        free(img), free(ids), free(tg);
        sc_vqa_eval_result_free(r);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    sc_status rc = SC_OK;
    for (int s = 0; s < n && !rc; s += CH) {
        int B = n - s < CH ? n - s : CH;
        for (int b = 0; b < B; b++) idx[b] = s + b;
        const float *logits, *att;
        if ((rc = sc_vqa_dataset_batch(d, m, idx, B, img, ids, lens, tg, fam, box, NULL, NULL)))
            break;
        if ((rc = sc_vqa_forward(m, c->arch == SC_VQA_QONLY ? NULL : img, ids, lens, B, 0, &logits,
                                 &att))) {
            sc_error_prefix("vqa forward");
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
            const float *qatt = sc_vqa_question_attention(m);
            if (qatt && fam[b] == SC_VQA_RELATION)
                count_relation_words(m, qatt + (size_t)b * 3 * T, ids + (size_t)b * T, lens[b], r);
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

sc_status sc_vqa_dataset_answers(const sc_vqa_dataset *d, sc_vqa_vocab *out) {
    memset(out, 0, sizeof *out);
    if (!d || d->n < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_dataset_answers: no questions");
    char **list = malloc(sizeof(char *) * (size_t)d->n);
    if (!list) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        int seen = 0;
        for (int j = 0; j < n && !seen; j++) seen = !strcmp(list[j], d->answers[i]);
        if (!seen) list[n++] = d->answers[i];
    }
    /* JSON round trip gives an owned copy. */
    sc_vqa_vocab tmp = {n, list};
    char *j = sc_vqa_vocab_to_json(&tmp);
    free(list);
    if (!j) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status st = sc_vqa_vocab_from_json(j, out);
    free(j);
    return st;
}

sc_vqa_train_params sc_vqa_train_default_params(void) {
    sc_vqa_train_params p = {.epochs = 10, .batch = 64, .lr = 0.002f, .seed = 0, .max_steps = 0};
    return p;
}

sc_status sc_vqa_train_recipe(const sc_vqa_train_params *p, size_t questions,
                              sc_train_params *out) {
    if (!p || !out || p->epochs < 1 || p->batch < 1 || !(p->lr > 0) || p->max_steps < 0 ||
        questions < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_train_recipe: bad parameters");
    sc_optim_params opt = sc_adam_default_params();
    opt.lr = p->lr;
    sc_train_params tp =
        sc_train_cosine_params(&opt, p->epochs, p->batch, questions, p->seed, p->max_steps);
    if (p->max_steps && p->max_steps < tp.schedule.t_max) tp.schedule.t_max = p->max_steps;
    tp.schedule.warmup_steps = 200 < tp.schedule.t_max / 4 ? 200 : tp.schedule.t_max / 4;
    tp.schedule.warmup_start_factor = 0.1;
    tp.clip_grad_norm = 5.0;
    *out = tp;
    return SC_OK;
}

sc_status sc_vqa_train_step(sc_vqa_model *m, const float *images, const float *feats,
                            const int32_t *ids, const int *lens, const int32_t *targets,
                            const uint8_t *att_mask, int B, float att_sup, float *ce, double *sup) {
    if (!m || !ids || !lens || !targets || !ce || !sup || B < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_train_step: bad arguments");
    const sc_vqa_config *c = sc_vqa_get_config(m);
    const int NA = sc_vqa_get_answers(m)->n, g = sc_vqa_grid_side(m);
    const int K = sc_vqa_attention_maps(m), KP = K * g * g;
    const int supervise = att_mask && att_sup > 0;
    float *dlog = calloc((size_t)B * NA, sizeof(float));
    float *datt = supervise ? malloc(sizeof(float) * (size_t)B * KP) : NULL;
    if (!dlog || (supervise && !datt)) {
        free(dlog);
        free(datt);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    const float *logits, *att = NULL;
    const float **attp = supervise ? &att : NULL;
    sc_status s = feats ? sc_vqa_forward_features(m, feats, ids, lens, B, 1, &logits, attp)
                        : sc_vqa_forward(m, c->arch == SC_VQA_QONLY ? NULL : images, ids, lens, B,
                                         1, &logits, attp);
    *ce = 0;
    *sup = 0.0;
    if (!s) s = sc_cross_entropy(logits, targets, B, NA, NULL, ce, NULL, dlog);
    if (!s && supervise)
        s = sc_mask_mass_nll(att, att_mask, B * K, g * g, att_sup, sup, NULL, datt);
    if (!s) s = sc_vqa_backward_att(m, dlog, supervise ? datt : NULL);
    free(dlog);
    free(datt);
    return s;
}

sc_status sc_vqa_dataset_features(sc_vqa_model *m, const sc_vqa_dataset *d, float **out) {
    if (!m || !d || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vqa_dataset_features: NULL");
    *out = NULL;
    const int nimg = sc_vqa_dataset_n_images(d), g = sc_vqa_grid_side(m);
    const int P = g * g, C = sc_vqa_feature_dim(m), S = sc_vqa_get_config(m)->image_size;
    if (S != d->size)
        return sc_set_error(SC_ERR_SHAPE, "model input %d but data images are %d", S, d->size);
    float *cache = malloc(sizeof(float) * (size_t)nimg * P * C);
    float *fb = malloc(sizeof(float) * 256 * 3 * (size_t)S * S);
    if (!cache || !fb) {
        free(cache);
        free(fb);
        return sc_set_error(SC_ERR_NOMEM, "out of memory for the feature cache (%.0f MB)",
                            (double)nimg * P * C * sizeof(float) / 1048576.0);
    }
    sc_status s = SC_OK;
    for (int s0 = 0; s0 < nimg && !s; s0 += 256) {
        int n = nimg - s0 < 256 ? nimg - s0 : 256;
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) sc_vqa_dataset_image(d, s0 + i, fb + (size_t)i * 3 * S * S);
        s = sc_vqa_encode_images(m, fb, n, cache + (size_t)s0 * P * C);
    }
    free(fb);
    if (s) {
        free(cache);
        return s;
    }
    *out = cache;
    return SC_OK;
}
