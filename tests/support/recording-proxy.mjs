// A recording proxy in front of the real server, for the package's own tests (Node and the wasm tests
// in each browser): every answer is the real API's, and the proxy keeps each request it forwarded, so a
// test can prove what did (and did not) reach the network. Two network faults are simulated, as a
// gateway in between would cause them: a card named "bad gateway" gets a 502 HTML page instead of
// reaching the API, and one named "slow" is forwarded after 3 s.
//
// Run directly, it starts a server (tests/support/server.mjs) and the proxy, prints `TEST_API=…` and
// `TEST_PK=…`, and serves until killed.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { cardOfBody } from './jwe-open.mjs';
import { startServer } from './server.mjs';

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, content-type',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
};

/**
 * Proxies to `target` (the API's base URL); resolves `{url, requests, close}`. Each request recorded has
 * `card`: the card its body carries, in clear or, given the server's `dataDir`, opened from its JWE.
 */
export function startRecordingProxy(target, { dataDir } = {}) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      const own = (status, payload, type = 'application/json') => {
        res.writeHead(status, { 'Content-Type': type, ...CORS });
        res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
      };
      if (req.url === '/__requests') {
        if (req.method === 'OPTIONS') return own(204, '');
        return own(200, { count: requests.length, requests });
      }
      const card = req.method === 'POST' ? await cardOfBody(body.toString('utf8'), dataDir) : null;
      if (req.method !== 'OPTIONS') {
        requests.push({ method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8'), card });
      }
      const name = card?.name;
      if (name === 'bad gateway') return own(502, '<html>Bad Gateway</html>', 'text/html');
      if (name === 'slow') await new Promise((r) => setTimeout(r, 3000));
      const headers = { ...req.headers };
      delete headers.host;
      delete headers.connection;
      delete headers['content-length'];
      try {
        const answer = await fetch(target + req.url, {
          method: req.method, headers, body: ['GET', 'HEAD', 'OPTIONS'].includes(req.method) ? undefined : body,
        });
        const out = Buffer.from(await answer.arrayBuffer());
        const h = {};
        answer.headers.forEach((v, k) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) h[k] = v;
        });
        res.writeHead(answer.status, h);
        res.end(out);
      } catch {
        if (!res.headersSent) own(502, '<html>Bad Gateway</html>', 'text/html');
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const url = `http://127.0.0.1:${server.address().port}`;
      resolve({ url, requests, close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }) });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const api = await startServer();
  const proxy = await startRecordingProxy(api.api, { dataDir: api.dataDir });
  const stop = () => {
    api.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`TEST_API=${proxy.url}`);
  console.log(`TEST_PK=${api.pk}`);
}
