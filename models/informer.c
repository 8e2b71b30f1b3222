/* informer.c — Informer (Zhou et al., AAAI 2021; docs/MODELS.md) with the official
 * zhouhaoyi/Informer2020 parameter names.
 *
 * Encoder: DataEmbedding (circular k3 token conv + float32 sinusoid positions + timeF Linear
 * with bias, dropout) -> e_layers post-LN layers with ProbSparse self-attention (§2.4) and a
 * distilling ConvLayer (conv k3 circular, BatchNorm1d, ELU, MaxPool k3 s2 p1; §2.7) between
 * consecutive layers -> LayerNorm.  Decoder: DataEmbedding -> d_layers post-LN layers
 * (masked ProbSparse self-attention with the `mix` reshape, full cross-attention, FFN; §2.8)
 * -> LayerNorm -> Linear(d_model -> c_out) -> last pred_len positions.  conf.attn_full
 * swaps every ProbSparse kernel for canonical attention (dropout on the probabilities),
 * which with distil = mix = 0 is the plain Transformer at Informer's shapes.
 *
 * Key sampling: training forwards draw fresh tables from the model's generator (seeded by
 * conf.seed at creation); eval forwards redraw from conf.seed every call so that inference
 * is reproducible (the official code is stochastic here, TSLib #692).  Tests pin recorded
 * tables with hz_informer_set_index_tables. */
#include "models/informer.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/gemm_packed.h"
#include "common/hz.h"
#include "models/layers.h"
#include "engine/ops.h"
#include "models/probsparse.h"

#define MAX_LAYERS 8
#define MAX_PROB   (2 * MAX_LAYERS)

typedef struct embed {
    hz_tensor *conv_w; /* value_embedding.tokenConv.weight [d, C, 3] */
    hz_tensor *conv_b; /* [d] */
    hz_lin time;       /* temporal_embedding.embed: Linear(n_marks -> d) with bias */
} embed;

typedef struct distil {
    hz_tensor *w, *b;        /* downConv [d, d, 3], [d] */
    hz_tensor *g, *beta;     /* norm.weight, norm.bias */
    hz_tensor *rmean, *rvar; /* norm.running_mean, norm.running_var (buffers) */
} distil;

typedef struct dec_layer {
    hz_attn_layer self, cross;
    hz_lin conv1, conv2;
    hz_norm norm1, norm2, norm3;
} dec_layer;

typedef struct informer {
    hz_model base;
    embed enc_emb, dec_emb;
    hz_enc_layer enc[MAX_LAYERS];
    distil conv[MAX_LAYERS];
    hz_norm enc_norm;
    dec_layer dec[MAX_LAYERS];
    hz_norm dec_norm;
    hz_lin proj;
    hz_real *pe; /* [pe_rows, d_model] sinusoid table, float32 as the official code builds it */
    int pe_rows;
    hz_rng rng;                /* training-time key sampling */
    int n_prob;                /* ProbSparse layers (0 with attn_full) */
    int prob_lq[MAX_PROB];     /* L_Q = L_K of each */
    int32_t *pinned[MAX_PROB]; /* replayed tables (owned) or NULL */
    int32_t *top[MAX_PROB];    /* last selection [B, H, u] (owned, grown on demand) */
    size_t top_cap[MAX_PROB];
} informer;

/* ---------------------------------------------------------------- embedding */

static int embed_add(hz_params *p, embed *e, const char *prefix, int c_in, int d, int n_marks)
{
    char name[128];
    int ws[3] = {d, c_in, 3}, bs[1] = {d};
    snprintf(name, sizeof name, "%s.value_embedding.tokenConv.weight", prefix);
    if (!(e->conv_w = hz_params_add(p, name, 1, 3, ws)))
        return HZ_ENOMEM;
    snprintf(name, sizeof name, "%s.value_embedding.tokenConv.bias", prefix);
    if (!(e->conv_b = hz_params_add(p, name, 1, 1, bs)))
        return HZ_ENOMEM;
    e->time.w = NULL;
    if (n_marks > 0) {
        snprintf(name, sizeof name, "%s.temporal_embedding.embed", prefix);
        return hz_lin_add(p, &e->time, name, n_marks, d, 1, 0);
    }
    return 0;
}

static void embed_init(embed *e, hz_rng *r, int c_in)
{
    /* Kaiming-normal (fan_in, leaky_relu a=0): std sqrt(2 / (3 c_in)); bias PyTorch default */
    hz_init_normal(e->conv_w, r, sqrt(2.0 / (3.0 * c_in)));
    hz_init_kaiming_uniform(e->conv_b, r, 3 * c_in);
    if (e->time.w)
        hz_lin_init(&e->time, r);
}

/* dropout(tokenConv(x) + pe[:L] + timeF(x_mark)) -> [B, L, d] */
static hz_tensor *embed_fwd(hz_ctx *c, const informer *t, const embed *e, int B, int L,
                            const hz_real *x, const hz_real *x_mark)
{
    const hz_model_conf *f = &t->base.conf;
    int d = f->d_model;
    int xs[3] = {B, L, f->enc_in}, ps[2] = {L, d};
    hz_tensor *xt = hz_tensor_wrap(c, (hz_real *)x, 3, xs);
    hz_tensor *h = hz_conv1d(c, xt, e->conv_w, e->conv_b, 1, HZ_PAD_CIRCULAR, 1); /* [B, L, d] */
    h = hz_add(c, h, hz_tensor_wrap(c, t->pe, 2, ps));
    if (e->time.w && x_mark) {
        int ms[3] = {B, L, f->n_marks};
        h = hz_add(c, h, hz_lin_fwd(c, &e->time, hz_tensor_wrap(c, (hz_real *)x_mark, 3, ms)));
    }
    return hz_dropout(c, h, f->dropout);
}

/* ---------------------------------------------------------------- attention */

/* Rows [from, L) of x [B, L, d]: the decoder's last layer carries on only with the positions
 * the model returns (everything after its self-attention works row by row). */
static hz_tensor *rows_from(hz_ctx *c, hz_tensor *x, int from)
{
    return from > 0 ? hz_slice(c, x, 1, from, x->shape[1] - from) : x;
}

/* With mix (the decoder's self-attention), output [B, H, L, E] is read as [B, L, H*E] without
 * a transpose, so rows [from, L) come from heads floor(from * H / L) .. H-1 only; the earlier
 * heads need not be computed at all.  Returns that first head (0 when every head counts). */
static int first_head(const hz_attn_layer *a, int L, int from)
{
    return (a->mix && from > 0) ? (int)((int64_t)from * a->n_heads / L) : 0;
}

/* A parameter's elements [off, off + numel(shape)) as a tensor of that shape, sharing its
 * gradient (the way hz_lin_fwd views conv weights). */
static hz_tensor *param_view(hz_ctx *c, hz_tensor *p, int64_t off, int nd, const int *shape)
{
    hz_tensor *v = hz_tensor_wrap(c, p->data + off, nd, shape);
    int64_t k = nd == 2 ? shape[1] : 0;
    if (p->packed && k && p->n % k == 0 && p->n / k == p->shape[0] && off % (k * HZ_PACK_NR) == 0 &&
        shape[0] % HZ_PACK_NR == 0) /* whole panels of the packed weight */
        v->packed = p->packed + off;
    v->grad = p->grad ? p->grad + off : NULL;
    v->requires_grad = p->requires_grad;
    v->is_param = p->is_param;
    return v;
}

/* Projection l of x split into heads h0 .. H-1: [B, L, d] -> [B, H - h0, L, E]. */
static hz_tensor *heads_proj(hz_ctx *c, const hz_lin *l, hz_tensor *x, int H, int h0)
{
    if (h0 == 0)
        return hz_split_heads(c, hz_lin_fwd(c, l, x), H);
    int E = l->out / H, rows = l->out - h0 * E;
    int ws[2] = {rows, l->in}, bs[1] = {rows};
    hz_tensor *w = param_view(c, l->w, (int64_t)h0 * E * l->in, 2, ws);
    hz_tensor *b = l->b ? param_view(c, l->b, (int64_t)h0 * E, 1, bs) : NULL;
    return hz_split_heads(c, hz_linear(c, x, w, b), H - h0);
}

/* Inference at batch 1: the last n of (q, k, v) projected by one [n*d, d] product over
 * their back-to-back weights, then split into heads by one permute; out[i] are views into
 * it (no tape, so nothing needs to flow back).  Returns 0 when that does not apply. */
static int fused_proj(hz_ctx *c, const hz_attn_layer *a, hz_tensor *x, int n, hz_tensor **out)
{
    if (c->grad_on || x->shape[0] != 1 || !hz_attn_fused(a, n))
        return 0;
    const hz_lin *first = n == 3 ? &a->q : &a->k;
    int d = a->d_model, H = a->n_heads, E = d / H, L = x->shape[1];
    int ws[2] = {n * d, d}, bs[1] = {n * d}, s4[4] = {1, L, n * H, E}, perm[4] = {0, 2, 1, 3};
    hz_tensor *w = hz_tensor_wrap(c, first->w->data, 2, ws);
    hz_tensor *b = hz_tensor_wrap(c, first->b->data, 1, bs);
    const hz_lin *l[3] = {&a->q, &a->k, &a->v};
    int packed = first->w->packed != NULL;
    for (int i = 1; i < n; i++) /* the packed copies lie back to back like the weights */
        packed = packed && l[3 - n + i]->w->packed == first->w->packed + (size_t)i * d * d;
    if (packed)
        w->packed = first->w->packed;
    hz_tensor *y = hz_permute(c, hz_reshape(c, hz_linear(c, x, w, b), 4, s4), perm);
    int hs[4] = {1, H, L, E};
    for (int i = 0; i < n; i++) /* [1, n*H, L, E]: head blocks of q, k, v in turn */
        out[i] = hz_tensor_wrap(c, y->data + (size_t)i * H * L * E, 4, hs);
    return 1;
}

/* q from xq, k and v from xkv, each [B, H - h0, L or S, E]. */
static void qkv_heads(hz_ctx *c, const hz_attn_layer *a, hz_tensor *xq, hz_tensor *xkv, int h0,
                      hz_tensor **q, hz_tensor **k, hz_tensor **v)
{
    hz_tensor *t[3];
    if (h0 == 0 && xq == xkv && fused_proj(c, a, xq, 3, t)) {
        *q = t[0], *k = t[1], *v = t[2];
        return;
    }
    *q = heads_proj(c, &a->q, xq, a->n_heads, h0);
    if (h0 == 0 && fused_proj(c, a, xkv, 2, t)) {
        *k = t[0], *v = t[1];
        return;
    }
    *k = heads_proj(c, &a->k, xkv, a->n_heads, h0);
    *v = heads_proj(c, &a->v, xkv, a->n_heads, h0);
}

/* Heads h0 .. H-1 of an attention output [B, H - h0, L, E] merged as the layer would merge
 * all H, rows [from, L) kept: [B, L - from, H*E].  h0 = first_head(a, L, from). */
static hz_tensor *merge_from(hz_ctx *c, const hz_attn_layer *a, hz_tensor *o, int h0, int from)
{
    if (h0 == 0)
        return rows_from(c, hz_merge_heads(c, o, a->mix), from);
    int B = o->shape[0], Hs = o->shape[1], L = o->shape[2], E = o->shape[3], H = a->n_heads;
    int flat[2] = {B, Hs * L * E}, out[3] = {B, L - from, H * E};
    /* in the full [B, H*L*E] memory the kept rows start at from*H*E; these heads at h0*L*E */
    hz_tensor *r =
        hz_slice(c, hz_reshape(c, o, 2, flat), 1, from * H * E - h0 * L * E, (L - from) * H * E);
    return hz_reshape(c, r, 3, out);
}

/* Canonical attention: softmax(q k^T / sqrt(E)) with dropout on the probabilities.  The
 * scale is applied to q (an [L, E] tensor) rather than to the [L, S] scores, which saves one
 * score-sized buffer; the difference is float rounding. */
static hz_tensor *attn_full(hz_ctx *c, const hz_attn_layer *a, hz_tensor *xq, hz_tensor *xkv,
                            int causal, double dropout, int keep_from)
{
    int H = a->n_heads, E = a->d_model / H, h0 = first_head(a, xq->shape[1], keep_from);
    hz_tensor *q, *k, *v; /* [B, H - h0, L, E], [B, H - h0, S, E] twice */
    qkv_heads(c, a, xq, xkv, h0, &q, &k, &v);
    q = hz_scale(c, q, 1.0 / sqrt((double)E));
    hz_tensor *p = hz_dropout(c, hz_softmax(c, hz_matmul(c, q, k, 0, 1), causal), dropout);
    hz_tensor *o = hz_matmul(c, p, v, 0, 0); /* [B, H - h0, L, E] */
    return hz_lin_fwd(c, &a->o, merge_from(c, a, o, h0, keep_from));
}

/* The key table of ProbSparse layer i for this forward (pinned, or drawn from r). */
static const int32_t *layer_table(hz_ctx *c, informer *t, int i, hz_rng *r)
{
    if (t->pinned[i])
        return t->pinned[i];
    int L = t->prob_lq[i], U_part, u;
    hz_probsparse_sizes(t->base.conf.factor, L, L, &U_part, &u);
    int32_t *idx = hz_arena_alloc(&c->arena, (size_t)L * U_part * sizeof *idx);
    hz_probsparse_sample(r, L, U_part, L, idx);
    return idx;
}

/* Copies the selection of layer i ([B, H - h0, u], heads h0.. only) out of the arena (which
 * inference may recycle) as [B, H, u], -1 for the heads not computed.  The buffer grows only
 * when the batch does, so steady-state forwards allocate nothing. */
static void keep_top(informer *t, int i, const int32_t *top, int B, int H, int h0)
{
    int U_part, u;
    hz_probsparse_sizes(t->base.conf.factor, t->prob_lq[i], t->prob_lq[i], &U_part, &u);
    size_t n = (size_t)B * H * u;
    if (n == 0)
        return; /* no query selected (u = 0 for a window of one step): nothing to keep */
    if (n > t->top_cap[i]) {
        int32_t *nb = realloc(t->top[i], n * sizeof *nb);
        if (!nb) { /* the selection is diagnostic only: drop it rather than fail */
            free(t->top[i]);
            t->top[i] = NULL;
            t->top_cap[i] = 0;
            return;
        }
        t->top[i] = nb;
        t->top_cap[i] = n;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int32_t *dst = t->top[i] + ((size_t)b * H + h) * u;
            if (h < h0)
                for (int j = 0; j < u; j++)
                    dst[j] = -1;
            else
                memcpy(dst, top + ((size_t)b * (H - h0) + (h - h0)) * u, (size_t)u * sizeof *dst);
        }
}

/* Self-attention of ProbSparse layer i (AttentionLayer around ProbAttention). */
static hz_tensor *attn_prob(hz_ctx *c, informer *t, const hz_attn_layer *a, hz_tensor *x,
                            int masked, int i, hz_rng *r, int keep_from)
{
    int H = a->n_heads, h0 = first_head(a, x->shape[1], keep_from);
    hz_tensor *q, *k, *v; /* [B, H - h0, L, E] */
    qkv_heads(c, a, x, x, h0, &q, &k, &v);
    const int32_t *idx = layer_table(c, t, i, r), *top;
    int L = x->shape[1], U_part, u;
    hz_probsparse_sizes(t->base.conf.factor, L, L, &U_part, &u);
    /* the encoder's, at inference, where the selected rows are at most L / 8 (shorter, the
     * saved product is smaller than the extra calls: batch 1 at L = 96 took ~1 ms longer) */
    if (!c->grad_on && !masked && !a->mix && h0 == 0 && keep_from == 0 && 8 * u <= L) {
        hz_tensor *y =
            hz_probsparse_self_proj(c, q, k, v, t->base.conf.factor, idx, a->o.w, a->o.b, &top);
        keep_top(t, i, top, q->shape[0], H, 0);
        return y;
    }
    hz_tensor *o = hz_probsparse_attn(c, q, k, v, t->base.conf.factor, masked, idx, &top);
    keep_top(t, i, top, q->shape[0], H, h0);
    return hz_lin_fwd(c, &a->o, merge_from(c, a, o, h0, keep_from));
}

/* ---------------------------------------------------------------- encoder / decoder */

static hz_tensor *distil_fwd(hz_ctx *c, const distil *dl, hz_tensor *x)
{
    hz_tensor *h = hz_conv1d(c, x, dl->w, dl->b, 1, HZ_PAD_CIRCULAR, 1);
    h = hz_batchnorm1d(c, h, dl->g, dl->beta, dl->rmean, dl->rvar, 0.1, 1e-5);
    return hz_maxpool1d(c, hz_elu(c, h, 1.0), 3, 2, 1); /* [B, ceil(L / 2), d] */
}

/* Inference-path memory reuse.  With the tape off nothing refers back to intermediate
 * tensors, so once a block's outputs exist, everything the block allocated after `mark` can
 * be dropped: the kept tensors move down to `mark` and the arena continues from there.  This
 * bounds the encoder's memory by one block instead of the whole forward (at L = 16384 the
 * difference is ~1.7 GB vs ~0.5 GB).  It uses the documented hz_arena fields and works only
 * while the arena is one block (no overflow chain: after the first step, or a ctx created
 * large enough); otherwise it does nothing.  (A candidate for tensor.c as
 * hz_arena_mark/hz_arena_release.) */
#define NO_MARK     SIZE_MAX
#define ARENA_ALIGN 64

static size_t arena_mark(const hz_ctx *c)
{
    return (!c->grad_on && !c->arena.overflow) ? c->arena.used : NO_MARK;
}

/* Keeps *keep[0..n) (n <= 2), releases everything else allocated since mark. */
static void arena_keep(hz_ctx *c, size_t mark, hz_tensor **keep[], int n)
{
    hz_arena *a = &c->arena;
    if (mark == NO_MARK || a->overflow || c->grad_on)
        return;
    assert(n >= 1 && n <= 2);
    hz_tensor *k[2] = {*keep[0], n > 1 ? *keep[1] : NULL};
    int ord[2] = {0, 1};
    if (n == 2 && k[1]->data < k[0]->data) {
        ord[0] = 1;
        ord[1] = 0;
    }
    for (int j = 0; j < n; j++) { /* each kept tensor must live in the released region */
        const char *d = (const char *)k[j]->data;
        if (d < a->base + mark || d + k[j]->n * sizeof(hz_real) > a->base + a->used)
            return;
    }
    int shapes[2][HZ_MAXDIM], nd[2];
    for (int j = 0; j < n; j++) { /* first: a header may lie in memory the moves overwrite */
        nd[j] = k[j]->ndim;
        memcpy(shapes[j], k[j]->shape, sizeof shapes[j]);
    }
    char *dst = a->base + mark;
    hz_real *moved[2];
    for (int j = 0; j < n; j++) { /* ascending addresses: dst never passes a source */
        hz_tensor *t = k[ord[j]];
        size_t bytes = (size_t)t->n * sizeof(hz_real);
        memmove(dst, t->data, bytes);
        moved[ord[j]] = (hz_real *)dst;
        dst += (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    }
    a->used = (size_t)(dst - a->base);
    for (int j = 0; j < n; j++)
        *keep[j] = hz_tensor_wrap(c, moved[j], nd[j], shapes[j]);
}

static hz_tensor *encode(hz_ctx *c, informer *t, int B, const hz_real *x, const hz_real *x_mark,
                         hz_rng *r)
{
    const hz_model_conf *f = &t->base.conf;
    size_t mark = arena_mark(c);
    hz_tensor *h = embed_fwd(c, t, &t->enc_emb, B, f->seq_len, x, x_mark);
    arena_keep(c, mark, (hz_tensor * *[]){&h}, 1);
    for (int i = 0; i < f->e_layers; i++) {
        const hz_enc_layer *l = &t->enc[i];
        /* hz_enc_layer_finish, split so that inference can release between the parts */
        mark = arena_mark(c);
        hz_tensor *a = f->attn_full ? attn_full(c, &l->attn, h, h, 0, f->dropout, 0)
                                    : attn_prob(c, t, &l->attn, h, 0, i, r, 0);
        arena_keep(c, mark, (hz_tensor * *[]){&a}, 1);
        h = hz_norm_fwd(c, &l->norm1, hz_add(c, h, hz_dropout(c, a, l->dropout)));
        mark = arena_mark(c);
        hz_tensor *ff = hz_ffn_fwd(c, &l->conv1, &l->conv2, l->activation, l->dropout, h);
        arena_keep(c, mark, (hz_tensor * *[]){&ff}, 1);
        h = hz_norm_fwd(c, &l->norm2, hz_add(c, h, ff));
        if (f->distil && i < f->e_layers - 1) {
            mark = arena_mark(c);
            h = distil_fwd(c, &t->conv[i], h);
            arena_keep(c, mark, (hz_tensor * *[]){&h}, 1);
        }
    }
    return hz_norm_fwd(c, &t->enc_norm, h);
}

/* keep_from > 0 (the last layer): only positions [keep_from, L) leave the self-attention. */
static hz_tensor *dec_layer_fwd(hz_ctx *c, informer *t, int j, hz_tensor *x, hz_tensor *mem,
                                hz_rng *r, int keep_from)
{
    const hz_model_conf *f = &t->base.conf;
    const dec_layer *l = &t->dec[j];
    hz_tensor *a = f->attn_full ? attn_full(c, &l->self, x, x, 1, f->dropout, keep_from)
                                : attn_prob(c, t, &l->self, x, 1, f->e_layers + j, r, keep_from);
    x = rows_from(c, x, keep_from);
    x = hz_norm_fwd(c, &l->norm1, hz_add(c, x, hz_dropout(c, a, f->dropout)));
    a = attn_full(c, &l->cross, x, mem, 0, f->dropout, 0);
    x = hz_norm_fwd(c, &l->norm2, hz_add(c, x, hz_dropout(c, a, f->dropout)));
    hz_tensor *ff = hz_ffn_fwd(c, &l->conv1, &l->conv2, f->activation, f->dropout, x);
    return hz_norm_fwd(c, &l->norm3, hz_add(c, x, ff));
}

/* Training draws continue the model's stream; eval draws restart from conf.seed. */
static hz_rng *forward_rng(informer *t, hz_ctx *c, hz_rng *local)
{
    if (c->training)
        return &t->rng;
    hz_rng_seed(local, t->base.conf.seed ^ 0x9e3779b97f4a7c15ULL);
    return local;
}

static hz_tensor *inf_forward(hz_model *m, hz_ctx *c, const hz_model_input *in)
{
    informer *t = (informer *)m;
    const hz_model_conf *f = &m->conf;
    hz_rng local, *r = forward_rng(t, c, &local);
    int B = in->batch, Ld = f->label_len + f->pred_len;
    hz_tensor *mem = encode(c, t, B, in->x, in->x_mark, r); /* [B, L_enc, d] */
    hz_tensor *h = embed_fwd(c, t, &t->dec_emb, B, Ld, in->x_dec, in->x_mark_dec);
    for (int j = 0; j < f->d_layers; j++)
        h = dec_layer_fwd(c, t, j, h, mem, r, j == f->d_layers - 1 ? f->label_len : 0);
    /* [B, pred_len, c_out]: the official model projects all Ld positions and returns the
     * last pred_len; the others never reach the output */
    return hz_lin_fwd(c, &t->proj, hz_norm_fwd(c, &t->dec_norm, h));
}

hz_tensor *hz_informer_encode(hz_model *m, hz_ctx *c, int batch, const hz_real *x,
                              const hz_real *x_mark)
{
    informer *t = (informer *)m;
    hz_rng local, *r = forward_rng(t, c, &local);
    return encode(c, t, batch, x, x_mark, r);
}

/* ---------------------------------------------------------------- test hooks */

int hz_informer_n_prob_layers(const hz_model *m)
{
    return ((const informer *)m)->n_prob;
}

void hz_informer_prob_shape(const hz_model *m, int i, int *L_Q, int *U_part, int *u)
{
    const informer *t = (const informer *)m;
    *L_Q = t->prob_lq[i];
    hz_probsparse_sizes(m->conf.factor, *L_Q, *L_Q, U_part, u);
}

int hz_informer_set_index_tables(hz_model *m, const int64_t *const *tables, int n, char *err,
                                 size_t errlen)
{
    informer *t = (informer *)m;
    for (int i = 0; i < t->n_prob; i++) {
        free(t->pinned[i]);
        t->pinned[i] = NULL;
    }
    if (!tables)
        return 0;
    if (n != t->n_prob)
        return hz_err(err, errlen, HZ_EINVAL, "informer: %d index tables given, model has %d", n,
                      t->n_prob);
    for (int i = 0; i < n; i++) {
        int L, U_part, u;
        hz_informer_prob_shape(m, i, &L, &U_part, &u);
        int64_t cnt = (int64_t)L * U_part;
        t->pinned[i] = malloc((size_t)cnt * sizeof(int32_t));
        if (!t->pinned[i]) {
            hz_informer_set_index_tables(m, NULL, 0, err, errlen);
            return hz_err(err, errlen, HZ_ENOMEM, "informer: out of memory");
        }
        for (int64_t k = 0; k < cnt; k++) {
            if (tables[i][k] < 0 || tables[i][k] >= L) {
                hz_informer_set_index_tables(m, NULL, 0, err, errlen);
                return hz_err(err, errlen, HZ_EINVAL,
                              "informer: index table %d holds %lld, outside [0, %d)", i,
                              (long long)tables[i][k], L);
            }
            t->pinned[i][k] = (int32_t)tables[i][k];
        }
    }
    return 0;
}

const int32_t *hz_informer_top_queries(const hz_model *m, int i)
{
    const informer *t = (const informer *)m;
    return i >= 0 && i < t->n_prob && t->top_cap[i] ? t->top[i] : NULL;
}

/* ---------------------------------------------------------------- create / free */

static void inf_free(hz_model *m)
{
    informer *t = (informer *)m;
    for (int i = 0; i < MAX_PROB; i++) {
        free(t->pinned[i]);
        free(t->top[i]);
    }
    free(t->pe);
    hz_params_free(&m->params);
    free(t);
}

static const hz_model_vt inf_vt = {inf_forward, inf_free};

static int distil_add(hz_params *p, distil *dl, int i, int d)
{
    char name[128];
    int ws[3] = {d, d, 3}, bs[1] = {d};
    struct {
        hz_tensor **t;
        const char *leaf;
        int trainable, ndim;
        const int *shape;
    } e[6] = {
        {&dl->w, "downConv.weight", 1, 3, ws},       {&dl->b, "downConv.bias", 1, 1, bs},
        {&dl->g, "norm.weight", 1, 1, bs},           {&dl->beta, "norm.bias", 1, 1, bs},
        {&dl->rmean, "norm.running_mean", 0, 1, bs}, {&dl->rvar, "norm.running_var", 0, 1, bs}};
    for (int k = 0; k < 6; k++) {
        snprintf(name, sizeof name, "encoder.conv_layers.%d.%s", i, e[k].leaf);
        if (!(*e[k].t = hz_params_add(p, name, e[k].trainable, e[k].ndim, e[k].shape)))
            return HZ_ENOMEM;
    }
    return 0;
}

static int dec_layer_add(hz_params *p, dec_layer *l, int j, const hz_model_conf *f)
{
    char name[128];
    int d = f->d_model, rc;
    snprintf(name, sizeof name, "decoder.layers.%d.self_attention", j);
    if ((rc = hz_attn_layer_add(p, &l->self, name, d, f->n_heads, f->mix)))
        return rc;
    snprintf(name, sizeof name, "decoder.layers.%d.cross_attention", j);
    if ((rc = hz_attn_layer_add(p, &l->cross, name, d, f->n_heads, 0)))
        return rc;
    snprintf(name, sizeof name, "decoder.layers.%d.conv1", j);
    if ((rc = hz_lin_add(p, &l->conv1, name, d, f->d_ff, 1, 1)))
        return rc;
    snprintf(name, sizeof name, "decoder.layers.%d.conv2", j);
    if ((rc = hz_lin_add(p, &l->conv2, name, f->d_ff, d, 1, 1)))
        return rc;
    hz_norm *norms[3] = {&l->norm1, &l->norm2, &l->norm3};
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "decoder.layers.%d.norm%d", j, k + 1);
        if ((rc = hz_norm_add(p, norms[k], name, d)))
            return rc;
    }
    return 0;
}

static int declare(informer *t)
{
    const hz_model_conf *f = &t->base.conf;
    hz_params *p = &t->base.params;
    int d = f->d_model, rc;
    char name[128];
    if ((rc = embed_add(p, &t->enc_emb, "enc_embedding", f->enc_in, d, f->n_marks)))
        return rc;
    if ((rc = embed_add(p, &t->dec_emb, "dec_embedding", f->enc_in, d, f->n_marks)))
        return rc;
    for (int i = 0; i < f->e_layers; i++) {
        snprintf(name, sizeof name, "encoder.attn_layers.%d", i);
        if ((rc = hz_enc_layer_add(p, &t->enc[i], name, d, f->n_heads, f->d_ff, f->activation,
                                   f->dropout)))
            return rc;
    }
    for (int i = 0; f->distil && i < f->e_layers - 1; i++)
        if ((rc = distil_add(p, &t->conv[i], i, d)))
            return rc;
    if ((rc = hz_norm_add(p, &t->enc_norm, "encoder.norm", d)))
        return rc;
    for (int j = 0; j < f->d_layers; j++)
        if ((rc = dec_layer_add(p, &t->dec[j], j, f)))
            return rc;
    if ((rc = hz_norm_add(p, &t->dec_norm, "decoder.norm", d)))
        return rc;
    if ((rc = hz_lin_add(p, &t->proj, "projection", d, f->c_out, 1, 0)))
        return rc;
    return hz_params_finalize(p);
}

static void init_weights(informer *t)
{
    const hz_model_conf *f = &t->base.conf;
    hz_rng r;
    hz_rng_seed(&r, f->seed);
    embed_init(&t->enc_emb, &r, f->enc_in);
    embed_init(&t->dec_emb, &r, f->enc_in);
    for (int i = 0; i < f->e_layers; i++)
        hz_enc_layer_init(&t->enc[i], &r);
    for (int i = 0; f->distil && i < f->e_layers - 1; i++) {
        distil *dl = &t->conv[i];
        hz_init_kaiming_uniform(dl->w, &r, 3 * f->d_model);
        hz_init_kaiming_uniform(dl->b, &r, 3 * f->d_model);
        hz_init_const(dl->g, 1.0);
        hz_init_const(dl->beta, 0.0);
        hz_init_const(dl->rmean, 0.0);
        hz_init_const(dl->rvar, 1.0);
    }
    hz_norm_init(&t->enc_norm);
    for (int j = 0; j < f->d_layers; j++) {
        dec_layer *l = &t->dec[j];
        hz_attn_layer_init(&l->self, &r);
        hz_attn_layer_init(&l->cross, &r);
        hz_lin_init(&l->conv1, &r);
        hz_lin_init(&l->conv2, &r);
        hz_norm_init(&l->norm1);
        hz_norm_init(&l->norm2);
        hz_norm_init(&l->norm3);
    }
    hz_norm_init(&t->dec_norm);
    hz_lin_init(&t->proj, &r);
    hz_rng_seed(&t->rng, f->seed + 1);
    t->base.rng = &t->rng;
}

int hz_informer_create(const hz_model_conf *conf, hz_model **out, char *err, size_t errlen)
{
    *out = NULL;
    const hz_model_conf *f = conf;
    if (f->e_layers < 1 || f->e_layers > MAX_LAYERS || f->d_layers < 1 || f->d_layers > MAX_LAYERS)
        return hz_err(err, errlen, HZ_EINVAL,
                      "informer: e_layers and d_layers must be 1..%d, got %d and %d", MAX_LAYERS,
                      f->e_layers, f->d_layers);
    if (f->d_model % f->n_heads)
        return hz_err(err, errlen, HZ_EINVAL,
                      "informer: d_model %d is not a multiple of n_heads %d", f->d_model,
                      f->n_heads);
    if (f->label_len < 0 || f->d_ff < 1 || f->c_out < 1 || f->n_marks < 0)
        return hz_err(err, errlen, HZ_EINVAL,
                      "informer: label_len must be >= 0 and d_ff, c_out positive");
    if (!f->attn_full && f->factor < 1)
        return hz_err(err, errlen, HZ_EINVAL, "informer: factor must be positive, got %d",
                      f->factor);
    informer *t = calloc(1, sizeof *t);
    if (!t)
        return hz_err(err, errlen, HZ_ENOMEM, "informer: out of memory");
    t->base.vt = &inf_vt;
    t->base.conf = *conf;
    hz_params_init(&t->base.params);
    int Ld = f->label_len + f->pred_len;
    t->pe_rows = f->seq_len > Ld ? f->seq_len : Ld;
    t->pe = malloc((size_t)t->pe_rows * f->d_model * sizeof *t->pe);
    int rc = t->pe ? declare(t) : HZ_ENOMEM;
    if (rc) {
        inf_free(&t->base);
        return hz_err(err, errlen, rc, "informer: out of memory");
    }
    hz_sinusoid_table(t->pe, t->pe_rows, f->d_model);
    if (!f->attn_full) {
        int L = f->seq_len;
        for (int i = 0; i < f->e_layers; i++) {
            t->prob_lq[t->n_prob++] = L;
            if (f->distil && i < f->e_layers - 1)
                L = (L - 1) / 2 + 1;
        }
        for (int j = 0; j < f->d_layers; j++)
            t->prob_lq[t->n_prob++] = Ld;
    }
    init_weights(t);
    *out = &t->base;
    return 0;
}
