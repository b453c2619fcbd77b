// The rooms lifecycle service: room creation, membership, upgrades, aliases and the room directory.
// Built once per server by createRoomLifecycle(); the HTTP routes call one function each.
import type { JsonObject } from '../../core/json/types.js';
import type { RoomsService } from '../service.js';
import type {
  LifecycleContext,
  LifecycleLogger,
  LifecycleRequester,
  LifecycleUsers,
  PublicRoomsParams,
  RemoteRoomHooks,
} from './context.js';
import { createRoom } from './create.js';
import {
  createAliasMapping,
  deleteAliasMapping,
  getAliasMapping,
  getVisibility,
  localAliases,
  localPublicRooms,
  publicRooms,
  setVisibility,
  validateCanonicalAliasContent,
} from './directory.js';
import { forgetRoom, inviteUser, joinRoom, joinedRooms, knockRoom, leaveRoom, moderateMember, type JoinOptions } from './membership.js';
import { LifecycleStore } from './store.js';
import { upgradeRoom } from './upgrade.js';

export interface RoomLifecycleDeps {
  readonly rooms: RoomsService;
  readonly users: LifecycleUsers;
  readonly serverName: string;
  /** Config default_room_version (default "12", the spec's default). */
  readonly defaultRoomVersion?: string;
  readonly clock?: () => number;
  readonly logger?: LifecycleLogger;
  /** Federation hooks, if the federation layer exists when this is built (see setRemoteHooks). */
  readonly remote?: RemoteRoomHooks;
}

export interface RoomLifecycleService {
  /** POST /createRoom */
  createRoom(requester: LifecycleRequester, body: unknown): Promise<{ room_id: string }>;
  /** POST /join/{roomIdOrAlias} and POST /rooms/{roomId}/join (`via`: the via/server_name query values). */
  join(requester: LifecycleRequester, roomIdOrAlias: string, body: unknown, opts?: JoinOptions): Promise<{ room_id: string }>;
  /** POST /rooms/{roomId}/invite */
  invite(requester: LifecycleRequester, roomId: string, body: unknown): Promise<void>;
  /** POST /rooms/{roomId}/leave */
  leave(requester: LifecycleRequester, roomId: string, body: unknown): Promise<void>;
  /** POST /rooms/{roomId}/kick, /ban, /unban */
  moderate(requester: LifecycleRequester, roomId: string, action: 'kick' | 'ban' | 'unban', body: unknown): Promise<void>;
  /** POST /knock/{roomIdOrAlias} */
  knock(requester: LifecycleRequester, roomIdOrAlias: string, body: unknown, opts?: JoinOptions): Promise<{ room_id: string }>;
  /** POST /rooms/{roomId}/forget */
  forget(requester: LifecycleRequester, roomId: string): Promise<void>;
  /** GET /joined_rooms */
  joinedRooms(requester: LifecycleRequester): Promise<{ joined_rooms: string[] }>;
  /** POST /rooms/{roomId}/upgrade */
  upgrade(requester: LifecycleRequester, roomId: string, body: unknown): Promise<{ replacement_room: string }>;

  /** GET /directory/room/{roomAlias} */
  getAlias(alias: string): Promise<{ room_id: string; servers: string[] }>;
  /** PUT /directory/room/{roomAlias} */
  setAlias(requester: LifecycleRequester, alias: string, body: unknown): Promise<void>;
  /** DELETE /directory/room/{roomAlias} */
  deleteAlias(requester: LifecycleRequester, alias: string): Promise<void>;
  /** GET /rooms/{roomId}/aliases */
  localAliases(requester: LifecycleRequester, roomId: string): Promise<{ aliases: string[] }>;
  /**
   * Checks new m.room.canonical_alias content before it is sent (PUT /rooms/{roomId}/state):
   * 400 M_INVALID_PARAM for malformed aliases, 400 M_BAD_ALIAS for aliases not pointing to the room.
   */
  validateCanonicalAlias(roomId: string, content: JsonObject): Promise<void>;

  /** GET /directory/list/room/{roomId} */
  getVisibility(roomId: string): Promise<{ visibility: 'public' | 'private' }>;
  /** PUT /directory/list/room/{roomId} */
  setVisibility(requester: LifecycleRequester, roomId: string, body: unknown): Promise<void>;
  /** GET/POST /publicRooms; `server` another server's directory (through the federation hook). */
  publicRooms(params: PublicRoomsParams, server?: string): Promise<JsonObject>;
  /** This server's directory, e.g. for federation /publicRooms (`federatableOnly` for other servers). */
  localPublicRooms(params: PublicRoomsParams, opts?: { federatableOnly?: boolean }): Promise<JsonObject>;

  /** Whether the user forgot the room (sync leaves it out, include_leave or not). */
  isRoomForgotten(userId: string, roomId: string): Promise<boolean>;
  /** Every room the user forgot. */
  forgottenRooms(userId: string): Promise<string[]>;

  /** Attaches the federation layer's hooks (remote joins, invites, alias queries, directories). */
  setRemoteHooks(hooks: RemoteRoomHooks | undefined): void;
}

/**
 * Builds the service and registers the derived writer that keeps the directory summary and the
 * forgotten-rooms table in step with every persisted event. Build it before events are written
 * (server.ts does so right after the rooms writer).
 */
export function createRoomLifecycle(deps: RoomLifecycleDeps): RoomLifecycleService {
  const db = new LifecycleStore(deps.rooms.store);
  db.attachDerivedWriter();
  let remote = deps.remote;
  const ctx: LifecycleContext = {
    rooms: deps.rooms,
    store: deps.rooms.store,
    db,
    users: deps.users,
    serverName: deps.serverName,
    defaultRoomVersion: deps.defaultRoomVersion ?? '12',
    now: deps.clock ?? Date.now,
    logger: deps.logger,
    remote: () => remote,
    pendingAliases: new Set(),
    upgrades: new Map(),
  };
  return {
    createRoom: (requester, body) => createRoom(ctx, requester, body),
    join: (requester, roomIdOrAlias, body, opts) => joinRoom(ctx, requester, roomIdOrAlias, body, opts),
    invite: (requester, roomId, body) => inviteUser(ctx, requester, roomId, body),
    leave: (requester, roomId, body) => leaveRoom(ctx, requester, roomId, body),
    moderate: (requester, roomId, action, body) => moderateMember(ctx, requester, roomId, action, body),
    knock: (requester, roomIdOrAlias, body, opts) => knockRoom(ctx, requester, roomIdOrAlias, body, opts),
    forget: (requester, roomId) => forgetRoom(ctx, requester, roomId),
    joinedRooms: (requester) => joinedRooms(ctx, requester),
    upgrade: (requester, roomId, body) => upgradeRoom(ctx, requester, roomId, body),
    getAlias: (alias) => getAliasMapping(ctx, alias),
    setAlias: (requester, alias, body) => createAliasMapping(ctx, requester, alias, body),
    deleteAlias: (requester, alias) => deleteAliasMapping(ctx, requester, alias),
    localAliases: (requester, roomId) => localAliases(ctx, requester, roomId),
    validateCanonicalAlias: (roomId, content) => validateCanonicalAliasContent(ctx, roomId, content),
    getVisibility: (roomId) => getVisibility(ctx, roomId),
    setVisibility: (requester, roomId, body) => setVisibility(ctx, requester, roomId, body),
    publicRooms: (params, server) => publicRooms(ctx, params, server),
    localPublicRooms: (params, opts) => localPublicRooms(ctx, params, opts),
    isRoomForgotten: (userId, roomId) => db.isForgotten(userId, roomId),
    forgottenRooms: (userId) => db.forgottenRooms(userId),
    setRemoteHooks: (hooks) => {
      remote = hooks;
    },
  };
}
