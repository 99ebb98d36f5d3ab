// cardtoken: the package's public API. A thin layer over the wasm module (src/, built by
// wasm-bindgen into ./cardtoken_wasm.js): the wasm answers each check as one packed integer, and this
// file turns it into the contract's plain object using per-brand arrays built once at start-up.
// No card number or CVC is kept, logged or returned here.
import wasmInit, * as wasm from './cardtoken_wasm.js';

const NUMBER_ERRORS = [null, 'invalid_number', 'incomplete_number', 'unknown_brand', 'too_long'];
const EXPIRY_ERRORS = [null, 'invalid_expiry', 'expired_card', 'incomplete_expiry'];
const CVC_ERRORS = [null, 'invalid_cvc', 'incomplete_cvc'];
const NO_BRAND = 255;
const DEFAULT_API_BASE = 'http://127.0.0.1:4242';

let ready = null;
let brands = null; // [{name, niceType, lengths, gaps, cvcLengths}], frozen, in precedence order
let brandIndex = null; // name -> index
const unions = new Map(); // candidate mask -> {candidates, lengths, gaps, cvcLengths}

function sortedUnion(lists) {
  return Object.freeze([...new Set(lists.flat())].sort((a, b) => a - b));
}

function prepare() {
  brands = wasm.brandTable().map((b) =>
    Object.freeze({
      name: b.name,
      niceType: b.niceType,
      lengths: Object.freeze(b.lengths),
      gaps: Object.freeze(b.gaps),
      cvcLengths: Object.freeze([b.cvcLength]),
      cvcName: b.cvcName,
    }),
  );
  brandIndex = new Map(brands.map((b, i) => [b.name, i]));
}

function union(mask) {
  let u = unions.get(mask);
  if (u === undefined) {
    const picked = brands.filter((_, i) => mask & (1 << i));
    u = {
      candidates: Object.freeze(picked.map((b) => b.name)),
      lengths: sortedUnion(picked.map((b) => b.lengths)),
      gaps: sortedUnion(picked.map((b) => b.gaps)),
      cvcLengths: sortedUnion(picked.map((b) => b.cvcLengths)),
    };
    unions.set(mask, u);
  }
  return u;
}

function assertReady() {
  if (brands === null) {
    throw new Error('cardtoken: await init() (or load()) first.');
  }
}

/**
 * Loads the WebAssembly module once. `input` is optional: a URL, Response, BufferSource or
 * WebAssembly.Module of `cardtoken_wasm_bg.wasm`; by default it is fetched beside this file.
 */
export default function init(input) {
  if (ready === null) {
    ready = wasmInit(input === undefined ? undefined : { module_or_path: input }).then(
      () => prepare(),
      (err) => {
        ready = null; // let a later call try again
        throw err;
      },
    );
  }
  return ready;
}

/** Loads the module synchronously from its bytes or a compiled module (Node, tests, workers). */
export function initSync(module) {
  if (brands === null) {
    wasm.initSync({ module });
    prepare();
    ready = Promise.resolve();
  }
}

export { init };

/** Checks a card number as typed. Never throws on any string. */
export function validateNumber(value, options) {
  assertReady();
  const s = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
  if (s === null) {
    const u = union(0);
    return { brand: null, candidates: u.candidates, isValid: false, isPotentiallyValid: false,
      lengths: u.lengths, gaps: u.gaps, cvcLengths: u.cvcLengths, error: 'invalid_number' };
  }
  const bits = wasm.validateNumberPacked(s, options != null && options.luhnUnionPay === true);
  const b = (bits >>> 15) & 0xf;
  const u = union(bits & 0x7fff);
  const info = b === 0 ? u : brands[b - 1];
  return {
    brand: b === 0 ? null : info.name,
    candidates: u.candidates,
    isValid: ((bits >>> 19) & 1) === 1,
    isPotentiallyValid: ((bits >>> 20) & 1) === 1,
    lengths: info.lengths,
    gaps: info.gaps,
    cvcLengths: info.cvcLengths,
    error: NUMBER_ERRORS[(bits >>> 21) & 7],
  };
}

/** Checks an expiry as typed (`MM/YY`, `MM/YYYY`, `MMYY`, `YYYY-MM`, …). Never throws on any string. */
export function validateExpiry(value, options) {
  assertReady();
  if (typeof value !== 'string') {
    return { month: null, year: null, isValid: false, isPotentiallyValid: false, error: 'invalid_expiry' };
  }
  let now = options != null ? options.now : undefined;
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) now = new Date();
  let max = options != null ? options.maxYearsAhead : undefined;
  max = Number.isInteger(max) && max >= 0 && max <= 100 ? max : 19;
  const bits = wasm.validateExpiryPacked(value, now.getFullYear(), now.getMonth() + 1, max);
  const month = bits & 0xf;
  return {
    month: month === 0 ? null : month,
    year: month === 0 ? null : (bits >>> 4) & 0x7fff,
    isValid: ((bits >>> 19) & 1) === 1,
    isPotentiallyValid: ((bits >>> 20) & 1) === 1,
    error: EXPIRY_ERRORS[(bits >>> 21) & 3],
  };
}

/** Checks a security code: 3 digits, 4 for amex; without a brand, 3 or 4. Never throws. */
export function validateCvc(value, brand) {
  assertReady();
  if (typeof value !== 'string') {
    return { isValid: false, isPotentiallyValid: false, error: 'invalid_cvc' };
  }
  const i = typeof brand === 'string' ? brandIndex.get(brand) : undefined;
  const bits = wasm.validateCvcPacked(value, i === undefined ? NO_BRAND : i);
  return {
    isValid: (bits & 1) === 1,
    isPotentiallyValid: ((bits >>> 1) & 1) === 1,
    error: CVC_ERRORS[(bits >>> 2) & 3],
  };
}

/** Groups the digits by the brand's gaps: `4242 4242 4242 4242`, `3782 822463 10005`. */
export function formatNumber(value) {
  assertReady();
  return typeof value === 'string' ? wasm.formatNumber(value) : '';
}

/** The brand table: names, display names, lengths, gaps and CVC lengths, in precedence order. */
export function cardBrands() {
  assertReady();
  return brands;
}

/** The error every rejection of this package carries. */
export class CardtokenError extends Error {
  constructor(fields) {
    super(fields.message);
    this.name = 'CardtokenError';
    this.type = fields.type;
    this.code = fields.code;
    this.param = fields.param ?? null;
    this.decline_code = fields.decline_code ?? null;
    this.status = typeof fields.status === 'number' ? fields.status : null;
  }
}

/** True for errors from this package. */
export function isCardtokenError(value) {
  return value instanceof CardtokenError;
}

const fail = (type, code, message, param) => new CardtokenError({ type, code, message, param });

function toCardtokenError(e) {
  if (e instanceof CardtokenError) return e;
  if (e !== null && typeof e === 'object' && typeof e.type === 'string' && typeof e.message === 'string') {
    return new CardtokenError(e);
  }
  return fail('api_error', 'internal', 'cardtoken failed unexpectedly.');
}

const PROTOCOL = 1;

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Card fields in an iframe served by the API's origin: the page cannot read what is typed. Events
 * (`ready`, `change`, `focus`, `blur`) carry `{complete, empty, brand, error}`, never digits.
 */
export class CardFields {
  #iframe;
  #origin;
  #channel = randomId();
  #handlers = new Map();
  #pending = new Map();
  #listener;
  #ready;
  #failReady;
  #readyTimer;

  /** @internal use `cardtoken.mountCardFields()` */
  constructor(target, apiBase, publishableKey, options) {
    const container = typeof target === 'string' ? document.querySelector(target) : target;
    if (!(container instanceof Element)) {
      throw fail('validation_error', 'invalid_target', 'mountCardFields needs an element or a selector.', 'target');
    }
    this.#origin = new URL(apiBase).origin;
    const config = {
      channel: this.#channel, origin: location.origin, locale: options.locale === 'ja' ? 'ja' : 'en',
      style: options.style ?? null, autoAdvance: options.autoAdvance !== false,
    };
    const iframe = document.createElement('iframe');
    iframe.title = options.title ?? (config.locale === 'ja' ? 'カード情報の入力欄' : 'Secure card payment input');
    iframe.src = `${this.#origin}/elements/card?pk=${encodeURIComponent(publishableKey)}#${encodeURIComponent(JSON.stringify(config))}`;
    iframe.setAttribute('allow', 'payment');
    iframe.style.cssText = 'border:0;width:100%;height:150px;display:block';
    this.#iframe = iframe;
    // Ready when the frame says so; rejected when it reports that it failed to start, or when it stays
    // silent for `timeoutMs` (the frame never loaded: a network error, an unknown key, a blocked frame).
    this.#ready = new Promise((resolve, reject) => {
      this.#failReady = reject;
      this.once('ready', () => {
        clearTimeout(this.#readyTimer);
        resolve();
      });
    });
    this.#ready.catch(() => {}); // createToken() reports it; nobody else has to listen
    this.#readyTimer = setTimeout(() => this.#fail(fail('api_connection_error', 'timeout',
      'The card fields did not load in time.')), options.timeoutMs);
    this.#listener = (event) => this.#receive(event);
    window.addEventListener('message', this.#listener);
    container.replaceChildren(iframe);
  }

  #receive(event) {
    const m = event.data;
    if (event.origin !== this.#origin || event.source !== this.#iframe.contentWindow) return;
    if (!m || m.source !== 'cardtoken-frame' || m.v !== PROTOCOL || m.channel !== this.#channel) return;
    if (typeof m.height === 'number' && m.height > 0) this.#iframe.style.height = `${Math.ceil(m.height)}px`;
    if (m.type === 'error') {
      this.#fail(new CardtokenError(m.error ?? { type: 'api_error', code: 'frame_failed', message: 'The card fields could not load.' }));
      return;
    }
    if (m.type === 'result') {
      const pending = this.#pending.get(m.requestId);
      if (!pending) return;
      this.#pending.delete(m.requestId);
      if (m.token) pending.resolve(m.token);
      else pending.reject(m.error ? new CardtokenError(m.error) : fail('api_error', 'internal', 'Tokenization failed.'));
      return;
    }
    const detail = { complete: !!m.complete, empty: !!m.empty, brand: m.brand ?? null, error: m.error ?? null };
    if (m.field) detail.field = m.field;
    for (const handler of this.#handlers.get(m.type) ?? []) handler(detail);
  }

  /** The frame failed to start: every waiting and future createToken() rejects with `error`. */
  #fail(error) {
    clearTimeout(this.#readyTimer);
    this.#failReady(error);
    for (const handler of this.#handlers.get('error') ?? []) handler(error);
  }

  #send(type, extra = {}) {
    this.#iframe.contentWindow?.postMessage({ source: 'cardtoken-host', v: PROTOCOL, channel: this.#channel, type, ...extra },
      this.#origin);
  }

  /** Listens to `ready`, `change`, `focus`, `blur`, or `error` (the frame failed to load: a CardtokenError). */
  on(event, handler) {
    if (!this.#handlers.has(event)) this.#handlers.set(event, new Set());
    this.#handlers.get(event).add(handler);
    return this;
  }

  off(event, handler) {
    this.#handlers.get(event)?.delete(handler);
    return this;
  }

  once(event, handler) {
    const wrapped = (detail) => {
      this.off(event, wrapped);
      handler(detail);
    };
    return this.on(event, wrapped);
  }

  /** Tokenizes what was typed; the fields are cleared when the token arrives. Resolves the Token. */
  async createToken() {
    await this.#ready;
    const requestId = randomId();
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, { resolve, reject });
      this.#send('createToken', { requestId });
    });
  }

  focus() {
    this.#send('focus');
  }

  clear() {
    this.#send('clear');
  }

  /** Removes the frame and stops listening. */
  destroy() {
    const gone = fail('validation_error', 'fields_destroyed', 'The card fields were removed.');
    clearTimeout(this.#readyTimer);
    this.#failReady(gone); // a createToken() still waiting for the frame
    window.removeEventListener('message', this.#listener);
    this.#iframe.remove();
    for (const { reject } of this.#pending.values()) reject(gone);
    this.#pending.clear();
  }
}

/** Shows `url` (the 3-D Secure challenge) in a modal frame; resolves when it reports, rejects on close. */
function challenge(url, origin, locale) {
  return new Promise((resolve, reject) => {
    const opener = document.activeElement;
    const ja = locale === 'ja';
    const make = (tag, css) => Object.assign(document.createElement(tag), { style: css });
    const overlay = make('div', 'position:fixed;inset:0;background:#0008;display:grid;place-items:center;z-index:2147483647');
    const box = make('div', 'background:#fff;border-radius:12px;padding:12px;width:min(420px,92vw)');
    box.setAttribute('role', 'dialog');
    box.setAttribute('aria-modal', 'true');
    box.setAttribute('aria-label', ja ? '本人認証' : '3-D Secure authentication');
    const frame = make('iframe', 'border:1px solid #ddd;border-radius:8px;width:100%;height:300px;display:block');
    frame.title = ja ? 'カード会社の本人認証' : 'Your bank’s authentication';
    // The challenge posts its result to this page's origin only.
    const src = new URL(url);
    src.searchParams.set('origin', location.origin);
    frame.src = src;
    const close = make('button', 'margin-top:10px;width:100%;padding:10px;font:inherit;border-radius:6px');
    close.type = 'button';
    close.textContent = ja ? 'キャンセル' : 'Cancel';
    box.append(frame, close);
    overlay.append(box);
    const finish = (completed) => {
      window.removeEventListener('message', onMessage);
      document.removeEventListener('keydown', onKey, true);
      overlay.remove();
      if (opener instanceof HTMLElement) opener.focus();
      if (completed) resolve();
      else reject(fail('card_error', 'authentication_canceled', 'Authentication was closed; the payment still waits for it.'));
    };
    const onMessage = (event) => {
      const m = event.data;
      if (event.origin === origin && event.source === frame.contentWindow && m?.source === 'cardtoken'
          && m.type === 'three_d_secure_complete') finish(true);
    };
    const onKey = (event) => {
      if (event.key === 'Escape') {
        event.preventDefault();
        finish(false);
      } else if (event.key === 'Tab' && !box.contains(document.activeElement)) {
        event.preventDefault();
        frame.focus();
      }
    };
    close.addEventListener('click', () => finish(false));
    window.addEventListener('message', onMessage);
    document.addEventListener('keydown', onKey, true);
    document.body.append(overlay);
    frame.focus();
  });
}

/** A client bound to a publishable key: get one with `await load(key, options)`. */
export class Cardtoken {
  #client;
  #apiBase;
  #key;
  #locale;
  #timeout;

  /** @internal use `load()` */
  constructor(client, apiBase, key, locale, timeout) {
    this.#client = client;
    this.#apiBase = apiBase.replace(/\/+$/, '');
    this.#key = key;
    this.#locale = locale;
    this.#timeout = timeout;
  }

  /** Mounts card fields the page cannot read into `target` (an element or a selector). */
  mountCardFields(target, options = {}) {
    return new CardFields(target, this.#apiBase, this.#key, { locale: this.#locale, timeoutMs: this.#timeout, ...options });
  }

  async #payment(clientSecret) {
    const id = String(clientSecret).split('_secret_')[0];
    let res;
    try {
      res = await fetch(`${this.#apiBase}/v1/payments/${encodeURIComponent(id)}?client_secret=${encodeURIComponent(clientSecret)}`,
        { headers: { authorization: `Bearer ${this.#key}` }, credentials: 'omit' });
    } catch {
      throw fail('api_connection_error', 'network_error', 'Could not reach the cardtoken API.');
    }
    const body = await res.json().catch(() => null);
    if (!res.ok) throw toCardtokenError({ ...(body?.error ?? { type: 'api_error', code: 'unexpected_response', message: 'Unexpected answer.' }), status: res.status });
    return body;
  }

  /**
   * Completes a payment's next action (a 3-D Secure challenge, in a modal) and resolves the updated
   * Payment; rejects with `authentication_failed` (or the decline) when it fails.
   */
  async handleNextAction(clientSecret) {
    if (typeof clientSecret !== 'string' || !clientSecret.includes('_secret_')) {
      throw fail('validation_error', 'invalid_client_secret', 'handleNextAction takes the payment\'s client_secret.',
        'client_secret');
    }
    let payment = await this.#payment(clientSecret);
    if (payment.status !== 'requires_action' || payment.next_action?.type !== 'three_d_secure') return payment;
    await challenge(payment.next_action.url, new URL(this.#apiBase).origin, this.#locale);
    payment = await this.#payment(clientSecret);
    if (payment.status === 'failed') {
      const e = payment.last_error ?? {};
      throw new CardtokenError({ type: 'card_error', code: e.code ?? 'authentication_failed',
        decline_code: e.decline_code, message: e.message ?? 'The payment failed.' });
    }
    return payment;
  }

  /**
   * Tokenizes a card: checks it first (rejecting with `type: 'validation_error'` before any request),
   * then posts it to `{apiBase}/v1/tokens`. Resolves the Token: id, brand, last4, expiry, never the number.
   */
  async createToken(card) {
    try {
      return await this.#client.createToken(card);
    } catch (e) {
      throw toCardtokenError(e);
    }
  }
}

/**
 * Loads the module and returns a client bound to `publishableKey` (`pk_test_…` or `pk_live_…`).
 * Options: `apiBase` (default http://127.0.0.1:4242), `timeoutMs` (default 30000), `locale` (`en` or `ja`),
 * `wasm` (see init).
 */
export async function load(publishableKey, options = {}) {
  await init(options.wasm);
  const apiBase = typeof options.apiBase === 'string' ? options.apiBase : DEFAULT_API_BASE;
  const timeout = Number.isInteger(options.timeoutMs) && options.timeoutMs > 0 ? options.timeoutMs : 30000;
  try {
    const key = String(publishableKey ?? '');
    return new Cardtoken(new wasm.Client(key, apiBase, timeout), apiBase, key, options.locale === 'ja' ? 'ja' : 'en', timeout);
  } catch (e) {
    throw toCardtokenError(e);
  }
}
