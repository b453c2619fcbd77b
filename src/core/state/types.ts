// Types shared by the state resolution steps: state maps and the injected event/auth-chain lookups.

import type { RoomEvent } from '../events/event.js';

/** A room state: state tuple (see `stateTuple`) -> event ID. */
export type StateMap = ReadonlyMap<string /* stateTuple */, string /* event id */>;

/**
 * The I/O state resolution needs, injected so the algorithm stays a pure function. Everything is
 * synchronous because the store (better-sqlite3) is.
 */
export interface StateResolutionInput {
  /** The event with this ID, or undefined when the server does not have it. */
  getEvent(eventId: string): RoomEvent | undefined;
  /**
   * Full auth chain (transitive auth_events, excluding the event itself) of each given event id,
   * as one set (the union). In room version 12 the create event, implied by the room ID rather
   * than listed in auth_events, may or may not be included: it is in every state set, so the auth
   * difference is the same either way. `AuthChainCache` (./auth-chain.ts) is a memoised
   * implementation a store can keep per room.
   */
  getAuthChain(eventIds: readonly string[]): ReadonlySet<string>;
  /**
   * Optional faster path: the auth chain difference of the state sets, if the store indexes
   * chains. Must equal `authDifference(stateSets, getAuthChain)`: each set's chain counts the
   * set's own events, so events common to every set never appear.
   */
  authChainDifference?(stateSets: readonly StateMap[]): ReadonlySet<string>;
  /**
   * Optional: whether the server rejected this event. Rejected events are never used as auth
   * events in the iterative auth checks (spec: "if the auth event is not rejected"). Without
   * it, no event counts as rejected.
   */
  isRejected?(eventId: string): boolean;
}
