// Step 1 of state resolution v2: the power events of the full conflicted set with their auth
// ancestors in that set, sorted by the reverse topological power ordering (spec rooms v2
// "Reverse topological power ordering").

import type { RoomEvent } from '../events/event.js';
import { isPowerEvent, userPowerLevel } from '../auth/power-levels.js';
import type { ResolutionContext } from './context.js';
import { lexicographicalTopologicalSort } from './topological-sort.js';

/** The power events of the full conflicted set (events the server lacks are skipped). */
export function selectPowerEvents(ctx: ResolutionContext, fullConflictedSet: Iterable<string>): string[] {
  const out: string[] = [];
  for (const id of fullConflictedSet) {
    const ev = ctx.event(id);
    if (ev && isPowerEvent(ev)) out.push(id);
  }
  return out;
}

/**
 * The sender's power level "when looking at their respective auth_events": the power levels and
 * create events among the event's auth events (v12: the create event named by the room ID; a
 * create event stands for itself). v12 creators compare as Infinity.
 */
export function senderPowerLevel(ctx: ResolutionContext, event: RoomEvent): number {
  let powerLevels: RoomEvent | undefined;
  let create: RoomEvent | undefined = event.type === 'm.room.create' && event.stateKey === '' ? event : undefined;
  for (const id of ctx.authEventIds(event)) {
    const a = ctx.event(id);
    if (!a || a.stateKey !== '') continue;
    if (a.type === 'm.room.power_levels') powerLevels ??= a;
    else if (a.type === 'm.room.create') create ??= a;
  }
  return userPowerLevel(event.sender, powerLevels, create, ctx.version);
}

/**
 * The spec's comparison: x < y if x's sender has the greater power level, then the smaller
 * origin_server_ts, then the smaller event_id (compared by UTF-16 code units; event IDs are ASCII).
 */
export function comparePowerOrder(
  x: { id: string; power: number; ts: number },
  y: { id: string; power: number; ts: number },
): number {
  if (x.power !== y.power) return x.power > y.power ? -1 : 1;
  if (x.ts !== y.ts) return x.ts < y.ts ? -1 : 1;
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

/**
 * Enlarges `eventIds` with the events of their auth chains that are in `fullConflictedSet` and
 * returns them in reverse topological power ordering, earliest first: Kahn's algorithm over the
 * auth_events edges, taking the smallest ready event by `comparePowerOrder` each time.
 *
 * The auth chain is followed through members of the full conflicted set only, as Synapse and
 * tuwunel do. An event of the set reachable only through events outside it is an unconflicted
 * ancestor's ancestor, present in every state set's auth chain; in v2.1 the conflicted subgraph
 * adds the intermediate events whenever such a path joins two conflicted events.
 * Events the server lacks are skipped.
 */
export function reverseTopologicalPowerOrdering(
  ctx: ResolutionContext,
  eventIds: Iterable<string>,
  fullConflictedSet: ReadonlySet<string>,
): string[] {
  const graph = new Map<string, string[]>();
  const stack: string[] = [];
  for (const id of eventIds) if (!graph.has(id) && ctx.event(id)) stack.push(id);
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (graph.has(id)) continue;
    const ev = ctx.event(id)!;
    const edges: string[] = [];
    for (const a of ctx.authEventIds(ev)) {
      if (!fullConflictedSet.has(a) || !ctx.event(a)) continue;
      edges.push(a);
      if (!graph.has(a)) stack.push(a);
    }
    graph.set(id, edges);
  }

  const keys = new Map<string, { id: string; power: number; ts: number }>();
  for (const id of graph.keys()) {
    const ev = ctx.event(id)!;
    keys.set(id, { id, power: senderPowerLevel(ctx, ev), ts: ev.originServerTs });
  }
  return lexicographicalTopologicalSort(graph, (a, b) => comparePowerOrder(keys.get(a)!, keys.get(b)!));
}
