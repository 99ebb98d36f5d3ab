#!/usr/bin/env bash
# npm test: every test. Sets up what is missing, then: formatting, lints (native and wasm32), Rust unit
# and integration tests, the package build, wasm tests in headless Chromium, and the JS tests (API,
# conformance with card-validator, types, size, end-to-end in Chromium).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
ensure_chromium

say "cargo fmt --check"
cargo fmt --all --check
say "clippy (native)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
say "clippy (wasm32)"
cargo clippy --quiet --target wasm32-unknown-unknown -p cardtoken --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown -p cardtoken-types --lib -- -D warnings

say "Rust tests"
cargo test --workspace

bash scripts/build.sh
say "building the server for the end-to-end tests"
cargo build --quiet -p cardtoken-server

# The stub tokenization endpoint for the wasm tests.
STUB_LOG="$(mktemp)"
node tests/support/stub-server.mjs > "$STUB_LOG" &
STUB_PID=$!
trap 'kill $STUB_PID 2>/dev/null || true; rm -f "$STUB_LOG"' EXIT
for _ in $(seq 50); do grep -q STUB_URL "$STUB_LOG" && break; sleep 0.1; done
STUB_URL="$(sed -n 's/^STUB_URL=//p' "$STUB_LOG")"
[ -n "$STUB_URL" ] || { echo "the stub server did not start" >&2; exit 1; }

say "wasm tests in headless Chromium"
CARDTOKEN_STUB_URL="$STUB_URL" \
CHROMEDRIVER=/usr/bin/chromedriver \
WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver.json" \
WASM_BINDGEN_TEST_TIMEOUT=120 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target wasm32-unknown-unknown -p cardtoken

say "schemathesis against /openapi.json of a running server"
bash tests/schemathesis/run.sh

say "JavaScript tests (node --test)"
node --test --test-concurrency=1 tests/js/ tests/e2e/
