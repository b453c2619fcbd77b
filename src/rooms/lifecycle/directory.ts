// Room aliases ("Room aliases": PUT/GET/DELETE /directory/room/{alias}, GET /rooms/{id}/aliases,
// the m.room.canonical_alias checks) and the published room directory ("Published room directory":
// /directory/list/room/{id}, /publicRooms with Synapse's order and pagination).
import { isValidRoomAlias, isValidServerName } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import {
  isLocal,
  lookupAlias,
  memberEvent,
  membershipOf,
  powerOf,
  requireAlias,
  requireRoomId,
  roomView,
  stateContent,
  stateLevel,
  type LifecycleContext,
  type LifecycleRequester,
  type PublicRoomsParams,
} from './context.js';
import type { DirectoryBound, DirectoryFilter, DirectoryRoomRow } from './store.js';

const MAX_ALIAS_BYTES = 255;
/** Synapse's largest /publicRooms page. */
export const MAX_PUBLIC_ROOMS_PAGE = 100;

// ---- aliases ----

/** GET /directory/room/{roomAlias} */
export async function getAliasMapping(ctx: LifecycleContext, alias: string): Promise<{ room_id: string; servers: string[] }> {
  requireAlias(alias);
  const found = await lookupAlias(ctx, alias);
  if (!found) throw new MatrixError('M_NOT_FOUND', `Room alias ${alias} not found`, 404);
  return { room_id: found.roomId, servers: found.servers };
}

/** 400 unless the alias is one this server may host (valid, local, no whitespace, at most 255 bytes). */
function requireLocalAlias(ctx: LifecycleContext, alias: string): void {
  requireAlias(alias);
  if (!isLocal(ctx, alias)) throw new MatrixError('M_INVALID_PARAM', 'Room alias must be local', 400);
  const localpart = alias.slice(1, alias.indexOf(':'));
  if (/\s/u.test(localpart)) throw new MatrixError('M_INVALID_PARAM', 'Invalid characters in room alias', 400);
  if (Buffer.byteLength(alias, 'utf8') > MAX_ALIAS_BYTES) {
    throw new MatrixError('M_INVALID_PARAM', `Can't create aliases longer than ${MAX_ALIAS_BYTES} characters`, 400);
  }
}

/**
 * PUT /directory/room/{roomAlias}: the requester must be in the room (Synapse's
 * require_membership_for_aliases) unless a server admin; 409 when the alias exists.
 */
export async function createAliasMapping(ctx: LifecycleContext, requester: LifecycleRequester, alias: string, body: unknown): Promise<void> {
  requireLocalAlias(ctx, alias);
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
  const roomId = body.room_id;
  if (roomId === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: room_id', 400);
  if (typeof roomId !== 'string') throw new MatrixError('M_BAD_JSON', '"room_id" must be a string', 400);
  requireRoomId(roomId);
  if (!(await roomView(ctx, roomId))) throw new MatrixError('M_UNKNOWN', 'Room does not exist', 400);
  if (!requester.isAdmin) {
    const membership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
    if (membership !== 'join') throw new MatrixError('M_FORBIDDEN', 'You must be in the room to create an alias for it', 403);
  }
  if (ctx.pendingAliases.has(alias) || !(await ctx.db.createAlias(alias, roomId, requester.userId, ctx.now()))) {
    throw new MatrixError('M_UNKNOWN', `Room alias ${alias} already exists`, 409);
  }
}

/**
 * DELETE /directory/room/{roomAlias}: allowed to the alias's creator, server admins, and members
 * who may send m.room.canonical_alias (Synapse). Then the alias leaves the room's
 * m.room.canonical_alias, if it was there and the requester may change it.
 */
export async function deleteAliasMapping(ctx: LifecycleContext, requester: LifecycleRequester, alias: string): Promise<void> {
  requireAlias(alias);
  if (!isLocal(ctx, alias)) throw new MatrixError('M_INVALID_PARAM', 'Room alias must be local', 400);
  const row = await ctx.db.getAlias(alias);
  if (!row) throw new MatrixError('M_NOT_FOUND', `Room alias ${alias} not found`, 404);
  const allowed = row.creator === requester.userId || requester.isAdmin || (await canEditRoomListing(ctx, requester, row.roomId, false));
  if (!allowed) throw new MatrixError('M_FORBIDDEN', "You don't have permission to delete the alias.", 403);
  const roomId = await ctx.db.deleteAlias(alias);
  if (roomId === undefined) throw new MatrixError('M_NOT_FOUND', `Room alias ${alias} not found`, 404);
  await dropFromCanonicalAlias(ctx, requester.userId, roomId, alias);
}

async function dropFromCanonicalAlias(ctx: LifecycleContext, sender: string, roomId: string, alias: string): Promise<void> {
  const current = await stateContent(ctx, roomId, 'm.room.canonical_alias');
  if (!current) return;
  const content: JsonObject = { ...current };
  let changed = false;
  if (content.alias === alias) {
    delete content.alias;
    changed = true;
  }
  if (Array.isArray(content.alt_aliases) && content.alt_aliases.includes(alias)) {
    const rest = content.alt_aliases.filter((a) => a !== alias);
    if (rest.length > 0) content.alt_aliases = rest;
    else delete content.alt_aliases;
    changed = true;
  }
  if (!changed) return;
  try {
    await ctx.rooms.sendLocalEvent(roomId, { type: 'm.room.canonical_alias', stateKey: '', content, sender });
  } catch (e) {
    // The alias is gone either way; the spec recommends succeeding without the event update.
    ctx.logger?.info({ roomId, alias, err: (e as Error).message }, 'cannot update m.room.canonical_alias after alias deletion');
  }
}

/**
 * Whether the requester may change the room's directory entry or delete its aliases: a server
 * admin, or a member with the power to send m.room.canonical_alias. With `throwIfNotMember`, a
 * non-member gets 403 at once.
 */
async function canEditRoomListing(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string, throwIfNotMember: boolean): Promise<boolean> {
  if (requester.isAdmin) return true;
  const view = await roomView(ctx, roomId);
  if (!view) return false;
  const membership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
  if (membership !== 'join') {
    if (throwIfNotMember) throw new MatrixError('M_FORBIDDEN', `${requester.userId} is not in the room`, 403);
    return false;
  }
  return powerOf(view, requester.userId) >= stateLevel(view, 'm.room.canonical_alias');
}

/** GET /rooms/{roomId}/aliases: members, anyone when world_readable, server admins. */
export async function localAliases(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string): Promise<{ aliases: string[] }> {
  requireRoomId(roomId);
  if (!requester.isAdmin) {
    const membership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
    if (membership !== 'join') {
      const hv = (await stateContent(ctx, roomId, 'm.room.history_visibility'))?.history_visibility;
      if (hv !== 'world_readable') throw new MatrixError('M_FORBIDDEN', 'You are not a member of the room', 403);
    }
  }
  return { aliases: await ctx.db.aliasesOfRoom(roomId) };
}

/**
 * The checks on new m.room.canonical_alias content (PUT /rooms/{roomId}/state): `alias` and
 * `alt_aliases` must be valid aliases (400 M_INVALID_PARAM), and every alias not already in the
 * current event must point to this room (400 M_BAD_ALIAS). Other servers' aliases are asked for
 * through the federation hook; without it they cannot be confirmed and are refused.
 */
export async function validateCanonicalAliasContent(ctx: LifecycleContext, roomId: string, content: JsonObject): Promise<void> {
  const current = (await stateContent(ctx, roomId, 'm.room.canonical_alias')) ?? {};
  const toCheck: string[] = [];
  const alias = content.alias;
  if (alias !== undefined && alias !== null && alias !== '') {
    if (typeof alias !== 'string' || !isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', 'The alias must be a valid room alias', 400);
    if (alias !== current.alias) toCheck.push(alias);
  }
  const alt = content.alt_aliases;
  if (alt !== undefined && alt !== null) {
    if (!Array.isArray(alt)) throw new MatrixError('M_INVALID_PARAM', 'The alt_aliases property must be a list', 400);
    const before = new Set(Array.isArray(current.alt_aliases) ? current.alt_aliases : []);
    for (const a of alt) {
      if (typeof a !== 'string' || !isValidRoomAlias(a)) throw new MatrixError('M_INVALID_PARAM', 'Each alt_alias must be a valid room alias', 400);
      if (!before.has(a)) toCheck.push(a);
    }
  }
  for (const a of new Set(toCheck)) {
    const found = await lookupAlias(ctx, a);
    if (!found || found.roomId !== roomId) throw new MatrixError('M_BAD_ALIAS', `Room alias ${a} does not point to the room`, 400);
  }
}

// ---- the published room directory ----

/** GET /directory/list/room/{roomId} */
export async function getVisibility(ctx: LifecycleContext, roomId: string): Promise<{ visibility: 'public' | 'private' }> {
  requireRoomId(roomId);
  if (!ctx.store.core.room(roomId)) throw new MatrixError('M_NOT_FOUND', 'Room not found', 404);
  return { visibility: (await ctx.db.isPublished(roomId)) ? 'public' : 'private' };
}

/** PUT /directory/list/room/{roomId}: server admins, or members able to send m.room.canonical_alias. */
export async function setVisibility(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string, body: unknown): Promise<void> {
  requireRoomId(roomId);
  if (body === undefined) body = {};
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
  const visibility = body.visibility ?? 'public';
  if (visibility !== 'public' && visibility !== 'private') {
    throw new MatrixError('M_INVALID_PARAM', '"visibility" must be "public" or "private"', 400);
  }
  if (requester.isGuest) throw new MatrixError('M_FORBIDDEN', 'Guests cannot edit the published room list', 403);
  if (!(await roomView(ctx, roomId))) throw new MatrixError('M_NOT_FOUND', 'Room not found', 404);
  if (!(await canEditRoomListing(ctx, requester, roomId, true))) {
    throw new MatrixError('M_FORBIDDEN', 'This server requires you to be a moderator in the room to edit its room list entry', 403);
  }
  await setPublished(ctx, roomId, visibility === 'public');
}

export async function setPublished(ctx: LifecycleContext, roomId: string, published: boolean): Promise<void> {
  // The summary is kept by the derived writer; rebuilding it here heals a room persisted while no
  // writer was attached.
  if (published) await ctx.db.rebuildStats(roomId);
  await ctx.db.setPublished(roomId, published, ctx.now());
}

interface DirectoryToken extends DirectoryBound {
  readonly forwards: boolean;
}

function encodeToken(t: DirectoryToken): string {
  return Buffer.from(JSON.stringify([t.forwards ? 'f' : 'b', t.joinedMembers, t.roomId]), 'utf8').toString('base64url');
}

function decodeToken(s: string): DirectoryToken {
  const bad = () => new MatrixError('M_INVALID_PARAM', 'Invalid since token', 400);
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw bad();
  }
  if (!Array.isArray(v) || v.length !== 3) throw bad();
  const [dir, members, roomId] = v as unknown[];
  if ((dir !== 'f' && dir !== 'b') || typeof members !== 'number' || !Number.isSafeInteger(members) || typeof roomId !== 'string') throw bad();
  return { forwards: dir === 'f', joinedMembers: members, roomId };
}

/** GET /publicRooms query parameters, checked. */
export function parsePublicRoomsQuery(query: Record<string, string | undefined>): PublicRoomsParams & { server?: string } {
  const out: { limit?: number; since?: string; server?: string } = {};
  if (query.limit !== undefined && query.limit !== '') {
    if (!/^\d{1,9}$/.test(query.limit)) throw new MatrixError('M_INVALID_PARAM', '"limit" must be a non-negative integer', 400);
    out.limit = Number(query.limit);
  }
  if (query.since !== undefined && query.since !== '') out.since = query.since;
  if (query.server !== undefined && query.server !== '') out.server = query.server;
  return out;
}

/** POST /publicRooms body, checked. */
export function parsePublicRoomsBody(body: unknown): PublicRoomsParams {
  if (body === undefined) body = {};
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
  const out: { limit?: number; since?: string; filter?: JsonObject; include_all_networks?: boolean; third_party_instance_id?: string } = {};
  if (body.limit !== undefined && body.limit !== null) {
    if (typeof body.limit !== 'number' || !Number.isSafeInteger(body.limit) || body.limit < 0) {
      throw new MatrixError('M_INVALID_PARAM', '"limit" must be a non-negative integer', 400);
    }
    out.limit = body.limit;
  }
  if (body.since !== undefined && body.since !== null) {
    if (typeof body.since !== 'string') throw new MatrixError('M_BAD_JSON', '"since" must be a string', 400);
    out.since = body.since;
  }
  if (body.filter !== undefined && body.filter !== null) {
    if (!isJsonObject(body.filter)) throw new MatrixError('M_BAD_JSON', '"filter" must be an object', 400);
    const term = body.filter.generic_search_term;
    if (term !== undefined && term !== null && typeof term !== 'string') throw new MatrixError('M_BAD_JSON', '"generic_search_term" must be a string', 400);
    const types = body.filter.room_types;
    if (types !== undefined && types !== null && (!Array.isArray(types) || !types.every((t) => t === null || typeof t === 'string'))) {
      throw new MatrixError('M_BAD_JSON', '"room_types" must be a list of strings or null', 400);
    }
    out.filter = body.filter;
  }
  if (body.include_all_networks !== undefined && body.include_all_networks !== null) {
    if (typeof body.include_all_networks !== 'boolean') throw new MatrixError('M_BAD_JSON', '"include_all_networks" must be a boolean', 400);
    out.include_all_networks = body.include_all_networks;
  }
  if (body.third_party_instance_id !== undefined && body.third_party_instance_id !== null) {
    if (typeof body.third_party_instance_id !== 'string') throw new MatrixError('M_BAD_JSON', '"third_party_instance_id" must be a string', 400);
    out.third_party_instance_id = body.third_party_instance_id;
  }
  if (out.include_all_networks && out.third_party_instance_id !== undefined) {
    throw new MatrixError('M_INVALID_PARAM', "Can't use include_all_networks with an explicit network", 400);
  }
  return out;
}

/** GET/POST /publicRooms: this server's directory, or another server's through the federation hook. */
export async function publicRooms(ctx: LifecycleContext, params: PublicRoomsParams, server?: string): Promise<JsonObject> {
  if (server !== undefined && server !== ctx.serverName) {
    if (!isValidServerName(server)) throw new MatrixError('M_INVALID_PARAM', `Invalid server name: ${server}`, 400);
    const hook = ctx.remote()?.publicRooms;
    if (!hook) throw new MatrixError('M_UNKNOWN', `Cannot fetch the room directory of ${server}: this server does not federate`, 502);
    return hook(server, params);
  }
  return localPublicRooms(ctx, params);
}

/**
 * This server's directory: published rooms anyone may join, knock on or read, with at least one
 * joined member, the most joined first (then room ID, descending), `limit` per page (0 or absent:
 * 100). `since` tokens carry the direction and the last position seen. `federatableOnly` is for
 * requests from other servers.
 */
export async function localPublicRooms(
  ctx: LifecycleContext,
  params: PublicRoomsParams,
  opts: { federatableOnly?: boolean } = {},
): Promise<JsonObject> {
  // Application-service networks are not implemented: a specific network lists nothing.
  if (params.third_party_instance_id !== undefined) return { chunk: [], total_room_count_estimate: 0 };
  const limit = params.limit === undefined || params.limit === 0 || params.limit > MAX_PUBLIC_ROOMS_PAGE ? MAX_PUBLIC_ROOMS_PAGE : params.limit;
  const filter: DirectoryFilter = {
    ...(typeof params.filter?.generic_search_term === 'string' && params.filter.generic_search_term.trim() !== ''
      ? { searchTerm: params.filter.generic_search_term.trim() }
      : {}),
    ...(Array.isArray(params.filter?.room_types) ? { roomTypes: params.filter.room_types as (string | null)[] } : {}),
    ...(opts.federatableOnly ? { federatableOnly: true } : {}),
  };
  const token = params.since !== undefined ? decodeToken(params.since) : undefined;
  const forwards = token?.forwards ?? true;
  const rows = await ctx.db.directoryPage({ ...filter, limit: limit + 1, forwards, ...(token ? { after: token } : {}) });
  const more = rows.length > limit;
  const page = rows.slice(0, limit);
  if (!forwards) page.reverse();
  const out: JsonObject = { chunk: page.map(entryOf), total_room_count_estimate: await ctx.db.countDirectory(filter) };
  const first = page[0];
  const last = page[page.length - 1];
  if (first && last) {
    const at = (r: DirectoryRoomRow, f: boolean) => encodeToken({ forwards: f, joinedMembers: r.joinedMembers, roomId: r.roomId });
    if (forwards) {
      if (more) out.next_batch = at(last, true);
      if (token) out.prev_batch = at(first, false);
    } else {
      out.next_batch = at(last, true);
      if (more) out.prev_batch = at(first, false);
    }
  }
  return out;
}

function entryOf(r: DirectoryRoomRow): JsonObject {
  const e: JsonObject = {
    room_id: r.roomId,
    num_joined_members: r.joinedMembers,
    world_readable: r.historyVisibility === 'world_readable',
    guest_can_join: r.guestAccess === 'can_join',
  };
  if (r.name !== null) e.name = r.name;
  if (r.topic !== null) e.topic = r.topic;
  if (r.canonicalAlias !== null) e.canonical_alias = r.canonicalAlias;
  if (r.avatarUrl !== null) e.avatar_url = r.avatarUrl;
  if (r.joinRule !== null) e.join_rule = r.joinRule;
  if (r.roomType !== null) e.room_type = r.roomType;
  return e;
}
