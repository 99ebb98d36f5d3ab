// cardtoken's browser-only parts, in a file of their own: the card fields' host side (`mountCardFields`)
// and the 3-D Secure dialog (`handleNextAction`). `load()` imports this file beside the wasm, so pages that
// only validate or tokenize never download it. Nothing here runs on import.
import { CardtokenError } from './index.js';

const PROTOCOL = 1;
const fail = (type, code, message, param) => new CardtokenError({ type, code, message, param });

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Card fields in an iframe served by the API's origin: the page cannot read what is typed. `target` is an
 * element (anywhere: in the document, or in an open or closed shadow root) or a selector (of the
 * document). Events (`ready`, `change`, `focus`, `blur`) carry `{complete, empty, brand, error}`, never
 * digits.
 */
export function mount(target, apiBase, publishableKey, options) {
  const container = typeof target === 'string' ? document.querySelector(target) : target;
  if (!(container instanceof Element)) {
    throw fail('validation_error', 'invalid_target', 'mountCardFields needs an element or a selector.', 'target');
  }
  const origin = new URL(apiBase).origin;
  const channel = randomId();
  const handlers = new Map();
  const pending = new Map();
  const config = {
    channel, origin: location.origin, locale: options.locale === 'ja' ? 'ja' : 'en',
    style: options.style ?? null, autoAdvance: options.autoAdvance !== false,
  };
  const iframe = document.createElement('iframe');
  iframe.title = options.title ?? (config.locale === 'ja' ? 'カード情報の入力欄' : 'Secure card payment input');
  iframe.src = `${origin}/elements/card?pk=${encodeURIComponent(publishableKey)}#${encodeURIComponent(JSON.stringify(config))}`;
  iframe.setAttribute('allow', 'payment');
  iframe.style.cssText = 'border:0;width:100%;height:150px;display:block';

  const emit = (type, detail) => {
    for (const handler of handlers.get(type) ?? []) handler(detail);
  };
  const send = (type, extra = {}) => {
    iframe.contentWindow?.postMessage({ source: 'cardtoken-host', v: PROTOCOL, channel, type, ...extra }, origin);
  };
  const receive = (event) => {
    const m = event.data;
    if (event.origin !== origin || event.source !== iframe.contentWindow) return;
    if (!m || m.source !== 'cardtoken-frame' || m.v !== PROTOCOL || m.channel !== channel) return;
    if (typeof m.height === 'number' && m.height > 0) iframe.style.height = `${Math.ceil(m.height)}px`;
    if (m.type === 'error') {
      failed(new CardtokenError(m.error ?? { type: 'api_error', code: 'frame_failed', message: 'The card fields could not load.' }));
      return;
    }
    if (m.type === 'result') {
      const waiting = pending.get(m.requestId);
      if (!waiting) return;
      pending.delete(m.requestId);
      if (m.token) waiting.resolve(m.token);
      else waiting.reject(m.error ? new CardtokenError(m.error) : fail('api_error', 'internal', 'Tokenization failed.'));
      return;
    }
    const detail = { complete: !!m.complete, empty: !!m.empty, brand: m.brand ?? null, error: m.error ?? null };
    if (m.field) detail.field = m.field;
    emit(m.type, detail);
  };

  const fields = {
    /** Listens to `ready`, `change`, `focus`, `blur`, or `error` (the frame failed to load: a CardtokenError). */
    on(event, handler) {
      if (!handlers.has(event)) handlers.set(event, new Set());
      handlers.get(event).add(handler);
      return fields;
    },
    off(event, handler) {
      handlers.get(event)?.delete(handler);
      return fields;
    },
    once(event, handler) {
      const wrapped = (detail) => {
        fields.off(event, wrapped);
        handler(detail);
      };
      return fields.on(event, wrapped);
    },
    /** Tokenizes what was typed; the fields are cleared when the token arrives. Resolves the Token. */
    async createToken() {
      await ready;
      const requestId = randomId();
      return new Promise((resolve, reject) => {
        pending.set(requestId, { resolve, reject });
        send('createToken', { requestId });
      });
    },
    focus() {
      send('focus');
    },
    clear() {
      send('clear');
    },
    /** Removes the frame and stops listening. */
    destroy() {
      const gone = fail('validation_error', 'fields_destroyed', 'The card fields were removed.');
      clearTimeout(readyTimer);
      failReady(gone); // a createToken() still waiting for the frame
      window.removeEventListener('message', receive);
      iframe.remove();
      for (const { reject } of pending.values()) reject(gone);
      pending.clear();
    },
  };
  let failReady;
  let readyTimer;
  // Ready when the frame says so; rejected when it reports that it failed to start, or when it stays
  // silent for `timeoutMs` (the frame never loaded: a network error, an unknown key, a blocked frame).
  const ready = new Promise((resolve, reject) => {
    failReady = reject;
    fields.once('ready', () => {
      clearTimeout(readyTimer);
      resolve();
    });
  });
  ready.catch(() => {}); // createToken() reports it; nobody else has to listen
  /** The frame failed to start: every waiting and future createToken() rejects with `error`. */
  const failed = (error) => {
    clearTimeout(readyTimer);
    failReady(error);
    emit('error', error);
  };
  readyTimer = setTimeout(() => failed(fail('api_connection_error', 'timeout', 'The card fields did not load in time.')),
    options.timeoutMs);
  window.addEventListener('message', receive);
  container.replaceChildren(iframe);
  return fields;
}

/** The element that has the focus, looking into open shadow roots (a design system's inputs live there). */
function focused() {
  let el = document.activeElement;
  while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
  return el;
}

/** Shows `url` (the 3-D Secure challenge) in a modal frame; resolves when it reports, rejects on close. */
function challenge(url, origin, locale) {
  return new Promise((resolve, reject) => {
    const opener = focused();
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

async function payment(apiBase, key, clientSecret) {
  const id = String(clientSecret).split('_secret_')[0];
  let res;
  try {
    res = await fetch(`${apiBase}/v1/payments/${encodeURIComponent(id)}?client_secret=${encodeURIComponent(clientSecret)}`,
      { headers: { authorization: `Bearer ${key}` }, credentials: 'omit' });
  } catch {
    throw fail('api_connection_error', 'network_error', 'Could not reach the cardtoken API.');
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body?.error;
    throw new CardtokenError({ ...(e?.type && e.message ? e : { type: 'api_error', code: 'unexpected_response',
      message: 'Unexpected answer.' }), status: res.status });
  }
  return body;
}

/** `handleNextAction`: reads the payment, runs its 3-D Secure challenge, resolves the updated Payment. */
export async function nextAction(apiBase, key, locale, clientSecret) {
  let p = await payment(apiBase, key, clientSecret);
  if (p.status !== 'requires_action' || p.next_action?.type !== 'three_d_secure') return p;
  await challenge(p.next_action.url, new URL(apiBase).origin, locale);
  p = await payment(apiBase, key, clientSecret);
  if (p.status === 'failed') {
    const e = p.last_error ?? {};
    throw new CardtokenError({ type: 'card_error', code: e.code ?? 'authentication_failed',
      decline_code: e.decline_code, message: e.message ?? 'The payment failed.' });
  }
  return p;
}
