// Pure checks of E2EE key material uploaded by clients: device keys, one-time/fallback key maps,
// cross-signing keys, key-backup session data and the backup replacement rule. No I/O; every
// function either returns what it validated (the original objects, never stripped copies) or
// throws a MatrixError with the errcode the endpoint answers with.
import { MatrixError } from '../errors.js';
import { canonicalJson } from '../core/json/canonical.js';
import { decodeBase64 } from '../core/json/base64.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { verifyJsonSignature } from '../core/crypto/signing.js';

const badJson = (message: string): MatrixError => new MatrixError('M_BAD_JSON', message);

function isStringMap(v: unknown): v is Record<string, string> {
  return isJsonObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** `{user_id: {key_id: signature}}` with string signatures (the "Signatures" schema). */
export function isSignaturesMap(v: unknown): v is Record<string, Record<string, string>> {
  return isJsonObject(v) && Object.values(v).every(isStringMap);
}

/** The Ed25519 key of a device: `keys["ed25519:<device_id>"]`. */
export function deviceEd25519Key(deviceKeys: JsonObject, deviceId: string): string | undefined {
  const keys = deviceKeys.keys;
  if (!isJsonObject(keys) || !Object.hasOwn(keys, `ed25519:${deviceId}`)) return undefined;
  const k = keys[`ed25519:${deviceId}`];
  return typeof k === 'string' ? k : undefined;
}

/**
 * Checks a `device_keys` object (spec "Uploading keys"; definitions/device_keys.yaml) before it is
 * stored: the DeviceKeys shape (as Synapse validates it since CVE-2025-61672: strings, a list of
 * algorithms, string maps), `user_id` and `device_id` naming the uploader, and a valid signature by
 * the device's own Ed25519 key over the object ("must be signed by that key"). Returns the object
 * unchanged.
 */
export function checkDeviceKeys(value: unknown, userId: string, deviceId: string): JsonObject {
  if (!isJsonObject(value)) throw badJson('"device_keys" must be an object');
  const dk = value;
  if (typeof dk.user_id !== 'string') throw badJson('"device_keys.user_id" must be a string');
  if (typeof dk.device_id !== 'string') throw badJson('"device_keys.device_id" must be a string');
  if (!Array.isArray(dk.algorithms) || !dk.algorithms.every((a) => typeof a === 'string')) {
    throw badJson('"device_keys.algorithms" must be a list of strings');
  }
  if (!isStringMap(dk.keys)) throw badJson('"device_keys.keys" must be an object of strings');
  if (!isSignaturesMap(dk.signatures)) throw badJson('"device_keys.signatures" must map user IDs to objects of strings');
  if (dk.user_id !== userId) {
    throw badJson('Provided `user_id` in `device_keys` does not match that of the authenticated user');
  }
  if (dk.device_id !== deviceId) {
    throw badJson('Provided `device_id` in `device_keys` does not match that of the authenticated user device');
  }
  const ed25519 = deviceEd25519Key(dk, deviceId);
  if (ed25519 === undefined) throw new MatrixError('M_INVALID_PARAM', `"device_keys.keys" must contain "ed25519:${deviceId}"`);
  if (!verifyJsonSignature(dk, userId, `ed25519:${deviceId}`, ed25519)) {
    throw new MatrixError('M_INVALID_SIGNATURE', `device_keys are not signed by ed25519:${deviceId}`);
  }
  return dk;
}

/** One entry of a one_time_keys or fallback_keys map, with the key exactly as uploaded. */
export interface UploadedKey {
  algorithm: string;
  keyId: string;
  key: JsonValue;
}

/**
 * Checks a `one_time_keys` / `fallback_keys` map: names `<algorithm>:<key_id>` (exactly one colon,
 * as Synapse requires), values either a string or a KeyObject `{key, signatures, fallback?}`.
 * Signatures on one-time keys are not verified here: Synapse does not either, and the claiming
 * device checks them against the device key it trusts. `undefined`/`null` gives an empty list.
 */
export function parseKeyMap(value: unknown, field: 'one_time_keys' | 'fallback_keys'): UploadedKey[] {
  if (value === undefined || value === null) return [];
  if (!isJsonObject(value)) throw badJson(`"${field}" must be an object`);
  const out: UploadedKey[] = [];
  for (const [name, key] of Object.entries(value)) {
    const parts = name.split(':');
    if (parts.length !== 2 || parts[0]!.length === 0 || parts[1]!.length === 0) {
      throw badJson(`Invalid ${field} key ${JSON.stringify(name)}. Expected "<algorithm>:<key_id>".`);
    }
    if (typeof key !== 'string') {
      if (!isJsonObject(key)) throw badJson(`"${field}.${name}" must be a string or a key object`);
      if (typeof key.key !== 'string') throw badJson(`"${field}.${name}.key" must be a string`);
      if (!isSignaturesMap(key.signatures)) throw badJson(`"${field}.${name}.signatures" must map user IDs to objects of strings`);
      if (key.fallback !== undefined && key.fallback !== null && typeof key.fallback !== 'boolean') {
        throw badJson(`"${field}.${name}.fallback" must be a boolean`);
      }
    }
    out.push({ algorithm: parts[0]!, keyId: parts[1]!, key });
  }
  if (field === 'fallback_keys') {
    // "There can only be at most one key per algorithm uploaded."
    const seen = new Set<string>();
    for (const k of out) {
      if (seen.has(k.algorithm)) throw new MatrixError('M_INVALID_PARAM', `More than one fallback key for algorithm ${k.algorithm}`);
      seen.add(k.algorithm);
    }
  }
  return out;
}

function withoutSignatures(v: JsonValue): JsonValue {
  if (!isJsonObject(v)) return v;
  const { signatures: _s, ...rest } = v;
  return rest;
}

/**
 * Whether a re-uploaded one-time key is the same key as the stored one: equal once signatures are
 * set aside (a client may sign the same key again differently), as Synapse compares them.
 */
export function sameOneTimeKey(stored: JsonValue, uploaded: JsonValue): boolean {
  try {
    return canonicalJson(withoutSignatures(stored)) === canonicalJson(withoutSignatures(uploaded));
  } catch {
    return false;
  }
}

/** Canonical JSON of a key object without `signatures` and `unsigned`: what a signature covers. */
export function signedContent(obj: JsonObject): string {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalJson(rest);
}

export type CrossSigningKeyType = 'master' | 'self_signing' | 'user_signing';

export interface CrossSigningKeyInfo {
  /** `ed25519:<public key>` */
  keyId: string;
  /** Unpadded base64 public key (also the key's "device ID" in signatures uploads). */
  publicKey: string;
}

/**
 * The public key of a cross-signing key object: exactly one entry in `keys`, named
 * `ed25519:<public key>` with the public key (32 bytes of base64) as its value (definitions/
 * cross_signing_key.yaml). Undefined when the object does not have that form.
 */
export function crossSigningKeyInfo(key: JsonObject): CrossSigningKeyInfo | undefined {
  const keys = key.keys;
  if (!isJsonObject(keys)) return undefined;
  const entries = Object.entries(keys);
  if (entries.length !== 1) return undefined;
  const [keyId, publicKey] = entries[0]!;
  if (typeof publicKey !== 'string' || keyId !== `ed25519:${publicKey}`) return undefined;
  let bytes: Buffer;
  try {
    bytes = decodeBase64(publicKey);
  } catch {
    return undefined;
  }
  if (bytes.length !== 32) return undefined;
  return { keyId, publicKey };
}

/**
 * Checks an uploaded cross-signing key as Synapse does: it names the uploader, its `usage` lists
 * `keyType`, it holds exactly one Ed25519 public key; and, when `signedBy` is given (the master key
 * for self-signing and user-signing keys), it carries a valid signature by that key
 * (M_INVALID_SIGNATURE otherwise). Returns its key ID and public key.
 */
export function checkCrossSigningKey(
  value: unknown,
  userId: string,
  keyType: CrossSigningKeyType,
  signedBy?: CrossSigningKeyInfo,
): CrossSigningKeyInfo {
  const invalid = () => new MatrixError('M_INVALID_PARAM', `Invalid ${keyType} key`);
  if (!isJsonObject(value)) throw invalid();
  if (value.user_id !== userId) throw invalid();
  const usage = value.usage;
  if (!Array.isArray(usage) || !usage.every((u) => typeof u === 'string') || !usage.includes(keyType)) throw invalid();
  if (value.signatures !== undefined && !isSignaturesMap(value.signatures)) throw invalid();
  const info = crossSigningKeyInfo(value);
  if (!info) throw invalid();
  if (signedBy && !verifyJsonSignature(value, userId, signedBy.keyId, signedBy.publicKey)) {
    throw new MatrixError('M_INVALID_SIGNATURE', `Invalid signature on ${keyType} key`);
  }
  return info;
}

// ---- key backup ----------------------------------------------------------------------------------

/** One backed-up session (definitions/key_backup_data.yaml); `sessionData` is the raw object. */
export interface BackupSession {
  firstMessageIndex: number;
  forwardedCount: number;
  isVerified: boolean;
  sessionData: JsonObject;
}

function nonNegativeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Checks KeyBackupData; `where` names it in error messages. */
export function parseBackupSession(value: unknown, where: string): BackupSession {
  if (!isJsonObject(value)) throw badJson(`${where} must be an object`);
  const { first_message_index, forwarded_count, is_verified, session_data } = value;
  if (first_message_index === undefined || forwarded_count === undefined || is_verified === undefined || session_data === undefined) {
    throw new MatrixError('M_MISSING_PARAM', `${where} needs first_message_index, forwarded_count, is_verified and session_data`);
  }
  if (!nonNegativeInt(first_message_index)) throw new MatrixError('M_INVALID_PARAM', `${where}.first_message_index must be a non-negative integer`);
  if (!nonNegativeInt(forwarded_count)) throw new MatrixError('M_INVALID_PARAM', `${where}.forwarded_count must be a non-negative integer`);
  if (typeof is_verified !== 'boolean') throw new MatrixError('M_INVALID_PARAM', `${where}.is_verified must be a boolean`);
  if (!isJsonObject(session_data)) throw new MatrixError('M_INVALID_PARAM', `${where}.session_data must be an object`);
  return { firstMessageIndex: first_message_index, forwardedCount: forwarded_count, isVerified: is_verified, sessionData: session_data };
}

/**
 * Spec "Server-side key backups": when a session is already backed up, keep the key with
 * `is_verified` true; with equal `is_verified`, the lower `first_message_index`; with both equal,
 * the lower `forwarded_count`. True when `incoming` replaces `existing` (ties keep the existing one).
 */
export function shouldReplaceBackupSession(
  existing: Pick<BackupSession, 'firstMessageIndex' | 'forwardedCount' | 'isVerified'>,
  incoming: Pick<BackupSession, 'firstMessageIndex' | 'forwardedCount' | 'isVerified'>,
): boolean {
  if (incoming.isVerified !== existing.isVerified) return incoming.isVerified;
  if (incoming.firstMessageIndex !== existing.firstMessageIndex) return incoming.firstMessageIndex < existing.firstMessageIndex;
  return incoming.forwardedCount < existing.forwardedCount;
}
