// Conformance: the npm package card-validator 10 and ours, on the same inputs, with a fixed clock.
// Any disagreement fails, except the documented differences (contract §1): full-width digits and
// the ideographic space count for us; `month`/`year` are numbers with a four-digit year; we report
// month/year for whole dates that are expired too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { initSync, validateNumber, validateExpiry, validateCvc } from 'cardtoken';

const require = createRequire(import.meta.url);
const cv = require('card-validator');

initSync(readFileSync(new URL('../../pkg/cardtoken_wasm_bg.wasm', import.meta.url)));

const CV_NAMES = { 'american-express': 'amex', 'diners-club': 'diners' };

// card-validator reads `new Date()` inside; pin the global clock while it runs.
const RealDate = Date;
function atFixedClock(fixed, fn) {
  class FixedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(fixed);
      else super(...args);
    }
    static now() {
      return fixed;
    }
  }
  globalThis.Date = FixedDate;
  try {
    return fn();
  } finally {
    globalThis.Date = RealDate;
  }
}

// A small seeded generator, so a failure can be reproduced.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEST_NUMBERS = [
  // contract §3 and each brand's published test numbers
  '4242424242424242', '5555555555554444', '2223003122003222', '378282246310005', '6011111111111117',
  '3056930009020004', '3566002020360505', '6200000000000005', '4000000000000002', '4000000000009995',
  '4000000000009987', '4000000000009979', '4000000000006975', '4100000000000019', '4000000000000069',
  '4000000000000127', '4000000000000119', '4000002500003155', '4000000000003220', '4000008400001629',
  '4000000000000259', '4000000000005126', '4242424242424241', '4000056655665556', '5200828282828210',
  '371449635398431', '30569309025904', '36227206271667', '6011000990139424', '6011981111111113',
  '3530111333300000', '6362970000457013', '6370950000000005', '6062826786276634', '5895626746595650',
  '5061000000000000009', '6304000000000000', '5018000000000009', '2200000000000004', '9792030000000005',
  '6500830000000002', '8171999927660000', '6212345678901265', '4111111111111111111',
];

function numberInputs() {
  const inputs = new Set();
  for (const n of TEST_NUMBERS) {
    for (let i = 0; i <= n.length + 1; i++) {
      const p = (n + '4').slice(0, i);
      inputs.add(p);
      inputs.add(p.replace(/(\d{4})(?=\d)/g, '$1 '));
      inputs.add(p.replace(/(\d{4})(?=\d)/g, '$1-'));
    }
  }
  const r = rng(42);
  const digit = () => String(Math.floor(r() * 10));
  while (inputs.size < 20000) {
    const len = Math.floor(r() * 22);
    let s = '';
    for (let i = 0; i < len; i++) s += digit();
    inputs.add(s);
    // a real prefix with random continuation
    const base = TEST_NUMBERS[Math.floor(r() * TEST_NUMBERS.length)].slice(0, 1 + Math.floor(r() * 8));
    let t = base;
    while (t.length < 12 + Math.floor(r() * 9)) t += digit();
    inputs.add(t);
    // junk characters
    const alphabet = '0123456789 -x./\t';
    let u = '';
    for (let i = 0; i < Math.floor(r() * 10); i++) u += alphabet[Math.floor(r() * alphabet.length)];
    inputs.add(u);
  }
  return [...inputs];
}

function toFullWidth(s) {
  return s.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d)));
}

test('validateNumber agrees with card-validator number() on 20,000 inputs', () => {
  const inputs = numberInputs();
  const disagreements = [];
  for (const luhnUnionPay of [false, true]) {
    for (const s of inputs) {
      const theirs = cv.number(s, { luhnValidateUnionPay: luhnUnionPay });
      const ours = validateNumber(s, { luhnUnionPay });
      const theirBrand = theirs.card ? CV_NAMES[theirs.card.type] ?? theirs.card.type : null;
      if (
        ours.brand !== theirBrand ||
        ours.isValid !== theirs.isValid ||
        ours.isPotentiallyValid !== theirs.isPotentiallyValid
      ) {
        disagreements.push({ s, luhnUnionPay, ours, theirs: { brand: theirBrand, ...theirs, card: undefined } });
      }
      assert.equal(ours.error === null, ours.isValid, `error is set exactly when invalid: ${JSON.stringify(s)}`);
    }
  }
  assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
  assert.ok(inputs.length >= 20000);
});

test('documented difference: full-width digits read as their ASCII twins', () => {
  for (const n of TEST_NUMBERS) {
    const wide = toFullWidth(n.replace(/(\d{4})(?=\d)/g, '$1\u3000'));
    assert.deepEqual(validateNumber(wide), validateNumber(n), wide);
    assert.equal(cv.number(wide).isPotentiallyValid, false, 'card-validator refuses full-width digits');
  }
});

// Three "todays": mid-year, January, December.
const CLOCKS = [new RealDate(2026, 10, 24, 12), new RealDate(2027, 0, 1, 0, 0, 1), new RealDate(2030, 11, 31, 23)];

function expiryInputs(now) {
  const year = now.getFullYear();
  const inputs = new Set();
  const years = [year - 1, year, year + 1, year + 5, year + 19, year + 20, year + 40];
  for (let m = 0; m <= 13; m++) {
    for (const y of years) {
      const mm = String(m).padStart(2, '0');
      const yy = String(y % 100).padStart(2, '0');
      const yyyy = String(y);
      const formats = [
        `${mm}/${yy}`, `${mm} / ${yy}`, `${mm}/${yyyy}`, `${m}/${yy}`, `${mm}${yy}`, `${mm}${yyyy}`,
        `${mm} ${yy}`, `${mm} ${yyyy}`, `${yyyy}-${mm}`, `${yyyy}-${m}`, `${m}${yy}`, `${m} / ${yyyy}`,
      ];
      for (const f of formats) {
        // every prefix, as the user types it
        for (let i = 0; i <= f.length; i++) inputs.add(f.slice(0, i));
      }
    }
  }
  const r = rng(7);
  const alphabet = '0123456789/ -';
  while (inputs.size < 8000) {
    let s = '';
    for (let i = 0; i < 1 + Math.floor(r() * 9); i++) s += alphabet[Math.floor(r() * alphabet.length)];
    inputs.add(s);
  }
  return [...inputs];
}

test('validateExpiry agrees with card-validator expirationDate() at three fixed clocks', () => {
  const disagreements = [];
  let compared = 0;
  for (const now of CLOCKS) {
    for (const s of expiryInputs(now)) {
      const theirs = atFixedClock(now.getTime(), () => cv.expirationDate(s));
      const ours = validateExpiry(s, { now });
      compared++;
      let same = ours.isValid === theirs.isValid && ours.isPotentiallyValid === theirs.isPotentiallyValid;
      if (same && theirs.isValid) {
        const year = theirs.year.length === 2 ? 2000 + Number(theirs.year) : Number(theirs.year);
        same = ours.month === Number(theirs.month) && ours.year === year;
      }
      if (!same) disagreements.push({ now: now.toISOString(), s, ours, theirs });
      assert.equal(ours.error === null, ours.isValid);
    }
  }
  assert.deepEqual(disagreements.slice(0, 5), [], `${disagreements.length} disagreements`);
  assert.ok(compared > 20000, `${compared}`);
});

test('documented difference: full-width expiry digits, slash and space are read', () => {
  const now = CLOCKS[0];
  for (const s of ['12/30', '12 30', '1230', '2030-12', '1/2031']) {
    const wide = toFullWidth(s).replace('/', '\uff0f').replace(' ', '\u3000');
    assert.deepEqual(validateExpiry(wide, { now }), validateExpiry(s, { now }), wide);
  }
});

test('validateCvc agrees with card-validator cvv()', () => {
  const r = rng(3);
  const alphabet = '0123456789 a';
  for (let n = 0; n < 3000; n++) {
    let s = '';
    for (let i = 0; i < Math.floor(r() * 7); i++) s += alphabet[Math.floor(r() * alphabet.length)];
    for (const [brand, size] of [[undefined, [3, 4]], ['amex', 4], ['visa', 3], ['jcb', 3]]) {
      const theirs = cv.cvv(s, size);
      const ours = validateCvc(s, brand);
      assert.equal(ours.isValid, theirs.isValid, `${JSON.stringify(s)} ${brand}`);
      assert.equal(ours.isPotentiallyValid, theirs.isPotentiallyValid, `${JSON.stringify(s)} ${brand}`);
    }
  }
});
