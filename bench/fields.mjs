// npm run bench, the card fields' part: how long `mountCardFields` takes to `ready`, and how many bytes
// the API's origin sends for it (headers and bodies, as a proxy in front of the real server counts them),
// in headless Chromium: a first and a repeat mount (the same page), with a cold cache (a new browser
// profile) and a warm one (a second visit), the median of RUNS each; on loopback, and through a proxy that
// delivers like Lighthouse's mobile network (150 ms round trips, 1.6 Mbit/s). The same runs against the
// frame served as before issue 15 (nothing compressed, nothing cached) give the comparison.
import { chromium } from 'playwright-core';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serveStatic } from '../tests/support/browser.mjs';
import { startServer } from '../tests/support/server.mjs';
import { startWireProxy } from '../tests/support/wire-proxy.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const PHONE = { rttMs: 150, bitsPerSecond: 1.6e6 };

const HOST = `<!doctype html><meta charset="utf-8"><div id="card"></div>
<script type="module">
  import { load } from './pkg/index.js';
  const q = new URLSearchParams(location.search);
  const client = await load(q.get('pk'), { apiBase: q.get('api') });
  let fields;
  // Milliseconds from mountCardFields() to the fields' ready event.
  window.__mount = () => new Promise((resolve, reject) => {
    fields?.destroy();
    const started = performance.now();
    fields = client.mountCardFields('#card');
    fields.on('ready', () => resolve(performance.now() - started)).on('error', (e) => reject(new Error(e.code)));
  });
  window.__loaded = true;
</script>`;

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** One visit: opens the host page in `context`, mounts twice; answers each mount's ms and bytes. */
async function visit(context, site, wire) {
  const page = await context.newPage();
  await page.goto(`${site.url}/host.html?${new URLSearchParams({ pk: wire.pk, api: wire.url })}`);
  await page.waitForFunction(() => window.__loaded === true);
  const mounts = [];
  for (let i = 0; i < 2; i++) {
    wire.reset();
    const ms = await page.evaluate(() => window.__mount());
    await page.waitForTimeout(50); // the proxy logs an answer once it has sent it all
    mounts.push({ ms, bytes: wire.log.reduce((n, r) => n + r.bytes, 0), requests: wire.log.map((r) => `${r.path.split('/').pop()} ${r.status} ${r.encoding ?? 'plain'}`) });
  }
  await page.close();
  return mounts;
}

/** RUNS × (a new profile: a first visit, then a second one), through `wire`. */
async function measure(browser, site, wire) {
  const rows = { coldFirst: [], coldRepeat: [], warmFirst: [], warmRepeat: [] };
  let requests;
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext();
    const [first, repeat] = await visit(context, site, wire);
    const [warmFirst, warmRepeat] = await visit(context, site, wire);
    await context.close();
    rows.coldFirst.push(first);
    rows.coldRepeat.push(repeat);
    rows.warmFirst.push(warmFirst);
    rows.warmRepeat.push(warmRepeat);
    requests = { coldFirst: first.requests, coldRepeat: repeat.requests, warmFirst: warmFirst.requests };
  }
  const summary = {};
  for (const [k, v] of Object.entries(rows)) summary[k] = { ms: median(v.map((m) => m.ms)), bytes: median(v.map((m) => m.bytes)) };
  return { summary, requests };
}

export async function benchFields() {
  const work = mkdtempSync(path.join(tmpdir(), 'cardtoken-bench-'));
  mkdirSync(path.join(work, 'pkg'));
  for (const f of ['index.js', 'fields.js', 'cardtoken_wasm_bg.wasm']) copyFileSync(path.join(root, 'pkg', f), path.join(work, 'pkg', f));
  writeFileSync(path.join(work, 'host.html'), HOST);
  const api = await startServer();
  const site = await serveStatic(work);
  const proxies = {
    now: await startWireProxy(api.api),
    before: await startWireProxy(api.api, { uncached: true }),
    phoneNow: await startWireProxy(api.api, { network: PHONE }),
    phoneBefore: await startWireProxy(api.api, { uncached: true, network: PHONE }),
  };
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-gpu'],
  });
  try {
    const result = {};
    for (const [k, p] of Object.entries(proxies)) result[k] = await measure(browser, site, { ...p, pk: api.pk });
    return result;
  } finally {
    await browser.close();
    await Promise.all([...Object.values(proxies).map((p) => p.close()), site.close()]);
    api.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export function printFields(r) {
  const label = { coldFirst: 'cold cache, first mount', coldRepeat: 'cold cache, repeat mount (same page)',
    warmFirst: 'warm cache (second visit), first mount', warmRepeat: 'warm cache, repeat mount' };
  const cell = (m) => `${m.ms.toFixed(0)} ms  ${(m.bytes / 1024).toFixed(1)} KB`;
  console.log(`card fields: mountCardFields() to ready, and the bytes the API's origin sent (headers + bodies); median of ${RUNS}, headless Chromium`);
  console.log(`  ${''.padEnd(40)} ${'loopback'.padStart(17)} ${'before'.padStart(17)} ${'phone network*'.padStart(17)} ${'before'.padStart(17)}`);
  for (const k of Object.keys(label)) {
    console.log(`  ${label[k].padEnd(40)} ${cell(r.now.summary[k]).padStart(17)} ${cell(r.before.summary[k]).padStart(17)} `
      + `${cell(r.phoneNow.summary[k]).padStart(17)} ${cell(r.phoneBefore.summary[k]).padStart(17)}`);
  }
  console.log(`  * ${PHONE.rttMs} ms round trips, ${PHONE.bitsPerSecond / 1e6} Mbit/s (Lighthouse's mobile throttling), by the proxy; "before": the same frame served as before issue 15, uncompressed and no-cache`);
  console.log(`  requests, first mount: ${r.now.requests.coldFirst.join(', ')}`);
  console.log(`  repeat mount: ${r.now.requests.coldRepeat.join(', ')}; second visit: ${r.now.requests.warmFirst.join(', ')}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printFields(await benchFields());
}
