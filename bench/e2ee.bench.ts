// Benchmark of src/e2ee: /keys/claim throughput against 100 devices (service and HTTP), and
// to-device delivery latency from PUT /sendToDevice to the recipient's woken sync reading it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { generateSigningKey } from '../src/core/crypto/ed25519.js';
import type { JsonObject } from '../src/core/json/types.js';
import { buildApp, type AppServices } from '../src/http/app.js';
import { openDatabase } from '../src/store/db.js';
import { createRoomsService } from '../src/rooms/service.js';
import { createNotifier } from '../src/sync/notifier.js';
import { createUsersService, usersOptionsFromConfig, type Requester } from '../src/users/service.js';
import { createE2eeService } from '../src/e2ee/service.js';
import { median, percentile, type Report } from './lib.js';

const SERVER = 'bench.test';
const DEVICES = 100;
const KEYS_PER_DEVICE = 200;
const REQUESTS_PER_ROUND = 20;
const ROUNDS = 5;
const TO_DEVICE_MESSAGES = 2000;
const SYNC_ROUND_TRIPS = 300;

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-bench-'));
  const config = parseConfig({ server_name: SERVER, enable_registration: true }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(join(dir, 'hs.db'));
  const notifier = createNotifier();
  const users = createUsersService({ ...usersOptionsFromConfig(db, config), passwordHashParams: { memoryCost: 1024, timeCost: 1, parallelism: 1 } });
  const rooms = createRoomsService({ db, serverName: SERVER, signingKey: generateSigningKey('b1'), notifier });
  const e2ee = createE2eeService({ db, store: rooms.store, users, serverName: SERVER, notifier });
  const services: AppServices = { config, serverKeys: { current: generateSigningKey('t1'), old: [] }, users, store: rooms.store, notifier, rooms, e2ee };
  services.toDevice = e2ee.toDevice;
  services.deviceKeys = e2ee.deviceKeys;
  const app = buildApp(services);
  await app.ready();
  const login = async (localpart: string) => {
    await users.createAccount({ localpart, password: 'pw' });
    const s = await users.login({ type: 'm.login.password', identifier: { type: 'm.id.user', user: localpart }, password: 'pw' });
    const requester = await users.authenticate(s.access_token!);
    return { token: s.access_token!, requester };
  };
  return {
    db,
    notifier,
    e2ee,
    app,
    services,
    login,
    async close() {
      e2ee.close();
      await app.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** 100 devices (10 users x 10 devices) with KEYS_PER_DEVICE one-time keys each; the claim body for all of them. */
async function stockKeys(e2ee: Awaited<ReturnType<typeof setup>>['e2ee'], prefix: string): Promise<JsonObject> {
  const claim: Record<string, Record<string, string>> = {};
  for (let d = 0; d < DEVICES; d++) {
    const userId = `@${prefix}${d % 10}:${SERVER}`;
    const deviceId = `DEV${d}`;
    const oneTimeKeys = Array.from({ length: KEYS_PER_DEVICE }, (_, i) => ({
      algorithm: 'signed_curve25519',
      keyId: `AAAA${i}`,
      key: { key: `k${d}_${i}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`, signatures: { [userId]: { [`ed25519:${deviceId}`]: 's'.repeat(86) } } },
    }));
    await e2ee.keyStore.uploadKeys({ userId, deviceId, oneTimeKeys, fallbackKeys: [], now: 0 });
    (claim[userId] ??= {})[deviceId] = 'signed_curve25519';
  }
  return { one_time_keys: claim };
}

export async function run(report: Report): Promise<void> {
  const env = await setup();
  try {
    const claimer = await env.login('claimer');

    // ---- /keys/claim through the service: one request claims a key of each of the 100 devices.
    let body = await stockKeys(env.e2ee, 'svc');
    // The stocking's pages are folded into the database first, so its checkpoint is not timed as claims.
    env.db.pragma('wal_checkpoint(TRUNCATE)');
    const serviceRates: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
        const res = await env.e2ee.claimKeys(claimer.requester, body);
        if (Object.keys(res.one_time_keys as JsonObject).length !== 10) throw new Error('claim returned too few keys');
      }
      serviceRates.push((REQUESTS_PER_ROUND * DEVICES) / ((performance.now() - t0) / 1000));
    }
    report({ name: 'keys/claim (service), 100 devices per request', median: median(serviceRates), unit: 'keys claimed/s' });

    // ---- the same through HTTP (auth, JSON parsing and serialisation included).
    body = await stockKeys(env.e2ee, 'http');
    env.db.pragma('wal_checkpoint(TRUNCATE)');
    const httpRates: number[] = [];
    const payload = JSON.stringify(body);
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      for (let i = 0; i < REQUESTS_PER_ROUND; i++) {
        const res = await env.app.inject({
          method: 'POST',
          url: '/_matrix/client/v3/keys/claim',
          headers: { authorization: `Bearer ${claimer.token}`, 'content-type': 'application/json' },
          payload,
        });
        if (res.statusCode !== 200) throw new Error(`claim: ${res.statusCode}`);
      }
      httpRates.push((REQUESTS_PER_ROUND * DEVICES) / ((performance.now() - t0) / 1000));
    }
    report({ name: 'keys/claim (HTTP), 100 devices per request', median: median(httpRates), unit: 'keys claimed/s' });
    report({ name: 'keys/claim (HTTP), requests', median: median(httpRates) / DEVICES, unit: 'requests/s' });

    // ---- to-device latency: PUT /sendToDevice -> the recipient's waiting sync is woken and reads it.
    const sender = await env.login('sender');
    const recipient = await env.login('recipient');
    const r: Requester = recipient.requester;
    let acked = env.e2ee.toDevice.position();
    let pending: { t0: number; resolve: (ms: number) => void } | undefined;
    const off = env.notifier.onWake((w) => {
      if (!pending || !w.userIds.includes(r.userId)) return;
      // What a woken incremental sync does: read up to the current position, acknowledge the rest.
      const upTo = env.e2ee.toDevice.position();
      const got = env.e2ee.toDevice.messagesFor(r.userId, r.deviceId, acked, upTo, 100);
      if (got.events.length === 0) return;
      env.e2ee.toDevice.acknowledge(r.userId, r.deviceId, got.nextPosition);
      acked = got.nextPosition;
      const p = pending;
      pending = undefined;
      p.resolve(performance.now() - p.t0);
    });
    const latencies: number[] = [];
    const content = JSON.stringify({ messages: { [r.userId]: { [r.deviceId]: { algorithm: 'm.olm.v1.curve25519-aes-sha2', ciphertext: { k: { type: 0, body: 'x'.repeat(400) } } } } } });
    for (let i = 0; i < TO_DEVICE_MESSAGES; i++) {
      const delivered = new Promise<number>((resolve) => (pending = { t0: performance.now(), resolve }));
      const res = await env.app.inject({
        method: 'PUT',
        url: `/_matrix/client/v3/sendToDevice/m.room.encrypted/txn${i}`,
        headers: { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' },
        payload: content,
      });
      if (res.statusCode !== 200) throw new Error(`sendToDevice: ${res.statusCode}`);
      latencies.push(await delivered);
    }
    off();
    const steady = latencies.slice(100);
    report({ name: 'to-device delivery latency p50 (send -> woken sync reads it)', median: percentile(steady, 50), unit: 'ms' });
    report({ name: 'to-device delivery latency p99', median: percentile(steady, 99), unit: 'ms' });

    // ---- the same through a real long-polling GET /sync: PUT /sendToDevice -> the waiting sync answers.
    const syncUrl = (since: string) => `/_matrix/client/v3/sync?timeout=30000&since=${encodeURIComponent(since)}`;
    const auth = { authorization: `Bearer ${recipient.token}` };
    const initial = await env.app.inject({ method: 'GET', url: '/_matrix/client/v3/sync?timeout=0', headers: auth });
    if (initial.statusCode !== 200) throw new Error(`sync: ${initial.statusCode} (is the /sync route mounted?)`);
    let since = (initial.json() as { next_batch: string }).next_batch;
    const syncLatencies: number[] = [];
    const waitingSyncs = () => env.services.sync?.waiting ?? 0;
    for (let i = 0; i < SYNC_ROUND_TRIPS; i++) {
      let waiting = env.app.inject({ method: 'GET', url: syncUrl(since), headers: auth });
      // Send only once the sync is parked in its long-poll (an answer for anything else is re-polled).
      for (;;) {
        const parked = await Promise.race([
          waiting.then(() => false),
          (async () => {
            while (waitingSyncs() === 0) await new Promise((resolve) => setImmediate(resolve));
            return true;
          })(),
        ]);
        if (parked) break;
        since = ((await waiting).json() as { next_batch: string }).next_batch;
        waiting = env.app.inject({ method: 'GET', url: syncUrl(since), headers: auth });
      }
      const t0 = performance.now();
      const res = await env.app.inject({
        method: 'PUT',
        url: `/_matrix/client/v3/sendToDevice/m.room.encrypted/sync${i}`,
        headers: { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' },
        payload: content,
      });
      if (res.statusCode !== 200) throw new Error(`sendToDevice: ${res.statusCode}`);
      const answer = (await waiting).json() as { next_batch: string; to_device?: { events: unknown[] } };
      syncLatencies.push(performance.now() - t0);
      if (answer.to_device?.events.length !== 1) throw new Error('the waiting sync did not deliver the message');
      since = answer.next_batch;
    }
    const steadySync = syncLatencies.slice(20);
    report({ name: 'to-device latency via long-polling /sync p50 (PUT -> sync answer)', median: percentile(steadySync, 50), unit: 'ms' });
    report({ name: 'to-device latency via long-polling /sync p99', median: percentile(steadySync, 99), unit: 'ms' });
  } finally {
    await env.close();
  }
}
