// Card fields mounted by a plain host page (on its own origin), in each engine over WebDriver
// (`CARDTOKEN_ENGINE=…`): the `ready` event, and what createToken() does when the frame cannot start
// (it reports an error) or never loads (it stays silent).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { serveStatic } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const E = engine();
const name = (title) => `[${E.label}] ${title}`;

let work;
let site;
let api;
let broken;
let browser;
let s;

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

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-fields-'));
  mkdirSync(path.join(work, 'pkg'));
  for (const f of ['index.js', 'fields.js', 'cardtoken_wasm_bg.wasm']) copyFileSync(path.join(root, 'pkg', f), path.join(work, 'pkg', f));
  writeFileSync(path.join(work, 'host.html'), HOST);
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
  await browser?.stop();
  api?.stop();
  broken?.stop();
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
