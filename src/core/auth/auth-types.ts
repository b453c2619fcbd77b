// Auth events selection (server-server-api "Auth events selection"): the (type, state_key) pairs
// of room state that may authorise a new event. Used to build auth_events for local events, to
// check the auth_events of received ones, and to pick auth state in state resolution.

import { isJsonObject, type JsonObject } from '../json/types.js';
import type { RoomVersion } from '../events/room-versions.js';

/**
 * The state keys that may appear in the auth_events of an event with this type, state key, sender
 * and content. m.room.create has none. The create event is included except in v12, where the room
 * ID names it and it MUST NOT be listed. Pairs are unique (a self-membership event selects the
 * sender's member event once).
 */
export function authTypesForEvent(
  type: string,
  stateKey: string | undefined,
  sender: string,
  content: JsonObject,
  version: RoomVersion,
): Array<[type: string, stateKey: string]> {
  if (type === 'm.room.create') return [];
  const out: Array<[string, string]> = [];
  const seen = new Set<string>();
  const add = (t: string, k: string): void => {
    const key = t + '\u0000' + k;
    if (seen.has(key)) return;
    seen.add(key);
    out.push([t, k]);
  };

  if (!version.roomIdFromCreateEvent) add('m.room.create', '');
  add('m.room.power_levels', '');
  add('m.room.member', sender);

  if (type === 'm.room.member') {
    const membership = content.membership;
    if (stateKey !== undefined) add('m.room.member', stateKey);
    if (membership === 'join' || membership === 'invite' || membership === 'knock') {
      add('m.room.join_rules', '');
    }
    if (membership === 'invite') {
      const tpi = content.third_party_invite;
      if (isJsonObject(tpi) && isJsonObject(tpi.signed) && typeof tpi.signed.token === 'string') {
        add('m.room.third_party_invite', tpi.signed.token);
      }
    }
    if (membership === 'join' && version.restrictedJoins) {
      const authoriser = content.join_authorised_via_users_server;
      if (typeof authoriser === 'string') add('m.room.member', authoriser);
    }
  }
  return out;
}
