#!/bin/sh
# web_view.sh — horizond's read-only web view (docs/WEB.md) in a real browser: the demo's
# pipeline (the bundled Choptank sample in SQLite, a model trained at start) plus two series
# named `<script>alert(1)</script>` and `a/b?c%d"e'f ü水`; `/`, the pipeline page and a series
# page opened in headless Chromium, their DOM checked (the series listed and linked, the
# chart's forecast band and flag markers, the names escaped) and a screenshot saved
# (WEB_SCREENSHOT=FILE copies it there: docs/web-series.png); then the raw HTTP answers
# curl sees: the %2F inside a name, JSON, 405 and 414.
set -u
NAME=web_view
T=$(mktemp -d /tmp/hz_web_XXXXXX)
. tests/tools/daemon_lib.sh
command -v chromium >/dev/null || fail "chromium is not installed (make deps installs it)"

import_choptank "$T/hz.sqlite"
# its last 1000 days are enough (training splits, the chart's 120 days) and keep this short
# under ASan
q "DELETE FROM readings WHERE ts < (SELECT max(ts) FROM readings) - 1000 * 86400000"
XSS='<script>alert(1)</script>'
ODD="a/b?c%d\"e'f ü水"
for s in "$XSS" "$ODD"; do
    esc=$(printf '%s' "$s" | sed "s/'/''/g")
    q "INSERT INTO readings(series, variable, ts, value) SELECT '$esc', variable, ts, value
       FROM readings WHERE series = 'choptank' ORDER BY ts DESC LIMIT 90"
done
PORT=$((20000 + ($$ + 13) % 20000)) # as daemon_reload.sh picks its port
sed -e "s|database: .*|database: $T/hz.sqlite|" \
    -e "s|checkpoint: .*|checkpoint: $T/m/choptank.safetensors|" \
    -e "s|epochs: 6|epochs: 1|" -e "s|poll: 1s|poll: 50ms|" \
    -e "s|metrics: {listen: \"\"}|metrics: {listen: \"127.0.0.1:$PORT\"}|" \
    config/examples/demo.yaml >"$T/hz.yaml"
start_daemon "$T/hz.yaml" "$T/run.log"
U="http://127.0.0.1:$PORT"
# every window of the sample forecast, and those of the two added series
wait_sql "SELECT count(DISTINCT issued_ts) FROM forecasts WHERE series = 'choptank'" 942 60
wait_sql "SELECT count(DISTINCT series) FROM forecasts" 3 20
sleep 1.2 # the state the loop publishes each second

# dom URL FILE: the DOM Chromium builds from the page (no script runs: the pages have none)
dom() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chrome" \
        --dump-dom "$1" >"$2" 2>>"$T/chrome.err" || fail "chromium could not open $1"
}
dom "$U/" "$T/index.html"
grep -q '<a href="/pipeline/choptank">choptank</a>' "$T/index.html" || fail "/ lists no pipeline"
grep -q 'running' "$T/index.html" || fail "/ shows no state"
grep -q 'choptank-[0-9a-f]\{12\}' "$T/index.html" || fail "/ shows no model id"
grep -q 'class="kinds"' "$T/index.html" || fail "/ has no flags by kind"

dom "$U/pipeline/choptank" "$T/pipeline.html"
grep -q '<a href="/series/choptank/choptank">choptank</a>' "$T/pipeline.html" ||
    fail "the pipeline page does not list the series"
grep -q '<a href="/series/choptank/%3Cscript%3Ealert%281%29%3C%2Fscript%3E">&lt;script&gt;alert(1)&lt;/script&gt;</a>' \
    "$T/pipeline.html" || fail "the <script> series is not escaped and linked: $(grep -i script "$T/pipeline.html")"
grep -q '<a href="/series/choptank/a%2Fb%3Fc%25d%22e%27f%20%C3%BC%E6%B0%B4">a/b?c%d"e'"'"'f ü水</a>' \
    "$T/pipeline.html" || fail "the odd series is not linked: $(grep 'a%2F' "$T/pipeline.html")"
if grep -q '<script' "$T/pipeline.html"; then fail "a script element in the pipeline page's DOM"; fi

dom "$U/series/choptank/choptank" "$T/series.html"
grep -q '<path class="band band-0" data-level="90"' "$T/series.html" || fail "no 90% band"
grep -q '<path class="band band-1" data-level="99"' "$T/series.html" || fail "no 99% band"
grep -q '<path class="forecast"' "$T/series.html" || fail "no forecast line"
grep -q '<circle class="flag k-' "$T/series.html" || fail "no flag marker on the chart"
grep -q '<table class="flags">' "$T/series.html" || fail "no flags table"

# the two odd names: their pages open from the links above and show them escaped
dom "$U/series/choptank/%3Cscript%3Ealert%281%29%3C%2Fscript%3E" "$T/xss.html"
grep -q '<h1 class="series-name">&lt;script&gt;alert(1)&lt;/script&gt;</h1>' "$T/xss.html" ||
    fail "the <script> series page: $(grep -i h1 "$T/xss.html")"
if grep -q '<script' "$T/xss.html"; then fail "a script element in the series page's DOM"; fi
dom "$U/series/choptank/a%2Fb%3Fc%25d%22e%27f%20%C3%BC%E6%B0%B4" "$T/odd.html"
grep -q '<h1 class="series-name">a/b?c%d"e'"'"'f ü水</h1>' "$T/odd.html" ||
    fail "the odd series page: $(grep -i h1 "$T/odd.html")"
grep -q '<path class="forecast"' "$T/odd.html" || fail "the odd series has no forecast drawn"

timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chrome" \
    --hide-scrollbars --window-size=1000,1000 --screenshot="$T/web-series.png" \
    "$U/series/choptank/choptank" >/dev/null 2>>"$T/chrome.err" || fail "no screenshot"
[ -s "$T/web-series.png" ] || fail "empty screenshot"
[ -n "${WEB_SCREENSHOT:-}" ] && cp "$T/web-series.png" "$WEB_SCREENSHOT"

# HTTP as sent: JSON, the methods, the bounds
curl -sf "$U/api/series/choptank/a%2Fb%3Fc%25d%22e%27f%20%C3%BC%E6%B0%B4" >"$T/odd.json" ||
    fail "the odd series' JSON"
grep -q '"series":"a/b?c%d\\"e'"'"'f ü水"' "$T/odd.json" || fail "JSON name: $(head -c 300 "$T/odd.json")"
curl -sf "$U/api/pipelines" | grep -q '"name":"choptank","running":true' || fail "/api/pipelines"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$U/")" = 405 ] || fail "POST is not 405"
curl -s -D - -o /dev/null -X DELETE "$U/pipeline/choptank" | grep -qi '^Allow: GET, HEAD' ||
    fail "no Allow header on 405"
long=$(head -c 3000 /dev/zero | tr '\0' a)
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/series/choptank/$long")" = 414 ] || fail "long path is not 414"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/series/choptank/nosuch")" = 404 ] || fail "unknown series is not 404"
curl -s -D - -o /dev/null "$U/" | grep -qi "^Content-Security-Policy: default-src 'none'" || fail "no CSP header"
curl -sf "$U/metrics" | grep -q '^horizon_readings_total{pipeline="choptank"}' || fail "/metrics lost"
stop_daemon
echo "web_view: ok (pages, DOM, escaping, screenshot; port $PORT)"
