// Card fields mounted by a plain host page (on its own origin), in each engine over WebDriver
// (`CARDTOKEN_ENGINE=…`): the `ready` event, and what createToken() does when the frame cannot start
// (it reports an error) or never loads (it stays silent); the frame refusing assets changed on the way
// (integrity); and its assets arriving compressed, and not again for a second mount or a second visit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { serveStatic } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';
import { startWireProxy } from '../support/wire-proxy.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const E = engine();
const name = (title) => `[${E.label}] ${title}`;

let work;
let site;
let api;
let broken;
let browser;
let s;
const proxies = [];

const HOST = `<!doctype html><meta charset="utf-8"><div id="card"></div>
<script type="module">
  import { load } from './pkg/index.js';
  const q = new URLSearchParams(location.search);
  window.__events = [];
  window.__result = null;
  const started = Date.now();
  const client = await load(q.get('pk'), { apiBase: q.get('api'), timeoutMs: Number(q.get('timeout')) });
  const fields = client.mountCardFields('#card');
  for (const type of ['ready', 'error']) {
    fields.on(type, (d) => window.__events.push([type, type === 'error' ? { type: d.type, code: d.code } : d]));
  }
  fields.createToken().then(
    (t) => { window.__result = { token: t.id }; },
    (e) => { window.__result = { type: e.type, code: e.code, name: e.name, ms: Date.now() - started }; });
  if (q.get('destroy')) fields.destroy();
</script>`;

// Mounts on demand: `__mount()` resolves when the fields are ready (or rejects); `__destroy()` removes them.
const REMOUNT = `<!doctype html><meta charset="utf-8"><div id="card"></div>
<script type="module">
  import { load } from './pkg/index.js';
  const q = new URLSearchParams(location.search);
  const client = await load(q.get('pk'), { apiBase: q.get('api'), timeoutMs: 20000 });
  let fields;
  window.__mount = () => new Promise((resolve, reject) => {
    fields = client.mountCardFields('#card');
    fields.on('ready', () => resolve('ready')).on('error', (e) => reject(e.code));
  });
  window.__destroy = () => fields.destroy();
  window.__loaded = true;
</script>`;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-fields-'));
  mkdirSync(path.join(work, 'pkg'));
  for (const f of ['index.js', 'fields.js', 'cardtoken_wasm_bg.wasm']) copyFileSync(path.join(root, 'pkg', f), path.join(work, 'pkg', f));
  writeFileSync(path.join(work, 'host.html'), HOST);
  writeFileSync(path.join(work, 'remount.html'), REMOUNT);
  // A server whose frame cannot start: its frame's script and style are the real ones, its wasm is not
  // WebAssembly (served with its own hash, so it is fetched, and fails to compile).
  mkdirSync(path.join(work, 'no-wasm/frame'), { recursive: true });
  for (const f of ['card.js', 'card.css']) copyFileSync(path.join(root, 'pkg/frame', f), path.join(work, 'no-wasm/frame', f));
  writeFileSync(path.join(work, 'no-wasm/frame/cardtoken_wasm_bg.wasm'), 'not WebAssembly');
  [site, api, broken, browser] = await Promise.all([
    serveStatic(work), startServer(), startServer({ CARDTOKEN_PKG_DIR: path.join(work, 'no-wasm') }),
    openBrowser(engineName()),
  ]);
  s = browser.session;
});

after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await browser?.stop();
  await api?.stop();
  await broken?.stop();
  await site?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function mount(server, pk, timeout, extra = {}) {
  const q = new URLSearchParams({ api: server.api, pk, timeout: String(timeout), ...extra });
  await s.goto(`${site.url}/host.html?${q}`);
  return s.waitFor(() => window.__result, [], { timeout: 30000, message: 'createToken() to settle' });
}

test(name('ready reports empty, incomplete fields; createToken() then rejects as incomplete'), async () => {
  const result = await mount(api, api.pk, 20000);
  const events = await s.execute(() => window.__events);
  assert.deepEqual(events, [['ready', { complete: false, empty: true, brand: null, error: null }]]);
  assert.deepEqual([result.type, result.code], ['validation_error', 'incomplete_number']);
});

test(name('a frame that cannot start rejects createToken() at once with frame_failed'), async () => {
  const result = await mount(broken, broken.pk, 20000);
  assert.deepEqual([result.name, result.type, result.code], ['CardtokenError', 'api_error', 'frame_failed']);
  assert.ok(result.ms < 15000, `rejected on the frame's report, not by the timeout (${result.ms} ms)`);
  assert.deepEqual(await s.execute(() => window.__events), [['error', { type: 'api_error', code: 'frame_failed' }]]);
});

test(name('a frame that never says ready (unknown key: no frame script) rejects createToken() after timeoutMs'), async () => {
  const result = await mount(api, 'pk_test_unknown', 1500);
  assert.deepEqual([result.name, result.type, result.code], ['CardtokenError', 'api_connection_error', 'timeout']);
  assert.ok(result.ms >= 1400, `${result.ms} ms`);
  assert.deepEqual(await s.execute(() => window.__events), [['error', { type: 'api_connection_error', code: 'timeout' }]]);
});

test(name('destroying the fields before they are ready rejects a waiting createToken()'), async () => {
  const result = await mount(api, 'pk_test_unknown', 20000, { destroy: '1' });
  assert.deepEqual([result.type, result.code], ['validation_error', 'fields_destroyed']);
  assert.ok(result.ms < 15000, `${result.ms} ms`);
});

/** A proxy in front of the API (tampering as `tamper` says), closed after the tests. */
async function proxy(tamper) {
  const p = await startWireProxy(api.api, { tamper });
  proxies.push(p);
  return { ...p, api: p.url, pk: api.pk };
}

// A compromised CDN or proxy changes one byte of an asset, keeping it valid: without integrity the frame
// would run it (and show "Card numbes", or another message in the wasm, or a 7px corner).
test(name("a frame asset changed by one byte on the way is refused: the frame's script does not run"), async () => {
  const cdn = await proxy({ path: /\/elements\/v\/[0-9a-f]+\/card\.js$/, from: 'Card number', to: 'Card numbes' });
  const result = await mount(cdn, cdn.pk, 4000);
  assert.ok(cdn.log.some((r) => r.tampered), `the proxy changed card.js: ${JSON.stringify(cdn.log)}`);
  assert.deepEqual([result.type, result.code], ['api_connection_error', 'timeout'], 'no ready: the script never ran');
});

test(name('a wasm changed by one byte on the way is refused: the frame reports that it could not start'), async () => {
  const cdn = await proxy({ path: /\.wasm$/, from: 'The card number is incomplete', to: 'The card number is incomplete'.replace('T', 't') });
  const result = await mount(cdn, cdn.pk, 20000);
  assert.ok(cdn.log.some((r) => r.tampered), `the proxy changed the wasm: ${JSON.stringify(cdn.log)}`);
  assert.deepEqual([result.type, result.code], ['api_error', 'frame_failed']);
  assert.ok(result.ms < 15000, `on the frame's report, not the timeout (${result.ms} ms)`);
});

test(name('a stylesheet changed by one byte on the way is not applied; the same assets untouched load'), async () => {
  const cdn = await proxy({ path: /\/card\.css$/, from: 'border-radius: 6px', to: 'border-radius: 7px' });
  const clean = await proxy();
  const styled = async (server) => {
    const result = await mount(server, server.pk, 20000);
    assert.deepEqual([result.type, result.code], ['validation_error', 'incomplete_number'], 'the fields started');
    await s.frame(await s.find('#card iframe'));
    const radius = await s.execute(() => getComputedStyle(document.getElementById('number')).borderTopLeftRadius);
    await s.top();
    return radius;
  };
  const refused = await styled(cdn);
  assert.ok(refused !== '7px' && refused !== '6px', `the changed stylesheet was refused (the engine's own ${refused})`);
  assert.ok(cdn.log.some((r) => r.tampered));
  assert.equal(await styled(clean), '6px', 'the real one applies');
});

test(name('the assets arrive compressed once; a second mount and a second visit fetch none of them again'), async () => {
  const wire = await proxy();
  const assets = () => wire.log.filter((r) => r.path.startsWith('/elements/v/'));
  const q = new URLSearchParams({ api: wire.api, pk: wire.pk });
  await s.goto(`${site.url}/remount.html?${q}`);
  await s.waitFor(() => window.__loaded, [], { message: 'the host page' });
  assert.equal(await s.execute(() => window.__mount()), 'ready');
  const first = assets();
  assert.deepEqual(first.map((r) => r.path.split('/').pop()).sort(), ['card.css', 'card.js', 'cardtoken_wasm_bg.wasm'],
    JSON.stringify(wire.log));
  for (const r of first) {
    assert.equal(r.status, 200);
    assert.ok(['br', 'gzip'].includes(r.encoding), `${r.path} arrived ${r.encoding ?? 'uncompressed'}`);
  }
  const wasm = first.find((r) => r.path.endsWith('.wasm'));
  assert.ok(wasm.bytes < 20000, `the wasm took ${wasm.bytes} bytes (34 KB uncompressed)`);

  wire.reset();
  await s.execute(() => window.__destroy());
  assert.equal(await s.execute(() => window.__mount()), 'ready');
  assert.deepEqual(assets(), [], `a second mount: ${JSON.stringify(wire.log)}`);
  assert.deepEqual(wire.log.map((r) => r.path), ['/elements/card'], 'only the document, checked again');

  wire.reset();
  await s.goto(`${site.url}/remount.html?${q}`);
  await s.waitFor(() => window.__loaded, [], { message: 'the host page, again' });
  assert.equal(await s.execute(() => window.__mount()), 'ready');
  assert.deepEqual(assets(), [], `a second visit: ${JSON.stringify(wire.log)}`);
});
