// `cardtoken/element`: <cardtoken-card-fields publishable-key="pk_…" api-base="https://…" locale="ja">, the
// card fields as a custom element. It mounts them in its own closed shadow root, dispatches their events as
// DOM CustomEvents (`ready`, `change`, `focus`, `blur`: `detail` is `{complete, empty, brand, error}`;
// `error`: `detail` is the CardtokenError), and has `createToken()`. Where the browser has ElementInternals
// it is form-associated: its form value is the token's id once `createToken()` resolved (never digits).
//
// Importing this file in a browser registers the element. On a server (no `customElements`), importing it
// does nothing; nothing runs until a browser connects the element.
import { load, CardtokenError } from './index.js';

const EVENTS = ['ready', 'change', 'focus', 'blur', 'error'];

/**
 * Registers the element under `name` (default `cardtoken-card-fields`) and answers its class; does nothing
 * where there are no custom elements (a server), or when `name` is already taken.
 */
export function defineCardFieldsElement(name = 'cardtoken-card-fields') {
  if (typeof customElements === 'undefined') return undefined;
  const existing = customElements.get(name);
  if (existing) return existing;

  class CardtokenCardFields extends HTMLElement {
    static formAssociated = true;

    static get observedAttributes() {
      return ['publishable-key', 'api-base', 'locale'];
    }

    #internals = typeof this.attachInternals === 'function' ? this.attachInternals() : null;
    #box = document.createElement('div');
    #fields = null; // the mounted CardFields, once load() resolved
    #mounted = null; // Promise of the CardFields of the current mount
    #mount = 0; // which mount is current: a load() that resolves for an older one unmounts itself
    #scheduled = false;
    #token = null;
    /** Options for `mountCardFields` besides the locale (`style`, `autoAdvance`, `title`), read at mount. */
    options = {};

    constructor() {
      super();
      this.#box.style.display = 'block';
      this.attachShadow({ mode: 'closed' }).append(this.#box);
    }

    connectedCallback() {
      this.#schedule();
    }

    disconnectedCallback() {
      this.#unmount();
    }

    // A changed key, API base or locale remounts; a key set after the element was connected mounts.
    attributeChangedCallback(_name, before, after) {
      if (before === after) return;
      if (this.#mounted) this.#unmount();
      this.#schedule();
    }

    formResetCallback() {
      this.#fields?.clear();
      this.#setToken(null);
    }

    /** The form this element belongs to (where the browser has ElementInternals). */
    get form() {
      return this.#internals?.form ?? null;
    }

    /** The last token's id (the form value), or '' before `createToken()`. */
    get value() {
      return this.#token ?? '';
    }

    /** Tokenizes what was typed; resolves the Token, whose id becomes the form value. */
    async createToken() {
      if (!this.#mounted) {
        throw new CardtokenError({ type: 'validation_error', code: this.isConnected ? 'invalid_publishable_key' : 'fields_destroyed',
          message: this.isConnected ? 'Set the publishable-key attribute.' : 'The element is not in the document.' });
      }
      const token = await (await this.#mounted).createToken();
      this.#setToken(token.id);
      return token;
    }

    focus() {
      this.#fields?.focus();
    }

    clear() {
      this.#fields?.clear();
      this.#setToken(null);
    }

    #setToken(id) {
      this.#token = id;
      this.#internals?.setFormValue(id);
    }

    // Mounts once the current task is done, so that attributes set right after insertion count.
    #schedule() {
      if (this.#scheduled) return;
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        if (this.isConnected && !this.#mounted && this.hasAttribute('publishable-key')) this.#start();
      });
    }

    #start() {
      const mount = ++this.#mount;
      const attr = (n) => this.getAttribute(n) ?? undefined;
      this.#mounted = load(attr('publishable-key'), { apiBase: attr('api-base'), locale: attr('locale') }).then((client) => {
        if (mount !== this.#mount) throw new CardtokenError({ type: 'validation_error', code: 'fields_destroyed',
          message: 'The card fields were removed.' });
        const fields = client.mountCardFields(this.#box, this.options);
        for (const type of EVENTS) {
          fields.on(type, (detail) => {
            if (type === 'change' && !detail.empty) this.#setToken(null); // another card: the token is not its
            this.dispatchEvent(new CustomEvent(type, { detail }));
          });
        }
        this.#fields = fields;
        return fields;
      });
      this.#mounted.catch((error) => {
        if (mount === this.#mount && !this.#fields) this.dispatchEvent(new CustomEvent('error', { detail: error }));
      });
    }

    #unmount() {
      this.#mount++;
      this.#fields?.destroy();
      this.#fields = null;
      this.#mounted = null;
    }
  }

  customElements.define(name, CardtokenCardFields);
  return CardtokenCardFields;
}

defineCardFieldsElement();
