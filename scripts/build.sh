#!/usr/bin/env bash
# npm run build: the npm package in pkg/ (wasm + wasm-bindgen glue + the public JS layer and types).
source "$(dirname "$0")/lib.sh"
ensure_rust
ensure_npm
say "building the wasm package"
# Panic locations name source files: shorten their paths (they ship inside the wasm).
RUSTFLAGS="-C target-feature=-reference-types --remap-path-prefix=$HOME/.cargo/registry/src= --remap-path-prefix=$ROOT=cardtoken" \
  cargo build --quiet --target wasm32-unknown-unknown --release -p cardtoken
rm -rf pkg target/bindgen && mkdir -p pkg target/bindgen
# Rust turns reference types on for wasm32, and wasm-bindgen would then keep JS values in an externref
# table, which Safari 16.0–16.3 (WebKit 2.38) cannot run. Without the feature in the module's
# target_features, wasm-bindgen keeps them in a JS array instead; the code itself never uses the feature.
node scripts/drop-wasm-feature.mjs target/wasm32-unknown-unknown/release/cardtoken.wasm \
  target/bindgen/input.wasm reference-types
wasm-bindgen --target web --no-typescript --out-dir target/bindgen --out-name cardtoken_wasm \
  target/bindgen/input.wasm
# Size first (-Oz); strip here rather than in the cargo profile, which must keep target features.
# Low memory (the bottom of the 1 MB stack, which Rust places first) is never reached: a few loads fold.
wasm-opt -Oz --converge --low-memory-unused --strip-debug --strip-producers --strip-target-features \
  target/bindgen/cardtoken_wasm_bg.wasm -o pkg/cardtoken_wasm_bg.wasm
# The oldest engine we support runs only these WebAssembly features (Safari 15: MVP, mutable globals,
# sign extension, non-trapping float-to-int, bulk memory, multi-value; no reference types, no SIMD):
# the module must validate with them alone.
if ! wasm-opt --mvp-features --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int \
     --enable-bulk-memory --enable-multivalue pkg/cardtoken_wasm_bg.wasm -o /dev/null >target/bindgen/features.log 2>&1; then
  grep -m5 'requires' target/bindgen/features.log >&2 || head -5 target/bindgen/features.log >&2
  echo "pkg/cardtoken_wasm_bg.wasm needs a WebAssembly feature Safari 15 lacks (above)" >&2
  exit 1
fi
# The JavaScript (scripts/bundle.mjs): the core module (js/index.js with the wasm-bindgen glue inlined; the
# glue's `new URL('cardtoken_wasm_bg.wasm', import.meta.url)` stays, so browsers and bundlers find the
# wasm), fields.js, element.js, react.js and their types, the frame's assets (pkg/frame/: script, style and
# wasm, each precompressed) and integrity.json.
node scripts/bundle.mjs
say "pkg/ ready: $(wc -c < pkg/cardtoken_wasm_bg.wasm) bytes of wasm"
