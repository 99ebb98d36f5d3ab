// The size gate: the core package (the main module and its wasm, what every page loads) stays at or under
// 25 KB gzipped, and each file beside it under its own budget. (`npm run bench` prints the figures.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { packageSize } from '../../bench/run.mjs';

const KB = 1024;
const size = packageSize();

test('the core package (index.js + its wasm) is at most 25 KB gzipped', () => {
  assert.ok(size.parts['index.js'].gzip > 0 && size.parts['cardtoken_wasm_bg.wasm'].gzip > 0);
  assert.ok(size.core.gzip <= 25 * KB, `${size.core.gzip} bytes gzipped`);
});

test('the files beside it stay small: fields.js 3 KB, cardtoken/element 1.5 KB, cardtoken/react 1.5 KB gzipped', () => {
  assert.ok(size.fields.gzip <= 3 * KB, `fields.js: ${size.fields.gzip} bytes gzipped`);
  assert.ok(size.element.gzip <= 1.5 * KB, `element.js: ${size.element.gzip} bytes gzipped`);
  assert.ok(size.react.gzip <= 1.5 * KB, `react.js: ${size.react.gzip} bytes gzipped`);
});
