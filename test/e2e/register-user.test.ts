// The real `register-user` command in a child process against a real server process: creates an
// admin with the shared secret from the config file, who can then log in; a second run fails.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO, 'src/main.ts');
const TSX = import.meta.resolve('tsx');

let server: ChildProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'tsmatrix-reguser-'));
afterAll(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
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

function runCli(args: string[]) {
  return spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
}

describe('register-user', () => {
  it('registers an admin on a running server using the secret and listener from the config', async () => {
    const port = await freePort();
    const config = join(dir, 'homeserver.yaml');
    writeFileSync(
      config,
      [
        'server_name: regtest.local',
        'listeners:',
        `  - port: ${port}`,
        "    bind_addresses: ['127.0.0.1']",
        '    resources: [{names: [client]}]',
        `database: {name: sqlite3, args: {database: ${join(dir, 'hs.db')}}}`,
        `signing_key_path: ${join(dir, 'signing.key')}`,
        `media_store_path: ${join(dir, 'media')}`,
        'registration_shared_secret: "not so secret"',
        'log_level: warn',
        '',
      ].join('\n'),
    );
    server = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', config], { cwd: dir, stdio: 'ignore' });
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${base}/_matrix/client/versions`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }

    // No URL argument: the command finds the client listener in the config.
    const ok = runCli(['register-user', '-u', 'alice', '-p', 'wonderland', '--admin', '--config', config]);
    expect([ok.status, ok.stderr]).toEqual([0, '']);
    expect(ok.stdout).toContain('@alice:regtest.local');

    const login = await fetch(`${base}/_matrix/client/r0/login`, {
      method: 'POST',
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'wonderland' }),
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { user_id: string }).user_id).toBe('@alice:regtest.local');

    const again = runCli(['register-user', '-u', 'alice', '-p', 'x', '--no-admin', '--config', config]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('M_USER_IN_USE');

    const wrong = runCli(['register-user', '-u', 'bob', '-p', 'x', '-k', 'wrong secret', base]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('HMAC incorrect');
  });
});
