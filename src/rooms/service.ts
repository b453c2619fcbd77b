// rooms/: THE single writer of room events and state. Builds local events, runs the spec's checks on
// every event (server-server API "Checks performed on receipt of a PDU", steps 4-6), persists each
// event with everything derived from it in one transaction, and publishes the new stream position.
import { randomBytes } from 'node:crypto';
import { MatrixError } from '../errors.js';
import { toRoomEvent, type RoomEvent } from '../core/events/event.js';
import { getRoomVersion, type RoomVersion } from '../core/events/room-versions.js';
import { computeEventId, computeReferenceHash } from '../core/events/hashes.js';
import { hashAndSignEvent } from '../core/events/signing.js';
import { roomIdFromCreateEvent, createEventIdOfRoom } from '../core/events/room-id.js';
import { validatePdu, MAX_PREV_EVENTS } from '../core/events/pdu.js';
import { authTypesForEvent } from '../core/auth/auth-types.js';
import { checkAuth, checkAuthEventsList } from '../core/auth/rules.js';
import { resolveState } from '../core/state/resolve.js';
import type { StateMap, StateResolutionInput } from '../core/state/types.js';
import type { SigningKey } from '../core/crypto/ed25519.js';
import { serverNameOf } from '../core/ids.js';
import { encodeBase64 } from '../core/json/base64.js';
import type { JsonObject, JsonValue } from '../core/json/types.js';
import type { Database } from '../store/db.js';
import { createStore, type Store } from '../store/index.js';
import type { EventMeta, EventStore, RoomRow, StateInput } from '../store/event-store.js';
import type { StateNids } from '../store/state-groups.js';
import { Notifier } from '../sync/notifier.js';
import { KeyedQueue } from './queue.js';

export interface Clock {
  now(): number;
}

/** The subset of a pino logger used here. */
export interface RoomsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface RoomsServiceDeps {
  /** The store to write to; or `db`, from which a store is built. Share one store per database. */
  readonly store?: Store;
  readonly db?: Database;
  readonly serverName: string;
  readonly signingKey: SigningKey;
  readonly clock?: Clock | (() => number);
  readonly logger?: RoomsLogger;
  readonly notifier?: Notifier;
}

export interface LocalEventInput {
  readonly type: string;
  /** Present (possibly '') for state events. */
  readonly stateKey?: string;
  readonly content: JsonObject;
  readonly sender: string;
  /** For m.room.redaction: the event redacted (top-level before v11, in content from v11). */
  readonly redacts?: string;
}

export interface AcceptOptions {
  /** Store the event without state (an auth or state event fetched for another one): only check 4 runs. */
  readonly outlier?: boolean;
  /** The state before the event, fetched by the federation layer (e.g. /state_ids) when its prev events are missing. */
  readonly stateBefore?: StateMap;
  /**
   * The event ID the federation layer already computed when it checked the PDU (over the PDU as
   * sent, which in rooms v3-v5 may differ from the parsed one, e.g. "50.0"); computed here otherwise.
   */
  readonly eventId?: string;
  /** The PDU text exactly as received; stored and served as is. Defaults to JSON.stringify(pdu). */
  readonly jsonText?: string;
  /**
   * History older than the room's current state (federation backfill): not checked against the
   * current state (step 6), never changes the forward extremities or the current state, is not
   * published to the notifier, and is stored at a negative stream position so that /sync never
   * reports it as new; /messages finds it by topological order.
   */
  readonly backfilled?: boolean;
  /**
   * An invite, knock or rejection concerning a room this server holds no state of (server-server
   * invites, send_knock, send_leave of a remote invite; Synapse's out-of-band memberships): stored
   * as an outlier without auth checks (its auth events are unknown here), given a stream position,
   * recorded as its target's membership so that /sync reports it, and published.
   */
  readonly outOfBandMembership?: boolean;
  /**
   * Our join through another server (send_join): `stateBefore` is the resident server's state and
   * is authoritative. The event is not checked against our current state (which is stale when we
   * left the room earlier), it becomes the room's only forward extremity, and the state after it
   * the current state.
   */
  readonly resetRoomState?: boolean;
}

/**
 * The outcome of acceptEvent. `accepted`, `rejected` and `soft_failed` events are stored (the
 * latter two are never sent to clients; rejected ones never enter state). `dropped` (step 1, the
 * format) and `missing` (auth events, prev events or state not in the store; the federation layer
 * fetches them and calls again) store nothing.
 */
export type AcceptResult =
  | { readonly eventId: string; readonly status: 'accepted'; readonly streamOrdering?: number; readonly duplicate?: boolean }
  | {
      readonly eventId: string;
      readonly status: 'rejected' | 'soft_failed';
      readonly reason: string;
      readonly streamOrdering?: number;
      readonly duplicate?: boolean;
    }
  | { readonly eventId: string; readonly status: 'dropped'; readonly reason: string }
  | {
      readonly eventId: string;
      readonly status: 'missing';
      readonly reason: string;
      /** Auth events not stored: fetch them (e.g. /event_auth) and accept them first, as outliers. */
      readonly missingAuthEvents: readonly string[];
      /** Prev events stored without state or not at all: fetch them, or the state before the event (/state_ids). */
      readonly missingPrevEvents: readonly string[];
      /** Events named in opts.stateBefore that are not stored. */
      readonly missingStateEvents: readonly string[];
    };

export interface LocalEventResult {
  readonly eventId: string;
  readonly streamOrdering: number;
  readonly status: 'accepted' | 'soft_failed';
  /** The signed PDU as stored (for the federation sender). */
  readonly pdu: JsonObject;
}

/** An event built on a room's current state, hashed and signed, not persisted (see RoomsService.buildEvent). */
export interface BuiltEvent {
  readonly eventId: string;
  readonly pdu: JsonObject;
  readonly version: RoomVersion;
}

export interface CreateRoomResult {
  readonly roomId: string;
  readonly eventId: string;
  readonly streamOrdering: number;
  readonly pdu: JsonObject;
}

export interface RoomsService {
  readonly store: Store;
  readonly notifier: Notifier;
  createRoom(version: string | RoomVersion, creatorUserId: string, createContent?: JsonObject): Promise<CreateRoomResult>;
  sendLocalEvent(roomId: string, input: LocalEventInput): Promise<LocalEventResult>;
  acceptEvent(pdu: JsonObject, roomVersion: string | RoomVersion, opts?: AcceptOptions): Promise<AcceptResult>;
  /**
   * Builds an event on the room's current state exactly as sendLocalEvent would (prev events, auth
   * events, depth, hash, our signature) without persisting it: federation invites (signed by the
   * invitee's server before they are accepted) and make_join/make_leave/make_knock templates (whose
   * sender is a remote user). 404 M_NOT_FOUND when the room has no current state here.
   */
  buildEvent(roomId: string, input: LocalEventInput): Promise<BuiltEvent>;
  /**
   * acceptEvent with `outlier` for a batch of events of one room, in one transaction (the state and
   * auth chain of a room joined over federation). Each event is checked against its own auth events
   * (step 4), which must be stored or come earlier in the batch. Results follow the input.
   */
  acceptOutliers(items: readonly { readonly pdu: JsonObject; readonly jsonText?: string }[], roomVersion: string | RoomVersion): Promise<AcceptResult[]>;
}

/** A state during evaluation: a stored group (null = the empty state) or a map not stored yet. */
type StateRef = { readonly group: number | null } | { readonly map: StateNids; readonly parentGroup: number | null };

type Evaluation =
  | { readonly kind: 'final'; readonly result: AcceptResult }
  | {
      readonly kind: 'persist';
      readonly rejectedReason: string | null;
      readonly softFailReason: string | null;
      readonly stateBefore: StateRef | null;
    };

const CREATE = 'm.room.create';

function toVersion(v: string | RoomVersion): RoomVersion {
  if (typeof v !== 'string') return v;
  const found = getRoomVersion(v);
  if (!found) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', `unsupported room version ${v}`);
  return found;
}

function isCreateEvent(ev: RoomEvent): boolean {
  return ev.type === CREATE && ev.stateKey === '';
}

export function createRoomsService(deps: RoomsServiceDeps): RoomsService {
  return new Rooms(deps);
}

class Rooms implements RoomsService {
  readonly store: Store;
  readonly notifier: Notifier;
  private readonly core: EventStore;
  private readonly queue = new KeyedQueue();
  private readonly now: () => number;

  constructor(private readonly deps: RoomsServiceDeps) {
    if (deps.store) this.store = deps.store;
    else if (deps.db) this.store = createStore(deps.db);
    else throw new Error('createRoomsService needs a store or a db');
    this.core = this.store.core;
    const clock = deps.clock;
    this.now = typeof clock === 'function' ? clock : clock ? () => clock.now() : () => Date.now();
    this.notifier = deps.notifier ?? new Notifier((e) => deps.logger?.warn({ err: e }, 'new-events listener failed'));
    this.notifier.advanceTo(this.core.streamPosition);
  }

  // ---- entry points ----

  async createRoom(versionArg: string | RoomVersion, creatorUserId: string, createContent: JsonObject = {}): Promise<CreateRoomResult> {
    const version = toVersion(versionArg);
    this.assertLocalUser(creatorUserId);
    const content: JsonObject = { ...createContent, room_version: version.id };
    if (version.creatorInCreateContent && content.creator === undefined) content.creator = creatorUserId;
    const pdu: JsonObject = {
      auth_events: [],
      content,
      depth: 1,
      origin_server_ts: this.now(),
      prev_events: [],
      sender: creatorUserId,
      state_key: '',
      type: CREATE,
    };
    if (!version.roomIdFromCreateEvent) pdu.room_id = `!${randomId()}:${this.deps.serverName}`;
    if (version.eventIdFormat === 'v1') pdu.event_id = `$${randomId()}:${this.deps.serverName}`;
    // v12: the room ID is the create event's hash, so the same creator asking twice within one
    // millisecond with the same content would name a room that exists: as Synapse does, the
    // timestamp steps back until the ID is free (checked inside the room's queue).
    for (;;) {
      const signed = hashAndSignEvent(pdu, this.deps.serverName, this.deps.signingKey, version);
      const eventId = computeEventId(signed, version);
      const roomId = version.roomIdFromCreateEvent ? roomIdFromCreateEvent(signed, version) : (pdu.room_id as string);
      const result = await this.queue.run(roomId, () => (this.core.eventMetaById(eventId) ? undefined : this.acceptLocal(signed, eventId, version)));
      if (result) return { roomId, eventId, streamOrdering: result.streamOrdering, pdu: signed };
      pdu.origin_server_ts = (pdu.origin_server_ts as number) - 1;
    }
  }

  async sendLocalEvent(roomId: string, input: LocalEventInput): Promise<LocalEventResult> {
    this.assertLocalUser(input.sender);
    return this.queue.run(roomId, () => {
      const room = this.core.room(roomId);
      if (!room || room.currentStateGroup === null) throw new MatrixError('M_NOT_FOUND', `unknown room ${roomId}`, 404);
      const pdu = this.buildLocalEvent(room.nid, roomId, room.version, input);
      const eventId = computeEventId(pdu, room.version);
      return this.acceptLocal(pdu, eventId, room.version);
    });
  }

  async buildEvent(roomId: string, input: LocalEventInput): Promise<BuiltEvent> {
    return this.queue.run(roomId, () => {
      const room = this.core.room(roomId);
      if (!room || room.currentStateGroup === null) throw new MatrixError('M_NOT_FOUND', `unknown room ${roomId}`, 404);
      const pdu = this.buildLocalEvent(room.nid, roomId, room.version, input);
      return { eventId: computeEventId(pdu, room.version), pdu, version: room.version };
    });
  }

  async acceptEvent(pdu: JsonObject, roomVersion: string | RoomVersion, opts: AcceptOptions = {}): Promise<AcceptResult> {
    const version = toVersion(roomVersion);
    // Step 1: the format. (Steps 2 and 3, signatures and the content hash, need the senders' keys:
    // the federation layer runs them before calling; local events are built and signed here.)
    const valid = validatePdu(pdu, version);
    let eventId: string;
    try {
      eventId = opts.eventId ?? computeEventId(pdu, version);
    } catch (e) {
      return { eventId: '', status: 'dropped', reason: (e as Error).message };
    }
    if (!valid.ok) return { eventId, status: 'dropped', reason: valid.error };
    const ev = toRoomEvent(pdu, eventId, version);
    return this.queue.run(ev.roomId, () => {
      const evaluation = this.evaluate(ev, version, opts);
      if (evaluation.kind === 'final') return evaluation.result;
      const outlier = (opts.outlier ?? false) || (opts.outOfBandMembership ?? false);
      return this.persist(ev, version, opts.jsonText ?? JSON.stringify(pdu), outlier, evaluation, opts.backfilled ?? false, opts.outOfBandMembership ?? false, opts.resetRoomState ?? false);
    });
  }

  async acceptOutliers(items: readonly { readonly pdu: JsonObject; readonly jsonText?: string; readonly eventId?: string }[], roomVersion: string | RoomVersion): Promise<AcceptResult[]> {
    const version = toVersion(roomVersion);
    // Step 1 for each, outside the room's queue.
    const prepared = items.map((item): { ev: RoomEvent; jsonText: string } | AcceptResult => {
      const valid = validatePdu(item.pdu, version);
      let eventId: string;
      try {
        eventId = item.eventId ?? computeEventId(item.pdu, version);
      } catch (e) {
        return { eventId: '', status: 'dropped', reason: (e as Error).message };
      }
      if (!valid.ok) return { eventId, status: 'dropped', reason: valid.error };
      return { ev: toRoomEvent(item.pdu, eventId, version), jsonText: item.jsonText ?? JSON.stringify(item.pdu) };
    });
    const first = prepared.find((p): p is { ev: RoomEvent; jsonText: string } => 'ev' in p);
    if (!first) return prepared as AcceptResult[];
    const roomId = first.ev.roomId;
    return this.queue.run(roomId, () =>
      this.core.inOneTransaction(() =>
        prepared.map((p): AcceptResult => {
          if (!('ev' in p)) return p;
          if (p.ev.roomId !== roomId) return { eventId: p.ev.eventId, status: 'dropped', reason: `not in room ${roomId}` };
          const evaluation = this.evaluate(p.ev, version, { outlier: true });
          if (evaluation.kind === 'final') return evaluation.result;
          return this.persist(p.ev, version, p.jsonText, true, evaluation);
        }),
      ),
    );
  }

  // ---- local events ----

  private assertLocalUser(userId: string): void {
    if (serverNameOf(userId) !== this.deps.serverName) {
      throw new MatrixError('M_FORBIDDEN', `${userId} is not a user of this server`, 403);
    }
  }

  /** Runs the same checks as for a received event; a local event that fails them is not stored. */
  private acceptLocal(pdu: JsonObject, eventId: string, version: RoomVersion): LocalEventResult {
    const ev = toRoomEvent(pdu, eventId, version);
    const evaluation = this.evaluate(ev, version, {});
    if (evaluation.kind === 'final') {
      const r = evaluation.result;
      throw new Error(`local event ${eventId} could not be evaluated: ${r.status}${'reason' in r ? ` (${r.reason})` : ''}`);
    }
    if (evaluation.rejectedReason !== null) throw new MatrixError('M_FORBIDDEN', evaluation.rejectedReason, 403);
    const r = this.persist(ev, version, JSON.stringify(pdu), false, evaluation);
    if (r.status !== 'accepted' && r.status !== 'soft_failed') throw new Error(`local event ${eventId} ended ${r.status}`);
    return { eventId, streamOrdering: r.streamOrdering!, status: r.status, pdu };
  }

  /**
   * A new event on the room's current state: prev_events are the forward extremities (at most
   * 20, the deepest), auth_events the current state selected by "Auth events selection", depth one
   * more than the deepest prev event; then the content hash and our signature.
   */
  private buildLocalEvent(roomNid: number, roomId: string, version: RoomVersion, input: LocalEventInput): JsonObject {
    const prevs = this.core
      .forwardExtremityNids(roomNid)
      .map((n) => this.core.eventMeta(n)!)
      .sort((a, b) => b.depth - a.depth || (b.streamOrdering ?? 0) - (a.streamOrdering ?? 0))
      .slice(0, MAX_PREV_EVENTS);
    const depth = Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, ...prevs.map((m) => m.depth)) + 1);
    const keys = authTypesForEvent(input.type, input.stateKey, input.sender, input.content, version);
    const keyNids: number[] = [];
    for (const [t, k] of keys) {
      const nid = this.core.ids.findStateKeyNid(t, k);
      if (nid !== undefined) keyNids.push(nid);
    }
    const found = this.core.currentStateLookup(roomNid, keyNids);
    const authNids = keyNids.filter((k) => found.has(k)).map((k) => found.get(k)!);
    const ref = (nid: number): JsonValue => {
      const id = this.core.ids.eventId(nid);
      if (!version.eventRefsArePairs) return id;
      // v1/v2 reference other events as [event_id, {sha256: reference hash}].
      const ev = this.core.event(nid)!;
      return [id, { sha256: encodeBase64(computeReferenceHash(ev.json, version)) }];
    };
    let content = input.content;
    const pdu: JsonObject = {
      auth_events: authNids.map(ref),
      content,
      depth,
      origin_server_ts: this.now(),
      prev_events: prevs.map((m) => ref(m.nid)),
      room_id: roomId,
      sender: input.sender,
      type: input.type,
    };
    if (input.stateKey !== undefined) pdu.state_key = input.stateKey;
    if (input.redacts !== undefined) {
      if (version.redactsInContent) {
        content = { ...content, redacts: input.redacts };
        pdu.content = content;
      } else {
        pdu.redacts = input.redacts;
      }
    }
    if (version.eventIdFormat === 'v1') pdu.event_id = `$${randomId()}:${this.deps.serverName}`;
    return hashAndSignEvent(pdu, this.deps.serverName, this.deps.signingKey, version);
  }

  // ---- the checks ----

  /**
   * Steps 4-6 of "Checks performed on receipt of a PDU", in order:
   *  4. auth against the event's own auth events (which must be stored; rejected ones reject it);
   *  5. auth against the state before the event: the state after its prev event, or the state
   *     resolved across its prev events when they fork, or opts.stateBefore;
   *  6. auth against the current state of the room: failing only this soft-fails the event.
   * A rejected event still gets the state before it (for its children); it never changes state.
   */
  private evaluate(ev: RoomEvent, version: RoomVersion, opts: AcceptOptions): Evaluation {
    const eventId = ev.eventId;
    const outlier = (opts.outlier ?? false) || (opts.outOfBandMembership ?? false);
    const existing = this.core.eventMetaById(eventId);
    if (existing && (!existing.outlier || outlier)) return { kind: 'final', result: this.existingResult(existing) };

    const room = this.core.room(ev.roomId);
    if (room && room.version.id !== version.id) {
      return final({ eventId, status: 'dropped', reason: `room ${ev.roomId} has version ${room.version.id}, not ${version.id}` });
    }
    if (opts.outOfBandMembership) {
      // Its auth events are the inviting/resident server's business: nothing here to check against.
      if (ev.type !== 'm.room.member' || ev.stateKey === undefined) {
        return final({ eventId, status: 'dropped', reason: 'an out-of-band membership must be an m.room.member event' });
      }
      return { kind: 'persist', rejectedReason: null, softFailReason: null, stateBefore: null };
    }
    const isCreate = isCreateEvent(ev);

    // Step 4: the event's auth events.
    const authIds = [...ev.authEventIds];
    let createId: string | undefined;
    if (version.roomIdFromCreateEvent && !isCreate) {
      try {
        createId = createEventIdOfRoom(ev.roomId);
      } catch {
        return final({ eventId, status: 'dropped', reason: `room ID ${ev.roomId} does not name a create event` });
      }
      if (!authIds.includes(createId)) authIds.push(createId);
    }
    const authEvents: RoomEvent[] = [];
    const missingAuth: string[] = [];
    const authMeta = new Map<string, EventMeta>();
    for (const id of authIds) {
      const meta = this.core.eventMetaById(id);
      if (!meta) {
        missingAuth.push(id);
        continue;
      }
      authMeta.set(id, meta);
      authEvents.push(this.core.event(meta.nid)!);
    }
    if (missingAuth.length > 0) {
      return final({
        eventId,
        status: 'missing',
        reason: `auth events not stored: ${missingAuth.join(', ')}`,
        missingAuthEvents: missingAuth,
        missingPrevEvents: [],
        missingStateEvents: [],
      });
    }
    let rejectedReason: string | null = null;
    const listCheck = checkAuthEventsList(ev, authEvents, version, {
      isRejected: (id) => (authMeta.get(id)?.rejectedReason ?? null) !== null,
    });
    if (!listCheck.allowed) rejectedReason = `auth events: ${listCheck.rule}: ${listCheck.reason}`;
    else {
      const r = checkAuth(ev, authEvents, version);
      if (!r.allowed) rejectedReason = `auth events: ${r.rule}: ${r.reason}`;
    }

    if (outlier) return { kind: 'persist', rejectedReason, softFailReason: null, stateBefore: null };

    // Step 5: the state before the event.
    const before = this.stateBefore(ev, version, isCreate, opts.stateBefore);
    if ('result' in before) return final(before.result);
    const stateBefore = before.state;
    const keyNids = this.authKeyNids(ev, version);
    if (rejectedReason === null && !isCreate) {
      const r = checkAuth(ev, this.authEventsIn(stateBefore, keyNids, room), version);
      if (!r.allowed) rejectedReason = `state before: ${r.rule}: ${r.reason}`;
    }

    // Step 6: the current state (resolved across the forward extremities). Identical to step 5
    // when the event was built on the current state, as every local event is.
    let softFailReason: string | null = null;
    if (rejectedReason === null && !isCreate && !opts.backfilled && !opts.resetRoomState && room && room.currentStateGroup !== null) {
      const same = 'group' in stateBefore && stateBefore.group === room.currentStateGroup;
      if (!same) {
        const found = this.core.currentStateLookup(room.nid, keyNids);
        const r = checkAuth(ev, [...found.values()].map((n) => this.core.event(n)!), version);
        if (!r.allowed) softFailReason = `current state: ${r.rule}: ${r.reason}`;
      }
    }
    return { kind: 'persist', rejectedReason, softFailReason, stateBefore };
  }

  private existingResult(m: EventMeta): AcceptResult {
    const so = m.streamOrdering ?? undefined;
    if (m.rejectedReason !== null) return { eventId: m.eventId, status: 'rejected', reason: m.rejectedReason, streamOrdering: so, duplicate: true };
    if (m.softFailed) return { eventId: m.eventId, status: 'soft_failed', reason: 'soft failed earlier', streamOrdering: so, duplicate: true };
    return { eventId: m.eventId, status: 'accepted', streamOrdering: so, duplicate: true };
  }

  /** The state keys the auth rules read for this event, interned ones only (others are absent). */
  private authKeyNids(ev: RoomEvent, version: RoomVersion): number[] {
    const keys = authTypesForEvent(ev.type, ev.stateKey, ev.sender, ev.content, version);
    // The rules always need the create event; v12 does not list it among the selected types.
    if (!keys.some(([t, k]) => t === CREATE && k === '')) keys.unshift([CREATE, '']);
    const out: number[] = [];
    for (const [t, k] of keys) {
      const nid = this.core.ids.findStateKeyNid(t, k);
      if (nid !== undefined) out.push(nid);
    }
    return out;
  }

  private authEventsIn(state: StateRef, keyNids: readonly number[], room: RoomRow | undefined): RoomEvent[] {
    let found: ReadonlyMap<number, number>;
    if (room && 'group' in state && state.group !== null && state.group === room.currentStateGroup) {
      // The usual case (every local event, most remote ones): indexed lookups in current_state
      // instead of reading the group's delta chain.
      found = this.core.currentStateLookup(room.nid, keyNids);
    } else if ('map' in state) {
      const m = new Map<number, number>();
      for (const k of keyNids) {
        const v = state.map.get(k);
        if (v !== undefined) m.set(k, v);
      }
      found = m;
    } else if (state.group === null) {
      found = new Map();
    } else {
      found = this.core.groups.lookup(state.group, keyNids);
    }
    return [...found.values()].map((n) => this.core.event(n)!);
  }

  private stateBefore(
    ev: RoomEvent,
    version: RoomVersion,
    isCreate: boolean,
    supplied: StateMap | undefined,
  ): { state: StateRef } | { result: AcceptResult } {
    if (isCreate) return { state: { group: null } };
    const prevMetas: EventMeta[] = [];
    const missingPrev: string[] = [];
    for (const id of ev.prevEventIds) {
      const m = this.core.eventMetaById(id);
      if (!m || m.outlier || m.stateGroupAfter === null) missingPrev.push(id);
      else prevMetas.push(m);
    }
    if (supplied) {
      const map = new Map<number, number>();
      const missing: string[] = [];
      for (const [tuple, id] of supplied) {
        const nid = this.core.ids.findEventNid(id);
        if (nid === undefined || !this.core.eventMeta(nid)) missing.push(id);
        else map.set(this.core.ids.stateKeyNidForTuple(tuple), nid);
      }
      if (missing.length > 0) {
        return {
          result: {
            eventId: ev.eventId,
            status: 'missing',
            reason: `state events not stored: ${missing.join(', ')}`,
            missingAuthEvents: [],
            missingPrevEvents: [],
            missingStateEvents: missing,
          },
        };
      }
      // Stored as a delta against the state after the deepest prev event we have, if any.
      const parent = prevMetas.sort((a, b) => b.depth - a.depth)[0]?.stateGroupAfter ?? null;
      return { state: { map, parentGroup: parent } };
    }
    if (missingPrev.length > 0) {
      return {
        result: {
          eventId: ev.eventId,
          status: 'missing',
          reason: `prev events without state: ${missingPrev.join(', ')}`,
          missingAuthEvents: [],
          missingPrevEvents: missingPrev,
          missingStateEvents: [],
        },
      };
    }
    const groups = [...new Set(prevMetas.map((m) => m.stateGroupAfter!))];
    if (groups.length === 0) return { state: { group: null } }; // no prev events: only the create event may do that
    if (groups.length === 1) return { state: { group: groups[0]! } };
    const parent = prevMetas.sort((a, b) => b.depth - a.depth)[0]!.stateGroupAfter;
    return { state: { map: this.resolve(version, groups.map((g) => this.core.groups.materialize(g))), parentGroup: parent } };
  }

  /** State resolution (the room version's algorithm) over states given as nid maps. */
  private resolve(version: RoomVersion, states: readonly StateNids[], pending?: RoomEvent): Map<number, number> {
    const sets = states.map((s) => this.toStateMap(s));
    const core = this.core;
    // `pending` is the event being persisted, which may sit in one of the states but is not stored yet.
    const chainOf = (id: string, out: Set<string>): void => {
      const nid = core.ids.findEventNid(id);
      if (nid !== undefined) for (const a of core.authChainNids(nid)) out.add(core.ids.eventId(a));
    };
    const io: StateResolutionInput = {
      getEvent: (id) => (pending && id === pending.eventId ? pending : core.eventById(id)),
      getAuthChain: (ids) => {
        const out = new Set<string>();
        for (const id of ids) {
          if (pending && id === pending.eventId) {
            for (const a of pending.authEventIds) {
              out.add(a);
              chainOf(a, out);
            }
            continue;
          }
          const nid = core.ids.findEventNid(id);
          if (nid === undefined) continue;
          for (const a of core.authChainNids(nid)) out.add(core.ids.eventId(a));
        }
        return out;
      },
      isRejected: (id) => (core.eventMetaById(id)?.rejectedReason ?? null) !== null,
    };
    const resolved = resolveState(version, sets, io);
    const out = new Map<number, number>();
    for (const [tuple, id] of resolved) out.set(core.ids.stateKeyNidForTuple(tuple), core.ids.eventNid(id));
    return out;
  }

  private toStateMap(s: StateNids): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of s) out.set(this.core.ids.stateTuple(k), this.core.ids.eventId(v));
    return out;
  }

  private materializeRef(s: StateRef): StateNids {
    if ('map' in s) return s.map;
    return s.group === null ? new Map() : this.core.groups.materialize(s.group);
  }

  // ---- persisting ----

  private persist(
    ev: RoomEvent,
    version: RoomVersion,
    jsonText: string,
    outlier: boolean,
    e: Extract<Evaluation, { kind: 'persist' }>,
    backfilled = false,
    outOfBandMembership = false,
    resetRoomState = false,
  ): AcceptResult {
    const room = this.core.room(ev.roomId);
    const accepted = !outlier && e.rejectedReason === null && e.softFailReason === null;
    let forwardExtremities: string[] | undefined;
    let currentState: 'unchanged' | 'after_event' | StateInput = 'unchanged';
    if (accepted && resetRoomState) {
      forwardExtremities = [ev.eventId];
      currentState = 'after_event';
    } else if (accepted && !backfilled) {
      const plan = this.planExtremitiesAndCurrentState(ev, room?.nid, room?.currentStateGroup ?? null, e.stateBefore!, version);
      forwardExtremities = plan.extremities;
      currentState = plan.currentState;
    }
    const stateBefore = e.stateBefore === null ? null : toStateInput(e.stateBefore);
    const result = this.core.persistEvent({
      roomId: ev.roomId,
      roomVersion: version,
      event: ev,
      jsonText,
      outlier,
      rejectedReason: e.rejectedReason,
      softFailed: e.softFailReason !== null,
      stateBefore,
      forwardExtremities,
      currentState,
      receivedTs: this.now(),
      backfilled: backfilled && !outlier,
      ...(outOfBandMembership ? { outOfBandMembership: true } : {}),
    });
    const so = result.streamOrdering ?? undefined;
    if ((accepted || outOfBandMembership) && !backfilled && so !== undefined) this.notifier.publishNewEvents(ev.roomId, so);
    // An out-of-band membership is in no room timeline: its target's /sync is woken directly.
    if (outOfBandMembership && ev.stateKey !== undefined) this.notifier.wakeUsers([ev.stateKey]);
    if (e.rejectedReason !== null) {
      this.deps.logger?.info({ roomId: ev.roomId, eventId: ev.eventId, reason: e.rejectedReason }, 'event rejected');
      return { eventId: ev.eventId, status: 'rejected', reason: e.rejectedReason, streamOrdering: so };
    }
    if (e.softFailReason !== null) {
      this.deps.logger?.info({ roomId: ev.roomId, eventId: ev.eventId, reason: e.softFailReason }, 'event soft-failed');
      return { eventId: ev.eventId, status: 'soft_failed', reason: e.softFailReason, streamOrdering: so };
    }
    return { eventId: ev.eventId, status: 'accepted', streamOrdering: so };
  }

  /**
   * An accepted event replaces its prev events among the forward extremities and becomes one
   * itself (unless an accepted event already lists it: it arrived late). The current state is
   * the state after the single extremity, or the resolution of the states after all of them.
   */
  private planExtremitiesAndCurrentState(
    ev: RoomEvent,
    roomNid: number | undefined,
    currentGroup: number | null,
    before: StateRef,
    version: RoomVersion,
  ): { extremities: string[]; currentState: 'unchanged' | 'after_event' | StateInput } {
    const prevIds = new Set(ev.prevEventIds);
    const old = roomNid === undefined ? [] : this.core.forwardExtremityNids(roomNid).map((n) => this.core.ids.eventId(n));
    const next = old.filter((id) => !prevIds.has(id));
    const selfNid = this.core.ids.findEventNid(ev.eventId);
    const selfIsExtremity = selfNid === undefined || !this.core.hasAcceptedChildren(selfNid);
    if (selfIsExtremity) next.push(ev.eventId);
    if (selfIsExtremity && next.length === 1) return { extremities: next, currentState: 'after_event' };
    if (!selfIsExtremity && next.length === old.length) return { extremities: next, currentState: 'unchanged' };

    // The states after each extremity: groups for stored events; for this one, the state before
    // it plus itself (a map, as its own group is only written by persistEvent).
    const groups = new Set<number>();
    const maps: StateNids[] = [];
    for (const id of next) {
      if (id !== ev.eventId) {
        groups.add(this.core.eventMetaById(id)!.stateGroupAfter!);
      } else if (ev.stateKey === undefined && 'group' in before && before.group !== null) {
        groups.add(before.group);
      } else {
        const m = new Map(this.materializeRef(before));
        if (ev.stateKey !== undefined) {
          m.set(this.core.ids.stateKeyNid(ev.type, ev.stateKey), this.core.ids.eventNid(ev.eventId));
        }
        maps.push(m);
      }
    }
    if (maps.length === 0 && groups.size === 1) {
      const g = [...groups][0]!;
      return { extremities: next, currentState: g === currentGroup ? 'unchanged' : { group: g } };
    }
    const states = [...[...groups].map((g) => this.core.groups.materialize(g)), ...maps];
    const resolved = states.length === 1 ? states[0]! : this.resolve(version, states, ev);
    return { extremities: next, currentState: { state: resolved, parentGroup: currentGroup } };
  }
}

function toStateInput(s: StateRef): StateInput | null {
  if ('map' in s) return { state: s.map, parentGroup: s.parentGroup };
  return s.group === null ? null : { group: s.group };
}

function final(result: AcceptResult): Evaluation {
  return { kind: 'final', result };
}

function randomId(): string {
  return randomBytes(12).toString('base64url');
}
