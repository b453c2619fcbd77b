// Sync/stream tokens (`s<events>_<accountData>_<typing>_<receipts>_<presence>_<toDevice>_<deviceLists>_<epoch>`)
// and topological pagination tokens (`t<depth>-<stream>`) for /messages; both opaque to clients.
import { randomBytes } from 'node:crypto';
import type { StoredEvent, TopologicalPosition } from '../store/index.js';
import type { SyncSources } from './sources.js';

/**
 * One position per stream (spec client-server "Syncing": `next_batch`/`since`). Every position comes
 * from a persisted counter except `typing`, which is in memory (as in Synapse): `typingEpoch` names
 * the process that issued it, so a typing position from before a restart is read as 0.
 */
export interface SyncToken {
  readonly events: number;
  readonly accountData: number;
  readonly typing: number;
  readonly receipts: number;
  readonly presence: number;
  readonly toDevice: number;
  readonly deviceLists: number;
  /** The issuing process's typing epoch (base-36); undefined in tokens without one. */
  readonly typingEpoch?: string;
}

/** The stream fields of a token, in their order in the string form. */
export const SYNC_TOKEN_STREAMS = ['events', 'accountData', 'typing', 'receipts', 'presence', 'toDevice', 'deviceLists'] as const;
export type SyncTokenStream = (typeof SYNC_TOKEN_STREAMS)[number];

/** This process's typing epoch: typing positions reset on restart, so tokens carry who issued them. */
export const PROCESS_TYPING_EPOCH: string = randomBytes(5).readUIntBE(0, 5).toString(36);

/** The largest position accepted in a token (fits SQLite integers and JS safe integers). */
const MAX_POSITION = Number.MAX_SAFE_INTEGER;

export function formatSyncToken(t: SyncToken): string {
  let s = `s${t.events}_${t.accountData}_${t.typing}_${t.receipts}_${t.presence}_${t.toDevice}_${t.deviceLists}`;
  if (t.typingEpoch !== undefined) s += `_${t.typingEpoch}`;
  return s;
}

/**
 * Parses a sync token. Tolerant of older, shorter tokens (missing positions are 0) and of a bare
 * number (the events position); anything else (garbage, negative or huge numbers) gives null, which
 * the route answers with 400 M_INVALID_PARAM.
 */
export function parseSyncToken(s: string): SyncToken | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 200) return null;
  let body: string;
  if (s[0] === 's') body = s.slice(1);
  else if (/^[0-9]+$/.test(s)) body = s;
  else return null;
  const parts = body.split('_');
  if (parts.length > SYNC_TOKEN_STREAMS.length + 1) return null;
  const nums: number[] = [];
  let typingEpoch: string | undefined;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (i === SYNC_TOKEN_STREAMS.length) {
      if (!/^[0-9a-z]{1,16}$/.test(p)) return null;
      typingEpoch = p;
      continue;
    }
    if (!/^[0-9]{1,16}$/.test(p)) return null;
    const n = Number(p);
    if (!Number.isSafeInteger(n) || n > MAX_POSITION) return null;
    nums.push(n);
  }
  const at = (i: number): number => nums[i] ?? 0;
  return {
    events: at(0),
    accountData: at(1),
    typing: at(2),
    receipts: at(3),
    presence: at(4),
    toDevice: at(5),
    deviceLists: at(6),
    ...(typingEpoch !== undefined ? { typingEpoch } : {}),
  };
}

/** What the current token is read from (the parts of AppServices sync uses). */
export interface SyncPositionServices {
  readonly store: { currentStreamPosition(): number };
  readonly users?: { accountDataPosition(): number } | undefined;
  readonly sources?: SyncSources | undefined;
  /** Defaults to PROCESS_TYPING_EPOCH; tests may pass their own. */
  readonly typingEpoch?: string;
}

/** The token naming every stream's current position. */
export function currentSyncToken(services: SyncPositionServices): SyncToken {
  const src = services.sources ?? {};
  return {
    events: services.store.currentStreamPosition(),
    accountData: services.users?.accountDataPosition() ?? 0,
    typing: src.typing?.position() ?? 0,
    receipts: src.receipts?.position() ?? 0,
    presence: src.presence?.position() ?? 0,
    toDevice: src.toDevice?.position() ?? 0,
    deviceLists: src.deviceKeys?.position() ?? 0,
    typingEpoch: services.typingEpoch ?? PROCESS_TYPING_EPOCH,
  };
}

/**
 * The token a client sent, made safe to compare with `current`: a typing position issued by
 * another process (or ahead of the current one, e.g. from a previous typing source) becomes 0, so
 * the client gets the current typing state instead of waiting for a position never reached. Other
 * positions ahead of the current ones (a restored backup) are clamped, for the same reason.
 */
export function normaliseSinceToken(since: SyncToken, current: SyncToken): SyncToken {
  const typingStale = since.typingEpoch !== current.typingEpoch || since.typing > current.typing;
  return {
    events: Math.min(since.events, current.events),
    accountData: Math.min(since.accountData, current.accountData),
    typing: typingStale ? 0 : since.typing,
    receipts: Math.min(since.receipts, current.receipts),
    presence: Math.min(since.presence, current.presence),
    toDevice: Math.min(since.toDevice, current.toDevice),
    deviceLists: Math.min(since.deviceLists, current.deviceLists),
    ...(current.typingEpoch !== undefined ? { typingEpoch: current.typingEpoch } : {}),
  };
}

/** True when some stream of `current` is past `since` (something may be new). */
export function syncTokenAdvanced(since: SyncToken, current: SyncToken): boolean {
  for (const k of SYNC_TOKEN_STREAMS) if (current[k] > since[k]) return true;
  return current.typingEpoch !== since.typingEpoch;
}

// ---- topological tokens (/messages) ----

/** `t<depth>-<stream>`: the position of an event in a room's topological order (Synapse's format). */
export function formatTopoToken(p: TopologicalPosition): string {
  return `t${p.depth}-${p.streamOrdering}`;
}

export function parseTopoToken(s: string): TopologicalPosition | null {
  // Backfilled history has negative stream orderings (`t5--3`).
  const m = /^t([0-9]{1,16})-(-?[0-9]{1,16})$/.exec(s);
  if (!m) return null;
  const depth = Number(m[1]);
  const streamOrdering = Number(m[2]);
  if (!Number.isSafeInteger(depth) || !Number.isSafeInteger(streamOrdering)) return null;
  return { depth, streamOrdering };
}

/** The topological position of a stored event (for prev_batch and /messages `end`). */
export function topoTokenOfEvent(ev: Pick<StoredEvent, 'depth' | 'streamOrdering'>): string {
  return formatTopoToken({ depth: ev.depth, streamOrdering: ev.streamOrdering ?? 0 });
}

/** Before any event of a room / after every event of a room (as `from` positions of getEventsByTopology). */
export const ROOM_START: TopologicalPosition = { depth: -1, streamOrdering: -1 };
export const ROOM_END: TopologicalPosition = { depth: Number.MAX_SAFE_INTEGER, streamOrdering: Number.MAX_SAFE_INTEGER };

/** The part of the store this needs. */
export interface RoomPositionStore {
  getEventsByStream(q: { from: number; to?: number; roomId?: string; limit?: number; direction?: 'f' | 'b' }): Promise<StoredEvent[]>;
}

/**
 * Turns a /messages `from`/`to` token (a topological `t` token or a sync `s` token) into a position
 * for `store.getEventsByTopology(roomId, {from, direction})`, which returns events strictly after
 * ('f') or strictly before ('b') it. A `t` token is an event's position, used as is. A sync token
 * stands between the room's last event at or before its events position (E) and the next one:
 * paginating backwards starts with E, forwards after E. Returns null for an unparseable token.
 */
export async function roomPositionFromToken(
  store: RoomPositionStore,
  roomId: string,
  token: string,
  direction: 'f' | 'b',
): Promise<TopologicalPosition | null> {
  const topo = parseTopoToken(token);
  if (topo) return topo;
  const sync = parseSyncToken(token);
  if (!sync) return null;
  const [last] = await store.getEventsByStream({ roomId, from: 0, to: sync.events, limit: 1, direction: 'b' });
  if (!last || last.streamOrdering === null) return ROOM_START;
  // Integers: "strictly before (d, s+1)" includes E; "strictly after (d, s)" excludes it.
  return direction === 'b'
    ? { depth: last.depth, streamOrdering: last.streamOrdering + 1 }
    : { depth: last.depth, streamOrdering: last.streamOrdering };
}
