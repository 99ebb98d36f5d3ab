// Server rendering (Next.js and the like import modules on the server first): the packed package's three
// entry points import in Node, where there is no DOM, without throwing and without touching a browser
// global; a React server render (React 18 and 19) of a page with <CardFields> renders its placeholder.
// Each run is a Node process of its own, in an app that installed the packed tarball.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { install, pack } from '../support/packed.mjs';

let work;
let tarball;

before(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cardtoken-ssr-'));
  tarball = pack(work);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

// Runs in the app. Browser globals are getters that record who read them (and answer undefined, as on a
// server); fetch and timers record their calls; React is imported first, so only the package is watched.
const SCRIPT = `
import React from 'react';
import { renderToString } from 'react-dom/server';

const BROWSER = ['window', 'document', 'navigator', 'location', 'self', 'HTMLElement', 'Element', 'ShadowRoot',
  'customElements', 'localStorage', 'sessionStorage', 'addEventListener', 'requestAnimationFrame',
  'getComputedStyle', 'matchMedia', 'MutationObserver', 'ResizeObserver'];
const touched = [];
for (const name of BROWSER) {
  Object.defineProperty(globalThis, name, { configurable: true, get() { touched.push(name); return undefined; } });
}
const calls = [];
for (const name of ['fetch', 'setTimeout', 'setInterval', 'queueMicrotask']) {
  const real = globalThis[name];
  globalThis[name] = (...args) => { calls.push(name); return real(...args); };
}
const globalsBefore = new Set(Reflect.ownKeys(globalThis));

const core = await import('cardtoken');
const element = await import('cardtoken/element');
const binding = await import('cardtoken/react');
const defined = element.defineCardFieldsElement();
const onImport = { touched: [...touched], calls: [...calls],
  added: Reflect.ownKeys(globalThis).filter((k) => !globalsBefore.has(k)).map(String) };
touched.length = 0;
calls.length = 0;

function Pay() {
  const { ready, error } = binding.useCardtoken();
  return React.createElement('button', { disabled: !ready }, error ? 'Unavailable' : 'Pay');
}
const page = React.createElement(React.StrictMode, null,
  React.createElement(binding.Cardtoken, { publishableKey: 'pk_test_ssr', apiBase: 'https://api.example' },
    React.createElement('form', null,
      React.createElement(binding.CardFields, { className: 'card', onChange() {}, onReady() {} }),
      React.createElement(Pay))));
const html = renderToString(page);
console.log(JSON.stringify({
  react: React.version,
  exports: { core: Object.keys(core).sort(), element: Object.keys(element), react: Object.keys(binding).sort() },
  defined: defined === undefined ? 'undefined' : typeof defined,
  onImport,
  onRender: { touched, calls },
  html,
}));
`;

for (const version of [18, 19]) {
  test(`in Node, the three entry points import without a DOM, and React ${version} renders <CardFields> as a placeholder`, () => {
    const app = path.join(work, `react${version}`);
    install(tarball, app, { react: version });
    writeFileSync(path.join(app, 'package.json'), '{"type": "module", "private": true}');
    writeFileSync(path.join(app, 'ssr.mjs'), SCRIPT);
    const run = spawnSync(process.execPath, ['ssr.mjs'], { cwd: app, encoding: 'utf8' });
    assert.equal(run.status, 0, `the import or the render threw:\n${run.stderr}`);
    const r = JSON.parse(run.stdout.trim().split('\n').pop());
    assert.equal(r.react.split('.')[0], String(version));
    assert.ok(r.exports.core.includes('load') && r.exports.core.includes('validateNumber'), r.exports.core.join());
    assert.deepEqual(r.exports.element, ['defineCardFieldsElement']);
    assert.deepEqual(r.exports.react, ['CardFields', 'Cardtoken', 'useCardtoken']);
    assert.equal(r.defined, 'undefined', 'there are no custom elements here: nothing is registered');
    // On import (and asking to define the element): the element module's feature test (is there a
    // customElements registry?), and nothing else.
    assert.deepEqual(r.onImport.touched, ['customElements', 'customElements']);
    assert.deepEqual(r.onImport.calls, [], 'no request, timer or task is started by an import');
    assert.deepEqual(r.onImport.added, [], 'no global is defined');
    // The render: the provider and the fields render markup only; loading and mounting are effects.
    assert.deepEqual(r.onRender, { touched: [], calls: [] });
    assert.equal(r.html, '<form><div class="card" data-cardtoken-card-fields=""></div><button disabled="">Pay</button></form>');
    assert.equal(run.stderr, '', 'React warned about nothing');
  });
}
