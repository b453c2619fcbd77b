// Step 3 of state resolution v2: the mainline ordering of the remaining events based on the power
// levels event of the partially resolved state (spec rooms v2 "Mainline ordering").

import type { RoomEvent } from '../events/event.js';
import type { ResolutionContext } from './context.js';

/** The first m.room.power_levels event among the event's auth events (missing ones skipped). */
export function powerLevelsAuthEvent(ctx: ResolutionContext, event: RoomEvent): RoomEvent | undefined {
  for (const id of ctx.authEventIds(event)) {
    const a = ctx.event(id);
    if (a && a.type === 'm.room.power_levels' && a.stateKey === '') return a;
  }
  return undefined;
}

/**
 * The mainline of P0: [P0, P1, ..., Pn], each P(i+1) the power levels event in P(i)'s auth
 * events. Stops at a repeat (a cycle is impossible with hash event IDs) or a missing event.
 */
export function mainlineOf(ctx: ResolutionContext, powerLevelsEventId: string | undefined): string[] {
  const mainline: string[] = [];
  if (powerLevelsEventId === undefined) return mainline;
  const seen = new Set<string>();
  let current = ctx.event(powerLevelsEventId);
  if (!current) return [powerLevelsEventId];
  while (current && !seen.has(current.eventId)) {
    seen.add(current.eventId);
    mainline.push(current.eventId);
    current = powerLevelsAuthEvent(ctx, current);
  }
  return mainline;
}

/**
 * Sorts events by the mainline ordering based on `powerLevelsEventId` (the power levels of the
 * partially resolved state, or undefined if it has none): mainline position greatest first (an
 * event whose power levels chain meets no mainline event sorts first, position ∞), then
 * origin_server_ts, then event_id. An event's position comes from e1, e2, ...: the power levels
 * event of its auth events, of that one's, and so on (e0 itself is not looked up). Positions of
 * the power levels events met on the way are memoised, so each is walked once.
 * Events the server lacks are dropped.
 */
export function mainlineOrdering(
  ctx: ResolutionContext,
  eventIds: readonly string[],
  powerLevelsEventId: string | undefined,
): string[] {
  const position = new Map<string, number>();
  mainlineOf(ctx, powerLevelsEventId).forEach((id, i) => position.set(id, i));

  const positionOf = (event: RoomEvent): number => {
    const walked = new Set<string>();
    let found = Infinity;
    let current = powerLevelsAuthEvent(ctx, event);
    while (current) {
      const known = position.get(current.eventId);
      if (known !== undefined) {
        found = known;
        break;
      }
      if (walked.has(current.eventId)) break; // cycle: nothing further to find
      walked.add(current.eventId);
      current = powerLevelsAuthEvent(ctx, current);
    }
    for (const id of walked) position.set(id, found);
    return found;
  };

  const keyed: { id: string; pos: number; ts: number }[] = [];
  for (const id of eventIds) {
    const ev = ctx.event(id);
    if (ev) keyed.push({ id, pos: positionOf(ev), ts: ev.originServerTs });
  }
  keyed.sort((x, y) => {
    if (x.pos !== y.pos) return x.pos > y.pos ? -1 : 1;
    if (x.ts !== y.ts) return x.ts < y.ts ? -1 : 1;
    return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
  });
  return keyed.map((k) => k.id);
}
