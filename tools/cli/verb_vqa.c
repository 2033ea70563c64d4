/* saccade vqa: answer questions about an image with a VQA model. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include "saccade/sc_blip_vqa.h"
#include "saccade/sc_caption_render.h"
#include "saccade/sc_model_probe.h"
#include "saccade/sc_vqa_render.h"
#include "cli.h"
#include "saccade/sc_vqa_train.h"

/* Longest question line read from standard input, in bytes (the model reads
 * at most SC_VQA_MAX_TOKENS words of it anyway). */
#define VQA_MAX_LINE 65536

void cli_vqa_help(FILE *out) {
    fprintf(
        out,
        "usage: saccade vqa IMAGE [QUESTION] [--model M] [--top-k K] [--json]\n"
        "                   [--attention OUT.png] [--threads N] [--shard K/N]\n"
        "                   [--questions FILE]\n"
        "       saccade vqa IMAGE [QUESTION] --model DIR [--beam K] [--max-len N]\n"
        "                   [--min-len N] [--attention-layer L] [--json] [--attention OUT.png]\n\n"
        "Answers QUESTION about IMAGE (any size; resized to the model's input) and\n"
        "prints the answer and its probability. Without QUESTION, reads questions from\n"
        "standard input, one per line, and answers each (the image is encoded once;\n"
        "blank lines are skipped). A line over %d bytes gets an error and is skipped;\n"
        "the other lines are answered (exit 1 at the end).\n\n"
        "  --model M          model file (default: the shipped scenes-vqa model,\n"
        "                     trained on Fashion scenes; see models/scenes-vqa.md)\n"
        "  --top-k K          print the K most probable answers (1..8, default 1)\n"
        "  --json             one JSON object per question: question, answer,\n"
        "                     probability, top_k, unknown_words, tokens, truncated;\n"
        "                     a co-attention model (--arch coatt) adds coattention:\n"
        "                     per level (word, phrase, question) the attention on\n"
        "                     each question word and the 3 most attended image\n"
        "                     cells (row, col, weight)\n"
        "  --attention OUT.png  contact sheet: the image and one attention overlay per\n"
        "                     hop (co-attention: per level, captioned with the two\n"
        "                     question words it attended to most), with the question\n"
        "                     and answer written under them\n"
        "                     (stdin mode: OUT-1.png, OUT-2.png, ...)\n"
        "  --questions FILE   read the questions from FILE instead of standard input\n"
        "                     (same rules; use it under mpirun: Open MPI 4.1's mpirun\n"
        "                     can crash while forwarding standard input, see\n"
        "                     open-mpi/ompi issue 7483)\n"
        "  --shard K/N        stdin mode: answer only the K-th of N equal slices of the\n"
        "                     questions (read in full first; numbers and OUT-N.png stay\n"
        "                     those of the whole list). Under mpirun rank 0 reads the\n"
        "                     questions, every rank answers its slice and rank 0 prints\n"
        "                     all answers in question order; SIGTERM, SIGINT or SIGHUP\n"
        "                     to a rank ends the job with exit 1 and no output\n\n"
        "BLIP (--model DIR: a Hugging Face BlipForQuestionAnswering folder such as\n"
        "Salesforce/blip-vqa-base, or a saccade BLIP file): the answer is generated as\n"
        "transformers' generate does it (greedy, at most 20 tokens unless the config\n"
        "says otherwise; --beam K, --max-len N, --min-len N override) and printed with\n"
        "its probability under the decoder. --json adds the question and answer\n"
        "tokens and answer_attention: each answer token's cross-attention over the\n"
        "question tokens. --attention OUT.png: one panel per question word (its\n"
        "cross-attention over the image in the text encoder) and per answer token\n"
        "(\"A: word\": the question maps weighted by its attention over the question);\n"
        "mean over heads of layer 2L/3 (8 of 12) or --attention-layer L.\n\n"
        "Words the model does not know are named in the output (\"unknown words: ...\")\n"
        "and answered as <unk>. Questions longer than the model's limit are cut, with a\n"
        "warning on stderr. An empty question is an error (exit 1).\n\n"
        "Examples (from the source tree; S=assets/samples/scenes/images):\n"
        "  saccade vqa $S/test_000001.png \"what colour is the boot?\"\n"
        "  saccade vqa $S/test_000002.png \"is there a bag?\" --top-k 3 --json\n"
        "  saccade vqa $S/test_000002.png \"what is to the left of the bag?\" --attention "
        "hops.png\n"
        "  printf 'is there a coat?\\nhow many shoes are there?\\n' | saccade vqa "
        "$S/test_000002.png\n"
        "  saccade vqa --model blip-vqa-base photo.jpg \"what is the man holding?\" "
        "--attention where.png\n",
        VQA_MAX_LINE);
}

/* Reads the next line of f into buf (cap >= 1 bytes), without its line end,
 * and returns 1, or 0 at the end of input. A line over cap - 1 bytes is read
 * to its end but not kept (*bad = "is over the limit"), nor is one holding a
 * NUL (*bad = "holds a NUL byte"); buf is then empty. Memory stays bounded whatever
 * the input. */
static int read_line(FILE *f, char *buf, size_t cap, const char **bad) {
    size_t L = 0;
    int c, any = 0, nul = 0, over = 0;
    *bad = NULL;
    while ((c = getc(f)) != EOF && c != '\n') {
        any = 1;
        nul |= c == 0;
        if (L < cap - 1)
            buf[L++] = (char)c;
        else
            over = 1;
    }
    if (!any && c == EOF) return 0;
    if (!over && L && buf[L - 1] == '\r') L--;
    buf[L] = 0;
    if (over || nul) *bad = over ? "is over the limit" : "holds a NUL byte", buf[0] = 0;
    return 1;
}

static int write_attention(const sc_image *img, const sc_vqa_answer *a, const char *q,
                           const char *ans, const char *path) {
    sc_image sheet = {0};
    sc_vqa_figure_params fp = sc_vqa_figure_default_params();
    int rc = CLI_OK;
    if (sc_vqa_answer_figure(img, a, q, ans, &fp, &sheet))
        rc = cli_fail("attention");
    else if (sc_image_save_png(&sheet, path))
        rc = cli_fail(path);
    sc_image_free(&sheet);
    return rc;
}

/* Co-attention: per level, the question words with their attention and the
 * three most attended image cells (row, col of the grid), strongest first. */
static cJSON *coattention_json(const sc_vqa_answer *a, const char *q) {
    sc_vqa_tokens tok;
    cJSON *levels = cJSON_CreateArray();
    int ok = levels && !sc_vqa_tokenize(q, &tok), P = a->grid * a->grid;
    for (int l = 0; ok && l < a->levels; l++) {
        cJSON *o = cJSON_CreateObject(), *words = cJSON_CreateArray(), *cells = cJSON_CreateArray();
        ok = o && words && cells && cJSON_AddItemToArray(levels, o) &&
             cJSON_AddStringToObject(o, "level", sc_vqa_level_name(l));
        for (int t = 0; ok && t < a->n_tokens && t < tok.n; t++) {
            cJSON *w = cJSON_CreateObject();
            ok = w && cJSON_AddItemToArray(words, w) &&
                 cJSON_AddStringToObject(w, "word", tok.words[t]) &&
                 cli_json_add_fixed(w, "weight", a->qatt[(size_t)l * a->n_tokens + t], 4);
        }
        const float *map = a->att + (size_t)l * P;
        int used[3] = {-1, -1, -1};
        for (int k = 0; ok && k < 3 && k < P; k++) {
            int best = -1;
            for (int i = 0; i < P; i++)
                if (i != used[0] && i != used[1] && (best < 0 || map[i] > map[best])) best = i;
            used[k] = best;
            cJSON *c = cJSON_CreateObject();
            ok = c && cJSON_AddItemToArray(cells, c) &&
                 cJSON_AddNumberToObject(c, "row", best / a->grid) &&
                 cJSON_AddNumberToObject(c, "col", best % a->grid) &&
                 cli_json_add_fixed(c, "weight", map[best], 4);
        }
        ok = ok && cJSON_AddItemToObject(o, "question_words", words);
        if (ok) words = NULL;
        ok = ok && cJSON_AddItemToObject(o, "image_cells", cells);
        if (ok) cells = NULL;
        cJSON_Delete(words);
        cJSON_Delete(cells);
    }
    if (!ok) {
        cJSON_Delete(levels);
        return NULL;
    }
    return levels;
}

/* One answer as JSON: question, answer, probability, top_k, unknown_words,
 * tokens, truncated; co-attention adds "coattention" (coattention_json). */
static cJSON *answer_json(const sc_vqa_answer *a, const sc_vqa_vocab *ans, const char *q) {
    cJSON *o = cJSON_CreateObject(), *top = cJSON_CreateArray(), *unk = cJSON_CreateArray();
    int ok = o && top && unk && cJSON_AddStringToObject(o, "question", q) &&
             cJSON_AddStringToObject(o, "answer", ans->words[a->top[0]]) &&
             cli_json_add_fixed(o, "probability", a->prob[0], 6);
    for (int k = 0; ok && k < a->n_top; k++) {
        cJSON *t = cJSON_CreateObject();
        ok = t && cJSON_AddItemToArray(top, t) &&
             cJSON_AddStringToObject(t, "answer", ans->words[a->top[k]]) &&
             cli_json_add_fixed(t, "probability", a->prob[k], 6);
    }
    char tmp[sizeof a->unknown];
    memcpy(tmp, a->unknown, sizeof tmp);
    char *save = NULL;
    for (char *w = strtok_r(tmp, " ", &save); ok && w; w = strtok_r(NULL, " ", &save))
        ok = cJSON_AddItemToArray(unk, cJSON_CreateString(w));
    ok = ok && cJSON_AddItemToObject(o, "top_k", top);
    if (ok) top = NULL;
    ok = ok && cJSON_AddItemToObject(o, "unknown_words", unk);
    if (ok) unk = NULL;
    ok = ok && cJSON_AddNumberToObject(o, "tokens", a->n_tokens) &&
         cJSON_AddBoolToObject(o, "truncated", a->truncated);
    if (ok && a->levels) {
        cJSON *co = coattention_json(a, q);
        ok = co && cJSON_AddItemToObject(o, "coattention", co);
        if (!ok) cJSON_Delete(co);
    }
    cJSON_Delete(top);
    cJSON_Delete(unk);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Where the questions come from: standard input or --questions FILE. */
typedef struct vqa_questions {
    FILE *in;
    const char *name; /* "stdin" or the file's path, for messages */
} vqa_questions;

/* The questions of standard input, for sharding: rank 0 reads them all
 * (blank lines dropped, bad lines kept as such) into records
 * "LINENO\tBAD\tTEXT\0" and broadcasts them. *out: the records (malloc'ed),
 * *len their bytes; -1 on a failure (reported). */
static int read_all_questions(const vqa_questions *qs, char **out, size_t *len) {
    static char line[VQA_MAX_LINE + 2];
    sc_comm *c = sc_comm_launched_by_mpi() ? cli_comm() : NULL;
    char *buf = NULL;
    size_t n = 0;
    unsigned long long size = 0;
    if (sc_comm_rank(c) == 0) {
        FILE *mem = open_memstream(&buf, &n);
        if (!mem) return cli_fail("out of memory");
        const char *bad;
        int lineno = 0;
        while (read_line(qs->in, line, sizeof line, &bad)) {
            lineno++;
            if (!bad && strlen(line) > VQA_MAX_LINE) bad = "is over the limit";
            const char *s = line;
            while (*s == ' ' || *s == '\t') s++;
            if (!bad && !*s) continue;
            fprintf(mem, "%d\t%d\t%s", lineno, !bad ? 0 : bad[0] == 'i' ? 1 : 2, bad ? "" : s);
            fputc(0, mem);
        }
        if (fclose(mem)) return cli_fail("out of memory");
        size = n;
    }
    if (!c) { /* one process: nothing to share */
        *out = buf;
        *len = n;
        return 0;
    }
    if (sc_comm_broadcast(c, &size, sizeof size, 0)) return cli_fail("questions");
    if (sc_comm_rank(c) != 0 && !(buf = malloc(size ? size : 1))) return cli_fail("out of memory");
    if (sc_comm_broadcast(c, buf, size, 0)) {
        free(buf);
        return cli_fail("questions");
    }
    *out = buf;
    *len = size;
    return 0;
}

static int answer_one(sc_vqa_model *m, const sc_image *img, const char *q, int top_k, int json,
                      const char *att_path, const char *warn) {
    sc_vqa_answer *a = malloc(sizeof *a);
    if (!a) return cli_fail("out of memory");
    if (sc_vqa_ask(m, q, top_k, a)) {
        free(a);
        return cli_fail(NULL);
    }
    const sc_vqa_vocab *ans = sc_vqa_get_answers(m);
    const char *best = ans->words[a->top[0]];
    if (a->truncated)
        fprintf(stderr, "saccade vqa: warning: question cut to the model's limit of %d tokens\n",
                sc_vqa_get_config(m)->max_len);
    int rc = CLI_OK;
    if (json) {
        cJSON *o = answer_json(a, ans, q);
        if (o && warn) cJSON_AddStringToObject(o, "warning", warn);
        rc = cli_json_emit(stdout, o);
    } else {
        printf("%s (%.3f)\n", best, (double)a->prob[0]);
        for (int k = 1; k < a->n_top; k++)
            printf("  %d. %s (%.3f)\n", k + 1, ans->words[a->top[k]], (double)a->prob[k]);
        if (a->unknown[0]) printf("unknown words: %s\n", a->unknown);
    }
    fflush(stdout);
    if (att_path && !rc) {
        if (!a->hops) {
            sc_set_error(SC_ERR_INVALID_ARG, "this model (%s) has no attention maps",
                         sc_vqa_arch_name(sc_vqa_get_config(m)->arch));
            rc = cli_fail("--attention");
        } else
            rc = write_attention(img, a, q, best, att_path);
    }
    free(a);
    return rc;
}

/* OUT.png -> OUT-n.png for question n (1-based) of standard input. */
static const char *numbered(const char *att, int n, char *buf, size_t cap) {
    if (!att) return NULL;
    const char *dot = strrchr(att, '.');
    int stem = dot ? (int)(dot - att) : (int)strlen(att);
    snprintf(buf, cap, "%.*s-%d%s", stem, att, n, dot ? dot : "");
    return buf;
}

/* Standard input's questions, this process's slice (--shard, mpirun ranks). */
static int answer_shard(sc_vqa_model *m, const sc_image *img, const vqa_questions *qs, int shard_k,
                        int shard_n, int top_k, int json, const char *att, const char *warn) {
    char *recs = NULL;
    size_t len = 0;
    if (read_all_questions(qs, &recs, &len)) return CLI_FAIL;
    int nq = 0;
    for (size_t i = 0; i < len; i++) nq += recs[i] == 0;
    int lo, hi, bad = 0;
    cli_slice(nq, shard_k, shard_n, &lo, &hi);
    cli_rank_output ro;
    cli_rank_output_begin(&ro);
    const char *r = recs;
    for (int q = 0; q < hi; q++, r += strlen(r) + 1) {
        if (q < lo) continue;
        if (cli_stopped()) {
            bad++;
            break;
        }
        int lineno = 0, code = 0, used = 0;
        sscanf(r, "%d\t%d\t%n", &lineno, &code, &used);
        if (code) {
            fprintf(stderr,
                    "saccade vqa: %s line %d: skipped, the question %s (at most %d bytes, no "
                    "NUL)\n",
                    qs->name, lineno, code == 1 ? "is over the limit" : "holds a NUL byte",
                    VQA_MAX_LINE);
            bad++;
            continue;
        }
        char apath[4200];
        if (answer_one(m, img, r + used, top_k, json, numbered(att, q + 1, apath, sizeof apath),
                       warn))
            bad++;
    }
    free(recs);
    return cli_rank_output_end(&ro, bad) ? CLI_FAIL : CLI_OK;
}

/* --questions FILE (or standard input when qfile is NULL) -> *qs; reported
 * failure: -1 (qs->in NULL). */
static int open_questions(const char *qfile, vqa_questions *qs) {
    qs->in = stdin;
    qs->name = "stdin";
    if (!qfile) return 0;
    struct stat st;
    if (!(qs->in = fopen(qfile, "r"))) {
        sc_set_error(SC_ERR_IO, "cannot open: %s", strerror(errno));
        return cli_fail(qfile), -1;
    }
    qs->name = qfile;
    if (fstat(fileno(qs->in), &st) || S_ISDIR(st.st_mode)) {
        fclose(qs->in);
        qs->in = NULL;
        sc_set_error(SC_ERR_IO, "not a file of questions (a directory?)");
        return cli_fail(qfile), -1;
    }
    return 0;
}

/* One answer for each question line of standard input (blank lines
 * skipped); with att, the figure of question n goes to OUT-n.ext. Lines over
 * the limit or holding a NUL are reported and skipped. CLI_OK, or CLI_FAIL
 * when a line or an answer failed. */
static int each_stdin_question(const vqa_questions *qs, const char *att,
                               int (*answer)(void *, const char *, const char *), void *ctx) {
    static char line[VQA_MAX_LINE + 2]; /* the line, a "\r", NUL */
    int n = 0, lineno = 0, rc = CLI_OK;
    const char *bad;
    while (read_line(qs->in, line, sizeof line, &bad)) {
        lineno++;
        if (bad || strlen(line) > VQA_MAX_LINE) {
            n++; /* numbered as a question: later OUT-N.png keep their numbers */
            if (!bad) bad = "is over the limit";
            fprintf(stderr,
                    "saccade vqa: %s line %d: skipped, the question %s (at most %d "
                    "bytes, no NUL)\n",
                    qs->name, lineno, bad, VQA_MAX_LINE);
            rc = CLI_FAIL;
            continue;
        }
        const char *s = line;
        while (*s == ' ' || *s == '\t') s++;
        if (!*s) continue;
        n++;
        char apath[4200];
        if (answer(ctx, s, numbered(att, n, apath, sizeof apath))) rc = CLI_FAIL;
    }
    return rc;
}

typedef struct scenes_ctx {
    sc_vqa_model *m;
    const sc_image *img;
    int top_k, json;
    const char *warn;
} scenes_ctx;

static int scenes_answer(void *vctx, const char *q, const char *att_path) {
    scenes_ctx *c = vctx;
    return answer_one(c->m, c->img, q, c->top_k, c->json, att_path, c->warn);
}

/* ---------------------------------------------------------------- BLIP */
typedef struct blip_vqa_opts { /* -1: the model's own */
    int beams, max_len, min_len, layer;
} blip_vqa_opts;

typedef struct blip_ctx {
    sc_blip_vqa *v;
    const sc_image *img;
    sc_blip_generate_params gen;
    int json;
} blip_ctx;

/* The figure: the question words' cross-attention over the image in the
 * encoder ([CLS] and [SEP] left out), then each answer token's map through
 * the question (sc_blip_answer.answer_maps), labelled "A: token". */
static sc_status blip_figure(const sc_image *img, const sc_blip_answer *a, const char *path) {
    const int G = a->grid, P = G * G, nw = a->nq - 2, n = nw + a->n;
    float *maps = malloc((size_t)(n ? n : 1) * P * sizeof(float));
    const char **labels = calloc((size_t)(n ? n : 1), sizeof *labels);
    char **owned = calloc((size_t)(a->n ? a->n : 1), sizeof *owned);
    sc_status s = maps && labels && owned ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < nw; i++) {
        memcpy(maps + (size_t)i * P, a->question_attention + (size_t)(1 + i) * P,
               (size_t)P * sizeof(float));
        labels[i] = a->question_words[1 + i];
    }
    for (int t = 0; !s && t < a->n; t++) {
        memcpy(maps + (size_t)(nw + t) * P, a->answer_maps + (size_t)t * P,
               (size_t)P * sizeof(float));
        size_t L = strlen(a->words[t]) + 4;
        if (!(owned[t] = malloc(L))) {
            s = sc_set_error(SC_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(owned[t], L, "A: %s", a->words[t]);
        labels[nw + t] = owned[t];
    }
    sc_image fig = {0};
    sc_attention_grid_params gp = sc_attention_grid_default_params();
    if (!s) s = sc_attention_grid(img, maps, G, n, labels, &gp, &fig);
    if (!s) s = sc_image_save(&fig, path);
    sc_image_free(&fig);
    for (int t = 0; owned && t < a->n; t++) free(owned[t]);
    free(owned), free(labels), free(maps);
    return s;
}

static cJSON *string_array(char *const *w, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(w[i]))) {
            cJSON_Delete(arr);
            return NULL;
        }
    return arr;
}

/* question, answer, score (probability of the answer under the decoder),
 * logprob, ended, question_tokens, answer_tokens and answer_attention (one
 * row per answer token over the question tokens). */
static cJSON *blip_answer_json(const sc_blip_answer *a, const char *q, const char *fig) {
    cJSON *o = cJSON_CreateObject(), *att = cJSON_CreateArray();
    int ok = o && att && cJSON_AddStringToObject(o, "question", q) &&
             cJSON_AddStringToObject(o, "answer", a->text) &&
             cli_json_add_fixed(o, "score", a->score, 6) &&
             !cli_json_add_g9(o, "logprob", a->logprob) &&
             cJSON_AddBoolToObject(o, "ended", a->ended) &&
             cJSON_AddItemToObject(o, "question_tokens", string_array(a->question_words, a->nq)) &&
             cJSON_AddItemToObject(o, "answer_tokens", string_array(a->words, a->n));
    for (int t = 0; ok && t < a->n; t++) {
        cJSON *row = cJSON_CreateArray();
        ok = row && cJSON_AddItemToArray(att, row);
        for (int j = 0; ok && j < a->nq; j++) {
            char buf[32];
            snprintf(buf, sizeof buf, "%.6f", (double)a->answer_attention[(size_t)t * a->nq + j]);
            ok = cJSON_AddItemToArray(row, cJSON_CreateRaw(buf));
        }
    }
    ok = ok && cJSON_AddItemToObject(o, "answer_attention", att);
    if (ok) att = NULL;
    ok = ok && (fig ? cJSON_AddStringToObject(o, "attention_png", fig) != NULL
                    : cJSON_AddNullToObject(o, "attention_png") != NULL);
    cJSON_Delete(att);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int blip_answer(void *vctx, const char *q, const char *att_path) {
    blip_ctx *c = vctx;
    sc_blip_answer a;
    if (sc_blip_vqa_answer(c->v, q, &c->gen, &a)) return cli_fail(NULL);
    int rc = CLI_OK;
    if (att_path && blip_figure(c->img, &a, att_path)) rc = cli_fail(att_path);
    if (!rc && c->json)
        rc = cli_json_emit(stdout, blip_answer_json(&a, q, att_path));
    else if (!rc)
        printf("%s (%.3f)\n", a.text, (double)a.score);
    fflush(stdout);
    sc_blip_answer_free(&a);
    return rc;
}

static int blip_vqa_main(const char *model, const char *image, const char *question,
                         const char *qfile, int json, const char *att, const blip_vqa_opts *o,
                         int top_k) {
    if (top_k != 1)
        return cli_usage("vqa", "--top-k is for the scenes models; BLIP generates one answer");
    if (question && !question[0]) {
        sc_set_error(SC_ERR_INVALID_ARG, "the question is empty (no words)");
        return cli_fail(NULL);
    }
    blip_ctx c = {0};
    sc_image img = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_blip_vqa_load(model, &c.v)) return cli_fail(NULL);
    c.gen = sc_blip_default_generate_params(sc_blip_vqa_model(c.v));
    if (o->beams > 0) c.gen.num_beams = o->beams;
    if (o->max_len > 0) c.gen.max_new_tokens = o->max_len;
    if (o->min_len >= 0) c.gen.min_length = o->min_len;
    if (o->layer >= 0) c.gen.attention_layer = o->layer;
    c.json = json;
    c.img = &img;
    int rc = CLI_OK;
    if (sc_image_load(image, &lp, &img, NULL) || sc_blip_vqa_set_image(c.v, &img))
        rc = cli_fail(image);
    else if (question)
        rc = blip_answer(&c, question, att) ? CLI_FAIL : CLI_OK;
    else {
        vqa_questions qs;
        rc = open_questions(qfile, &qs) ? CLI_FAIL : each_stdin_question(&qs, att, blip_answer, &c);
        if (qfile && qs.in) fclose(qs.in);
    }
    sc_image_free(&img);
    sc_blip_vqa_free(c.v);
    return rc;
}

int cli_vqa_main(int argc, char **argv) {
    const char *V = "vqa";
    const char *image = NULL, *question = NULL, *model = NULL, *att = NULL, *shard = NULL,
               *qfile = NULL;
    int top_k = 1, json = 0, threads = 0;
    blip_vqa_opts bo = {-1, -1, -1, -1};
    const cli_opt opts[] = {
        {"--model", CLI_STR, &model, 0, 0, "a file", NULL, 0},
        {"--beam", CLI_INT, &bo.beams, 1, SC_BLIP_MAX_BEAMS, NULL, NULL, 0},
        {"--max-len", CLI_INT, &bo.max_len, 1, SC_BLIP_MAX_NEW_TOKENS, NULL, NULL, 0},
        {"--min-len", CLI_INT, &bo.min_len, 0, SC_BLIP_MAX_NEW_TOKENS, NULL, NULL, 0},
        {"--attention-layer", CLI_INT, &bo.layer, 0, SC_BLIP_MAX_LAYERS - 1, NULL, NULL, 0},
        {"--attention", CLI_STR, &att, 0, 0, "a file name", NULL, 0},
        {"--top-k", CLI_INT, &top_k, 1, 8, NULL, NULL, 0},
        {"--threads", CLI_INT, &threads, 1, 2147483647, NULL, NULL, 0},
        {"--json", CLI_FLAG, &json, 0, 0, NULL, NULL, 0},
        {"--shard", CLI_STR, &shard, 0, 0, "K/N", NULL, 0},
        {"--questions", CLI_STR, &qfile, 0, 0, "a file", NULL, 0},
    };
    const char *pos[2];
    int npos = 0;
    int prc = cli_parse_options(V, argc, argv, opts, sizeof opts / sizeof opts[0], pos, 2, &npos);
    if (prc) return prc;
    if (npos > 0) image = pos[0];
    if (npos > 1) question = pos[1];
    if (!image) return cli_usage(V, "need an IMAGE");
    int shard_k, shard_n;
    if ((prc = cli_parse_shard(V, shard, &shard_k, &shard_n))) return prc;
    if (shard && question) return cli_usage(V, "--shard splits the questions of standard input");
    if (qfile && question) return cli_usage(V, "give a QUESTION or --questions FILE, not both");
    if ((prc = cli_set_threads(V, threads))) return prc;
    sc_model_kind kind;
    struct stat sb;
    if (model && ((!stat(model, &sb) && S_ISDIR(sb.st_mode)) ||
                  (!sc_model_probe(model, &kind) && kind == SC_MODEL_BLIP))) {
        if (shard) return cli_usage(V, "--shard is for the scenes model, not BLIP (--model DIR)");
        return blip_vqa_main(model, image, question, qfile, json, att, &bo, top_k);
    }
    if (bo.beams >= 0 || bo.max_len >= 0 || bo.min_len >= 0 || bo.layer >= 0)
        return cli_usage(V, "--beam, --max-len, --min-len and --attention-layer are for BLIP "
                            "(--model DIR, a Hugging Face BlipForQuestionAnswering folder)");
    char mpath[4096];
    if (!model) {
        if (sc_find_asset("models/scenes-vqa.safetensors", mpath, sizeof mpath))
            return cli_fail("default model");
        model = mpath;
    }
    if (question) {
        sc_vqa_tokens *tk = malloc(sizeof *tk);
        if (!tk) return cli_fail("out of memory");
        sc_vqa_tokenize(question, tk);
        int empty = tk->n == 0;
        free(tk);
        if (empty) {
            sc_set_error(SC_ERR_INVALID_ARG, "the question is empty (no words)");
            return cli_fail(NULL);
        }
    }
    vqa_questions qs = {stdin, "stdin"};
    sc_vqa_model *m = NULL;
    sc_image img = {0};
    scenes_ctx sc = {0};
    sc_image_load_params lp = sc_image_load_default_params();
    if (sc_vqa_load(model, &m)) return cli_fail(NULL);
    int rc = CLI_OK;
    if (open_questions(qfile, &qs)) {
        rc = CLI_FAIL;
        goto done;
    }
    if (sc_image_load(image, &lp, &img, NULL) || sc_vqa_set_image(m, &img)) {
        rc = cli_fail(image);
        goto done;
    }
    const char *warn = sc_bundled_model_warning(model, img.w, img.h);
    if (warn) fprintf(stderr, "saccade: %s: warning: %s\n", image, warn);
    sc = (scenes_ctx){m, &img, top_k, json, warn};
    if (question && sc_comm_launched_by_mpi() && !cli_rank0()) {
        rc = CLI_OK; /* one question under mpirun: rank 0 answers it */
    } else if (question) {
        rc = answer_one(m, &img, question, top_k, json, att, warn) ? CLI_FAIL : CLI_OK;
    } else if (shard || sc_comm_launched_by_mpi()) {
        rc = answer_shard(m, &img, &qs, shard_k, shard_n, top_k, json, att, warn);
    } else {
        rc = each_stdin_question(&qs, att, scenes_answer, &sc);
    }
done:
    if (qfile && qs.in) fclose(qs.in);
    sc_image_free(&img);
    sc_vqa_free(m);
    return rc;
}
