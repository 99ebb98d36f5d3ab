// Encrypted card data across independent JOSE implementations: JWEs made by `jose` (npm) and `jwcrypto`
// (PyPI) are accepted by the server; the package's own JWE opens with both, given the server's private
// key; wrong `kid`, wrong `alg`, altered ciphertext and a stale `iat` are each refused with the same
// documented error (400, `param: "card_jwe"`).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CompactEncrypt, compactDecrypt, importJWK } from 'jose';

import { encryptCompact } from '../../js/jwe.js';
import { startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const python = process.env.CARDTOKEN_JWCRYPTO_PYTHON || path.join(root, 'target/jwcrypto-venv/bin/python');
const tool = path.join(root, 'tests/support/jwcrypto_tool.py');

let server;
let publicJwk;
let privateJwk;
before(async () => {
  server = await startServer();
  const jwks = await (await fetch(`${server.api}/.well-known/jwks.json`)).json();
  publicJwk = jwks.keys[0];
  // The private half, as the operator's keys file holds it (a test reads it to decrypt).
  const file = JSON.parse(readFileSync(path.join(server.dataDir, 'keys.json'), 'utf8'));
  const entry = file.encryption.find((k) => k.kid === publicJwk.kid);
  privateJwk = { kty: 'EC', crv: 'P-256', x: publicJwk.x, y: publicJwk.y, d: entry.private, kid: entry.kid };
});
after(() => server?.stop());

const card = { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' };
const now = () => Math.floor(Date.now() / 1000);

async function tokenize(body) {
  const r = await fetch(`${server.api}/v1/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.pk}` },
    body: JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

async function joseJwe({ alg = 'ECDH-ES', kid = publicJwk.kid, iat = now(), plaintext = JSON.stringify(card) } = {}) {
  const key = await importJWK(publicJwk, 'ECDH-ES');
  return new CompactEncrypt(new TextEncoder().encode(plaintext))
    .setProtectedHeader({ alg, enc: 'A256GCM', kid, iat })
    .encrypt(key);
}

function jwcrypto(mode, args, input) {
  return execFileSync(python, [tool, mode, ...args], { input, encoding: 'utf8' });
}

test('a JWE made by jose (npm) tokenizes', async () => {
  const { status, json } = await tokenize({ card_jwe: await joseJwe() });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.card.last4, '4242');
  assert.match(json.id, /^tok_/);
});

test('a JWE made by jwcrypto (PyPI) tokenizes', async () => {
  const compact = jwcrypto('encrypt', [JSON.stringify(publicJwk), String(now())], JSON.stringify({ ...card, number: '5555555555554444' }));
  assert.equal(compact.split('.').length, 5);
  const { status, json } = await tokenize({ card_jwe: compact });
  assert.equal(status, 200, JSON.stringify(json));
  assert.equal(json.card.last4, '4444');
});

test("the package's JWE opens with jose and with jwcrypto, given the server's private key", async () => {
  const plaintext = JSON.stringify(card);
  const iat = now();
  const compact = await encryptCompact(publicJwk, plaintext, iat);
  const { plaintext: opened, protectedHeader } = await compactDecrypt(compact, await importJWK(privateJwk, 'ECDH-ES'));
  assert.equal(new TextDecoder().decode(opened), plaintext);
  assert.deepEqual(
    [protectedHeader.alg, protectedHeader.enc, protectedHeader.kid, protectedHeader.iat],
    ['ECDH-ES', 'A256GCM', publicJwk.kid, iat],
  );
  assert.equal(jwcrypto('decrypt', [JSON.stringify(privateJwk)], compact), plaintext);
  // And the server takes it.
  assert.equal((await tokenize({ card_jwe: compact })).status, 200);
});

test('wrong kid, wrong alg, altered ciphertext and a stale iat: the same 400 naming card_jwe', async () => {
  const fresh = await joseJwe();
  const parts = fresh.split('.');
  const ct = Buffer.from(parts[3], 'base64url');
  ct[0] ^= 1;
  const altered = [parts[0], parts[1], parts[2], ct.toString('base64url'), parts[4]].join('.');
  const cases = {
    'wrong kid': await joseJwe({ kid: 'ek_not_ours' }),
    'wrong alg': await joseJwe({ alg: 'ECDH-ES+A256KW' }),
    'altered ciphertext': altered,
    'stale iat': await joseJwe({ iat: now() - 600 }),
  };
  const messages = new Set();
  for (const [what, compact] of Object.entries(cases)) {
    const { status, json } = await tokenize({ card_jwe: compact });
    assert.equal(status, 400, `${what}: ${JSON.stringify(json)}`);
    assert.deepEqual([json.error.type, json.error.code, json.error.param], ['invalid_request_error', 'parameter_invalid', 'card_jwe'], what);
    messages.add(json.error.message);
  }
  assert.equal(messages.size, 1, [...messages].join(' | '));
  assert.ok(!/kid|alg|stale|tamper|expired|iat/i.test([...messages][0]), [...messages][0]);
  assert.equal((await tokenize({ card_jwe: fresh })).status, 200, 'the unaltered one');
});

test("an account that takes cards only encrypted: its card fields' document says so, others' do not", async () => {
  const bin = process.env.CARDTOKEN_SERVER_BIN || path.join(root, 'target/debug/cardtoken-server');
  const doc = async () => (await fetch(`${server.api}/elements/card?pk=${server.pk}`)).text();
  const META = '<meta name="cardtoken-encryption" content="required">';
  assert.ok(!(await doc()).includes(META), 'not before the setting');
  const run = (args) => execFileSync(bin, args, { env: { ...process.env, CARDTOKEN_DATA_DIR: server.dataDir }, encoding: 'utf8' });
  run(['accounts', 'require-encryption', server.account]);
  try {
    // Running servers apply it within their key cache's 2 s.
    let text = '';
    for (let i = 0; i < 50 && !text.includes(META); i++) {
      text = await doc();
      if (!text.includes(META)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(text.includes(META), 'the document tells the frame to send only encrypted');
  } finally {
    run(['accounts', 'require-encryption', server.account, '--off']);
  }
});
