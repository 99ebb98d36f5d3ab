// Types of `cardtoken/react` (React 18 or 19; the types come from the app's @types/react).
import type { ReactElement, ReactNode } from 'react';
import type {
  CardFieldsEvent, CardFieldsOptions, Cardtoken as CardtokenClient, CardtokenError, Payment, Token,
} from './index.js';

export interface CardtokenProps {
  /** `pk_test_…` or `pk_live_…`. */
  publishableKey: string;
  /** The cardtoken API's origin (default http://127.0.0.1:4242). */
  apiBase?: string;
  locale?: 'en' | 'ja';
  /** Request timeout, and how long the card fields may take to load (default 30000). */
  timeoutMs?: number;
  children?: ReactNode;
}

/** Loads the package for its children (in an effect: nothing runs on a server). */
export function Cardtoken(props: CardtokenProps): ReactElement;

export interface CardFieldsProps {
  onReady?: (event: CardFieldsEvent) => void;
  onChange?: (event: CardFieldsEvent) => void;
  onFocus?: (event: CardFieldsEvent) => void;
  onBlur?: (event: CardFieldsEvent) => void;
  /** The package or the frame could not load (`frame_failed`, `timeout`, an invalid key, …). */
  onError?: (error: CardtokenError) => void;
  /** Mounted again when these change (by value). */
  options?: CardFieldsOptions;
  className?: string;
  id?: string;
}

/** The card fields' frame; on a server, an empty placeholder `<div data-cardtoken-card-fields>`. */
export function CardFields(props: CardFieldsProps): ReactElement;

export interface UseCardtoken {
  /** Tokenizes the mounted <CardFields> (rejects with `no_card_fields` when none is mounted). */
  createToken(): Promise<Token>;
  /** Runs a payment's 3-D Secure challenge and resolves the updated Payment. */
  handleNextAction(clientSecret: string): Promise<Payment>;
  /** The package has loaded. */
  ready: boolean;
  /** Why it could not load, if it could not. */
  error: CardtokenError | null;
  /** The loaded client (`createToken(card)` for your own inputs, `mountCardFields`), or null. */
  client: CardtokenClient | null;
}

/** The nearest <Cardtoken>'s functions; throws outside one. */
export function useCardtoken(): UseCardtoken;
