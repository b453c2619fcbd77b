// Per-stream monotonic counters (table stream_counters) for streams that are not room events:
// account data now; to-device, device lists and receipts can reuse it. Sync reads "changed since N".
import type { Database } from '../store/db.js';

/** Names of the streams kept in stream_counters. */
export type CounterStream = 'account_data' | (string & {});

export interface StreamCounters {
  /**
   * Allocates the next position of `stream`. Call it inside the transaction that writes the change,
   * so the position and the row it stamps commit together (a reader never sees a gap filled later).
   */
  next(stream: CounterStream): number;
  /** The last position handed out for `stream` (0 when none yet). */
  current(stream: CounterStream): number;
}

export function createStreamCounters(db: Database): StreamCounters {
  const bump = db.prepare<[string], { position: number }>(
    `INSERT INTO stream_counters (stream, position) VALUES (?, 1)
     ON CONFLICT (stream) DO UPDATE SET position = position + 1
     RETURNING position`,
  );
  const read = db.prepare<[string], { position: number }>('SELECT position FROM stream_counters WHERE stream = ?');
  return {
    next(stream) {
      return bump.get(stream)!.position;
    },
    current(stream) {
      return read.get(stream)?.position ?? 0;
    },
  };
}
