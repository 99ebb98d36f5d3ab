// Removes features from a wasm module's `target_features` custom section (the section LLVM writes and
// wasm-bindgen reads), leaving every other byte as it is. build.sh drops `reference-types` before
// wasm-bindgen so that it emits the classic JS-heap glue instead of an externref table: Safari 16.0–16.3
// (and WebKit 2.38) fail on that table ("Out of bounds table access"). Rust's code itself never uses
// reference types; only wasm-bindgen's glue would.
//   node scripts/drop-wasm-feature.mjs IN.wasm OUT.wasm FEATURE…
import { readFileSync, writeFileSync } from 'node:fs';

function readLeb(bytes, pos) {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, pos];
}

function leb(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

const name = (s) => Buffer.concat([leb(Buffer.byteLength(s)), Buffer.from(s)]);

/** Returns the module with `drop` removed from its target_features section, and the features it had. */
export function dropFeatures(bytes, drop) {
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  const out = [bytes.subarray(0, 8)];
  let had = null;
  for (let pos = 8; pos < bytes.length;) {
    const [size, start] = readLeb(bytes, pos + 1);
    const end = start + size;
    if (bytes[pos] === 0) {
      const [nameLength, at] = readLeb(bytes, start);
      if (bytes.subarray(at, at + nameLength).toString() === 'target_features') {
        let [count, p] = readLeb(bytes, at + nameLength);
        const kept = [];
        had = [];
        for (; count > 0; count--) {
          const prefix = bytes[p];
          const [length, s] = readLeb(bytes, p + 1);
          const feature = bytes.subarray(s, s + length).toString();
          p = s + length;
          had.push(feature);
          if (!drop.includes(feature)) kept.push(Buffer.concat([Buffer.from([prefix]), name(feature)]));
        }
        const body = Buffer.concat([name('target_features'), leb(kept.length), ...kept]);
        out.push(Buffer.from([0]), leb(body.length), body);
        pos = end;
        continue;
      }
    }
    out.push(bytes.subarray(pos, end));
    pos = end;
  }
  return { bytes: Buffer.concat(out), had };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const [input, output, ...drop] = process.argv.slice(2);
  const { bytes, had } = dropFeatures(readFileSync(input), drop);
  if (had === null) throw new Error(`${input} has no target_features section`);
  writeFileSync(output, bytes);
}
