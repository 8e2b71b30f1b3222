/* tensor.h — the numeric core: float tensors (up to 4 dims), an arena for activations, a tape
 * for reverse-mode autodiff, parameter stores, a seeded RNG and the GEMM wrapper.
 *
 * Habits taken from llm.c and ggml: parameters live in one allocation carved by a
 * size table (hz_params); activations and their gradients come from an arena that is reset
 * once per step, so after the first step a forward (and a training step) allocates nothing.
 *
 * Build flavours: hz_real is float; with -DHZ_DOUBLE it is double (the gradient-check suites
 * tests/unit/dtest_*.c link a double build of the core, so finite differences are meaningful).
 *
 * Every op is `hz_tensor *hz_<op>(hz_ctx *c, inputs..., args...)`: it allocates its output
 * from c->arena, computes it, and, when c->tape is on and some input requires a gradient,
 * records a node whose backward accumulates into its inputs' gradients.  Shape errors are
 * programmer errors (assert).  Tensors are always contiguous row-major. */
#ifndef HZ_TENSOR_H
#define HZ_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef HZ_DOUBLE
typedef double hz_real;
#else
typedef float hz_real;
#endif

#define HZ_MAXDIM 4

typedef struct hz_tensor {
    hz_real *data; /* n values, row-major */
    hz_real *grad; /* NULL until a gradient reaches it (params: always allocated) */
    int ndim;
    int shape[HZ_MAXDIM];
    int64_t n;
    unsigned char requires_grad;
    unsigned char is_param; /* owned by an hz_params store, survives arena resets */
    const char *name;       /* params: official state_dict key; activations: NULL */
    /* params, after hz_params_pack: the weight as [rows / 32][cols][32] panels for the
     * inference kernel (gemm_packed.h); NULL otherwise, and on views unless set */
    const hz_real *packed;
} hz_tensor;

/* ---- arena: bump allocator reset per step.  When a step needs more than its block, extra
 * blocks are chained; the next reset replaces them by one block of the peak size, so the
 * steady state makes no malloc. */
typedef struct hz_arena_block hz_arena_block;
typedef struct hz_arena {
    char *base;
    size_t cap, used;
    size_t peak;              /* most bytes used by one step so far */
    hz_arena_block *overflow; /* chained when base is full (first steps only) */
    size_t overflow_used;
    uint64_t n_mallocs; /* block allocations so far (tests assert the steady state) */
} hz_arena;

void hz_arena_init(hz_arena *a, size_t initial_bytes);
/* 64-byte aligned, uninitialised; aborts on out-of-memory (a model that cannot get its
 * activations cannot continue; sizes are planned to fit). */
void *hz_arena_alloc(hz_arena *a, size_t bytes);
void *hz_arena_calloc(hz_arena *a, size_t bytes);
void hz_arena_reset(hz_arena *a);
void hz_arena_free(hz_arena *a);

/* ---- RNG: xoshiro256**, seeded by splitmix64.  Deterministic across platforms. */
typedef struct hz_rng {
    uint64_t s[4];
} hz_rng;
void hz_rng_seed(hz_rng *r, uint64_t seed);
uint64_t hz_rng_u64(hz_rng *r);
double hz_rng_uniform(hz_rng *r);             /* [0, 1) */
double hz_rng_normal(hz_rng *r);              /* N(0, 1) */
uint32_t hz_rng_below(hz_rng *r, uint32_t n); /* uniform in [0, n) */

/* ---- tape */
struct hz_ctx;
typedef struct hz_node hz_node;
typedef void (*hz_backward_fn)(struct hz_ctx *c, hz_node *n);
struct hz_node {
    hz_backward_fn backward;
    hz_tensor *out;
    hz_tensor *in[4];
    int iarg[8];
    double farg[4];
    void *aux; /* arena memory saved by the forward (masks, statistics, indices) */
};

typedef struct hz_tape {
    hz_node *nodes;
    size_t len, cap;
} hz_tape;

/* ---- context: one per model instance and thread; no globals. */
typedef struct hz_ctx {
    hz_arena arena;
    hz_tape tape;
    int grad_on;  /* record ops on the tape */
    int training; /* dropout active, batchnorm on batch statistics */
    hz_rng rng;   /* dropout masks */
} hz_ctx;

void hz_ctx_init(hz_ctx *c, size_t arena_bytes, uint64_t seed);
void hz_ctx_free(hz_ctx *c);
/* Starts a step: resets the arena and the tape.  Tensors from the previous step are gone. */
void hz_ctx_reset(hz_ctx *c);

/* Creates an activation tensor in the arena (data uninitialised / zeroed). */
hz_tensor *hz_tensor_new(hz_ctx *c, int ndim, const int *shape);
hz_tensor *hz_tensor_zeros(hz_ctx *c, int ndim, const int *shape);
/* Convenience for literal shapes: hz_tensor_new4(c, ndim, d0, d1, d2, d3). */
hz_tensor *hz_tensor_new4(hz_ctx *c, int ndim, int d0, int d1, int d2, int d3);
/* A tensor viewing caller memory (inputs); no gradient; not freed by anyone here. */
hz_tensor *hz_tensor_wrap(hz_ctx *c, hz_real *data, int ndim, const int *shape);
int hz_shape_eq(const hz_tensor *a, const hz_tensor *b);
int64_t hz_shape_numel(int ndim, const int *shape);

/* Gradient buffer of t, allocated zeroed from the arena on first use (backward helpers). */
hz_real *hz_grad(hz_ctx *c, hz_tensor *t);

/* Records a node if the tape is on and any input requires grad; marks out accordingly.
 * Returns the node (to fill iarg/farg/aux) or NULL when nothing was recorded. */
hz_node *hz_tape_push(hz_ctx *c, hz_backward_fn fn, hz_tensor *out, hz_tensor *a, hz_tensor *b,
                      hz_tensor *cc, hz_tensor *d);

/* Reverse pass from a scalar (n == 1) loss: seeds d(loss)=1 and runs the tape backwards.
 * Parameter gradients accumulate (zero them with hz_params_zero_grad). */
void hz_backward(hz_ctx *c, hz_tensor *loss);
/* Same, seeding the output gradient with seed (same shape as out), used by gradient checks. */
void hz_backward_from(hz_ctx *c, hz_tensor *out, const hz_real *seed);

/* ---- parameters: trainable weights and buffers (BatchNorm running stats), in one block. */
typedef struct hz_params {
    hz_tensor **t;
    size_t len, cap;
    hz_real *data, *grad; /* one block each, carved in add order */
    int64_t numel;        /* total elements */
    int64_t n_trainable;  /* elements of trainable tensors */
    int finalized;
    hz_real *packed_block; /* hz_params_pack's copies, valid while packed */
    int packed;
} hz_params;

void hz_params_init(hz_params *p);
/* Declares a tensor; the returned pointer stays valid, its data after hz_params_finalize.
 * name is copied.  trainable = 0 for buffers (in checkpoints, not optimised). */
hz_tensor *hz_params_add(hz_params *p, const char *name, int trainable, int ndim, const int *shape);
/* Allocates data and grad blocks (zeroed).  Returns 0 or HZ_ENOMEM. */
int hz_params_finalize(hz_params *p);
void hz_params_zero_grad(hz_params *p);
hz_tensor *hz_params_find(const hz_params *p, const char *name);
/* Packs every weight ([out, in] or conv [out, in, k], out a multiple of 32) for the
 * inference kernel, in declaration order, so back-to-back weights stay back to back
 * packed.  Forwards without gradients then read t->packed.  Nothing when already packed or
 * when the CPU has no such kernel.  Returns 0 or HZ_ENOMEM. */
int hz_params_pack(hz_params *p);
/* Drops the packed copies: every write to the weights (optimiser step, checkpoint load,
 * best-epoch restore) calls it, so a packed copy never outlives a change. */
void hz_params_unpack(hz_params *p);
void hz_params_free(hz_params *p);

/* PyTorch default inits (docs/MODELS.md). fan_in as PyTorch computes it. */
void hz_init_uniform(hz_tensor *t, hz_rng *r, double bound); /* U(-bound, bound) */
void hz_init_normal(hz_tensor *t, hz_rng *r, double std);
void hz_init_const(hz_tensor *t, double v);
/* nn.Linear / nn.Conv1d default: weight and bias U(±1/sqrt(fan_in)). */
void hz_init_kaiming_uniform(hz_tensor *t, hz_rng *r, int fan_in);
void hz_init_xavier_uniform(hz_tensor *t, hz_rng *r, int fan_in, int fan_out);

/* ---- BLAS: C = alpha * op(A) op(B) + beta * C, row-major, through cblas_[sd]gemm. */
void hz_gemm(int trans_a, int trans_b, int m, int n, int k, hz_real alpha, const hz_real *a,
             int lda, const hz_real *b, int ldb, hz_real beta, hz_real *cm, int ldc);

#endif
