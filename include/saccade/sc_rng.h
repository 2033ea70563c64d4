/* saccade: a small, fast, seedable random generator (xoshiro256**), so that
 * every random choice (init, dropout, shuffles, data generation) is
 * reproducible from a seed and can be saved and restored for --resume. */
#ifndef SACCADE_SC_RNG_H
#define SACCADE_SC_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_rng {
    uint64_t s[4];
} sc_rng;

void sc_rng_seed(sc_rng *r, uint64_t seed);
uint64_t sc_rng_u64(sc_rng *r);
/* Uniform in [0, 1) with 24 random bits. */
float sc_rng_uniform(sc_rng *r);
/* Uniform integer in [0, n), unbiased. n > 0. */
uint64_t sc_rng_below(sc_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
float sc_rng_normal(sc_rng *r);
/* Fisher-Yates shuffle of an index array. */
void sc_rng_shuffle(sc_rng *r, int *idx, int n);

#ifdef __cplusplus
}
#endif
#endif
