# Sourced by scripts/run.sh and scripts/test.sh: installs what mxtls needs on a Debian machine
# that has only rustup's toolchain, skipping whatever is already there, and puts the tools on
# PATH. Versions are pinned where Trunk insists on exact ones (see ../shared/toolchain.md).

TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
MXTLS_TOOLS="${MXTLS_TOOLS:-$HOME/.cache/mxtls-tools}"

step() { printf '\n== %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
need_apt() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    step "apt-get install ${missing[*]}"
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# clang builds ring for wasm32; node/npm bring binaryen's wasm-opt; chromium runs the
# browser tests; NSD, Unbound, ldns, dig and Postfix make the test world (tests/world);
# openssl and brotli are the tests' independent oracles (digests, the bundle budget;
# openssl s_client also for the TLS posture), sslscan and testssl.sh the posture benchmark's
# peers; systemd-analyze (systemd) and caddy check the deployment files of deploy/;
# PostgreSQL's server is the cluster store the tests start in temporary directories.
# Postfix is preseeded to "No configuration" so that Debian's own instance is never set up
# or started: the world runs its own, on its own loopback address.
if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q "ok installed"; then
    echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
fi
need_apt clang ca-certificates openssl brotli chromium chromium-driver \
    nsd unbound ldnsutils bind9-dnsutils postfix iproute2 procps bc postgresql \
    sslscan testssl.sh systemd caddy
command -v npm >/dev/null || need_apt nodejs npm

# >>> MTA senders (tests/world/src/senders/) >>>
# Exim, Sendmail and OpenSMTPD as senders beside Postfix. Each provides mail-transport-agent,
# so installing one would remove Postfix: their packages are only downloaded and unpacked into
# "$MXTLS_MTA_DIR/<name>/" (never configured, never started by the system); their libraries
# are installed, and the system users their compiled-in defaults name are created as Debian's
# maintainer scripts would.
export MXTLS_MTA_DIR="${MXTLS_MTA_DIR:-$MXTLS_TOOLS/mta}"
need_apt m4 libidn12 libnsl2 libpcre2-8-0 libgnutls-dane0 libgnutls30 libldap-2.5-0 \
    liblockfile1 libsasl2-2 libwrap0 libevent-2.1-7 libpam0g zlib1g libdb5.3
for mta in "exim:exim4-daemon-light exim4-base" "sendmail:sendmail-bin sendmail-base sendmail-cf" \
    "opensmtpd:opensmtpd"; do
    name=${mta%%:*}
    [ -f "$MXTLS_MTA_DIR/$name/.extracted" ] && continue
    step "apt-get download ${mta#*:} (unpacked into $MXTLS_MTA_DIR/$name, not installed)"
    rm -rf "$MXTLS_MTA_DIR/debs/$name" "$MXTLS_MTA_DIR/$name"
    mkdir -p "$MXTLS_MTA_DIR/debs/$name" "$MXTLS_MTA_DIR/$name"
    # shellcheck disable=SC2086 # the package list splits on purpose
    if ! (cd "$MXTLS_MTA_DIR/debs/$name" && apt-get download -qq ${mta#*:} 2>/dev/null); then
        [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
        (cd "$MXTLS_MTA_DIR/debs/$name" && apt-get download -qq ${mta#*:})
    fi
    for deb in "$MXTLS_MTA_DIR/debs/$name"/*.deb; do dpkg -x "$deb" "$MXTLS_MTA_DIR/$name"; done
    touch "$MXTLS_MTA_DIR/$name/.extracted"
done
for group in Debian-exim smmta smmsp opensmtpd opensmtpq; do
    getent group "$group" >/dev/null || as_root groupadd --system "$group"
done
for user in Debian-exim:/var/spool/exim4 smmta:/var/lib/sendmail smmsp:/var/lib/sendmail \
    opensmtpd:/var/lib/opensmtpd/empty opensmtpq:/var/lib/opensmtpd/empty; do
    getent passwd "${user%%:*}" >/dev/null || as_root useradd --system --gid "${user%%:*}" \
        --home-dir "${user#*:}" --no-create-home --shell /usr/sbin/nologin "${user%%:*}"
done
# <<< MTA senders <<<

rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    step "rustup target add wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
}
for component in clippy rustfmt; do
    rustup component list --installed | grep -q "^$component" || rustup component add "$component"
done

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    step "cargo install trunk $TRUNK_VERSION (several minutes, once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
fi

# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock, or the build breaks.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
    step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION"
    # Not --locked: its lock file pins a crate the registry mirror lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
grep -q "wasm_bindgen = \"$WASM_BINDGEN_VERSION\"" Trunk.toml || {
    echo "Trunk.toml pins a wasm_bindgen other than Cargo.lock's $WASM_BINDGEN_VERSION" >&2
    exit 2
}

# cargo-fuzz, for scripts/fuzz.sh: only where the nightly toolchain is (fuzzing needs it; the
# fuzz step says so loudly where it is missing).
CARGO_FUZZ_VERSION=0.13.2
if rustup toolchain list | grep -q '^nightly' \
    && [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    step "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# Debian's binaryen is too old for wasm-bindgen 0.2.130's output; npm's is current.
if [ "$("$MXTLS_TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
    step "npm install binaryen@$BINARYEN_VERSION"
    mkdir -p "$MXTLS_TOOLS"
    npm install --silent --prefix "$MXTLS_TOOLS" "binaryen@$BINARYEN_VERSION" >/dev/null
fi
export PATH="$MXTLS_TOOLS/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# The browser tests' tools (playwright-core drives Debian's chromium; axe-core audits), at
# the versions in tests/browser/package-lock.json; reinstalled only when the lock changes.
browser_dir="$(dirname "${BASH_SOURCE[0]}")/../tests/browser"
if ! cmp -s "$browser_dir/package-lock.json" "$browser_dir/node_modules/.package-lock.json.installed"; then
    step "npm ci (tests/browser)"
    (cd "$browser_dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --silent --no-audit --no-fund >/dev/null \
        && cp package-lock.json node_modules/.package-lock.json.installed)
fi

# Trunk runs cargo --offline: fetch the dependencies first.
cargo fetch --quiet

# The web app: the checker's bundle into dist/, then the bundles of its two other pages, kept
# out of the home page's first load: the history (/d/<domain>) into dist/history/, the
# TLS-RPT report reader (/tls-rpt) into dist/tls-rpt/ and the portfolio (/b/<id>) into
# dist/portfolio/. The first build empties dist/, so the others come after it.
build_web() {
    step "trunk build --release (the web app, size profile; the history, report reader and portfolio bundles)"
    trunk build --release
    trunk build web/history.html --release --dist dist/history --public-url /history/
    trunk build web/tls-rpt.html --release --dist dist/tls-rpt --public-url /tls-rpt/
    trunk build web/portfolio.html --release --dist dist/portfolio --public-url /portfolio/
}
