// State resolution v2 (room versions 2-11) and v2.1 (room version 12), spec rooms v2 / v12
// "State resolution" > "Algorithm", one step per call.

import { stateTuple } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';
import { authDifference } from './auth-difference.js';
import { conflictedStateSubgraph } from './conflicted-subgraph.js';
import { createResolutionContext, type ResolutionContext } from './context.js';
import { iterativeAuthChecks } from './iterative-auth-checks.js';
import { mainlineOrdering } from './mainline.js';
import { reverseTopologicalPowerOrdering, selectPowerEvents } from './power-ordering.js';
import { conflictedEventIds, separateStateSets } from './separate.js';
import type { StateMap, StateResolutionInput } from './types.js';

const POWER_LEVELS_KEY = stateTuple('m.room.power_levels', '');

/**
 * The full conflicted set: the conflicted state set, the auth difference and, in v2.1, the
 * conflicted state subgraph. Events the server does not have are dropped here (as Synapse and
 * tuwunel do): an event nobody can read cannot be authorised, so it cannot win a conflict.
 */
export function fullConflictedSet(
  ctx: ResolutionContext,
  stateSets: readonly StateMap[],
  conflictedIds: ReadonlySet<string>,
  io: StateResolutionInput,
): Set<string> {
  const full = new Set<string>(conflictedIds);
  const difference = io.authChainDifference
    ? io.authChainDifference(stateSets)
    : authDifference(stateSets, (ids) => io.getAuthChain(ids));
  for (const id of difference) full.add(id);
  if (ctx.version.stateResolution === 'v2.1') {
    const subgraph = conflictedStateSubgraph(conflictedIds, (id) => {
      const ev = ctx.event(id);
      return ev ? ctx.authEventIds(ev) : undefined;
    });
    for (const id of subgraph) full.add(id);
  }
  for (const id of full) if (!ctx.event(id)) full.delete(id);
  return full;
}

/** Resolves state sets of a room using state resolution v2, or v2.1 when the version says so. */
export function resolveStateV2(
  version: RoomVersion,
  stateSets: readonly StateMap[],
  io: StateResolutionInput,
): Map<string, string> {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const { unconflicted, conflicted } = separateStateSets(stateSets);
  if (conflicted.size === 0) return unconflicted;

  const ctx = createResolutionContext(version, io);
  const full = fullConflictedSet(ctx, stateSets, conflictedEventIds(conflicted), io);

  // 1. The power events of the full conflicted set and their auth chains within it, sorted.
  const sortedPowerEvents = reverseTopologicalPowerOrdering(ctx, selectPowerEvents(ctx, full), full);

  // 2. Iterative auth checks from the unconflicted state map (v2) or from an empty one (v2.1:
  //    the state then comes only from events that pass, or from their own auth events).
  const base: StateMap = version.stateResolution === 'v2.1' ? new Map() : unconflicted;
  const partial = iterativeAuthChecks(ctx, base, sortedPowerEvents);

  // 3. The remaining events by mainline ordering on the partially resolved power levels.
  const picked = new Set(sortedPowerEvents);
  const remaining = [...full].filter((id) => !picked.has(id));
  const sortedRemaining = mainlineOrdering(ctx, remaining, partial.get(POWER_LEVELS_KEY));

  // 4. Iterative auth checks on the partially resolved state.
  const resolved = iterativeAuthChecks(ctx, partial, sortedRemaining);

  // 5. The unconflicted state map wins over whatever the checks produced.
  for (const [key, id] of unconflicted) resolved.set(key, id);
  return resolved;
}
