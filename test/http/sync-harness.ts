// Test harness for /sync: one app over a :memory: database wired as server.ts does (users, rooms,
// lifecycle, transactions, relations, typing, receipts, push), with shorthands for the client calls
// a sync test makes (register, create/join/leave rooms, send, sync).
import { afterEach } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildApp, type AppServices } from '../../src/http/app.js';
import { createRoomLifecycle } from '../../src/rooms/lifecycle/index.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { createClientTxns } from '../../src/rooms/transactions.js';
import { createRelationsService } from '../../src/rooms/relations.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier, type Notifier } from '../../src/sync/notifier.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import { createTypingService } from '../../src/ephemeral/typing.js';
import { createReceiptsService } from '../../src/ephemeral/receipts.js';
import { createPresenceService } from '../../src/ephemeral/presence.js';
import { createPushService } from '../../src/push/service.js';
import { createE2eeService } from '../../src/e2ee/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';
export const NOW = 1_700_000_000_000;

export interface SyncHarness {
  app: FastifyInstance;
  db: Database;
  services: AppServices;
  users: UsersService;
  store: Store;
  rooms: RoomsService;
  notifier: Notifier;
  clock: { now: number };
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown }): Promise<Res>;
  register(name: string): Promise<Session>;
  createRoom(s: Session, body?: JsonObject): Promise<string>;
  join(s: Session, roomId: string): Promise<void>;
  leave(s: Session, roomId: string): Promise<void>;
  invite(s: Session, roomId: string, userId: string): Promise<void>;
  kick(s: Session, roomId: string, userId: string): Promise<void>;
  send(s: Session, roomId: string, body: string, opts?: { type?: string; content?: JsonObject; txn?: string }): Promise<string>;
  putState(s: Session, roomId: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  redact(s: Session, roomId: string, eventId: string, reason?: string): Promise<string>;
  /** GET /sync with these query parameters; expects 200 and returns the body. */
  sync(s: Session, query?: Record<string, string | number | boolean>): Promise<Record<string, any>>;
  /** GET /sync, any status. */
  syncRaw(s: Session, query?: Record<string, string | number | boolean>): Promise<Res>;
  close(): Promise<void>;
}

const open: SyncHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

let txnCounter = 0;
const enc = encodeURIComponent;

export async function syncHarness(configOverrides: Record<string, unknown> = {}, opts: { db?: Database } = {}): Promise<SyncHarness> {
  const config = parseConfig({ server_name: SERVER, enable_registration: true, rate_limiting: false, ...configOverrides }, { cwd: '/nonexistent' }).config;
  const db = opts.db ?? openDatabase(':memory:');
  const clock = { now: NOW };
  const now = () => clock.now;
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
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: now });
  connectUsersToRooms(users, rooms, {
    onRoomError: (_r, _u, err) => {
      throw err;
    },
  });
  const services: AppServices = {
    config,
    serverKeys: { current: generateSigningKey('t1'), old: [] },
    clock: now,
    users,
    store,
    notifier,
    rooms,
  };
  services.txns = createClientTxns({ store, now });
  services.relations = createRelationsService({ store, now });
  services.roomLifecycle = createRoomLifecycle({ rooms, users, serverName: SERVER, defaultRoomVersion: config.default_room_version, clock: now });
  const presence = createPresenceService({ db, notifier, serverName: SERVER, enabled: config.presence.enabled, clock: now, timers: false });
  services.presence = presence;
  services.typing = createTypingService({ store, notifier, serverName: SERVER, clock: now, timers: false });
  services.receipts = createReceiptsService({ db, store, notifier, serverName: SERVER, users, clock: now });
  services.push = createPushService({ db, store, notifier, users, serverName: SERVER, receipts: services.receipts });
  const e2ee = createE2eeService({ db, store, users, serverName: SERVER, notifier, clock: now });
  Object.assign(services, { e2ee, toDevice: e2ee.toDevice, deviceKeys: e2ee.deviceKeys });
  const app = buildApp(services);
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }
  const ok = async (what: string, p: Promise<Res>): Promise<Record<string, any>> => {
    const r = await p;
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const syncRaw = (s: Session, query: Record<string, string | number | boolean> = {}) => {
    const qs = Object.entries(query)
      .map(([k, v]) => `${k}=${enc(String(v))}`)
      .join('&');
    return req('GET', `${V3}/sync${qs ? '?' + qs : ''}`, { token: s.access_token });
  };

  const h: SyncHarness = {
    app,
    db,
    services,
    users,
    store,
    rooms,
    notifier,
    clock,
    req,
    async register(name) {
      return (await ok(`register ${name}`, req('POST', `${V3}/register`, { body: { username: name, password: 'pw', auth: { type: 'm.login.dummy' } } }))) as Session;
    },
    async createRoom(s, body = {}) {
      return (await ok('createRoom', req('POST', `${V3}/createRoom`, { token: s.access_token, body }))).room_id as string;
    },
    async join(s, roomId) {
      await ok('join', req('POST', `${V3}/rooms/${enc(roomId)}/join`, { token: s.access_token, body: {} }));
    },
    async leave(s, roomId) {
      await ok('leave', req('POST', `${V3}/rooms/${enc(roomId)}/leave`, { token: s.access_token, body: {} }));
    },
    async invite(s, roomId, userId) {
      await ok('invite', req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: s.access_token, body: { user_id: userId } }));
    },
    async kick(s, roomId, userId) {
      await ok('kick', req('POST', `${V3}/rooms/${enc(roomId)}/kick`, { token: s.access_token, body: { user_id: userId } }));
    },
    async send(s, roomId, body, o = {}) {
      const content = o.content ?? { msgtype: 'm.text', body };
      const url = `${V3}/rooms/${enc(roomId)}/send/${enc(o.type ?? 'm.room.message')}/${enc(o.txn ?? `t${++txnCounter}`)}`;
      return (await ok('send', req('PUT', url, { token: s.access_token, body: content }))).event_id as string;
    },
    async putState(s, roomId, type, content, stateKey = '') {
      const url = `${V3}/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`;
      return (await ok('state', req('PUT', url, { token: s.access_token, body: content }))).event_id as string;
    },
    async redact(s, roomId, eventId, reason) {
      const url = `${V3}/rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(`r${++txnCounter}`)}`;
      return (await ok('redact', req('PUT', url, { token: s.access_token, body: reason ? { reason } : {} }))).event_id as string;
    },
    async sync(s, query = {}) {
      return ok('sync', syncRaw(s, query));
    },
    syncRaw,
    async close() {
      await app.close();
      services.sync?.close();
      services.typing?.close();
      services.presence?.close();
      services.push?.close();
      services.e2ee?.close();
      if (!opts.db && db.open) db.close();
    },
  };
  open.push(h);
  return h;
}

/** The event types and bodies of a room's timeline in a sync response. */
export function timelineOf(body: Record<string, any>, roomId: string, section = 'join'): any[] {
  return body.rooms?.[section]?.[roomId]?.timeline?.events ?? [];
}

export function bodies(events: any[]): string[] {
  return events.filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
}
