// Server-side key backup (spec "Server-side key backups", key_backup.yaml): backup versions with
// their auth_data, and encrypted room keys at three granularities (all rooms, one room, one
// session) with etag and count. The server stores session_data as uploaded and never reads it.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import type { Requester } from '../users/service.js';
import type { BackupSessionRow, BackupStore, SessionUpload } from './backup-store.js';
import { parseBackupSession } from './validate.js';

export interface KeyBackupService {
  /** POST /room_keys/version */
  createVersion(requester: Requester, body: unknown): Promise<{ version: string }>;
  /** GET /room_keys/version[/{version}] (latest when `version` is undefined). */
  getVersion(requester: Requester, version: string | undefined): Promise<JsonObject>;
  /** PUT /room_keys/version/{version} */
  updateVersion(requester: Requester, version: string, body: unknown): Promise<Record<string, never>>;
  /** DELETE /room_keys/version/{version} */
  deleteVersion(requester: Requester, version: string): Promise<Record<string, never>>;
  /** PUT /room_keys/keys[/{roomId}[/{sessionId}]]?version= */
  putKeys(requester: Requester, version: string | undefined, body: unknown, roomId?: string, sessionId?: string): Promise<{ etag: string; count: number }>;
  /** GET /room_keys/keys[/{roomId}[/{sessionId}]]?version= */
  getKeys(requester: Requester, version: string | undefined, roomId?: string, sessionId?: string): Promise<JsonObject>;
  /** DELETE /room_keys/keys[/{roomId}[/{sessionId}]]?version= */
  deleteKeys(requester: Requester, version: string | undefined, roomId?: string, sessionId?: string): Promise<{ etag: string; count: number }>;
  /** Deactivation removes every backup of the user (as Synapse does). */
  deleteAllForUser(userId: string): Promise<void>;
}

const MAX_VERSION_DIGITS = 15;

/** Versions are decimal integers here; anything else names no backup (404, as Synapse answers). */
function parseVersion(version: string): number | undefined {
  if (!/^[0-9]+$/.test(version) || version.length > MAX_VERSION_DIGITS) return undefined;
  return Number(version);
}

function requireVersionParam(version: string | undefined): number {
  if (version === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "version" query parameter');
  const v = parseVersion(version);
  if (v === undefined) throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
  return v;
}

function bodyObject(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
  return body;
}

function versionBody(body: JsonObject): { algorithm: string; authData: JsonObject } {
  const { algorithm, auth_data } = body;
  if (algorithm === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "algorithm"');
  if (auth_data === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "auth_data"');
  if (typeof algorithm !== 'string' || algorithm.length === 0) throw new MatrixError('M_INVALID_PARAM', '"algorithm" must be a non-empty string');
  if (!isJsonObject(auth_data)) throw new MatrixError('M_INVALID_PARAM', '"auth_data" must be an object');
  return { algorithm, authData: auth_data };
}

/** Room and session IDs are opaque here; only their size is bounded. */
function checkId(id: string, what: string): void {
  if (id.length === 0 || Buffer.byteLength(id, 'utf8') > 255) throw new MatrixError('M_INVALID_PARAM', `Invalid ${what}`);
}

function sessionsOfRoom(roomId: string, room: unknown, out: SessionUpload[]): void {
  if (!isJsonObject(room)) throw new MatrixError('M_BAD_JSON', `Keys for room ${roomId} must be an object`);
  const sessions = room.sessions;
  if (!isJsonObject(sessions)) throw new MatrixError('M_BAD_JSON', `"sessions" of room ${roomId} must be an object`);
  for (const [sessionId, data] of Object.entries(sessions)) {
    checkId(sessionId, 'session ID');
    out.push({ roomId, sessionId, session: parseBackupSession(data, `session ${sessionId} in room ${roomId}`) });
  }
}

function sessionJson(r: BackupSessionRow): JsonObject {
  return {
    first_message_index: r.firstMessageIndex,
    forwarded_count: r.forwardedCount,
    is_verified: r.isVerified,
    session_data: JSON.parse(r.sessionDataJson) as JsonObject,
  };
}

export function createKeyBackupService(store: BackupStore): KeyBackupService {
  return {
    async createVersion(requester, rawBody) {
      const { algorithm, authData } = versionBody(bodyObject(rawBody));
      const version = await store.createVersion(requester.userId, algorithm, JSON.stringify(authData));
      return { version: String(version) };
    },

    async getVersion(requester, version) {
      const v = version === undefined ? undefined : parseVersion(version);
      const row = version !== undefined && v === undefined ? undefined : await store.getVersion(requester.userId, v);
      if (!row) throw new MatrixError('M_NOT_FOUND', version === undefined ? 'No backup found' : 'Unknown backup version', 404);
      return {
        algorithm: row.algorithm,
        auth_data: JSON.parse(row.authDataJson) as JsonObject,
        count: row.count,
        etag: String(row.etag),
        version: String(row.version),
      };
    },

    async updateVersion(requester, version, rawBody) {
      const body = bodyObject(rawBody);
      const { algorithm, authData } = versionBody(body);
      // "If present, must be the same as the version in the path parameter."
      if (body.version !== undefined && body.version !== version) {
        throw new MatrixError('M_INVALID_PARAM', 'Version in body does not match');
      }
      const v = parseVersion(version);
      const existing = v === undefined ? undefined : await store.getVersion(requester.userId, v);
      if (!existing || v === undefined) throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
      // "Only auth_data can be modified": the algorithm must stay.
      if (existing.algorithm !== algorithm) throw new MatrixError('M_INVALID_PARAM', 'Algorithm does not match');
      if (!(await store.updateVersion(requester.userId, v, JSON.stringify(authData)))) {
        throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
      }
      return {};
    },

    async deleteVersion(requester, version) {
      const v = parseVersion(version);
      // A version deleted before deletes again successfully; one that never existed is 404.
      if (v === undefined || (await store.deleteVersion(requester.userId, v)) === 'unknown') {
        throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
      }
      return {};
    },

    async putKeys(requester, version, rawBody, roomId, sessionId) {
      const v = requireVersionParam(version);
      const body = bodyObject(rawBody);
      const sessions: SessionUpload[] = [];
      if (roomId !== undefined && sessionId !== undefined) {
        checkId(roomId, 'room ID');
        checkId(sessionId, 'session ID');
        sessions.push({ roomId, sessionId, session: parseBackupSession(body, 'the key') });
      } else if (roomId !== undefined) {
        checkId(roomId, 'room ID');
        sessionsOfRoom(roomId, body, sessions);
      } else {
        const rooms = body.rooms;
        if (!isJsonObject(rooms)) throw new MatrixError('M_BAD_JSON', '"rooms" must be an object');
        for (const [rid, room] of Object.entries(rooms)) {
          checkId(rid, 'room ID');
          sessionsOfRoom(rid, room, sessions);
        }
      }
      const r = await store.uploadSessions(requester.userId, v, sessions);
      return { etag: String(r.etag), count: r.count };
    },

    async getKeys(requester, version, roomId, sessionId) {
      const v = requireVersionParam(version);
      const rows = await store.getSessions(requester.userId, v, roomId, sessionId);
      if (!rows) throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
      if (roomId !== undefined && sessionId !== undefined) {
        const row = rows[0];
        if (!row) throw new MatrixError('M_NOT_FOUND', 'No room_keys found', 404);
        return sessionJson(row);
      }
      const rooms: Record<string, { sessions: JsonObject }> = {};
      for (const r of rows) (rooms[r.roomId] ??= { sessions: {} }).sessions[r.sessionId] = sessionJson(r);
      // One room: "If no keys are found, then an object with an empty sessions property".
      if (roomId !== undefined) return rooms[roomId] ?? { sessions: {} };
      return { rooms };
    },

    async deleteKeys(requester, version, roomId, sessionId) {
      const v = requireVersionParam(version);
      const r = await store.deleteSessions(requester.userId, v, roomId, sessionId);
      if (!r) throw new MatrixError('M_NOT_FOUND', 'Unknown backup version', 404);
      return { etag: String(r.etag), count: r.count };
    },

    async deleteAllForUser(userId) {
      await store.deleteAllForUser(userId);
    },
  };
}
