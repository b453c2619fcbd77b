// Splits the state sets into the unconflicted state map and the conflicted state set
// (spec: rooms v2 "Unconflicted state map and conflicted state set"; v1 "conflict").

import type { StateMap } from './types.js';

export interface SeparatedState {
  /** Keys with one value every state set agrees on. */
  readonly unconflicted: Map<string, string>;
  /** Every other key, with the distinct event IDs the state sets give it. */
  readonly conflicted: Map<string, Set<string>>;
}

export interface SeparateOptions {
  /**
   * v2 and v2.1 (the default): a key that some state set lacks is conflicted, because it must be
   * "present in every S_i with the same value". v1: a conflict is only "different event_ids for the
   * same key", so a key with a single value is unconflicted even if some sets lack it.
   */
  readonly missingKeyConflicts?: boolean;
}

export function separateStateSets(stateSets: readonly StateMap[], options: SeparateOptions = {}): SeparatedState {
  const missingKeyConflicts = options.missingKeyConflicts ?? true;
  const unconflicted = new Map<string, string>();
  const conflicted = new Map<string, Set<string>>();
  if (stateSets.length === 0) return { unconflicted, conflicted };

  const keys = new Set<string>();
  for (const set of stateSets) for (const k of set.keys()) keys.add(k);

  for (const key of keys) {
    let first: string | undefined;
    let values: Set<string> | undefined;
    let missing = false;
    for (const set of stateSets) {
      const v = set.get(key);
      if (v === undefined) {
        missing = true;
        continue;
      }
      if (first === undefined) first = v;
      else if (v !== first) (values ??= new Set([first])).add(v);
    }
    if (values) conflicted.set(key, values);
    else if (missing && missingKeyConflicts) conflicted.set(key, new Set([first!]));
    else unconflicted.set(key, first!);
  }
  return { unconflicted, conflicted };
}

/** Every event ID of the conflicted state set. */
export function conflictedEventIds(conflicted: ReadonlyMap<string, ReadonlySet<string>>): Set<string> {
  const ids = new Set<string>();
  for (const values of conflicted.values()) for (const id of values) ids.add(id);
  return ids;
}
