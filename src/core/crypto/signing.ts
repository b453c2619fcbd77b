// Signing JSON objects and checking their signatures (spec appendices#signing-json: "Signing
// Details" and "Checking for a Signature").
import { canonicalJsonBytes, type CanonicalJsonOptions } from '../json/canonical.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../json/types.js';
import { verifyEd25519, type SigningKey } from './ed25519.js';

const ED25519_PREFIX = 'ed25519:';

/** Own property only: `signatures` maps come from the network and may name `__proto__` & co. */
function own(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * The bytes a JSON signature covers: the canonical JSON of the object without its `signatures`
 * and `unsigned` members. Throws CanonicalJsonError if the object cannot be canonicalised.
 * Compute this once when checking several signatures on the same object.
 */
export function jsonSigningBytes(obj: JsonObject, opts?: CanonicalJsonOptions): Buffer {
  if (!Object.hasOwn(obj, 'signatures') && !Object.hasOwn(obj, 'unsigned')) return canonicalJsonBytes(obj, opts);
  const { signatures: _signatures, unsigned: _unsigned, ...covered } = obj;
  return canonicalJsonBytes(covered, opts);
}

/** The unpadded-base64 signature `key` makes over `obj` (without signatures and unsigned). */
export function computeJsonSignature(obj: JsonObject, key: SigningKey, opts?: CanonicalJsonOptions): string {
  return key.sign(jsonSigningBytes(obj, opts));
}

/**
 * Returns a new object equal to `obj` with `signatures[entity][key.keyId]` set, keeping every
 * other signature already present (any number of entities and key IDs). `obj` is not mutated.
 * Throws TypeError if `signatures` (or its entry for `entity`) exists but is not an object.
 */
export function signJson<T extends JsonObject>(obj: T, entity: string, key: SigningKey, opts?: CanonicalJsonOptions): T {
  const existing = own(obj, 'signatures');
  if (existing !== undefined && !isJsonObject(existing)) throw new TypeError('`signatures` must be an object');
  const forEntity = existing === undefined ? undefined : own(existing, entity);
  if (forEntity !== undefined && !isJsonObject(forEntity)) {
    throw new TypeError(`\`signatures[${JSON.stringify(entity)}]\` must be an object`);
  }
  const signature = computeJsonSignature(obj, key, opts);
  // Computed keys define own properties, so an entity named "__proto__" cannot reach the prototype.
  const signatures: JsonObject = { ...existing, [entity]: { ...forEntity, [key.keyId]: signature } };
  return { ...obj, signatures };
}

/**
 * Checks the signature filed under `signatures[entity][keyId]` against `publicKey` (unpadded
 * base64). False, never an exception, when it is missing, not ed25519, malformed, or wrong, or
 * when the object cannot be canonicalised.
 */
export function verifyJsonSignature(obj: JsonObject, entity: string, keyId: string, publicKey: string, opts?: CanonicalJsonOptions): boolean {
  if (!isJsonObject(obj) || typeof keyId !== 'string' || !keyId.startsWith(ED25519_PREFIX)) return false;
  const signatures = own(obj, 'signatures');
  if (!isJsonObject(signatures)) return false;
  const forEntity = own(signatures, entity);
  if (!isJsonObject(forEntity)) return false;
  const signature = own(forEntity, keyId);
  if (typeof signature !== 'string') return false;
  let bytes: Buffer;
  try {
    bytes = jsonSigningBytes(obj, opts);
  } catch {
    return false;
  }
  return verifyEd25519(publicKey, bytes, signature);
}

/**
 * The ed25519 key IDs (`ed25519:<version>`) under which `entity` has a string signature on `obj`.
 * Other algorithms are left out: the spec says to ignore algorithms we do not understand.
 */
export function listSignatureKeyIds(obj: JsonObject, entity: string): string[] {
  const signatures = own(obj, 'signatures');
  if (!isJsonObject(signatures)) return [];
  const forEntity = own(signatures, entity);
  if (!isJsonObject(forEntity)) return [];
  return Object.keys(forEntity).filter((id) => id.startsWith(ED25519_PREFIX) && typeof forEntity[id] === 'string');
}
