// State snapshots ("state groups"): each stored as a delta against an ancestor with a bounded chain.
import { LRUCache } from 'lru-cache';
import { createLru } from '../core/lru.js';
import type { Database } from './db.js';
import { encodeStateDelta, forEachInStateDelta } from './delta-codec.js';

/** A state: state_key_nid -> event_nid. Maps handed out by this module are shared: never mutate. */
export type StateNids = ReadonlyMap<number, number>;

interface GroupRow {
  readonly group: number;
  readonly roomNid: number;
  /** The logical parent: the state this one was derived from (NULL for a chain's first group). */
  readonly parent: number | null;
  /** The group the delta is against (NULL = the empty state). */
  readonly base: number | null;
  readonly seq: number;
  readonly delta: Buffer;
}

/**
 * Where a new group's delta points (a Fenwick-tree layout over each chain of logical parents).
 * A chain starts with a full snapshot at seq 1 (the state after the create event, or a state
 * supplied by a join). The group at seq s > 1 has index n = s - 1 after it and stores its
 * difference from the ancestor at index n & (n - 1), i.e. n with its lowest set bit cleared
 * (index 0 being the snapshot itself). Consequences:
 * - reading any group applies at most popcount(s - 1) + 1 deltas: the chain is bounded (<= 32);
 * - a group at index n covers the last lowbit(n) state changes, so on a linear history each change
 *   is copied into O(log n) deltas: a few tens of bytes per state event on average, never a full
 *   copy of the room state per event (only the chain's first group is a snapshot);
 * - the base is always on the logical parent's own base chain (n - 1 with its trailing ones
 *   cleared equals n with its lowest bit cleared), so building the delta reads only those deltas.
 * A message event stores no group at all: it shares the group of the state before it.
 */
export function baseSeqFor(seq: number): number {
  if (seq <= 1) return 0;
  const n = seq - 1;
  return (n & (n - 1)) + 1;
}

export class StateGroups {
  private readonly rows = createLru<number, GroupRow>(100_000);
  /** Fully materialised states, bounded by their total number of entries. */
  private readonly full = new LRUCache<number, Map<number, number>>({
    maxSize: 500_000,
    sizeCalculation: (m) => m.size + 1,
  });
  private readonly selRow;
  private readonly insRow;

  constructor(db: Database) {
    this.selRow = db.prepare<
      [number],
      { state_group: number; room_nid: number; parent_group: number | null; base_group: number | null; seq: number; delta: Buffer }
    >('SELECT state_group, room_nid, parent_group, base_group, seq, delta FROM state_groups WHERE state_group = ?');
    this.insRow = db.prepare<[number, number | null, number | null, number, Buffer]>(
      'INSERT INTO state_groups (room_nid, parent_group, base_group, seq, delta) VALUES (?, ?, ?, ?, ?)',
    );
  }

  row(group: number): GroupRow {
    let r = this.rows.get(group);
    if (r) return r;
    const x = this.selRow.get(group);
    if (!x) throw new Error(`no state group ${group}`);
    r = { group, roomNid: x.room_nid, parent: x.parent_group, base: x.base_group, seq: x.seq, delta: x.delta };
    this.rows.set(group, r);
    return r;
  }

  /** The full state of a group (shared, read-only). */
  materialize(group: number): StateNids {
    const cached = this.full.get(group);
    if (cached) return cached;
    const chain: GroupRow[] = [];
    let start: Map<number, number> | undefined;
    for (let g: number | null = group; g !== null; ) {
      const hit = this.full.get(g);
      if (hit) {
        start = new Map(hit);
        break;
      }
      const r = this.row(g);
      chain.push(r);
      g = r.base;
    }
    const state = start ?? new Map<number, number>();
    for (let i = chain.length - 1; i >= 0; i--) {
      forEachInStateDelta(chain[i]!.delta, (k, v) => {
        if (v === 0) state.delete(k);
        else state.set(k, v);
      });
    }
    this.full.set(group, state);
    return state;
  }

  /** The event nids of some keys in a group's state, reading only as far down the chain as needed. */
  lookup(group: number, keys: readonly number[]): Map<number, number> {
    const out = new Map<number, number>();
    const cached = this.full.get(group);
    if (cached) {
      for (const k of keys) {
        const v = cached.get(k);
        if (v !== undefined) out.set(k, v);
      }
      return out;
    }
    const wanted = new Set(keys);
    const seen = new Set<number>();
    for (let g: number | null = group; g !== null && seen.size < wanted.size; ) {
      const hit = this.full.get(g);
      if (hit) {
        for (const k of wanted) {
          if (seen.has(k)) continue;
          seen.add(k);
          const v = hit.get(k);
          if (v !== undefined) out.set(k, v);
        }
        break;
      }
      const r = this.row(g);
      forEachInStateDelta(r.delta, (k, v) => {
        if (!wanted.has(k) || seen.has(k)) return;
        seen.add(k);
        if (v !== 0) out.set(k, v);
      });
      g = r.base;
    }
    return out;
  }

  /**
   * Writes a new group: the state of `parent` (or the empty state) with `changes` applied
   * (event nid 0 removes an entry). Must run inside the caller's transaction.
   */
  create(roomNid: number, parent: number | null, changes: StateNids): number {
    let seq = 1;
    let base: number | null = null;
    let delta: Map<number, number>;
    if (parent === null) {
      delta = new Map();
      for (const [k, v] of changes) if (v !== 0) delta.set(k, v);
    } else {
      const p = this.row(parent);
      seq = p.seq + 1;
      const baseSeq = baseSeqFor(seq);
      // The changes win over older deltas: merge nearest first, keeping the first value per key.
      delta = new Map(changes);
      let g: number | null = parent;
      while (g !== null) {
        const r = this.row(g);
        if (r.seq <= baseSeq) break;
        forEachInStateDelta(r.delta, (k, v) => {
          if (!delta.has(k)) delta.set(k, v);
        });
        g = r.base;
      }
      if (g !== null && this.row(g).seq !== baseSeq) throw new Error(`state group chain broken below group ${parent}`);
      base = g;
      if (base === null) for (const [k, v] of delta) if (v === 0) delta.delete(k);
    }
    const buf = encodeStateDelta(delta);
    const group = Number(this.insRow.run(roomNid, parent, base, seq, buf).lastInsertRowid);
    this.rows.set(group, { group, roomNid, parent, base, seq, delta: buf });
    return group;
  }

  /**
   * A group holding exactly `state`: `parent` itself when equal, else a new group stored as the
   * difference from `parent` (or a chain's first group when there is no parent).
   */
  createFromFull(roomNid: number, state: StateNids, parent: number | null): number {
    if (parent === null) return this.create(roomNid, null, state);
    const changes = diffStates(this.materialize(parent), state);
    if (changes.size === 0) return parent;
    const group = this.create(roomNid, parent, changes);
    this.full.set(group, new Map(state));
    return group;
  }

  /** Entries of group `b` that differ from group `a` (0 = absent in `b`). */
  diff(a: number | null, b: number | null): Map<number, number> {
    if (a === b) return new Map();
    if (b !== null && a !== null) {
      // Common case: b was derived from a by one event; its own delta against a is short.
      const rb = this.row(b);
      if (rb.parent === a && rb.base === a) {
        const out = new Map<number, number>();
        const sa = this.full.get(a);
        forEachInStateDelta(rb.delta, (k, v) => {
          if (!sa || sa.get(k) !== (v === 0 ? undefined : v)) out.set(k, v);
        });
        return out;
      }
    }
    const sa = a === null ? new Map<number, number>() : this.materialize(a);
    const sb = b === null ? new Map<number, number>() : this.materialize(b);
    return diffStates(sa, sb);
  }

  clearCaches(): void {
    this.rows.clear();
    this.full.clear();
  }
}

/** Entries of `b` that differ from `a`, with 0 for keys of `a` absent from `b`. */
export function diffStates(a: StateNids, b: StateNids): Map<number, number> {
  const out = new Map<number, number>();
  for (const [k, v] of b) if (a.get(k) !== v) out.set(k, v);
  for (const k of a.keys()) if (!b.has(k)) out.set(k, 0);
  return out;
}
