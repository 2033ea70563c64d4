/* VQA tokenizer and vocabulary (see sc_vqa.h for the rules). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>
#include "saccade/sc_util.h"
#include "saccade/sc_vqa.h"

/* Letters of every script come from glibc's built-in C.UTF-8 tables (used
 * through a locale object, so the process's own locale does not matter). */
static locale_t utf8_ctype;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_init(void) {
    utf8_ctype = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* Decodes one UTF-8 character at s into *cp and returns its length, or 0 for
 * a malformed sequence (overlong, surrogate, past U+10FFFF, cut short). */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    int n = s[0] < 0x80                    ? 1
            : s[0] >= 0xC2 && s[0] <= 0xDF ? 2
            : (s[0] & 0xF0) == 0xE0        ? 3
            : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                           : 0;
    if (n <= 1) return *cp = s[0], n;
    uint32_t c = s[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < least[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

static int utf8_encode(uint32_t c, char *out) {
    if (c < 0x80) return out[0] = (char)c, 1;
    if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F)), out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Combining marks (accents written after their letter, as in decomposed
 * text) belong to the word they follow. */
static int is_combining(uint32_t c) {
    return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
           (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
           (c >= 0xFE20 && c <= 0xFE2F);
}

/* The character as it goes into a token (lower case; U+2019 as the ASCII
 * apostrophe), or 0 when it separates tokens. */
static uint32_t tok_char(uint32_t c) {
    if (c < 0x80) {
        if (c >= 'A' && c <= 'Z') return c - 'A' + 'a';
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'' || c == '-' ? c : 0;
    }
    if (c == 0x2019) return '\'';
    if (is_combining(c)) return c;
    pthread_once(&utf8_once, utf8_init);
    if (!utf8_ctype) return c; /* no tables: keep every non-ASCII character */
    return iswalnum_l((wint_t)c, utf8_ctype) ? (uint32_t)towlower_l((wint_t)c, utf8_ctype) : 0;
}

sc_status sc_vqa_tokenize(const char *text, sc_vqa_tokens *out) {
    if (!text || !out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa tokenize: NULL argument");
    out->n = 0;
    out->n_total = 0;
    const unsigned char *s = (const unsigned char *)text;
    char word[SC_VQA_MAX_WORD];
    int len = 0, in_word = 0;
    for (;;) {
        uint32_t c = 0, t = 0;
        int k = *s ? utf8_decode(s, &c) : 0;
        if (k) t = tok_char(c);
        if (t && !(is_combining(t) && !in_word)) {
            char enc[4];
            int e = utf8_encode(t, enc);
            /* a long word is cut at a character boundary */
            if (len + e <= SC_VQA_MAX_WORD - 1) memcpy(word + len, enc, (size_t)e), len += e;
            in_word = 1;
        } else if (in_word) {
            word[len] = 0;
            if (out->n < SC_VQA_MAX_TOKENS) memcpy(out->words[out->n++], word, (size_t)len + 1);
            if (out->n_total < 1000000) out->n_total++;
            len = 0, in_word = 0;
        }
        if (!*s) break;
        s += k ? k : 1; /* a malformed byte separates tokens */
    }
    return SC_OK;
}

void sc_vqa_vocab_free(sc_vqa_vocab *v) {
    if (!v) return;
    if (v->words)
        for (int i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words);
    v->words = NULL;
    v->n = 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static sc_status vocab_push(sc_vqa_vocab *v, int *cap, const char *w) {
    if (v->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        char **nw = realloc(v->words, (size_t)nc * sizeof *nw);
        if (!nw) return sc_set_error(SC_ERR_NOMEM, "vqa vocab: out of memory");
        v->words = nw;
        *cap = nc;
    }
    v->words[v->n] = strdup(w);
    if (!v->words[v->n]) return sc_set_error(SC_ERR_NOMEM, "vqa vocab: out of memory");
    v->n++;
    return SC_OK;
}

sc_status sc_vqa_vocab_build(const char *const *texts, size_t ntexts, sc_vqa_vocab *out) {
    if (!out || (!texts && ntexts))
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa vocab build: NULL argument");
    memset(out, 0, sizeof *out);
    sc_vqa_vocab all = {0};
    int cap = 0, ocap = 0;
    sc_vqa_tokens *tk = malloc(sizeof *tk);
    if (!tk) return sc_set_error(SC_ERR_NOMEM, "vqa vocab: out of memory");
    sc_status st = SC_OK;
    for (size_t i = 0; i < ntexts && st == SC_OK; i++) {
        if (!texts[i]) continue;
        sc_vqa_tokenize(texts[i], tk);
        for (int j = 0; j < tk->n && st == SC_OK; j++) st = vocab_push(&all, &cap, tk->words[j]);
    }
    free(tk);
    if (st == SC_OK && all.n > 1) qsort(all.words, (size_t)all.n, sizeof *all.words, cmp_str);
    if (st == SC_OK) st = vocab_push(out, &ocap, "<pad>");
    if (st == SC_OK) st = vocab_push(out, &ocap, "<unk>");
    for (int i = 0; i < all.n && st == SC_OK; i++)
        if (i == 0 || strcmp(all.words[i], all.words[i - 1]))
            st = vocab_push(out, &ocap, all.words[i]);
    sc_vqa_vocab_free(&all);
    if (st != SC_OK) sc_vqa_vocab_free(out);
    return st;
}

sc_status sc_vqa_vocab_from_json(const char *json, sc_vqa_vocab *out) {
    if (!json || !out) return sc_set_error(SC_ERR_INVALID_ARG, "vqa vocab: NULL argument");
    memset(out, 0, sizeof *out);
    cJSON *a = cJSON_Parse(json);
    if (!a || !cJSON_IsArray(a)) {
        cJSON_Delete(a);
        return sc_set_error(SC_ERR_FORMAT, "vqa vocab: not a JSON array of strings");
    }
    int cap = 0;
    sc_status st = SC_OK;
    cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) >= SC_VQA_MAX_WORD) {
            st = sc_set_error(SC_ERR_FORMAT, "vqa vocab: entries must be strings under %d bytes",
                              SC_VQA_MAX_WORD);
            break;
        }
        if ((st = vocab_push(out, &cap, e->valuestring)) != SC_OK) break;
    }
    cJSON_Delete(a);
    if (st == SC_OK && out->n < 1) st = sc_set_error(SC_ERR_FORMAT, "vqa vocab: empty list");
    if (st != SC_OK) sc_vqa_vocab_free(out);
    return st;
}

char *sc_vqa_vocab_to_json(const sc_vqa_vocab *v) {
    if (!v) return NULL;
    cJSON *a = cJSON_CreateArray();
    if (!a) return NULL;
    for (int i = 0; i < v->n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v->words[i]));
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    if (!s) sc_set_error(SC_ERR_NOMEM, "vqa vocab: out of memory");
    return s;
}

int sc_vqa_vocab_find(const sc_vqa_vocab *v, const char *word) {
    if (!v || !word) return -1;
    for (int i = 0; i < v->n; i++)
        if (!strcmp(v->words[i], word)) return i;
    return -1;
}

sc_status sc_vqa_encode(const sc_vqa_vocab *v, const char *text, int max_len, int32_t *ids,
                        int *len, int *truncated, char *unk, size_t unk_cap) {
    if (!v || !text || !ids || !len || max_len < 1)
        return sc_set_error(SC_ERR_INVALID_ARG, "vqa encode: bad argument");
    if (v->n < 2) /* unknown words get id 1 */
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "vqa encode: a vocabulary starts with \"<pad>\", \"<unk>\"");
    sc_vqa_tokens *tk = malloc(sizeof *tk);
    if (!tk) return sc_set_error(SC_ERR_NOMEM, "vqa encode: out of memory");
    sc_vqa_tokenize(text, tk);
    int n = tk->n < max_len ? tk->n : max_len;
    if (truncated) *truncated = tk->n_total > max_len;
    if (unk && unk_cap) unk[0] = 0;
    for (int i = 0; i < max_len; i++) ids[i] = SC_VQA_PAD;
    for (int i = 0; i < n; i++) {
        int id = sc_vqa_vocab_find(v, tk->words[i]);
        if (id < 2) {
            id = SC_VQA_UNK;
            if (unk && unk_cap) {
                size_t used = strlen(unk), wl = strlen(tk->words[i]);
                if (used + wl + 2 <= unk_cap) {
                    if (used) unk[used++] = ' ';
                    memcpy(unk + used, tk->words[i], wl + 1);
                }
            }
        }
        ids[i] = id;
    }
    *len = n;
    free(tk);
    return SC_OK;
}
