// What push evaluation needs of a room's state before each event (joined members, local members'
// display names, power levels), cached per room and advanced event by event, so a message costs no
// state lookups. Used inside the persist transaction (src/push/service.ts).
import type { RoomEvent } from '../core/events/event.js';
import type { RoomVersion } from '../core/events/room-versions.js';
import { parsePowerLevelsLenient, userPowerLevel } from '../core/auth/power-levels.js';
import type { EventStore, PersistedEventInfo } from '../store/event-store.js';

const MEMBER = 'm.room.member';
const POWER_LEVELS = 'm.room.power_levels';
const CREATE = 'm.room.create';
const MEMBER_PREFIX = MEMBER + '\u0000';

/** A local joined member. */
export interface LocalMember {
  readonly userId: string;
  readonly displayName: string | undefined;
}

/** The push-relevant facts of one state (a state group) of a room. */
export class PushRoomState {
  /** Every joined user (room_member_count). */
  readonly joined = new Set<string>();
  /** Joined users of this server, with their display names. */
  readonly local = new Map<string, LocalMember>();
  powerLevels: RoomEvent | undefined;
  create: RoomEvent | undefined;
  /**
   * Set while this state was built or advanced inside a transaction that may still roll back: the
   * event being persisted then. A later transaction trusts the state only once that event is
   * stored with that stream ordering (a rolled-back group number can be reused by another state).
   */
  pending: { eventNid: number; streamOrdering: number } | null = null;

  constructor(
    readonly roomNid: number,
    public group: number | null,
    readonly version: RoomVersion,
  ) {}

  senderPowerLevel(sender: string): number {
    return userPowerLevel(sender, this.powerLevels, this.create, this.version);
  }

  /** `notifications` of the power levels (missing keys: the evaluator's default of 50). */
  notificationLevels(): Record<string, number> {
    const pl = this.powerLevels;
    if (!pl) return EMPTY_LEVELS;
    let levels = notificationLevelsCache.get(pl);
    if (!levels) {
      levels = Object.fromEntries(parsePowerLevelsLenient(pl.content, this.version).notifications);
      notificationLevelsCache.set(pl, levels);
    }
    return levels;
  }

  /** Applies one state entry. */
  apply(type: string, stateKey: string, ev: RoomEvent, isLocal: (userId: string) => boolean): void {
    if (type === MEMBER) {
      const membership = ev.content.membership;
      if (membership === 'join') {
        this.joined.add(stateKey);
        if (isLocal(stateKey)) {
          const dn = ev.content.displayname;
          this.local.set(stateKey, { userId: stateKey, displayName: typeof dn === 'string' ? dn : undefined });
        }
      } else {
        this.joined.delete(stateKey);
        this.local.delete(stateKey);
      }
    } else if (stateKey === '') {
      if (type === POWER_LEVELS) this.powerLevels = ev;
      else if (type === CREATE) this.create = ev;
    }
  }
}

const EMPTY_LEVELS: Record<string, number> = Object.freeze({}) as Record<string, number>;
const notificationLevelsCache = new WeakMap<RoomEvent, Record<string, number>>();

export interface RoomStateCacheOptions {
  /** Rooms kept (each holds its joined user IDs). Default 2,000. */
  maxRooms?: number;
}

export class PushRoomStateCache {
  private readonly rooms = new Map<number, PushRoomState>();
  private readonly maxRooms: number;
  /** Rebuilds from a stored state group (for tests and the benchmark). */
  rebuilds = 0;

  constructor(
    private readonly core: EventStore,
    private readonly isLocal: (userId: string) => boolean,
    opts: RoomStateCacheOptions = {},
  ) {
    this.maxRooms = opts.maxRooms ?? 2_000;
  }

  /** The state before the event being persisted (inside its transaction). */
  stateBefore(info: PersistedEventInfo): PushRoomState {
    const group = info.stateGroupBefore;
    let state = this.rooms.get(info.roomNid);
    if (state && state.group === group && (state.pending === null || this.committed(state.pending, info.eventNid))) {
      state.pending = null;
      // Most recently used last, for eviction.
      this.rooms.delete(info.roomNid);
      this.rooms.set(info.roomNid, state);
      return state;
    }
    state = this.build(info.roomNid, group, info.roomVersion);
    state.pending = { eventNid: info.eventNid, streamOrdering: info.streamOrdering ?? -1 };
    this.rooms.delete(info.roomNid);
    if (this.rooms.size >= this.maxRooms) {
      const oldest = this.rooms.keys().next().value;
      if (oldest !== undefined) this.rooms.delete(oldest);
    }
    this.rooms.set(info.roomNid, state);
    return state;
  }

  /**
   * After the event: moves the room's cached state to the state after it (a state event that
   * entered the state), so the next event in the room finds it.
   */
  advance(state: PushRoomState, info: PersistedEventInfo): void {
    if (info.stateGroupAfter === state.group) return;
    const ev = info.event;
    if (ev.stateKey === undefined || info.rejectedReason !== null) {
      this.rooms.delete(info.roomNid);
      return;
    }
    state.apply(ev.type, ev.stateKey, ev, this.isLocal);
    state.group = info.stateGroupAfter;
    state.pending = { eventNid: info.eventNid, streamOrdering: info.streamOrdering ?? -1 };
  }

  /** Drops everything (e.g. after a failed transaction the caller noticed). */
  clear(): void {
    this.rooms.clear();
  }

  private committed(p: { eventNid: number; streamOrdering: number }, current: number): boolean {
    // An event number reused by the event now being persisted means the earlier one rolled back.
    if (p.eventNid === current) return false;
    const meta = this.core.eventMeta(p.eventNid);
    return meta !== undefined && !meta.outlier && meta.streamOrdering === p.streamOrdering;
  }

  private build(roomNid: number, group: number | null, version: RoomVersion): PushRoomState {
    this.rebuilds++;
    const state = new PushRoomState(roomNid, group, version);
    if (group === null) return state;
    const ids = this.core.ids;
    for (const [keyNid, eventNid] of this.core.groups.materialize(group)) {
      const tuple = ids.stateTuple(keyNid);
      let type: string;
      let stateKey: string;
      if (tuple.startsWith(MEMBER_PREFIX)) {
        type = MEMBER;
        stateKey = tuple.slice(MEMBER_PREFIX.length);
      } else if (tuple === POWER_LEVELS + '\u0000') {
        type = POWER_LEVELS;
        stateKey = '';
      } else if (tuple === CREATE + '\u0000') {
        type = CREATE;
        stateKey = '';
      } else continue;
      const ev = this.core.event(eventNid);
      if (ev) state.apply(type, stateKey, ev, this.isLocal);
    }
    return state;
  }
}
