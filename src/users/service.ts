// The users service: accounts, login sessions and tokens, devices, UIA, profiles, account data,
// room tags and filters. HTTP routes call one function each; rules and checks live here.
import { createLru } from '../core/lru.js';
import { MatrixError } from '../errors.js';
import { canonicalJson } from '../core/json/canonical.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { fitsIdLength, isValidLocalpartForRegistration, isValidRoomId, parseUserId } from '../core/ids.js';
import { DEFAULT_ROOM_VERSION, supportedRoomVersions } from '../core/events/room-versions.js';
import type { Database } from '../store/db.js';
import { createUsersStore, type AccessTokenRow, type AccountDataChange, type DeviceRow, type RemovedDevices, type UsersStore } from './store.js';
import {
  DEFAULT_PASSWORD_HASH_PARAMS,
  MAX_PASSWORD_LENGTH,
  dummyPasswordHash,
  hashPassword,
  verifyPassword,
  type PasswordHashParams,
} from './passwords.js';
import { generateAccessToken, generateDeviceId, generateRefreshToken, hashToken } from './tokens.js';
import { createUiaManager, STAGE_DUMMY, STAGE_PASSWORD, type StageChecker, type UiaFlow, type UiaManager, type UiaOutcome } from './uia.js';
import { validateFilter } from './filters.js';
import { computeRegistrationMac, createNonceStore, macMatches, type NonceStore } from './shared-secret.js';

/** Who made an authenticated request. */
export interface Requester {
  userId: string;
  /** Internal integer id of the user (for joins in other stores). */
  userNid: number;
  deviceId: string;
  isGuest: boolean;
  isAdmin: boolean;
  accessTokenId: number;
}

export interface UsersServiceOptions {
  db: Database;
  serverName: string;
  /** Synapse `enable_registration` (default false). */
  enableRegistration?: boolean;
  /** Synapse `allow_guest_access` (default false). */
  allowGuestAccess?: boolean;
  /** Synapse `registration_shared_secret`; the admin registration API is off without it. */
  registrationSharedSecret?: string | undefined;
  /** Advertised in m.room_versions (default "12"). */
  defaultRoomVersion?: string;
  /** When set, login answers carry `well_known` pointing here. */
  publicBaseUrl?: string | undefined;
  /** Lifetime of access tokens issued to clients that asked for a refresh token (default 5 min, as Synapse). */
  refreshableAccessTokenLifetimeMs?: number;
  clock?: () => number;
  passwordHashParams?: PasswordHashParams;
  /** Entries in the in-memory access-token cache (default 10,000). */
  tokenCacheSize?: number;
}

/** Minimal view of the loaded config that `usersOptionsFromConfig` reads. */
export interface UsersConfigView {
  server_name: string;
  enable_registration: boolean;
  allow_guest_access: boolean;
  registration_shared_secret?: string | undefined;
  default_room_version: string;
  public_baseurl?: string | undefined;
}

export function usersOptionsFromConfig(db: Database, config: UsersConfigView, clock?: () => number): UsersServiceOptions {
  return {
    db,
    serverName: config.server_name,
    enableRegistration: config.enable_registration,
    allowGuestAccess: config.allow_guest_access,
    registrationSharedSecret: config.registration_shared_secret,
    defaultRoomVersion: config.default_room_version,
    publicBaseUrl: config.public_baseurl,
    ...(clock ? { clock } : {}),
  };
}

/** The body of a successful login or registration (spec POST /login, POST /register). */
export interface SessionResult {
  user_id: string;
  access_token?: string;
  device_id?: string;
  refresh_token?: string;
  expires_in_ms?: number;
  home_server: string;
  well_known?: JsonObject;
}

/** Either the operation's result, or the body of the UIA 401 answer. */
export type UiaResult<T> = { uia: JsonObject } | { result: T };

type Listener<A extends unknown[]> = (...args: A) => void | Promise<void>;

/**
 * Places where other parts of the server plug in. Listeners run after the change is committed;
 * a failing listener is logged by the caller's logger (passed to `createUsersService`) and does not
 * undo the change.
 */
export interface UsersHooks {
  /**
   * displayname or avatar_url of a local user changed (value undefined = removed). The rooms writer
   * registers here to send updated m.room.member events to every joined room (spec "Events on
   * Change of Profile Information").
   */
  profileChanged: Listener<[userId: string, change: { displayname?: string | undefined; avatar_url?: string | undefined }]>[];
  /** Devices were removed (logout, deletion, deactivation): e2ee drops their keys, device lists change. */
  devicesRemoved: Listener<[userId: string, deviceIds: string[]]>[];
  /**
   * Devices were created (login, registration, `createDevice`) or renamed: the user's device list
   * changed for everyone sharing a room with them (e2ee records it on the device-list stream).
   */
  devicesChanged: Listener<[userId: string, deviceIds: string[]]>[];
  /** A user was deactivated: the rooms writer makes them leave every room. */
  userDeactivated: Listener<[userId: string]>[];
  /** Account data (including tags) changed at `streamId`: sync wakes the user's waiting requests. */
  accountDataChanged: Listener<[userId: string, streamId: number]>[];
}

export interface RegisterRequest {
  kind: 'user' | 'guest';
  /** The JSON body (already parsed; undefined when empty). */
  body: unknown;
  /** The client's address, recorded as the new device's first last-seen entry. */
  ip?: string | null;
}

export interface UsersService {
  readonly serverName: string;
  readonly hooks: UsersHooks;
  readonly store: UsersStore;
  readonly uia: UiaManager;
  readonly allowGuestAccess: boolean;
  isLocalUserId(userId: string): boolean;

  /** Resolves an access token; throws 401 M_UNKNOWN_TOKEN (soft_logout true when expired). */
  authenticate(accessToken: string, ip?: string | null): Promise<Requester>;

  /** GET /register/available. */
  checkUsernameAvailable(username: unknown): Promise<void>;
  /** POST /register (user and guest kinds, guest upgrade), with UIA for user accounts. */
  register(req: RegisterRequest): Promise<UiaResult<SessionResult>>;
  /** GET /login */
  loginFlows(): { flows: { type: string }[] };
  /** POST /login (`ip`: the client's address, for the device's last-seen entry). */
  login(body: unknown, ip?: string | null): Promise<SessionResult>;
  /** POST /refresh */
  refresh(body: unknown): Promise<{ access_token: string; refresh_token: string; expires_in_ms: number }>;
  logout(requester: Requester): Promise<void>;
  logoutAll(requester: Requester): Promise<void>;
  whoami(requester: Requester): { user_id: string; device_id: string; is_guest: boolean };
  /**
   * UIA with the m.login.password stage for another endpoint (e.g. cross-signing key upload).
   * `operation` names the endpoint without its version prefix (`POST /keys/device_signing/upload`),
   * so a session started under /unstable or /r0 completes under /v3; `fingerprint` binds the
   * session to the request's parameters. On `{done: false}` answer 401 with `body` as is.
   */
  requirePasswordAuth(requester: Requester | undefined, body: unknown, operation: string, fingerprint?: string): Promise<UiaOutcome>;
  /** POST /account/password (UIA m.login.password). */
  changePassword(requester: Requester | undefined, body: unknown, operation: string): Promise<UiaResult<Record<string, never>>>;
  /** POST /account/deactivate (UIA m.login.password). */
  deactivateAccount(requester: Requester | undefined, body: unknown, operation: string): Promise<UiaResult<{ id_server_unbind_result: string }>>;

  listDevices(requester: Requester): Promise<{ devices: JsonObject[] }>;
  getDevice(requester: Requester, deviceId: string): Promise<JsonObject>;
  updateDevice(requester: Requester, deviceId: string, body: unknown): Promise<void>;
  /**
   * Server-side device creation without an access token (dehydrated devices, MSC3814); false when
   * the user already has a device with that ID.
   */
  createDevice(userId: string, deviceId: string, displayName: string | null): Promise<boolean>;
  /** Server-side removal of devices, without UIA (dehydrated devices, admin tools); hooks run as usual. */
  removeDevices(userId: string, deviceIds: string[]): Promise<void>;
  /** DELETE /devices/{id} and POST /delete_devices (UIA m.login.password). */
  deleteDevices(requester: Requester, deviceIds: string[] | undefined, body: unknown, operation: string): Promise<UiaResult<Record<string, never>>>;

  capabilities(requester: Requester): { capabilities: JsonObject };

  getProfile(userId: string): Promise<JsonObject>;
  getProfileField(userId: string, field: string): Promise<JsonObject>;
  setProfileField(requester: Requester, userId: string, field: string, body: unknown): Promise<void>;
  deleteProfileField(requester: Requester, userId: string, field: string): Promise<void>;
  /** displayname/avatar_url of a local user, for member events built by rooms/ (empty for unknown users). */
  getMemberProfile(userId: string): Promise<{ displayname?: string; avatar_url?: string }>;

  getAccountData(requester: Requester, userId: string, roomId: string | null, type: string): Promise<JsonObject>;
  setAccountData(requester: Requester, userId: string, roomId: string | null, type: string, body: unknown): Promise<void>;
  getRoomTags(requester: Requester, userId: string, roomId: string): Promise<{ tags: JsonObject }>;
  setRoomTag(requester: Requester, userId: string, roomId: string, tag: string, body: unknown): Promise<void>;
  deleteRoomTag(requester: Requester, userId: string, roomId: string, tag: string): Promise<void>;
  /** The account-data stream's current position (for sync tokens). */
  accountDataPosition(): number;
  /** Account data of `userId` changed after `since` up to `upTo` (defaults to the current position). */
  accountDataSince(userId: string, since: number, upTo?: number): Promise<AccountDataChange[]>;

  createFilter(requester: Requester, userId: string, body: unknown): Promise<{ filter_id: string }>;
  getFilter(requester: Requester, userId: string, filterId: string): Promise<JsonObject>;
  /** A stored filter for sync (undefined when unknown). */
  loadFilter(userId: string, filterId: string): Promise<JsonObject | undefined>;

  /** GET /_synapse/admin/v1/register */
  issueRegistrationNonce(): { nonce: string };
  /** POST /_synapse/admin/v1/register */
  registerWithSharedSecret(body: unknown): Promise<SessionResult>;
  /** Server-side account creation (admin tools, tests). */
  createAccount(opts: { localpart: string; password: string | null; admin?: boolean; userType?: string | null; displayName?: string | null }): Promise<string>;
  setAdmin(userId: string, isAdmin: boolean): Promise<void>;
}

// Synapse's limits.
const MAX_DISPLAYNAME_LENGTH = 256;
const MAX_AVATAR_URL_LENGTH = 1000;
const MAX_DEVICE_DISPLAY_NAME_LENGTH = 100;
/** Spec: "the total profile MUST be under 64 KiB"; profile keys at most 255 bytes. */
const MAX_PROFILE_BYTES = 64 * 1024;
const MAX_PROFILE_KEY_BYTES = 255;
const PROFILE_KEY_RE = /^(avatar_url|displayname|m\.tz|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+)$/;
/** Account data types only the server may write (spec "Client Config", Server Behaviour). */
const SERVER_MANAGED_ACCOUNT_DATA = new Set(['m.fully_read', 'm.push_rules']);
const USER_TYPES = new Set(['support', 'bot']);
const DEVICE_LAST_SEEN_WRITE_INTERVAL_MS = 60_000;
const TAG_TYPE = 'm.tag';

const PASSWORD_FLOWS: UiaFlow[] = [{ stages: [STAGE_PASSWORD] }];
const REGISTRATION_FLOWS: UiaFlow[] = [{ stages: [STAGE_DUMMY] }];

interface CachedToken {
  row: AccessTokenRow;
  lastSeenWriteTs: number;
  lastSeenIp: string | null;
}

function badJson(message: string): MatrixError {
  return new MatrixError('M_BAD_JSON', message);
}

/**
 * The request body as an object. An empty body is M_NOT_JSON where the endpoint needs one (as
 * Synapse answers), and counts as `{}` where clients are known to send none (DELETE /devices/{id}).
 */
function bodyObject(body: unknown, emptyAllowed = false): JsonObject {
  if (body === undefined) {
    if (emptyAllowed) return {};
    throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  }
  if (!isJsonObject(body)) throw badJson('Content must be a JSON object.');
  return body;
}

function optionalString(obj: JsonObject, key: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badJson(`"${key}" must be a string`);
  return v;
}

function optionalBoolean(obj: JsonObject, key: string): boolean | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badJson(`"${key}" must be a boolean`);
  return v;
}

function checkPasswordValue(password: string, key = 'password'): void {
  if (password.length > MAX_PASSWORD_LENGTH) throw new MatrixError('M_INVALID_PARAM', `"${key}" is too long (max ${MAX_PASSWORD_LENGTH})`);
  if (password.includes('\0')) throw new MatrixError('M_INVALID_PARAM', `"${key}" must not contain NUL`);
}

function checkDeviceId(deviceId: string | undefined): void {
  if (deviceId === undefined) return;
  if (deviceId.length === 0 || !fitsIdLength(deviceId) || /[\u0000-\u001f]/.test(deviceId)) {
    throw new MatrixError('M_INVALID_PARAM', 'Invalid device_id');
  }
}

function checkDeviceDisplayName(name: string | undefined): void {
  if (name !== undefined && name.length > MAX_DEVICE_DISPLAY_NAME_LENGTH) {
    throw new MatrixError('M_INVALID_PARAM', `Device display name is too long (max ${MAX_DEVICE_DISPLAY_NAME_LENGTH})`);
  }
}

/**
 * A device as GET /devices shows it. Unknown values are null rather than absent, as Synapse sends
 * them: matrix-nio's response schema requires all four keys (null allowed).
 */
function deviceJson(d: DeviceRow): JsonObject {
  return { device_id: d.deviceId, display_name: d.displayName, last_seen_ip: d.lastSeenIp, last_seen_ts: d.lastSeenTs };
}

export interface CreateUsersServiceDeps extends UsersServiceOptions {
  /** Where listener failures are reported (defaults to console.error). */
  onHookError?: (hook: keyof UsersHooks, err: unknown) => void;
}

export function createUsersService(opts: CreateUsersServiceDeps): UsersService {
  const clock = opts.clock ?? Date.now;
  const serverName = opts.serverName;
  const store = createUsersStore(opts.db);
  const hashParams = opts.passwordHashParams ?? DEFAULT_PASSWORD_HASH_PARAMS;
  const refreshLifetime = opts.refreshableAccessTokenLifetimeMs ?? 5 * 60 * 1000;
  const allowGuestAccess = opts.allowGuestAccess ?? false;
  const uia = createUiaManager({ clock });
  const nonces: NonceStore = createNonceStore(clock);
  const tokenCache = createLru<string, CachedToken>(opts.tokenCacheSize ?? 10_000);
  const hooks: UsersHooks = { profileChanged: [], devicesRemoved: [], devicesChanged: [], userDeactivated: [], accountDataChanged: [] };
  const onHookError = opts.onHookError ?? ((hook, err) => console.error(`users hook ${hook} failed`, err));

  async function emit<K extends keyof UsersHooks>(name: K, ...args: Parameters<UsersHooks[K][number]>): Promise<void> {
    for (const fn of hooks[name] as Listener<typeof args>[]) {
      try {
        await fn(...args);
      } catch (e) {
        onHookError(name, e);
      }
    }
  }

  const cacheKey = (hash: Buffer) => hash.toString('base64');
  function forgetTokens(hashes: Buffer[]): void {
    for (const h of hashes) tokenCache.delete(cacheKey(h));
  }
  async function afterDevicesRemoved(userId: string, removed: RemovedDevices): Promise<void> {
    forgetTokens(removed.revokedTokenHashes);
    if (removed.deviceIds.length > 0) await emit('devicesRemoved', userId, removed.deviceIds);
  }

  const isLocalUserId = (userId: string) => parseUserId(userId)?.serverName === serverName;
  const userIdFor = (localpart: string) => `@${localpart}:${serverName}`;

  /** A local user who must exist and be active (for profile writes and similar). */
  async function requireLocalUser(userId: string) {
    if (parseUserId(userId) === null) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID');
    const u = isLocalUserId(userId) ? await store.getUser(userId) : undefined;
    if (!u) throw new MatrixError('M_NOT_FOUND', 'User not found', 404);
    return u;
  }

  /** Only the user themself may read or write their private data (account data, filters, tags). */
  function requireSelf(requester: Requester, userId: string, what: string): void {
    if (requester.userId !== userId) throw new MatrixError('M_FORBIDDEN', `Cannot ${what} for other users`, 403);
  }

  // --- registration -------------------------------------------------------------------------------

  /**
   * The localpart a client asked for, checked as Synapse checks it: lower-cased, the user ID
   * grammar, no leading `_` (reserved for bridges), not purely numeric (generated and guest IDs),
   * at most 255 bytes as a user ID.
   */
  function checkLocalpart(localpart: string, allowNumeric: boolean): void {
    if (localpart.length === 0) throw new MatrixError('M_INVALID_USERNAME', 'User ID cannot be empty');
    if (!isValidLocalpartForRegistration(localpart)) {
      throw new MatrixError('M_INVALID_USERNAME', "User ID can only contain characters a-z, 0-9, or '=_-./+'");
    }
    if (localpart.startsWith('_')) throw new MatrixError('M_INVALID_USERNAME', 'User ID may not begin with _');
    if (!allowNumeric && /^[0-9]+$/.test(localpart)) {
      throw new MatrixError('M_INVALID_USERNAME', 'Numeric user IDs are reserved for guest users.');
    }
    if (!fitsIdLength(userIdFor(localpart))) throw new MatrixError('M_INVALID_USERNAME', 'User ID is too long');
  }

  async function checkAvailable(localpart: string): Promise<void> {
    if ((await store.findUserIdsIgnoringCase(userIdFor(localpart))).length > 0) {
      throw new MatrixError('M_USER_IN_USE', 'User ID already taken.');
    }
  }

  async function generateLocalpart(): Promise<string> {
    for (;;) {
      const n = await store.nextGeneratedLocalpart();
      const lp = String(n);
      if ((await store.findUserIdsIgnoringCase(userIdFor(lp))).length === 0) return lp;
    }
  }

  interface SessionOptions {
    ip: string | null;
    deviceId: string | undefined;
    initialDeviceDisplayName: string | undefined;
    wantsRefreshToken: boolean;
  }

  /** Issues a device (unless it exists) and tokens for an authenticated user. */
  async function startSession(userNid: number, userId: string, s: SessionOptions): Promise<SessionResult> {
    const now = clock();
    const deviceId = s.deviceId ?? generateDeviceId();
    const accessToken = generateAccessToken();
    const refreshToken = s.wantsRefreshToken ? generateRefreshToken() : undefined;
    const expiresTs = refreshToken ? now + refreshLifetime : null;
    const { revokedTokenHashes, deviceCreated } = await store.startSession({
      userNid,
      deviceId,
      initialDisplayName: s.initialDeviceDisplayName ?? null,
      ip: s.ip,
      accessTokenHash: hashToken(accessToken),
      refreshTokenHash: refreshToken ? hashToken(refreshToken) : null,
      expiresTs,
      now,
    });
    forgetTokens(revokedTokenHashes);
    if (deviceCreated) await emit('devicesChanged', userId, [deviceId]);
    const out: SessionResult = { user_id: userId, access_token: accessToken, device_id: deviceId, home_server: serverName };
    if (refreshToken) {
      out.refresh_token = refreshToken;
      out.expires_in_ms = refreshLifetime;
    }
    if (opts.publicBaseUrl) out.well_known = { 'm.homeserver': { base_url: opts.publicBaseUrl } };
    return out;
  }

  function sessionOptions(body: JsonObject, ip: string | null): SessionOptions {
    const deviceId = optionalString(body, 'device_id');
    checkDeviceId(deviceId);
    const initialDeviceDisplayName = optionalString(body, 'initial_device_display_name');
    checkDeviceDisplayName(initialDeviceDisplayName);
    return { ip, deviceId, initialDeviceDisplayName, wantsRefreshToken: optionalBoolean(body, 'refresh_token') ?? false };
  }

  async function registerGuest(body: JsonObject, ip: string | null): Promise<SessionResult> {
    if (!allowGuestAccess) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access is disabled', 403);
    const session = sessionOptions(body, ip);
    for (;;) {
      const localpart = await generateLocalpart();
      const userId = userIdFor(localpart);
      const nid = await store.createUser({
        userId,
        passwordHash: null,
        isAdmin: false,
        isGuest: true,
        userType: null,
        displayName: null,
        now: clock(),
      });
      if (nid !== undefined) return startSession(nid, userId, session);
    }
  }

  /** Synapse's `register_new_matrix_user` and the spec's flows both end here. */
  async function createUserOrFail(localpart: string, passwordHash: string | null, admin: boolean, userType: string | null, displayName: string | null) {
    const userId = userIdFor(localpart);
    const nid = await store.createUser({ userId, passwordHash, isAdmin: admin, isGuest: false, userType, displayName, now: clock() });
    if (nid === undefined) throw new MatrixError('M_USER_IN_USE', 'User ID already taken.');
    return { nid, userId };
  }

  // --- UIA stage checks ---------------------------------------------------------------------------

  /** Resolves a login identifier (spec "Identifier types") to a local user ID, or undefined. */
  async function resolveLoginUser(container: JsonObject): Promise<string | undefined> {
    let user: string | undefined;
    const identifier = container.identifier;
    if (identifier !== undefined) {
      if (!isJsonObject(identifier)) throw badJson('"identifier" must be an object');
      const type = identifier.type;
      if (type === 'm.id.user') {
        if (typeof identifier.user !== 'string') throw badJson('"identifier.user" must be a string');
        user = identifier.user;
      } else if (type === 'm.id.thirdparty' || type === 'm.id.phone') {
        // No third-party identifiers are bound on this server (spec: unknown 3PID -> 403).
        return undefined;
      } else {
        throw new MatrixError('M_UNKNOWN', `Unknown login identifier type ${JSON.stringify(type)}`);
      }
    } else if (typeof container.user === 'string') {
      user = container.user; // deprecated top-level `user`
    } else if (container.medium !== undefined || container.address !== undefined) {
      return undefined;
    } else {
      throw new MatrixError('M_MISSING_PARAM', 'Missing "identifier"');
    }
    const userId = user.startsWith('@') ? user : userIdFor(user);
    if (!isLocalUserId(userId)) return undefined;
    if (await store.getUser(userId)) return userId;
    // Login ignores case, as Synapse does: "@Alice" finds "@alice" when that is the only match.
    const matches = await store.findUserIdsIgnoringCase(userId);
    return matches.length === 1 ? matches[0] : undefined;
  }

  /** m.login.password as a UIA stage: the identifier must be the requester and the password right. */
  function passwordStage(requester: Requester): StageChecker {
    return async (auth) => {
      const password = auth.password;
      if (typeof password !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing "password"', 401);
      const hasIdentifier = auth.identifier !== undefined || auth.user !== undefined;
      const userId = hasIdentifier ? await resolveLoginUser(auth) : requester.userId;
      const user = await store.getUser(requester.userId);
      if (userId !== requester.userId || !user?.passwordHash) {
        await verifyPassword(await dummyPasswordHash(hashParams), password);
        throw new MatrixError('M_FORBIDDEN', 'Invalid username or password', 401);
      }
      if (!(await verifyPassword(user.passwordHash, password))) {
        throw new MatrixError('M_FORBIDDEN', 'Invalid username or password', 401);
      }
    };
  }

  async function passwordUia(requester: Requester | undefined, body: JsonObject, operation: string, fingerprint?: string) {
    if (!requester) throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401);
    if (requester.isGuest) throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access is not allowed here', 403);
    return uia.check({
      operation,
      userId: requester.userId,
      flows: PASSWORD_FLOWS,
      auth: body.auth,
      ...(fingerprint !== undefined ? { fingerprint } : {}),
      checkers: { [STAGE_PASSWORD]: passwordStage(requester) },
    });
  }

  // --- profile ------------------------------------------------------------------------------------

  function profileObject(fields: Map<string, string>): JsonObject {
    const out: JsonObject = {};
    for (const [k, v] of fields) out[k] = JSON.parse(v) as JsonValue;
    return out;
  }

  function checkProfileKey(field: string): void {
    if (Buffer.byteLength(field, 'utf8') > MAX_PROFILE_KEY_BYTES) {
      throw new MatrixError('M_KEY_TOO_LARGE', `Profile key exceeds ${MAX_PROFILE_KEY_BYTES} bytes`);
    }
    if (!PROFILE_KEY_RE.test(field)) throw new MatrixError('M_INVALID_PARAM', 'Invalid profile key.');
  }

  /** Who may change `userId`'s profile field `field`: the user themself; guests only their displayname. */
  async function profileWriteTarget(requester: Requester, userId: string, field: string) {
    checkProfileKey(field);
    if (requester.userId !== userId) throw new MatrixError('M_FORBIDDEN', "Cannot change another user's profile", 403);
    if (requester.isGuest && field !== 'displayname') {
      throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guests may only change their display name', 403);
    }
    return requireLocalUser(userId);
  }

  // --- the service --------------------------------------------------------------------------------

  const service: UsersService = {
    serverName,
    hooks,
    store,
    uia,
    allowGuestAccess,
    isLocalUserId,

    async authenticate(accessToken, ip = null) {
      const hash = hashToken(accessToken);
      const key = cacheKey(hash);
      let cached = tokenCache.get(key);
      if (!cached) {
        const row = await store.getAccessToken(hash);
        if (!row) throw new MatrixError('M_UNKNOWN_TOKEN', 'Unknown access token', 401, { soft_logout: false });
        cached = { row, lastSeenWriteTs: row.lastSeenTs ?? 0, lastSeenIp: null };
        tokenCache.set(key, cached);
      }
      const now = clock();
      const row = cached.row;
      if (row.expiresTs !== null && row.expiresTs <= now) {
        // Spec "Refreshing access tokens": expired tokens answer M_UNKNOWN_TOKEN with soft_logout.
        throw new MatrixError('M_UNKNOWN_TOKEN', 'Access token has expired', 401, { soft_logout: true });
      }
      if (row.refreshTokenId !== null && !row.used) {
        await store.markAccessTokenUsed(row.tokenId, row.refreshTokenId);
        row.used = true;
      }
      if (now - cached.lastSeenWriteTs >= DEVICE_LAST_SEEN_WRITE_INTERVAL_MS || (ip !== null && ip !== cached.lastSeenIp)) {
        cached.lastSeenWriteTs = now;
        cached.lastSeenIp = ip;
        await store.touchDevice(row.deviceNid, ip, now);
      }
      return {
        userId: row.userId,
        userNid: row.userNid,
        deviceId: row.deviceId,
        isGuest: row.isGuest,
        isAdmin: row.isAdmin,
        accessTokenId: row.tokenId,
      };
    },

    async checkUsernameAvailable(username) {
      if (!opts.enableRegistration) throw new MatrixError('M_FORBIDDEN', 'Registration has been disabled', 403);
      if (typeof username !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing "username" query parameter');
      checkLocalpart(username, false);
      await checkAvailable(username);
    },

    async register({ kind, body: rawBody, ip = null }) {
      const body = bodyObject(rawBody, kind === 'guest');
      if (kind === 'guest') return { result: await registerGuest(body, ip) };
      if (!opts.enableRegistration) throw new MatrixError('M_FORBIDDEN', 'Registration has been disabled', 403);

      const session = sessionOptions(body, ip);
      const inhibitLogin = optionalBoolean(body, 'inhibit_login') ?? false;
      const password = optionalString(body, 'password');
      if (password !== undefined) checkPasswordValue(password);
      const guestToken = optionalString(body, 'guest_access_token');
      let username = optionalString(body, 'username')?.toLowerCase();

      // Spec: username errors are returned before UIA.
      let guest: Requester | undefined;
      if (guestToken !== undefined) {
        // Upgrading a guest (spec "Guest Access"): the username must be the guest's own localpart.
        guest = await service.authenticate(guestToken).catch(() => undefined);
        if (!guest?.isGuest) throw new MatrixError('M_FORBIDDEN', 'Invalid guest_access_token', 403);
        const guestLocalpart = parseUserId(guest.userId)!.localpart;
        username ??= guestLocalpart;
        if (username !== guestLocalpart) {
          throw new MatrixError('M_FORBIDDEN', 'Cannot register taken user ID without valid guest credentials for that user.', 403);
        }
      } else if (username !== undefined) {
        checkLocalpart(username, false);
        await checkAvailable(username);
      }

      const outcome = await uia.check({
        operation: 'POST /register',
        userId: null,
        flows: REGISTRATION_FLOWS,
        auth: body.auth,
        checkers: {},
      });
      // The password hash is remembered in the session (hashed once per session, as Synapse does),
      // so a follow-up request that omits the password still works.
      if (!outcome.done) {
        const pending = uia.get(String(outcome.body.session));
        if (password !== undefined && pending && pending.data.passwordHash === undefined) {
          pending.data.passwordHash = await hashPassword(password, hashParams);
        }
        return { uia: outcome.body };
      }
      const remembered = outcome.session.data.passwordHash;
      const passwordHash =
        password !== undefined ? await hashPassword(password, hashParams) : typeof remembered === 'string' ? remembered : undefined;
      if (passwordHash === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing params: password');

      let nid: number;
      let userId: string;
      if (guest) {
        nid = guest.userNid;
        userId = guest.userId;
        await store.upgradeGuest(nid, passwordHash);
        for (const [k, v] of tokenCache.entries()) if (v.row.userNid === nid) tokenCache.delete(k);
      } else {
        const localpart = username ?? (await generateLocalpart());
        // New accounts start with their localpart as display name, as Synapse does.
        ({ nid, userId } = await createUserOrFail(localpart, passwordHash, false, null, localpart));
      }
      if (inhibitLogin) return { result: { user_id: userId, home_server: serverName } };
      return { result: await startSession(nid, userId, session) };
    },

    loginFlows() {
      return { flows: [{ type: 'm.login.password' }] };
    },

    async login(rawBody, ip = null) {
      const body = bodyObject(rawBody);
      const type = body.type;
      if (type === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "type"');
      if (type !== 'm.login.password') throw new MatrixError('M_UNKNOWN', `Unknown login type ${JSON.stringify(type)}`);
      const password = body.password;
      if (password === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "password"');
      if (typeof password !== 'string') throw badJson('"password" must be a string');
      const session = sessionOptions(body, ip);

      const userId = await resolveLoginUser(body);
      const user = userId ? await store.getUser(userId) : undefined;
      if (user?.deactivated) throw new MatrixError('M_USER_DEACTIVATED', 'This account has been deactivated', 403);
      if (!user?.passwordHash || password.length > MAX_PASSWORD_LENGTH) {
        // Same work as a real check, so response time does not tell which accounts exist.
        await verifyPassword(await dummyPasswordHash(hashParams), password);
        throw new MatrixError('M_FORBIDDEN', 'Invalid username or password', 403);
      }
      if (!(await verifyPassword(user.passwordHash, password))) {
        throw new MatrixError('M_FORBIDDEN', 'Invalid username or password', 403);
      }
      return startSession(user.nid, user.userId, session);
    },

    async refresh(rawBody) {
      const body = bodyObject(rawBody);
      const token = body.refresh_token;
      if (token === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "refresh_token"');
      if (typeof token !== 'string') throw badJson('"refresh_token" must be a string');
      const now = clock();
      const accessToken = generateAccessToken();
      const refreshToken = generateRefreshToken();
      const out = await store.refreshSession(hashToken(token), hashToken(refreshToken), hashToken(accessToken), now + refreshLifetime, now);
      if (!out) throw new MatrixError('M_UNKNOWN_TOKEN', 'Invalid refresh token', 401, { soft_logout: false });
      forgetTokens(out.revokedTokenHashes);
      return { access_token: accessToken, refresh_token: refreshToken, expires_in_ms: refreshLifetime };
    },

    async logout(requester) {
      // Spec POST /logout: the device goes with the token.
      const removed = await store.deleteDevices(requester.userNid, { deviceIds: [requester.deviceId] });
      await afterDevicesRemoved(requester.userId, removed);
    },

    async logoutAll(requester) {
      const removed = await store.deleteDevices(requester.userNid, { allExcept: null });
      await afterDevicesRemoved(requester.userId, removed);
    },

    whoami(requester) {
      return { user_id: requester.userId, device_id: requester.deviceId, is_guest: requester.isGuest };
    },

    async requirePasswordAuth(requester, rawBody, operation, fingerprint) {
      return passwordUia(requester, bodyObject(rawBody, true), operation, fingerprint);
    },

    async changePassword(requester, rawBody, operation) {
      const body = bodyObject(rawBody);
      const newPassword = body.new_password;
      if (newPassword === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "new_password"');
      if (typeof newPassword !== 'string') throw badJson('"new_password" must be a string');
      checkPasswordValue(newPassword, 'new_password');
      const logoutDevices = optionalBoolean(body, 'logout_devices') ?? true;
      const outcome = await passwordUia(requester, body, operation);
      if (!outcome.done) return { uia: outcome.body };
      const r = requester!;
      await store.setPasswordHash(r.userNid, await hashPassword(newPassword, hashParams));
      if (logoutDevices) {
        // "The homeserver SHOULD NOT revoke the access token provided in the request."
        const removed = await store.deleteDevices(r.userNid, { allExcept: r.deviceId });
        await afterDevicesRemoved(r.userId, removed);
      }
      return { result: {} };
    },

    async deactivateAccount(requester, rawBody, operation) {
      const body = bodyObject(rawBody, true);
      const erase = optionalBoolean(body, 'erase') ?? false;
      optionalString(body, 'id_server');
      const outcome = await passwordUia(requester, body, operation);
      if (!outcome.done) return { uia: outcome.body };
      const r = requester!;
      uia.remove(outcome.session.id);
      const removed = await store.deactivateUser(r.userNid, erase);
      await afterDevicesRemoved(r.userId, removed);
      await emit('profileChanged', r.userId, { displayname: undefined, avatar_url: undefined });
      await emit('userDeactivated', r.userId);
      // No third-party identifiers are ever bound here, so there is nothing left bound anywhere:
      // the spec says the result "must be `success` if the homeserver has no identifiers to unbind".
      return { result: { id_server_unbind_result: 'success' } };
    },

    async listDevices(requester) {
      return { devices: (await store.listDevices(requester.userNid)).map(deviceJson) };
    },

    async getDevice(requester, deviceId) {
      const d = await store.getDevice(requester.userNid, deviceId);
      if (!d) throw new MatrixError('M_NOT_FOUND', 'Device not found', 404);
      return deviceJson(d);
    },

    async updateDevice(requester, deviceId, rawBody) {
      const body = bodyObject(rawBody);
      const name = optionalString(body, 'display_name');
      checkDeviceDisplayName(name);
      if (!(await store.getDevice(requester.userNid, deviceId))) throw new MatrixError('M_NOT_FOUND', 'Device not found', 404);
      // "If not given, the display name is unchanged."
      if (name !== undefined) {
        await store.setDeviceDisplayName(requester.userNid, deviceId, name);
        // The name is shown in /keys/query (unsigned.device_display_name).
        await emit('devicesChanged', requester.userId, [deviceId]);
      }
    },

    async createDevice(userId, deviceId, displayName) {
      checkDeviceId(deviceId);
      checkDeviceDisplayName(displayName ?? undefined);
      const u = await requireLocalUser(userId);
      if (!(await store.createDevice(u.nid, deviceId, displayName, clock()))) return false;
      await emit('devicesChanged', userId, [deviceId]);
      return true;
    },

    async removeDevices(userId, deviceIds) {
      const u = await requireLocalUser(userId);
      const removed = await store.deleteDevices(u.nid, { deviceIds });
      await afterDevicesRemoved(userId, removed);
    },

    async deleteDevices(requester, deviceIds, rawBody, operation) {
      const body = bodyObject(rawBody, deviceIds !== undefined);
      let ids = deviceIds;
      if (ids === undefined) {
        const list = body.devices;
        if (list === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing "devices"');
        if (!Array.isArray(list) || !list.every((d): d is string => typeof d === 'string')) {
          throw badJson('"devices" must be a list of strings');
        }
        ids = list;
      }
      // The session is bound to the devices it was started for: it cannot be replayed for others.
      const fingerprint = [...new Set(ids)].sort().join('\n');
      const outcome = await passwordUia(requester, body, operation, fingerprint);
      if (!outcome.done) return { uia: outcome.body };
      const removed = await store.deleteDevices(requester.userNid, { deviceIds: ids });
      await afterDevicesRemoved(requester.userId, removed);
      return { result: {} };
    },

    capabilities(requester) {
      const available: JsonObject = {};
      for (const v of supportedRoomVersions()) available[v.id] = v.stable ? 'stable' : 'unstable';
      const guest = requester.isGuest;
      const profileFields: JsonObject = guest ? { enabled: true, allowed: ['displayname'] } : { enabled: true };
      return {
        capabilities: {
          'm.change_password': { enabled: !guest },
          'm.room_versions': { default: opts.defaultRoomVersion ?? DEFAULT_ROOM_VERSION, available },
          'm.set_displayname': { enabled: true },
          'm.set_avatar_url': { enabled: !guest },
          'm.3pid_changes': { enabled: false },
          'm.get_login_token': { enabled: false },
          'm.profile_fields': profileFields,
          // Spec v1.18: what the account moderation API (suspend/lock) lets this user do; admins only.
          'm.account_moderation': { suspend: requester.isAdmin, lock: requester.isAdmin },
        },
      };
    },

    async getProfile(userId) {
      // Remote profiles need federation (not wired yet); unknown local users are 404.
      const u = await requireLocalUser(userId);
      return profileObject(await store.getProfile(u.nid));
    },

    async getProfileField(userId, field) {
      checkProfileKey(field);
      const u = await requireLocalUser(userId);
      const value = (await store.getProfile(u.nid)).get(field);
      if (value === undefined) throw new MatrixError('M_NOT_FOUND', 'Profile field not found', 404);
      return { [field]: JSON.parse(value) as JsonValue };
    },

    async setProfileField(requester, userId, field, rawBody) {
      const u = await profileWriteTarget(requester, userId, field);
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
      if (!isJsonObject(rawBody)) throw badJson('Content must be a JSON object');
      if (!(field in rawBody)) throw new MatrixError('M_MISSING_PARAM', `Missing key "${field}"`);
      const value = rawBody[field]!;
      if (field === 'displayname' || field === 'avatar_url' || field === 'm.tz') {
        if (typeof value !== 'string') throw badJson(`"${field}" must be a string`);
        if (field === 'displayname' && value.length > MAX_DISPLAYNAME_LENGTH) {
          throw new MatrixError('M_INVALID_PARAM', `Display name is too long (max ${MAX_DISPLAYNAME_LENGTH})`);
        }
        if (field === 'avatar_url') {
          if (value.length > MAX_AVATAR_URL_LENGTH) throw new MatrixError('M_INVALID_PARAM', `Avatar URL is too long (max ${MAX_AVATAR_URL_LENGTH})`);
          if (value !== '' && !value.startsWith('mxc://')) throw new MatrixError('M_INVALID_PARAM', 'avatar_url must be an mxc:// URI');
        }
      }
      const fields = await store.getProfile(u.nid);
      // An empty display name or avatar clears it (how clients remove them).
      const clears = (field === 'displayname' || field === 'avatar_url') && value === '';
      if (clears) {
        await store.deleteProfileField(u.nid, field);
      } else {
        const json = JSON.stringify(value);
        fields.set(field, json);
        let size = 2;
        for (const [k, v] of fields) size += Buffer.byteLength(k, 'utf8') + Buffer.byteLength(v, 'utf8') + 4;
        if (size > MAX_PROFILE_BYTES) throw new MatrixError('M_PROFILE_TOO_LARGE', 'The profile would exceed 64 KiB');
        await store.setProfileField(u.nid, field, json);
      }
      if (field === 'displayname' || field === 'avatar_url') {
        await emit('profileChanged', userId, { [field]: clears ? undefined : (value as string) });
      }
    },

    async deleteProfileField(requester, userId, field) {
      const u = await profileWriteTarget(requester, userId, field);
      await store.deleteProfileField(u.nid, field);
      if (field === 'displayname' || field === 'avatar_url') await emit('profileChanged', userId, { [field]: undefined });
    },

    async getMemberProfile(userId) {
      const u = isLocalUserId(userId) ? await store.getUser(userId) : undefined;
      if (!u) return {};
      const fields = await store.getProfile(u.nid);
      const out: { displayname?: string; avatar_url?: string } = {};
      const dn = fields.get('displayname');
      const av = fields.get('avatar_url');
      if (dn !== undefined) out.displayname = JSON.parse(dn) as string;
      if (av !== undefined) out.avatar_url = JSON.parse(av) as string;
      return out;
    },

    async getAccountData(requester, userId, roomId, type) {
      requireSelf(requester, userId, 'get account data');
      if (roomId !== null && !isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID');
      const content = await store.getAccountData(requester.userNid, roomId, type);
      if (content === undefined) throw new MatrixError('M_NOT_FOUND', 'Account data not found', 404);
      return JSON.parse(content) as JsonObject;
    },

    async setAccountData(requester, userId, roomId, type, rawBody) {
      requireSelf(requester, userId, 'add account data');
      if (roomId !== null && !isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID');
      if (SERVER_MANAGED_ACCOUNT_DATA.has(type)) {
        throw new MatrixError('M_BAD_JSON', `Cannot set ${type} through this API.`, 405);
      }
      if (type.length === 0) throw new MatrixError('M_INVALID_PARAM', 'Account data type must not be empty');
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
      if (!isJsonObject(rawBody)) throw badJson('Content must be a JSON object.');
      const streamId = await store.putAccountData(requester.userNid, roomId, type, JSON.stringify(rawBody));
      await emit('accountDataChanged', userId, streamId);
    },

    async getRoomTags(requester, userId, roomId) {
      requireSelf(requester, userId, 'get tags');
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID');
      const content = await store.getAccountData(requester.userNid, roomId, TAG_TYPE);
      const tags = content === undefined ? undefined : (JSON.parse(content) as { tags?: unknown }).tags;
      return { tags: isJsonObject(tags) ? tags : {} };
    },

    async setRoomTag(requester, userId, roomId, tag, rawBody) {
      requireSelf(requester, userId, 'add tags');
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID');
      // Spec "Room Tagging": the name of a tag MUST NOT exceed 255 bytes.
      if (tag.length === 0 || Buffer.byteLength(tag, 'utf8') > 255) throw new MatrixError('M_INVALID_PARAM', 'Tag names are 1 to 255 bytes');
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
      if (!isJsonObject(rawBody)) throw badJson('Content must be a JSON object.');
      if (rawBody.order !== undefined && typeof rawBody.order !== 'number') throw badJson('"order" must be a number');
      const streamId = await store.updateRoomTags(requester.userNid, roomId, (tags) => ({ ...tags, [tag]: rawBody }));
      await emit('accountDataChanged', userId, streamId);
    },

    async deleteRoomTag(requester, userId, roomId, tag) {
      requireSelf(requester, userId, 'remove tags');
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room ID');
      const streamId = await store.updateRoomTags(requester.userNid, roomId, (tags) => {
        const rest = { ...tags };
        delete rest[tag];
        return rest;
      });
      await emit('accountDataChanged', userId, streamId);
    },

    accountDataPosition() {
      return store.streams.current('account_data');
    },

    async accountDataSince(userId, since, upTo) {
      const u = isLocalUserId(userId) ? await store.getUser(userId) : undefined;
      if (!u) return [];
      return store.accountDataSince(u.nid, since, upTo ?? store.streams.current('account_data'));
    },

    async createFilter(requester, userId, rawBody) {
      if (!isLocalUserId(userId)) throw new MatrixError('M_FORBIDDEN', 'Can only create filters for local users', 403);
      requireSelf(requester, userId, 'create filters');
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
      const filter = validateFilter(rawBody);
      const id = await store.addFilter(requester.userNid, canonicalJson(filter));
      return { filter_id: String(id) };
    },

    async getFilter(requester, userId, filterId) {
      if (!isLocalUserId(userId)) throw new MatrixError('M_FORBIDDEN', 'Can only get filters for local users', 403);
      requireSelf(requester, userId, 'get filters');
      if (!/^[0-9]{1,15}$/.test(filterId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid filter ID');
      const json = await store.getFilter(requester.userNid, Number(filterId));
      if (json === undefined) throw new MatrixError('M_NOT_FOUND', 'No such filter', 404);
      return JSON.parse(json) as JsonObject;
    },

    async loadFilter(userId, filterId) {
      if (!/^[0-9]{1,15}$/.test(filterId) || !isLocalUserId(userId)) return undefined;
      const u = await store.getUser(userId);
      const json = u ? await store.getFilter(u.nid, Number(filterId)) : undefined;
      return json === undefined ? undefined : (JSON.parse(json) as JsonObject);
    },

    issueRegistrationNonce() {
      if (!opts.registrationSharedSecret) throw new MatrixError('M_UNKNOWN', 'Shared secret registration is not enabled', 400);
      return { nonce: nonces.issue() };
    },

    async registerWithSharedSecret(rawBody) {
      const secret = opts.registrationSharedSecret;
      if (!secret) throw new MatrixError('M_UNKNOWN', 'Shared secret registration is not enabled', 400);
      const body = bodyObject(rawBody);
      const nonce = body.nonce;
      if (typeof nonce !== 'string') throw new MatrixError('M_MISSING_PARAM', 'nonce must be specified');
      // Single use: the nonce is gone whatever happens next.
      if (!nonces.consume(nonce)) throw new MatrixError('M_UNKNOWN', 'unrecognised nonce');
      const username = body.username;
      if (typeof username !== 'string' || username.length > 512 || username.includes('\0')) {
        throw new MatrixError('M_INVALID_PARAM', 'Invalid username');
      }
      const password = body.password;
      if (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH || password.includes('\0')) {
        throw new MatrixError('M_INVALID_PARAM', 'Invalid password');
      }
      const admin = body.admin ?? false;
      if (typeof admin !== 'boolean') throw new MatrixError('M_INVALID_PARAM', 'Admin field must be a boolean');
      const userType = body.user_type ?? null;
      if (userType !== null && (typeof userType !== 'string' || !USER_TYPES.has(userType))) {
        throw new MatrixError('M_INVALID_PARAM', 'Invalid user type');
      }
      const displayName = body.displayname ?? null;
      if (displayName !== null && typeof displayName !== 'string') throw new MatrixError('M_INVALID_PARAM', 'Invalid displayname');
      const mac = body.mac;
      if (typeof mac !== 'string') throw new MatrixError('M_MISSING_PARAM', 'mac must be specified');
      const expected = computeRegistrationMac(secret, { nonce, username, password, admin, userType });
      if (!macMatches(expected, mac)) throw new MatrixError('M_FORBIDDEN', 'HMAC incorrect', 403);

      const localpart = username.toLowerCase();
      checkLocalpart(localpart, false);
      await checkAvailable(localpart);
      const { nid, userId } = await createUserOrFail(
        localpart,
        await hashPassword(password, hashParams),
        admin,
        userType,
        displayName ?? localpart,
      );
      return startSession(nid, userId, { ip: null, deviceId: undefined, initialDeviceDisplayName: undefined, wantsRefreshToken: false });
    },

    async createAccount({ localpart, password, admin = false, userType = null, displayName }) {
      checkLocalpart(localpart, false);
      await checkAvailable(localpart);
      const hash = password === null ? null : await hashPassword(password, hashParams);
      const { userId } = await createUserOrFail(localpart, hash, admin, userType, displayName === undefined ? localpart : displayName);
      return userId;
    },

    async setAdmin(userId, isAdmin) {
      const u = await requireLocalUser(userId);
      await store.setAdmin(u.nid, isAdmin);
      for (const [k, v] of tokenCache.entries()) if (v.row.userNid === u.nid) tokenCache.delete(k);
    },
  };
  return service;
}
