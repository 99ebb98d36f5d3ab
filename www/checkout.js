// The demo merchant's checkout: uses the `cardtoken` package exactly as a customer would. The card
// fields are mounted from the package (an iframe on the API's origin): this page never sees the digits,
// only events and the token, which it hands to the shop's own back end (/shop/…). 3-D Secure runs through
// `handleNextAction`.
// Imported by URL, as a page without a bundler does: import maps (to import it by name) need Safari 16.4.
import { load, cardBrands, isCardtokenError } from '/pkg/index.js';

const $ = (id) => document.getElementById(id);
const locale = new URLSearchParams(location.search).get('locale') === 'ja' ? 'ja' : 'en';
const config = await (await fetch('/config.json')).json();
const cardtoken = await load(config.publishableKey, { apiBase: config.apiBase, locale });
const niceNames = new Map(cardBrands().map((b) => [b.name, b.niceType]));
const yen = (n) => `¥${n.toLocaleString('en-US')}`;
if (locale === 'ja') {
  $('lang').textContent = 'English';
  $('lang').href = '?';
  $('lang').lang = 'en';
}

// What the shopper is told for each decline. Lost, stolen and suspected-fraud cards get the generic
// message: a merchant should not tell a possible fraudster which check failed.
const DECLINES = {
  insufficient_funds: 'Payment declined: insufficient funds on this card.',
  expired_card: 'Payment declined: expired card.',
  incorrect_cvc: 'Payment declined: the security code is incorrect.',
  card_velocity_exceeded: 'Payment declined: the card has reached its limit. Try again later.',
  processing_error: 'The card could not be processed. Please try again.',
  authentication_failed: 'Payment declined: 3-D Secure authentication failed.',
  authentication_canceled: 'Authentication was canceled. The payment is still waiting.',
  generic_decline: 'Payment declined by the card issuer.',
  lost_card: 'Payment declined by the card issuer.',
  stolen_card: 'Payment declined by the card issuer.',
  fraudulent: 'Payment declined by the card issuer.',
};

const OUTCOMES = {
  succeeded: ['Payment succeeded', 'The order is paid.'],
  requires_capture: ['Payment authorized', 'The amount is held on the card; capture it to take it, or void it.'],
  requires_action: ['Waiting for authentication', 'The bank asked the cardholder to confirm.'],
  canceled: ['Payment voided', 'The hold on the card was released.'],
  failed: ['Payment failed', ''],
};

const state = { complete: false, payment: null };
const fields = cardtoken.mountCardFields('#card-fields', { locale });
const showState = (e) => {
  state.complete = e.complete;
  $('card-state').textContent = e.brand ? niceNames.get(e.brand) ?? '' : '';
  $('pay').disabled = !e.complete;
};
fields.on('change', showState).on('blur', showState);
fields.on('ready', () => {
  document.body.dataset.ready = 'true';
});

/** A random idempotency key for the order (crypto.randomUUID needs Safari 15.4). */
const orderKey = () => Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');

/** Calls the shop's back end; answers [ok, json]. */
async function shop(method, path, body, orderKey) {
  const headers = { 'content-type': 'application/json' };
  if (orderKey) headers['x-order-key'] = orderKey;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return [res.ok, await res.json()];
}

function render(payment, failure) {
  state.payment = payment;
  const status = payment?.status ?? 'failed';
  const [title, detail] = OUTCOMES[status] ?? ['', ''];
  $('outcome').textContent = title;
  $('outcome').className = status === 'failed' ? 'failed' : '';
  $('outcome-detail').textContent = failure ?? detail;
  $('payment-id').textContent = payment?.id ?? '';
  $('payment-status').textContent = status;
  $('payment-captured').textContent = payment ? yen(payment.amount_captured) : '';
  $('payment-refunded').textContent = payment ? yen(payment.amount_refunded) : '';
  const remaining = payment ? payment.amount_captured - payment.amount_refunded : 0;
  $('capture').hidden = status !== 'requires_capture';
  $('void').hidden = status !== 'requires_capture';
  $('refund').hidden = !(status === 'succeeded' && remaining > 0);
  $('refund-part').hidden = !(status === 'succeeded' && remaining >= 500);
  $('result').hidden = false;
  $('outcome').focus();
}

function declineMessage(error) {
  return DECLINES[error.decline_code] ?? DECLINES[error.code] ?? error.message;
}

async function settle(ok, body) {
  if (ok && body.status === 'requires_action') {
    render(body);
    try {
      await cardtoken.handleNextAction(body.client_secret);
    } catch (err) {
      const [, latest] = await shop('GET', `/shop/payments/${body.id}`);
      return render(latest, isCardtokenError(err) ? declineMessage(err) : 'Authentication failed.');
    }
    const [, latest] = await shop('GET', `/shop/payments/${body.id}`);
    return render(latest);
  }
  if (ok) return render(body);
  const error = body.error ?? {};
  render(error.payment ?? null, error.type === 'card_error' ? declineMessage(error) : error.message);
}

$('checkout').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = $('status');
  status.className = 'status';
  status.textContent = 'Securing your card…';
  $('pay').disabled = true;
  $('result').hidden = true;
  $('outcome').textContent = '';
  let token;
  try {
    token = await fields.createToken(); // the fields clear themselves once the token arrives
  } catch (err) {
    status.className = 'status failed';
    status.textContent = isCardtokenError(err) ? err.message : 'Something went wrong. Please try again.';
    $('pay').disabled = !state.complete;
    return;
  }
  $('token-id').textContent = token.id;
  $('token-card').textContent = `${niceNames.get(token.card.brand) ?? token.card.brand} ending ${token.card.last4}`;
  $('token-exp').textContent = `${String(token.card.exp_month).padStart(2, '0')}/${token.card.exp_year}`;
  status.textContent = 'Card secured. Paying…';
  const [ok, body] = await shop('POST', '/shop/pay', { token: token.id, capture: !$('auth-only').checked },
    orderKey());
  status.textContent = '';
  await settle(ok, body);
});

async function act(path, body) {
  const [ok, result] = await shop('POST', path, body);
  if (!ok) return render(state.payment, result.error?.message);
  if (result.object === 'refund') {
    const [, payment] = await shop('GET', `/shop/payments/${state.payment.id}`);
    return render(payment, `Refunded ${yen(result.amount)}.`);
  }
  render(result);
}
$('capture').addEventListener('click', () => act(`/shop/payments/${state.payment.id}/capture`));
$('void').addEventListener('click', () => act(`/shop/payments/${state.payment.id}/cancel`));
$('refund').addEventListener('click', () => act('/shop/refunds', { payment: state.payment.id }));
$('refund-part').addEventListener('click', () => act('/shop/refunds', { payment: state.payment.id, amount: 500 }));
$('again').addEventListener('click', () => {
  $('result').hidden = true;
  state.payment = null;
  fields.focus();
});

// The shop's webhook receiver's events, as they arrive.
async function refreshEvents() {
  try {
    const { data } = await (await fetch('/shop/events')).json();
    const list = $('events');
    list.replaceChildren(...data.map((e) => {
      const li = document.createElement('li');
      const type = document.createElement('span');
      type.className = 'type';
      type.textContent = e.type;
      li.append(type, ` ${e.object ?? ''}${e.status ? ` (${e.status})` : ''}`);
      li.dataset.type = e.type;
      return li;
    }));
  } catch {
    // the next poll tries again
  }
}
setInterval(refreshEvents, 1000);
refreshEvents();

