/* saccade: the training loop every trainer shares.
 *
 * A caller-driven loop (the model code stays in charge of forward/backward):
 *
 *   sc_trainer *tr;
 *   sc_trainer_create(&tp, n_examples, params, np, buffers, nb, &tr);
 *   const int *idx; size_t count;
 *   while (sc_trainer_next(tr, &idx, &count) == 1) {   // grads zeroed, lr set
 *       double loss = model_forward_backward(idx, count);
 *       sc_trainer_step(tr, loss, 0, NULL, NULL);       // clip, update, log, checkpoint
 *       if (sc_trainer_at_epoch_end(tr)) evaluate(...);
 *   }
 *   sc_trainer_save(tr, "model.safetensors");
 *
 * What it does: shuffled mini-batches whose order depends only on (seed,
 * epoch); the learning-rate schedule; gradient clipping by global norm; the
 * optimiser step; a progress bar on a terminal (plain lines otherwise);
 * metrics as JSON lines; checkpoints written atomically every N steps and at
 * each epoch end, holding parameters, buffers, optimiser state, the model's
 * random generator and the position, so that `resume` continues exactly as
 * if the run had never stopped (same batches, same updates, same dropout).
 *
 * Data-parallel (params.comm with N > 1 ranks, e.g. under mpirun): every rank
 * runs the same loop. sc_trainer_next hands each rank its contiguous slice of
 * the global batch (rank r: examples [r B / N, (r + 1) B / N) of it), so no
 * two ranks read the same items in an epoch; sc_trainer_step sums the ranks'
 * gradients, weighted by each rank's share of the batch (sc_trainer_set_share),
 * with ONE allreduce over a flat buffer (gradients, batch-norm running
 * statistics averaged, loss, metrics), so the update is the one a single
 * process would make on the whole batch and parameters stay identical on
 * every rank (rank 0's are broadcast at the start). Rank 0 alone writes
 * checkpoints, metrics and the model. Randomness drawn from sc_trainer_rng
 * (dropout, augmentation) comes from a stream of each rank's own, saved for
 * every rank in checkpoints: a run is reproducible for a given N, and equal
 * to one process (within float rounding) when the model draws no random
 * numbers, or draws them per example from sc_trainer_example_rng (the same
 * draws for an example on any rank). Batch norm normalises with each rank's own slice (as PyTorch's
 * DistributedDataParallel without SyncBatchNorm). Resuming needs the same
 * batch size and seed; with another N it continues with the same batches,
 * parameters and optimiser state, and fresh per-rank random streams (a note
 * says so). Every rank must call every function here the same number of
 * times, in the same order; a rank that fails must end the job
 * (sc_comm_abort), or the others wait for it forever. */
#ifndef SACCADE_SC_TRAIN_H
#define SACCADE_SC_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "saccade/sc_comm.h"
#include "saccade/sc_error.h"
#include "saccade/sc_optim.h"
#include "saccade/sc_rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sc_train_params {
    int epochs;                  /* default 1 */
    size_t batch_size;           /* default 64 */
    uint64_t seed;               /* batch order and the model's rng (default 0) */
    int shuffle;                 /* default 1 */
    int drop_last;               /* default 0 */
    sc_optim_params optim;       /* default AdamW */
    sc_lr_schedule schedule;     /* base_lr 0 means optim.lr, constant */
    double clip_grad_norm;       /* 0: no clipping */
    int64_t checkpoint_every;    /* steps between checkpoints; 0: only at epoch ends */
    const char *checkpoint_path; /* NULL: no checkpoints */
    const char *metrics_path;    /* NULL: no metrics log; resume cuts it back to the
                                    checkpoint's step (sc_metrics_truncate) */
    int resume;                  /* continue from checkpoint_path */
    int64_t max_steps;           /* stop after this many global steps (0: all epochs) */
    int log_every;               /* plain-log interval in steps (default 50) */
    int progress_mode;           /* as sc_progress_params.force_mode (0 auto) */
    const char *label;           /* progress label (default "train") */
    sc_comm *comm;               /* data-parallel over its ranks; NULL: this process alone */
} sc_train_params;
sc_train_params sc_train_default_params(void);
/* The usual recipe: optimiser optim at optim.lr, cosine decay of it over
 * every step of `epochs` epochs of `examples` examples in batches of `batch`
 * (ceil(examples / batch) steps an epoch), batch order from seed, stopping
 * after max_steps (0: none); the rest as sc_train_default_params. */
sc_train_params sc_train_cosine_params(const sc_optim_params *optim, int epochs, int batch,
                                       size_t examples, uint64_t seed, int64_t max_steps);

typedef struct sc_trainer sc_trainer; /* opaque */

/* params: trainable tensors (grad non-NULL); buffers: saved but not trained
 * (batch-norm running statistics), grad NULL. Both lists are copied; the
 * memory stays the caller's. With p->resume, loads the checkpoint now. */
sc_status sc_trainer_create(const sc_train_params *p, size_t n_examples, const sc_param *params,
                            size_t nparams, const sc_param *buffers, size_t nbuffers,
                            sc_trainer **out);
void sc_trainer_free(sc_trainer *tr);

/* Metadata written into checkpoints and the saved model (e.g.
 * "saccade.config"), so a checkpoint is also a usable model file. */
sc_status sc_trainer_set_metadata(sc_trainer *tr, const char *key, const char *value);
/* The model's random generator (dropout, augmentation): seeded from the
 * seed, saved in checkpoints and restored on resume. */
sc_rng *sc_trainer_rng(sc_trainer *tr);
/* A generator of its own for example i of this rank's part of the current
 * batch (after sc_trainer_next; i < its count), seeded from the seed, the
 * step and the example's position in the whole batch: the same draws for an
 * example on any rank of any job size, so draws made this way keep N ranks
 * equal to one process (sc_trainer_rng's per-rank streams do not), and a
 * resumed run makes them again without saved state. */
sc_status sc_trainer_example_rng(const sc_trainer *tr, size_t i, sc_rng *out);

/* Next batch: returns 1 with the example indices (valid until the next
 * call), 0 when training is over, -1 on error (sc_last_error). Zeroes every
 * gradient and sets the learning rate for this step. */
int sc_trainer_next(sc_trainer *tr, const int **idx, size_t *count);
/* After the caller's backward pass: clip, step, log loss and extra metrics,
 * checkpoint when due. A non-finite loss stops training with SC_ERR_INTERNAL
 * naming the step (the last checkpoint stays intact); a termination signal
 * caught by sc_comm_catch_signals stops it with SC_ERR_STOPPED before the
 * update (so does sc_trainer_reduce). */
sc_status sc_trainer_step(sc_trainer *tr, double loss, int nmetrics, const char *const *keys,
                          const double *values);
/* True right after the step that finished an epoch. That step erases the
 * progress bar from the terminal, so a line printed then starts clean. */
int sc_trainer_at_epoch_end(const sc_trainer *tr);
/* Data-parallel. This rank's share of the batch's loss: the weight of its
 * gradients and loss in the sum over ranks (default: its examples over the
 * global batch's, right for a loss averaged over examples). A loss averaged
 * over something else (tokens) sets its count over the global count, after
 * sc_trainer_next and before sc_trainer_step. */
sc_status sc_trainer_set_share(sc_trainer *tr, double share);
/* Sum buf[0..n) over the ranks (e.g. a batch's token counts for the share). */
sc_status sc_trainer_allreduce(sc_trainer *tr, float *buf, size_t n);
/* Combine the ranks' gradients now (and *loss, the rank's loss, into the
 * batch's); sc_trainer_step then only updates. For callers that work on the
 * summed gradients before the step (per-group clipping). */
sc_status sc_trainer_reduce(sc_trainer *tr, double *loss);
/* 1 on the rank that writes files and prints (rank 0; always 1 alone). */
int sc_trainer_is_writer(const sc_trainer *tr);
/* Log extra metrics (e.g. held-out accuracy) at the current step. */
sc_status sc_trainer_log(sc_trainer *tr, int nmetrics, const char *const *keys,
                         const double *values);
int64_t sc_trainer_global_step(const sc_trainer *tr);
int64_t sc_trainer_epoch(const sc_trainer *tr);     /* 0-based epoch of the last batch */
double sc_trainer_epoch_loss(const sc_trainer *tr); /* mean loss of the current/last epoch */
double sc_trainer_elapsed(const sc_trainer *tr);    /* seconds in this process */
/* Data-parallel: seconds this rank spent in the sums over the ranks
 * (sc_trainer_allreduce and each step's), waiting for slower ranks included;
 * 0 alone. */
double sc_trainer_comm_seconds(const sc_trainer *tr);
/* Write a checkpoint now (to checkpoint_path; rank 0 writes, every rank
 * must call it). */
sc_status sc_trainer_checkpoint(sc_trainer *tr);
/* Save the model: parameters, buffers and metadata, no optimiser state
 * (rank 0 writes; SC_OK elsewhere). */
sc_status sc_trainer_save(sc_trainer *tr, const char *path);

#ifdef __cplusplus
}
#endif
#endif
