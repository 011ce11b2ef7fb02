#!/usr/bin/env bash
# Every test mxtls has, from a clean checkout: installs what is missing, then checks format and
# lints, proves mxtls-core and the web app build for wasm32, and runs the test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (native, all targets)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "mxtls-core and the web app build for wasm32-unknown-unknown"
cargo clippy -p mxtls-core -p mxtls-web --target wasm32-unknown-unknown --locked -- -D warnings

step "trunk build --release (the web app, size profile)"
trunk build --release

step "first-load budget: what the home page loads, brotli, at most 350 KB"
cargo test -p mxtls-server --locked --test bundle -- --nocapture

step "mxtls-core in headless Chromium (wasm-bindgen-test)"
CHROMEDRIVER=/usr/bin/chromedriver \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p mxtls-core --target wasm32-unknown-unknown --locked --test browser

step "cargo test"
cargo test --workspace --locked
