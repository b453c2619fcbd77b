// Shape check of sync filters (spec "Filtering", definitions/sync_filter.yaml): pure, reused for
// inline filters given to /sync and /messages. Unknown keys are allowed, as the schema allows them.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';

function fail(path: string, what: string): never {
  throw new MatrixError('M_BAD_JSON', `Invalid filter: ${path} ${what}`);
}

function checkBoolean(obj: JsonObject, key: string, path: string): void {
  const v = obj[key];
  if (v !== undefined && typeof v !== 'boolean') fail(`${path}${key}`, 'must be a boolean');
}

function checkStringList(obj: JsonObject, key: string, path: string, prefix?: string): void {
  const v = obj[key];
  if (v === undefined) return;
  if (!Array.isArray(v)) fail(`${path}${key}`, 'must be a list of strings');
  for (const item of v) {
    if (typeof item !== 'string') fail(`${path}${key}`, 'must be a list of strings');
    if (prefix !== undefined && !item.startsWith(prefix)) fail(`${path}${key}`, `entries must start with "${prefix}"`);
  }
}

function checkObject(v: JsonValue | undefined, path: string): v is JsonObject {
  if (v === undefined) return false;
  if (!isJsonObject(v)) fail(path, 'must be an object');
  return true;
}

/** definitions/event_filter.yaml */
function checkEventFilter(f: JsonObject, path: string): void {
  const limit = f.limit;
  // The spec asks for an integer greater than 0; 0 is let through (some clients send it) and the
  // reader applies its own default and maximum.
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 0)) {
    fail(`${path}limit`, 'must be a non-negative integer');
  }
  checkStringList(f, 'types', path);
  checkStringList(f, 'not_types', path);
  checkStringList(f, 'senders', path, '@');
  checkStringList(f, 'not_senders', path, '@');
}

/** definitions/room_event_filter.yaml */
function checkRoomEventFilter(f: JsonObject, path: string): void {
  checkEventFilter(f, path);
  checkStringList(f, 'rooms', path, '!');
  checkStringList(f, 'not_rooms', path, '!');
  checkBoolean(f, 'contains_url', path);
  checkBoolean(f, 'lazy_load_members', path);
  checkBoolean(f, 'include_redundant_members', path);
  checkBoolean(f, 'unread_thread_notifications', path);
}

/**
 * Throws M_BAD_JSON naming the first bad member when `filter` does not have the shape of a sync
 * filter; returns it typed otherwise.
 */
export function validateFilter(filter: unknown): JsonObject {
  if (!isJsonObject(filter)) fail('body', 'must be an object');
  checkStringList(filter, 'event_fields', '');
  const format = filter.event_format;
  if (format !== undefined && format !== 'client' && format !== 'federation') {
    fail('event_format', 'must be "client" or "federation"');
  }
  if (checkObject(filter.presence, 'presence')) checkEventFilter(filter.presence, 'presence.');
  if (checkObject(filter.account_data, 'account_data')) checkEventFilter(filter.account_data, 'account_data.');
  if (checkObject(filter.room, 'room')) {
    const room = filter.room;
    checkStringList(room, 'rooms', 'room.', '!');
    checkStringList(room, 'not_rooms', 'room.', '!');
    checkBoolean(room, 'include_leave', 'room.');
    for (const key of ['ephemeral', 'state', 'timeline', 'account_data'] as const) {
      if (checkObject(room[key], `room.${key}`)) checkRoomEventFilter(room[key], `room.${key}.`);
    }
  }
  return filter;
}
