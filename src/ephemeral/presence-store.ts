// SQLite storage of presence (table presence, migrations/0500_ephemeral.sql) with positions from the
// 'presence' stream counter, and the room-membership reads presence needs (who shares a room).
import type { Database } from '../store/db.js';
import { createStreamCounters, type StreamCounters } from '../users/streams.js';

export const PRESENCE_STREAM = 'presence';

export type PresenceStateName = 'online' | 'unavailable' | 'offline';

export interface PresenceRow {
  readonly userId: string;
  readonly state: PresenceStateName;
  readonly statusMsg: string | null;
  /** When the user was last active (ms since 1970); 0 = never. */
  readonly lastActiveTs: number;
  /**
   * When the user's client was last seen, by a sync or a presence update (local users), or when
   * we last heard of the user over federation (remote users): the offline timers count from it.
   */
  readonly lastSyncTs: number;
  readonly currentlyActive: boolean;
  readonly streamId: number;
}

interface RowDb {
  user_id: string;
  state: PresenceStateName;
  status_msg: string | null;
  last_active_ts: number;
  last_sync_ts: number;
  currently_active: number;
  stream_id: number;
}

function toRow(r: RowDb): PresenceRow {
  return {
    userId: r.user_id,
    state: r.state,
    statusMsg: r.status_msg,
    lastActiveTs: r.last_active_ts,
    lastSyncTs: r.last_sync_ts,
    currentlyActive: r.currently_active === 1,
    streamId: r.stream_id,
  };
}

export interface PresenceStore {
  position(): number;
  get(userId: string): PresenceRow | undefined;
  /**
   * Writes the row; with `bump` it gets the next stream position (a change clients are told
   * about), otherwise it keeps `keepStreamId`, its current position (e.g. a newer last-active time
   * alone). Returns the row.
   */
  put(row: Omit<PresenceRow, 'streamId'>, bump: boolean, keepStreamId: number): PresenceRow;
  /** Rows of these users changed in (since, upTo]; since 0: every row of these users. */
  changedSince(userIds: readonly string[], since: number, upTo: number): PresenceRow[];
  /** Every row whose state is not offline (timeouts are tracked for them). */
  notOffline(): PresenceRow[];
  /** Joined members of every room `userId` is joined to, the user included. */
  usersSharingRoomWith(userId: string): string[];
  /** Whether the two users are both joined to some room. */
  shareRoom(a: string, b: string): boolean;
}

export function createPresenceStore(db: Database, counters: StreamCounters = createStreamCounters(db)): PresenceStore {
  const q = {
    get: db.prepare<[string], RowDb>('SELECT * FROM presence WHERE user_id = ?'),
    upsert: db.prepare<[string, string, string | null, number, number, number, number]>(
      `INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_sync_ts, currently_active, stream_id)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, status_msg = excluded.status_msg,
         last_active_ts = excluded.last_active_ts, last_sync_ts = excluded.last_sync_ts,
         currently_active = excluded.currently_active, stream_id = excluded.stream_id`,
    ),
    ofUsers: db.prepare<[string, number], RowDb>(
      'SELECT p.* FROM presence p JOIN json_each(?) j ON p.user_id = j.value WHERE p.stream_id <= ?',
    ),
    since: db.prepare<[number, number], RowDb>('SELECT * FROM presence WHERE stream_id > ? AND stream_id <= ? ORDER BY stream_id'),
    notOffline: db.prepare<[], RowDb>(`SELECT * FROM presence WHERE state <> 'offline'`),
    // room_memberships is the rooms writer's table (migrations/0001_init.sql), read-only here:
    // both lookups go through its (user_id, membership) index and primary key (room_nid, user_id).
    sharing: db
      .prepare<[string], string>(
        `SELECT DISTINCT b.user_id FROM room_memberships a
         JOIN room_memberships b ON b.room_nid = a.room_nid AND b.membership = 'join'
         WHERE a.user_id = ? AND a.membership = 'join'`,
      )
      .pluck(),
    share: db.prepare<[string, string], { one: number }>(
      `SELECT 1 AS one FROM room_memberships a
       JOIN room_memberships b ON b.room_nid = a.room_nid AND b.user_id = ? AND b.membership = 'join'
       WHERE a.user_id = ? AND a.membership = 'join' LIMIT 1`,
    ),
  };
  let current = counters.current(PRESENCE_STREAM);

  const putTxn = db.transaction((row: Omit<PresenceRow, 'streamId'>, bump: boolean, keepStreamId: number): PresenceRow => {
    // A first row always gets a position of its own (0 is "never changed").
    const streamId = bump || keepStreamId <= 0 ? counters.next(PRESENCE_STREAM) : keepStreamId;
    q.upsert.run(row.userId, row.state, row.statusMsg, row.lastActiveTs, row.lastSyncTs, row.currentlyActive ? 1 : 0, streamId);
    return { ...row, streamId };
  });

  return {
    position: () => current,
    get(userId) {
      const r = q.get.get(userId);
      return r ? toRow(r) : undefined;
    },
    put(row, bump, keepStreamId) {
      const out = putTxn.immediate(row, bump, keepStreamId);
      if (out.streamId > current) current = out.streamId;
      return out;
    },
    changedSince(userIds, since, upTo) {
      if (userIds.length === 0 || since >= upTo) return [];
      if (since <= 0) return q.ofUsers.all(JSON.stringify(userIds), upTo).map(toRow);
      const wanted = new Set(userIds);
      const out: PresenceRow[] = [];
      for (const r of q.since.iterate(since, upTo)) if (wanted.has(r.user_id)) out.push(toRow(r));
      return out;
    },
    notOffline: () => q.notOffline.all().map(toRow),
    usersSharingRoomWith(userId) {
      const out = q.sharing.all(userId);
      if (!out.includes(userId)) out.push(userId);
      return out;
    },
    shareRoom(a, b) {
      return q.share.get(b, a) !== undefined;
    },
  };
}
