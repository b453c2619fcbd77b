// The admin service: the client-server administration endpoints (whois, suspension, locks), the
// subset of Synapse's admin API that admin tools call (users, rooms, deactivation, media), and the
// account gate the auth hook runs. Built once per server by createAdminService(); routes call one
// function each and shape nothing themselves.
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { isValidRoomId, parseUserId } from '../core/ids.js';
import type { Database } from '../store/db.js';
import type { Store } from '../store/index.js';
import type { Requester, UsersService } from '../users/service.js';
import type { UserRow } from '../users/store.js';
import { DEFAULT_PASSWORD_HASH_PARAMS, MAX_PASSWORD_LENGTH, hashPassword, type PasswordHashParams } from '../users/passwords.js';
import { AccountGate } from './account-status.js';
import { AdminStore, type AdminRoomRow, type AdminUserRow, type MediaListQuery, type RoomListQuery, type UserListQuery } from './store.js';
import { createRoomLookups, type RoomLookupHooks, type RoomLookups } from './room-lookups.js';

/** Who asks (the fields of users/ Requester this area reads). */
export interface AdminRequester {
  readonly userId: string;
  readonly userNid: number;
  readonly isAdmin: boolean;
  readonly isGuest?: boolean;
}

export interface AdminLogger {
  error(obj: object, msg?: string): void;
}

export interface AdminServiceDeps {
  readonly db: Database;
  /** The room store (read API). */
  readonly store: Store;
  readonly users: UsersService;
  readonly serverName: string;
  readonly clock?: () => number;
  /** For passwords set through the admin API (default: the users service's defaults). */
  readonly passwordHashParams?: PasswordHashParams;
  readonly logger?: AdminLogger;
  /** Resolves a room alias (rooms lifecycle `getAlias`): 404 M_NOT_FOUND when unknown. */
  readonly resolveAlias?: (alias: string) => Promise<{ room_id: string; servers: string[] }>;
  /** Federation hooks for the room lookups (timestamp_to_event, remote room summaries). */
  readonly remote?: RoomLookupHooks;
  /** Rooms per GET /mutual_rooms page (default 100). */
  readonly mutualRoomsPageSize?: number;
}

export type AccountModerationFlag = 'suspended' | 'locked';

export interface AdminService {
  readonly gate: AccountGate;
  readonly store: AdminStore;
  /** mutual_rooms, timestamp_to_event, room_summary. */
  readonly lookups: RoomLookups;

  // ---- client-server "Server administration" ----
  /** GET /admin/whois/{userId} (also /_synapse/admin/v1/whois): the user themself or a server admin. */
  whois(requester: AdminRequester, userId: string): Promise<JsonObject>;
  /** GET /admin/suspend/{userId}, /admin/lock/{userId}. */
  getModeration(requester: AdminRequester, userId: string, flag: AccountModerationFlag): Promise<JsonObject>;
  /** PUT /admin/suspend/{userId}, /admin/lock/{userId}. */
  setModeration(requester: AdminRequester, userId: string, flag: AccountModerationFlag, body: unknown): Promise<JsonObject>;

  // ---- Synapse admin API (server admins only) ----
  listUsers(requester: AdminRequester, q: UserListQuery): Promise<JsonObject>;
  getUser(requester: AdminRequester, userId: string): Promise<JsonObject>;
  /** PUT /_synapse/admin/v2/users/{userId}: `created` answers 201. */
  putUser(requester: AdminRequester, userId: string, body: unknown): Promise<{ created: boolean; user: JsonObject }>;
  deactivate(requester: AdminRequester, userId: string, body: unknown): Promise<{ id_server_unbind_result: string }>;
  resetPassword(requester: AdminRequester, userId: string, body: unknown): Promise<JsonObject>;
  userJoinedRooms(requester: AdminRequester, userId: string): Promise<{ joined_rooms: string[]; total: number }>;
  userMedia(requester: AdminRequester, userId: string, q: MediaListQuery): Promise<JsonObject>;
  listRooms(requester: AdminRequester, q: RoomListQuery): Promise<JsonObject>;
  roomDetails(requester: AdminRequester, roomId: string): Promise<JsonObject>;
  roomMembers(requester: AdminRequester, roomId: string): Promise<{ members: string[]; total: number }>;
}

const USER_TYPES = new Set(['bot', 'support']);
const MAX_DISPLAYNAME_LENGTH = 256;

function requireAdmin(requester: AdminRequester): void {
  if (!requester.isAdmin) throw new MatrixError('M_FORBIDDEN', 'You are not a server admin', 403);
}

function bodyObject(body: unknown, emptyAllowed: boolean): JsonObject {
  if (body === undefined) {
    if (emptyAllowed) return {};
    throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  }
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
  return body;
}

function optionalBool(body: JsonObject, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new MatrixError('M_INVALID_PARAM', `'${key}' parameter is not of type boolean`);
  return v;
}

/** The user details of GET /_synapse/admin/v2/users/{userId} (Synapse's field names; times in ms). */
function userDetails(u: AdminUserRow): JsonObject {
  return {
    name: u.userId,
    displayname: u.displayName,
    avatar_url: u.avatarUrl,
    threepids: [],
    external_ids: [],
    is_guest: u.isGuest,
    admin: u.isAdmin,
    deactivated: u.deactivated,
    erased: u.erased,
    shadow_banned: false,
    locked: u.locked,
    suspended: u.suspended,
    creation_ts: u.createdTs,
    last_seen_ts: u.lastSeenTs,
    appservice_id: null,
    consent_server_notice_sent: null,
    consent_version: null,
    consent_ts: null,
    user_type: u.userType,
  };
}

/** One user of GET /_synapse/admin/v2/users. */
function userListEntry(u: AdminUserRow): JsonObject {
  return {
    name: u.userId,
    is_guest: u.isGuest,
    admin: u.isAdmin,
    user_type: u.userType,
    deactivated: u.deactivated,
    erased: u.erased,
    shadow_banned: false,
    displayname: u.displayName,
    avatar_url: u.avatarUrl,
    creation_ts: u.createdTs,
    last_seen_ts: u.lastSeenTs,
    locked: u.locked,
  };
}

/** One room of GET /_synapse/admin/v1/rooms. */
function roomListEntry(r: AdminRoomRow): JsonObject {
  return {
    room_id: r.roomId,
    name: r.name,
    canonical_alias: r.canonicalAlias,
    joined_members: r.joinedMembers,
    joined_local_members: r.joinedLocalMembers,
    version: r.version,
    creator: r.creator,
    encryption: r.encryption,
    federatable: r.federatable,
    public: r.public,
    join_rules: r.joinRules,
    guest_access: r.guestAccess,
    history_visibility: r.historyVisibility,
    state_events: r.stateEvents,
    room_type: r.roomType,
  };
}

/**
 * Builds the service and loads the account flags the gate checks (so a lock set before a restart
 * holds from the first request on). Registers a users hook: removed devices drop their addresses.
 */
export async function createAdminService(deps: AdminServiceDeps): Promise<AdminService> {
  const clock = deps.clock ?? Date.now;
  const users = deps.users;
  const store = new AdminStore(deps.db, deps.serverName);
  const hashParams = deps.passwordHashParams ?? DEFAULT_PASSWORD_HASH_PARAMS;
  const gate = new AccountGate({
    store,
    clock,
    eventSender: async (eventId) => (await deps.store.getEvent(eventId))?.event.sender,
    onError: (err) => deps.logger?.error({ err }, 'recording a client address failed'),
  });
  await gate.load();
  const lookups = createRoomLookups({
    store: deps.store,
    admin: store,
    serverName: deps.serverName,
    ...(deps.resolveAlias ? { resolveAlias: deps.resolveAlias } : {}),
    ...(deps.remote ? { remote: deps.remote } : {}),
    ...(deps.mutualRoomsPageSize !== undefined ? { mutualRoomsPageSize: deps.mutualRoomsPageSize } : {}),
  });
  // Whois lists the devices a user has: forget the addresses of removed devices with them.
  users.hooks.devicesRemoved.push(async (userId, deviceIds) => {
    const u = await users.store.getUser(userId);
    if (u) await store.deleteClientIps(u.nid, deviceIds);
  });

  const isLocal = (userId: string) => parseUserId(userId)?.serverName === deps.serverName;

  function requireUserId(userId: string): void {
    if (parseUserId(userId) === null) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
  }

  function requireLocalUserId(userId: string, message: string): void {
    requireUserId(userId);
    if (!isLocal(userId)) throw new MatrixError('M_INVALID_PARAM', message, 400);
  }

  async function requireUser(userId: string): Promise<UserRow> {
    const u = await users.store.getUser(userId);
    if (!u) throw new MatrixError('M_NOT_FOUND', 'User not found', 404);
    return u;
  }

  async function details(userId: string): Promise<JsonObject> {
    const u = await store.user(userId);
    if (!u) throw new MatrixError('M_NOT_FOUND', 'User not found', 404);
    return userDetails(u);
  }

  async function runHooks<A extends unknown[]>(name: string, listeners: ((...args: A) => void | Promise<void>)[], ...args: A): Promise<void> {
    for (const fn of listeners) {
      try {
        await fn(...args);
      } catch (err) {
        deps.logger?.error({ err, hook: name }, 'users hook failed after an admin action');
      }
    }
  }

  /** Every device of the user goes (tokens with them, through the users service so its caches forget them). */
  async function logoutAllDevices(u: UserRow): Promise<void> {
    const devices = await users.store.listDevices(u.nid);
    if (devices.length > 0) await users.removeDevices(u.userId, devices.map((d) => d.deviceId));
  }

  /**
   * Deactivation by an admin, as POST /account/deactivate does it for the user: devices and tokens
   * go, the password and profile are wiped (account data too with `erase`), then the user leaves
   * every room (the users hooks). The gate refuses the user's tokens from the first step on.
   */
  async function deactivateUser(u: UserRow, erase: boolean): Promise<void> {
    gate.markDeactivated(u.nid, true);
    await logoutAllDevices(u);
    await users.store.deactivateUser(u.nid, erase);
    if (erase) await store.setAccountFlag(u.nid, 'erased', true, clock());
    await runHooks('profileChanged', users.hooks.profileChanged, u.userId, { displayname: undefined, avatar_url: undefined });
    await runHooks('userDeactivated', users.hooks.userDeactivated, u.userId);
  }

  /** A profile change made for the user (member events follow, through the users service's hooks). */
  async function setProfile(u: UserRow, field: 'displayname' | 'avatar_url', value: string): Promise<void> {
    const asUser: Requester = { userId: u.userId, userNid: u.nid, deviceId: '', isGuest: false, isAdmin: false, accessTokenId: 0 };
    await users.setProfileField(asUser, u.userId, field, { [field]: value });
  }

  function checkPassword(v: unknown): string | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || v.length > MAX_PASSWORD_LENGTH || v.includes('\0')) throw new MatrixError('M_INVALID_PARAM', 'Invalid password');
    return v;
  }

  return {
    gate,
    store,
    lookups,

    async whois(requester, userId) {
      requireUserId(userId);
      if (userId !== requester.userId) requireAdmin(requester);
      if (!isLocal(userId)) throw new MatrixError('M_INVALID_PARAM', 'Can only whois a local user', 400);
      const u = await users.store.getUser(userId);
      const devices: JsonObject = {};
      if (u) {
        // One session per device (its access token is replaced on refresh, the device stays), with a
        // connection per address and user agent it was used from; devices never used since their
        // login show the address they logged in from.
        const ips = await store.clientIps(u.nid);
        const byDevice = new Map<string, JsonObject[]>();
        for (const r of ips) {
          let list = byDevice.get(r.deviceId);
          if (!list) byDevice.set(r.deviceId, (list = []));
          list.push({ ip: r.ip, last_seen: r.lastSeen, user_agent: r.userAgent });
        }
        for (const d of await users.store.listDevices(u.nid)) {
          let connections = byDevice.get(d.deviceId);
          if (!connections) connections = d.lastSeenIp !== null ? [{ ip: d.lastSeenIp, last_seen: d.lastSeenTs ?? 0 }] : [];
          devices[d.deviceId] = { sessions: [{ connections }] };
        }
      }
      return { user_id: userId, devices };
    },

    async getModeration(requester, userId, flag) {
      // Spec: authorisation before any account lookup.
      requireAdmin(requester);
      requireLocalUserId(userId, 'User does not belong to the local server.');
      const u = await users.store.getUser(userId);
      if (!u || u.deactivated) throw new MatrixError('M_NOT_FOUND', 'User not found.', 404);
      if (u.isAdmin && u.userId !== requester.userId) throw new MatrixError('M_FORBIDDEN', 'The target user is a server administrator.', 403);
      return { [flag]: flag === 'suspended' ? gate.isSuspended(u.nid) : gate.isLocked(u.nid) };
    },

    async setModeration(requester, userId, flag, rawBody) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'User does not belong to the local server.');
      const body = bodyObject(rawBody, false);
      const value = body[flag];
      if (value === undefined) throw new MatrixError('M_MISSING_PARAM', `Missing parameter: ${flag}`);
      if (typeof value !== 'boolean') throw new MatrixError('M_BAD_JSON', `'${flag}' must be a boolean`);
      const u = await users.store.getUser(userId);
      if (!u || u.deactivated) throw new MatrixError('M_NOT_FOUND', 'User not found.', 404);
      if (u.userId === requester.userId) {
        throw new MatrixError('M_FORBIDDEN', flag === 'suspended' ? 'You cannot suspend your own account.' : 'You cannot lock your own account.', 403);
      }
      if (u.isAdmin) throw new MatrixError('M_FORBIDDEN', 'The target user is a server administrator.', 403);
      if (flag === 'suspended') await gate.setSuspended(u.nid, value);
      else await gate.setLocked(u.nid, value);
      return { [flag]: value };
    },

    async listUsers(requester, q) {
      requireAdmin(requester);
      checkSearchLength('name', q.name);
      checkSearchLength('user_id', q.userId);
      const { users: rows, total } = await store.listUsers(q);
      const out: JsonObject = { users: rows.map(userListEntry), total };
      // Synapse: an integer in a string, present while more users follow.
      if (q.from + q.limit < total) out.next_token = String(q.from + rows.length);
      return out;
    },

    async getUser(requester, userId) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'Can only look up local users');
      return details(userId);
    },

    async putUser(requester, userId, rawBody) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'This endpoint can only be used with local users');
      const body = bodyObject(rawBody, false);
      const password = checkPassword(body.password);
      const logoutDevices = optionalBool(body, 'logout_devices') ?? true;
      const admin = optionalBool(body, 'admin');
      const deactivated = optionalBool(body, 'deactivated');
      const locked = optionalBool(body, 'locked');
      const displayname = body.displayname;
      if (displayname !== undefined && (typeof displayname !== 'string' || displayname.length > MAX_DISPLAYNAME_LENGTH)) {
        throw new MatrixError('M_INVALID_PARAM', `Invalid displayname (a string of at most ${MAX_DISPLAYNAME_LENGTH} characters)`);
      }
      const avatarUrl = body.avatar_url;
      if (avatarUrl !== undefined && (typeof avatarUrl !== 'string' || (avatarUrl !== '' && !avatarUrl.startsWith('mxc://')))) {
        throw new MatrixError('M_INVALID_PARAM', 'avatar_url must be an mxc:// URI');
      }
      const hasUserType = 'user_type' in body;
      const userType = body.user_type ?? null;
      if (userType !== null && (typeof userType !== 'string' || !USER_TYPES.has(userType))) throw new MatrixError('M_INVALID_PARAM', 'Invalid user type');
      for (const key of ['threepids', 'external_ids'] as const) {
        const v = body[key];
        if (v === undefined) continue;
        if (!Array.isArray(v)) throw new MatrixError('M_INVALID_PARAM', `'${key}' must be a list`);
        // No email/SMS and no SSO here: there is nothing such an entry could be bound to.
        if (v.length > 0) throw new MatrixError('M_INVALID_PARAM', `'${key}' are not supported on this server`);
      }

      const existing = await users.store.getUser(userId);
      let u: UserRow;
      let created = false;
      if (existing) {
        u = existing;
        if (admin === false && userId === requester.userId) throw new MatrixError('M_UNKNOWN', 'You may not demote yourself.', 400);
        if (deactivated === false && u.deactivated && password === undefined) {
          throw new MatrixError('M_UNKNOWN', 'Must provide a password to re-activate an account.', 400);
        }
        if (password !== undefined) {
          await users.store.setPasswordHash(u.nid, await hashPassword(password, hashParams));
          if (logoutDevices) await logoutAllDevices(u);
        }
        if (deactivated === false && u.deactivated) {
          await store.reactivateUser(u.nid);
          gate.markDeactivated(u.nid, false);
        }
      } else {
        const localpart = parseUserId(userId)!.localpart;
        await users.createAccount({
          localpart,
          password: password ?? null,
          admin: admin ?? false,
          userType: userType as string | null,
          ...(typeof displayname === 'string' && displayname !== '' ? { displayName: displayname } : {}),
        });
        u = await requireUser(userId);
        created = true;
      }
      if (existing && typeof displayname === 'string') {
        const current = (await users.getMemberProfile(userId)).displayname ?? '';
        if (displayname !== current) await setProfile(u, 'displayname', displayname);
      }
      if (typeof avatarUrl === 'string') {
        const current = (await users.getMemberProfile(userId)).avatar_url ?? '';
        if (avatarUrl !== current) await setProfile(u, 'avatar_url', avatarUrl);
      }
      if (existing && admin !== undefined && admin !== u.isAdmin) await users.setAdmin(userId, admin);
      if (existing && hasUserType) await store.setUserType(u.nid, userType as string | null);
      if (locked !== undefined) await gate.setLocked(u.nid, locked);
      if (deactivated === true && !u.deactivated) await deactivateUser(u, false);
      return { created, user: await details(userId) };
    },

    async deactivate(requester, userId, rawBody) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'Can only deactivate local users');
      const body = bodyObject(rawBody, true);
      const erase = body.erase ?? false;
      if (typeof erase !== 'boolean') throw new MatrixError('M_BAD_JSON', "Param 'erase' must be a boolean, if given");
      const u = await requireUser(userId);
      if (!u.deactivated) await deactivateUser(u, erase);
      else if (erase) {
        // Already deactivated: erasing still removes what deactivation keeps.
        await users.store.deactivateUser(u.nid, true);
        await store.setAccountFlag(u.nid, 'erased', true, clock());
      }
      // Nothing is ever bound to an identity server here: nothing failed to unbind.
      return { id_server_unbind_result: 'success' };
    },

    async resetPassword(requester, userId, rawBody) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'Can only reset the password of local users');
      const body = bodyObject(rawBody, false);
      if (body.new_password === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing params: new_password');
      const password = checkPassword(body.new_password)!;
      const logoutDevices = optionalBool(body, 'logout_devices') ?? true;
      const u = await requireUser(userId);
      await users.store.setPasswordHash(u.nid, await hashPassword(password, hashParams));
      if (logoutDevices) await logoutAllDevices(u);
      return {};
    },

    async userJoinedRooms(requester, userId) {
      requireAdmin(requester);
      requireUserId(userId);
      const rooms = await deps.store.getRoomsForUser(userId, 'join');
      return { joined_rooms: rooms, total: rooms.length };
    },

    async userMedia(requester, userId, q) {
      requireAdmin(requester);
      requireLocalUserId(userId, 'Can only look up local users');
      await requireUser(userId);
      const { media, total } = await store.userMedia(userId, q);
      const out: JsonObject = {
        media: media.map((m) => ({
          media_id: m.mediaId,
          media_type: m.mediaType,
          media_length: m.mediaLength,
          upload_name: m.uploadName,
          created_ts: m.createdTs,
          // Not tracked here; quarantine does not exist here.
          last_access_ts: null,
          quarantined_by: null,
          safe_from_quarantine: false,
        })),
        total,
      };
      if (q.from + q.limit < total) out.next_token = q.from + media.length;
      return out;
    },

    async listRooms(requester, q) {
      requireAdmin(requester);
      checkSearchLength('search_term', q.searchTerm);
      const { rooms, total } = await store.listRooms(q);
      const out: JsonObject = { rooms: rooms.map(roomListEntry), offset: q.from, total_rooms: total };
      if (q.from + q.limit < total) out.next_batch = q.from + q.limit;
      if (q.from > 0) out.prev_batch = Math.max(q.from - q.limit, 0);
      return out;
    },

    async roomDetails(requester, roomId) {
      requireAdmin(requester);
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID', 400);
      const r = await store.room(roomId);
      if (!r) throw new MatrixError('M_NOT_FOUND', 'Room not found', 404);
      return {
        ...roomListEntry(r),
        topic: r.topic,
        avatar: r.avatarUrl,
        joined_local_devices: await store.joinedLocalDevices(r.roomNid),
        forgotten: await store.forgottenByAllLocalUsers(r.roomNid),
      };
    },

    async roomMembers(requester, roomId) {
      requireAdmin(requester);
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID', 400);
      if (!(await store.room(roomId))) throw new MatrixError('M_NOT_FOUND', 'Room not found', 404);
      const members = (await deps.store.getRoomMembers(roomId, 'join')).map((m) => m.userId);
      return { members, total: members.length };
    },
  };
}

/**
 * The searches become SQLite LIKE patterns, which fail past 50,000 bytes; no user ID, display name
 * or room name comes near this bound.
 */
const MAX_SEARCH_CHARS = 10_000;

function checkSearchLength(param: string, value: string | undefined): void {
  if (value !== undefined && value.length > MAX_SEARCH_CHARS) {
    throw new MatrixError('M_INVALID_PARAM', `${param} is longer than ${MAX_SEARCH_CHARS} characters`, 400);
  }
}
