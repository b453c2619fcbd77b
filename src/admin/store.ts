// SQLite repository of the admin area: account status (suspension, locks, erasure), client
// addresses per device, and the read queries behind the admin API, mutual rooms, room summaries and
// timestamp lookups. Tables: migrations/1400_admin.sql; the rest is read from other areas' tables.
// Functions are async-shaped like every store, so another database can replace this one.
import type { Database } from '../store/db.js';

export interface AccountStatusRow {
  readonly userNid: number;
  readonly suspended: boolean;
  readonly locked: boolean;
  readonly erased: boolean;
}

export type AccountFlag = 'suspended' | 'locked' | 'erased';

export interface ClientIpRow {
  readonly deviceId: string;
  readonly ip: string;
  readonly userAgent: string;
  readonly lastSeen: number;
}

/** One local user as the admin API lists it. */
export interface AdminUserRow {
  readonly nid: number;
  readonly userId: string;
  readonly isAdmin: boolean;
  readonly isGuest: boolean;
  readonly userType: string | null;
  readonly deactivated: boolean;
  readonly createdTs: number;
  readonly displayName: string | null;
  readonly avatarUrl: string | null;
  readonly lastSeenTs: number | null;
  readonly suspended: boolean;
  readonly locked: boolean;
  readonly erased: boolean;
}

export const USER_ORDERS = [
  'name',
  'is_guest',
  'admin',
  'user_type',
  'deactivated',
  'shadow_banned',
  'displayname',
  'avatar_url',
  'creation_ts',
  'last_seen_ts',
  'locked',
] as const;
export type UserOrder = (typeof USER_ORDERS)[number];

export interface UserListQuery {
  readonly from: number;
  readonly limit: number;
  /** Substring of the full user ID (ignored when `name` is given). */
  readonly userId?: string | undefined;
  /** Substring of the localpart or of the display name. */
  readonly name?: string | undefined;
  /** false: leave guests out. */
  readonly guests: boolean;
  /** false: leave deactivated users out; undefined: no filter. */
  readonly deactivated: boolean | undefined;
  /** true: only admins; false: no admins; undefined: no filter. */
  readonly admins: boolean | undefined;
  /** false: leave locked users out. */
  readonly locked: boolean;
  /** User types to leave out; '' stands for users without a type. */
  readonly notUserTypes: readonly string[];
  readonly orderBy: UserOrder;
  readonly dir: 'f' | 'b';
}

/** One room as the admin API lists it. */
export interface AdminRoomRow {
  readonly roomNid: number;
  readonly roomId: string;
  readonly version: string;
  readonly name: string | null;
  readonly topic: string | null;
  readonly avatarUrl: string | null;
  readonly canonicalAlias: string | null;
  readonly joinedMembers: number;
  readonly joinedLocalMembers: number;
  readonly creator: string | null;
  readonly encryption: string | null;
  readonly federatable: boolean;
  readonly public: boolean;
  readonly joinRules: string | null;
  readonly guestAccess: string | null;
  readonly historyVisibility: string | null;
  readonly stateEvents: number;
  readonly roomType: string | null;
}

export const ROOM_ORDERS = [
  'name',
  'alphabetical',
  'size',
  'canonical_alias',
  'joined_members',
  'joined_local_members',
  'version',
  'creator',
  'encryption',
  'federatable',
  'public',
  'join_rules',
  'guest_access',
  'history_visibility',
  'state_events',
] as const;
export type RoomOrder = (typeof ROOM_ORDERS)[number];

export interface RoomListQuery {
  readonly from: number;
  readonly limit: number;
  readonly orderBy: RoomOrder;
  readonly dir: 'f' | 'b';
  readonly searchTerm?: string | undefined;
  readonly publicRooms?: boolean | undefined;
  readonly emptyRooms?: boolean | undefined;
}

export interface MediaRow {
  readonly mediaId: string;
  readonly createdTs: number;
  readonly mediaType: string | null;
  readonly mediaLength: number | null;
  readonly uploadName: string | null;
}

export const MEDIA_ORDERS = ['media_id', 'upload_name', 'created_ts', 'last_access_ts', 'media_length', 'media_type', 'quarantined_by', 'safe_from_quarantine'] as const;
export type MediaOrder = (typeof MEDIA_ORDERS)[number];

export interface MediaListQuery {
  readonly from: number;
  readonly limit: number;
  readonly orderBy: MediaOrder;
  readonly dir: 'f' | 'b';
}

/** What a room summary (MSC3266) and the admin room details read from the current state. */
export interface RoomSummaryRow extends AdminRoomRow {
  /** The room's join rules content `allow` list, as stored (JSON text), when restricted. */
  readonly joinRulesJson: string | null;
}

/** `s` with LIKE's wildcards escaped (ESCAPE '\'). */
function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

// Columns of a room row, from the room_stats summary (src/rooms/lifecycle) and the current state.
// `@suffix` is the local users' suffix (":" + server name).
const ROOM_COLUMNS = `
  r.room_nid, r.room_id, r.room_version, s.name, s.topic, s.avatar_url, s.canonical_alias,
  COALESCE(s.joined_members, 0) AS joined_members,
  (SELECT count(*) FROM room_memberships m WHERE m.room_nid = r.room_nid AND m.membership = 'join'
     AND substr(m.user_id, -length(@suffix)) = @suffix) AS joined_local_members,
  (SELECT e.sender FROM current_state c JOIN events e ON e.event_nid = c.event_nid
     WHERE c.room_nid = r.room_nid AND c.state_key_nid = (SELECT state_key_nid FROM state_keys WHERE type = 'm.room.create' AND state_key = '')) AS creator,
  (SELECT CASE WHEN json_type(e.json, '$.content.algorithm') = 'text' THEN json_extract(e.json, '$.content.algorithm') END
     FROM current_state c JOIN events e ON e.event_nid = c.event_nid
     WHERE c.room_nid = r.room_nid AND c.state_key_nid = (SELECT state_key_nid FROM state_keys WHERE type = 'm.room.encryption' AND state_key = '')) AS encryption,
  COALESCE(s.federatable, 1) AS federatable,
  EXISTS (SELECT 1 FROM room_directory d WHERE d.room_id = r.room_id) AS is_public,
  s.join_rule, s.guest_access, s.history_visibility,
  (SELECT count(*) FROM current_state c WHERE c.room_nid = r.room_nid) AS state_events,
  s.room_type`;

interface RoomDb {
  room_nid: number;
  room_id: string;
  room_version: string;
  name: string | null;
  topic: string | null;
  avatar_url: string | null;
  canonical_alias: string | null;
  joined_members: number;
  joined_local_members: number;
  creator: string | null;
  encryption: string | null;
  federatable: number;
  is_public: number;
  join_rule: string | null;
  guest_access: string | null;
  history_visibility: string | null;
  state_events: number;
  room_type: string | null;
}

function toRoom(r: RoomDb): AdminRoomRow {
  return {
    roomNid: r.room_nid,
    roomId: r.room_id,
    version: r.room_version,
    name: r.name,
    topic: r.topic,
    avatarUrl: r.avatar_url,
    canonicalAlias: r.canonical_alias,
    joinedMembers: r.joined_members,
    joinedLocalMembers: r.joined_local_members,
    creator: r.creator,
    encryption: r.encryption,
    federatable: r.federatable === 1,
    public: r.is_public === 1,
    joinRules: r.join_rule,
    guestAccess: r.guest_access,
    historyVisibility: r.history_visibility,
    stateEvents: r.state_events,
    roomType: r.room_type,
  };
}

/** Room list order: column and whether `dir=f` means ascending (as Synapse's admin API orders). */
const ROOM_ORDER_SQL: Record<RoomOrder, { column: string; asc: boolean }> = {
  name: { column: 'name', asc: true },
  alphabetical: { column: 'name', asc: true },
  size: { column: 'joined_members', asc: false },
  canonical_alias: { column: 'canonical_alias', asc: true },
  joined_members: { column: 'joined_members', asc: false },
  joined_local_members: { column: 'joined_local_members', asc: false },
  version: { column: 'room_version', asc: false },
  creator: { column: 'creator', asc: true },
  encryption: { column: 'encryption', asc: true },
  federatable: { column: 'federatable', asc: true },
  public: { column: 'is_public', asc: true },
  join_rules: { column: 'join_rule', asc: true },
  guest_access: { column: 'guest_access', asc: true },
  history_visibility: { column: 'history_visibility', asc: true },
  state_events: { column: 'state_events', asc: false },
};

const USER_ORDER_SQL: Record<UserOrder, string> = {
  name: 'u.user_id',
  is_guest: 'u.is_guest',
  admin: 'u.is_admin',
  user_type: 'u.user_type',
  deactivated: 'u.deactivated',
  shadow_banned: '0',
  displayname: 'displayname',
  avatar_url: 'avatar_url',
  creation_ts: 'u.created_ts',
  last_seen_ts: 'last_seen_ts',
  locked: 'locked',
};

const MEDIA_ORDER_SQL: Record<MediaOrder, string> = {
  media_id: 'media_id',
  upload_name: 'upload_name',
  created_ts: 'created_ts',
  // Not tracked: every row ties, the media ID decides.
  last_access_ts: '0',
  media_length: 'media_length',
  media_type: 'media_type',
  quarantined_by: '0',
  safe_from_quarantine: '0',
};

const USER_COLUMNS = `
  u.id, u.user_id, u.is_admin, u.is_guest, u.user_type, u.deactivated, u.created_ts,
  (SELECT json_extract(p.value, '$') FROM profile_fields p WHERE p.user_nid = u.id AND p.field = 'displayname') AS displayname,
  (SELECT json_extract(p.value, '$') FROM profile_fields p WHERE p.user_nid = u.id AND p.field = 'avatar_url') AS avatar_url,
  (SELECT max(d.last_seen_ts) FROM devices d WHERE d.user_nid = u.id) AS last_seen_ts,
  COALESCE(st.suspended, 0) AS suspended, COALESCE(st.locked, 0) AS locked, COALESCE(st.erased, 0) AS erased`;

interface UserDb {
  id: number;
  user_id: string;
  is_admin: number;
  is_guest: number;
  user_type: string | null;
  deactivated: number;
  created_ts: number;
  displayname: unknown;
  avatar_url: unknown;
  last_seen_ts: number | null;
  suspended: number;
  locked: number;
  erased: number;
}

function toUser(r: UserDb): AdminUserRow {
  return {
    nid: r.id,
    userId: r.user_id,
    isAdmin: r.is_admin === 1,
    isGuest: r.is_guest === 1,
    userType: r.user_type,
    deactivated: r.deactivated === 1,
    createdTs: r.created_ts,
    displayName: typeof r.displayname === 'string' ? r.displayname : null,
    avatarUrl: typeof r.avatar_url === 'string' ? r.avatar_url : null,
    lastSeenTs: r.last_seen_ts,
    suspended: r.suspended === 1,
    locked: r.locked === 1,
    erased: r.erased === 1,
  };
}

export class AdminStore {
  private readonly q;
  private readonly localSuffix: string;

  constructor(
    private readonly db: Database,
    serverName: string,
  ) {
    this.localSuffix = `:${serverName}`;
    this.q = {
      statuses: db.prepare<[], { user_nid: number; suspended: number; locked: number; erased: number }>(
        'SELECT user_nid, suspended, locked, erased FROM account_status WHERE suspended = 1 OR locked = 1 OR erased = 1',
      ),
      status: db.prepare<[number], { suspended: number; locked: number; erased: number }>('SELECT suspended, locked, erased FROM account_status WHERE user_nid = ?'),
      setSuspended: db.prepare<[number, number, number]>(
        `INSERT INTO account_status (user_nid, suspended, updated_ts) VALUES (?, ?, ?)
         ON CONFLICT (user_nid) DO UPDATE SET suspended = excluded.suspended, updated_ts = excluded.updated_ts`,
      ),
      setLocked: db.prepare<[number, number, number]>(
        `INSERT INTO account_status (user_nid, locked, updated_ts) VALUES (?, ?, ?)
         ON CONFLICT (user_nid) DO UPDATE SET locked = excluded.locked, updated_ts = excluded.updated_ts`,
      ),
      setErased: db.prepare<[number, number, number]>(
        `INSERT INTO account_status (user_nid, erased, updated_ts) VALUES (?, ?, ?)
         ON CONFLICT (user_nid) DO UPDATE SET erased = excluded.erased, updated_ts = excluded.updated_ts`,
      ),
      upsertIp: db.prepare<[number, string, string, string, number]>(
        `INSERT INTO client_ips (user_nid, device_id, ip, user_agent, last_seen) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (user_nid, device_id, ip, user_agent) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
      ),
      ipsOfUser: db.prepare<[number], { device_id: string; ip: string; user_agent: string; last_seen: number }>(
        'SELECT device_id, ip, user_agent, last_seen FROM client_ips WHERE user_nid = ? ORDER BY device_id, last_seen DESC',
      ),
      deleteIpsOfDevice: db.prepare<[number, string]>('DELETE FROM client_ips WHERE user_nid = ? AND device_id = ?'),
      userByName: db.prepare<[string], UserDb>(`SELECT ${USER_COLUMNS} FROM users u LEFT JOIN account_status st ON st.user_nid = u.id WHERE u.user_id = ?`),
      setUserType: db.prepare<[string | null, number]>('UPDATE users SET user_type = ? WHERE id = ?'),
      reactivate: db.prepare<[number]>('UPDATE users SET deactivated = 0 WHERE id = ?'),
      room: db.prepare<[{ suffix: string; roomId: string }], RoomDb>(
        `SELECT ${ROOM_COLUMNS} FROM rooms r LEFT JOIN room_stats s ON s.room_nid = r.room_nid
         WHERE r.room_id = @roomId AND r.current_state_group IS NOT NULL`,
      ),
      joinRulesJson: db.prepare<[number], string>(
        `SELECT json_extract(e.json, '$.content') FROM current_state c JOIN events e ON e.event_nid = c.event_nid
         WHERE c.room_nid = ? AND c.state_key_nid = (SELECT state_key_nid FROM state_keys WHERE type = 'm.room.join_rules' AND state_key = '')`,
      ).pluck(),
      joinedLocalDevices: db.prepare<[{ room: number; suffix: string }], number>(
        `SELECT count(*) FROM room_memberships m JOIN users u ON u.user_id = m.user_id JOIN devices d ON d.user_nid = u.id
         WHERE m.room_nid = @room AND m.membership = 'join' AND substr(m.user_id, -length(@suffix)) = @suffix`,
      ).pluck(),
      // Whether every local user with a membership forgot the room (Synapse's `forgotten`).
      notForgotten: db.prepare<[{ room: number; suffix: string }], number>(
        `SELECT count(*) FROM room_memberships m JOIN rooms r ON r.room_nid = m.room_nid
         WHERE m.room_nid = @room AND substr(m.user_id, -length(@suffix)) = @suffix
           AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = m.user_id AND f.room_id = r.room_id)`,
      ).pluck(),
      mutual: db.prepare<[string, string, string, number], string>(
        `SELECT r.room_id FROM room_memberships a
           JOIN room_memberships b ON b.room_nid = a.room_nid AND b.membership = 'join'
           JOIN rooms r ON r.room_nid = a.room_nid
         WHERE a.user_id = ? AND a.membership = 'join' AND b.user_id = ? AND r.room_id > ?
         ORDER BY r.room_id LIMIT ?`,
      ).pluck(),
      mutualCount: db.prepare<[string, string], number>(
        `SELECT count(*) FROM room_memberships a
           JOIN room_memberships b ON b.room_nid = a.room_nid AND b.membership = 'join'
         WHERE a.user_id = ? AND a.membership = 'join' AND b.user_id = ?`,
      ).pluck(),
      // Events clients may see (not outliers, rejected or soft-failed), closest to a time.
      tsForward: db.prepare<[string, number], { event_id: string; origin_server_ts: number }>(
        `SELECT i.event_id, e.origin_server_ts FROM rooms r JOIN events e ON e.room_nid = r.room_nid JOIN event_ids i ON i.event_nid = e.event_nid
         WHERE r.room_id = ? AND e.origin_server_ts >= ? AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.soft_failed = 0
         ORDER BY e.origin_server_ts ASC, e.stream_ordering ASC LIMIT 1`,
      ),
      tsBackward: db.prepare<[string, number], { event_id: string; origin_server_ts: number }>(
        `SELECT i.event_id, e.origin_server_ts FROM rooms r JOIN events e ON e.room_nid = r.room_nid JOIN event_ids i ON i.event_nid = e.event_nid
         WHERE r.room_id = ? AND e.origin_server_ts <= ? AND e.outlier = 0 AND e.rejected_reason IS NULL AND e.soft_failed = 0
         ORDER BY e.origin_server_ts DESC, e.stream_ordering DESC LIMIT 1`,
      ),
      mediaCount: db.prepare<[string], number>('SELECT count(*) FROM media_local WHERE user_id = ? AND media_length IS NOT NULL').pluck(),
    };
  }

  // ---- account status ----

  /** Every user with a flag set (loaded once at start: the auth hook checks these in memory). */
  async accountStatuses(): Promise<AccountStatusRow[]> {
    return this.q.statuses.all().map((r) => ({ userNid: r.user_nid, suspended: r.suspended === 1, locked: r.locked === 1, erased: r.erased === 1 }));
  }

  async accountStatus(userNid: number): Promise<AccountStatusRow> {
    const r = this.q.status.get(userNid);
    return { userNid, suspended: r?.suspended === 1, locked: r?.locked === 1, erased: r?.erased === 1 };
  }

  async setAccountFlag(userNid: number, flag: AccountFlag, value: boolean, now: number): Promise<void> {
    const stmt = flag === 'suspended' ? this.q.setSuspended : flag === 'locked' ? this.q.setLocked : this.q.setErased;
    stmt.run(userNid, value ? 1 : 0, now);
  }

  // ---- client addresses ----

  async recordClientIp(userNid: number, deviceId: string, ip: string, userAgent: string, ts: number): Promise<void> {
    this.q.upsertIp.run(userNid, deviceId, ip, userAgent, ts);
  }

  /** Every recorded connection of the user, by device, newest first within a device. */
  async clientIps(userNid: number): Promise<ClientIpRow[]> {
    return this.q.ipsOfUser.all(userNid).map((r) => ({ deviceId: r.device_id, ip: r.ip, userAgent: r.user_agent, lastSeen: r.last_seen }));
  }

  async deleteClientIps(userNid: number, deviceIds: readonly string[]): Promise<void> {
    this.db.transaction(() => {
      for (const d of deviceIds) this.q.deleteIpsOfDevice.run(userNid, d);
    })();
  }

  // ---- users ----

  async user(userId: string): Promise<AdminUserRow | undefined> {
    const r = this.q.userByName.get(userId);
    return r ? toUser(r) : undefined;
  }

  /** A page of local users and how many match in all (GET /_synapse/admin/v2/users). */
  async listUsers(q: UserListQuery): Promise<{ users: AdminUserRow[]; total: number }> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.name !== undefined && q.name !== '') {
      // As Synapse: the localpart, or the display name ignoring case.
      where.push(
        `(u.user_id LIKE ? ESCAPE '\\' OR lower((SELECT json_extract(p.value, '$') FROM profile_fields p WHERE p.user_nid = u.id AND p.field = 'displayname')) LIKE ? ESCAPE '\\')`,
      );
      args.push(`@%${likeEscape(q.name)}%:%`, `%${likeEscape(q.name.toLowerCase())}%`);
    } else if (q.userId !== undefined && q.userId !== '') {
      where.push(`u.user_id LIKE ? ESCAPE '\\'`);
      args.push(`%${likeEscape(q.userId)}%`);
    }
    if (!q.guests) where.push('u.is_guest = 0');
    if (q.deactivated === false) where.push('u.deactivated = 0');
    if (q.admins !== undefined) where.push(q.admins ? 'u.is_admin = 1' : 'u.is_admin = 0');
    if (!q.locked) where.push('COALESCE(st.locked, 0) = 0');
    const types = q.notUserTypes.filter((t) => t !== '');
    if (types.length > 0) {
      where.push(`(u.user_type IS NULL OR u.user_type NOT IN (${types.map(() => '?').join(', ')}))`);
      args.push(...types);
    }
    if (q.notUserTypes.includes('')) where.push('u.user_type IS NOT NULL');
    const whereSql = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const from = 'FROM users u LEFT JOIN account_status st ON st.user_nid = u.id';
    const dir = q.dir === 'f' ? 'ASC' : 'DESC';
    const rows = this.db
      .prepare<(string | number)[], UserDb>(
        `SELECT ${USER_COLUMNS} ${from} ${whereSql} ORDER BY ${USER_ORDER_SQL[q.orderBy]} ${dir}, u.user_id ASC LIMIT ? OFFSET ?`,
      )
      .all(...args, q.limit, q.from);
    const total = this.db.prepare<(string | number)[], number>(`SELECT count(*) ${from} ${whereSql}`).pluck().get(...args) ?? 0;
    return { users: rows.map(toUser), total };
  }

  async setUserType(userNid: number, userType: string | null): Promise<void> {
    this.q.setUserType.run(userType, userNid);
  }

  /** Clears the deactivated flag (the admin API's `deactivated: false`); the password is set separately. */
  async reactivateUser(userNid: number): Promise<void> {
    this.q.reactivate.run(userNid);
  }

  // ---- rooms ----

  async room(roomId: string): Promise<RoomSummaryRow | undefined> {
    const r = this.q.room.get({ suffix: this.localSuffix, roomId });
    if (!r) return undefined;
    return { ...toRoom(r), joinRulesJson: this.q.joinRulesJson.get(r.room_nid) ?? null };
  }

  /** A page of rooms with state here and how many match in all (GET /_synapse/admin/v1/rooms). */
  async listRooms(q: RoomListQuery): Promise<{ rooms: AdminRoomRow[]; total: number }> {
    const where = ['r.current_state_group IS NOT NULL'];
    const args: (string | number)[] = [];
    if (q.searchTerm !== undefined) {
      // As Synapse: the name (ignoring case), the canonical alias's localpart, or the exact room ID.
      where.push(`(lower(s.name) LIKE ? ESCAPE '\\' OR lower(s.canonical_alias) LIKE ? ESCAPE '\\' OR r.room_id = ?)`);
      const t = likeEscape(q.searchTerm.toLowerCase());
      args.push(`%${t}%`, `#%${t}%:%`, q.searchTerm);
    }
    if (q.publicRooms !== undefined) where.push(`${q.publicRooms ? '' : 'NOT '}EXISTS (SELECT 1 FROM room_directory d WHERE d.room_id = r.room_id)`);
    if (q.emptyRooms !== undefined) where.push(q.emptyRooms ? 'COALESCE(s.joined_members, 0) = 0' : 'COALESCE(s.joined_members, 0) <> 0');
    const order = ROOM_ORDER_SQL[q.orderBy];
    const asc = q.dir === 'f' ? order.asc : !order.asc;
    const dir = asc ? 'ASC' : 'DESC';
    const from = 'FROM rooms r LEFT JOIN room_stats s ON s.room_nid = r.room_nid';
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const rows = this.db
      .prepare<[{ suffix: string }, ...(string | number)[]], RoomDb>(
        `SELECT ${ROOM_COLUMNS} ${from} ${whereSql} ORDER BY ${order.column} ${dir}, r.room_id ${dir} LIMIT ? OFFSET ?`,
      )
      .all({ suffix: this.localSuffix }, ...args, q.limit, q.from);
    const total = this.db.prepare<(string | number)[], number>(`SELECT count(*) ${from} ${whereSql}`).pluck().get(...args) ?? 0;
    return { rooms: rows.map(toRoom), total };
  }

  /** Devices of local users joined to the room (the admin room details' joined_local_devices). */
  async joinedLocalDevices(roomNid: number): Promise<number> {
    return this.q.joinedLocalDevices.get({ room: roomNid, suffix: this.localSuffix }) ?? 0;
  }

  /** Whether every local user with a membership in the room has forgotten it. */
  async forgottenByAllLocalUsers(roomNid: number): Promise<boolean> {
    return (this.q.notForgotten.get({ room: roomNid, suffix: this.localSuffix }) ?? 0) === 0;
  }

  /** Rooms both users are joined to, by room ID, after `after` (exclusive). */
  async mutualRooms(userA: string, userB: string, after: string, limit: number): Promise<string[]> {
    return this.q.mutual.all(userA, userB, after, limit);
  }

  async mutualRoomCount(userA: string, userB: string): Promise<number> {
    return this.q.mutualCount.get(userA, userB) ?? 0;
  }

  /** The visible event at or after (`f`) / at or before (`b`) `ts`, if any. */
  async closestEvent(roomId: string, ts: number, dir: 'f' | 'b'): Promise<{ eventId: string; originServerTs: number } | undefined> {
    const r = (dir === 'f' ? this.q.tsForward : this.q.tsBackward).get(roomId, ts);
    return r ? { eventId: r.event_id, originServerTs: r.origin_server_ts } : undefined;
  }

  // ---- media ----

  /** A page of the user's local uploads (pending uploads left out) and how many there are. */
  async userMedia(userId: string, q: MediaListQuery): Promise<{ media: MediaRow[]; total: number }> {
    const dir = q.dir === 'f' ? 'ASC' : 'DESC';
    const rows = this.db
      .prepare<[string, number, number], { media_id: string; created_ts: number; media_type: string | null; media_length: number | null; upload_name: string | null }>(
        `SELECT media_id, created_ts, media_type, media_length, upload_name FROM media_local
         WHERE user_id = ? AND media_length IS NOT NULL ORDER BY ${MEDIA_ORDER_SQL[q.orderBy]} ${dir}, media_id ASC LIMIT ? OFFSET ?`,
      )
      .all(userId, q.limit, q.from);
    return {
      media: rows.map((r) => ({ mediaId: r.media_id, createdTs: r.created_ts, mediaType: r.media_type, mediaLength: r.media_length, uploadName: r.upload_name })),
      total: this.q.mediaCount.get(userId) ?? 0,
    };
  }
}
