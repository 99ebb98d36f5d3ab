// npm run build, JavaScript half (scripts/build.sh runs it once the wasm is in pkg/ and wasm-bindgen's glue
// in target/bindgen/). Writes:
//   pkg/index.js      the core module: the public API with wasm-bindgen's glue inlined
//   pkg/fields.js     the card fields' host side and the 3-D Secure dialog, imported by load()
//   pkg/element.js    `cardtoken/element`: the <cardtoken-card-fields> custom element
//   pkg/react.js      `cardtoken/react`: the React binding (React stays the app's own import)
//   pkg/*.d.ts        their types
//   pkg/frame/        the card fields' frame as the server serves it: card.js (js/elements/card.js with the
//                     package bundled in), card.css and the wasm, each with .br and .gz beside it
//   pkg/integrity.json  sha384 of every file the npm package ships and of the frame's assets, with the
//                     content-addressed URLs the server serves them at
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = path.join(root, 'pkg');
const glue = path.join(root, 'target/bindgen');
// The oldest engines supported (README, "Browser support"): esbuild lowers only what one of them lacks.
const TARGET = ['chrome97', 'edge97', 'firefox102', 'safari15'];

/** esbuild plugin: these import paths stay imports (the files beside it at run time), or become `stub`. */
const paths = (external, stub = []) => ({
  name: 'cardtoken-paths',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => {
      if (external.includes(args.path)) return { path: args.path, external: true };
      if (stub.includes(args.path)) return { path: args.path, namespace: 'stub' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'export {};', loader: 'js' }));
  },
});

const options = {
  bundle: true, format: 'esm', minify: true, legalComments: 'none', target: TARGET, charset: 'utf8',
  logLevel: 'warning',
};

// The core: js/index.js beside the glue it imports.
copyFileSync(path.join(root, 'js/index.js'), path.join(glue, 'index.js'));
copyFileSync(path.join(root, 'js/jwe.js'), path.join(glue, 'jwe.js'));
await build({ ...options, entryPoints: [path.join(glue, 'index.js')], outfile: path.join(pkg, 'index.js'),
  plugins: [paths(['./fields.js'])] });
for (const name of ['fields', 'element', 'react']) {
  await build({ ...options, entryPoints: [path.join(root, `js/${name}.js`)], outfile: path.join(pkg, `${name}.js`),
    plugins: [paths(['./index.js', 'react'])] });
}
for (const name of ['index', 'element', 'react']) copyFileSync(path.join(root, `js/${name}.d.ts`), path.join(pkg, `${name}.d.ts`));

// The frame: its script carries the package (validation and the tokenizing client; the frame never mounts
// fields or opens a dialog, so ./fields.js is left out).
const frame = path.join(pkg, 'frame');
mkdirSync(frame, { recursive: true });
await build({ ...options, entryPoints: [path.join(root, 'js/elements/card.js')], outfile: path.join(frame, 'card.js'),
  alias: { cardtoken: path.join(glue, 'index.js') }, plugins: [paths([], ['./fields.js'])] });
copyFileSync(path.join(root, 'js/elements/card.css'), path.join(frame, 'card.css'));
copyFileSync(path.join(pkg, 'cardtoken_wasm_bg.wasm'), path.join(frame, 'cardtoken_wasm_bg.wasm'));

const sha384 = (bytes) => createHash('sha384').update(bytes).digest();
const integrity = (bytes) => `sha384-${sha384(bytes).toString('base64')}`;

const FRAME_FILES = ['card.js', 'card.css', 'cardtoken_wasm_bg.wasm'];
const frameAssets = {};
for (const name of FRAME_FILES) {
  const bytes = readFileSync(path.join(frame, name));
  // Compressed once here, at the highest levels; the server picks the variant the browser accepts.
  const br = brotliCompressSync(bytes, { params: {
    [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
    [constants.BROTLI_PARAM_MODE]: name.endsWith('.wasm') ? constants.BROTLI_MODE_GENERIC : constants.BROTLI_MODE_TEXT,
    [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
  } });
  writeFileSync(path.join(frame, `${name}.br`), br);
  writeFileSync(path.join(frame, `${name}.gz`), gzipSync(bytes, { level: 9 }));
  // The URL's hash is the first 16 hex digits of the file's SHA-384 (the server computes the same).
  frameAssets[name] = { url: `/elements/v/${sha384(bytes).toString('hex').slice(0, 16)}/${name}`,
    integrity: integrity(bytes) };
}

// Every file the npm package ships (package.json's "files", and the two npm always adds), but this one.
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const shipped = ['README.md', 'package.json', ...manifest.files.filter((f) => f !== 'pkg/integrity.json')].sort();
const files = {};
for (const f of shipped) files[f] = integrity(readFileSync(path.join(root, f)));
writeFileSync(path.join(pkg, 'integrity.json'), `${JSON.stringify({
  package: manifest.name, version: manifest.version, algorithm: 'sha384', files, frame: frameAssets,
}, null, 2)}\n`);
