// A real server process restarted on the same database: a sync token issued before the restart
// still works and returns only what is new, nothing is lost, and SIGTERM ends waiting long-polls.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO, 'src/main.ts');
const TSX = import.meta.resolve('tsx');

const dir = mkdtempSync(join(tmpdir(), 'tsmatrix-restart-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
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

interface Server {
  child: ChildProcess;
  base: string;
  exited: Promise<number | null>;
}

async function start(config: string, port: number): Promise<Server> {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', config], { cwd: dir, stdio: 'ignore' });
  children.push(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${base}/_matrix/client/versions`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, base, exited };
}

async function call(base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/_matrix/client/v3${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() };
}

function messages(sync: any, roomId: string): string[] {
  return (sync.rooms?.join?.[roomId]?.timeline?.events ?? []).filter((e: any) => e.type === 'm.room.message').map((e: any) => e.content.body);
}

describe('restart', () => {
  it('old sync tokens work after a restart and return only new events', async () => {
    const port = await freePort();
    const config = join(dir, 'homeserver.yaml');
    writeFileSync(
      config,
      [
        'server_name: restart.local',
        'enable_registration: true',
        'rate_limiting: false',
        'listeners:',
        `  - port: ${port}`,
        "    bind_addresses: ['127.0.0.1']",
        '    resources: [{names: [client]}]',
        `database: {name: sqlite3, args: {database: ${join(dir, 'hs.db')}}}`,
        `signing_key_path: ${join(dir, 'signing.key')}`,
        `media_store_path: ${join(dir, 'media')}`,
        'log_level: warn',
        '',
      ].join('\n'),
    );

    let server = await start(config, port);
    const reg = await call(server.base, 'POST', '/register', undefined, { username: 'alice', password: 'pw', auth: { type: 'm.login.dummy' } });
    expect(reg.status).toBe(200);
    const token = reg.body.access_token as string;
    const created = await call(server.base, 'POST', '/createRoom', token, { name: 'Durable' });
    expect(created.status).toBe(200);
    const roomId = created.body.room_id as string;
    for (const body of ['one', 'two', 'three']) {
      const r = await call(server.base, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${body}`, token, { msgtype: 'm.text', body });
      expect(r.status).toBe(200);
    }
    const first = await call(server.base, 'GET', '/sync', token);
    expect(messages(first.body, roomId)).toEqual(['one', 'two', 'three']);
    const since = first.body.next_batch as string;

    // A long-poll waiting when SIGTERM arrives is answered, and the process exits promptly.
    const pending = call(server.base, 'GET', `/sync?since=${encodeURIComponent(since)}&timeout=60000`, token);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    server.child.kill('SIGTERM');
    const answered = await pending;
    expect(answered.status).toBe(200);
    expect(await server.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8000);

    server = await start(config, port);
    // Nothing new: the old token is accepted (the typing position from the old process reads as 0).
    const same = await call(server.base, 'GET', `/sync?since=${encodeURIComponent(since)}`, token);
    expect(same.status).toBe(200);
    expect(same.body.rooms.join).toEqual({});
    for (const body of ['four', 'five']) {
      const r = await call(server.base, 'PUT', `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${body}`, token, { msgtype: 'm.text', body });
      expect(r.status).toBe(200);
    }
    const after = await call(server.base, 'GET', `/sync?since=${encodeURIComponent(since)}`, token);
    expect(messages(after.body, roomId)).toEqual(['four', 'five']);
    expect(after.body.rooms.join[roomId].timeline.limited).toBe(false);
    // And nothing was lost: an initial sync sees all five.
    const all = await call(server.base, 'GET', `/sync?filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }))}`, token);
    expect(messages(all.body, roomId)).toEqual(['one', 'two', 'three', 'four', 'five']);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  }, 180_000);
});
