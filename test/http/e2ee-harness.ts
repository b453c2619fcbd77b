// Test harness for the E2EE endpoints: an app over a temp-file SQLite database with the users,
// rooms and e2ee services, and helpers that build what real clients upload: device keys signed by
// the device's Ed25519 key, signed one-time/fallback keys, cross-signing keys signed by the master.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { jsonSigningBytes } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';
import { buildApp } from '../../src/http/app.js';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createRoomsService, type RoomsService } from '../../src/rooms/service.js';
import { createNotifier, type Notifier } from '../../src/sync/notifier.js';
import { createUsersService, usersOptionsFromConfig, type UsersService } from '../../src/users/service.js';
import { createE2eeService, type E2eeFederation, type E2eeService } from '../../src/e2ee/service.js';
import { injectJson, type Res } from './inject.js';

export const SERVER = 'test.local';
export const V3 = '/_matrix/client/v3';
export const NOW = 1_700_000_000_000;

export type { Res } from './inject.js';

export interface Session {
  user_id: string;
  access_token: string;
  device_id: string;
}

/** A logged-in device with its own Ed25519 identity key. */
export interface Device extends Session {
  key: SigningKey;
  curve25519: string;
}

export interface CrossSigning {
  master: SigningKey;
  selfSigning: SigningKey;
  userSigning: SigningKey;
  masterKey: JsonObject;
  selfSigningKey: JsonObject;
  userSigningKey: JsonObject;
}

export interface E2eeHarness {
  app: FastifyInstance;
  users: UsersService;
  rooms: RoomsService;
  e2ee: E2eeService;
  notifier: Notifier;
  db: Database;
  config: Config;
  clock: { now: number };
  /** User IDs passed to notifier.wakeUsers, in order. */
  wakes: string[][];
  req(method: InjectOptions['method'], url: string, opts?: { token?: string; body?: unknown; rawBody?: string }): Promise<Res>;
  register(username: string, password?: string): Promise<Session>;
  login(username: string, password?: string, deviceId?: string): Promise<Session>;
  /** Registers (first call) or logs in, and returns a device with a fresh identity key. */
  device(username: string): Promise<Device>;
  /** Uploads the device's signed device keys; returns the response. */
  uploadDeviceKeys(d: Device): Promise<Res>;
  /** Creates and uploads master, self-signing and user-signing keys for the device's user (first upload: no UIA). */
  setupCrossSigning(d: Device): Promise<CrossSigning>;
  /** A room created by `creator` (public join rule) that `others` joined. */
  sharedRoom(creator: string, ...others: string[]): Promise<string>;
  join(roomId: string, userId: string): Promise<void>;
  leave(roomId: string, userId: string): Promise<void>;
  close(): Promise<void>;
}

export function b64(bytes = 32): string {
  return randomBytes(bytes).toString('base64').replace(/=+$/, '');
}

/** `obj` with `signatures[userId][keyId]` set to `key`'s signature over it (keeping other signatures). */
export function signAs<T extends JsonObject>(obj: T, userId: string, keyId: string, key: SigningKey): T {
  const sig = key.sign(jsonSigningBytes(obj));
  const sigs = (obj.signatures ?? {}) as Record<string, Record<string, string>>;
  return { ...obj, signatures: { ...sigs, [userId]: { ...(sigs[userId] ?? {}), [keyId]: sig } } };
}

export function deviceKeysOf(d: Device, extra: JsonObject = {}): JsonObject {
  const obj: JsonObject = {
    user_id: d.user_id,
    device_id: d.device_id,
    algorithms: ['m.olm.v1.curve25519-aes-sha2', 'm.megolm.v1.aes-sha2'],
    keys: { [`curve25519:${d.device_id}`]: d.curve25519, [`ed25519:${d.device_id}`]: d.key.publicKey },
    ...extra,
  };
  return signAs(obj, d.user_id, `ed25519:${d.device_id}`, d.key);
}

/** A signed_curve25519 key object signed by the device. */
export function signedKey(d: Device, fallback = false): JsonObject {
  return signAs({ key: b64(), ...(fallback ? { fallback: true } : {}) }, d.user_id, `ed25519:${d.device_id}`, d.key);
}

export function crossSigningKey(userId: string, usage: string, key: SigningKey, signer?: SigningKey): JsonObject {
  const obj: JsonObject = { user_id: userId, usage: [usage], keys: { [`ed25519:${key.publicKey}`]: key.publicKey } };
  return signer ? signAs(obj, userId, `ed25519:${signer.publicKey}`, signer) : obj;
}

export async function e2eeHarness(opts: { federation?: E2eeFederation } = {}): Promise<E2eeHarness> {
  const dir = mkdtempSync(joinPath(tmpdir(), 'e2ee-test-'));
  const config = parseConfig({ server_name: SERVER, enable_registration: true }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(joinPath(dir, 'homeserver.db'));
  const clock = { now: NOW };
  const notifier = createNotifier((e) => {
    throw e;
  });
  const wakes: string[][] = [];
  notifier.onWake((w) => {
    if (w.userIds.length) wakes.push([...w.userIds]);
  });
  const users = createUsersService({
    ...usersOptionsFromConfig(db, config, () => clock.now),
    // Cheap hashes: these tests are about keys, not passwords.
    passwordHashParams: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
    onHookError: (hook, err) => {
      throw new Error(`hook ${hook} failed: ${String(err)}`);
    },
  });
  const rooms = createRoomsService({ db, serverName: SERVER, signingKey: generateSigningKey('r1'), clock: () => clock.now, notifier });
  const e2ee = createE2eeService({
    db,
    store: rooms.store,
    users,
    serverName: SERVER,
    notifier,
    clock: () => clock.now,
    ...(opts.federation ? { federation: opts.federation } : {}),
  });
  const app = buildApp({
    config,
    serverKeys: { current: generateSigningKey('t1'), old: [] },
    clock: () => clock.now,
    users,
    store: rooms.store,
    notifier,
    rooms,
    e2ee,
    toDevice: e2ee.toDevice,
    deviceKeys: e2ee.deviceKeys,
  });
  await app.ready();

  async function req(method: InjectOptions['method'], url: string, o: { token?: string; body?: unknown; rawBody?: string } = {}): Promise<Res> {
    return injectJson(app, method, url, o);
  }

  const registered = new Set<string>();
  async function register(username: string, password = 'pw'): Promise<Session> {
    const r = await req('POST', `${V3}/register`, { body: { username, password, auth: { type: 'm.login.dummy' } } });
    if (r.status !== 200) throw new Error(`register ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    registered.add(username);
    return r.body as Session;
  }
  async function login(username: string, password = 'pw', deviceId?: string): Promise<Session> {
    const r = await req('POST', `${V3}/login`, {
      body: { type: 'm.login.password', identifier: { type: 'm.id.user', user: username }, password, ...(deviceId ? { device_id: deviceId } : {}) },
    });
    if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body as Session;
  }
  async function device(username: string): Promise<Device> {
    const s = registered.has(username) ? await login(username) : await register(username);
    return { ...s, key: generateSigningKey(), curve25519: b64() };
  }
  async function uploadDeviceKeys(d: Device): Promise<Res> {
    return req('POST', `${V3}/keys/upload`, { token: d.access_token, body: { device_keys: deviceKeysOf(d) } });
  }
  async function setupCrossSigning(d: Device): Promise<CrossSigning> {
    const master = generateSigningKey();
    const selfSigning = generateSigningKey();
    const userSigning = generateSigningKey();
    const cs: CrossSigning = {
      master,
      selfSigning,
      userSigning,
      masterKey: crossSigningKey(d.user_id, 'master', master),
      selfSigningKey: crossSigningKey(d.user_id, 'self_signing', selfSigning, master),
      userSigningKey: crossSigningKey(d.user_id, 'user_signing', userSigning, master),
    };
    const r = await req('POST', `${V3}/keys/device_signing/upload`, {
      token: d.access_token,
      body: { master_key: cs.masterKey, self_signing_key: cs.selfSigningKey, user_signing_key: cs.userSigningKey },
    });
    if (r.status !== 200) throw new Error(`cross-signing upload: ${r.status} ${JSON.stringify(r.body)}`);
    return cs;
  }
  async function join(roomId: string, userId: string): Promise<void> {
    await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: userId, content: { membership: 'join' }, sender: userId });
  }
  async function leave(roomId: string, userId: string): Promise<void> {
    await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: userId, content: { membership: 'leave' }, sender: userId });
  }
  async function sharedRoom(creator: string, ...others: string[]): Promise<string> {
    const { roomId } = await rooms.createRoom('12', creator);
    await join(roomId, creator);
    await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });
    for (const o of others) await join(roomId, o);
    return roomId;
  }

  return {
    app,
    users,
    rooms,
    e2ee,
    notifier,
    db,
    config,
    clock,
    wakes,
    req,
    register,
    login,
    device,
    uploadDeviceKeys,
    setupCrossSigning,
    sharedRoom,
    join,
    leave,
    async close() {
      e2ee.close();
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
