// Dot-separated property paths (appendices "Dot-separated property paths", MSC3873): `content.m\.mentions`.
import type { JsonObject, JsonValue } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';

const CACHE_LIMIT = 10_000;
const cache = new Map<string, readonly string[]>();

/**
 * Splits a path at unescaped dots. `\.` is a literal dot and `\\` a literal backslash; any other
 * backslash is kept as is (`\x` stays backslash + x), as the appendix says.
 */
export function parseDottedPath(path: string): readonly string[] {
  const hit = cache.get(path);
  if (hit !== undefined) return hit;
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < path.length; i++) {
    const ch = path[i];
    if (ch === '\\') {
      const next = path[i + 1];
      if (next === '.' || next === '\\') {
        current += next;
        i++;
      } else current += '\\';
    } else if (ch === '.') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(path, parts);
  return parts;
}

/** The value at `path` in `obj`, walking only own properties of objects; undefined if absent. */
export function lookupPath(obj: JsonObject, path: readonly string[]): JsonValue | undefined {
  let node: JsonValue = obj;
  for (const name of path) {
    if (!isJsonObject(node) || !Object.hasOwn(node, name)) return undefined;
    node = node[name] as JsonValue;
  }
  return node;
}

/** lookupPath of a dotted path string. */
export function lookupDotted(obj: JsonObject, dottedPath: string): JsonValue | undefined {
  return lookupPath(obj, parseDottedPath(dottedPath));
}
