// A small client of classic W3C WebDriver over fetch, for driving every browser engine with one script:
// Chromium (chromedriver), Firefox ESR (geckodriver), WebKitGTK (WebKitWebDriver + MiniBrowser under
// Xvfb) and WPE WebKit 2.38, the engine of Safari 16 (WPEWebDriver + cog, headless). Each test file
// starts its own driver on a free port and ends it (and only it) when done.
import { spawn } from 'node:child_process';
import net from 'node:net';

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** The engines `npm test` runs, by name: how to start each driver and which capabilities it takes. */
export const ENGINES = {
  chromium: {
    label: 'Chromium',
    command: (port) => ['/usr/bin/chromedriver', [`--port=${port}`]],
    capabilities: {
      browserName: 'chrome',
      'goog:chromeOptions': {
        binary: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
          '--disable-background-networking', '--disable-component-update', '--window-size=1280,1024'],
      },
    },
  },
  firefox: {
    label: 'Firefox ESR',
    command: (port) => [process.env.GECKODRIVER || `${process.env.HOME}/.cargo/bin/geckodriver`, ['--port', String(port)]],
    capabilities: {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: '/usr/bin/firefox-esr',
        args: ['-headless', '-width', '1280', '-height', '1024'],
        prefs: { 'app.update.enabled': false, 'browser.shell.checkDefaultBrowser': false },
      },
    },
  },
  webkit: {
    label: 'WebKitGTK',
    // MiniBrowser needs a display: a private Xvfb for this driver.
    command: (port) => ['xvfb-run', ['-a', '-s', '-screen 0 1280x1024x24', '/usr/bin/WebKitWebDriver', `--port=${port}`]],
    capabilities: {}, // WebKitWebDriver starts its own MiniBrowser
  },
  wpe: {
    label: 'WPE WebKit 2.38 (Safari 16)',
    command: (port) => ['/usr/bin/WPEWebDriver', [`--port=${port}`]],
    capabilities: {
      browserName: 'cog',
      'wpe:browserOptions': { binary: '/usr/bin/cog', args: ['--automation', '--platform=headless'] },
    },
  },
};

export const engineName = () => process.env.CARDTOKEN_ENGINE || 'chromium';
export const engine = () => {
  const e = ENGINES[engineName()];
  if (!e) throw new Error(`unknown engine ${engineName()}: one of ${Object.keys(ENGINES).join(', ')}`);
  return e;
};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts the engine's driver on a free port; resolves `{url, stop}` once it answers /status. */
export async function startDriver(name = engineName()) {
  const port = await freePort();
  const [cmd, args] = ENGINES[name].command(port);
  // A process group of its own, so stop() ends the driver and what it started (Xvfb, the browser).
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr = (stderr + c).slice(-4000); });
  let exited = false;
  child.on('exit', () => { exited = true; });
  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    if (!exited) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
  };
  for (let i = 0; i < 150; i++) {
    if (exited) throw new Error(`${cmd} exited: ${stderr}`);
    try {
      const res = await fetch(`${url}/status`);
      if (res.ok) return { url, stop };
    } catch { /* not listening yet */ }
    await sleep(100);
  }
  stop();
  throw new Error(`${cmd} did not answer on ${url}: ${stderr}`);
}

export class WebDriverError extends Error {}

/** One browser session. Elements are `{[ELEMENT]: id}` references as the protocol returns them. */
export class Session {
  constructor(driverUrl, id, capabilities) {
    this.driverUrl = driverUrl;
    this.id = id;
    this.capabilities = capabilities;
  }

  static async start(driver, name = engineName()) {
    const res = await fetch(`${driver.url}/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capabilities: { alwaysMatch: ENGINES[name].capabilities } }),
    });
    const body = await res.json();
    if (!res.ok) throw new WebDriverError(`new session (${name}): ${JSON.stringify(body.value ?? body)}`);
    const session = new Session(driver.url, body.value.sessionId, body.value.capabilities);
    await session.cmd('POST', '/timeouts', { script: 30000, pageLoad: 30000, implicit: 0 });
    return session;
  }

  async cmd(method, path, body) {
    const res = await fetch(`${this.driverUrl}/session/${this.id}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new WebDriverError(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    }
    if (!res.ok || (json.value && json.value.error)) {
      const v = json.value ?? {};
      const err = new WebDriverError(`${method} ${path}: ${v.error ?? res.status}: ${v.message ?? ''}`.slice(0, 600));
      err.code = v.error;
      throw err;
    }
    return json.value;
  }

  async close() {
    await fetch(`${this.driverUrl}/session/${this.id}`, { method: 'DELETE' }).catch(() => {});
  }

  goto(url) {
    return this.cmd('POST', '/url', { url });
  }

  /** Runs `fn` in the page (in the current frame) with JSON arguments; resolves its (awaited) value. */
  execute(fn, ...args) {
    return this.cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments)`, args });
  }

  async find(css) {
    return this.cmd('POST', '/element', { using: 'css selector', value: css });
  }

  /** Waits until `fn(...args)` in the page is truthy; resolves that value. */
  async waitFor(fn, args = [], { timeout = 20000, message } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        last = await this.execute(fn, ...args);
        if (last) return last;
      } catch (e) {
        last = e.message;
      }
      if (Date.now() > deadline) {
        throw new WebDriverError(`timed out waiting for ${message ?? fn} (last: ${JSON.stringify(last)})`);
      }
      await sleep(100);
    }
  }

  async waitForElement(css, opts = {}) {
    await this.waitFor((s) => document.querySelector(s) !== null, [css], { message: css, ...opts });
    return this.find(css);
  }

  click(el) {
    return this.cmd('POST', `/element/${el[ELEMENT]}/click`, {});
  }

  /** Types into whatever has focus, key by key (keyboard actions), as a person would. */
  async type(text) {
    const actions = [];
    for (const ch of text) actions.push({ type: 'keyDown', value: ch }, { type: 'keyUp', value: ch });
    await this.cmd('POST', '/actions', { actions: [{ type: 'key', id: 'keyboard', actions }] });
    await this.cmd('DELETE', '/actions').catch(() => {});
  }

  /** Presses one named key: Tab, Enter, Escape, Backspace. */
  press(key) {
    return this.type(KEYS[key] ?? key);
  }

  /** Switches into the iframe `el` (an element of the current frame), or back to the top with null. */
  frame(el) {
    return this.cmd('POST', '/frame', { id: el });
  }

  top() {
    return this.cmd('POST', '/frame', { id: null });
  }
}

export const KEYS = {
  Tab: '\uE004', Enter: '\uE007', Escape: '\uE00C', Backspace: '\uE003',
};

/** Starts a driver and a session for the current engine; resolves `{session, stop}`. */
export async function openBrowser(name = engineName()) {
  const driver = await startDriver(name);
  try {
    const session = await Session.start(driver, name);
    return {
      session,
      stop: async () => {
        await session.close();
        driver.stop();
      },
    };
  } catch (e) {
    driver.stop();
    throw e;
  }
}
