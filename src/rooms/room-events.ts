// Room events for clients: sending messages, state and redactions (through the rooms writer, with
// transaction IDs), and reading state, members, single events, context, history pages, relations
// and threads, with the access rules of the client-server API (and Synapse where it is silent).
import { MatrixError } from '../errors.js';
import { canonicallyEqual, firstNonCanonicalNumber } from '../core/json/canonical.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { stateTuple } from '../core/events/event.js';
import type { RoomVersion } from '../core/events/room-versions.js';
import { MAX_PDU_BYTES, pduSizeBytes } from '../core/events/pdu.js';
import { fitsIdLength, isValidUserId, serverNameOf } from '../core/ids.js';
import { namedPowerLevel, userPowerLevel } from '../core/auth/power-levels.js';
import type { Store, StoredEvent, TopologicalPosition } from '../store/index.js';
import { formatClientEvents, type ClientEventContext } from '../sync/client-event.js';
import { filterEventsForUser, filterEventsForUserWithMembership } from '../sync/visibility.js';
import { formatTopoToken, parseSyncToken, parseTopoToken, roomPositionFromToken } from '../sync/token.js';
import type { RoomsService, LocalEventInput } from './service.js';
import { localEventMatcher, type ClientTxns, type TxnRequester } from './transactions.js';
import type { RelationsService } from './relations.js';
import { eventMatchesFilter, isPassThrough, type RoomEventFilter } from './event-filter.js';

const CREATE = 'm.room.create';
const MEMBER = 'm.room.member';
const POWER_LEVELS = 'm.room.power_levels';
const REDACTION = 'm.room.redaction';
const HISTORY_VISIBILITY = 'm.room.history_visibility';
const CANONICAL_ALIAS = 'm.room.canonical_alias';
const SERVER_ACL = 'm.room.server_acl';

/** The memberships a client may set through PUT /state/m.room.member. */
const MEMBERSHIPS = new Set(['join', 'invite', 'leave', 'ban', 'knock']);

/** Largest page of /messages, /context and /relations (Synapse's pagination maximum). */
export const MAX_PAGE_LIMIT = 1000;
/** Events scanned per /messages request, at most, while looking for ones that pass the filter. */
const MAX_SCAN_FACTOR = 5;

/** The caller, as far as these endpoints are concerned (users' Requester fits). */
export interface EventRequester extends TxnRequester {
  readonly isGuest?: boolean;
  readonly isAdmin?: boolean;
}

/**
 * Federation hook: fetch older events of a room from other servers (backfill) when local history
 * runs out before `before`. Resolves true when events were added. Set by the federation layer.
 * With `holesAbove`, only a hole in our copy of history deeper than that depth (and at or above
 * `before`) is filled, e.g. what a server missed while it was down; without such a hole the hook
 * asks no one and resolves false.
 */
export type BackfillHook = (roomId: string, before: TopologicalPosition, limit: number, opts?: { holesAbove?: number }) => Promise<boolean>;

export interface RoomEventsDeps {
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly txns: ClientTxns;
  readonly relations: RelationsService;
  readonly now?: () => number;
  /** m.room.canonical_alias check (rooms lifecycle): throws 400 M_BAD_ALIAS / M_INVALID_PARAM. */
  readonly validateCanonicalAlias?: (roomId: string, content: JsonObject) => Promise<void>;
  /** Whether the user forgot the room (rooms lifecycle): a forgotten room is no longer readable. */
  readonly isRoomForgotten?: (userId: string, roomId: string) => boolean | Promise<boolean>;
  readonly backfill?: BackfillHook;
}

export interface MessagesQuery {
  readonly dir: 'f' | 'b';
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly limit: number;
  readonly filter: RoomEventFilter;
}

export interface ContextQuery {
  readonly limit: number;
  readonly filter: RoomEventFilter;
}

export interface MembersQuery {
  readonly at?: string | undefined;
  readonly membership?: string | undefined;
  readonly notMembership?: string | undefined;
}

export interface RelationsQuery {
  readonly relType?: string | undefined;
  readonly eventType?: string | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly limit: number;
  readonly dir: 'f' | 'b';
  /** undefined: not given (then no recursion_depth in the answer). */
  readonly recurse?: boolean | undefined;
}

export interface ThreadsListQuery {
  readonly include: 'all' | 'participated';
  readonly from?: string | undefined;
  readonly limit: number;
}

export interface RoomEventsService {
  send(r: EventRequester, roomId: string, eventType: string, txnId: string, body: unknown): Promise<{ event_id: string }>;
  redact(r: EventRequester, roomId: string, eventId: string, txnId: string, body: unknown): Promise<{ event_id: string }>;
  putState(r: EventRequester, roomId: string, eventType: string, stateKey: string, body: unknown): Promise<{ event_id: string }>;
  getStateEvent(r: EventRequester, roomId: string, eventType: string, stateKey: string, format: 'content' | 'event'): Promise<JsonObject>;
  getState(r: EventRequester, roomId: string): Promise<JsonObject[]>;
  members(r: EventRequester, roomId: string, q: MembersQuery): Promise<{ chunk: JsonObject[] }>;
  joinedMembers(r: EventRequester, roomId: string): Promise<{ joined: JsonObject }>;
  getEvent(r: EventRequester, roomId: string, eventId: string): Promise<JsonObject>;
  context(r: EventRequester, roomId: string, eventId: string, q: ContextQuery): Promise<JsonObject>;
  messages(r: EventRequester, roomId: string, q: MessagesQuery): Promise<JsonObject>;
  relations(r: EventRequester, roomId: string, eventId: string, q: RelationsQuery): Promise<JsonObject>;
  threads(r: EventRequester, roomId: string, q: ThreadsListQuery): Promise<JsonObject>;
}

/** How a user may read a room: as a member, as a former member (up to the leave), or as a peeker. */
type RoomAccess =
  | { readonly kind: 'joined' }
  | { readonly kind: 'left'; readonly memberEvent: StoredEvent }
  | { readonly kind: 'world_readable' };

interface ScanResult {
  readonly events: StoredEvent[];
  readonly memberships: Map<string, string>;
  /** Position of the last event looked at (returned or skipped), if any. */
  readonly last?: TopologicalPosition;
  /** No events left in that direction (before `to`). */
  readonly exhausted: boolean;
  /** How many events were looked at. */
  readonly scanned: number;
}

export function createRoomEventsService(deps: RoomEventsDeps): RoomEventsService {
  return new RoomEvents(deps);
}

function requireContent(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.', 400);
  return body;
}

function position(ev: StoredEvent): TopologicalPosition {
  return { depth: ev.depth, streamOrdering: ev.streamOrdering ?? 0 };
}

function comparePositions(a: TopologicalPosition, b: TopologicalPosition): number {
  return a.depth - b.depth || a.streamOrdering - b.streamOrdering;
}



class RoomEvents implements RoomEventsService {
  private readonly store: Store;
  private readonly now: () => number;

  constructor(private readonly deps: RoomEventsDeps) {
    this.store = deps.store;
    this.now = deps.now ?? Date.now;
  }

  // ---- access ----

  /** The room's version, or 403 as Synapse answers for a room it does not know. */
  private versionOr403(userId: string, roomId: string): RoomVersion {
    const room = this.store.core.room(roomId);
    if (!room || room.currentStateGroup === null) throw new MatrixError('M_FORBIDDEN', `User ${userId} not in room ${roomId}`, 403);
    return room.version;
  }

  /**
   * Synapse's "user in room or world readable, departed users allowed": joined members read the
   * current state; users who left (not banned, not forgotten) read the room as it was when they
   * left; others only when the room is world_readable; else 403.
   */
  private async access(userId: string, roomId: string): Promise<RoomAccess> {
    const m = await this.store.getMembership(roomId, userId);
    if (m?.membership === 'join') return { kind: 'joined' };
    if (m?.membership === 'leave' && !(await this.deps.isRoomForgotten?.(userId, roomId))) {
      const ev = await this.store.getEvent(m.eventId);
      if (ev) return { kind: 'left', memberEvent: ev };
    }
    const hv = await this.store.getCurrentStateEvent(roomId, HISTORY_VISIBILITY, '');
    if (hv?.event.content.history_visibility === 'world_readable') return { kind: 'world_readable' };
    throw new MatrixError('M_FORBIDDEN', `User ${userId} not in room ${roomId}, and room previews are disabled`, 403);
  }

  private ctx(r: EventRequester, extra: Partial<ClientEventContext> = {}): ClientEventContext {
    return {
      userId: r.userId,
      deviceId: r.deviceId,
      now: this.now(),
      withRoomId: true,
      store: this.store,
      txnLookup: this.deps.txns.lookup,
      aggregations: this.deps.relations.aggregations,
      ...extra,
    };
  }

  /** Formats state events (no aggregations: state events get none). */
  private formatState(r: EventRequester, events: readonly StoredEvent[]): Promise<JsonObject[]> {
    return formatClientEvents(events, this.ctx(r, { aggregations: undefined, txnLookup: undefined }));
  }

  /** Some state entries after an event (the state before it, plus the event itself). */
  private async stateEntriesAfter(ev: StoredEvent, keys: readonly (readonly [string, string])[]): Promise<StoredEvent[]> {
    const before = (await this.store.getStateEntriesBefore([ev.eventId], keys)).get(ev.eventId) ?? new Map<string, string>();
    const ids = new Map(before);
    if (ev.event.stateKey !== undefined && !ev.rejectedReason) {
      const own = stateTuple(ev.event.type, ev.event.stateKey);
      if (keys.some(([t, k]) => stateTuple(t, k) === own)) ids.set(own, ev.eventId);
    }
    return this.store.getEvents([...ids.values()]);
  }

  /** Every state event after an event (the whole state: for /state of departed users and /context). */
  private async fullStateAfter(eventId: string): Promise<StoredEvent[]> {
    const ids = await this.store.getStateIdsAfter(eventId);
    return ids ? this.store.getEvents([...ids.values()]) : [];
  }

  // ---- sending ----

  /** Checks that apply to every local event before it is built (sizes, canonical JSON numbers). */
  private checkLocalEvent(version: RoomVersion, roomId: string, sender: string, type: string, stateKey: string | undefined, content: JsonObject): void {
    if (!fitsIdLength(type)) throw new MatrixError('M_INVALID_PARAM', 'Event type is longer than 255 bytes', 400);
    if (stateKey !== undefined && !fitsIdLength(stateKey)) throw new MatrixError('M_INVALID_PARAM', 'State key is longer than 255 bytes', 400);
    if (version.strictCanonicalJson) {
      const bad = firstNonCanonicalNumber(content);
      if (bad !== undefined) throw new MatrixError('M_BAD_JSON', `${bad} is not an integer within ±(2^53-1), as room version ${version.id} requires`, 400);
    }
    // A conservative size estimate of the built PDU: the room's references and signature are
    // added by the writer. Events over 65536 bytes would be refused by every other server.
    const skeleton: JsonObject = {
      auth_events: Array.from({ length: 10 }, () => '$' + 'x'.repeat(43)),
      content,
      depth: Number.MAX_SAFE_INTEGER,
      hashes: { sha256: 'x'.repeat(43) },
      origin_server_ts: Number.MAX_SAFE_INTEGER,
      prev_events: Array.from({ length: Math.max(1, this.store.core.forwardExtremityNids(this.store.core.room(roomId)!.nid).length) }, () => '$' + 'x'.repeat(43)),
      room_id: roomId,
      sender,
      signatures: { [serverNameOf(sender) ?? '']: { 'ed25519:xxxxxxxx': 'x'.repeat(86) } },
      type,
    };
    if (stateKey !== undefined) skeleton.state_key = stateKey;
    if (pduSizeBytes(skeleton) > MAX_PDU_BYTES) throw new MatrixError('M_TOO_LARGE', 'Event too large', 413);
  }

  async send(r: EventRequester, roomId: string, eventType: string, txnId: string, body: unknown): Promise<{ event_id: string }> {
    const content = requireContent(body);
    const version = this.versionOr403(r.userId, roomId);
    let sent: JsonObject = content;
    let redacts: string | undefined;
    if (eventType === REDACTION) {
      // v1.18: redactions through /send in every room version; before v11 `redacts` moves to the top level.
      if (typeof content.redacts !== 'string') throw new MatrixError('M_BAD_JSON', 'redacts must be an event ID', 400);
      redacts = content.redacts;
      if (!version.redactsInContent) {
        const { redacts: _moved, ...rest } = content;
        sent = rest;
      }
    }
    const matcher = localEventMatcher(r.userId, eventType, sent);
    const eventId = await this.deps.txns.runOnce(
      { requester: r, endpoint: `/rooms/${roomId}/send/${eventType}`, txnId, roomId, matches: matcher, content: sent },
      async () => {
        this.checkLocalEvent(version, roomId, r.userId, eventType, undefined, sent);
        if (redacts !== undefined) await this.checkLocalRedaction(r, roomId, version, redacts);
        else this.deps.relations.validateLocalRelation(roomId, r.userId, eventType, sent);
        const input: LocalEventInput = { type: eventType, content: sent, sender: r.userId };
        return this.deps.rooms.sendLocalEvent(roomId, redacts !== undefined && !version.redactsInContent ? { ...input, redacts } : input);
      },
    );
    return { event_id: eventId };
  }

  async redact(r: EventRequester, roomId: string, eventId: string, txnId: string, body: unknown): Promise<{ event_id: string }> {
    const content = requireContent(body);
    if (content.reason !== undefined && typeof content.reason !== 'string') throw new MatrixError('M_BAD_JSON', 'reason must be a string', 400);
    const version = this.versionOr403(r.userId, roomId);
    let sent: JsonObject = content;
    if (version.redactsInContent) {
      // v11+: `redacts` is part of the content and must agree with the path.
      if (content.redacts !== undefined && content.redacts !== eventId) {
        throw new MatrixError('M_INVALID_PARAM', 'Cannot provide a redacts value incoherent with the event_id of the URL parameter', 400);
      }
    } else if (content.redacts !== undefined) {
      const { redacts: _dropped, ...rest } = content;
      sent = rest;
    }
    const matcher = localEventMatcher(r.userId, REDACTION, sent);
    const id = await this.deps.txns.runOnce(
      { requester: r, endpoint: `/rooms/${roomId}/redact/${eventId}`, txnId, roomId, matches: (ev) => ev.redacts === eventId && matcher(ev), content: sent },
      async () => {
        this.checkLocalEvent(version, roomId, r.userId, REDACTION, undefined, sent);
        await this.checkLocalRedaction(r, roomId, version, eventId);
        return this.deps.rooms.sendLocalEvent(roomId, { type: REDACTION, content: sent, sender: r.userId, redacts: eventId });
      },
    );
    return { event_id: id };
  }

  /**
   * Local redactions (as Synapse): never of the create event or server ACLs, never across rooms;
   * users below the redact level may only redact their own events (which must exist); server
   * admins may redact events of users of this server (spec PUT /redact).
   */
  private async checkLocalRedaction(r: EventRequester, roomId: string, version: RoomVersion, redacts: string): Promise<void> {
    const target = await this.store.getEvent(redacts);
    const known = target && target.rejectedReason === null ? target : undefined;
    if (known) {
      if (known.event.type === CREATE) throw new MatrixError('M_FORBIDDEN', 'Redacting create events is not permitted', 403);
      if (known.roomId !== roomId) throw new MatrixError('M_UNKNOWN', 'Cannot redact event from a different room', 400);
      if (known.event.type === SERVER_ACL) throw new MatrixError('M_FORBIDDEN', 'Redacting server ACL events is not permitted', 403);
    }
    const create = (await this.store.getCurrentStateEvent(roomId, CREATE, ''))?.event;
    const pl = (await this.store.getCurrentStateEvent(roomId, POWER_LEVELS, ''))?.event;
    if (userPowerLevel(r.userId, pl, create, version) >= namedPowerLevel('redact', pl, version)) return;
    if (!known) throw new MatrixError('M_NOT_FOUND', `Could not find event ${redacts}`, 404);
    if (known.event.sender === r.userId) return;
    if (r.isAdmin && serverNameOf(known.event.sender) === serverNameOf(r.userId)) return;
    throw new MatrixError('M_FORBIDDEN', "You don't have permission to redact events", 403);
  }

  async putState(r: EventRequester, roomId: string, eventType: string, stateKey: string, body: unknown): Promise<{ event_id: string }> {
    const content = requireContent(body);
    const version = this.versionOr403(r.userId, roomId);
    this.checkLocalEvent(version, roomId, r.userId, eventType, stateKey, content);
    if (eventType === MEMBER) {
      // Synapse sends these through its membership handler; the auth rules decide here.
      const membership = content.membership;
      if (typeof membership !== 'string') throw new MatrixError('M_BAD_JSON', 'Invalid membership (must be a string)', 400);
      if (!MEMBERSHIPS.has(membership)) throw new MatrixError('M_BAD_JSON', `Invalid membership ${membership}`, 400);
      if (!isValidUserId(stateKey)) throw new MatrixError('M_BAD_JSON', 'The state key of a member event must be a user ID', 400);
    } else if (eventType === CANONICAL_ALIAS && this.deps.validateCanonicalAlias) {
      await this.deps.validateCanonicalAlias(roomId, content);
    }
    // Synapse does not send a state event identical (same sender, same content) to the current one.
    const current = await this.store.getCurrentStateEvent(roomId, eventType, stateKey);
    if (current && current.event.sender === r.userId && canonicallyEqual(current.event.content, content)) {
      return { event_id: current.eventId };
    }
    this.deps.relations.validateLocalRelation(roomId, r.userId, eventType, content);
    const res = await this.deps.rooms.sendLocalEvent(roomId, { type: eventType, stateKey, content, sender: r.userId });
    return { event_id: res.eventId };
  }

  // ---- state and members ----

  async getStateEvent(r: EventRequester, roomId: string, eventType: string, stateKey: string, format: 'content' | 'event'): Promise<JsonObject> {
    const access = await this.access(r.userId, roomId);
    let ev: StoredEvent | undefined;
    if (access.kind === 'left') [ev] = await this.stateEntriesAfter(access.memberEvent, [[eventType, stateKey]]);
    else ev = await this.store.getCurrentStateEvent(roomId, eventType, stateKey);
    if (!ev) throw new MatrixError('M_NOT_FOUND', 'Event not found.', 404);
    const [formatted] = await this.formatState(r, [ev]);
    if (format === 'event') return formatted!;
    return formatted!.content as JsonObject;
  }

  async getState(r: EventRequester, roomId: string): Promise<JsonObject[]> {
    const access = await this.access(r.userId, roomId);
    const events = access.kind === 'left' ? await this.fullStateAfter(access.memberEvent.eventId) : await this.store.getCurrentStateEvents(roomId);
    return this.formatState(r, events);
  }

  async members(r: EventRequester, roomId: string, q: MembersQuery): Promise<{ chunk: JsonObject[] }> {
    let events: StoredEvent[];
    if (q.at !== undefined) {
      // Synapse: the state at the room's last event at or before the token, if the user may see it.
      const pos = parseSyncToken(q.at)?.events ?? parseTopoToken(q.at)?.streamOrdering;
      if (pos === undefined) throw new MatrixError('M_INVALID_PARAM', 'Invalid at token', 400);
      const [last] = await this.store.getEventsByStream({ roomId, from: 0, to: pos, limit: 1, direction: 'b' });
      if (!last) throw new MatrixError('M_NOT_FOUND', `Can't find event for token ${q.at}`, 404);
      if ((await filterEventsForUser(this.store, r.userId, [last])).length === 0) {
        throw new MatrixError('M_FORBIDDEN', `User ${r.userId} not allowed to view events in room ${roomId} at token ${q.at}`, 403);
      }
      events = (await this.fullStateAfter(last.eventId)).filter((e) => e.event.type === MEMBER);
    } else {
      const access = await this.access(r.userId, roomId);
      if (access.kind === 'left') {
        events = (await this.fullStateAfter(access.memberEvent.eventId)).filter((e) => e.event.type === MEMBER);
      } else {
        const rows = await this.store.getRoomMembers(roomId);
        events = await this.store.getEvents(rows.map((m) => m.eventId));
      }
    }
    // Spec: given together, `membership` and `not_membership` form an "or".
    const keep = (m: unknown): boolean => {
      const hasIs = q.membership !== undefined;
      const hasNot = q.notMembership !== undefined;
      if (!hasIs && !hasNot) return true;
      return (hasIs && m === q.membership) || (hasNot && m !== q.notMembership);
    };
    const chunk = (await this.formatState(r, events)).filter((e) => keep((e.content as JsonObject).membership));
    return { chunk };
  }

  async joinedMembers(r: EventRequester, roomId: string): Promise<{ joined: JsonObject }> {
    const access = await this.access(r.userId, roomId);
    if (access.kind === 'left') {
      throw new MatrixError('M_FORBIDDEN', 'Getting joined members while not being a current member of the room is forbidden.', 403);
    }
    const rows = await this.store.getRoomMembers(roomId, 'join');
    const events = await this.store.getEvents(rows.map((m) => m.eventId));
    const joined: JsonObject = {};
    for (const ev of events) {
      if (ev.event.stateKey === undefined) continue;
      const profile: JsonObject = {};
      if (typeof ev.event.content.displayname === 'string') profile.display_name = ev.event.content.displayname;
      if (typeof ev.event.content.avatar_url === 'string') profile.avatar_url = ev.event.content.avatar_url;
      joined[ev.event.stateKey] = profile;
    }
    return { joined };
  }

  // ---- events ----

  /** A stored, accepted, visible event of the room, or undefined. */
  private async visibleEvent(userId: string, roomId: string, eventId: string): Promise<{ ev: StoredEvent; membership?: string } | undefined> {
    const ev = await this.store.getEvent(eventId);
    if (!ev || ev.roomId !== roomId || ev.outlier || ev.rejectedReason !== null || ev.softFailed) return undefined;
    const v = await filterEventsForUserWithMembership(this.store, userId, [ev]);
    if (v.events.length === 0) return undefined;
    const membership = v.memberships.get(eventId);
    return membership === undefined ? { ev } : { ev, membership };
  }

  async getEvent(r: EventRequester, roomId: string, eventId: string): Promise<JsonObject> {
    const found = await this.visibleEvent(r.userId, roomId, eventId);
    if (!found) throw new MatrixError('M_NOT_FOUND', 'Event not found.', 404);
    const memberships = new Map<string, string>();
    if (found.membership !== undefined) memberships.set(eventId, found.membership);
    const [out] = await formatClientEvents([found.ev], this.ctx(r, { memberships }));
    return out!;
  }

  /**
   * Walks the room's events from the boundary `from` in direction `dir` until `limit` events pass
   * the filter and history visibility, the room ends, the boundary `to` is reached, or
   * MAX_SCAN_FACTOR x limit events were looked at. `last` is the boundary where the next page
   * starts (see `boundaryFromToken`).
   */
  private async scan(
    userId: string,
    roomId: string,
    from: TopologicalPosition | undefined,
    dir: 'f' | 'b',
    limit: number,
    filter: RoomEventFilter,
    to?: TopologicalPosition,
  ): Promise<ScanResult> {
    const events: StoredEvent[] = [];
    const memberships = new Map<string, string>();
    if (limit <= 0) return { events, memberships, exhausted: false, scanned: 0, ...(from ? { last: from } : {}) };
    const passThrough = isPassThrough(filter);
    const maxScan = Math.max(limit * MAX_SCAN_FACTOR, 50);
    // Boundary B: going back, the events below B; going forwards, the events at or above B.
    const beyondTo = (ev: StoredEvent): boolean => {
      if (!to) return false;
      const c = comparePositions(position(ev), to);
      return dir === 'b' ? c < 0 : c >= 0;
    };
    // The store reads strictly before / strictly after a position: `cursor` is that position.
    let cursor = from && dir === 'f' ? { depth: from.depth, streamOrdering: from.streamOrdering - 1 } : from;
    let scanned = 0;
    let exhausted = false;
    while (events.length < limit && !exhausted && scanned < maxScan) {
      const want = limit - events.length;
      const batchSize = Math.min(passThrough ? want : want * 2 + 10, maxScan - scanned);
      const rows = await this.store.getEventsByTopology(roomId, { ...(cursor ? { from: cursor } : {}), direction: dir, limit: batchSize });
      if (rows.length < batchSize) exhausted = true;
      let batch = rows;
      const stop = rows.findIndex(beyondTo);
      if (stop >= 0) {
        batch = rows.slice(0, stop);
        exhausted = true;
      }
      if (batch.length === 0) break;
      scanned += batch.length;
      const candidates = passThrough ? batch : batch.filter((e) => eventMatchesFilter(filter, e.event));
      const visible = await filterEventsForUserWithMembership(this.store, userId, candidates);
      let taken = visible.events;
      cursor = position(batch[batch.length - 1]!);
      if (events.length + taken.length > limit) {
        // Stop at the last event returned, so the next page starts right after it.
        taken = taken.slice(0, limit - events.length);
        cursor = position(taken[taken.length - 1]!);
        exhausted = false;
      }
      for (const e of taken) {
        events.push(e);
        const m = visible.memberships.get(e.eventId);
        if (m !== undefined) memberships.set(e.eventId, m);
      }
    }
    const last = cursor && (dir === 'b' ? cursor : { depth: cursor.depth, streamOrdering: cursor.streamOrdering + 1 });
    return { events, memberships, exhausted, scanned, ...(last ? { last } : {}) };
  }

  /**
   * The boundary a pagination token names. A `t<depth>-<stream>` token is the boundary just below
   * that position (the event there is above it): a dir=b page ends at its oldest event's position,
   * a dir=f page one past its newest. A sync token (`s...`) is the boundary just above the room's
   * last event at or before its events position. Null for garbage.
   */
  private boundaryFromToken(roomId: string, token: string): Promise<TopologicalPosition | null> {
    // roomPositionFromToken's 'b' reading is exactly this: t tokens as they are, s tokens one past E.
    return roomPositionFromToken(this.store, roomId, token, 'b');
  }

  /** The m.room.member events of the senders of `events`, in the state after `at` (lazy-loading members). */
  private async lazyMembers(at: StoredEvent, events: readonly StoredEvent[]): Promise<StoredEvent[]> {
    const senders = [...new Set(events.map((e) => e.event.sender))];
    return this.stateEntriesAfter(
      at,
      senders.map((s) => [MEMBER, s] as const),
    );
  }

  async context(r: EventRequester, roomId: string, eventId: string, q: ContextQuery): Promise<JsonObject> {
    const ev = await this.store.getEvent(eventId);
    if (!ev || ev.roomId !== roomId || ev.outlier || ev.rejectedReason !== null || ev.softFailed) {
      throw new MatrixError('M_NOT_FOUND', 'Event not found.', 404);
    }
    const target = await filterEventsForUserWithMembership(this.store, r.userId, [ev]);
    if (target.events.length === 0) throw new MatrixError('M_FORBIDDEN', "You don't have permission to access that event.", 403);
    // "The limit applies to the sum of events_before and events_after" (as Synapse: half before).
    const beforeLimit = Math.floor(q.limit / 2);
    const afterLimit = q.limit - beforeLimit;
    const pos = position(ev);
    const above = { depth: pos.depth, streamOrdering: pos.streamOrdering + 1 };
    const [before, after] = await Promise.all([
      this.scan(r.userId, roomId, pos, 'b', beforeLimit, q.filter),
      this.scan(r.userId, roomId, above, 'f', afterLimit, q.filter),
    ]);
    const lastEvent = after.events[after.events.length - 1] ?? ev;
    // "The state of the room at the last event returned" (the state after it), through the filter.
    let state: StoredEvent[];
    if (q.filter.lazyLoadMembers) state = await this.lazyMembers(lastEvent, [...before.events, ev, ...after.events]);
    else state = await this.fullStateAfter(lastEvent.eventId);
    if (!isPassThrough(q.filter)) state = state.filter((s) => eventMatchesFilter(q.filter, s.event));

    const memberships = new Map([...before.memberships, ...target.memberships, ...after.memberships]);
    const ctx = this.ctx(r, { memberships });
    const [eventsBefore, [event], eventsAfter, stateOut] = await Promise.all([
      formatClientEvents(before.events, ctx),
      formatClientEvents([ev], ctx),
      formatClientEvents(after.events, ctx),
      this.formatState(r, state),
    ]);
    return {
      start: formatTopoToken(before.last ?? pos),
      end: formatTopoToken(after.last ?? above),
      events_before: eventsBefore,
      event: event!,
      events_after: eventsAfter,
      state: stateOut,
    };
  }

  async messages(r: EventRequester, roomId: string, q: MessagesQuery): Promise<JsonObject> {
    const access = await this.access(r.userId, roomId);
    let from: TopologicalPosition | undefined;
    let start: string;
    if (q.from !== undefined) {
      const p = await this.boundaryFromToken(roomId, q.from);
      if (!p) throw new MatrixError('M_INVALID_PARAM', 'Invalid from token', 400);
      from = p;
      start = q.from;
    } else if (q.dir === 'b') {
      // Since v1.3 `from` is optional: the end of the room for dir=b, its start for dir=f.
      start = `s${this.store.currentStreamPosition()}`;
    } else {
      start = formatTopoToken({ depth: 0, streamOrdering: 0 });
    }
    let to: TopologicalPosition | undefined;
    if (q.to !== undefined) {
      const p = await this.boundaryFromToken(roomId, q.to);
      if (!p) throw new MatrixError('M_INVALID_PARAM', 'Invalid to token', 400);
      to = p;
    }
    if (access.kind === 'left') {
      // As Synapse: a former member pages no further than their leave (the visibility rules would
      // hide later events anyway; this saves reading them).
      const cap = { depth: access.memberEvent.depth, streamOrdering: (access.memberEvent.streamOrdering ?? 0) + 1 };
      if (q.dir === 'b' && (!from || comparePositions(from, cap) > 0)) from = cap;
      if (q.dir === 'f' && (!to || comparePositions(to, cap) > 0)) to = cap;
    }

    let page = await this.scan(r.userId, roomId, from, q.dir, q.limit, q.filter, to);
    if (q.dir === 'b' && page.last && this.deps.backfill && (await this.historyFromElsewhere(roomId))) {
      // A hole inside the page just read (events we missed, e.g. while down): fill it, read again.
      const top = from ?? { depth: Number.MAX_SAFE_INTEGER, streamOrdering: Number.MAX_SAFE_INTEGER };
      if (await this.deps.backfill(roomId, top, q.limit, { holesAbove: page.last.depth })) {
        page = await this.scan(r.userId, roomId, from, q.dir, q.limit, q.filter, to);
      }
    }
    if (q.dir === 'b' && page.exhausted && !to && page.events.length < q.limit && this.deps.backfill && !(await this.hasWholeHistory(roomId))) {
      // Local history ran out: the federation layer may fetch older events, then read again.
      const oldest = page.last ?? from ?? { depth: Number.MAX_SAFE_INTEGER, streamOrdering: Number.MAX_SAFE_INTEGER };
      if (await this.deps.backfill(roomId, oldest, q.limit)) {
        page = await this.scan(r.userId, roomId, from, q.dir, q.limit, q.filter, to);
      }
    }

    const ctx = this.ctx(r, { memberships: page.memberships });
    const out: JsonObject = { start, chunk: await formatClientEvents(page.events, ctx) };
    // `end` is left out when nothing more can come: dir=b at the start of the room (or `to`);
    // dir=f when nothing was found (new events may still arrive: then the client asks again).
    const more = q.dir === 'b' ? !page.exhausted : page.scanned > 0;
    if (more && page.last) out.end = formatTopoToken(page.last);
    if (q.filter.lazyLoadMembers && page.events.length > 0) {
      out.state = await this.formatState(r, await this.lazyMembers(page.events[0]!, page.events));
    }
    return out;
  }

  /**
   * Whether the room's timeline here reaches back to its create event: then there is nothing to
   * backfill. Rooms joined over federation hold their create event only as an outlier.
   */
  private async hasWholeHistory(roomId: string): Promise<boolean> {
    const create = await this.store.getCurrentStateEvent(roomId, CREATE, '');
    return create !== undefined && !create.outlier && create.streamOrdering !== null;
  }

  /**
   * Whether our copy of the room's history came from other servers (its create event an outlier or
   * backfilled): only then can it have holes to fill. A room created here has none.
   */
  private async historyFromElsewhere(roomId: string): Promise<boolean> {
    const create = await this.store.getCurrentStateEvent(roomId, CREATE, '');
    return create === undefined || create.outlier || create.streamOrdering === null || create.streamOrdering < 0;
  }

  // ---- relations and threads ----

  async relations(r: EventRequester, roomId: string, eventId: string, q: RelationsQuery): Promise<JsonObject> {
    await this.access(r.userId, roomId);
    const parent = await this.visibleEvent(r.userId, roomId, eventId);
    if (!parent) throw new MatrixError('M_NOT_FOUND', 'Unknown parent event.', 404);
    const bound = async (token: string | undefined, name: string) => {
      if (token === undefined) return undefined;
      const p = await this.boundaryFromToken(roomId, token);
      if (!p) throw new MatrixError('M_INVALID_PARAM', `Invalid ${name} token`, 400);
      return p;
    };
    const from = await bound(q.from, 'from');
    const to = await bound(q.to, 'to');
    // Edits of a redacted event would leak its content.
    const excludeEdits = this.deps.relations.redactedAmong([eventId]).size > 0;
    const page = this.deps.relations.children(roomId, eventId, {
      relType: q.relType,
      eventType: q.eventType,
      dir: q.dir,
      limit: q.limit,
      from,
      to,
      recurse: q.recurse ?? false,
      excludeEdits,
    });
    const events = await this.store.getEvents(page.eventIds);
    const visible = await filterEventsForUserWithMembership(this.store, r.userId, events);
    const out: JsonObject = { chunk: await formatClientEvents(visible.events, this.ctx(r, { memberships: visible.memberships })) };
    if (page.next) out.next_batch = formatTopoToken(page.next);
    if (q.from !== undefined) out.prev_batch = q.from;
    if (q.recurse !== undefined) out.recursion_depth = q.recurse ? 3 : 1;
    return out;
  }

  async threads(r: EventRequester, roomId: string, q: ThreadsListQuery): Promise<JsonObject> {
    await this.access(r.userId, roomId);
    let from: TopologicalPosition | undefined;
    if (q.from !== undefined) {
      const p = parseTopoToken(q.from);
      if (!p) throw new MatrixError('M_INVALID_PARAM', 'Unknown pagination token', 400);
      from = p;
    }
    const page = this.deps.relations.threads(roomId, { userId: r.userId, participatedOnly: q.include === 'participated', limit: q.limit, from });
    const roots = await this.store.getEvents(page.rootIds);
    const visible = await filterEventsForUserWithMembership(this.store, r.userId, roots);
    const out: JsonObject = { chunk: await formatClientEvents(visible.events, this.ctx(r, { memberships: visible.memberships })) };
    if (page.next) out.next_batch = formatTopoToken(page.next);
    return out;
  }
}
