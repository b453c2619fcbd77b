// SQLite repository for server-side key backups (spec "Server-side key backups"): versions with
// their auth_data and etag, and the backed-up sessions. Each change is one transaction; the
// replacement rule and the "current version only" rule are decided inside it, so two uploads at
// once cannot interleave.
import { MatrixError } from '../errors.js';
import type { Database } from '../store/db.js';
import { shouldReplaceBackupSession, type BackupSession } from './validate.js';

export interface BackupVersionRow {
  version: number;
  algorithm: string;
  authDataJson: string;
  etag: number;
  count: number;
}

export interface BackupSessionRow {
  roomId: string;
  sessionId: string;
  firstMessageIndex: number;
  forwardedCount: number;
  isVerified: boolean;
  sessionDataJson: string;
}

export interface SessionUpload {
  roomId: string;
  sessionId: string;
  session: BackupSession;
}

export interface BackupStore {
  /** Creates the next version (never reusing a number, even of a deleted one); returns it. */
  createVersion(userId: string, algorithm: string, authDataJson: string): Promise<number>;
  /** A live version, or the latest live one when `version` is undefined. */
  getVersion(userId: string, version?: number): Promise<BackupVersionRow | undefined>;
  /** Replaces auth_data of a live version; false when there is none. */
  updateVersion(userId: string, version: number, authDataJson: string): Promise<boolean>;
  /** Deletes a version and its keys; 'unknown' when it never existed (deleting twice succeeds). */
  deleteVersion(userId: string, version: number): Promise<'deleted' | 'unknown'>;
  /**
   * Merges sessions into `version`, which must be the latest live version (403
   * M_WRONG_ROOM_KEYS_VERSION with `current_version` for another live one; 404 otherwise).
   * The etag moves when anything changed.
   */
  uploadSessions(userId: string, version: number, sessions: readonly SessionUpload[]): Promise<{ etag: number; count: number }>;
  /** Sessions of a live version, optionally of one room or one session; undefined when no such version. */
  getSessions(userId: string, version: number, roomId?: string, sessionId?: string): Promise<BackupSessionRow[] | undefined>;
  /** Deletes sessions of a live version (all, of one room, or one); undefined when no such version. */
  deleteSessions(userId: string, version: number, roomId?: string, sessionId?: string): Promise<{ etag: number; count: number } | undefined>;
  /** Deactivation: every version and key of the user. */
  deleteAllForUser(userId: string): Promise<void>;
}

export function createBackupStore(db: Database): BackupStore {
  const q = {
    maxVersion: db.prepare<[string], number | null>('SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = ?').pluck(),
    latestLive: db.prepare<[string], number | null>('SELECT MAX(version) FROM e2e_room_keys_versions WHERE user_id = ? AND deleted = 0').pluck(),
    insVersion: db.prepare<[string, number, string, string]>(
      'INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data) VALUES (?, ?, ?, ?)',
    ),
    version: db.prepare<[string, number], { version: number; algorithm: string; auth_data: string; etag: number; deleted: number }>(
      'SELECT version, algorithm, auth_data, etag, deleted FROM e2e_room_keys_versions WHERE user_id = ? AND version = ?',
    ),
    count: db.prepare<[string, number], number>('SELECT COUNT(*) FROM e2e_room_keys WHERE user_id = ? AND version = ?').pluck(),
    setAuthData: db.prepare<[string, string, number]>(
      'UPDATE e2e_room_keys_versions SET auth_data = ? WHERE user_id = ? AND version = ? AND deleted = 0',
    ),
    bumpEtag: db.prepare<[string, number], number>(
      'UPDATE e2e_room_keys_versions SET etag = etag + 1 WHERE user_id = ? AND version = ? RETURNING etag',
    ).pluck(),
    markDeleted: db.prepare<[string, number]>('UPDATE e2e_room_keys_versions SET deleted = 1 WHERE user_id = ? AND version = ?'),
    delAllKeysOfVersion: db.prepare<[string, number]>('DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ?'),
    delRoomKeys: db.prepare<[string, number, string]>('DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ? AND room_id = ?'),
    delSessionKey: db.prepare<[string, number, string, string]>(
      'DELETE FROM e2e_room_keys WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?',
    ),
    getSession: db.prepare<[string, number, string, string], { first_message_index: number; forwarded_count: number; is_verified: number }>(
      `SELECT first_message_index, forwarded_count, is_verified FROM e2e_room_keys
        WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`,
    ),
    putSession: db.prepare<[string, number, string, string, number, number, number, string]>(
      `INSERT INTO e2e_room_keys (user_id, version, room_id, session_id, first_message_index, forwarded_count, is_verified, session_data)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
         first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
         is_verified = excluded.is_verified, session_data = excluded.session_data`,
    ),
    allSessions: db.prepare<[string, number], SessionDbRow>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
        WHERE user_id = ? AND version = ? ORDER BY room_id, session_id`,
    ),
    roomSessions: db.prepare<[string, number, string], SessionDbRow>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
        WHERE user_id = ? AND version = ? AND room_id = ? ORDER BY session_id`,
    ),
    oneSession: db.prepare<[string, number, string, string], SessionDbRow>(
      `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data FROM e2e_room_keys
        WHERE user_id = ? AND version = ? AND room_id = ? AND session_id = ?`,
    ),
    delUserKeys: db.prepare<[string]>('DELETE FROM e2e_room_keys WHERE user_id = ?'),
    delUserVersions: db.prepare<[string]>('DELETE FROM e2e_room_keys_versions WHERE user_id = ?'),
  };

  const liveVersion = (userId: string, version: number) => {
    const v = q.version.get(userId, version);
    return v && v.deleted === 0 ? v : undefined;
  };

  const createTxn = db.transaction((userId: string, algorithm: string, authDataJson: string): number => {
    const next = (q.maxVersion.get(userId) ?? 0) + 1;
    q.insVersion.run(userId, next, algorithm, authDataJson);
    return next;
  });

  const deleteVersionTxn = db.transaction((userId: string, version: number): 'deleted' | 'unknown' => {
    if (!q.version.get(userId, version)) return 'unknown';
    q.delAllKeysOfVersion.run(userId, version);
    q.markDeleted.run(userId, version);
    return 'deleted';
  });

  const uploadTxn = db.transaction((userId: string, version: number, sessions: readonly SessionUpload[]) => {
    const latest = q.latestLive.get(userId) ?? null;
    if (latest === null) throw new MatrixError('M_NOT_FOUND', 'No backup found', 404);
    if (version !== latest) {
      if (liveVersion(userId, version)) {
        throw new MatrixError('M_WRONG_ROOM_KEYS_VERSION', 'Wrong backup version.', 403, { current_version: String(latest) });
      }
      throw new MatrixError('M_NOT_FOUND', `Version '${version}' not found`, 404);
    }
    let changed = false;
    for (const s of sessions) {
      const old = q.getSession.get(userId, version, s.roomId, s.sessionId);
      const keep =
        old !== undefined &&
        !shouldReplaceBackupSession(
          { firstMessageIndex: old.first_message_index, forwardedCount: old.forwarded_count, isVerified: old.is_verified === 1 },
          s.session,
        );
      if (keep) continue;
      q.putSession.run(
        userId, version, s.roomId, s.sessionId, s.session.firstMessageIndex, s.session.forwardedCount,
        s.session.isVerified ? 1 : 0, JSON.stringify(s.session.sessionData),
      );
      changed = true;
    }
    const etag = changed ? q.bumpEtag.get(userId, version)! : q.version.get(userId, version)!.etag;
    return { etag, count: q.count.get(userId, version)! };
  });

  const deleteSessionsTxn = db.transaction((userId: string, version: number, roomId?: string, sessionId?: string) => {
    if (!liveVersion(userId, version)) return undefined;
    if (roomId === undefined) q.delAllKeysOfVersion.run(userId, version);
    else if (sessionId === undefined) q.delRoomKeys.run(userId, version, roomId);
    else q.delSessionKey.run(userId, version, roomId, sessionId);
    // Deleting always moves the etag (as Synapse does), so clients re-check what they hold.
    const etag = q.bumpEtag.get(userId, version)!;
    return { etag, count: q.count.get(userId, version)! };
  });

  const deleteAllTxn = db.transaction((userId: string) => {
    q.delUserKeys.run(userId);
    q.delUserVersions.run(userId);
  });

  return {
    async createVersion(userId, algorithm, authDataJson) {
      return createTxn.immediate(userId, algorithm, authDataJson);
    },
    async getVersion(userId, version) {
      const v = version === undefined ? q.latestLive.get(userId) ?? null : version;
      if (v === null) return undefined;
      const row = liveVersion(userId, v);
      if (!row) return undefined;
      return { version: row.version, algorithm: row.algorithm, authDataJson: row.auth_data, etag: row.etag, count: q.count.get(userId, v)! };
    },
    async updateVersion(userId, version, authDataJson) {
      return q.setAuthData.run(authDataJson, userId, version).changes > 0;
    },
    async deleteVersion(userId, version) {
      return deleteVersionTxn.immediate(userId, version);
    },
    async uploadSessions(userId, version, sessions) {
      return uploadTxn.immediate(userId, version, sessions);
    },
    async getSessions(userId, version, roomId, sessionId) {
      if (!liveVersion(userId, version)) return undefined;
      const rows =
        roomId === undefined
          ? q.allSessions.all(userId, version)
          : sessionId === undefined
            ? q.roomSessions.all(userId, version, roomId)
            : q.oneSession.all(userId, version, roomId, sessionId);
      return rows.map(toSessionRow);
    },
    async deleteSessions(userId, version, roomId, sessionId) {
      return deleteSessionsTxn.immediate(userId, version, roomId, sessionId);
    },
    async deleteAllForUser(userId) {
      deleteAllTxn.immediate(userId);
    },
  };
}

interface SessionDbRow {
  room_id: string;
  session_id: string;
  first_message_index: number;
  forwarded_count: number;
  is_verified: number;
  session_data: string;
}

function toSessionRow(r: SessionDbRow): BackupSessionRow {
  return {
    roomId: r.room_id,
    sessionId: r.session_id,
    firstMessageIndex: r.first_message_index,
    forwardedCount: r.forwarded_count,
    isVerified: r.is_verified === 1,
    sessionDataJson: r.session_data,
  };
}
