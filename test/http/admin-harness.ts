// Test harness for the admin area (src/admin): one app over a :memory: database wired as server.ts
// does (users, rooms, lifecycle, transactions, relations, receipts, presence, push, e2ee and the
// admin service with its account gate), a settable clock, and shorthands for the client calls the
// admin, moderation and lookup tests make.
import { afterEach } from 'vitest';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildApp, type AppServices } from '../../src/http/app.js';
import { createRoomLifecycle, type RoomLifecycleService } from '../../src/rooms/lifecycle/index.js';
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
import { createAdminService, type AdminService } from '../../src/admin/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';
export const R0 = '/_matrix/client/r0';
export const V1 = '/_matrix/client/v1';
export const ADMIN = '/_synapse/admin';
export const NOW = 1_700_000_000_000;
/** Cheap password hashing: tests create many accounts. */
export const HASH_PARAMS = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export const enc = encodeURIComponent;

export interface ReqOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export interface AdminHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  services: AppServices;
  users: UsersService;
  store: Store;
  rooms: RoomsService;
  lifecycle: RoomLifecycleService;
  admin: AdminService;
  notifier: Notifier;
  clock: { now: number };
  req(method: InjectOptions['method'], url: string, opts?: ReqOptions): Promise<Res>;
  /** Registers `@name:test.local`; `admin` makes them a server admin. */
  register(name: string, opts?: { admin?: boolean }): Promise<Session>;
  login(name: string, password?: string): Promise<Session>;
  createRoom(s: Session, body?: JsonObject): Promise<string>;
  join(s: Session, roomIdOrAlias: string): Promise<void>;
  invite(s: Session, roomId: string, userId: string): Promise<void>;
  send(s: Session, roomId: string, body: string): Promise<string>;
  close(): Promise<void>;
}

const open: AdminHarness[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

let txnCounter = 0;

export async function adminHarness(
  configOverrides: Record<string, unknown> = {},
  opts: { db?: Database; mutualRoomsPageSize?: number } = {},
): Promise<AdminHarness> {
  const config = parseConfig({ server_name: SERVER, enable_registration: true, rate_limiting: false, ...configOverrides }, { cwd: '/nonexistent' }).config;
  const db = opts.db ?? openDatabase(':memory:');
  const clock = { now: NOW };
  const now = () => clock.now;
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, now),
    passwordHashParams: HASH_PARAMS,
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
  const services: AppServices = { config, serverKeys: { current: generateSigningKey('t1'), old: [] }, clock: now, users, store, notifier, rooms };
  services.txns = createClientTxns({ store, now });
  services.relations = createRelationsService({ store, now });
  const lifecycle = createRoomLifecycle({ rooms, users, serverName: SERVER, defaultRoomVersion: config.default_room_version, clock: now });
  services.roomLifecycle = lifecycle;
  services.presence = createPresenceService({ db, notifier, serverName: SERVER, enabled: config.presence.enabled, clock: now, timers: false });
  services.typing = createTypingService({ store, notifier, serverName: SERVER, clock: now, timers: false });
  services.receipts = createReceiptsService({ db, store, notifier, serverName: SERVER, users, clock: now });
  services.push = createPushService({ db, store, notifier, users, serverName: SERVER, receipts: services.receipts });
  const e2ee = createE2eeService({ db, store, users, serverName: SERVER, notifier, clock: now });
  Object.assign(services, { e2ee, toDevice: e2ee.toDevice, deviceKeys: e2ee.deviceKeys });
  const admin = await createAdminService({
    db,
    store,
    users,
    serverName: SERVER,
    clock: now,
    passwordHashParams: HASH_PARAMS,
    resolveAlias: (alias) => lifecycle.getAlias(alias),
    ...(opts.mutualRoomsPageSize !== undefined ? { mutualRoomsPageSize: opts.mutualRoomsPageSize } : {}),
  });
  services.admin = admin;
  const app = buildApp(services);
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: ReqOptions = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }
  const ok = async (what: string, p: Promise<Res>): Promise<Record<string, any>> => {
    const r = await p;
    if (r.status !== 200) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };

  const h: AdminHarness = {
    app,
    db,
    config,
    services,
    users,
    store,
    rooms,
    lifecycle,
    admin,
    notifier,
    clock,
    req,
    async register(name, o = {}) {
      const s = (await ok(`register ${name}`, req('POST', `${V3}/register`, { body: { username: name, password: 'pw', auth: { type: 'm.login.dummy' } } }))) as Session;
      if (o.admin) await users.setAdmin(s.user_id, true);
      return s;
    },
    async login(name, password = 'pw') {
      return (await ok(`login ${name}`, req('POST', `${V3}/login`, { body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: name }, password } }))) as Session;
    },
    async createRoom(s, body = {}) {
      return (await ok('createRoom', req('POST', `${V3}/createRoom`, { token: s.access_token, body }))).room_id as string;
    },
    async join(s, roomIdOrAlias) {
      await ok('join', req('POST', `${V3}/join/${enc(roomIdOrAlias)}`, { token: s.access_token, body: {} }));
    },
    async invite(s, roomId, userId) {
      await ok('invite', req('POST', `${V3}/rooms/${enc(roomId)}/invite`, { token: s.access_token, body: { user_id: userId } }));
    },
    async send(s, roomId, body) {
      const url = `${V3}/rooms/${enc(roomId)}/send/m.room.message/${enc(`t${++txnCounter}`)}`;
      return (await ok('send', req('PUT', url, { token: s.access_token, body: { msgtype: 'm.text', body } }))).event_id as string;
    },
    async close() {
      await app.close();
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
