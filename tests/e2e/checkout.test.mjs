// The demo checkout on the real server, in Chromium, as a shopper uses it: the page formats and
// recognises the card as it is typed, gets a token, and keeps no card number; only the request to
// /v1/tokens carries it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '../support/browser.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const NUMBER = '4242424242424242';
const FORMATTED = '4242 4242 4242 4242';

let server;
let browser;
let dataDir;
const urls = {};

function startServer() {
  dataDir = mkdtempSync(path.join(tmpdir(), 'cardtoken-e2e-'));
  const bin = process.env.CARDTOKEN_SERVER_BIN || path.join(root, 'target/debug/cardtoken-server');
  server = spawn(bin, ['serve'], {
    cwd: root,
    env: { ...process.env, CARDTOKEN_DATA_DIR: dataDir, CARDTOKEN_LISTEN: '127.0.0.1:0',
      CARDTOKEN_DEMO_LISTEN: '127.0.0.1:0', RUST_LOG: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  server.stderr.on('data', () => {});
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}`)), 20000);
    server.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
    server.stdout.on('data', (chunk) => {
      out += chunk;
      urls.api = out.match(/API listening on (\S+)/)?.[1];
      urls.demo = out.match(/demo checkout on (\S+)/)?.[1];
      urls.sk = out.match(/secret key:\s+(\S+)/)?.[1];
      if (urls.api && urls.demo && urls.sk) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

before(async () => {
  await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function openCheckout() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postData() ?? '' }));
  await page.goto(urls.demo);
  await page.waitForSelector('body[data-ready="true"]');
  return { page, errors, requests };
}

test('the demo is on another origin than the API', () => {
  assert.notEqual(new URL(urls.demo).origin, new URL(urls.api).origin);
});

test('typing 4242… formats it and shows Visa; paying shows a token and the page keeps no card number', async () => {
  const { page, errors, requests } = await openCheckout();
  await page.click('#number');
  await page.keyboard.type(NUMBER);
  assert.equal(await page.inputValue('#number'), FORMATTED);
  assert.equal(await page.textContent('#brand'), 'Visa');
  await page.fill('#expiry', '12/34');
  await page.fill('#cvc', '123');
  await page.fill('#name', 'Jane Doe');
  await page.click('#pay');
  await page.waitForFunction(() => document.getElementById('token-id').textContent.startsWith('tok_'));
  const tokenId = await page.textContent('#token-id');
  assert.match(await page.textContent('#token-card'), /Visa ending 4242/);

  // The DOM and every input hold no card number, formatted or not (outside the page's published
  // list of test cards, which is static text).
  const html = await page.evaluate(() => {
    const copy = document.documentElement.cloneNode(true);
    copy.querySelector('#test-cards').remove();
    return copy.outerHTML;
  });
  const values = await page.$$eval('input', (inputs) => inputs.map((i) => i.value).join('|'));
  for (const needle of [NUMBER, FORMATTED]) {
    assert.ok(!html.includes(needle), 'the page HTML holds no card number');
    assert.ok(!values.includes(needle), 'no input holds the card number');
  }
  // Only the tokenization request carried it, in its body, never in a URL.
  const carrying = requests.filter((r) => [NUMBER, FORMATTED].some((n) => r.body.includes(n) || r.url.includes(n)));
  assert.deepEqual(carrying.map((r) => `${r.method} ${r.url}`), [`POST ${urls.api}/v1/tokens`]);
  assert.ok(requests.every((r) => !r.url.includes('4242')));
  assert.deepEqual(errors, []);

  // The merchant's server sees the token, not the number.
  const res = await fetch(`${urls.api}/v1/tokens/${tokenId}`, { headers: { authorization: `Bearer ${urls.sk}` } });
  const token = await res.json();
  assert.equal(token.card.last4, '4242');
  assert.ok(!JSON.stringify(token).includes(NUMBER));
});

test('errors show as the user types and the pay button waits for a valid card', async () => {
  const { page } = await openCheckout();
  await page.click('#number');
  await page.keyboard.type('4242424242424241');
  await page.click('#expiry');
  assert.equal(await page.textContent('#number-error'), 'This card number is not valid.');
  assert.equal(await page.getAttribute('#number', 'aria-invalid'), 'true');
  assert.equal(await page.isDisabled('#pay'), true);
  await page.fill('#expiry', '01/25');
  await page.click('#cvc');
  assert.equal(await page.textContent('#expiry-error'), 'This card has expired.');
  // pasting a formatted Amex number in the middle of typing keeps it whole and reformats it
  await page.fill('#number', '');
  await page.click('#number');
  await page.keyboard.insertText('3782-822463-10005');
  assert.equal(await page.inputValue('#number'), '3782 822463 10005');
  assert.equal(await page.textContent('#brand'), 'American Express');
});

/** Fills the form with `number` (any future expiry, a CVC of the brand's length) and pays. */
async function payWith(page, number, { authOnly = false } = {}) {
  await page.fill('#number', '');
  await page.click('#number');
  await page.keyboard.type(number);
  await page.fill('#expiry', '12/34');
  await page.fill('#cvc', number.startsWith('37') ? '1234' : '123');
  await page.setChecked('#auth-only', authOnly);
  await page.click('#pay');
}

async function outcome(page, text) {
  await page.waitForFunction((t) => document.getElementById('outcome').textContent === t, text);
  return { detail: await page.textContent('#outcome-detail'), status: await page.textContent('#payment-status') };
}

test('paying with 4242… succeeds, and a refund shows on the payment', async () => {
  const { page, errors } = await openCheckout();
  await payWith(page, NUMBER);
  const r = await outcome(page, 'Payment succeeded');
  assert.equal(r.status, 'succeeded');
  assert.equal(await page.textContent('#payment-captured'), '¥1,500');
  await page.click('#refund-part');
  await page.waitForFunction(() => document.getElementById('payment-refunded').textContent === '¥500');
  assert.equal(await page.textContent('#outcome-detail'), 'Refunded ¥500.');
  assert.deepEqual(errors, []);
});

test('declines show their reason: insufficient funds, expired card', async () => {
  const { page } = await openCheckout();
  await payWith(page, '4000000000009995');
  let r = await outcome(page, 'Payment failed');
  assert.match(r.detail, /insufficient funds/);
  assert.equal(r.status, 'failed');
  await page.click('#again');
  await payWith(page, '4000000000000069');
  r = await outcome(page, 'Payment failed');
  assert.match(r.detail, /expired card/);
});

test('the 3-D Secure card shows the challenge and, after "Pass", a successful payment', async () => {
  const { page } = await openCheckout();
  await payWith(page, '4000002500003155');
  await page.waitForSelector('#challenge[open]');
  const frame = page.frameLocator('#challenge-frame');
  await frame.getByRole('button', { name: 'Pass' }).click();
  const r = await outcome(page, 'Payment succeeded');
  assert.equal(r.status, 'succeeded');
  assert.equal(await page.isVisible('#challenge'), false, 'the dialog closed');
});

test('an authorization can be captured later, then refunded in full', async () => {
  const { page } = await openCheckout();
  await payWith(page, '5555555555554444', { authOnly: true });
  await outcome(page, 'Payment authorized');
  await page.click('#capture');
  await outcome(page, 'Payment succeeded');
  await page.click('#refund');
  await page.waitForFunction(() => document.getElementById('payment-refunded').textContent === '¥1,500');
});

test('the demo receives the webhooks: payment.succeeded after paying, refund.succeeded after refunding', async () => {
  const { page } = await openCheckout();
  await payWith(page, NUMBER);
  await outcome(page, 'Payment succeeded');
  const paymentId = await page.textContent('#payment-id');
  const seen = (type, object) => page.waitForFunction(([t, o]) =>
    [...document.querySelectorAll('#events li')].some((li) => li.dataset.type === t && li.textContent.includes(o)),
  [type, object], { timeout: 15000 });
  await seen('payment.succeeded', paymentId);
  await page.click('#refund');
  await page.waitForFunction(() => document.getElementById('payment-refunded').textContent === '¥1,500');
  await seen('refund.succeeded', 're_');
});
