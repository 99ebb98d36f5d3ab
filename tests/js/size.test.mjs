// The size gate: what the npm package ships (wasm + JS) stays under 40 KB gzipped.
// (`npm run bench` prints the size against the 30 KB target.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packageSize } from '../../bench/run.mjs';

test('the shipped package is at most 40 KB gzipped', () => {
  const { gzip, parts } = packageSize();
  assert.ok(parts['cardtoken_wasm_bg.wasm'] && parts['index.js'], 'the package ships the wasm and its JS');
  assert.ok(gzip <= 40 * 1024, `${gzip} bytes gzipped`);
});
