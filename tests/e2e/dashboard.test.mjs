// The merchant dashboard in Chromium, on the real server binary, as a person uses it: signed in with an
// email and a password (made with `cardtoken-server users create`), never with an API key. Every response
// the pages get is recorded and searched: no secret key, card number or client secret, and a new secret
// key only on the one page that shows it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium, serveStatic } from '../support/browser.mjs';
import { startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = process.env.CARDTOKEN_SERVER_BIN || path.join(root, 'target/debug/cardtoken-server');
const axeSource = readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
const EMAIL = 'ann@shop.example';
const PASSWORD = 'correct horse battery staple';
const shots = path.join(root, 'target/dashboard');
mkdirSync(shots, { recursive: true });

const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

let browserPromise;
function browser() {
  browserPromise ??= launchChromium().then((b) => {
    cleanups.unshift(() => b.close());
    return b;
  });
  return browserPromise;
}

/** A server of its own, with a dashboard user of its first account. */
async function setUp(env = {}) {
  const server = await startServer({ CARDTOKEN_WEBHOOK_RETRY_SECS: '3600', ...env });
  cleanups.push(() => server.stop());
  await new Promise((resolve, reject) => {
    const child = spawn(bin, ['users', 'create', '--account', server.account, '--email', EMAIL], {
      cwd: root, env: { ...process.env, CARDTOKEN_DATA_DIR: server.dataDir, RUST_LOG: 'warn' },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    child.stdin.end(`${PASSWORD}\n`);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`users create: ${code}`))));
  });
  return server;
}

async function call(server, method, pathname, key, body) {
  const res = await fetch(server.api + pathname, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function pay(server, number, { amount = 1000, capture = true } = {}) {
  const card = { number, exp_month: 12, exp_year: 2034, cvc: '123' };
  const token = await call(server, 'POST', '/v1/tokens', server.pk, { card });
  return (await call(server, 'POST', '/v1/payments', server.sk, { amount, currency: 'jpy', token: token.json.id, capture })).json;
}

/** A webhook receiver answering `status` (changeable), recording what it got. */
async function receiver(status = 200) {
  const r = { status, got: [] };
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      r.got.push(JSON.parse(body));
      res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.status === 200 ? 'ok' : 'not now');
    });
  });
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${srv.address().port}/hook`;
  cleanups.push(() => new Promise((resolve) => { srv.closeAllConnections(); srv.close(resolve); }));
  return r;
}

/** A page that records every response body it gets, and fails the test on a script error. */
async function openPage(context) {
  const page = await context.newPage();
  const bodies = [];
  const pending = [];
  page.on('response', (r) => {
    pending.push(r.text().then((text) => bodies.push({ url: r.url(), text }), () => {}));
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.bodies = async () => {
    await Promise.all(pending);
    return bodies;
  };
  page.errors = errors;
  return page;
}

async function signIn(page, server) {
  await page.goto(`${server.api}/dashboard`);
  assert.match(page.url(), /\/dashboard\/sign-in$/, 'not signed in: the sign-in page');
  await page.getByLabel('Email').fill(EMAIL);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${server.api}/dashboard`);
}

/** Reloads until `selector` is on the page (the worker delivers in the background). */
async function reloadUntil(page, selector, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await page.locator(selector).count()) return;
    if (Date.now() > end) assert.fail(`${selector} never appeared on ${page.url()}`);
    await page.waitForTimeout(250);
    await page.reload();
  }
}

const nav = (page, name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();

test('a merchant signs in, refunds part of a payment, rolls and revokes keys, resends a webhook, sees live mode empty, and signs out', async () => {
  const server = await setUp();
  const ok = await receiver(200);
  const failing = await receiver(500);
  // An endpoint for refunds, registered by the merchant's server.
  await call(server, 'POST', '/v1/webhook_endpoints', server.sk, { url: ok.url, events: ['refund.succeeded'] });
  const context = await (await browser()).newContext({ viewport: { width: 1280, height: 900 } });
  const page = await openPage(context);
  await signIn(page, server);

  // A payment through the API, found in Payments by its last 4.
  const paid = await pay(server, '5555555555554444');
  await pay(server, '4242424242424242');
  await nav(page, 'Payments');
  await page.getByLabel('Card last 4').fill('4444');
  await page.getByRole('button', { name: 'Filter' }).click();
  const rows = page.locator('table.payments tbody tr');
  assert.equal(await rows.count(), 1);
  await rows.getByRole('link').click();
  assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), `Payment ${paid.id}`);

  // Refund 300 of it, confirmed; the refund and its refund.succeeded delivery show in the timeline.
  await page.getByLabel(/Amount to refund/).fill('300');
  await page.getByRole('button', { name: 'Refund…' }).click();
  assert.equal(await page.locator('#confirm-amount').textContent(), '300 JPY');
  await page.getByRole('button', { name: 'Confirm refund' }).click();
  await page.waitForURL(/notice=refunded/);
  assert.equal(await page.locator('#refunded').textContent(), '300 JPY');
  assert.match(await page.locator('table.refunds').textContent(), /300 JPY/);
  await reloadUntil(page, 'li.event[data-type="refund.succeeded"] li.delivery[data-status="delivered"]');
  assert.match(await page.locator('li.event[data-type="refund.succeeded"] li.delivery').textContent(), /HTTP 200/);
  assert.equal(ok.got.length, 1);
  await page.screenshot({ path: path.join(shots, 'payment.png'), fullPage: true });

  // Roll the secret key with no grace period: the new one is shown once; the old one is refused.
  await nav(page, 'API keys');
  const skRow = page.locator('tr[data-kind="secret"]', { hasText: server.sk.slice(-4) });
  await skRow.getByRole('link', { name: /^Roll…/ }).click();
  await page.getByLabel('The old key keeps working for').selectOption({ label: 'no time: it stops now' });
  await page.getByRole('button', { name: 'Roll key' }).click();
  const rolled = await page.locator('.new-key[data-kind="secret"]').textContent();
  assert.match(rolled, /^sk_test_\w+$/);
  assert.equal((await call(server, 'GET', '/v1/payments', server.sk)).status, 401, 'the old key is refused');
  assert.equal((await call(server, 'GET', '/v1/payments', rolled)).status, 200);

  // A new pair, whose secret key is then revoked.
  await nav(page, 'API keys');
  await page.getByRole('button', { name: 'Create a key pair' }).click();
  const made = await page.locator('.new-key[data-kind="secret"]').textContent();
  assert.equal((await call(server, 'GET', '/v1/payments', made)).status, 200);
  await page.screenshot({ path: path.join(shots, 'new-keys.png'), fullPage: true });
  await page.getByRole('link', { name: 'Back to API keys' }).click();
  await page.locator('tr[data-kind="secret"]', { hasText: made.slice(-4) }).getByRole('link', { name: /^Revoke…/ }).click();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await page.waitForURL(/notice=revoked/);
  assert.equal((await call(server, 'GET', '/v1/payments', made)).status, 401, 'revoked');
  assert.equal((await call(server, 'GET', '/v1/payments', rolled)).status, 200);
  assert.equal(await page.locator('tr[data-kind="secret"]', { hasText: made.slice(-4) }).locator('.status').textContent(), 'revoked');

  // A webhook endpoint: a test event fails there, and is resent once the receiver answers 200.
  await nav(page, 'Webhooks');
  await page.getByLabel('Endpoint URL').fill(failing.url);
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  assert.match(await page.locator('.new-secret').textContent(), /^whsec_/);
  await page.getByRole('link', { name: 'Back to webhooks' }).click();
  await page.getByRole('button', { name: `Send test event: ${failing.url}` }).click();
  await page.waitForURL(/\/dashboard\/events\/evt_\w+\?notice=test_sent/);
  assert.equal(await page.locator('#event-type').textContent(), 'webhook_endpoint.test');
  await reloadUntil(page, 'tr.attempt[data-code="500"]');
  assert.match(await page.locator('tr.attempt').first().textContent(), /HTTP 500.*ms.*not now/s);
  failing.status = 200;
  await page.getByRole('button', { name: `Resend: ${failing.url}` }).click();
  await page.waitForURL(/notice=resent/);
  await reloadUntil(page, 'section.delivery[data-status="delivered"] tr.attempt[data-code="200"]');
  assert.equal(await page.locator('tr.attempt').count(), 2, 'both attempts, with their status, duration and excerpt');
  assert.deepEqual(failing.got.map((e) => e.type), ['webhook_endpoint.test', 'webhook_endpoint.test']);
  assert.equal(ok.got.length, 1, 'the test event went only to its endpoint');
  await page.screenshot({ path: path.join(shots, 'event.png'), fullPage: true });

  // Live mode shows none of the test objects.
  await page.getByRole('button', { name: 'Live mode' }).click();
  await page.waitForSelector('body.live');
  for (const [section, empty] of [['Payments', 'No payments.'], ['Webhooks', 'No endpoints.'], ['Events', 'No events.']]) {
    await nav(page, section);
    assert.match(await page.locator('main').textContent(), new RegExp(empty.replace('.', '\\.')), section);
    assert.doesNotMatch(await page.locator('main').textContent(), new RegExp(paid.id));
  }
  await nav(page, 'API keys');
  const keys = await page.locator('table.keys').textContent();
  assert.match(keys, /pk_live_/);
  assert.doesNotMatch(keys, /pk_test_|sk_test_/);
  await page.getByRole('button', { name: 'Test mode' }).click();

  // Sign out: the dashboard asks to sign in again.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/dashboard\/sign-in\?notice=signed_out/);
  await page.goto(`${server.api}/dashboard/payments`);
  assert.match(page.url(), /\/dashboard\/sign-in$/);

  // Nothing the pages got held a secret key, a card number or a client secret; each new secret key
  // was on exactly one response.
  const bodies = await page.bodies();
  assert.ok(bodies.length > 30, `${bodies.length} responses`);
  const all = bodies.map((b) => b.text).join('\n');
  for (const secret of [server.sk, paid.client_secret, '5555555555554444', '4242424242424242']) {
    assert.ok(!all.includes(secret), `${secret.slice(0, 12)}… reached a page`);
  }
  for (const key of [rolled, made]) {
    assert.equal(bodies.filter((b) => b.text.includes(key)).length, 1, 'a new secret key is shown once');
  }
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a forged cross-site form post is refused and refunds nothing', async () => {
  const server = await setUp();
  const paid = await pay(server, '4242424242424242');
  const context = await (await browser()).newContext();
  const page = await openPage(context);
  await signIn(page, server);
  // Another origin (same host, another port: the same site, so even SameSite cookies go along).
  const dir = mkdtempSync(path.join(tmpdir(), 'cardtoken-evil-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'index.html'), `<!doctype html><title>Win a prize</title>
    <form method="post" action="${server.api}/dashboard/payments/${paid.id}/refund">
      <input name="csrf" value="guess"><input name="in_mode" value="test"><input name="idem" value="evil">
    </form><script>document.forms[0].submit()</script>`);
  const evil = await serveStatic(dir);
  cleanups.push(() => evil.close());
  const refused = page.waitForResponse((r) => r.url().endsWith(`/dashboard/payments/${paid.id}/refund`));
  await page.goto(`${evil.url}/index.html`);
  const res = await refused;
  assert.equal(res.status(), 403);
  assert.match(await page.locator('[role=alert]').textContent(), /did not come from this dashboard/);
  const after_ = await call(server, 'GET', `/v1/payments/${paid.id}`, server.sk);
  assert.equal(after_.json.amount_refunded, 0, 'nothing was refunded');
  await context.close();
});

test('everything works from the keyboard: sign in, the navigation, a refund', async () => {
  const server = await setUp();
  const paid = await pay(server, '4242424242424242');
  const context = await (await browser()).newContext();
  const page = await openPage(context);
  await page.goto(`${server.api}/dashboard/sign-in`);
  // The email field has the focus (autofocus), which a browser may apply after the load event: wait for it
  // rather than type into nothing (on a loaded machine the password then went into the email field).
  await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'email');
  await page.keyboard.type(EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${server.api}/dashboard`);
  const focused = () => page.evaluate(() => {
    const e = document.activeElement;
    return { tag: e.tagName, id: e.id, text: (e.getAttribute('aria-label') || e.textContent || '').trim() };
  });
  /** Tabs until the focused element is `want` (by text or id); fails after 60 stops. */
  async function tabTo(want) {
    for (let i = 0; i < 60; i++) {
      await page.keyboard.press('Tab');
      const f = await focused();
      if (f.text === want || f.id === want) return f;
    }
    assert.fail(`Tab never reached ${want}`);
  }
  await page.keyboard.press('Tab');
  assert.equal((await focused()).text, 'Skip to content', 'the first stop skips to the content');
  const seen = new Set();
  for (let i = 0; i < 14; i++) {
    await page.keyboard.press('Tab');
    seen.add((await focused()).text);
  }
  for (const name of ['Payments', 'API keys', 'Webhooks', 'Events', 'Test mode', 'Live mode', '日本語', 'Sign out']) {
    assert.ok(seen.has(name), `${name} is reachable by Tab: ${[...seen]}`);
  }
  await page.goto(`${server.api}/dashboard`);
  await tabTo('Payments');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/dashboard\/payments$/);
  await tabTo(paid.id);
  await page.keyboard.press('Enter');
  await page.waitForURL(new RegExp(paid.id));
  await tabTo('refund-amount');
  await page.keyboard.type('250');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/refund\?amount=250/);
  await tabTo('Confirm refund');
  await page.keyboard.press('Enter');
  await page.waitForURL(/notice=refunded/);
  assert.equal(await page.locator('#refunded').textContent(), '250 JPY');
  await context.close();
});

test('axe-core finds nothing serious or critical on any page, in English or Japanese', async () => {
  const server = await setUp();
  const paid = await pay(server, '4242424242424242');
  const held = await pay(server, '5555555555554444', { capture: false });
  const hook = await receiver(500);
  await call(server, 'POST', '/v1/webhook_endpoints', server.sk, { url: hook.url });
  await call(server, 'POST', '/v1/refunds', server.sk, { payment: paid.id, amount: 100 });
  const context = await (await browser()).newContext({ viewport: { width: 1280, height: 900 } });
  const page = await openPage(context);
  const findings = [];
  async function audit(name) {
    await page.evaluate(axeSource);
    const result = await page.evaluate(() => window.axe.run(document));
    const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    for (const v of serious) findings.push(`${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target).join(' ')}`);
    return result.passes.length;
  }
  const sk = server.sk;
  for (const lang of ['en', 'ja']) {
    await page.goto(`${server.api}/dashboard/sign-in?lang=${lang}`);
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    await audit(`${lang} sign-in`);
    // A failed sign-in's page too.
    await page.locator('#email').fill(EMAIL);
    await page.locator('#password').fill('not the password');
    await page.locator('form.sign-in button').click();
    await audit(`${lang} sign-in error`);
    await page.locator('#email').fill(EMAIL);
    await page.locator('#password').fill(PASSWORD);
    await page.locator('form.sign-in button').click();
    await page.waitForURL(`${server.api}/dashboard`);
    await page.waitForFunction(() => Number(document.body.dataset.drawn ?? 0) >= 1);
    const pages = [
      ['home', '/dashboard'],
      ['payments', '/dashboard/payments'],
      ['payments filtered', '/dashboard/payments?last4=4242&status=succeeded'],
      ['payment', `/dashboard/payments/${paid.id}`],
      ['refund', `/dashboard/payments/${paid.id}/refund?amount=100`],
      ['capture', `/dashboard/payments/${held.id}/capture`],
      ['void', `/dashboard/payments/${held.id}/void`],
      ['keys', '/dashboard/keys'],
      ['webhooks', '/dashboard/webhooks'],
      ['events', '/dashboard/events'],
      ['not found', '/dashboard/payments/pay_nothere'],
    ];
    for (const [name, p] of pages) {
      await page.goto(server.api + p);
      assert.ok(await audit(`${lang} ${name}`) > 5, `axe ran on ${name}`);
    }
    // The pages behind clicks: an event, confirmations, pages showing a new secret.
    await page.goto(`${server.api}/dashboard/events`);
    await page.locator('table.events tbody a').first().click();
    await reloadUntil(page, 'tr.attempt');
    await audit(`${lang} event`);
    await page.goto(`${server.api}/dashboard/keys`);
    await page.locator('tr[data-kind="secret"]', { hasText: sk.slice(-4) }).locator('a').first().click();
    await audit(`${lang} roll`);
    await page.goto(`${server.api}/dashboard/keys`);
    await page.locator('tr[data-kind="secret"]', { hasText: sk.slice(-4) }).locator('a').nth(1).click();
    await audit(`${lang} revoke`);
    await page.goto(`${server.api}/dashboard/keys`);
    await page.locator('main form button').first().click();
    await page.waitForSelector('.new-key');
    await audit(`${lang} new keys`);
    await page.goto(`${server.api}/dashboard/webhooks`);
    await page.locator('#url').fill(`${hook.url}?${lang}`);
    await page.locator('section.add button').click();
    await page.waitForSelector('.new-secret');
    await audit(`${lang} endpoint added`);
    await page.goto(`${server.api}/dashboard/webhooks`);
    await page.locator('td.actions a').first().click();
    await audit(`${lang} rotate`);
    if (lang === 'ja') {
      await page.goto(`${server.api}/dashboard/payments/${paid.id}`);
      assert.equal(await page.getByRole('navigation', { name: 'メイン' }).getByRole('link', { name: '支払い' }).count(), 1);
      await page.screenshot({ path: path.join(shots, 'payment-ja.png'), fullPage: true });
    }
    await page.goto(`${server.api}/dashboard`);
    await page.locator('form[action="/dashboard/sign-out"] button').click();
    await page.waitForURL(/sign-in/);
  }
  assert.deepEqual(findings, []);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('after traffic and a burst of declines, the home page draws its charts and lists the alert', async () => {
  // Five payments a second from one address, 1-second buckets: this takes seconds, not minutes.
  const server = await setUp({ CARDTOKEN_MONITOR_RESOLUTION_SECS: '1' });
  /** `perSecond` payments a second for `seconds`, choosing each card with `pick(i)`. Each starts on its
   * schedule without waiting for the one before: on a loaded machine a payment takes longer, and a rate
   * that waited for each would fall below what the alerts need to measure at all. */
  async function traffic(seconds, perSecond, pick) {
    const start = Date.now();
    const sent = [];
    for (let i = 0; i < seconds * perSecond; i++) {
      await new Promise((r) => setTimeout(r, Math.max(0, start + (i * 1000) / perSecond - Date.now())));
      sent.push(pay(server, pick(i)));
    }
    await Promise.all(sent);
  }
  await traffic(12, 5, (i) => (i % 8 === 3 ? '4000000000000002' : '4242424242424242'));
  assert.deepEqual((await call(server, 'GET', '/v1/alerts', server.sk)).json.data, [], 'no alert on steady traffic');
  let open = [];
  let alerts = [];
  for (let i = 0; i < 20 && !open.some((a) => a.metric === 'authorization_success_rate'); i++) {
    await traffic(1, 5, () => '4000000000009995');
    alerts = (await call(server, 'GET', '/v1/alerts', server.sk)).json.data;
    open = alerts.filter((a) => a.status === 'open');
  }
  // What the alerts saw, should they have seen nothing: the last minute of payments and their outcomes.
  const seen = async () => JSON.stringify({ alerts,
    recent: (await call(server, 'GET', '/v1/monitoring?window=hour', server.sk)).json?.points?.slice?.(-30) });
  assert.ok(open.some((a) => a.metric === 'authorization_success_rate'), `the burst raised an alert: ${await seen()}`);

  const context = await (await browser()).newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await openPage(context);
  await signIn(page, server);
  await page.waitForFunction(() => Number(document.body.dataset.drawn ?? 0) >= 1);
  const canvases = await page.$$eval('.chart canvas', (cs) => cs.map((c) => [c.width, c.height]));
  assert.equal(canvases.length, 4, 'four charts');
  assert.ok(canvases.every(([w, h]) => w > 200 && h > 100), JSON.stringify(canvases));
  assert.match(await page.textContent('#alerts li.open'), /authorization success rate/);
  assert.match(await page.textContent('#summary'), /requests/);
  assert.equal(await page.$$eval('.u-legend', (ls) => ls.length), 4);
  await page.screenshot({ path: path.join(shots, 'home.png'), fullPage: true });
  // In Japanese, the same charts with Japanese words.
  await page.goto(`${server.api}/dashboard?lang=ja`);
  await page.waitForFunction(() => Number(document.body.dataset.drawn ?? 0) >= 1);
  assert.match(await page.textContent('#summary'), /リクエスト/);
  await page.goto(`${server.api}/dashboard?lang=en`);
  await page.waitForFunction(() => Number(document.body.dataset.drawn ?? 0) >= 1);
  // Offline, each refresh says so and throws nothing; back online, it draws.
  await page.evaluate(() => {
    window.__rejections = [];
    window.addEventListener('unhandledrejection', (e) => window.__rejections.push(String(e.reason)));
  });
  const drawn = await page.evaluate(() => Number(document.body.dataset.drawn));
  await context.setOffline(true);
  await page.waitForFunction(() => document.body.dataset.offline === 'true', null, { timeout: 10000 });
  await page.waitForTimeout(3500);
  assert.deepEqual(await page.evaluate(() => window.__rejections), []);
  assert.match(await page.textContent('#updated'), /Cannot reach the server/);
  await context.setOffline(false);
  await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n && !document.body.dataset.offline, drawn,
    { timeout: 10000 });
  // The page asked for no key: its requests carried none.
  const bodies = await page.bodies();
  assert.ok(bodies.some((b) => b.url.includes('/dashboard/monitoring.json')));
  assert.ok(!bodies.some((b) => b.text.includes(server.sk)));
  assert.deepEqual(page.errors, []);
  await context.close();
});
