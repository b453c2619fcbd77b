// Least-recently-used caches bounded by their number of entries, allocated as they fill.
import { LRUCache } from 'lru-cache';

/**
 * An LRU cache of at most `maxEntries` entries. lru-cache's own `max` option allocates every slot
 * up front (two JS arrays and three typed arrays of `max` elements, ~20 bytes a slot): the server's
 * few dozen caches then held ~25 MB from the first second, most of it never used on a small
 * server. Bounding by `maxSize` with a size of 1 per entry keeps the same bound and eviction order
 * while memory grows with the entries actually cached.
 */
export function createLru<K extends {}, V extends {}>(maxEntries: number): LRUCache<K, V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  return new LRUCache<K, V>({ maxSize: maxEntries, sizeCalculation: () => 1 });
}
