/* saccade: captioner vocabulary (the tutorial's WORDMAP). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_captioner.h"
#include "sc_internal.h"

typedef struct word_id {
    const char *w;
    int id;
} word_id;

static int cmp_word_id(const void *a, const void *b) {
    const word_id *x = a, *y = b;
    int c = strcmp(x->w, y->w);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

void sc_vocab_free(sc_vocab *v) {
    if (!v) return;
    if (v->words)
        for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    free(v->sorted);
    memset(v, 0, sizeof *v);
}

static int find_sorted(const sc_vocab *v, const char *word) {
    int lo = 0, hi = v->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(v->words[v->sorted[mid]], word);
        if (c == 0) return v->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* words[] filled (all non-NULL); checks and builds the index. Frees v on failure. */
static sc_status finish(sc_vocab *v) {
    v->sorted = malloc((size_t)v->n * sizeof(int));
    word_id *tmp = malloc((size_t)v->n * sizeof(word_id));
    if (!v->sorted || !tmp) {
        free(tmp);
        sc_vocab_free(v);
        return sc_set_error(SC_ERR_NOMEM, "vocabulary: out of memory");
    }
    for (int i = 0; i < v->n; i++) tmp[i] = (word_id){v->words[i], i};
    qsort(tmp, (size_t)v->n, sizeof(word_id), cmp_word_id);
    for (int i = 0; i < v->n; i++) v->sorted[i] = tmp[i].id;
    free(tmp);
    for (int i = 1; i < v->n; i++) {
        if (strcmp(v->words[v->sorted[i - 1]], v->words[v->sorted[i]]) == 0) {
            sc_status st =
                sc_set_error(SC_ERR_FORMAT, "vocabulary: duplicate word \"%s\" (ids %d and %d)",
                             v->words[v->sorted[i]], v->sorted[i - 1], v->sorted[i]);
            sc_vocab_free(v);
            return st;
        }
    }
    const char *names[4] = {"<pad>", "<unk>", "<start>", "<end>"};
    int *slots[4] = {&v->pad, &v->unk, &v->start, &v->end};
    for (int k = 0; k < 4; k++) {
        int id = find_sorted(v, names[k]);
        if (id < 0) {
            sc_vocab_free(v);
            return sc_set_error(SC_ERR_FORMAT, "vocabulary: special token %s is missing", names[k]);
        }
        *slots[k] = id;
    }
    if (v->pad != 0) {
        int id = v->pad;
        sc_vocab_free(v);
        return sc_set_error(SC_ERR_FORMAT, "vocabulary: <pad> must have id 0, has id %d", id);
    }
    return SC_OK;
}

static sc_status check_word(const char *w, int id) {
    size_t len = strlen(w);
    if (len == 0) return sc_set_error(SC_ERR_FORMAT, "vocabulary: empty word (id %d)", id);
    if (len > SC_VOCAB_MAX_WORD_BYTES)
        return sc_set_error(SC_ERR_FORMAT, "vocabulary: word with id %d is %zu bytes (limit %d)",
                            id, len, SC_VOCAB_MAX_WORD_BYTES);
    return SC_OK;
}

sc_status sc_vocab_from_words(const char *const *words, int n, sc_vocab *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vocab_from_words: out is NULL");
    memset(out, 0, sizeof *out);
    if (!words || n <= 0) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vocab_from_words: no words");
    if (n > SC_VOCAB_MAX_WORDS)
        return sc_set_error(SC_ERR_LIMIT, "vocabulary: %d words (limit %d)", n, SC_VOCAB_MAX_WORDS);
    sc_vocab v = {0};
    v.words = calloc((size_t)n, sizeof(char *));
    if (!v.words) return sc_set_error(SC_ERR_NOMEM, "vocabulary: out of memory");
    v.n = n;
    for (int i = 0; i < n; i++) {
        sc_status st = words[i]
                           ? check_word(words[i], i)
                           : sc_set_error(SC_ERR_INVALID_ARG, "vocabulary: word %d is NULL", i);
        if (st != SC_OK) {
            sc_vocab_free(&v);
            return st;
        }
        v.words[i] = strdup(words[i]);
        if (!v.words[i]) {
            sc_vocab_free(&v);
            return sc_set_error(SC_ERR_NOMEM, "vocabulary: out of memory");
        }
    }
    sc_status st = finish(&v);
    if (st == SC_OK) *out = v;
    return st;
}

sc_status sc_vocab_from_json(const char *json, size_t len, sc_vocab *out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vocab_from_json: out is NULL");
    memset(out, 0, sizeof *out);
    if (!json) return sc_set_error(SC_ERR_INVALID_ARG, "sc_vocab_from_json: json is NULL");
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) return sc_set_error(SC_ERR_FORMAT, "vocabulary: invalid JSON");
    sc_status st = SC_OK;
    sc_vocab v = {0};
    if (!cJSON_IsObject(root)) {
        st = sc_set_error(SC_ERR_FORMAT, "vocabulary: JSON is not an object {\"word\": id}");
        goto done;
    }
    int n = cJSON_GetArraySize(root);
    if (n <= 0) {
        st = sc_set_error(SC_ERR_FORMAT, "vocabulary: empty word map");
        goto done;
    }
    if (n > SC_VOCAB_MAX_WORDS) {
        st = sc_set_error(SC_ERR_LIMIT, "vocabulary: %d words (limit %d)", n, SC_VOCAB_MAX_WORDS);
        goto done;
    }
    v.words = calloc((size_t)n, sizeof(char *));
    if (!v.words) {
        st = sc_set_error(SC_ERR_NOMEM, "vocabulary: out of memory");
        goto done;
    }
    v.n = n;
    for (cJSON *it = root->child; it; it = it->next) {
        const char *w = it->string ? it->string : "";
        if (!cJSON_IsNumber(it)) {
            st = sc_set_error(SC_ERR_FORMAT, "vocabulary: id of \"%.64s\" is not a number", w);
            goto done;
        }
        double d = it->valuedouble;
        if (!(d >= 0) || d != floor(d) || d >= (double)n) {
            st = sc_set_error(
                SC_ERR_FORMAT,
                "vocabulary: id %g of \"%.64s\" is not an integer in [0, %d) (ids must be "
                "contiguous from 0)",
                d, w, n);
            goto done;
        }
        int id = (int)d;
        if ((st = check_word(w, id)) != SC_OK) goto done;
        if (v.words[id]) {
            st = sc_set_error(SC_ERR_FORMAT, "vocabulary: id %d is used by \"%.64s\" and \"%.64s\"",
                              id, v.words[id], w);
            goto done;
        }
        v.words[id] = strdup(w);
        if (!v.words[id]) {
            st = sc_set_error(SC_ERR_NOMEM, "vocabulary: out of memory");
            goto done;
        }
    }
    /* n entries, ids distinct and < n: all slots are filled. */
    for (int i = 0; i < n; i++) SC_ASSERT(v.words[i] != NULL);
    st = finish(&v);
    if (st == SC_OK) *out = v;
    memset(&v, 0, sizeof v);
done:
    sc_vocab_free(&v);
    cJSON_Delete(root);
    return st;
}

char *sc_vocab_to_json(const sc_vocab *v) {
    if (!v || v->n <= 0 || !v->words) {
        sc_set_error(SC_ERR_INVALID_ARG, "sc_vocab_to_json: empty vocabulary");
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    if (!root) goto nomem;
    for (int i = 0; i < v->n; i++)
        if (!cJSON_AddNumberToObject(root, v->words[i], i)) {
            cJSON_Delete(root);
            goto nomem;
        }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) goto nomem;
    /* cJSON allocates with malloc by default: callers free(). */
    return s;
nomem:
    sc_set_error(SC_ERR_NOMEM, "sc_vocab_to_json: out of memory");
    return NULL;
}

int sc_vocab_id(const sc_vocab *v, const char *word) {
    if (!v || !word || v->n <= 0) return v ? v->unk : 0;
    int id = find_sorted(v, word);
    return id >= 0 ? id : v->unk;
}

const char *sc_vocab_word(const sc_vocab *v, int id) {
    if (!v || id < 0 || id >= v->n) return NULL;
    return v->words[id];
}
