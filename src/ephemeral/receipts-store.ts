// SQLite storage of receipts (table receipts, migrations/0500_ephemeral.sql): one row per
// (room, user, receipt type, thread), positions from the 'receipts' stream counter.
import type { Database } from '../store/db.js';
import { createStreamCounters, type StreamCounters } from '../users/streams.js';

export const RECEIPTS_STREAM = 'receipts';

/** One stored receipt. `threadId` '' is an unthreaded receipt. */
export interface ReceiptRow {
  readonly roomNid: number;
  readonly userId: string;
  readonly receiptType: string;
  readonly threadId: string;
  readonly eventId: string;
  readonly eventStream: number | null;
  readonly ts: number;
  readonly streamId: number;
}

export interface ReceiptInput {
  readonly roomNid: number;
  readonly userId: string;
  readonly receiptType: string;
  readonly threadId: string;
  readonly eventId: string;
  readonly eventStream: number | null;
  readonly ts: number;
}

interface RowDb {
  room_nid: number;
  user_id: string;
  receipt_type: string;
  thread_id: string;
  event_id: string;
  event_stream: number | null;
  ts: number;
  stream_id: number;
}

const PRIVATE = 'm.read.private';

function toRow(r: RowDb): ReceiptRow {
  return {
    roomNid: r.room_nid,
    userId: r.user_id,
    receiptType: r.receipt_type,
    threadId: r.thread_id,
    eventId: r.event_id,
    eventStream: r.event_stream,
    ts: r.ts,
    streamId: r.stream_id,
  };
}

export interface ReceiptsStore {
  /** The last position handed out. */
  position(): number;
  /**
   * Stores the receipt unless the existing one for the same key acknowledges an event at or after
   * it in the stream (receipts only move forward; as Synapse, an existing receipt for an event we
   * lack is replaced). Returns the new row, or null when nothing changed.
   */
  put(r: ReceiptInput): ReceiptRow | null;
  /**
   * Receipts of the rooms changed in (since, upTo], oldest first; m.read.private rows only for
   * `viewer`. `since` 0 reads every room's current receipts through the room index.
   */
  changedSince(roomNids: readonly number[], since: number, upTo: number, viewer: string): ReceiptRow[];
  /** The highest stream ordering acknowledged by the user's m.read / m.read.private receipts, unthreaded or main. */
  readPosition(roomNid: number, userId: string): number | null;
  /** The furthest m.read / m.read.private position per thread ID ('' for unthreaded receipts). */
  readPositionsByThread(roomNid: number, userId: string): Map<string, number>;
  get(roomNid: number, userId: string, receiptType: string, threadId: string): ReceiptRow | undefined;
}

export function createReceiptsStore(db: Database, counters: StreamCounters = createStreamCounters(db)): ReceiptsStore {
  const q = {
    get: db.prepare<[number, string, string, string], RowDb>(
      `SELECT * FROM receipts WHERE room_nid = ? AND user_id = ? AND receipt_type = ? AND thread_id = ?`,
    ),
    upsert: db.prepare<[number, string, string, string, string, number | null, number, number]>(
      `INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_id, event_stream, ts, stream_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (room_nid, user_id, receipt_type, thread_id) DO UPDATE SET
         event_id = excluded.event_id, event_stream = excluded.event_stream, ts = excluded.ts, stream_id = excluded.stream_id`,
    ),
    // Initial sync: every room's rows through the primary key (room_nid first).
    allOfRooms: db.prepare<[string, string, number], RowDb>(
      `SELECT r.* FROM receipts r JOIN json_each(?) j ON r.room_nid = j.value
       WHERE (r.receipt_type <> '${PRIVATE}' OR r.user_id = ?) AND r.stream_id <= ?
       ORDER BY r.stream_id`,
    ),
    // Incremental sync: the few rows changed since the token, through the stream index.
    since: db.prepare<[number, number, string], RowDb>(
      `SELECT * FROM receipts WHERE stream_id > ? AND stream_id <= ? AND (receipt_type <> '${PRIVATE}' OR user_id = ?)
       ORDER BY stream_id`,
    ),
    readPosition: db.prepare<[number, string], { p: number | null }>(
      `SELECT MAX(event_stream) AS p FROM receipts
       WHERE room_nid = ? AND user_id = ? AND receipt_type IN ('m.read', '${PRIVATE}') AND thread_id IN ('', 'main')`,
    ),
    readPositionsByThread: db.prepare<[number, string], { thread_id: string; p: number | null }>(
      `SELECT thread_id, MAX(event_stream) AS p FROM receipts
       WHERE room_nid = ? AND user_id = ? AND receipt_type IN ('m.read', '${PRIVATE}') GROUP BY thread_id`,
    ),
  };

  let current = counters.current(RECEIPTS_STREAM);

  const putTxn = db.transaction((r: ReceiptInput): ReceiptRow | null => {
    const existing = q.get.get(r.roomNid, r.userId, r.receiptType, r.threadId);
    if (existing) {
      if (existing.event_id === r.eventId) return null;
      if (existing.event_stream !== null && r.eventStream !== null && existing.event_stream >= r.eventStream) return null;
    }
    const streamId = counters.next(RECEIPTS_STREAM);
    q.upsert.run(r.roomNid, r.userId, r.receiptType, r.threadId, r.eventId, r.eventStream, r.ts, streamId);
    return { ...r, streamId };
  });

  return {
    position: () => current,
    put(r) {
      const row = putTxn.immediate(r);
      if (row && row.streamId > current) current = row.streamId;
      return row;
    },
    changedSince(roomNids, since, upTo, viewer) {
      if (roomNids.length === 0 || since >= upTo) return [];
      if (since <= 0) return q.allOfRooms.all(JSON.stringify(roomNids), viewer, upTo).map(toRow);
      const wanted = new Set(roomNids);
      const out: ReceiptRow[] = [];
      for (const r of q.since.iterate(since, upTo, viewer)) if (wanted.has(r.room_nid)) out.push(toRow(r));
      return out;
    },
    readPosition(roomNid, userId) {
      return q.readPosition.get(roomNid, userId)?.p ?? null;
    },
    readPositionsByThread(roomNid, userId) {
      const out = new Map<string, number>();
      for (const r of q.readPositionsByThread.iterate(roomNid, userId)) if (r.p !== null) out.set(r.thread_id, r.p);
      return out;
    },
    get(roomNid, userId, receiptType, threadId) {
      const r = q.get.get(roomNid, userId, receiptType, threadId);
      return r ? toRow(r) : undefined;
    },
  };
}
