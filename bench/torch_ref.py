"""PyTorch reference timings for `make bench` (bench/models.sh, bench/attention.sh): the
models of the PyTorch reference implementation (Informer, iTransformer, NILMFormer) built
with the same configurations as bench_models.c, timed on the same machine and thread count.  Prints lines
`model=M case=C ms=X` (best of N).  Run with Debian's /usr/bin/python3 (python3-torch);
never needed by tests.

The reference is not part of this repository: set HZ_TORCH_REF to its folder (the one
holding informer.py, itransformer.py, nilmformer.py and layers.py); bench/ref_env.sh checks it first."""
import os
import sys
import time

REF = os.environ.get("HZ_TORCH_REF")
if not REF or not os.path.isfile(os.path.join(REF, "informer.py")):
    sys.exit("torch_ref.py: set HZ_TORCH_REF to the PyTorch reference folder "
             f"(the one holding informer.py; now {REF!r})")
sys.path.insert(0, REF)

import torch  # noqa: E402

import informer  # noqa: E402
import itransformer  # noqa: E402
import layers  # noqa: E402
import nilmformer  # noqa: E402

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)


def best(fn, reps):
    fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t) * 1e3


def itr_cases():
    m = itransformer.Model(dict(seq_len=96, pred_len=96, d_model=256, d_ff=256, n_heads=8,
                                e_layers=2, dropout=0.1))
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)

    def fwd(b):
        x, xm = torch.randn(b, 96, 7), torch.rand(b, 96, 4) - 0.5
        m.eval()
        with torch.no_grad():
            return lambda: m(x, xm)

    def step():
        x, xm, y = torch.randn(32, 96, 7), torch.rand(32, 96, 4) - 0.5, torch.randn(32, 96, 7)
        m.train()

        def run():
            opt.zero_grad()
            loss = torch.mean((m(x, xm) - y) ** 2)
            loss.backward()
            opt.step()
        return run
    for b, reps in ((1, 50), (32, 20), (256, 5)):
        f = fwd(b)
        with torch.no_grad():
            print(f"model=itransformer case=infer_b{b} ms={best(f, reps):.3f}", flush=True)
    print(f"model=itransformer case=train_b32 ms={best(step(), 5):.3f}", flush=True)


def inf_cases():
    m = informer.Informer(7, 7, 7, 96, 48, 24, factor=5, d_model=512, n_heads=8, e_layers=2,
                          d_layers=1, d_ff=2048, dropout=0.05, attn="prob", embed="timeF",
                          freq="h")
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)

    def inputs(b):
        return (torch.randn(b, 96, 7), torch.rand(b, 96, 4) - 0.5,
                torch.cat([torch.randn(b, 48, 7), torch.zeros(b, 24, 7)], 1),
                torch.rand(b, 72, 4) - 0.5)
    for b, reps in ((1, 20), (32, 3)):
        a = inputs(b)
        m.eval()
        with torch.no_grad():
            print(f"model=informer case=infer_b{b} ms={best(lambda: m(*a), reps):.3f}",
                  flush=True)
    a = inputs(32)
    y = torch.randn(32, 24, 7)
    m.train()

    def run():
        opt.zero_grad()
        loss = torch.mean((m(*a) - y) ** 2)
        loss.backward()
        opt.step()
    print(f"model=informer case=train_b32 ms={best(run, 2):.3f}", flush=True)


def nilm_cases():
    """NILMFormer, official disaggregation configuration (d_model 96, 8 heads, 3 layers, d_ff
    384, c_embedding 8, kernel 3, dilations 1 2 4 8), window 256: inference at batch 1 and
    64, one AdamW step (lr 1e-4, weight decay 0, the official) at batch 64."""
    W = 256
    m = nilmformer.NILMFormer(nilmformer.NILMFormerConfig())
    n = sum(p.numel() for p in m.parameters() if p.requires_grad)
    print(f"nilmformer: {n} trainable parameters, W {W}", file=sys.stderr, flush=True)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0)

    def inputs(b):  # channel 0 the aggregate, 1..8 the TimeRPE marks
        return torch.cat([torch.randn(b, 1, W), torch.rand(b, 8, W) * 2 - 1], 1)
    m.eval()
    for b, reps in ((1, 100), (64, 10)):
        x = inputs(b)
        with torch.no_grad():
            out = m(x)
            assert out.shape == (b, 1, W), out.shape
            print(f"model=nilmformer case=infer_b{b} ms={best(lambda: m(x), reps):.3f}",
                  flush=True)
    x, y = inputs(64), torch.randn(64, 1, W)
    m.train()

    def run():
        opt.zero_grad()
        loss = torch.mean((m(x) - y) ** 2)
        loss.backward()
        opt.step()
    # best of 3: one step here takes tens of seconds (bench/RESULTS.md), as Informer's best of 2
    print(f"model=nilmformer case=train_b64 ms={best(run, 3):.3f}", flush=True)


def encoder_cases(lens):
    """ProbSparse encoder alone at growing L (d 512, 8 heads, 2 layers, distil), batch 1."""
    for L in lens:
        e = informer.Informer(7, 7, 7, L, L // 2, 24, factor=5, d_model=512, n_heads=8,
                              e_layers=2, d_layers=1, d_ff=2048, dropout=0.0, attn="prob",
                              embed="timeF", freq="h").eval()
        if L > e.enc_embedding.position_embedding.pe.shape[1]:
            # the official sinusoid table has 5000 rows; a longer one of the same formula
            # lets the reference run at the lengths bench/attention.sh measures (6144 and up)
            e.enc_embedding.position_embedding.pe = layers.sinusoid_table(L, 512).unsqueeze(0)
        x, xm = torch.randn(1, L, 7), torch.rand(1, L, 4) - 0.5
        with torch.no_grad():
            # as bench/attention.sh for ours: best of 10 up to L = 1024, where one forward
            # is short enough for the machine's noise to decide a best of 2
            ms = best(lambda: e.encoder(e.enc_embedding(x, xm)), 10 if L <= 1024 else 2)
        print(f"model=informer case=encoder_L{L} ms={ms:.3f}", flush=True)


# usage: torch_ref.py THREADS [all|itransformer|informer|nilmformer|encoder L...]
which = sys.argv[2] if len(sys.argv) > 2 else "all"
if which in ("all", "itransformer"):
    itr_cases()
if which in ("all", "informer"):
    inf_cases()
if which in ("all", "nilmformer"):
    nilm_cases()
if which == "encoder":
    encoder_cases([int(v) for v in sys.argv[3:]])
