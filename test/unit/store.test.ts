// Tests of src/store: migrations, the state-delta codec, state groups and byte-identical event storage.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, listMigrations, runMigrations, schemaVersion, DEFAULT_MIGRATIONS_DIR } from '../../src/store/db.js';
import { encodeStateDelta, decodeStateDelta } from '../../src/store/delta-codec.js';
import { StateGroups, baseSeqFor } from '../../src/store/state-groups.js';
import { createStore } from '../../src/store/index.js';
import { EventStore } from '../../src/store/event-store.js';
import { createRoomsService } from '../../src/rooms/service.js';
import { signingKeyFromSeed } from '../../src/core/crypto/ed25519.js';
import { computeEventId } from '../../src/core/events/hashes.js';
import { hashAndSignEvent } from '../../src/core/events/signing.js';
import { requireRoomVersion } from '../../src/core/events/room-versions.js';
import type { JsonObject } from '../../src/core/json/types.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'store-test-'));
}

describe('migrations', () => {
  it('apply every file in migrations/ to an empty database and record each in schema_version', () => {
    const db = openDatabase(':memory:');
    const files = readdirSync(DEFAULT_MIGRATIONS_DIR).filter((f) => /^\d{4}_.*\.sql$/.test(f)).sort();
    expect(files.length).toBeGreaterThan(0);
    const rows = db.prepare('SELECT version, name, applied_ts FROM schema_version ORDER BY version').all() as {
      version: number;
      name: string;
      applied_ts: number;
    }[];
    expect(rows.map((r) => r.version)).toEqual(files.map((f) => Number(f.slice(0, 4))));
    expect(rows.map((r) => r.name)).toEqual(files.map((f) => f.slice(5, -4)));
    for (const r of rows) expect(r.applied_ts).toBeGreaterThan(0);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
    for (const t of ['events', 'event_ids', 'state_keys', 'state_groups', 'event_edges', 'event_auth_edges', 'forward_extremities', 'current_state', 'room_memberships', 'rooms']) {
      expect(tables).toContain(t);
    }
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('are idempotent on restart and set WAL on a file database', () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'hs.db');
      const db1 = openDatabase(path);
      expect(db1.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db1.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
      const full = openDatabase(join(dir, 'full.db'), { synchronous: 'FULL' });
      expect(full.pragma('synchronous', { simple: true })).toBe(2);
      full.close();
      const v1 = schemaVersion(db1);
      const count1 = db1.prepare('SELECT COUNT(*) FROM schema_version').pluck().get();
      db1.close();
      const db2 = openDatabase(path);
      expect(schemaVersion(db2)).toBe(v1);
      expect(db2.prepare('SELECT COUNT(*) FROM schema_version').pluck().get()).toBe(count1);
      expect(runMigrations(db2, listMigrations())).toEqual([]);
      db2.close();
      const ro = openDatabase(path, { readonly: true });
      expect(schemaVersion(ro)).toBe(v1);
      ro.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run in numeric order, and a failing migration leaves nothing behind', () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, '0002_second.sql'), 'ALTER TABLE a ADD COLUMN y INTEGER; CREATE TABLE b (z INTEGER);');
      writeFileSync(join(dir, '0001_first.sql'), 'CREATE TABLE a (x INTEGER);');
      writeFileSync(join(dir, 'README.txt'), 'not a migration');
      const db = openDatabase(':memory:', { migrationsDir: dir });
      expect(db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all()).toEqual([1, 2]);
      expect(db.prepare('SELECT y FROM a').all()).toEqual([]);

      writeFileSync(join(dir, '0003_broken.sql'), 'CREATE TABLE c (q INTEGER); INSERT INTO nowhere VALUES (1);');
      expect(() => runMigrations(db, listMigrations(dir))).toThrow();
      expect(schemaVersion(db)).toBe(2);
      expect(db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'").pluck().get()).toBe(0);

      writeFileSync(join(dir, '0003_broken.sql'), 'CREATE TABLE c (q INTEGER);');
      expect(runMigrations(db, listMigrations(dir))).toEqual([3]);
      db.close();

      writeFileSync(join(dir, '0003_dup.sql'), 'SELECT 1;');
      expect(() => listMigrations(dir)).toThrow(/two migrations/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('state delta codec', () => {
  it('round-trips, including large nids and removals', () => {
    const m = new Map<number, number>([
      [5, 1],
      [1, 2 ** 40],
      [300, 0],
      [2 ** 31 + 7, 123456789],
      [17, 127],
      [18, 128],
    ]);
    const buf = encodeStateDelta(m);
    expect(decodeStateDelta(buf)).toEqual(new Map([...m].sort((a, b) => a[0] - b[0])));
    expect(decodeStateDelta(encodeStateDelta(new Map()))).toEqual(new Map());
  });

  it('costs a few bytes per entry', () => {
    const m = new Map<number, number>();
    for (let i = 1; i <= 10_000; i++) m.set(1000 + i, 50_000 + i * 3);
    expect(encodeStateDelta(m).length / m.size).toBeLessThan(5);
  });
});

describe('state groups', () => {
  it('materialise to the same state as a plain map on linear and branching histories, with bounded chains', () => {
    const db = openDatabase(':memory:');
    db.prepare("INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!r:x', '10', 0)").run();
    const groups = new StateGroups(db);
    // A deterministic pseudo-random walk: mostly extend the newest group, sometimes branch off an
    // older one; each step changes or removes a few keys.
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const truth = new Map<number, Map<number, number>>();
    const ids: number[] = [];
    const tx = db.transaction(() => {
      const first = groups.create(1, null, new Map([[1, 1]]));
      truth.set(first, new Map([[1, 1]]));
      ids.push(first);
      for (let i = 0; i < 600; i++) {
        const parent = rnd(10) === 0 ? ids[rnd(ids.length)]! : ids[ids.length - 1]!;
        const changes = new Map<number, number>();
        const n = 1 + rnd(3);
        for (let j = 0; j < n; j++) changes.set(1 + rnd(40), rnd(8) === 0 ? 0 : 1000 + i);
        const g = groups.create(1, parent, changes);
        const s = new Map(truth.get(parent)!);
        for (const [k, v] of changes) {
          if (v === 0) s.delete(k);
          else s.set(k, v);
        }
        truth.set(g, s);
        ids.push(g);
      }
    });
    tx();
    const fresh = new StateGroups(db); // no caches: everything read back from the rows
    const freshLookups = new StateGroups(db);
    for (const g of ids) {
      expect(new Map([...fresh.materialize(g)].sort((a, b) => a[0] - b[0]))).toEqual(
        new Map([...truth.get(g)!].sort((a, b) => a[0] - b[0])),
      );
      const want = [1, 2, 3, 39];
      const looked = freshLookups.lookup(g, want);
      for (const k of want) expect(looked.get(k)).toBe(truth.get(g)!.get(k));
    }
    // Bounded chains: reading any group applies at most popcount(seq) deltas.
    const rows = db.prepare('SELECT state_group, base_group, seq FROM state_groups').all() as {
      state_group: number;
      base_group: number | null;
      seq: number;
    }[];
    const byId = new Map(rows.map((r) => [r.state_group, r]));
    for (const r of rows) {
      let hops = 0;
      for (let g: number | null = r.state_group; g !== null; g = byId.get(g)!.base_group) hops++;
      expect(hops).toBeLessThanOrEqual(popcount(r.seq - 1) + 1);
      if (r.base_group !== null) expect(byId.get(r.base_group)!.seq).toBe(baseSeqFor(r.seq));
    }
    db.close();
  });

  it('store a single-key change in a 10,000-entry state in bytes, not a copy', () => {
    const db = openDatabase(':memory:');
    db.prepare("INSERT INTO rooms (room_id, room_version, created_ts) VALUES ('!r:x', '10', 0)").run();
    const groups = new StateGroups(db);
    const big = new Map<number, number>();
    for (let i = 1; i <= 10_000; i++) big.set(i, 100_000 + i);
    let g = db.transaction(() => groups.create(1, null, big))();
    const total = () => db.prepare('SELECT SUM(LENGTH(delta)) FROM state_groups').pluck().get() as number;
    const afterRoot = total();
    const N = 1000;
    db.transaction(() => {
      for (let i = 0; i < N; i++) g = groups.create(1, g, new Map([[1 + (i % 10_000), 200_000 + i]]));
    })();
    const perChange = (total() - afterRoot) / N;
    expect(perChange).toBeLessThan(100);
    expect(groups.materialize(g).size).toBe(10_000);
    db.close();
  });
});

function popcount(n: number): number {
  let c = 0;
  for (let x = n; x > 0; x &= x - 1) c++;
  return c;
}

describe('events', () => {
  it('read back byte-identical to the text they were accepted with', async () => {
    const db = openDatabase(':memory:');
    const key = signingKeyFromSeed('a_1', Buffer.alloc(32, 7));
    const rooms = createRoomsService({ db, serverName: 'hs.test', signingKey: key, clock: () => 1_700_000_000_000 });
    const alice = '@alice:hs.test';
    const { roomId, eventId: createId } = await rooms.createRoom('10', alice);
    const join = await rooms.sendLocalEvent(roomId, { type: 'm.room.member', stateKey: alice, content: { membership: 'join' }, sender: alice });
    const version = requireRoomVersion('10');
    // A remote-looking message built by hand, whose received text has unusual spacing, key
    // order and escapes that JSON.stringify would not produce.
    const pdu = hashAndSignEvent(
      {
        type: 'm.room.message',
        room_id: roomId,
        sender: alice,
        content: { body: 'caf\u00e9 \u2603 "quoted" </script>', msgtype: 'm.text' },
        depth: 3,
        origin_server_ts: 1_700_000_000_001,
        prev_events: [join.eventId],
        auth_events: [createId, join.eventId],
      } as JsonObject,
      'hs.test',
      key,
      version,
    );
    const text = '{  "type":"m.room.message" ,' + JSON.stringify(pdu).slice(1).replace('caf\u00e9', 'caf\\u00e9');
    const eventId = computeEventId(pdu, version);
    const res = await rooms.acceptEvent(JSON.parse(text) as JsonObject, '10', { jsonText: text });
    expect(res).toMatchObject({ eventId, status: 'accepted' });
    expect(await rooms.store.getEventJson(eventId)).toBe(text);
    // Local events are stored as the exact text that was hashed and signed.
    expect(await rooms.store.getEventJson(join.eventId)).toBe(JSON.stringify(join.pdu));
    // And straight from the table, and through a store without caches on the same database.
    expect(db.prepare('SELECT json FROM events e JOIN event_ids i USING (event_nid) WHERE i.event_id = ?').pluck().get(eventId)).toBe(text);
    const fresh = new EventStore(db);
    expect(fresh.eventJsonText(fresh.ids.findEventNid(eventId)!)).toBe(text);
    expect(fresh.eventById(eventId)!.content.body).toBe('caf\u00e9 \u2603 "quoted" </script>');
    // One store per database handle: readers share the writer's caches.
    expect(createStore(db)).toBe(rooms.store);
    db.close();
  });
});
