// RoomEventFilter (spec client-server "Filtering", definitions/room_event_filter.yaml) as given in the
// `filter` query parameter of /messages and /context: parsing and matching, pure.
import { MatrixError } from '../errors.js';
import { JsonParseError, parseJson } from '../core/json/parse.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import type { RoomEvent } from '../core/events/event.js';

export interface RoomEventFilter {
  readonly types?: readonly string[];
  readonly notTypes: readonly string[];
  readonly senders?: readonly string[];
  readonly notSenders: readonly string[];
  readonly rooms?: readonly string[];
  readonly notRooms: readonly string[];
  /** true: only events with a `url` in content; false: only without; undefined: both. */
  readonly containsUrl?: boolean;
  readonly limit?: number;
  readonly lazyLoadMembers: boolean;
  readonly includeRedundantMembers: boolean;
}

export const EMPTY_FILTER: RoomEventFilter = { notTypes: [], notSenders: [], notRooms: [], lazyLoadMembers: false, includeRedundantMembers: false };

function bad(what: string): never {
  throw new MatrixError('M_BAD_JSON', `Invalid filter: ${what}`, 400);
}

function stringList(obj: JsonObject, key: string): string[] | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) bad(`${key} must be a list of strings`);
  return v as string[];
}

function bool(obj: JsonObject, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') bad(`${key} must be a boolean`);
  return v;
}

/** Parses the `filter` query parameter (JSON text of a RoomEventFilter); absent or empty gives EMPTY_FILTER. */
export function parseRoomEventFilterParam(text: string | undefined): RoomEventFilter {
  if (text === undefined || text === '') return EMPTY_FILTER;
  let value: JsonValue;
  try {
    value = parseJson(text);
  } catch (e) {
    // Synapse: "Query parameter must be a valid JSON object" (M_NOT_JSON for text that is not JSON).
    const errcode = e instanceof JsonParseError ? e.errcode : 'M_NOT_JSON';
    throw new MatrixError(errcode, `Invalid filter: ${(e as Error).message}`, 400);
  }
  return parseRoomEventFilter(value);
}

export function parseRoomEventFilter(value: JsonValue): RoomEventFilter {
  if (!isJsonObject(value)) bad('must be an object');
  const limit = value.limit;
  if (limit !== undefined && limit !== null && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) {
    bad('limit must be a non-negative integer');
  }
  const f: {
    -readonly [K in keyof RoomEventFilter]: RoomEventFilter[K];
  } = {
    notTypes: stringList(value, 'not_types') ?? [],
    notSenders: stringList(value, 'not_senders') ?? [],
    notRooms: stringList(value, 'not_rooms') ?? [],
    lazyLoadMembers: bool(value, 'lazy_load_members') ?? false,
    includeRedundantMembers: bool(value, 'include_redundant_members') ?? false,
  };
  const types = stringList(value, 'types');
  if (types) f.types = types;
  const senders = stringList(value, 'senders');
  if (senders) f.senders = senders;
  const rooms = stringList(value, 'rooms');
  if (rooms) f.rooms = rooms;
  const containsUrl = bool(value, 'contains_url');
  if (containsUrl !== undefined) f.containsUrl = containsUrl;
  if (typeof limit === 'number') f.limit = limit;
  return f;
}

/** Type patterns may end or contain `*`, matching any run of characters (spec "Filtering"). */
export function typeMatches(pattern: string, type: string): boolean {
  if (!pattern.includes('*')) return pattern === type;
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (!type.startsWith(first) || type.length < first.length + last.length || !type.endsWith(last)) return false;
  let at = first.length;
  const end = type.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const p = parts[i]!;
    const found = type.indexOf(p, at);
    if (found < 0 || found + p.length > end) return false;
    at = found + p.length;
  }
  return true;
}

/** True when the filter filters nothing out (then callers skip matching). */
export function isPassThrough(f: RoomEventFilter): boolean {
  return (
    f.types === undefined && f.notTypes.length === 0 && f.senders === undefined && f.notSenders.length === 0 &&
    f.rooms === undefined && f.notRooms.length === 0 && f.containsUrl === undefined
  );
}

/** Whether an event passes the filter: the `not_` lists win over the allow lists. */
export function eventMatchesFilter(f: RoomEventFilter, ev: RoomEvent): boolean {
  if (f.notRooms.includes(ev.roomId)) return false;
  if (f.rooms !== undefined && !f.rooms.includes(ev.roomId)) return false;
  if (f.notSenders.includes(ev.sender)) return false;
  if (f.senders !== undefined && !f.senders.includes(ev.sender)) return false;
  if (f.notTypes.some((p) => typeMatches(p, ev.type))) return false;
  if (f.types !== undefined && !f.types.some((p) => typeMatches(p, ev.type))) return false;
  if (f.containsUrl !== undefined) {
    const hasUrl = typeof ev.content.url === 'string';
    if (hasUrl !== f.containsUrl) return false;
  }
  return true;
}
