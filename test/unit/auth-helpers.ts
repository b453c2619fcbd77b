// Test helpers for the auth rules: build RoomEvent objects from JSON in a small in-memory room whose
// current state is tracked, with the room ID and create event laid out per room version.

import { toRoomEvent, stateTuple, type RoomEvent } from '../../src/core/events/event.js';
import { requireRoomVersion, type RoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { checkAuth, checkAuthEventsList, type AuthResult } from '../../src/core/auth/rules.js';

export const ALL_VERSIONS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'] as const;
export type VersionId = (typeof ALL_VERSIONS)[number];

/** Versions from `from` to `to` inclusive, e.g. range(7, 12). */
export function range(from: number, to = 12): VersionId[] {
  return ALL_VERSIONS.filter((v) => Number(v) >= from && Number(v) <= to);
}

export const ALICE = '@alice:a.example';
export const BOB = '@bob:b.example';
export const CAROL = '@carol:c.example';
export const DAVE = '@dave:d.example';
export const EVE = '@eve:e.example';

function serverOf(id: string): string {
  return id.slice(id.indexOf(':') + 1);
}

export interface EventSpec {
  type: string;
  sender?: string;
  state_key?: string;
  content?: JsonObject;
  /** Override prev_events (IDs); default: the last event built in this room. */
  prev_events?: string[];
  /** Override auth_events (IDs); default: the selection from the current state. */
  auth_events?: string[];
  /** Extra top-level fields (redacts, room_id, extra signatures...). */
  extra?: JsonObject;
  /** Override the generated event ID. */
  event_id?: string;
}

let roomCounter = 0;

export class TestRoom {
  readonly version: RoomVersion;
  readonly creator: string;
  readonly roomId: string;
  readonly create: RoomEvent;
  readonly state = new Map<string, RoomEvent>();
  /** Every event put into the state so far, replaced ones included. */
  readonly all = new Map<string, RoomEvent>();
  private counter = 0;
  private last: string | undefined;

  constructor(versionId: string, opts: { creator?: string; createContent?: JsonObject; createExtra?: JsonObject } = {}) {
    this.version = requireRoomVersion(versionId);
    this.creator = opts.creator ?? ALICE;
    roomCounter++;
    const content: JsonObject = { room_version: versionId, ...(this.version.creatorInCreateContent ? { creator: this.creator } : {}) };
    Object.assign(content, opts.createContent ?? {});
    const json: JsonObject = {
      type: 'm.room.create',
      state_key: '',
      sender: this.creator,
      content,
      origin_server_ts: 1_000,
      depth: 1,
      prev_events: [],
      auth_events: [],
      signatures: { [serverOf(this.creator)]: { 'ed25519:1': 'sig' } },
      ...(opts.createExtra ?? {}),
    };
    let createId: string;
    if (this.version.roomIdFromCreateEvent) {
      // v12: no room_id; the room ID is the create event ID with `!`.
      createId = `$CreateEventReferenceHash${roomCounter}`;
      this.roomId = '!' + createId.slice(1);
    } else {
      this.roomId = `!room${roomCounter}:${serverOf(this.creator)}`;
      json.room_id = this.roomId;
      createId = `$create${roomCounter}:${serverOf(this.creator)}`;
    }
    if (this.version.eventRefsArePairs) json.event_id = createId;
    this.create = toRoomEvent(json, createId, this.version);
    this.setState(this.create);
    this.last = createId;
  }

  /** Builds an event in this room (not added to the state). */
  event(spec: EventSpec): RoomEvent {
    const sender = spec.sender ?? this.creator;
    const eventId = spec.event_id ?? `$e${++this.counter}r${roomCounter}:${serverOf(sender)}`;
    const content = spec.content ?? {};
    const authIds =
      spec.auth_events ??
      this.selectAuth(spec.type, spec.state_key, sender, content).filter((e) => !(this.version.roomIdFromCreateEvent && e.type === 'm.room.create')).map((e) => e.eventId);
    const prevIds = spec.prev_events ?? (this.last ? [this.last] : []);
    const ref = (id: string): JsonValue => (this.version.eventRefsArePairs ? [id, { sha256: 'x' }] : id);
    const json: JsonObject = {
      type: spec.type,
      room_id: this.roomId,
      sender,
      content,
      origin_server_ts: 2_000 + this.counter,
      depth: 2 + this.counter,
      prev_events: prevIds.map(ref),
      auth_events: authIds.map(ref),
      signatures: { [serverOf(sender)]: { 'ed25519:1': 'sig' } },
    };
    if (spec.state_key !== undefined) json.state_key = spec.state_key;
    if (this.version.eventRefsArePairs) json.event_id = eventId;
    Object.assign(json, spec.extra ?? {});
    return toRoomEvent(json, eventId, this.version);
  }

  /** The current state events auth events selection picks for an event (create included). */
  selectAuth(type: string, stateKey: string | undefined, sender: string, content: JsonObject): RoomEvent[] {
    const out: RoomEvent[] = [];
    const pairs = authTypesForEvent(type, stateKey, sender, content, this.version);
    if (this.version.roomIdFromCreateEvent) pairs.unshift(['m.room.create', '']);
    for (const [t, k] of pairs) {
      const e = this.state.get(stateTuple(t, k));
      if (e) out.push(e);
    }
    return out;
  }

  /** The auth state for checkAuth: the selection from the current state, create always included. */
  authStateFor(ev: RoomEvent): RoomEvent[] {
    return this.selectAuth(ev.type, ev.stateKey, ev.sender, ev.content);
  }

  setState(ev: RoomEvent): this {
    this.all.set(ev.eventId, ev);
    if (ev.stateKey !== undefined) this.state.set(stateTuple(ev.type, ev.stateKey), ev);
    this.last = ev.eventId;
    return this;
  }

  /** Builds a state event and puts it in the current state without authorising it. */
  put(spec: EventSpec): RoomEvent {
    const ev = this.event(spec);
    this.setState(ev);
    return ev;
  }

  /** Builds an event, asserts checkAuth allows it against the current state, and applies it. */
  send(spec: EventSpec): RoomEvent {
    const ev = this.event(spec);
    const r = this.check(ev);
    if (!r.allowed) throw new Error(`setup event ${spec.type} rejected: ${r.rule}: ${r.reason}`);
    this.setState(ev);
    return ev;
  }

  member(userId: string, membership: string, sender = userId, extra: JsonObject = {}): RoomEvent {
    return this.put({ type: 'm.room.member', state_key: userId, sender, content: { membership, ...extra } });
  }

  joinRules(rule: string, extra: JsonObject = {}): RoomEvent {
    return this.put({ type: 'm.room.join_rules', state_key: '', content: { join_rule: rule, ...extra } });
  }

  powerLevels(content: JsonObject, sender = this.creator): RoomEvent {
    return this.put({ type: 'm.room.power_levels', state_key: '', sender, content });
  }

  check(ev: RoomEvent): AuthResult {
    return checkAuth(ev, this.authStateFor(ev), this.version);
  }

  /** The receipt path: the auth_events list checks, then the rules against the listed events. */
  checkReceived(ev: RoomEvent, byId?: Map<string, RoomEvent>): AuthResult {
    const pool = byId ?? this.eventsById();
    const listed = ev.authEventIds.map((id) => pool.get(id)).filter((e): e is RoomEvent => e !== undefined);
    const supplied = this.version.roomIdFromCreateEvent ? [this.create, ...listed.filter((e) => e !== this.create)] : listed;
    const list = checkAuthEventsList(ev, supplied, this.version);
    if (!list.allowed) return list;
    return checkAuth(ev, supplied, this.version);
  }

  eventsById(): Map<string, RoomEvent> {
    return this.all;
  }
}

/**
 * The usual room: alice created it (level 100; v12: creator, infinite), bob is a moderator (50),
 * carol a plain member (0), dave has never been in it. Join rule as given (default invite).
 */
export function standardRoom(versionId: string, joinRule = 'invite', plExtra: JsonObject = {}): TestRoom {
  const r = new TestRoom(versionId);
  r.member(ALICE, 'join');
  const users: JsonObject = { [BOB]: 50 };
  if (!r.version.creatorsHaveInfinitePower) users[ALICE] = 100;
  r.powerLevels({
    users,
    users_default: 0,
    events: { 'm.room.name': 50, 'm.room.power_levels': 100 },
    events_default: 0,
    state_default: 50,
    ban: 50,
    kick: 50,
    redact: 50,
    invite: 0,
    ...plExtra,
  });
  r.joinRules(joinRule);
  r.member(BOB, 'join');
  r.member(CAROL, 'join');
  return r;
}

export function expectRule(r: AuthResult): string {
  return r.allowed ? 'allow' : r.rule;
}
