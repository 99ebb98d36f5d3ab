// The demo merchant's checkout: uses the `cardtoken` package exactly as a customer would.
// It validates and formats as the user types, tokenizes on submit, and keeps only the token:
// the card inputs are cleared as soon as the token arrives.
import { load, validateNumber, validateExpiry, validateCvc, formatNumber, cardBrands, isCardtokenError }
  from 'cardtoken';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const cardtoken = await load(config.publishableKey, { apiBase: config.apiBase });
const niceNames = new Map(cardBrands().map((b) => [b.name, b.niceType]));

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

const state = { number: null, expiry: null, cvc: null };

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

$('checkout').addEventListener('submit', async (event) => {
  event.preventDefault();
  const status = $('status');
  status.className = 'status';
  status.textContent = 'Securing your card…';
  $('pay').disabled = true;
  try {
    const token = await cardtoken.createToken({
      number: $('number').value,
      exp_month: state.expiry.month,
      exp_year: state.expiry.year,
      cvc: $('cvc').value,
      name: $('name').value,
    });
    // Keep the token, forget the card.
    for (const id of ['number', 'expiry', 'cvc']) $(id).value = '';
    $('brand').textContent = '';
    state.number = state.expiry = state.cvc = null;
    $('token-id').textContent = token.id;
    $('token-card').textContent = `${niceNames.get(token.card.brand) ?? token.card.brand} ending ${token.card.last4}`;
    $('token-exp').textContent = `${String(token.card.exp_month).padStart(2, '0')}/${token.card.exp_year}`;
    $('result').hidden = false;
    status.textContent = 'Card secured.';
  } catch (err) {
    status.className = 'status failed';
    status.textContent = isCardtokenError(err) ? err.message : 'Something went wrong. Please try again.';
    updateButton();
  }
});

document.body.dataset.ready = 'true';
