// Types of `cardtoken/element`: the <cardtoken-card-fields> custom element.
import type { CardFieldsEvent, CardFieldsOptions, CardtokenError, Token } from './index.js';

/**
 * `<cardtoken-card-fields publishable-key="pk_…" api-base="https://…" locale="en|ja">`: card fields in the
 * element's own (closed) shadow root. Events: `ready`, `change`, `focus`, `blur` (`detail`: CardFieldsEvent)
 * and `error` (`detail`: CardtokenError). Form-associated where the browser has ElementInternals: its form
 * value (under its `name`) is the token id after `createToken()`.
 */
export interface CardtokenCardFieldsElement extends HTMLElement {
  /** `mountCardFields` options besides the locale (`style`, `autoAdvance`, `title`), read when it mounts. */
  options: Omit<CardFieldsOptions, 'locale'>;
  /** The form it belongs to (where the browser has ElementInternals), else null. */
  readonly form: HTMLFormElement | null;
  /** The last token's id (its form value), or '' before `createToken()` and after the card changes. */
  readonly value: string;
  /** Tokenizes what was typed; rejects with CardtokenError. */
  createToken(): Promise<Token>;
  focus(): void;
  clear(): void;
  addEventListener<K extends keyof CardtokenCardFieldsEventMap>(type: K,
    listener: (this: CardtokenCardFieldsElement, event: CardtokenCardFieldsEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof CardtokenCardFieldsEventMap>(type: K,
    listener: (this: CardtokenCardFieldsElement, event: CardtokenCardFieldsEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | EventListenerOptions): void;
}

export interface CardtokenCardFieldsEventMap extends HTMLElementEventMap {
  ready: CustomEvent<CardFieldsEvent>;
  change: CustomEvent<CardFieldsEvent>;
  focus: CustomEvent<CardFieldsEvent> & FocusEvent;
  blur: CustomEvent<CardFieldsEvent> & FocusEvent;
  error: CustomEvent<CardtokenError> & ErrorEvent;
}

/** Registers the element under `name` (default `cardtoken-card-fields`; done on import); undefined on a server. */
export function defineCardFieldsElement(name?: string): (new () => CardtokenCardFieldsElement) | undefined;

declare global {
  interface HTMLElementTagNameMap {
    'cardtoken-card-fields': CardtokenCardFieldsElement;
  }
}
