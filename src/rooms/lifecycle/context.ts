// What every part of the rooms lifecycle area shares: its dependencies, the federation hooks that a
// later federation layer plugs in, and small reads of a room's current state (power, membership).
import { eventPowerLevelRequired, userPowerLevel } from '../../core/auth/power-levels.js';
import type { RoomEvent } from '../../core/events/event.js';
import type { RoomVersion } from '../../core/events/room-versions.js';
import { isValidRoomAlias, isValidRoomId, serverNameOf } from '../../core/ids.js';
import type { JsonObject } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import type { Store } from '../../store/index.js';
import type { RoomsService } from '../service.js';
import type { LifecycleStore } from './store.js';

/** The part of the users service this area reads (structural, so tests may pass a small fake). */
export interface LifecycleUsers {
  /** displayname / avatar_url of a local user, for member events. */
  getMemberProfile(userId: string): Promise<{ displayname?: string; avatar_url?: string }>;
  readonly store: { getUser(userId: string): Promise<{ readonly deactivated: boolean } | undefined> };
}

/** Who asks (the fields of users/ Requester this area reads). */
export interface LifecycleRequester {
  readonly userId: string;
  readonly isGuest: boolean;
  readonly isAdmin: boolean;
}

export interface PublicRoomsParams {
  readonly limit?: number;
  readonly since?: string;
  readonly filter?: JsonObject;
  readonly include_all_networks?: boolean;
  readonly third_party_instance_id?: string;
}

/**
 * What the federation layer provides when it exists (server-server API). Every hook is optional:
 * without it, the operation answers as a server that cannot reach others would.
 */
export interface RemoteRoomHooks {
  /** Joins a room this server is not in through one of `servers` (make_join/send_join); persists the room. */
  remoteJoin?(input: { roomId: string; servers: readonly string[]; userId: string; content: JsonObject }): Promise<{ roomId: string }>;
  /** Knocks on a room this server is not in (make_knock/send_knock). */
  remoteKnock?(input: { roomId: string; servers: readonly string[]; userId: string; content: JsonObject }): Promise<{ roomId: string }>;
  /** Invites a user of another server: builds the invite, has it signed (PUT /invite), persists it. */
  remoteInvite?(input: { roomId: string; sender: string; target: string; content: JsonObject }): Promise<void>;
  /** Rejects an invite or rescinds a knock for a room this server is not in (make_leave/send_leave). */
  remoteLeave?(input: { roomId: string; userId: string; content: JsonObject }): Promise<void>;
  /** Resolves an alias of another server (GET /query/directory); undefined when it does not exist. */
  queryAlias?(alias: string): Promise<{ roomId: string; servers: string[] } | undefined>;
  /** Another server's published room directory (federation /publicRooms), in the client API's shape. */
  publicRooms?(server: string, params: PublicRoomsParams): Promise<JsonObject>;
}

export interface LifecycleLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface LifecycleContext {
  readonly rooms: RoomsService;
  readonly store: Store;
  readonly db: LifecycleStore;
  readonly users: LifecycleUsers;
  readonly serverName: string;
  readonly defaultRoomVersion: string;
  readonly now: () => number;
  readonly logger: LifecycleLogger | undefined;
  /** The federation hooks (read at each call: the federation layer may attach them later). */
  remote(): RemoteRoomHooks | undefined;
  /** Aliases reserved by room creations under way (not yet in the table). */
  readonly pendingAliases: Set<string>;
  /** Upgrades under way or just done (`doneAt`), by old room ID: a repeated request of the same user shares the result. */
  readonly upgrades: Map<string, { readonly userId: string; readonly result: Promise<{ replacement_room: string }>; doneAt?: number }>;
}

export const MEMBER = 'm.room.member';

/** A room's current state as the lifecycle operations need it. */
export interface RoomView {
  readonly roomId: string;
  readonly version: RoomVersion;
  readonly create: RoomEvent | undefined;
  readonly powerLevels: RoomEvent | undefined;
}

/** The room if this server holds its current state. */
export async function roomView(ctx: LifecycleContext, roomId: string): Promise<RoomView | undefined> {
  const room = ctx.store.core.room(roomId);
  if (!room || room.currentStateGroup === null) return undefined;
  const [create, powerLevels] = await Promise.all([
    ctx.store.getCurrentStateEvent(roomId, 'm.room.create', ''),
    ctx.store.getCurrentStateEvent(roomId, 'm.room.power_levels', ''),
  ]);
  return { roomId, version: room.version, create: create?.event, powerLevels: powerLevels?.event };
}

export function powerOf(view: RoomView, userId: string): number {
  return userPowerLevel(userId, view.powerLevels, view.create, view.version);
}

/** The level needed to send a state event of `type`. */
export function stateLevel(view: RoomView, type: string): number {
  return eventPowerLevelRequired(type, true, view.powerLevels, view.version);
}

/** The current m.room.member event of a user, if any. */
export async function memberEvent(ctx: LifecycleContext, roomId: string, userId: string): Promise<RoomEvent | undefined> {
  return (await ctx.store.getCurrentStateEvent(roomId, MEMBER, userId))?.event;
}

export function membershipOf(ev: RoomEvent | undefined): string | undefined {
  const m = ev?.content.membership;
  return typeof m === 'string' ? m : undefined;
}

/** Current state content of (type, ''), if any. */
export async function stateContent(ctx: LifecycleContext, roomId: string, type: string): Promise<JsonObject | undefined> {
  return (await ctx.store.getCurrentStateEvent(roomId, type, ''))?.event.content;
}

export function isLocal(ctx: LifecycleContext, id: string): boolean {
  return serverNameOf(id) === ctx.serverName;
}

/** 400 M_INVALID_PARAM unless `roomId` is a room ID. */
export function requireRoomId(roomId: string): void {
  if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `Invalid room ID ${JSON.stringify(roomId)}`, 400);
}

/** 400 M_INVALID_PARAM unless `alias` is a room alias. */
export function requireAlias(alias: string): void {
  if (!isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', 'Room alias invalid', 400);
}

/**
 * The room an alias points to: this server's aliases from the table, others through the federation
 * hook. Undefined when unknown (or when another server's alias cannot be asked for).
 */
export async function lookupAlias(ctx: LifecycleContext, alias: string): Promise<{ roomId: string; servers: string[] } | undefined> {
  if (isLocal(ctx, alias)) {
    const row = await ctx.db.getAlias(alias);
    if (!row) return undefined;
    return { roomId: row.roomId, servers: await serversOfRoom(ctx, row.roomId) };
  }
  const query = ctx.remote()?.queryAlias;
  if (!query) return undefined;
  const found = await query(alias);
  if (!found) return undefined;
  // The server hosting the alias first, as Synapse orders them.
  const host = serverNameOf(alias)!;
  const servers = found.servers.filter((s) => s !== host);
  if (found.servers.includes(host)) servers.unshift(host);
  return { roomId: found.roomId, servers };
}

/** Servers with joined members, this one first when it is among them. */
export async function serversOfRoom(ctx: LifecycleContext, roomId: string): Promise<string[]> {
  const servers = await ctx.db.joinedServers(roomId);
  const others = servers.filter((s) => s !== ctx.serverName).sort();
  return servers.includes(ctx.serverName) || others.length === 0 ? [ctx.serverName, ...others] : others;
}
