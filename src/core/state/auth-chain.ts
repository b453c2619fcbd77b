// Auth chains (spec "Auth chain": every event reachable through auth_events links), computed with
// explicit stacks so long chains cannot overflow the call stack, plus a memoising cache.

import type { RoomEvent } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The event's auth events as state resolution sees them. In room version 12 the create event is
 * not listed in auth_events: the room ID names it ('!' + create event ID without its '$'), so it
 * is added here, as Synapse and tuwunel also do, for every event but the create event itself.
 */
export function effectiveAuthEventIds(event: RoomEvent, version: RoomVersion): readonly string[] {
  if (!version.roomIdFromCreateEvent) return event.authEventIds;
  if (event.type === 'm.room.create' && event.stateKey === '') return event.authEventIds;
  if (!event.roomId.startsWith('!') || event.roomId.length < 2) return event.authEventIds;
  const createId = '$' + event.roomId.slice(1);
  if (event.authEventIds.includes(createId)) return event.authEventIds;
  return [...event.authEventIds, createId];
}

/**
 * The union of the auth chains of `eventIds` (the given events themselves are included only when
 * one is in another's chain), by one walk with a shared visited set: linear in the events reached.
 * Events `authIdsOf` does not know (returns undefined) are kept in the chain but not walked past.
 */
export function walkAuthChains(
  eventIds: Iterable<string>,
  authIdsOf: (eventId: string) => readonly string[] | undefined,
): Set<string> {
  const chain = new Set<string>();
  const stack: string[] = [];
  for (const id of eventIds) {
    const auth = authIdsOf(id);
    if (auth) for (const a of auth) stack.push(a);
  }
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (chain.has(id)) continue;
    chain.add(id);
    const auth = authIdsOf(id);
    if (auth) for (const a of auth) if (!chain.has(a)) stack.push(a);
  }
  return chain;
}

/**
 * Memoised auth chains per event, for a store to keep across resolutions so that the auth
 * difference does not re-walk whole chains on every call. `getAuthChain` has the shape
 * `StateResolutionInput.getAuthChain` expects. Events are immutable, so entries never go stale;
 * memory is the sum of the chain sizes of the events asked about (small for member events, which
 * cite only create, power levels, join rules and their own previous membership).
 */
export class AuthChainCache {
  private readonly chains = new Map<string, ReadonlySet<string>>();

  constructor(
    private readonly getEvent: (eventId: string) => RoomEvent | undefined,
    private readonly version: RoomVersion,
  ) {}

  /** Number of events whose chain is memoised. */
  get size(): number {
    return this.chains.size;
  }

  /** The auth chain of one event (excluding the event); empty for an unknown event. */
  chainOf(eventId: string): ReadonlySet<string> {
    const known = this.chains.get(eventId);
    if (known) return known;
    this.fill(eventId);
    return this.chains.get(eventId) ?? EMPTY;
  }

  /** Union of the auth chains of the given events (excluding them unless cited by another). */
  getAuthChain(eventIds: readonly string[]): ReadonlySet<string> {
    const out = new Set<string>();
    for (const id of eventIds) for (const a of this.chainOf(id)) out.add(a);
    return out;
  }

  private authIds(eventId: string): readonly string[] {
    const ev = this.getEvent(eventId);
    return ev ? effectiveAuthEventIds(ev, this.version) : [];
  }

  /**
   * Post-order walk: an event's chain is built once every auth event's chain is known. A node met
   * again while still open means a cycle (impossible with hash event IDs, possible with v1/v2's
   * chosen ones): the back edge contributes the node but not its still-incomplete chain.
   */
  private fill(root: string): void {
    const open = new Set<string>();
    const stack = [root];
    while (stack.length > 0) {
      const id = stack[stack.length - 1]!;
      if (this.chains.has(id)) {
        stack.pop();
        continue;
      }
      const auth = this.authIds(id);
      if (!open.has(id)) {
        open.add(id);
        for (const a of auth) if (!this.chains.has(a) && !open.has(a)) stack.push(a);
        continue;
      }
      stack.pop();
      open.delete(id);
      const chain = new Set<string>();
      for (const a of auth) {
        chain.add(a);
        const sub = this.chains.get(a);
        if (sub) for (const x of sub) chain.add(x);
      }
      this.chains.set(id, chain);
    }
  }
}
