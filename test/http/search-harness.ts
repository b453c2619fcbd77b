// Test harness for search, the user directory, reports, rate limits and the probe endpoints: one app
// over a :memory: database with the users and rooms services, the search area (derived writers
// installed before any event) and, when asked, the rate limiter, all on one settable clock.
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey } from '../../src/core/crypto/ed25519.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildApp } from '../../src/http/app.js';
import { createRateLimiter, type RateLimiter } from '../../src/http/rate-limit.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { createSearchArea, type SearchArea } from '../../src/search/index.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier } from '../../src/sync/notifier.js';
import { connectUsersToRooms } from '../../src/users/room-hooks.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import type { Res, Session } from './users-harness.js';
import { injectJson } from './inject.js';

export const NOW = 1_700_000_000_000;
export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';
export const REMOTE = 'remote.example';

export interface SearchHarness {
  app: FastifyInstance;
  db: Database;
  config: Config;
  clock: { now: number };
  users: UsersService;
  store: Store;
  rooms: RoomsService;
  area: SearchArea;
  rateLimiter: RateLimiter | undefined;
  errors: unknown[];
  req(
    method: InjectOptions['method'],
    url: string,
    opts?: { token?: string; body?: unknown; rawBody?: string; ip?: string },
  ): Promise<Res>;
  /** Registers `username` (m.login.dummy) and returns the session. */
  register(username: string, extra?: Record<string, unknown>): Promise<Session>;
  /** Logs in with the password `register` uses; returns the access token. */
  login(username: string): Promise<string>;
  /** A version-10 room created by `creator` with the given join rule (and history visibility), joined by `others`. */
  room(creator: string, opts?: { joinRule?: string; historyVisibility?: string; others?: string[]; version?: string }): Promise<string>;
  join(roomId: string, userId: string, content?: JsonObject): Promise<string>;
  leave(roomId: string, userId: string): Promise<string>;
  state(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  send(roomId: string, sender: string, body: string, extra?: JsonObject): Promise<string>;
  redact(roomId: string, sender: string, eventId: string): Promise<string>;
  /** A remote user's event in a room (a PDU signed by their server, accepted by the room writer). */
  remoteEvent(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string, redacts?: string): Promise<string>;
  /** Builds (without accepting) a remote user's signed event on the room's current extremities. */
  buildRemoteEvent(
    roomId: string,
    sender: string,
    type: string,
    content: JsonObject,
    stateKey?: string,
    redacts?: string,
  ): Promise<{ pdu: JsonObject; eventId: string }>;
  /** Accepts a PDU built by buildRemoteEvent; throws unless accepted. */
  acceptRemote(roomId: string, pdu: JsonObject): Promise<string>;
  close(): Promise<void>;
}

export interface SearchHarnessOptions {
  /** Build and pass a rate limiter from the config (the config's rate_limiting still applies). */
  rateLimiter?: boolean;
  /** Registered on the app before it is ready (extra routes for a test). */
  plugin?: (app: FastifyInstance, users: UsersService) => Promise<void>;
}

export async function searchHarness(configOverrides: Record<string, unknown> = {}, opts: SearchHarnessOptions = {}): Promise<SearchHarness> {
  const config = parseConfig(
    { server_name: SERVER, enable_registration: true, rate_limiting: false, ...configOverrides },
    { cwd: '/nonexistent' },
  ).config;
  const db = openDatabase(':memory:');
  const clock = { now: NOW };
  const now = () => clock.now;
  const errors: unknown[] = [];
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, now),
    onHookError: (hook, err) => errors.push([hook, err]),
  });
  const store = createStore(db);
  const notifier = createNotifier((e) => errors.push(e));
  const area = createSearchArea({ store, config, users, clock: now });
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: now });
  connectUsersToRooms(users, rooms, { onRoomError: (roomId, userId, err) => errors.push([roomId, userId, err]) });
  const rateLimiter = opts.rateLimiter ? createRateLimiter(config, now) : undefined;
  const app = buildApp({
    config,
    serverKeys: { current: generateSigningKey('t1'), old: [] },
    clock: now,
    users,
    store,
    notifier,
    rooms,
    ...area,
    ...(rateLimiter ? { rateLimiter } : {}),
  });
  if (opts.plugin) {
    const extra = opts.plugin;
    void app.register(async (inner) => extra(inner, users));
  }
  await app.ready();

  async function req(
    method: InjectOptions['method'],
    url: string,
    o: { token?: string; body?: unknown; rawBody?: string; ip?: string } = {},
  ): Promise<Res> {
    return injectJson(app, method, url, { ...o, remoteAddress: o.ip });
  }

  async function register(username: string, extra: Record<string, unknown> = {}): Promise<Session> {
    const r = await req('POST', `${V3}/register`, { body: { username, password: 'correct horse', auth: { type: 'm.login.dummy' }, ...extra } });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  }

  async function login(username: string): Promise<string> {
    const r = await req('POST', `${V3}/login`, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password: 'correct horse' },
    });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.access_token as string;
  }

  const state = async (roomId: string, sender: string, type: string, content: JsonObject, stateKey = ''): Promise<string> =>
    (await rooms.sendLocalEvent(roomId, { type, stateKey, content, sender })).eventId;
  const join = (roomId: string, userId: string, content: JsonObject = {}) => state(roomId, userId, 'm.room.member', { membership: 'join', ...content }, userId);

  async function room(
    creator: string,
    o: { joinRule?: string; historyVisibility?: string; others?: string[]; version?: string } = {},
  ): Promise<string> {
    const { roomId } = await rooms.createRoom(o.version ?? '10', creator);
    await join(roomId, creator);
    await state(roomId, creator, 'm.room.power_levels', { users: { [creator]: 100 } });
    await state(roomId, creator, 'm.room.join_rules', { join_rule: o.joinRule ?? 'public' });
    if (o.historyVisibility) await state(roomId, creator, 'm.room.history_visibility', { history_visibility: o.historyVisibility });
    for (const u of o.others ?? []) {
      if ((o.joinRule ?? 'public') !== 'public') await state(roomId, creator, 'm.room.member', { membership: 'invite' }, u);
      await join(roomId, u);
    }
    return roomId;
  }

  const remoteKey = generateSigningKey('remote1');
  async function buildRemoteEvent(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string, redacts?: string) {
    const version = requireRoomVersion((await store.getRoomVersion(roomId))!);
    const st = await store.getCurrentStateIds(roomId);
    const keys = ['m.room.create\u0000', 'm.room.power_levels\u0000', `m.room.member\u0000${sender}`];
    if (type === 'm.room.member' && content.membership === 'join') keys.push('m.room.join_rules\u0000');
    const auth = keys.map((k) => st.get(k)).filter((id): id is string => id !== undefined);
    const prev = await store.getForwardExtremities(roomId);
    const prevEvents = await store.getEvents(prev);
    const pdu: JsonObject = {
      auth_events: auth,
      content,
      depth: Math.max(...prevEvents.map((e) => e.depth)) + 1,
      origin_server_ts: clock.now,
      prev_events: prev,
      room_id: roomId,
      sender,
      type,
      ...(stateKey !== undefined ? { state_key: stateKey } : {}),
      // Room versions before 11 carry `redacts` at the top level.
      ...(redacts !== undefined ? { redacts } : {}),
    };
    const signed = hashAndSignEvent(pdu, sender.split(':')[1]!, remoteKey, version);
    return { pdu: signed, eventId: computeEventId(signed, version) };
  }
  async function acceptRemote(roomId: string, pdu: JsonObject): Promise<string> {
    const version = requireRoomVersion((await store.getRoomVersion(roomId))!);
    const r = await rooms.acceptEvent(pdu, version);
    if (r.status !== 'accepted') throw new Error(`remote event: ${JSON.stringify(r)}`);
    return r.eventId;
  }
  async function remoteEvent(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string, redacts?: string): Promise<string> {
    const { pdu } = await buildRemoteEvent(roomId, sender, type, content, stateKey, redacts);
    return acceptRemote(roomId, pdu);
  }

  return {
    app,
    db,
    config,
    clock,
    users,
    store,
    rooms,
    area,
    rateLimiter,
    errors,
    req,
    register,
    login,
    room,
    join,
    leave: (roomId, userId) => state(roomId, userId, 'm.room.member', { membership: 'leave' }, userId),
    state,
    send: async (roomId, sender, body, extra = {}) =>
      (await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body, ...extra }, sender })).eventId,
    redact: async (roomId, sender, eventId) =>
      (await rooms.sendLocalEvent(roomId, { type: 'm.room.redaction', content: {}, redacts: eventId, sender })).eventId,
    remoteEvent,
    buildRemoteEvent,
    acceptRemote,
    async close() {
      await app.close();
      db.close();
    },
  };
}
