// Room lookups for clients that read no timeline: rooms shared with another user (GET
// /v1/mutual_rooms), the event closest to a time (GET /v1/rooms/{roomId}/timestamp_to_event) and
// a room's summary (GET /v1/room_summary/{roomIdOrAlias}, MSC3266). Local data only; the federation
// layer plugs in through RoomLookupHooks.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { isValidRoomAlias, isValidRoomId, isValidUserId } from '../core/ids.js';
import type { Store } from '../store/index.js';
import type { AdminStore, RoomSummaryRow } from './store.js';

/** What the federation layer may provide; without a hook the lookup answers from local data. */
export interface RoomLookupHooks {
  /**
   * The closest event another server in the room knows (federation GET /timestamp_to_event), asked
   * when this server has no event at or beyond `ts` in that direction.
   */
  timestampToEvent?(roomId: string, ts: number, dir: 'f' | 'b'): Promise<{ event_id: string; origin_server_ts: number } | undefined>;
  /** The summary of a room this server is not in, from the `via` servers (federation /hierarchy). */
  roomSummary?(roomId: string, via: readonly string[]): Promise<JsonObject | undefined>;
}

export interface LookupRequester {
  readonly userId: string;
}

export interface RoomLookups {
  mutualRooms(requester: LookupRequester, userId: string | undefined, from: string | undefined): Promise<JsonObject>;
  timestampToEvent(requester: LookupRequester, roomId: string, ts: number, dir: 'f' | 'b'): Promise<JsonObject>;
  /** `requester` undefined: an unauthenticated request (then no `membership`). */
  roomSummary(requester: LookupRequester | undefined, roomIdOrAlias: string, via: readonly string[]): Promise<JsonObject>;
  setRemoteHooks(hooks: RoomLookupHooks | undefined): void;
}

export interface RoomLookupsDeps {
  readonly store: Store;
  readonly admin: AdminStore;
  readonly serverName: string;
  readonly resolveAlias?: (alias: string) => Promise<{ room_id: string; servers: string[] }>;
  readonly remote?: RoomLookupHooks;
  /** Rooms per mutual_rooms page (default MUTUAL_ROOMS_PAGE). */
  readonly mutualRoomsPageSize?: number;
}

/** Rooms per mutual_rooms page. */
export const MUTUAL_ROOMS_PAGE = 100;

/** The join rules that let anyone see a room's summary (spec GET /room_summary: "MAY allow unauthenticated access"). */
const OPEN_JOIN_RULES = new Set(['public', 'knock', 'knock_restricted']);
const RESTRICTED_JOIN_RULES = new Set(['restricted', 'knock_restricted']);

/** mutual_rooms `next_batch`: the last room ID of the page, opaque to clients. */
function formatMutualToken(roomId: string): string {
  return Buffer.from(roomId, 'utf8').toString('base64url');
}

function parseMutualToken(token: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(token)) return undefined;
  const roomId = Buffer.from(token, 'base64url').toString('utf8');
  return isValidRoomId(roomId) ? roomId : undefined;
}

/** Room IDs named by `m.room_membership` entries of restricted join rules content (JSON text). */
function allowedRoomIds(joinRulesJson: string | null): string[] {
  if (joinRulesJson === null) return [];
  let content: unknown;
  try {
    content = JSON.parse(joinRulesJson);
  } catch {
    return [];
  }
  if (!isJsonObject(content) || !Array.isArray(content.allow)) return [];
  const out: string[] = [];
  for (const a of content.allow) {
    if (isJsonObject(a) && a.type === 'm.room_membership' && typeof a.room_id === 'string' && isValidRoomId(a.room_id)) out.push(a.room_id);
  }
  return out;
}

export function createRoomLookups(deps: RoomLookupsDeps): RoomLookups {
  let remote = deps.remote;
  const { store, admin } = deps;
  const pageSize = deps.mutualRoomsPageSize ?? MUTUAL_ROOMS_PAGE;

  async function membershipOf(roomId: string, userId: string): Promise<string | undefined> {
    return (await store.getMembership(roomId, userId))?.membership;
  }

  /** Whether `userId` may see the summary of a room whose state is here (Synapse's rules for MSC3266). */
  async function summaryVisible(row: RoomSummaryRow, requester: LookupRequester | undefined, membership: string | undefined): Promise<boolean> {
    if (row.joinRules !== null && OPEN_JOIN_RULES.has(row.joinRules)) return true;
    if (row.historyVisibility === 'world_readable') return true;
    if (!requester) return false;
    if (membership === 'join' || membership === 'invite') return true;
    if (row.joinRules !== null && RESTRICTED_JOIN_RULES.has(row.joinRules)) {
      for (const allowed of allowedRoomIds(row.joinRulesJson)) {
        if ((await membershipOf(allowed, requester.userId)) === 'join') return true;
      }
    }
    return false;
  }

  return {
    async mutualRooms(requester, userId, from) {
      if (userId === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: user_id', 400);
      if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', 'The user ID provided was invalid', 400);
      if (userId === requester.userId) throw new MatrixError('M_INVALID_PARAM', 'You cannot request a list of shared rooms with yourself', 400);
      let after = '';
      if (from !== undefined) {
        const last = parseMutualToken(from);
        if (last === undefined) throw new MatrixError('M_INVALID_PARAM', 'Invalid from token', 400);
        after = last;
      }
      // One more than a page tells whether another page follows.
      const rooms = await admin.mutualRooms(requester.userId, userId, after, pageSize + 1);
      const page = rooms.slice(0, pageSize);
      const out: JsonObject = { joined: page, count: await admin.mutualRoomCount(requester.userId, userId) };
      if (rooms.length > pageSize) out.next_batch = formatMutualToken(page[page.length - 1]!);
      return out;
    },

    async timestampToEvent(requester, roomId, ts, dir) {
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID', 400);
      // Members and, for world-readable rooms, anyone (as Synapse); an unknown room answers the same.
      if ((await membershipOf(roomId, requester.userId)) !== 'join') {
        const hv = (await store.getCurrentStateEvent(roomId, 'm.room.history_visibility', ''))?.event.content.history_visibility;
        if (hv !== 'world_readable') throw new MatrixError('M_FORBIDDEN', `User ${requester.userId} not in room ${roomId}`, 403);
      }
      const local = await admin.closestEvent(roomId, ts, dir);
      if (local) return { event_id: local.eventId, origin_server_ts: local.originServerTs };
      const found = await remote?.timestampToEvent?.(roomId, ts, dir);
      if (found) return { event_id: found.event_id, origin_server_ts: found.origin_server_ts };
      throw new MatrixError('M_NOT_FOUND', `Unable to find event from ${ts} in direction ${dir}`, 404);
    },

    async roomSummary(requester, roomIdOrAlias, via) {
      let roomId: string;
      let servers: readonly string[] = via;
      if (roomIdOrAlias.startsWith('#')) {
        if (!isValidRoomAlias(roomIdOrAlias)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room alias', 400);
        if (!deps.resolveAlias) throw new MatrixError('M_NOT_FOUND', 'Room alias not found', 404);
        const resolved = await deps.resolveAlias(roomIdOrAlias);
        roomId = resolved.room_id;
        if (servers.length === 0) servers = resolved.servers;
      } else if (isValidRoomId(roomIdOrAlias)) {
        roomId = roomIdOrAlias;
      } else {
        throw new MatrixError('M_INVALID_PARAM', `${JSON.stringify(roomIdOrAlias)} was not a legal room ID or room alias`, 400);
      }

      const row = await admin.room(roomId);
      const membership = requester ? await membershipOf(roomId, requester.userId) : undefined;
      if (!row) {
        const summary = await remote?.roomSummary?.(roomId, servers);
        if (!summary) throw new MatrixError('M_NOT_FOUND', 'Room not found or is not accessible', 404);
        return requester ? { ...summary, membership: membership ?? 'leave' } : summary;
      }
      if (!(await summaryVisible(row, requester, membership))) throw new MatrixError('M_NOT_FOUND', 'Room not found or is not accessible', 404);

      const out: JsonObject = {
        room_id: row.roomId,
        room_version: row.version,
        num_joined_members: row.joinedMembers,
        world_readable: row.historyVisibility === 'world_readable',
        guest_can_join: row.guestAccess === 'can_join',
      };
      // Absent rather than null, as the spec's optional fields.
      if (row.name !== null) out.name = row.name;
      if (row.topic !== null) out.topic = row.topic;
      if (row.canonicalAlias !== null) out.canonical_alias = row.canonicalAlias;
      if (row.avatarUrl !== null) out.avatar_url = row.avatarUrl;
      if (row.joinRules !== null) out.join_rule = row.joinRules;
      if (row.roomType !== null) out.room_type = row.roomType;
      if (row.encryption !== null) out.encryption = row.encryption;
      if (row.joinRules !== null && RESTRICTED_JOIN_RULES.has(row.joinRules)) {
        const allowed = allowedRoomIds(row.joinRulesJson);
        if (allowed.length > 0) out.allowed_room_ids = allowed;
      }
      if (requester) out.membership = membership ?? 'leave';
      return out;
    },

    setRemoteHooks(hooks) {
      remote = hooks;
    },
  };
}
