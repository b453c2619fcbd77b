// POST /rooms/{roomId}/upgrade (client-server API "Room Upgrades", server behaviour steps 1-6):
// permission to send the tombstone, a replacement room whose create event names its predecessor,
// the transferable state and the bans copied, the tombstone, local aliases and the directory
// listing moved, and the old room's power levels raised so that ordinary members stop talking.
import {
  TOP_LEVEL_POWER_KEYS,
  parsePowerLevelValue,
} from '../../core/auth/power-levels.js';
import { getRoomVersion, type RoomVersion } from '../../core/events/room-versions.js';
import { isValidUserId } from '../../core/ids.js';
import { canonicallyEqual } from '../../core/json/canonical.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import {
  MEMBER,
  isLocal,
  memberEvent,
  membershipOf,
  powerOf,
  requireRoomId,
  roomView,
  stateLevel,
  type LifecycleContext,
  type LifecycleRequester,
  type RoomView,
} from './context.js';
import { buildRoom } from './create.js';
import { setPublished } from './directory.js';
import { profileContent } from './membership.js';
import { buildCreateContent, creatorsOf, withoutCreators, type PlannedEvent } from './plan.js';

/** State copied to the replacement room, in this order (the spec's recommended list). */
const TRANSFERRED_STATE = [
  'm.room.join_rules',
  'm.room.name',
  'm.room.topic',
  'm.room.history_visibility',
  'm.room.guest_access',
  'm.room.avatar',
  'm.room.encryption',
  'm.room.server_acl',
] as const;

const TOMBSTONE = 'm.room.tombstone';
const UPGRADE_RESULT_TTL_MS = 5 * 60_000;

interface UpgradeRequest {
  readonly version: RoomVersion;
  readonly additionalCreators: readonly string[] | undefined;
}

function parseUpgradeBody(body: unknown): UpgradeRequest {
  if (!isJsonObject(body)) throw new MatrixError('M_NOT_JSON', 'Content must be a JSON object', 400);
  const v = body.new_version;
  if (v === undefined || v === null) throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: new_version', 400);
  if (typeof v !== 'string') throw new MatrixError('M_BAD_JSON', '"new_version" must be a string', 400);
  const version = getRoomVersion(v);
  if (!version) throw new MatrixError('M_UNSUPPORTED_ROOM_VERSION', 'This server does not support that room version', 400);
  let additionalCreators: string[] | undefined;
  const extra = body.additional_creators;
  if (extra !== undefined && extra !== null) {
    if (!Array.isArray(extra) || !extra.every((u) => typeof u === 'string' && isValidUserId(u))) {
      throw new MatrixError('M_INVALID_PARAM', '"additional_creators" must be a list of user IDs', 400);
    }
    additionalCreators = [...new Set(extra as string[])];
  }
  return { version, additionalCreators };
}

/**
 * Power levels content with every level converted to what `version` accepts (stringy and floaty
 * levels of old rooms become integers; unreadable ones are dropped), other keys kept as they are.
 */
export function normalisePowerLevels(content: JsonObject, from: RoomVersion): JsonObject {
  const out: JsonObject = { ...content };
  for (const key of TOP_LEVEL_POWER_KEYS) {
    if (!Object.hasOwn(content, key)) continue;
    const level = parsePowerLevelValue(content[key], from);
    if (level === undefined) delete out[key];
    else out[key] = level;
  }
  for (const key of ['users', 'events', 'notifications']) {
    const map = content[key];
    if (map === undefined) continue;
    if (!isJsonObject(map)) {
      delete out[key];
      continue;
    }
    const levels: JsonObject = {};
    for (const [k, v] of Object.entries(map)) {
      const level = parsePowerLevelValue(v as JsonValue, from);
      if (level !== undefined) levels[k] = level;
    }
    out[key] = levels;
  }
  return out;
}

function intOr(v: JsonValue | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isInteger(v) ? v : fallback;
}

/**
 * The level the upgrader needs in the new room to copy everything over (Synapse's rule): the highest
 * of state_default, ban and every per-event level.
 */
function levelNeededToCopy(pl: JsonObject): number {
  const events = isJsonObject(pl.events) ? Object.values(pl.events).filter((v): v is number => typeof v === 'number') : [];
  return Math.max(intOr(pl.state_default, 50), intOr(pl.ban, 50), ...events, 0);
}


/** POST /rooms/{roomId}/upgrade */
export async function upgradeRoom(
  ctx: LifecycleContext,
  requester: LifecycleRequester,
  roomId: string,
  body: unknown,
): Promise<{ replacement_room: string }> {
  requireRoomId(roomId);
  const req = parseUpgradeBody(body);
  // Like Synapse's response cache: while an upgrade runs, and for five minutes after it succeeded,
  // the same user asking again gets the same replacement (a retried request must not upgrade
  // twice), and anyone else gets 400. Registered before the first await.
  for (const [id, e] of ctx.upgrades) {
    if (e.doneAt !== undefined && ctx.now() - e.doneAt >= UPGRADE_RESULT_TTL_MS) ctx.upgrades.delete(id);
  }
  const running = ctx.upgrades.get(roomId);
  if (running) {
    if (running.userId !== requester.userId) throw new MatrixError('M_UNKNOWN', 'An upgrade for this room is currently in progress', 400);
    return running.result;
  }
  const result = (async () => {
    const view = await roomView(ctx, roomId);
    if (!view) throw new MatrixError('M_NOT_FOUND', `Unknown room id ${roomId}`, 404);
    // Step 1: the requester must be able to send the tombstone.
    const membership = membershipOf(await memberEvent(ctx, roomId, requester.userId));
    if (membership !== 'join' || powerOf(view, requester.userId) < stateLevel(view, TOMBSTONE)) {
      throw new MatrixError('M_FORBIDDEN', 'You cannot upgrade this room', 403);
    }
    return performUpgrade(ctx, requester, view, req);
  })();
  const entry: { userId: string; result: Promise<{ replacement_room: string }>; doneAt?: number } = { userId: requester.userId, result };
  ctx.upgrades.set(roomId, entry);
  try {
    const r = await result;
    entry.doneAt = ctx.now();
    return r;
  } catch (e) {
    if (ctx.upgrades.get(roomId) === entry) ctx.upgrades.delete(roomId);
    throw e;
  }
}

async function performUpgrade(ctx: LifecycleContext, requester: LifecycleRequester, old: RoomView, req: UpgradeRequest): Promise<{ replacement_room: string }> {
  const upgrader = requester.userId;
  const oldRoomId = old.roomId;
  const version = req.version;
  const oldCreate = old.create?.content ?? {};

  // Step 2: the create content, with the predecessor. From v12 the event ID may be left out (the
  // tombstone's ID cannot be known before the new room exists); earlier versions name the old
  // room's latest event.
  const predecessor: JsonObject = { room_id: oldRoomId };
  if (!version.roomIdFromCreateEvent) {
    const latest = await latestEventId(ctx, oldRoomId);
    if (latest !== undefined) predecessor.event_id = latest;
  }
  const creationContent: JsonObject = { predecessor };
  if (oldCreate['m.federate'] === false) creationContent['m.federate'] = false;
  if (typeof oldCreate.type === 'string') creationContent.type = oldCreate.type;
  if (version.creatorsHaveInfinitePower && req.additionalCreators !== undefined) {
    creationContent.additional_creators = req.additionalCreators.filter((u) => u !== upgrader);
  }
  const createContent = buildCreateContent(version, upgrader, creationContent);
  const creators = creatorsOf(version, upgrader, createContent);

  // Step 3: the transferable state; the power levels first, with the upgrader raised as needed.
  const oldPl = old.powerLevels ? normalisePowerLevels(old.powerLevels.content, old.version) : undefined;
  let finalPl: JsonObject | undefined;
  let initialPl: JsonObject | undefined;
  if (oldPl) {
    finalPl = oldPl;
    const users: JsonObject = isJsonObject(oldPl.users) ? { ...oldPl.users } : {};
    const needed = levelNeededToCopy(oldPl);
    if (!version.creatorsHaveInfinitePower && powerOf(old, upgrader) === Infinity) {
      // A creator of a v12 room going to an older version keeps admin power explicitly.
      users[upgrader] = Math.max(100, needed);
      finalPl = { ...oldPl, users };
    }
    const current = intOr(users[upgrader], intOr(oldPl.users_default, 0));
    initialPl = current < needed && !version.creatorsHaveInfinitePower ? { ...oldPl, users: { ...users, [upgrader]: needed } } : { ...finalPl };
    if (version.creatorsHaveInfinitePower) {
      finalPl = withoutCreators(finalPl, creators);
      initialPl = withoutCreators(initialPl, creators);
    }
  }
  const events: PlannedEvent[] = [{ type: MEMBER, stateKey: upgrader, content: { membership: 'join', ...(await profileContent(ctx, upgrader)) } }];
  if (initialPl) events.push({ type: 'm.room.power_levels', stateKey: '', content: initialPl });
  const copied = await ctx.store.getCurrentStateEvents(oldRoomId, [...TRANSFERRED_STATE, ...(oldCreate.type === 'm.space' ? ['m.space.child'] : [])]);
  const byType = new Map<string, JsonObject>();
  const spaceChildren: PlannedEvent[] = [];
  for (const s of copied) {
    const e = s.event;
    if (e.type === 'm.space.child') {
      // An emptied m.space.child is a removed child.
      if (Object.keys(e.content).length > 0) spaceChildren.push({ type: e.type, stateKey: e.stateKey!, content: e.content });
    } else if (e.stateKey === '') byType.set(e.type, e.content);
  }
  for (const type of TRANSFERRED_STATE) {
    const content = byType.get(type);
    if (content) events.push({ type, stateKey: '', content });
  }
  events.push(...spaceChildren);
  const newRoomId = await buildRoom(ctx, { version, creator: upgrader, createContent, events, invitees: [] });

  // The bans follow the room.
  for (const m of await ctx.store.getRoomMembers(oldRoomId, 'ban')) {
    const ban = await memberEvent(ctx, oldRoomId, m.userId);
    const content: JsonObject = { membership: 'ban' };
    if (typeof ban?.content.reason === 'string') content.reason = ban.content.reason;
    try {
      await ctx.rooms.sendLocalEvent(newRoomId, { type: MEMBER, stateKey: m.userId, content, sender: upgrader });
    } catch (e) {
      ctx.logger?.warn({ roomId: newRoomId, userId: m.userId, err: (e as Error).message }, 'cannot copy a ban to the upgraded room');
    }
  }

  // Step 5: the tombstone.
  await ctx.rooms.sendLocalEvent(oldRoomId, {
    type: TOMBSTONE,
    stateKey: '',
    content: { body: 'This room has been replaced', replacement_room: newRoomId },
    sender: upgrader,
  });

  // Step 4: local aliases, and the canonical alias events of both rooms; the directory listing.
  await moveAliases(ctx, upgrader, oldRoomId, newRoomId);
  if (await ctx.db.isPublished(oldRoomId)) {
    await setPublished(ctx, newRoomId, true);
    await setPublished(ctx, oldRoomId, false);
  }

  // Step 6: ordinary members of the old room can no longer speak or invite.
  if (oldPl) {
    const restricted = Math.max(50, intOr(oldPl.users_default, 0) + 1);
    const next: JsonObject = { ...oldPl };
    let changed = false;
    for (const key of ['events_default', 'invite']) {
      if (intOr(oldPl[key], 0) < restricted) {
        next[key] = restricted;
        changed = true;
      }
    }
    if (changed) {
      try {
        await ctx.rooms.sendLocalEvent(oldRoomId, { type: 'm.room.power_levels', stateKey: '', content: next, sender: upgrader });
      } catch (e) {
        ctx.logger?.warn({ roomId: oldRoomId, err: (e as Error).message }, 'cannot restrict the power levels of the upgraded room');
      }
    }
  }
  // The upgrader's temporary level in the new room goes back to what the old room gave them.
  if (finalPl && initialPl && !canonicallyEqual(finalPl, initialPl)) {
    await ctx.rooms.sendLocalEvent(newRoomId, { type: 'm.room.power_levels', stateKey: '', content: finalPl, sender: upgrader });
  }
  return { replacement_room: newRoomId };
}

/** The old room's latest event (deepest forward extremity), for predecessor.event_id. */
async function latestEventId(ctx: LifecycleContext, roomId: string): Promise<string | undefined> {
  const ids = await ctx.store.getForwardExtremities(roomId);
  const events = await ctx.store.getEvents(ids);
  events.sort((a, b) => b.depth - a.depth || (b.streamOrdering ?? 0) - (a.streamOrdering ?? 0));
  return events[0]?.eventId;
}

/**
 * Points this server's aliases of the old room at the new one, moves this server's aliases from the
 * old room's m.room.canonical_alias to a new one in the replacement room (Synapse's behaviour).
 */
async function moveAliases(ctx: LifecycleContext, upgrader: string, oldRoomId: string, newRoomId: string): Promise<void> {
  await ctx.db.moveAliases(oldRoomId, newRoomId);
  const canonical = (await ctx.store.getCurrentStateEvent(oldRoomId, 'm.room.canonical_alias', ''))?.event.content;
  if (!canonical) return;
  const oldContent: JsonObject = { ...canonical };
  const newContent: JsonObject = {};
  if (typeof canonical.alias === 'string' && isLocal(ctx, canonical.alias)) {
    newContent.alias = canonical.alias;
    delete oldContent.alias;
  }
  if (Array.isArray(canonical.alt_aliases)) {
    const local = canonical.alt_aliases.filter((a): a is string => typeof a === 'string' && isLocal(ctx, a));
    const rest = canonical.alt_aliases.filter((a) => !(typeof a === 'string' && isLocal(ctx, a)));
    if (local.length > 0) newContent.alt_aliases = local;
    if (rest.length > 0) oldContent.alt_aliases = rest;
    else delete oldContent.alt_aliases;
  }
  for (const [roomId, content] of [
    [oldRoomId, oldContent],
    [newRoomId, newContent],
  ] as const) {
    try {
      await ctx.rooms.sendLocalEvent(roomId, { type: 'm.room.canonical_alias', stateKey: '', content, sender: upgrader });
    } catch (e) {
      ctx.logger?.warn({ roomId, err: (e as Error).message }, 'cannot update m.room.canonical_alias during an upgrade');
    }
  }
}
