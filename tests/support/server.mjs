// Starts the real server binary on free ports with its own data directory, for the end-to-end tests.
// Resolves `{api, demo?, account, pk, sk, dataDir, shopKeys(), stop}` once its first-start banner is printed
// (`account` is the first account, `pk` and `sk` its test keys; the demo shop is an account of its own).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** The server binary the tests run (`CARDTOKEN_SERVER_BIN`, or the debug build). */
export const serverBin = () => process.env.CARDTOKEN_SERVER_BIN || path.join(root, 'target/debug/cardtoken-server');

export function startServer(env = {}, { demo = false } = {}) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'cardtoken-e2e-'));
  const bin = serverBin();
  const child = spawn(bin, ['serve'], {
    cwd: root,
    // Every browser test tokenizes from 127.0.0.1: the per-address card-testing limit (30 a minute) is
    // lifted here; the API tests test it. The tests' webhook receivers listen on loopback.
    env: { ...process.env, CARDTOKEN_DATA_DIR: dataDir, CARDTOKEN_LISTEN: '127.0.0.1:0',
      CARDTOKEN_DEMO_LISTEN: demo ? '127.0.0.1:0' : 'off', RUST_LOG: 'warn',
      CARDTOKEN_RATE_CLIENT_PER_MINUTE: '100000', CARDTOKEN_ALLOW_PRIVATE_WEBHOOKS: 'true', ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // Stops the server, then removes its data dir once it has exited (a graceful stop writes there last:
  // the CVCs it still held). Resolves then; callers that need not wait may ignore it.
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const stop = () => {
    child.kill('SIGTERM');
    return exited.then(() => rmSync(dataDir, { recursive: true, force: true })).catch(() => {});
  };
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}`)), 20000);
    child.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${out}`)));
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const found = {
        api: out.match(/API listening on (\S+)/)?.[1],
        demo: out.match(/demo checkout on (\S+)/)?.[1],
        pk: out.match(/publishable key: (\S+)/)?.[1],
        sk: out.match(/secret key:\s+(\S+)/)?.[1],
        account: out.match(/account (acct_\w+) was created/)?.[1],
      };
      if (found.api && found.pk && found.sk && (!demo || found.demo)) {
        clearTimeout(timer);
        // The demo shop's own keys, as its back end keeps them.
        const shopKeys = () => JSON.parse(readFileSync(path.join(dataDir, 'demo-merchant.json'), 'utf8'));
        resolve({ ...found, dataDir, shopKeys, stop });
      }
    });
  });
}
