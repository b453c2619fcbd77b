// The synchronous core of the room store: event rows, edges, rooms, current state, and persistEvent.
// Only rooms/ calls the writing function; everything else reads through src/store/index.ts.
import { createLru } from '../core/lru.js';
import type { Transaction } from 'better-sqlite3';
import type { Database } from './db.js';
import { Interning } from './interning.js';
import { StateGroups, type StateNids } from './state-groups.js';
import { toRoomEvent, type RoomEvent } from '../core/events/event.js';
import { requireRoomVersion, type RoomVersion } from '../core/events/room-versions.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';

export interface RoomRow {
  readonly nid: number;
  readonly roomId: string;
  readonly version: RoomVersion;
  /** The group equal to the current state, or null before the first non-outlier event. */
  readonly currentStateGroup: number | null;
}

export interface EventMeta {
  readonly nid: number;
  readonly eventId: string;
  readonly roomNid: number;
  readonly type: string;
  readonly stateKeyNid: number | null;
  readonly sender: string;
  readonly depth: number;
  readonly streamOrdering: number | null;
  readonly outlier: boolean;
  readonly rejectedReason: string | null;
  readonly softFailed: boolean;
  readonly stateGroupBefore: number | null;
  readonly stateGroupAfter: number | null;
}

/** A state to persist: an existing group, or a full state stored as a delta against `parentGroup`. */
export type StateInput =
  | { readonly group: number }
  | { readonly state: StateNids; readonly parentGroup: number | null };

export interface PersistEventInput {
  readonly roomId: string;
  readonly roomVersion: RoomVersion;
  /** The view of the event; its `json` is only read, never re-serialised. */
  readonly event: RoomEvent;
  /** The PDU text exactly as received or built: stored and served as is. */
  readonly jsonText: string;
  readonly outlier: boolean;
  readonly rejectedReason: string | null;
  readonly softFailed: boolean;
  /** The state before the event; null = the empty state (the create event). Ignored for outliers. */
  readonly stateBefore: StateInput | null;
  /** The room's new forward extremities (event IDs, all persisted), or undefined when unchanged. */
  readonly forwardExtremities?: readonly string[];
  /** The room's new current state: unchanged, the state after this event, or a resolved state. */
  readonly currentState: 'unchanged' | 'after_event' | StateInput;
  readonly receivedTs: number;
  /**
   * Backfilled history: stored at a stream position below every other one (negative), so that
   * stream readers (/sync) never see it as new. The caller leaves extremities and current state alone.
   */
  readonly backfilled?: boolean;
  /**
   * With `outlier`: an invite, knock or rejection for a room without state here (out-of-band
   * membership). It gets the next stream position and becomes its target's row in room_memberships.
   */
  readonly outOfBandMembership?: boolean;
}

export interface PersistEventResult {
  readonly eventNid: number;
  readonly streamOrdering: number | null;
  readonly stateGroupBefore: number | null;
  readonly stateGroupAfter: number | null;
  readonly currentStateGroup: number | null;
}

interface EventRowDb {
  event_nid: number;
  room_nid: number;
  type: string;
  state_key_nid: number | null;
  sender: string;
  depth: number;
  stream_ordering: number | null;
  outlier: number;
  rejected_reason: string | null;
  soft_failed: number;
  state_group_before: number | null;
  state_group_after: number | null;
}

export const MEMBER_TYPE = 'm.room.member';

/** What a derived writer sees of an event being persisted (inside the persist transaction). */
export interface PersistedEventInfo {
  readonly eventNid: number;
  readonly roomId: string;
  readonly roomNid: number;
  readonly roomVersion: RoomVersion;
  readonly event: RoomEvent;
  readonly streamOrdering: number | null;
  readonly outlier: boolean;
  readonly rejectedReason: string | null;
  readonly softFailed: boolean;
  readonly stateGroupBefore: number | null;
  readonly stateGroupAfter: number | null;
  /** Backfilled history (negative stream ordering): not new, notify nobody. */
  readonly backfilled: boolean;
}

/**
 * Writes data derived from an event (relations, the search index, notification counts, ...) in the
 * same transaction as the event itself, so a crash never leaves one without the other. Runs
 * synchronously on the same database handle; throwing rolls back the whole event.
 */
export type DerivedWriter = (info: PersistedEventInfo) => void;

export class EventStore {
  readonly ids: Interning;
  readonly groups: StateGroups;
  private readonly roomsById = createLru<string, RoomRow>(50_000);
  private readonly roomsByNid = createLru<number, RoomRow>(50_000);
  private readonly meta = createLru<number, EventMeta>(100_000);
  private readonly parsed = createLru<number, RoomEvent>(10_000);
  private readonly authChains = createLru<number, readonly number[]>(100_000);
  private maxStream: number;
  /** The lowest stream ordering (0 until backfilled history, which counts down from -1). */
  private minStream: number;
  private readonly derivedWriters: DerivedWriter[] = [];

  private readonly q;
  private readonly persistTxn: Transaction<(input: PersistEventInput) => PersistEventResult>;

  constructor(readonly db: Database) {
    this.ids = new Interning(db);
    this.groups = new StateGroups(db);
    this.q = {
      roomById: db.prepare<[string], { room_nid: number; room_id: string; room_version: string; current_state_group: number | null }>(
        'SELECT room_nid, room_id, room_version, current_state_group FROM rooms WHERE room_id = ?',
      ),
      roomByNid: db.prepare<[number], { room_nid: number; room_id: string; room_version: string; current_state_group: number | null }>(
        'SELECT room_nid, room_id, room_version, current_state_group FROM rooms WHERE room_nid = ?',
      ),
      insRoom: db.prepare<[string, string, number]>('INSERT INTO rooms (room_id, room_version, created_ts) VALUES (?, ?, ?)'),
      setCurrentGroup: db.prepare<[number, number]>('UPDATE rooms SET current_state_group = ? WHERE room_nid = ?'),
      eventRow: db.prepare<[number], EventRowDb>(
        `SELECT event_nid, room_nid, type, state_key_nid, sender, depth, stream_ordering, outlier, rejected_reason,
                soft_failed, state_group_before, state_group_after FROM events WHERE event_nid = ?`,
      ),
      eventJson: db.prepare<[number], { json: string; room_nid: number }>('SELECT json, room_nid FROM events WHERE event_nid = ?'),
      insEvent: db.prepare(
        `INSERT INTO events (event_nid, room_nid, type, state_key_nid, sender, depth, origin_server_ts, stream_ordering,
           outlier, rejected_reason, soft_failed, state_group_before, state_group_after, redacts_nid, received_ts, json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deOutlier: db.prepare(
        `UPDATE events SET stream_ordering = ?, outlier = 0, rejected_reason = ?, soft_failed = ?, state_group_before = ?,
           state_group_after = ? WHERE event_nid = ? AND outlier = 1`,
      ),
      insPrevEdge: db.prepare<[number, number]>('INSERT OR IGNORE INTO event_edges (event_nid, prev_nid) VALUES (?, ?)'),
      insAuthEdge: db.prepare<[number, number]>('INSERT OR IGNORE INTO event_auth_edges (event_nid, auth_nid) VALUES (?, ?)'),
      authEdges: db.prepare<[number], number>('SELECT auth_nid FROM event_auth_edges WHERE event_nid = ?').pluck(),
      prevEdges: db.prepare<[number], number>('SELECT prev_nid FROM event_edges WHERE event_nid = ?').pluck(),
      acceptedChildren: db.prepare<[number], number>(
        `SELECT 1 FROM event_edges ee JOIN events e ON e.event_nid = ee.event_nid
         WHERE ee.prev_nid = ? AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.soft_failed = 0 LIMIT 1`,
      ).pluck(),
      extremities: db.prepare<[number], number>('SELECT event_nid FROM forward_extremities WHERE room_nid = ?').pluck(),
      insExtremity: db.prepare<[number, number]>('INSERT OR IGNORE INTO forward_extremities (room_nid, event_nid) VALUES (?, ?)'),
      delExtremity: db.prepare<[number, number]>('DELETE FROM forward_extremities WHERE room_nid = ? AND event_nid = ?'),
      currentEntry: db.prepare<[number, number], number>(
        'SELECT event_nid FROM current_state WHERE room_nid = ? AND state_key_nid = ?',
      ).pluck(),
      currentAll: db.prepare<[number], { state_key_nid: number; event_nid: number }>(
        'SELECT state_key_nid, event_nid FROM current_state WHERE room_nid = ?',
      ),
      upsertCurrent: db.prepare<[number, number, number]>(
        `INSERT INTO current_state (room_nid, state_key_nid, event_nid) VALUES (?, ?, ?)
         ON CONFLICT (room_nid, state_key_nid) DO UPDATE SET event_nid = excluded.event_nid`,
      ),
      delCurrent: db.prepare<[number, number]>('DELETE FROM current_state WHERE room_nid = ? AND state_key_nid = ?'),
      insDelta: db.prepare<[number, number, number, number | null, number | null]>(
        `INSERT INTO current_state_delta_stream (stream_ordering, room_nid, state_key_nid, event_nid, prev_event_nid)
         VALUES (?, ?, ?, ?, ?)`,
      ),
      upsertMember: db.prepare<[number, string, string, number, number]>(
        `INSERT INTO room_memberships (room_nid, user_id, membership, event_nid, stream_ordering) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (room_nid, user_id) DO UPDATE SET membership = excluded.membership, event_nid = excluded.event_nid,
           stream_ordering = excluded.stream_ordering`,
      ),
      delMember: db.prepare<[number, string]>('DELETE FROM room_memberships WHERE room_nid = ? AND user_id = ?'),
      maxStream: db.prepare<[], number | null>('SELECT MAX(stream_ordering) FROM events').pluck(),
      minStream: db.prepare<[], number | null>('SELECT MIN(stream_ordering) FROM events').pluck(),
    };
    this.maxStream = this.q.maxStream.get() ?? 0;
    this.minStream = Math.min(0, this.q.minStream.get() ?? 0);
    this.persistTxn = db.transaction((input: PersistEventInput) => this.writeEvent(input));
  }

  /** The highest stream ordering persisted so far (0 for an empty store). */
  get streamPosition(): number {
    return this.maxStream;
  }

  // ---- rooms ----

  room(roomId: string): RoomRow | undefined {
    const hit = this.roomsById.get(roomId);
    if (hit) return hit;
    const r = this.q.roomById.get(roomId);
    return r ? this.cacheRoom(r) : undefined;
  }

  roomByNid(nid: number): RoomRow {
    const hit = this.roomsByNid.get(nid);
    if (hit) return hit;
    const r = this.q.roomByNid.get(nid);
    if (!r) throw new Error(`no room ${nid}`);
    return this.cacheRoom(r);
  }

  private cacheRoom(r: { room_nid: number; room_id: string; room_version: string; current_state_group: number | null }): RoomRow {
    const row: RoomRow = {
      nid: r.room_nid,
      roomId: r.room_id,
      version: requireRoomVersion(r.room_version),
      currentStateGroup: r.current_state_group,
    };
    this.roomsById.set(row.roomId, row);
    this.roomsByNid.set(row.nid, row);
    return row;
  }

  forwardExtremityNids(roomNid: number): number[] {
    return this.q.extremities.all(roomNid);
  }

  /** Current state entries of some keys, from the current_state table. */
  currentStateLookup(roomNid: number, keys: readonly number[]): Map<number, number> {
    const out = new Map<number, number>();
    for (const k of keys) {
      const v = this.q.currentEntry.get(roomNid, k);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  currentStateAll(roomNid: number): Map<number, number> {
    const out = new Map<number, number>();
    for (const r of this.q.currentAll.iterate(roomNid)) out.set(r.state_key_nid, r.event_nid);
    return out;
  }

  // ---- events ----

  eventMeta(nid: number): EventMeta | undefined {
    const hit = this.meta.get(nid);
    if (hit) return hit;
    const r = this.q.eventRow.get(nid);
    if (!r) return undefined;
    const m: EventMeta = {
      nid,
      eventId: this.ids.eventId(nid),
      roomNid: r.room_nid,
      type: r.type,
      stateKeyNid: r.state_key_nid,
      sender: r.sender,
      depth: r.depth,
      streamOrdering: r.stream_ordering,
      outlier: r.outlier === 1,
      rejectedReason: r.rejected_reason,
      softFailed: r.soft_failed === 1,
      stateGroupBefore: r.state_group_before,
      stateGroupAfter: r.state_group_after,
    };
    this.meta.set(nid, m);
    return m;
  }

  eventMetaById(eventId: string): EventMeta | undefined {
    const nid = this.ids.findEventNid(eventId);
    return nid === undefined ? undefined : this.eventMeta(nid);
  }

  /** The stored PDU text, exactly as received or built. */
  eventJsonText(nid: number): string | undefined {
    return this.q.eventJson.get(nid)?.json;
  }

  /** The parsed view of a stored event (cached; shared, do not mutate). */
  event(nid: number): RoomEvent | undefined {
    const hit = this.parsed.get(nid);
    if (hit) return hit;
    const r = this.q.eventJson.get(nid);
    if (!r) return undefined;
    const json = JSON.parse(r.json) as JsonObject;
    const ev = toRoomEvent(json, this.ids.eventId(nid), this.roomByNid(r.room_nid).version);
    this.parsed.set(nid, ev);
    return ev;
  }

  eventById(eventId: string): RoomEvent | undefined {
    const nid = this.ids.findEventNid(eventId);
    return nid === undefined ? undefined : this.event(nid);
  }

  prevEventNids(nid: number): number[] {
    return this.q.prevEdges.all(nid);
  }

  /** Whether some persisted, accepted, non-outlier event lists this one as a prev event. */
  hasAcceptedChildren(nid: number): boolean {
    return this.q.acceptedChildren.get(nid) !== undefined;
  }

  /**
   * The auth chain of an event: every event reachable through auth_events edges, not including
   * the event itself. Computed with an explicit stack (auth chains can be thousands deep) and
   * memoised per event in a bounded cache. Events we do not have contribute only their ID.
   */
  authChainNids(root: number): readonly number[] {
    const cached = this.authChains.get(root);
    if (cached) return cached;
    const local = new Map<number, readonly number[]>();
    const known = (n: number) => local.get(n) ?? this.authChains.get(n);
    const onStack = new Set<number>();
    const stack: number[] = [root];
    while (stack.length > 0) {
      const n = stack[stack.length - 1]!;
      if (known(n)) {
        stack.pop();
        continue;
      }
      const auths = this.q.authEdges.all(n);
      let pending = false;
      if (!onStack.has(n)) {
        onStack.add(n);
        for (const a of auths) {
          // An edge back to an event on the stack would be a cycle (only a forged DAG has one).
          if (!known(a) && !onStack.has(a)) {
            stack.push(a);
            pending = true;
          }
        }
      }
      if (pending) continue;
      const chain = new Set<number>();
      for (const a of auths) {
        chain.add(a);
        const sub = known(a);
        if (sub) for (const x of sub) chain.add(x);
      }
      chain.delete(n);
      const arr = [...chain];
      local.set(n, arr);
      // Only a stored event's edges are final; a missing event's chain may grow when it arrives.
      if (this.eventMeta(n)) this.authChains.set(n, arr);
      onStack.delete(n);
      stack.pop();
    }
    return local.get(root) ?? this.authChains.get(root) ?? [];
  }

  /** Membership string of an m.room.member event (content.membership), or undefined. */
  membershipOf(nid: number): string | undefined {
    const ev = this.event(nid);
    const m = ev && isJsonObject(ev.content) ? ev.content.membership : undefined;
    return typeof m === 'string' ? m : undefined;
  }

  // ---- the write ----

  /** Registers a writer of derived data, run inside every persistEvent transaction (see DerivedWriter). */
  addDerivedWriter(w: DerivedWriter): void {
    this.derivedWriters.push(w);
  }

  /**
   * persistEvent: ONE transaction writing the event row (or promoting a stored outlier), its prev
   * and auth edges, its state groups, the room's forward extremities and current state (with the
   * delta stream and membership table) and its stream position. Either all of it is committed or
   * none; on failure the caches are dropped, since they may hold values written inside it.
   */
  persistEvent(input: PersistEventInput): PersistEventResult {
    try {
      const result = this.persistTxn.immediate(input);
      this.maxStream = Math.max(this.maxStream, result.streamOrdering ?? 0);
      this.minStream = Math.min(this.minStream, result.streamOrdering ?? 0);
      return result;
    } catch (e) {
      this.clearCaches();
      throw e;
    }
  }


  /**
   * Runs `fn` in one transaction: the persistEvent calls it makes become savepoints of it and commit
   * together (a batch of outliers, e.g. the state of a room joined over federation, costs one
   * commit). On failure everything is rolled back and the caches dropped.
   */
  inOneTransaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (e) {
      this.clearCaches();
      throw e;
    }
  }

  /** Creates the room row if missing (inside the persist transaction). */
  private ensureRoom(roomId: string, version: RoomVersion, now: number): RoomRow {
    const existing = this.room(roomId);
    if (existing) {
      if (existing.version.id !== version.id) {
        throw new Error(`room ${roomId} has version ${existing.version.id}, not ${version.id}`);
      }
      return existing;
    }
    this.q.insRoom.run(roomId, version.id, now);
    return this.room(roomId)!;
  }

  private writeEvent(input: PersistEventInput): PersistEventResult {
    const ev = input.event;
    const room = this.ensureRoom(input.roomId, input.roomVersion, input.receivedTs);
    const nid = this.ids.eventNid(ev.eventId);
    const existing = this.eventMeta(nid);
    if (existing && !existing.outlier) throw new Error(`event ${ev.eventId} is already persisted`);
    if (existing && input.outlier) throw new Error(`event ${ev.eventId} is already stored as an outlier`);

    const stateKeyNid = ev.stateKey === undefined ? null : this.ids.stateKeyNid(ev.type, ev.stateKey);
    let groupBefore: number | null = null;
    let groupAfter: number | null = null;
    let streamOrdering: number | null = null;
    if (input.outlier && input.outOfBandMembership) {
      streamOrdering = this.maxStream + 1;
    } else if (!input.outlier) {
      streamOrdering = input.backfilled ? this.minStream - 1 : this.maxStream + 1;
      if (input.stateBefore) groupBefore = this.resolveStateInput(room.nid, input.stateBefore);
      // A rejected event never enters state: the state after it is the state before it.
      if (stateKeyNid !== null && input.rejectedReason === null) {
        groupAfter = this.groups.create(room.nid, groupBefore, new Map([[stateKeyNid, nid]]));
      } else {
        groupAfter = groupBefore;
      }
    }
    const redactsNid = ev.redacts === undefined ? null : this.ids.eventNid(ev.redacts);

    if (existing) {
      this.q.deOutlier.run(streamOrdering, input.rejectedReason, input.softFailed ? 1 : 0, groupBefore, groupAfter, nid);
    } else {
      this.q.insEvent.run(
        nid, room.nid, ev.type, stateKeyNid, ev.sender, ev.depth, ev.originServerTs, streamOrdering,
        input.outlier ? 1 : 0, input.rejectedReason, input.softFailed ? 1 : 0, groupBefore, groupAfter,
        redactsNid, input.receivedTs, input.jsonText,
      );
      for (const p of ev.prevEventIds) this.q.insPrevEdge.run(nid, this.ids.eventNid(p));
      for (const a of ev.authEventIds) this.q.insAuthEdge.run(nid, this.ids.eventNid(a));
    }

    if (input.outlier && input.outOfBandMembership && ev.type === MEMBER_TYPE && ev.stateKey !== undefined) {
      const m = typeof ev.content.membership === 'string' ? ev.content.membership : 'leave';
      this.q.upsertMember.run(room.nid, ev.stateKey, m, nid, streamOrdering!);
    }

    let currentGroup = room.currentStateGroup;
    if (!input.outlier) {
      if (input.forwardExtremities) this.replaceExtremities(room.nid, input.forwardExtremities);
      let newGroup = currentGroup;
      if (input.currentState === 'after_event') newGroup = groupAfter;
      else if (input.currentState !== 'unchanged') newGroup = this.resolveStateInput(room.nid, input.currentState);
      if (newGroup !== currentGroup) {
        // Usual case: the event extends the current state; the change is the event itself.
        const changes =
          newGroup === groupAfter && groupBefore === currentGroup
            ? groupAfter === groupBefore
              ? new Map<number, number>()
              : new Map([[stateKeyNid!, nid]])
            : this.groups.diff(currentGroup, newGroup);
        this.applyCurrentStateChanges(room.nid, changes, streamOrdering!, nid, input.event);
        this.q.setCurrentGroup.run(newGroup!, room.nid);
        currentGroup = newGroup;
      }
    }
    const result = { eventNid: nid, streamOrdering, stateGroupBefore: groupBefore, stateGroupAfter: groupAfter, currentStateGroup: currentGroup };
    if (this.derivedWriters.length) {
      const info: PersistedEventInfo = {
        eventNid: nid, roomId: input.roomId, roomNid: room.nid, roomVersion: input.roomVersion, event: ev,
        streamOrdering, outlier: input.outlier, rejectedReason: input.rejectedReason, softFailed: input.softFailed,
        stateGroupBefore: groupBefore, stateGroupAfter: groupAfter, backfilled: input.backfilled ?? false,
      };
      for (const w of this.derivedWriters) w(info);
    }
    // Caches describing rows written here; dropped wholesale if the transaction rolls back.
    this.meta.set(nid, {
      nid,
      eventId: ev.eventId,
      roomNid: room.nid,
      type: ev.type,
      stateKeyNid,
      sender: ev.sender,
      depth: ev.depth,
      streamOrdering,
      outlier: input.outlier,
      rejectedReason: input.rejectedReason,
      softFailed: input.softFailed,
      stateGroupBefore: groupBefore,
      stateGroupAfter: groupAfter,
    });
    if (!this.parsed.has(nid)) this.parsed.set(nid, ev);
    if (currentGroup !== room.currentStateGroup) this.cacheRoom({ room_nid: room.nid, room_id: room.roomId, room_version: room.version.id, current_state_group: currentGroup });
    return result;
  }

  private resolveStateInput(roomNid: number, s: StateInput): number {
    if ('group' in s) return s.group;
    return this.groups.createFromFull(roomNid, s.state, s.parentGroup);
  }

  private replaceExtremities(roomNid: number, eventIds: readonly string[]): void {
    const wanted = new Set(eventIds.map((id) => this.ids.eventNid(id)));
    for (const old of this.q.extremities.all(roomNid)) {
      if (wanted.has(old)) wanted.delete(old);
      else this.q.delExtremity.run(roomNid, old);
    }
    for (const n of wanted) this.q.insExtremity.run(roomNid, n);
  }

  private applyCurrentStateChanges(
    roomNid: number,
    changes: ReadonlyMap<number, number>,
    streamOrdering: number,
    ownNid: number,
    own: RoomEvent,
  ): void {
    for (const [keyNid, eventNid] of changes) {
      const prev = this.q.currentEntry.get(roomNid, keyNid) ?? null;
      if (prev === (eventNid === 0 ? null : eventNid)) continue;
      if (eventNid === 0) this.q.delCurrent.run(roomNid, keyNid);
      else this.q.upsertCurrent.run(roomNid, keyNid, eventNid);
      this.q.insDelta.run(streamOrdering, roomNid, keyNid, eventNid === 0 ? null : eventNid, prev);
      const tuple = this.ids.stateTuple(keyNid);
      if (tuple.startsWith(MEMBER_TYPE + '\u0000')) {
        const userId = tuple.slice(MEMBER_TYPE.length + 1);
        if (eventNid === 0) {
          this.q.delMember.run(roomNid, userId);
        } else {
          const ev = eventNid === ownNid ? own : this.event(eventNid);
          const m = ev && typeof ev.content.membership === 'string' ? ev.content.membership : 'leave';
          const so = eventNid === ownNid ? streamOrdering : (this.eventMeta(eventNid)?.streamOrdering ?? streamOrdering);
          this.q.upsertMember.run(roomNid, userId, m, eventNid, so);
        }
      }
    }
  }

  clearCaches(): void {
    this.ids.clearCaches();
    this.groups.clearCaches();
    this.roomsById.clear();
    this.roomsByNid.clear();
    this.meta.clear();
    this.parsed.clear();
    this.authChains.clear();
  }
}
