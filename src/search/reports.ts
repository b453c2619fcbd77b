// Content reports (client-server "Reporting content"): reports of events, rooms and users, stored in
// content_reports (migration 0702) for server admins. Checks follow the spec and Synapse.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { isValidUserId, serverNameOf } from '../core/ids.js';
import type { Database, Store } from '../store/index.js';
import { filterEventsForUser } from '../sync/visibility.js';
import { createRedactionCheck } from './event-index.js';

export interface ReportsDeps {
  readonly store: Store;
  readonly serverName: string;
  /** Whether a local user exists (deactivated users included): reports of unknown users are dropped silently. */
  readonly userExists: (userId: string) => Promise<boolean>;
  readonly clock?: () => number;
}

export interface ContentReport {
  readonly id: number;
  readonly kind: 'event' | 'room' | 'user';
  readonly reporter: string;
  readonly roomId: string | null;
  readonly eventId: string | null;
  readonly targetUserId: string | null;
  readonly reason: string | null;
  /** The request body as sent. */
  readonly content: JsonObject;
  readonly receivedTs: number;
}

export interface ReportsService {
  /** POST /rooms/{roomId}/report/{eventId} */
  reportEvent(reporter: string, roomId: string, eventId: string, body: unknown): Promise<void>;
  /** POST /rooms/{roomId}/report (v1.13) */
  reportRoom(reporter: string, roomId: string, body: unknown): Promise<void>;
  /** POST /users/{userId}/report (v1.14) */
  reportUser(reporter: string, userId: string, body: unknown): Promise<void>;
  /** Reports for admins, newest first. */
  listReports(opts?: { limit?: number; beforeId?: number }): Promise<ContentReport[]>;
}

/** Synapse refuses longer reasons in user reports (event and room reports have no limit but the body's). */
export const MAX_REASON_LENGTH = 1000;

function bodyObject(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object');
  return body;
}

function reasonOf(body: JsonObject, required: boolean, maxLength?: number): string | null {
  const r = body.reason;
  if (r === undefined || r === null) {
    if (required) throw new MatrixError('M_MISSING_PARAM', "Missing param 'reason'");
    return null;
  }
  if (typeof r !== 'string') throw new MatrixError('M_BAD_JSON', "Param 'reason' must be a string");
  if (maxLength !== undefined && r.length > maxLength) throw new MatrixError('M_BAD_JSON', `Reason must be at most ${maxLength} characters`);
  return r;
}

interface ReportRow {
  id: number;
  kind: 'event' | 'room' | 'user';
  reporter: string;
  room_id: string | null;
  event_id: string | null;
  target_user_id: string | null;
  reason: string | null;
  content: string;
  received_ts: number;
}

export function createReportsService(deps: ReportsDeps): ReportsService {
  const store = deps.store;
  const db: Database = store.db;
  const now = deps.clock ?? Date.now;
  const isRedacted = createRedactionCheck(store);
  const q = {
    insert: db.prepare<[string, string, string | null, string | null, string | null, string | null, string, number]>(
      `INSERT INTO content_reports (kind, reporter, room_id, event_id, target_user_id, reason, content, received_ts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    list: db.prepare<[number, number], ReportRow>('SELECT * FROM content_reports WHERE id < ? ORDER BY id DESC LIMIT ?'),
  };

  const notFoundEvent = () => new MatrixError('M_NOT_FOUND', 'Unable to report event: it does not exist or you aren\'t able to see it.', 404);

  return {
    async reportEvent(reporter, roomId, eventId, body) {
      const b = bodyObject(body);
      const reason = reasonOf(b, false);
      // `score` was removed in v1.18; when present it must still be an integer (as Synapse checks).
      if (b.score !== undefined && (typeof b.score !== 'number' || !Number.isSafeInteger(b.score))) {
        throw new MatrixError('M_BAD_JSON', "Param 'score' must be an integer");
      }
      // Spec (v1.8+): the reporter must be joined to the room, and the event visible to them; a
      // redacted event may be answered with 404 too.
      const membership = await store.getMembership(roomId, reporter);
      if (membership?.membership !== 'join') throw notFoundEvent();
      const ev = await store.getEvent(eventId);
      if (!ev || ev.roomId !== roomId || ev.outlier || ev.rejectedReason !== null || ev.softFailed) throw notFoundEvent();
      if ((await filterEventsForUser(store, reporter, [ev])).length === 0) throw notFoundEvent();
      const nid = store.core.ids.findEventNid(eventId);
      if (nid !== undefined && isRedacted(nid, ev.event)) throw notFoundEvent();
      q.insert.run('event', reporter, roomId, eventId, ev.event.sender, reason, JSON.stringify(b), now());
    },

    async reportRoom(reporter, roomId, body) {
      const b = bodyObject(body);
      const reason = reasonOf(b, true);
      // The reporter need not be in the room (spec); an unknown room is 404, as Synapse answers.
      if (!store.core.room(roomId)) throw new MatrixError('M_NOT_FOUND', 'Room does not exist', 404);
      q.insert.run('room', reporter, roomId, null, null, reason, JSON.stringify(b), now());
    },

    async reportUser(reporter, userId, body) {
      const b = bodyObject(body);
      const reason = reasonOf(b, true, MAX_REASON_LENGTH);
      if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
      // As Synapse: reports of remote or unknown users are accepted and dropped, so the answer does
      // not reveal whether an account exists (the spec allows the 200).
      if (serverNameOf(userId) !== deps.serverName || !(await deps.userExists(userId))) return;
      q.insert.run('user', reporter, null, null, userId, reason, JSON.stringify(b), now());
    },

    async listReports(opts = {}) {
      const limit = Math.max(1, Math.min(opts.limit ?? 100, 1000));
      return q.list.all(opts.beforeId ?? Number.MAX_SAFE_INTEGER, limit).map((r) => ({
        id: r.id,
        kind: r.kind,
        reporter: r.reporter,
        roomId: r.room_id,
        eventId: r.event_id,
        targetUserId: r.target_user_id,
        reason: r.reason,
        content: JSON.parse(r.content) as JsonObject,
        receivedTs: r.received_ts,
      }));
    },
  };
}
