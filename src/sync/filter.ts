// Sync filters applied (spec client-server "Filtering"): the filter JSON read into matchers for
// events, rooms and lazy-loading, plus `event_fields` projection. Pure; shape checks live in users/filters.ts.
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';

/** Synapse's defaults: 10 timeline events per room, at most 100 (`filter_timeline_limit`). */
export const DEFAULT_TIMELINE_LIMIT = 10;
export const MAX_TIMELINE_LIMIT = 100;

/** An EventFilter / RoomEventFilter read into a matcher. */
export interface EventMatcher {
  /** Whether an event of this type from this sender (in this room, for room event filters) passes. */
  matches(type: string, sender: string | undefined, roomId?: string, content?: JsonObject): boolean;
  /** `limit` as given (undefined when absent). */
  readonly limit: number | undefined;
  /** True when the filter lets nothing through (e.g. `types: []`). */
  readonly excludesAll: boolean;
}

export interface SyncFilter {
  readonly presence: EventMatcher;
  readonly accountData: EventMatcher;
  /** Room filter `rooms` / `not_rooms`, applied before the per-section filters. */
  roomIncluded(roomId: string): boolean;
  readonly includeLeave: boolean;
  readonly timeline: EventMatcher;
  readonly timelineLimit: number;
  readonly state: EventMatcher;
  /**
   * room.timeline.unread_thread_notifications: unread_notifications then counts the main timeline
   * only, and unread_thread_notifications each thread (spec GET /sync).
   */
  readonly unreadThreadNotifications: boolean;
  readonly lazyLoadMembers: boolean;
  readonly includeRedundantMembers: boolean;
  readonly ephemeral: EventMatcher;
  readonly roomAccountData: EventMatcher;
  /** `event_format` federation: events as PDUs. */
  readonly federationFormat: boolean;
  /** `event_fields`, or undefined for every field. */
  readonly eventFields: readonly string[] | undefined;
}

function stringList(v: JsonValue | undefined): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** A type pattern with `*` wildcards (spec: "A '*' can be used as a wildcard to match any sequence of characters"). */
function typeMatcher(patterns: readonly string[]): (type: string) => boolean {
  const exact = new Set<string>();
  const regexes: RegExp[] = [];
  for (const p of patterns) {
    if (!p.includes('*')) exact.add(p);
    else regexes.push(new RegExp('^' + p.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$', 's'));
  }
  return (type) => exact.has(type) || regexes.some((r) => r.test(type));
}

/** Reads an EventFilter or RoomEventFilter object (absent = everything passes). */
export function eventMatcher(f: JsonValue | undefined): EventMatcher {
  const obj = isJsonObject(f) ? f : {};
  const types = stringList(obj.types);
  const notTypes = stringList(obj.not_types);
  const senders = stringList(obj.senders);
  const notSenders = stringList(obj.not_senders);
  const rooms = stringList(obj.rooms);
  const notRooms = stringList(obj.not_rooms);
  const containsUrl = typeof obj.contains_url === 'boolean' ? obj.contains_url : undefined;
  const typeOk = types ? typeMatcher(types) : undefined;
  const typeNot = notTypes && notTypes.length ? typeMatcher(notTypes) : undefined;
  const senderSet = senders ? new Set(senders) : undefined;
  const notSenderSet = notSenders && notSenders.length ? new Set(notSenders) : undefined;
  const roomSet = rooms ? new Set(rooms) : undefined;
  const notRoomSet = notRooms && notRooms.length ? new Set(notRooms) : undefined;
  const limit = typeof obj.limit === 'number' && Number.isSafeInteger(obj.limit) && obj.limit >= 0 ? obj.limit : undefined;
  return {
    limit,
    excludesAll: (types !== undefined && types.length === 0) || (senders !== undefined && senders.length === 0) || (rooms !== undefined && rooms.length === 0),
    matches(type, sender, roomId, content) {
      // The not_ lists win over the positive ones (spec "Filtering").
      if (typeNot?.(type)) return false;
      if (typeOk && !typeOk(type)) return false;
      if (sender !== undefined) {
        if (notSenderSet?.has(sender)) return false;
        if (senderSet && !senderSet.has(sender)) return false;
      }
      if (roomId !== undefined) {
        if (notRoomSet?.has(roomId)) return false;
        if (roomSet && !roomSet.has(roomId)) return false;
      }
      if (containsUrl !== undefined && content !== undefined) {
        const hasUrl = typeof content.url === 'string';
        if (hasUrl !== containsUrl) return false;
      }
      return true;
    },
  };
}

/** Reads a (validated) sync filter; `undefined` gives the default filter. */
export function readSyncFilter(filter: JsonObject | undefined): SyncFilter {
  const f = filter ?? {};
  const room = isJsonObject(f.room) ? f.room : {};
  const rooms = stringList(room.rooms);
  const notRooms = new Set(stringList(room.not_rooms) ?? []);
  const roomSet = rooms ? new Set(rooms) : undefined;
  const timeline = eventMatcher(room.timeline);
  const stateObj = isJsonObject(room.state) ? room.state : {};
  const fields = stringList(f.event_fields);
  return {
    presence: eventMatcher(f.presence),
    accountData: eventMatcher(f.account_data),
    roomIncluded: (roomId) => !notRooms.has(roomId) && (!roomSet || roomSet.has(roomId)),
    includeLeave: room.include_leave === true,
    timeline,
    timelineLimit: Math.min(timeline.limit ?? DEFAULT_TIMELINE_LIMIT, MAX_TIMELINE_LIMIT),
    state: eventMatcher(room.state),
    unreadThreadNotifications: isJsonObject(room.timeline) && room.timeline.unread_thread_notifications === true,
    lazyLoadMembers: stateObj.lazy_load_members === true,
    includeRedundantMembers: stateObj.include_redundant_members === true,
    ephemeral: eventMatcher(room.ephemeral),
    roomAccountData: eventMatcher(room.account_data),
    federationFormat: f.event_format === 'federation',
    eventFields: fields,
  };
}

/** Splits an `event_fields` entry on unescaped dots (`\.` is a literal dot, `\\` a backslash). */
function fieldPath(field: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c === '\\' && (field[i + 1] === '.' || field[i + 1] === '\\')) {
      cur += field[i + 1];
      i++;
    } else if (c === '.') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/**
 * `event_fields` (spec "Filtering"): keeps only the listed fields of each event; a field that
 * names an object keeps it whole. Fields absent from the event are skipped.
 */
export function projectEventFields(event: JsonObject, fields: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const field of fields) {
    const path = fieldPath(field);
    let src: JsonValue | undefined = event;
    for (const k of path) src = isJsonObject(src) ? src[k] : undefined;
    if (src === undefined) continue;
    let dst = out;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i]!;
      const next = dst[k];
      if (isJsonObject(next)) dst = next;
      else {
        const created: JsonObject = {};
        dst[k] = created;
        dst = created;
      }
    }
    dst[path[path.length - 1]!] = src;
  }
  return out;
}
