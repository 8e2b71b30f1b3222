#!/bin/sh
# `horizond -c FILE --check`: every example passes (exit 0, "FILE: ok (N pipelines)"), or is
# refused only for the checkpoint the benchmarks train (or a host's /var/lib/horizon holds;
# a disaggregation example: an appliance's); a bad file is refused (exit 1) with
# file:line:column; no -c is a usage error (exit 2).  --check refuses what the daemon could
# not run (service/runtime.c, hz_runtime_load): a missing checkpoint without train_on_start,
# a public metrics address without metrics.allow_public, a Kafka property or SASL mechanism
# librdkafka refuses, a NUL in a name; and a file too large or nested too deep, in well
# under a second.
set -u
B=${BIN:-build}
fail=0
out=$(mktemp)
T=$(mktemp -d /tmp/hz_cc_XXXXXX)
trap 'rm -f "$out"; rm -rf "$T"' EXIT
for f in config/examples/*.yaml; do
    if ! "$B"/horizond -c "$f" --check >"$out" 2>&1; then
        grep -Eq "no checkpoint at (.*/build/(models|pooled)|/var/lib/horizon/models)/" "$out" ||
            { echo "config_check: $f refused: $(cat "$out")"; fail=1; }
    elif ! grep -Eq "^$f: ok \([0-9]+ pipelines?\)$" "$out"; then
        echo "config_check: $f: unexpected output: $(cat "$out")"; fail=1
    fi
done
bad=tests/fixtures/config/bad_out_of_range.yaml
"$B"/horizond -c "$bad" --check >"$out" 2>&1
rc=$?
if [ $rc -ne 1 ]; then
    echo "config_check: $bad: exit $rc, want 1"; fail=1
fi
if ! grep -q "$bad:6:36: pipelines\[0\].window.lookback: expected an integer" "$out"; then
    echo "config_check: $bad: message lacks line:column: $(cat "$out")"; fail=1
fi
"$B"/horizond -c tests/fixtures/config/no_such.yaml --check >"$out" 2>&1
[ $? -eq 1 ] || { echo "config_check: missing file not refused with exit 1"; fail=1; }
"$B"/horizond >"$out" 2>&1
[ $? -eq 2 ] || { echo "config_check: without -c want exit 2 (usage)"; fail=1; }
# base [EXTRA_TOP] [SOURCE] [CHECKPOINT_LINE]: a runnable file (train_on_start: no checkpoint needed)
base() {
    cat <<EOT
database: $T/hz.sqlite
metrics: {listen: "${LISTEN:-127.0.0.1:9464}"${ALLOW:-}}
${1:-}
pipelines:
  - name: ${NAME:-p}
    source:
      ${2:-"sqlite: {table: readings}"}
      fields: {series: series, time: ts, values: [v]}
    window: {period: 1d, lookback: 8, horizon: 2}
    model:
      kind: itransformer
      checkpoint: $T/none.safetensors
      train: {${3:-train_on_start: true}}
    sinks:
      - sqlite: {}
EOT
}
# refused FILE PATTERN WHAT: --check exits 1 with a message matching PATTERN (grep -E)
refused() {
    "$B"/horizond -c "$1" --check >"$out" 2>&1
    rc=$?
    if [ $rc -ne 1 ] || ! grep -Eq "$2" "$out"; then
        echo "config_check: $3: exit $rc, $(cat "$out")"; fail=1
    fi
}
base >"$T/ok.yaml"
"$B"/horizond -c "$T/ok.yaml" --check >"$out" 2>&1 || { echo "config_check: base refused: $(cat "$out")"; fail=1; }
base "" "" "epochs: 1" >"$T/f.yaml"
refused "$T/f.yaml" "pipeline p: no checkpoint at $T/none.safetensors" "missing checkpoint"
LISTEN=0.0.0.0:9464 base >"$T/f.yaml"
refused "$T/f.yaml" 'metrics.listen "0.0.0.0:9464": not a loopback address.*allow_public' "public listener"
LISTEN=0.0.0.0:9464 ALLOW=", allow_public: true" base >"$T/f.yaml"
"$B"/horizond -c "$T/f.yaml" --check >"$out" 2>&1 || { echo "config_check: allow_public refused: $(cat "$out")"; fail=1; }
kafka_src='kafka: {topic: t, group.id: g}'
base "kafka: {bootstrap.servers: 127.0.0.1:1, no.such.property: 1}" "$kafka_src" >"$T/f.yaml"
refused "$T/f.yaml" 'pipeline p: .*no.such.property' "unknown Kafka property"
base "kafka: {bootstrap.servers: 127.0.0.1:1, security.protocol: SASL_PLAINTEXT, sasl.mechanisms: NOPE}" \
    "$kafka_src" >"$T/f.yaml"
refused "$T/f.yaml" 'pipeline p: kafka source t: .*Unsupported SASL mechanism: NOPE' "SASL mechanism"
NAME='"a\0b"' base >"$T/f.yaml"
refused "$T/f.yaml" "$T/f.yaml:[0-9]+:[0-9]+: a NUL character" "NUL in a name"
awk 'BEGIN { printf "database: x.sqlite\npipelines: "; for (i = 0; i < 100000; i++) printf "[";
             for (i = 0; i < 100000; i++) printf "]"; print "" }' >"$T/deep.yaml"
s0=$(date +%s%N)
refused "$T/deep.yaml" "$T/deep.yaml:2:[0-9]+: mappings and sequences nested deeper than 64" "deep nesting"
[ $(( ($(date +%s%N) - s0) / 1000000 )) -lt 1000 ] || { echo "config_check: deep file took over 1 s"; fail=1; }
{ echo "database: x.sqlite"; head -c 1100000 /dev/zero | tr '\0' '#'; echo; } >"$T/big.yaml"
refused "$T/big.yaml" "$T/big.yaml:1:1: larger than 1048576 bytes" "large file"
# The reference printed by --dump-schema is the checked-in docs/CONFIG.md.
"$B"/horizond --dump-schema >"$out" 2>&1 && cmp -s "$out" docs/CONFIG.md ||
    { echo "config_check: docs/CONFIG.md differs from horizond --dump-schema"; fail=1; }
[ $fail -eq 0 ] && echo "config_check: ok"
exit $fail
