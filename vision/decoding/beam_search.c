/* transformers 5.x's vectorised beam search (decoding.h), as
 * GenerationMixin._beam_search runs it for one input: the top
 * max(2, 1 + stop ids) x beams continuations of all beams each step
 * (_get_top_k_continuations), the
 * running beams the best `beams` of them that did not stop, finished
 * hypotheses only from the top `beams` ranks (_update_finished_beams, score =
 * sum log p / new_tokens^length_penalty), and the early-stop heuristic of
 * _check_early_stop_heuristic with early_stopping False / True / "never". */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_ops.h"
#include "decoding/decoding.h"
#include "sc_internal.h"

#define NEG_BIG -1.0e9f /* GenerationMixin's "very large negative" for beams */

#define MAX_KEEP ((1 + DEC_MAX_EOS) * DEC_MAX_BEAMS)

/* Indices of the k largest of x[0..n) in descending order (ties: lower index
 * first). k is small (a few x beams). */
static void top_k(const float *x, int n, int k, int *idx) {
    for (int i = 0; i < k; i++) idx[i] = -1;
    for (int j = 0; j < n; j++) {
        float v = x[j];
        if (idx[k - 1] >= 0 && !(v > x[idx[k - 1]])) continue;
        int i = k - 1;
        while (i > 0 && (idx[i - 1] < 0 || v > x[idx[i - 1]])) {
            idx[i] = idx[i - 1];
            i--;
        }
        idx[i] = j;
    }
}

int dec_is_eos(const int *eos, int n, int tok) {
    for (int i = 0; i < n; i++)
        if (eos[i] == tok) return 1;
    return 0;
}

sc_status dec_beam_search(const dec_beam_model *m, const dec_beam_params *p, int n0, int *best,
                          int *best_len, float *score) {
    const int V = m->vocab, B = p->beams, M = p->max_new;
    const int K = (m->n_eos + 1 > 2 ? m->n_eos + 1 : 2) * B; /* beams_to_keep */
    if (B < 2 || B > DEC_MAX_BEAMS || K > V || M < 1 || m->n_eos < 1 || m->n_eos > DEC_MAX_EOS)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "beam search: %d beams, %d tokens, %d stop ids, vocabulary %d", B, M,
                            m->n_eos, V);
    /* scratch: log-probs (B, V) in place of the logits; sequences */
    size_t ints = (size_t)(3 * B + 2 * K) * M + 4 * K + 2 * B;
    int *mem = calloc(ints, sizeof(int));
    float *fm = calloc((size_t)(2 * K + 3 * B), sizeof(float));
    if (!mem || !fm) {
        free(mem), free(fm);
        return sc_set_error(SC_ERR_NOMEM, "beam search: out of memory");
    }
    int *run_seq = mem, *cand_seq = run_seq + (size_t)B * M, *fin_seq = cand_seq + (size_t)K * M,
        *merge_seq = fin_seq + (size_t)B * M, *cand_idx = merge_seq + (size_t)(B + K) * M,
        *cand_hit = cand_idx + K, *src = cand_hit + K, *next_tok = src + B;
    float *run_score = fm, *cand_score = run_score + B, *fin_score = cand_score + K,
          *merge_score = fin_score + B;
    int fin_done[DEC_MAX_BEAMS], fin_len[DEC_MAX_BEAMS];
    int merge_done[DEC_MAX_BEAMS + MAX_KEEP], merge_len[DEC_MAX_BEAMS + MAX_KEEP],
        merge_idx[DEC_MAX_BEAMS + MAX_KEEP];
    for (int b = 0; b < B; b++) {
        run_score[b] = b ? NEG_BIG : 0.0f;
        fin_score[b] = NEG_BIG;
        fin_done[b] = fin_len[b] = 0;
    }
    int improvable = 1;
    sc_status st = SC_OK;
    float *lp = m->logits(m->ctx); /* (B, V): logits of each running beam's last token */
    for (int k = 0; k < M && !st; k++) {
        const int cur_len = n0 + k;
        sc_log_softmax_forward(lp, B, V, lp);
        for (int b = 0; b < B; b++) {
            float *row = lp + (size_t)b * V;
            for (int e = 0; k < p->min_new && e < m->n_eos; e++)
                row[m->eos[e]] = -INFINITY;                     /* MinLengthLogitsProcessor */
            for (int v = 0; v < V; v++) row[v] += run_score[b]; /* float sums, as torch */
        }
        top_k(lp, B * V, K, cand_idx);
        int all_hit = 1;
        for (int c = 0; c < K; c++) {
            int b = cand_idx[c] / V, tok = cand_idx[c] % V;
            cand_score[c] = lp[cand_idx[c]];
            memcpy(cand_seq + (size_t)c * M, run_seq + (size_t)b * M, (size_t)k * sizeof(int));
            cand_seq[(size_t)c * M + k] = tok;
            cand_hit[c] = dec_is_eos(m->eos, m->n_eos, tok) || cur_len + 1 >= n0 + M;
            all_hit &= cand_hit[c];
        }
        /* running beams: the best B candidates that did not stop */
        float run_cand[MAX_KEEP];
        int pick[DEC_MAX_BEAMS];
        for (int c = 0; c < K; c++) run_cand[c] = cand_score[c] + (cand_hit[c] ? NEG_BIG : 0.0f);
        top_k(run_cand, K, B, pick);
        /* finished: candidates of the top B ranks that stopped, length-penalised */
        const float lpen = (float)pow((double)(cur_len + 1 - n0), (double)p->length_penalty);
        int full = p->early_stopping == 1; /* early_stopping True: no more once B are done */
        for (int b = 0; b < B; b++) full &= fin_done[b];
        int nm = 0;
        for (int b = 0; b < B; b++, nm++) {
            merge_score[nm] = fin_score[b];
            merge_done[nm] = fin_done[b];
            merge_len[nm] = fin_len[b];
            memcpy(merge_seq + (size_t)nm * M, fin_seq + (size_t)b * M, (size_t)M * sizeof(int));
        }
        for (int c = 0; c < K; c++, nm++) {
            int just = cand_hit[c] && c < B;
            float sc = cand_score[c] / lpen;
            if (full) sc += NEG_BIG;
            if (!improvable) sc += NEG_BIG;
            if (!just) sc += NEG_BIG;
            merge_score[nm] = sc;
            merge_done[nm] = just;
            merge_len[nm] = k + 1;
            memcpy(merge_seq + (size_t)nm * M, cand_seq + (size_t)c * M,
                   (size_t)(k + 1) * sizeof(int));
            for (int j = k + 1; j < M; j++) merge_seq[(size_t)nm * M + j] = m->pad;
        }
        top_k(merge_score, nm, B, merge_idx);
        for (int b = 0; b < B; b++) {
            fin_score[b] = merge_score[merge_idx[b]];
            fin_done[b] = merge_done[merge_idx[b]];
            fin_len[b] = merge_len[merge_idx[b]];
            memcpy(fin_seq + (size_t)b * M, merge_seq + (size_t)merge_idx[b] * M,
                   (size_t)M * sizeof(int));
        }
        for (int b = 0; b < B; b++) {
            int c = pick[b];
            run_score[b] = run_cand[c];
            src[b] = cand_idx[c] / V;
            next_tok[b] = cand_idx[c] % V;
        }
        for (int b = 0; b < B; b++) /* the new running sequences */
            memcpy(run_seq + (size_t)b * M, cand_seq + (size_t)pick[b] * M,
                   (size_t)(k + 1) * sizeof(int));
        /* early-stop heuristic with the new length (cur_len + 1) */
        {
            int all_done = 1;
            float worst = 0;
            for (int b = 0; b < B; b++) {
                all_done &= fin_done[b];
                worst = b == 0 || fin_score[b] < worst ? fin_score[b] : worst;
            }
            /* the best length a running beam may still reach: "never" with a
             * positive length penalty assumes max_new_tokens */
            const int reach =
                p->early_stopping == 2 && p->length_penalty > 0 ? M : cur_len + 1 - n0;
            const float best_run =
                run_score[0] / (float)pow((double)reach, (double)p->length_penalty);
            improvable = improvable && (!all_done || best_run > worst);
            if (p->early_stopping == 1 && all_done) improvable = 0; /* no open beam */
        }
        if (!improvable || all_hit) break;
        m->reorder(m->ctx, B, src);
        st = m->step(m->ctx, B, next_tok);
        lp = m->logits(m->ctx);
    }
    if (!st) { /* the best kept hypothesis (GenerationMixin returns sequences[:, 0]) */
        *best_len = fin_len[0];
        memcpy(best, fin_seq, (size_t)fin_len[0] * sizeof(int));
        *score = fin_score[0];
    }
    free(mem), free(fm);
    return st;
}
