// One-time keys are handed out at most once even when several processes claim from the same
// database at the same time (spec POST /keys/claim: "no other request will ever return the same key").
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase } from '../../src/store/db.js';
import { createStreamCounters } from '../../src/users/streams.js';
import { createDeviceListStream } from '../../src/e2ee/device-lists.js';
import { createE2eeStore } from '../../src/e2ee/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const CHILD = join(here, 'e2ee-claim-child.ts');

function runChild(dbPath: string, rounds: number, startAt: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dbPath, '@a:test.local', 'DEV', String(rounds), String(startAt)], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(stdout) as string[]) : reject(new Error(`child exited ${code}: ${stderr}`))));
  });
}

describe('claimKeys across processes', () => {
  it('four processes claiming 600 times from 400 keys get each key exactly once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'e2ee-claim-'));
    try {
      const dbPath = join(dir, 'hs.db');
      const db = openDatabase(dbPath);
      const counters = createStreamCounters(db);
      const store = createE2eeStore(db, counters, createDeviceListStream(db, counters));
      const oneTimeKeys = Array.from({ length: 400 }, (_, i) => ({ algorithm: 'signed_curve25519', keyId: `K${i}`, key: { key: `k${i}`, signatures: {} } }));
      await store.uploadKeys({ userId: '@a:test.local', deviceId: 'DEV', oneTimeKeys, fallbackKeys: [], now: 1 });
      db.close();

      const startAt = Date.now() + 3000;
      const results = await Promise.all([0, 1, 2, 3].map(() => runChild(dbPath, 150, startAt)));
      const all = results.flat();
      expect(all.length).toBe(400);
      expect(new Set(all).size).toBe(400);
      // The claims really did interleave between processes.
      expect(results.filter((r) => r.length > 0).length).toBeGreaterThan(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
