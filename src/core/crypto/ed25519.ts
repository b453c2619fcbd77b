// Ed25519 signing keys and signature checks on node:crypto (OpenSSL), with raw 32-byte seeds and
// public keys in unpadded base64 as Matrix exchanges them (appendices#signing-json).
import { createPrivateKey, createPublicKey, randomBytes, randomInt, sign, verify, type KeyObject } from 'node:crypto';
import { createLru } from '../lru.js';
import { decodeBase64, encodeBase64 } from '../json/base64.js';

export interface SigningKey {
  readonly algorithm: 'ed25519';
  /** The key version, the part of the key ID after `ed25519:`. */
  readonly version: string;
  /** `ed25519:<version>`, the name the signature is filed under in `signatures`. */
  readonly keyId: string;
  /** The 32-byte private seed. Keep it secret. */
  readonly seed: Buffer;
  /** The 32-byte public key, unpadded base64. */
  readonly publicKey: string;
  /** Signs bytes; returns the 64-byte signature as unpadded base64. */
  sign(data: Uint8Array): string;
}

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

// DER wrappers for raw Ed25519 keys (RFC 8410): PKCS#8 PrivateKeyInfo around a 32-byte seed and
// SubjectPublicKeyInfo around a 32-byte public key. OpenSSL takes these without any ASN.1 library.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const SEED_BYTES = 32;
const PUBLIC_KEY_BYTES = 32;
const SIGNATURE_BYTES = 64;
const SIGNATURE_BASE64_CHARS = 86;

/** Key versions: server-server-api "Publishing Keys" says the version matches [a-zA-Z0-9_]. */
const KEY_VERSION_RE = /^[A-Za-z0-9_]+$/;
const VERSION_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function isValidKeyVersion(version: string): boolean {
  return KEY_VERSION_RE.test(version);
}

function checkKeyVersion(version: string): void {
  if (!isValidKeyVersion(version)) {
    throw new SigningKeyError(
      `invalid signing key version ${JSON.stringify(version)}: it must be non-empty and use only [A-Za-z0-9_]`,
    );
  }
}

/** Wraps 32 raw bytes in a view without copying when they already are a Buffer. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function privateKeyFromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(privateKey: KeyObject): Buffer {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - PUBLIC_KEY_BYTES);
}

class Ed25519SigningKey implements SigningKey {
  readonly algorithm = 'ed25519' as const;
  readonly keyId: string;
  readonly publicKey: string;
  readonly #privateKey: KeyObject;

  constructor(
    readonly version: string,
    readonly seed: Buffer,
  ) {
    this.keyId = `ed25519:${version}`;
    // The KeyObject is built once per key: creating one per signature would cost more than signing.
    this.#privateKey = privateKeyFromSeed(seed);
    this.publicKey = encodeBase64(rawPublicKey(this.#privateKey));
  }

  sign(data: Uint8Array): string {
    // 64 bytes are 88 base64 characters of which the last two are padding.
    return sign(null, data, this.#privateKey).toString('base64').slice(0, SIGNATURE_BASE64_CHARS);
  }
}

/** Builds a signing key from a 32-byte seed, given as bytes or (padded or unpadded) base64. */
export function signingKeyFromSeed(version: string, seed: Uint8Array | string): SigningKey {
  checkKeyVersion(version);
  let bytes: Buffer;
  if (typeof seed === 'string') {
    try {
      bytes = decodeBase64(seed);
    } catch {
      throw new SigningKeyError('signing key seed is not valid base64');
    }
  } else {
    // Copy, so a caller that reuses or zeroes its buffer cannot change our key.
    bytes = Buffer.from(seed);
  }
  if (bytes.length !== SEED_BYTES) {
    throw new SigningKeyError(`ed25519 seed must be ${SEED_BYTES} bytes, got ${bytes.length}`);
  }
  return new Ed25519SigningKey(version, bytes);
}

/** A new random key. The default version is `a_` and 4 random [A-Za-z0-9], as Synapse names them. */
export function generateSigningKey(version?: string): SigningKey {
  let v = version;
  if (v === undefined) {
    v = 'a_';
    for (let i = 0; i < 4; i++) v += VERSION_ALPHABET[randomInt(VERSION_ALPHABET.length)];
  }
  return signingKeyFromSeed(v, randomBytes(SEED_BYTES));
}

// Public KeyObjects of remote servers, keyed by their base64 text. Building one costs about as much
// as a verification, and the same few thousand server keys verify almost every event.
const publicKeyCache = createLru<string, KeyObject>(10_000);

/** The KeyObject for a base64 Ed25519 public key, or null if it is not 32 bytes of base64. */
function publicKeyObject(publicKey: string): KeyObject | null {
  const cached = publicKeyCache.get(publicKey);
  if (cached) return cached;
  let raw: Buffer;
  try {
    raw = decodeBase64(publicKey);
  } catch {
    return null;
  }
  if (raw.length !== PUBLIC_KEY_BYTES) return null;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
  publicKeyCache.set(publicKey, key);
  return key;
}

/**
 * Checks an Ed25519 signature (unpadded or padded base64) over `message` with a base64 public key.
 * Returns false, never throws, for any malformed key, signature or mismatch.
 */
export function verifyEd25519(publicKey: string, message: Uint8Array, signature: string): boolean {
  if (typeof publicKey !== 'string' || typeof signature !== 'string') return false;
  const key = publicKeyObject(publicKey);
  if (!key) return false;
  let sig: Buffer;
  try {
    sig = decodeBase64(signature);
  } catch {
    return false;
  }
  if (sig.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, asBuffer(message), key, sig);
  } catch {
    return false;
  }
}

/**
 * Reads Synapse's signing.key format: one key per line, `ed25519 <version> <seed base64>`.
 * Blank lines are skipped; anything else malformed throws SigningKeyError naming the line.
 */
export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const parts = line.split(/\s+/);
    if (parts.length !== 3) {
      throw new SigningKeyError(`signing key file line ${i + 1}: expected "ed25519 <version> <seed>"`);
    }
    const [algorithm, version, seed] = parts as [string, string, string];
    if (algorithm !== 'ed25519') {
      throw new SigningKeyError(`signing key file line ${i + 1}: unsupported algorithm ${JSON.stringify(algorithm)}`);
    }
    try {
      keys.push(signingKeyFromSeed(version, seed));
    } catch (e) {
      throw new SigningKeyError(`signing key file line ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return keys;
}

/** Writes keys in Synapse's signing.key format (unpadded base64 seeds, one line per key). */
export function formatSigningKeyFile(keys: readonly SigningKey[]): string {
  return keys.map((k) => `${k.algorithm} ${k.version} ${encodeBase64(k.seed)}\n`).join('');
}
