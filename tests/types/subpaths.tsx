// A customer's TypeScript for the two subpaths, checked with `tsc --noEmit` in `npm test`.
import { useState, type ReactElement } from 'react';
import { Cardtoken, CardFields, useCardtoken, type UseCardtoken } from 'cardtoken/react';
import { defineCardFieldsElement, type CardtokenCardFieldsElement } from 'cardtoken/element';
import type { CardFieldsEvent, CardtokenError, Payment, Token } from 'cardtoken';

function Pay(): ReactElement {
  const { createToken, handleNextAction, ready, error }: UseCardtoken = useCardtoken();
  const [result, setResult] = useState('');
  const pay = async (): Promise<void> => {
    const token: Token = await createToken();
    const payment: Payment = await handleNextAction(`pay_1_secret_${token.id}`);
    setResult(payment.status);
  };
  return <button disabled={!ready || error !== null} onClick={() => void pay()}>{result || 'Pay'}</button>;
}

export function App(): ReactElement {
  const [complete, setComplete] = useState(false);
  return (
    <Cardtoken publishableKey="pk_test_123" apiBase="https://api.example" locale="ja" timeoutMs={20000}>
      <CardFields
        className="card"
        options={{ style: { color: '#333' }, autoAdvance: true }}
        onChange={(e: CardFieldsEvent) => setComplete(e.complete)}
        onError={(e: CardtokenError) => console.warn(e.code)}
      />
      {complete && <Pay />}
    </Cardtoken>
  );
}

export async function element(form: HTMLFormElement): Promise<string> {
  const Element = defineCardFieldsElement();
  const el: CardtokenCardFieldsElement = document.createElement('cardtoken-card-fields');
  el.setAttribute('publishable-key', 'pk_test_123');
  el.options = { style: { fontSize: '16px' } };
  el.addEventListener('change', (e) => {
    const complete: boolean = e.detail.complete;
    void complete;
  });
  el.addEventListener('error', (e) => console.warn(e.detail.code));
  form.append(el);
  const token: Token = await el.createToken();
  return `${token.id} ${el.value} ${el.form?.id ?? ''} ${Element === undefined}`;
}
