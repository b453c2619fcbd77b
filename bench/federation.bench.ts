// Federation benchmarks (the figures): (b) transaction throughput, PDUs/s accepted by /send
// from one origin. Each figure is one function in FIGURES, run in order; the other federation parts
// add theirs ((a) joining a 5,000-member room, (c) fan-out latency to 2 servers) to the list.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parseConfig } from '../src/config/load.js';
import { signingKeyFromSeed, type SigningKey } from '../src/core/crypto/ed25519.js';
import { authTypesForEvent } from '../src/core/auth/auth-types.js';
import { stateTuple } from '../src/core/events/event.js';
import { computeEventId } from '../src/core/events/hashes.js';
import { requireRoomVersion } from '../src/core/events/room-versions.js';
import { hashAndSignEvent } from '../src/core/events/signing.js';
import type { JsonObject } from '../src/core/json/types.js';
import { buildApp, type AppServices, type ServerKeys } from '../src/http/app.js';
import { signedServerKeys } from '../src/http/keys/server.js';
import { FederationError, type FederationClient } from '../src/federation/client.js';
import { createKeyRing } from '../src/federation/keys.js';
import { createInboundFederation } from '../src/federation/inbound/index.js';
import { signRequest } from '../src/federation/x-matrix.js';
import { createRoomsService } from '../src/rooms/service.js';
import { openDatabase } from '../src/store/db.js';
import { createStore } from '../src/store/index.js';
import { createNotifier } from '../src/sync/notifier.js';
import { median, type Report } from './lib.js';
import { fanOutLatency } from './federation-fanout.js';
import { remoteJoinOfLargeRoom } from './federation-join.js';

/** One federation figure. */
export type FederationFigure = (report: Report) => Promise<void>;

const US = 'us.bench';
const ORIGIN = 'origin.bench:8448';
const PDUS_PER_TXN = 50;
const TXNS_PER_ROUND = 20;
const ROUNDS = 5;

/**
 * (b) PDUs/s accepted by PUT /send from one origin: a room of ours joined by the origin's user;
 * transactions of 50 signed messages (built and signed beforehand, as the sender's work), sent one
 * after another through the whole HTTP stack (X-Matrix check, strict parsing, signature and hash
 * checks, auth, persistence) on a file database; the median over rounds.
 */
export async function transactionThroughput(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'federation-bench-'));
  try {
    const config = parseConfig({ server_name: US, trusted_key_servers: [] }, { cwd: '/nonexistent' }).config;
    const db = openDatabase(join(dir, 'bench.db'));
    const now = () => Date.now();
    const ourKey = signingKeyFromSeed('us', Buffer.alloc(32, 1));
    const originKey: SigningKey = signingKeyFromSeed('o1', Buffer.alloc(32, 2));
    const serverKeys: ServerKeys = { current: ourKey, old: [] };
    const client: FederationClient = {
      async request<T>(destination: string, _m: string, path: string): Promise<T> {
        if (destination === ORIGIN && path === '/_matrix/key/v2/server') return signedServerKeys(ORIGIN, { current: originKey, old: [] }, Date.now() + 86_400_000) as T;
        throw new FederationError(destination, 0, 'unreachable');
      },
      async requestRaw(destination: string, _m: string, path: string) {
        if (destination === ORIGIN && path === '/_matrix/key/v2/server') {
          const body = JSON.stringify(signedServerKeys(ORIGIN, { current: originKey, old: [] }, Date.now() + 86_400_000));
          return { status: 200, headers: {}, body: Readable.from([Buffer.from(body)]) };
        }
        throw new FederationError(destination, 0, 'unreachable');
      },
      async close() {},
    };
    const store = createStore(db);
    const notifier = createNotifier(() => undefined);
    notifier.advanceTo(store.currentStreamPosition());
    const rooms = createRoomsService({ store, notifier, serverName: US, signingKey: ourKey, clock: now });
    const keyRing = createKeyRing({ db, client, config, serverName: US, serverKeys, clock: now });
    const inbound = createInboundFederation({ db, store, rooms, keyRing, client, serverName: US, clock: now });
    const services: AppServices = { config, serverKeys, clock: now, store, notifier, rooms, federation: { client, keyRing, inbound } };
    const app = buildApp(services, { resources: ['federation'] });
    await app.ready();

    // The room: ours, public, joined by the origin's user.
    const version = requireRoomVersion('10');
    const creator = `@creator:${US}`;
    const remoteUser = `@remote:${ORIGIN}`;
    const { roomId } = await rooms.createRoom(version, creator);
    await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join' }, sender: creator });
    await rooms.sendLocalEvent(roomId, { type: 'm.room.power_levels', stateKey: '', content: { users: { [creator]: 100 } }, sender: creator });
    await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });

    let prev = (await store.getForwardExtremities(roomId))[0]!;
    let depth = (await store.getEvent(prev))!.depth;
    let ts = Date.now();
    const state = new Map(await store.getCurrentStateIds(roomId));
    const build = (type: string, stateKey: string | undefined, content: JsonObject): JsonObject => {
      const auth: string[] = [];
      for (const [t, k] of authTypesForEvent(type, stateKey, remoteUser, content, version)) {
        const id = state.get(stateTuple(t, k));
        if (id) auth.push(id);
      }
      const pdu: JsonObject = { type, room_id: roomId, sender: remoteUser, content, depth: ++depth, origin_server_ts: ts++, prev_events: [prev], auth_events: auth };
      if (stateKey !== undefined) pdu.state_key = stateKey;
      const signed = hashAndSignEvent(pdu, ORIGIN, originKey, version);
      prev = computeEventId(signed, version);
      if (stateKey !== undefined) state.set(stateTuple(type, stateKey), prev);
      return signed;
    };
    let txnCounter = 0;
    const prepare = (pdus: JsonObject[]) => {
      const path = `/_matrix/federation/v1/send/b${++txnCounter}`;
      const body = { origin: ORIGIN, origin_server_ts: Date.now(), pdus, edus: [] };
      const authorization = signRequest({ method: 'PUT', uri: path, origin: ORIGIN, destination: US, content: body }, originKey);
      return { path, payload: JSON.stringify(body), authorization };
    };
    const send = async (t: { path: string; payload: string; authorization: string }) => {
      const res = await app.inject({ method: 'PUT', url: t.path, headers: { authorization: t.authorization, 'content-type': 'application/json' }, payload: t.payload });
      if (res.statusCode !== 200) throw new Error(`/send answered ${res.statusCode}: ${res.body}`);
      const results = Object.values(res.json().pdus as Record<string, JsonObject>);
      const failed = results.filter((r) => r.error !== undefined);
      if (failed.length > 0 || results.length === 0) throw new Error(`/send: ${failed.length} PDUs failed: ${JSON.stringify(failed[0])}`);
    };

    await send(prepare([build('m.room.member', remoteUser, { membership: 'join' })]));
    // Warm-up round, then the measured ones; everything the sender does is prepared beforehand.
    const roundsTxns = Array.from({ length: ROUNDS + 1 }, () =>
      Array.from({ length: TXNS_PER_ROUND }, () =>
        prepare(Array.from({ length: PDUS_PER_TXN }, (_, i) => build('m.room.message', undefined, { msgtype: 'm.text', body: `message ${i} ${'lorem ipsum '.repeat(8)}` }))),
      ),
    );
    const rates: number[] = [];
    const cpuRates: number[] = [];
    for (let r = 0; r < roundsTxns.length; r++) {
      const t0 = process.hrtime.bigint();
      const c0 = process.cpuUsage();
      for (const t of roundsTxns[r]!) await send(t);
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(c0);
      if (r > 0) {
        rates.push((TXNS_PER_ROUND * PDUS_PER_TXN) / secs);
        cpuRates.push((TXNS_PER_ROUND * PDUS_PER_TXN) / ((cpu.user + cpu.system) / 1e6));
      }
    }
    report({ name: 'federation /send PDUs accepted per second (one origin, 50-PDU transactions)', median: median(rates), unit: 'PDUs/s', target: '>= 1000' });
    // The same per second of this process's CPU time: what the figure would be on an idle core.
    report({ name: 'federation /send PDUs accepted per CPU second', median: median(cpuRates), unit: 'PDUs/cpu-s' });
    await app.close();
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The federation figures, in order; other federation parts append theirs. */
export const FIGURES: FederationFigure[] = [remoteJoinOfLargeRoom, transactionThroughput, fanOutLatency];

export async function run(report: Report): Promise<void> {
  for (const figure of FIGURES) await figure(report);
}
