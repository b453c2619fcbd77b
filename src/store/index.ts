// The room store: createStore(db) and the async-shaped read API other areas use (events, state, members, streams).
// Writes go only through rooms/ (EventStore.persistEvent); build ONE store per database and share it,
// since its caches must see every write.
import type { Database } from './db.js';
import { EventStore, type EventMeta } from './event-store.js';
import type { RoomEvent } from '../core/events/event.js';
import type { StateMap } from '../core/state/types.js';
import type { StateKeyTuple } from '../core/events/event.js';

export type { Database } from './db.js';
export { openDatabase } from './db.js';
export type { DerivedWriter, EventMeta, PersistedEventInfo, PersistEventInput, PersistEventResult, StateInput } from './event-store.js';

/** A stored event with its bookkeeping. */
export interface StoredEvent {
  readonly eventId: string;
  readonly roomId: string;
  /** Parsed view (shared with the cache: never mutate). */
  readonly event: RoomEvent;
  /** The PDU text exactly as received or built. */
  readonly jsonText: string;
  /** Position in the event stream; null for outliers. */
  readonly streamOrdering: number | null;
  readonly depth: number;
  readonly outlier: boolean;
  readonly rejectedReason: string | null;
  readonly softFailed: boolean;
}

export interface MemberRow {
  readonly userId: string;
  readonly membership: string;
  readonly eventId: string;
  readonly streamOrdering: number;
}

export interface StateDeltaRow {
  readonly streamOrdering: number;
  readonly roomId: string;
  readonly type: string;
  readonly stateKey: string;
  /** The event now in the state, or null when the entry left it. */
  readonly eventId: string | null;
  readonly prevEventId: string | null;
}

export interface StreamRangeQuery {
  /** Exclusive lower bound. */
  readonly from: number;
  /** Inclusive upper bound (default: the current position). */
  readonly to?: number;
  readonly roomId?: string;
  readonly limit?: number;
  /** 'f' oldest first (default), 'b' newest first. */
  readonly direction?: 'f' | 'b';
}

export interface TopologicalPosition {
  readonly depth: number;
  readonly streamOrdering: number;
}

export interface TopologyQuery {
  readonly from?: TopologicalPosition;
  readonly direction: 'f' | 'b';
  readonly limit: number;
}

export interface Store {
  readonly db: Database;
  /** The synchronous core, for rooms/ (the writer) and state resolution. */
  readonly core: EventStore;

  /** The highest stream ordering persisted. */
  currentStreamPosition(): number;
  getRoomVersion(roomId: string): Promise<string | undefined>;
  /** Any stored event, outliers, rejected and soft-failed ones included (check the flags). */
  getEvent(eventId: string): Promise<StoredEvent | undefined>;
  getEvents(eventIds: readonly string[]): Promise<StoredEvent[]>;
  /** The stored PDU text, byte for byte as received or built. */
  getEventJson(eventId: string): Promise<string | undefined>;
  /** State before / after an event (undefined for outliers and unknown events). */
  getStateIdsBefore(eventId: string): Promise<StateMap | undefined>;
  getStateIdsAfter(eventId: string): Promise<StateMap | undefined>;
  getCurrentStateIds(roomId: string): Promise<StateMap>;
  getCurrentStateEvent(roomId: string, type: string, stateKey: string): Promise<StoredEvent | undefined>;
  /** Current state events, optionally only of some types. */
  getCurrentStateEvents(roomId: string, types?: readonly string[]): Promise<StoredEvent[]>;
  getForwardExtremities(roomId: string): Promise<string[]>;
  /** Events visible to clients (not outliers, rejected or soft-failed) in a stream range. */
  getEventsByStream(q: StreamRangeQuery): Promise<StoredEvent[]>;
  /**
   * A room's visible events in topological order (depth, stream_ordering), for /messages:
   * strictly after (direction 'f') or before ('b') the position `from` (default: the start or
   * the end of the room).
   */
  getEventsByTopology(roomId: string, q: TopologyQuery): Promise<StoredEvent[]>;
  /** Current-state changes in (from, to], optionally of one room, in stream order. */
  getStateDeltas(from: number, to: number, roomId?: string): Promise<StateDeltaRow[]>;
  getMembership(roomId: string, userId: string): Promise<MemberRow | undefined>;
  getRoomMembers(roomId: string, membership?: string): Promise<MemberRow[]>;
  /** Rooms where the user's current membership is `membership` (default join). */
  getRoomsForUser(userId: string, membership?: string): Promise<string[]>;
  /** The auth chain of the events (their auth events, transitively; not the events themselves). */
  getAuthChainIds(eventIds: readonly string[]): Promise<string[]>;

  // ---- reads for serving events to clients (sync/) ----

  /**
   * Some (type, state_key) entries of the state before each event, read from the state group
   * deltas without materialising whole states (events sharing a group are looked up once).
   * Events without state (outliers, unknown) are absent from the result.
   */
  getStateEntriesBefore(
    eventIds: readonly string[],
    keys: readonly (readonly [type: string, stateKey: string])[],
  ): Promise<Map<string, Map<StateKeyTuple, string>>>;
  /** For each state event: the event its (type, state_key) held in the state before it (what it replaced). */
  getReplacedStateIds(eventIds: readonly string[]): Promise<Map<string, string>>;
  /** Accepted redactions (not outliers, rejected or soft-failed) of these events, oldest first, by redacted event. */
  getRedactionsOf(eventIds: readonly string[]): Promise<Map<string, StoredEvent[]>>;
  /** Every room in which the user has a membership (any value), with that membership's event. */
  getMembershipsForUser(userId: string): Promise<(MemberRow & { readonly roomId: string })[]>;
  /** Every user joined to some room the user is joined to (the user included): whose presence they see. */
  getUsersSharingRoomsWith(userId: string): Promise<string[]>;
  /** Rooms with visible events in the stream range (from, to], with the last such position in each. */
  getRoomsWithEventsIn(from: number, to: number): Promise<Map<string, number>>;
  /**
   * Member counts per membership, and the first `heroLimit` joined or invited users other than
   * `userId` by stream order (left or banned ones when there are none): the room summary's heroes.
   */
  getRoomSummaryData(roomId: string, userId: string, heroLimit: number): Promise<{ counts: Map<string, number>; heroes: string[] }>;
}

const storesByDb = new WeakMap<Database, Store>();

/**
 * The store of a database. One instance per database handle (repeated calls return the same one),
 * so the writer and every reader share caches that see each write.
 */
export function createStore(db: Database): Store {
  let store = storesByDb.get(db);
  if (!store) {
    store = new SqliteStore(db);
    storesByDb.set(db, store);
  }
  return store;
}

class SqliteStore implements Store {
  readonly core: EventStore;
  private readonly q;

  constructor(readonly db: Database) {
    this.core = new EventStore(db);
    this.q = {
      streamAll: db.prepare<[number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering ASC LIMIT ?`,
      ),
      streamAllDesc: db.prepare<[number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering DESC LIMIT ?`,
      ),
      streamRoom: db.prepare<[number, number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE room_nid = ? AND stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering ASC LIMIT ?`,
      ),
      streamRoomDesc: db.prepare<[number, number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE room_nid = ? AND stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering DESC LIMIT ?`,
      ),
      topoForward: db.prepare<[number, number, number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE room_nid = ? AND stream_ordering IS NOT NULL
           AND (depth > ? OR (depth = ? AND stream_ordering > ?))
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
         ORDER BY depth ASC, stream_ordering ASC LIMIT ?`,
      ),
      topoBackward: db.prepare<[number, number, number, number, number], { event_nid: number }>(
        `SELECT event_nid FROM events WHERE room_nid = ? AND stream_ordering IS NOT NULL
           AND (depth < ? OR (depth = ? AND stream_ordering < ?))
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0
         ORDER BY depth DESC, stream_ordering DESC LIMIT ?`,
      ),
      deltas: db.prepare<[number, number], DeltaDb>(
        `SELECT d.stream_ordering, r.room_id, k.type, k.state_key, d.event_nid, d.prev_event_nid
         FROM current_state_delta_stream d JOIN rooms r ON r.room_nid = d.room_nid JOIN state_keys k ON k.state_key_nid = d.state_key_nid
         WHERE d.stream_ordering > ? AND d.stream_ordering <= ? ORDER BY d.stream_ordering, d.state_key_nid`,
      ),
      deltasRoom: db.prepare<[number, number, number], DeltaDb>(
        `SELECT d.stream_ordering, r.room_id, k.type, k.state_key, d.event_nid, d.prev_event_nid
         FROM current_state_delta_stream d JOIN rooms r ON r.room_nid = d.room_nid JOIN state_keys k ON k.state_key_nid = d.state_key_nid
         WHERE d.room_nid = ? AND d.stream_ordering > ? AND d.stream_ordering <= ? ORDER BY d.stream_ordering, d.state_key_nid`,
      ),
      member: db.prepare<[number, string], MemberDb>(
        'SELECT user_id, membership, event_nid, stream_ordering FROM room_memberships WHERE room_nid = ? AND user_id = ?',
      ),
      members: db.prepare<[number], MemberDb>(
        'SELECT user_id, membership, event_nid, stream_ordering FROM room_memberships WHERE room_nid = ? ORDER BY user_id',
      ),
      membersWith: db.prepare<[number, string], MemberDb>(
        'SELECT user_id, membership, event_nid, stream_ordering FROM room_memberships WHERE room_nid = ? AND membership = ? ORDER BY user_id',
      ),
      membershipsOfUser: db.prepare<[string], MemberDb & { room_nid: number }>(
        'SELECT room_nid, user_id, membership, event_nid, stream_ordering FROM room_memberships WHERE user_id = ?',
      ),
      sharingRooms: db.prepare<[string], string>(
        `SELECT DISTINCT other.user_id FROM room_memberships mine
           JOIN room_memberships other ON other.room_nid = mine.room_nid AND other.membership = 'join'
         WHERE mine.user_id = ? AND mine.membership = 'join'`,
      ).pluck(),
      redactionsOf: db.prepare<[string], { event_nid: number; redacts_nid: number }>(
        `SELECT event_nid, redacts_nid FROM events WHERE redacts_nid IN (SELECT value FROM json_each(?))
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 ORDER BY stream_ordering`,
      ),
      roomsWithEvents: db.prepare<[number, number], { room_nid: number; last: number }>(
        `SELECT room_nid, MAX(stream_ordering) AS last FROM events WHERE stream_ordering > ? AND stream_ordering <= ?
           AND outlier = 0 AND rejected_reason IS NULL AND soft_failed = 0 GROUP BY room_nid`,
      ),
      memberCounts: db.prepare<[number], { membership: string; n: number }>(
        'SELECT membership, COUNT(*) AS n FROM room_memberships WHERE room_nid = ? GROUP BY membership',
      ),
      heroes: db.prepare<[number, string, number], string>(
        `SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership IN ('join', 'invite') AND user_id != ?
         ORDER BY stream_ordering LIMIT ?`,
      ).pluck(),
      heroesGone: db.prepare<[number, string, number], string>(
        `SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership IN ('leave', 'ban') AND user_id != ?
         ORDER BY stream_ordering LIMIT ?`,
      ).pluck(),
      roomsForUser: db.prepare<[string, string], string>(
        `SELECT r.room_id FROM room_memberships m JOIN rooms r ON r.room_nid = m.room_nid
         WHERE m.user_id = ? AND m.membership = ? ORDER BY r.room_id`,
      ).pluck(),
    };
  }

  currentStreamPosition(): number {
    return this.core.streamPosition;
  }

  async getRoomVersion(roomId: string): Promise<string | undefined> {
    return this.core.room(roomId)?.version.id;
  }

  private stored(meta: EventMeta): StoredEvent | undefined {
    const event = this.core.event(meta.nid);
    if (!event) return undefined;
    // The PDU text is read on first use only: serving events to clients (sync, /messages) works
    // from the parsed view and never needs it, and it is one query per event.
    const core = this.core;
    let jsonText: string | undefined;
    return {
      eventId: meta.eventId,
      roomId: core.roomByNid(meta.roomNid).roomId,
      event,
      get jsonText(): string {
        return (jsonText ??= core.eventJsonText(meta.nid) ?? JSON.stringify(event.json));
      },
      streamOrdering: meta.streamOrdering,
      depth: meta.depth,
      outlier: meta.outlier,
      rejectedReason: meta.rejectedReason,
      softFailed: meta.softFailed,
    };
  }

  private storedByNid(nid: number): StoredEvent | undefined {
    const meta = this.core.eventMeta(nid);
    return meta ? this.stored(meta) : undefined;
  }

  async getEvent(eventId: string): Promise<StoredEvent | undefined> {
    const meta = this.core.eventMetaById(eventId);
    return meta ? this.stored(meta) : undefined;
  }

  async getEvents(eventIds: readonly string[]): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    for (const id of eventIds) {
      const meta = this.core.eventMetaById(id);
      const s = meta && this.stored(meta);
      if (s) out.push(s);
    }
    return out;
  }

  async getEventJson(eventId: string): Promise<string | undefined> {
    const nid = this.core.ids.findEventNid(eventId);
    return nid === undefined ? undefined : this.core.eventJsonText(nid);
  }

  private stateMapOfGroup(group: number | null): StateMap {
    const out = new Map<string, string>();
    if (group === null) return out;
    for (const [k, v] of this.core.groups.materialize(group)) out.set(this.core.ids.stateTuple(k), this.core.ids.eventId(v));
    return out;
  }

  async getStateIdsBefore(eventId: string): Promise<StateMap | undefined> {
    const meta = this.core.eventMetaById(eventId);
    if (!meta || meta.outlier) return undefined;
    return this.stateMapOfGroup(meta.stateGroupBefore);
  }

  async getStateIdsAfter(eventId: string): Promise<StateMap | undefined> {
    const meta = this.core.eventMetaById(eventId);
    if (!meta || meta.outlier) return undefined;
    return this.stateMapOfGroup(meta.stateGroupAfter);
  }

  async getCurrentStateIds(roomId: string): Promise<StateMap> {
    const room = this.core.room(roomId);
    const out = new Map<string, string>();
    if (!room) return out;
    for (const [k, v] of this.core.currentStateAll(room.nid)) out.set(this.core.ids.stateTuple(k), this.core.ids.eventId(v));
    return out;
  }

  async getCurrentStateEvent(roomId: string, type: string, stateKey: string): Promise<StoredEvent | undefined> {
    const room = this.core.room(roomId);
    const key = this.core.ids.findStateKeyNid(type, stateKey);
    if (!room || key === undefined) return undefined;
    const nid = this.core.currentStateLookup(room.nid, [key]).get(key);
    return nid === undefined ? undefined : this.storedByNid(nid);
  }

  async getCurrentStateEvents(roomId: string, types?: readonly string[]): Promise<StoredEvent[]> {
    const room = this.core.room(roomId);
    if (!room) return [];
    const wanted = types ? new Set(types) : undefined;
    const out: StoredEvent[] = [];
    for (const [k, v] of this.core.currentStateAll(room.nid)) {
      if (wanted) {
        const tuple = this.core.ids.stateTuple(k);
        if (!wanted.has(tuple.slice(0, tuple.indexOf('\u0000')))) continue;
      }
      const s = this.storedByNid(v);
      if (s) out.push(s);
    }
    return out;
  }

  async getForwardExtremities(roomId: string): Promise<string[]> {
    const room = this.core.room(roomId);
    if (!room) return [];
    return this.core.forwardExtremityNids(room.nid).map((n) => this.core.ids.eventId(n));
  }

  async getEventsByStream(q: StreamRangeQuery): Promise<StoredEvent[]> {
    const to = q.to ?? this.core.streamPosition;
    const limit = Math.max(0, Math.min(q.limit ?? 1000, 100_000));
    const back = q.direction === 'b';
    let rows: { event_nid: number }[];
    if (q.roomId !== undefined) {
      const room = this.core.room(q.roomId);
      if (!room) return [];
      rows = (back ? this.q.streamRoomDesc : this.q.streamRoom).all(room.nid, q.from, to, limit);
    } else {
      rows = (back ? this.q.streamAllDesc : this.q.streamAll).all(q.from, to, limit);
    }
    const out: StoredEvent[] = [];
    for (const r of rows) {
      const s = this.storedByNid(r.event_nid);
      if (s) out.push(s);
    }
    return out;
  }

  async getEventsByTopology(roomId: string, q: TopologyQuery): Promise<StoredEvent[]> {
    const room = this.core.room(roomId);
    if (!room) return [];
    const limit = Math.max(0, Math.min(q.limit, 100_000));
    const rows =
      q.direction === 'f'
        ? this.q.topoForward.all(room.nid, q.from?.depth ?? -1, q.from?.depth ?? -1, q.from?.streamOrdering ?? -1, limit)
        : this.q.topoBackward.all(
            room.nid,
            q.from?.depth ?? Number.MAX_SAFE_INTEGER,
            q.from?.depth ?? Number.MAX_SAFE_INTEGER,
            q.from?.streamOrdering ?? Number.MAX_SAFE_INTEGER,
            limit,
          );
    const out: StoredEvent[] = [];
    for (const r of rows) {
      const s = this.storedByNid(r.event_nid);
      if (s) out.push(s);
    }
    return out;
  }

  async getStateDeltas(from: number, to: number, roomId?: string): Promise<StateDeltaRow[]> {
    let rows: DeltaDb[];
    if (roomId !== undefined) {
      const room = this.core.room(roomId);
      if (!room) return [];
      rows = this.q.deltasRoom.all(room.nid, from, to);
    } else {
      rows = this.q.deltas.all(from, to);
    }
    return rows.map((r) => ({
      streamOrdering: r.stream_ordering,
      roomId: r.room_id,
      type: r.type,
      stateKey: r.state_key,
      eventId: r.event_nid === null ? null : this.core.ids.eventId(r.event_nid),
      prevEventId: r.prev_event_nid === null ? null : this.core.ids.eventId(r.prev_event_nid),
    }));
  }

  private member(r: MemberDb): MemberRow {
    return { userId: r.user_id, membership: r.membership, eventId: this.core.ids.eventId(r.event_nid), streamOrdering: r.stream_ordering };
  }

  async getMembership(roomId: string, userId: string): Promise<MemberRow | undefined> {
    const room = this.core.room(roomId);
    if (!room) return undefined;
    const r = this.q.member.get(room.nid, userId);
    return r ? this.member(r) : undefined;
  }

  async getRoomMembers(roomId: string, membership?: string): Promise<MemberRow[]> {
    const room = this.core.room(roomId);
    if (!room) return [];
    const rows = membership === undefined ? this.q.members.all(room.nid) : this.q.membersWith.all(room.nid, membership);
    return rows.map((r) => this.member(r));
  }

  async getRoomsForUser(userId: string, membership = 'join'): Promise<string[]> {
    return this.q.roomsForUser.all(userId, membership);
  }

  async getAuthChainIds(eventIds: readonly string[]): Promise<string[]> {
    const out = new Set<number>();
    for (const id of eventIds) {
      const nid = this.core.ids.findEventNid(id);
      if (nid !== undefined) for (const a of this.core.authChainNids(nid)) out.add(a);
    }
    return [...out].map((n) => this.core.ids.eventId(n));
  }

  async getStateEntriesBefore(
    eventIds: readonly string[],
    keys: readonly (readonly [type: string, stateKey: string])[],
  ): Promise<Map<string, Map<StateKeyTuple, string>>> {
    const keyNids: number[] = [];
    for (const [t, k] of keys) {
      const nid = this.core.ids.findStateKeyNid(t, k);
      if (nid !== undefined) keyNids.push(nid);
    }
    const out = new Map<string, Map<StateKeyTuple, string>>();
    const byGroup = new Map<number | null, Map<StateKeyTuple, string>>();
    for (const id of eventIds) {
      const meta = this.core.eventMetaById(id);
      if (!meta || meta.outlier) continue;
      const group = meta.stateGroupBefore;
      let entries = byGroup.get(group);
      if (!entries) {
        entries = new Map();
        if (group !== null && keyNids.length > 0) {
          for (const [k, v] of this.core.groups.lookup(group, keyNids)) entries.set(this.core.ids.stateTuple(k), this.core.ids.eventId(v));
        }
        byGroup.set(group, entries);
      }
      out.set(id, entries);
    }
    return out;
  }

  async getReplacedStateIds(eventIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const id of eventIds) {
      const meta = this.core.eventMetaById(id);
      if (!meta || meta.outlier || meta.stateKeyNid === null || meta.stateGroupBefore === null) continue;
      const prev = this.core.groups.lookup(meta.stateGroupBefore, [meta.stateKeyNid]).get(meta.stateKeyNid);
      if (prev !== undefined) out.set(id, this.core.ids.eventId(prev));
    }
    return out;
  }

  async getRedactionsOf(eventIds: readonly string[]): Promise<Map<string, StoredEvent[]>> {
    const out = new Map<string, StoredEvent[]>();
    const nids: number[] = [];
    for (const id of eventIds) {
      const nid = this.core.ids.findEventNid(id);
      if (nid !== undefined) nids.push(nid);
    }
    if (nids.length === 0) return out;
    for (const r of this.q.redactionsOf.all(JSON.stringify(nids))) {
      const s = this.storedByNid(r.event_nid);
      if (!s) continue;
      const target = this.core.ids.eventId(r.redacts_nid);
      const list = out.get(target);
      if (list) list.push(s);
      else out.set(target, [s]);
    }
    return out;
  }

  async getMembershipsForUser(userId: string): Promise<(MemberRow & { readonly roomId: string })[]> {
    return this.q.membershipsOfUser.all(userId).map((r) => ({ ...this.member(r), roomId: this.core.roomByNid(r.room_nid).roomId }));
  }

  async getUsersSharingRoomsWith(userId: string): Promise<string[]> {
    return this.q.sharingRooms.all(userId);
  }

  async getRoomsWithEventsIn(from: number, to: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    if (to <= from) return out;
    for (const r of this.q.roomsWithEvents.all(from, to)) out.set(this.core.roomByNid(r.room_nid).roomId, r.last);
    return out;
  }

  async getRoomSummaryData(roomId: string, userId: string, heroLimit: number): Promise<{ counts: Map<string, number>; heroes: string[] }> {
    const room = this.core.room(roomId);
    const counts = new Map<string, number>();
    if (!room) return { counts, heroes: [] };
    for (const r of this.q.memberCounts.all(room.nid)) counts.set(r.membership, r.n);
    let heroes = this.q.heroes.all(room.nid, userId, heroLimit);
    if (heroes.length === 0) heroes = this.q.heroesGone.all(room.nid, userId, heroLimit);
    return { counts, heroes };
  }
}

interface DeltaDb {
  stream_ordering: number;
  room_id: string;
  type: string;
  state_key: string;
  event_nid: number | null;
  prev_event_nid: number | null;
}

interface MemberDb {
  user_id: string;
  membership: string;
  event_nid: number;
  stream_ordering: number;
}
