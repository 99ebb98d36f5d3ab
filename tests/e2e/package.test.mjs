// The npm package as customers load it: packed with `npm pack`, imported by name from a plain
// <script type="module"> (with an import map) and from a Vite build, in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, cpSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { launchChromium, serveStatic } from '../support/browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let work;
let browser;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-pack-'));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root, encoding: 'utf8' })
    .trim().split('\n').pop();
  const installed = path.join(work, 'app', 'node_modules', 'cardtoken');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', path.join(work, tarball), '-C', installed, '--strip-components=1']);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the packed package holds exactly the module, its wasm, its types and package.json', () => {
  const installed = path.join(work, 'app', 'node_modules', 'cardtoken');
  const files = readdirSync(installed, { recursive: true }).filter((f) => !f.endsWith('pkg')).sort();
  assert.deepEqual(files, ['README.md', 'package.json', 'pkg/cardtoken_wasm_bg.wasm', 'pkg/index.d.ts', 'pkg/index.js']);
});

test('a plain module script imports it by name and validates', async () => {
  const app = path.join(work, 'app');
  writeFileSync(path.join(app, 'plain.html'), `<!doctype html><meta charset="utf-8">
<script type="importmap">{"imports":{"cardtoken":"/node_modules/cardtoken/pkg/index.js"}}</script>
<output id="result">loading</output>
<script type="module">
  import init, { validateNumber, formatNumber } from 'cardtoken';
  await init();
  const n = validateNumber('4242 4242 4242 4242');
  document.getElementById('result').textContent = n.brand + ' ' + n.isValid + ' ' + formatNumber('378282246310005');
</script>`);
  const server = await serveStatic(app);
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${server.url}/plain.html`);
    await page.waitForFunction(() => document.getElementById('result').textContent !== 'loading');
    assert.equal(await page.textContent('#result'), 'visa true 3782 822463 10005');
    assert.deepEqual(errors, []);
  } finally {
    await server.close();
  }
});

test('a Vite build bundles it (wasm as an asset) and it runs', async () => {
  const app = path.join(work, 'app');
  cpSync(path.join(root, 'tests/e2e/vite-app'), app, { recursive: true });
  await build({ root: app, logLevel: 'silent', build: { outDir: path.join(app, 'dist'), target: 'es2022' } });
  const assets = readdirSync(path.join(app, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `the wasm is emitted as an asset: ${assets}`);
  const server = await serveStatic(path.join(app, 'dist'));
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => document.getElementById('result').textContent !== 'loading');
    assert.equal(await page.textContent('#result'), 'amex true 4242 4242 4242 4242 2034');
  } finally {
    await server.close();
  }
});
