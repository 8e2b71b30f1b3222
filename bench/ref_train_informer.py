"""Train and test the PyTorch reference Informer on ETTh1 with the official protocol
(docs/MODELS.md §2.3, §4), to compare the reference's own run-to-run spread with horizon's on
the same machine.  Never needed by tests or CI.

The reference implementation is not part of this repository: set HZ_TORCH_REF to its folder
(the one holding informer.py and timefeatures.py), e.g.
`export HZ_TORCH_REF=/path/to/reference/torch`.

Protocol: ETT 12/4/4-month borders, scaler fit on the train part, timeF 'h' marks; train and
validation loaders shuffled with drop_last, test in order with drop_last (batch 32); Adam
1e-4, MSE, lradj type1 (after epoch e the rate becomes lr0 * 0.5^(e-1)), early stop on the
validation MSE (patience 3, best weights reloaded); test MSE/MAE on scaled data.  Like the
official experiment loop it reports the validation loss after every epoch, and the test loss
after each epoch that improved it, so a run cut short still tells its best epoch so far.

  HZ_TORCH_REF=... /usr/bin/python3 bench/ref_train_informer.py --pred 48 --seed 2021
      [--threads 1] [--data data/ett/ETTh1.csv] [--epochs 6] [--max-steps N (smoke test)]

Prints one line per epoch and ends with `test mse=X mae=Y` (the best-validation weights).
Settings per horizon are the official ETTh1 script's (docs/MODELS.md §2.3)."""
import argparse
import csv
import datetime
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.environ.get("HZ_TORCH_REF")
if not REF or not os.path.isfile(os.path.join(REF, "informer.py")):
    sys.exit("ref_train_informer.py: set HZ_TORCH_REF to the PyTorch reference folder "
             f"(the one holding informer.py; now {REF!r})")
sys.path.insert(0, REF)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import informer  # noqa: E402
import timefeatures  # noqa: E402

# pred_len -> (seq_len, label_len, factor): the official repository's scripts/ETTh1.sh, features M
SETTINGS = {24: (48, 48, 3), 48: (96, 48, 5), 168: (168, 168, 5), 336: (168, 168, 5),
            720: (336, 336, 5)}


def load_ett(path):
    ts, rows = [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        next(r)
        for line in r:
            d = datetime.datetime.strptime(line[0], "%Y-%m-%d %H:%M:%S")
            ts.append(int((d - datetime.datetime(1970, 1, 1)).total_seconds()))
            rows.append([float(v) for v in line[1:]])
    return np.asarray(ts, dtype=np.int64), np.asarray(rows, dtype=np.float64)


class Split:
    """Windows of one split: x [seq], y [label + pred] starting at seq - label."""

    def __init__(self, data, marks, begin, end, seq, label, pred):
        self.data, self.marks = data[begin:end], marks[begin:end]
        self.seq, self.label, self.pred = seq, label, pred
        self.n = end - begin - seq - pred + 1

    def batch(self, idx):
        s = np.asarray(idx)[:, None]
        xi = s + np.arange(self.seq)[None, :]
        yi = s + self.seq - self.label + np.arange(self.label + self.pred)[None, :]
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
        return t(self.data[xi]), t(self.marks[xi]), t(self.data[yi]), t(self.marks[yi])

    def batches(self, bs, shuffle):
        order = torch.randperm(self.n).numpy() if shuffle else np.arange(self.n)
        for b in range(self.n // bs):  # drop_last
            yield self.batch(order[b * bs:(b + 1) * bs])


def forward(model, batch, label, pred):
    x, xm, y, ym = batch
    dec = informer.make_decoder_input(y[:, :label, :], label, pred)
    return model(x, xm, dec, ym), y[:, -pred:, :]


def evaluate(model, split, bs, label, pred, shuffle, keep=False):
    model.eval()
    losses, outs, trues = [], [], []
    with torch.no_grad():
        for b in split.batches(bs, shuffle):
            out, y = forward(model, b, label, pred)
            losses.append(torch.mean((out - y) ** 2).item())
            if keep:
                outs.append(out.numpy())
                trues.append(y.numpy())
    model.train()
    if keep:
        p, t = np.concatenate(outs), np.concatenate(trues)
        return float(np.mean((p - t) ** 2)), float(np.mean(np.abs(p - t))), len(p)
    return float(np.average(losses))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pred", type=int, default=48, choices=sorted(SETTINGS))
    ap.add_argument("--seed", type=int, default=2021)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "data", "ett", "ETTh1.csv"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-steps", type=int, default=0, help="steps per epoch (smoke test)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    seq, label, pred = SETTINGS[a.pred][0], SETTINGS[a.pred][1], a.pred

    ts, raw = load_ett(a.data)
    month = 30 * 24
    b2 = [12 * month, 16 * month, 20 * month]
    b1 = [0, b2[0] - seq, b2[1] - seq]
    train_part = raw[:b2[0]]
    data = (raw - train_part.mean(0)) / train_part.std(0)
    marks = timefeatures.timef(ts, "h").astype(np.float64)
    train, val, test = (Split(data, marks, b1[i], b2[i], seq, label, pred) for i in range(3))

    model = informer.Informer(7, 7, 7, seq, label, pred, factor=SETTINGS[a.pred][2],
                              d_model=512, n_heads=8, e_layers=2, d_layers=1, d_ff=2048,
                              dropout=0.05, attn="prob", embed="timeF", freq="h",
                              activation="gelu", distil=True, mix=True)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    print(f"ref informer ETTh1 M seq={seq} label={label} pred={pred} seed={a.seed} "
          f"threads={a.threads} torch={torch.__version__} train={train.n} val={val.n} "
          f"test={test.n}", flush=True)

    best, best_state, best_epoch, waited = math.inf, None, 0, 0
    for epoch in range(1, a.epochs + 1):
        t0, losses = time.time(), []
        model.train()
        for step, b in enumerate(train.batches(a.batch, True)):
            if a.max_steps and step >= a.max_steps:
                break
            opt.zero_grad()
            out, y = forward(model, b, label, pred)
            loss = torch.mean((out - y) ** 2)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        vl = evaluate(model, val, a.batch, label, pred, True)
        # the test loss only where the validation improved: that epoch's is the one served
        tl = evaluate(model, test, a.batch, label, pred, False) if vl < best else math.nan
        lr = opt.param_groups[0]["lr"]
        print(f"epoch={epoch} steps={len(losses)} train={np.average(losses):.7f} val={vl:.7f} "
              f"test={tl:.7f} lr={lr:.3g} s={time.time() - t0:.0f}", flush=True)
        if vl < best:
            best, best_epoch, waited = vl, epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= a.patience:
                print(f"early stop after epoch {epoch}", flush=True)
                break
        for g in opt.param_groups:  # lradj type1
            g["lr"] = a.lr * 0.5 ** (epoch - 1)
    model.load_state_dict(best_state)
    mse, mae, n = evaluate(model, test, a.batch, label, pred, False, keep=True)
    print(f"best_epoch={best_epoch} val={best:.7f} windows={n}")
    print(f"test mse={mse:.6f} mae={mae:.6f}", flush=True)


if __name__ == "__main__":
    main()
