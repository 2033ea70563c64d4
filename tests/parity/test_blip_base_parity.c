/* sc_blip against its PyTorch twin at BLIP-base's real sizes (random
 * weights): vision features, step logits, cross-attentions and ids of a
 * short greedy and beam-3 caption. The cases of test_blip_parity.c. */
#define BLIP_CASES_ARGS "--base"
/* name, folder, beams, max new tokens, min length, length penalty, early stopping */
#define BLIP_BASE_CASES                                                                            \
    {"base_greedy", "base", 1, 5, 0, 1.0f, 0}, {                                                   \
        "base_beam3", "base", 3, 3, 0, 1.0f, 0                                                     \
    }
#include "test_blip_parity.c"
