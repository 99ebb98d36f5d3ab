// cardtoken: the package's public API. A thin layer over the wasm module (src/, built by
// wasm-bindgen into ./cardtoken_wasm.js): the wasm answers each check as one packed integer, and this
// file turns it into the contract's plain object using per-brand arrays built once at start-up.
// No card number or CVC is kept, logged or returned here.
import wasmInit, * as wasm from './cardtoken_wasm.js';
import { encryptorFor } from './jwe.js';

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

/** @internal the card fields' host side and the 3-D Secure dialog (./fields.js), loaded by load(). */
let fieldsModule = null;
function loadFields() {
  if (fieldsModule === null) {
    fieldsModule = import('./fields.js');
    fieldsModule.catch(() => { fieldsModule = null; }); // a later call tries again
  }
  return fieldsModule;
}

const clients = new WeakMap(); // Cardtoken -> {client, apiBase, key, locale, timeout, fields}

/** A client bound to a publishable key: get one with `await load(key, options)`. */
export class Cardtoken {
  /** @internal use `load()` */
  constructor(state) {
    clients.set(this, state);
  }

  /** Mounts card fields the page cannot read into `target` (an element, also in a shadow root, or a selector). */
  mountCardFields(target, options = {}) {
    const c = clients.get(this);
    if (!c.fields) throw fail('api_connection_error', 'network_error', 'The card fields\' code could not be loaded.');
    return c.fields.mount(target, c.apiBase, c.key, { locale: c.locale, timeoutMs: c.timeout, ...options });
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
    const c = clients.get(this);
    let fields;
    try {
      fields = c.fields ?? (c.fields = await loadFields());
    } catch {
      throw fail('api_connection_error', 'network_error', 'Could not load the 3-D Secure dialog.');
    }
    return fields.nextAction(c.apiBase, c.key, c.locale, clientSecret);
  }

  /**
   * Tokenizes a card: checks it first (rejecting with `type: 'validation_error'` before any request),
   * then posts it to `{apiBase}/v1/tokens`. Resolves the Token: id, brand, last4, expiry, never the number.
   */
  async createToken(card) {
    try {
      return await clients.get(this).client.createToken(card);
    } catch (e) {
      throw toCardtokenError(e);
    }
  }
}

/**
 * Loads the module and returns a client bound to `publishableKey` (`pk_test_…` or `pk_live_…`).
 * Options: `apiBase` (default http://127.0.0.1:4242), `timeoutMs` (default 30000), `locale` (`en` or `ja`),
 * `encrypt` (default true: cards travel encrypted to the server's key; `'required'`: only encrypted, never in
 * clear), `wasm` (see init).
 */
export async function load(publishableKey, options = {}) {
  // The card fields' code comes in beside the wasm (a separate file, so that pages that only validate,
  // with init(), do not load it); a page that cannot load it can still tokenize.
  const [, fields] = await Promise.all([init(options.wasm), loadFields().catch(() => null)]);
  const apiBase = typeof options.apiBase === 'string' ? options.apiBase : DEFAULT_API_BASE;
  const timeout = Number.isInteger(options.timeoutMs) && options.timeoutMs > 0 ? options.timeoutMs : 30000;
  try {
    const key = String(publishableKey ?? '');
    const client = new wasm.Client(key, apiBase, timeout);
    // Cards go encrypted to the server's key (JWE, WebCrypto) unless the page opts out; in clear only
    // where WebCrypto is missing or the server publishes no key.
    if (options.encrypt !== false) {
      client.useEncryptor(encryptorFor(apiBase, { timeoutMs: timeout, required: options.encrypt === 'required' }));
    }
    return new Cardtoken({ client, apiBase: apiBase.replace(/\/+$/, ''), key, locale: options.locale === 'ja' ? 'ja' : 'en',
      timeout, fields });
  } catch (e) {
    throw toCardtokenError(e);
  }
}
