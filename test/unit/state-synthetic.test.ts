// State resolution of the benchmark's synthetic forked rooms: the result is the one the algorithm
// implies for their shape, and does not depend on input order.

import { describe, expect, it } from 'vitest';
import { stateTuple } from '../../src/core/events/event.js';
import { resolveState } from '../../src/core/state/resolve.js';
import { buildSyntheticRoom, syntheticInput } from '../../bench/state.bench.js';
import { rng, shuffled } from './state-helpers.js';

describe('synthetic forked rooms', () => {
  for (const roomVersion of ['11', '12']) {
    it(`room v${roomVersion}, 1,000 state events: branch A's changes win, B's stand where A changed nothing`, () => {
      const room = buildSyntheticRoom(roomVersion, 1_000, 1);
      const [a, b] = room.stateSets;
      expect(room.conflictedKeys).toBe(100);
      expect(room.kicked.length).toBeGreaterThan(0);
      // Why: A's new power levels (creator raising a second moderator) pass, and B's kicks pass
      // under them (moderator 50 over users at 0). In the mainline ordering on A's power levels,
      // B's renames and the original joins cite the older power levels (position 1) and are
      // applied before A's renames (position 0); among position 1, originals are older. Joins
      // are public, so A's renames re-admit the kicked members.
      const expected = new Map(room.base);
      for (const [key, id] of a) if (room.base.get(key) !== id) expected.set(key, id);
      for (const [key, id] of b) if (room.base.get(key) !== id && a.get(key) === room.base.get(key)) expected.set(key, id);
      const resolved = resolveState(room.version, room.stateSets, syntheticInput(room));
      expect(resolved).toEqual(expected);
      for (const u of room.kicked) expect(resolved.get(stateTuple('m.room.member', u))).toBe(a.get(stateTuple('m.room.member', u)));

      for (let seed = 0; seed < 3; seed++) {
        const random = rng(seed);
        const input = shuffled(room.stateSets, random).map((s) => new Map(shuffled([...s], random)));
        expect(resolveState(room.version, input, syntheticInput(room))).toEqual(expected);
      }
    });
  }

  it('room v12, 10,000 state events resolves in well under a second', () => {
    const room = buildSyntheticRoom('12', 10_000, 2);
    const t0 = performance.now();
    const resolved = resolveState(room.version, room.stateSets, syntheticInput(room));
    const ms = performance.now() - t0;
    expect(resolved.size).toBe(room.base.size);
    expect(ms).toBeLessThan(1000);
  });
});
