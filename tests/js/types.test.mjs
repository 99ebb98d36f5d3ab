// The package's TypeScript types: a customer's file type-checks, and misuse does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../types/', import.meta.url));
const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
const run = (...args) => spawnSync(process.execPath, [tsc, ...args], { cwd: dir, encoding: 'utf8' });

test('a TypeScript consumer using every export, and cardtoken/react and cardtoken/element, type-checks (tsc --noEmit, strict)', () => {
  const r = run('-p', 'tsconfig.json');
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('misusing the API is a type error, exactly where expected', () => {
  const r = run('--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target',
    'es2022', '--lib', 'es2022,dom', 'errors.ts');
  const errors = r.stdout.split('\n').filter((l) => l.startsWith('errors.ts(')).map((l) => l.replace(/,\d+\)/, ')').split(':')[0] + ' ' + l.match(/TS\d+/)[0]);
  assert.deepEqual(errors, ['errors.ts(5) TS2322', 'errors.ts(6) TS2353', 'errors.ts(8) TS2345', 'errors.ts(9) TS2322']);
});
