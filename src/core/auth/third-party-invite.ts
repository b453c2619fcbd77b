// The signature check of a third-party invite (auth rule "If any signature in `signed` matches any
// public key in the m.room.third_party_invite event, allow"; server-server-api "Verifying the
// invite"): the identity server's signature on `signed` against the keys it published in the room.

import { isJsonObject, type JsonObject } from '../json/types.js';
import { jsonSigningBytes } from '../crypto/signing.js';
import { verifyEd25519 } from '../crypto/ed25519.js';
import type { RoomEvent } from '../events/event.js';

/**
 * The public keys of an m.room.third_party_invite event: `content.public_key` and each
 * `content.public_keys[].public_key`. Identity servers have published them in both base64
 * alphabets, so URL-safe ones are turned into the standard alphabet (as Synapse's decoder accepts both).
 */
export function thirdPartyInvitePublicKeys(invite: RoomEvent): string[] {
  const keys: string[] = [];
  const single = invite.content.public_key;
  if (typeof single === 'string') keys.push(single);
  const list = invite.content.public_keys;
  if (Array.isArray(list)) {
    for (const entry of list) {
      if (isJsonObject(entry) && typeof entry.public_key === 'string') keys.push(entry.public_key);
    }
  }
  return keys.map((k) => k.replace(/-/g, '+').replace(/_/g, '/'));
}

/**
 * True when some ed25519 signature in `signed.signatures` (any server, any key ID) verifies with
 * some public key of the invite event. `signed` is checked as signed JSON: without its
 * `signatures` and `unsigned` members, canonicalised.
 */
export function verifyThirdPartyInviteSigned(signed: JsonObject, invite: RoomEvent): boolean {
  const signatures = signed.signatures;
  if (!isJsonObject(signatures)) return false;
  const keys = thirdPartyInvitePublicKeys(invite);
  if (keys.length === 0) return false;
  const candidates: string[] = [];
  for (const server of Object.keys(signatures)) {
    const byKey = signatures[server];
    if (!isJsonObject(byKey)) continue;
    for (const keyId of Object.keys(byKey)) {
      const sig = byKey[keyId];
      if (keyId.startsWith('ed25519:') && typeof sig === 'string') candidates.push(sig);
    }
  }
  if (candidates.length === 0) return false;
  let bytes: Buffer;
  try {
    bytes = jsonSigningBytes(signed);
  } catch {
    return false;
  }
  for (const key of keys) {
    for (const sig of candidates) {
      if (verifyEd25519(key, bytes, sig)) return true;
    }
  }
  return false;
}
