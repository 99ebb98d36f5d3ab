#!/usr/bin/env bash
# npm run bench: builds the package and the server (release), then measures them in headless Chromium
# (bench/run.mjs: validation speed, the package's size, the card fields' time to ready and bytes).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
ensure_chromium
bash scripts/build.sh
say "building the server (release)"
cargo build --quiet --release -p cardtoken-server
CARDTOKEN_SERVER_BIN="$ROOT/target/release/cardtoken-server" node bench/run.mjs
