// The npm package as customers load it, in each engine over WebDriver (`CARDTOKEN_ENGINE=…`): packed
// with `npm pack`, imported from a plain <script type="module"> (by URL, and by name through an import
// map where the engine has import maps), and from a Vite build; card fields mounted in a closed shadow
// root, and through the <cardtoken-card-fields> custom element (cardtoken/element), tokenizing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, cpSync, writeFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { serveStatic } from '../support/browser.mjs';
import { serverBin, startServer } from '../support/server.mjs';
import { install, pack } from '../support/packed.mjs';

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

// A design system's checkout: a custom element whose closed shadow root holds the card fields' container.
// The page keeps what a test needs (the frame, the events) on `window.__t`.
const SHADOW = `<!doctype html><meta charset="utf-8"><output id="result">loading</output>
<checkout-card></checkout-card>
<script>${REPORT}</script>
<script type="module">
  import { load } from '/node_modules/cardtoken/pkg/index.js';
  const q = new URLSearchParams(location.search);
  customElements.define('checkout-card', class extends HTMLElement {
    constructor() {
      super();
      const root = this.attachShadow({ mode: 'closed' });
      const box = document.createElement('div');
      box.style.cssText = 'width:420px';
      root.append(box);
      this.box = box;
    }
  });
  const box = document.querySelector('checkout-card').box;
  const t = window.__t = { events: [] };
  const client = await load(q.get('pk'), { apiBase: q.get('api') });
  const fields = client.mountCardFields(box);
  t.frame = box.querySelector('iframe');
  t.initialHeight = t.frame.style.height;
  for (const type of ['ready', 'change', 'error']) fields.on(type, (d) => t.events.push([type, d]));
  fields.on('ready', () => requestAnimationFrame(() => {
    t.ready = { style: t.frame.style.height, height: t.frame.getBoundingClientRect().height,
      width: t.frame.getBoundingClientRect().width, box: box.getBoundingClientRect().width };
  }));
  t.pay = () => fields.createToken().then(
    (token) => { document.getElementById('result').textContent = token.id.slice(0, 4) + ' ' + token.card.last4; },
    (e) => { document.getElementById('result').textContent = 'rejected: ' + e.code; });
</script>`;

// The custom element, in a form. The page records the shadow roots created (the element's is closed) so
// that the test can find the frame to type into, and every event the element dispatches.
const ELEMENT = `<!doctype html><meta charset="utf-8"><output id="result">loading</output>
<form id="checkout"><input name="email" value="jane@example.com"></form>
<script>${REPORT}
  window.__t = { roots: [], events: [] };
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) { const r = attach.call(this, init); window.__t.roots.push([init.mode, r]); return r; };
</script>
<script type="module">
  import '/node_modules/cardtoken/pkg/element.js';
  const q = new URLSearchParams(location.search);
  const t = window.__t;
  const el = document.createElement('cardtoken-card-fields');
  el.setAttribute('name', 'card_token');
  el.setAttribute('publishable-key', q.get('pk'));
  el.setAttribute('api-base', q.get('api'));
  for (const type of ['ready', 'change', 'focus', 'blur', 'error']) {
    el.addEventListener(type, (e) => t.events.push([type, e instanceof CustomEvent, e.detail && (e.detail.code ?? e.detail)]));
  }
  const form = document.getElementById('checkout');
  form.append(el);
  t.frame = () => t.roots.find(([, r]) => r.host === el)?.[1].querySelector('iframe') ?? null;
  t.pay = async () => {
    try {
      const token = await el.createToken();
      const entries = [...new FormData(form)].map(([k, v]) => k + '=' + v);
      t.paid = { token: token.id, last4: token.card.last4, value: el.value, entries, associated: el.form === form,
        internals: typeof el.attachInternals === 'function', html: document.documentElement.outerHTML };
      form.reset();
      t.paid.afterReset = [...new FormData(form)].map(([k, v]) => k + '=' + v);
      el.remove();
      t.paid.framesAfterRemove = t.roots.find(([, r]) => r.host === el)[1].querySelectorAll('iframe').length;
    } catch (e) {
      t.paid = { error: e.code };
    }
  };
</script>`;

// The custom element inserted without its key, which the page sets later (once it has fetched it, say).
const ELEMENT_LATE = `<!doctype html><meta charset="utf-8"><output id="result">loading</output>
<script>${REPORT}</script>
<script type="module">
  import '/node_modules/cardtoken/pkg/element.js';
  const q = new URLSearchParams(location.search);
  const t = window.__t = { events: [] };
  const el = document.createElement('cardtoken-card-fields');
  el.setAttribute('api-base', q.get('api'));
  for (const type of ['ready', 'error']) el.addEventListener(type, (e) => t.events.push([type, e.detail]));
  document.body.append(el);
  setTimeout(() => el.setAttribute('publishable-key', q.get('pk')), 200);
</script>`;

// A page that stays open while the server's encryption key changes: tokenizes at once, then when asked.
const ROTATE = `<!doctype html><meta charset="utf-8"><output id="result">loading</output>
<script>${REPORT}</script>
<script type="module">
  import { load } from '/node_modules/cardtoken/pkg/index.js';
  const q = new URLSearchParams(location.search);
  const client = await load(q.get('pk'), { apiBase: q.get('api') });
  const t = window.__t = { tokens: [] };
  t.tokenize = () => client.createToken({ number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' })
    .then((token) => t.tokens.push(token.id.slice(0, 4)), (e) => t.tokens.push('rejected: ' + e.code));
  t.tokenize();
</script>`;

/** In the card fields' frame (`frame`: a reference to its iframe element), types a Visa card. */
async function typeCard(frame) {
  await s.top();
  await s.frame(frame);
  await s.waitFor(() => document.getElementById('number') !== null, [], { message: 'the frame to load' });
  await s.click(await s.find('#number'));
  await s.type('4242424242424242');
  await s.waitFor(() => document.activeElement?.id === 'expiry', [], { message: 'focus on the expiry' });
  await s.type('1234');
  await s.waitFor(() => document.activeElement?.id === 'cvc', [], { message: 'focus on the CVC' });
  await s.type('123');
  await s.top();
}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-pack-'));
  app = path.join(work, 'app');
  install(pack(work), app);
  page('plain.html', '/node_modules/cardtoken/pkg/index.js');
  writeFileSync(path.join(app, 'shadow.html'), SHADOW);
  writeFileSync(path.join(app, 'element.html'), ELEMENT);
  writeFileSync(path.join(app, 'element-late.html'), ELEMENT_LATE);
  writeFileSync(path.join(app, 'rotate.html'), ROTATE);
  page('importmap.html', 'cardtoken',
    '<script type="importmap">{"imports":{"cardtoken":"/node_modules/cardtoken/pkg/index.js"}}</script>');
  [site, api, browser] = await Promise.all([serveStatic(app), startServer(), openBrowser(engineName())]);
  s = browser.session;
});

after(async () => {
  await browser?.stop();
  await api?.stop();
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

test(name('the packed package holds exactly its modules, the wasm, their types, integrity.json and package.json'), () => {
  const installed = path.join(app, 'node_modules', 'cardtoken');
  const files = readdirSync(installed, { recursive: true }).filter((f) => !f.endsWith('pkg')).sort();
  assert.deepEqual(files, ['README.md', 'package.json', 'pkg/cardtoken_wasm_bg.wasm', 'pkg/element.d.ts', 'pkg/element.js',
    'pkg/fields.js', 'pkg/index.d.ts', 'pkg/index.js', 'pkg/integrity.json', 'pkg/react.d.ts', 'pkg/react.js']);
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

test(name('card fields mounted in a closed shadow root size their frame there and produce a token'), async () => {
  await s.goto(`${site.url}/shadow.html${query()}`);
  const sized = await s.waitFor(() => window.__t?.ready, [], { timeout: 30000, message: 'the fields to be ready' });
  assert.equal(await s.execute(() => window.__t.initialHeight), '150px');
  assert.notEqual(sized.style, '150px', "the frame's own height replaced the initial one");
  assert.ok(Math.abs(sized.height - parseFloat(sized.style)) < 1, JSON.stringify(sized));
  assert.ok(sized.height > 100, JSON.stringify(sized));
  assert.equal(Math.round(sized.width), Math.round(sized.box), 'the frame fills its container in the shadow root');
  await typeCard(await s.execute(() => window.__t.frame));
  await s.waitFor(() => window.__t.events.some(([type, d]) => type === 'change' && d.complete), [], { message: 'complete' });
  await s.execute(() => window.__t.pay());
  assert.equal(await s.waitFor(() => {
    const t = document.getElementById('result').textContent;
    return t !== 'loading' ? t : null;
  }, [], { timeout: 30000, message: 'the token' }), 'tok_ 4242');
});

test(name('the custom element mounts in its own closed shadow root, dispatches CustomEvents, and its token is its form value'), async () => {
  await s.goto(`${site.url}/element.html${query()}`);
  await s.waitFor(() => window.__t.events.some(([type]) => type === 'ready'), [], { timeout: 30000, message: 'ready' });
  const roots = await s.execute(() => window.__t.roots.map(([mode, r]) => [mode, r.host.localName]));
  assert.deepEqual(roots, [['closed', 'cardtoken-card-fields']]);
  await typeCard(await s.execute(() => window.__t.frame()));
  await s.waitFor(() => window.__t.events.some(([type, , d]) => type === 'change' && d.complete), [], { message: 'complete' });
  await s.execute(() => window.__t.pay());
  const paid = await s.waitFor(() => window.__t.paid, [], { timeout: 30000, message: 'createToken()' });
  assert.equal(paid.error, undefined, `createToken() rejected: ${paid.error}`);
  assert.match(paid.token, /^tok_/);
  assert.equal(paid.last4, '4242');
  assert.equal(paid.value, paid.token, "the element's value is the token id");
  if (paid.internals) {
    assert.equal(paid.associated, true, 'the element belongs to its form');
    assert.deepEqual(paid.entries, ['email=jane@example.com', `card_token=${paid.token}`]);
    assert.deepEqual(paid.afterReset, ['email=jane@example.com'], 'a reset form has no token');
  } else {
    // WebKit 2.38 (Safari 16.0–16.3) has no ElementInternals: the element is not form-associated there.
    assert.equal(engineName(), 'wpe');
    assert.deepEqual(paid.entries, ['email=jane@example.com']);
  }
  assert.equal(paid.framesAfterRemove, 0, 'removing the element removes its frame');
  const events = await s.execute(() => window.__t.events);
  const types = new Set(events.map(([type]) => type));
  for (const type of ['ready', 'change', 'focus', 'blur']) assert.ok(types.has(type), `a ${type} event: ${JSON.stringify(events)}`);
  assert.ok(events.every(([, custom]) => custom), 'every event is a CustomEvent');
  assert.deepEqual(events[0], ['ready', true, { complete: false, empty: true, brand: null, error: null }]);
  assert.ok(events.some(([type, , d]) => type === 'change' && d.complete && d.brand === 'visa'));
  const seen = JSON.stringify([events, paid.entries, paid.html]);
  for (const digits of ['4242424242424242', '4242 4242 4242 4242', '"123"']) assert.ok(!seen.includes(digits), `no ${digits} on the page`);
});

test(name('the custom element mounts once its publishable-key is set after it was connected'), async () => {
  await s.goto(`${site.url}/element-late.html${query()}`);
  const events = await s.waitFor(() => (window.__t?.events.length ? window.__t.events : null), [],
    { timeout: 30000, message: 'an event from the element' });
  assert.deepEqual(events[0], ['ready', { complete: false, empty: true, brand: null, error: null }]);
});

test(name('after the encryption key is rotated with no grace, an open page fetches the new key past its HTTP cache'), async () => {
  // Its own server: the rotation must not reach the other tests' pages.
  const own = await startServer();
  try {
    const kids = async () => (await (await fetch(`${own.api}/.well-known/jwks.json`)).json()).keys.map((k) => k.kid);
    const before = await kids();
    await s.goto(`${site.url}/rotate.html?${new URLSearchParams({ pk: own.pk, api: own.api })}`);
    const tokens = (n) => s.waitFor((k) => (window.__t?.tokens.length === k ? window.__t.tokens : null), [n],
      { timeout: 30000, message: `token ${n}` });
    assert.deepEqual(await tokens(1), ['tok_']);
    execFileSync(serverBin(), ['keys', 'rotate-encryption', '--grace', '0'],
      { env: { ...process.env, CARDTOKEN_DATA_DIR: own.dataDir }, stdio: 'ignore' });
    const deadline = Date.now() + 15000;
    while ((await kids())[0] === before[0]) {
      assert.ok(Date.now() < deadline, 'the running server took up the new key');
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await kids()).includes(before[0]), false, 'the old key is retired at once');
    await s.execute(() => window.__t.tokenize());
    assert.deepEqual(await tokens(2), ['tok_', 'tok_']);
  } finally {
    await own.stop();
  }
});
