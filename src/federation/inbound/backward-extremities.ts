// Backward extremities: the prev events of our events (those with state) that we lack or hold only
// as outliers, i.e. where our copy of a room's history stops. Kept by a derived writer inside each
// event's transaction; backfill asks other servers for history from there.
import type { Store } from '../../store/index.js';
import type { PersistedEventInfo } from '../../store/event-store.js';

export interface BackwardExtremity {
  readonly eventId: string;
  /** Depth of the deepest event of ours that lists it as a prev event. */
  readonly depth: number;
}

export class BackwardExtremities {
  private readonly q;

  constructor(private readonly store: Store) {
    const db = store.db;
    this.q = {
      del: db.prepare<[number, number]>('DELETE FROM federation_backward_extremities WHERE room_nid = ? AND event_nid = ?'),
      upsert: db.prepare<[number, number, number]>(
        `INSERT INTO federation_backward_extremities (room_nid, event_nid, depth) VALUES (?, ?, ?)
         ON CONFLICT (room_nid, event_nid) DO UPDATE SET depth = MAX(depth, excluded.depth)`,
      ),
      below: db.prepare<[number, number, number], { event_nid: number; depth: number }>(
        `SELECT event_nid, depth FROM federation_backward_extremities WHERE room_nid = ? AND depth <= ?
         ORDER BY depth DESC LIMIT ?`,
      ),
      deepest: db.prepare<[number, number], { event_nid: number; depth: number }>(
        'SELECT event_nid, depth FROM federation_backward_extremities WHERE room_nid = ? ORDER BY depth DESC LIMIT ?',
      ),
    };
    store.core.addDerivedWriter((info) => this.onPersisted(info));
  }

  private onPersisted(info: PersistedEventInfo): void {
    if (info.outlier) return;
    const core = this.store.core;
    // The event itself now has state: it no longer bounds our history.
    this.q.del.run(info.roomNid, info.eventNid);
    for (const prev of info.event.prevEventIds) {
      const meta = core.eventMetaById(prev);
      if (meta && !meta.outlier) continue;
      const nid = core.ids.findEventNid(prev);
      if (nid !== undefined) this.q.upsert.run(info.roomNid, nid, info.event.depth);
    }
  }

  /**
   * Up to `limit` backward extremities of the room at or below `maxDepth` (deepest first); when
   * there are none there, the deepest ones anywhere.
   */
  list(roomId: string, maxDepth: number, limit: number): BackwardExtremity[] {
    const room = this.store.core.room(roomId);
    if (!room) return [];
    let rows = this.q.below.all(room.nid, maxDepth, limit);
    if (rows.length === 0) rows = this.q.deepest.all(room.nid, limit);
    return rows.map((r) => ({ eventId: this.store.core.ids.eventId(r.event_nid), depth: r.depth }));
  }
}
