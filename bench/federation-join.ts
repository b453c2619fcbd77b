// Federation figure (a): the time for server B to join a room of server A whose state holds 5,000
// members: make_join, send_join (A builds the answer from stored PDU texts), and B verifying every
// state and auth chain event (signatures, hashes, auth) and storing them as outliers, then its join
// on that state. Both servers are in this process on file databases, connected by signed requests
// injected into each other's Fastify app (the HTTPS transport is measured elsewhere).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../src/config/load.js';
import { signingKeyFromSeed, type SigningKey } from '../src/core/crypto/ed25519.js';
import type { JsonValue } from '../src/core/json/types.js';
import { FederationError, type FederationClient, type FederationMethod, type RawFederationResponse } from '../src/federation/client.js';
import { createKeyRing } from '../src/federation/keys.js';
import { createMembershipFederation } from '../src/federation/membership/index.js';
import { signRequest } from '../src/federation/x-matrix.js';
import { buildApp, type AppServices } from '../src/http/app.js';
import { createRoomsService, type RoomsService } from '../src/rooms/service.js';
import { openDatabase, type Database } from '../src/store/db.js';
import { createStore, type Store } from '../src/store/index.js';
import { createNotifier } from '../src/sync/notifier.js';
import type { Report } from './lib.js';

export const JOIN_BENCH_MEMBERS = 5_000;

interface BenchServer {
  name: string;
  key: SigningKey;
  db: Database;
  store: Store;
  rooms: RoomsService;
  app: FastifyInstance;
  membership: ReturnType<typeof createMembershipFederation>;
}

function injectingClient(servers: Map<string, BenchServer>, origin: string, key: SigningKey): FederationClient {
  async function requestRaw(destination: string, method: FederationMethod, path: string, opts: { body?: JsonValue } = {}): Promise<RawFederationResponse> {
    const target = servers.get(destination);
    if (!target) throw new FederationError(destination, 0, 'unreachable');
    const authorization = signRequest({ method, uri: path, origin, destination, content: opts.body }, key);
    const res = await target.app.inject({
      method,
      url: path,
      headers: { authorization, ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(opts.body !== undefined ? { payload: JSON.stringify(opts.body) } : {}),
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = String(v);
    return { status: res.statusCode, headers, body: Readable.from([res.rawPayload]) };
  }
  return {
    requestRaw,
    async request<T>(destination: string, method: FederationMethod, path: string, body?: JsonValue): Promise<T> {
      const res = await requestRaw(destination, method, path, body !== undefined ? { body } : {});
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
      if (res.status !== 200) throw new FederationError(destination, res.status, `${path}: ${res.status}`, { body: value });
      return value;
    },
    async close() {},
  };
}

async function server(servers: Map<string, BenchServer>, dir: string, name: string, seed: number): Promise<BenchServer> {
  const config = parseConfig({ server_name: name, trusted_key_servers: [] }, { cwd: '/nonexistent' }).config;
  const db = openDatabase(join(dir, `${name}.db`));
  const key = signingKeyFromSeed('k1', Buffer.alloc(32, seed));
  const serverKeys = { current: key, old: [] };
  const store = createStore(db);
  const notifier = createNotifier(() => undefined);
  const rooms = createRoomsService({ store, notifier, serverName: name, signingKey: key });
  const client = injectingClient(servers, name, key);
  const keyRing = createKeyRing({ db, client, config, serverName: name, serverKeys, clock: Date.now });
  const membership = createMembershipFederation({ store, rooms, keyRing, client, serverName: name, signingKey: key, localUserExists: async () => true });
  const services: AppServices = { config, serverKeys, store, notifier, rooms, federation: { client, keyRing, membership } };
  const app = buildApp(services, { resources: ['federation', 'keys'] });
  await app.ready();
  const s = { name, key, db, store, rooms, app, membership };
  servers.set(name, s);
  return s;
}

/** (a) B joins a room of A with 5,000 joined members: wall time of the whole remote join. */
export async function remoteJoinOfLargeRoom(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'federation-join-bench-'));
  const servers = new Map<string, BenchServer>();
  try {
    const A = await server(servers, dir, 'a.bench', 1);
    const B = await server(servers, dir, 'b.bench', 2);
    const creator = '@creator:a.bench';
    const { roomId } = await A.rooms.createRoom('10', creator);
    await A.rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join' }, sender: creator });
    await A.rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });
    await A.rooms.sendLocalEvent(roomId, { type: 'm.room.power_levels', stateKey: '', content: { users: { [creator]: 100 } }, sender: creator });
    for (let i = 0; i < JOIN_BENCH_MEMBERS - 1; i++) {
      const u = `@member${i}:a.bench`;
      await A.rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: u, content: { membership: 'join', displayname: `Member ${i}` }, sender: u });
    }
    const t0 = process.hrtime.bigint();
    const outcome = await B.membership.remote.joinVia('a.bench', { roomId, servers: ['a.bench'], userId: '@joiner:b.bench', content: { membership: 'join' } });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const members = (await B.store.getRoomMembers(roomId, 'join')).length;
    if (members !== JOIN_BENCH_MEMBERS + 1) throw new Error(`B sees ${members} joined members, expected ${JOIN_BENCH_MEMBERS + 1}`);
    report({ name: `federation (a): join a room of ${JOIN_BENCH_MEMBERS} members (${outcome.stored} events verified and stored)`, median: ms / 1000, unit: 's', target: '<= 10' });
    for (const s of servers.values()) {
      await s.app.close();
      s.db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
