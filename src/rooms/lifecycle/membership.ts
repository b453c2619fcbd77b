// Membership changes of the client-server API ("Room membership"): join (by ID or alias, restricted
// rooms included), invite, leave, kick, ban, unban, knock and forget. Local rooms are changed here
// through the rooms writer; rooms this server is not in go to the federation hooks.
import { namedPowerLevel, userPowerLevel } from '../../core/auth/power-levels.js';
import { canonicallyEqual } from '../../core/json/canonical.js';
import { isValidRoomAlias, isValidRoomId, isValidServerName, isValidUserId, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import {
  MEMBER,
  isLocal,
  lookupAlias,
  memberEvent,
  membershipOf,
  requireRoomId,
  roomView,
  stateContent,
  type LifecycleContext,
  type LifecycleRequester,
  type RoomView,
} from './context.js';
import { checkEventLimits } from './plan.js';

/** What a membership request body may carry (reason on all; user_id where a target is named). */
interface MembershipBody {
  readonly reason?: string;
  readonly userId?: string;
}

function parseBody(body: unknown, needsUserId: boolean): MembershipBody {
  if (body === undefined || body === null) body = {};
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
  const reason = body.reason;
  if (reason !== undefined && reason !== null && typeof reason !== 'string') throw new MatrixError('M_BAD_JSON', '"reason" must be a string', 400);
  let userId: string | undefined;
  if (needsUserId) {
    const u = body.user_id;
    if (u === undefined || u === null) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: user_id', 400);
    if (typeof u !== 'string' || !isValidUserId(u)) throw new MatrixError('M_INVALID_PARAM', `Invalid user_id: ${String(u)}`, 400);
    userId = u;
  }
  return { ...(typeof reason === 'string' ? { reason } : {}), ...(userId !== undefined ? { userId } : {}) };
}

/** displayname / avatar_url of a local user for member content (remote profiles are not fetched). */
export async function profileContent(ctx: LifecycleContext, userId: string): Promise<JsonObject> {
  if (!isLocal(ctx, userId)) return {};
  const p = await ctx.users.getMemberProfile(userId);
  const out: JsonObject = {};
  if (p.displayname !== undefined) out.displayname = p.displayname;
  if (p.avatar_url !== undefined) out.avatar_url = p.avatar_url;
  return out;
}


type Action = 'join' | 'invite' | 'leave' | 'kick' | 'ban' | 'unban' | 'knock';

const EFFECTIVE: Record<Action, string> = {
  join: 'join',
  invite: 'invite',
  leave: 'leave',
  kick: 'leave',
  ban: 'ban',
  unban: 'leave',
  knock: 'knock',
};

/**
 * Sends the member event of `target` in a room this server holds, after the checks Synapse makes
 * before the auth rules (clearer errors): unban needs a ban, a banned user can only be unbanned,
 * banned again or left, a kick needs the target in the room. Repeating the current member event
 * (same sender, membership and content) sends nothing. The auth rules decide the rest (403).
 */
export async function changeMembership(
  ctx: LifecycleContext,
  input: { roomId: string; sender: string; target: string; action: Action; content: JsonObject },
): Promise<string> {
  const { roomId, sender, target, action } = input;
  const membership = EFFECTIVE[action];
  const content: JsonObject = { ...input.content, membership };
  const old = await memberEvent(ctx, roomId, target);
  const oldMembership = membershipOf(old);
  if (action === 'unban' && oldMembership !== 'ban') {
    throw new MatrixError('M_BAD_STATE', `Cannot unban user who was not banned (membership=${oldMembership ?? 'none'})`, 403);
  }
  if (oldMembership === 'ban' && action !== 'ban' && action !== 'unban' && action !== 'leave') {
    throw new MatrixError('M_FORBIDDEN', `${target} is banned from the room`, 403);
  }
  if (old && old.sender === sender && oldMembership === membership && canonicallyEqual(old.content, content)) return old.eventId;
  if (action === 'kick' && oldMembership !== 'join' && oldMembership !== 'invite' && oldMembership !== 'knock') {
    throw new MatrixError('M_FORBIDDEN', 'The target user is not in the room', 403);
  }
  checkEventLimits(sender, { type: MEMBER, stateKey: target, content });
  const r = await ctx.rooms.sendLocalEvent(roomId, { type: MEMBER, stateKey: target, content, sender });
  return r.eventId;
}

/** Whether a user of this server is joined to the room (Synapse's "host in room"). */
async function localUsersJoined(ctx: LifecycleContext, roomId: string): Promise<string[]> {
  return ctx.db.joinedMembersOf(roomId, ctx.serverName);
}

/** 400 unless `s` is a room ID or alias; resolves aliases (404 when unknown). */
async function resolveRoom(ctx: LifecycleContext, roomIdOrAlias: string, via: readonly string[]): Promise<{ roomId: string; servers: string[] }> {
  const servers = via.filter((s) => isValidServerName(s));
  if (roomIdOrAlias.startsWith('#')) {
    if (!isValidRoomAlias(roomIdOrAlias)) throw new MatrixError('M_INVALID_PARAM', 'Room alias invalid', 400);
    const found = await lookupAlias(ctx, roomIdOrAlias);
    if (!found) throw new MatrixError('M_NOT_FOUND', `Room alias ${roomIdOrAlias} not found`, 404);
    return { roomId: found.roomId, servers: [...new Set([...found.servers, ...servers])] };
  }
  if (!isValidRoomId(roomIdOrAlias)) {
    throw new MatrixError('M_INVALID_PARAM', `${roomIdOrAlias} was not legal room ID or room alias`, 400);
  }
  return { roomId: roomIdOrAlias, servers: [...new Set(servers)] };
}

/** Servers to try for a room this server is not in: via, the inviter's server, the room ID's server. */
async function candidateServers(ctx: LifecycleContext, roomId: string, userId: string, servers: readonly string[]): Promise<string[]> {
  const out = new Set(servers);
  // The membership row also holds invites received over federation for rooms without state here.
  const row = await ctx.store.getMembership(roomId, userId).catch(() => undefined);
  const invite = row?.membership === 'invite' ? (await ctx.store.getEvent(row.eventId))?.event : undefined;
  if (invite && membershipOf(invite) === 'invite') {
    const s = serverNameOf(invite.sender);
    if (s) out.add(s);
  }
  const roomServer = serverNameOf(roomId);
  if (roomServer) out.add(roomServer);
  out.delete(ctx.serverName);
  return [...out];
}

export interface JoinOptions {
  readonly via?: readonly string[];
}

/**
 * What a join or knock request starts from: the body's reason, the room (an alias resolved, with the
 * servers to ask) and the member event content (the requester's profile and the reason).
 */
async function joinOrKnockRequest(
  ctx: LifecycleContext,
  requester: LifecycleRequester,
  roomIdOrAlias: string,
  body: unknown,
  opts: JoinOptions,
): Promise<{ roomId: string; servers: string[]; userId: string; content: JsonObject }> {
  const { reason } = parseBody(body, false);
  const { roomId, servers } = await resolveRoom(ctx, roomIdOrAlias, opts.via ?? []);
  const userId = requester.userId;
  const content: JsonObject = { ...(await profileContent(ctx, userId)) };
  if (reason !== undefined) content.reason = reason;
  return { roomId, servers, userId, content };
}

/**
 * POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join. A room this server holds and is in is
 * joined locally; otherwise the federation hook joins through `via`, the alias's servers, the
 * inviter's server and the room ID's server (404 "No known servers" without the hook).
 */
export async function joinRoom(
  ctx: LifecycleContext,
  requester: LifecycleRequester,
  roomIdOrAlias: string,
  body: unknown,
  opts: JoinOptions = {},
): Promise<{ room_id: string }> {
  const { roomId, servers, userId, content } = await joinOrKnockRequest(ctx, requester, roomIdOrAlias, body, opts);
  if (requester.isGuest) content.kind = 'guest';

  const view = await roomView(ctx, roomId);
  const remoteJoin = ctx.remote()?.remoteJoin;
  const locals = view ? await localUsersJoined(ctx, roomId) : [];
  const candidates = !view || (remoteJoin && locals.length === 0) ? await candidateServers(ctx, roomId, userId, servers) : [];
  const joinRemotely = async (): Promise<{ room_id: string }> => {
    if (!remoteJoin || candidates.length === 0) throw new MatrixError('M_NOT_FOUND', 'No known servers', 404);
    const r = await remoteJoin({ roomId, servers: candidates, userId, content: { ...content, membership: 'join' } });
    return { room_id: r.roomId };
  };
  // A room this server holds but no local user is in has moved on elsewhere: join through its
  // servers. With none to ask (a room only this server ever took part in), the local state is all
  // there is.
  if (!view || (remoteJoin && locals.length === 0 && candidates.length > 0)) return joinRemotely();

  if (requester.isGuest) {
    const guest = await stateContent(ctx, roomId, 'm.room.guest_access');
    if (guest?.guest_access !== 'can_join') throw new MatrixError('M_FORBIDDEN', 'Guest access not allowed', 403);
  }
  const authoriser = await restrictedJoinAuthoriser(ctx, view, userId, locals);
  if (authoriser === 'remote') return joinRemotely();
  if (authoriser !== undefined) content.join_authorised_via_users_server = authoriser;
  await changeMembership(ctx, { roomId, sender: userId, target: userId, action: 'join', content });
  return { room_id: roomId };
}

/**
 * For a restricted (v8+) or knock_restricted (v10+) room that the user is neither joined to nor
 * invited to: checks the allow conditions (membership of one of the listed rooms, as far as this
 * server knows) and picks a local member able to invite as join_authorised_via_users_server, the
 * most powerful first. Undefined when no authorisation is needed; 'remote' when no local member can
 * authorise but another server might.
 */
async function restrictedJoinAuthoriser(
  ctx: LifecycleContext,
  view: RoomView,
  userId: string,
  locals: readonly string[],
): Promise<string | 'remote' | undefined> {
  const rules = await stateContent(ctx, view.roomId, 'm.room.join_rules');
  const rule = rules?.join_rule;
  const restricted = (rule === 'restricted' && view.version.restrictedJoins) || (rule === 'knock_restricted' && view.version.knockRestricted);
  if (!restricted || !rules) return undefined;
  const current = membershipOf(await memberEvent(ctx, view.roomId, userId));
  if (current === 'join' || current === 'invite') return undefined;
  const allow = Array.isArray(rules.allow) ? rules.allow : [];
  let satisfied = false;
  for (const entry of allow) {
    if (!isJsonObject(entry) || entry.type !== 'm.room_membership' || typeof entry.room_id !== 'string') continue;
    if ((await ctx.store.getMembership(entry.room_id, userId))?.membership === 'join') {
      satisfied = true;
      break;
    }
  }
  if (!satisfied) throw new MatrixError('M_FORBIDDEN', 'You do not belong to any of the required rooms/spaces to join this room', 403);
  const inviteLevel = namedPowerLevel('invite', view.powerLevels, view.version);
  let best: string | undefined;
  let bestLevel = -Infinity;
  for (const u of locals) {
    const level = userPowerLevel(u, view.powerLevels, view.create, view.version);
    if (level >= inviteLevel && level > bestLevel) {
      best = u;
      bestLevel = level;
    }
  }
  if (best !== undefined) return best;
  if (ctx.remote()?.remoteJoin) return 'remote';
  throw new MatrixError('M_FORBIDDEN', 'No user of this server can authorise your join to this restricted room', 403);
}

/** POST /rooms/{roomId}/invite with a user ID (third-party invites are refused: no identity lookups). */
export async function inviteUser(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string, body: unknown, extra: JsonObject = {}): Promise<void> {
  if (isJsonObject(body) && body.medium !== undefined && body.address !== undefined) {
    if (typeof body.id_server !== 'string' || typeof body.id_access_token !== 'string') {
      throw new MatrixError('M_MISSING_PARAM', '`id_server` and `id_access_token` are required when doing 3pid invite', 400);
    }
    throw new MatrixError('M_FORBIDDEN', 'Looking up third-party identifiers is denied from this server', 403);
  }
  requireRoomId(roomId);
  const { reason, userId: target } = parseBody(body, true);
  const view = await roomView(ctx, roomId);
  if (!view) throw new MatrixError('M_FORBIDDEN', 'Unknown room', 403);
  await sendInvite(ctx, view, requester.userId, target!, { ...extra, ...(reason !== undefined ? { reason } : {}) });
}

/**
 * An invite from `sender` (joined) to `target`: local targets must exist; other servers' users go
 * through the federation hook. The invitee's profile is included, as Synapse does.
 */
export async function sendInvite(ctx: LifecycleContext, view: RoomView, sender: string, target: string, extra: JsonObject): Promise<void> {
  const senderMembership = membershipOf(await memberEvent(ctx, view.roomId, sender));
  if (senderMembership !== 'join') throw new MatrixError('M_FORBIDDEN', `${sender} is not in the room`, 403);
  const targetMembership = membershipOf(await memberEvent(ctx, view.roomId, target));
  if (targetMembership === 'join') throw new MatrixError('M_FORBIDDEN', `${target} is already in the room`, 403);
  if (targetMembership === 'ban') throw new MatrixError('M_FORBIDDEN', `${target} is banned from the room`, 403);
  if (isLocal(ctx, target)) {
    const user = await ctx.users.store.getUser(target);
    if (!user || user.deactivated) throw new MatrixError('M_NOT_FOUND', `Unknown user ${target}`, 404);
    const content: JsonObject = { ...(await profileContent(ctx, target)), ...extra };
    await changeMembership(ctx, { roomId: view.roomId, sender, target, action: 'invite', content });
    return;
  }
  const remoteInvite = ctx.remote()?.remoteInvite;
  if (!remoteInvite) throw new MatrixError('M_FORBIDDEN', `Cannot invite ${target}: this server does not federate`, 403);
  await remoteInvite({ roomId: view.roomId, sender, target, content: { ...extra, membership: 'invite' } });
}

/** POST /rooms/{roomId}/leave (also rejects an invite or rescinds a knock). */
export async function leaveRoom(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string, body: unknown): Promise<void> {
  requireRoomId(roomId);
  const { reason } = parseBody(body, false);
  const userId = requester.userId;
  const content: JsonObject = reason !== undefined ? { reason } : {};
  const view = await roomView(ctx, roomId);
  if (!view) {
    // An invite or knock for a room this server is not in: only the room's servers can take it back.
    const remoteLeave = ctx.remote()?.remoteLeave;
    if (remoteLeave) {
      await remoteLeave({ roomId, userId, content: { ...content, membership: 'leave' } });
      return;
    }
    throw new MatrixError('M_NOT_FOUND', 'Not a known room', 404);
  }
  const current = await memberEvent(ctx, roomId, userId);
  if (current === undefined) {
    const hostInRoom = (await localUsersJoined(ctx, roomId)).length > 0;
    if (!hostInRoom) throw new MatrixError('M_NOT_FOUND', 'Not a known room', 404);
    throw new MatrixError('M_FORBIDDEN', `${userId} is not in the room`, 403);
  }
  await changeMembership(ctx, { roomId, sender: userId, target: userId, action: 'leave', content });
}

/** POST /rooms/{roomId}/kick, /ban and /unban. */
export async function moderateMember(
  ctx: LifecycleContext,
  requester: LifecycleRequester,
  roomId: string,
  action: 'kick' | 'ban' | 'unban',
  body: unknown,
): Promise<void> {
  requireRoomId(roomId);
  const { reason, userId: target } = parseBody(body, true);
  const view = await roomView(ctx, roomId);
  if (!view) throw new MatrixError('M_FORBIDDEN', 'Unknown room', 403);
  const senderMembership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
  if (senderMembership !== 'join') throw new MatrixError('M_FORBIDDEN', `${requester.userId} is not in the room`, 403);
  await changeMembership(ctx, {
    roomId,
    sender: requester.userId,
    target: target!,
    action,
    content: reason !== undefined ? { reason } : {},
  });
}

/** POST /knock/{roomIdOrAlias} (room versions 7+). */
export async function knockRoom(
  ctx: LifecycleContext,
  requester: LifecycleRequester,
  roomIdOrAlias: string,
  body: unknown,
  opts: JoinOptions = {},
): Promise<{ room_id: string }> {
  const { roomId, servers, userId, content } = await joinOrKnockRequest(ctx, requester, roomIdOrAlias, body, opts);
  const view = await roomView(ctx, roomId);
  const remoteKnock = ctx.remote()?.remoteKnock;
  const away = !view || (remoteKnock !== undefined && (await localUsersJoined(ctx, roomId)).length === 0);
  const candidates = away ? await candidateServers(ctx, roomId, userId, servers) : [];
  if (!view || (away && candidates.length > 0)) {
    if (!remoteKnock || candidates.length === 0) throw new MatrixError('M_NOT_FOUND', 'No known servers', 404);
    const r = await remoteKnock({ roomId, servers: candidates, userId, content: { ...content, membership: 'knock' } });
    return { room_id: r.roomId };
  }
  if (!view.version.knocking) {
    throw new MatrixError('M_FORBIDDEN', `Room version ${view.version.id} does not support knocking`, 403);
  }
  const rule = (await stateContent(ctx, roomId, 'm.room.join_rules'))?.join_rule;
  if (rule !== 'knock' && !(rule === 'knock_restricted' && view.version.knockRestricted)) {
    throw new MatrixError('M_FORBIDDEN', 'You are not allowed to knock on this room', 403);
  }
  await changeMembership(ctx, { roomId, sender: userId, target: userId, action: 'knock', content });
  return { room_id: roomId };
}

/** POST /rooms/{roomId}/forget: only once left or banned (400 otherwise, as Synapse). */
export async function forgetRoom(ctx: LifecycleContext, requester: LifecycleRequester, roomId: string): Promise<void> {
  requireRoomId(roomId);
  const membership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
  if (membership !== undefined && membership !== 'leave' && membership !== 'ban') {
    throw new MatrixError('M_UNKNOWN', `User ${requester.userId} in room ${roomId}`, 400);
  }
  if (membership !== undefined) await ctx.db.forget(requester.userId, roomId);
}

/** GET /joined_rooms */
export async function joinedRooms(ctx: LifecycleContext, requester: LifecycleRequester): Promise<{ joined_rooms: string[] }> {
  return { joined_rooms: await ctx.store.getRoomsForUser(requester.userId, 'join') };
}
