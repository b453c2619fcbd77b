// The iterative auth checks of state resolution v2 (spec rooms v2 "Iterative auth checks"): apply
// each event in order to a room state if the authorisation rules allow it against that state.

import { stateTuple, type RoomEvent } from '../events/event.js';
import { authTypesForEvent } from '../auth/auth-types.js';
import { checkAuth } from '../auth/rules.js';
import type { ResolutionContext } from './context.js';
import type { StateMap } from './types.js';

/**
 * The auth events one event is checked against: for each (type, state_key) that auth events
 * selection names, the event of the state being built; where the state has none, the event's own
 * auth event of that key. Rejected events are never used (spec: "if the auth event is not
 * rejected"); missing ones are skipped. The create event is always among the event's own auth
 * events (v12: implied by the room ID, see `effectiveAuthEventIds`), as checkAuth requires.
 */
export function authEventsForCheck(ctx: ResolutionContext, event: RoomEvent, state: StateMap): RoomEvent[] {
  const byKey = new Map<string, RoomEvent>();
  for (const id of ctx.authEventIds(event)) {
    const a = ctx.event(id);
    if (!a || a.stateKey === undefined || ctx.isRejected(id)) continue;
    byKey.set(stateTuple(a.type, a.stateKey), a);
  }
  for (const [type, stateKey] of authTypesForEvent(event.type, event.stateKey, event.sender, event.content, ctx.version)) {
    const key = stateTuple(type, stateKey);
    const id = state.get(key);
    if (id === undefined || ctx.isRejected(id)) continue;
    const a = ctx.event(id);
    if (a) byKey.set(key, a);
  }
  return [...byKey.values()];
}

/**
 * Starting from `baseState`, applies each state event of `sortedEventIds` in order when the
 * authorisation rules allow it; disallowed events are ignored. Events the server lacks and
 * non-state events are skipped. An event previously rejected is checked again like any other
 * (spec rooms v2 "Rejected events": handled as usual); only as an auth event is it excluded.
 */
export function iterativeAuthChecks(
  ctx: ResolutionContext,
  baseState: StateMap,
  sortedEventIds: Iterable<string>,
): Map<string, string> {
  const state = new Map(baseState);
  for (const id of sortedEventIds) {
    const event = ctx.event(id);
    if (!event || event.stateKey === undefined) continue;
    const result = checkAuth(event, authEventsForCheck(ctx, event, state), ctx.version);
    if (result.allowed) state.set(stateTuple(event.type, event.stateKey), id);
  }
  return state;
}
