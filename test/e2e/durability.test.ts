// The kill -9 durability test: a real child process writes events through rooms/ and is SIGKILLed at
// random moments (also inside state-event bursts); after each kill the database must be intact,
// hold every event the child reported as committed, and be internally consistent.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '../../src/store/db.js';
import { createStore } from '../../src/store/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const CHILD = join(here, 'durability-child.ts');

interface ChildRun {
  committed: string[];
  sawBurst: boolean;
}

/**
 * Runs the child until it has printed `minEvents` events after READY (and, if `inBurst`, until it
 * announces a state-event burst), waits a random few milliseconds so the kill lands anywhere in
 * the write loop, then SIGKILLs it.
 */
function runAndKill(dbPath: string, minEvents: number, inBurst: boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const committed: string[] = [];
    let ready = false;
    let sinceReady = 0;
    let sawBurst = false;
    let killScheduled = false;
    let buf = '';
    let stderr = '';
    const scheduleKill = () => {
      if (killScheduled) return;
      killScheduled = true;
      setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 15));
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('EVENT ')) {
          committed.push(line.slice(6));
          if (ready) sinceReady++;
        } else if (line.startsWith('READY')) ready = true;
        else if (line === 'BURST' && ready && sinceReady >= minEvents) sawBurst = true;
        if (ready && sinceReady >= minEvents && (!inBurst || sawBurst)) scheduleKill();
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    // 'close' comes after the child's stdout has been read to its end.
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}: ${stderr}`));
      else resolve({ committed, sawBurst });
    });
  });
}

function checkDatabase(db: Database, committed: readonly string[]): Promise<void> {
  return (async () => {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(db.pragma('foreign_key_check')).toEqual([]);
    const store = createStore(db);

    // Every event the child reported as committed is there, accepted, with state.
    for (const id of committed) {
      const ev = await store.getEvent(id);
      expect(ev, `event ${id} reported committed but missing`).toBeDefined();
      expect(ev!.outlier).toBe(false);
      expect(ev!.rejectedReason).toBeNull();
      expect(await store.getStateIdsAfter(id)).toBeDefined();
    }

    const roomId = db.prepare<[], string>('SELECT room_id FROM rooms ORDER BY room_nid LIMIT 1').pluck().get()!;
    // One writer, local events only: a single forward extremity, the event with the highest stream ordering.
    const ext = await store.getForwardExtremities(roomId);
    expect(ext.length).toBe(1);
    const last = db
      .prepare<[], string>('SELECT i.event_id FROM events e JOIN event_ids i USING (event_nid) ORDER BY e.stream_ordering DESC LIMIT 1')
      .pluck()
      .get()!;
    expect(ext[0]).toBe(last);
    // Current state equals the state after the forward extremity, and agrees with the group pointer.
    const current = await store.getCurrentStateIds(roomId);
    const afterExt = (await store.getStateIdsAfter(ext[0]!))!;
    expect([...current].sort()).toEqual([...afterExt].sort());
    const pointer = db
      .prepare<[], { g: number | null; a: number | null }>(
        `SELECT r.current_state_group AS g, e.state_group_after AS a FROM rooms r, events e
         WHERE e.event_nid = (SELECT event_nid FROM forward_extremities WHERE room_nid = r.room_nid)`,
      )
      .get()!;
    expect(pointer.g).toBe(pointer.a);
    // The membership table is derived from the current state.
    const members = await store.getRoomMembers(roomId);
    const memberState = [...current].filter(([k]) => k.startsWith('m.room.member\u0000'));
    expect(members.length).toBe(memberState.length);
    for (const m of members) expect(current.get('m.room.member\u0000' + m.userId)).toBe(m.eventId);

    // No dangling references: every prev and auth edge points at a stored event; the chain is linear.
    expect(db.prepare('SELECT COUNT(*) FROM event_edges x LEFT JOIN events e ON e.event_nid = x.prev_nid WHERE e.event_nid IS NULL').pluck().get()).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM event_auth_edges x LEFT JOIN events e ON e.event_nid = x.auth_nid WHERE e.event_nid IS NULL').pluck().get()).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM event_ids i LEFT JOIN events e USING (event_nid) WHERE e.event_nid IS NULL').pluck().get()).toBe(0);
    expect(db.prepare('SELECT COUNT(*) FROM events WHERE stream_ordering IS NULL OR state_group_after IS NULL').pluck().get()).toBe(0);
    const orderedPrevs = db
      .prepare<[], { so: number; prev_so: number | null; n: number }>(
        `SELECT e.stream_ordering AS so, p.stream_ordering AS prev_so,
                (SELECT COUNT(*) FROM event_edges WHERE event_nid = e.event_nid) AS n
         FROM events e LEFT JOIN event_edges x ON x.event_nid = e.event_nid LEFT JOIN events p ON p.event_nid = x.prev_nid
         ORDER BY e.stream_ordering`,
      )
      .all();
    for (let i = 1; i < orderedPrevs.length; i++) {
      expect(orderedPrevs[i]!.n).toBe(1);
      expect(orderedPrevs[i]!.prev_so).toBe(orderedPrevs[i - 1]!.so);
    }
  })();
}

describe('durability under kill -9', () => {
  it('loses no committed event and leaves a consistent database, whenever the writer is killed', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'durability-'));
    const dbPath = join(dir, 'hs.db');
    try {
      const all: string[] = [];
      // Ten kills: after a random number of events, or just after a state-event burst begins.
      const plans: Array<[number, boolean]> = [];
      for (let i = 0; i < 10; i++) plans.push(i % 2 === 0 ? [Math.floor(Math.random() * 300), false] : [20 * i, true]);
      let bursts = 0;
      for (const [minEvents, inBurst] of plans) {
        const run = await runAndKill(dbPath, minEvents, inBurst);
        if (run.sawBurst) bursts++;
        all.push(...run.committed);
        expect(run.committed.length).toBeGreaterThan(0);
        const db = openDatabase(dbPath);
        try {
          await checkDatabase(db, all);
        } finally {
          db.close();
        }
      }
      expect(bursts).toBeGreaterThanOrEqual(5);
      expect(new Set(all).size).toBe(all.length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
