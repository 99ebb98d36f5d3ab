// A proxy in front of the API that passes every answer through byte for byte (compressed as the server
// sent it), and records what crossed it: each request's path, status, Content-Encoding and the bytes of
// its answer (headers and body), as they went over the wire to the browser.
//
// `tamper: {path, from, to}` makes it a compromised CDN: for paths matching `path` it asks the server for
// the plain file and replaces the first `from` in it by `to` (as long: one byte, say), keeping the file
// valid, so that only an integrity check can tell.
//
// `uncached: true` serves as the frame was served before issue 15 (for `npm run bench`'s comparison):
// nothing compressed (it asks the server for plain files) and nothing kept (`no-cache`, no validator).
//
// `network: {rttMs, bitsPerSecond}` delivers like a slower link: each answer ends no sooner than a round
// trip after its request, and answers share the bandwidth one after the other.
import http from 'node:http';

/** Proxies to `target` (the API's base URL); resolves `{url, log, reset(), close()}`. */
export async function startWireProxy(target, { tamper, uncached = false, network } = {}) {
  const upstream = new URL(target);
  const log = [];
  let linkFree = 0; // when the simulated link has sent everything it was given
  const deliver = (arrived, bytes, send) => {
    if (!network) return send();
    const start = Math.max(arrived + network.rttMs, linkFree);
    linkFree = start + (bytes * 8 * 1000) / network.bitsPerSecond;
    return setTimeout(send, Math.max(0, linkFree - Date.now()));
  };
  const server = http.createServer((req, res) => {
    const arrived = Date.now();
    const changing = tamper?.path.test(req.url);
    const headers = { ...req.headers, host: upstream.host };
    if (changing || uncached) {
      delete headers['accept-encoding'];
      delete headers['if-none-match'];
    }
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
      const chunks = [];
      answer.on('data', (c) => chunks.push(c));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        const out = { ...answer.headers };
        if (uncached) {
          out['cache-control'] = 'no-cache';
          delete out.etag;
        }
        let tampered = false;
        if (changing && answer.statusCode === 200) {
          const at = body.indexOf(tamper.from);
          if (at >= 0) {
            body = Buffer.concat([body.subarray(0, at), Buffer.from(tamper.to), body.subarray(at + Buffer.byteLength(tamper.from))]);
            out['content-length'] = String(body.length);
            tampered = true;
          }
        }
        const headerBytes = Object.entries(out).reduce((n, [k, v]) => n + k.length + String(v).length + 4, 0);
        deliver(arrived, body.length + headerBytes, () => {
          res.writeHead(answer.statusCode, out);
          res.end(body);
          log.push({ method: req.method, path: req.url.split('?')[0], status: answer.statusCode,
            encoding: out['content-encoding'] ?? null, bytes: body.length + headerBytes, tampered });
        });
      });
    });
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    reset: () => log.splice(0),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  };
}
