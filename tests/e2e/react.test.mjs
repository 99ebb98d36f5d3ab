// cardtoken/react in a customer's Vite build (tests/e2e/react-app: JSX through esbuild, React in
// development mode so that StrictMode mounts, unmounts and mounts effects again), with React 18 and 19,
// against the packed tarball. Chromium only, over WebDriver: the binding's DOM work is mountCardFields',
// which package.test.mjs and fields.test.mjs run in every engine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { serveStatic } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';
import { install, pack } from '../support/packed.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const E = engine();
const name = (title) => `[${E.label}] ${title}`;
let work;
let tarball;
let api;
let browser;
let s;
const sites = [];

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-react-'));
  tarball = pack(work);
  [api, browser] = await Promise.all([startServer(), openBrowser(engineName())]);
  s = browser.session;
});

after(async () => {
  await browser?.stop();
  await api?.stop();
  await Promise.all(sites.map((site) => site.close()));
  if (work) rmSync(work, { recursive: true, force: true });
});

async function buildApp(react) {
  const app = path.join(work, `react${react}`);
  cpSync(path.join(root, 'tests/e2e/react-app'), app, { recursive: true });
  install(tarball, app, { react });
  await build({
    root: app, logLevel: 'silent', mode: 'development', esbuild: { jsx: 'automatic' },
    define: { 'process.env.NODE_ENV': '"development"' },
    build: { outDir: path.join(app, 'dist'), minify: false, target: ['chrome111', 'edge111', 'firefox115', 'safari15'] },
  });
  const site = await serveStatic(path.join(app, 'dist'));
  sites.push(site);
  return site;
}

const readyCount = () => s.execute(() => window.__events.filter(([type]) => type === 'ready').length);

async function typeCard() {
  await s.frame(await s.find('.card iframe'));
  await s.click(await s.find('#number'));
  await s.type('4242424242424242');
  await s.waitFor(() => document.activeElement?.id === 'expiry', [], { message: 'focus on the expiry' });
  await s.type('1234');
  await s.waitFor(() => document.activeElement?.id === 'cvc', [], { message: 'focus on the CVC' });
  await s.type('123');
  await s.top();
}

/** Pays; answers `tok_… 4242` once the result differs from `previous`. */
async function pay(previous = '') {
  await s.waitFor(() => !document.getElementById('pay').disabled, [], { message: 'the Pay button' });
  await s.click(await s.find('#pay'));
  return s.waitFor((p) => {
    const t = document.getElementById('result').textContent;
    return t && t !== p ? t : null;
  }, [previous], { timeout: 30000, message: 'the token' });
}

for (const react of [18, 19]) {
  test(name(`React ${react}, StrictMode: <CardFields> tokenizes; unmounting removes the frame and its listener; mounting again works`), async () => {
    const site = await buildApp(react);
    await s.goto(`${site.url}/?${new URLSearchParams({ pk: api.pk, api: api.api })}`);
    await s.waitFor(() => window.__events?.some(([type]) => type === 'ready'), [], { timeout: 30000, message: 'ready' });
    assert.equal((await s.execute(() => window.__react)).split('.')[0], String(react));
    // StrictMode mounted the fields, unmounted them and mounted them again: one frame is left, listening once.
    assert.ok(await s.execute(() => window.__framesAdded) >= 2, 'StrictMode mounted the effect twice');
    assert.equal(await s.execute(() => document.querySelectorAll('iframe').length), 1, 'one frame');
    const mounted = await s.execute(() => window.__listening());
    assert.equal(mounted['window:message'], 1, JSON.stringify(mounted));

    await typeCard();
    const first = await pay();
    assert.match(first, /^tok_\w+ 4242$/);

    await s.execute(() => window.__show(false));
    await s.waitFor(() => document.querySelectorAll('iframe').length === 0, [], { message: 'the frame to go' });
    const hidden = await s.execute(() => window.__listening());
    assert.deepEqual({ ...hidden, 'window:message': (hidden['window:message'] ?? 0) + 1 }, mounted,
      'every listener but the frame\'s one stays; the frame\'s is removed');

    const before = await readyCount();
    await s.execute(() => window.__show(true));
    await s.waitFor((n) => window.__events.filter(([type]) => type === 'ready').length > n, [before], { timeout: 30000, message: 'ready again' });
    assert.equal(await s.execute(() => document.querySelectorAll('iframe').length), 1);
    assert.deepEqual(await s.execute(() => window.__listening()), mounted, 'mounted again: the same listeners');
    await typeCard();
    assert.match(await pay(first), /^tok_\w+ 4242$/, 'the new frame tokenizes');

    await s.execute(() => window.__unmount());
    assert.equal(await s.execute(() => document.querySelectorAll('iframe').length), 0);
    const after = await s.execute(() => window.__listening());
    assert.equal(after['window:message'] ?? 0, 0, JSON.stringify(after));
  });
}
