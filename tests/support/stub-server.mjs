// A stand-in for the tokenization endpoint (POST /v1/tokens), for the package's own tests until they
// run against the real server. It records every request it gets, so tests can prove what did (and
// did not) reach the network. Run directly, it prints `STUB_URL=…` and serves until killed.
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, content-type',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

function brandOf(number) {
  if (number.startsWith('4')) return 'visa';
  if (/^(5[1-5]|2[2-7])/.test(number)) return 'mastercard';
  if (/^3[47]/.test(number)) return 'amex';
  return 'unknown';
}

export function startStub({ port = 0 } = {}) {
  const requests = [];
  let counter = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const send = (status, payload, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type, ...CORS });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      };
      if (req.method === 'OPTIONS') return send(204, '');
      if (req.url === '/__requests') return send(200, { count: requests.length, requests });
      if (req.url === '/__reset' && req.method === 'POST') {
        requests.length = 0;
        return send(200, { count: 0 });
      }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url !== '/v1/tokens' || req.method !== 'POST') {
        return send(404, { error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such route.' } });
      }
      if (req.headers.authorization !== 'Bearer pk_test_stub') {
        return send(401, { error: { type: 'authentication_error', code: 'invalid_api_key', message: 'Invalid API key.' } });
      }
      let card;
      try {
        card = JSON.parse(body).card;
      } catch {
        return send(400, { error: { type: 'invalid_request_error', code: 'parameter_invalid', message: 'Malformed JSON.' } });
      }
      if (card.name === 'bad gateway') return send(502, '<html>Bad Gateway</html>', 'text/html');
      const respond = () => {
        if (card.number === '4000000000000002') {
          return send(402, { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline',
            message: 'Your card was declined.', param: 'number' } });
        }
        counter += 1;
        send(200, {
          id: `tok_stub${counter}`,
          object: 'token',
          card: { brand: brandOf(card.number), last4: card.number.slice(-4), exp_month: card.exp_month,
            exp_year: card.exp_year, fingerprint: 'fp_stub' },
          created: 1790000000,
          livemode: false,
          used: false,
        });
      };
      if (card.name === 'slow') setTimeout(respond, 3000);
      else respond();
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolve({ url, requests, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const stub = await startStub();
  console.log(`STUB_URL=${stub.url}`);
}
