#!/bin/sh
# `horizond -c FILE --check`: every example passes (exit 0, "FILE: ok (N pipelines)"); a bad
# file is refused (exit 1) with file:line:column; no -c is a usage error (exit 2).
set -u
B=${BIN:-build}
fail=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for f in config/examples/*.yaml; do
    if ! "$B"/horizond -c "$f" --check >"$out" 2>&1; then
        echo "config_check: $f refused: $(cat "$out")"; fail=1
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
# The reference printed by --dump-schema is the checked-in docs/CONFIG.md.
"$B"/horizond --dump-schema >"$out" 2>&1 && cmp -s "$out" docs/CONFIG.md ||
    { echo "config_check: docs/CONFIG.md differs from horizond --dump-schema"; fail=1; }
[ $fail -eq 0 ] && echo "config_check: ok"
exit $fail
