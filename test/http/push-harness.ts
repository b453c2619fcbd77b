// Test harness for push: one app over a temp-file SQLite database with the users, rooms, receipts and
// push services sharing a settable clock, room helpers, and a fake push gateway (Fastify on 127.0.0.1).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { createReceiptsService, type ReceiptsService } from '../../src/ephemeral/receipts.js';
import { buildApp } from '../../src/http/app.js';
import type { PusherDeliveryOptions } from '../../src/push/pusher-delivery.js';
import { createPushService, type PushService } from '../../src/push/service.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier, type Notifier } from '../../src/sync/notifier.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';

export interface PushHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  clock: { now: number };
  users: UsersService;
  store: Store;
  notifier: Notifier;
  rooms: RoomsService;
  receipts: ReceiptsService;
  push: PushService;
  errors: unknown[];
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown }): Promise<Res>;
  /** Registers `name` (user ID @name:test.local) and returns the login body. */
  register(name: string): Promise<Session>;
  /** A room created by `creator`, joined by `others` (user IDs). */
  roomWith(creator: string, ...others: string[]): Promise<string>;
  send(roomId: string, sender: string, content?: JsonObject): Promise<string>;
  counts(userId: string, roomId: string): { notification_count: number; highlight_count: number };
  close(): Promise<void>;
}

export async function pushHarness(opts: { delivery?: PusherDeliveryOptions; roomVersion?: string } = {}): Promise<PushHarness> {
  const config = parseConfig({ server_name: SERVER, enable_registration: true, rate_limiting: false }, { cwd: '/nonexistent' }).config;
  const dir = mkdtempSync(join(tmpdir(), 'push-test-'));
  const db = openDatabase(join(dir, 'homeserver.db'));
  const clock = { now: NOW };
  const now = () => clock.now;
  const errors: unknown[] = [];
  const onListenerError = (e: unknown) => errors.push(e);
  const users = createUsersService({ ...usersOptionsFromConfig(db, config, now), onHookError: (hook, err) => errors.push([hook, err]) });
  const store = createStore(db);
  const notifier = createNotifier(onListenerError);
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: now });
  const receipts = createReceiptsService({ db, store, notifier, serverName: SERVER, users, clock: now, onListenerError });
  const push = createPushService({
    db,
    store,
    notifier,
    users,
    serverName: SERVER,
    clock: now,
    receipts,
    logger: { info: () => {}, warn: () => {}, error: (o) => errors.push(o) },
    delivery: { initialBackoffMs: 20, maxBackoffMs: 100, timeoutMs: 2_000, ...opts.delivery },
  });
  const app = buildApp({ config, serverKeys: { current: generateSigningKey('t1'), old: [] }, clock: now, users, store, notifier, rooms, receipts, push });
  await app.ready();
  const roomVersion = opts.roomVersion ?? '10';

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  return {
    app,
    db,
    config,
    clock,
    users,
    store,
    notifier,
    rooms,
    receipts,
    push,
    errors,
    req,
    async register(name) {
      const r = await req('POST', `${V3}/register`, { body: { username: name, password: 'correct horse', auth: { type: 'm.login.dummy' } } });
      if (r.status !== 200) throw new Error(`register ${name}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body as Session;
    },
    async roomWith(creator, ...others) {
      const { roomId } = await rooms.createRoom(roomVersion, creator);
      await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join', displayname: displayNameOf(creator) }, sender: creator });
      await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });
      for (const u of others) {
        await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: u, content: { membership: 'join', displayname: displayNameOf(u) }, sender: u });
      }
      return roomId;
    },
    async send(roomId, sender, content = { msgtype: 'm.text', body: 'hello there' }) {
      return (await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content, sender })).eventId;
    },
    counts: (userId, roomId) => push.unreadCounts(userId, roomId),
    async close() {
      push.close();
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** "@alice:test.local" -> "Alice": the display name room helpers give each member. */
export function displayNameOf(userId: string): string {
  const local = userId.slice(1, userId.indexOf(':'));
  return local.charAt(0).toUpperCase() + local.slice(1);
}

/** A fake push gateway: records every notify request and answers with `respond`. */
export interface FakeGateway {
  url: string;
  received: JsonObject[];
  /** Status and body per request (default 200 {rejected: []}). */
  respond: (body: JsonObject) => { status: number; body: JsonObject };
  /** Resolves once `n` requests have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function fakeGateway(): Promise<FakeGateway> {
  const app = Fastify({ logger: false });
  const gw: FakeGateway = {
    url: '',
    received: [],
    respond: () => ({ status: 200, body: { rejected: [] } }),
    async waitFor(n, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      while (gw.received.length < n) {
        if (Date.now() > until) throw new Error(`gateway got ${gw.received.length} of ${n} requests`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    close: () => app.close(),
  };
  app.post('/_matrix/push/v1/notify', async (request, reply) => {
    const body = request.body as JsonObject;
    gw.received.push(body);
    const { status, body: answer } = gw.respond(body);
    return reply.code(status).send(answer);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  gw.url = `http://127.0.0.1:${addr.port}/_matrix/push/v1/notify`;
  return gw;
}
