// A read-only view of a room event (PDU) used by the auth rules, state resolution and the store.
// The original JSON is kept untouched in `json`: it is what gets hashed, signed and served.

import { isJsonObject, type JsonObject } from '../json/types.js';
import type { RoomVersion } from './room-versions.js';

export interface RoomEvent {
  readonly eventId: string;
  readonly roomId: string;
  readonly sender: string;
  readonly type: string;
  /** Present (possibly empty string) exactly when the event is a state event. */
  readonly stateKey: string | undefined;
  readonly content: JsonObject;
  readonly originServerTs: number;
  readonly depth: number;
  readonly prevEventIds: readonly string[];
  readonly authEventIds: readonly string[];
  /** The redacted event for m.room.redaction: top-level `redacts`, or content.redacts in v11+. */
  readonly redacts: string | undefined;
  /** The PDU exactly as received or built (with `unsigned` if any): never a re-parsed subset. */
  readonly json: JsonObject;
}

/** Key of a state entry: `type` and `state_key` joined by a NUL, which neither may contain. */
export type StateKeyTuple = string;

export function stateTuple(type: string, stateKey: string): StateKeyTuple {
  return type + '\u0000' + stateKey;
}

export function splitStateTuple(k: StateKeyTuple): [type: string, stateKey: string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}

/**
 * The event IDs of a `prev_events`/`auth_events` list: `[event_id, {sha256}]` pairs in v1/v2 rooms
 * (`pairs`), bare IDs from v3 on. Anything else in the list is skipped.
 */
export function refIds(v: unknown, pairs: boolean): string[] {
  if (!Array.isArray(v)) return [];
  const out: string[] = [];
  for (const item of v) {
    if (pairs) {
      // v1/v2 format: [event_id, {sha256: ...}]; tolerate bare strings from sloppy peers.
      if (Array.isArray(item) && typeof item[0] === 'string') out.push(item[0]);
      else if (typeof item === 'string') out.push(item);
    } else if (typeof item === 'string') out.push(item);
  }
  return out;
}

/**
 * Builds the view of a PDU. `eventId` is the ID computed for it (for v1/v2 rooms the one carried
 * in the event). The caller has validated the PDU's shape; this only reads fields.
 */
export function toRoomEvent(json: JsonObject, eventId: string, version: RoomVersion): RoomEvent {
  const content = isJsonObject(json.content) ? json.content : {};
  let roomId = typeof json.room_id === 'string' ? json.room_id : '';
  if (version.roomIdFromCreateEvent && json.type === 'm.room.create' && json.state_key === '') {
    // v12: the create event has no room_id; the room ID is derived from its event ID.
    roomId = '!' + eventId.slice(1);
  }
  let redacts: string | undefined;
  if (json.type === 'm.room.redaction') {
    if (version.redactsInContent) redacts = typeof content.redacts === 'string' ? content.redacts : undefined;
    else redacts = typeof json.redacts === 'string' ? json.redacts : undefined;
  }
  return {
    eventId,
    roomId,
    sender: typeof json.sender === 'string' ? json.sender : '',
    type: typeof json.type === 'string' ? json.type : '',
    stateKey: typeof json.state_key === 'string' ? json.state_key : undefined,
    content,
    originServerTs: typeof json.origin_server_ts === 'number' ? json.origin_server_ts : 0,
    depth: typeof json.depth === 'number' ? json.depth : 0,
    prevEventIds: refIds(json.prev_events, version.eventRefsArePairs),
    authEventIds: refIds(json.auth_events, version.eventRefsArePairs),
    redacts,
    json,
  };
}
