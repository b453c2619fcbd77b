// Test harness for inbound federation: whole homeservers in one process (:memory: databases, wired
// as server.ts does), joined by a fake network. Each instance's federation client signs its requests
// with the instance's key and delivers them to the destination's app with inject(), so both sides run
// their real X-Matrix checks, key rings, /send pipeline and event-serving endpoints. A network entry
// may also be a bare key pair (a hostile or minimal remote that only publishes its key).
import { Readable } from 'node:stream';
import { afterEach } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { authTypesForEvent } from '../../src/core/auth/auth-types.js';
import { stateTuple } from '../../src/core/events/event.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { requireRoomVersion, type RoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { parseJson } from '../../src/core/json/parse.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import { buildApp, type AppServices, type ServerKeys } from '../../src/http/app.js';
import { signedServerKeys } from '../../src/http/keys/server.js';
import { FederationError, type FederationClient, type FederationMethod } from '../../src/federation/client.js';
import { createKeyRing } from '../../src/federation/keys.js';
import { createInboundFederation, type InboundFederation, type InboundLimits } from '../../src/federation/inbound/index.js';
import { signRequest } from '../../src/federation/x-matrix.js';
import { createRoomLifecycle } from '../../src/rooms/lifecycle/index.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { createClientTxns } from '../../src/rooms/transactions.js';
import { createRelationsService } from '../../src/rooms/relations.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier } from '../../src/sync/notifier.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import { createTypingService } from '../../src/ephemeral/typing.js';
import { createReceiptsService } from '../../src/ephemeral/receipts.js';
import { createPresenceService } from '../../src/ephemeral/presence.js';
import { createE2eeService } from '../../src/e2ee/service.js';
import { createPushService } from '../../src/push/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const NOW = 1_700_000_000_000;
export const V3 = '/_matrix/client/v3';
export const FED = '/_matrix/federation/v1';
export const enc = encodeURIComponent;

/** What a request on the fake network reaches: a whole instance, or only a published key. */
type Node = { kind: 'app'; instance: Instance } | { kind: 'keys'; keys: ServerKeys };

export class Network {
  readonly nodes = new Map<string, Node>();
  /** Every request made on the network: `origin METHOD destination path`. */
  readonly log: string[] = [];
  readonly clock = { now: NOW };

  /** A remote that only publishes a signing key (for events crafted by hand). */
  addKeyOnly(serverName: string, key: SigningKey = generateSigningKey('k1')): SigningKey {
    this.nodes.set(serverName, { kind: 'keys', keys: { current: key, old: [] } });
    return key;
  }

  /** The federation client of `serverName`, signing with `key`. */
  clientFor(serverName: string, key: SigningKey): FederationClient {
    const requestRaw = async (destination: string, method: FederationMethod, path: string, o: { body?: JsonValue } = {}) => {
      this.log.push(`${serverName} ${method} ${destination} ${path}`);
      const node = this.nodes.get(destination);
      if (!node) throw new FederationError(destination, 0, `${destination} is unreachable`);
      if (node.kind === 'keys') {
        if (method === 'GET' && path === '/_matrix/key/v2/server') {
          const body = JSON.stringify(signedServerKeys(destination, node.keys, this.clock.now + 24 * 3600_000));
          return { status: 200, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(body)]) };
        }
        const body = JSON.stringify({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
        return { status: 404, headers: { 'content-type': 'application/json' }, body: Readable.from([Buffer.from(body)]) };
      }
      const headers: Record<string, string> = {
        authorization: signRequest({ method, uri: path, origin: serverName, destination, content: o.body }, key),
      };
      let payload: string | undefined;
      if (o.body !== undefined) {
        payload = JSON.stringify(o.body);
        headers['content-type'] = 'application/json';
      }
      const res = await node.instance.app.inject({ method, url: path, headers, ...(payload !== undefined ? { payload } : {}) });
      const outHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) outHeaders[k] = String(v);
      return { status: res.statusCode, headers: outHeaders, body: Readable.from([res.rawPayload]) };
    };
    return {
      requestRaw,
      async request<T>(destination: string, method: FederationMethod, path: string, body?: JsonValue): Promise<T> {
        const res = await requestRaw(destination, method, path, body === undefined ? {} : { body });
        const chunks: Buffer[] = [];
        for await (const c of res.body) chunks.push(c as Buffer);
        const text = Buffer.concat(chunks).toString('utf8');
        const parsed = text ? (parseJson(text) as JsonObject) : undefined;
        if (res.status < 200 || res.status >= 300) {
          const errcode = parsed && typeof parsed.errcode === 'string' ? parsed.errcode : undefined;
          throw new FederationError(destination, res.status, `${method} ${path}: ${res.status}`, { ...(errcode ? { errcode } : {}), body: parsed });
        }
        return parsed as T;
      },
      async close() {},
    };
  }
}

export interface Instance {
  serverName: string;
  key: SigningKey;
  app: FastifyInstance;
  db: Database;
  store: Store;
  rooms: RoomsService;
  users: UsersService;
  services: AppServices;
  inbound: InboundFederation;
  network: Network;
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown }): Promise<Res>;
  register(name: string): Promise<Session>;
  createRoom(s: Session, body?: JsonObject): Promise<string>;
  send(s: Session, roomId: string, body: string): Promise<string>;
  sync(s: Session, query?: Record<string, string>): Promise<Record<string, any>>;
  messages(s: Session, roomId: string, query?: Record<string, string>): Promise<Record<string, any>>;
  /** A federation request to this instance from `origin`, signed with `key` (raw body text allowed). */
  fed(origin: string, key: SigningKey, method: InjectOptions['method'], path: string, body?: JsonValue, rawText?: string): Promise<Res>;
  close(): Promise<void>;
}

const open: Instance[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((i) => i.close()));
});

let txnCounter = 0;

export async function instance(network: Network, serverName: string, o: { limits?: Partial<InboundLimits>; config?: Record<string, unknown> } = {}): Promise<Instance> {
  const config = parseConfig(
    { server_name: serverName, enable_registration: true, rate_limiting: false, trusted_key_servers: [], ...o.config },
    { cwd: '/nonexistent' },
  ).config;
  const db = openDatabase(':memory:');
  const now = () => network.clock.now;
  const key = generateSigningKey('a1');
  const serverKeys: ServerKeys = { current: key, old: [] };
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, now),
    passwordHashParams: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    onHookError: (hook, err) => {
      throw new Error(`users hook ${hook} failed: ${String(err)}`);
    },
  });
  const store = createStore(db);
  const notifier = createNotifier((e) => {
    throw e;
  });
  notifier.advanceTo(store.currentStreamPosition());
  const rooms = createRoomsService({ store, notifier, serverName, signingKey: key, clock: now });
  connectUsersToRooms(users, rooms, {
    onRoomError: (_r, _u, err) => {
      throw err;
    },
  });
  const services: AppServices = { config, serverKeys, clock: now, users, store, notifier, rooms };
  services.txns = createClientTxns({ store, now });
  services.relations = createRelationsService({ store, now });
  services.roomLifecycle = createRoomLifecycle({ rooms, users, serverName, defaultRoomVersion: config.default_room_version, clock: now });
  const presence = createPresenceService({ db, notifier, serverName, enabled: true, clock: now, timers: false });
  services.presence = presence;
  services.typing = createTypingService({ store, notifier, serverName, clock: now, timers: false });
  services.receipts = createReceiptsService({ db, store, notifier, serverName, users, clock: now });
  services.push = createPushService({ db, store, notifier, users, serverName, receipts: services.receipts });
  const e2ee = createE2eeService({ db, store, users, serverName, notifier, clock: now });
  Object.assign(services, { e2ee, toDevice: e2ee.toDevice, deviceKeys: e2ee.deviceKeys });
  const client = network.clientFor(serverName, key);
  const keyRing = createKeyRing({ db, client, config, serverName, serverKeys, clock: now });
  const inbound = createInboundFederation({
    db,
    store,
    rooms,
    keyRing,
    client,
    serverName,
    clock: now,
    typing: services.typing,
    receipts: services.receipts,
    presence,
    e2ee,
    limits: o.limits,
  });
  services.federation = { client, keyRing, inbound };
  const app = buildApp(services);
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, r: { token?: string; body?: unknown } = {}): Promise<Res> {
    return injectJson(app, method, url, r);
  }
  const ok = async (what: string, p: Promise<Res>) => {
    const r = await p;
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const qs = (q: Record<string, string>) => {
    const s = Object.entries(q)
      .map(([k, v]) => `${k}=${enc(v)}`)
      .join('&');
    return s ? `?${s}` : '';
  };

  const inst: Instance = {
    serverName,
    key,
    app,
    db,
    store,
    rooms,
    users,
    services,
    inbound,
    network,
    req,
    async register(name) {
      return (await ok(`register ${name}`, req('POST', `${V3}/register`, { body: { username: name, password: 'pw', auth: { type: 'm.login.dummy' } } }))) as Session;
    },
    async createRoom(s, body = {}) {
      return (await ok('createRoom', req('POST', `${V3}/createRoom`, { token: s.access_token, body }))).room_id as string;
    },
    async send(s, roomId, body) {
      const url = `${V3}/rooms/${enc(roomId)}/send/m.room.message/t${++txnCounter}`;
      return (await ok('send', req('PUT', url, { token: s.access_token, body: { msgtype: 'm.text', body } }))).event_id as string;
    },
    async sync(s, query = {}) {
      return ok('sync', req('GET', `${V3}/sync${qs(query)}`, { token: s.access_token }));
    },
    async messages(s, roomId, query = {}) {
      return ok('messages', req('GET', `${V3}/rooms/${enc(roomId)}/messages${qs({ dir: 'b', limit: '50', ...query })}`, { token: s.access_token }));
    },
    async fed(origin, signingKey, method, path, body, rawText) {
      const headers: Record<string, string> = {
        authorization: signRequest({ method: String(method), uri: path, origin, destination: serverName, content: body }, signingKey),
      };
      let payload: string | undefined;
      if (rawText !== undefined) payload = rawText;
      else if (body !== undefined) payload = JSON.stringify(body);
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const raw = await app.inject({ method, url: path, headers, ...(payload !== undefined ? { payload } : {}) });
      let resBody: Record<string, any> = {};
      if (raw.body.length > 0 && (raw.headers['content-type'] ?? '').toString().includes('json')) resBody = raw.json();
      return { status: raw.statusCode, body: resBody, raw };
    },
    async close() {
      await app.close();
      services.sync?.close();
      services.typing?.close();
      services.push?.close();
      presence.close();
      e2ee.close();
      if (db.open) db.close();
    },
  };
  network.nodes.set(serverName, { kind: 'app', instance: inst });
  open.push(inst);
  return inst;
}

const craftedDepth = new Map<string, number>();

/** Builds and signs a PDU as `origin` would: on the state after `prev` (default: the room's forward extremities on `on`). */
export async function remotePdu(
  on: Instance,
  roomId: string,
  spec: { sender: string; type: string; stateKey?: string; content: JsonObject; prev?: string[]; auth?: string[]; redacts?: string; ts?: number },
  signer: { serverName: string; key: SigningKey },
): Promise<{ pdu: JsonObject; eventId: string }> {
  const version: RoomVersion = requireRoomVersion((await on.store.getRoomVersion(roomId))!);
  const prev = spec.prev ?? (await on.store.getForwardExtremities(roomId));
  // Events crafted here but not sent yet: messages on the current state.
  const state = (await on.store.getStateIdsAfter(prev[0]!)) ?? (await on.store.getCurrentStateIds(roomId));
  const auth: string[] = [];
  for (const [t, k] of authTypesForEvent(spec.type, spec.stateKey, spec.sender, spec.content, version)) {
    const id = state.get(stateTuple(t, k));
    if (id) auth.push(id);
  }
  let depth = 0;
  for (const p of prev) depth = Math.max(depth, (await on.store.getEvent(p))?.depth ?? craftedDepth.get(p) ?? 0);
  const pdu: JsonObject = {
    type: spec.type,
    room_id: roomId,
    sender: spec.sender,
    content: spec.content,
    depth: depth + 1,
    origin_server_ts: spec.ts ?? on.network.clock.now++,
    prev_events: prev,
    auth_events: spec.auth ?? auth,
  };
  if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
  if (spec.redacts !== undefined) pdu.redacts = spec.redacts;
  const signed = hashAndSignEvent(pdu, signer.serverName, signer.key, version);
  const eventId = computeEventId(signed, version);
  craftedDepth.set(eventId, depth + 1);
  return { pdu: signed, eventId };
}

/** PUT /send/{txnId} to `to` from `origin`, with these PDUs and EDUs. */
export async function sendTxn(
  to: Instance,
  origin: { serverName: string; key: SigningKey },
  pdus: JsonValue[],
  edus: JsonValue[] = [],
  txnId = `txn${++txnCounter}`,
): Promise<Res> {
  const body = { origin: origin.serverName, origin_server_ts: to.network.clock.now, pdus, edus };
  return to.fed(origin.serverName, origin.key, 'PUT', `${FED}/send/${enc(txnId)}`, body);
}

/** Copies every event of a room from `from` into `to` (same DAG, same order), as if `to` had always been in it. */
export async function replicateRoom(from: Instance, to: Instance, roomId: string): Promise<void> {
  const version = (await from.store.getRoomVersion(roomId))!;
  const events = await from.store.getEventsByTopology(roomId, { direction: 'f', limit: 10_000 });
  for (const e of events) {
    if (to.store.core.eventMetaById(e.eventId)) continue;
    const r = await to.rooms.acceptEvent(JSON.parse(e.jsonText) as JsonObject, version, { jsonText: e.jsonText });
    if (r.status !== 'accepted') throw new Error(`replicating ${e.eventId}: ${r.status} ${'reason' in r ? r.reason : ''}`);
  }
}
