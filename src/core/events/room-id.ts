// Room IDs of room version 12 (appendices "Room IDs", rooms/v12): the room ID is the event ID of the
// m.room.create event with the sigil `!` instead of `$`, i.e. `!` + URL-safe unpadded base64 of
// the create event's reference hash.

import { encodeBase64Url } from '../json/base64.js';
import type { JsonObject } from '../json/types.js';
import { computeReferenceHash } from './hashes.js';
import type { RoomVersion } from './room-versions.js';

/**
 * The room ID derived from a (hashed and signed) m.room.create event of a room version whose room
 * IDs come from the create event. The create event carries no `room_id`; signatures and `unsigned`
 * do not affect the result, but the content hash does, so hash the event first.
 */
export function roomIdFromCreateEvent(createEvent: JsonObject, version: RoomVersion): string {
  if (!version.roomIdFromCreateEvent) {
    throw new Error(`room version ${version.id} does not derive room IDs from the create event`);
  }
  if (createEvent.type !== 'm.room.create' || createEvent.state_key !== '') {
    throw new Error('not an m.room.create event with an empty state_key');
  }
  return '!' + encodeBase64Url(computeReferenceHash(createEvent, version));
}

/** The event ID of the create event of a v12-style room: the room ID with `$` for `!`. */
export function createEventIdOfRoom(roomId: string): string {
  if (roomId[0] !== '!' || roomId.includes(':')) throw new Error(`not a hash-form room ID: ${roomId}`);
  return '$' + roomId.slice(1);
}

/** The room ID of a v12-style room whose create event has the given event ID. */
export function roomIdOfCreateEventId(eventId: string): string {
  if (eventId[0] !== '$' || eventId.includes(':')) throw new Error(`not a hash-form event ID: ${eventId}`);
  return '!' + eventId.slice(1);
}
