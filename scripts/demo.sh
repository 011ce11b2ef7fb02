#!/usr/bin/env bash
# The web checker with no network at all: starts the hermetic test world (private DNSSEC root,
# the scenario mail servers, Postfix) and serves the checker against it on
# http://127.0.0.1:8080, with the scenario domains listed on the home page. Needs root (the
# world starts Postfix; its mail servers use port 2525, so a real mail server on 25 is no
# obstacle). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

build_web
step "cargo build --release -p mxtls -p mxtls-world"
cargo build --release --locked -p mxtls -p mxtls-world

log="$(mktemp)"
# The world runs until its standard input closes: it stops when this script ends.
exec 3> >(target/release/mxtls-world >"$log" 2>&1)
for _ in $(seq 1 120); do
    grep -q '^web: ' "$log" && break
    sleep 0.5
done
if ! grep -q '^web: ' "$log"; then
    cat "$log" >&2
    echo "the test world did not start" >&2
    exit 1
fi
sed -n '/^scenarios:/,/^$/p' "$log"
read -r -a serve <<<"$(sed -n 's/^web: mxtls //p' "$log")"
target/release/mxtls "${serve[@]}" --listen "${MXTLS_LISTEN:-127.0.0.1:8080}" --web-dir dist
