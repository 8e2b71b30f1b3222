#!/bin/sh
# check_layers.sh — fails when a source file includes a header from a layer above its own.
# The layers and what each may include (its own folder and the ones listed) are below and in
# docs/ARCHITECTURE.md; includes name the folder ("engine/tensor.h", compiled with -I.).
# Run from the repository root: `make check-layers`.
set -eu

allowed() {
    case $1 in
    common) echo "common" ;;
    config) echo "common config" ;;
    engine) echo "common engine" ;;
    connectors) echo "common config connectors" ;;
    models) echo "common engine models" ;;
    training) echo "common config engine connectors models training" ;;
    pipeline) echo "common config engine connectors models training pipeline" ;;
    service) echo "common config engine connectors models training pipeline service" ;;
    cli) echo "common config engine connectors models training pipeline cli" ;;
    # the fuzz harnesses sit on top, like tests/ (which is not checked): any layer, no program
    fuzz) echo "common config engine connectors models training pipeline service cli fuzz" ;;
    *) return 1 ;;
    esac
}

for dir in common config engine connectors models training pipeline service cli fuzz; do
    ok=$(allowed "$dir")
    for f in "$dir"/*.c "$dir"/*.h; do
        [ -e "$f" ] || continue
        # every quoted include: "folder/file.h" or a bare "file.h" (same folder)
        grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" |
            sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1 \2/' |
            while read -r line inc; do
                case $inc in
                */*) to=${inc%%/*} ;;
                *)
                    if [ -e "$dir/$inc" ]; then continue; fi
                    echo "$f:$line: \"$inc\" names no folder (write \"layer/$inc\")"
                    echo x >>"${TMPDIR:-/tmp}/check_layers.$$"
                    continue
                    ;;
                esac
                case " $ok " in
                *" $to "*) ;;
                *)
                    echo "$f:$line: includes $inc: $dir/ may include only: $ok"
                    echo x >>"${TMPDIR:-/tmp}/check_layers.$$"
                    ;;
                esac
            done
    done
done
if [ -e "${TMPDIR:-/tmp}/check_layers.$$" ]; then
    rm -f "${TMPDIR:-/tmp}/check_layers.$$"
    echo "check-layers: upward or unqualified includes above"
    exit 1
fi
echo "check-layers: every include goes down (common < config, engine, connectors < models < training < pipeline < service, cli)"
