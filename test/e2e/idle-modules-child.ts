// Child process of idle-modules.test.ts: starts the server from a config file, GETs each path given,
// then prints the statuses, the last body, and the package files in the CommonJS module cache.
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { pino } from 'pino';
import { loadConfigFile, releaseConfigLibraries } from '../../src/config/load.js';
import { startServer } from '../../src/server.js';

const requireCjs = createRequire(import.meta.url);
const [configPath, ...paths] = process.argv.slice(2);
const { config } = loadConfigFile(configPath);
releaseConfigLibraries(); // as `serve` does (src/main.ts)
const server = await startServer(config, pino({ level: 'silent' }));
const base = server.addresses[0]!.url;

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request(`${base}${path}`, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end();
  });
}

const statuses: number[] = [];
let body = '';
for (const p of paths) {
  const r = await get(p);
  statuses.push(r.status);
  body = r.body;
}
// Files as "<package>/<path in it>", e.g. "fastify/lib/route.js".
const files: string[] = [];
for (const file of Object.keys(requireCjs.cache)) {
  const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+\/.*)$/.exec(file);
  if (m) files.push(m[1]!);
}
await server.close();
process.stdout.write(JSON.stringify({ statuses, body, files: files.sort() }) + '\n');
