// The package's public API as a customer imports it (`from 'cardtoken'`), against the real server behind
// a recording proxy (every answer is the API's own; the proxy keeps what reached the network).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as cardtoken from 'cardtoken';
import { startRecordingProxy } from '../support/recording-proxy.mjs';
import { startServer } from '../support/server.mjs';

const { initSync, load, validateNumber, validateExpiry, validateCvc, formatNumber, cardBrands, CardtokenError,
  isCardtokenError } = cardtoken;

initSync(readFileSync(new URL('../../pkg/cardtoken_wasm_bg.wasm', import.meta.url)));

let api;
let stub;
let PK;
const console_ = [];
const originals = {};
before(async () => {
  api = await startServer();
  PK = api.pk;
  stub = await startRecordingProxy(api.api, { dataDir: api.dataDir });
  // Everything the package might print goes here, to prove it prints no card data.
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    originals[level] = console[level];
    console[level] = (...args) => console_.push(args.map(String).join(' '));
  }
});
after(async () => {
  Object.assign(console, originals);
  await stub.close();
  await api.stop();
});

const VALID = { number: '4242 4242 4242 4242', exp_month: 12, exp_year: 2034, cvc: '123', name: 'Jane Doe' };
const CARD_DIGITS = /4242424242424242|4000000000000002|4242 4242 4242 4242/;

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

test('the module exports exactly the documented API', () => {
  // (CardFields is a type only: its code is in fields.js, which load() imports.)
  assert.deepEqual(Object.keys(cardtoken).sort(), [
    'Cardtoken', 'CardtokenError', 'cardBrands', 'default', 'formatNumber', 'init', 'initSync', 'isCardtokenError',
    'load', 'validateCvc', 'validateExpiry', 'validateNumber',
  ]);
  assert.equal(cardtoken.default, cardtoken.init);
  assert.equal(cardBrands().length, 15);
  assert.deepEqual(cardBrands().map((b) => b.name).slice(0, 4), ['visa', 'mastercard', 'amex', 'diners']);
});

test('results are plain objects with the contract fields, and shared arrays are frozen', () => {
  const r = validateNumber('3782 822463 10005');
  assert.deepEqual(Object.keys(r), ['brand', 'candidates', 'isValid', 'isPotentiallyValid', 'lengths', 'gaps',
    'cvcLengths', 'error']);
  assert.deepEqual({ ...r }, { brand: 'amex', candidates: ['amex'], isValid: true, isPotentiallyValid: true,
    lengths: [15], gaps: [4, 10], cvcLengths: [4], error: null });
  assert.ok(Object.isFrozen(r.lengths));
  const undecided = validateNumber('6');
  assert.equal(undecided.brand, null);
  assert.deepEqual(undecided.lengths, [12, 13, 14, 15, 16, 17, 18, 19], 'the union over the candidates');
  assert.deepEqual(validateExpiry('2030-04', { now: new Date(2026, 10, 1) }),
    { month: 4, year: 2030, isValid: true, isPotentiallyValid: true, error: null });
  assert.deepEqual(validateCvc('123', 'amex'), { isValid: false, isPotentiallyValid: true, error: 'incomplete_cvc' });
  assert.equal(formatNumber('4242424242424242'), '4242 4242 4242 4242');
});

test('no input makes a validation function throw', () => {
  const inputs = [undefined, null, 42, 4242424242424242, {}, [], Symbol('x'), '\u0000', '𝟒𝟐', 'x'.repeat(100000)];
  for (const v of inputs) {
    assert.equal(typeof validateNumber(v).isValid, 'boolean');
    assert.equal(typeof validateExpiry(v).isValid, 'boolean');
    assert.equal(typeof validateCvc(v, v).isValid, 'boolean');
    assert.equal(typeof formatNumber(v), 'string');
  }
  assert.equal(validateNumber(4242424242424242).isValid, true, 'numbers are read as card-validator reads them');
  assert.equal(validateExpiry('12/30', { now: 'not a date' }).isValid, true, 'a bad `now` falls back to the clock');
});

test('load refuses a secret key, a malformed key and a bad apiBase with typed errors', async () => {
  for (const [key, base, code] of [
    ['sk_test_abc', undefined, 'secret_key_in_browser'],
    ['pk_test_', undefined, 'invalid_publishable_key'],
    [undefined, undefined, 'invalid_publishable_key'],
    ['pk_test_abc', 'javascript:alert(1)', 'invalid_api_base'],
  ]) {
    const e = await rejection(load(key, { apiBase: base }));
    assert.ok(e instanceof CardtokenError && e instanceof Error && isCardtokenError(e));
    assert.equal(e.name, 'CardtokenError');
    assert.equal(e.type, 'validation_error');
    assert.equal(e.code, code);
  }
});

test('createToken posts the card once, with the key, in the body only, and resolves the token', async () => {
  stub.requests.length = 0;
  const ct = await load(PK, { apiBase: stub.url + '/' });
  const token = await ct.createToken(VALID);
  assert.match(token.id, /^tok_/);
  assert.deepEqual({ ...token.card, fingerprint: typeof token.card.fingerprint },
    { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: 'string' });
  assert.doesNotMatch(JSON.stringify(token), CARD_DIGITS);
  const posts = stub.requests.filter((r) => r.method === 'POST');
  assert.equal(posts.length, 1);
  const [req] = posts;
  assert.equal(req.url, '/v1/tokens');
  assert.equal(req.headers.authorization, `Bearer ${PK}`);
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers.cookie, undefined);
  // Encrypted to the server's key: the body is a JWE and holds nothing of the card.
  assert.deepEqual(Object.keys(JSON.parse(req.body)), ['card_jwe']);
  assert.doesNotMatch(req.body, /4242|"cvc"|Jane|2034/);
  assert.deepEqual(req.card, { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123', name: 'Jane Doe' });
});

test('the keys are fetched once for every client of a page; encrypt: false sends the card in clear', async () => {
  await (await load(PK, { apiBase: stub.url })).createToken(VALID); // the keys are cached from here on
  stub.requests.length = 0;
  for (let i = 0; i < 2; i += 1) await (await load(PK, { apiBase: stub.url })).createToken(VALID);
  assert.deepEqual(stub.requests.map((r) => `${r.method} ${r.url}`), ['POST /v1/tokens', 'POST /v1/tokens']);
  stub.requests.length = 0;
  await (await load(PK, { apiBase: stub.url, encrypt: false })).createToken(VALID);
  assert.deepEqual(JSON.parse(stub.requests[0].body), {
    card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123', name: 'Jane Doe' },
  });
});

test('a key retired since the page fetched the keys: the package fetches them again, once, and succeeds', async () => {
  const ct = await load(PK, { apiBase: stub.url });
  await ct.createToken(VALID); // the current key is cached
  const before = (await (await fetch(`${api.api}/.well-known/jwks.json`)).json()).keys[0].kid;
  const out = execFileSync(process.env.CARDTOKEN_SERVER_BIN || 'target/debug/cardtoken-server',
    ['keys', 'rotate-encryption', '--grace', '0'], { env: { ...process.env, CARDTOKEN_DATA_DIR: api.dataDir }, encoding: 'utf8' });
  const kid = out.match(/encryption key (\S+) is current/)[1];
  assert.notEqual(kid, before);
  // The running server picks the rotation up within seconds.
  for (let i = 0; i < 100; i += 1) {
    const { keys } = await (await fetch(`${api.api}/.well-known/jwks.json`)).json();
    if (keys[0].kid === kid && keys.length === 1) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  stub.requests.length = 0;
  const token = await ct.createToken(VALID);
  assert.match(token.id, /^tok_/);
  assert.deepEqual(stub.requests.map((r) => `${r.method} ${r.url}`),
    ['POST /v1/tokens', 'GET /.well-known/jwks.json', 'POST /v1/tokens'], 'refused once, keys again, sent again');
  const kids = stub.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(Buffer.from(JSON.parse(r.body).card_jwe.split('.')[0], 'base64url')).kid);
  assert.deepEqual(kids, [before, kid]);
});

/** A stand-in for a proxy between the page and the API that answers the keys with a 404 and passes the rest on. */
async function keysHidden() {
  const http = await import('node:http');
  const seen = [];
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    seen.push({ method: req.method, url: req.url, body });
    if (req.url.startsWith('/.well-known/jwks.json')) {
      res.writeHead(404, { 'access-control-allow-origin': '*' }).end();
      return;
    }
    const r = await fetch(stub.url + req.url, { method: req.method, headers: { authorization: req.headers.authorization,
      'content-type': req.headers['content-type'] ?? 'application/json' }, body: req.method === 'GET' ? undefined : body });
    res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test("where no key is published, the card goes in clear by default, and with encrypt: 'required' not at all", async () => {
  const hidden = await keysHidden();
  try {
    const token = await (await load(PK, { apiBase: hidden.url })).createToken(VALID);
    assert.match(token.id, /^tok_/);
    const posted = hidden.seen.filter((r) => r.method === 'POST');
    assert.equal(posted.length, 1);
    assert.ok(JSON.parse(posted[0].body).card, 'the default falls back to the card in clear (inside TLS)');
    hidden.seen.length = 0;
    const e = await rejection((await load(PK, { apiBase: hidden.url, encrypt: 'required' })).createToken(VALID));
    assert.ok(isCardtokenError(e));
    assert.equal(e.code, 'encryption_unavailable');
    assert.deepEqual(hidden.seen.filter((r) => r.method === 'POST'), [], 'nothing was sent');
  } finally {
    await hidden.close();
  }
});

test("without WebCrypto (an insecure context), the card goes in clear by default, and with encrypt: 'required' not at all", async () => {
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
  try {
    stub.requests.length = 0;
    const token = await (await load(PK, { apiBase: stub.url })).createToken(VALID);
    assert.match(token.id, /^tok_/);
    assert.ok(JSON.parse(stub.requests.find((r) => r.method === 'POST').body).card, 'in clear');
    stub.requests.length = 0;
    const e = await rejection((await load(PK, { apiBase: stub.url, encrypt: 'required' })).createToken(VALID));
    assert.equal(e.code, 'encryption_unavailable');
    assert.deepEqual(stub.requests.filter((r) => r.method === 'POST'), []);
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
});

test('string months and two-digit years are accepted as people type them', async () => {
  stub.requests.length = 0;
  const ct = await load(PK, { apiBase: stub.url });
  await ct.createToken({ number: '５５５５５５５５５５５５４４４４', exp_month: '03', exp_year: '34', cvc: '１２３' });
  assert.deepEqual(stub.requests.find((r) => r.method === 'POST').card,
    { number: '5555555555554444', exp_month: 3, exp_year: 2034, cvc: '123' });
});

test('invalid cards are rejected before any request, naming the field and never the number', async () => {
  stub.requests.length = 0;
  const ct = await load(PK, { apiBase: stub.url });
  const cases = [
    [{ ...VALID, number: '4242 4242 4242 4241' }, 'number', 'invalid_number'],
    [{ ...VALID, number: '' }, 'number', 'incomplete_number'],
    [{ ...VALID, number: undefined }, 'number', 'incomplete_number'],
    [{ ...VALID, exp_month: 0 }, 'exp_month', 'invalid_expiry_month'],
    [{ ...VALID, exp_month: 'December' }, 'exp_month', 'invalid_expiry_month'],
    [{ ...VALID, exp_year: 2020 }, 'exp_month', 'expired_card'],
    [{ ...VALID, exp_year: 2099 }, 'exp_year', 'invalid_expiry_year'],
    [{ ...VALID, cvc: '12' }, 'cvc', 'incomplete_cvc'],
    [{ ...VALID, cvc: '12a' }, 'cvc', 'invalid_cvc'],
    [{ ...VALID, name: 'x'.repeat(201) }, 'name', 'invalid_name'],
    [null, 'card', 'invalid_card'],
    ['4242424242424242', 'card', 'invalid_card'],
  ];
  for (const [card, param, code] of cases) {
    const e = await rejection(ct.createToken(card));
    assert.ok(e instanceof CardtokenError);
    assert.deepEqual([e.type, e.param, e.code], ['validation_error', param, code], JSON.stringify(card));
    assert.doesNotMatch(`${e.message} ${e.stack}`, CARD_DIGITS);
  }
  assert.equal(stub.requests.length, 0, 'nothing reached the network');
});

test('tokenizing a decline test card succeeds: cards are declined at payment, never at tokenization', async () => {
  const ct = await load(PK, { apiBase: stub.url });
  const token = await ct.createToken({ ...VALID, number: '4000000000000002' });
  assert.match(token.id, /^tok_/);
  assert.equal(token.card.last4, '0002');
});

test('API failures reject with the API error object and status', async () => {
  const ct = await load(PK, { apiBase: stub.url });
  const badGateway = await rejection(ct.createToken({ ...VALID, name: 'bad gateway' }));
  assert.deepEqual([badGateway.type, badGateway.code, badGateway.status], ['api_error', 'unexpected_response', 502]);
  const wrongKey = await load('pk_test_other', { apiBase: stub.url });
  const unauth = await rejection(wrongKey.createToken(VALID));
  assert.deepEqual([unauth.type, unauth.code, unauth.status], ['authentication_error', 'invalid_api_key', 401]);
  // One tokenization a minute: the second is the API's 429.
  const limited = await startServer({ CARDTOKEN_TOKEN_RATE_PER_MINUTE: '1' });
  try {
    const one = await load(limited.pk, { apiBase: limited.api });
    await one.createToken(VALID);
    const e = await rejection(one.createToken(VALID));
    assert.deepEqual([e.type, e.status], ['rate_limit_error', 429]);
  } finally {
    limited.stop();
  }
});

test('an unreachable API and a slow one reject with api_connection_error', async () => {
  const down = await load(PK, { apiBase: 'http://127.0.0.1:9' });
  const e = await rejection(down.createToken(VALID));
  assert.deepEqual([e.type, e.code], ['api_connection_error', 'network_error']);
  const slow = await load(PK, { apiBase: stub.url, timeoutMs: 200 });
  const t = await rejection(slow.createToken({ ...VALID, name: 'slow' }));
  assert.deepEqual([t.type, t.code], ['api_connection_error', 'timeout']);
});

test('without AbortSignal.timeout (Safari 15) requests still time out, and still succeed', { timeout: 20000 }, async () => {
  const original = AbortSignal.timeout;
  AbortSignal.timeout = undefined;
  try {
    const slow = await load(PK, { apiBase: stub.url, timeoutMs: 200 });
    const t = await rejection(slow.createToken({ ...VALID, name: 'slow' }));
    assert.deepEqual([t.type, t.code], ['api_connection_error', 'timeout']);
    const token = await (await load(PK, { apiBase: stub.url })).createToken(VALID);
    assert.match(token.id, /^tok_/);
  } finally {
    AbortSignal.timeout = original;
  }
});

test('nothing the package did printed a card number or CVC', () => {
  assert.ok(!console_.some((line) => CARD_DIGITS.test(line)), console_.join('\n'));
});
