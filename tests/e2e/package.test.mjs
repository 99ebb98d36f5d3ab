// The npm package as customers load it, in each engine over WebDriver (`CARDTOKEN_ENGINE=…`): packed
// with `npm pack`, imported from a plain <script type="module"> (by URL, and by name through an import
// map where the engine has import maps), and from a Vite build.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, cpSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { serveStatic } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const E = engine();
const name = (title) => `[${E.label}] ${title}`;
let work;
let app;
let site;
let api;
let browser;
let s;

// Reports what the page did, and any error it threw, in #result.
const REPORT = `window.addEventListener('error', (e) => { document.getElementById('result').textContent = 'error: ' + e.message; });
  window.addEventListener('unhandledrejection', (e) => { document.getElementById('result').textContent = 'rejection: ' + e.reason; });`;

function page(file, importFrom, head = '') {
  writeFileSync(path.join(app, file), `<!doctype html><meta charset="utf-8">${head}
<output id="result">loading</output>
<script>${REPORT}</script>
<script type="module">
  import init, { load, validateNumber, formatNumber } from '${importFrom}';
  await init();
  const n = validateNumber('4242 4242 4242 4242');
  const q = new URLSearchParams(location.search);
  const client = await load(q.get('pk'), { apiBase: q.get('api') });
  const token = await client.createToken({ number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' });
  document.getElementById('result').textContent = [n.brand, n.isValid, formatNumber('378282246310005'),
    token.id.slice(0, 4), token.card.last4].join(' ');
</script>`);
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-pack-'));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
    .trim().split('\n').pop();
  app = path.join(work, 'app');
  const installed = path.join(app, 'node_modules', 'cardtoken');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(work, tarball), '-C', installed, '--strip-components=1']);
  page('plain.html', '/node_modules/cardtoken/pkg/index.js');
  page('importmap.html', 'cardtoken',
    '<script type="importmap">{"imports":{"cardtoken":"/node_modules/cardtoken/pkg/index.js"}}</script>');
  [site, api, browser] = await Promise.all([serveStatic(app), startServer(), openBrowser(engineName())]);
  s = browser.session;
});

after(async () => {
  await browser?.stop();
  api?.stop();
  await site?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function result(url) {
  await s.goto(url);
  return s.waitFor(() => {
    const t = document.getElementById('result')?.textContent;
    return t && t !== 'loading' ? t : null;
  }, [], { timeout: 30000, message: 'the page to report' });
}

const query = () => `?${new URLSearchParams({ pk: api.pk, api: api.api })}`;

test(name('the packed package holds exactly the module, its wasm, its types and package.json'), () => {
  const installed = path.join(app, 'node_modules', 'cardtoken');
  const files = readdirSync(installed, { recursive: true }).filter((f) => !f.endsWith('pkg')).sort();
  assert.deepEqual(files, ['README.md', 'package.json', 'pkg/cardtoken_wasm_bg.wasm', 'pkg/index.d.ts', 'pkg/index.js']);
});

test(name('a plain module script imports it by URL, validates and tokenizes'), async () => {
  assert.equal(await result(`${site.url}/plain.html${query()}`), 'visa true 3782 822463 10005 tok_ 4242');
});

test(name('by name through an import map, where the engine has import maps (Safari 16.4 and later)'), async () => {
  await s.goto(`${site.url}/plain.html${query()}`);
  const supported = await s.execute(() => typeof HTMLScriptElement.supports === 'function'
    && HTMLScriptElement.supports('importmap'));
  if (engineName() === 'wpe') {
    assert.equal(supported, false, 'WebKit 2.38 has no import maps: the README says to import by URL there');
    return;
  }
  assert.equal(supported, true);
  assert.equal(await result(`${site.url}/importmap.html${query()}`), 'visa true 3782 822463 10005 tok_ 4242');
});

test(name('a Vite build bundles it (wasm as an asset) and it runs'), async () => {
  const viteApp = path.join(work, `vite-${engineName()}`);
  cpSync(path.join(root, 'tests/e2e/vite-app'), viteApp, { recursive: true });
  cpSync(path.join(app, 'node_modules'), path.join(viteApp, 'node_modules'), { recursive: true });
  await build({ root: viteApp, logLevel: 'silent', build: { outDir: path.join(viteApp, 'dist'), target: ['chrome111', 'edge111', 'firefox115', 'safari15'] } });
  const assets = readdirSync(path.join(viteApp, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the wasm is emitted as an asset: ${assets}`);
  const server = await serveStatic(path.join(viteApp, 'dist'));
  try {
    assert.equal(await result(`${server.url}/`), 'amex true 4242 4242 4242 4242 2034');
  } finally {
    await server.close();
  }
});
