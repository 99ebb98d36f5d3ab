#!/usr/bin/env bash
# npm start: builds the package and the server, then serves the API on http://127.0.0.1:4242 and the
# demo checkout on http://localhost:4243, with an SQLite file in ./data. The first start prints a key pair.
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
bash scripts/build.sh
say "building the server (release)"
cargo build --quiet --release -p cardtoken-server
# A development server on loopback: the demo shop's webhook receiver is on localhost, so endpoints may
# be private addresses here (the server's default refuses them).
export CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS="${CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS:-true}"
exec target/release/cardtoken-server serve
