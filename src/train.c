/* The shared training loop (see sc_train.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sc_internal.h"
#include "saccade/sc_batcher.h"
#include "saccade/sc_progress.h"
#include "saccade/sc_safetensors.h"
#include "saccade/sc_train.h"

#define META_MAX 32

struct sc_trainer {
    sc_train_params p;
    size_t n_examples;
    sc_param *params, *buffers;
    size_t nparams, nbuffers;
    char **names; /* owned copies of every param/buffer name */
    sc_optim *optim;
    sc_batcher batcher;
    sc_rng rng;
    sc_progress *progress;
    sc_metrics_log *metrics;
    char *meta_key[META_MAX], *meta_val[META_MAX];
    int nmeta;
    int64_t global_step; /* steps completed */
    int64_t total_steps;
    int64_t epoch; /* epoch of the current batch */
    size_t step_in_epoch;
    int epoch_end;
    double epoch_loss_sum;
    int64_t epoch_loss_n;
    double last_epoch_loss;
    int64_t pending_examples;
    int finished;
    /* data-parallel (comm with size > 1) */
    sc_comm *comm;
    int rank, size;
    double share;             /* this rank's weight in the sum over ranks */
    size_t slice_lo, slice_n; /* this rank's part of the batch: [lo, lo + n) */
    double comm_s;            /* seconds in the ranks' sums, waits included */
    int reduced;              /* gradients of this step already summed */
    float *flat;              /* (grads + buffers + 1 + METRICS_MAX): the one allreduce */
    size_t nflat_grads, nflat_bufs;
};

#define METRICS_MAX 24

/* Rank r's own stream for dropout and augmentation (rank 0: the
 * single-process stream). */
static uint64_t rank_seed(uint64_t seed, int rank) {
    return seed ^ 0x5eedda7aULL ^ ((uint64_t)rank * 0x9E3779B97F4A7C15ULL);
}

sc_train_params sc_train_default_params(void) {
    sc_train_params p;
    memset(&p, 0, sizeof p);
    p.epochs = 1;
    p.batch_size = 64;
    p.shuffle = 1;
    p.optim = sc_adamw_default_params();
    p.schedule = sc_lr_schedule_default();
    p.schedule.base_lr = 0; /* follow optim.lr unless set */
    p.log_every = 50;
    p.label = "train";
    return p;
}

sc_train_params sc_train_cosine_params(const sc_optim_params *optim, int epochs, int batch,
                                       size_t examples, uint64_t seed, int64_t max_steps) {
    sc_train_params p = sc_train_default_params();
    p.epochs = epochs;
    p.batch_size = (size_t)batch;
    p.seed = seed;
    p.optim = *optim;
    size_t per_epoch = batch > 0 ? (examples + (size_t)batch - 1) / (size_t)batch : 0;
    p.schedule.kind = SC_LR_COSINE;
    p.schedule.base_lr = optim->lr;
    p.schedule.t_max = (int64_t)(per_epoch * (size_t)(epochs > 0 ? epochs : 0));
    p.max_steps = max_steps;
    return p;
}

static size_t param_numel(const sc_param *q) {
    if (q->ndim <= 0) return q->n;
    size_t n = 1;
    for (int i = 0; i < q->ndim; i++) n *= (size_t)q->shape[i];
    return n;
}

static sc_status copy_list(sc_trainer *tr, const sc_param *src, size_t n, sc_param **dst,
                           size_t name_off, int need_grad) {
    *dst = calloc(n ? n : 1, sizeof **dst);
    if (!*dst) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const sc_param *q = &src[i];
        if (!q->name || !*q->name || !q->param || (need_grad && !q->grad) || q->n == 0 ||
            q->ndim < 0 || q->ndim > 6 || param_numel(q) != q->n)
            return sc_set_error(SC_ERR_INVALID_ARG, "trainer: tensor %zu (%s) is malformed", i,
                                q->name ? q->name : "(unnamed)");
        (*dst)[i] = *q;
        tr->names[name_off + i] = strdup(q->name);
        if (!tr->names[name_off + i]) return sc_set_error(SC_ERR_NOMEM, "out of memory");
        (*dst)[i].name = tr->names[name_off + i];
    }
    return SC_OK;
}

static sc_status load_checkpoint(sc_trainer *tr);

/* Data-parallel set-up: the flat reduction buffer, a check that every batch
 * gives each rank at least one example, and rank 0's parameters and
 * buffers on every rank. */
static sc_status setup_parallel(sc_trainer *tr) {
    size_t ng = 0, nb = 0, total;
    for (size_t i = 0; i < tr->nparams; i++)
        if (sc_add_size(ng, tr->params[i].n, &ng)) return sc_set_error(SC_ERR_LIMIT, "too large");
    for (size_t i = 0; i < tr->nbuffers; i++)
        if (sc_add_size(nb, tr->buffers[i].n, &nb)) return sc_set_error(SC_ERR_LIMIT, "too large");
    if (sc_add_size(ng, nb, &total) || sc_add_size(total, 1 + METRICS_MAX, &total) ||
        total > SIZE_MAX / sizeof(float))
        return sc_set_error(SC_ERR_LIMIT, "trainer: parameters too large");
    tr->nflat_grads = ng;
    tr->nflat_bufs = nb;
    tr->flat = malloc(total * sizeof(float));
    if (!tr->flat) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    const size_t B = tr->p.batch_size, n = tr->n_examples, S = (size_t)tr->size;
    if (B < S)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "trainer: a batch of %zu cannot be split across %zu ranks", B, S);
    if (!tr->p.drop_last && n % B && n % B < S)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "trainer: the last batch of an epoch (%zu of %zu examples) cannot be "
                            "split across %zu ranks; choose another batch size",
                            n % B, n, S);
    sc_status s = SC_OK;
    for (size_t i = 0; i < tr->nparams && !s; i++)
        s = sc_comm_broadcast(tr->comm, tr->params[i].param, tr->params[i].n * sizeof(float), 0);
    for (size_t i = 0; i < tr->nbuffers && !s; i++)
        s = sc_comm_broadcast(tr->comm, tr->buffers[i].param, tr->buffers[i].n * sizeof(float), 0);
    return s;
}

sc_status sc_trainer_create(const sc_train_params *p, size_t n_examples, const sc_param *params,
                            size_t nparams, const sc_param *buffers, size_t nbuffers,
                            sc_trainer **out) {
    *out = NULL;
    if (!p || p->epochs <= 0 || p->batch_size == 0 || n_examples == 0 || nparams == 0)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "trainer: need epochs > 0, batch size > 0, examples and parameters");
    if (p->resume && !p->checkpoint_path)
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: resume needs a checkpoint path");
    if (!(p->clip_grad_norm >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: bad clip norm");
    sc_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    tr->p = *p;
    tr->n_examples = n_examples;
    tr->nparams = nparams;
    tr->nbuffers = nbuffers;
    tr->names = calloc(nparams + nbuffers, sizeof *tr->names);
    sc_status s = tr->names ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    if (!s) s = copy_list(tr, params, nparams, &tr->params, 0, 1);
    if (!s) s = copy_list(tr, buffers, nbuffers, &tr->buffers, nparams, 0);
    if (!s && tr->p.schedule.base_lr <= 0) tr->p.schedule.base_lr = tr->p.optim.lr;
    if (!s) s = sc_lr_schedule_validate(&tr->p.schedule);
    if (!s) s = sc_optim_create(&tr->p.optim, tr->params, nparams, &tr->optim);
    if (!s)
        s = sc_batcher_init(&tr->batcher, n_examples, p->batch_size, p->shuffle, p->drop_last,
                            p->seed);
    if (s) {
        sc_trainer_free(tr);
        return s;
    }
    int64_t per_epoch = (int64_t)sc_batcher_num_batches(&tr->batcher);
    if (per_epoch == 0) {
        sc_trainer_free(tr);
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: %zu examples make no batch of %zu",
                            n_examples, p->batch_size);
    }
    tr->total_steps = per_epoch * p->epochs;
    if (p->max_steps > 0 && p->max_steps < tr->total_steps) tr->total_steps = p->max_steps;
    tr->comm = p->comm;
    tr->rank = sc_comm_rank(p->comm);
    tr->size = sc_comm_size(p->comm);
    sc_rng_seed(&tr->rng, rank_seed(p->seed, tr->rank));
    tr->epoch = -1;
    if ((p->resume && (s = load_checkpoint(tr))) || (tr->size > 1 && (s = setup_parallel(tr)))) {
        sc_trainer_free(tr);
        return s;
    }
    if (tr->rank == 0 && p->metrics_path &&
        ((p->resume && (s = sc_metrics_truncate(p->metrics_path, tr->global_step))) ||
         (s = sc_metrics_open(p->metrics_path, &tr->metrics)))) {
        sc_trainer_free(tr);
        return s;
    }
    sc_progress_params pp = sc_progress_default_params();
    pp.label = p->label ? p->label : "train";
    pp.total = tr->total_steps;
    pp.log_every = p->log_every > 0 ? p->log_every : 50;
    pp.force_mode = tr->rank == 0 ? p->progress_mode : 3; /* one bar for the job */
    tr->progress = sc_progress_create(&pp);
    if (!tr->progress) {
        sc_trainer_free(tr);
        return SC_ERR_NOMEM;
    }
    *out = tr;
    return SC_OK;
}

void sc_trainer_free(sc_trainer *tr) {
    if (!tr) return;
    if (tr->names)
        for (size_t i = 0; i < tr->nparams + tr->nbuffers; i++) free(tr->names[i]);
    free(tr->names);
    free(tr->params);
    free(tr->buffers);
    sc_optim_free(tr->optim);
    sc_batcher_free(&tr->batcher);
    sc_progress_free(tr->progress);
    sc_metrics_close(tr->metrics);
    free(tr->flat);
    for (int i = 0; i < tr->nmeta; i++) {
        free(tr->meta_key[i]);
        free(tr->meta_val[i]);
    }
    free(tr);
}

sc_status sc_trainer_set_metadata(sc_trainer *tr, const char *key, const char *value) {
    if (!key || !value || !strncmp(key, "saccade.train", 13))
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: bad metadata key");
    for (int i = 0; i < tr->nmeta; i++)
        if (!strcmp(tr->meta_key[i], key)) {
            char *v = strdup(value);
            if (!v) return sc_set_error(SC_ERR_NOMEM, "out of memory");
            free(tr->meta_val[i]);
            tr->meta_val[i] = v;
            return SC_OK;
        }
    if (tr->nmeta >= META_MAX) return sc_set_error(SC_ERR_LIMIT, "trainer: too many metadata keys");
    tr->meta_key[tr->nmeta] = strdup(key);
    tr->meta_val[tr->nmeta] = strdup(value);
    if (!tr->meta_key[tr->nmeta] || !tr->meta_val[tr->nmeta]) {
        free(tr->meta_key[tr->nmeta]);
        free(tr->meta_val[tr->nmeta]);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    tr->nmeta++;
    return SC_OK;
}

sc_rng *sc_trainer_rng(sc_trainer *tr) {
    return &tr->rng;
}

sc_status sc_trainer_example_rng(const sc_trainer *tr, size_t i, sc_rng *out) {
    if (!tr || !out || i >= tr->slice_n)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_trainer_example_rng: no example %zu in this rank's part (%zu)", i,
                            tr ? tr->slice_n : 0);
    /* seed, then step, then position, each folded in through sc_rng_seed's
     * full mix */
    sc_rng_seed(out, tr->p.seed ^ 0x65786d706c65ULL);
    sc_rng_seed(out, sc_rng_u64(out) + (uint64_t)tr->global_step);
    sc_rng_seed(out, sc_rng_u64(out) + (uint64_t)(tr->slice_lo + i));
    return SC_OK;
}

int sc_trainer_next(sc_trainer *tr, const int **idx, size_t *count) {
    if (tr->finished || tr->global_step >= tr->total_steps) return 0;
    int64_t epoch;
    size_t step;
    if (sc_batcher_locate(&tr->batcher, (uint64_t)tr->global_step, &epoch, &step)) return -1;
    if (epoch != tr->epoch) {
        if (sc_batcher_set_epoch(&tr->batcher, epoch)) return -1;
        tr->epoch = epoch;
        tr->epoch_loss_sum = 0;
        tr->epoch_loss_n = 0;
    }
    tr->step_in_epoch = step;
    if (sc_batcher_get(&tr->batcher, step, idx, count)) return -1;
    tr->pending_examples = (int64_t)*count;
    tr->reduced = 0;
    tr->share = 1;
    tr->slice_lo = 0;
    tr->slice_n = *count;
    if (tr->size > 1) { /* this rank's contiguous slice: the batch's order is kept */
        const size_t n = *count, lo = n * (size_t)tr->rank / (size_t)tr->size,
                     hi = n * ((size_t)tr->rank + 1) / (size_t)tr->size;
        *idx += lo;
        *count = hi - lo;
        tr->share = (double)(hi - lo) / (double)n;
        tr->slice_lo = lo;
        tr->slice_n = hi - lo;
    }
    sc_optim_zero_grad(tr->optim);
    if (sc_optim_set_lr(tr->optim, sc_lr_at(&tr->p.schedule, tr->global_step))) return -1;
    tr->epoch_end = 0;
    return 1;
}

/* Every rank's generator state as 64 hex digits each, rank order, on rank 0
 * (*out malloc'ed there; NULL elsewhere). Collective. */
static sc_status gather_rngs(sc_trainer *tr, char **out) {
    char mine[65];
    snprintf(mine, sizeof mine, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
             tr->rng.s[0], tr->rng.s[1], tr->rng.s[2], tr->rng.s[3]);
    *out = NULL;
    if (tr->size == 1) {
        *out = strdup(mine);
        return *out ? SC_OK : sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    size_t *lens = tr->rank == 0 ? calloc((size_t)tr->size, sizeof *lens) : NULL;
    if (tr->rank == 0 && !lens) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    char *all = NULL;
    sc_status s = sc_comm_gather_bytes(tr->comm, mine, 64, 0, &all, lens);
    free(lens);
    if (s || tr->rank != 0) return s;
    *out = malloc((size_t)tr->size * 64 + 1);
    if (!*out) {
        free(all);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    memcpy(*out, all, (size_t)tr->size * 64);
    (*out)[(size_t)tr->size * 64] = 0;
    free(all);
    return SC_OK;
}

static sc_status write_file(sc_trainer *tr, const char *path, int with_state) {
    char *rngs = NULL;
    if (with_state) {
        sc_status s = gather_rngs(tr, &rngs);
        if (s) return s;
    }
    if (tr->rank != 0) return SC_OK;
    sc_st_writer *w = sc_st_writer_new();
    if (!w) {
        free(rngs);
        return sc_set_error(SC_ERR_NOMEM, "out of memory");
    }
    if (!w) return sc_set_error(SC_ERR_NOMEM, "out of memory");
    sc_status s = SC_OK;
    for (int pass = 0; pass < 2 && !s; pass++) {
        const sc_param *list = pass ? tr->buffers : tr->params;
        size_t n = pass ? tr->nbuffers : tr->nparams;
        for (size_t i = 0; i < n && !s; i++) {
            int64_t shape1 = (int64_t)list[i].n;
            s = sc_st_writer_add_f32(w, list[i].name, list[i].param,
                                     list[i].ndim > 0 ? list[i].ndim : 1,
                                     list[i].ndim > 0 ? list[i].shape : &shape1, SC_ST_F32);
        }
    }
    for (int i = 0; i < tr->nmeta && !s; i++)
        s = sc_st_writer_set_metadata(w, tr->meta_key[i], tr->meta_val[i]);
    if (!s && with_state) {
        size_t ns = sc_optim_state_count(tr->optim);
        for (size_t i = 0; i < ns && !s; i++) {
            sc_optim_state_entry e;
            s = sc_optim_state_get(tr->optim, i, &e);
            int64_t n = (int64_t)e.n;
            if (!s) s = sc_st_writer_add_f32(w, e.name, e.data, 1, &n, SC_ST_F32);
        }
        /* "rng" is rank 0's (the single-process stream), "rng_ranks" every rank's */
        size_t len = 256 + strlen(rngs);
        char *meta = malloc(len);
        if (!meta) s = sc_set_error(SC_ERR_NOMEM, "out of memory");
        if (!s) {
            snprintf(meta, len,
                     "{\"step\": %" PRId64 ", \"seed\": %" PRIu64 ", \"batch_size\": %zu, "
                     "\"n_examples\": %zu, \"rng\": \"%.64s\", \"ranks\": %d, "
                     "\"rng_ranks\": \"%s\"}",
                     tr->global_step, tr->p.seed, tr->p.batch_size, tr->n_examples, rngs, tr->size,
                     rngs);
            s = sc_st_writer_set_metadata(w, "saccade.train", meta);
        }
        free(meta);
    }
    if (!s) s = sc_st_writer_write(w, path);
    sc_st_writer_free(w);
    free(rngs);
    return s;
}

sc_status sc_trainer_checkpoint(sc_trainer *tr) {
    if (!tr->p.checkpoint_path) return SC_OK;
    return write_file(tr, tr->p.checkpoint_path, 1);
}

sc_status sc_trainer_save(sc_trainer *tr, const char *path) {
    return write_file(tr, path, 0);
}

static sc_status parse_u64_field(const char *json, const char *key, uint64_t *out) {
    const char *p = strstr(json, key);
    if (!p) return SC_ERR_FORMAT;
    p += strlen(key);
    while (*p == '"' || *p == ':' || *p == ' ') p++;
    if (*p < '0' || *p > '9') return SC_ERR_FORMAT; /* strtoull would take "-1" */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno) return SC_ERR_FORMAT;
    *out = v;
    return SC_OK;
}

static sc_status load_tensors(sc_trainer *tr, sc_safetensors *st, const sc_param *list, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float *d;
        int64_t shape1 = (int64_t)list[i].n;
        sc_status s = sc_safetensors_get_f32(st, list[i].name, list[i].ndim > 0 ? list[i].ndim : 1,
                                             list[i].ndim > 0 ? list[i].shape : &shape1, &d);
        if (s) return s;
        memcpy(list[i].param, d, list[i].n * sizeof(float));
    }
    (void)tr;
    return SC_OK;
}

static sc_status load_checkpoint(sc_trainer *tr) {
    const char *path = tr->p.checkpoint_path;
    sc_safetensors *st;
    sc_status s = sc_safetensors_open(path, &st);
    if (s) return s;
    const char *meta = sc_safetensors_metadata(st, "saccade.train");
    uint64_t step = 0, seed = 0, batch = 0, nex = 0;
    if (!meta || parse_u64_field(meta, "\"step\"", &step) || step > INT64_MAX ||
        parse_u64_field(meta, "\"seed\"", &seed) ||
        parse_u64_field(meta, "\"batch_size\"", &batch) ||
        parse_u64_field(meta, "\"n_examples\"", &nex)) {
        sc_safetensors_free(st);
        return sc_set_error(SC_ERR_FORMAT, "%s: not a saccade training checkpoint", path);
    }
    if (seed != tr->p.seed || batch != tr->p.batch_size || nex != tr->n_examples) {
        sc_safetensors_free(st);
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "%s: checkpoint was made with seed %" PRIu64 ", batch size %" PRIu64
                            " and %" PRIu64 " examples; resuming exactly needs the same",
                            path, seed, batch, nex);
    }
    const char *r = strstr(meta, "\"rng\": \"");
    if (!r || strspn(r + 8, "0123456789abcdefABCDEF") < 64) {
        sc_safetensors_free(st);
        return sc_set_error(SC_ERR_FORMAT, "%s: checkpoint has no generator state", path);
    }
    r += 8;
    /* This rank's stream when the checkpoint has one for it (same number of
     * ranks); else rank 0's, and a new stream from it for the other ranks. */
    uint64_t ranks = 1;
    if (parse_u64_field(meta, "\"ranks\"", &ranks)) ranks = 1;
    const char *rr = strstr(meta, "\"rng_ranks\": \"");
    int own = ranks == (uint64_t)tr->size && rr &&
              strspn(rr + 14, "0123456789abcdefABCDEF") >= 64 * (size_t)tr->size;
    if (own) r = rr + 14 + 64 * (size_t)tr->rank;
    for (int i = 0; i < 4; i++) {
        char hex[17];
        memcpy(hex, r + 16 * i, 16);
        hex[16] = 0;
        tr->rng.s[i] = strtoull(hex, NULL, 16);
    }
    if (!own && tr->rank > 0)
        sc_rng_seed(&tr->rng, rank_seed(tr->rng.s[0] ^ tr->rng.s[2], tr->rank));
    if (!own && tr->rank == 0 && ranks != (uint64_t)tr->size)
        fprintf(stderr,
                "note: %s was written by %" PRIu64 " ranks, resuming on %d: the same batches, "
                "parameters and optimiser state; dropout and augmentation draw new streams\n",
                path, ranks, tr->size);
    s = load_tensors(tr, st, tr->params, tr->nparams);
    if (!s) s = load_tensors(tr, st, tr->buffers, tr->nbuffers);
    size_t ns = sc_optim_state_count(tr->optim);
    for (size_t i = 0; i < ns && !s; i++) {
        sc_optim_state_entry e;
        s = sc_optim_state_get(tr->optim, i, &e);
        const float *d;
        int64_t n = (int64_t)e.n;
        char name[256];
        snprintf(name, sizeof name, "%s", e.name); /* e.name may change on set */
        if (!s) s = sc_safetensors_get_f32(st, name, 1, &n, &d);
        if (!s) s = sc_optim_state_set(tr->optim, name, d, e.n);
    }
    sc_safetensors_free(st);
    if (s) return s;
    tr->global_step = (int64_t)step;
    return SC_OK;
}

sc_status sc_trainer_log(sc_trainer *tr, int nmetrics, const char *const *keys,
                         const double *values) {
    if (!tr->metrics) return SC_OK;
    return sc_metrics_write(tr->metrics, tr->global_step, nmetrics, keys, values);
}

sc_status sc_trainer_set_share(sc_trainer *tr, double share) {
    if (!tr || !(share >= 0 && share <= 1))
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: a share must be in [0, 1]");
    tr->share = share;
    return SC_OK;
}

sc_status sc_trainer_allreduce(sc_trainer *tr, float *buf, size_t n) {
    if (!tr) return sc_set_error(SC_ERR_INVALID_ARG, "trainer: NULL");
    if (tr->size == 1) return SC_OK;
    const double t0 = sc_monotonic_seconds();
    sc_status s = sc_comm_allreduce_sum(tr->comm, buf, n);
    tr->comm_s += sc_monotonic_seconds() - t0;
    return s;
}

int sc_trainer_is_writer(const sc_trainer *tr) {
    return tr->rank == 0;
}

/* The one allreduce of a step: share-weighted gradients, loss and metrics,
 * batch-norm buffers averaged. */
static sc_status reduce_step(sc_trainer *tr, double *loss, int nmetrics, double *values) {
    sc_status s = sc_comm_check_stop(); /* a termination signal: stop at this step */
    if (s) return s;
    if (tr->size == 1 || tr->reduced) return SC_OK;
    const float w = (float)tr->share, wb = 1.0f / (float)tr->size;
    float *f = tr->flat;
    for (size_t i = 0; i < tr->nparams; i++) {
        const float *g = tr->params[i].grad;
        for (size_t k = 0; k < tr->params[i].n; k++) *f++ = w * g[k];
    }
    for (size_t i = 0; i < tr->nbuffers; i++) {
        const float *b = tr->buffers[i].param;
        for (size_t k = 0; k < tr->buffers[i].n; k++) *f++ = wb * b[k];
    }
    *f++ = (float)(tr->share * *loss);
    for (int i = 0; i < nmetrics; i++) *f++ = (float)(tr->share * values[i]);
    const size_t n = tr->nflat_grads + tr->nflat_bufs + 1 + (size_t)nmetrics;
    const double t0 = sc_monotonic_seconds();
    s = sc_comm_allreduce_sum(tr->comm, tr->flat, n);
    tr->comm_s += sc_monotonic_seconds() - t0;
    if (s) return s;
    f = tr->flat;
    for (size_t i = 0; i < tr->nparams; i++) {
        memcpy(tr->params[i].grad, f, tr->params[i].n * sizeof(float));
        f += tr->params[i].n;
    }
    for (size_t i = 0; i < tr->nbuffers; i++) {
        memcpy(tr->buffers[i].param, f, tr->buffers[i].n * sizeof(float));
        f += tr->buffers[i].n;
    }
    *loss = *f++;
    for (int i = 0; i < nmetrics; i++) values[i] = *f++;
    tr->reduced = 1;
    return SC_OK;
}

sc_status sc_trainer_reduce(sc_trainer *tr, double *loss) {
    if (!tr || !loss) return sc_set_error(SC_ERR_INVALID_ARG, "sc_trainer_reduce: NULL");
    return reduce_step(tr, loss, 0, NULL);
}

sc_status sc_trainer_step(sc_trainer *tr, double loss, int nmetrics, const char *const *keys,
                          const double *values) {
    double mvals[METRICS_MAX];
    if (nmetrics < 0 || nmetrics > METRICS_MAX - 4)
        return sc_set_error(SC_ERR_INVALID_ARG, "trainer: too many metrics");
    for (int i = 0; i < nmetrics; i++) mvals[i] = values[i];
    sc_status s = reduce_step(tr, &loss, nmetrics, mvals);
    if (s) return s;
    values = mvals;
    if (!isfinite(loss)) {
        tr->finished = 1;
        return sc_set_error(SC_ERR_INTERNAL, "training diverged: loss is %g at step %" PRId64, loss,
                            tr->global_step + 1);
    }
    double gnorm = 0;
    if (tr->p.clip_grad_norm > 0) {
        s = sc_clip_grad_norm(tr->params, tr->nparams, tr->p.clip_grad_norm, &gnorm);
        if (s) {
            tr->finished = 1;
            return sc_set_error(s,
                                "training diverged: gradient norm is not finite at step %" PRId64,
                                tr->global_step + 1);
        }
    }
    if ((s = sc_optim_step(tr->optim))) return s;
    tr->global_step++;
    tr->epoch_loss_sum += loss;
    tr->epoch_loss_n++;
    double lr = sc_optim_get_lr(tr->optim);
    tr->epoch_end = tr->step_in_epoch + 1 == sc_batcher_num_batches(&tr->batcher);
    if (tr->epoch_end) tr->last_epoch_loss = tr->epoch_loss_sum / (double)tr->epoch_loss_n;
    if (tr->metrics) {
        const char *k[24];
        double v[24];
        int n = 0;
        k[n] = "epoch", v[n++] = (double)tr->epoch;
        k[n] = "loss", v[n++] = loss;
        k[n] = "lr", v[n++] = lr;
        if (tr->p.clip_grad_norm > 0) k[n] = "grad_norm", v[n++] = gnorm;
        for (int i = 0; i < nmetrics && n < 24; i++) k[n] = keys[i], v[n++] = values[i];
        if ((s = sc_metrics_write(tr->metrics, tr->global_step, n, k, v))) return s;
    }
    char status[160];
    snprintf(status, sizeof status, "epoch %" PRId64 "/%d loss %.4f lr %.2e", tr->epoch + 1,
             tr->p.epochs, tr->epoch_loss_sum / (double)tr->epoch_loss_n, lr);
    sc_progress_update(tr->progress, tr->global_step, tr->pending_examples, status);
    /* Callers log a line at epoch ends: it must not run into the bar. */
    if (tr->epoch_end) sc_progress_clear(tr->progress);
    int due = tr->p.checkpoint_every > 0 && tr->global_step % tr->p.checkpoint_every == 0;
    if (tr->p.checkpoint_path && (due || tr->epoch_end || tr->global_step == tr->total_steps))
        if ((s = sc_trainer_checkpoint(tr))) return s;
    if (tr->global_step == tr->total_steps) sc_progress_finish(tr->progress, status);
    return SC_OK;
}

int sc_trainer_at_epoch_end(const sc_trainer *tr) {
    return tr->epoch_end;
}
int64_t sc_trainer_global_step(const sc_trainer *tr) {
    return tr->global_step;
}
int64_t sc_trainer_epoch(const sc_trainer *tr) {
    return tr->epoch;
}
double sc_trainer_epoch_loss(const sc_trainer *tr) {
    return tr->epoch_loss_n ? tr->epoch_loss_sum / (double)tr->epoch_loss_n : tr->last_epoch_loss;
}
double sc_trainer_comm_seconds(const sc_trainer *tr) {
    return tr ? tr->comm_s : 0;
}

double sc_trainer_elapsed(const sc_trainer *tr) {
    return sc_progress_elapsed(tr->progress);
}
