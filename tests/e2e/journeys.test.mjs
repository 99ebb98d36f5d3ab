// The demo checkout's journeys, one script for every engine, over classic WebDriver
// (tests/support/webdriver.mjs): `CARDTOKEN_ENGINE=chromium|firefox|webkit|wpe node --test …`.
// Keys are typed into whatever has focus, as a person types; the script follows the focus into the card
// fields' frame (another origin) the way the keystrokes go there. Playwright's Chromium tests
// (checkout.test.mjs) add what only it can see: every request and every message the host page gets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { engine, engineName, openBrowser } from '../support/webdriver.mjs';
import { startServer } from '../support/server.mjs';

const E = engine();
const name = (title) => `[${E.label}] ${title}`;
const NUMBER = '4242424242424242';

let server;
let browser;
let s; // the WebDriver session

before(async () => {
  server = await startServer({}, { demo: true });
  browser = await openBrowser(engineName());
  s = browser.session;
});

after(async () => {
  await browser?.stop();
  await server?.stop();
});

/** Opens the checkout and waits for the card fields' `ready`; page errors are collected in the page. */
async function openCheckout(query = '') {
  await s.top();
  await s.goto(`${server.demo}/${query}`);
  await s.waitFor(() => document.body.dataset.ready === 'true', [], { message: 'the card fields to be ready' });
}

const inFields = async () => {
  await s.top();
  await s.frame(await s.find('#card-fields iframe'));
};
const host = () => s.top();
const fieldValue = (id) => s.execute((i) => document.getElementById(i).value, id);
const active = () => s.execute(() => document.activeElement?.id ?? null);
const hostText = (id) => s.execute((i) => document.getElementById(i).textContent, id);

async function outcome(text) {
  await host();
  await s.waitFor((t) => document.getElementById('outcome').textContent === t, [text],
    { message: `outcome "${text}"`, timeout: 30000 });
  return { detail: await hostText('outcome-detail'), status: await hostText('payment-status') };
}

/** Clicks the number field and types a card: number, then (auto-advanced) expiry and CVC. */
async function typeCard(number) {
  await inFields();
  await s.click(await s.find('#number'));
  await s.type(number);
  await s.waitFor(() => document.activeElement?.id === 'expiry', [], { message: 'focus on the expiry' });
  await s.type('1234');
  await s.waitFor(() => document.activeElement?.id === 'cvc', [], { message: 'focus on the CVC' });
  await s.type(number.startsWith('37') ? '1234' : '123');
}

async function payWith(number, { authOnly = false } = {}) {
  await typeCard(number);
  await host();
  await s.execute((on) => { document.getElementById('auth-only').checked = on; }, authOnly);
  await s.waitFor(() => !document.getElementById('pay').disabled, [], { message: 'the Pay button' });
  await s.click(await s.find('#pay'));
}

async function again() {
  await host();
  await s.click(await s.find('#again'));
}

/** In the 3-D Secure dialog's frame, presses the bank page's button. */
async function challenge(button) {
  await host();
  await s.waitForElement('[role="dialog"][aria-modal="true"] iframe', { timeout: 30000 });
  await s.frame(await s.find('[role="dialog"] iframe'));
  await s.waitForElement(`button[value="${button}"]`);
  await s.click(await s.find(`button[value="${button}"]`));
  await host();
}

test(name('typing 4242… formats it and shows Visa in the fields and on the page; paying shows a token and the payment'), async () => {
  await openCheckout();
  await inFields();
  await s.click(await s.find('#number'));
  await s.type(NUMBER);
  assert.equal(await fieldValue('number'), '4242 4242 4242 4242');
  assert.equal(await s.execute(() => document.getElementById('brand').textContent), 'Visa');
  await s.type('1234123');
  await host();
  await s.waitFor(() => document.getElementById('card-state').textContent === 'Visa', [], { message: 'the brand on the host' });
  await s.waitFor(() => !document.getElementById('pay').disabled, [], { message: 'the Pay button' });
  await s.click(await s.find('#pay'));
  await s.waitFor(() => document.getElementById('token-id').textContent.startsWith('tok_'), [], { message: 'a token' });
  assert.match(await hostText('token-card'), /Visa ending 4242/);
  await outcome('Payment succeeded');
  await inFields();
  assert.equal(await fieldValue('number'), '', 'the fields clear once the token arrives');
  await host();
  const page = await s.execute(() => document.documentElement.outerHTML.replace(
    document.getElementById('test-cards').outerHTML, ''));
  assert.ok(!page.includes(NUMBER) && !page.includes('4242 4242'), 'the host page holds no card number');
  // The frame sent the card encrypted (a JWE made with this engine's WebCrypto), never in clear.
  const metrics = await (await fetch(`${server.api}/metrics`)).text();
  assert.match(metrics, /cardtoken_tokens_created_total\{mode="test",sent="encrypted"\} [1-9]/, 'an encrypted tokenization');
  assert.doesNotMatch(metrics, /sent="clear"/, 'no card in clear');
});

test(name('declines show their reason: insufficient funds, expired card'), async () => {
  await openCheckout();
  await payWith('4000000000009995');
  assert.match((await outcome('Payment failed')).detail, /insufficient funds/);
  await again();
  await payWith('4000000000000069');
  assert.match((await outcome('Payment failed')).detail, /expired card/);
});

test(name('3-D Secure: "Pass" succeeds, "Fail" fails, Escape cancels and the payment waits'), async () => {
  await openCheckout();
  await payWith('4000002500003155');
  await challenge('pass');
  assert.equal((await outcome('Payment succeeded')).status, 'succeeded');
  assert.equal(await s.execute(() => document.querySelectorAll('[role="dialog"]').length), 0, 'the dialog closed');
  await again();
  await payWith('4000000000003220');
  await challenge('fail');
  assert.match((await outcome('Payment failed')).detail, /authentication failed/);
  await again();
  await payWith('4000002500003155');
  await host();
  await s.waitForElement('[role="dialog"] button');
  // Keyboard: the dialog's Cancel button takes focus from Tab, Escape closes the dialog.
  await s.execute(() => document.querySelector('[role="dialog"] button').focus());
  await s.press('Escape');
  await s.waitFor(() => document.getElementById('outcome-detail').textContent.includes('canceled'), [],
    { message: 'the cancel message' });
  assert.equal(await hostText('payment-status'), 'requires_action');
  assert.equal(await s.execute(() => document.querySelectorAll('[role="dialog"]').length), 0);
});

test(name('an authorization is captured, refunded in part and in full; another is voided'), async () => {
  await openCheckout();
  await payWith('5555555555554444', { authOnly: true });
  await outcome('Payment authorized');
  await s.click(await s.find('#capture'));
  await outcome('Payment succeeded');
  await s.click(await s.find('#refund-part'));
  await s.waitFor(() => document.getElementById('payment-refunded').textContent === '¥500', [], { message: '¥500 refunded' });
  await s.click(await s.find('#refund'));
  await s.waitFor(() => document.getElementById('payment-refunded').textContent === '¥1,500', [], { message: 'all refunded' });
  await again();
  await payWith('4242424242424242', { authOnly: true });
  await outcome('Payment authorized');
  await s.click(await s.find('#void'));
  assert.equal((await outcome('Payment voided')).status, 'canceled');
});

test(name('the caret stays put on edit; fields advance and Backspace goes back'), async () => {
  await openCheckout();
  await inFields();
  const number = await s.find('#number');
  await s.click(number);
  await s.type('42424242');
  assert.equal(await fieldValue('number'), '4242 4242');
  await s.execute(() => document.getElementById('number').setSelectionRange(2, 2));
  await s.type('9');
  assert.equal(await fieldValue('number'), '4294 2424 2');
  assert.equal(await s.execute(() => document.getElementById('number').selectionStart), 3);
  await s.execute(() => document.getElementById('number').select());
  await s.type(NUMBER); // replaces the selection
  await s.waitFor(() => document.activeElement?.id === 'expiry', [], { message: 'a complete number moves on' });
  await s.press('Backspace');
  assert.equal(await active(), 'number', 'Backspace in an empty field goes back');
  await s.press('Tab');
  await s.type('1');
  assert.equal(await fieldValue('expiry'), '1');
  await s.type('2');
  assert.equal(await fieldValue('expiry'), '12 / ');
  await s.type('34');
  await s.waitFor(() => document.activeElement?.id === 'cvc', [], { message: 'the CVC' });
});

test(name('the card is completed and paid with the keyboard alone'), async () => {
  await openCheckout();
  await s.execute(() => document.getElementById('lang').focus());
  await s.press('Tab');
  // The focus is now in the frame (another origin): keystrokes go there.
  assert.equal(await s.execute(() => document.activeElement?.tagName), 'IFRAME');
  await inFields();
  await s.waitFor(() => document.activeElement?.id === 'number', [], { message: 'the number has focus' });
  await s.type(`${NUMBER}1234123`);
  await s.press('Tab'); // out of the frame, to the name
  await host();
  await s.waitFor(() => document.activeElement?.id === 'name', [], { message: 'Tab leaves the frame for the name' });
  await s.type('Jane Doe');
  await s.press('Tab'); // authorize only
  await s.press('Tab'); // pay
  await s.waitFor(() => document.activeElement?.id === 'pay' && !document.activeElement.disabled, [],
    { message: 'the Pay button has focus' });
  await s.press('Enter');
  await outcome('Payment succeeded');
});

test(name("Japanese labels and messages with locale 'ja'"), async () => {
  await openCheckout('?locale=ja');
  await inFields();
  assert.equal(await s.execute(() => document.getElementById('number-label').textContent), 'カード番号');
  assert.equal(await s.execute(() => document.getElementById('expiry-label').textContent), '有効期限');
  assert.equal(await s.execute(() => document.documentElement.lang), 'ja');
  await s.click(await s.find('#number'));
  await s.type('4242424242424241');
  await s.click(await s.find('#cvc'));
  await s.waitFor(() => document.getElementById('number-error').textContent === 'カード番号が正しくありません。', [],
    { message: 'the Japanese error' });
});
