// A customer's TypeScript, checked with `tsc --noEmit` in `npm test`: every export is typed.
import init, {
  load, initSync, validateNumber, validateExpiry, validateCvc, formatNumber, cardBrands, CardtokenError,
  isCardtokenError, type Brand, type NumberCheck, type ExpiryCheck, type CvcCheck, type Token, type CardInput,
  type ErrorType, type Cardtoken, type CardFields, type CardFieldsEvent, type Payment,
} from 'cardtoken';

export async function checkout(): Promise<string> {
  await init();
  const n: NumberCheck = validateNumber('4242 4242 4242 4242', { luhnUnionPay: false });
  const brand: Brand | null = n.brand;
  const lengths: readonly number[] = n.lengths;
  const e: ExpiryCheck = validateExpiry('12/30', { now: new Date(), maxYearsAhead: 19 });
  const month: number | null = e.month;
  const c: CvcCheck = validateCvc('123', brand);
  const formatted: string = formatNumber('4242424242424242');
  const names: Brand[] = cardBrands().map((b) => b.name);
  const ct: Cardtoken = await load('pk_test_123', { apiBase: 'http://127.0.0.1:4242', timeoutMs: 5000 });
  const card: CardInput = { number: formatted, exp_month: 12, exp_year: 2030, cvc: '123', name: 'Jane' };
  try {
    const token: Token = await ct.createToken(card);
    const last4: string = token.card.last4;
    return `${token.id} ${last4} ${lengths.length} ${month} ${c.isValid} ${names.length}`;
  } catch (err) {
    if (isCardtokenError(err)) {
      const t: ErrorType = err.type;
      const decline: string | null = err.decline_code;
      return `${t} ${err.code} ${err.param} ${decline} ${err.status}`;
    }
    if (err instanceof CardtokenError) return err.message;
    throw err;
  }
}

export async function hosted(ct: Cardtoken): Promise<string> {
  const fields: CardFields = ct.mountCardFields('#card', { locale: 'ja', style: { color: '#333' }, autoAdvance: true });
  fields.on('change', (e: CardFieldsEvent) => void (e.complete && e.brand));
  const token: Token = await fields.createToken();
  const payment: Payment = await ct.handleNextAction(`pay_1_secret_${token.id}`);
  return payment.status;
}

export function syncInit(bytes: Uint8Array): void {
  initSync(bytes);
}
