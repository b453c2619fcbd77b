// One state resolution run's view of the room: memoised event lookups, effective auth events
// (with v12's implicit create event) and rejection, shared by every step.

import type { RoomEvent } from '../events/event.js';
import type { RoomVersion } from '../events/room-versions.js';
import { effectiveAuthEventIds } from './auth-chain.js';

export interface ResolutionContext {
  readonly version: RoomVersion;
  /** The event, or undefined if the server does not have it (missing events are skipped). */
  event(eventId: string): RoomEvent | undefined;
  /** The event's auth_events plus, in v12, the create event named by its room ID. */
  authEventIds(event: RoomEvent): readonly string[];
  isRejected(eventId: string): boolean;
}

export interface EventSource {
  getEvent(eventId: string): RoomEvent | undefined;
  isRejected?(eventId: string): boolean;
}

/** Builds a context that fetches each event from `source` at most once per run. */
export function createResolutionContext(version: RoomVersion, source: EventSource): ResolutionContext {
  const events = new Map<string, RoomEvent | undefined>();
  const authIds = new Map<string, readonly string[]>();
  const isRejected = source.isRejected ? (id: string) => source.isRejected!(id) : () => false;
  return {
    version,
    event(eventId) {
      if (events.has(eventId)) return events.get(eventId);
      const ev = source.getEvent(eventId);
      events.set(eventId, ev);
      return ev;
    },
    authEventIds(event) {
      let ids = authIds.get(event.eventId);
      if (ids === undefined) {
        ids = effectiveAuthEventIds(event, version);
        authIds.set(event.eventId, ids);
      }
      return ids;
    },
    isRejected,
  };
}
