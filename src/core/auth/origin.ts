// Who must have signed an event, and whether the server that handed it to us may speak for its
// sender (server-server-api "Validating hashes and signatures on received events"; the membership
// endpoints send_join / send_leave / send_knock). Forged memberships for users of other servers
// (continuwuity's forged leaves, 2025) are stopped here, before the auth rules run.

import { isJsonObject } from '../json/types.js';
import type { RoomEvent } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';
import { serverNameOf } from './id-grammar.js';
import type { AuthResult } from './rules.js';

/**
 * The servers whose signatures an event must carry, valid, before it is authorised:
 * - the sender's server, except on a third-party invite (whose sender need only match the
 *   m.room.third_party_invite event; the auth rules check that);
 * - v1/v2: the server of the event ID (the event's origin), when it differs;
 * - v8+: the server of `join_authorised_via_users_server` on a member event (auth rule 4.2).
 */
export function requiredSignatureServers(event: RoomEvent, version: RoomVersion): Set<string> {
  const servers = new Set<string>();
  const isThirdPartyInvite =
    event.type === 'm.room.member' &&
    event.content.membership === 'invite' &&
    Object.hasOwn(event.content, 'third_party_invite');
  if (!isThirdPartyInvite) servers.add(serverNameOf(event.sender));
  if (version.eventIdFormat === 'v1') servers.add(serverNameOf(event.eventId));
  if (version.restrictedJoins && event.type === 'm.room.member') {
    const authoriser = event.content.join_authorised_via_users_server;
    if (typeof authoriser === 'string') servers.add(serverNameOf(authoriser));
  }
  return servers;
}

/**
 * For the membership endpoints (send_join, send_leave, send_knock): the event must be an
 * m.room.member of the expected membership that the sender sends about themself, and the sender
 * must belong to the requesting server. Without this a server can submit a leave (or join) for a
 * user of another server and have the resident server sign and relay it.
 */
export function checkMembershipFromOrigin(
  event: RoomEvent,
  origin: string,
  expectedMembership: 'join' | 'leave' | 'knock',
): AuthResult {
  if (event.type !== 'm.room.member') {
    return { allowed: false, rule: 'origin.not_member', reason: `expected an m.room.member event, got ${event.type}` };
  }
  if (event.content.membership !== expectedMembership) {
    return {
      allowed: false,
      rule: 'origin.membership',
      reason: `expected membership ${expectedMembership}, got ${JSON.stringify(event.content.membership)}`,
    };
  }
  if (event.stateKey !== event.sender) {
    return { allowed: false, rule: 'origin.state_key', reason: 'the state_key must be the sender' };
  }
  return checkSenderOrigin(event, origin);
}

/** The sender's server must be the server that sent us the event (`origin`). */
export function checkSenderOrigin(event: RoomEvent, origin: string): AuthResult {
  if (serverNameOf(event.sender) !== origin) {
    return { allowed: false, rule: 'origin.sender_server', reason: `sender ${event.sender} does not belong to ${origin}` };
  }
  return { allowed: true };
}

/** Whether `signatures` has at least one entry from `server` (presence only; not a verification). */
export function hasSignatureBlock(event: RoomEvent, server: string): boolean {
  const signatures = event.json.signatures;
  if (!isJsonObject(signatures) || !Object.hasOwn(signatures, server)) return false;
  const byKey = signatures[server];
  return isJsonObject(byKey) && Object.keys(byKey).some((k) => typeof byKey[k] === 'string');
}
