#!/bin/sh
# Checks the layering of docs/architecture.md ("Layers"), run by
# `make test`: a directory's sources include internal headers only from the
# layers below it (the public <cfutures.h> is open to all).
#   sh tests/layer_check.sh
set -u
root=$(dirname "$0")/..
fail=0
allowed() {
    case $1 in
    common) echo "common" ;;
    ipc) echo "common ipc" ;;
    serialize) echo "common serialize" ;;
    workers) echo "common ipc serialize workers" ;;
    executor) echo "common ipc serialize workers executor" ;;
    threading) echo "common ipc threading" ;;
    esac
}
for layer in common ipc serialize workers executor threading; do
    ok=$(allowed "$layer")
    for f in "$root/$layer"/*.[ch]; do
        for used in $(sed -n 's|^#include "\([a-z]*\)/.*|\1|p' "$f" | sort -u); do
            case " $ok " in
            *" $used "*) ;;
            *) echo "layer check: $layer/$(basename "$f") includes from $used/" >&2; fail=1 ;;
            esac
        done
    done
done
[ "$fail" = 0 ] && echo "layer check: common < ipc, serialize < workers < executor; threading uses common, ipc"
exit "$fail"
