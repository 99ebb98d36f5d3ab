// Runs in headless Chromium (bench/run.mjs bundles it with card-validator and the built package).
import init, { validateNumber, validateExpiry } from 'cardtoken';
import cardValidator from 'card-validator';
import { encryptCompact } from '../js/jwe.js';

const TEST_NUMBERS = ['4242424242424242', '5555555555554444', '378282246310005', '6011111111111117',
  '3056930009020004', '3566002020360505', '6200000000000005', '2223003122003222', '6362970000457013',
  '4000002500003155', '4242424242424241'];

// What a checkout sees: every prefix as the user types, formatted and raw, plus some junk.
function numberInputs() {
  const out = [];
  for (const n of TEST_NUMBERS) {
    for (let i = 1; i <= n.length; i++) {
      const p = n.slice(0, i);
      out.push(p, p.replace(/(\d{4})(?=\d)/g, '$1 '));
    }
  }
  out.push('', '4242-4242-4242-4242', 'abcd', '0000', '4242 4242 4242 4242 4242');
  return out;
}

function expiryInputs() {
  const out = [];
  for (const f of ['12/30', '1/29', '0427', '11 / 2031', '2030-06', '12 34', '13/30', '01/20']) {
    for (let i = 1; i <= f.length; i++) out.push(f.slice(0, i));
  }
  return out;
}

// Calls per second of fn over inputs, in rounds of at least `ms` milliseconds; best of 5 rounds.
function rate(fn, inputs, ms = 300) {
  let sink = 0;
  for (let w = 0; w < 3; w++) for (const s of inputs) sink += fn(s).isValid ? 1 : 0; // warm-up
  let best = 0;
  for (let round = 0; round < 5; round++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      for (const s of inputs) sink += fn(s).isValid ? 1 : 0;
      calls += inputs.length;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, (calls / elapsed) * 1000);
  }
  globalThis.__sink = sink;
  return best;
}

window.runBench = async () => {
  await init(new URL('/pkg/cardtoken_wasm_bg.wasm', location.href));
  const numbers = numberInputs();
  const expiries = expiryInputs();
  // Same answers first: a benchmark of different work would mean nothing.
  for (const s of numbers) {
    if (validateNumber(s).isValid !== cardValidator.number(s).isValid) throw new Error(`disagree on ${s}`);
  }
  return {
    numberInputs: numbers.length,
    expiryInputs: expiries.length,
    oursNumber: rate((s) => validateNumber(s), numbers),
    theirsNumber: rate((s) => cardValidator.number(s), numbers),
    oursExpiry: rate((s) => validateExpiry(s), expiries),
    theirsExpiry: rate((s) => cardValidator.expirationDate(s), expiries),
    encryption: await encryptionTimes(),
    userAgent: navigator.userAgent,
  };
};

// What encrypting a card to the server's key (the package's default) costs per tokenization: the
// package's own code (js/jwe.js: an ephemeral ECDH key pair, ECDH, the KDF, AES-GCM), to a P-256 key.
async function encryptionTimes() {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid: 'ek_bench' };
  const card = '{"number":"4242424242424242","exp_month":12,"exp_year":2034,"cvc":"123"}';
  for (let i = 0; i < 20; i++) await encryptCompact(jwk, card, 1); // warm-up
  const times = [];
  for (let i = 0; i < 300; i++) {
    const t = performance.now();
    await encryptCompact(jwk, card, 1);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { samples: times.length, p50: times[150], p95: times[285] };
}
window.benchReady = true;
