// Receipts and read markers (Client-Server API modules "Receipts" and "Read and unread markers"):
// m.read / m.read.private receipts, unthreaded or threaded, persisted with a stream position and
// served to /sync as m.receipt; m.fully_read stored as room account data. Implements ReceiptsSource.
import { isValidRoomId, serverNameOf } from '../core/ids.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import type { Database } from '../store/db.js';
import type { Store, StoredEvent } from '../store/index.js';
import type { Notifier } from '../sync/notifier.js';
import type { ReceiptsSource } from '../sync/sources.js';
import type { UsersService } from '../users/service.js';
import { MatrixError } from '../errors.js';
import { createReceiptsStore, type ReceiptRow, type ReceiptsStore } from './receipts-store.js';

export const RECEIPT_READ = 'm.read';
export const RECEIPT_READ_PRIVATE = 'm.read.private';
export const READ_MARKER = 'm.fully_read';
/** The thread ID of the main timeline (spec "Threaded read receipts"). */
export const MAIN_THREAD = 'main';

/** The receipt types a client may send (spec POST /receipt: the receiptType enum). */
const CLIENT_RECEIPT_TYPES = new Set([RECEIPT_READ, RECEIPT_READ_PRIVATE, READ_MARKER]);

/** Relations followed when deciding which thread an event is in (spec: "a maximum of 3 hops is recommended"). */
const MAX_RELATION_HOPS = 3;

/** A receipt as stored, in room-ID terms. `threadId` null is an unthreaded receipt. */
export interface ReceiptUpdate {
  readonly roomId: string;
  readonly userId: string;
  readonly receiptType: string;
  readonly threadId: string | null;
  readonly eventId: string;
  /** Stream ordering of the acknowledged event (null when we lack it: remote receipts only). */
  readonly eventStream: number | null;
  readonly ts: number;
  /** Position in the receipts stream. */
  readonly streamId: number;
}

export type ReceiptListener = (r: ReceiptUpdate) => void;

/** What the endpoints need to know about the caller. */
export interface ReceiptRequester {
  readonly userId: string;
  /** The users service's internal id (for the m.fully_read account data row). */
  readonly userNid: number;
}

/** A receipt received over federation (from an m.receipt EDU, already checked against its origin). */
export interface RemoteReceipt {
  readonly roomId: string;
  readonly userId: string;
  readonly receiptType: string;
  readonly eventId: string;
  readonly threadId?: string | null;
  readonly ts?: number;
}

export interface ReceiptsService extends ReceiptsSource {
  /**
   * Called after an m.read or m.read.private receipt (local or remote) moved forward, so push can
   * reset the user's unread counts (spec "Receiving notifications": counts are computed from the
   * read-up-to mark). Listeners run synchronously after the commit and must not throw.
   */
  readonly onReadReceipt: ReceiptListener[];
  /**
   * Called after a LOCAL user's public receipt (m.read) changed: the federation sender sends it as
   * an m.receipt EDU to the room's other servers. m.read.private never goes out (spec "Receipts").
   */
  readonly onOutbound: ReceiptListener[];
  /**
   * The stream ordering of the event the user's latest m.read or m.read.private receipt
   * (unthreaded, or threaded on the main timeline) points at, whichever is further; null when none.
   * Synchronous: push reads it while computing unread counts.
   */
  readReceiptPosition(roomId: string, userId: string): number | null;
  /**
   * The same per thread of the receipts: '' for unthreaded receipts (which cover every thread),
   * 'main' for the main timeline, else the thread root's event ID. Synchronous, like the above.
   */
  readReceiptPositionsByThread(roomId: string, userId: string): Map<string, number>;
  /** POST /rooms/{roomId}/receipt/{receiptType}/{eventId}. */
  sendReceipt(requester: ReceiptRequester, roomId: string, receiptType: string, eventId: string, body: unknown): Promise<void>;
  /** POST /rooms/{roomId}/read_markers. */
  setReadMarkers(requester: ReceiptRequester, roomId: string, body: unknown): Promise<void>;
  /** A remote user's receipt from federation; false when ignored (unknown room, private or older receipt). */
  applyRemoteReceipt(r: RemoteReceipt): Promise<boolean>;
}

export interface ReceiptsServiceDeps {
  db: Database;
  store: Store;
  notifier: Notifier;
  serverName: string;
  /** Needed for m.fully_read (room account data); without it read markers answer 500. */
  users?: UsersService;
  clock?: () => number;
  /** A listener threw (reported, never rethrown). */
  onListenerError?: (err: unknown) => void;
  /** Called with the user whenever a client sends a receipt or a read marker (presence: activity). */
  onActivity?: (userId: string) => void;
}

function invalidParam(message: string): MatrixError {
  return new MatrixError('M_INVALID_PARAM', message, 400);
}

function relatesTo(ev: StoredEvent): { relType: string; eventId: string } | undefined {
  const rel = ev.event.content['m.relates_to'];
  if (!isJsonObject(rel)) return undefined;
  const relType = rel.rel_type;
  const eventId = rel.event_id;
  if (typeof relType !== 'string' || typeof eventId !== 'string') return undefined;
  return { relType, eventId };
}

export function createReceiptsService(deps: ReceiptsServiceDeps): ReceiptsService {
  const { store, notifier } = deps;
  const rstore: ReceiptsStore = createReceiptsStore(deps.db);
  const now = deps.clock ?? Date.now;
  const onListenerError = deps.onListenerError ?? ((err: unknown) => console.error('receipt listener failed', err));
  const onReadReceipt: ReceiptListener[] = [];
  const onOutbound: ReceiptListener[] = [];

  function roomNid(roomId: string): number | undefined {
    return store.core.room(roomId)?.nid;
  }

  function callAll(listeners: readonly ReceiptListener[], r: ReceiptUpdate): void {
    for (const l of listeners) {
      try {
        l(r);
      } catch (e) {
        onListenerError(e);
      }
    }
  }

  async function requireJoined(roomId: string, userId: string): Promise<void> {
    const m = await store.getMembership(roomId, userId);
    if (m?.membership !== 'join') throw new MatrixError('M_FORBIDDEN', `${userId} is not in room ${roomId}`, 403);
  }

  /** An event clients can see in this room: stored, in the stream, not rejected or soft-failed. */
  async function visibleEvent(roomId: string, eventId: string): Promise<StoredEvent> {
    const ev = await store.getEvent(eventId);
    if (!ev || ev.roomId !== roomId || ev.outlier || ev.rejectedReason !== null || ev.softFailed || ev.streamOrdering === null) {
      throw new MatrixError('M_NOT_FOUND', `Event ${eventId} not found in room ${roomId}`, 404);
    }
    return ev;
  }

  async function eventInRoom(roomId: string, eventId: string): Promise<StoredEvent | undefined> {
    const ev = await store.getEvent(eventId);
    return ev && ev.roomId === roomId && !ev.outlier ? ev : undefined;
  }

  /**
   * Whether a receipt for `threadId` may be put on `ev` (spec "Threaded read receipts"): for
   * 'main', no m.thread relation on the way up the event's relations; for a thread root, the
   * root itself, an event in the thread, or an event related (any relation) to one of those.
   */
  async function isEventInThread(roomId: string, ev: StoredEvent, threadId: string): Promise<boolean> {
    let cur: StoredEvent | undefined = ev;
    for (let hop = 0; cur && hop <= MAX_RELATION_HOPS; hop++) {
      if (threadId !== MAIN_THREAD && cur.eventId === threadId) return true;
      const rel = relatesTo(cur);
      if (!rel) return threadId === MAIN_THREAD;
      if (rel.relType === 'm.thread') return rel.eventId === threadId;
      if (threadId !== MAIN_THREAD && rel.eventId === threadId) return true;
      cur = await eventInRoom(roomId, rel.eventId);
    }
    // The chain ended at an event we lack (or went deeper than we follow): not in a known thread.
    return threadId === MAIN_THREAD;
  }

  function toUpdate(roomId: string, row: ReceiptRow): ReceiptUpdate {
    return {
      roomId,
      userId: row.userId,
      receiptType: row.receiptType,
      threadId: row.threadId === '' ? null : row.threadId,
      eventId: row.eventId,
      eventStream: row.eventStream,
      ts: row.ts,
      streamId: row.streamId,
    };
  }

  /** Stores a receipt; wakes syncs and runs the listeners when it changed anything. */
  function storeReceipt(
    roomId: string,
    nid: number,
    userId: string,
    receiptType: string,
    threadId: string | null,
    eventId: string,
    eventStream: number | null,
    ts: number,
    local: boolean,
  ): boolean {
    const row = rstore.put({ roomNid: nid, userId, receiptType, threadId: threadId ?? '', eventId, eventStream, ts });
    if (!row) return false;
    const update = toUpdate(roomId, row);
    // A private receipt is only ever shown to its owner: only their syncs need waking.
    if (receiptType === RECEIPT_READ_PRIVATE) notifier.wakeUsers([userId]);
    else notifier.wakeRooms([roomId]);
    if (receiptType === RECEIPT_READ || receiptType === RECEIPT_READ_PRIVATE) callAll(onReadReceipt, update);
    if (local && receiptType === RECEIPT_READ) callAll(onOutbound, update);
    return true;
  }

  /**
   * Moves the m.fully_read marker (room account data) to `ev` unless it already points at an event
   * at or after it (as Synapse: the marker only moves forward, in topological order).
   */
  async function setFullyRead(requester: ReceiptRequester, roomId: string, ev: StoredEvent): Promise<void> {
    const users = deps.users;
    if (!users) throw new MatrixError('M_UNKNOWN', 'Read markers are not available on this server', 500);
    const existing = await users.store.getAccountData(requester.userNid, roomId, READ_MARKER);
    if (existing !== undefined) {
      const oldId = (JSON.parse(existing) as { event_id?: unknown }).event_id;
      if (oldId === ev.eventId) return;
      if (typeof oldId === 'string') {
        const old = await eventInRoom(roomId, oldId);
        if (old && old.streamOrdering !== null) {
          const ahead = ev.depth > old.depth || (ev.depth === old.depth && ev.streamOrdering! > old.streamOrdering);
          if (!ahead) return;
        }
      }
    }
    const streamId = await users.store.putAccountData(requester.userNid, roomId, READ_MARKER, JSON.stringify({ event_id: ev.eventId }));
    // The users service's own hook (sync listens there for account data), then a direct wake.
    for (const fn of users.hooks.accountDataChanged) {
      try {
        await fn(requester.userId, streamId);
      } catch (e) {
        onListenerError(e);
      }
    }
    notifier.wakeUsers([requester.userId]);
  }

  function parseBody(body: unknown): JsonObject {
    // Some clients POST receipts without a body: treat it as {}.
    if (body === undefined || body === null) return {};
    if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
    return body;
  }

  function checkRoomId(roomId: string): void {
    if (!isValidRoomId(roomId)) throw invalidParam(`Invalid room ID ${JSON.stringify(roomId)}`);
  }

  const service: ReceiptsService = {
    onReadReceipt,
    onOutbound,

    position: () => rstore.position(),

    receiptsSince(userId, roomIds, since) {
      const out = new Map<string, JsonObject>();
      const upTo = rstore.position();
      if (since >= upTo || roomIds.length === 0) return out;
      const roomIdByNid = new Map<number, string>();
      for (const roomId of roomIds) {
        const nid = roomNid(roomId);
        if (nid !== undefined) roomIdByNid.set(nid, roomId);
      }
      const rows = rstore.changedSince([...roomIdByNid.keys()], since, upTo, userId);
      // Rows come oldest first: when one user has two receipts of a type on the same event (e.g.
      // unthreaded and main), the content can hold one, and the latest wins (as Synapse).
      for (const row of rows) {
        const roomId = roomIdByNid.get(row.roomNid)!;
        let content = out.get(roomId);
        if (!content) out.set(roomId, (content = {}));
        const byType = (content[row.eventId] ??= {}) as JsonObject;
        const byUser = (byType[row.receiptType] ??= {}) as JsonObject;
        const receipt: JsonObject = { ts: row.ts };
        if (row.threadId !== '') receipt.thread_id = row.threadId;
        byUser[row.userId] = receipt;
      }
      return out;
    },

    readReceiptPosition(roomId, userId) {
      const nid = roomNid(roomId);
      return nid === undefined ? null : rstore.readPosition(nid, userId);
    },

    readReceiptPositionsByThread(roomId, userId) {
      const nid = roomNid(roomId);
      return nid === undefined ? new Map() : rstore.readPositionsByThread(nid, userId);
    },

    async sendReceipt(requester, roomId, receiptType, eventId, rawBody) {
      checkRoomId(roomId);
      if (!eventId.startsWith('$')) throw invalidParam(`Invalid event ID ${JSON.stringify(eventId)}`);
      if (!CLIENT_RECEIPT_TYPES.has(receiptType)) {
        throw invalidParam(`Receipt type must be one of ${[...CLIENT_RECEIPT_TYPES].join(', ')}`);
      }
      const body = parseBody(rawBody);
      // Spec POST /receipt, 400: thread_id not a string, empty, given for m.fully_read, or unrelated to the event.
      let threadId: string | null = null;
      if ('thread_id' in body) {
        const t = body.thread_id;
        if (typeof t !== 'string' || t.length === 0) throw invalidParam('thread_id field must be a non-empty string');
        if (receiptType === READ_MARKER) throw invalidParam(`thread_id is not compatible with ${READ_MARKER} receipts`);
        threadId = t;
      }
      await requireJoined(roomId, requester.userId);
      const ev = await visibleEvent(roomId, eventId);
      if (threadId !== null && !(await isEventInThread(roomId, ev, threadId))) {
        throw invalidParam(`event_id ${eventId} is not related to thread ${threadId}`);
      }
      deps.onActivity?.(requester.userId);
      if (receiptType === READ_MARKER) {
        await setFullyRead(requester, roomId, ev);
        return;
      }
      const nid = roomNid(roomId)!;
      storeReceipt(roomId, nid, requester.userId, receiptType, threadId, eventId, ev.streamOrdering, now(), true);
    },

    async setReadMarkers(requester, roomId, rawBody) {
      checkRoomId(roomId);
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
      const body = parseBody(rawBody);
      // Unknown keys are ignored (Synapse: receipt types are extensible).
      const wanted: [type: string, eventId: string][] = [];
      for (const type of [READ_MARKER, RECEIPT_READ, RECEIPT_READ_PRIVATE]) {
        const v = body[type];
        if (v === undefined || v === null) continue;
        if (typeof v !== 'string' || !v.startsWith('$')) throw invalidParam(`${type} must be an event ID`);
        wanted.push([type, v]);
      }
      await requireJoined(roomId, requester.userId);
      // Every event is checked before anything is written: one unknown event changes nothing.
      const events = new Map<string, StoredEvent>();
      for (const [, eventId] of wanted) if (!events.has(eventId)) events.set(eventId, await visibleEvent(roomId, eventId));
      deps.onActivity?.(requester.userId);
      const nid = roomNid(roomId)!;
      const ts = now();
      for (const [type, eventId] of wanted) {
        const ev = events.get(eventId)!;
        if (type === READ_MARKER) await setFullyRead(requester, roomId, ev);
        else storeReceipt(roomId, nid, requester.userId, type, null, eventId, ev.streamOrdering, ts, true);
      }
    },

    async applyRemoteReceipt(r) {
      // m.read.private never travels (spec "Receipts"); m.fully_read is account data, not a receipt.
      if (r.receiptType === RECEIPT_READ_PRIVATE || r.receiptType === READ_MARKER) return false;
      // A remote server never speaks for our users.
      if (serverNameOf(r.userId) === deps.serverName) return false;
      const nid = roomNid(r.roomId);
      if (nid === undefined) return false;
      const threadId = typeof r.threadId === 'string' && r.threadId.length > 0 ? r.threadId : null;
      const ev = await eventInRoom(r.roomId, r.eventId);
      const eventStream = ev && ev.rejectedReason === null && !ev.softFailed ? ev.streamOrdering : null;
      const ts = typeof r.ts === 'number' && Number.isSafeInteger(r.ts) ? r.ts : now();
      return storeReceipt(r.roomId, nid, r.userId, r.receiptType, threadId, r.eventId, eventStream, ts, false);
    },
  };
  return service;
}
