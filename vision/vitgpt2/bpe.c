/* GPT-2's byte-level BPE (sc_bpe.h). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "saccade/sc_bpe.h"
#include "saccade/sc_util.h"
#include "bpe_tables.h"
#include "sc_internal.h"

#define MAX_BPE_FILE ((size_t)256 << 20)
#define MAX_BPE_ID (1 << 24)

/* String -> int, open addressing; keys live in the owner's memory. */
typedef struct strmap {
    const char **keys;
    size_t *lens;
    int32_t *vals;
    size_t cap, used;
} strmap;

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static size_t map_slot(const strmap *m, const char *s, size_t n) {
    size_t mask = m->cap - 1;
    for (size_t i = hash_bytes(s, n) & mask;; i = (i + 1) & mask)
        if (!m->keys[i] || (m->lens[i] == n && memcmp(m->keys[i], s, n) == 0)) return i;
}

static int map_get(const strmap *m, const char *s, size_t n) {
    if (!m->cap) return -1;
    size_t i = map_slot(m, s, n);
    return m->keys[i] ? m->vals[i] : -1;
}

static sc_status map_init(strmap *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->lens = calloc(cap, sizeof *m->lens);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap, m->used = 0;
    if (!m->keys || !m->lens || !m->vals) return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    return SC_OK;
}

/* Insert or replace (the last value of a repeated key wins, as a Python
 * dict); the map was sized for every insertion. */
static void map_put(strmap *m, const char *s, size_t n, int32_t v) {
    size_t i = map_slot(m, s, n);
    if (!m->keys[i]) m->keys[i] = s, m->lens[i] = n, m->used++;
    m->vals[i] = v;
}

static void map_free(strmap *m) {
    free(m->keys), free(m->lens), free(m->vals);
}

struct sc_bpe {
    strmap vocab;        /* token -> id */
    strmap ranks;        /* "a b" -> merge rank */
    const char **tokens; /* (size) id -> token (NULL: none), into keys */
    int size;
    char **keys; /* (nkeys) vocab.json's keys in file order, owned */
    size_t nkeys;
    char *merges_text; /* the merges' keys point into it */
    int special;
    char *special_text;
    uint16_t byte_char[256]; /* bytes_to_unicode: byte -> code point */
    int16_t char_byte[324];  /* its inverse over U+0000..U+0143, -1 elsewhere */
};

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * others to 256, 257, ... in byte order. */
static void byte_alphabet(sc_bpe *b) {
    int n = 0;
    for (int i = 0; i < 324; i++) b->char_byte[i] = -1;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        b->byte_char[c] = (uint16_t)(printable ? c : 256 + n++);
        b->char_byte[b->byte_char[c]] = (int16_t)c;
    }
}

/* json.load then {v: k}: a repeated key keeps its last id (the earlier id
 * then has no token unless another key gives it); of keys sharing an id the
 * last in the dict's order (first appearance) decodes. */
static sc_status parse_vocab(sc_bpe *b, const char *text, size_t len) {
    size_t bad = sc_utf8_valid_prefix(text, len);
    if (bad < len) return sc_set_error(SC_ERR_FORMAT, "vocab.json: invalid UTF-8 at byte %zu", bad);
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return sc_set_error(SC_ERR_FORMAT, "vocab.json: not a JSON object");
    }
    const size_t n = (size_t)cJSON_GetArraySize(root);
    sc_status s = n ? map_init(&b->vocab, n) : sc_set_error(SC_ERR_FORMAT, "vocab.json: no tokens");
    if (!s && !(b->keys = calloc(n, sizeof *b->keys)))
        s = sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    const cJSON *e;
    int max_id = -1;
    if (!s) cJSON_ArrayForEach(e, root) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= MAX_BPE_ID ||
                e->valuedouble != (double)(int)e->valuedouble) {
                s = sc_set_error(SC_ERR_FORMAT,
                                 "vocab.json: the id of \"%.40s\" is not an integer in 0..%d",
                                 e->string, MAX_BPE_ID - 1);
                break;
            }
            if (!(b->keys[b->nkeys] = strdup(e->string))) {
                s = sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
                break;
            }
            const char *k = b->keys[b->nkeys++];
            map_put(&b->vocab, k, strlen(k), e->valueint);
            if (e->valueint > max_id) max_id = e->valueint;
        }
    if (!s) {
        b->size = max_id + 1;
        if (!(b->tokens = calloc((size_t)b->size, sizeof *b->tokens)))
            s = sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    }
    for (size_t i = 0; i < b->nkeys && !s; i++) {
        const char *k = b->keys[i];
        size_t slot = map_slot(&b->vocab, k, strlen(k));
        if (b->vocab.keys[slot] == k) b->tokens[b->vocab.vals[slot]] = k; /* first appearance */
    }
    cJSON_Delete(root);
    return s;
}

/* Whitespace of str.split() for the merges' lines: ASCII and the table's. */
static int is_space_cp(uint32_t cp);

static sc_status parse_merges(sc_bpe *b, const char *text, size_t len) {
    if (sc_utf8_valid_prefix(text, len) < len)
        return sc_set_error(SC_ERR_FORMAT, "merges.txt: invalid UTF-8 at byte %zu",
                            sc_utf8_valid_prefix(text, len));
    /* universal newlines, then lines [1:-1] of split("\n"); each kept line is
     * rewritten as "a b" in place of its own bytes */
    char *t = malloc(len + 1);
    if (!t) return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    size_t m = 0, lines = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\r') {
            c = '\n';
            if (i + 1 < len && text[i + 1] == '\n') i++;
        }
        if (c == '\n') lines++;
        t[m++] = c;
    }
    t[m] = 0;
    b->merges_text = t;
    sc_status s = map_init(&b->ranks, lines);
    if (s) return s;
    char *line = memchr(t, '\n', m);
    int rank = 0;
    while (line) {
        char *start = line + 1, *end = memchr(start, '\n', (size_t)(t + m - start));
        if (!end) break; /* the piece after the last newline is dropped */
        /* split on whitespace: exactly two parts make a merge */
        size_t pos[4][2];
        int parts = 0;
        const char *p = start;
        while (p < end && parts < 3) {
            uint32_t cp;
            int k = sc_utf8_next((const unsigned char *)p, (size_t)(end - p), &cp);
            if (is_space_cp(cp)) {
                p += k;
                continue;
            }
            const char *w = p;
            while (p < end) {
                k = sc_utf8_next((const unsigned char *)p, (size_t)(end - p), &cp);
                if (is_space_cp(cp)) break;
                p += k;
            }
            pos[parts][0] = (size_t)(w - t), pos[parts][1] = (size_t)(p - w);
            parts++;
        }
        if (parts == 2) {
            char *o = start;
            memmove(o, t + pos[0][0], pos[0][1]);
            o[pos[0][1]] = ' ';
            memmove(o + pos[0][1] + 1, t + pos[1][0], pos[1][1]);
            map_put(&b->ranks, start, pos[0][1] + 1 + pos[1][1], rank);
        }
        rank++;
        line = end;
    }
    return SC_OK;
}

static int char_class(uint32_t cp) {
    size_t lo = 0, hi = sizeof bpe_class_runs / sizeof bpe_class_runs[0];
    while (hi - lo > 1) { /* the last run starting at or before cp */
        size_t mid = (lo + hi) / 2;
        if ((bpe_class_runs[mid] >> 2) <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return (int)(bpe_class_runs[lo] & 3);
}

static int is_space_cp(uint32_t cp) {
    return char_class(cp) == BPE_SPACE;
}

sc_status sc_bpe_load_memory(const char *vocab_json, size_t vocab_len, const char *merges,
                             size_t merges_len, const char *special, sc_bpe **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_load: out is NULL");
    *out = NULL;
    if (!vocab_json || !merges) return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_load: NULL text");
    sc_bpe *b = calloc(1, sizeof *b);
    if (!b) return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    byte_alphabet(b);
    sc_status s = parse_vocab(b, vocab_json, vocab_len);
    if (!s) s = parse_merges(b, merges, merges_len);
    if (!s) {
        b->special_text = strdup(special ? special : "<|endoftext|>");
        if (!b->special_text) s = sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    }
    if (!s && (b->special = map_get(&b->vocab, b->special_text, strlen(b->special_text))) < 0)
        s = sc_set_error(SC_ERR_FORMAT, "vocab.json: no special token \"%.60s\"", b->special_text);
    if (s) {
        sc_bpe_free(b);
        return s;
    }
    *out = b;
    return SC_OK;
}

sc_status sc_bpe_load(const char *vocab_json_path, const char *merges_path, const char *special,
                      sc_bpe **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_load: out is NULL");
    *out = NULL;
    if (!vocab_json_path || !merges_path)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_load: NULL path");
    unsigned char *v = NULL, *m = NULL;
    size_t vl = 0, ml = 0;
    sc_status s = sc_read_file(vocab_json_path, MAX_BPE_FILE, &v, &vl);
    if (!s) s = sc_read_file(merges_path, MAX_BPE_FILE, &m, &ml);
    if (!s) {
        s = sc_bpe_load_memory((const char *)v, vl, (const char *)m, ml, special, out);
        if (s) { /* name the file */
            const char *which =
                strncmp(sc_last_error(), "vocab.json", 10) ? merges_path : vocab_json_path;
            char msg[512];
            snprintf(msg, sizeof msg, "%s", sc_last_error());
            const char *colon = strchr(msg, ':');
            s = sc_set_error(s, "%s%s", which, colon ? colon : msg);
        }
    }
    free(v), free(m);
    return s;
}

void sc_bpe_free(sc_bpe *b) {
    if (!b) return;
    for (size_t i = 0; i < b->nkeys; i++) free(b->keys[i]);
    free(b->keys);
    free(b->tokens);
    map_free(&b->vocab);
    map_free(&b->ranks);
    free(b->merges_text);
    free(b->special_text);
    free(b);
}

int sc_bpe_size(const sc_bpe *b) {
    return b ? b->size : 0;
}

const char *sc_bpe_token(const sc_bpe *b, int id) {
    return b && id >= 0 && id < b->size ? b->tokens[id] : NULL;
}

int sc_bpe_id(const sc_bpe *b, const char *token) {
    return b && token ? map_get(&b->vocab, token, strlen(token)) : -1;
}

int sc_bpe_special_id(const sc_bpe *b) {
    return b ? b->special : -1;
}

int sc_bpe_merges(const sc_bpe *b) {
    return b ? (int)b->ranks.used : 0;
}

/* ---------------------------------------------------------------- encode */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} idbuf;

static sc_status push_id(idbuf *o, int32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int32_t *p = realloc(o->ids, cap * sizeof *p);
        if (!p) return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
        o->ids = p, o->cap = cap;
    }
    o->ids[o->n++] = id;
    return SC_OK;
}

/* One piece (bytes p[0..n)) through the byte alphabet and the merges. sym
 * (2n + 2 ints) and str (4n + 2 bytes, the piece in the byte alphabet) are
 * scratch. */
static sc_status bpe_piece(const sc_bpe *b, const unsigned char *p, size_t n, size_t *sym,
                           char *str, char *key, idbuf *o) {
    size_t len = 0, ns = 0;
    for (size_t i = 0; i < n; i++) { /* symbol i = the i-th byte's character */
        sym[2 * ns] = len;
        len += sc_utf8_put(b->byte_char[p[i]], str + len);
        sym[2 * ns + 1] = len;
        ns++;
    }
    while (ns > 1) {
        /* the pair with the lowest rank */
        int best = -1;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < ns; i++) {
            size_t a0 = sym[2 * i], a1 = sym[2 * i + 1], b1 = sym[2 * i + 3];
            memcpy(key, str + a0, a1 - a0);
            key[a1 - a0] = ' ';
            memcpy(key + (a1 - a0) + 1, str + a1, b1 - a1);
            int r = map_get(&b->ranks, key, b1 - a0 + 1);
            if (r >= 0 && (best < 0 || r < best)) best = r, bi = i;
        }
        if (best < 0) break;
        /* merge every occurrence of that pair (as strings), left to right */
        const size_t fl = sym[2 * bi + 1] - sym[2 * bi], sl = sym[2 * bi + 3] - sym[2 * bi + 2];
        const size_t f0 = sym[2 * bi], s0 = sym[2 * bi + 2];
        size_t w = 0;
        for (size_t i = 0; i < ns;) {
            size_t a0 = sym[2 * i], a1 = sym[2 * i + 1];
            if (i + 1 < ns && a1 - a0 == fl && !memcmp(str + a0, str + f0, fl) &&
                sym[2 * i + 3] - sym[2 * i + 2] == sl && !memcmp(str + a1, str + s0, sl)) {
                sym[2 * w] = a0, sym[2 * w + 1] = sym[2 * i + 3];
                i += 2;
            } else {
                sym[2 * w] = a0, sym[2 * w + 1] = a1;
                i += 1;
            }
            w++;
        }
        ns = w;
    }
    for (size_t i = 0; i < ns; i++) {
        int id = map_get(&b->vocab, str + sym[2 * i], sym[2 * i + 1] - sym[2 * i]);
        sc_status s = push_id(o, id >= 0 ? id : b->special);
        if (s) return s;
    }
    return SC_OK;
}

/* Length in code points of the pre-token starting at cp[i] (GPT-2's pattern,
 * alternatives in order; n > i). */
static size_t pretoken(const uint32_t *cp, const unsigned char *cls, size_t i, size_t n) {
    if (cp[i] == '\'' && i + 1 < n) {
        uint32_t a = cp[i + 1], c = i + 2 < n ? cp[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
        if ((a == 'r' && c == 'e') || (a == 'v' && c == 'e') || (a == 'l' && c == 'l')) return 3;
    }
    /* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+' */
    static const unsigned char runs[3] = {BPE_LETTER, BPE_NUMBER, BPE_OTHER};
    for (int r = 0; r < 3; r++) {
        size_t j = i;
        if (cp[j] == ' ' && j + 1 < n && cls[j + 1] == runs[r]) j++;
        if (cls[j] != runs[r]) continue;
        while (j < n && cls[j] == runs[r]) j++;
        return j - i;
    }
    /* '\s+(?!\S)' then '\s+' */
    size_t j = i;
    while (j < n && cls[j] == BPE_SPACE) j++;
    if (j == n || j - i == 1) return j - i;
    return j - i - 1;
}

sc_status sc_bpe_encode(const sc_bpe *b, const char *text, size_t len, int32_t **ids, size_t *n) {
    if (!b || (!text && len) || !ids || !n)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_encode: bad argument");
    *ids = NULL, *n = 0;
    size_t bad = sc_utf8_valid_prefix(text, len);
    if (bad < len)
        return sc_set_error(SC_ERR_INVALID_ARG, "bpe: text is not valid UTF-8 (byte %zu)", bad);
    /* Decoding returns a C string, so a NUL could not come back: refuse it here. */
    const char *nul = len ? memchr(text, 0, len) : NULL;
    if (nul)
        return sc_set_error(SC_ERR_INVALID_ARG, "bpe: text has a NUL byte at %zu",
                            (size_t)(nul - text));
    if (len > (size_t)INT_MAX / 8)
        return sc_set_error(SC_ERR_LIMIT, "bpe: text of %zu bytes too long", len);
    uint32_t *cp = malloc((len + 1) * sizeof *cp);
    size_t *off = malloc((len + 2) * sizeof *off);
    unsigned char *cls = malloc(len + 1);
    size_t *sym = malloc((2 * len + 2) * sizeof *sym);
    char *str = malloc(4 * len + 2), *key = malloc(4 * len + 4);
    idbuf o = {NULL, 0, 0};
    sc_status s = cp && off && cls && sym && str && key
                      ? SC_OK
                      : sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    const size_t sl = strlen(b->special_text);
    size_t i = 0;
    while (!s && i <= len) {
        /* the text up to the next special token */
        const char *sp = NULL;
        for (size_t k = i; k + sl <= len && sl; k++)
            if (!memcmp(text + k, b->special_text, sl)) {
                sp = text + k;
                break;
            }
        size_t end = sp ? (size_t)(sp - text) : len, nc = 0;
        for (size_t k = i; k < end; nc++) {
            int step = sc_utf8_next((const unsigned char *)text + k, end - k, &cp[nc]);
            off[nc] = k;
            cls[nc] = (unsigned char)char_class(cp[nc]);
            k += (size_t)step;
        }
        off[nc] = end;
        for (size_t c = 0; c < nc && !s;) {
            size_t t = pretoken(cp, cls, c, nc);
            s = bpe_piece(b, (const unsigned char *)text + off[c], off[c + t] - off[c], sym, str,
                          key, &o);
            c += t;
        }
        if (!sp) break;
        if (!s) s = push_id(&o, b->special);
        i = end + sl;
    }
    free(cp), free(off), free(cls), free(sym), free(str), free(key);
    if (s) {
        free(o.ids);
        return s;
    }
    if (!o.ids && !(o.ids = malloc(sizeof *o.ids)))
        return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    *ids = o.ids, *n = o.n;
    return SC_OK;
}

/* ---------------------------------------------------------------- decode */
sc_status sc_bpe_decode(const sc_bpe *b, const int32_t *ids, size_t n, int skip_special,
                        char **text) {
    if (!b || (n && !ids) || !text)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_bpe_decode: bad argument");
    *text = NULL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = sc_bpe_token(b, ids[i]);
        if (!t) return sc_set_error(SC_ERR_INVALID_ARG, "bpe: id %d has no token", (int)ids[i]);
        if (!(skip_special && ids[i] == b->special)) total += strlen(t);
    }
    unsigned char *bytes = malloc(total + 1);
    if (!bytes) return sc_set_error(SC_ERR_NOMEM, "bpe: out of memory");
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        if (skip_special && ids[i] == b->special) continue;
        const char *t = b->tokens[ids[i]];
        for (size_t k = 0, len = strlen(t); k < len;) {
            uint32_t c;
            int step = sc_utf8_next((const unsigned char *)t + k, len - k, &c);
            if (!step || c >= 324 || b->char_byte[c] < 0) {
                free(bytes);
                return sc_set_error(SC_ERR_INVALID_ARG,
                                    "bpe: token %d (\"%.40s\") has a character outside the byte "
                                    "alphabet",
                                    (int)ids[i], t);
            }
            bytes[nb++] = (unsigned char)b->char_byte[c];
            k += (size_t)step;
        }
    }
    /* Python's bytes.decode("utf-8", errors="replace") */
    *text = sc_utf8_sanitize((const char *)bytes, nb);
    free(bytes);
    return *text ? SC_OK : SC_ERR_NOMEM;
}
