#!/usr/bin/env bash
# npm run bench:server: builds the server (release) and measures it under wrk (bench/server/run.mjs):
# SQLite, then PostgreSQL with one and two instances. Installs wrk when missing (root).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    say "installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "wrk is needed: sudo apt-get install wrk" >&2
    exit 1
  fi
fi
say "building the server (release)"
cargo build --quiet --release -p cardtoken-server
rustc --edition 2021 -O -o target/release/one-client bench/server/one_client.rs
node bench/server/run.mjs
