/* tensor.c — arena, RNG, tape, parameter store, inits and the GEMM wrapper (tensor.h).
 * The autodiff is the classic tape: ops append nodes in execution order, backward walks
 * them in reverse and each node adds its contribution into its inputs' gradients. */
#include "engine/tensor.h"

#include "engine/gemm_packed.h"
#include "engine/gemm_small.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "common/hz.h"

#define ALIGN 64

struct hz_arena_block {
    hz_arena_block *next;
    size_t cap, used;
    /* data follows, aligned */
};

static void *xmalloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, n ? n : ALIGN) != 0) {
        fprintf(stderr, "horizon: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

void hz_arena_init(hz_arena *a, size_t initial_bytes)
{
    memset(a, 0, sizeof *a);
    a->cap = round_up(initial_bytes ? initial_bytes : (size_t)1 << 20);
    a->base = xmalloc(a->cap);
    a->n_mallocs = 1;
}

void *hz_arena_alloc(hz_arena *a, size_t bytes)
{
    bytes = round_up(bytes);
    if (a->used + bytes <= a->cap) {
        void *p = a->base + a->used;
        a->used += bytes;
        if (a->used + a->overflow_used > a->peak)
            a->peak = a->used + a->overflow_used;
        return p;
    }
    /* Full: bump in the newest chained block, or chain one big enough for this request and
     * some more (half the base, or all chained so far: a first step that needs many times
     * the base makes a few dozen blocks, not one per tensor). */
    size_t hdr = round_up(sizeof(hz_arena_block));
    hz_arena_block *blk = a->overflow;
    if (!blk || blk->used + bytes > blk->cap) {
        size_t cap = a->cap / 2 > a->overflow_used ? a->cap / 2 : a->overflow_used;
        if (cap < bytes)
            cap = bytes;
        blk = xmalloc(hdr + cap);
        a->n_mallocs++;
        blk->next = a->overflow;
        blk->cap = cap;
        blk->used = 0;
        a->overflow = blk;
    }
    void *p = (char *)blk + hdr + blk->used;
    blk->used += bytes;
    a->overflow_used += bytes;
    a->used = a->cap; /* the base takes nothing more this step: allocation order is kept */
    if (a->used + a->overflow_used > a->peak)
        a->peak = a->used + a->overflow_used;
    return p;
}

void *hz_arena_calloc(hz_arena *a, size_t bytes)
{
    void *p = hz_arena_alloc(a, bytes);
    memset(p, 0, bytes);
    return p;
}

void hz_arena_reset(hz_arena *a)
{
    if (a->overflow) {
        while (a->overflow) {
            hz_arena_block *n = a->overflow->next;
            free(a->overflow);
            a->overflow = n;
        }
        free(a->base);
        a->cap = round_up(a->peak + a->peak / 8);
        a->base = xmalloc(a->cap);
        a->n_mallocs++;
    }
    a->used = 0;
    a->overflow_used = 0;
}

void hz_arena_free(hz_arena *a)
{
    if (!a)
        return;
    while (a->overflow) {
        hz_arena_block *n = a->overflow->next;
        free(a->overflow);
        a->overflow = n;
    }
    free(a->base);
    memset(a, 0, sizeof *a);
}

/* ---- RNG */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void hz_rng_seed(hz_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t hz_rng_u64(hz_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double hz_rng_uniform(hz_rng *r)
{
    return (double)(hz_rng_u64(r) >> 11) * 0x1.0p-53;
}

double hz_rng_normal(hz_rng *r)
{
    double u1 = hz_rng_uniform(r), u2 = hz_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint32_t hz_rng_below(hz_rng *r, uint32_t n)
{
    return (uint32_t)(((hz_rng_u64(r) >> 32) * (uint64_t)n) >> 32);
}

/* ---- context and tensors */
void hz_ctx_init(hz_ctx *c, size_t arena_bytes, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    hz_arena_init(&c->arena, arena_bytes);
    c->tape.cap = 256;
    c->tape.nodes = malloc(c->tape.cap * sizeof(hz_node));
    if (!c->tape.nodes)
        abort();
    hz_rng_seed(&c->rng, seed);
}

void hz_ctx_free(hz_ctx *c)
{
    if (!c)
        return;
    hz_arena_free(&c->arena);
    free(c->tape.nodes);
    c->tape.nodes = NULL;
}

void hz_ctx_reset(hz_ctx *c)
{
    hz_arena_reset(&c->arena);
    c->tape.len = 0;
}

int64_t hz_shape_numel(int ndim, const int *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static hz_tensor *tensor_header(hz_ctx *c, int ndim, const int *shape)
{
    assert(ndim >= 1 && ndim <= HZ_MAXDIM);
    hz_tensor *t = hz_arena_alloc(&c->arena, sizeof *t);
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        assert(shape[i] >= 0);
        t->shape[i] = shape[i];
    }
    t->n = hz_shape_numel(ndim, shape);
    return t;
}

hz_tensor *hz_tensor_new(hz_ctx *c, int ndim, const int *shape)
{
    hz_tensor *t = tensor_header(c, ndim, shape);
    t->data = hz_arena_alloc(&c->arena, (size_t)t->n * sizeof(hz_real));
    return t;
}

hz_tensor *hz_tensor_zeros(hz_ctx *c, int ndim, const int *shape)
{
    hz_tensor *t = tensor_header(c, ndim, shape);
    t->data = hz_arena_calloc(&c->arena, (size_t)t->n * sizeof(hz_real));
    return t;
}

hz_tensor *hz_tensor_new4(hz_ctx *c, int ndim, int d0, int d1, int d2, int d3)
{
    int s[4] = {d0, d1, d2, d3};
    return hz_tensor_new(c, ndim, s);
}

hz_tensor *hz_tensor_wrap(hz_ctx *c, hz_real *data, int ndim, const int *shape)
{
    hz_tensor *t = tensor_header(c, ndim, shape);
    t->data = data;
    return t;
}

int hz_shape_eq(const hz_tensor *a, const hz_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

hz_real *hz_grad(hz_ctx *c, hz_tensor *t)
{
    if (!t->grad)
        t->grad = hz_arena_calloc(&c->arena, (size_t)t->n * sizeof(hz_real));
    return t->grad;
}

hz_node *hz_tape_push(hz_ctx *c, hz_backward_fn fn, hz_tensor *out, hz_tensor *a, hz_tensor *b,
                      hz_tensor *cc, hz_tensor *d)
{
    if (!c->grad_on)
        return NULL;
    hz_tensor *in[4] = {a, b, cc, d};
    int any = 0;
    for (int i = 0; i < 4; i++)
        if (in[i] && in[i]->requires_grad)
            any = 1;
    if (!any)
        return NULL;
    if (c->tape.len == c->tape.cap) {
        size_t cap = c->tape.cap * 2;
        hz_node *n = realloc(c->tape.nodes, cap * sizeof *n);
        if (!n)
            abort();
        c->tape.nodes = n;
        c->tape.cap = cap;
    }
    hz_node *n = &c->tape.nodes[c->tape.len++];
    memset(n, 0, sizeof *n);
    n->backward = fn;
    n->out = out;
    for (int i = 0; i < 4; i++)
        n->in[i] = in[i];
    out->requires_grad = 1;
    return n;
}

static void run_backward(hz_ctx *c)
{
    for (size_t i = c->tape.len; i-- > 0;) {
        hz_node *n = &c->tape.nodes[i];
        if (n->out->grad)
            n->backward(c, n);
    }
}

void hz_backward(hz_ctx *c, hz_tensor *loss)
{
    assert(loss->n == 1);
    hz_grad(c, loss)[0] += 1;
    run_backward(c);
}

void hz_backward_from(hz_ctx *c, hz_tensor *out, const hz_real *seed)
{
    hz_real *g = hz_grad(c, out);
    for (int64_t i = 0; i < out->n; i++)
        g[i] += seed[i];
    run_backward(c);
}

/* ---- parameters */
void hz_params_init(hz_params *p)
{
    memset(p, 0, sizeof *p);
}

hz_tensor *hz_params_add(hz_params *p, const char *name, int trainable, int ndim, const int *shape)
{
    assert(!p->finalized && ndim >= 1 && ndim <= HZ_MAXDIM);
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        hz_tensor **t = realloc(p->t, cap * sizeof *t);
        if (!t)
            return NULL;
        p->t = t;
        p->cap = cap;
    }
    hz_tensor *t = calloc(1, sizeof *t);
    char *nm = strdup(name);
    if (!t || !nm) {
        free(t);
        free(nm);
        return NULL;
    }
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof(int));
    t->n = hz_shape_numel(ndim, shape);
    t->requires_grad = trainable ? 1 : 0;
    t->is_param = 1;
    t->name = nm;
    p->t[p->len++] = t;
    p->numel += t->n;
    if (trainable)
        p->n_trainable += t->n;
    return t;
}

int hz_params_finalize(hz_params *p)
{
    assert(!p->finalized);
    size_t bytes = (size_t)(p->numel ? p->numel : 1) * sizeof(hz_real);
    p->data = calloc(1, bytes);
    p->grad = calloc(1, bytes);
    if (!p->data || !p->grad)
        return HZ_ENOMEM;
    int64_t off = 0;
    for (size_t i = 0; i < p->len; i++) {
        p->t[i]->data = p->data + off;
        p->t[i]->grad = p->t[i]->requires_grad ? p->grad + off : NULL;
        off += p->t[i]->n;
    }
    p->finalized = 1;
    return 0;
}

void hz_params_zero_grad(hz_params *p)
{
    if (p->grad)
        memset(p->grad, 0, (size_t)p->numel * sizeof(hz_real));
}

hz_tensor *hz_params_find(const hz_params *p, const char *name)
{
    for (size_t i = 0; i < p->len; i++)
        if (!strcmp(p->t[i]->name, name))
            return p->t[i];
    return NULL;
}

static int packable(const hz_tensor *t)
{
    size_t nl = strlen(t->name);
    return (t->ndim == 2 || t->ndim == 3) && nl >= 6 && !strcmp(t->name + nl - 6, "weight") &&
           t->shape[0] > 0 && hz_pack_ok(t->shape[0], (int)(t->n / t->shape[0]));
}

int hz_params_pack(hz_params *p)
{
    static atomic_int off = -1; /* HZ_NOPACK set: BLAS on the weights as stored (comparisons) */
    int no = atomic_load_explicit(&off, memory_order_relaxed);
    if (no < 0) {
        no = getenv("HZ_NOPACK") != NULL;
        atomic_store_explicit(&off, no, memory_order_relaxed);
    }
    if (p->packed || no)
        return 0;
    int64_t total = 0;
    for (size_t i = 0; i < p->len; i++)
        if (packable(p->t[i]))
            total += p->t[i]->n;
    if (!total)
        return 0;
    if (!p->packed_block && !(p->packed_block = malloc((size_t)total * sizeof(hz_real))))
        return HZ_ENOMEM;
    hz_real *o = p->packed_block;
    for (size_t i = 0; i < p->len; i++) {
        hz_tensor *t = p->t[i];
        if (!packable(t))
            continue;
        hz_pack_weight(t->data, t->shape[0], (int)(t->n / t->shape[0]), o);
        t->packed = o;
        o += t->n;
    }
    p->packed = 1;
    return 0;
}

void hz_params_unpack(hz_params *p)
{
    for (size_t i = 0; i < p->len; i++)
        p->t[i]->packed = NULL;
    p->packed = 0;
}

void hz_params_free(hz_params *p)
{
    if (!p)
        return;
    free(p->packed_block);
    for (size_t i = 0; i < p->len; i++) {
        free((char *)p->t[i]->name);
        free(p->t[i]);
    }
    free(p->t);
    free(p->data);
    free(p->grad);
    memset(p, 0, sizeof *p);
}

/* ---- inits */
void hz_init_uniform(hz_tensor *t, hz_rng *r, double bound)
{
    for (int64_t i = 0; i < t->n; i++)
        t->data[i] = (hz_real)((2.0 * hz_rng_uniform(r) - 1.0) * bound);
}

void hz_init_normal(hz_tensor *t, hz_rng *r, double std)
{
    for (int64_t i = 0; i < t->n; i++)
        t->data[i] = (hz_real)(hz_rng_normal(r) * std);
}

void hz_init_const(hz_tensor *t, double v)
{
    for (int64_t i = 0; i < t->n; i++)
        t->data[i] = (hz_real)v;
}

void hz_init_kaiming_uniform(hz_tensor *t, hz_rng *r, int fan_in)
{
    hz_init_uniform(t, r, fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0);
}

void hz_init_xavier_uniform(hz_tensor *t, hz_rng *r, int fan_in, int fan_out)
{
    hz_init_uniform(t, r, sqrt(6.0 / (double)(fan_in + fan_out)));
}

/* ---- BLAS */
void hz_gemm(int trans_a, int trans_b, int m, int n, int k, hz_real alpha, const hz_real *a,
             int lda, const hz_real *b, int ldb, hz_real beta, hz_real *cm, int ldc)
{
    if (m == 0 || n == 0)
        return;
#ifdef HZ_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
#else
    static atomic_int small = -1; /* HZ_NOSMALL set: always OpenBLAS (for comparisons) */
    int use = atomic_load_explicit(&small, memory_order_relaxed);
    if (use < 0) {
        use = !getenv("HZ_NOSMALL");
        atomic_store_explicit(&small, use, memory_order_relaxed);
    }
    if (!trans_a && trans_b && alpha == 1 && use &&
        hz_gemm_nt_small(m, n, k, a, lda, b, ldb, beta, cm, ldc))
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, cm, ldc);
#endif
}
