// Federation queries (server-server API "Querying for information", "Device Management",
// "End-to-End Encryption", "Public Room Directory", "Spaces", "OpenID"), both ways: what other
// servers ask about our users and rooms (directory, profile, devices, keys, public rooms, hierarchy,
// OpenID userinfo), and the same questions our services ask other servers (remote aliases and
// profiles, E2EE keys, another server's directory, space hierarchies).
import type { Logger } from 'pino';
import { isValidRoomAlias, isValidUserId, serverNameOf } from '../../core/ids.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import type { E2eeService } from '../../e2ee/service.js';
import { MatrixError } from '../../errors.js';
import type { PublicRoomsParams, RoomLifecycleService } from '../../rooms/lifecycle/index.js';
import type { OpenIdTokens } from '../../search/openid.js';
import type { Store } from '../../store/index.js';
import type { Requester, UsersService } from '../../users/service.js';
import { FederationError, type FederationClient } from '../client.js';
import { clientErrorOf } from '../membership/remote-json.js';
import { HierarchyWalker, RoomSummaries, type HierarchyRequest } from './hierarchy.js';

export interface FederationQueriesDeps {
  readonly serverName: string;
  readonly store: Store;
  readonly client: FederationClient;
  readonly users?: UsersService | undefined;
  readonly e2ee?: E2eeService | undefined;
  readonly roomLifecycle?: RoomLifecycleService | undefined;
  readonly openIdTokens?: OpenIdTokens | undefined;
  readonly clock?: (() => number) | undefined;
  readonly logger?: Logger | undefined;
  /** Timeout of one query to another server (default 30 s). */
  readonly requestTimeoutMs?: number | undefined;
}

const enc = encodeURIComponent;

/** A requester standing for another server: no user of ours, so nothing private (user-signing keys) is read. */
function serverRequester(): Requester {
  return { userId: '', userNid: 0, deviceId: '', isGuest: false, isAdmin: false, accessTokenId: 0 };
}

function notFound(message: string): MatrixError {
  return new MatrixError('M_NOT_FOUND', message, 404);
}

export class FederationQueries {
  readonly summaries: RoomSummaries;
  readonly hierarchy: HierarchyWalker;
  private readonly timeoutMs: number;

  constructor(private readonly d: FederationQueriesDeps) {
    this.summaries = new RoomSummaries(d.store);
    this.timeoutMs = d.requestTimeoutMs ?? 30_000;
    this.hierarchy = new HierarchyWalker(this.summaries, (server, roomId, suggestedOnly) => this.remoteHierarchy(server, roomId, suggestedOnly), d.clock ?? Date.now);
  }

  private isLocal(id: string): boolean {
    return serverNameOf(id) === this.d.serverName;
  }

  // ==== answering other servers ====

  /** GET /query/directory?room_alias: one of our aliases (404 M_NOT_FOUND otherwise). */
  async directory(alias: string | undefined): Promise<{ room_id: string; servers: string[] }> {
    if (alias === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing room_alias', 400);
    if (!isValidRoomAlias(alias)) throw new MatrixError('M_INVALID_PARAM', 'Invalid room alias', 400);
    if (!this.isLocal(alias) || !this.d.roomLifecycle) throw notFound('Room alias not found');
    return this.d.roomLifecycle.getAlias(alias);
  }

  /**
   * GET /query/profile?user_id&field: the displayname and avatar_url (and custom fields) of one of
   * our users; with `field`, that field only ({} when unset). 404 for unknown users.
   */
  async profile(userId: string | undefined, field: string | undefined): Promise<JsonObject> {
    if (userId === undefined) throw new MatrixError('M_MISSING_PARAM', 'Missing user_id', 400);
    if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid user_id', 400);
    if (!this.isLocal(userId) || !this.d.users) throw notFound('Profile was not found');
    const profile = await this.d.users.getProfile(userId);
    if (field === undefined) return profile;
    return Object.hasOwn(profile, field) ? { [field]: profile[field]! } : {};
  }

  /** GET /user/devices/{userId}: a user's devices with keys, and cross-signing keys (spec "Device Management"). */
  async userDevices(userId: string): Promise<JsonObject> {
    if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
    if (!this.isLocal(userId)) throw new MatrixError('M_FORBIDDEN', 'Not a user of this server', 403);
    const e2ee = this.d.e2ee;
    if (!e2ee) return { user_id: userId, stream_id: 0, devices: [] };
    const keys = await e2ee.queryKeys(serverRequester(), { device_keys: { [userId]: [] } });
    const byDevice = isJsonObject(keys.device_keys) && isJsonObject(keys.device_keys[userId]) ? keys.device_keys[userId] : {};
    const devices: JsonObject[] = [];
    for (const [deviceId, k] of Object.entries(byDevice)) {
      if (!isJsonObject(k)) continue;
      const entry: JsonObject = { device_id: deviceId };
      const withoutUnsigned: JsonObject = { ...k };
      delete withoutUnsigned.unsigned;
      entry.keys = withoutUnsigned;
      const name = isJsonObject(k.unsigned) ? k.unsigned.device_display_name : undefined;
      if (typeof name === 'string') entry.device_display_name = name;
      devices.push(entry);
    }
    const out: JsonObject = { user_id: userId, stream_id: e2ee.deviceLists.position(), devices };
    for (const field of ['master_keys', 'self_signing_keys'] as const) {
      const part = keys[field];
      if (isJsonObject(part) && isJsonObject(part[userId])) out[field === 'master_keys' ? 'master_key' : 'self_signing_key'] = part[userId];
    }
    return out;
  }

  /** POST /user/keys/query: device keys and cross-signing keys of our users (user-signing keys never leave). */
  async keysQuery(body: unknown): Promise<JsonObject> {
    if (!isJsonObject(body) || !isJsonObject(body.device_keys)) throw new MatrixError('M_BAD_JSON', 'device_keys must be an object', 400);
    const local: JsonObject = {};
    for (const [u, devices] of Object.entries(body.device_keys)) if (this.isLocal(u)) local[u] = devices;
    if (!this.d.e2ee) return { device_keys: {} };
    const r = await this.d.e2ee.queryKeys(serverRequester(), { device_keys: local });
    const out: JsonObject = { device_keys: r.device_keys ?? {} };
    if (r.master_keys !== undefined) out.master_keys = r.master_keys;
    if (r.self_signing_keys !== undefined) out.self_signing_keys = r.self_signing_keys;
    return out;
  }

  /** POST /user/keys/claim: one-time keys of our users' devices. */
  async keysClaim(body: unknown): Promise<JsonObject> {
    if (!isJsonObject(body) || !isJsonObject(body.one_time_keys)) throw new MatrixError('M_BAD_JSON', 'one_time_keys must be an object', 400);
    const local: JsonObject = {};
    for (const [u, devices] of Object.entries(body.one_time_keys)) if (this.isLocal(u)) local[u] = devices;
    if (!this.d.e2ee) return { one_time_keys: {} };
    const r = await this.d.e2ee.claimKeys(serverRequester(), { one_time_keys: local });
    return { one_time_keys: r.one_time_keys ?? {} };
  }

  /** GET/POST /publicRooms: our directory, rooms other servers may join only. */
  async publicRooms(params: PublicRoomsParams): Promise<JsonObject> {
    if (!this.d.roomLifecycle) return { chunk: [], total_room_count_estimate: 0 };
    return this.d.roomLifecycle.localPublicRooms(params, { federatableOnly: true });
  }

  /** GET /openid/userinfo?access_token: the user an OpenID token was issued to (401 M_UNKNOWN_TOKEN otherwise). */
  async openIdUserinfo(token: string | undefined): Promise<{ sub: string }> {
    const userId = token && this.d.openIdTokens ? await this.d.openIdTokens.lookupUser(token) : undefined;
    if (!userId) throw new MatrixError('M_UNKNOWN_TOKEN', 'Access token unknown or expired', 401);
    return { sub: userId };
  }

  // ==== asking other servers ====

  private get<T>(server: string, path: string): Promise<T> {
    return this.d.client.request<T>(server, 'GET', path, undefined, { timeoutMs: this.timeoutMs });
  }

  /** The lifecycle's queryAlias hook: another server's alias, undefined when it does not exist. */
  async queryAlias(alias: string): Promise<{ roomId: string; servers: string[] } | undefined> {
    const server = serverNameOf(alias);
    if (!server) return undefined;
    let r: unknown;
    try {
      r = await this.get(server, `/_matrix/federation/v1/query/directory?room_alias=${enc(alias)}`);
    } catch (e) {
      if (e instanceof FederationError && e.status === 404) return undefined;
      throw clientErrorOf(e, `Resolving ${alias}`);
    }
    if (!isJsonObject(r) || typeof r.room_id !== 'string') throw new MatrixError('M_UNKNOWN', `Malformed directory answer from ${server}`, 502);
    const servers = Array.isArray(r.servers) ? r.servers.filter((s): s is string => typeof s === 'string') : [];
    return { roomId: r.room_id, servers };
  }

  /** GET /profile/{userId}[/{field}] of another server's user (client API), through /query/profile. */
  async remoteProfile(userId: string, field?: string): Promise<JsonObject> {
    const server = serverNameOf(userId)!;
    const q = `user_id=${enc(userId)}${field !== undefined ? `&field=${enc(field)}` : ''}`;
    let r: unknown;
    try {
      r = await this.get(server, `/_matrix/federation/v1/query/profile?${q}`);
    } catch (e) {
      if (e instanceof FederationError && e.status === 404) throw notFound('Profile was not found');
      throw clientErrorOf(e, `Fetching the profile of ${userId}`);
    }
    if (!isJsonObject(r)) throw new MatrixError('M_UNKNOWN', `Malformed profile answer from ${server}`, 502);
    if (field === undefined) return r;
    if (!Object.hasOwn(r, field)) throw notFound('Profile field not found');
    return { [field]: r[field]! };
  }

  /** The E2EE service's queryKeys hook: POST /user/keys/query to `server`. */
  async queryKeys(server: string, deviceKeys: Record<string, string[]>, timeoutMs: number): Promise<JsonObject> {
    return this.d.client.request<JsonObject>(server, 'POST', '/_matrix/federation/v1/user/keys/query', { device_keys: deviceKeys }, { timeoutMs });
  }

  /** The E2EE service's claimKeys hook: POST /user/keys/claim to `server`. */
  async claimKeys(server: string, oneTimeKeys: Record<string, Record<string, string>>, timeoutMs: number): Promise<JsonObject> {
    return this.d.client.request<JsonObject>(server, 'POST', '/_matrix/federation/v1/user/keys/claim', { one_time_keys: oneTimeKeys }, { timeoutMs });
  }

  /** GET /user/devices/{userId} of another server's user. */
  async remoteUserDevices(userId: string): Promise<JsonObject> {
    const server = serverNameOf(userId);
    if (!server) throw new MatrixError('M_INVALID_PARAM', 'Invalid user ID', 400);
    return this.get<JsonObject>(server, `/_matrix/federation/v1/user/devices/${enc(userId)}`);
  }

  /** The lifecycle's publicRooms hook: another server's directory (GET, or POST when filtering). */
  async remotePublicRooms(server: string, params: PublicRoomsParams): Promise<JsonObject> {
    let r: unknown;
    try {
      if (params.filter !== undefined || params.include_all_networks !== undefined || params.third_party_instance_id !== undefined) {
        const body: JsonObject = {};
        if (params.limit !== undefined) body.limit = params.limit;
        if (params.since !== undefined) body.since = params.since;
        if (params.filter !== undefined) body.filter = params.filter;
        if (params.include_all_networks !== undefined) body.include_all_networks = params.include_all_networks;
        if (params.third_party_instance_id !== undefined) body.third_party_instance_id = params.third_party_instance_id;
        r = await this.d.client.request(server, 'POST', '/_matrix/federation/v1/publicRooms', body, { timeoutMs: this.timeoutMs });
      } else {
        const q: string[] = [];
        if (params.limit !== undefined) q.push(`limit=${params.limit}`);
        if (params.since !== undefined) q.push(`since=${enc(params.since)}`);
        r = await this.get(server, `/_matrix/federation/v1/publicRooms${q.length > 0 ? `?${q.join('&')}` : ''}`);
      }
    } catch (e) {
      throw clientErrorOf(e, `Fetching the room directory of ${server}`);
    }
    if (!isJsonObject(r) || !Array.isArray(r.chunk)) throw new MatrixError('M_UNKNOWN', `Malformed room directory from ${server}`, 502);
    return r;
  }

  /** GET /hierarchy/{roomId} of another server (the client walk's hook). */
  async remoteHierarchy(server: string, roomId: string, suggestedOnly: boolean): Promise<JsonObject> {
    return this.get<JsonObject>(server, `/_matrix/federation/v1/hierarchy/${enc(roomId)}?suggested_only=${suggestedOnly ? 'true' : 'false'}`);
  }

  /** GET /_matrix/client/v1/rooms/{roomId}/hierarchy */
  clientHierarchy(req: HierarchyRequest): Promise<JsonObject> {
    return this.hierarchy.walk(req);
  }
}

