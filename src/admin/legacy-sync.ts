// The deprecated pre-/sync reads some old clients still call (client-server API "Room previews" and
// the r0 leftovers): GET /initialSync, /rooms/{roomId}/initialSync, /events and /events/{eventId},
// built on the room-events service (access rules, history visibility, event format) and the stores.
import { MatrixError } from '../errors.js';
import type { JsonObject } from '../core/json/types.js';
import type { Store, StoredEvent } from '../store/index.js';
import type { RoomEventsService, EventRequester } from '../rooms/room-events.js';
import { EMPTY_FILTER } from '../rooms/event-filter.js';
import { formatClientEvents, type TxnLookup } from '../sync/client-event.js';
import { filterEventsForUser } from '../sync/visibility.js';
import { parseSyncToken } from '../sync/token.js';
import type { Notifier } from '../sync/notifier.js';
import type { PresenceSource, ReceiptsSource } from '../sync/sources.js';
import type { UsersService } from '../users/service.js';

export interface LegacyRequester extends EventRequester {
  readonly userNid: number;
}

export interface LegacySyncDeps {
  readonly store: Store;
  readonly roomEvents: RoomEventsService;
  readonly users: UsersService;
  readonly notifier?: Notifier | undefined;
  readonly receipts?: ReceiptsSource | undefined;
  readonly presence?: PresenceSource | undefined;
  /** Whether the room is published in the room directory (for `visibility`). */
  readonly isPublished?: ((roomId: string) => Promise<boolean>) | undefined;
  readonly txnLookup?: TxnLookup | undefined;
  readonly clock?: () => number;
}

export interface LegacySync {
  /** GET /rooms/{roomId}/initialSync: state, the latest `limit` messages, presence, receipts. */
  roomInitialSync(r: LegacyRequester, roomId: string, limit: number): Promise<JsonObject>;
  /** GET /initialSync: every joined and invited room (left ones too with `archived`). */
  initialSync(r: LegacyRequester, opts: { limit: number; archived: boolean }): Promise<JsonObject>;
  /** GET /events: room events after `from` (default now), waiting up to `timeoutMs` for some. */
  events(r: LegacyRequester, opts: { from?: string | undefined; timeoutMs: number; roomId?: string | undefined }): Promise<JsonObject>;
  /** GET /events/{eventId}. */
  event(r: LegacyRequester, eventId: string): Promise<JsonObject>;
}

/** Events read from the stream per step of GET /events. */
const EVENTS_BATCH = 100;
const MEMBER = 'm.room.member';

/** Stream tokens of the legacy API: the sync token form with only the events position. */
function streamToken(pos: number): string {
  return `s${pos}`;
}

export function createLegacySync(deps: LegacySyncDeps): LegacySync {
  const { store, roomEvents, users } = deps;
  const now = deps.clock ?? Date.now;

  async function roomAccountData(r: LegacyRequester, roomId: string | null): Promise<JsonObject[]> {
    const all = await users.store.allAccountData(r.userNid);
    return all.filter((a) => a.roomId === roomId).map((a) => ({ type: a.type, content: JSON.parse(a.content) as JsonObject }));
  }

  async function format(r: LegacyRequester, events: readonly StoredEvent[]): Promise<JsonObject[]> {
    return formatClientEvents(events, { userId: r.userId, deviceId: r.deviceId, now: now(), withRoomId: true, store, txnLookup: deps.txnLookup });
  }

  async function roomSnapshot(r: LegacyRequester, roomId: string, limit: number, membership: string | undefined): Promise<JsonObject> {
    const state = await roomEvents.getState(r, roomId);
    const page = await roomEvents.messages(r, roomId, { dir: 'b', limit, filter: EMPTY_FILTER });
    const newestFirst = (page.chunk ?? []) as JsonObject[];
    const messages: JsonObject = { chunk: [...newestFirst].reverse(), end: page.start as string };
    if (typeof page.end === 'string') messages.start = page.end;
    const out: JsonObject = {
      room_id: roomId,
      messages,
      state,
      visibility: (await deps.isPublished?.(roomId)) ? 'public' : 'private',
      account_data: await roomAccountData(r, roomId),
    };
    if (membership !== undefined) out.membership = membership;
    if (membership === 'join') {
      const members = (await store.getRoomMembers(roomId, 'join')).map((m) => m.userId);
      out.presence = deps.presence ? deps.presence.presenceSince(members, 0) : [];
      const receipts = deps.receipts?.receiptsSince(r.userId, [roomId], 0).get(roomId);
      out.receipts = receipts ? [{ type: 'm.receipt', room_id: roomId, content: receipts }] : [];
    } else {
      out.presence = [];
      out.receipts = [];
    }
    return out;
  }

  return {
    async roomInitialSync(r, roomId, limit) {
      const membership = (await store.getMembership(roomId, r.userId))?.membership;
      // getState applies the access rules: members, former members (up to their leave), peekers.
      return roomSnapshot(r, roomId, limit, membership);
    },

    async initialSync(r, opts) {
      const end = streamToken(store.currentStreamPosition());
      const rooms: JsonObject[] = [];
      for (const m of await store.getMembershipsForUser(r.userId)) {
        if (m.membership === 'join' || (opts.archived && (m.membership === 'leave' || m.membership === 'ban'))) {
          try {
            rooms.push(await roomSnapshot(r, m.roomId, opts.limit, m.membership));
          } catch (e) {
            // A room the user may no longer read (forgotten) is left out, as /sync does.
            if (e instanceof MatrixError && e.status === 403) continue;
            throw e;
          }
        } else if (m.membership === 'invite') {
          const ev = await store.getEvent(m.eventId);
          const entry: JsonObject = { room_id: m.roomId, membership: 'invite', visibility: (await deps.isPublished?.(m.roomId)) ? 'public' : 'private' };
          if (ev) {
            const [invite] = await format(r, [ev]);
            entry.invite = invite!;
            entry.inviter = ev.event.sender;
          }
          rooms.push(entry);
        }
      }
      const sharing = await store.getUsersSharingRoomsWith(r.userId);
      return {
        end,
        rooms,
        presence: deps.presence ? deps.presence.presenceSince(sharing, 0) : [],
        account_data: await roomAccountData(r, null),
      };
    },

    async events(r, opts) {
      let from: number;
      const current = store.currentStreamPosition();
      if (opts.from === undefined) from = current;
      else {
        const t = parseSyncToken(opts.from);
        if (!t) throw new MatrixError('M_INVALID_PARAM', 'Invalid from token', 400);
        from = Math.min(t.events, current);
      }
      const start = streamToken(from);
      let rooms: Set<string>;
      if (opts.roomId !== undefined) {
        // Peeking (spec "Room previews"): a room the user is in, or a world-readable one.
        if ((await store.getMembership(opts.roomId, r.userId))?.membership !== 'join') {
          const hv = (await store.getCurrentStateEvent(opts.roomId, 'm.room.history_visibility', ''))?.event.content.history_visibility;
          if (hv !== 'world_readable') throw new MatrixError('M_FORBIDDEN', `User ${r.userId} not in room ${opts.roomId}, and room previews are disabled`, 403);
        }
        rooms = new Set([opts.roomId]);
      } else {
        rooms = new Set(await store.getRoomsForUser(r.userId, 'join'));
      }
      const deadline = now() + opts.timeoutMs;
      for (;;) {
        const upTo = store.currentStreamPosition();
        if (upTo > from) {
          const batch = await store.getEventsByStream({ from, to: upTo, limit: EVENTS_BATCH });
          const last = batch.length === EVENTS_BATCH ? (batch[batch.length - 1]!.streamOrdering ?? upTo) : upTo;
          // The user's rooms, and their own membership changes elsewhere (a new invite or join).
          const relevant = batch.filter((e) => rooms.has(e.roomId) || (opts.roomId === undefined && e.event.type === MEMBER && e.event.stateKey === r.userId));
          const visible = await filterEventsForUser(store, r.userId, relevant);
          from = last;
          if (visible.length > 0) return { start, end: streamToken(from), chunk: await format(r, visible) };
          if (last < upTo) continue;
        }
        const remaining = deadline - now();
        if (remaining <= 0 || !deps.notifier) return { start, end: streamToken(from), chunk: [] };
        await deps.notifier.waitForPosition(from, remaining);
      }
    },

    async event(r, eventId) {
      const ev = await store.getEvent(eventId);
      if (!ev) throw new MatrixError('M_NOT_FOUND', 'Event not found.', 404);
      // The room-events rules decide whether the user may see it (404 when not).
      return roomEvents.getEvent(r, ev.roomId, eventId);
    },
  };
}
