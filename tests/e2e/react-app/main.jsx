// A customer's React checkout, built by Vite in development mode (so that StrictMode mounts, unmounts and
// mounts every effect again). `window.__show(false)` unmounts the card fields, `window.__unmount()` the app.
import { StrictMode, useState, version } from 'react';
import { createRoot } from 'react-dom/client';
import { Cardtoken, CardFields, useCardtoken } from 'cardtoken/react';

const q = new URLSearchParams(location.search);
window.__events = [];
window.__react = version;

function Checkout({ shown }) {
  const { createToken, ready } = useCardtoken();
  const [complete, setComplete] = useState(false);
  const [result, setResult] = useState('');
  const pay = async (event) => {
    event.preventDefault();
    try {
      const token = await createToken();
      setResult(`${token.id} ${token.card.last4}`);
    } catch (e) {
      setResult(`rejected: ${e.code}`);
    }
  };
  return (
    <form onSubmit={pay}>
      {ready && shown && (
        <CardFields
          className="card"
          onReady={(d) => window.__events.push(['ready', d])}
          onChange={(d) => { window.__events.push(['change', d]); setComplete(d.complete); }}
        />
      )}
      <button id="pay" disabled={!ready || !complete}>Pay</button>
      <output id="result">{result}</output>
    </form>
  );
}

function App() {
  const [shown, setShown] = useState(true);
  window.__show = setShown;
  return (
    <Cardtoken publishableKey={q.get('pk')} apiBase={q.get('api')}>
      <Checkout shown={shown} />
    </Cardtoken>
  );
}

const root = createRoot(document.getElementById('root'));
root.render(<StrictMode><App /></StrictMode>);
window.__unmount = () => root.unmount();
