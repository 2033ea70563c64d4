/* BERT WordPiece tokenizer (rules in include/saccade/sc_wordpiece.h). Text is
 * validated as UTF-8 once, split at special tokens, and each piece goes
 * through normalization into a code-point buffer, then words into ids. Time
 * and memory are linear in the text (a word costs at most 100^2 / 2 lookups). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_util.h"
#include "saccade/sc_wordpiece.h"
#include "wordpiece_tables.h"

enum { WP_MAX_WORD_CHARS = 100, WP_MAX_SPECIALS = 1024 };

typedef struct wp_special {
    char *text;
    size_t len;
    int id;
} wp_special;

struct sc_wordpiece {
    int n_lines;               /* vocab.txt lines: ids WordPiece may produce */
    int size;                  /* largest id + 1 */
    char **tokens;             /* (size) token of each id, or NULL */
    size_t *lens;              /* (size) */
    int32_t *slots;            /* (cap) hash table of ids, -1 empty */
    size_t cap;                /* power of two */
    unsigned char *is_special; /* (size) */
    wp_special *specials;
    int n_specials;
    int special_ids[SC_WP_NSPECIAL];
    char *block; /* vocab.txt's tokens, NUL-separated */
    size_t block_len;
    unsigned char special_first[256]; /* first bytes of the special tokens */
    size_t max_len;                   /* longest vocab.txt token, bytes */
    int lower, strip, cjk, clean_up;
};

/* ------------------------------------------------------------ Unicode */

static int char_class(uint32_t cp) {
    size_t lo = 0, hi = sizeof wp_class_runs / sizeof wp_class_runs[0];
    while (hi - lo > 1) { /* last run starting at or before cp */
        size_t mid = (lo + hi) / 2;
        if ((wp_class_runs[mid] >> 3) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (int)(wp_class_runs[lo] & 7);
}

/* NFD of cp with its Mn marks removed, into out (up to 3); returns the count. */
static int strip_accents(uint32_t cp, uint32_t out[3]) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: L V (T) jamo */
        uint32_t s = cp - 0xAC00, t = s % 28;
        out[0] = 0x1100 + s / 588;
        out[1] = 0x1161 + (s % 588) / 28;
        if (!t) return 2;
        out[2] = 0x11A7 + t;
        return 3;
    }
    size_t lo = 0, hi = sizeof wp_strip1 / sizeof wp_strip1[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        uint32_t k = (uint32_t)(wp_strip1[mid] >> 32);
        if (k == cp) {
            out[0] = (uint32_t)wp_strip1[mid];
            return 1;
        }
        if (k < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    lo = 0, hi = sizeof wp_strip3 / sizeof wp_strip3[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (wp_strip3[mid][0] == cp) {
            int n = 0;
            for (int i = 1; i < 4 && wp_strip3[mid][i]; i++) out[n++] = wp_strip3[mid][i];
            return n;
        }
        if (wp_strip3[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    out[0] = cp;
    return 1;
}

/* Lower case of one character (Python's str.lower on it): 1 or 2 code points. */
static int lower_case(uint32_t cp, uint32_t out[2]) {
    for (size_t i = 0; i < sizeof wp_lower2 / sizeof wp_lower2[0]; i++)
        if (wp_lower2[i][0] == cp) {
            out[0] = wp_lower2[i][1];
            out[1] = wp_lower2[i][2];
            return 2;
        }
    size_t n = sizeof wp_lower_runs / sizeof wp_lower_runs[0], lo = 0, hi = n;
    while (lo < hi) { /* first run starting after cp */
        size_t mid = (lo + hi) / 2;
        if ((uint32_t)wp_lower_runs[mid][0] <= cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    out[0] = cp;
    if (lo == 0) return 1;
    const int32_t *r = wp_lower_runs[lo - 1];
    uint32_t off = cp - (uint32_t)r[0];
    if (off % (uint32_t)r[3] == 0 && off / (uint32_t)r[3] < (uint32_t)r[1])
        out[0] = (uint32_t)((int32_t)cp + r[2]);
    return 1;
}

/* ------------------------------------------------------------ vocabulary */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int lookup_hashed(const sc_wordpiece *wp, const char *s, size_t n, uint64_t h) {
    size_t mask = wp->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        int32_t id = wp->slots[i];
        if (id < 0) return -1;
        if (wp->lens[id] == n && memcmp(wp->tokens[id], s, n) == 0) return id;
    }
}

static int lookup(const sc_wordpiece *wp, const char *s, size_t n) {
    return lookup_hashed(wp, s, n, hash_bytes(s, n));
}

/* Token -> id; a repeated token keeps its last id (as a Python dict built
 * line by line). The table has room (cap >= 2 * ids ever inserted). */
static void insert(sc_wordpiece *wp, int id) {
    size_t mask = wp->cap - 1;
    for (size_t i = hash_bytes(wp->tokens[id], wp->lens[id]) & mask;; i = (i + 1) & mask) {
        int32_t o = wp->slots[i];
        if (o < 0 || (wp->lens[o] == wp->lens[id] &&
                      memcmp(wp->tokens[o], wp->tokens[id], wp->lens[id]) == 0)) {
            wp->slots[i] = id;
            return;
        }
    }
}

/* Make ids up to `size` addressable (new ones without a token). */
static sc_status grow_ids(sc_wordpiece *wp, int size) {
    if (size <= wp->size) return SC_OK;
    char **t = realloc(wp->tokens, (size_t)size * sizeof *t);
    if (t) wp->tokens = t;
    size_t *l = realloc(wp->lens, (size_t)size * sizeof *l);
    if (l) wp->lens = l;
    unsigned char *sp = realloc(wp->is_special, (size_t)size);
    if (sp) wp->is_special = sp;
    if (!t || !l || !sp) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    for (int i = wp->size; i < size; i++) t[i] = NULL, l[i] = 0, sp[i] = 0;
    wp->size = size;
    return SC_OK;
}

static sc_status rehash(sc_wordpiece *wp, size_t need) {
    size_t cap = 16;
    while (cap < 2 * need) cap *= 2;
    if (cap <= wp->cap) return SC_OK;
    int32_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    free(wp->slots);
    wp->slots = slots;
    wp->cap = cap;
    memset(slots, 0xFF, cap * sizeof *slots);
    for (int i = 0; i < wp->size; i++)
        if (wp->tokens[i]) insert(wp, i);
    return SC_OK;
}

static sc_status parse_vocab(sc_wordpiece *wp, const char *v, size_t len) {
    if (len > SC_WORDPIECE_MAX_VOCAB_BYTES)
        return sc_set_error(SC_ERR_LIMIT, "vocab.txt: larger than %zu bytes",
                            SC_WORDPIECE_MAX_VOCAB_BYTES);
    size_t bad = sc_utf8_valid_prefix(v, len);
    if (bad < len) return sc_set_error(SC_ERR_FORMAT, "vocab.txt: not UTF-8 (byte %zu)", bad);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] == '\n' || (v[i] == '\r' && (i + 1 == len || v[i + 1] != '\n'))) lines++;
    if (len && v[len - 1] != '\n' && v[len - 1] != '\r') lines++;
    if (lines == 0) return sc_set_error(SC_ERR_FORMAT, "vocab.txt: empty");
    if (lines > SC_WORDPIECE_MAX_TOKENS)
        return sc_set_error(SC_ERR_LIMIT, "vocab.txt: more than %d lines", SC_WORDPIECE_MAX_TOKENS);
    sc_status s = grow_ids(wp, (int)lines);
    if (s) return s;
    wp->n_lines = (int)lines;
    /* All tokens in one block: the text with its line ends as NULs. */
    wp->block = malloc(len + 1);
    if (!wp->block) return sc_set_error(SC_ERR_NOMEM, "vocab.txt: out of memory");
    memcpy(wp->block, v, len);
    wp->block[len] = 0;
    wp->block_len = len + 1;
    size_t start = 0;
    int id = 0;
    for (size_t i = 0; i <= len && id < (int)lines; i++) {
        if (i < len && v[i] != '\n' && v[i] != '\r') continue;
        size_t n = i - start;
        char *t = wp->block + start;
        t[n] = 0;
        wp->tokens[id] = t;
        wp->lens[id] = n;
        if (n > wp->max_len) wp->max_len = n;
        id++;
        if (i < len && v[i] == '\r' && i + 1 < len && v[i + 1] == '\n') i++;
        start = i + 1;
    }
    return rehash(wp, (size_t)wp->size);
}

/* Give `token` an id: `want` (>= 0, from added_tokens_decoder) or its vocab
 * id or the next free one; mark it special and matchable in text. */
static sc_status add_special(sc_wordpiece *wp, const char *token, int want, int *id_out) {
    size_t n = strlen(token);
    if (n == 0) return sc_set_error(SC_ERR_FORMAT, "tokenizer config: empty special token");
    if (sc_utf8_valid_prefix(token, n) < n)
        return sc_set_error(SC_ERR_FORMAT, "tokenizer config: special token is not UTF-8");
    int id = want >= 0 ? want : lookup(wp, token, n);
    for (int i = 0; i < wp->n_specials; i++)
        if (wp->specials[i].len == n && memcmp(wp->specials[i].text, token, n) == 0) {
            if (want < 0 || wp->specials[i].id == want) {
                if (id_out) *id_out = wp->specials[i].id;
                return SC_OK;
            }
        }
    if (wp->n_specials >= WP_MAX_SPECIALS)
        return sc_set_error(SC_ERR_LIMIT, "tokenizer config: more than %d special tokens",
                            WP_MAX_SPECIALS);
    if (id < 0) id = wp->size;
    /* Added ids follow vocab.txt's: a far one would only cost memory. */
    if (id >= wp->n_lines + WP_MAX_SPECIALS)
        return sc_set_error(SC_ERR_FORMAT,
                            "tokenizer config: token id %d is more than %d past the %d vocab.txt "
                            "lines",
                            id, WP_MAX_SPECIALS, wp->n_lines);
    sc_status s = grow_ids(wp, id + 1);
    if (s) return s;
    if (!wp->tokens[id]) {
        wp->tokens[id] = malloc(n + 1);
        if (!wp->tokens[id]) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
        memcpy(wp->tokens[id], token, n + 1);
        wp->lens[id] = n;
        s = rehash(wp, (size_t)wp->size);
        if (s) return s;
        insert(wp, id);
    }
    wp_special *sp = realloc(wp->specials, (size_t)(wp->n_specials + 1) * sizeof *sp);
    if (!sp) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    wp->specials = sp;
    sp[wp->n_specials].text = malloc(n + 1);
    if (!sp[wp->n_specials].text) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    memcpy(sp[wp->n_specials].text, token, n + 1);
    sp[wp->n_specials].len = n;
    sp[wp->n_specials].id = id;
    wp->n_specials++;
    wp->special_first[(unsigned char)token[0]] = 1;
    wp->is_special[id] = 1;
    if (id_out) *id_out = id;
    return SC_OK;
}

/* ------------------------------------------------------------ config */

/* A token in a config: "text" or {"content": "text", ...} (AddedToken). */
static sc_status config_token(const cJSON *v, const char *key, const char **out) {
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return SC_OK;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v))
        return sc_set_error(SC_ERR_FORMAT,
                            "tokenizer_config.json: %s must be a string or {\"content\": string}",
                            key);
    *out = v->valuestring;
    return SC_OK;
}

static sc_status config_bool(const cJSON *root, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return SC_OK;
    if (!cJSON_IsBool(v))
        return sc_set_error(SC_ERR_FORMAT, "tokenizer_config.json: %s must be true or false", key);
    *out = cJSON_IsTrue(v);
    return SC_OK;
}

static const char *const special_keys[SC_WP_NSPECIAL] = {
    "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "bos_token", "eos_token"};
static const char *const special_defaults[SC_WP_NSPECIAL] = {"[UNK]",  "[SEP]", "[PAD]", "[CLS]",
                                                             "[MASK]", NULL,    NULL};

static sc_status add_token_list(sc_wordpiece *wp, const cJSON *root, const char *key) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!list || cJSON_IsNull(list)) return SC_OK;
    if (!cJSON_IsArray(list))
        return sc_set_error(SC_ERR_FORMAT, "tokenizer_config.json: %s must be a list", key);
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const char *t;
        sc_status s = config_token(it, key, &t);
        if (!s && t) s = add_special(wp, t, -1, NULL);
        if (s) return s;
    }
    return SC_OK;
}

static sc_status parse_config(sc_wordpiece *wp, const char *text, size_t len) {
    const char *names[SC_WP_NSPECIAL];
    for (int k = 0; k < SC_WP_NSPECIAL; k++) names[k] = special_defaults[k];
    cJSON *root = NULL;
    sc_status s = SC_OK;
    int strip = -1;
    if (text) {
        root = cJSON_ParseWithLength(text, len);
        if (!root || !cJSON_IsObject(root)) {
            cJSON_Delete(root);
            return sc_set_error(SC_ERR_FORMAT, "tokenizer_config.json: not a JSON object");
        }
        s = config_bool(root, "do_lower_case", &wp->lower);
        if (!s) s = config_bool(root, "strip_accents", &strip);
        if (!s) s = config_bool(root, "tokenize_chinese_chars", &wp->cjk);
        if (!s) s = config_bool(root, "clean_up_tokenization_spaces", &wp->clean_up);
        for (int k = 0; k < SC_WP_NSPECIAL && !s; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, special_keys[k]);
            if (!v) continue;
            const char *t;
            s = config_token(v, special_keys[k], &t);
            names[k] = t;
        }
        /* Explicit ids first: they are authoritative. */
        const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
        if (!s && added && !cJSON_IsNull(added)) {
            if (!cJSON_IsObject(added))
                s = sc_set_error(SC_ERR_FORMAT,
                                 "tokenizer_config.json: added_tokens_decoder must be an object");
            const cJSON *it;
            cJSON_ArrayForEach(it, added) {
                if (s) break;
                char *end;
                long id = strtol(it->string, &end, 10);
                const char *t;
                if (*it->string == 0 || *end || id < 0 || id >= INT32_MAX / 4) {
                    s = sc_set_error(SC_ERR_FORMAT,
                                     "tokenizer_config.json: added_tokens_decoder key \"%s\" is "
                                     "not an id",
                                     it->string);
                    break;
                }
                s = config_token(it, "added_tokens_decoder entry", &t);
                if (!s && !t)
                    s = sc_set_error(SC_ERR_FORMAT,
                                     "tokenizer_config.json: added_tokens_decoder %ld has no "
                                     "content",
                                     id);
                if (!s) s = add_special(wp, t, (int)id, NULL);
                const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "special");
                if (!s && cJSON_IsBool(sp) && !cJSON_IsTrue(sp)) wp->is_special[id] = 0;
            }
        }
    }
    wp->strip = strip >= 0 ? strip : wp->lower;
    /* Named specials in Hugging Face's order of adding: bos, eos, unk, sep, pad, cls, mask. */
    static const int order[SC_WP_NSPECIAL] = {SC_WP_BOS, SC_WP_EOS, SC_WP_UNK, SC_WP_SEP,
                                              SC_WP_PAD, SC_WP_CLS, SC_WP_MASK};
    for (int i = 0; i < SC_WP_NSPECIAL && !s; i++) {
        int k = order[i];
        if (names[k]) s = add_special(wp, names[k], -1, &wp->special_ids[k]);
    }
    if (!s && root) s = add_token_list(wp, root, "additional_special_tokens");
    if (!s && root) s = add_token_list(wp, root, "extra_special_tokens");
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------ load / free */

void sc_wordpiece_free(sc_wordpiece *wp) {
    if (!wp) return;
    for (int i = 0; i < wp->size; i++) /* added tokens have their own allocation */
        if (wp->tokens[i] &&
            (wp->tokens[i] < wp->block || wp->tokens[i] >= wp->block + wp->block_len))
            free(wp->tokens[i]);
    free(wp->block);
    for (int i = 0; i < wp->n_specials; i++) free(wp->specials[i].text);
    free(wp->tokens);
    free(wp->lens);
    free(wp->slots);
    free(wp->is_special);
    free(wp->specials);
    free(wp);
}

sc_status sc_wordpiece_load_memory(const char *vocab, size_t vocab_len, const char *config,
                                   size_t config_len, sc_wordpiece **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece: NULL output");
    *out = NULL;
    if (!vocab) return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece: NULL vocabulary");
    sc_wordpiece *wp = calloc(1, sizeof *wp);
    if (!wp) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    wp->lower = 1, wp->cjk = 1, wp->clean_up = 0;
    for (int k = 0; k < SC_WP_NSPECIAL; k++) wp->special_ids[k] = -1;
    sc_status s = parse_vocab(wp, vocab, vocab_len);
    if (!s) s = parse_config(wp, config, config_len);
    if (s) {
        sc_wordpiece_free(wp);
        return s;
    }
    *out = wp;
    return SC_OK;
}

sc_status sc_wordpiece_load(const char *vocab_path, const char *config_path, sc_wordpiece **out) {
    if (out) *out = NULL;
    if (!vocab_path) return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece: NULL vocabulary path");
    unsigned char *v = NULL, *c = NULL;
    size_t vn = 0, cn = 0;
    sc_status s = sc_read_file(vocab_path, SC_WORDPIECE_MAX_VOCAB_BYTES, &v, &vn);
    if (!s && config_path) s = sc_read_file(config_path, (size_t)16 << 20, &c, &cn);
    if (!s) {
        s = sc_wordpiece_load_memory((const char *)v, vn, (const char *)c, cn, out);
        if (s) {
            const char *which = config_path && strncmp(sc_last_error(), "tokenizer", 9) == 0
                                    ? config_path
                                    : vocab_path;
            sc_error_prefix(which);
        }
    }
    free(v);
    free(c);
    return s;
}

int sc_wordpiece_size(const sc_wordpiece *wp) {
    return wp ? wp->size : 0;
}

int sc_wordpiece_id(const sc_wordpiece *wp, const char *token) {
    if (!wp || !token) return -1;
    return lookup(wp, token, strlen(token));
}

const char *sc_wordpiece_token(const sc_wordpiece *wp, int id) {
    if (!wp || id < 0 || id >= wp->size) return NULL;
    return wp->tokens[id];
}

int sc_wordpiece_special_id(const sc_wordpiece *wp, sc_wordpiece_special which) {
    if (!wp || (int)which < 0 || which >= SC_WP_NSPECIAL) return -1;
    return wp->special_ids[which];
}

int sc_wordpiece_is_special(const sc_wordpiece *wp, int id) {
    return wp && id >= 0 && id < wp->size && wp->is_special[id];
}

sc_status sc_wordpiece_add_special(sc_wordpiece *wp, const char *token, int *id) {
    if (!wp || !token) return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece: NULL argument");
    return add_special(wp, token, -1, id);
}

/* ------------------------------------------------------------ encoding */

typedef struct id_list {
    int32_t *v;
    size_t n, cap;
} id_list;

static sc_status push_id(id_list *l, int32_t id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        int32_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
        l->v = v, l->cap = cap;
    }
    l->v[l->n++] = id;
    return SC_OK;
}

static sc_status push_unk(const sc_wordpiece *wp, id_list *out) {
    int unk = wp->special_ids[SC_WP_UNK];
    if (unk < 0)
        return sc_set_error(SC_ERR_FORMAT, "wordpiece: a word needs the unknown token, and the "
                                           "vocabulary has none");
    return push_id(out, unk);
}

/* One word (n <= WP_MAX_WORD_CHARS code points) to ids: the longest
 * vocabulary prefix, then the longest "##" continuations; the whole word is
 * [UNK] if a rest cannot be matched. Candidates longer than the longest
 * vocabulary token are not tried, and their hashes are computed
 * incrementally, so a word costs O(n * longest token). */
static sc_status word_ids(const sc_wordpiece *wp, const uint32_t *w, size_t n, id_list *out) {
    char buf[2 + 4 * WP_MAX_WORD_CHARS]; /* "##" room, then the word's bytes */
    size_t off[WP_MAX_WORD_CHARS + 1];   /* byte offset of each character after buf + 2 */
    uint64_t hs[WP_MAX_WORD_CHARS + 1];
    char *bytes = buf + 2;
    off[0] = 0;
    for (size_t i = 0; i < n; i++) off[i + 1] = off[i] + sc_utf8_put(w[i], bytes + off[i]);
    size_t first = out->n, start = 0;
    while (start < n) {
        /* The candidate is p[0 .. pre + piece): for continuations "##" is
         * written over the two bytes before the piece (restored below). */
        const size_t pre = start > 0 ? 2 : 0;
        char *p = bytes + off[start] - pre;
        char save0 = 0, save1 = 0;
        if (pre) save0 = p[0], save1 = p[1], p[0] = '#', p[1] = '#';
        uint64_t h = 1469598103934665603ull;
        for (size_t b = 0; b < pre; b++) h = (h ^ (unsigned char)p[b]) * 1099511628211ull;
        size_t last = start;
        for (size_t e = start + 1; e <= n && off[e] - off[start] + pre <= wp->max_len; e++) {
            for (size_t b = off[e - 1]; b < off[e]; b++)
                h = (h ^ (unsigned char)bytes[b]) * 1099511628211ull;
            hs[e] = h;
            last = e;
        }
        int id = -1;
        size_t end = last;
        for (; end > start; end--) {
            id = lookup_hashed(wp, p, off[end] - off[start] + pre, hs[end]);
            if (id >= wp->n_lines) id = -1; /* added tokens are not word pieces */
            if (id >= 0) break;
        }
        if (pre) p[0] = save0, p[1] = save1;
        if (id < 0) {
            out->n = first;
            return push_unk(wp, out);
        }
        sc_status st = push_id(out, id);
        if (st) return st;
        start = end;
    }
    return SC_OK;
}

/* The word being gathered: its first WP_MAX_WORD_CHARS + 1 code points and
 * its length (beyond 100 characters it is [UNK] whatever it holds). */
typedef struct word_buf {
    uint32_t v[WP_MAX_WORD_CHARS + 1];
    size_t n;
} word_buf;

static sc_status flush_word(const sc_wordpiece *wp, word_buf *wb, id_list *out) {
    sc_status s = SC_OK;
    if (wb->n > WP_MAX_WORD_CHARS)
        s = push_unk(wp, out);
    else if (wb->n)
        s = word_ids(wp, wb->v, wb->n, out);
    wb->n = 0;
    return s;
}

/* A normalized code point into the word stream: spaces end words,
 * punctuation is a word of its own. */
static sc_status feed(const sc_wordpiece *wp, uint32_t c, word_buf *wb, id_list *out) {
    int k = char_class(c);
    if (k == WP_SPACE) return flush_word(wp, wb, out);
    if (k == WP_PUNCT) {
        sc_status s = flush_word(wp, wb, out);
        if (s) return s;
        wb->v[0] = c;
        wb->n = 1;
        return flush_word(wp, wb, out);
    }
    if (wb->n <= WP_MAX_WORD_CHARS) wb->v[wb->n] = c;
    wb->n++;
    return SC_OK;
}

/* Normalize one piece of valid UTF-8 (clean, CJK spacing, accents, lower
 * case), streaming the result into words and ids. */
static sc_status encode_piece(const sc_wordpiece *wp, const char *text, size_t len, id_list *out) {
    word_buf wb;
    wb.n = 0;
    sc_status s = SC_OK;
    for (size_t i = 0; i < len && !s;) {
        uint32_t cp = 0, d[3], lo[2];
        int step = sc_utf8_next((const unsigned char *)text + i, len - i, &cp);
        i += step ? (size_t)step : 1; /* never 0: the text was checked */
        int k = char_class(cp);
        if (cp == 0 || cp == 0xFFFD || k == WP_CONTROL) continue;
        if (k == WP_SPACE) cp = ' ';
        int cjk = wp->cjk && k == WP_CJK;
        if (cjk) s = feed(wp, ' ', &wb, out);
        int nd = 1;
        d[0] = cp;
        if (wp->strip) {
            if (k == WP_MN) continue;
            nd = strip_accents(cp, d);
        }
        for (int j = 0; j < nd && !s; j++) {
            int nl = 1;
            lo[0] = d[j];
            if (wp->lower) nl = lower_case(d[j], lo);
            for (int m = 0; m < nl && !s; m++) s = feed(wp, lo[m], &wb, out);
        }
        if (cjk && !s) s = feed(wp, ' ', &wb, out);
    }
    return s ? s : flush_word(wp, &wb, out);
}

/* The special token starting at text[i] (longest), or -1. */
static int special_at(const sc_wordpiece *wp, const char *text, size_t len, size_t i) {
    int best = -1;
    if (!wp->special_first[(unsigned char)text[i]]) return -1;
    for (int k = 0; k < wp->n_specials; k++) {
        const wp_special *sp = &wp->specials[k];
        if (sp->len <= len - i && memcmp(text + i, sp->text, sp->len) == 0 &&
            (best < 0 || sp->len > wp->specials[best].len))
            best = k;
    }
    return best;
}

sc_status sc_wordpiece_encode(const sc_wordpiece *wp, const char *text, size_t len, int add_special,
                              int32_t **ids, size_t *n) {
    if (ids) *ids = NULL;
    if (n) *n = 0;
    if (!wp || !ids || !n || (!text && len))
        return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece encode: NULL argument");
    if (len > SC_WORDPIECE_MAX_TEXT)
        return sc_set_error(SC_ERR_LIMIT, "wordpiece encode: text of %zu bytes (limit %zu)", len,
                            SC_WORDPIECE_MAX_TEXT);
    size_t bad = sc_utf8_valid_prefix(text, len);
    if (bad < len)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "wordpiece encode: text is not valid UTF-8 (byte %zu)", bad);
    int cls = wp->special_ids[SC_WP_CLS], sep = wp->special_ids[SC_WP_SEP];
    if (add_special && (cls < 0 || sep < 0))
        return sc_set_error(SC_ERR_FORMAT, "wordpiece encode: no [CLS]/[SEP] tokens to add");
    id_list out = {0};
    sc_status s = add_special ? push_id(&out, cls) : SC_OK;
    size_t piece = 0;
    for (size_t i = 0; i <= len && !s;) {
        int k = i < len ? special_at(wp, text, len, i) : -1;
        if (i < len && k < 0) {
            i++;
            continue;
        }
        if (i > piece) s = encode_piece(wp, text + piece, i - piece, &out);
        if (s || i == len) break;
        s = push_id(&out, wp->specials[k].id);
        i += wp->specials[k].len;
        piece = i;
    }
    if (!s && add_special) s = push_id(&out, sep);
    if (s) {
        free(out.v);
        return s;
    }
    if (!out.v) { /* an empty result is still a valid allocation */
        out.v = malloc(sizeof *out.v);
        if (!out.v) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    }
    *ids = out.v;
    *n = out.n;
    return SC_OK;
}

/* ------------------------------------------------------------ decoding */

typedef struct str_buf {
    char *v;
    size_t n, cap;
} str_buf;

static int str_add(str_buf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *v = realloc(b->v, cap);
        if (!v) return -1;
        b->v = v, b->cap = cap;
    }
    memcpy(b->v + b->n, s, n);
    b->n += n;
    b->v[b->n] = 0;
    return 0;
}

/* Python's str.replace(from, to) on a NUL-terminated buffer, in place (to
 * is never longer than from). */
static void replace_all(char *s, const char *from, const char *to) {
    size_t nf = strlen(from), nt = strlen(to);
    char *r = s, *w = s;
    while (*r) {
        if (strncmp(r, from, nf) == 0) {
            memmove(w, to, nt);
            w += nt, r += nf;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* The tokenizers library's WordPiece decoder clean-up (per token). */
static const char *const rust_cleanup[][2] = {
    {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
    {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
    {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
/* transformers' clean_up_tokenization (whole string). */
static const char *const py_cleanup[][2] = {
    {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};

sc_status sc_wordpiece_decode(const sc_wordpiece *wp, const int32_t *ids, size_t n,
                              int skip_special, int clean_up, char **text) {
    if (text) *text = NULL;
    if (!wp || !text || (!ids && n))
        return sc_set_error(SC_ERR_INVALID_ARG, "wordpiece decode: NULL argument");
    if (clean_up < 0) clean_up = wp->clean_up;
    str_buf out = {0};
    if (str_add(&out, "", 0)) return sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
    char *tok = NULL;
    size_t tok_cap = 0, emitted = 0;
    sc_status s = SC_OK;
    for (size_t i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0) {
            s = sc_set_error(SC_ERR_INVALID_ARG, "wordpiece decode: negative id %d", id);
            break;
        }
        if (id >= wp->size || !wp->tokens[id]) continue;
        if (skip_special && wp->is_special[id]) continue;
        const char *t = wp->tokens[id];
        size_t tl = wp->lens[id];
        if (tok_cap < tl + 2) {
            char *nt = realloc(tok, tl + 2);
            if (!nt) {
                s = sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
                break;
            }
            tok = nt, tok_cap = tl + 2;
        }
        if (emitted == 0) {
            memcpy(tok, t, tl + 1);
        } else if (tl >= 2 && t[0] == '#' && t[1] == '#') {
            memcpy(tok, t + 2, tl - 1);
        } else {
            tok[0] = ' ';
            memcpy(tok + 1, t, tl + 1);
        }
        /* Every replacement is shorter than what it replaces: in place. */
        for (size_t r = 0; r < sizeof rust_cleanup / sizeof rust_cleanup[0]; r++)
            replace_all(tok, rust_cleanup[r][0], rust_cleanup[r][1]);
        if (str_add(&out, tok, strlen(tok))) {
            s = sc_set_error(SC_ERR_NOMEM, "wordpiece: out of memory");
            break;
        }
        emitted++;
    }
    free(tok);
    if (s) {
        free(out.v);
        return s;
    }
    if (clean_up)
        for (size_t r = 0; r < sizeof py_cleanup / sizeof py_cleanup[0]; r++)
            replace_all(out.v, py_cleanup[r][0], py_cleanup[r][1]);
    *text = out.v;
    return SC_OK;
}
