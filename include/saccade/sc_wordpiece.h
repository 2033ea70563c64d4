/* saccade: BERT WordPiece tokenizer, as Hugging Face transformers 5.x runs
 * BertTokenizer (models/bert/tokenization_bert.py, backed by the tokenizers
 * library: BertNormalizer, BertPreTokenizer, WordPiece, decoders.WordPiece),
 * from a model folder's vocab.txt and tokenizer_config.json.
 *
 * Encoding, per piece of text between special tokens:
 *  1. special tokens ([CLS], [SEP], [PAD], [MASK], [UNK], bos/eos such as
 *     BLIP's [DEC], additional ones such as [ENC], and added_tokens_decoder
 *     entries) are matched in the raw text first, leftmost then longest, and
 *     never split;
 *  2. clean: NUL, U+FFFD and control/format/unassigned characters (category
 *     C*, but not tab, newline, return) are dropped; whitespace (tab, newline,
 *     return, Zs, Zl, Zp) becomes a space;
 *  3. CJK ideographs (BERT's blocks) get a space on each side;
 *  4. accents stripped (strip_accents, default: do_lower_case): NFD, then the
 *     nonspacing marks (Mn) removed;
 *  5. lower case (do_lower_case), character by character (no final-sigma rule);
 *  6. split on spaces, and every punctuation character (ASCII non-alphanumeric
 *     printable, categories P*) is a word of its own;
 *  7. WordPiece: a word longer than 100 characters (max_input_chars_per_word)
 *     is [UNK]; otherwise the longest vocabulary prefix, then the longest
 *     "##" continuation, and so on; a word with an unmatchable rest is [UNK].
 * Decoding: ids to tokens (special ones skipped when asked); every token after
 * the first is preceded by a space unless it starts with "##" (then the "##"
 * goes); per token " ." " ?" " !" " ," lose their space (the WordPiece
 * decoder's clean-up); then, if clean_up_tokenization_spaces (the config's
 * value, false when absent, as in transformers 5.x; 4.x defaulted to true),
 * on the whole string " ." " ?" " !" " ," " ' " " n't" " 'm" " 's" " 've"
 * " 're" lose their leading space (" ' " becomes "'").
 * The Unicode tables (classes, decomposition, lower case) are those of
 * WP_UNICODE_VERSION (tools/ref/gen_unicode_tables.py); canonical reordering
 * of the marks that survive accent stripping is not done (only spacing marks
 * with a combining class could move).
 *
 * vocab.txt: one token per line, the line number is the id (lines end at
 * "\n", "\r\n" or "\r", as Python's text mode reads them); must be UTF-8.
 * Special tokens named by the config but absent from vocab.txt and from
 * added_tokens_decoder get the next free ids (bos, eos, unk, sep, pad, cls,
 * mask, then the additional ones), as Hugging Face adds them; added ids lie
 * within 1024 of the vocab.txt lines (a bound on memory).
 * Text must be valid UTF-8 (SC_ERR_INVALID_ARG otherwise, naming the byte) and
 * at most SC_WORDPIECE_MAX_TEXT bytes (SC_ERR_LIMIT). */
#ifndef SACCADE_SC_WORDPIECE_H
#define SACCADE_SC_WORDPIECE_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SC_WORDPIECE_MAX_TEXT ((size_t)16 << 20)
#define SC_WORDPIECE_MAX_VOCAB_BYTES ((size_t)64 << 20)
#define SC_WORDPIECE_MAX_TOKENS (1 << 22) /* vocab.txt lines */

typedef struct sc_wordpiece sc_wordpiece;

/* The special tokens a config can name. */
typedef enum sc_wordpiece_special {
    SC_WP_UNK = 0,
    SC_WP_SEP,
    SC_WP_PAD,
    SC_WP_CLS,
    SC_WP_MASK,
    SC_WP_BOS, /* BLIP: [DEC] */
    SC_WP_EOS,
    SC_WP_NSPECIAL
} sc_wordpiece_special;

/* Load vocab.txt and, when config_path is not NULL, tokenizer_config.json
 * (do_lower_case, strip_accents, tokenize_chinese_chars,
 * clean_up_tokenization_spaces, the *_token names, additional_special_tokens /
 * extra_special_tokens, added_tokens_decoder). Without a config: lower case,
 * accents stripped, [UNK] [SEP] [PAD] [CLS] [MASK] as special tokens. */
sc_status sc_wordpiece_load(const char *vocab_path, const char *config_path, sc_wordpiece **out);
/* The same from memory (config may be NULL; lengths in bytes). */
sc_status sc_wordpiece_load_memory(const char *vocab, size_t vocab_len, const char *config,
                                   size_t config_len, sc_wordpiece **out);
void sc_wordpiece_free(sc_wordpiece *wp);

/* Largest id + 1 (vocab.txt lines plus added tokens). */
int sc_wordpiece_size(const sc_wordpiece *wp);
/* Id of an exact token, or -1. */
int sc_wordpiece_id(const sc_wordpiece *wp, const char *token);
/* Token of an id, or NULL for an id that has none. */
const char *sc_wordpiece_token(const sc_wordpiece *wp, int id);
/* Id of a special token, or -1 when the files name none / it has no id. */
int sc_wordpiece_special_id(const sc_wordpiece *wp, sc_wordpiece_special which);
/* 1 if id is a special token (skipped by decoding when asked). */
int sc_wordpiece_is_special(const sc_wordpiece *wp, int id);
/* Register a special token (matched whole in text, skippable): its vocab id
 * if it has one, else the next free id. *id (may be NULL) receives the id. */
sc_status sc_wordpiece_add_special(sc_wordpiece *wp, const char *token, int *id);

/* Text (len bytes) to ids; with add_special, [CLS] ids [SEP] as the
 * tokenizer's __call__ does. *ids is malloc'd (free()), *n its length. */
sc_status sc_wordpiece_encode(const sc_wordpiece *wp, const char *text, size_t len, int add_special,
                              int32_t **ids, size_t *n);
/* Ids to text. skip_special: drop special tokens; clean_up: 1 or 0, or -1 for
 * the config's clean_up_tokenization_spaces. Ids without a token are skipped
 * (as the tokenizers library does); negative ids are an error. *text is
 * malloc'd (free()). */
sc_status sc_wordpiece_decode(const sc_wordpiece *wp, const int32_t *ids, size_t n,
                              int skip_special, int clean_up, char **text);

#ifdef __cplusplus
}
#endif
#endif
