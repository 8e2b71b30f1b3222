#!/bin/sh
# make bench: runs every benchmark; each prints its own table.  Never fails on a number.
set -u
B=${BUILD:-build}
for b in "$B"/bench/*; do
    [ -x "$b" ] && [ -f "$b" ] || continue
    case "$(basename "$b")" in bench_attention | bench_models | bench_anomaly | bench_forward) continue ;; esac
    echo "== $(basename "$b")"
    "$b" || echo "(benchmark $(basename "$b") exited with $?)"
done
for s in bench/*.sh; do
    [ "$s" = bench/run.sh ] && continue
    [ "$s" = bench/accuracy.sh ] && continue # hours of training: run it on purpose
    [ -f "$s" ] || continue
    echo "== $s"
    sh "$s" || echo "($s exited with $?)"
done
