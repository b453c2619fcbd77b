// Serving events to other servers (server-server API "Retrieving events", "Backfilling and
// retrieving missing events", "Retrieving event authorisation information", /timestamp_to_event):
// the stored PDU text is sent as is, never re-serialised. The asking server must have a joined
// member in the room now (as Synapse) and pass its server ACL; an event it may not see under the
// room's history visibility at that event is sent redacted (as Synapse's filter_events_for_server).
//
// What is served, and why:
// - /event serves any stored event of the room, rejected and soft-failed ones included (as Synapse:
//   a peer fetching a prev event must be able to see it and reach the same verdict itself);
// - /backfill and /get_missing_events serve neither rejected events nor outliers (events without
//   a place in our copy of the DAG); soft-failed ones are served (spec "Soft failure" note);
// - /state and /state_ids answer with the state before the event, and 404 for outliers (no state)
//   and rejected events, whose state we never computed as part of the room.
import { stateTuple } from '../../core/events/event.js';
import { redactEvent } from '../../core/events/redaction.js';
import { serverNameOf } from '../../core/ids.js';
import { MinHeap } from '../../core/state/topological-sort.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { EventMeta } from '../../store/event-store.js';
import type { Store } from '../../store/index.js';
import { serverAclAllows } from '../acl.js';
import type { RoomServers } from './room-servers.js';

const HISTORY_VISIBILITY = 'm.room.history_visibility';
const MEMBER = 'm.room.member';

/** /backfill answers at most this many events (Synapse asks for 100 and serves no more). */
export const MAX_BACKFILL_LIMIT = 100;
/** /get_missing_events answers at most this many (as Synapse). */
export const MAX_MISSING_EVENTS_LIMIT = 20;

export interface EventServerDeps {
  readonly store: Store;
  readonly serverName: string;
  readonly roomServers: RoomServers;
  readonly now: () => number;
}

/**
 * Whether a server may see an event whose state (before or after it) has this history visibility
 * and these memberships of the server's users (Synapse's rule for servers: `shared` and
 * `world_readable` history is visible to every server in the room; `invited` and `joined` only to
 * a server with a member joined, or invited for `invited`, at the event).
 */
export function visibleToServer(historyVisibility: unknown, memberships: readonly string[]): boolean {
  if (historyVisibility !== 'invited' && historyVisibility !== 'joined') return true;
  return memberships.some((m) => m === 'join' || (m === 'invite' && historyVisibility === 'invited'));
}

function notFound(what: string): MatrixError {
  return new MatrixError('M_NOT_FOUND', what, 404);
}

export class EventServer {
  private readonly q;

  constructor(private readonly d: EventServerDeps) {
    const db = d.store.db;
    this.q = {
      // Users of one server with a membership in the room: IDs ending in ":server".
      membersOf: db.prepare<[number, number, string], string>('SELECT user_id FROM room_memberships WHERE room_nid = ? AND substr(user_id, -?) = ?').pluck(),
      tsForward: db.prepare<[number, number], { event_nid: number; origin_server_ts: number }>(
        `SELECT event_nid, origin_server_ts FROM events WHERE room_nid = ? AND origin_server_ts >= ?
           AND outlier = 0 AND rejected_reason IS NULL ORDER BY origin_server_ts ASC, event_nid ASC LIMIT 1`,
      ),
      tsBackward: db.prepare<[number, number], { event_nid: number; origin_server_ts: number }>(
        `SELECT event_nid, origin_server_ts FROM events WHERE room_nid = ? AND origin_server_ts <= ?
           AND outlier = 0 AND rejected_reason IS NULL ORDER BY origin_server_ts DESC, event_nid DESC LIMIT 1`,
      ),
    };
  }

  // ---- access ----

  /** 403 unless `origin` passes the room's ACL and has a joined member in it now. */
  async assertOriginInRoom(roomId: string, origin: string): Promise<void> {
    const acl = await this.d.store.getCurrentStateEvent(roomId, 'm.room.server_acl', '');
    if (acl && !serverAclAllows(acl.event.content as JsonValue, origin)) throw new MatrixError('M_FORBIDDEN', 'Server is banned from room', 403);
    if (!this.d.roomServers.isJoined(roomId, origin)) throw new MatrixError('M_FORBIDDEN', 'Host not in room.', 403);
  }

  /** The stored event `eventId` of room `roomId` (404 otherwise). */
  private eventInRoom(roomId: string, eventId: string): EventMeta {
    const meta = this.d.store.core.eventMetaById(eventId);
    if (!meta || this.d.store.core.roomByNid(meta.roomNid).roomId !== roomId) throw notFound(`Could not find event ${eventId}`);
    return meta;
  }

  /**
   * For each event: may `origin` see it? Judged on the history visibility and the memberships of
   * origin's users in the state before the event and after it (so that the server sees the
   * history_visibility change and its own users' membership events either way, as the spec's
   * special cases for users say). Events without state (outliers) count as visible.
   */
  async visibility(roomId: string, origin: string, metas: readonly EventMeta[]): Promise<boolean[]> {
    const store = this.d.store;
    const core = store.core;
    const withState = metas.filter((m) => !m.outlier);
    if (withState.length === 0) return metas.map(() => true);
    const room = core.room(roomId)!;
    const suffix = `:${origin}`;
    const originMembers = this.q.membersOf.all(room.nid, suffix.length, suffix).filter((u) => serverNameOf(u) === origin);
    const keys: [string, string][] = [[HISTORY_VISIBILITY, ''], ...originMembers.map((u): [string, string] => [MEMBER, u])];
    const before = await store.getStateEntriesBefore(
      withState.map((m) => m.eventId),
      keys,
    );
    const contentOf = (id: string | undefined): JsonObject | undefined => (id === undefined ? undefined : core.eventById(id)?.content);
    const judge = (state: ReadonlyMap<string, string>): boolean => {
      const hv = contentOf(state.get(stateTuple(HISTORY_VISIBILITY, '')))?.history_visibility;
      const memberships: string[] = [];
      for (const u of originMembers) {
        const m = contentOf(state.get(stateTuple(MEMBER, u)))?.membership;
        if (typeof m === 'string') memberships.push(m);
      }
      return visibleToServer(hv, memberships);
    };
    return metas.map((m) => {
      if (m.outlier) return true;
      const b = before.get(m.eventId) ?? new Map<string, string>();
      if (judge(b)) return true;
      const ev = core.event(m.nid);
      const relevant = ev?.stateKey !== undefined && m.rejectedReason === null && (ev.type === HISTORY_VISIBILITY || (ev.type === MEMBER && serverNameOf(ev.stateKey) === origin));
      if (!relevant) return false;
      const after = new Map(b);
      after.set(stateTuple(ev.type, ev.stateKey!), m.eventId);
      if (ev.type === MEMBER && !originMembers.includes(ev.stateKey!)) originMembers.push(ev.stateKey!);
      return judge(after);
    });
  }

  /** The texts to serve: stored as is, or redacted when `origin` may not see the event. */
  private async textsFor(roomId: string, origin: string, metas: readonly EventMeta[]): Promise<string[]> {
    const core = this.d.store.core;
    const visible = await this.visibility(roomId, origin, metas);
    const version = core.room(roomId)!.version;
    return metas.map((m, i) => {
      const text = core.eventJsonText(m.nid)!;
      if (visible[i]) return text;
      return JSON.stringify(redactEvent(JSON.parse(text) as JsonObject, version));
    });
  }

  /** `{origin, origin_server_ts, pdus: [...]}` around stored PDU texts. */
  private transaction(texts: readonly string[]): string {
    return `{"origin":${JSON.stringify(this.d.serverName)},"origin_server_ts":${this.d.now()},"pdus":[${texts.join(',')}]}`;
  }

  // ---- endpoints ----

  /** GET /event/{eventId} */
  async event(origin: string, eventId: string): Promise<string> {
    const core = this.d.store.core;
    const meta = core.eventMetaById(eventId);
    if (!meta) throw notFound(`Could not find event ${eventId}`);
    const roomId = core.roomByNid(meta.roomNid).roomId;
    await this.assertOriginInRoom(roomId, origin);
    return this.transaction(await this.textsFor(roomId, origin, [meta]));
  }

  /** The state before an event we hold with state (404 for outliers, rejected and unknown events). */
  private async stateIdsBefore(roomId: string, eventId: string): Promise<string[]> {
    const meta = this.eventInRoom(roomId, eventId);
    if (meta.outlier || meta.rejectedReason !== null) throw notFound(`State not known at event ${eventId}`);
    const state = await this.d.store.getStateIdsBefore(eventId);
    if (!state) throw notFound(`State not known at event ${eventId}`);
    return [...state.values()];
  }

  /** GET /state_ids/{roomId}?event_id */
  async stateIds(origin: string, roomId: string, eventId: string): Promise<JsonObject> {
    await this.assertOriginInRoom(roomId, origin);
    const pduIds = await this.stateIdsBefore(roomId, eventId);
    const authChainIds = await this.d.store.getAuthChainIds(pduIds);
    return { pdu_ids: pduIds, auth_chain_ids: authChainIds };
  }

  /** GET /state/{roomId}?event_id */
  async state(origin: string, roomId: string, eventId: string): Promise<string> {
    await this.assertOriginInRoom(roomId, origin);
    const pduIds = await this.stateIdsBefore(roomId, eventId);
    const authChainIds = await this.d.store.getAuthChainIds(pduIds);
    const core = this.d.store.core;
    const texts = (ids: readonly string[]) => {
      const out: string[] = [];
      for (const id of ids) {
        const nid = core.ids.findEventNid(id);
        const text = nid === undefined ? undefined : core.eventJsonText(nid);
        if (text !== undefined) out.push(text);
      }
      return out.join(',');
    };
    return `{"pdus":[${texts(pduIds)}],"auth_chain":[${texts(authChainIds)}]}`;
  }

  /** GET /event_auth/{roomId}/{eventId}: the event's auth events and theirs, transitively. */
  async eventAuth(origin: string, roomId: string, eventId: string): Promise<string> {
    await this.assertOriginInRoom(roomId, origin);
    const meta = this.eventInRoom(roomId, eventId);
    const core = this.d.store.core;
    const texts: string[] = [];
    for (const nid of core.authChainNids(meta.nid)) {
      const text = core.eventJsonText(nid);
      if (text !== undefined) texts.push(text);
    }
    return `{"auth_chain":[${texts.join(',')}]}`;
  }

  /**
   * GET /backfill/{roomId}?v&limit: the given events and those before them, newest first, walking
   * prev_events by depth (a priority queue on (depth, stream ordering), as Synapse), at most
   * `limit` (capped at 100). Rejected events and outliers are passed through but not served.
   */
  async backfill(origin: string, roomId: string, from: readonly string[], limit: number): Promise<string> {
    await this.assertOriginInRoom(roomId, origin);
    const core = this.d.store.core;
    const room = core.room(roomId)!;
    const max = Math.max(0, Math.min(limit, MAX_BACKFILL_LIMIT));
    // Deepest first (then latest stream position): the min-heap's order reversed.
    const heap = new MinHeap<EventMeta>((a, b) => b.depth - a.depth || (b.streamOrdering ?? 0) - (a.streamOrdering ?? 0));
    const seen = new Set<number>();
    for (const id of from) {
      const meta = core.eventMetaById(id);
      if (meta && meta.roomNid === room.nid && !seen.has(meta.nid)) {
        seen.add(meta.nid);
        heap.push(meta);
      }
    }
    const out: EventMeta[] = [];
    // Bounded walk: rejected events and outliers are stepped over, not counted; cap the steps too.
    for (let steps = 0; heap.size > 0 && out.length < max && steps < max * 20; steps++) {
      const meta = heap.pop()!;
      if (!meta.outlier && meta.rejectedReason === null) out.push(meta);
      for (const p of core.prevEventNids(meta.nid)) {
        if (seen.has(p)) continue;
        seen.add(p);
        const pm = core.eventMeta(p);
        if (pm && pm.roomNid === room.nid) heap.push(pm);
      }
    }
    return this.transaction(await this.textsFor(roomId, origin, out));
  }

  /**
   * POST /get_missing_events/{roomId}: breadth-first over prev_events from `latest_events`,
   * stopping at `earliest_events` and below `min_depth`, at most `limit` (default 10, capped at 20);
   * oldest first. Events we lack, rejected events and outliers are left out.
   */
  async missingEvents(origin: string, roomId: string, body: unknown): Promise<string> {
    if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Body must be a JSON object', 400);
    const { earliest_events: earliest, latest_events: latest } = body;
    const isIds = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
    if (!isIds(earliest) || !isIds(latest)) throw new MatrixError('M_BAD_JSON', 'earliest_events and latest_events must be lists of event IDs', 400);
    const limitIn = body.limit ?? 10;
    const minDepthIn = body.min_depth ?? 0;
    if (typeof limitIn !== 'number' || !Number.isInteger(limitIn) || typeof minDepthIn !== 'number' || !Number.isInteger(minDepthIn)) {
      throw new MatrixError('M_BAD_JSON', 'limit and min_depth must be integers', 400);
    }
    await this.assertOriginInRoom(roomId, origin);
    const core = this.d.store.core;
    const room = core.room(roomId)!;
    const limit = Math.max(0, Math.min(limitIn, MAX_MISSING_EVENTS_LIMIT));
    const seen = new Set<number>();
    for (const id of earliest) {
      const nid = core.ids.findEventNid(id);
      if (nid !== undefined) seen.add(nid);
    }
    let front: number[] = [];
    for (const id of latest.slice(0, 20)) {
      const meta = core.eventMetaById(id);
      if (meta && meta.roomNid === room.nid && !seen.has(meta.nid)) front.push(meta.nid);
    }
    const found: EventMeta[] = [];
    while (front.length > 0 && found.length < limit) {
      const next: number[] = [];
      for (const nid of front) {
        for (const p of core.prevEventNids(nid)) {
          if (seen.has(p)) continue;
          seen.add(p);
          const pm = core.eventMeta(p);
          if (!pm || pm.roomNid !== room.nid || pm.outlier || pm.depth < minDepthIn) continue;
          next.push(p);
          if (pm.rejectedReason === null && found.length < limit) found.push(pm);
        }
      }
      front = next;
    }
    found.reverse();
    const texts = await this.textsFor(roomId, origin, found);
    return `{"events":[${texts.join(',')}]}`;
  }

  /** GET /timestamp_to_event/{roomId}?ts&dir: the closest event at or after (f) / before (b) `ts`. */
  async timestampToEvent(origin: string, roomId: string, ts: number, dir: 'f' | 'b'): Promise<JsonObject> {
    await this.assertOriginInRoom(roomId, origin);
    const room = this.d.store.core.room(roomId)!;
    const row = (dir === 'f' ? this.q.tsForward : this.q.tsBackward).get(room.nid, ts);
    if (!row) throw notFound(`Unable to find event from ${ts} in direction ${dir}`);
    return { event_id: this.d.store.core.ids.eventId(row.event_nid), origin_server_ts: row.origin_server_ts };
  }
}

