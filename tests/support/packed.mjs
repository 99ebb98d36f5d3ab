// The npm package as a customer installs it: `npm pack` of the built package, unpacked into an app's
// node_modules/cardtoken, with React 18 or 19 beside it when a test needs one (19 from the root's
// devDependencies, 18 from tests/react18's own tree: the two cannot share one).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Packs the package into `dir`; answers the tarball's path. */
export function pack(dir) {
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })
    .trim().split('\n').pop();
  return path.join(dir, name);
}

const REACT = {
  18: path.join(root, 'tests/react18/node_modules'),
  19: path.join(root, 'node_modules'),
};

/**
 * Installs `tarball` as `app`/node_modules/cardtoken, and with `react: 18 | 19` that React (react,
 * react-dom and scheduler, copied: a symlink would resolve back to the other version's tree).
 */
export function install(tarball, app, { react } = {}) {
  const modules = path.join(app, 'node_modules');
  const installed = path.join(modules, 'cardtoken');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1']);
  if (react) {
    for (const name of ['react', 'react-dom', 'scheduler']) {
      cpSync(path.join(REACT[react], name), path.join(modules, name), { recursive: true, dereference: true });
    }
  }
  return installed;
}
