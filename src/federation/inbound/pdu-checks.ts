// Steps 1-3 of the server-server API "Checks performed on receipt of a PDU", for PDUs pushed to us
// (/send) and PDUs we fetched (get_missing_events, state, auth chains, backfill): the format
// (strict JSON for the room version, the PDU schema and size), the required signatures, and the
// content hash (redact on mismatch). Steps 4-6 are the rooms writer's (rooms.acceptEvent).
import { computeEventId, checkContentHash } from '../../core/events/hashes.js';
import { validatePdu } from '../../core/events/pdu.js';
import { redactEvent } from '../../core/events/redaction.js';
import type { RoomVersion } from '../../core/events/room-versions.js';
import { JsonParseError, parseJson } from '../../core/json/parse.js';
import { mayHoldPythonOnlyNumbers, parseJsonPreservingNumbers } from '../../core/json/preserving-parse.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import type { KeyRing } from '../keys.js';

/** A PDU as received: its parsed form and, when known, its exact text. */
export interface RawPdu {
  readonly pdu: unknown;
  /** The PDU's own text as it appeared in the request or response (parsed again strictly). */
  readonly text?: string | undefined;
  /** `pdu` was parsed from `text` with strict numbers already: no need to parse it again. */
  readonly parsed?: boolean;
}

/** A PDU that passed steps 1-3: what to hand to rooms.acceptEvent. */
export interface CheckedPdu {
  readonly ok: true;
  readonly eventId: string;
  readonly roomId: string;
  /** The PDU to store: as received, or its redacted form after a content hash mismatch. */
  readonly pdu: JsonObject;
  /** Its text: the received text unless `unsigned` was trimmed or the event redacted. */
  readonly jsonText: string;
  /** Step 3 failed: the event is stored redacted. */
  readonly redacted: boolean;
  /**
   * Room versions 1-5: the PDU as Python read its text, when that holds numbers JSON.parse reads
   * differently ("2.0", integers beyond 2^53). Its event ID, signatures and content hash are
   * computed over this form, as the sending server computed them. Undefined otherwise.
   */
  readonly asSent?: JsonObject | undefined;
}

/**
 * The PDU as Python (Synapse) read `text`, for a room version that allows floats, when the text may
 * hold numbers JSON.parse reads differently; undefined when not needed or not parseable.
 */
function pduAsSent(text: string | undefined, version: RoomVersion): JsonObject | undefined {
  if (version.strictCanonicalJson || text === undefined || !mayHoldPythonOnlyNumbers(text)) return undefined;
  try {
    const v = parseJsonPreservingNumbers(text);
    return isJsonObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The form a PDU's signatures and content hash are checked over (see CheckedPdu.asSent). */
export function signedForm(c: CheckedPdu): JsonObject {
  return c.asSent ?? c.pdu;
}

export interface FailedPdu {
  readonly ok: false;
  /** The event ID when it could be computed ('' otherwise). */
  readonly eventId: string;
  readonly error: string;
}

export type PduCheck = CheckedPdu | FailedPdu;

/** What a fetched PDU must be: in this room, and (when we asked for one) this event. */
export interface PduExpectation {
  readonly roomId: string;
  readonly eventId?: string | undefined;
}

/**
 * `unsigned` is not covered by hashes or signatures, so a remote server can write anything there.
 * As Synapse, only the stripped state of invites and knocks survives (on m.room.member events);
 * `age` and everything else is dropped (we count age from our own receipt time).
 */
export function trimUnsigned(pdu: JsonObject): JsonObject | null {
  if (!Object.hasOwn(pdu, 'unsigned')) return null;
  const unsigned = pdu.unsigned;
  const kept: JsonObject = {};
  if (pdu.type === 'm.room.member' && isJsonObject(unsigned)) {
    for (const k of ['invite_room_state', 'knock_room_state']) if (Object.hasOwn(unsigned, k)) kept[k] = unsigned[k]!;
  }
  if (isJsonObject(unsigned) && Object.keys(unsigned).length === Object.keys(kept).length) return null;
  const out: JsonObject = { ...pdu };
  if (Object.keys(kept).length > 0) out.unsigned = kept;
  else delete out.unsigned;
  return out;
}

/** The room of a PDU, as toRoomEvent derives it (v12 create events carry none). */
function roomIdOf(pdu: JsonObject, eventId: string, version: RoomVersion): string {
  if (version.roomIdFromCreateEvent && pdu.type === 'm.room.create' && pdu.state_key === '') return '!' + eventId.slice(1);
  return typeof pdu.room_id === 'string' ? pdu.room_id : '';
}

/** The event ID of a PDU, or '' when it cannot be computed (for error reports). */
export function eventIdOrEmpty(pdu: unknown, version: RoomVersion): string {
  if (!isJsonObject(pdu)) return '';
  try {
    return computeEventId(pdu, version);
  } catch {
    return '';
  }
}

/**
 * Step 1 (pure): parses the PDU's text strictly for its room version (v6+: integers only, within
 * ±(2^53-1)), checks the PDU format and size, computes its event ID, checks it is what we expected,
 * and trims `unsigned`.
 */
export function checkPduFormat(raw: RawPdu, version: RoomVersion, expect?: PduExpectation): PduCheck {
  let pdu: unknown = raw.pdu;
  if (raw.text !== undefined && !raw.parsed) {
    try {
      pdu = parseJson(raw.text, { strictNumbers: version.strictCanonicalJson });
    } catch (e) {
      const msg = e instanceof JsonParseError ? e.message : String(e);
      return { ok: false, eventId: eventIdOrEmpty(raw.pdu, version), error: `invalid JSON for room version ${version.id}: ${msg}` };
    }
  }
  if (!isJsonObject(pdu)) return { ok: false, eventId: '', error: 'PDU is not a JSON object' };
  const valid = validatePdu(pdu, version);
  const asSent = pduAsSent(raw.text, version);
  let eventId: string;
  try {
    eventId = computeEventId(asSent ?? pdu, version);
  } catch (e) {
    return { ok: false, eventId: '', error: (e as Error).message };
  }
  if (!valid.ok) return { ok: false, eventId, error: valid.error };
  const roomId = roomIdOf(pdu, eventId, version);
  if (expect && roomId !== expect.roomId) return { ok: false, eventId, error: `event is in room ${roomId}, not ${expect.roomId}` };
  if (expect?.eventId !== undefined && eventId !== expect.eventId) {
    return { ok: false, eventId, error: `asked for ${expect.eventId}, received ${eventId}` };
  }
  const trimmed = trimUnsigned(pdu);
  if (trimmed) return { ok: true, eventId, roomId, pdu: trimmed, jsonText: JSON.stringify(trimmed), redacted: false, asSent };
  return { ok: true, eventId, roomId, pdu, jsonText: raw.text ?? JSON.stringify(pdu), redacted: false, asSent };
}

/**
 * Steps 1-3 for a batch of PDUs of one room version: the format (checkPduFormat), the signatures of
 * every server that must have signed (one key fetch per server for the whole batch; failures are
 * dropped), then the content hash (a mismatch replaces the event by its redacted form, which keeps
 * its event ID, hashes and signatures). Results are in input order.
 */
export async function checkPdus(
  keyRing: KeyRing,
  items: readonly RawPdu[],
  version: RoomVersion,
  expect?: (index: number) => PduExpectation | undefined,
): Promise<PduCheck[]> {
  const out: PduCheck[] = items.map((raw, i) => checkPduFormat(raw, version, expect?.(i)));
  const toVerify: number[] = [];
  for (let i = 0; i < out.length; i++) if (out[i]!.ok) toVerify.push(i);
  if (toVerify.length === 0) return out;
  const sigs = await keyRing.verifyEventSignatures(toVerify.map((i) => ({ pdu: signedForm(out[i] as CheckedPdu), version })));
  toVerify.forEach((i, k) => {
    const c = out[i] as CheckedPdu;
    const sig = sigs[k]!;
    if (!sig.ok) {
      out[i] = { ok: false, eventId: c.eventId, error: `signature check failed: ${sig.reason}` };
      return;
    }
    out[i] = withContentHashChecked(c, version);
  });
  return out;
}

/**
 * Step 3 for a PDU whose signatures passed: unchanged when its content hash matches, else its
 * redacted form (which keeps the event ID, hashes and signatures), to be stored as such.
 */
export function withContentHashChecked(c: CheckedPdu, version: RoomVersion): CheckedPdu {
  if (checkContentHash(signedForm(c), version)) return c;
  const redacted = redactEvent(c.pdu, version);
  return { ...c, pdu: redacted, jsonText: JSON.stringify(redacted), redacted: true, asSent: undefined };
}
