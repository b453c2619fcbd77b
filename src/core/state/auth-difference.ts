// The auth difference (spec rooms v2 "Auth difference"): events in some but not all of the state
// sets' full auth chains, ∪C_i − ∩C_i.

import type { StateMap } from './types.js';

/**
 * Each state set's full auth chain C_i counts the set's own events as well as their auth chains,
 * as Synapse and tuwunel compute it: an event every state set holds is never in the difference.
 *
 * To avoid building every C_i over the whole room, C_i is split as B ∪ D_i, where B is the events
 * common to all sets plus their chains (identical for every set) and D_i is the set's other events
 * plus their chains. Then ∪C_i − ∩C_i = (∪D_i − ∩D_i) − B. `getAuthChain` is asked once for the
 * common events and once per state set for the rest; with a memoised `AuthChainCache` or an
 * indexed store neither call re-walks chains.
 */
export function authDifference(
  stateSets: readonly StateMap[],
  getAuthChain: (eventIds: readonly string[]) => ReadonlySet<string>,
): Set<string> {
  const difference = new Set<string>();
  if (stateSets.length < 2) return difference;

  // Events held by every set (counting each event once per set).
  const seenIn = new Map<string, number>();
  const setIds: Set<string>[] = [];
  for (const set of stateSets) {
    const ids = new Set(set.values());
    setIds.push(ids);
    for (const id of ids) seenIn.set(id, (seenIn.get(id) ?? 0) + 1);
  }
  const common: string[] = [];
  for (const [id, n] of seenIn) if (n === stateSets.length) common.push(id);
  const commonSet = new Set(common);

  const perSet: Set<string>[] = setIds.map((ids) => {
    const own = [...ids].filter((id) => !commonSet.has(id));
    const d = new Set(own);
    if (own.length > 0) for (const a of getAuthChain(own)) d.add(a);
    return d;
  });

  const candidates = new Set<string>();
  for (const d of perSet) for (const id of d) if (!perSet.every((other) => other.has(id))) candidates.add(id);
  if (candidates.size === 0) return difference;

  const base = common.length > 0 ? getAuthChain(common) : new Set<string>();
  for (const id of candidates) if (!commonSet.has(id) && !base.has(id)) difference.add(id);
  return difference;
}
