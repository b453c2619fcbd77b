// Interns event IDs and (type, state_key) pairs as integers ("nids") with bounded in-memory caches.
import { createLru } from '../core/lru.js';
import type { Database } from './db.js';
import { splitStateTuple, stateTuple, type StateKeyTuple } from '../core/events/event.js';

/**
 * Event IDs and state keys get an integer the first time they are seen, including IDs of events
 * we have not received (prev or auth events still missing), so edges can point at them.
 * Rows are never deleted, so a cached nid stays valid; after a rolled-back transaction the caches
 * are cleared (a nid handed out inside it no longer exists).
 */
export class Interning {
  private readonly eventNidById = createLru<string, number>(100_000);
  private readonly eventIdByNid = createLru<number, string>(100_000);
  private readonly keyNidByTuple = createLru<string, number>(100_000);
  private readonly tupleByKeyNid = createLru<number, string>(100_000);

  private readonly selEventNid;
  private readonly insEventId;
  private readonly selEventId;
  private readonly selKeyNid;
  private readonly insKey;
  private readonly selKey;

  constructor(private readonly db: Database) {
    this.selEventNid = db.prepare<[string], { event_nid: number }>('SELECT event_nid FROM event_ids WHERE event_id = ?');
    this.insEventId = db.prepare<[string]>('INSERT INTO event_ids (event_id) VALUES (?)');
    this.selEventId = db.prepare<[number], { event_id: string }>('SELECT event_id FROM event_ids WHERE event_nid = ?');
    this.selKeyNid = db.prepare<[string, string], { state_key_nid: number }>(
      'SELECT state_key_nid FROM state_keys WHERE type = ? AND state_key = ?',
    );
    this.insKey = db.prepare<[string, string]>('INSERT INTO state_keys (type, state_key) VALUES (?, ?)');
    this.selKey = db.prepare<[number], { type: string; state_key: string }>(
      'SELECT type, state_key FROM state_keys WHERE state_key_nid = ?',
    );
  }

  /** The nid of an event ID if it was ever interned. */
  findEventNid(eventId: string): number | undefined {
    let nid = this.eventNidById.get(eventId);
    if (nid !== undefined) return nid;
    nid = this.selEventNid.get(eventId)?.event_nid;
    if (nid !== undefined) this.remember(eventId, nid);
    return nid;
  }

  /** The nid of an event ID, interning it (a write) when new. */
  eventNid(eventId: string): number {
    const found = this.findEventNid(eventId);
    if (found !== undefined) return found;
    const nid = Number(this.insEventId.run(eventId).lastInsertRowid);
    this.remember(eventId, nid);
    return nid;
  }

  eventId(nid: number): string {
    let id = this.eventIdByNid.get(nid);
    if (id !== undefined) return id;
    id = this.selEventId.get(nid)?.event_id;
    if (id === undefined) throw new Error(`no event id interned as ${nid}`);
    this.remember(id, nid);
    return id;
  }

  private remember(eventId: string, nid: number): void {
    this.eventNidById.set(eventId, nid);
    this.eventIdByNid.set(nid, eventId);
  }

  findStateKeyNid(type: string, stateKey: string): number | undefined {
    const t = stateTuple(type, stateKey);
    let nid = this.keyNidByTuple.get(t);
    if (nid !== undefined) return nid;
    nid = this.selKeyNid.get(type, stateKey)?.state_key_nid;
    if (nid !== undefined) {
      this.keyNidByTuple.set(t, nid);
      this.tupleByKeyNid.set(nid, t);
    }
    return nid;
  }

  stateKeyNid(type: string, stateKey: string): number {
    const found = this.findStateKeyNid(type, stateKey);
    if (found !== undefined) return found;
    const nid = Number(this.insKey.run(type, stateKey).lastInsertRowid);
    const t = stateTuple(type, stateKey);
    this.keyNidByTuple.set(t, nid);
    this.tupleByKeyNid.set(nid, t);
    return nid;
  }

  stateKeyNidForTuple(tuple: StateKeyTuple): number {
    const cached = this.keyNidByTuple.get(tuple);
    if (cached !== undefined) return cached;
    const [type, stateKey] = splitStateTuple(tuple);
    return this.stateKeyNid(type, stateKey);
  }

  findStateKeyNidForTuple(tuple: StateKeyTuple): number | undefined {
    const cached = this.keyNidByTuple.get(tuple);
    if (cached !== undefined) return cached;
    const [type, stateKey] = splitStateTuple(tuple);
    return this.findStateKeyNid(type, stateKey);
  }

  /** The `stateTuple(type, state_key)` string of a state key nid. */
  stateTuple(nid: number): StateKeyTuple {
    let t = this.tupleByKeyNid.get(nid);
    if (t !== undefined) return t;
    const row = this.selKey.get(nid);
    if (!row) throw new Error(`no state key interned as ${nid}`);
    t = stateTuple(row.type, row.state_key);
    this.tupleByKeyNid.set(nid, t);
    this.keyNidByTuple.set(t, nid);
    return t;
  }

  clearCaches(): void {
    this.eventNidById.clear();
    this.eventIdByNid.clear();
    this.keyNidByTuple.clear();
    this.tupleByKeyNid.clear();
  }
}
