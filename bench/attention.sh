#!/bin/sh
# Informer encoder forward (d 512, 8 heads, 2 layers + distilling, batch 1, inference path):
# ProbSparse vs full self-attention over sequence length.  Each size runs in its own process
# (peak RSS per size); full attention is skipped where its two [8, L, L] score buffers alone
# would pass ~8 GiB.  Prints a table and writes bench/out/attention.tsv and a log-log SVG
# (time and peak memory vs L) to bench/out/attention.svg.  When the PyTorch reference can run
# (HZ_TORCH_REF names its folder and python3-torch is installed; bench/ref_env.sh: same
# threads and OpenBLAS kernels), its ProbSparse encoder is timed at every L too and set beside
# ours.  Never fails on a number.
set -u
B=${BUILD:-build}
BIN="$B/bench/bench_attention"
OUT=bench/out
LENS=${ATTN_LENS:-"96 192 384 768 1024 1536 2048 3072 4096 6144 8192 12288 16384"}
LIMIT_MB=${ATTN_LIMIT_MB:-8192}
[ -x "$BIN" ] || { echo "attention.sh: $BIN not built (make all)"; exit 0; }
mkdir -p "$OUT"

. bench/ref_env.sh

TSV="$OUT/attention.tsv"
printf 'len\tkind\tms\tpeak_rss_mb\n' >"$TSV"
printf '%8s  %-10s %12s %14s\n' len kind ms peak_rss_mb
for L in $LENS; do
    for K in probsparse full; do
        if [ "$K" = full ]; then
            need=$(awk -v l="$L" 'BEGIN { printf "%d", 2 * 8 * l * l * 4 / 1048576 }')
            if [ "$need" -gt "$LIMIT_MB" ]; then
                printf '%8s  %-10s %12s %14s\n' "$L" "$K" skipped "(>${LIMIT_MB} MB)"
                continue
            fi
        fi
        reps=3 # best of: more for short forwards (<= ~0.1 s), where noise decides 3
        [ "$L" -le 1024 ] && reps=10
        [ "$K" = full ] && [ "$L" -ge 4096 ] && reps=2
        line=$("$BIN" --kind "$K" --len "$L" --reps "$reps" 2>&1) || {
            printf '%8s  %-10s %12s\n' "$L" "$K" "failed: $line"
            continue
        }
        ms=$(echo "$line" | sed -n 's/.* ms=\([0-9.]*\).*/\1/p')
        mb=$(echo "$line" | sed -n 's/.*peak_rss_mb=\([0-9.]*\).*/\1/p')
        printf '%8s  %-10s %12s %14s\n' "$L" "$K" "$ms" "$mb"
        printf '%s\t%s\t%s\t%s\n' "$L" "$K" "$ms" "$mb" >>"$TSV"
    done
done

# The reference's ProbSparse encoder at the same lengths, one process for all of them.
REF="$OUT/attention_ref.txt"
: >"$REF"
if ref_available; then
    run_ref encoder $LENS >"$REF" 2>"$OUT/attention_ref.err" ||
        echo "reference failed (bench/out/attention_ref.err)"
    printf '\n| L | horizon ProbSparse ms | PyTorch ProbSparse ms | speed-up |\n|---|---|---|---|\n'
    awk -F'\t' -v ref="$REF" 'BEGIN {
        while ((getline l <ref) > 0) if (match(l, /encoder_L[0-9]+ ms=[0-9.]+/)) {
            split(substr(l, RSTART + 9, RLENGTH - 9), a, " ms="); r[a[1]] = a[2] }
    }
    NR > 1 && $2 == "probsparse" && ($1 in r) {
        n++; s = r[$1] / $3; if (s < 1) slow++
        printf "| %s | %s | %s | %.2fx |\n", $1, $3, r[$1], s
    }
    END { if (n) printf "horizon ProbSparse no slower than the reference at %d of %d lengths (reference: %s)\n", n - slow, n, blas }' \
        blas="$REF_BLAS" "$TSV"
else
    echo "(PyTorch reference not run: $REF_WHY)"
fi

# Goals set for the ProbSparse encoder: ms(8192)/ms(1024) <= 12, >= 4x faster than full
# attention at 8192, peak memory at 16384 under 1 GiB.
awk -F'\t' 'NR > 1 { t[$2 "," $1] = $3; m[$2 "," $1] = $4 }
END {
    p1 = t["probsparse,1024"]; p8 = t["probsparse,8192"]; f8 = t["full,8192"]; m16 = m["probsparse,16384"]
    if (p1 > 0 && p8 > 0) printf "probsparse ms(8192)/ms(1024) = %.2f (goal <= 12)\n", p8 / p1
    if (p8 > 0 && f8 > 0) printf "full/probsparse at 8192 = %.2fx (goal >= 4)\n", f8 / p8
    if (m16 > 0) printf "probsparse peak RSS at 16384 = %.0f MB (goal < 1024)\n", m16
}' "$TSV"

# Log-log SVG: left panel time (ms), right panel peak RSS (MB), one line per kind.
awk -F'\t' '
function lg(v) { return log(v) / log(10) }
function px(v) { return X0 + (lg(v) - lx0) / (lx1 - lx0) * W }
function py(v, lo, hi) { return Y0 + H - (lg(v) - lo) / (hi - lo) * H }
NR > 1 { n++; L[n] = $1; K[n] = $2; T[n] = $3; M[n] = $4 }
END {
    W = 360; H = 260; Y0 = 40; PW = 470
    lx0 = 1e9; lx1 = -1e9
    for (i = 1; i <= n; i++) { if (lg(L[i]) < lx0) lx0 = lg(L[i]); if (lg(L[i]) > lx1) lx1 = lg(L[i]) }
    if (n == 0 || lx1 <= lx0) { lx0 = 1; lx1 = 5 }
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n", 2 * PW + 20, H + 110
    printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
    for (panel = 0; panel < 2; panel++) {
        X0 = 70 + panel * PW
        lo = 1e9; hi = -1e9
        for (i = 1; i <= n; i++) { v = panel ? M[i] : T[i]; if (v <= 0) continue
            if (lg(v) < lo) lo = lg(v); if (lg(v) > hi) hi = lg(v) }
        if (hi <= lo) { lo = 0; hi = 1 }
        lo = int(lo - (lo < 0)); hi = int(hi) + 1
        title = panel ? "peak RSS (MB), log scale" : "encoder forward time (ms), log scale"
        printf "<text x=\"%d\" y=\"24\" font-size=\"13\">%s</text>\n", X0, title
        printf "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n", X0, Y0, W, H
        for (e = lo; e <= hi; e++) {
            y = py(10 ^ e, lo, hi)
            printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", X0, X0 + W, y, y
            printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", X0 - 4, y + 4, 10 ^ e
        }
        for (i = 1; i <= n; i++) if (K[i] == "probsparse") {
            x = px(L[i])
            printf "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>\n", x, x, Y0, Y0 + H
            printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" transform=\"rotate(-45 %.1f %d)\">%d</text>\n", x, Y0 + H + 14, x, Y0 + H + 14, L[i]
        }
        printf "<text x=\"%d\" y=\"%d\">sequence length L (log scale)</text>\n", X0 + W / 2 - 80, Y0 + H + 55
        split("probsparse full", kinds, " "); col["probsparse"] = "#1f77b4"; col["full"] = "#d62728"
        for (k = 1; k <= 2; k++) {
            pts = ""
            for (i = 1; i <= n; i++) if (K[i] == kinds[k]) {
                v = panel ? M[i] : T[i]; if (v <= 0) continue
                pts = pts sprintf("%.1f,%.1f ", px(L[i]), py(v, lo, hi))
                printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", px(L[i]), py(v, lo, hi), col[kinds[k]]
            }
            if (pts != "") printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, col[kinds[k]]
            printf "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s</text>\n", X0 + 10, Y0 + 16 * k, col[kinds[k]], kinds[k]
        }
    }
    printf "</svg>\n"
}' "$TSV" >"$OUT/attention.svg"
echo "wrote $TSV and $OUT/attention.svg"
