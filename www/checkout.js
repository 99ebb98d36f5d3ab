// The demo merchant's checkout: uses the `cardtoken` package exactly as a customer would.
// It validates and formats as the user types, tokenizes on submit (forgetting the card at once), and
// hands only the token to the shop's own back end (/shop/…), which holds the secret key and calls the
// payments API. 3-D Secure challenges open in a dialog.
import { load, validateNumber, validateExpiry, validateCvc, formatNumber, cardBrands, isCardtokenError }
  from 'cardtoken';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const cardtoken = await load(config.publishableKey, { apiBase: config.apiBase });
const niceNames = new Map(cardBrands().map((b) => [b.name, b.niceType]));
const yen = (n) => `¥${n.toLocaleString('en-US')}`;

const MESSAGES = {
  invalid_number: 'This card number is not valid.',
  incomplete_number: 'The card number is incomplete.',
  unknown_brand: 'We do not recognise this card.',
  too_long: 'The card number is too long.',
  invalid_expiry: 'The expiry date is not valid.',
  expired_card: 'This card has expired.',
  incomplete_expiry: 'The expiry date is incomplete.',
  invalid_cvc: 'The security code is not valid.',
  incomplete_cvc: 'The security code is incomplete.',
};

// What the shopper is told for each decline. Lost, stolen and suspected-fraud cards get the generic
// message: a merchant should not tell a possible fraudster which check failed.
const DECLINES = {
  insufficient_funds: 'Payment declined: insufficient funds on this card.',
  expired_card: 'Payment declined: expired card.',
  incorrect_cvc: 'Payment declined: the security code is incorrect.',
  card_velocity_exceeded: 'Payment declined: the card has reached its limit. Try again later.',
  processing_error: 'The card could not be processed. Please try again.',
  authentication_failed: 'Payment declined: 3-D Secure authentication failed.',
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

const state = { number: null, expiry: null, cvc: null, payment: null };

function showError(field, check, final) {
  const input = $(field);
  const show = check.error !== null && (final || !check.isPotentiallyValid);
  input.setAttribute('aria-invalid', String(show));
  $(`${field}-error`).textContent = show ? MESSAGES[check.error] ?? check.error : '';
}

function checkNumber(final = false) {
  state.number = validateNumber($('number').value);
  $('brand').textContent = state.number.brand ? niceNames.get(state.number.brand) : '';
  showError('number', state.number, final);
  checkCvc(false);
}

function checkExpiry(final = false) {
  state.expiry = validateExpiry($('expiry').value);
  showError('expiry', state.expiry, final);
}

function checkCvc(final = false) {
  state.cvc = validateCvc($('cvc').value, state.number?.brand ?? undefined);
  if (final || $('cvc').value !== '') showError('cvc', state.cvc, final);
}

function updateButton() {
  $('pay').disabled = !(state.number?.isValid && state.expiry?.isValid && state.cvc?.isValid);
}

// Formats the number as it is typed, keeping the caret after the same digit it was after.
$('number').addEventListener('input', (event) => {
  const input = event.target;
  const caret = input.selectionStart ?? input.value.length;
  const digitsBefore = input.value.slice(0, caret).replace(/\D/g, '').length;
  const formatted = formatNumber(input.value);
  if (formatted !== input.value) {
    input.value = formatted;
    let pos = 0;
    for (let seen = 0; pos < formatted.length && seen < digitsBefore; pos++) {
      if (/\d/.test(formatted[pos])) seen++;
    }
    input.setSelectionRange(pos, pos);
  }
  checkNumber();
  updateButton();
});
$('expiry').addEventListener('input', () => { checkExpiry(); updateButton(); });
$('cvc').addEventListener('input', () => { checkCvc(); updateButton(); });
$('number').addEventListener('blur', () => checkNumber($('number').value !== ''));
$('expiry').addEventListener('blur', () => checkExpiry($('expiry').value !== ''));
$('cvc').addEventListener('blur', () => checkCvc($('cvc').value !== ''));

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

/** Shows the bank's challenge in a dialog; resolves when it reports back or the shopper cancels. */
function authenticate(url) {
  return new Promise((resolve) => {
    const dialog = $('challenge');
    const origin = new URL(url).origin;
    const done = (completed) => {
      window.removeEventListener('message', onMessage);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      $('challenge-frame').src = 'about:blank';
      resolve(completed);
    };
    const onMessage = (event) => {
      if (event.origin === origin && event.data?.source === 'cardtoken' && event.data.type === 'three_d_secure_complete') {
        done(true);
      }
    };
    const onClose = () => done(false);
    window.addEventListener('message', onMessage);
    dialog.addEventListener('close', onClose);
    $('challenge-frame').src = url;
    dialog.showModal();
  });
}
$('challenge-close').addEventListener('click', () => $('challenge').close());

async function settle(ok, body) {
  if (ok && body.status === 'requires_action') {
    render(body);
    const completed = await authenticate(body.next_action.url);
    const [, latest] = await shop('GET', `/shop/payments/${body.id}`);
    if (!completed && latest.status === 'requires_action') {
      render(latest, 'Authentication was canceled. The payment is still waiting.');
      return;
    }
    render(latest, latest.status === 'failed' ? declineMessage(latest.last_error ?? {}) : undefined);
    return;
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
    token = await cardtoken.createToken({
      number: $('number').value,
      exp_month: state.expiry.month,
      exp_year: state.expiry.year,
      cvc: $('cvc').value,
      name: $('name').value,
    });
  } catch (err) {
    status.className = 'status failed';
    status.textContent = isCardtokenError(err) ? err.message : 'Something went wrong. Please try again.';
    updateButton();
    return;
  }
  // Keep the token, forget the card.
  for (const id of ['number', 'expiry', 'cvc']) $(id).value = '';
  $('brand').textContent = '';
  state.number = state.expiry = state.cvc = null;
  $('token-id').textContent = token.id;
  $('token-card').textContent = `${niceNames.get(token.card.brand) ?? token.card.brand} ending ${token.card.last4}`;
  $('token-exp').textContent = `${String(token.card.exp_month).padStart(2, '0')}/${token.card.exp_year}`;
  status.textContent = 'Card secured. Paying…';
  const [ok, body] = await shop('POST', '/shop/pay', { token: token.id, capture: !$('auth-only').checked },
    crypto.randomUUID());
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
  $('number').focus();
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

document.body.dataset.ready = 'true';
