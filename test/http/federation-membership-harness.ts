// In-process federation for the membership and query tests: several homeservers, each a Fastify app
// over its own :memory: database with the services server.ts wires (users, rooms, lifecycle, E2EE,
// media, OpenID, key ring, inbound, membership, queries), connected by a FederationClient that signs
// each request with the sender's key (X-Matrix) and injects it into the destination's app. Requests
// are recorded, and a test may answer some of them itself (an older peer, a broken one, one down).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { parseJson } from '../../src/core/json/parse.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../../src/core/json/types.js';
import { createE2eeService, type E2eeFederation } from '../../src/e2ee/service.js';
import { FederationError, tlsOptionsFromConfig, type FederationClient, type FederationMethod, type RawFederationResponse } from '../../src/federation/client.js';
import { IpRangePolicy } from '../../src/federation/ip-ranges.js';
import { createRemoteMediaFetcher } from '../../src/federation/queries/media.js';
import { createInboundFederation } from '../../src/federation/inbound/index.js';
import { createKeyRing } from '../../src/federation/keys.js';
import { createMembershipFederation, remoteRoomHooks, type PduFanout } from '../../src/federation/membership/index.js';
import { FederationQueries } from '../../src/federation/queries/index.js';
import { signRequest } from '../../src/federation/x-matrix.js';
import { buildApp, type AppServices } from '../../src/http/app.js';
import { createMediaService } from '../../src/media/index.js';
import { createRoomLifecycle } from '../../src/rooms/lifecycle/index.js';
import { createRoomsService } from '../../src/rooms/service.js';
import { createOpenIdTokens } from '../../src/search/openid.js';
import { openDatabase } from '../../src/store/db.js';
import { createStore } from '../../src/store/index.js';
import { createNotifier } from '../../src/sync/notifier.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { createUsersService, usersOptionsFromConfig } from '../../src/users/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const V3 = '/_matrix/client/v3';
export const enc = encodeURIComponent;

export interface RecordedRequest {
  readonly origin: string;
  readonly destination: string;
  readonly method: string;
  readonly path: string;
  readonly body: JsonValue | undefined;
}

/** A test's own answer to a request: `undefined` lets it through to the destination. */
export type Interceptor = (r: RecordedRequest) => { status: number; body: JsonValue } | undefined;

export class Network {
  readonly nodes = new Map<string, Node>();
  readonly requests: RecordedRequest[] = [];
  readonly down = new Set<string>();
  interceptor: Interceptor | undefined;
  /** Rewrites an answer's body before the requesting server reads it (a tampering peer). */
  transform: ((r: RecordedRequest, text: string) => string) | undefined;

  /** Requests of one kind (`path` prefix), optionally from one server to another. */
  sent(prefix: string, from?: string, to?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix) && (!from || r.origin === from) && (!to || r.destination === to));
  }
}

/** A FederationClient that injects signed requests into the destination's app. */
export function injectClient(net: Network, origin: string, key: SigningKey): FederationClient {
  async function requestRaw(destination: string, method: FederationMethod, path: string, opts: { body?: JsonValue } = {}): Promise<RawFederationResponse> {
    const rec: RecordedRequest = { origin, destination, method, path, body: opts.body };
    net.requests.push(rec);
    const intercepted = net.interceptor?.(rec);
    if (intercepted) {
      return { status: intercepted.status, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(JSON.stringify(intercepted.body))]) };
    }
    const node = net.nodes.get(destination);
    if (!node || net.down.has(destination)) throw new FederationError(destination, 0, `${destination} is unreachable`);
    const authorization = signRequest({ method, uri: path, origin, destination, content: opts.body }, key);
    const headers: Record<string, string> = { authorization };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await node.app.inject({ method, url: path, headers, ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}) });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : String(v);
    let payload = res.rawPayload;
    if (net.transform) {
      payload = Buffer.from(net.transform(rec, payload.toString('utf8')));
      out['content-length'] = String(payload.length);
    }
    return { status: res.statusCode, headers: out, body: Readable.from([payload]) };
  }
  return {
    requestRaw,
    async request<T>(destination: string, method: FederationMethod, path: string, body?: JsonValue): Promise<T> {
      const res = await requestRaw(destination, method, path, body !== undefined ? { body } : {});
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      let value: JsonValue | undefined;
      try {
        value = text ? parseJson(text) : undefined;
      } catch {
        value = undefined;
      }
      if (res.status < 200 || res.status >= 300) {
        const errcode = isJsonObject(value) && typeof value.errcode === 'string' ? value.errcode : undefined;
        throw new FederationError(destination, res.status, `${method} ${path}: ${res.status} ${errcode ?? ''}`, { ...(errcode ? { errcode } : {}), body: value });
      }
      return value as T;
    },
    async close() {},
  };
}

export interface Node {
  readonly name: string;
  readonly app: FastifyInstance;
  readonly services: AppServices & Required<Pick<AppServices, 'store' | 'rooms' | 'users' | 'roomLifecycle' | 'e2ee' | 'media'>>;
  readonly config: Config;
  readonly key: SigningKey;
  readonly fanout: { eventId: string; destinations: string[] }[];
  readonly skipped: string[];
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown }): Promise<Res>;
  register(name: string): Promise<Session>;
  createRoom(s: Session, body?: JsonObject): Promise<string>;
  membership(roomId: string, userId: string): Promise<string | undefined>;
  close(): Promise<void>;
}

export async function createNode(net: Network, name: string, configOverrides: Record<string, unknown> = {}): Promise<Node> {
  const mediaDir = mkdtempSync(join(tmpdir(), 'fedm-media-'));
  const config = parseConfig(
    { server_name: name, enable_registration: true, rate_limiting: false, media_store_path: mediaDir, ...configOverrides },
    { cwd: '/nonexistent' },
  ).config;
  const db = openDatabase(':memory:');
  const key = generateSigningKey(`k${name.length}`);
  const serverKeys = { current: key, old: [] };
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config),
    passwordHashParams: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    onHookError: (hook, err) => {
      throw new Error(`users hook ${hook} failed: ${String(err)}`);
    },
  });
  const store = createStore(db);
  const notifier = createNotifier((e) => {
    throw e;
  });
  const rooms = createRoomsService({ store, notifier, serverName: name, signingKey: key });
  connectUsersToRooms(users, rooms, {
    onRoomError: (_roomId, _userId, err) => {
      throw err;
    },
  });
  const roomLifecycle = createRoomLifecycle({ rooms, users, serverName: name, defaultRoomVersion: config.default_room_version });
  const e2eeFederation: E2eeFederation = {};
  const e2ee = createE2eeService({ db, store, users, serverName: name, notifier, federation: e2eeFederation });
  const media = createMediaService({ db, config });
  const openIdTokens = createOpenIdTokens({ db, serverName: name });
  const client = injectClient(net, name, key);
  const keyRing = createKeyRing({ db, client, config, serverName: name, serverKeys, clock: Date.now });
  const inbound = createInboundFederation({ db, store, rooms, keyRing, client, serverName: name, e2ee });
  const fanout: Node['fanout'] = [];
  const skipped: string[] = [];
  const sender: PduFanout = {
    enqueuePdu: (destinations, eventId) => fanout.push({ eventId, destinations: [...destinations] }),
    skipFanOut: (eventId) => skipped.push(eventId),
  };
  const queries = new FederationQueries({ serverName: name, store, client, users, e2ee, roomLifecycle, openIdTokens });
  const membership = createMembershipFederation({
    store,
    rooms,
    keyRing,
    client,
    serverName: name,
    signingKey: key,
    localUserExists: async (u) => {
      const row = await users.store.getUser(u);
      return row !== undefined && !row.deactivated;
    },
    sender: () => sender,
    pipeline: () => inbound.pipeline,
  });
  roomLifecycle.setRemoteHooks(remoteRoomHooks(membership, queries));
  e2eeFederation.queryKeys = (server, deviceKeys, timeoutMs) => queries.queryKeys(server, deviceKeys, timeoutMs);
  e2eeFederation.claimKeys = (server, otks, timeoutMs) => queries.claimKeys(server, otks, timeoutMs);
  const mediaFetcher = createRemoteMediaFetcher({ client, ipPolicy: new IpRangePolicy(config.ip_range_blacklist, config.ip_range_whitelist), tls: tlsOptionsFromConfig(config) });
  media.repo.setRemoteFetcher(mediaFetcher);
  const services = {
    config,
    serverKeys,
    users,
    store,
    notifier,
    rooms,
    roomLifecycle,
    e2ee,
    toDevice: e2ee.toDevice,
    deviceKeys: e2ee.deviceKeys,
    media,
    openIdTokens,
    federation: { client, keyRing, inbound, membership, queries },
  };
  const app = buildApp(services);
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  const node: Node = {
    name,
    app,
    services,
    config,
    key,
    fanout,
    skipped,
    req,
    async register(localpart) {
      const r = await req('POST', `${V3}/register`, { body: { username: localpart, password: 'pw', auth: { type: 'm.login.dummy' } } });
      if (r.status !== 200) throw new Error(`register ${localpart}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as Session;
    },
    async createRoom(s, body = {}) {
      const r = await req('POST', `${V3}/createRoom`, { token: s.access_token, body });
      if (r.status !== 200) throw new Error(`createRoom: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.room_id as string;
    },
    async membership(roomId, userId) {
      return (await store.getMembership(roomId, userId))?.membership;
    },
    async close() {
      await app.close();
      e2ee.close();
      await media.close();
      await mediaFetcher.close();
      db.close();
      rmSync(mediaDir, { recursive: true, force: true });
    },
  };
  net.nodes.set(name, node);
  return node;
}

/** Servers named `a.test`, `b.test`, ... (or the given names) on one network. */
export async function federation(names: readonly string[] = ['a.test', 'b.test']): Promise<{ net: Network; nodes: Node[]; close(): Promise<void> }> {
  const net = new Network();
  const nodes: Node[] = [];
  for (const n of names) nodes.push(await createNode(net, n));
  return {
    net,
    nodes,
    async close() {
      await Promise.all(nodes.map((n) => n.close()));
    },
  };
}

/** A request to `to` signed by `from` (a node or a bare key), as another server would send it. */
export async function signedRequest(
  to: Node,
  from: { name: string; key: SigningKey },
  method: 'GET' | 'PUT' | 'POST',
  path: string,
  body?: JsonValue,
): Promise<{ status: number; body: any; text: string; headers: Record<string, unknown> }> {
  const authorization = signRequest({ method, uri: path, origin: from.name, destination: to.name, content: body }, from.key);
  const headers: Record<string, string> = { authorization };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await to.app.inject({ method, url: path, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  let parsed: unknown = undefined;
  try {
    parsed = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, body: parsed, text: res.body, headers: res.headers };
}
