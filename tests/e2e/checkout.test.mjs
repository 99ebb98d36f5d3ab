// The demo checkout on the real server, in Chromium, as a shopper uses it: the page formats and
// recognises the card as it is typed, gets a token, and keeps no card number; the request to /v1/tokens
// carries it encrypted (a JWE), and nothing carries it in clear.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.mjs';
import { openCardJwe } from '../support/jwe-open.mjs';
import { serverBin, startServer } from '../support/server.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const NUMBER = '4242424242424242';
const FORMATTED = '4242 4242 4242 4242';

let server;
let browser;
let urls;

before(async () => {
  server = await startServer({}, { demo: true });
  urls = server;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openCheckout(query = '', { hideKeys = false } = {}) {
  const page = await browser.newPage();
  // A hostile intermediary between the browser and the API: it answers the encryption keys with a 404.
  if (hideKeys) {
    await page.route('**/.well-known/jwks.json', (r) => r.fulfill({ status: 404, headers: { 'access-control-allow-origin': '*' } }));
  }
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  // Everything the host page is told by message, to prove no digits reach it.
  await page.addInitScript(() => {
    window.__messages = [];
    window.addEventListener('message', (e) => window.__messages.push(JSON.stringify(e.data)));
  });
  await page.goto(urls.demo + query);
  await page.waitForSelector('body[data-ready="true"]');
  const frame = page.frameLocator('#card-fields iframe');
  return { page, errors, requests, frame, fieldsFrame: () => page.frames().find((f) => f.url().includes('/elements/card')) };
}

test('the demo is on another origin than the API', () => {
  assert.notEqual(new URL(urls.demo).origin, new URL(urls.api).origin);
});

/** Types a card into the frame: number, then (auto-advanced) expiry and CVC. */
async function typeCard(page, frame, number) {
  await frame.locator('#number').click();
  await page.keyboard.type(number);
  await page.keyboard.type('1234'); // auto-advanced to the expiry: 12 / 34
  await page.keyboard.type(number.startsWith('37') ? '1234' : '123');
}

async function payWith(page, frame, number, { authOnly = false } = {}) {
  await typeCard(page, frame, number);
  await page.setChecked('#auth-only', authOnly);
  await page.waitForFunction(() => !document.getElementById('pay').disabled);
  await page.click('#pay');
}

async function outcome(page, text) {
  await page.waitForFunction((t) => document.getElementById('outcome').textContent === t, text);
  return { detail: await page.textContent('#outcome-detail'), status: await page.textContent('#payment-status') };
}

test('typing 4242… in the fields formats it and shows Visa; paying shows a token; the host page never holds the number', async () => {
  const { page, errors, requests, frame } = await openCheckout();
  await frame.locator('#number').click();
  await page.keyboard.type(NUMBER);
  assert.equal(await frame.locator('#number').inputValue(), FORMATTED);
  assert.equal(await frame.locator('#brand').textContent(), 'Visa');
  assert.equal(await page.textContent('#card-state'), 'Visa', 'the host learns the brand from events');
  await page.keyboard.type('1234');
  await page.keyboard.type('123');
  await page.click('#pay');
  await page.waitForFunction(() => document.getElementById('token-id').textContent.startsWith('tok_'));
  const tokenId = await page.textContent('#token-id');
  assert.match(await page.textContent('#token-card'), /Visa ending 4242/);
  await outcome(page, 'Payment succeeded');
  assert.equal(await frame.locator('#number').inputValue(), '', 'the fields clear once the token arrives');

  // The host page's script: no input, no markup and no message it received holds the digits.
  const seen = await page.evaluate(() => ({
    html: (() => {
      const copy = document.documentElement.cloneNode(true);
      copy.querySelector('#test-cards').remove();
      return copy.outerHTML;
    })(),
    inputs: [...document.querySelectorAll('input')].map((i) => i.value).join('|'),
    messages: window.__messages.join('\n'),
    frameDocument: (() => {
      try {
        return document.querySelector('#card-fields iframe').contentDocument === null ? 'blocked' : 'readable';
      } catch {
        return 'blocked';
      }
    })(),
  }));
  assert.equal(seen.frameDocument, 'blocked', 'the frame is another origin');
  assert.ok(seen.messages.includes('"type":"change"'), 'messages were captured');
  for (const needle of [NUMBER, FORMATTED, '4242 4242', '"123"']) {
    assert.ok(!seen.html.includes(needle), `the host HTML holds no ${needle}`);
    assert.ok(!seen.inputs.includes(needle), `no host input holds ${needle}`);
    assert.ok(!seen.messages.includes(needle), `no message to the host holds ${needle}`);
  }
  assert.ok(!/"(number|cvc)"\s*:/.test(seen.messages), 'no message carries a number or cvc field');
  assert.ok(!seen.messages.includes('42424242'), 'no run of the card digits in any message');
  // No request carried it in clear, in a body or a URL: the tokenization request (from the frame) holds
  // a JWE and no digits of the card, and the JWE opens, with the server's private key, to the card typed.
  const carrying = requests.filter((r) => [NUMBER, FORMATTED, '4242'].some((n) => r.body.includes(n) || r.url.includes(n)));
  assert.deepEqual(carrying.map((r) => `${r.method} ${r.url}`), []);
  const tokenization = requests.filter((r) => r.method === 'POST' && r.url === `${urls.api}/v1/tokens`);
  assert.equal(tokenization.length, 1);
  const body = JSON.parse(tokenization[0].body);
  assert.deepEqual(Object.keys(body), ['card_jwe']);
  assert.match(body.card_jwe, /^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWE, ECDH-ES (no encrypted key)');
  assert.ok(!/"(number|cvc)"/.test(tokenization[0].body));
  const opened = JSON.parse(await openCardJwe(body.card_jwe, urls.dataDir));
  assert.deepEqual([opened.number, opened.exp_month, opened.exp_year, opened.cvc], [NUMBER, 12, 2034, '123']);
  assert.deepEqual(errors, []);
  // The token is the demo shop's (an account of its own): its secret key reads it, another account's cannot.
  const read = (key) => fetch(`${urls.api}/v1/tokens/${tokenId}`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal((await (await read(urls.shopKeys().secret_key)).json()).card.last4, '4242');
  assert.equal((await read(urls.sk)).status, 404, "another account's key does not see it");
});

test('declines show their reason: insufficient funds, expired card', async () => {
  const { page, frame } = await openCheckout();
  await payWith(page, frame, '4000000000009995');
  let r = await outcome(page, 'Payment failed');
  assert.match(r.detail, /insufficient funds/);
  await page.click('#again');
  await payWith(page, frame, '4000000000000069');
  r = await outcome(page, 'Payment failed');
  assert.match(r.detail, /expired card/);
});

test('3-D Secure through handleNextAction: "Pass" succeeds, "Fail" fails, and the dialog is keyboard-operable', async () => {
  const { page, frame } = await openCheckout();
  await payWith(page, frame, '4000002500003155');
  const dialog = page.locator('[role="dialog"][aria-modal="true"]');
  await dialog.waitFor();
  await page.frameLocator('[role="dialog"] iframe').getByRole('button', { name: 'Pass' }).click();
  assert.equal((await outcome(page, 'Payment succeeded')).status, 'succeeded');
  assert.equal(await dialog.count(), 0, 'the dialog closed');
  await page.click('#again');
  await payWith(page, frame, '4000000000003220');
  await dialog.waitFor();
  await page.frameLocator('[role="dialog"] iframe').getByRole('button', { name: 'Fail' }).click();
  const r = await outcome(page, 'Payment failed');
  assert.match(r.detail, /authentication failed/);
  // Escape closes it and the payment waits
  await page.click('#again');
  await payWith(page, frame, '4000002500003155');
  await dialog.waitFor();
  // Keyboard only: Tab out of the bank's page to the dialog's Cancel button, then Escape.
  for (let i = 0; i < 6; i++) {
    if (await page.evaluate(() => document.activeElement?.closest('[role="dialog"]') && document.activeElement.tagName === 'BUTTON')) break;
    await page.keyboard.press('Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Cancel');
  await page.keyboard.press('Escape');
  await page.waitForFunction(() => document.getElementById('outcome-detail').textContent.includes('canceled'));
  assert.equal(await page.textContent('#payment-status'), 'requires_action');
});

test('an authorization can be captured later, then refunded in full; the webhooks arrive', async () => {
  const { page, frame } = await openCheckout();
  await payWith(page, frame, '5555555555554444', { authOnly: true });
  await outcome(page, 'Payment authorized');
  await page.click('#capture');
  await outcome(page, 'Payment succeeded');
  const paymentId = await page.textContent('#payment-id');
  await page.click('#refund-part');
  await page.waitForFunction(() => document.getElementById('payment-refunded').textContent === '¥500');
  await page.click('#refund');
  await page.waitForFunction(() => document.getElementById('payment-refunded').textContent === '¥1,500');
  const seen = (type, object) => page.waitForFunction(([t, o]) =>
    [...document.querySelectorAll('#events li')].some((li) => li.dataset.type === t && li.textContent.includes(o)),
  [type, object], { timeout: 15000 });
  await seen('payment.succeeded', paymentId);
  await seen('refund.succeeded', 're_');
});

test('typing and pasting keep the caret where it belongs; fields advance and Backspace goes back', async () => {
  const { page, frame, fieldsFrame } = await openCheckout();
  const number = frame.locator('#number');
  await number.click();
  await page.keyboard.type('42424242');
  assert.equal(await number.inputValue(), '4242 4242');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.type('9');
  assert.equal(await number.inputValue(), '4294 2424 2');
  assert.equal(await number.evaluate((el) => el.selectionStart), 3, 'the caret stays after the typed digit');
  await number.fill('');
  await page.keyboard.insertText('4242-4242-4242-4242');
  assert.equal(await number.inputValue(), FORMATTED);
  const active = () => fieldsFrame().evaluate(() => document.activeElement.id);
  assert.equal(await active(), 'expiry', 'a complete number moves on to the expiry');
  await page.keyboard.press('Backspace');
  assert.equal(await active(), 'number', 'Backspace in an empty field goes back');
  await page.keyboard.press('Tab');
  await page.keyboard.type('1');
  assert.equal(await frame.locator('#expiry').inputValue(), '1');
  await page.keyboard.type('2');
  assert.equal(await frame.locator('#expiry').inputValue(), '12 / ');
  await page.keyboard.type('34');
  assert.equal(await active(), 'cvc');
});

test('the card can be completed and paid with the keyboard alone', async () => {
  const { page } = await openCheckout();
  await page.focus('#lang');
  await page.keyboard.press('Tab'); // into the frame: the number
  await page.keyboard.type(NUMBER + '1234' + '123');
  await page.keyboard.press('Tab'); // out of the frame: the name
  await page.keyboard.type('Jane Doe');
  await page.keyboard.press('Tab'); // authorize only
  await page.keyboard.press('Tab'); // pay
  await page.waitForFunction(() => document.activeElement?.id === 'pay' && !document.activeElement.disabled);
  await page.keyboard.press('Enter');
  await outcome(page, 'Payment succeeded');
});

test("Japanese labels appear with locale 'ja'", async () => {
  const { frame } = await openCheckout('?locale=ja');
  assert.equal(await frame.locator('#number-label').textContent(), 'カード番号');
  assert.equal(await frame.locator('#expiry-label').textContent(), '有効期限');
  assert.equal(await frame.locator('html').getAttribute('lang'), 'ja');
  await frame.locator('#number').fill('4242 4242 4242 4241');
  await frame.locator('#cvc').click();
  assert.equal(await frame.locator('#number-error').textContent(), 'カード番号が正しくありません。');
});

test('axe-core finds nothing serious or critical in the card fields', async () => {
  const { page, fieldsFrame } = await openCheckout();
  const axe = readFileSync(path.join(root, 'node_modules/axe-core/axe.min.js'), 'utf8');
  const f = fieldsFrame();
  await f.evaluate(axe);
  const violations = await f.evaluate(async () => {
    const result = await window.axe.run(document);
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length }));
  });
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious, [], JSON.stringify(violations));
  await page.close();
});

test('the frame sends a strict Content-Security-Policy', async () => {
  const res = await fetch(`${urls.api}/elements/card?pk=${urls.pk}`);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval';/);
  assert.match(csp, /frame-ancestors \*/);
  assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
  // Safari 15 compiles WebAssembly only under 'unsafe-eval': it alone gets it.
  const safari15 = 'Mozilla/5.0 (iPhone; CPU iPhone OS 15_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) '
    + 'Version/15.6 Mobile/15E148 Safari/604.1';
  const old = await fetch(`${urls.api}/elements/card?pk=${urls.pk}`, { headers: { 'user-agent': safari15 } });
  assert.match(old.headers.get('content-security-policy'), /script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval';/);
  assert.equal(old.headers.get('vary'), 'User-Agent');
});

test("the demo shop answers its own page only: another site's POST, or one that is not JSON, is refused", async () => {
  // A payment of the shop's, made as its back end would.
  const { publishable_key: pk, secret_key: sk } = urls.shopKeys();
  const api = (path, key, body) => fetch(`${urls.api}${path}`, {
    method: body ? 'POST' : 'GET', body: body && JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  }).then((r) => r.json());
  const token = await api('/v1/tokens', pk, { card: { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' } });
  const payment = await api('/v1/payments', sk, { amount: 1500, currency: 'jpy', token: token.id });
  assert.equal(payment.status, 'succeeded');
  const refund = (headers) => fetch(`${urls.demo}/shop/refunds`, {
    method: 'POST', headers, body: JSON.stringify({ payment: payment.id }),
  });
  // What a form or a no-cors fetch on another site sends: refused.
  assert.equal((await refund({ 'content-type': 'text/plain', origin: 'https://evil.example' })).status, 403);
  assert.equal((await refund({ 'content-type': 'application/json', origin: 'https://evil.example' })).status, 403);
  assert.equal((await refund({ 'content-type': 'application/json' })).status, 403, 'a POST with no origin');
  assert.equal((await refund({ 'content-type': 'text/plain', origin: urls.demo })).status, 415, 'JSON only');
  assert.equal((await api(`/v1/payments/${payment.id}`, sk)).amount_refunded, 0, 'nothing was refunded');
  // The shop's own page may.
  const own = await refund({ 'content-type': 'application/json', origin: urls.demo });
  assert.equal(own.status, 200);
  assert.equal((await api(`/v1/payments/${payment.id}`, sk)).amount_refunded, 1500);
});

test('a shop that takes cards only encrypted: with the keys hidden on the way, its card fields send the card nowhere', async () => {
  const shop = urls.shopKeys();
  const run = (...args) => execFileSync(serverBin(), ['accounts', 'require-encryption', shop.account, ...args],
    { env: { ...process.env, CARDTOKEN_DATA_DIR: urls.dataDir }, stdio: 'ignore' });
  run();
  try {
    // The frame's document says so once the running server has the setting (its key cache: 2 s).
    const META = '<meta name="cardtoken-encryption" content="required">';
    for (let i = 0; i < 50; i++) {
      if ((await (await fetch(`${urls.api}/elements/card?pk=${shop.publishable_key}`)).text()).includes(META)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const { page, requests, frame } = await openCheckout('', { hideKeys: true });
    await typeCard(page, frame, NUMBER);
    await page.waitForFunction(() => !document.getElementById('pay').disabled);
    await page.click('#pay');
    await page.waitForFunction(() => /cannot be encrypted/.test(document.getElementById('status').textContent));
    assert.deepEqual(requests.filter((r) => r.method === 'POST' && r.url.startsWith(`${urls.api}/v1/tokens`)), [],
      'no tokenization was sent, in clear or otherwise');
    assert.ok(requests.some((r) => r.url.endsWith('/.well-known/jwks.json')), 'the frame asked for the keys');
    await page.close();
  } finally {
    run('--off');
  }
});
