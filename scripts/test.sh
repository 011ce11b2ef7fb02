#!/usr/bin/env bash
# Every test mxtls has, from a clean checkout: installs what is missing, then checks format and
# lints, proves mxtls-core and the web app build for wasm32, and runs the test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# One-shot builds gain nothing from incremental caches (11 GB of target/debug/incremental).
export CARGO_INCREMENTAL=0

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "mxtls-core and the web app build for wasm32-unknown-unknown"
cargo clippy -p mxtls-core -p mxtls-web --target wasm32-unknown-unknown --locked -- -D warnings

build_web

step "first-load budget: what the home page loads, brotli, at most 350 KB"
cargo test -p mxtls-server --locked --test bundle -- --nocapture

step "deployment files: systemd unit, settings, Containerfile (built where podman can run), Caddyfile"
cargo test -p mxtls --locked --test deploy -- --nocapture

step "mxtls-core in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p mxtls-core --target wasm32-unknown-unknown --locked --test browser

step "cargo test, beside a mail and a web server (ports 25 and 443 held on every address)"
# The users of mxtls run mail servers: the suite must pass while something else holds port 25
# (Debian's exim: 127.0.0.1:25 and [::1]:25; Postfix with inet_interfaces = all: every
# address) and 443. The holder stands in for them; it exits when this script does.
cargo build --locked -q -p mxtls-world
hold_log="$(mktemp)"
exec 4> >(exec target/debug/mxtls-world --hold-ports 25,443 >"$hold_log" 2>&1)
for _ in $(seq 1 50); do grep -q '^holding' "$hold_log" && break; sleep 0.1; done
for port in 25 443; do
    if ! ss -ltnH "sport = :$port" | grep -q .; then
        cat "$hold_log" >&2
        echo "nothing holds port $port: the coexistence proof would be empty" >&2
        exit 1
    fi
done
cargo test --workspace --locked

step "the server's tests again, on PostgreSQL (a throw-away cluster per test, on loopback)"
MXTLS_TEST_STORE=postgres cargo test -p mxtls-server --locked --tests
exec 4>&-

step "fuzzing: every target a few seconds from its seeds and fixed crashes (bench: scripts/fuzz.sh)"
scripts/fuzz.sh --seconds 4
