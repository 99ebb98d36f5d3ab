// The browser groups of `npm test`, run two at a time (the machine has two cores):
//   node scripts/engines.mjs WASM_TEST_FILE…
// For each engine (Chromium, Firefox ESR, WebKitGTK, WPE WebKit 2.38), three groups: the wasm-bindgen
// tests (tests/support/wasm-engine.mjs), then the packed package and the card fields' host side
// (tests/e2e/package.test.mjs, fields.test.mjs), then the demo journeys (tests/e2e/journeys.test.mjs),
// all over WebDriver; in Chromium, a fourth: the React binding in a Vite build (tests/e2e/react.test.mjs;
// its DOM work is mountCardFields', which the other groups run in every engine). Beside them,
// Playwright's Chromium runs the tests only it can do (every request and message of the checkout; the
// dashboard). Each output line names its engine; a summary follows, and any
// failing group fails the run.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ENGINES } from '../tests/support/webdriver.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const wasmFiles = process.argv.slice(2);
const GROUP_TIMEOUT_MS = 15 * 60 * 1000;
const nodeTest = ['--test', '--test-concurrency=1', '--test-reporter=spec'];

const jobs = [];
for (const engine of ['chromium', 'firefox', 'webkit', 'wpe']) {
  const label = ENGINES[engine].label;
  jobs.push({
    label,
    groups: [
      { name: 'wasm-bindgen tests', cmd: ['node', ['tests/support/wasm-engine.mjs', engine, ...wasmFiles]] },
      { name: 'packed package and card fields',
        cmd: ['node', [...nodeTest, 'tests/e2e/package.test.mjs', 'tests/e2e/fields.test.mjs']] },
      { name: 'demo journeys', cmd: ['node', [...nodeTest, 'tests/e2e/journeys.test.mjs']] },
      ...(engine === 'chromium'
        ? [{ name: 'React binding (Vite, StrictMode)', cmd: ['node', [...nodeTest, 'tests/e2e/react.test.mjs']] }]
        : []),
    ],
    env: { CARDTOKEN_ENGINE: engine },
  });
}
jobs.splice(1, 0, {
  label: 'Chromium (Playwright)',
  groups: [{ name: 'checkout requests and messages, dashboard',
    cmd: ['node', [...nodeTest, 'tests/e2e/checkout.test.mjs', 'tests/e2e/dashboard.test.mjs']] }],
  env: {},
});

function run(job, group) {
  return new Promise((resolve) => {
    const prefix = `[${job.label}] `;
    const started = Date.now();
    process.stdout.write(`${prefix}==> ${group.name}\n`);
    const [cmd, args] = group.cmd;
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...job.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const kept = []; // the group's output, to repeat its failures after the summary
    const pipe = (from, to) => {
      let rest = '';
      from.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop();
        for (const line of lines) {
          to.write(prefix + line + '\n');
          kept.push(line);
        }
      });
      from.on('end', () => {
        if (rest) {
          to.write(prefix + rest + '\n');
          kept.push(rest);
        }
      });
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    const timer = setTimeout(() => {
      process.stderr.write(`${prefix}${group.name}: no result after ${GROUP_TIMEOUT_MS / 60000} min, stopping it\n`);
      child.kill('SIGTERM');
    }, GROUP_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ job: job.label, group: group.name, ok: code === 0, code: code ?? signal,
        seconds: Math.round((Date.now() - started) / 1000), output: kept });
    });
  });
}

const results = [];
let next = 0;
async function worker() {
  while (next < jobs.length) {
    const job = jobs[next++];
    for (const group of job.groups) results.push(await run(job, group));
  }
}
await Promise.all([worker(), worker()]);

console.log('\nbrowser engines:');
for (const r of results) {
  console.log(`  ${r.ok ? 'pass' : 'FAIL'}  ${r.job.padEnd(30)} ${r.group.padEnd(40)} ${String(r.seconds).padStart(4)} s`);
}
const failed = results.filter((r) => !r.ok);
// Each failed group's failures again, last, where a CI log's tail shows them: node:test's list of failing
// tests (with their errors) when it printed one, else the group's last lines.
for (const r of failed) {
  const from = r.output.findIndex((l) => /failing tests:/.test(l));
  const lines = (from >= 0 ? r.output.slice(from) : r.output.slice(-40)).slice(0, 120);
  console.log(`\nFAILED: ${r.job}, ${r.group} (exit ${r.code}):`);
  for (const line of lines) console.log(`  ${line}`);
}
console.log(`engines: ${results.length - failed.length} passed, ${failed.length} failed`);
process.exit(failed.length ? 1 : 0);
