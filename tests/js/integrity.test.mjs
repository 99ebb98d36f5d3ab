// Pinned integrity: every hash in the package's integrity.json matches the file it names, in the packed
// tarball and as the server serves it (in each encoding it sends), and the frame's document pins exactly
// those hashes; the frame's assets are content-addressed, immutable and compressed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { pack } from '../support/packed.mjs';
import { startServer } from '../support/server.mjs';

let work;
let unpacked;
let manifest;
let api;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-integrity-'));
  unpacked = path.join(work, 'package');
  mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', pack(work), '-C', unpacked, '--strip-components=1']);
  manifest = JSON.parse(readFileSync(path.join(unpacked, 'pkg/integrity.json'), 'utf8'));
  api = await startServer();
});

after(async () => {
  await api?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const sri = (bytes) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

/** GET with raw bytes (no decoding): `{status, headers, body}`. */
function get(url, headers = {}) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

test('integrity.json names every file of the tarball (but itself), each with its sha384', () => {
  const shipped = readdirSync(unpacked, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile()).map((d) => path.relative(unpacked, path.join(d.parentPath ?? d.path, d.name))).sort();
  assert.deepEqual(Object.keys(manifest.files).sort(), shipped.filter((f) => f !== 'pkg/integrity.json'));
  for (const [file, hash] of Object.entries(manifest.files)) {
    assert.match(hash, /^sha384-[A-Za-z0-9+/]{64}$/);
    assert.equal(sri(readFileSync(path.join(unpacked, file))), hash, file);
  }
  assert.equal(manifest.version, JSON.parse(readFileSync(path.join(unpacked, 'package.json'), 'utf8')).version);
});

test("the frame's document pins its assets with integrity.json's URLs and hashes, and the server serves exactly those bytes", async () => {
  const doc = await get(`${api.api}/elements/card?pk=${api.pk}`);
  assert.equal(doc.status, 200);
  const html = doc.body.toString('utf8');
  assert.deepEqual(Object.keys(manifest.frame).sort(), ['card.css', 'card.js', 'cardtoken_wasm_bg.wasm']);
  for (const [name, { url, integrity }] of Object.entries(manifest.frame)) {
    assert.match(url, new RegExp(`^/elements/v/[0-9a-f]{16}/${name.replace('.', '\\.')}$`));
    const tag = html.match(new RegExp(`<[^>]*"${url}"[^>]*>`))?.[0];
    assert.ok(tag, `the document loads ${url}`);
    assert.ok(tag.includes(`integrity="${integrity}"`), `with its hash: ${tag}`);
    for (const [accept, decode] of [['br', brotliDecompressSync], ['gzip', gunzipSync], ['identity', (b) => b]]) {
      const res = await get(`${api.api}${url}`, { 'accept-encoding': accept });
      assert.equal(res.status, 200, `${url} (${accept})`);
      assert.equal(res.headers['content-encoding'], accept === 'identity' ? undefined : accept, `${url} is sent ${accept}`);
      assert.equal(sri(decode(res.body)), integrity, `${url} (${accept}) is the file integrity.json names`);
    }
  }
  const tags = html.match(/<(script|link)\b[^>]*>/g);
  assert.equal(tags.length, 3, `a stylesheet, the wasm's preload and the script: ${tags}`);
  for (const tag of tags) assert.match(tag, / integrity="sha384-/, 'every asset the document loads is pinned');
});

test('assets are immutable for a year and negotiated by Accept-Encoding; another hash is a 404 kept nowhere', async () => {
  const { url } = manifest.frame['cardtoken_wasm_bg.wasm'];
  const br = await get(`${api.api}${url}`, { 'accept-encoding': 'gzip, deflate, br' });
  assert.equal(br.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(br.headers.vary, 'Accept-Encoding');
  assert.equal(br.headers['content-type'], 'application/wasm');
  assert.equal(br.headers['content-encoding'], 'br');
  const raw = await get(`${api.api}${url}`);
  assert.ok(br.body.length < raw.body.length * 0.6, `brotli: ${br.body.length} of ${raw.body.length} bytes`);
  const stale = await get(`${api.api}${url.replace(/\/v\/[0-9a-f]{16}\//, '/v/0000000000000000/')}`);
  assert.equal(stale.status, 404);
  assert.equal(stale.headers['cache-control'], 'no-store');
});

test('the document is short-lived: no-cache, with an ETag that answers 304 while nothing changed', async () => {
  const first = await get(`${api.api}/elements/card?pk=${api.pk}`);
  assert.equal(first.headers['cache-control'], 'no-cache');
  assert.match(first.headers.etag, /^"[0-9a-f]{24}"$/);
  const again = await get(`${api.api}/elements/card?pk=${api.pk}`, { 'if-none-match': first.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.ok(again.headers['content-security-policy'], 'the policy comes with the 304 too');
  const safari15 = 'Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1';
  const other = await get(`${api.api}/elements/card?pk=${api.pk}`, { 'if-none-match': first.headers.etag, 'user-agent': safari15 });
  assert.equal(other.status, 200, 'another policy is another document');
});
