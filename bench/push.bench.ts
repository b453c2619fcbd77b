// Benchmark of push evaluation at persist time (src/push): what the derived writer adds to each
// message in a room of 100 (and 1,000) local members.
//
// Messages are first persisted with the push writer switched off and their PersistedEventInfo kept;
// the writer is then replayed over them inside one transaction (rolled back after each round, so
// every round sees the same data). That times exactly the work push adds to an event's
// transaction, and lets CPU time be measured as well as wall time: CPU time is the figure to trust
// on a busy machine. The end-to-end rate of sendLocalEvent with push on is reported too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signingKeyFromSeed } from '../src/core/crypto/ed25519.js';
import type { JsonObject } from '../src/core/json/types.js';
import { createPushService, type PushService } from '../src/push/service.js';
import { createRoomsService, type RoomsService } from '../src/rooms/service.js';
import { openDatabase, type Database } from '../src/store/db.js';
import { createStore, type PersistedEventInfo } from '../src/store/index.js';
import { createNotifier } from '../src/sync/notifier.js';
import { createUsersService } from '../src/users/service.js';
import { median, type Report } from './lib.js';

const SERVER = 'bench.test';
const MESSAGES = 2_000;
const ROUNDS = 5;

interface Setup {
  db: Database;
  rooms: RoomsService;
  push: PushService;
  /** Whether the push writer runs as events are persisted. */
  live: { on: boolean };
  /** Events persisted while `live.on` is false. */
  captured: PersistedEventInfo[];
  close(): void;
}

function setup(dir: string, name: string): Setup {
  const db = openDatabase(join(dir, `${name}.db`));
  const store = createStore(db);
  const notifier = createNotifier();
  const users = createUsersService({ db, serverName: SERVER });
  const rooms = createRoomsService({ store, notifier, serverName: SERVER, signingKey: signingKeyFromSeed('bench', Buffer.alloc(32, 7)) });
  const push = createPushService({ db, store, notifier, users, serverName: SERVER, registerWriter: false });
  const live = { on: true };
  const captured: PersistedEventInfo[] = [];
  store.core.addDerivedWriter((info) => {
    if (live.on) push.onPersistedEvent(info);
    else captured.push(info);
  });
  return { db, rooms, push, live, captured, close: () => (push.close(), db.close()) };
}

async function buildRoom(rooms: RoomsService, members: number): Promise<{ roomId: string; userIds: string[] }> {
  const creator = `@user0:${SERVER}`;
  const { roomId } = await rooms.createRoom('12', creator);
  await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: creator, content: { membership: 'join', displayname: 'User 0' }, sender: creator });
  await rooms.sendLocalEvent(roomId, { type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' }, sender: creator });
  const userIds = [creator];
  for (let i = 1; i < members; i++) {
    const user = `@user${i}:${SERVER}`;
    userIds.push(user);
    await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: user, content: { membership: 'join', displayname: `User ${i}` }, sender: user });
  }
  return { roomId, userIds };
}

class Rollback extends Error {}

/** Persists MESSAGES messages without push, then replays the push writer over them ROUNDS times. */
async function replay(s: Setup, roomId: string, userIds: string[], content: (i: number) => JsonObject): Promise<{ wallUs: number; cpuUs: number }> {
  s.live.on = false;
  s.captured.length = 0;
  for (let i = 0; i < MESSAGES; i++) {
    await s.rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: content(i), sender: userIds[i % userIds.length]! });
  }
  s.live.on = true;
  const infos = [...s.captured];
  const walls: number[] = [];
  const cpus: number[] = [];
  const round = s.db.transaction(() => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (const info of infos) s.push.onPersistedEvent(info);
    walls.push(Number(process.hrtime.bigint() - t0) / 1e3 / infos.length);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / infos.length);
    throw new Rollback();
  });
  for (let r = 0; r < ROUNDS + 1; r++) {
    try {
      round();
    } catch (e) {
      if (!(e instanceof Rollback)) throw e;
    }
  }
  // The first round warms the JIT.
  return { wallUs: median(walls.slice(1)), cpuUs: median(cpus.slice(1)) };
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'push-bench-'));
  try {
    for (const members of [100, 1_000]) {
      const s = setup(dir, `m${members}`);
      const { roomId, userIds } = await buildRoom(s.rooms, members);
      const label = `${members.toLocaleString('en-US')} local members`;
      const target = members === 100 ? { target: '< 100' } : {};

      // Element-style messages carry m.mentions: no per-member rule needs checking.
      const element = await replay(s, roomId, userIds, (i) => ({ msgtype: 'm.text', body: `message ${i}`, 'm.mentions': {} }));
      report({ name: `push: writer CPU per message with m.mentions, ${label}`, median: element.cpuUs, unit: 'µs', ...target });
      report({ name: `push: writer wall time per message with m.mentions, ${label}`, median: element.wallUs, unit: 'µs' });

      // Older clients and bridges: no m.mentions, so each member's name and localpart are looked for in the body.
      const legacy = await replay(s, roomId, userIds, (i) => ({ msgtype: 'm.text', body: `message ${i} about lunch` }));
      report({ name: `push: writer CPU per message without m.mentions, ${label}`, median: legacy.cpuUs, unit: 'µs', ...target });

      // A mention of one member: one exception row.
      const mention = await replay(s, roomId, userIds, (i) => ({ msgtype: 'm.text', body: 'hey', 'm.mentions': { user_ids: [userIds[(i + 1) % userIds.length]!] } }));
      report({ name: `push: writer CPU per message mentioning a member, ${label}`, median: mention.cpuUs, unit: 'µs', ...target });

      // End to end, push on: sign, auth, persist, evaluate.
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < MESSAGES; i++) {
        await s.rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body: `m ${i}`, 'm.mentions': {} }, sender: userIds[i % userIds.length]! });
      }
      const rate = MESSAGES / (Number(process.hrtime.bigint() - t0) / 1e9);
      report({ name: `push: messages persisted per second with push on, ${label}`, median: rate, unit: 'events/s', ...(members === 100 ? { target: '>= 1000' } : {}) });
      s.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
