// Content hashes, reference hashes and event IDs (server-server API "Calculating the content hash
// for an event", "Calculating the reference hash for an event"; rooms v1/v3/v4 "Event IDs").

import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalJsonBytes, type CanonicalJsonOptions } from '../json/canonical.js';
import { decodeBase64, encodeBase64, encodeBase64Url } from '../json/base64.js';
import { isJsonObject, type JsonObject } from '../json/types.js';
import { redactEvent } from './redaction.js';
import type { RoomVersion } from './room-versions.js';

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/**
 * How numbers are encoded for a room version's hashes and signatures: versions 1-5 allow fractions
 * and large numbers, written as Synapse writes them (see canonical.ts). Without a version, strictly.
 */
export function numbersOf(version: RoomVersion | undefined): CanonicalJsonOptions | undefined {
  return version !== undefined && !version.strictCanonicalJson ? { legacyNumbers: true } : undefined;
}

/**
 * SHA-256 of the canonical JSON of the event without `unsigned`, `signatures` and `hashes`. Pass the
 * room version so that a v1-v5 event holding a fraction can be hashed (see numbersOf).
 */
export function contentHashDigest(pdu: JsonObject, version?: RoomVersion): Buffer {
  // A shallow copy without the three keys: nested values are only read by the encoder.
  const copy: JsonObject = {};
  for (const k of Object.keys(pdu)) {
    if (k === 'unsigned' || k === 'signatures' || k === 'hashes') continue;
    copy[k] = pdu[k]!;
  }
  return sha256(canonicalJsonBytes(copy, numbersOf(version)));
}

/** The content hash as unpadded standard base64, the value of `hashes.sha256`. */
export function computeContentHash(pdu: JsonObject, version?: RoomVersion): string {
  return encodeBase64(contentHashDigest(pdu, version));
}

/** A new PDU with `hashes.sha256` set to its content hash (other hash algorithms are kept). */
export function addContentHash<T extends JsonObject>(pdu: T, version?: RoomVersion): T & { hashes: JsonObject } {
  const hashes = isJsonObject(pdu.hashes) ? pdu.hashes : {};
  return { ...pdu, hashes: { ...hashes, sha256: computeContentHash(pdu, version) } };
}

/**
 * True when `hashes.sha256` matches the content hash. The received value is base64-decoded and
 * the bytes compared, as the spec says ("Validating hashes and signatures on received events"),
 * so a padded encoding of the right digest is accepted. A failure means the event must be
 * replaced by its redacted form before further processing.
 */
export function checkContentHash(pdu: JsonObject, version?: RoomVersion): boolean {
  const hashes = pdu.hashes;
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== 'string') return false;
  let claimed: Buffer;
  try {
    claimed = decodeBase64(hashes.sha256);
  } catch {
    return false;
  }
  if (claimed.length !== 32) return false;
  let actual: Buffer;
  try {
    actual = contentHashDigest(pdu, version);
  } catch {
    return false; // not encodable (e.g. a fraction in a v6+ room): it cannot be the signed content
  }
  return timingSafeEqual(claimed, actual);
}

/**
 * The reference hash: SHA-256 of the canonical JSON of the event redacted under the room
 * version's rules, with `signatures` and `unsigned` removed (redaction already drops `unsigned`,
 * and with it `unsigned.age_ts`).
 */
export function computeReferenceHash(pdu: JsonObject, version: RoomVersion): Buffer {
  const redacted = redactEvent(pdu, version);
  delete redacted.signatures; // `redacted` is a fresh object, so this does not touch `pdu`
  delete redacted.unsigned;
  return sha256(canonicalJsonBytes(redacted, numbersOf(version)));
}

/**
 * The event ID of a PDU: `$` + unpadded base64 of the reference hash (v3), `$` + URL-safe unpadded
 * base64 (v4 and later). For v1/v2 the ID is chosen by the sender and carried in `event_id`;
 * it is returned as is (throws if the PDU has none).
 */
export function computeEventId(pdu: JsonObject, version: RoomVersion): string {
  switch (version.eventIdFormat) {
    case 'v1':
      if (typeof pdu.event_id !== 'string') throw new Error('room version 1/2 PDU carries no event_id');
      return pdu.event_id;
    case 'v3':
      return '$' + encodeBase64(computeReferenceHash(pdu, version));
    case 'v4':
      return '$' + encodeBase64Url(computeReferenceHash(pdu, version));
  }
}
