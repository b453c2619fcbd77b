// The auth events a PDU needs and the order in which a batch of PDUs can be stored so that each comes
// after the auth events it lists among them (server-server API: a receiving server authorises each
// event against its auth events, so those must be stored first).
import type { JsonObject } from '../json/types.js';
import { refIds } from './event.js';
import { createEventIdOfRoom } from './room-id.js';
import type { RoomVersion } from './room-versions.js';

/** The prev events a PDU lists. */
export function prevIdsOf(pdu: JsonObject, version: RoomVersion): string[] {
  return refIds(pdu.prev_events, version.eventRefsArePairs);
}

/**
 * The auth events a PDU needs: those it lists, plus (room version 12, where the create event is not
 * listed in auth_events) the create event its room ID names.
 */
export function authIdsOf(pdu: JsonObject, version: RoomVersion): string[] {
  const ids = refIds(pdu.auth_events, version.eventRefsArePairs);
  const isCreate = pdu.type === 'm.room.create' && pdu.state_key === '';
  if (version.roomIdFromCreateEvent && !isCreate && typeof pdu.room_id === 'string') {
    try {
      const createId = createEventIdOfRoom(pdu.room_id);
      if (!ids.includes(createId)) ids.push(createId);
    } catch {
      // A malformed room ID fails the writer's checks.
    }
  }
  return ids;
}

/**
 * Events ordered so that each comes after the auth events it lists among them (Kahn's algorithm on
 * the auth DAG, ties by depth so they follow the DAG's own order). Events in a cycle, which only a
 * forged DAG has, come last in their input order: the writer then finds their auth events missing.
 */
export function authOrder<T extends { eventId: string; pdu: JsonObject }>(events: readonly T[], version: RoomVersion): T[] {
  const byId = new Map(events.map((e) => [e.eventId, e]));
  const indegree = new Map<string, number>();
  const children = new Map<string, string[]>();
  for (const e of events) {
    let n = 0;
    for (const a of new Set(authIdsOf(e.pdu, version))) {
      if (!byId.has(a) || a === e.eventId) continue;
      n++;
      const list = children.get(a);
      if (list) list.push(e.eventId);
      else children.set(a, [e.eventId]);
    }
    indegree.set(e.eventId, n);
  }
  const depth = (e: T) => (typeof e.pdu.depth === 'number' ? e.pdu.depth : 0);
  const ready = events.filter((e) => indegree.get(e.eventId) === 0).sort((a, b) => depth(a) - depth(b));
  const out: T[] = [];
  for (let i = 0; i < ready.length; i++) {
    const e = ready[i]!;
    out.push(e);
    for (const c of children.get(e.eventId) ?? []) {
      const n = indegree.get(c)! - 1;
      indegree.set(c, n);
      if (n === 0) ready.push(byId.get(c)!);
    }
  }
  if (out.length < events.length) {
    const placed = new Set(out.map((e) => e.eventId));
    for (const e of events) if (!placed.has(e.eventId)) out.push(e);
  }
  return out;
}
