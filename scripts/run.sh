#!/usr/bin/env bash
# Builds the web app and the server, and serves the checker on localhost
# (MXTLS_LISTEN overrides 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

build_web
step "cargo build --release -p mxtls"
cargo build --release --locked -p mxtls
exec target/release/mxtls serve --listen "${MXTLS_LISTEN:-127.0.0.1:8080}" --web-dir dist
