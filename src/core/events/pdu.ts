// Format checks of a received PDU against its room version's event format (server-server API
// "Checks performed on receipt of a PDU", step 1; definitions pdu_v1/v3/v4/v6/v11/v12) and the
// size limits of the client-server API "Size limits" section.

import { fitsIdLength, isValidEventId, isValidRoomId, isValidUserId } from '../ids.js';
import { isJsonObject, type JsonObject } from '../json/types.js';
import type { RoomVersion } from './room-versions.js';

/** "The complete event MUST NOT be larger than 65536 bytes, when formatted with the federation
 * event format, including any signatures, and encoded as Canonical JSON." */
export const MAX_PDU_BYTES = 65536;
/** PDU schema: "Must contain less than or equal to 20 events." */
export const MAX_PREV_EVENTS = 20;
/** PDU schema: "Must contain less than or equal to 10 events." */
export const MAX_AUTH_EVENTS = 10;
/** Deeper nesting cannot be encoded as canonical JSON by our encoder. */
const MAX_NESTING = 512;

export type PduValidation = { ok: true } | { ok: false; error: string };

/**
 * Size in bytes of the PDU encoded as canonical JSON. `JSON.stringify` escapes strings exactly as
 * canonical JSON does (short escapes for \b \f \n \r \t \" \\, lower-case \u00XX for other
 * controls, everything else raw) and adds no whitespace; only key order differs, which does not
 * change the length. So this is the canonical size, computed natively, and it also works for the
 * floats that rooms v1-v5 allow.
 */
export function pduSizeBytes(json: unknown): number {
  return Buffer.byteLength(JSON.stringify(json), 'utf8');
}

const LONE_SURROGATE_RE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const SURROGATE_RE = /[\ud800-\udfff]/;

function badString(s: string): boolean {
  // Fast path: most strings have no surrogate at all.
  return SURROGATE_RE.test(s) && LONE_SURROGATE_RE.test(s);
}

/**
 * Walks every value once: rejects lone surrogates (not Unicode, cannot be encoded), non-finite
 * numbers, nesting beyond the encoder's limit, and — for strict canonical JSON room versions — any
 * number that is not an integer within ±(2^53-1). Returns an error message or null.
 *
 * A value already parsed by JSON.parse cannot tell `1.0` from `1` nor see precision lost beyond
 * 2^53; the federation input path must use a parser that rejects those from the source text.
 */
function checkValues(v: unknown, strict: boolean, depth: number, path: string): string | null {
  switch (typeof v) {
    case 'string':
      return badString(v) ? `${path}: string contains a lone surrogate` : null;
    case 'number':
      if (!Number.isFinite(v)) return `${path}: number is not finite`;
      if (strict && !Number.isSafeInteger(v)) {
        return `${path}: ${v} is not an integer within ±(2^53-1), as this room version's canonical JSON requires`;
      }
      return null;
    case 'boolean':
      return null;
    case 'object': {
      if (v === null) return null;
      if (depth >= MAX_NESTING) return `${path}: JSON nested too deeply`;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const e = checkValues(v[i], strict, depth + 1, path);
          if (e) return e;
        }
        return null;
      }
      const obj = v as Record<string, unknown>;
      for (const k of Object.keys(obj)) {
        if (badString(k)) return `${path}: key contains a lone surrogate`;
        const e = checkValues(obj[k], strict, depth + 1, path + '.' + k);
        if (e) return e;
      }
      return null;
    }
    default:
      return `${path}: value of type ${typeof v} is not JSON`;
  }
}

function fail(error: string): PduValidation {
  return { ok: false, error };
}

/** Checks prev_events/auth_events: the list shape of the version and the count limit. */
function checkRefs(v: unknown, name: string, max: number, version: RoomVersion): string | null {
  if (!Array.isArray(v)) return `${name} is not an array`;
  if (v.length > max) return `${name} has ${v.length} entries, more than the limit of ${max}`;
  for (const item of v) {
    let id: unknown = item;
    if (version.eventRefsArePairs) {
      // v1/v2: [event_id, {"sha256": reference hash}]
      if (!Array.isArray(item) || item.length !== 2) return `${name} entries must be [event_id, hashes] pairs`;
      const hashes: unknown = item[1];
      if (!isJsonObject(hashes) || typeof hashes.sha256 !== 'string') return `${name} entry has no hashes.sha256 string`;
      id = item[0];
    }
    if (typeof id !== 'string') return `${name} entries must be event ID strings`;
    if (!isValidEventId(id, version.eventIdFormat)) {
      return `${name} entry ${JSON.stringify(id.slice(0, 300))} is not an event ID of room version ${version.id}`;
    }
  }
  return null;
}

function checkIdLength(json: JsonObject, key: string): string | null {
  const v = json[key];
  return typeof v === 'string' && !fitsIdLength(v) ? `${key} is longer than 255 bytes` : null;
}

/**
 * Step 1 of the checks on receipt of a PDU: "Is a valid event, otherwise it is dropped". Checks the
 * room version's PDU format (required keys and their types, the shape of prev_events/auth_events
 * and their limits, depth range, `event_id` in v1/v2, `room_id` except on a v12 create event), the
 * size limits (whole PDU at most 65536 bytes as canonical JSON, `sender`, `room_id`, `type`,
 * `state_key` and `event_id` at most 255 bytes each) and, for strict canonical JSON versions (v6+),
 * that every number is an integer in range. Never modifies the input: callers keep the original
 * JSON for hashing and signature checks.
 *
 * Whether a v12 create event wrongly carries a `room_id` is left to the auth rules (rule 1.2
 * rejects it), as are semantic checks of content.
 */
export function validatePdu(json: unknown, version: RoomVersion): PduValidation {
  if (!isJsonObject(json)) return fail('PDU is not a JSON object');

  const valueError = checkValues(json, version.strictCanonicalJson, 0, 'pdu');
  if (valueError) return fail(valueError);

  const size = pduSizeBytes(json);
  if (size > MAX_PDU_BYTES) return fail(`PDU is ${size} bytes, over the limit of ${MAX_PDU_BYTES}`);

  // Strings required by every format (pdu_base).
  for (const key of ['type', 'sender'] as const) {
    if (typeof json[key] !== 'string') return fail(`${key} is missing or not a string`);
  }
  for (const key of ['type', 'sender', 'room_id', 'state_key', 'event_id']) {
    const e = checkIdLength(json, key);
    if (e) return fail(e);
  }
  if (json.state_key !== undefined && typeof json.state_key !== 'string') return fail('state_key is not a string');
  if (!isValidUserId(json.sender as string)) return fail('sender is not a valid user ID');

  const isV12Create = version.roomIdFromCreateEvent && json.type === 'm.room.create' && json.state_key === '';
  if (json.room_id === undefined) {
    if (!isV12Create) return fail('room_id is missing');
  } else if (typeof json.room_id !== 'string') {
    return fail('room_id is not a string');
  } else if (!isValidRoomId(json.room_id, version.roomIdFromCreateEvent)) {
    return fail(`room_id is not a room ID of room version ${version.id}`);
  }

  if (version.eventIdFormat === 'v1') {
    if (typeof json.event_id !== 'string') return fail('event_id is missing or not a string (required in room versions 1 and 2)');
    if (!isValidEventId(json.event_id, 'v1')) return fail('event_id is not a valid event ID');
  }

  if (!isJsonObject(json.content)) return fail('content is missing or not an object');

  const ts = json.origin_server_ts;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) return fail('origin_server_ts is missing or not an integer');

  // v1-v5 allow up to 2^63-1 and v6+ up to 2^53-1; above 2^53-1 a JS number is no longer exact.
  const depth = json.depth;
  if (typeof depth !== 'number' || !Number.isInteger(depth)) return fail('depth is missing or not an integer');
  if (depth < 0 || depth > Number.MAX_SAFE_INTEGER) return fail('depth is out of range');

  const hashes = json.hashes;
  if (!isJsonObject(hashes) || typeof hashes.sha256 !== 'string') return fail('hashes.sha256 is missing or not a string');

  const sigs = json.signatures;
  if (!isJsonObject(sigs)) return fail('signatures is missing or not an object');
  for (const server of Object.keys(sigs)) {
    const byKey = sigs[server];
    if (!isJsonObject(byKey)) return fail('signatures entries must be objects');
    for (const keyId of Object.keys(byKey)) {
      if (typeof byKey[keyId] !== 'string') return fail('signatures must be strings');
    }
  }

  if (json.unsigned !== undefined && !isJsonObject(json.unsigned)) return fail('unsigned is not an object');

  // v1-v10 carry the redacted event's ID at the top level (pdu_v1..v6); v11+ moved it to content.
  if (!version.redactsInContent && json.redacts !== undefined && typeof json.redacts !== 'string') {
    return fail('redacts is not a string');
  }

  const prevError = checkRefs(json.prev_events, 'prev_events', MAX_PREV_EVENTS, version);
  if (prevError) return fail(prevError);
  const authError = checkRefs(json.auth_events, 'auth_events', MAX_AUTH_EVENTS, version);
  if (authError) return fail(authError);

  return { ok: true };
}
