// Test harness for the outbound federation sender: a temp-file SQLite database with the rooms,
// users, ephemeral and E2EE services, a fake FederationClient that records every transaction and
// answers as each test says, and helpers to put remote users into rooms.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import type { JsonObject, JsonValue } from '../../src/core/json/types.js';
import { createE2eeService, type E2eeFederation, type E2eeService } from '../../src/e2ee/service.js';
import { createPresenceService, type PresenceService } from '../../src/ephemeral/presence.js';
import { createReceiptsService, type ReceiptsService } from '../../src/ephemeral/receipts.js';
import { createTypingService, type TypingService } from '../../src/ephemeral/typing.js';
import { FederationError, type FederationClient, type FederationMethod, type FederationRequestOptions } from '../../src/federation/client.js';
import { connectSenderSources, createFederationSender, type FederationSender, type FederationSenderDeps, type SenderSources } from '../../src/federation/sender/index.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore, type Store } from '../../src/store/index.js';
import { createNotifier, type Notifier } from '../../src/sync/notifier.js';
import { createUsersService, usersOptionsFromConfig, type Requester, type UsersService } from '../../src/users/service.js';

export const LOCAL = 'local.test';
export const REMOTE1 = 'remote1.test:8448';
export const REMOTE2 = 'remote2.test';

/** One PUT /send seen by the fake client. */
export interface SentTxn {
  destination: string;
  txnId: string;
  body: { origin: string; origin_server_ts: number; pdus: JsonObject[]; edus: { edu_type: string; content: JsonObject }[] };
}

/** What the fake client does with a transaction: resolve with a response, or throw. */
export type Responder = (txn: SentTxn, signal: AbortSignal | undefined) => Promise<unknown> | unknown;

export class FakeFederationClient implements Pick<FederationClient, 'request'> {
  readonly sent: SentTxn[] = [];
  /** Transactions answered successfully, in order. */
  readonly delivered: SentTxn[] = [];
  readonly inFlight = new Map<string, number>();
  maxInFlight = new Map<string, number>();
  responders = new Map<string, Responder>();
  defaultResponder: Responder = (txn) => ({ pdus: Object.fromEntries(txn.body.pdus.map((_p, i) => [`$${i}`, {}])) });

  async request<T>(destination: string, method: FederationMethod, path: string, body?: JsonValue, opts?: FederationRequestOptions): Promise<T> {
    if (method !== 'PUT' || !path.startsWith('/_matrix/federation/v1/send/')) throw new Error(`unexpected request ${method} ${path}`);
    const txn: SentTxn = { destination, txnId: decodeURIComponent(path.slice('/_matrix/federation/v1/send/'.length)), body: structuredClone(body) as SentTxn['body'] };
    this.sent.push(txn);
    const n = (this.inFlight.get(destination) ?? 0) + 1;
    this.inFlight.set(destination, n);
    this.maxInFlight.set(destination, Math.max(n, this.maxInFlight.get(destination) ?? 0));
    try {
      const r = await (this.responders.get(destination) ?? this.defaultResponder)(txn, opts?.signal);
      this.delivered.push(txn);
      return r as T;
    } finally {
      this.inFlight.set(destination, (this.inFlight.get(destination) ?? 1) - 1);
    }
  }

  to(destination: string): SentTxn[] {
    return this.sent.filter((t) => t.destination === destination);
  }

  deliveredTo(destination: string): SentTxn[] {
    return this.delivered.filter((t) => t.destination === destination);
  }

  /** Event IDs of the PDUs delivered to the destination, in order (computed from the PDU JSON). */
  pdusDeliveredTo(destination: string, version = '10'): string[] {
    const v = requireRoomVersion(version);
    return this.deliveredTo(destination).flatMap((t) => t.body.pdus.map((p) => computeEventId(p, v)));
  }

  edusDeliveredTo(destination: string, type?: string): { edu_type: string; content: JsonObject }[] {
    return this.deliveredTo(destination)
      .flatMap((t) => t.body.edus)
      .filter((e) => type === undefined || e.edu_type === type);
  }
}

/** Failures as the real client throws them. */
export const networkDown = (dest: string) => new FederationError(dest, 0, 'connect ECONNREFUSED');
export const httpError = (dest: string, status: number, errcode?: string) =>
  new FederationError(dest, status, `HTTP ${status}`, errcode ? { errcode } : {});

/** A promise with its resolve function outside (to hold a transaction in flight). */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

export async function until(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface SenderHarness {
  dir: string;
  db: Database;
  store: Store;
  rooms: RoomsService;
  users: UsersService;
  notifier: Notifier;
  typing: TypingService;
  receipts: ReceiptsService;
  presence: PresenceService;
  e2ee: E2eeService;
  e2eeHooks: E2eeFederation;
  client: FakeFederationClient;
  sender: FederationSender;
  sources: SenderSources;
  signingKey: SigningKey;
  /** A local account; returns its requester (with a device). */
  account(localpart: string): Promise<Requester>;
  /** A public room created by a local user (v10), joined by `locals`. */
  room(creator: string, locals?: string[]): Promise<string>;
  /** A remote user's join (signed by its server's key), accepted as a remote event. */
  remoteJoin(roomId: string, userId: string): Promise<string>;
  /** A remote user's event (any type) accepted into the room. */
  remoteEvent(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  send(roomId: string, sender: string, body: string): Promise<string>;
  state(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string): Promise<string>;
  /** Closes the sender and the database (the data folder stays for restart()). */
  stop(): Promise<void>;
  /** Reopens the same database with fresh services and a fresh sender (same fake client unless given). */
  restart(opts?: { client?: FakeFederationClient; senderOptions?: Partial<FederationSenderDeps> }): Promise<SenderHarness>;
  close(): Promise<void>;
}

export interface SenderHarnessOptions {
  client?: FakeFederationClient;
  senderOptions?: Partial<FederationSenderDeps>;
  dir?: string;
  signingKey?: SigningKey;
}

const remoteKeys = new Map<string, SigningKey>();
function remoteKey(server: string): SigningKey {
  let k = remoteKeys.get(server);
  if (!k) remoteKeys.set(server, (k = generateSigningKey('r1')));
  return k;
}

export async function senderHarness(opts: SenderHarnessOptions = {}): Promise<SenderHarness> {
  const dir = opts.dir ?? mkdtempSync(joinPath(tmpdir(), 'fed-sender-'));
  const config = parseConfig({ server_name: LOCAL, enable_registration: true }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(joinPath(dir, 'homeserver.db'));
  const store = createStore(db);
  const notifier = createNotifier((e) => {
    throw e;
  });
  notifier.advanceTo(store.currentStreamPosition());
  const signingKey = opts.signingKey ?? generateSigningKey('k1');
  const rooms = createRoomsService({ store, notifier, serverName: LOCAL, signingKey });
  const users = createUsersService(usersOptionsFromConfig(db, config));
  const onListenerError = (e: unknown) => {
    throw e;
  };
  const typing = createTypingService({ store, notifier, serverName: LOCAL, timers: false, onListenerError });
  const receipts = createReceiptsService({ db, store, notifier, serverName: LOCAL, users, onListenerError });
  const presence = createPresenceService({ db, notifier, serverName: LOCAL, timers: false, onListenerError });
  const e2eeHooks: E2eeFederation = {};
  const e2ee = createE2eeService({ db, store, users, serverName: LOCAL, notifier, federation: e2eeHooks });
  const client = opts.client ?? new FakeFederationClient();
  const sender = createFederationSender({
    store,
    client,
    serverName: LOCAL,
    backoff: { initialMs: 30, maxMs: 240, jitter: 0 },
    ...opts.senderOptions,
  });
  const sources = connectSenderSources(sender, { db, store, serverName: LOCAL, typing, receipts, presence, e2eeHooks, e2eeKeys: e2ee.keyStore });

  async function account(localpart: string): Promise<Requester> {
    const userId = `@${localpart}:${LOCAL}`;
    const exists = db.prepare('SELECT 1 FROM users WHERE user_id = ?').get(userId);
    if (!exists) await users.createAccount({ localpart, password: 'password' });
    const s = await users.login({ type: 'm.login.password', identifier: { type: 'm.id.user', user: localpart }, password: 'password' });
    return users.authenticate(s.access_token!);
  }

  async function state(roomId: string, sender: string, type: string, content: JsonObject, stateKey = ''): Promise<string> {
    return (await rooms.sendLocalEvent(roomId, { type, stateKey, content, sender })).eventId;
  }

  async function room(creator: string, locals: string[] = []): Promise<string> {
    const { roomId } = await rooms.createRoom('10', creator);
    await state(roomId, creator, 'm.room.member', { membership: 'join' }, creator);
    await state(roomId, creator, 'm.room.power_levels', { users: { [creator]: 100 } });
    await state(roomId, creator, 'm.room.join_rules', { join_rule: 'public' });
    for (const u of locals) await state(roomId, u, 'm.room.member', { membership: 'join' }, u);
    return roomId;
  }

  async function remoteEvent(roomId: string, sender: string, type: string, content: JsonObject, stateKey?: string): Promise<string> {
    const version = requireRoomVersion((await store.getRoomVersion(roomId))!);
    const st = await store.getCurrentStateIds(roomId);
    const keys = ['m.room.create\u0000', 'm.room.power_levels\u0000', `m.room.member\u0000${sender}`];
    if (type === 'm.room.member') {
      keys.push('m.room.join_rules\u0000');
      if (stateKey !== undefined && stateKey !== sender) keys.push(`m.room.member\u0000${stateKey}`);
    }
    const auth = [...new Set(keys)].map((k) => st.get(k)).filter((id): id is string => id !== undefined);
    const prev = await store.getForwardExtremities(roomId);
    const prevEvents = await store.getEvents(prev);
    const server = sender.slice(sender.indexOf(':') + 1);
    const pdu: JsonObject = {
      auth_events: auth,
      content,
      depth: Math.max(...prevEvents.map((e) => e.depth)) + 1,
      origin_server_ts: Date.now(),
      prev_events: prev,
      room_id: roomId,
      sender,
      type,
      ...(stateKey !== undefined ? { state_key: stateKey } : {}),
    };
    const signed = hashAndSignEvent(pdu, server, remoteKey(server), version);
    const r = await rooms.acceptEvent(signed, version);
    if (r.status !== 'accepted') throw new Error(`remote event: ${JSON.stringify(r)}`);
    return r.eventId;
  }

  let stopped = false;
  const h: SenderHarness = {
    dir,
    db,
    store,
    rooms,
    users,
    notifier,
    typing,
    receipts,
    presence,
    e2ee,
    e2eeHooks,
    client,
    sender,
    sources,
    signingKey,
    account,
    room,
    remoteJoin: (roomId, userId) => remoteEvent(roomId, userId, 'm.room.member', { membership: 'join' }, userId),
    remoteEvent,
    send: async (roomId, sender, body) => (await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body }, sender })).eventId,
    state,
    async stop() {
      if (stopped) return;
      stopped = true;
      sources.disconnect();
      await sender.close();
      typing.close();
      presence.close();
      e2ee.close();
      db.close();
    },
    async restart(o = {}) {
      await h.stop();
      return senderHarness({
        dir,
        signingKey,
        client: o.client ?? client,
        ...(o.senderOptions ? { senderOptions: o.senderOptions } : opts.senderOptions ? { senderOptions: opts.senderOptions } : {}),
      });
    },
    async close() {
      await h.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}
