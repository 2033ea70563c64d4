/* saccade: GPT-2's byte-level BPE tokenizer (Hugging Face GPT2Tokenizer).
 *
 * Files: vocab.json (an object token -> id; a repeated key keeps its last id,
 * as json.load) and merges.txt (Python's text mode turns "\r\n" and "\r" into
 * "\n"; as GPT2Tokenizer reads it, the first line (the "#version" line) and
 * whatever follows the last "\n" are dropped; each remaining line split on
 * whitespace is a merge when it has exactly two parts, ranked by line number,
 * a repeated pair keeping its last rank).
 *
 * Encoding (GPT2Tokenizer._tokenize):
 *   1. the special token (<|endoftext|>) is matched whole in the text and gives
 *      its id; the text between is
 *   2. split by GPT-2's pre-tokenizer pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      implemented by hand over code points (classes from the Python regex
 *      module's tables, vision/vitgpt2/bpe_tables.h);
 *   3. each piece's UTF-8 bytes are mapped to printable characters by GPT-2's
 *      bytes_to_unicode table (space -> "Ġ", ...);
 *   4. merges are applied, lowest rank first, every non-overlapping occurrence
 *      left to right, until no adjacent pair has a rank;
 *   5. each symbol is looked up in the vocabulary; a symbol that is not there
 *      gets the unknown token's id (the special token's, as GPT-2 has it).
 * Text must be valid UTF-8 (SC_ERR_INVALID_ARG naming the byte offset).
 *
 * Decoding (GPT2Tokenizer.decode): the tokens of the ids (the special token
 * skipped when skip_special), joined, each character mapped back to its byte,
 * the bytes decoded as UTF-8 with errors="replace" (one U+FFFD per maximal
 * invalid subsequence, as Python does); no clean-up of spaces. */
#ifndef SACCADE_SC_BPE_H
#define SACCADE_SC_BPE_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_bpe sc_bpe; /* opaque */

/* From files, or from their texts in memory (need not be NUL-terminated). The
 * special token (NULL: "<|endoftext|>") must be in the vocabulary. */
sc_status sc_bpe_load(const char *vocab_json_path, const char *merges_path, const char *special,
                      sc_bpe **out);
sc_status sc_bpe_load_memory(const char *vocab_json, size_t vocab_len, const char *merges,
                             size_t merges_len, const char *special, sc_bpe **out);
void sc_bpe_free(sc_bpe *b);
/* 1 + the largest id of the vocabulary. */
int sc_bpe_size(const sc_bpe *b);
/* Token of an id (NULL when no token has it) and id of a token (-1). */
const char *sc_bpe_token(const sc_bpe *b, int id);
int sc_bpe_id(const sc_bpe *b, const char *token);
/* The special token's id (unknown token, eos, skipped by decoding). */
int sc_bpe_special_id(const sc_bpe *b);
/* Merges with a rank (distinct pairs). */
int sc_bpe_merges(const sc_bpe *b);

/* text (len bytes of UTF-8 without NUL; else SC_ERR_INVALID_ARG) -> *ids
 * (malloc'd, free(); *n may be 0). */
sc_status sc_bpe_encode(const sc_bpe *b, const char *text, size_t len, int32_t **ids, size_t *n);
/* ids -> *text (malloc'd UTF-8, free()). An id without a token, or a token
 * with a character outside the byte alphabet: SC_ERR_INVALID_ARG. */
sc_status sc_bpe_decode(const sc_bpe *b, const int32_t *ids, size_t n, int skip_special,
                        char **text);

#ifdef __cplusplus
}
#endif
#endif
