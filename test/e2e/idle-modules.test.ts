// What an idle server has loaded (Client-Server benchmark (d), idle RSS): outbound HTTP (undici),
// metrics (prom-client), password hashing (argon2), Fastify's schema compilers (ajv,
// fast-json-stringify) and image processing (sharp) are loaded on first use, not at start; the
// configuration's zod and yaml are released once the configuration is read; with a
// metrics resource mounted, prom-client is loaded and /_synapse/metrics serves its figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

const CHILD = fileURLToPath(new URL('./idle-modules-child.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const LAZY = ['undici', 'prom-client', 'argon2', 'ajv', 'fast-json-stringify', 'sharp', 'zod', 'yaml'];
/** Fastify's error replies use fast-json-stringify's small runtime, not its compiler. */
const ALLOWED = new Set(['fast-json-stringify/lib/serializer.js', 'fast-json-stringify/lib/v8.js']);

interface ChildAnswer {
  statuses: number[];
  body: string;
  /** "<package>/<path>" of every package file loaded. */
  files: string[];
}

function packagesOf(files: string[]): Set<string> {
  return new Set(files.filter((f) => !ALLOWED.has(f)).map((f) => f.split('/').slice(0, f.startsWith('@') ? 2 : 1).join('/')));
}

// The child compiles the TypeScript sources at start, which is slow on a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function runServer(resources: string[], paths: string[]): Promise<ChildAnswer> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmatrix-idle-'));
  dirs.push(dir);
  const port = await freePort();
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    [
      `server_name: "localhost:${port}"`,
      `listeners: [{port: ${port}, bind_addresses: ['127.0.0.1'], resources: [{names: [${resources.join(', ')}]}]}]`,
      `database: {args: {database: ${JSON.stringify(join(dir, 'homeserver.db'))}}}`,
      `signing_key_path: ${JSON.stringify(join(dir, 'signing.key'))}`,
      `media_store_path: ${JSON.stringify(join(dir, 'media'))}`,
      '',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, ['--import', TSX, CHILD, join(dir, 'homeserver.yaml'), ...paths], { cwd: dir, encoding: 'utf8', timeout: 100_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildAnswer;
}

describe('modules of an idle server', () => {
  it('client and federation listener: the on-demand packages are not loaded', async () => {
    const r = await runServer(['client', 'federation'], ['/_matrix/client/versions', '/_matrix/federation/v1/version']);
    expect(r.statuses).toEqual([200, 200]);
    const packages = packagesOf(r.files);
    // The cache is read correctly: what the server does load is there.
    for (const p of ['fastify', 'better-sqlite3', 'pino']) expect(packages, p).toContain(p);
    for (const p of LAZY) expect(packages, p).not.toContain(p);
  });

  it('a metrics resource loads prom-client and serves the default and request metrics', async () => {
    const r = await runServer(['client', 'metrics'], ['/_matrix/client/versions', '/_synapse/metrics']);
    expect(r.statuses).toEqual([200, 200]);
    expect(packagesOf(r.files)).toContain('prom-client');
    expect(r.body).toContain('process_cpu_user_seconds_total');
    expect(r.body).toMatch(/tsmatrix_http_requests_total\{method="GET",route="\/_matrix\/client\/versions",status="200"\} 1/);
  });
});
