// Opens a card JWE as only the server can: with the private key from its keys file (tests only).
import { createECDH } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { compactDecrypt, decodeProtectedHeader, importJWK } from 'jose';

/** The plaintext of `compact`, encrypted to one of the keys in `dataDir/keys.json`. */
export async function openCardJwe(compact, dataDir) {
  const { kid } = decodeProtectedHeader(compact);
  const file = JSON.parse(readFileSync(path.join(dataDir, 'keys.json'), 'utf8'));
  const entry = file.encryption.find((k) => k.kid === kid);
  if (!entry) throw new Error(`no key ${kid} in the keys file`);
  // The public point from the private scalar (uncompressed: 04 || x || y).
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(entry.private, 'base64url'));
  const point = ecdh.getPublicKey();
  const jwk = { kty: 'EC', crv: 'P-256', d: entry.private,
    x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33).toString('base64url') };
  const { plaintext } = await compactDecrypt(compact, await importJWK(jwk, 'ECDH-ES'));
  return new TextDecoder().decode(plaintext);
}

/** The card a `POST /v1/tokens` body carries, in clear or encrypted; null when it carries none. */
export async function cardOfBody(body, dataDir) {
  let parsed;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  if (parsed?.card) return parsed.card;
  if (typeof parsed?.card_jwe === 'string' && dataDir) {
    try {
      return JSON.parse(await openCardJwe(parsed.card_jwe, dataDir));
    } catch {
      return null;
    }
  }
  return null;
}
