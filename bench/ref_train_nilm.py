"""Train and test the PyTorch reference NILMFormer on one appliance of a household with the
protocol horizon uses (docs/MODELS.md §8.9, training/disagg.c), to put horizon's figures
beside the reference's own seed spread on the same split and machine.  Never needed by tests
or CI.

The reference implementation is not part of this repository: set HZ_TORCH_REF to its folder
(the one holding nilmformer.py and timefeatures.py).

Protocol, as config/examples/nilm_ukdale2.yaml and nilm_refit2.yaml set it: the CSV files of
the glob in name order as one series (Time in UTC minutes, an Aggregate column and one column
per appliance); rows split by time 70/10/20 (train = int(0.7 n) rows, test = int(0.2 n), the
rest validation); each split cut into windows of W rows from its first row, not overlapping;
a window left out when its rows are not one minute apart, hold a value that is not finite, or
(--zero-is-gap) an aggregate of 0; aggregate and appliance divided by the training rows'
largest aggregate; TimeRPE marks (minute, hour, weekday, month); MSE on the scaled appliance;
AdamW (lr 1e-4, weight decay --wd, 0 as horizon's default), batch 64 shuffled, the last
partial batch dropped; ReduceLROnPlateau (x0.1 after more than 3 epochs without a relative
improvement of 1e-4); early stopping on the validation loss over every validation window
(patience 5), the best weights kept; test scores in watts after every estimate below the ON
threshold is set to 0: MAE and the F1 of the states p > threshold against y > threshold
(training/nilm_eval.h).

  HZ_TORCH_REF=... /usr/bin/python3 bench/ref_train_nilm.py \\
      --csv 'data/nilm/devicescope_1min/ukdale_house2/UKDALE_House2_2013-0[5-7].csv' \\
      --appliance Kettle --threshold 500 --seed 0 [--zero-is-gap] [--threads 1]
      [--d-model 64 --heads 2 --layers 2 --ffn-ratio 4] [--epochs 150] [--max-steps N]

Prints the split's window counts, one line per epoch, and ends with
`test mae=X f1=Y` (the best-validation weights), the last line of `horizon eval`'s form."""
import argparse
import csv
import datetime
import glob
import math
import os
import sys
import time

REF = os.environ.get("HZ_TORCH_REF")
if not REF or not os.path.isfile(os.path.join(REF, "nilmformer.py")):
    sys.exit("ref_train_nilm.py: set HZ_TORCH_REF to the PyTorch reference folder "
             f"(the one holding nilmformer.py; now {REF!r})")
sys.path.insert(0, REF)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import nilmformer  # noqa: E402
import timefeatures  # noqa: E402

EPOCH = datetime.datetime(1970, 1, 1)


def load(pattern, appliance):
    """Seconds since the epoch, aggregate and appliance columns of the glob's files."""
    ts, agg, app = [], [], []
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"ref_train_nilm.py: no file matches {pattern}")
    for path in files:
        with open(path, newline="") as f:
            r = csv.reader(f)
            head = next(r)
            ia, ip = head.index("Aggregate"), head.index(appliance)
            for line in r:
                d = datetime.datetime.strptime(line[0], "%Y-%m-%d %H:%M:%S")
                ts.append(int((d - EPOCH).total_seconds()))
                agg.append(float(line[ia]))
                app.append(float(line[ip]))
    return np.asarray(ts, np.int64), np.asarray(agg), np.asarray(app)


def windows(ts, agg, app, r0, r1, w, zero_is_gap):
    """Starts of split [r0, r1)'s windows of w rows (not overlapping), and how many were left
    out for gaps."""
    starts, gaps = [], 0
    for a in range(r0, r1 - w + 1, w):
        s = slice(a, a + w)
        bad = (np.any(np.diff(ts[s]) != 60) or not np.all(np.isfinite(agg[s]))
               or not np.all(np.isfinite(app[s])) or (zero_is_gap and np.any(agg[s] == 0)))
        if bad:
            gaps += 1
        else:
            starts.append(a)
    return np.asarray(starts, np.int64), gaps


def batch(x, marks, y, starts, w):
    idx = starts[:, None] + np.arange(w)[None, :]
    xin = np.concatenate([x[idx][:, None, :], marks[:, idx].transpose(1, 0, 2)], axis=1)
    return (torch.from_numpy(xin.astype(np.float32)),
            torch.from_numpy(y[idx][:, None, :].astype(np.float32)))


def val_loss(model, x, marks, y, starts, w, bs):
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(starts), bs):
            xb, yb = batch(x, marks, y, starts[b:b + bs], w)
            total += torch.sum((model(xb) - yb) ** 2).item()
            n += yb.numel()
    model.train()
    return total / n


def scores(model, x, marks, y, starts, w, bs, scale, thr):
    model.eval()
    p_all, y_all = [], []
    with torch.no_grad():
        for b in range(0, len(starts), bs):
            xb, yb = batch(x, marks, y, starts[b:b + bs], w)
            p_all.append(model(xb).numpy().reshape(-1) * scale)
            y_all.append(yb.numpy().reshape(-1) * scale)
    p, t = np.concatenate(p_all).astype(np.float64), np.concatenate(y_all).astype(np.float64)
    p[p < thr] = 0
    mae = float(np.mean(np.abs(p - t)))
    on_p, on_t = p > thr, t > thr
    tp, fp, fn = np.sum(on_p & on_t), np.sum(on_p & ~on_t), np.sum(~on_p & on_t)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return mae, float(f1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--appliance", required=True)
    ap.add_argument("--threshold", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--zero-is-gap", action="store_true")
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--ffn-ratio", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--wd", type=float, default=0.0)
    ap.add_argument("--max-steps", type=int, default=0, help="steps per epoch (smoke test)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    ts, agg, app = load(a.csv, a.appliance)
    n = len(ts)
    n_train, n_test = int(0.7 * n), int(0.2 * n)
    borders = [(0, n_train), (n_train, n - n_test), (n - n_test, n)]
    scale = float(np.nanmax(agg[:n_train]))
    x, y = agg / scale, app / scale
    marks = timefeatures.nilm_timerpe(ts).astype(np.float64)  # [8, n]
    split = [windows(ts, agg, app, r0, r1, a.window, a.zero_is_gap) for r0, r1 in borders]
    (tr, gtr), (va, gva), (te, gte) = split
    model = nilmformer.NILMFormer(d_model=a.d_model, n_head=a.heads,
                                  n_encoder_layers=a.layers, pffn_ratio=a.ffn_ratio,
                                  dp_rate=a.dropout)
    nparam = sum(p.numel() for p in model.parameters())
    print(f"ref nilmformer {a.appliance} seed={a.seed} threads={a.threads} "
          f"torch={torch.__version__} params={nparam} rows={n} windows train {len(tr)} "
          f"val {len(va)} test {len(te)} ({gtr}, {gva}, {gte} left out for gaps), both divided "
          f"by {scale:g}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=a.wd)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=3,
                                                       threshold=1e-4, threshold_mode="rel")
    best, best_state, best_epoch, waited = math.inf, None, 0, 0
    t_all = time.time()
    for epoch in range(1, a.epochs + 1):
        t0, losses = time.time(), []
        order = tr[np.random.permutation(len(tr))]
        for step in range(len(order) // a.batch):
            if a.max_steps and step >= a.max_steps:
                break
            xb, yb = batch(x, marks, y, order[step * a.batch:(step + 1) * a.batch], a.window)
            opt.zero_grad()
            loss = torch.mean((model(xb) - yb) ** 2)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        vl = val_loss(model, x, marks, y, va, a.window, a.batch)
        sched.step(vl)
        print(f"epoch={epoch} steps={len(losses)} train={np.average(losses):.7f} val={vl:.7f} "
              f"lr={opt.param_groups[0]['lr']:.3g} s={time.time() - t0:.1f}", flush=True)
        if vl < best:
            best, best_epoch, waited = vl, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= a.patience:
                print(f"early stop after epoch {epoch}", flush=True)
                break
    model.load_state_dict(best_state)
    mae, f1 = scores(model, x, marks, y, te, a.window, a.batch, scale, a.threshold)
    print(f"best_epoch={best_epoch} val={best:.7f} train_s={time.time() - t_all:.0f}")
    print(f"test mae={mae:.4f} f1={f1:.4f}", flush=True)


if __name__ == "__main__":
    main()
