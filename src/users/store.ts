// SQLite repository for users, devices, access/refresh tokens, profiles, account data and filters.
// Every change is one transaction behind one named function; functions are async-shaped so another
// store (PostgreSQL) can replace this one without touching callers.
import type { Database } from '../store/db.js';
import { createStreamCounters, type StreamCounters } from './streams.js';

export interface UserRow {
  nid: number;
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  userType: string | null;
  deactivated: boolean;
  createdTs: number;
}

export interface DeviceRow {
  deviceId: string;
  displayName: string | null;
  lastSeenIp: string | null;
  lastSeenTs: number | null;
}

/** What an access token resolves to (one indexed probe joining users and devices). */
export interface AccessTokenRow {
  tokenId: number;
  userNid: number;
  userId: string;
  isGuest: boolean;
  isAdmin: boolean;
  deviceNid: number;
  deviceId: string;
  expiresTs: number | null;
  refreshTokenId: number | null;
  used: boolean;
  lastSeenTs: number | null;
}

export interface NewSession {
  userNid: number;
  deviceId: string;
  /** Used only when the device is created now. */
  initialDisplayName: string | null;
  /** Where the client logged in from: the device's first last-seen entry. */
  ip: string | null;
  accessTokenHash: Buffer;
  /** With a refresh token the access token expires at `expiresTs`. */
  refreshTokenHash: Buffer | null;
  expiresTs: number | null;
  now: number;
}

export interface RefreshOutcome {
  userId: string;
  deviceId: string;
  /** Hashes of access tokens revoked by this refresh (to drop from caches). */
  revokedTokenHashes: Buffer[];
}

export interface RemovedDevices {
  deviceIds: string[];
  revokedTokenHashes: Buffer[];
}

export interface AccountDataChange {
  roomId: string | null;
  type: string;
  /** The content as stored (JSON text). */
  content: string;
  streamId: number;
}

export interface NewUser {
  userId: string;
  passwordHash: string | null;
  isAdmin: boolean;
  isGuest: boolean;
  userType: string | null;
  /** Stored as the displayname profile field when given. */
  displayName: string | null;
  now: number;
}

export interface UsersStore {
  readonly streams: StreamCounters;
  getUser(userId: string): Promise<UserRow | undefined>;
  /** User IDs equal to `userId` ignoring case (login fallback). */
  findUserIdsIgnoringCase(userId: string): Promise<string[]>;
  /** Inserts the user; undefined when the ID is taken. */
  createUser(u: NewUser): Promise<number | undefined>;
  /** A number not yet handed out for generated (numeric) localparts. */
  nextGeneratedLocalpart(): Promise<number>;
  setPasswordHash(userNid: number, hash: string): Promise<void>;
  setAdmin(userNid: number, isAdmin: boolean): Promise<void>;
  /** Turns a guest into a full user with this password. */
  upgradeGuest(userNid: number, passwordHash: string): Promise<void>;
  /**
   * Marks the user deactivated, wipes the password, removes every device and token and the profile;
   * with `erase`, also account data and filters.
   */
  deactivateUser(userNid: number, erase: boolean): Promise<RemovedDevices>;

  /**
   * Login/registration: creates the device unless it exists, revokes tokens the device had, and
   * issues the new access (and refresh) token, in one transaction.
   */
  startSession(s: NewSession): Promise<{ revokedTokenHashes: Buffer[]; deviceCreated: boolean }>;
  getAccessToken(hash: Buffer): Promise<AccessTokenRow | undefined>;
  /** First use of a refreshed access token: revokes the refresh token it replaced. */
  markAccessTokenUsed(tokenId: number, refreshTokenId: number): Promise<void>;
  /**
   * Exchanges a refresh token for a new access token and refresh token; undefined when the refresh
   * token is unknown or revoked.
   */
  refreshSession(
    oldRefreshHash: Buffer,
    newRefreshHash: Buffer,
    newAccessHash: Buffer,
    expiresTs: number,
    now: number,
  ): Promise<RefreshOutcome | undefined>;
  touchDevice(deviceNid: number, ip: string | null, ts: number): Promise<void>;

  listDevices(userNid: number): Promise<DeviceRow[]>;
  getDevice(userNid: number, deviceId: string): Promise<DeviceRow | undefined>;
  /**
   * Creates a device without any access token (e.g. a dehydrated device, MSC3814); false when the
   * user already has a device with that ID.
   */
  createDevice(userNid: number, deviceId: string, displayName: string | null, now: number): Promise<boolean>;
  /** False when the user has no such device. */
  setDeviceDisplayName(userNid: number, deviceId: string, displayName: string | null): Promise<boolean>;
  /** Deletes the named devices (or all, except `exceptDeviceId`) with their tokens. */
  deleteDevices(userNid: number, which: { deviceIds: string[] } | { allExcept: string | null }): Promise<RemovedDevices>;

  getProfile(userNid: number): Promise<Map<string, string>>;
  setProfileField(userNid: number, field: string, valueJson: string): Promise<void>;
  deleteProfileField(userNid: number, field: string): Promise<void>;

  getAccountData(userNid: number, roomId: string | null, type: string): Promise<string | undefined>;
  /** Stores the content (JSON text) and returns its stream position. */
  putAccountData(userNid: number, roomId: string | null, type: string, contentJson: string): Promise<number>;
  /**
   * Read-modify-write of one room's m.tag content in one transaction: `update` gets the current
   * tags and returns the new ones. Returns the stream position.
   */
  updateRoomTags(userNid: number, roomId: string, update: (tags: Record<string, unknown>) => Record<string, unknown>): Promise<number>;
  /** Account data changed after stream position `since` (exclusive), up to `upTo` (inclusive). */
  accountDataSince(userNid: number, since: number, upTo: number): Promise<AccountDataChange[]>;
  /** Every account data entry of the user (initial sync). */
  allAccountData(userNid: number): Promise<AccountDataChange[]>;

  /** Stores the filter (canonical JSON) and returns its ID; an identical filter gets its old ID back. */
  addFilter(userNid: number, canonical: string): Promise<number>;
  getFilter(userNid: number, filterId: number): Promise<string | undefined>;
}

interface UserDbRow {
  id: number;
  user_id: string;
  password_hash: string | null;
  is_admin: number;
  is_guest: number;
  user_type: string | null;
  deactivated: number;
  created_ts: number;
}

const GLOBAL_ROOM = '';
const TAG_TYPE = 'm.tag';

function toUser(r: UserDbRow): UserRow {
  return {
    nid: r.id,
    userId: r.user_id,
    passwordHash: r.password_hash,
    isAdmin: r.is_admin === 1,
    isGuest: r.is_guest === 1,
    userType: r.user_type,
    deactivated: r.deactivated === 1,
    createdTs: r.created_ts,
  };
}

export function createUsersStore(db: Database): UsersStore {
  const streams = createStreamCounters(db);

  const q = {
    getUser: db.prepare<[string], UserDbRow>('SELECT * FROM users WHERE user_id = ?'),
    usersIgnoringCase: db.prepare<[string], { user_id: string }>('SELECT user_id FROM users WHERE lower(user_id) = lower(?)'),
    insertUser: db.prepare(
      `INSERT INTO users (user_id, password_hash, is_admin, is_guest, user_type, created_ts)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO NOTHING`,
    ),
    setPassword: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
    setAdmin: db.prepare('UPDATE users SET is_admin = ? WHERE id = ?'),
    upgradeGuest: db.prepare('UPDATE users SET password_hash = ?, is_guest = 0 WHERE id = ?'),
    deactivate: db.prepare('UPDATE users SET deactivated = 1, password_hash = NULL WHERE id = ?'),

    getDeviceNid: db.prepare<[number, string], { id: number }>('SELECT id FROM devices WHERE user_nid = ? AND device_id = ?'),
    insertDevice: db.prepare<[number, string, string | null, string | null, number, number]>(
      'INSERT INTO devices (user_nid, device_id, display_name, last_seen_ip, last_seen_ts, created_ts) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    tokenHashesOfDevice: db.prepare<[number], { token_hash: Buffer }>('SELECT token_hash FROM access_tokens WHERE device_nid = ?'),
    deleteTokensOfDevice: db.prepare('DELETE FROM access_tokens WHERE device_nid = ?'),
    deleteRefreshOfDevice: db.prepare('DELETE FROM refresh_tokens WHERE device_nid = ?'),
    insertRefresh: db.prepare<[Buffer, number, number, number]>(
      'INSERT INTO refresh_tokens (token_hash, user_nid, device_nid, created_ts) VALUES (?, ?, ?, ?)',
    ),
    insertAccess: db.prepare<[Buffer, number, number, number | null, number | null, number]>(
      `INSERT INTO access_tokens (token_hash, user_nid, device_nid, refresh_token_id, expires_ts, created_ts)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    getAccess: db.prepare<
      [Buffer],
      {
        id: number;
        user_nid: number;
        user_id: string;
        is_guest: number;
        is_admin: number;
        device_nid: number;
        device_id: string;
        expires_ts: number | null;
        refresh_token_id: number | null;
        used: number;
        last_seen_ts: number | null;
      }
    >(
      `SELECT t.id, t.user_nid, u.user_id, u.is_guest, u.is_admin, t.device_nid, d.device_id,
              t.expires_ts, t.refresh_token_id, t.used, d.last_seen_ts
       FROM access_tokens t JOIN users u ON u.id = t.user_nid JOIN devices d ON d.id = t.device_nid
       WHERE t.token_hash = ?`,
    ),
    markUsed: db.prepare('UPDATE access_tokens SET used = 1 WHERE id = ?'),
    deletePredecessorRefresh: db.prepare('DELETE FROM refresh_tokens WHERE next_id = ?'),
    getRefresh: db.prepare<[Buffer], { id: number; user_nid: number; device_nid: number; next_id: number | null }>(
      'SELECT id, user_nid, device_nid, next_id FROM refresh_tokens WHERE token_hash = ?',
    ),
    refreshOwner: db.prepare<[number], { user_id: string; device_id: string }>(
      'SELECT u.user_id, d.device_id FROM devices d JOIN users u ON u.id = d.user_nid WHERE d.id = ?',
    ),
    tokenHashesOfRefresh: db.prepare<[number], { token_hash: Buffer }>('SELECT token_hash FROM access_tokens WHERE refresh_token_id = ?'),
    deleteAccessOfRefresh: db.prepare('DELETE FROM access_tokens WHERE refresh_token_id = ?'),
    deleteRefresh: db.prepare('DELETE FROM refresh_tokens WHERE id = ?'),
    setRefreshNext: db.prepare('UPDATE refresh_tokens SET next_id = ? WHERE id = ?'),
    touchDevice: db.prepare('UPDATE devices SET last_seen_ip = ?, last_seen_ts = ? WHERE id = ?'),

    listDevices: db.prepare<[number], { id: number; device_id: string; display_name: string | null; last_seen_ip: string | null; last_seen_ts: number | null }>(
      'SELECT id, device_id, display_name, last_seen_ip, last_seen_ts FROM devices WHERE user_nid = ? ORDER BY device_id',
    ),
    getDevice: db.prepare<[number, string], { device_id: string; display_name: string | null; last_seen_ip: string | null; last_seen_ts: number | null }>(
      'SELECT device_id, display_name, last_seen_ip, last_seen_ts FROM devices WHERE user_nid = ? AND device_id = ?',
    ),
    setDeviceName: db.prepare('UPDATE devices SET display_name = ? WHERE user_nid = ? AND device_id = ?'),
    deleteDevice: db.prepare('DELETE FROM devices WHERE id = ?'),

    getProfile: db.prepare<[number], { field: string; value: string }>('SELECT field, value FROM profile_fields WHERE user_nid = ?'),
    setProfileField: db.prepare(
      `INSERT INTO profile_fields (user_nid, field, value) VALUES (?, ?, ?)
       ON CONFLICT (user_nid, field) DO UPDATE SET value = excluded.value`,
    ),
    deleteProfileField: db.prepare('DELETE FROM profile_fields WHERE user_nid = ? AND field = ?'),
    deleteProfile: db.prepare('DELETE FROM profile_fields WHERE user_nid = ?'),

    getAccountData: db.prepare<[number, string, string], { content: string }>(
      'SELECT content FROM account_data WHERE user_nid = ? AND room_id = ? AND type = ?',
    ),
    putAccountData: db.prepare(
      `INSERT INTO account_data (user_nid, room_id, type, content, stream_id) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (user_nid, room_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id`,
    ),
    accountDataSince: db.prepare<[number, number, number], { room_id: string; type: string; content: string; stream_id: number }>(
      `SELECT room_id, type, content, stream_id FROM account_data
       WHERE user_nid = ? AND stream_id > ? AND stream_id <= ? ORDER BY stream_id`,
    ),
    allAccountData: db.prepare<[number], { room_id: string; type: string; content: string; stream_id: number }>(
      'SELECT room_id, type, content, stream_id FROM account_data WHERE user_nid = ? ORDER BY stream_id',
    ),
    deleteAccountData: db.prepare('DELETE FROM account_data WHERE user_nid = ?'),

    findFilter: db.prepare<[number, string], { filter_id: number }>('SELECT filter_id FROM filters WHERE user_nid = ? AND canonical = ?'),
    maxFilter: db.prepare<[number], { m: number | null }>('SELECT MAX(filter_id) AS m FROM filters WHERE user_nid = ?'),
    insertFilter: db.prepare('INSERT INTO filters (user_nid, filter_id, canonical) VALUES (?, ?, ?)'),
    getFilter: db.prepare<[number, number], { canonical: string }>('SELECT canonical FROM filters WHERE user_nid = ? AND filter_id = ?'),
    deleteFilters: db.prepare('DELETE FROM filters WHERE user_nid = ?'),
  };

  /** Deletes devices by row id, returning the hashes of the tokens that go with them. */
  function removeDeviceRows(rows: { id: number; device_id: string }[]): RemovedDevices {
    const out: RemovedDevices = { deviceIds: [], revokedTokenHashes: [] };
    for (const r of rows) {
      for (const t of q.tokenHashesOfDevice.all(r.id)) out.revokedTokenHashes.push(t.token_hash);
      // Tokens and refresh tokens go with the device (ON DELETE CASCADE).
      q.deleteDevice.run(r.id);
      out.deviceIds.push(r.device_id);
    }
    return out;
  }

  const tx = {
    createUser: db.transaction((u: NewUser): number | undefined => {
      const res = q.insertUser.run(u.userId, u.passwordHash, u.isAdmin ? 1 : 0, u.isGuest ? 1 : 0, u.userType, u.now);
      if (res.changes === 0) return undefined;
      const nid = Number(res.lastInsertRowid);
      if (u.displayName !== null) q.setProfileField.run(nid, 'displayname', JSON.stringify(u.displayName));
      return nid;
    }),
    deactivate: db.transaction((userNid: number, erase: boolean): RemovedDevices => {
      q.deactivate.run(userNid);
      const removed = removeDeviceRows(q.listDevices.all(userNid));
      q.deleteProfile.run(userNid);
      if (erase) {
        q.deleteAccountData.run(userNid);
        q.deleteFilters.run(userNid);
      }
      return removed;
    }),
    startSession: db.transaction((s: NewSession): { revokedTokenHashes: Buffer[]; deviceCreated: boolean } => {
      let deviceNid = q.getDeviceNid.get(s.userNid, s.deviceId)?.id;
      const revokedTokenHashes: Buffer[] = [];
      const deviceCreated = deviceNid === undefined;
      if (deviceNid === undefined) {
        deviceNid = Number(q.insertDevice.run(s.userNid, s.deviceId, s.initialDisplayName, s.ip, s.now, s.now).lastInsertRowid);
      } else {
        // Logging in again on a known device replaces its tokens (spec "Relationship between
        // access tokens and devices": the server may invalidate tokens previously assigned to it).
        for (const t of q.tokenHashesOfDevice.all(deviceNid)) revokedTokenHashes.push(t.token_hash);
        q.deleteTokensOfDevice.run(deviceNid);
        q.deleteRefreshOfDevice.run(deviceNid);
        q.touchDevice.run(s.ip, s.now, deviceNid);
      }
      let refreshId: number | null = null;
      if (s.refreshTokenHash) {
        refreshId = Number(q.insertRefresh.run(s.refreshTokenHash, s.userNid, deviceNid, s.now).lastInsertRowid);
      }
      q.insertAccess.run(s.accessTokenHash, s.userNid, deviceNid, refreshId, s.expiresTs, s.now);
      return { revokedTokenHashes, deviceCreated };
    }),
    markUsed: db.transaction((tokenId: number, refreshTokenId: number) => {
      q.markUsed.run(tokenId);
      q.deletePredecessorRefresh.run(refreshTokenId);
    }),
    refresh: db.transaction(
      (oldHash: Buffer, newRefreshHash: Buffer, newAccessHash: Buffer, expiresTs: number, now: number): RefreshOutcome | undefined => {
        const rt = q.getRefresh.get(oldHash);
        if (!rt) return undefined;
        const owner = q.refreshOwner.get(rt.device_nid)!;
        const revokedTokenHashes: Buffer[] = [];
        // A successor issued before but never used: the client lost that answer and retries.
        if (rt.next_id !== null) {
          for (const t of q.tokenHashesOfRefresh.all(rt.next_id)) revokedTokenHashes.push(t.token_hash);
          q.deleteRefresh.run(rt.next_id);
        }
        // Using this token proves its predecessor is no longer needed.
        q.deletePredecessorRefresh.run(rt.id);
        // The access token issued with this refresh token is replaced now.
        for (const t of q.tokenHashesOfRefresh.all(rt.id)) revokedTokenHashes.push(t.token_hash);
        q.deleteAccessOfRefresh.run(rt.id);
        const newId = Number(q.insertRefresh.run(newRefreshHash, rt.user_nid, rt.device_nid, now).lastInsertRowid);
        q.insertAccess.run(newAccessHash, rt.user_nid, rt.device_nid, newId, expiresTs, now);
        q.setRefreshNext.run(newId, rt.id);
        return { userId: owner.user_id, deviceId: owner.device_id, revokedTokenHashes };
      },
    ),
    createDevice: db.transaction((userNid: number, deviceId: string, displayName: string | null, now: number): boolean => {
      if (q.getDeviceNid.get(userNid, deviceId) !== undefined) return false;
      q.insertDevice.run(userNid, deviceId, displayName, null, now, now);
      return true;
    }),
    deleteDevices: db.transaction((userNid: number, which: { deviceIds: string[] } | { allExcept: string | null }): RemovedDevices => {
      let rows: { id: number; device_id: string }[];
      if ('deviceIds' in which) {
        rows = [];
        for (const id of new Set(which.deviceIds)) {
          const nid = q.getDeviceNid.get(userNid, id)?.id;
          if (nid !== undefined) rows.push({ id: nid, device_id: id });
        }
      } else {
        rows = q.listDevices.all(userNid).filter((d) => d.device_id !== which.allExcept);
      }
      return removeDeviceRows(rows);
    }),
    putAccountData: db.transaction((userNid: number, roomId: string, type: string, content: string): number => {
      const streamId = streams.next('account_data');
      q.putAccountData.run(userNid, roomId, type, content, streamId);
      return streamId;
    }),
    updateTags: db.transaction(
      (userNid: number, roomId: string, update: (tags: Record<string, unknown>) => Record<string, unknown>): number => {
        const row = q.getAccountData.get(userNid, roomId, TAG_TYPE);
        let tags: Record<string, unknown> = {};
        if (row) {
          const parsed = JSON.parse(row.content) as { tags?: unknown };
          if (typeof parsed.tags === 'object' && parsed.tags !== null && !Array.isArray(parsed.tags)) {
            tags = parsed.tags as Record<string, unknown>;
          }
        }
        const streamId = streams.next('account_data');
        q.putAccountData.run(userNid, roomId, TAG_TYPE, JSON.stringify({ tags: update(tags) }), streamId);
        return streamId;
      },
    ),
    addFilter: db.transaction((userNid: number, canonical: string): number => {
      const existing = q.findFilter.get(userNid, canonical);
      if (existing) return existing.filter_id;
      const id = (q.maxFilter.get(userNid)?.m ?? -1) + 1;
      q.insertFilter.run(userNid, id, canonical);
      return id;
    }),
  };

  const toChange = (r: { room_id: string; type: string; content: string; stream_id: number }): AccountDataChange => ({
    roomId: r.room_id === GLOBAL_ROOM ? null : r.room_id,
    type: r.type,
    content: r.content,
    streamId: r.stream_id,
  });

  return {
    streams,
    async getUser(userId) {
      const r = q.getUser.get(userId);
      return r ? toUser(r) : undefined;
    },
    async findUserIdsIgnoringCase(userId) {
      return q.usersIgnoringCase.all(userId).map((r) => r.user_id);
    },
    async createUser(u) {
      return tx.createUser(u);
    },
    async nextGeneratedLocalpart() {
      return db.transaction(() => streams.next('generated_user_ids'))();
    },
    async setPasswordHash(userNid, hash) {
      q.setPassword.run(hash, userNid);
    },
    async setAdmin(userNid, isAdmin) {
      q.setAdmin.run(isAdmin ? 1 : 0, userNid);
    },
    async upgradeGuest(userNid, passwordHash) {
      q.upgradeGuest.run(passwordHash, userNid);
    },
    async deactivateUser(userNid, erase) {
      return tx.deactivate(userNid, erase);
    },
    async startSession(s) {
      return tx.startSession(s);
    },
    async getAccessToken(hash) {
      const r = q.getAccess.get(hash);
      if (!r) return undefined;
      return {
        tokenId: r.id,
        userNid: r.user_nid,
        userId: r.user_id,
        isGuest: r.is_guest === 1,
        isAdmin: r.is_admin === 1,
        deviceNid: r.device_nid,
        deviceId: r.device_id,
        expiresTs: r.expires_ts,
        refreshTokenId: r.refresh_token_id,
        used: r.used === 1,
        lastSeenTs: r.last_seen_ts,
      };
    },
    async markAccessTokenUsed(tokenId, refreshTokenId) {
      tx.markUsed(tokenId, refreshTokenId);
    },
    async refreshSession(oldHash, newRefreshHash, newAccessHash, expiresTs, now) {
      return tx.refresh(oldHash, newRefreshHash, newAccessHash, expiresTs, now);
    },
    async touchDevice(deviceNid, ip, ts) {
      q.touchDevice.run(ip, ts, deviceNid);
    },
    async listDevices(userNid) {
      return q.listDevices.all(userNid).map((r) => ({
        deviceId: r.device_id,
        displayName: r.display_name,
        lastSeenIp: r.last_seen_ip,
        lastSeenTs: r.last_seen_ts,
      }));
    },
    async getDevice(userNid, deviceId) {
      const r = q.getDevice.get(userNid, deviceId);
      return r ? { deviceId: r.device_id, displayName: r.display_name, lastSeenIp: r.last_seen_ip, lastSeenTs: r.last_seen_ts } : undefined;
    },
    async createDevice(userNid, deviceId, displayName, now) {
      return tx.createDevice(userNid, deviceId, displayName, now);
    },
    async setDeviceDisplayName(userNid, deviceId, displayName) {
      return q.setDeviceName.run(displayName, userNid, deviceId).changes > 0;
    },
    async deleteDevices(userNid, which) {
      return tx.deleteDevices(userNid, which);
    },
    async getProfile(userNid) {
      return new Map(q.getProfile.all(userNid).map((r) => [r.field, r.value]));
    },
    async setProfileField(userNid, field, valueJson) {
      q.setProfileField.run(userNid, field, valueJson);
    },
    async deleteProfileField(userNid, field) {
      q.deleteProfileField.run(userNid, field);
    },
    async getAccountData(userNid, roomId, type) {
      return q.getAccountData.get(userNid, roomId ?? GLOBAL_ROOM, type)?.content;
    },
    async putAccountData(userNid, roomId, type, contentJson) {
      return tx.putAccountData(userNid, roomId ?? GLOBAL_ROOM, type, contentJson);
    },
    async updateRoomTags(userNid, roomId, update) {
      return tx.updateTags(userNid, roomId, update);
    },
    async accountDataSince(userNid, since, upTo) {
      return q.accountDataSince.all(userNid, since, upTo).map(toChange);
    },
    async allAccountData(userNid) {
      return q.allAccountData.all(userNid).map(toChange);
    },
    async addFilter(userNid, canonical) {
      return tx.addFilter(userNid, canonical);
    },
    async getFilter(userNid, filterId) {
      return q.getFilter.get(userNid, filterId)?.canonical;
    },
  };
}
