/* probsparse.c — ProbSparse self-attention (Informer, Zhou et al., AAAI 2021, §3.1 of the
 * paper; the exact official algorithm is docs/MODELS.md).  See probsparse.h.
 *
 * The query selection works on raw data (it yields indices, which carry no gradient); the
 * rest is built from differentiable ops (gather, matmul, softmax, cumsum/mean, scatter), so a
 * training step back-propagates through the selected rows and the lazy rows alike. */
#include "models/probsparse.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#include "engine/ops.h"
#include "engine/par.h"

void hz_probsparse_sizes(int factor, int L_Q, int L_K, int *U_part, int *u)
{
    /* ceil of the natural log first, then times the factor (official order) */
    int up = factor * (int)ceil(log((double)L_K));
    int uu = factor * (int)ceil(log((double)L_Q));
    *U_part = up < L_K ? up : L_K;
    *u = uu < L_Q ? uu : L_Q;
}

void hz_probsparse_sample(hz_rng *r, int L_Q, int U_part, int L_K, int32_t *idx)
{
    for (int64_t i = 0; i < (int64_t)L_Q * U_part; i++)
        idx[i] = (int32_t)hz_rng_below(r, (uint32_t)L_K);
}

/* Dot product with independent partial sums so the compiler can keep several lanes busy. */
static inline hz_real dot(const hz_real *a, const hz_real *b, int n)
{
    hz_real s[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int t = 0; t < 8; t++)
            s[t] += a[j + t] * b[j + t];
    hz_real tot = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; j < n; j++)
        tot += a[j] * b[j];
    return tot;
}

/* The u largest entries of m[0..L) (ties: lower index first), written ascending to top.
 * best/besti: scratch of u entries. */
static void select_top(const hz_real *m, int L, int u, hz_real *best, int32_t *besti, int32_t *top)
{
    int n = 0; /* best[0..n) sorted descending */
    for (int i = 0; i < L; i++) {
        hz_real x = m[i];
        if (n == u && !(x > best[u - 1]))
            continue;
        int p = n < u ? n++ : u - 1;
        while (p > 0 && x > best[p - 1]) {
            best[p] = best[p - 1];
            besti[p] = besti[p - 1];
            p--;
        }
        best[p] = x;
        besti[p] = i;
    }
    for (int i = 0; i < u; i++) { /* insertion sort by index */
        int32_t x = besti[i];
        int p = i;
        while (p > 0 && top[p - 1] > x) {
            top[p] = top[p - 1];
            p--;
        }
        top[p] = x;
    }
}

typedef struct measure_job {
    const hz_real *q, *k;
    const int32_t *idx;
    int32_t *top;
    int L_Q, L_K, E, U_part, u;
    hz_real *meas, *best; /* [G, L_Q], [G, u] scratch */
    int32_t *besti;       /* [G, u] */
} measure_job;

/* Sparsity measure M(q_i) = max_j s_ij - sum_j s_ij / L_K over the sampled keys j of row i,
 * then the top-u rows, for groups (b, h) in [lo, hi). */
HZ_SIMD_CLONES static void measure_groups(void *arg, int64_t lo, int64_t hi)
{
    const measure_job *j = arg;
    int L_Q = j->L_Q, E = j->E, U_part = j->U_part, u = j->u;
    for (int64_t g = lo; g < hi; g++) {
        const hz_real *qg = j->q + g * L_Q * E, *kg = j->k + g * j->L_K * E;
        hz_real *meas = j->meas + g * L_Q;
        for (int i = 0; i < L_Q; i++) {
            const int32_t *row = j->idx + (int64_t)i * U_part;
            hz_real mx = -INFINITY, sum = 0;
            for (int t = 0; t < U_part; t++) {
                hz_real sc = dot(qg + (int64_t)i * E, kg + (int64_t)row[t] * E, E);
                mx = sc > mx ? sc : mx;
                sum += sc;
            }
            meas[i] = mx - sum / (hz_real)j->L_K; /* divided by L_K, not U_part (official) */
        }
        select_top(meas, L_Q, u, j->best + g * u, j->besti + g * u, j->top + g * u);
    }
}

/* 1) sparsity measure on the sampled keys and top-u per (b, h), [G, u] in the arena: no
 * gradient. */
static int32_t *select_queries(hz_ctx *c, const hz_tensor *q, const hz_tensor *k, int U_part, int u,
                               const int32_t *idx)
{
    int B = q->shape[0], H = q->shape[1], L_Q = q->shape[2], E = q->shape[3], L_K = k->shape[2];
    int64_t G = (int64_t)B * H;
    int32_t *top = hz_arena_alloc(&c->arena, (size_t)(G * u) * sizeof *top);
    measure_job mj = {q->data,
                      k->data,
                      idx,
                      top,
                      L_Q,
                      L_K,
                      E,
                      U_part,
                      u,
                      hz_arena_alloc(&c->arena, (size_t)(G * L_Q) * sizeof(hz_real)),
                      hz_arena_alloc(&c->arena, (size_t)(G * u) * sizeof(hz_real)),
                      hz_arena_alloc(&c->arena, (size_t)(G * u) * sizeof(int32_t))};
    hz_par_for(G, (int64_t)L_Q * U_part * E, measure_groups, &mj);
    return top;
}

static void check_shapes(const hz_tensor *q, const hz_tensor *k, const hz_tensor *v, int masked)
{
    (void)q, (void)k, (void)v, (void)masked;
    assert(q->ndim == 4 && k->ndim == 4 && v->ndim == 4);
    assert(k->shape[3] == q->shape[3] && v->shape[2] == k->shape[2] &&
           (!masked || q->shape[2] == k->shape[2]));
}

/* 2) exact scores of the selected queries top [G, u] against every key, [B, H, u, L_K], then
 * their attention output [B, H, u, E]. */
static hz_tensor *selected_rows(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v,
                                const int32_t *top, int u, int masked)
{
    int64_t G = (int64_t)q->shape[0] * q->shape[1];
    int L_K = k->shape[2];
    hz_tensor *qt = hz_gather_rows(c, q, top, u);
    hz_tensor *s = hz_scale(c, hz_matmul(c, qt, k, 0, 1), 1.0 / sqrt((double)q->shape[3]));
    if (masked) /* keys after the query position; scale's backward does not read its output */
        for (int64_t g = 0; g < G; g++)
            for (int i = 0; i < u; i++) {
                hz_real *r = s->data + (g * u + i) * L_K;
                for (int j = top[g * u + i] + 1; j < L_K; j++)
                    r[j] = -INFINITY;
            }
    return hz_matmul(c, hz_softmax(c, s, 0), v, 0, 0);
}

/* Steps 1 and 2, shared by both entry points: the selection (*top [G, *u], also to top_out
 * when not NULL) and the selected rows' attention output [B, H, u, E]. */
static hz_tensor *attend_selected(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int factor,
                                  int masked, const int32_t *idx, const int32_t **top_out,
                                  const int32_t **top, int *u)
{
    check_shapes(q, k, v, masked);
    int U_part;
    hz_probsparse_sizes(factor, q->shape[2], k->shape[2], &U_part, u);
    int32_t *t = select_queries(c, q, k, U_part, *u, idx);
    if (top_out)
        *top_out = t;
    *top = t;
    return selected_rows(c, q, k, v, t, *u, masked);
}

hz_tensor *hz_probsparse_attn(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int factor,
                              int masked, const int32_t *idx, const int32_t **top_out)
{
    int B = q->shape[0], H = q->shape[1], L_Q = q->shape[2], E = q->shape[3], u;
    const int32_t *top;
    hz_tensor *upd = attend_selected(c, q, k, v, factor, masked, idx, top_out, &top, &u);

    /* 3) lazy rows, then the selected rows overwritten */
    hz_tensor *base;
    if (masked) {
        base = hz_cumsum(c, v, 2); /* cumulative SUM (official), [B, H, L_K, E] */
    } else {
        int zs[4] = {B, H, L_Q, E};
        base = hz_add(c, hz_tensor_zeros(c, 4, zs), hz_mean(c, v, 2, 1));
    }
    return hz_scatter_rows(c, base, upd, top, u);
}

typedef struct fill_job {
    const hz_real *base; /* [B, D] */
    hz_real *out;        /* [B, L, D] */
    int L, D;
} fill_job;

static void fill_rows(void *arg, int64_t lo, int64_t hi)
{
    const fill_job *j = arg;
    for (int64_t r = lo; r < hi; r++)
        memcpy(j->out + r * j->D, j->base + (r / j->L) * j->D, (size_t)j->D * sizeof(hz_real));
}

hz_tensor *hz_probsparse_self_proj(hz_ctx *c, hz_tensor *q, hz_tensor *k, hz_tensor *v, int factor,
                                   const int32_t *idx, const hz_tensor *w, const hz_tensor *bias,
                                   const int32_t **top_out)
{
    assert(!c->grad_on && w->ndim == 2);
    int B = q->shape[0], H = q->shape[1], L = q->shape[2], E = q->shape[3], HE = H * E;
    int D = w->shape[0], u;
    assert(w->shape[1] == HE && k->shape[2] == L && (!bias || bias->n == D));
    const int32_t *top;
    hz_tensor *upd = attend_selected(c, q, k, v, factor, 0, idx, top_out, &top, &u);

    /* a lazy row is mean(v) in every head: [B, 1, H*E] read as the merged row, projected once */
    hz_tensor *mv = hz_mean(c, v, 2, 1); /* [B, H, 1, E] */
    hz_tensor *out = hz_tensor_new4(c, 3, B, L, D, 0);
    hz_real *base = hz_arena_alloc(&c->arena, (size_t)B * D * sizeof *base);
    hz_rows_affine(c, B, D, HE, mv->data, w->data, w->packed, bias ? bias->data : NULL, base);
    fill_job fj = {base, out->data, L, D};
    hz_par_for((int64_t)B * L, D, fill_rows, &fj);

    /* a selected row adds (its value - mean(v)) of that head through the head's columns of w:
     * one [B*u, E] x [E, D] product per head (per batch item and head, the B*H small calls
     * cost more than the projection they replace at short L) */
    hz_real *dl = hz_arena_alloc(&c->arena, (size_t)B * u * E * sizeof *dl);
    hz_real *contrib = hz_arena_alloc(&c->arena, (size_t)B * u * D * sizeof *contrib);
    for (int h = 0; h < H; h++) {
        for (int b = 0; b < B; b++) {
            int64_t g = (int64_t)b * H + h;
            const hz_real *up = upd->data + g * u * E, *m = mv->data + g * E;
            hz_real *dr = dl + (size_t)b * u * E;
            for (int i = 0; i < u; i++)
                for (int e = 0; e < E; e++)
                    dr[i * E + e] = up[i * E + e] - m[e];
        }
        hz_gemm(0, 1, B * u, D, E, 1, dl, E, w->data + (size_t)h * E, HE, 0, contrib, D);
        for (int b = 0; b < B; b++)
            for (int i = 0; i < u; i++) {
                int64_t g = (int64_t)b * H + h;
                hz_real *row = out->data + ((int64_t)b * L + top[g * u + i]) * D;
                const hz_real *ci = contrib + ((size_t)b * u + i) * D;
                for (int d = 0; d < D; d++)
                    row[d] += ci[d];
            }
    }
    return out;
}
