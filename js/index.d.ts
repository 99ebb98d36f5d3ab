// Types of the `cardtoken` npm package. Resources are the HTTP API's JSON (snake_case);
// validation results are plain camelCase objects.

/** Card brands, in credit-card-type's order of precedence. */
export type Brand =
  | 'visa'
  | 'mastercard'
  | 'amex'
  | 'diners'
  | 'discover'
  | 'troy'
  | 'jcb'
  | 'unionpay'
  | 'naranja'
  | 'verve'
  | 'maestro'
  | 'elo'
  | 'mir'
  | 'hiper'
  | 'hipercard';

export type NumberErrorCode = 'invalid_number' | 'incomplete_number' | 'unknown_brand' | 'too_long';
export type ExpiryErrorCode = 'invalid_expiry' | 'expired_card' | 'incomplete_expiry';
export type CvcErrorCode = 'invalid_cvc' | 'incomplete_cvc';

export interface NumberCheck {
  /** The brand that fits alone (or the strongest match); `null` while undecided. */
  brand: Brand | null;
  /** Every brand the digits so far still fit, in precedence order. */
  candidates: readonly Brand[];
  isValid: boolean;
  /** Typing more digits can still make it valid. */
  isPotentiallyValid: boolean;
  /** The brand's lengths, or the union over `candidates` while `brand` is null. */
  lengths: readonly number[];
  gaps: readonly number[];
  cvcLengths: readonly number[];
  /** `null` exactly when `isValid`. */
  error: NumberErrorCode | null;
}

export interface NumberOptions {
  /** Luhn-check UnionPay numbers too (default false: many UnionPay cards do not pass it). */
  luhnUnionPay?: boolean;
}

export interface ExpiryCheck {
  /** 1–12, when the input holds a whole date (also when expired). */
  month: number | null;
  /** Four digits, when the input holds a whole date. */
  year: number | null;
  isValid: boolean;
  isPotentiallyValid: boolean;
  error: ExpiryErrorCode | null;
}

export interface ExpiryOptions {
  /** "Today" (default: the browser's clock). */
  now?: Date;
  /** How many years ahead an expiry may be (default 19). */
  maxYearsAhead?: number;
}

export interface CvcCheck {
  isValid: boolean;
  isPotentiallyValid: boolean;
  error: CvcErrorCode | null;
}

export interface BrandInfo {
  name: Brand;
  niceType: string;
  lengths: readonly number[];
  gaps: readonly number[];
  cvcLengths: readonly number[];
  cvcName: string;
}

/** What `cardtoken_wasm_bg.wasm` can be loaded from. */
export type WasmInput = string | URL | Request | Response | BufferSource | WebAssembly.Module;

/** Loads the WebAssembly module once; every function works after it resolves. */
export default function init(input?: WasmInput | Promise<WasmInput>): Promise<void>;
export function init(input?: WasmInput | Promise<WasmInput>): Promise<void>;
/** Loads the module synchronously (Node, tests, workers). */
export function initSync(module: BufferSource | WebAssembly.Module): void;

export function validateNumber(value: string, options?: NumberOptions): NumberCheck;
export function validateExpiry(value: string, options?: ExpiryOptions): ExpiryCheck;
export function validateCvc(value: string, brand?: Brand | null): CvcCheck;
export function formatNumber(value: string): string;
export function cardBrands(): readonly BrandInfo[];

/** The card `createToken` takes. `exp_year` has four digits (two are read as 20YY). */
export interface CardInput {
  number: string;
  exp_month: number | string;
  exp_year: number | string;
  cvc: string;
  name?: string;
}

/** The card a token stands for: never the number. */
export interface TokenCard {
  brand: Brand;
  last4: string;
  exp_month: number;
  exp_year: number;
  fingerprint: string;
}

export interface Token {
  /** `tok_…` */
  id: string;
  object: 'token';
  card: TokenCard;
  /** Unix seconds. */
  created: number;
  livemode: boolean;
  used: boolean;
}

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'card_error'
  | 'permission_error'
  | 'idempotency_error'
  | 'rate_limit_error'
  | 'api_error'
  /** Rejected by this package before any request. */
  | 'validation_error'
  /**
   * The API could not be reached (`code`: `network_error` or `timeout`), or, with `encrypt: 'required'`,
   * the card could not be encrypted (`encryption_unavailable`: no WebCrypto, or no key published).
   */
  | 'api_connection_error';

/** Every rejection of this package. Fields are the API's error object. */
export class CardtokenError extends Error {
  readonly name: 'CardtokenError';
  readonly type: ErrorType;
  readonly code: string;
  /** The field at fault (`number`, `exp_month`, `exp_year`, `cvc`, `name`, …), or null. */
  readonly param: string | null;
  readonly decline_code: string | null;
  /** The HTTP status, when the API answered. */
  readonly status: number | null;
}

export function isCardtokenError(value: unknown): value is CardtokenError;

export type PaymentStatus = 'requires_action' | 'requires_capture' | 'succeeded' | 'failed' | 'canceled';

/** A payment, as the API answers it. */
export interface Payment {
  /** `pay_…` */
  id: string;
  object: 'payment';
  amount: number;
  currency: string;
  status: PaymentStatus;
  amount_capturable: number;
  amount_captured: number;
  amount_refunded: number;
  capture_method: 'automatic' | 'manual';
  client_secret: string;
  card: { brand: Brand; last4: string; exp_month: number; exp_year: number };
  next_action: { type: 'three_d_secure'; url: string } | null;
  last_error: { code: string; decline_code?: string; message: string } | null;
  description: string | null;
  created: number;
  /** Made with a live key (`false`: test mode). */
  livemode: boolean;
  metadata: Record<string, string>;
}

/** The style properties the card fields take (values are checked: no `url()`, no braces). */
export interface CardFieldsStyle {
  color?: string;
  fontSize?: string;
  fontFamily?: string;
  fontWeight?: string;
  letterSpacing?: string;
  backgroundColor?: string;
  borderColor?: string;
  placeholderColor?: string;
  invalidColor?: string;
  focusColor?: string;
}

export interface CardFieldsOptions {
  /** Labels, placeholders and messages: `en` (default) or `ja`. */
  locale?: 'en' | 'ja';
  style?: CardFieldsStyle;
  /** Move to the next field when one is complete, and back on Backspace in an empty one (default true). */
  autoAdvance?: boolean;
  /** The iframe's accessible title. */
  title?: string;
}

/** What the card fields tell the page: never the digits. */
export interface CardFieldsEvent {
  /** Number, expiry and CVC are all valid. */
  complete: boolean;
  empty: boolean;
  brand: Brand | null;
  /** The first error code shown to the user, if any. */
  error: NumberErrorCode | ExpiryErrorCode | CvcErrorCode | null;
  /** `focus`/`blur`: which field. */
  field?: 'number' | 'expiry' | 'cvc';
}

/** Card fields in an iframe on the API's origin (what `mountCardFields` answers). */
export interface CardFields {
  on(event: 'ready' | 'change' | 'focus' | 'blur', handler: (detail: CardFieldsEvent) => void): this;
  off(event: 'ready' | 'change' | 'focus' | 'blur', handler: (detail: CardFieldsEvent) => void): this;
  once(event: 'ready' | 'change' | 'focus' | 'blur', handler: (detail: CardFieldsEvent) => void): this;
  /**
   * The frame failed to load: it reported an error (`api_error`, `frame_failed`), or said nothing for
   * `timeoutMs` (`api_connection_error`, `timeout`). `createToken()` then rejects with the same error.
   */
  on(event: 'error', handler: (error: CardtokenError) => void): this;
  off(event: 'error', handler: (error: CardtokenError) => void): this;
  once(event: 'error', handler: (error: CardtokenError) => void): this;
  /**
   * Tokenizes what was typed; rejects with `CardtokenError` (`validation_error` before any request;
   * `frame_failed` or `timeout` when the frame did not load).
   */
  createToken(): Promise<Token>;
  focus(): void;
  clear(): void;
  destroy(): void;
}

export interface LoadOptions {
  /** Card fields' and 3-D Secure dialogs' language: `en` (default) or `ja`. */
  locale?: 'en' | 'ja';
  /** The cardtoken API's origin (default http://127.0.0.1:4242). */
  apiBase?: string;
  /** Request timeout in milliseconds, and how long card fields may take to load (default 30000). */
  timeoutMs?: number;
  /**
   * Encrypt cards to the server's key before sending them (default true): a JWE made with WebCrypto, so
   * nothing that terminates TLS before the API sees the card. Cards go in clear (inside TLS) only where
   * WebCrypto is missing (an insecure context) or the server publishes no key. `'required'`: never in clear;
   * where it cannot be encrypted, `createToken` rejects with `encryption_unavailable` and sends nothing
   * (the card fields do this by themselves for an account that takes cards only encrypted).
   */
  encrypt?: boolean | 'required';
  /** Where to load the wasm from (see `init`). */
  wasm?: WasmInput | Promise<WasmInput>;
}

/** A client bound to a publishable key. */
export class Cardtoken {
  private constructor();
  /** Checks the card, then tokenizes it. Rejects with `CardtokenError`. */
  createToken(card: CardInput): Promise<Token>;
  /**
   * Mounts card fields the page cannot read into `target`: an element (in the document, or in an open or
   * closed shadow root) or a selector of the document.
   */
  mountCardFields(target: string | Element, options?: CardFieldsOptions): CardFields;
  /**
   * Runs a payment's next action (a 3-D Secure challenge in a modal) and resolves the updated Payment;
   * rejects with `authentication_failed`, a decline, or `authentication_canceled` when closed.
   */
  handleNextAction(clientSecret: string): Promise<Payment>;
}

/** Loads the module and returns a client for `publishableKey` (`pk_test_…` / `pk_live_…`). */
export function load(publishableKey: string, options?: LoadOptions): Promise<Cardtoken>;
