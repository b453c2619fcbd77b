// The full-text index of room events (table event_search, migration 0700), kept by a derived writer
// inside each event's persist transaction: message bodies, room names and topics go in, redacted
// events come out. POST /search reads it (src/search/service.ts).
import type { RoomEvent } from '../core/events/event.js';
import type { RoomVersion } from '../core/events/room-versions.js';
import { namedPowerLevel, userPowerLevel } from '../core/auth/power-levels.js';
import { serverNameOf } from '../core/ids.js';
import type { EventStore, PersistedEventInfo } from '../store/event-store.js';
import type { Store } from '../store/index.js';

/** The spec's search keys and the index column each is stored in. */
export const SEARCH_KEYS = {
  'content.body': 'body',
  'content.name': 'name',
  'content.topic': 'topic',
} as const;
export type SearchKey = keyof typeof SEARCH_KEYS;
export type SearchColumn = (typeof SEARCH_KEYS)[SearchKey];

/** Longest text indexed per event; longer bodies are indexed by their start (the event limit is 64 KiB anyway). */
const MAX_INDEXED_CHARS = 65_536;

/**
 * The column and text an event contributes to the index, or undefined. The spec's keys
 * (client-server "Server Side Search"): content.body of m.room.message, content.name of m.room.name,
 * content.topic of m.room.topic (the two state events only with the empty state key).
 */
export function searchableText(ev: Pick<RoomEvent, 'type' | 'stateKey' | 'content'>): { column: SearchColumn; text: string } | undefined {
  let column: SearchColumn;
  let value: unknown;
  switch (ev.type) {
    case 'm.room.message':
      column = 'body';
      value = ev.content.body;
      break;
    case 'm.room.name':
      if (ev.stateKey !== '') return undefined;
      column = 'name';
      value = ev.content.name;
      break;
    case 'm.room.topic':
      if (ev.stateKey !== '') return undefined;
      column = 'topic';
      value = ev.content.topic;
      break;
    default:
      return undefined;
  }
  if (typeof value !== 'string' || value.length === 0) return undefined;
  return { column, text: value.length > MAX_INDEXED_CHARS ? value.slice(0, MAX_INDEXED_CHARS) : value };
}

/**
 * Whether a redaction takes effect on its target (room versions 3+, "Redactions": servers apply it
 * only when the redaction's sender has the redact power level, or is of the same server as the
 * target's sender; v1/v2 auth rules already demanded one of the two). `powerLevels` and `create`
 * are the state before the redaction.
 */
export function redactionTakesEffect(
  redaction: Pick<RoomEvent, 'sender' | 'roomId'>,
  target: Pick<RoomEvent, 'sender' | 'roomId'>,
  powerLevels: RoomEvent | undefined,
  create: RoomEvent | undefined,
  version: RoomVersion,
): boolean {
  if (redaction.roomId !== target.roomId) return false;
  const a = serverNameOf(redaction.sender);
  if (a !== undefined && a === serverNameOf(target.sender)) return true;
  return userPowerLevel(redaction.sender, powerLevels, create, version) >= namedPowerLevel('redact', powerLevels, version);
}

/**
 * A check of whether a stored event has been redacted by a visible redaction that takes effect
 * (see redactionTakesEffect); redactions may arrive before their target, so this looks them up by
 * target (index events_redacts).
 */
export function createRedactionCheck(store: Store): (eventNid: number, event?: RoomEvent) => boolean {
  const core = store.core;
  const redactionsOf = store.db.prepare<[number], number>(
    `SELECT event_nid FROM events WHERE redacts_nid = ? AND stream_ordering IS NOT NULL
       AND rejected_reason IS NULL AND soft_failed = 0`,
  ).pluck();
  return (eventNid, event) => {
    const target = event ?? core.event(eventNid);
    if (!target) return false;
    for (const rNid of redactionsOf.all(eventNid)) {
      const redaction = core.event(rNid);
      const meta = core.eventMeta(rNid);
      if (!redaction || !meta || redaction.roomId !== target.roomId) continue;
      if (serverNameOf(redaction.sender) === serverNameOf(target.sender)) return true;
      const { powerLevels, create } = powerEventsAt(core, meta.stateGroupBefore);
      if (redactionTakesEffect(redaction, target, powerLevels, create, core.roomByNid(meta.roomNid).version)) return true;
    }
    return false;
  };
}

/** Installs the index writer on the store: once per store, where the store is built (server.ts). */
export function installEventSearchIndex(store: Store): void {
  const core = store.core;
  const db = store.db;
  const isRedacted = createRedactionCheck(store);
  const q = {
    insert: {
      body: db.prepare<[number, string]>('INSERT INTO event_search (rowid, body) VALUES (?, ?)'),
      name: db.prepare<[number, string]>('INSERT INTO event_search (rowid, name) VALUES (?, ?)'),
      topic: db.prepare<[number, string]>('INSERT INTO event_search (rowid, topic) VALUES (?, ?)'),
    },
    remove: db.prepare<[number]>('DELETE FROM event_search WHERE rowid = ?'),
  };

  core.addDerivedWriter((info: PersistedEventInfo) => {
    if (info.outlier || info.rejectedReason !== null || info.softFailed) return;
    const ev = info.event;

    if (ev.redacts !== undefined) {
      const targetNid = core.ids.findEventNid(ev.redacts);
      const targetMeta = targetNid === undefined ? undefined : core.eventMeta(targetNid);
      if (targetNid !== undefined && targetMeta && !targetMeta.outlier && targetMeta.roomNid === info.roomNid) {
        const target = core.event(targetNid);
        if (target && searchableText(target)) {
          const { powerLevels, create } = powerEventsAt(core, info.stateGroupBefore);
          if (redactionTakesEffect(ev, target, powerLevels, create, info.roomVersion)) q.remove.run(targetNid);
        }
      }
    }

    const entry = searchableText(ev);
    if (!entry) return;
    // A redaction may have arrived before its target (federation); then the target stays out.
    if (isRedacted(info.eventNid, ev)) return;
    q.remove.run(info.eventNid);
    q.insert[entry.column].run(info.eventNid, entry.text);
  });
}

function powerEventsAt(core: EventStore, group: number | null): { powerLevels: RoomEvent | undefined; create: RoomEvent | undefined } {
  if (group === null) return { powerLevels: undefined, create: undefined };
  const plKey = core.ids.findStateKeyNid('m.room.power_levels', '');
  const createKey = core.ids.findStateKeyNid('m.room.create', '');
  const keys = [plKey, createKey].filter((k): k is number => k !== undefined);
  const found = keys.length > 0 ? core.groups.lookup(group, keys) : new Map<number, number>();
  const plNid = plKey === undefined ? undefined : found.get(plKey);
  const createNid = createKey === undefined ? undefined : found.get(createKey);
  return {
    powerLevels: plNid ? core.event(plNid) : undefined,
    create: createNid ? core.event(createNid) : undefined,
  };
}
