// The card fields' frame, served by the API's origin (/elements/card). The number, expiry and CVC live
// only in this document; the host page gets events ({complete, empty, brand, error}) and the token,
// never the digits. Messages: {source, v: 1, channel, type, …}, accepted only from the host origin named
// at mount and only on its channel.
// `npm run build` bundles this file with the package into the frame's one script (pkg/frame/card.js); the
// server serves it, the style and the wasm at content-addressed URLs, and the document pins each with
// `integrity` (the wasm's URL and hash are on this script's element, `data-wasm` and `data-wasm-integrity`).
import init, { load, validateNumber, validateExpiry, validateCvc, formatNumber, cardBrands } from 'cardtoken';

const PROTOCOL = 1;
const config = (() => {
  try {
    return JSON.parse(decodeURIComponent(location.hash.slice(1)));
  } catch {
    return {};
  }
})();
const publishableKey = new URLSearchParams(location.search).get('pk') ?? '';
const hostOrigin = typeof config.origin === 'string' ? config.origin : '';
const channel = typeof config.channel === 'string' ? config.channel : '';

const TEXT = {
  en: {
    number: 'Card number', expiry: 'Expiry date', cvc: 'Security code', numberPlaceholder: '1234 1234 1234 1234',
    expiryPlaceholder: 'MM / YY', cvcPlaceholder: 'CVC',
    invalid_number: 'Your card number is invalid.', incomplete_number: 'Your card number is incomplete.',
    unknown_brand: 'This card brand is not supported.', too_long: 'Your card number is too long.',
    invalid_expiry: 'Your expiry date is invalid.', expired_card: 'Your card has expired.',
    incomplete_expiry: 'Your expiry date is incomplete.', invalid_cvc: 'Your security code is invalid.',
    incomplete_cvc: 'Your security code is incomplete.',
  },
  ja: {
    number: 'カード番号', expiry: '有効期限', cvc: 'セキュリティコード', numberPlaceholder: '1234 1234 1234 1234',
    expiryPlaceholder: '月 / 年', cvcPlaceholder: 'CVC',
    invalid_number: 'カード番号が正しくありません。', incomplete_number: 'カード番号が不完全です。',
    unknown_brand: 'このカードブランドは使えません。', too_long: 'カード番号が長すぎます。',
    invalid_expiry: '有効期限が正しくありません。', expired_card: 'カードの有効期限が切れています。',
    incomplete_expiry: '有効期限が不完全です。', invalid_cvc: 'セキュリティコードが正しくありません。',
    incomplete_cvc: 'セキュリティコードが不完全です。',
  },
};
const locale = config.locale === 'ja' ? 'ja' : 'en';
const t = TEXT[locale];

const $ = (id) => document.getElementById(id);
const fields = ['number', 'expiry', 'cvc'];

function post(type, payload = {}) {
  if (hostOrigin) parent.postMessage({ source: 'cardtoken-frame', v: PROTOCOL, channel, type, ...payload }, hostOrigin);
}

// Style: only a safe list of properties, with values that cannot load anything or break out.
const STYLE_VARS = {
  color: '--ct-color', fontSize: '--ct-font-size', fontFamily: '--ct-font-family', fontWeight: '--ct-font-weight',
  letterSpacing: '--ct-letter-spacing', backgroundColor: '--ct-background-color', borderColor: '--ct-border-color',
  placeholderColor: '--ct-placeholder-color', invalidColor: '--ct-invalid-color', focusColor: '--ct-focus-color',
};
const SAFE_VALUE = /^[#\w\s.,%'"-]{1,100}$/;
function applyStyle(style) {
  if (!style || typeof style !== 'object') return;
  for (const [key, value] of Object.entries(style)) {
    const variable = STYLE_VARS[key];
    if (variable && typeof value === 'string' && SAFE_VALUE.test(value) && !/url|expression|\\/i.test(value)) {
      document.documentElement.style.setProperty(variable, value);
    }
  }
}

let client;
const state = { number: null, expiry: null, cvc: null };

function showError(field, check, final) {
  const input = $(field);
  const show = check.error !== null && (final || !check.isPotentiallyValid);
  input.setAttribute('aria-invalid', String(show));
  $(`${field}-error`).textContent = show ? t[check.error] ?? '' : '';
  return show ? check.error : null;
}

const digits = (s) => s.replace(/\D/g, '');

/** Formats the number, keeping the caret after the same digit it was after. */
function formatNumberInput(input) {
  const caret = input.selectionStart ?? input.value.length;
  const before = digits(input.value.slice(0, caret)).length;
  const formatted = formatNumber(input.value);
  if (formatted === input.value) return;
  input.value = formatted;
  let pos = 0;
  for (let seen = 0; pos < formatted.length && seen < before; pos++) {
    if (/\d/.test(formatted[pos])) seen++;
  }
  input.setSelectionRange(pos, pos);
}

/** `MM / YY` as it is typed (a leading 2–9 is a one-digit month). */
function formatExpiryInput(input, deleting) {
  let d = digits(input.value).slice(0, 6);
  if (d.length === 1 && d > '1') d = `0${d}`;
  const formatted = d.length > 2 || (d.length === 2 && !deleting) ? `${d.slice(0, 2)} / ${d.slice(2)}` : d;
  if (formatted !== input.value) {
    input.value = formatted;
    input.setSelectionRange(formatted.length, formatted.length);
  }
}

function summary(final = false) {
  const brand = state.number?.brand ?? null;
  const errors = fields.map((f) => (state[f] ? showError(f, state[f], final && $(f).value !== '') : null));
  return {
    complete: fields.every((f) => state[f]?.isValid),
    empty: fields.every((f) => $(f).value === ''),
    brand,
    error: errors.find((e) => e !== null) ?? null,
  };
}

function check(field) {
  if (field === 'number') {
    state.number = validateNumber($('number').value);
    const brand = state.number.brand;
    $('brand').textContent = brand ? cardBrands().find((b) => b.name === brand)?.niceType ?? '' : '';
    if ($('cvc').value !== '') state.cvc = validateCvc($('cvc').value, brand ?? undefined);
  } else if (field === 'expiry') {
    state.expiry = validateExpiry($('expiry').value);
  } else {
    state.cvc = validateCvc($('cvc').value, state.number?.brand ?? undefined);
  }
}

function maxLength(check) {
  return check.lengths.length ? Math.max(...check.lengths) : 19;
}

function advance(field) {
  if (config.autoAdvance === false) return;
  const c = state[field];
  if (field === 'number' && c?.isValid && (digits($('number').value).length >= Math.min(16, maxLength(c)))) {
    $('expiry').focus();
  } else if (field === 'expiry' && c?.isValid && digits($('expiry').value).length >= 4) {
    $('cvc').focus();
  }
}

function wire() {
  for (const field of fields) {
    const input = $(field);
    input.addEventListener('input', (event) => {
      if (field === 'number') formatNumberInput(input);
      if (field === 'expiry') formatExpiryInput(input, event.inputType?.startsWith('delete'));
      if (field === 'cvc') input.value = digits(input.value).slice(0, 4);
      check(field);
      post('change', summary());
      advance(field);
    });
    input.addEventListener('focus', () => post('focus', { field }));
    input.addEventListener('blur', () => {
      check(field);
      post('blur', { field, ...summary(true) });
    });
    input.addEventListener('keydown', (event) => {
      const i = fields.indexOf(field);
      if (event.key === 'Backspace' && input.value === '' && i > 0 && config.autoAdvance !== false) {
        event.preventDefault();
        const prev = $(fields[i - 1]);
        prev.focus();
        prev.setSelectionRange(prev.value.length, prev.value.length);
      }
    });
  }
}

function clear() {
  for (const f of fields) {
    $(f).value = '';
    $(f).setAttribute('aria-invalid', 'false');
    $(`${f}-error`).textContent = '';
    state[f] = null;
  }
  $('brand').textContent = '';
}

async function createToken(requestId) {
  for (const f of fields) check(f);
  const s = summary(true);
  if (!s.complete) {
    const first = fields.find((f) => !state[f]?.isValid);
    $(first).focus();
    post('result', { requestId, error: { type: 'validation_error', code: s.error ?? `incomplete_${first}`,
      message: t[s.error] ?? t[`incomplete_${first === 'number' ? 'number' : first}`] ?? 'Invalid card.', param: first } });
    return;
  }
  try {
    const token = await client.createToken({
      number: $('number').value,
      exp_month: state.expiry.month,
      exp_year: state.expiry.year,
      cvc: $('cvc').value,
    });
    clear();
    post('change', summary());
    post('result', { requestId, token });
  } catch (err) {
    const { type, code, message, param, decline_code: declineCode } = err ?? {};
    post('result', { requestId, error: { type, code, message, param, decline_code: declineCode } });
  }
}

window.addEventListener('message', (event) => {
  if (event.origin !== hostOrigin || event.source !== parent) return;
  const m = event.data;
  if (!m || m.source !== 'cardtoken-host' || m.v !== PROTOCOL || m.channel !== channel) return;
  if (m.type === 'createToken' && typeof m.requestId === 'string') createToken(m.requestId);
  else if (m.type === 'focus') $('number').focus();
  else if (m.type === 'clear') {
    clear();
    post('change', summary());
  }
});

async function start() {
  document.documentElement.lang = locale;
  for (const f of fields) $(`${f}-label`).textContent = t[f];
  $('number').placeholder = t.numberPlaceholder;
  $('expiry').placeholder = t.expiryPlaceholder;
  $('cvc').placeholder = t.cvcPlaceholder;
  applyStyle(config.style);
  // The wasm the document pins: fetched with its hash (a changed byte rejects the fetch, and start() then
  // reports the failure); where the document preloads it, this request takes the preload's response.
  const pinned = document.querySelector('script[data-wasm]')?.dataset ?? {};
  await init(fetch(new URL(pinned.wasm ?? '', location.href), { integrity: pinned.wasmIntegrity ?? '' }));
  // An account that takes cards only encrypted says so in the document: then never in clear.
  const required = document.querySelector('meta[name="cardtoken-encryption"]')?.content === 'required';
  client = await load(publishableKey, { apiBase: location.origin, encrypt: required ? 'required' : true });
  wire();
  const resize = () => post('resize', { height: document.documentElement.scrollHeight });
  new ResizeObserver(resize).observe(document.body);
  post('ready', { height: document.documentElement.scrollHeight, ...summary() });
}

// WebKit 2.38 (Safari 16) stops Tab at the frame's document before its first field, an extra stop a
// keyboard user cannot see. The Tab's keyup then lands on that document, its keydown having gone to the
// page: move on to the number (or, with Shift, back to the CVC). A Tab that starts here (keydown here)
// is leaving the frame and is left alone. (Focusing from the frame's focus event is too early there.)
let tabbedHere = false;
document.addEventListener('keydown', (event) => {
  tabbedHere = event.key === 'Tab';
});
document.addEventListener('keyup', (event) => {
  if (event.key !== 'Tab') return;
  const entering = !tabbedHere && document.hasFocus() && document.activeElement === document.body;
  tabbedHere = false;
  if (entering) $(event.shiftKey ? 'cvc' : 'number').focus();
});

if (hostOrigin && channel) {
  start().catch(() => post('error', { error: { type: 'api_error', code: 'frame_failed', message: 'The card fields could not load.' } }));
}
