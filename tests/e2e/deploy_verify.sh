#!/bin/sh
# deploy_verify.sh — checks deploy/: the unit carries the hardening we promise, passes
# `systemd-analyze verify`, keeps its offline exposure score low, the sysusers/tmpfiles
# files apply to an empty root, and the example YAML passes `horizond --check`.
#
# `systemd-analyze verify` insists that ExecStart='s binary exists, so it runs on a copy of
# the unit with /usr/local/bin/horizond rewritten to $BIN/horizond (absolute).  The
# exposure score comes from `systemd-analyze security --offline=true` (systemd >= 252; no
# running systemd needed); where that is unavailable the step is reported and skipped.
set -u
BIN=${BIN:-build}
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}
unit=deploy/horizond.service
fail=0
bad() { echo "deploy_verify: $*"; fail=1; }

for f in "$unit" deploy/horizon.sysusers.conf deploy/horizon.tmpfiles.conf deploy/horizon.yaml; do
    [ -f "$f" ] || bad "missing $f"
done
[ $fail = 0 ] || exit 1

# 1. The directives the unit must keep (a removal is a regression, whatever verify says).
for d in 'Type=notify' 'ExecStart=/usr/local/bin/horizond -c /etc/horizon/horizon.yaml' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'User=horizon' 'StateDirectory=horizon' \
    'ConfigurationDirectory=horizon' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
    'PrivateDevices=yes' 'NoNewPrivileges=yes' 'ProtectKernelTunables=yes' \
    'ProtectKernelModules=yes' 'ProtectKernelLogs=yes' 'ProtectControlGroups=yes' \
    'ProtectClock=yes' 'ProtectHostname=yes' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
    'RestrictNamespaces=yes' 'LockPersonality=yes' 'MemoryDenyWriteExecute=yes' \
    'RestrictRealtime=yes' 'RestrictSUIDSGID=yes' 'SystemCallFilter=@system-service' \
    'SystemCallArchitectures=native' 'CapabilityBoundingSet=' 'UMask=0077' 'WatchdogSec=' \
    'TimeoutStopSec=' 'Restart=on-failure'; do
    grep -qxF -- "$d" "$unit" || grep -q -- "^$d" "$unit" || bad "$unit lacks $d"
done

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "deploy_verify: systemd-analyze not installed: verify and security skipped"
    exit $fail
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
horizond=$(cd "$BIN" 2>/dev/null && pwd)/horizond
if [ ! -x "$horizond" ]; then
    bad "$BIN/horizond not built (needed by verify)"
    exit 1
fi

# 2. systemd-analyze verify on a copy pointing at the built binary.
sed "s#/usr/local/bin/horizond#$horizond#g" "$unit" >"$tmp/horizond.service"
if systemd-analyze verify "$tmp/horizond.service" >"$tmp/verify.out" 2>&1; then
    echo "deploy_verify: systemd-analyze verify: ok"
    cat "$tmp/verify.out"
else
    cat "$tmp/verify.out"
    bad "systemd-analyze verify failed"
fi

# 3. Exposure score, offline.
if systemd-analyze security --offline=true "$tmp/horizond.service" >"$tmp/sec.out" 2>&1; then
    grep -E '✗' "$tmp/sec.out"
    score=$(sed -n 's/.*Overall exposure level for horizond.service: \([0-9.]*\).*/\1/p' "$tmp/sec.out")
    echo "deploy_verify: systemd-analyze security --offline=true: exposure ${score:-?}"
    if [ -n "$score" ] && awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN{exit !(s > m)}'; then
        bad "exposure $score above $MAX_EXPOSURE"
    fi
else
    echo "deploy_verify: systemd-analyze security --offline unavailable here:"
    tail -n 3 "$tmp/sec.out"
fi

# 4. sysusers and tmpfiles applied to an empty root (chown needs root).
if [ "$(id -u)" = 0 ] && command -v systemd-sysusers >/dev/null 2>&1 &&
    command -v systemd-tmpfiles >/dev/null 2>&1; then
    r="$tmp/root"
    mkdir -p "$r/etc" "$r/usr/lib/sysusers.d" "$r/usr/lib/tmpfiles.d"
    cp deploy/horizon.sysusers.conf "$r/usr/lib/sysusers.d/horizon.conf"
    cp deploy/horizon.tmpfiles.conf "$r/usr/lib/tmpfiles.d/horizon.conf"
    systemd-sysusers --root="$r" horizon.conf >/dev/null 2>&1 || bad "systemd-sysusers failed"
    grep -q '^horizon:x:[0-9]*:[0-9]*:.*:/var/lib/horizon:/usr/sbin/nologin$' "$r/etc/passwd" ||
        bad "sysusers did not create the horizon user"
    systemd-tmpfiles --root="$r" --create horizon.conf || bad "systemd-tmpfiles failed"
    [ "$(stat -c '%a' "$r/var/lib/horizon/models" 2>/dev/null)" = 750 ] ||
        bad "tmpfiles did not create /var/lib/horizon/models 0750"
    [ "$(stat -c '%a' "$r/etc/horizon" 2>/dev/null)" = 750 ] ||
        bad "tmpfiles did not create /etc/horizon 0750"
    echo "deploy_verify: sysusers and tmpfiles: ok"
else
    echo "deploy_verify: not root or no systemd-sysusers/tmpfiles: sysusers/tmpfiles skipped"
fi

# 5. The example configuration passes --check, or is refused only for the checkpoints a
# host keeps in /var/lib/horizon/models (--check loads them; its Kafka properties, metrics
# address and every other key were checked before).
"$horizond" -c deploy/horizon.yaml --check >"$tmp/check.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q 'no checkpoint at /var/lib/horizon/models/' "$tmp/check.out"; then
    echo "deploy_verify: deploy/horizon.yaml passes horizond --check but for its checkpoints"
elif [ $rc -ne 0 ]; then
    cat "$tmp/check.out"
    bad "deploy/horizon.yaml fails horizond --check"
else
    echo "deploy_verify: deploy/horizon.yaml passes horizond --check"
fi
exit $fail
