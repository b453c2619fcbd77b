// Packs a state delta, a list of (state_key_nid, event_nid) pairs, into a compact byte string.
//
// Format: LEB128 varints. The pairs are sorted by state_key_nid; each key is written as the gap
// from the previous key (small: keys of one room are interned close together), each event nid as
// is (0 = "the entry is absent in this state"). A 10,000-member snapshot takes about 5-7 bytes
// per entry, a typical delta a few bytes per change.

export type StateDelta = ReadonlyMap<number, number>;

function writeVarint(out: number[], v: number): void {
  // Values stay below 2^53; use division rather than bit operations above 2^31.
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

export function encodeStateDelta(delta: StateDelta): Buffer {
  const keys = [...delta.keys()].sort((a, b) => a - b);
  const out: number[] = [];
  writeVarint(out, keys.length);
  let prev = 0;
  for (const k of keys) {
    writeVarint(out, k - prev);
    writeVarint(out, delta.get(k)!);
    prev = k;
  }
  return Buffer.from(out);
}

/**
 * Calls `visit(key, eventNid)` for each pair in `buf`, in key order. Callers that merge several
 * deltas visit the nearest one first and keep the first value seen for each key.
 */
export function forEachInStateDelta(buf: Uint8Array, visit: (key: number, eventNid: number) => void): void {
  let pos = 0;
  const read = (): number => {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error('truncated state delta');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 0x80;
    }
  };
  const n = read();
  let key = 0;
  for (let i = 0; i < n; i++) {
    key += read();
    visit(key, read());
  }
}

export function decodeStateDelta(buf: Uint8Array): Map<number, number> {
  const m = new Map<number, number>();
  forEachInStateDelta(buf, (k, v) => m.set(k, v));
  return m;
}
