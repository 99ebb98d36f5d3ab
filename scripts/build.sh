#!/usr/bin/env bash
# npm run build: the npm package in pkg/ (wasm + wasm-bindgen glue + the public JS layer and types).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
say "building the wasm package"
# Panic locations name source files: shorten their paths (they ship inside the wasm).
RUSTFLAGS="--remap-path-prefix=$HOME/.cargo/registry/src= --remap-path-prefix=$ROOT=cardtoken" \
  cargo build --quiet --target wasm32-unknown-unknown --release -p cardtoken
rm -rf pkg target/bindgen && mkdir -p pkg
wasm-bindgen --target web --no-typescript --out-dir target/bindgen --out-name cardtoken_wasm \
  target/wasm32-unknown-unknown/release/cardtoken.wasm
# Size first (-Oz); strip here rather than in the cargo profile, which must keep target features.
wasm-opt -Oz --converge --strip-debug --strip-producers --strip-target-features \
  target/bindgen/cardtoken_wasm_bg.wasm -o pkg/cardtoken_wasm_bg.wasm
# One minified ES module: the public layer (js/index.js) with the wasm-bindgen glue inlined. The glue's
# `new URL('cardtoken_wasm_bg.wasm', import.meta.url)` stays, so browsers and bundlers find the wasm.
cp js/index.js target/bindgen/index.js
esbuild target/bindgen/index.js --bundle --format=esm --minify --legal-comments=none \
  --target=es2020 --log-level=warning --outfile=pkg/index.js
cp js/index.d.ts pkg/
say "pkg/ ready: $(wc -c < pkg/cardtoken_wasm_bg.wasm) bytes of wasm"
