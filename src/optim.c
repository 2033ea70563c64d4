/* Optimisers, gradient clipping and learning-rate schedules (PyTorch 1.13
 * semantics; see include/saccade/sc_optim.h).
 *
 * The per-element arithmetic follows PyTorch's single-tensor CPU code paths
 * operation by operation in float32 (hyper-parameters rounded to float where
 * PyTorch passes them as tensor scalars, bias corrections in double where
 * PyTorch computes them in Python) so results agree to float rounding. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "saccade/sc_optim.h"
#include "sc_internal.h"

#define SC_OPTIM_MAX_NAME 200
#define SC_PI 3.14159265358979323846
#define SC_OPTIM_PAR_MIN 32768 /* elements below which a tensor is updated serially */

enum { BUF_MOMENTUM = 0, BUF_EXP_AVG = 0, BUF_EXP_AVG_SQ = 1, BUF_MAX_EXP_AVG_SQ = 2 };

typedef struct optim_slot {
    sc_param p; /* name points to name_copy */
    char *name_copy;
    float *buf[3]; /* per kind: SGD [momentum]; Adam [exp_avg, exp_avg_sq, max_exp_avg_sq] */
} optim_slot;

typedef struct state_entry {
    char *name;
    float *data;
    size_t n;
} state_entry;

struct sc_optim {
    sc_optim_params hp;
    optim_slot *slots;
    size_t nslots;
    int64_t step;
    float step_enc[2];
    state_entry *entries;
    size_t nentries;
    int nbuf; /* buffers per slot */
};

static const char *kind_name(sc_optim_kind k) {
    switch (k) {
    case SC_OPTIM_SGD:
        return "SGD";
    case SC_OPTIM_ADAM:
        return "Adam";
    case SC_OPTIM_ADAMW:
        return "AdamW";
    }
    return "?";
}

sc_optim_params sc_sgd_default_params(void) {
    sc_optim_params p;
    memset(&p, 0, sizeof p);
    p.kind = SC_OPTIM_SGD;
    p.lr = 0.01;
    p.beta1 = 0.9;
    p.beta2 = 0.999;
    p.eps = 1e-8;
    return p;
}

sc_optim_params sc_adam_default_params(void) {
    sc_optim_params p = sc_sgd_default_params();
    p.kind = SC_OPTIM_ADAM;
    p.lr = 1e-3;
    return p;
}

sc_optim_params sc_adamw_default_params(void) {
    sc_optim_params p = sc_adam_default_params();
    p.kind = SC_OPTIM_ADAMW;
    p.weight_decay = 1e-2;
    return p;
}

static sc_status validate_params(const sc_optim_params *p) {
    if (p->kind != SC_OPTIM_SGD && p->kind != SC_OPTIM_ADAM && p->kind != SC_OPTIM_ADAMW)
        return sc_set_error(SC_ERR_INVALID_ARG, "optimiser: unknown kind %d", (int)p->kind);
    const char *k = kind_name(p->kind);
    if (!(isfinite(p->lr) && p->lr >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: learning rate %g must be finite and >= 0", k,
                            p->lr);
    if (!(isfinite(p->weight_decay) && p->weight_decay >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: weight_decay %g must be finite and >= 0", k,
                            p->weight_decay);
    if (p->kind == SC_OPTIM_SGD) {
        if (!(isfinite(p->momentum) && p->momentum >= 0))
            return sc_set_error(SC_ERR_INVALID_ARG, "SGD: momentum %g must be finite and >= 0",
                                p->momentum);
        if (!isfinite(p->dampening))
            return sc_set_error(SC_ERR_INVALID_ARG, "SGD: dampening %g must be finite",
                                p->dampening);
        if (p->nesterov && (p->momentum <= 0 || p->dampening != 0))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "SGD: nesterov needs momentum > 0 and dampening == 0 "
                                "(momentum %g, dampening %g)",
                                p->momentum, p->dampening);
    } else {
        if (!(p->beta1 >= 0 && p->beta1 < 1))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: beta1 %g must be in [0, 1)", k, p->beta1);
        if (!(p->beta2 >= 0 && p->beta2 < 1))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: beta2 %g must be in [0, 1)", k, p->beta2);
        if (!(isfinite(p->eps) && p->eps >= 0))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: eps %g must be finite and >= 0", k,
                                p->eps);
    }
    return SC_OK;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = sc_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static char *make_name(const char *a, const char *b) {
    size_t n = strlen("optim.") + strlen(a) + 1 + strlen(b) + 1;
    char *d = sc_malloc(n);
    if (d) snprintf(d, n, "optim.%s.%s", a, b);
    return d;
}

void sc_optim_free(sc_optim *o) {
    if (!o) return;
    for (size_t i = 0; i < o->nslots; i++) {
        sc_free(o->slots[i].name_copy);
        for (int b = 0; b < 3; b++) sc_free(o->slots[i].buf[b]);
    }
    if (o->entries)
        for (size_t i = 1; i < o->nentries; i++) sc_free(o->entries[i].name);
    sc_free(o->entries);
    sc_free(o->slots);
    sc_free(o);
}

static void encode_step(sc_optim *o) {
    o->step_enc[0] = (float)(o->step & 0xFFFFFF);
    o->step_enc[1] = (float)(o->step >> 24);
}

sc_status sc_optim_create(const sc_optim_params *p, const sc_param *params, size_t nparams,
                          sc_optim **out) {
    if (!out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_create: out is NULL");
    *out = NULL;
    if (!p) return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_create: params struct is NULL");
    if (nparams > 0 && !params)
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_create: parameter list is NULL");
    sc_status st = validate_params(p);
    if (st) return st;
    const char *k = kind_name(p->kind);
    for (size_t i = 0; i < nparams; i++) {
        const sc_param *q = &params[i];
        if (!q->name || !q->name[0])
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: parameter %zu has no name", k, i);
        if (strlen(q->name) > SC_OPTIM_MAX_NAME)
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "%s: parameter name '%.40s...' is longer "
                                "than %d bytes",
                                k, q->name, SC_OPTIM_MAX_NAME);
        if (q->n > 0 && (!q->param || !q->grad))
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: parameter '%s' has a NULL %s pointer", k,
                                q->name, q->param ? "grad" : "param");
        if (q->n > SIZE_MAX / 4 / sizeof(float))
            return sc_set_error(SC_ERR_LIMIT, "%s: parameter '%s' is too large (%zu elements)", k,
                                q->name, q->n);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(params[j].name, q->name))
                return sc_set_error(SC_ERR_INVALID_ARG, "%s: parameter name '%s' is used twice", k,
                                    q->name);
    }
    sc_optim *o = sc_calloc(1, sizeof *o);
    if (!o) return SC_ERR_NOMEM;
    o->hp = *p;
    o->nbuf = p->kind == SC_OPTIM_SGD ? (p->momentum != 0 ? 1 : 0) : (p->amsgrad ? 3 : 2);
    static const char *buf_names[2][3] = {{"momentum_buffer", "", ""},
                                          {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}};
    const int bn = p->kind == SC_OPTIM_SGD ? 0 : 1;
    o->nslots = nparams;
    o->nentries = 1 + nparams * (size_t)o->nbuf;
    o->slots = sc_calloc(nparams ? nparams : 1, sizeof *o->slots);
    o->entries = sc_calloc(o->nentries, sizeof *o->entries);
    if (!o->slots || !o->entries) goto nomem;
    o->entries[0].name = (char *)"optim.step";
    o->entries[0].data = o->step_enc;
    o->entries[0].n = 2;
    size_t e = 1;
    for (size_t i = 0; i < nparams; i++) {
        optim_slot *s = &o->slots[i];
        s->p = params[i];
        s->name_copy = dup_str(params[i].name);
        if (!s->name_copy) goto nomem;
        s->p.name = s->name_copy;
        for (int b = 0; b < o->nbuf; b++) {
            s->buf[b] = sc_calloc(s->p.n ? s->p.n : 1, sizeof(float));
            state_entry *en = &o->entries[e++];
            en->name = make_name(s->name_copy, buf_names[bn][b]);
            en->data = s->buf[b];
            en->n = s->p.n;
            if (!s->buf[b] || !en->name) goto nomem;
        }
    }
    encode_step(o);
    *out = o;
    return SC_OK;
nomem:
    sc_optim_free(o);
    return sc_set_error(SC_ERR_NOMEM, "%s: out of memory creating optimiser state", k);
}

sc_status sc_optim_set_lr(sc_optim *o, double lr) {
    if (!o) return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_set_lr: optimiser is NULL");
    if (!(isfinite(lr) && lr >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_optim_set_lr: learning rate %g must be finite "
                            "and >= 0",
                            lr);
    o->hp.lr = lr;
    return SC_OK;
}

double sc_optim_get_lr(const sc_optim *o) {
    return o ? o->hp.lr : NAN;
}
int64_t sc_optim_step_count(const sc_optim *o) {
    return o ? o->step : 0;
}
const sc_optim_params *sc_optim_get_params(const sc_optim *o) {
    return o ? &o->hp : NULL;
}

void sc_optim_zero_grad(sc_optim *o) {
    if (!o) return;
    for (size_t i = 0; i < o->nslots; i++)
        if (o->slots[i].p.n) memset(o->slots[i].p.grad, 0, o->slots[i].p.n * sizeof(float));
}

/* torch.optim.SGD, _single_tensor_sgd. */
static void sgd_update(const sc_optim *o, optim_slot *s, int first) {
    const sc_optim_params *hp = &o->hp;
    const ptrdiff_t n = (ptrdiff_t)s->p.n;
    float *restrict p = s->p.param;
    const float *restrict g = s->p.grad;
    float *restrict buf = s->buf[BUF_MOMENTUM];
    const float wd = s->p.no_weight_decay ? 0.0f : (float)hp->weight_decay;
    const int use_wd = !s->p.no_weight_decay && hp->weight_decay != 0;
    const int use_mom = hp->momentum != 0;
    const float mom = (float)hp->momentum;
    const float one_minus_damp = (float)(1.0 - hp->dampening);
    const float neg_lr = (float)(-hp->lr);
    const int nesterov = hp->nesterov;
#pragma omp parallel for schedule(static) if (n > SC_OPTIM_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) {
        float d = g[i];
        if (use_wd) d = d + wd * p[i];
        if (use_mom) {
            float b = first ? d : buf[i] * mom + one_minus_damp * d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] = p[i] + neg_lr * d;
    }
}

/* torch.optim.Adam / AdamW, _single_tensor_adam(w) with capturable = False. */
static void adam_update(const sc_optim *o, optim_slot *s, double step) {
    const sc_optim_params *hp = &o->hp;
    const ptrdiff_t n = (ptrdiff_t)s->p.n;
    float *restrict p = s->p.param;
    const float *restrict g = s->p.grad;
    float *restrict m = s->buf[BUF_EXP_AVG];
    float *restrict v = s->buf[BUF_EXP_AVG_SQ];
    float *restrict vmax = s->buf[BUF_MAX_EXP_AVG_SQ];
    const int decoupled = hp->kind == SC_OPTIM_ADAMW;
    const int use_wd = !s->p.no_weight_decay && hp->weight_decay != 0;
    const float wd = (float)hp->weight_decay;
    const float decay = (float)(1.0 - hp->lr * hp->weight_decay);
    const float b1 = (float)hp->beta1, one_minus_b1 = (float)(1.0 - hp->beta1);
    const float b2 = (float)hp->beta2, one_minus_b2 = (float)(1.0 - hp->beta2);
    const double bc1 = 1.0 - pow(hp->beta1, step);
    const double bc2 = 1.0 - pow(hp->beta2, step);
    const float neg_step_size = (float)(-(hp->lr / bc1));
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)hp->eps;
    const int amsgrad = hp->amsgrad;
#pragma omp parallel for schedule(static) if (n > SC_OPTIM_PAR_MIN)
    for (ptrdiff_t i = 0; i < n; i++) {
        float gi = g[i];
        float pi = p[i];
        if (use_wd) {
            if (decoupled)
                pi = pi * decay;
            else
                gi = gi + wd * pi;
        }
        const float mi = m[i] * b1 + one_minus_b1 * gi;
        const float vi = v[i] * b2 + one_minus_b2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float vd = vi;
        if (amsgrad) {
            const float old = vmax[i];
            vd = (old > vi || isnan(old)) ? old : vi; /* torch.maximum propagates NaN */
            if (isnan(vi)) vd = vi;
            vmax[i] = vd;
        }
        const float denom = sqrtf(vd) / bc2_sqrt + eps;
        p[i] = pi + neg_step_size * (mi / denom);
    }
}

sc_status sc_optim_step(sc_optim *o) {
    if (!o) return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_step: optimiser is NULL");
    if (o->step == INT64_MAX)
        return sc_set_error(SC_ERR_LIMIT, "%s: step counter overflow", kind_name(o->hp.kind));
    const int first = o->step == 0;
    o->step++;
    for (size_t i = 0; i < o->nslots; i++) {
        optim_slot *s = &o->slots[i];
        if (!s->p.n) continue;
        if (o->hp.kind == SC_OPTIM_SGD)
            sgd_update(o, s, first);
        else
            adam_update(o, s, (double)o->step);
    }
    encode_step(o);
    return SC_OK;
}

size_t sc_optim_state_count(const sc_optim *o) {
    return o ? o->nentries : 0;
}

sc_status sc_optim_state_get(const sc_optim *o, size_t i, sc_optim_state_entry *out) {
    if (!o || !out) return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_state_get: NULL argument");
    if (i >= o->nentries)
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_optim_state_get: index %zu out of range (%zu "
                            "entries)",
                            i, o->nentries);
    out->name = o->entries[i].name;
    out->data = o->entries[i].data;
    out->n = o->entries[i].n;
    return SC_OK;
}

sc_status sc_optim_state_set(sc_optim *o, const char *name, const float *data, size_t n) {
    if (!o || !name || (n && !data))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_optim_state_set: NULL argument");
    for (size_t i = 0; i < o->nentries; i++) {
        state_entry *e = &o->entries[i];
        if (strcmp(e->name, name)) continue;
        if (n != e->n)
            return sc_set_error(SC_ERR_SHAPE,
                                "optimiser state '%s': %zu values given, %zu "
                                "expected",
                                name, n, e->n);
        if (i == 0) {
            const float lo = data[0], hi = data[1];
            if (!(lo >= 0 && lo < 16777216.0f && lo == floorf(lo) && hi >= 0 &&
                  hi < 549755813888.0f && hi == floorf(hi)))
                return sc_set_error(SC_ERR_FORMAT,
                                    "optimiser state 'optim.step': invalid "
                                    "encoded step (%g, %g)",
                                    (double)lo, (double)hi);
            o->step = ((int64_t)hi << 24) | (int64_t)lo;
            encode_step(o);
        } else if (n) {
            memcpy(e->data, data, n * sizeof(float));
        }
        return SC_OK;
    }
    return sc_set_error(SC_ERR_INVALID_ARG, "optimiser state: unknown entry '%s' for %s", name,
                        kind_name(o->hp.kind));
}

/* ---- Gradient clipping ---- */

static sc_status check_param_list(const char *fn, const sc_param *params, size_t nparams) {
    if (nparams && !params)
        return sc_set_error(SC_ERR_INVALID_ARG, "%s: parameter list is NULL", fn);
    for (size_t i = 0; i < nparams; i++)
        if (params[i].n && !params[i].grad)
            return sc_set_error(SC_ERR_INVALID_ARG, "%s: parameter %zu (%s) has no gradient", fn, i,
                                params[i].name ? params[i].name : "unnamed");
    return SC_OK;
}

sc_status sc_clip_grad_norm(const sc_param *params, size_t nparams, double max_norm,
                            double *total_norm) {
    if (total_norm) *total_norm = NAN;
    sc_status st = check_param_list("sc_clip_grad_norm", params, nparams);
    if (st) return st;
    if (!(isfinite(max_norm) && max_norm >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_clip_grad_norm: max_norm %g must be finite "
                            "and >= 0",
                            max_norm);
    /* Serial double sum: deterministic regardless of thread count. */
    double ss = 0;
    for (size_t i = 0; i < nparams; i++) {
        const float *g = params[i].grad;
        for (size_t j = 0; j < params[i].n; j++) ss += (double)g[j] * g[j];
    }
    const double total = sqrt(ss);
    if (total_norm) *total_norm = total;
    if (!isfinite(total))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "sc_clip_grad_norm: total gradient norm is not "
                            "finite (%g); gradients left unchanged",
                            total);
    /* PyTorch computes the coefficient on a float32 tensor. */
    const float coef = (float)max_norm / ((float)total + 1e-6f);
    if (coef < 1.0f) {
        for (size_t i = 0; i < nparams; i++) {
            float *g = params[i].grad;
            const ptrdiff_t n = (ptrdiff_t)params[i].n;
#pragma omp parallel for schedule(static) if (n > SC_OPTIM_PAR_MIN)
            for (ptrdiff_t j = 0; j < n; j++) g[j] *= coef;
        }
    }
    return SC_OK;
}

sc_status sc_clip_grad_value(const sc_param *params, size_t nparams, double clip) {
    sc_status st = check_param_list("sc_clip_grad_value", params, nparams);
    if (st) return st;
    if (!(clip >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "sc_clip_grad_value: clip value %g must be >= 0",
                            clip);
    const float c = (float)clip;
    for (size_t i = 0; i < nparams; i++) {
        float *g = params[i].grad;
        const ptrdiff_t n = (ptrdiff_t)params[i].n;
#pragma omp parallel for schedule(static) if (n > SC_OPTIM_PAR_MIN)
        for (ptrdiff_t j = 0; j < n; j++) {
            float x = g[j];
            if (x > c) x = c;
            if (x < -c) x = -c; /* NaN stays NaN, as torch.clamp */
            g[j] = x;
        }
    }
    return SC_OK;
}

/* ---- Learning-rate schedules ---- */

sc_lr_schedule sc_lr_schedule_default(void) {
    sc_lr_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = SC_LR_CONSTANT;
    s.base_lr = 1e-3;
    s.step_size = 1;
    s.gamma = 0.1;
    s.t_max = 1;
    s.eta_min = 0;
    s.warmup_steps = 0;
    s.warmup_start_factor = 1.0 / 3.0;
    return s;
}

sc_status sc_lr_schedule_validate(const sc_lr_schedule *s) {
    if (!s) return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: NULL");
    if (s->kind != SC_LR_CONSTANT && s->kind != SC_LR_STEP && s->kind != SC_LR_COSINE)
        return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: unknown kind %d", (int)s->kind);
    if (!(isfinite(s->base_lr) && s->base_lr >= 0))
        return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: base_lr %g must be finite and >= 0",
                            s->base_lr);
    if (s->kind == SC_LR_STEP) {
        if (s->step_size < 1)
            return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: step_size %lld must be >= 1",
                                (long long)s->step_size);
        if (!(isfinite(s->gamma) && s->gamma >= 0))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "lr schedule: gamma %g must be finite and "
                                ">= 0",
                                s->gamma);
    }
    if (s->kind == SC_LR_COSINE) {
        if (s->t_max < 1)
            return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: t_max %lld must be >= 1",
                                (long long)s->t_max);
        if (!(isfinite(s->eta_min) && s->eta_min >= 0))
            return sc_set_error(SC_ERR_INVALID_ARG,
                                "lr schedule: eta_min %g must be finite and "
                                ">= 0",
                                s->eta_min);
    }
    if (s->warmup_steps < 0)
        return sc_set_error(SC_ERR_INVALID_ARG, "lr schedule: warmup_steps %lld must be >= 0",
                            (long long)s->warmup_steps);
    if (s->warmup_steps > 0 && !(s->warmup_start_factor > 0 && s->warmup_start_factor <= 1))
        return sc_set_error(SC_ERR_INVALID_ARG,
                            "lr schedule: warmup_start_factor %g must be in "
                            "(0, 1]",
                            s->warmup_start_factor);
    return SC_OK;
}

double sc_lr_at(const sc_lr_schedule *s, int64_t step) {
    if (!s || sc_lr_schedule_validate(s) != SC_OK) return NAN;
    if (step < 0) step = 0;
    const double base = s->base_lr;
    if (step < s->warmup_steps) {
        const double f = s->warmup_start_factor +
                         (1.0 - s->warmup_start_factor) * (double)step / (double)s->warmup_steps;
        return base * f;
    }
    const int64_t t = step - s->warmup_steps;
    switch (s->kind) {
    case SC_LR_CONSTANT:
        return base;
    case SC_LR_STEP:
        return base * pow(s->gamma, (double)(t / s->step_size));
    case SC_LR_COSINE: {
        /* Reduce t modulo the period 2*t_max first so huge steps keep precision. */
        const int64_t period = s->t_max > INT64_MAX / 2 ? INT64_MAX : 2 * s->t_max;
        const double tt = (double)(t % period);
        return s->eta_min + (base - s->eta_min) * (1.0 + cos(SC_PI * tt / (double)s->t_max)) / 2.0;
    }
    }
    return NAN;
}
