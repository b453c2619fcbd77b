// The client event format (spec client-server "Room Event Format": ClientEvent and
// ClientEventWithoutRoomID), redactions applied when served, and stripped state for invites/knocks.
import type { JsonObject } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';
import { redactEvent } from '../core/events/redaction.js';
import { getRoomVersion, type RoomVersion } from '../core/events/room-versions.js';
import { stateTuple } from '../core/events/event.js';
import { serverNameOf } from '../core/ids.js';
import { namedPowerLevel, userPowerLevel } from '../core/auth/power-levels.js';
import type { Store, StoredEvent } from '../store/index.js';

/**
 * The client-supplied transaction IDs of events sent by `userId` from `deviceId` (implemented by
 * rooms/transactions.ts). Only events that device sent have an entry.
 */
export type TxnLookup = (eventIds: string[], userId: string, deviceId: string) => Map<string, string>;

/** Bundled aggregations (the `m.relations` object of `unsigned`) per event, as seen by `userId` (rooms/relations.ts). */
export type AggregationsLookup = (eventIds: string[], userId: string) => Map<string, JsonObject>;

/** The store reads the formatter needs. */
export type ClientEventStore = Pick<Store, 'getEvents' | 'getRoomVersion' | 'getReplacedStateIds' | 'getRedactionsOf' | 'getStateEntriesBefore'>;

export interface ClientEventContext {
  /** The user the events are served to. */
  readonly userId: string;
  /** Their device: transaction IDs are given only to the device that sent the event. */
  readonly deviceId?: string | undefined;
  /** Milliseconds since 1970, for `unsigned.age`. */
  readonly now: number;
  /** ClientEvent (with room_id, e.g. /messages, /context) or ClientEventWithoutRoomID (/sync). */
  readonly withRoomId: boolean;
  readonly store: ClientEventStore;
  readonly txnLookup?: TxnLookup | undefined;
  readonly aggregations?: AggregationsLookup | undefined;
  /** The requesting user's membership at each event (`unsigned.membership`), e.g. from filterEventsForUserWithMembership. */
  readonly memberships?: ReadonlyMap<string, string> | undefined;
}

const REDACTION = 'm.room.redaction';
const POWER_LEVELS = 'm.room.power_levels';
const CREATE = 'm.room.create';

/**
 * Formats stored events for clients, in the given order. Everything a batch needs is read in a few
 * batched store calls (redactions of the events and of the state they replaced, replaced state,
 * transaction IDs, aggregations), never one query per event.
 */
export async function formatClientEvents(events: readonly StoredEvent[], ctx: ClientEventContext): Promise<JsonObject[]> {
  if (events.length === 0) return [];
  const store = ctx.store;
  const ids = events.map((e) => e.eventId);

  // prev_content / prev_sender / replaces_state: the state entry each state event replaced.
  const stateIds = events.filter((e) => e.event.stateKey !== undefined).map((e) => e.eventId);
  const replaced = stateIds.length ? await store.getReplacedStateIds(stateIds) : new Map<string, string>();
  const prevEvents = new Map<string, StoredEvent>();
  if (replaced.size) for (const p of await store.getEvents([...new Set(replaced.values())])) prevEvents.set(p.eventId, p);

  // Redactions of the events and of the replaced state events (whose prev_content must not leak).
  const redactedBy = await validRedactions(store, [...events, ...prevEvents.values()]);

  let txnIds: Map<string, string> | undefined;
  if (ctx.txnLookup && ctx.deviceId !== undefined) {
    const own = events.filter((e) => e.event.sender === ctx.userId).map((e) => e.eventId);
    if (own.length) txnIds = ctx.txnLookup(own, ctx.userId, ctx.deviceId);
  }
  let relations: Map<string, JsonObject> | undefined;
  if (ctx.aggregations) {
    const unredacted = ids.filter((id) => !redactedBy.has(id));
    if (unredacted.length) relations = ctx.aggregations(unredacted, ctx.userId);
  }

  const versions = new Map<string, RoomVersion | undefined>();
  const versionOf = async (roomId: string): Promise<RoomVersion | undefined> => {
    if (!versions.has(roomId)) {
      const v = await store.getRoomVersion(roomId);
      versions.set(roomId, v === undefined ? undefined : getRoomVersion(v));
    }
    return versions.get(roomId);
  };

  const out: JsonObject[] = [];
  for (const ev of events) {
    const version = await versionOf(ev.roomId);
    const redaction = redactedBy.get(ev.eventId);
    const obj = baseClientEvent(ev, redaction ? version : undefined, ctx);
    const unsigned = obj.unsigned as JsonObject;
    if (redaction) unsigned.redacted_because = baseClientEvent(redaction, undefined, ctx);
    const prevId = replaced.get(ev.eventId);
    if (prevId !== undefined) {
      unsigned.replaces_state = prevId;
      const prev = prevEvents.get(prevId);
      if (prev) {
        const prevRedacted = redactedBy.has(prevId) && version ? redactEvent(prev.event.json, version) : prev.event.json;
        unsigned.prev_content = isJsonObject(prevRedacted.content) ? prevRedacted.content : {};
        unsigned.prev_sender = prev.event.sender;
      }
    }
    const txn = txnIds?.get(ev.eventId);
    if (txn !== undefined) unsigned.transaction_id = txn;
    const rel = relations?.get(ev.eventId);
    if (rel !== undefined && Object.keys(rel).length > 0) unsigned['m.relations'] = rel;
    const membership = ctx.memberships?.get(ev.eventId);
    if (membership !== undefined) unsigned.membership = membership;
    out.push(obj);
  }
  return out;
}

/** One event with the fields every client event has; `redactWith` serves it redacted. */
function baseClientEvent(ev: StoredEvent, redactWith: RoomVersion | undefined, ctx: ClientEventContext): JsonObject {
  const json = redactWith ? redactEvent(ev.event.json, redactWith) : ev.event.json;
  const content: JsonObject = isJsonObject(json.content) ? json.content : {};
  const obj: JsonObject = {
    content,
    event_id: ev.eventId,
    origin_server_ts: ev.event.originServerTs,
    sender: ev.event.sender,
    type: ev.event.type,
    unsigned: { age: ctx.now - ev.event.originServerTs },
  };
  if (ctx.withRoomId) obj.room_id = ev.roomId;
  if (ev.event.stateKey !== undefined) obj.state_key = ev.event.stateKey;
  if (ev.event.type === REDACTION && ev.event.redacts !== undefined) {
    // v11 moved `redacts` into content; clients of either era read one or the other: give both.
    obj.redacts = ev.event.redacts;
    if (content.redacts === undefined) obj.content = { ...content, redacts: ev.event.redacts };
  }
  return obj;
}

/**
 * The redaction to apply to each event, if any (spec client-server "Redactions" and room versions
 * "Handling redactions"): an accepted m.room.redaction in the same room whose sender is on the same
 * server as the redacted event's sender, or had the power to redact in the state before the
 * redaction. (In v1/v2 the auth rules already required one of these.)
 */
async function validRedactions(store: ClientEventStore, events: readonly StoredEvent[]): Promise<Map<string, StoredEvent>> {
  const out = new Map<string, StoredEvent>();
  if (events.length === 0) return out;
  const byId = new Map(events.map((e) => [e.eventId, e]));
  const found = await store.getRedactionsOf([...byId.keys()]);
  if (found.size === 0) return out;
  const needPower: { target: StoredEvent; candidates: StoredEvent[] }[] = [];
  for (const [targetId, redactions] of found) {
    const target = byId.get(targetId);
    if (!target) continue;
    const sameRoom = redactions.filter((r) => r.roomId === target.roomId);
    const targetServer = serverNameOf(target.event.sender);
    const sameServer = sameRoom.find((r) => serverNameOf(r.event.sender) === targetServer);
    if (sameServer) out.set(targetId, sameServer);
    else if (sameRoom.length) needPower.push({ target, candidates: sameRoom });
  }
  if (needPower.length === 0) return out;
  const redactionIds = needPower.flatMap((n) => n.candidates.map((c) => c.eventId));
  const states = await store.getStateEntriesBefore(redactionIds, [
    [CREATE, ''],
    [POWER_LEVELS, ''],
  ]);
  const authIds = new Set<string>();
  for (const m of states.values()) for (const id of m.values()) authIds.add(id);
  const authEvents = new Map((await store.getEvents([...authIds])).map((e) => [e.eventId, e]));
  for (const { target, candidates } of needPower) {
    const version = getRoomVersion((await store.getRoomVersion(target.roomId)) ?? '');
    if (!version) continue;
    for (const r of candidates) {
      const st = states.get(r.eventId);
      const create = authEvents.get(st?.get(stateTuple(CREATE, '')) ?? '')?.event;
      const pl = authEvents.get(st?.get(stateTuple(POWER_LEVELS, '')) ?? '')?.event;
      if (userPowerLevel(r.event.sender, pl, create, version) >= namedPowerLevel('redact', pl, version)) {
        out.set(target.eventId, r);
        break;
      }
    }
  }
  return out;
}

/** Stripped state events (spec "Stripped state") for invite_state / knock_state. */
export function formatStrippedState(events: readonly StoredEvent[]): JsonObject[] {
  const out: JsonObject[] = [];
  for (const ev of events) {
    if (ev.event.stateKey === undefined) continue;
    out.push({ content: ev.event.content, sender: ev.event.sender, state_key: ev.event.stateKey, type: ev.event.type });
  }
  return out;
}
