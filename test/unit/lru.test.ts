// createLru (src/core/lru.ts): the entry bound and least-recently-used eviction of lru-cache's `max`,
// without allocating every slot up front.
import { describe, expect, it } from 'vitest';
import { createLru } from '../../src/core/lru.js';

describe('createLru', () => {
  it('keeps at most maxEntries entries and evicts the least recently used', () => {
    const c = createLru<string, number>(3);
    c.set('a', 1).set('b', 2).set('c', 3);
    expect(c.get('a')).toBe(1); // a is now the most recently used
    c.set('d', 4);
    expect(c.size).toBe(3);
    expect(c.has('b')).toBe(false);
    expect([...c.keys()].sort()).toEqual(['a', 'c', 'd']);
    c.set('a', 10); // replacing does not grow it
    expect(c.size).toBe(3);
    expect(c.get('a')).toBe(10);
  });

  it('holds exactly its bound under many insertions', () => {
    const c = createLru<number, number>(1000);
    for (let i = 0; i < 10_000; i++) c.set(i, i);
    expect(c.size).toBe(1000);
    expect(c.has(8999)).toBe(false);
    expect(c.has(9000)).toBe(true);
  });

  it('allocates as it fills: twenty empty caches of a million entries cost next to nothing', () => {
    // lru-cache's `max` would allocate ~8 MB of heap arrays (plus typed arrays) for each of these.
    const before = process.memoryUsage().heapUsed;
    const caches = Array.from({ length: 20 }, () => createLru<number, number>(1_000_000));
    const grown = process.memoryUsage().heapUsed - before;
    expect(caches).toHaveLength(20);
    expect(grown).toBeLessThan(5 * 1024 * 1024);
  });

  it('refuses a bound that is not a positive integer', () => {
    expect(() => createLru(0)).toThrow(RangeError);
    expect(() => createLru(1.5)).toThrow(RangeError);
  });
});
