// The server's webhooks verified by the official npm package `standardwebhooks`, in a Node receiver.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Webhook } from 'standardwebhooks';
import { startServer } from '../support/server.mjs';

let server;
let receiver;
let api;
const deliveries = [];

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  server = await startServer({ CARDTOKEN_WEBHOOK_RETRY_SECS: '1,1,1' });
  api = { base: server.api, pk: server.pk, sk: server.sk };
});

after(async () => {
  await server?.stop();
  receiver?.close();
});

async function call(method, pathname, key, body) {
  const res = await fetch(api.base + pathname, {
    method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  return res.json();
}

test('every delivery verifies with the npm standardwebhooks package; tampering, a wrong secret and a stale timestamp do not', async () => {
  const endpoint = await call('POST', '/v1/webhook_endpoints', api.sk,
    { url: `http://127.0.0.1:${receiver.address().port}/hook` });
  const card = { number: '4242424242424242', exp_month: 12, exp_year: 2034, cvc: '123' };
  const token = await call('POST', '/v1/tokens', api.pk, { card });
  const payment = await call('POST', '/v1/payments', api.sk, { amount: 1000, currency: 'jpy', token: token.id });
  await call('POST', '/v1/refunds', api.sk, { payment: payment.id, amount: 400 });
  for (let i = 0; i < 200 && deliveries.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(deliveries.length, 2);

  const wh = new Webhook(endpoint.secret);
  const types = deliveries.map(({ headers, body }) => {
    const event = wh.verify(body, headers); // throws if it does not verify
    assert.equal(event.id, headers['webhook-id']);
    return event.type;
  });
  assert.deepEqual(types.sort(), ['payment.succeeded', 'refund.succeeded']);

  const { headers, body } = deliveries[0];
  const tampered = body.replace(/"amount":\d+/, '"amount":1');
  assert.notEqual(tampered, body);
  assert.throws(() => wh.verify(tampered, headers), /signature/i, 'a tampered body');
  assert.throws(() => new Webhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw').verify(body, headers), /signature/i,
    'a wrong secret');
  const realNow = Date.now;
  Date.now = () => realNow() + 10 * 60 * 1000;
  try {
    assert.throws(() => wh.verify(body, headers), /timestamp/i, 'ten minutes later the message is stale');
  } finally {
    Date.now = realNow;
  }
});
