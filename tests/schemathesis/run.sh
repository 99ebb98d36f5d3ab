#!/usr/bin/env bash
# Schemathesis against /openapi.json of a running server: no server error (5xx) and no response that
# breaks the schema, on every operation. Installs schemathesis (PyPI) into target/ once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/target/schemathesis-venv"
VERSION=4.32.5
if [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $3}')" != "$VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

DATA="$(mktemp -d)"
LOG="$(mktemp)"
CARDTOKEN_DATA_DIR="$DATA" CARDTOKEN_LISTEN=127.0.0.1:0 CARDTOKEN_DEMO_LISTEN=off RUST_LOG=warn \
  "$ROOT/target/debug/cardtoken-server" serve > "$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; rm -rf "$DATA" "$LOG"' EXIT
for _ in $(seq 100); do grep -q "secret key" "$LOG" && break; sleep 0.1; done
API="$(sed -n 's/^cardtoken API listening on //p' "$LOG")"
SK="$(sed -n 's/^ *secret key: *\([^ ]*\).*/\1/p' "$LOG")"
[ -n "$API" ] && [ -n "$SK" ] || { cat "$LOG" >&2; echo "the server did not start" >&2; exit 1; }

"$VENV/bin/schemathesis" run "$API/openapi.json" \
  --checks not_a_server_error,response_schema_conformance \
  --header "Authorization: Bearer $SK" \
  --max-examples 40 --seed 20261124 --request-timeout 10 --no-color
