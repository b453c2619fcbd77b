// History visibility (spec client-server "Room History Visibility", server behaviour): which events
// of a room a user may see, judged by the state of the room at each event.
import { stateTuple } from '../core/events/event.js';
import type { Store, StoredEvent } from '../store/index.js';

const HISTORY_VISIBILITY = 'm.room.history_visibility';
const MEMBER = 'm.room.member';

export type HistoryVisibility = 'world_readable' | 'shared' | 'invited' | 'joined';

/** The store reads visibility needs. */
export type VisibilityStore = Pick<Store, 'getStateEntriesBefore' | 'getEvents' | 'getMembership'>;

/** A history_visibility value; missing or not understood means `shared` (spec "Server behaviour"). */
export function parseHistoryVisibility(v: unknown): HistoryVisibility {
  return v === 'world_readable' || v === 'invited' || v === 'joined' ? v : 'shared';
}

/**
 * The spec's rules 1-5 for one event: `membership` is the user's membership at the event,
 * `joinedLater` whether the user joined the room at some point after the event was sent.
 */
export function isVisibleWith(visibility: HistoryVisibility, membership: string, joinedLater: boolean): boolean {
  if (visibility === 'world_readable') return true;
  if (membership === 'join') return true;
  if (visibility === 'shared' && joinedLater) return true;
  return visibility === 'invited' && membership === 'invite';
}

export interface VisibilityResult {
  /** The visible events, in the given order. */
  readonly events: StoredEvent[];
  /** The user's membership at each visible event, including changes made by the event ("leave" when none). */
  readonly memberships: Map<string, string>;
}

/** The events of `events` that `userId` may see (order kept). */
export async function filterEventsForUser(store: VisibilityStore, userId: string, events: readonly StoredEvent[]): Promise<StoredEvent[]> {
  return (await filterEventsForUserWithMembership(store, userId, events)).events;
}

/**
 * Like filterEventsForUser, also giving the user's membership at each event (for `unsigned.membership`).
 * Reads two state entries per distinct state group of the page, the few events they name, and
 * the user's current membership per room: a handful of lookups for a page of 50-100 events.
 *
 * - The user's own m.room.member events are always visible (before or after them the user was
 *   involved: an invite, a join, a kick or a ban is theirs to see).
 * - m.room.history_visibility events are visible when the visibility before or after them allows.
 * - "shared": the user "joined at any point after the event" when they are joined now, or when
 *   they left (or were kicked/banned) after being joined and the event precedes that change
 *   (as Synapse, membership history further back is not consulted).
 */
export async function filterEventsForUserWithMembership(
  store: VisibilityStore,
  userId: string,
  events: readonly StoredEvent[],
): Promise<VisibilityResult> {
  const memberships = new Map<string, string>();
  if (events.length === 0) return { events: [], memberships };
  const hvKey = stateTuple(HISTORY_VISIBILITY, '');
  const memberKey = stateTuple(MEMBER, userId);
  const entries = await store.getStateEntriesBefore(
    events.map((e) => e.eventId),
    [
      [HISTORY_VISIBILITY, ''],
      [MEMBER, userId],
    ],
  );
  const stateIds = new Set<string>();
  for (const m of entries.values()) for (const id of m.values()) stateIds.add(id);
  const stateEvents = new Map((await store.getEvents([...stateIds])).map((e) => [e.eventId, e]));

  // Per room: up to which stream position a `shared` event counts as "joined later".
  const joinedLaterBefore = new Map<string, number>();
  for (const roomId of new Set(events.map((e) => e.roomId))) {
    const current = await store.getMembership(roomId, userId);
    let until = -1;
    if (current?.membership === 'join') until = Number.MAX_SAFE_INTEGER;
    else if (current) {
      const before = (await store.getStateEntriesBefore([current.eventId], [[MEMBER, userId]])).get(current.eventId)?.get(memberKey);
      const prev = before === undefined ? undefined : (await store.getEvents([before]))[0];
      if (prev?.event.content.membership === 'join') until = current.streamOrdering;
    }
    joinedLaterBefore.set(roomId, until);
  }

  const visible: StoredEvent[] = [];
  for (const ev of events) {
    const st = entries.get(ev.eventId);
    const hvEvent = stateEvents.get(st?.get(hvKey) ?? '');
    const memberEvent = stateEvents.get(st?.get(memberKey) ?? '');
    const visibility = parseHistoryVisibility(hvEvent?.event.content.history_visibility);
    const membershipBefore = typeof memberEvent?.event.content.membership === 'string' ? memberEvent.event.content.membership : 'leave';
    const isOwnMember = ev.event.type === MEMBER && ev.event.stateKey === userId;
    const membershipAfter = isOwnMember && typeof ev.event.content.membership === 'string' ? ev.event.content.membership : membershipBefore;
    const joinedLater = (ev.streamOrdering ?? Number.MAX_SAFE_INTEGER) < (joinedLaterBefore.get(ev.roomId) ?? -1);
    let ok = isOwnMember || isVisibleWith(visibility, membershipBefore, joinedLater);
    if (!ok && ev.event.type === HISTORY_VISIBILITY && ev.event.stateKey === '') {
      ok = isVisibleWith(parseHistoryVisibility(ev.event.content.history_visibility), membershipBefore, joinedLater);
    }
    if (!ok) continue;
    visible.push(ev);
    memberships.set(ev.eventId, membershipAfter);
  }
  return { events: visible, memberships };
}
