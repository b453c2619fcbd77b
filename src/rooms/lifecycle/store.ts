// SQLite repository of the rooms lifecycle area: local aliases, the published room directory, the
// per-room directory summary (room_stats, kept by a derived writer inside every persist transaction)
// and forgotten rooms. Tables: migrations/0300_rooms_lifecycle.sql.
import type { Statement } from 'better-sqlite3';
import type { RoomEvent } from '../../core/events/event.js';
import type { Database } from '../../store/db.js';
import type { EventStore, PersistedEventInfo } from '../../store/event-store.js';
import type { Store } from '../../store/index.js';

export interface AliasRow {
  readonly alias: string;
  readonly roomId: string;
  readonly creator: string;
}

/** One room of the published directory, as /publicRooms lists it. */
export interface DirectoryRoomRow {
  readonly roomId: string;
  readonly name: string | null;
  readonly topic: string | null;
  readonly canonicalAlias: string | null;
  readonly avatarUrl: string | null;
  readonly joinRule: string | null;
  readonly historyVisibility: string | null;
  readonly guestAccess: string | null;
  readonly roomType: string | null;
  readonly joinedMembers: number;
}

/** A position in the directory order (joined members, then room ID, both descending). */
export interface DirectoryBound {
  readonly joinedMembers: number;
  readonly roomId: string;
}

export interface DirectoryFilter {
  /** Case-insensitive substring of the name, topic or canonical alias. */
  readonly searchTerm?: string;
  /** Room types to list; null stands for rooms without a type. Empty or absent: every type. */
  readonly roomTypes?: readonly (string | null)[];
  /** Only rooms other servers may join (m.federate not false). */
  readonly federatableOnly?: boolean;
}

export interface DirectoryPageQuery extends DirectoryFilter {
  readonly limit: number;
  /** Rows strictly after (`forwards`) or before this position. */
  readonly after?: DirectoryBound;
  /** true: descending from `after` (the natural order); false: ascending (a previous page). */
  readonly forwards: boolean;
}

// The state the directory shows: (type, column), all with the empty state key.
const SUMMARY_COLUMNS: ReadonlyMap<string, { column: string; read: (content: RoomEvent['content']) => string | number | null }> = new Map([
  ['m.room.name', { column: 'name', read: (c) => stringOrNull(c.name) }],
  ['m.room.topic', { column: 'topic', read: (c) => stringOrNull(c.topic) }],
  ['m.room.canonical_alias', { column: 'canonical_alias', read: (c) => stringOrNull(c.alias) }],
  ['m.room.avatar', { column: 'avatar_url', read: (c) => stringOrNull(c.url) }],
  ['m.room.join_rules', { column: 'join_rule', read: (c) => stringOrNull(c.join_rule) }],
  ['m.room.history_visibility', { column: 'history_visibility', read: (c) => stringOrNull(c.history_visibility) }],
  ['m.room.guest_access', { column: 'guest_access', read: (c) => stringOrNull(c.guest_access) }],
  ['m.room.create', { column: 'room_type', read: (c) => stringOrNull(c.type) }],
]);

function stringOrNull(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** The directory lists rooms anyone may join or knock on, or read (Synapse's rule). */
const LISTABLE = `(s.join_rule IN ('public', 'knock', 'knock_restricted') OR s.history_visibility = 'world_readable') AND s.joined_members > 0`;

interface DeltaDb {
  state_key_nid: number;
  event_nid: number | null;
  prev_event_nid: number | null;
  type: string;
  state_key: string;
}

interface StatsDb {
  room_id: string;
  name: string | null;
  topic: string | null;
  canonical_alias: string | null;
  avatar_url: string | null;
  join_rule: string | null;
  history_visibility: string | null;
  guest_access: string | null;
  room_type: string | null;
  joined_members: number;
}

const MEMBER = 'm.room.member';
const writersAttached = new WeakSet<EventStore>();

export class LifecycleStore {
  private readonly db: Database;
  private readonly core: EventStore;
  private readonly q;

  constructor(store: Store) {
    this.db = store.db;
    this.core = store.core;
    const db = this.db;
    this.q = {
      alias: db.prepare<[string], { alias: string; room_id: string; creator: string }>('SELECT alias, room_id, creator FROM room_aliases WHERE alias = ?'),
      insAlias: db.prepare<[string, string, string, number]>(
        'INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES (?, ?, ?, ?) ON CONFLICT (alias) DO NOTHING',
      ),
      delAlias: db.prepare<[string], { room_id: string }>('DELETE FROM room_aliases WHERE alias = ? RETURNING room_id'),
      aliasesOfRoom: db.prepare<[string], string>('SELECT alias FROM room_aliases WHERE room_id = ? ORDER BY alias').pluck(),
      moveAliases: db.prepare<[string, string], string>('UPDATE room_aliases SET room_id = ? WHERE room_id = ? RETURNING alias').pluck(),
      published: db.prepare<[string], number>('SELECT 1 FROM room_directory WHERE room_id = ?').pluck(),
      publish: db.prepare<[string, number]>('INSERT INTO room_directory (room_id, published_ts) VALUES (?, ?) ON CONFLICT (room_id) DO NOTHING'),
      unpublish: db.prepare<[string]>('DELETE FROM room_directory WHERE room_id = ?'),
      forget: db.prepare<[string, string]>('INSERT INTO forgotten_rooms (user_id, room_id) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      unforget: db.prepare<[string, string]>('DELETE FROM forgotten_rooms WHERE user_id = ? AND room_id = ?'),
      isForgotten: db.prepare<[string, string], number>('SELECT 1 FROM forgotten_rooms WHERE user_id = ? AND room_id = ?').pluck(),
      forgottenOf: db.prepare<[string], string>('SELECT room_id FROM forgotten_rooms WHERE user_id = ? ORDER BY room_id').pluck(),
      deltasOf: db.prepare<[number, number], DeltaDb>(
        `SELECT d.state_key_nid, d.event_nid, d.prev_event_nid, k.type, k.state_key
         FROM current_state_delta_stream d JOIN state_keys k ON k.state_key_nid = d.state_key_nid
         WHERE d.stream_ordering = ? AND d.room_nid = ?`,
      ),
      statsExists: db.prepare<[number], number>('SELECT 1 FROM room_stats WHERE room_nid = ?').pluck(),
      insStats: db.prepare<[number]>('INSERT INTO room_stats (room_nid) VALUES (?) ON CONFLICT (room_nid) DO NOTHING'),
      addJoined: db.prepare<[number, number]>('UPDATE room_stats SET joined_members = max(0, joined_members + ?) WHERE room_nid = ?'),
      setFederatable: db.prepare<[number, number]>('UPDATE room_stats SET federatable = ? WHERE room_nid = ?'),
      countJoined: db.prepare<[number], number>("SELECT count(*) FROM room_memberships WHERE room_nid = ? AND membership = 'join'").pluck(),
      setJoined: db.prepare<[number, number]>('UPDATE room_stats SET joined_members = ? WHERE room_nid = ?'),
      stats: db.prepare<[string], StatsDb>(
        `SELECT r.room_id, s.name, s.topic, s.canonical_alias, s.avatar_url, s.join_rule, s.history_visibility, s.guest_access,
                s.room_type, s.joined_members
         FROM rooms r JOIN room_stats s ON s.room_nid = r.room_nid WHERE r.room_id = ?`,
      ),
      joinedServers: db.prepare<[number], string>(
        `SELECT DISTINCT substr(user_id, instr(user_id, ':') + 1) FROM room_memberships WHERE room_nid = ? AND membership = 'join'`,
      ).pluck(),
      localJoined: db.prepare<[number, string], string>(
        `SELECT user_id FROM room_memberships WHERE room_nid = ? AND membership = 'join' AND substr(user_id, instr(user_id, ':') + 1) = ?
         ORDER BY user_id`,
      ).pluck(),
    };
    const setters = new Map<string, Statement<[string | number | null, number]>>();
    for (const { column } of SUMMARY_COLUMNS.values()) {
      setters.set(column, db.prepare<[string | number | null, number]>(`UPDATE room_stats SET ${column} = ? WHERE room_nid = ?`));
    }
    this.setColumn = (column, value, roomNid) => setters.get(column)!.run(value, roomNid);
  }

  private readonly setColumn: (column: string, value: string | number | null, roomNid: number) => void;
  /** Statements of the directory queries, whose text depends on the filter's shape (a few variants). */
  private readonly statements = new Map<string, Statement<unknown[], unknown>>();

  private cached<R>(sql: string): Statement<unknown[], R> {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare<unknown[], unknown>(sql);
      this.statements.set(sql, st);
    }
    return st as Statement<unknown[], R>;
  }

  /**
   * Registers the derived writer keeping room_stats and forgotten_rooms in step with the current
   * state: it runs inside each persistEvent transaction (once per EventStore, however many
   * LifecycleStores are built on it).
   */
  attachDerivedWriter(): void {
    if (writersAttached.has(this.core)) return;
    writersAttached.add(this.core);
    this.core.addDerivedWriter((info) => this.onPersisted(info));
  }

  private onPersisted(info: PersistedEventInfo): void {
    if (info.streamOrdering === null) return;
    const deltas = this.q.deltasOf.all(info.streamOrdering, info.roomNid);
    if (deltas.length === 0) return;
    const content = (nid: number | null): RoomEvent['content'] | undefined => {
      if (nid === null) return undefined;
      return nid === info.eventNid ? info.event.content : this.core.event(nid)?.content;
    };
    // Usually the summary follows the deltas. A room without a row yet (its create event, or a room
    // persisted while no writer was attached) starts from an empty row or from its whole current
    // state, which already includes this event's changes.
    let incremental = true;
    if (this.q.statsExists.get(info.roomNid) === undefined) {
      if (info.event.type === 'm.room.create' && info.event.stateKey === '') this.q.insStats.run(info.roomNid);
      else {
        this.rebuildStatsSync(info.roomNid);
        incremental = false;
      }
    }
    let joinedChange = 0;
    for (const d of deltas) {
      const now = content(d.event_nid);
      if (d.type === MEMBER) {
        const newMembership = now?.membership;
        // A new join, invite or knock brings a forgotten room back (a new membership row in Synapse).
        if (newMembership === 'join' || newMembership === 'invite' || newMembership === 'knock') {
          this.q.unforget.run(d.state_key, info.roomId);
        }
        if (incremental) {
          const oldMembership = d.prev_event_nid === null ? undefined : this.core.membershipOf(d.prev_event_nid);
          joinedChange += (newMembership === 'join' ? 1 : 0) - (oldMembership === 'join' ? 1 : 0);
        }
        continue;
      }
      if (!incremental || d.state_key !== '') continue;
      const col = SUMMARY_COLUMNS.get(d.type);
      if (!col) continue;
      this.setColumn(col.column, now ? col.read(now) : null, info.roomNid);
      if (d.type === 'm.room.create') this.q.setFederatable.run(now?.['m.federate'] === false ? 0 : 1, info.roomNid);
    }
    if (joinedChange !== 0) this.q.addJoined.run(joinedChange, info.roomNid);
  }

  /** Recomputes a room's summary from its current state (inside or outside a transaction). */
  private rebuildStatsSync(roomNid: number): void {
    this.q.insStats.run(roomNid);
    const keyNids = new Map<number, string>();
    for (const type of SUMMARY_COLUMNS.keys()) {
      const nid = this.core.ids.findStateKeyNid(type, '');
      if (nid !== undefined) keyNids.set(nid, type);
    }
    const found = this.core.currentStateLookup(roomNid, [...keyNids.keys()]);
    for (const [keyNid, type] of keyNids) {
      const col = SUMMARY_COLUMNS.get(type)!;
      const eventNid = found.get(keyNid);
      const content = eventNid === undefined ? undefined : this.core.event(eventNid)?.content;
      this.setColumn(col.column, content ? col.read(content) : null, roomNid);
      if (type === 'm.room.create') this.q.setFederatable.run(content?.['m.federate'] === false ? 0 : 1, roomNid);
    }
    this.q.setJoined.run(this.q.countJoined.get(roomNid) ?? 0, roomNid);
  }

  /** Recomputes the summary of a room (e.g. when it is published). */
  async rebuildStats(roomId: string): Promise<void> {
    const room = this.core.room(roomId);
    if (!room || room.currentStateGroup === null) return;
    this.db.transaction(() => this.rebuildStatsSync(room.nid)).immediate();
  }

  // ---- aliases ----

  async getAlias(alias: string): Promise<AliasRow | undefined> {
    const r = this.q.alias.get(alias);
    return r ? { alias: r.alias, roomId: r.room_id, creator: r.creator } : undefined;
  }

  /** Creates the alias; false when it exists already. */
  async createAlias(alias: string, roomId: string, creator: string, ts: number): Promise<boolean> {
    return this.q.insAlias.run(alias, roomId, creator, ts).changes === 1;
  }

  /** Deletes the alias; returns the room it pointed to, or undefined when it did not exist. */
  async deleteAlias(alias: string): Promise<string | undefined> {
    return this.q.delAlias.get(alias)?.room_id;
  }

  async aliasesOfRoom(roomId: string): Promise<string[]> {
    return this.q.aliasesOfRoom.all(roomId);
  }

  /** Points every alias of `fromRoomId` at `toRoomId` (room upgrades); returns the aliases moved. */
  async moveAliases(fromRoomId: string, toRoomId: string): Promise<string[]> {
    return this.db.transaction(() => this.q.moveAliases.all(toRoomId, fromRoomId)).immediate();
  }

  // ---- the published directory ----

  async isPublished(roomId: string): Promise<boolean> {
    return this.q.published.get(roomId) !== undefined;
  }

  async setPublished(roomId: string, published: boolean, ts: number): Promise<void> {
    if (published) this.q.publish.run(roomId, ts);
    else this.q.unpublish.run(roomId);
  }

  /** The directory summary of one room (undefined when the room has no current state). */
  async roomSummary(roomId: string): Promise<DirectoryRoomRow | undefined> {
    const r = this.q.stats.get(roomId);
    return r ? toDirectoryRow(r) : undefined;
  }

  /**
   * One page of listable published rooms, ordered by joined members then room ID, descending
   * (ascending when `forwards` is false). At most `limit` rows.
   */
  async directoryPage(q: DirectoryPageQuery): Promise<DirectoryRoomRow[]> {
    const { where, args } = filterClause(q);
    let bound = '';
    if (q.after) {
      const op = q.forwards ? '<' : '>';
      bound = ` AND (s.joined_members ${op} ? OR (s.joined_members = ? AND r.room_id ${op} ?))`;
      args.push(q.after.joinedMembers, q.after.joinedMembers, q.after.roomId);
    }
    const dir = q.forwards ? 'DESC' : 'ASC';
    args.push(Math.max(0, Math.floor(q.limit)));
    const rows = this.cached<StatsDb>(
        `SELECT r.room_id, s.name, s.topic, s.canonical_alias, s.avatar_url, s.join_rule, s.history_visibility, s.guest_access,
                s.room_type, s.joined_members
         FROM room_directory p JOIN rooms r ON r.room_id = p.room_id JOIN room_stats s ON s.room_nid = r.room_nid
         WHERE ${LISTABLE}${where}${bound}
         ORDER BY s.joined_members ${dir}, r.room_id ${dir} LIMIT ?`,
    ).all(...args);
    return rows.map(toDirectoryRow);
  }

  /** How many published rooms the filter lists (total_room_count_estimate). */
  async countDirectory(f: DirectoryFilter): Promise<number> {
    const { where, args } = filterClause(f);
    const row = this.cached<{ n: number }>(
      `SELECT count(*) AS n FROM room_directory p JOIN rooms r ON r.room_id = p.room_id JOIN room_stats s ON s.room_nid = r.room_nid
       WHERE ${LISTABLE}${where}`,
    ).get(...args);
    return row?.n ?? 0;
  }

  // ---- forgotten rooms ----

  async forget(userId: string, roomId: string): Promise<void> {
    this.q.forget.run(userId, roomId);
  }

  async isForgotten(userId: string, roomId: string): Promise<boolean> {
    return this.q.isForgotten.get(userId, roomId) !== undefined;
  }

  async forgottenRooms(userId: string): Promise<string[]> {
    return this.q.forgottenOf.all(userId);
  }

  // ---- members by server ----

  /** Servers with a joined member in the room. */
  async joinedServers(roomId: string): Promise<string[]> {
    const room = this.core.room(roomId);
    return room ? this.q.joinedServers.all(room.nid) : [];
  }

  /** Joined members of the room on `serverName`, sorted. */
  async joinedMembersOf(roomId: string, serverName: string): Promise<string[]> {
    const room = this.core.room(roomId);
    return room ? this.q.localJoined.all(room.nid, serverName) : [];
  }
}

function toDirectoryRow(r: StatsDb): DirectoryRoomRow {
  return {
    roomId: r.room_id,
    name: r.name,
    topic: r.topic,
    canonicalAlias: r.canonical_alias,
    avatarUrl: r.avatar_url,
    joinRule: r.join_rule,
    historyVisibility: r.history_visibility,
    guestAccess: r.guest_access,
    roomType: r.room_type,
    joinedMembers: r.joined_members,
  };
}

function filterClause(f: DirectoryFilter): { where: string; args: unknown[] } {
  let where = '';
  const args: unknown[] = [];
  if (f.federatableOnly) where += ' AND s.federatable = 1';
  if (f.searchTerm) {
    // Substring match ignoring ASCII case, as LIKE would, but with instr(): a LIKE pattern has a
    // length limit (SQLite's 50,000 bytes) past which the query fails, and any client may send one.
    where += ' AND (instr(lower(s.name), lower(?)) > 0 OR instr(lower(s.topic), lower(?)) > 0 OR instr(lower(s.canonical_alias), lower(?)) > 0)';
    args.push(f.searchTerm, f.searchTerm, f.searchTerm);
  }
  if (f.roomTypes && f.roomTypes.length > 0) {
    const named = [...new Set(f.roomTypes.filter((t): t is string => t !== null))];
    const parts: string[] = [];
    if (f.roomTypes.includes(null)) parts.push('s.room_type IS NULL');
    if (named.length > 0) {
      parts.push(`s.room_type IN (${named.map(() => '?').join(', ')})`);
      args.push(...named);
    }
    where += ` AND (${parts.join(' OR ')})`;
  }
  return { where, args };
}
