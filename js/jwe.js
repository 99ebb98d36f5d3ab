// Card data encrypted to the server's key before it leaves the browser: a compact JWE (RFC 7516) with
// `alg: "ECDH-ES"` on P-256 and `enc: "A256GCM"` (RFC 7518), made with WebCrypto (no crypto in the wasm).
// The server publishes its keys at `{apiBase}/.well-known/jwks.json`; the first is the one to use. The
// protected header carries `iat` (the server's clock, estimated from the JWKS answer's `Date`, so a
// shopper's wrong clock does not make the JWE stale). README, "Encrypted card data".

const subtle = () => globalThis.crypto?.subtle;

const b64url = (bytes) => {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const utf8 = (s) => new TextEncoder().encode(s);
const u32 = (n) => new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** Whether this engine can encrypt (WebCrypto needs a secure context: https or localhost). */
export function canEncrypt() {
  const s = subtle();
  return !!(s && s.generateKey && s.deriveBits && s.importKey && s.encrypt && s.digest);
}

/**
 * Encrypts `plaintext` (a string) to the public JWK `key` (`{kty:'EC', crv:'P-256', x, y, kid}`),
 * dated `iat` (Unix seconds). Resolves the compact JWE.
 */
export async function encryptCompact(key, plaintext, iat) {
  const s = subtle();
  const recipient = await s.importKey('jwk', { kty: 'EC', crv: 'P-256', x: key.x, y: key.y, ext: true },
    { name: 'ECDH', namedCurve: 'P-256' }, false, []);
  const ephemeral = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
  const epk = await s.exportKey('jwk', ephemeral.publicKey);
  const z = new Uint8Array(await s.deriveBits({ name: 'ECDH', public: recipient }, ephemeral.privateKey, 256));
  // Concat KDF (NIST SP 800-56A), one SHA-256 round: AlgorithmID is `enc`, no PartyU/PartyV info.
  const enc = utf8('A256GCM');
  const otherInfo = concat(u32(enc.length), enc, u32(0), u32(0), u32(256));
  const cek = await s.digest('SHA-256', concat(u32(1), z, otherInfo));
  z.fill(0);
  const header = { alg: 'ECDH-ES', enc: 'A256GCM', kid: key.kid, epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y }, iat };
  const protectedHeader = b64url(utf8(JSON.stringify(header)));
  const aes = await s.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const data = utf8(plaintext);
  const sealed = new Uint8Array(await s.encrypt({ name: 'AES-GCM', iv, additionalData: utf8(protectedHeader), tagLength: 128 }, aes, data));
  data.fill(0);
  const cut = sealed.length - 16;
  return `${protectedHeader}..${b64url(iv)}.${b64url(sealed.subarray(0, cut))}.${b64url(sealed.subarray(cut))}`;
}

const unreachable = (code, message) => ({ type: 'api_connection_error', code, message, param: null });
const UNAVAILABLE = { type: 'api_connection_error', code: 'encryption_unavailable', param: null,
  message: 'The card cannot be encrypted here (no WebCrypto, or the API published no key), and this page sends cards only encrypted.' };

/**
 * The encryptor of one API base: fetches its JWKS once per page (again when asked to refresh), and answers the
 * card object's JSON encrypted to its first key, or `null` when the server publishes no key (404, or no
 * P-256 key) or WebCrypto is missing: the card then travels as plain JSON inside TLS. With `required`, those
 * reject instead (`encryption_unavailable`): nothing between the page and the API (a proxy answering the
 * keys with a 404) can make the card go in clear. A JWKS that cannot be fetched rejects (as
 * `api_connection_error`) rather than falling back to plain JSON, so blocking the keys does not downgrade
 * the encryption.
 */
const cache = new Map(); // JWKS URL -> Promise<{key, skewMs} | null>, shared by every client of a page

export function encryptorFor(apiBase, { timeoutMs = 10000, required = false } = {}) {
  const url = `${apiBase.replace(/\/+$/, '')}/.well-known/jwks.json`;
  // `fresh`: past the browser's HTTP cache, which may hold the keys for minutes (max-age) after a
  // rotation retired the one it holds.
  const fetchKeys = (fresh) => {
    const c = new AbortController();
    const timer = setTimeout(() => c.abort(), timeoutMs);
    const asked = Date.now();
    return fetch(url, { mode: 'cors', credentials: 'omit', signal: c.signal, cache: fresh ? 'no-store' : 'default' })
      .then(
        (r) => {
          if (r.status === 404) return null;
          if (!r.ok) throw unreachable('network_error', 'Could not read the cardtoken API\'s encryption keys.');
          return r.json().then((j) => {
            const key = j?.keys?.find((k) => k && k.kty === 'EC' && k.crv === 'P-256' && (!k.use || k.use === 'enc') && (!k.alg || k.alg === 'ECDH-ES'));
            if (!key) return null;
            const server = Date.parse(r.headers.get('date') || '');
            const skewMs = Number.isFinite(server) ? server + 500 - (asked + Date.now()) / 2 : 0;
            return { key, skewMs };
          });
        },
        (e) => {
          throw e?.name === 'AbortError'
            ? unreachable('timeout', 'The cardtoken API did not answer in time.')
            : unreachable('network_error', 'Could not reach the cardtoken API.');
        },
      )
      .finally(() => clearTimeout(timer));
  };
  return {
    /** The card's JSON encrypted, or null. `refresh`: fetch the keys again first (a key was retired). */
    async encrypt(cardJson, refresh = false) {
      if (!canEncrypt()) {
        if (required) throw UNAVAILABLE;
        return null;
      }
      if (!cache.has(url) || refresh) cache.set(url, fetchKeys(refresh));
      const keys = cache.get(url);
      let current;
      try {
        current = await keys;
      } catch (e) {
        if (cache.get(url) === keys) cache.delete(url); // try again next time
        throw e;
      }
      if (!current) {
        if (required) throw UNAVAILABLE;
        return null;
      }
      const iat = Math.floor((Date.now() + current.skewMs) / 1000);
      return encryptCompact(current.key, cardJson, iat);
    },
  };
}
