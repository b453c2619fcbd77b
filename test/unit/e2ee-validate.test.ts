// Table tests of src/e2ee/validate.ts: device keys, key maps, cross-signing keys, key-backup
// session data and the backup keep-or-replace rule (spec "Server-side key backups").
import { describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { jsonSigningBytes } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { MatrixError } from '../../src/errors.js';
import {
  checkCrossSigningKey,
  checkDeviceKeys,
  crossSigningKeyInfo,
  parseBackupSession,
  parseKeyMap,
  sameOneTimeKey,
  shouldReplaceBackupSession,
} from '../../src/e2ee/validate.js';

const USER = '@alice:example.org';

function errcodeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof MatrixError) return e.errcode;
    throw e;
  }
}

function sign(obj: JsonObject, keyId: string, key = generateSigningKey()): JsonObject {
  return { ...obj, signatures: { [USER]: { [keyId]: key.sign(jsonSigningBytes(obj)) } } };
}

describe('checkDeviceKeys', () => {
  const key = generateSigningKey();
  const base: JsonObject = {
    user_id: USER,
    device_id: 'DEV',
    algorithms: ['m.olm.v1.curve25519-aes-sha2'],
    keys: { 'curve25519:DEV': 'c', 'ed25519:DEV': key.publicKey },
  };

  it('returns the very object it was given when valid', () => {
    const signed = sign(base, 'ed25519:DEV', key);
    expect(checkDeviceKeys(signed, USER, 'DEV')).toBe(signed);
  });

  it.each([
    ['another user', { ...base, user_id: '@bob:example.org' }, 'M_BAD_JSON'],
    ['another device', { ...base, device_id: 'OTHER' }, 'M_BAD_JSON'],
    ['no algorithms', { ...base, algorithms: undefined }, 'M_BAD_JSON'],
    ['non-string key', { ...base, keys: { 'ed25519:DEV': 1 } }, 'M_BAD_JSON'],
    ['no ed25519 key', { ...base, keys: { 'curve25519:DEV': 'c' } }, 'M_INVALID_PARAM'],
  ])('refuses %s', (_name, obj, errcode) => {
    const clean = JSON.parse(JSON.stringify(obj)) as JsonObject;
    expect(errcodeOf(() => checkDeviceKeys(sign(clean, 'ed25519:DEV', key), USER, 'DEV'))).toBe(errcode);
  });

  it('refuses a signature by another key and a missing signature', () => {
    expect(errcodeOf(() => checkDeviceKeys(sign(base, 'ed25519:DEV'), USER, 'DEV'))).toBe('M_INVALID_SIGNATURE');
    expect(errcodeOf(() => checkDeviceKeys({ ...base, signatures: {} }, USER, 'DEV'))).toBe('M_INVALID_SIGNATURE');
    // Signed under another user's name.
    const byOther = { ...base, signatures: { '@bob:example.org': { 'ed25519:DEV': key.sign(jsonSigningBytes(base)) } } };
    expect(errcodeOf(() => checkDeviceKeys(byOther, USER, 'DEV'))).toBe('M_INVALID_SIGNATURE');
  });
});

describe('parseKeyMap and sameOneTimeKey', () => {
  it('splits names and keeps values as given', () => {
    const obj = { key: 'k', signatures: { [USER]: { 'ed25519:DEV': 's' } }, extra: [1] };
    expect(parseKeyMap({ 'signed_curve25519:AAA': obj, 'curve25519:B': 'raw' }, 'one_time_keys')).toEqual([
      { algorithm: 'signed_curve25519', keyId: 'AAA', key: obj },
      { algorithm: 'curve25519', keyId: 'B', key: 'raw' },
    ]);
    expect(parseKeyMap(undefined, 'one_time_keys')).toEqual([]);
    expect(parseKeyMap(null, 'fallback_keys')).toEqual([]);
  });

  it.each([
    [{ nocolon: 'x' }, 'M_BAD_JSON'],
    [{ 'a:b:c': 'x' }, 'M_BAD_JSON'],
    [{ ':b': 'x' }, 'M_BAD_JSON'],
    [{ 'a:b': { key: 'k' } }, 'M_BAD_JSON'],
    [{ 'a:b': { key: 'k', signatures: {}, fallback: 'yes' } }, 'M_BAD_JSON'],
    [{ 'a:b': [] }, 'M_BAD_JSON'],
  ])('refuses %j', (map, errcode) => {
    expect(errcodeOf(() => parseKeyMap(map, 'one_time_keys'))).toBe(errcode);
  });

  it('at most one fallback key per algorithm', () => {
    const k = { key: 'k', signatures: {} };
    expect(errcodeOf(() => parseKeyMap({ 'a:1': k, 'a:2': k }, 'fallback_keys'))).toBe('M_INVALID_PARAM');
    expect(parseKeyMap({ 'a:1': k, 'a:2': k }, 'one_time_keys').length).toBe(2);
  });

  it('compares keys with signatures set aside', () => {
    expect(sameOneTimeKey({ key: 'k', signatures: { a: { b: 'c' } } }, { signatures: { x: { y: 'z' } }, key: 'k' })).toBe(true);
    expect(sameOneTimeKey({ key: 'k', signatures: {} }, { key: 'other', signatures: {} })).toBe(false);
    expect(sameOneTimeKey('k', 'k')).toBe(true);
    expect(sameOneTimeKey('k', { key: 'k' })).toBe(false);
  });
});

describe('cross-signing keys', () => {
  const master = generateSigningKey();
  const ssk = generateSigningKey();
  const masterKey = { user_id: USER, usage: ['master'], keys: { [`ed25519:${master.publicKey}`]: master.publicKey } };
  const masterInfo = { keyId: `ed25519:${master.publicKey}`, publicKey: master.publicKey };

  it('reads the public key only from the `ed25519:<key>` form with a 32-byte key', () => {
    expect(crossSigningKeyInfo(masterKey)).toEqual(masterInfo);
    expect(crossSigningKeyInfo({ keys: { 'ed25519:abc': 'abc' } })).toBeUndefined();
    expect(crossSigningKeyInfo({ keys: { [`ed25519:${ssk.publicKey}`]: master.publicKey } })).toBeUndefined();
    expect(crossSigningKeyInfo({ keys: { [`ed25519:${master.publicKey}`]: master.publicKey, 'ed25519:x': 'x' } })).toBeUndefined();
    expect(crossSigningKeyInfo({ keys: { [`curve25519:${master.publicKey}`]: master.publicKey } })).toBeUndefined();
  });

  it('checks owner, usage and the master signature', () => {
    expect(checkCrossSigningKey(masterKey, USER, 'master')).toEqual(masterInfo);
    expect(errcodeOf(() => checkCrossSigningKey(masterKey, '@bob:example.org', 'master'))).toBe('M_INVALID_PARAM');
    expect(errcodeOf(() => checkCrossSigningKey(masterKey, USER, 'self_signing'))).toBe('M_INVALID_PARAM');
    const sskKey: JsonObject = { user_id: USER, usage: ['self_signing'], keys: { [`ed25519:${ssk.publicKey}`]: ssk.publicKey } };
    const signed = sign(sskKey, masterInfo.keyId, master);
    expect(checkCrossSigningKey(signed, USER, 'self_signing', masterInfo).publicKey).toBe(ssk.publicKey);
    expect(errcodeOf(() => checkCrossSigningKey(sskKey, USER, 'self_signing', masterInfo))).toBe('M_INVALID_SIGNATURE');
    expect(errcodeOf(() => checkCrossSigningKey(sign(sskKey, masterInfo.keyId, ssk), USER, 'self_signing', masterInfo))).toBe('M_INVALID_SIGNATURE');
  });
});

describe('key backup', () => {
  const s = (isVerified: boolean, firstMessageIndex: number, forwardedCount: number) => ({ isVerified, firstMessageIndex, forwardedCount });

  it.each([
    // [existing, incoming, replace?]
    [s(false, 5, 1), s(true, 9, 9), true], // verified beats unverified, whatever the rest
    [s(true, 5, 1), s(false, 0, 0), false],
    [s(true, 5, 1), s(true, 4, 9), true], // same verification: lower index wins
    [s(false, 5, 1), s(false, 6, 0), false],
    [s(false, 5, 3), s(false, 5, 2), true], // same both: fewer forwards wins
    [s(false, 5, 3), s(false, 5, 4), false],
    [s(false, 5, 3), s(false, 5, 3), false], // a tie keeps the existing key
  ])('existing %j, incoming %j: replace %s', (existing, incoming, replace) => {
    expect(shouldReplaceBackupSession(existing, incoming)).toBe(replace);
  });

  it('parses KeyBackupData', () => {
    const data = { ephemeral: 'e', ciphertext: 'c', mac: 'm' };
    expect(parseBackupSession({ first_message_index: 1, forwarded_count: 0, is_verified: true, session_data: data }, 'k')).toEqual({
      firstMessageIndex: 1,
      forwardedCount: 0,
      isVerified: true,
      sessionData: data,
    });
    expect(errcodeOf(() => parseBackupSession({ first_message_index: 1, forwarded_count: 0, is_verified: true }, 'k'))).toBe('M_MISSING_PARAM');
    expect(errcodeOf(() => parseBackupSession({ first_message_index: 1.5, forwarded_count: 0, is_verified: true, session_data: {} }, 'k'))).toBe('M_INVALID_PARAM');
    expect(errcodeOf(() => parseBackupSession({ first_message_index: 1, forwarded_count: 0, is_verified: 1, session_data: {} }, 'k'))).toBe('M_INVALID_PARAM');
    expect(errcodeOf(() => parseBackupSession([], 'k'))).toBe('M_BAD_JSON');
  });
});
