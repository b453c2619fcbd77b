// Server-side search (client-server "Server Side Search", POST /search, room_events category): an
// FTS5 query over event_search restricted to the requester's rooms, then the event filter and
// history visibility, then context, profiles, state and groups as asked.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { stateTuple } from '../core/events/event.js';
import type { Store, StoredEvent } from '../store/index.js';
import { filterEventsForUserWithMembership } from '../sync/visibility.js';
import { formatClientEvents, type AggregationsLookup, type TxnLookup } from '../sync/client-event.js';
import { topoTokenOfEvent } from '../sync/token.js';
import { EMPTY_FILTER, eventMatchesFilter, isPassThrough, parseRoomEventFilter, type RoomEventFilter } from '../rooms/event-filter.js';
import { SEARCH_KEYS, type SearchColumn, type SearchKey } from './event-index.js';
import { parseSearchQuery, withColumns } from './query.js';

export interface SearchRequester {
  readonly userId: string;
  readonly deviceId?: string | undefined;
}

export interface SearchServiceDeps {
  readonly store: Store;
  readonly clock?: () => number;
  /** Transaction IDs for the requesting device's own events (rooms/transactions.ts), optional. */
  readonly txnLookup?: TxnLookup;
  /** Bundled aggregations (rooms/relations.ts), optional. */
  readonly aggregations?: AggregationsLookup;
}

export interface SearchService {
  /** POST /search: `body` is the request body, `nextBatch` the query parameter. */
  search(requester: SearchRequester, body: unknown, nextBatch?: string): Promise<JsonObject>;
}

/** The spec's defaults. */
export const DEFAULT_SEARCH_LIMIT = 10;
export const DEFAULT_CONTEXT_LIMIT = 5;
/** Bounds on what a client may ask for. */
export const MAX_SEARCH_LIMIT = 100;
export const MAX_CONTEXT_LIMIT = 100;
/** How many index rounds one request reads before answering with what it has (as Synapse: 5). */
const MAX_ROUNDS = 5;

type OrderBy = 'rank' | 'recent';
type GroupKey = 'room_id' | 'sender';

interface Criteria {
  term: string;
  columns: SearchColumn[];
  filter: RoomEventFilter;
  limit: number;
  orderBy: OrderBy;
  context: { before: number; after: number; includeProfile: boolean } | undefined;
  includeState: boolean;
  groupBy: GroupKey[];
}

/**
 * A next_batch position: for `recent`, results strictly older than stream position `p`; for
 * `rank`, the rows after the first `p` of the ranked match list. `room` restricts to one room (the
 * per-room tokens of `groups.room_id`).
 */
interface BatchToken {
  order: OrderBy;
  position: number;
  room?: string;
}

export function formatBatchToken(t: BatchToken): string {
  const base = `${t.order === 'recent' ? 's' : 'r'}${t.position}`;
  return t.room === undefined ? base : `${base}~${Buffer.from(t.room, 'utf8').toString('base64url')}`;
}

/** Parses a next_batch token; null for anything this server did not issue. */
export function parseBatchToken(s: string): BatchToken | null {
  const m = /^([sr])([0-9]{1,16})(?:~([A-Za-z0-9_-]{1,1400}))?$/.exec(s);
  if (!m) return null;
  const position = Number(m[2]);
  if (!Number.isSafeInteger(position)) return null;
  const t: BatchToken = { order: m[1] === 's' ? 'recent' : 'rank', position };
  if (m[3] !== undefined) {
    const room = Buffer.from(m[3], 'base64url').toString('utf8');
    if (!room.startsWith('!') || Buffer.from(room, 'utf8').toString('base64url') !== m[3]) return null;
    t.room = room;
  }
  return t;
}

function bad(message: string, errcode = 'M_BAD_JSON'): never {
  throw new MatrixError(errcode, message, 400);
}

function boundedInt(v: JsonValue | undefined, name: string, dflt: number, max: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${name} must be a non-negative integer`);
  return Math.min(v, max);
}

/** Reads the room_events criteria (search.yaml). */
function parseCriteria(rc: JsonObject): Criteria {
  const term = rc.search_term;
  if (term === undefined) bad('Missing search_term', 'M_MISSING_PARAM');
  if (typeof term !== 'string') bad('search_term must be a string');

  let columns: SearchColumn[] = Object.values(SEARCH_KEYS);
  if (rc.keys !== undefined && rc.keys !== null) {
    if (!Array.isArray(rc.keys)) bad('keys must be a list');
    columns = [];
    for (const k of rc.keys) {
      if (typeof k !== 'string' || !(k in SEARCH_KEYS)) bad(`keys: unknown key ${JSON.stringify(k)}`, 'M_INVALID_PARAM');
      const col = SEARCH_KEYS[k as SearchKey];
      if (!columns.includes(col)) columns.push(col);
    }
  }

  const filter = rc.filter === undefined || rc.filter === null ? EMPTY_FILTER : parseRoomEventFilter(rc.filter);
  const limit = filter.limit === undefined || filter.limit === 0 ? DEFAULT_SEARCH_LIMIT : Math.min(filter.limit, MAX_SEARCH_LIMIT);

  const orderBy = rc.order_by ?? 'rank';
  if (orderBy !== 'rank' && orderBy !== 'recent') bad('order_by must be "rank" or "recent"', 'M_INVALID_PARAM');

  let context: Criteria['context'];
  if (rc.event_context !== undefined && rc.event_context !== null) {
    const ec = rc.event_context;
    if (!isJsonObject(ec)) bad('event_context must be an object');
    if (ec.include_profile !== undefined && typeof ec.include_profile !== 'boolean') bad('event_context.include_profile must be a boolean');
    context = {
      before: boundedInt(ec.before_limit, 'event_context.before_limit', DEFAULT_CONTEXT_LIMIT, MAX_CONTEXT_LIMIT),
      after: boundedInt(ec.after_limit, 'event_context.after_limit', DEFAULT_CONTEXT_LIMIT, MAX_CONTEXT_LIMIT),
      includeProfile: ec.include_profile === true,
    };
  }

  if (rc.include_state !== undefined && rc.include_state !== null && typeof rc.include_state !== 'boolean') {
    bad('include_state must be a boolean');
  }

  const groupBy: GroupKey[] = [];
  if (rc.groupings !== undefined && rc.groupings !== null) {
    if (!isJsonObject(rc.groupings)) bad('groupings must be an object');
    const list = rc.groupings.group_by;
    if (list !== undefined && list !== null) {
      if (!Array.isArray(list)) bad('groupings.group_by must be a list');
      for (const g of list) {
        if (!isJsonObject(g) || (g.key !== 'room_id' && g.key !== 'sender')) bad('groupings.group_by: key must be "room_id" or "sender"', 'M_INVALID_PARAM');
        if (!groupBy.includes(g.key)) groupBy.push(g.key);
      }
    }
  }

  return { term, columns, filter, limit, orderBy, context, includeState: rc.include_state === true, groupBy };
}

interface IndexRow {
  nid: number;
  so: number;
  score: number;
}

export function createSearchService(deps: SearchServiceDeps): SearchService {
  const store = deps.store;
  const core = store.core;
  const db = store.db;
  const now = deps.clock ?? Date.now;

  const from = 'FROM event_search s JOIN events e ON e.event_nid = s.rowid';
  const where = 'event_search MATCH @match AND e.room_nid IN (SELECT value FROM json_each(@rooms))';
  const q = {
    recent: db.prepare<{ match: string; rooms: string; before: number; limit: number }, IndexRow>(
      `SELECT s.rowid AS nid, e.stream_ordering AS so, bm25(event_search) AS score ${from}
       WHERE ${where} AND e.stream_ordering < @before ORDER BY e.stream_ordering DESC LIMIT @limit`,
    ),
    rank: db.prepare<{ match: string; rooms: string; offset: number; limit: number }, IndexRow>(
      `SELECT s.rowid AS nid, e.stream_ordering AS so, bm25(event_search) AS score ${from}
       WHERE ${where} ORDER BY bm25(event_search) ASC, e.stream_ordering DESC LIMIT @limit OFFSET @offset`,
    ),
    count: db.prepare<{ match: string; rooms: string }, number>(`SELECT COUNT(*) ${from} WHERE ${where}`).pluck(),
  };

  const empty = (highlights: string[] = []): JsonObject => ({ search_categories: { room_events: { results: [], count: 0, highlights } } });

  return {
    async search(requester, body, nextBatch): Promise<JsonObject> {
      if (!isJsonObject(body)) bad('Content must be a JSON object', 'M_NOT_JSON');
      const cats = body.search_categories;
      if (cats === undefined) bad('Missing search_categories', 'M_MISSING_PARAM');
      if (!isJsonObject(cats)) bad('search_categories must be an object');
      const rc = cats.room_events;
      if (rc === undefined || rc === null) return { search_categories: {} };
      if (!isJsonObject(rc)) bad('search_categories.room_events must be an object');
      const c = parseCriteria(rc);

      let token: BatchToken | undefined;
      if (nextBatch !== undefined) {
        const t = parseBatchToken(nextBatch);
        if (!t) bad('Invalid next_batch token', 'M_INVALID_PARAM');
        if (t.order !== c.orderBy) bad('next_batch was issued for another order_by', 'M_INVALID_PARAM');
        token = t;
      }

      // The rooms searched: every room the user has a membership in (history visibility then
      // decides which events of each they may see), narrowed by the filter and the batch token.
      let roomIds = (await store.getMembershipsForUser(requester.userId)).map((m) => m.roomId);
      if (c.filter.rooms !== undefined) {
        const wanted = new Set(c.filter.rooms);
        roomIds = roomIds.filter((r) => wanted.has(r));
      }
      if (c.filter.notRooms.length > 0) {
        const unwanted = new Set(c.filter.notRooms);
        roomIds = roomIds.filter((r) => !unwanted.has(r));
      }
      if (token?.room !== undefined) roomIds = roomIds.filter((r) => r === token!.room);
      const roomNids = roomIds.map((r) => core.room(r)?.nid).filter((n): n is number => n !== undefined);

      const parsed = parseSearchQuery(c.term);
      if (parsed.match === null || roomNids.length === 0) return empty(parsed.highlights);
      const match = withColumns(parsed.match, c.columns);
      const rooms = JSON.stringify(roomNids);

      // Read the index in rounds of twice the limit until `limit` results passed the filter and
      // visibility, the index ran out, or MAX_ROUNDS were read.
      const batchSize = Math.max(c.limit * 2, 20);
      const results: { ev: StoredEvent; rank: number; membership: string | undefined }[] = [];
      let position = token?.position ?? (c.orderBy === 'recent' ? Number.MAX_SAFE_INTEGER : 0);
      let more = false;
      const filterAll = isPassThrough({ ...c.filter, rooms: undefined, notRooms: [] });
      for (let round = 0; round < MAX_ROUNDS && results.length < c.limit; round++) {
        const rows =
          c.orderBy === 'recent'
            ? q.recent.all({ match, rooms, before: position, limit: batchSize })
            : q.rank.all({ match, rooms, offset: position, limit: batchSize });
        const events = await store.getEvents(rows.map((r) => core.ids.eventId(r.nid)));
        const byId = new Map(events.map((e) => [e.eventId, e]));
        const candidates = filterAll ? events : events.filter((e) => eventMatchesFilter(c.filter, e.event));
        const visible = await filterEventsForUserWithMembership(store, requester.userId, candidates);
        const visibleIds = new Set(visible.events.map((e) => e.eventId));
        let stoppedAt = -1;
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i]!;
          position = c.orderBy === 'recent' ? row.so : position + 1;
          const id = core.ids.eventId(row.nid);
          const ev = byId.get(id);
          if (ev && visibleIds.has(id)) {
            results.push({ ev, rank: -row.score, membership: visible.memberships.get(id) });
            if (results.length >= c.limit) {
              stoppedAt = i;
              break;
            }
          }
        }
        if (stoppedAt >= 0) {
          more = stoppedAt < rows.length - 1 || rows.length === batchSize;
          break;
        }
        more = rows.length === batchSize;
        if (!more) break;
      }

      const count = q.count.get({ match, rooms }) ?? 0;
      const formatCtx = {
        userId: requester.userId,
        deviceId: requester.deviceId,
        now: now(),
        withRoomId: true,
        store,
        txnLookup: deps.txnLookup,
        aggregations: deps.aggregations,
      };
      const formatted = await formatClientEvents(
        results.map((r) => r.ev),
        { ...formatCtx, memberships: new Map(results.flatMap((r) => (r.membership ? [[r.ev.eventId, r.membership] as const] : []))) },
      );

      const out: JsonObject[] = [];
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const item: JsonObject = { rank: r.rank, result: formatted[i]! };
        if (c.context) item.context = await eventContext(store, requester.userId, r.ev, c.context, formatCtx);
        out.push(item);
      }

      const roomEvents: JsonObject = { results: out, count, highlights: parsed.highlights };
      const nextToken = more ? formatBatchToken({ order: c.orderBy, position, ...(token?.room ? { room: token.room } : {}) }) : undefined;
      if (nextToken !== undefined) roomEvents.next_batch = nextToken;

      if (c.groupBy.length > 0) {
        const groups: JsonObject = {};
        for (const key of c.groupBy) {
          const byValue: Record<string, { results: string[]; order: number; next_batch?: string }> = {};
          results.forEach((r, i) => {
            const value = key === 'room_id' ? r.ev.roomId : r.ev.event.sender;
            const g = (byValue[value] ??= { results: [], order: i + 1 });
            g.results.push(r.ev.eventId);
          });
          // A room's group continues with that room's results only (as Synapse's per-room tokens).
          if (key === 'room_id' && more) {
            for (const [roomId, g] of Object.entries(byValue)) g.next_batch = formatBatchToken({ order: c.orderBy, position, room: roomId });
          }
          groups[key] = byValue as unknown as JsonObject;
        }
        roomEvents.groups = groups;
      }

      if (c.includeState) {
        const state: JsonObject = {};
        for (const roomId of new Set(results.map((r) => r.ev.roomId))) {
          state[roomId] = await roomStateFor(store, requester.userId, roomId, formatCtx);
        }
        roomEvents.state = state;
      }

      return { search_categories: { room_events: roomEvents } };
    },
  };
}

type FormatCtx = Omit<Parameters<typeof formatClientEvents>[1], 'memberships'>;

/** events_before/after, their pagination tokens and, if asked, the senders' profiles (search.yaml "context"). */
async function eventContext(
  store: Store,
  userId: string,
  ev: StoredEvent,
  opts: { before: number; after: number; includeProfile: boolean },
  formatCtx: FormatCtx,
): Promise<JsonObject> {
  const pos = { depth: ev.depth, streamOrdering: ev.streamOrdering ?? 0 };
  const rawBefore = opts.before > 0 ? await store.getEventsByTopology(ev.roomId, { from: pos, direction: 'b', limit: opts.before }) : [];
  const rawAfter = opts.after > 0 ? await store.getEventsByTopology(ev.roomId, { from: pos, direction: 'f', limit: opts.after }) : [];
  const before = await filterEventsForUserWithMembership(store, userId, rawBefore);
  const after = await filterEventsForUserWithMembership(store, userId, rawAfter);
  const ctx: JsonObject = {
    // Newest first before the result, oldest first after it (as /context).
    events_before: await formatClientEvents(before.events, { ...formatCtx, memberships: before.memberships }),
    events_after: await formatClientEvents(after.events, { ...formatCtx, memberships: after.memberships }),
    start: topoTokenOfEvent(rawBefore[rawBefore.length - 1] ?? ev),
    end: topoTokenOfEvent(rawAfter[rawAfter.length - 1] ?? ev),
  };
  if (opts.includeProfile) {
    // The senders' member events in the state after the last event shown (historic profiles).
    const senders = new Set([...before.events, ev, ...after.events].map((e) => e.event.sender));
    const last = after.events[after.events.length - 1] ?? ev;
    const state = await store.getStateIdsAfter(last.eventId);
    const memberIds: string[] = [];
    for (const s of senders) {
      const id = state?.get(stateTuple('m.room.member', s));
      if (id !== undefined) memberIds.push(id);
    }
    const profiles: JsonObject = {};
    for (const m of await store.getEvents(memberIds)) {
      const p: JsonObject = {};
      if (typeof m.event.content.displayname === 'string') p.displayname = m.event.content.displayname;
      if (typeof m.event.content.avatar_url === 'string') p.avatar_url = m.event.content.avatar_url;
      profiles[m.event.stateKey!] = p;
    }
    ctx.profile_info = profiles;
  }
  return ctx;
}

/**
 * include_state: the room's current state for a member; for someone who left or was banned, the
 * state when they left (what they last saw), so a search never reveals later state.
 */
async function roomStateFor(store: Store, userId: string, roomId: string, formatCtx: FormatCtx): Promise<JsonObject[]> {
  const membership = await store.getMembership(roomId, userId);
  let events: StoredEvent[];
  if (membership?.membership === 'join') {
    events = await store.getCurrentStateEvents(roomId);
  } else if (membership) {
    const state = await store.getStateIdsAfter(membership.eventId);
    events = state ? await store.getEvents([...state.values()]) : [];
  } else {
    events = [];
  }
  return formatClientEvents(events, formatCtx);
}
