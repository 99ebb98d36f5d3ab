// The monitoring dashboard in Chromium after real traffic: steady payments, then a burst of declines
// that raises an alert. The server runs with 1-second buckets so this takes seconds, not minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let server;
let browser;
let api;

before(async () => {
  // Five payments a second from one address: past the card-testing defence's per-address default.
  server = await startServer({ CARDTOKEN_MONITOR_RESOLUTION_SECS: '1', CARDTOKEN_RATE_CLIENT_PER_MINUTE: '100000' });
  api = { base: server.api, pk: server.pk, sk: server.sk };
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.stop();
});

async function call(method, pathname, key, body) {
  const res = await fetch(api.base + pathname, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return res.json();
}

async function pay(number) {
  const card = { number, exp_month: 12, exp_year: 2034, cvc: '123' };
  const token = await call('POST', '/v1/tokens', api.pk, { card });
  return call('POST', '/v1/payments', api.sk, { amount: 1000, currency: 'jpy', token: token.id });
}

/** `perSecond` payments a second for `seconds`, choosing each card with `pick(i)`. */
async function traffic(seconds, perSecond, pick) {
  const end = Date.now() + seconds * 1000;
  for (let i = 0; Date.now() < end; i++) {
    await pay(pick(i));
    await new Promise((r) => setTimeout(r, 1000 / perSecond));
  }
}

test('after traffic and a burst of declines, the dashboard draws its charts and lists the alert', async () => {
  // steady: about one decline in eight
  await traffic(12, 5, (i) => (i % 8 === 3 ? '4000000000000002' : '4242424242424242'));
  assert.deepEqual((await call('GET', '/v1/alerts', api.sk)).data, [], 'no alert on steady traffic');
  // the burst
  let open = [];
  for (let i = 0; i < 10 && open.length === 0; i++) {
    await traffic(1, 5, () => '4000000000009995');
    open = (await call('GET', '/v1/alerts', api.sk)).data.filter((a) => a.status === 'open');
  }
  assert.equal(open[0]?.metric, 'authorization_success_rate', 'the burst raised an alert');

  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${api.base}/dashboard`);
  await page.fill('#key', api.sk);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => Number(document.body.dataset.drawn ?? 0) >= 1);
  const canvases = await page.$$eval('.chart canvas', (cs) => cs.map((c) => [c.width, c.height]));
  assert.equal(canvases.length, 4, 'four charts');
  assert.ok(canvases.every(([w, h]) => w > 200 && h > 100), JSON.stringify(canvases));
  const alertText = await page.textContent('#alerts li.open');
  assert.match(alertText, /authorization success rate/);
  assert.match(await page.textContent('#summary'), /requests/);
  // the charts hold the data: uPlot's legend shows the latest success rate
  const legend = await page.$$eval('.u-legend', (ls) => ls.length);
  assert.equal(legend, 4);
  mkdirSync(path.join(root, 'target'), { recursive: true });
  await page.screenshot({ path: path.join(root, 'target/dashboard.png'), fullPage: true });
  assert.deepEqual(errors, []);
  // Offline, each refresh says so and throws nothing (it rejected unhandled every 3 s); back online, it draws.
  await page.evaluate(() => {
    window.__rejections = [];
    window.addEventListener('unhandledrejection', (e) => window.__rejections.push(String(e.reason)));
  });
  const drawn = await page.evaluate(() => Number(document.body.dataset.drawn));
  await page.context().setOffline(true);
  await page.waitForFunction(() => document.body.dataset.offline === 'true', null, { timeout: 10000 });
  await page.waitForTimeout(3500); // one more refresh while offline
  assert.deepEqual(await page.evaluate(() => window.__rejections), []);
  assert.match(await page.textContent('#updated'), /Cannot reach the server/);
  await page.context().setOffline(false);
  await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n && !document.body.dataset.offline, drawn,
    { timeout: 10000 });
  assert.deepEqual(errors, []);
  // a wrong key is refused
  const other = await browser.newPage();
  await other.goto(`${api.base}/dashboard`);
  await other.fill('#key', 'sk_test_wrong');
  await other.click('button[type=submit]');
  await other.waitForFunction(() => document.getElementById('login-error').textContent !== '');
});
