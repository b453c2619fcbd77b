// Test harness for typing, receipts, read markers and presence: one app over a :memory: database
// with the users, rooms, typing, receipts and presence services sharing a settable clock (no real
// timers: tests move the clock and call expireDue()/checkTimeouts()), and a record of notifier wakes.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { createPresenceService, type PresenceService, type PresenceTimings } from '../../src/ephemeral/presence.js';
import { createReceiptsService, type ReceiptsService } from '../../src/ephemeral/receipts.js';
import { createTypingService, type TypingService } from '../../src/ephemeral/typing.js';
import { buildApp } from '../../src/http/app.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier, type Notifier, type Wake } from '../../src/sync/notifier.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';

export interface EphemeralHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  clock: { now: number };
  users: UsersService;
  store: Store;
  notifier: Notifier;
  rooms: RoomsService;
  typing: TypingService;
  receipts: ReceiptsService;
  presence: PresenceService;
  /** Every wake since the last `takeWakes()`. */
  wakes: Wake[];
  takeWakes(): Wake[];
  /** Errors reported by listeners (tests expect none). */
  errors: unknown[];
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown; rawBody?: string }): Promise<Res>;
  register(username: string): Promise<Session>;
  /** A room (version 10, public join rule) created by `creator` and joined by `others`. */
  roomWith(creator: string, ...others: string[]): Promise<string>;
  send(roomId: string, sender: string, content?: JsonObject): Promise<string>;
  /** A remote user joins (a signed PDU from their server, accepted by the room writer). */
  remoteJoin(roomId: string, userId: string): Promise<void>;
  close(): Promise<void>;
}

export async function ephemeralHarness(
  configOverrides: Record<string, unknown> = {},
  opts: { timings?: Partial<PresenceTimings> } = {},
): Promise<EphemeralHarness> {
  const config = parseConfig({ server_name: SERVER, enable_registration: true, rate_limiting: false, ...configOverrides }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(':memory:');
  const clock = { now: NOW };
  const now = () => clock.now;
  const errors: unknown[] = [];
  const onListenerError = (e: unknown) => errors.push(e);
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, now),
    onHookError: (hook, err) => errors.push([hook, err]),
  });
  const store = createStore(db);
  const notifier = createNotifier(onListenerError);
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: now });
  const presence = createPresenceService({
    db,
    notifier,
    serverName: SERVER,
    enabled: config.presence.enabled,
    clock: now,
    timers: false,
    onListenerError,
    ...(opts.timings ? { timings: opts.timings } : {}),
  });
  const onActivity = (userId: string) => presence.bumpActive(userId);
  const typing = createTypingService({ store, notifier, serverName: SERVER, clock: now, timers: false, onListenerError, onActivity });
  const receipts = createReceiptsService({ db, store, notifier, serverName: SERVER, users, clock: now, onListenerError, onActivity });
  const app = buildApp({
    config,
    serverKeys: { current: generateSigningKey('t1'), old: [] },
    clock: now,
    users,
    store,
    notifier,
    rooms,
    typing,
    receipts,
    presence,
  });
  await app.ready();

  const wakes: Wake[] = [];
  notifier.onWake((w) => wakes.push(w));

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown; rawBody?: string } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  async function register(username: string): Promise<Session> {
    const r = await req('POST', `${V3}/register`, { body: { username, password: 'correct horse', auth: { type: 'm.login.dummy' } } });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  }

  async function roomWith(creator: string, ...others: string[]): Promise<string> {
    const { roomId } = await rooms.createRoom('10', creator);
    await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join' }, sender: creator });
    await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });
    for (const u of others) {
      await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: u, content: { membership: 'join' }, sender: u });
    }
    return roomId;
  }

  async function send(roomId: string, sender: string, content: JsonObject = { msgtype: 'm.text', body: 'hi' }): Promise<string> {
    return (await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content, sender })).eventId;
  }

  const remoteKey = generateSigningKey('remote1');
  async function remoteJoin(roomId: string, userId: string): Promise<void> {
    const version = requireRoomVersion('10');
    const state = await store.getCurrentStateIds(roomId);
    const auth = ['m.room.create\u0000', 'm.room.join_rules\u0000', 'm.room.power_levels\u0000']
      .map((k) => state.get(k))
      .filter((id): id is string => id !== undefined);
    const prev = await store.getForwardExtremities(roomId);
    const prevEvents = await store.getEvents(prev);
    const pdu: JsonObject = {
      auth_events: auth,
      content: { membership: 'join' },
      depth: Math.max(...prevEvents.map((e) => e.depth)) + 1,
      origin_server_ts: clock.now,
      prev_events: prev,
      room_id: roomId,
      sender: userId,
      state_key: userId,
      type: 'm.room.member',
    };
    const signed = hashAndSignEvent(pdu, userId.split(':')[1]!, remoteKey, version);
    const r = await rooms.acceptEvent(signed, version);
    if (r.status !== 'accepted') throw new Error(`remote join ${userId}: ${JSON.stringify(r)}`);
  }

  return {
    remoteJoin,
    app,
    db,
    config,
    clock,
    users,
    store,
    notifier,
    rooms,
    typing,
    receipts,
    presence,
    wakes,
    takeWakes: () => wakes.splice(0),
    errors,
    req,
    register,
    roomWith,
    send,
    async close() {
      typing.close();
      presence.close();
      await app.close();
      db.close();
    },
  };
}
