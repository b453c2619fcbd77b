// The authorisation rules of room versions 1-12 (rooms/v1..v12 "Authorisation rules"; the
// fragments v1-auth-rules, v3-auth-rules, v8-auth-rules and the inline rules of v6/v7/v10/v11/v12)
// as pure functions. Per-version differences are read from the room-version registry.
//
// Two entry points, because the rules are applied to two different inputs:
//   - checkAuthEventsList(event, authEvents, version): the checks on the event's own auth_events
//     list ("Considering the event's auth_events", v1 rules 2.1-2.5, v12 rule 3). Only for the
//     receipt check "passes authorisation rules based on the event's auth events".
//   - checkAuth(event, authEvents, version): every other rule, against a set of state events. The
//     receipt pipeline passes the event's auth events (and calls checkAuthEventsList first); the
//     checks against the state before the event, against the current state (soft failure) and
//     state resolution's iterative auth checks pass the state selected by authTypesForEvent.
//
// How the caller supplies the create event: ALWAYS include the room's m.room.create event in
// `authEvents`, in every room version. In v1-v11 it is one of the event's auth events anyway; in
// v12 it is not listed in auth_events (the room ID names it) and the caller adds it: checkAuth then
// checks that room_id is `!` + the create event's ID without its `$` (v12 rule 2), and
// checkAuthEventsList checks that event.authEventIds does not list it (v12 rule 3.2).
//
// The event's signatures must already be attached and verified (receipt step 2): the v8+ rule on
// `join_authorised_via_users_server` checks here that the authorising server's signature is
// present, and relies on the signature step (see requiredSignatureServers in ./origin.ts) for its
// cryptographic validity. Rejected auth events are reported through `options.isRejected`.

import { isJsonObject, type JsonObject } from '../json/types.js';
import { stateTuple, type RoomEvent } from '../events/event.js';
import { getRoomVersion, type RoomVersion } from '../events/room-versions.js';
import { authTypesForEvent } from './auth-types.js';
import { isValidUserId, serverNameOf } from './id-grammar.js';
import { hasSignatureBlock } from './origin.js';
import {
  TOP_LEVEL_POWER_KEYS,
  eventPowerLevelRequired,
  namedPowerLevel,
  parsePowerLevelValue,
  parsePowerLevelsContent,
  parsePowerLevelsLenient,
  primaryCreator,
  roomCreators,
  topLevelValue,
  userPowerLevel,
  type ParsedPowerLevels,
} from './power-levels.js';
import { verifyThirdPartyInviteSigned } from './third-party-invite.js';

export type AuthResult = { allowed: true } | { allowed: false; rule: string; reason: string };

export interface AuthEventsListOptions {
  /** Whether an auth event was itself rejected (v1 rule 2.3, v12 rule 3.3). */
  readonly isRejected?: (eventId: string) => boolean;
}

const ALLOW: AuthResult = Object.freeze({ allowed: true as const });

function reject(rule: string, reason: string): AuthResult {
  return { allowed: false, rule, reason };
}

const CREATE_KEY = stateTuple('m.room.create', '');
const POWER_LEVELS_KEY = stateTuple('m.room.power_levels', '');
const JOIN_RULES_KEY = stateTuple('m.room.join_rules', '');

function hasOwn(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

// ---------------------------------------------------------------------------------------------
// The auth_events list
// ---------------------------------------------------------------------------------------------

/**
 * The checks on an event's own auth_events list ("Considering the event's auth_events"): every
 * listed ID is supplied in `authEvents`, no ID or (type, state_key) pair twice, only pairs that
 * auth events selection allows (authTypesForEvent), none from another room, none rejected, an
 * m.room.create among them in v1-v11, and in v12 the create event NOT among them.
 * `authEvents` are the events named by event.authEventIds; in v12 the caller may also pass the
 * create event (see the header), which is then ignored here unless it is listed.
 * m.room.create events pass: their rule 1 ends in "allow" before the auth_events rules.
 */
export function checkAuthEventsList(
  event: RoomEvent,
  authEvents: readonly RoomEvent[],
  version: RoomVersion,
  options: AuthEventsListOptions = {},
): AuthResult {
  if (event.type === 'm.room.create') return ALLOW;
  const byId = new Map<string, RoomEvent>();
  for (const e of authEvents) byId.set(e.eventId, e);
  const expected = new Set<string>();
  for (const [t, k] of authTypesForEvent(event.type, event.stateKey, event.sender, event.content, version)) {
    expected.add(stateTuple(t, k));
  }
  const seenIds = new Set<string>();
  const seenKeys = new Set<string>();
  let hasCreate = false;
  for (const id of event.authEventIds) {
    if (seenIds.has(id)) return reject('auth_events.duplicate', `auth event ${id} is listed twice`);
    seenIds.add(id);
    const authEvent = byId.get(id);
    if (!authEvent) return reject('auth_events.missing', `auth event ${id} was not supplied`);
    // CVE-2022-31152 / GHSA-pfw4-xjgm-267c: powers granted in another room must not count here.
    if (authEvent.roomId !== event.roomId) {
      return reject('auth_events.other_room', `auth event ${id} belongs to room ${authEvent.roomId}, not ${event.roomId}`);
    }
    if (authEvent.stateKey === undefined) {
      return reject('auth_events.unexpected', `auth event ${id} (${authEvent.type}) is not a state event`);
    }
    if (authEvent.type === 'm.room.create' && version.roomIdFromCreateEvent) {
      return reject('auth_events.create_listed', `the m.room.create event must not be listed in auth_events in room version ${version.id}`);
    }
    const key = stateTuple(authEvent.type, authEvent.stateKey);
    if (seenKeys.has(key)) {
      return reject('auth_events.duplicate', `two auth events for (${authEvent.type}, ${JSON.stringify(authEvent.stateKey)})`);
    }
    seenKeys.add(key);
    if (!expected.has(key)) {
      return reject(
        'auth_events.unexpected',
        `auth event ${id} (${authEvent.type}, ${JSON.stringify(authEvent.stateKey)}) is not one auth events selection allows`,
      );
    }
    if (options.isRejected?.(id)) return reject('auth_events.rejected', `auth event ${id} was itself rejected`);
    if (key === CREATE_KEY) hasCreate = true;
  }
  if (!version.roomIdFromCreateEvent && !hasCreate) {
    return reject('auth_events.no_create', 'there is no m.room.create event among the auth events');
  }
  return ALLOW;
}

// ---------------------------------------------------------------------------------------------
// The rules
// ---------------------------------------------------------------------------------------------

/** The state the rules read, keyed by (type, state_key). */
type AuthState = Map<string, RoomEvent>;

function membershipOf(state: AuthState, userId: string): string | undefined {
  const m = state.get(stateTuple('m.room.member', userId))?.content.membership;
  return typeof m === 'string' ? m : undefined;
}

/** No m.room.join_rules event, or one without `join_rule`, reads as "invite" (as in Synapse). */
function joinRuleOf(state: AuthState): unknown {
  const ev = state.get(JOIN_RULES_KEY);
  if (!ev || !hasOwn(ev.content, 'join_rule')) return 'invite';
  return ev.content.join_rule;
}

function isRecognisedRoomVersion(v: unknown): boolean {
  return typeof v === 'string' && getRoomVersion(v) !== undefined;
}

/** Rule 1: m.room.create. */
function checkCreate(event: RoomEvent, version: RoomVersion): AuthResult {
  if (event.prevEventIds.length > 0) return reject('create.prev_events', 'm.room.create must not have prev_events');
  if (version.roomIdFromCreateEvent) {
    // v12 rule 1.2: the room ID is derived from the create event, which carries none.
    if (hasOwn(event.json, 'room_id')) return reject('create.has_room_id', 'm.room.create must not have a room_id in this room version');
  } else if (serverNameOf(event.roomId) !== serverNameOf(event.sender)) {
    return reject('create.room_id_domain', `the room ID's domain does not match the sender's (${event.roomId} vs ${event.sender})`);
  }
  if (hasOwn(event.content, 'room_version') && !isRecognisedRoomVersion(event.content.room_version)) {
    return reject('create.room_version', `content.room_version ${JSON.stringify(event.content.room_version)} is not a recognised version`);
  }
  if (version.creatorInCreateContent && !hasOwn(event.content, 'creator')) {
    return reject('create.no_creator', 'content has no creator property');
  }
  if (version.creatorsHaveInfinitePower && hasOwn(event.content, 'additional_creators')) {
    const extra = event.content.additional_creators;
    if (!Array.isArray(extra) || !extra.every((c) => typeof c === 'string' && isValidUserId(c))) {
      return reject('create.additional_creators', 'additional_creators must be an array of valid user IDs');
    }
  }
  return ALLOW;
}

/**
 * Whether `event` is allowed by the authorisation rules of `version`, given the state events in
 * `authEvents` (which MUST include the room's m.room.create event, in every version; see the
 * header). Events of other (type, state_key) pairs are ignored; the same pair twice, or an event
 * from another room, is rejected. Non-state events in `authEvents` are ignored.
 */
export function checkAuth(event: RoomEvent, authEvents: readonly RoomEvent[], version: RoomVersion): AuthResult {
  // Rule 1.
  if (event.type === 'm.room.create') return checkCreate(event, version);

  const state: AuthState = new Map();
  let duplicate: RoomEvent | undefined;
  let otherRoom: RoomEvent | undefined;
  for (const e of authEvents) {
    if (e.stateKey === undefined) continue;
    const key = stateTuple(e.type, e.stateKey);
    const prior = state.get(key);
    if (prior && prior.eventId !== e.eventId) duplicate ??= e;
    if (e.roomId !== event.roomId) otherRoom ??= e;
    state.set(key, e);
  }
  const create = state.get(CREATE_KEY);

  if (version.roomIdFromCreateEvent) {
    // v12 rule 2: the room ID must name an accepted create event.
    if (!create) return reject('room_id.no_create', 'the m.room.create event named by the room ID was not supplied');
    if (event.roomId !== '!' + create.eventId.slice(1)) {
      return reject('room_id.not_create', `room ID ${event.roomId} is not the ID of the create event ${create.eventId}`);
    }
  }
  if (duplicate) {
    return reject('auth_events.duplicate', `two auth events for (${duplicate.type}, ${JSON.stringify(duplicate.stateKey)})`);
  }
  if (otherRoom) {
    return reject('auth_events.other_room', `auth event ${otherRoom.eventId} belongs to room ${otherRoom.roomId}, not ${event.roomId}`);
  }
  if (!create) return reject('auth_events.no_create', 'there is no m.room.create event among the auth events');

  // m.federate (v1 rule 3).
  if (create.content['m.federate'] === false && serverNameOf(event.sender) !== serverNameOf(create.sender)) {
    return reject('federate', `the room is not federated and ${event.sender} is not on the creator's server`);
  }

  // v1-v5 rule 4: m.room.aliases is governed by the sender's server alone.
  if (version.specialCaseAliasesAuth && event.type === 'm.room.aliases') {
    if (event.stateKey === undefined) return reject('aliases.no_state_key', 'm.room.aliases must have a state_key');
    if (event.stateKey !== serverNameOf(event.sender)) {
      return reject('aliases.domain', `state_key ${JSON.stringify(event.stateKey)} is not the sender's server`);
    }
    return ALLOW;
  }

  const powerLevels = state.get(POWER_LEVELS_KEY);
  const levelOf = (userId: string): number => userPowerLevel(userId, powerLevels, create, version);

  if (event.type === 'm.room.member') return checkMember(event, state, create, powerLevels, version, levelOf);

  const senderMembership = membershipOf(state, event.sender);
  if (senderMembership !== 'join') return reject('sender.not_joined', `${event.sender} is not joined to the room`);

  const senderLevel = levelOf(event.sender);
  if (event.type === 'm.room.third_party_invite') {
    return senderLevel >= namedPowerLevel('invite', powerLevels, version)
      ? ALLOW
      : reject('third_party_invite.power', 'the sender is below the invite level');
  }

  const required = eventPowerLevelRequired(event.type, event.stateKey !== undefined, powerLevels, version);
  if (required > senderLevel) {
    return reject('event.power', `${event.type} needs power level ${required}; ${event.sender} has ${senderLevel}`);
  }

  if (event.stateKey !== undefined && event.stateKey.startsWith('@') && event.stateKey !== event.sender) {
    return reject('state_key.user_mismatch', 'a state_key starting with @ must be the sender');
  }

  if (event.type === 'm.room.power_levels') return checkPowerLevels(event, powerLevels, create, version, senderLevel);

  // v1-v2 rule 11: redactions need the redact level or the same origin as the redacted event.
  if (version.redactionDomainCheckInAuth && event.type === 'm.room.redaction') {
    if (senderLevel >= namedPowerLevel('redact', powerLevels, version)) return ALLOW;
    if (event.redacts !== undefined && serverNameOf(event.redacts) === serverNameOf(event.eventId)) return ALLOW;
    return reject('redaction.power', 'below the redact level and the redacted event is from another server');
  }

  return ALLOW;
}

/** The m.room.member rules (v1 rule 5, v6 rule 4, v12 rule 5). */
function checkMember(
  event: RoomEvent,
  state: AuthState,
  create: RoomEvent,
  powerLevels: RoomEvent | undefined,
  version: RoomVersion,
  levelOf: (userId: string) => number,
): AuthResult {
  const target = event.stateKey;
  if (target === undefined) return reject('member.no_state_key', 'm.room.member must have a state_key');
  const content = event.content;
  if (!hasOwn(content, 'membership')) return reject('member.no_membership', 'content has no membership');
  const membership = content.membership;

  // v8+ rule 4.2: an authorised join must be signed by the authorising user's server.
  if (version.restrictedJoins && hasOwn(content, 'join_authorised_via_users_server')) {
    const authoriser = content.join_authorised_via_users_server;
    if (typeof authoriser !== 'string' || !hasSignatureBlock(event, serverNameOf(authoriser))) {
      return reject('member.authoriser_signature', 'the event is not signed by the server of join_authorised_via_users_server');
    }
  }

  const sender = event.sender;
  const senderMembership = membershipOf(state, sender);
  const targetMembership = membershipOf(state, target);

  switch (membership) {
    case 'join': {
      // The creator's own first join, straight after the create event.
      if (
        event.prevEventIds.length === 1 &&
        event.prevEventIds[0] === create.eventId &&
        target === primaryCreator(create, version)
      ) {
        return ALLOW;
      }
      if (sender !== target) return reject('member.join.sender_mismatch', 'cannot join on behalf of another user');
      if (senderMembership === 'ban') return reject('member.join.banned', `${sender} is banned`);
      const joinRule = joinRuleOf(state);
      if (joinRule === 'invite' || (version.knocking && joinRule === 'knock')) {
        return senderMembership === 'invite' || senderMembership === 'join'
          ? ALLOW
          : reject('member.join.not_invited', `join rule is ${joinRule as string} and ${sender} is not invited`);
      }
      if ((version.restrictedJoins && joinRule === 'restricted') || (version.knockRestricted && joinRule === 'knock_restricted')) {
        if (senderMembership === 'join' || senderMembership === 'invite') return ALLOW;
        const authoriser = content.join_authorised_via_users_server;
        if (typeof authoriser !== 'string') {
          return reject('member.join.no_authoriser', 'a restricted join needs join_authorised_via_users_server');
        }
        if (membershipOf(state, authoriser) !== 'join') {
          return reject('member.join.authoriser_not_joined', `the authorising user ${authoriser} is not joined`);
        }
        if (levelOf(authoriser) < namedPowerLevel('invite', powerLevels, version)) {
          return reject('member.join.authoriser_power', `the authorising user ${authoriser} cannot invite`);
        }
        return ALLOW;
      }
      if (joinRule === 'public') return ALLOW;
      return reject('member.join.join_rule', `join rule ${JSON.stringify(joinRule)} does not allow joining`);
    }

    case 'invite': {
      if (hasOwn(content, 'third_party_invite')) return checkThirdPartyInvite(event, state, targetMembership);
      if (senderMembership !== 'join') return reject('member.invite.sender_not_joined', `${sender} is not joined`);
      if (targetMembership === 'join') return reject('member.invite.target_joined', `${target} is already joined`);
      if (targetMembership === 'ban') return reject('member.invite.target_banned', `${target} is banned`);
      return levelOf(sender) >= namedPowerLevel('invite', powerLevels, version)
        ? ALLOW
        : reject('member.invite.power', 'the sender is below the invite level');
    }

    case 'leave': {
      if (sender === target) {
        const canLeave =
          senderMembership === 'invite' || senderMembership === 'join' || (version.knocking && senderMembership === 'knock');
        return canLeave ? ALLOW : reject('member.leave.not_member', `${sender} cannot leave from membership ${String(senderMembership)}`);
      }
      if (senderMembership !== 'join') return reject('member.leave.sender_not_joined', `${sender} is not joined`);
      const senderLevel = levelOf(sender);
      if (targetMembership === 'ban' && senderLevel < namedPowerLevel('ban', powerLevels, version)) {
        return reject('member.leave.unban_power', 'unbanning needs the ban level');
      }
      if (senderLevel >= namedPowerLevel('kick', powerLevels, version) && levelOf(target) < senderLevel) return ALLOW;
      return reject('member.leave.kick_power', 'kicking needs the kick level and a level above the target');
    }

    case 'ban': {
      if (senderMembership !== 'join') return reject('member.ban.sender_not_joined', `${sender} is not joined`);
      const senderLevel = levelOf(sender);
      if (senderLevel >= namedPowerLevel('ban', powerLevels, version) && levelOf(target) < senderLevel) return ALLOW;
      return reject('member.ban.power', 'banning needs the ban level and a level above the target');
    }

    case 'knock': {
      if (!version.knocking) break;
      const joinRule = joinRuleOf(state);
      if (!(joinRule === 'knock' || (version.knockRestricted && joinRule === 'knock_restricted'))) {
        return reject('member.knock.join_rule', `join rule ${JSON.stringify(joinRule)} does not allow knocking`);
      }
      if (sender !== target) return reject('member.knock.sender_mismatch', 'cannot knock on behalf of another user');
      if (senderMembership !== 'ban' && senderMembership !== 'invite' && senderMembership !== 'join') return ALLOW;
      return reject('member.knock.membership', `${sender} is already ${senderMembership}`);
    }
  }
  return reject('member.unknown', `unknown membership ${JSON.stringify(membership)} in room version ${version.id}`);
}

/** Third-party invites (v1 rule 5.3.1). The signature check makes the sender's membership moot. */
function checkThirdPartyInvite(event: RoomEvent, state: AuthState, targetMembership: string | undefined): AuthResult {
  if (targetMembership === 'ban') return reject('member.invite.3pid.target_banned', `${event.stateKey} is banned`);
  const tpi = event.content.third_party_invite;
  const signed = isJsonObject(tpi) ? tpi.signed : undefined;
  if (!isJsonObject(signed)) return reject('member.invite.3pid.no_signed', 'third_party_invite has no signed object');
  if (typeof signed.mxid !== 'string' || typeof signed.token !== 'string') {
    return reject('member.invite.3pid.no_mxid_token', 'signed needs mxid and token');
  }
  if (signed.mxid !== event.stateKey) return reject('member.invite.3pid.mxid_mismatch', 'signed.mxid is not the state_key');
  const invite = state.get(stateTuple('m.room.third_party_invite', signed.token));
  if (!invite) return reject('member.invite.3pid.no_invite_event', 'no m.room.third_party_invite for the token');
  if (invite.sender !== event.sender) {
    return reject('member.invite.3pid.sender_mismatch', 'the sender did not send the m.room.third_party_invite');
  }
  if (verifyThirdPartyInviteSigned(signed, invite)) return ALLOW;
  return reject('member.invite.3pid.signature', 'no signature in signed matches a public key of the invite');
}

function isIntegerMap(v: unknown): boolean {
  return isJsonObject(v) && Object.values(v).every((x) => typeof x === 'number' && Number.isInteger(x));
}

/** The m.room.power_levels rules (v1 rule 10, v10 rule 9, v12 rule 10). */
function checkPowerLevels(
  event: RoomEvent,
  current: RoomEvent | undefined,
  create: RoomEvent,
  version: RoomVersion,
  senderLevel: number,
): AuthResult {
  const content = event.content;
  if (version.integerPowerLevels) {
    // v10 rules 9.1 and 9.2.
    for (const key of TOP_LEVEL_POWER_KEYS) {
      if (hasOwn(content, key) && !(typeof content[key] === 'number' && Number.isInteger(content[key]))) {
        return reject('power_levels.not_integer', `${key} must be an integer`);
      }
    }
    for (const key of ['events', 'notifications']) {
      if (hasOwn(content, key) && !isIntegerMap(content[key])) {
        return reject('power_levels.not_integer', `${key} must be an object of integers`);
      }
    }
  }
  // v1 rule 10.1 / v10 rule 9.3: `users` maps valid user IDs to levels.
  if (hasOwn(content, 'users')) {
    const users = content.users;
    if (!isJsonObject(users)) return reject('power_levels.users', 'users must be an object');
    for (const userId of Object.keys(users)) {
      if (!isValidUserId(userId)) return reject('power_levels.users', `${JSON.stringify(userId)} is not a valid user ID`);
      if (parsePowerLevelValue(users[userId], version) === undefined) {
        return reject('power_levels.users', `the level of ${userId} is not an integer`);
      }
    }
    // v12 rule 10.4: creators have infinite power and cannot be listed.
    if (version.creatorsHaveInfinitePower) {
      for (const creator of roomCreators(create, version)) {
        if (hasOwn(users, creator)) return reject('power_levels.creator_in_users', `room creator ${creator} must not appear in users`);
      }
    }
  }

  if (!current) return ALLOW;

  // Values the version cannot read would make the comparisons meaningless: refuse them in the new
  // event (the spec only names `users`; Synapse fails on them too). The current event is read
  // leniently, so a malformed value already in the state does not lock the room.
  const next = parsePowerLevelsContent(content, version);
  if (!next) return reject('power_levels.invalid', 'a power level value is not an integer this room version accepts');
  const prev = parsePowerLevelsLenient(current.content, version);

  for (const key of TOP_LEVEL_POWER_KEYS) {
    const r = checkChange(key, topLevelValue(prev, key), topLevelValue(next, key), senderLevel, 'power_levels.top_level');
    if (r) return r;
  }
  const maps: Array<keyof Pick<ParsedPowerLevels, 'events' | 'notifications'>> = version.notificationsPowerLevel
    ? ['events', 'notifications']
    : ['events'];
  for (const name of maps) {
    for (const key of unionKeys(prev[name], next[name])) {
      const r = checkChange(`${name}.${key}`, prev[name].get(key), next[name].get(key), senderLevel, `power_levels.${name}`);
      if (r) return r;
    }
  }
  for (const userId of unionKeys(prev.users, next.users)) {
    const before = prev.users.get(userId);
    const after = next.users.get(userId);
    if (before === after) continue;
    // Another user's entry at or above the sender's level can be neither changed nor removed.
    if (userId !== event.sender && before !== undefined && before >= senderLevel) {
      return reject('power_levels.users', `cannot change the level of ${userId} (${before}) from level ${senderLevel}`);
    }
    if (after !== undefined && after > senderLevel) {
      return reject('power_levels.users', `cannot give ${userId} level ${after} above own level ${senderLevel}`);
    }
  }
  return ALLOW;
}

function* unionKeys(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): Iterable<string> {
  yield* a.keys();
  for (const k of b.keys()) if (!a.has(k)) yield k;
}

/** One added, changed or removed level: neither the old nor the new value may exceed the sender's. */
function checkChange(
  what: string,
  before: number | undefined,
  after: number | undefined,
  senderLevel: number,
  rule: string,
): AuthResult | undefined {
  if (before === after) return undefined;
  if (before !== undefined && before > senderLevel) {
    return reject(rule, `cannot change ${what} from ${before}, above own level ${senderLevel}`);
  }
  if (after !== undefined && after > senderLevel) {
    return reject(rule, `cannot set ${what} to ${after}, above own level ${senderLevel}`);
  }
  return undefined;
}
