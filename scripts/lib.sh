# Shared set-up for the project's commands: each installs what it needs and is missing.
# Sourced by build.sh, test.sh, start.sh and bench.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$ROOT/node_modules/.bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# The wasm-bindgen version in Cargo.lock: the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_rust() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  [ -f Cargo.lock ] || cargo generate-lockfile
  local want; want="$(wasm_bindgen_version)"
  if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
    say "installing wasm-bindgen-cli $want (about 3 minutes, once)"
    cargo install wasm-bindgen-cli --version "=$want"
  fi
}

ensure_npm() {
  if [ ! -d node_modules ] || [ package.json -nt node_modules/.package-lock.json ] \
     || { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
    say "installing npm packages"
    if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
  fi
  # React 18 for the React binding's tests, in a tree of its own (the root has React 19).
  if [ ! -d tests/react18/node_modules ] \
     || [ tests/react18/package-lock.json -nt tests/react18/node_modules/.package-lock.json ]; then
    npm ci --prefix tests/react18 --no-audit --no-fund --silent
  fi
}

# Debian packages for the browser tests, installed in one apt-get run when any is missing (as root; CI is).
BROWSER_PACKAGES=(
  chromium chromium-driver          # Chromium
  firefox-esr                       # Firefox ESR (its WebDriver, geckodriver, comes from crates.io)
  webkit2gtk-driver xvfb xauth      # WebKitGTK: WebKitWebDriver drives MiniBrowser on a virtual display
  wpewebkit-driver cog              # WPE WebKit 2.38, Safari 16's engine: WPEWebDriver drives cog, headless
)
BROWSER_FILES=(/usr/bin/chromium /usr/bin/chromedriver /usr/bin/firefox-esr /usr/bin/WebKitWebDriver
  /usr/bin/xvfb-run /usr/bin/xauth /usr/bin/WPEWebDriver /usr/bin/cog)

ensure_browsers() {
  local missing=0 f
  for f in "${BROWSER_FILES[@]}"; do [ -x "$f" ] || missing=1; done
  if [ "$missing" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "The browser tests need: sudo apt-get install ${BROWSER_PACKAGES[*]}" >&2
      exit 1
    fi
    say "installing the browsers and their WebDriver servers: ${BROWSER_PACKAGES[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${BROWSER_PACKAGES[@]}" >/dev/null
  fi
  if ! command -v geckodriver >/dev/null; then
    say "installing geckodriver (Firefox's WebDriver server; about 2 minutes, once)"
    cargo install geckodriver
  fi
}

# Chromium alone, for the benchmark.
ensure_chromium() {
  if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "Chromium is needed: run 'sudo apt-get install chromium chromium-driver'." >&2
    exit 1
  fi
  say "installing Debian's chromium and chromium-driver"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
}

# cargo-fuzz for scripts/fuzz.sh (npm run fuzz, and its short run in npm test), at the version it was
# tried with.
CARGO_FUZZ_VERSION=0.13.2
ensure_cargo_fuzz() {
  if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "$CARGO_FUZZ_VERSION" ]; then
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)"
    cargo install cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
  fi
}

# jwcrypto (PyPI) in a venv under target/, for the encryption interop tests (tests/js/encryption.test.mjs).
JWCRYPTO_VERSION=1.6.1
ensure_jwcrypto() {
  local venv="$PWD/target/jwcrypto-venv"
  if ! "$venv/bin/python" -c "import sys; from importlib.metadata import version; sys.exit(version('jwcrypto') != '$JWCRYPTO_VERSION')" 2>/dev/null; then
    say "installing jwcrypto $JWCRYPTO_VERSION (PyPI) into target/jwcrypto-venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "jwcrypto==$JWCRYPTO_VERSION"
  fi
  export CARDTOKEN_JWCRYPTO_PYTHON="$venv/bin/python"
}
