// Test harness for the rooms lifecycle endpoints: one app over a :memory: database with the users,
// rooms and room lifecycle services (as server.ts wires them), cheap password hashing, and helpers
// that register users and read room state straight from the store.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildApp } from '../../src/http/app.js';
import { createRoomLifecycle, type RemoteRoomHooks, type RoomLifecycleService } from '../../src/rooms/lifecycle/index.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type StoredEvent, type Store } from '../../src/store/index.js';
import { createNotifier } from '../../src/sync/notifier.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';

export interface LifecycleHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  clock: { now: number };
  users: UsersService;
  store: Store;
  rooms: RoomsService;
  lifecycle: RoomLifecycleService;
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown }): Promise<Res>;
  /** Registers `@name:test.local` (m.login.dummy) and returns its session. */
  register(name: string, opts?: { admin?: boolean; displayname?: string }): Promise<Session>;
  /** POST /createRoom; fails the test unless it answers 200. */
  createRoom(token: string, body?: JsonObject): Promise<string>;
  /** Current state content of (type, stateKey), or undefined. */
  state(roomId: string, type: string, stateKey?: string): Promise<JsonObject | undefined>;
  stateEvent(roomId: string, type: string, stateKey?: string): Promise<StoredEvent | undefined>;
  membership(roomId: string, userId: string): Promise<string | undefined>;
  /** The room's events in DAG order (type and state key). */
  timeline(roomId: string): Promise<{ type: string; stateKey: string | undefined; sender: string; content: JsonObject }[]>;
  close(): Promise<void>;
}

/** URL path segment for an ID (aliases and room IDs hold `#`, `!` and `:`). */
export function enc(id: string): string {
  return encodeURIComponent(id);
}

export async function lifecycleHarness(
  configOverrides: Record<string, unknown> = {},
  opts: { remote?: RemoteRoomHooks } = {},
): Promise<LifecycleHarness> {
  const config = parseConfig({ server_name: SERVER, enable_registration: true, rate_limiting: false, ...configOverrides }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(':memory:');
  const clock = { now: NOW };
  const now = () => clock.now;
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, now),
    // Tests register many users: a cheap hash keeps them fast (the parameters do not matter here).
    passwordHashParams: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    onHookError: (hook, err) => {
      throw new Error(`users hook ${hook} failed: ${String(err)}`);
    },
  });
  const store = createStore(db);
  const notifier = createNotifier((e) => {
    throw e;
  });
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: now });
  connectUsersToRooms(users, rooms, {
    onRoomError: (_roomId, _userId, err) => {
      throw err;
    },
  });
  const lifecycle = createRoomLifecycle({
    rooms,
    users,
    serverName: SERVER,
    defaultRoomVersion: config.default_room_version,
    clock: now,
    ...(opts.remote ? { remote: opts.remote } : {}),
  });
  const app = buildApp({ config, serverKeys: { current: generateSigningKey('t1'), old: [] }, clock: now, users, store, notifier, rooms, roomLifecycle: lifecycle });
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  const h: LifecycleHarness = {
    app,
    db,
    config,
    clock,
    users,
    store,
    rooms,
    lifecycle,
    req,
    async register(name, o = {}) {
      const r = await req('POST', `${V3}/register`, { body: { username: name, password: 'pw', auth: { type: 'm.login.dummy' } } });
      if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      const session = r.body as Session;
      if (o.admin) await users.setAdmin(session.user_id, true);
      if (o.displayname !== undefined) {
        const p = await req('PUT', `${V3}/profile/${enc(session.user_id)}/displayname`, { token: session.access_token, body: { displayname: o.displayname } });
        if (p.status !== 200) throw new Error(`displayname: ${p.status}`);
      }
      return session;
    },
    async createRoom(token, body = {}) {
      const r = await req('POST', `${V3}/createRoom`, { token, body });
      if (r.status !== 200) throw new Error(`createRoom: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.room_id as string;
    },
    async state(roomId, type, stateKey = '') {
      return (await store.getCurrentStateEvent(roomId, type, stateKey))?.event.content;
    },
    async stateEvent(roomId, type, stateKey = '') {
      return store.getCurrentStateEvent(roomId, type, stateKey);
    },
    async membership(roomId, userId) {
      return (await store.getMembership(roomId, userId))?.membership;
    },
    async timeline(roomId) {
      const evs = await store.getEventsByTopology(roomId, { direction: 'f', limit: 1000 });
      return evs.map((e) => ({ type: e.event.type, stateKey: e.event.stateKey, sender: e.event.sender, content: e.event.content }));
    },
    async close() {
      await app.close();
      db.close();
    },
  };
  return h;
}
