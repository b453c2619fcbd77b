// POST /createRoom (client-server API "Creation"): checks the request, plans the events, dry-runs
// the auth rules over them, then writes the room through the rooms writer: create event, creator's
// join, power levels, alias, preset, initial_state, name, topic, invites.
import { isValidRoomAlias, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import { isLocal, roomView, type LifecycleContext, type LifecycleRequester } from './context.js';
import { setPublished } from './directory.js';
import { profileContent, sendInvite } from './membership.js';
import { checkPlanLimits, dryRunCreation, parseCreateRoomRequest, planRoomCreation, type CreateRoomRequest, type RoomCreationPlan } from './plan.js';

/**
 * Writes a planned room: the create event, then each planned event in order. Nothing is written
 * when an event breaks the event limits (checkPlanLimits) or the dry run of the auth rules fails
 * (400 M_INVALID_ROOM_STATE).
 */
export async function buildRoom(ctx: LifecycleContext, plan: RoomCreationPlan, onCreated?: (roomId: string) => Promise<void>): Promise<string> {
  checkPlanLimits(plan);
  const dry = dryRunCreation(plan);
  if (!dry.ok) {
    throw new MatrixError('M_INVALID_ROOM_STATE', `Cannot send ${dry.type}${dry.stateKey ? ` (${dry.stateKey})` : ''}: ${dry.reason}`, 400);
  }
  const { roomId } = await ctx.rooms.createRoom(plan.version, plan.creator, plan.createContent);
  if (onCreated) await onCreated(roomId);
  for (const ev of plan.events) {
    await ctx.rooms.sendLocalEvent(roomId, { type: ev.type, stateKey: ev.stateKey, content: ev.content, sender: plan.creator });
  }
  return roomId;
}

/** The aliases an initial m.room.canonical_alias names: each must be the alias being created. */
function checkInitialCanonicalAlias(req: CreateRoomRequest): void {
  const ev = req.initialState.find((e) => e.type === 'm.room.canonical_alias' && e.stateKey === '');
  if (!ev) return;
  const named: unknown[] = [];
  if (ev.content.alias !== undefined && ev.content.alias !== null && ev.content.alias !== '') named.push(ev.content.alias);
  if (ev.content.alt_aliases !== undefined && ev.content.alt_aliases !== null) {
    if (!Array.isArray(ev.content.alt_aliases)) throw new MatrixError('M_INVALID_PARAM', 'The alt_aliases property must be a list', 400);
    named.push(...ev.content.alt_aliases);
  }
  for (const a of named) {
    if (typeof a !== 'string' || !isValidRoomAlias(a)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room alias in m.room.canonical_alias', 400);
    if (a !== req.alias) throw new MatrixError('M_BAD_ALIAS', `Room alias ${a} does not point to the room`, 400);
  }
}

/** POST /createRoom */
export async function createRoom(ctx: LifecycleContext, requester: LifecycleRequester, body: unknown): Promise<{ room_id: string }> {
  const creator = requester.userId;
  const req = parseCreateRoomRequest(body, { serverName: ctx.serverName, defaultRoomVersion: ctx.defaultRoomVersion });
  // Third-party invites need an identity server lookup, which this server does not do (Synapse
  // with lookups disabled answers the same); refused before anything is created.
  if (req.invite3pid.length > 0) throw new MatrixError('M_FORBIDDEN', 'Looking up third-party identifiers is denied from this server', 403);
  const override = req.powerLevelOverride;
  if (override && !req.version.creatorsHaveInfinitePower && override.users !== undefined) {
    if (!isJsonObject(override.users) || !Object.hasOwn(override.users, creator)) {
      throw new MatrixError('M_INVALID_PARAM', `Not a valid power_level_content_override: 'users' did not contain ${creator}`, 400);
    }
  }
  checkInitialCanonicalAlias(req);
  for (const u of req.invite) {
    if (isLocal(ctx, u)) {
      const user = await ctx.users.store.getUser(u);
      if (!user || user.deactivated) throw new MatrixError('M_NOT_FOUND', `Unknown user ${u}`, 404);
    } else if (!ctx.remote()?.remoteInvite) {
      throw new MatrixError('M_FORBIDDEN', `Cannot invite ${u}: this server does not federate`, 403);
    }
  }
  const alias = req.alias;
  if (alias !== undefined && (ctx.pendingAliases.has(alias) || (await ctx.db.getAlias(alias)))) {
    throw new MatrixError('M_ROOM_IN_USE', 'Room alias already taken', 400);
  }

  const plan = planRoomCreation(req, creator, { membership: 'join', ...(await profileContent(ctx, creator)) });
  if (alias !== undefined) ctx.pendingAliases.add(alias);
  let aliasCreated = false;
  let complete = false;
  try {
    const roomId = await buildRoom(ctx, plan, async (id) => {
      if (alias === undefined) return;
      if (!(await ctx.db.createAlias(alias, id, creator, ctx.now()))) throw new MatrixError('M_ROOM_IN_USE', 'Room alias already taken', 400);
      aliasCreated = true;
    });
    complete = true;
    if (req.visibility === 'public') await setPublished(ctx, roomId, true);
    if (plan.invitees.length > 0) await sendCreationInvites(ctx, roomId, creator, plan.invitees, req.isDirect);
    return { room_id: roomId };
  } finally {
    if (alias !== undefined) {
      ctx.pendingAliases.delete(alias);
      // A room that could not be completed keeps no alias.
      if (aliasCreated && !complete) await ctx.db.deleteAlias(alias);
    }
  }
}

async function sendCreationInvites(ctx: LifecycleContext, roomId: string, creator: string, invitees: readonly string[], isDirect: boolean): Promise<void> {
  const view = await roomView(ctx, roomId);
  if (!view) return;
  const extra: JsonObject = isDirect ? { is_direct: true } : {};
  for (const u of invitees) {
    try {
      await sendInvite(ctx, view, creator, u, extra);
    } catch (e) {
      // Local invites were checked by the dry run; a remote server may refuse: the room stays.
      if (isLocal(ctx, u)) throw e;
      ctx.logger?.warn({ roomId, invitee: u, server: serverNameOf(u), err: (e as Error).message }, 'remote invite failed during room creation');
    }
  }
}
