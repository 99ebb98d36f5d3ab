#!/usr/bin/env bash
# npm test: every test. Sets up what is missing (Rust target, wasm-bindgen CLI, npm packages, and as root
# the browsers: Chromium, Firefox ESR + geckodriver, WebKitGTK, WPE WebKit; cargo-fuzz), then:
# formatting, lints (native and wasm32), Rust unit and integration tests on SQLite, the server's tests
# again on a throwaway PostgreSQL (its API tests, the storage conformance suite, several instances on one
# database), a bounded fuzz run, one package build, schemathesis, the JS tests in Node, and the browser
# groups in each engine (scripts/engines.mjs): wasm-bindgen tests, the packed package and card fields, the
# demo journeys; plus Playwright's Chromium for requests, messages and the dashboard.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pg.sh"
ensure_rust
ensure_npm
ensure_browsers
ensure_cargo_fuzz
ensure_jwcrypto

say "cargo fmt --check"
cargo fmt --all --check
say "clippy (native)"
cargo clippy --quiet --workspace --all-targets -- -D warnings
say "clippy (wasm32)"
cargo clippy --quiet --target wasm32-unknown-unknown -p cardtoken --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown -p cardtoken-types --lib -- -D warnings

say "Rust tests (SQLite)"
cargo test --workspace

say "the server's tests on PostgreSQL (a throwaway cluster)"
PG_DIR="$(mktemp -d /tmp/cardtoken-pg.XXXXXX)"
cleanup() { pg_stop "$PG_DIR"; }
trap cleanup EXIT
pg_start "$PG_DIR"
CARDTOKEN_TEST_POSTGRES="$CARDTOKEN_TEST_POSTGRES" PG_DATA="$PG_DATA" cargo test -p cardtoken-server
pg_stop "$PG_DIR"
trap - EXIT

say "fuzzing (10 s per target)"
bash scripts/fuzz.sh --quick

bash scripts/build.sh
say "building the server for the end-to-end tests"
cargo build --quiet -p cardtoken-server

# The wasm tests tokenize against the real server, behind a proxy that records what reached it.
API_LOG="$(mktemp)"
node tests/support/recording-proxy.mjs > "$API_LOG" &
API_PID=$!
trap 'kill $API_PID 2>/dev/null || true; rm -f "$API_LOG"' EXIT
for _ in $(seq 100); do grep -q TEST_PK "$API_LOG" && break; sleep 0.1; done
TEST_API="$(sed -n 's/^TEST_API=//p' "$API_LOG")"
TEST_PK="$(sed -n 's/^TEST_PK=//p' "$API_LOG")"
[ -n "$TEST_API" ] && [ -n "$TEST_PK" ] || { echo "the test server did not start" >&2; exit 1; }

say "building the wasm tests (once, for every engine)"
WASM_TESTS="$(CARDTOKEN_TEST_API="$TEST_API" CARDTOKEN_TEST_PK="$TEST_PK" \
  cargo test --quiet --target wasm32-unknown-unknown -p cardtoken --no-run --message-format=json \
  | node -e 'let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
      for (const l of s.split("\n")) { if (!l) continue; const m = JSON.parse(l);
        if (m.reason === "compiler-artifact" && m.executable) console.log(m.executable); } });')"
[ -n "$WASM_TESTS" ] || { echo "no wasm test binary was built" >&2; exit 1; }

say "schemathesis against /openapi.json of a running server"
bash tests/schemathesis/run.sh

say "JavaScript tests in Node (API, conformance, types, size, webhooks, encryption interop)"
node --test --test-concurrency=1 tests/js/

say "browser engines: Chromium, Firefox ESR, WebKitGTK, WPE WebKit 2.38 (Safari 16)"
# shellcheck disable=SC2086 # one path per line
node scripts/engines.mjs $WASM_TESTS
