// Lists spec endpoints (shared/spec/endpoints.json) that no route of a fully wired server serves.
// Usage: npx tsx scripts/route-coverage.ts [path/to/endpoints.json]
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../src/config/load.js';
import { startServer } from '../src/server.js';

const specFile = process.argv[2] ?? join(import.meta.dirname, '../../shared/spec/endpoints.json');
const endpoints = JSON.parse(readFileSync(specFile, 'utf8')) as { api: string; method: string; path: string; deprecated: boolean }[];
const dir = mkdtempSync(join(tmpdir(), 'routes-'));
const { config } = parseConfig(
  {
    server_name: 'localhost:1',
    database: { name: 'sqlite3', args: { database: join(dir, 'db.sqlite') } },
    signing_key_path: join(dir, 'signing.key'),
    media_store_path: join(dir, 'media'),
    listeners: [{ port: 18599, bind_addresses: ['127.0.0.1'], type: 'http', resources: [{ names: ['client', 'federation', 'keys', 'media'] }] }],
  },
  { cwd: dir },
);
const server = await startServer(config, pino({ level: 'silent' }));
const base = server.addresses[0]!.url;
const missing: string[] = [];
for (const e of endpoints) {
  if (e.api === 'application-service') continue;
  const path = e.path.replace(/\{[^}]+\}/g, (m) => (m.includes('Alias') ? '%23a%3Ax' : m.includes('userId') ? '%40a%3Ax' : m.includes('roomId') ? '!r%3Ax' : 'x'));
  const res = await fetch(base + path, { method: e.method, headers: { 'content-type': 'application/json' }, body: e.method === 'GET' || e.method === 'DELETE' ? undefined : '{}' });
  const body = await res.text();
  if ((res.status === 404 || res.status === 405) && body.includes('M_UNRECOGNIZED')) missing.push(`${e.method} ${e.path}${e.deprecated ? ' (deprecated)' : ''}`);
}
console.log(missing.length ? `not served (${missing.length}):\n` + missing.join('\n') : 'every endpoint is routed');
await server.close();
