// Benchmark of rooms/ + store/: events persisted per second and bytes per event in a 10,000-member room.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../src/store/db.js';
import { createRoomsService, type RoomsService } from '../src/rooms/service.js';
import { signingKeyFromSeed } from '../src/core/crypto/ed25519.js';
import { median, type Report } from './lib.js';

const SERVER = 'bench.test';
const MEMBERS = 10_000;
const MESSAGES_PER_ROUND = 2_000;
const STATE_EVENTS_PER_ROUND = 1_000;
const ROUNDS = 3;

function dbBytes(db: Database): number {
  // Fold the WAL into the main file first, so page_count is the whole database.
  db.pragma('wal_checkpoint(TRUNCATE)');
  return (db.pragma('page_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
}

/** Bytes of the pages holding state snapshots (state_groups), from SQLite's dbstat table. */
function stateGroupBytes(db: Database): { pages: number; payload: number } {
  db.pragma('wal_checkpoint(TRUNCATE)');
  const pages = db.prepare<[], number>("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name = 'state_groups'").pluck().get() ?? 0;
  const payload = db.prepare<[], number>('SELECT COALESCE(SUM(LENGTH(delta)), 0) + COUNT(*) * 24 FROM state_groups').pluck().get() ?? 0;
  return { pages, payload };
}

async function buildRoom(rooms: RoomsService): Promise<{ roomId: string; creator: string }> {
  const creator = `@creator:${SERVER}`;
  const { roomId } = await rooms.createRoom('12', creator);
  const send = (type: string, stateKey: string | undefined, content: Record<string, unknown>, sender = creator) =>
    rooms.sendLocalEvent(roomId, { type, stateKey, content: content as never, sender });
  await send('m.room.member', creator, { membership: 'join', displayname: 'Creator' });
  await send('m.room.power_levels', '', { users: {}, users_default: 0, events_default: 0, state_default: 50, ban: 50, kick: 50, redact: 50, invite: 0 });
  await send('m.room.join_rules', '', { join_rule: 'public' });
  await send('m.room.history_visibility', '', { history_visibility: 'shared' });
  // Members join directly through the writer: each join is a real, signed, auth-checked event.
  for (let i = 0; i < MEMBERS; i++) {
    const user = `@user${i}:${SERVER}`;
    await send('m.room.member', user, { membership: 'join', displayname: `User ${i}` }, user);
  }
  return { roomId, creator };
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-bench-'));
  const path = join(dir, 'bench.db');
  const signingKey = signingKeyFromSeed('bench', Buffer.alloc(32, 9));
  try {
    let db = openDatabase(path); // synchronous=NORMAL, the default
    let rooms = createRoomsService({ db, serverName: SERVER, signingKey });
    const t0 = process.hrtime.bigint();
    const { roomId } = await buildRoom(rooms);
    const buildSecs = Number(process.hrtime.bigint() - t0) / 1e9;
    const joined = (await rooms.store.getRoomMembers(roomId, 'join')).length;
    if (joined !== MEMBERS + 1) throw new Error(`room has ${joined} joined members`);
    report({ name: 'rooms: joins persisted while building the 10k-member room', median: MEMBERS / buildSecs, unit: 'events/s' });

    let n = 0;
    const sendMessages = async (count: number) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const user = `@user${n++ % MEMBERS}:${SERVER}`;
        await rooms.sendLocalEvent(roomId, { type: 'm.room.message', content: { msgtype: 'm.text', body: `message ${n} from ${user}` }, sender: user });
      }
      return count / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    // Members change their display name (m.room.member): the common state event in big rooms.
    const sendStateEvents = async (count: number) => {
      const start = process.hrtime.bigint();
      for (let i = 0; i < count; i++) {
        const user = `@user${n++ % MEMBERS}:${SERVER}`;
        await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: user, content: { membership: 'join', displayname: `Renamed ${n}` }, sender: user });
      }
      return count / (Number(process.hrtime.bigint() - start) / 1e9);
    };

    // (a) messages, (c) database bytes and state bytes per message.
    const msgRates: number[] = [];
    const msgBytes: number[] = [];
    const msgStateBytes: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const stateBefore = stateGroupBytes(db).payload;
      const before = dbBytes(db);
      msgRates.push(await sendMessages(MESSAGES_PER_ROUND));
      msgBytes.push((dbBytes(db) - before) / MESSAGES_PER_ROUND);
      msgStateBytes.push((stateGroupBytes(db).payload - stateBefore) / MESSAGES_PER_ROUND);
    }
    report({ name: 'rooms: message events persisted via sendLocalEvent, 10k-member room', median: median(msgRates), unit: 'events/s', target: '>= 2000' });

    // (b) state events, and the state storage they cost.
    const stateRates: number[] = [];
    const stateBytes: number[] = [];
    const statePayload: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const before = stateGroupBytes(db);
      stateRates.push(await sendStateEvents(STATE_EVENTS_PER_ROUND));
      const after = stateGroupBytes(db);
      stateBytes.push((after.pages - before.pages) / STATE_EVENTS_PER_ROUND);
      statePayload.push((after.payload - before.payload) / STATE_EVENTS_PER_ROUND);
    }
    report({ name: 'rooms: state events (profile changes) persisted, 10k-member room', median: median(stateRates), unit: 'events/s' });
    report({ name: 'rooms: database bytes per message event (all tables and indexes)', median: median(msgBytes), unit: 'B/event' });
    report({ name: 'rooms: state-storage bytes per message event', median: median(msgStateBytes), unit: 'B/event', target: '< 2048' });
    report({ name: 'rooms: state-storage bytes per state event (state_groups pages)', median: median(stateBytes), unit: 'B/event' });
    report({ name: 'rooms: state-storage payload per state event (deltas + row)', median: median(statePayload), unit: 'B/event' });
    report({ name: 'rooms: state groups in the room', median: db.prepare<[], number>('SELECT COUNT(*) FROM state_groups').pluck().get()!, unit: 'groups' });
    db.close();

    // The same room with synchronous=FULL (an fsync per event), for comparison.
    db = openDatabase(path, { synchronous: 'FULL' });
    rooms = createRoomsService({ db, serverName: SERVER, signingKey });
    report({ name: 'rooms: message events persisted, synchronous=FULL', median: await sendMessages(500), unit: 'events/s' });
    report({ name: 'rooms: state events persisted, synchronous=FULL', median: await sendStateEvents(300), unit: 'events/s' });
    db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
