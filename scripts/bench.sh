#!/usr/bin/env bash
# npm run bench: builds the package, then measures it in headless Chromium (bench/run.mjs).
source "$(dirname "$0")/lib.sh"
ensure_chromium
bash scripts/build.sh
node bench/run.mjs
