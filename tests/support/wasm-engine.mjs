// Runs wasm-bindgen-test binaries in one browser engine:
//   node tests/support/wasm-engine.mjs ENGINE FILE.wasm…
// Each module first loses `reference-types` from its target_features (as scripts/build.sh does for the
// package), so the tests run the same JS-heap glue that ships. wasm-bindgen-test-runner starts
// chromedriver and geckodriver itself; for the two WebKit engines it sends a session request without
// capabilities (it knows only macOS's safaridriver), so this script starts their driver and puts a tiny
// proxy before it that adds the engine's capabilities (tests/support/webdriver.mjs) to that request.
// It prints which engine runs which file (scripts/engines.mjs prefixes every line with the engine); the exit
// code is the runner's.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropFeatures } from '../../scripts/drop-wasm-feature.mjs';
import { ENGINES, startDriver } from './webdriver.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
const [name, ...files] = process.argv.slice(2);
const engine = ENGINES[name];
if (!engine || files.length === 0) {
  console.error(`usage: wasm-engine.mjs (${Object.keys(ENGINES).join('|')}) FILE.wasm…`);
  process.exit(2);
}

/** Forwards to `driverUrl`, replacing the capabilities of a new-session request with the engine's. */
function capabilityProxy(driverUrl) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      let body = Buffer.concat(chunks);
      if (req.method === 'POST' && req.url === '/session') {
        body = Buffer.from(JSON.stringify({ capabilities: { alwaysMatch: engine.capabilities } }));
      }
      try {
        const answer = await fetch(driverUrl + req.url, {
          method: req.method,
          headers: { 'content-type': 'application/json' },
          body: ['GET', 'DELETE'].includes(req.method) ? undefined : body,
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(Buffer.from(await answer.arrayBuffer()));
      } catch (e) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ value: { error: 'unknown error', message: String(e) } }));
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

const env = { ...process.env, WASM_BINDGEN_TEST_TIMEOUT: '120' };
for (const k of Object.keys(env)) if (/^(GECKO|SAFARI|CHROME|MSEDGE)DRIVER/.test(k)) delete env[k];
let driver = null;
let proxy = null;
if (name === 'chromium') {
  env.CHROMEDRIVER = '/usr/bin/chromedriver';
  env.WASM_BINDGEN_TEST_WEBDRIVER_JSON = path.join(root, 'tests/webdriver.json');
} else if (name === 'firefox') {
  env.GECKODRIVER = engine.command(0)[0];
  env.WASM_BINDGEN_TEST_WEBDRIVER_JSON = path.join(root, 'tests/webdriver-firefox.json');
} else {
  driver = await startDriver(name);
  proxy = await capabilityProxy(driver.url);
  env.SAFARIDRIVER_REMOTE = proxy.url;
  env.WASM_BINDGEN_TEST_WEBDRIVER_JSON = path.join(root, 'tests/webdriver.json'); // unused by this path
}

const work = mkdtempSync(path.join(tmpdir(), `cardtoken-wasm-${name}-`));
let status = 0;
try {
  for (const file of files) {
    const stripped = path.join(work, path.basename(file));
    writeFileSync(stripped, dropFeatures(readFileSync(file), ['reference-types']).bytes);
    process.stdout.write(`wasm-bindgen tests in ${engine.label}: ${path.basename(file)}\n`);
    const child = spawn('wasm-bindgen-test-runner', [stripped], { env, cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    const code = await new Promise((r) => child.on('close', r));
    if (code !== 0) {
      status = code || 1;
      process.stderr.write(`FAILED in ${engine.label}: ${path.basename(file)} (exit ${code})\n`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
  await proxy?.close();
  driver?.stop();
}
process.exit(status);
