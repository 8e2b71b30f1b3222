#!/bin/sh
# examples.sh — the example configurations run from a plain clone: every CSV file that a
# config/examples/*.yaml names (or that its glob matches) exists inside the repository (paths
# are relative to the config's folder), and the ETTh1 iTransformer example trains a one-batch probe from
# data/ett/ETTh1.csv, evaluates it (every variable against the persistence and window-mean
# forecasts, the last line's nse= and persistence_nse=), and registers nothing.  The full trainings are
# bench/accuracy.sh's.  Run from the repository root; BIN holds horizon.
set -eu
BIN=${BIN:-build}
T=$(mktemp -d /tmp/hz_examples_XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "examples: $*" >&2; exit 1; }

n=0
for c in config/examples/*.yaml; do
    for p in $(sed -n 's/.*csv: *{ *path: *"*\([^,}"]*\).*/\1/p' "$c"); do
        case $p in /*) f=$p ;; *) f=$(dirname "$c")/$p ;; esac
        # a glob (source.csv.path) names every file it matches; unmatched, it stays as written
        for g in $f; do
            [ -r "$g" ] || fail "$c names $p, which is not in the repository"
            case $(realpath "$g") in "$(pwd)"/*) ;; *) fail "$c reads $p outside the repository" ;; esac
        done
        n=$((n + 1))
    done
done
[ "$n" -ge 9 ] || fail "expected the 9 ETTh1 examples to name a CSV file, found $n"

c=config/examples/etth1_itransformer_96.yaml
"$BIN/horizon" train -c "$c" --epochs 1 --max-batches 1 --checkpoint "$T/p.safetensors" \
    >"$T/train.out" 2>"$T/train.err" || fail "probe training failed: $(tail -5 "$T/train.err")"
grep -q 'windows train 8449 val 2785 test 2785' "$T/train.err" ||
    fail "ETTh1 split: $(head -2 "$T/train.err")"
grep -q '^not registered' "$T/train.out" || fail "probe registered: $(cat "$T/train.out")"
"$BIN/horizon" eval -c "$c" --checkpoint "$T/p.safetensors" >"$T/eval.out" 2>"$T/eval.err" ||
    fail "eval failed: $(tail -5 "$T/eval.err")"
num='(-?[0-9.]+|nan)'
tail -n 1 "$T/eval.out" |
    grep -Eq "^test mse=[0-9.]+ mae=[0-9.]+ cov90=[0-9.]+ cov99=[0-9.]+ nse=$num persistence_nse=$num\$" ||
    fail "eval's last line: $(tail -n 1 "$T/eval.out")"
# a block per variable: the model, persistence and window-mean rows and the skill line
for f in model persistence 'window mean' 'skill vs persistence: mse'; do
    [ "$(grep -c "^  $f " "$T/eval.out")" = 7 ] || fail "eval: not 7 '$f' lines: $(cat "$T/eval.out")"
done
grep -q '^test  series ETTh1 *variable OT ' "$T/eval.out" || fail "eval: no block for OT: $(cat "$T/eval.out")"
echo "examples: ok ($n CSV paths inside the repository; ETTh1 iTransformer probe trained and evaluated)"
