// The device-list stream (spec "Tracking the device list for a user", "Extensions to /sync"):
// positions at which a user's devices or cross-signing keys changed, and the joins and leaves that
// make users newly share, or stop sharing, a room. /sync `device_lists` and /keys/changes read it.
import type { Database } from '../store/db.js';
import type { DerivedWriter, PersistedEventInfo } from '../store/event-store.js';
import type { StreamCounters } from '../users/streams.js';

/** The stream_counters name of this stream. */
export const DEVICE_LISTS_STREAM = 'device_lists';

export interface DeviceListChanges {
  changed: string[];
  left: string[];
}

export interface DeviceListStream {
  /** The current position of the stream. */
  position(): number;
  /**
   * Records that the devices or keys of `userIds` changed, at one new position (returned). With
   * `viewerId`, only that user is told (a signature they made with their user-signing key).
   * Call inside the transaction that made the change.
   */
  recordChange(userIds: readonly string[], viewerId?: string): number;
  /** Runs inside every persistEvent transaction: records joins and leaves of the current state. */
  readonly memberships: DerivedWriter;
  /**
   * For `userId`: users sharing a room with them (or themselves) whose devices or keys changed in
   * (since, upTo], and users who newly share a room with them (`changed`); users who no longer
   * share any room after a membership change in that range (`left`).
   */
  changesFor(userId: string, since: number, upTo: number): DeviceListChanges;
  /** Users currently joined to a room `userId` is joined to, `userId` included when joined anywhere. */
  usersSharingRoomWith(userId: string): string[];
  /** True when both users are joined to a common room. */
  shareRoom(a: string, b: string): boolean;
}

const EMPTY: DeviceListChanges = { changed: [], left: [] };

export function createDeviceListStream(db: Database, counters: StreamCounters): DeviceListStream {
  const q = {
    insChange: db.prepare<[number, string, string | null]>('INSERT INTO e2e_device_list_stream (stream_id, user_id, viewer_id) VALUES (?, ?, ?)'),
    insMembership: db.prepare<[number, number, string, number]>(
      'INSERT INTO e2e_device_list_memberships (stream_id, room_nid, user_id, joined) VALUES (?, ?, ?, ?)',
    ),
    // Membership entries of the current state changed by the event at this stream position (the
    // event itself, or several at once when state resolution moved the state).
    memberDeltas: db.prepare<[number, number], { user_id: string; new_m: string | null; old_m: string | null }>(
      `SELECT sk.state_key AS user_id,
              (SELECT json_extract(e.json, '$.content.membership') FROM events e WHERE e.event_nid = d.event_nid) AS new_m,
              (SELECT json_extract(e.json, '$.content.membership') FROM events e WHERE e.event_nid = d.prev_event_nid) AS old_m
         FROM current_state_delta_stream d JOIN state_keys sk ON sk.state_key_nid = d.state_key_nid
        WHERE d.stream_ordering = ? AND d.room_nid = ? AND sk.type = 'm.room.member'`,
    ),
    membershipRows: db.prepare<{ u: string; since: number; upTo: number }, { room_nid: number; user_id: string; joined: number }>(
      `SELECT room_nid, user_id, joined FROM e2e_device_list_memberships
        WHERE stream_id > @since AND stream_id <= @upTo AND room_nid IN (
          SELECT room_nid FROM room_memberships WHERE user_id = @u AND membership = 'join'
          UNION
          SELECT room_nid FROM e2e_device_list_memberships WHERE user_id = @u AND stream_id > @since AND stream_id <= @upTo)
        ORDER BY stream_id`,
    ),
    joinedRooms: db.prepare<[string], number>("SELECT room_nid FROM room_memberships WHERE user_id = ? AND membership = 'join'").pluck(),
    joinedMembers: db.prepare<[number], string>("SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership = 'join'").pluck(),
    keyChanges: db.prepare<{ u: string; since: number; upTo: number }, string>(
      `SELECT DISTINCT s.user_id FROM e2e_device_list_stream s
        WHERE s.stream_id > @since AND s.stream_id <= @upTo AND (
          s.viewer_id = @u OR (s.viewer_id IS NULL AND (s.user_id = @u OR EXISTS (
            SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
             WHERE a.user_id = s.user_id AND a.membership = 'join' AND b.user_id = @u AND b.membership = 'join'))))`,
    ).pluck(),
    shareRoom: db.prepare<[string, string], number>(
      `SELECT 1 FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid AND b.user_id = ? AND b.membership = 'join'
        WHERE a.user_id = ? AND a.membership = 'join' LIMIT 1`,
    ).pluck(),
    sharing: db.prepare<[string], string>(
      `SELECT DISTINCT b.user_id FROM room_memberships a JOIN room_memberships b ON b.room_nid = a.room_nid
        WHERE a.user_id = ? AND a.membership = 'join' AND b.membership = 'join'`,
    ).pluck(),
  };

  const recordChange = (userIds: readonly string[], viewerId?: string): number => {
    const pos = counters.next(DEVICE_LISTS_STREAM);
    for (const u of new Set(userIds)) q.insChange.run(pos, u, viewerId ?? null);
    return pos;
  };

  const memberships: DerivedWriter = (info: PersistedEventInfo) => {
    if (info.streamOrdering === null || info.outlier || info.rejectedReason !== null) return;
    const rows = q.memberDeltas.all(info.streamOrdering, info.roomNid);
    let pos: number | undefined;
    for (const r of rows) {
      const joined = r.new_m === 'join';
      if (joined === (r.old_m === 'join')) continue;
      pos ??= counters.next(DEVICE_LISTS_STREAM);
      q.insMembership.run(pos, info.roomNid, r.user_id, joined ? 1 : 0);
    }
  };

  const shareRoom = (a: string, b: string): boolean => a === b || q.shareRoom.get(b, a) !== undefined;

  return {
    position: () => counters.current(DEVICE_LISTS_STREAM),
    recordChange,
    memberships,
    shareRoom,
    usersSharingRoomWith: (userId) => q.sharing.all(userId),

    changesFor(userId, since, upTo) {
      if (upTo <= since) return EMPTY;
      const range = { u: userId, since, upTo };
      const changed = new Set<string>(q.keyChanges.all(range));

      // Joins and leaves in rooms the user is in now, or changed membership of in the range.
      const rows = q.membershipRows.all(range);
      if (rows.length > 0) {
        const current = new Set(q.joinedRooms.all(userId));
        const mine = new Map<number, boolean>();
        // Users whose sharing status may have changed; settled below against the current state.
        const candidates = new Set<string>();
        // Users who joined a room the user is in now.
        const joinedHere = new Set<string>();
        for (const r of rows) {
          if (r.user_id === userId) {
            mine.set(r.room_nid, r.joined === 1);
          } else {
            candidates.add(r.user_id);
            if (r.joined === 1 && current.has(r.room_nid)) joinedHere.add(r.user_id);
          }
        }
        for (const [roomNid, joined] of mine) {
          if (joined && current.has(roomNid)) {
            // The user joined this room: everyone in it newly shares a room with them (the spec
            // allows telling them even when another room was already shared).
            for (const m of q.joinedMembers.all(roomNid)) if (m !== userId) changed.add(m);
          } else if (!current.has(roomNid)) {
            for (const m of q.joinedMembers.all(roomNid)) candidates.add(m);
          }
        }
        const left: string[] = [];
        for (const c of candidates) {
          if (c === userId || changed.has(c)) continue;
          if (shareRoom(userId, c)) {
            // A leave elsewhere while still sharing a room tells nothing; a join here does.
            if (joinedHere.has(c)) changed.add(c);
          } else {
            left.push(c);
          }
        }
        return { changed: [...changed], left };
      }
      return { changed: [...changed], left: [] };
    },
  };
}
