// The real CLI in a child process: first start creates ./data and answers, invalid config exits
// non-zero naming the key, an HTTPS listener serves federation, SIGTERM exits 0, and the other
// commands (generate-config, generate-keys, migrate, unknown).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfigYaml } from '../../src/config/load.js';
import { parseSigningKeyFile } from '../../src/core/crypto/ed25519.js';
import { verifyJsonSignature } from '../../src/core/crypto/signing.js';
import type { JsonObject } from '../../src/core/json/types.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO, 'src/main.ts');
// Resolved here so the child finds tsx even though its working directory is a temp folder.
const TSX = import.meta.resolve('tsx');
const FIXTURE_CERT = join(REPO, 'test/fixtures/tls/localhost.crt');
const FIXTURE_KEY = join(REPO, 'test/fixtures/tls/localhost.key');

// Each child compiles the TypeScript sources at start, which is slow on a loaded 2-core machine.
vi.setConfig({ testTimeout: 120_000 });

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tsmatrix-e2e-'));
  dirs.push(d);
  return d;
}

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

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startCli(args: string[], cwd: string): Running {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

function runCli(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function waitFor(what: string, run: Running, pred: () => boolean, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (run.child.exitCode !== null) throw new Error(`process exited while waiting for ${what}:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function logMessages(output: string): string[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg);
}

describe('serve', () => {
  it('first start creates data/ (database, 0600 signing key, media folder), logs where, answers, and exits 0 on SIGTERM', async () => {
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(join(dir, 'homeserver.yaml'), `listeners:\n  - port: ${port}\n    bind_addresses: ['127.0.0.1']\n    resources: [{names: [client, federation]}]\n`);
    const run = startCli(['serve', '--config', 'homeserver.yaml'], dir);
    await waitFor('ready', run, () => run.output().includes('"msg":"ready"'));

    expect(existsSync(join(dir, 'data/homeserver.db'))).toBe(true);
    expect(statSync(join(dir, 'data/media_store')).isDirectory()).toBe(true);
    const keyFile = join(dir, 'data/signing.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const [key] = parseSigningKeyFile(readFileSync(keyFile, 'utf8'));
    expect(key).toBeDefined();

    const msgs = logMessages(run.output());
    expect(msgs).toContain('server name: localhost:8008');
    expect(msgs).toContain(`database: ${join(dir, 'data/homeserver.db')}`);
    expect(msgs).toContain(`generated new signing key ${key!.keyId} at ${keyFile}`);
    expect(msgs).toContain(`media store: ${join(dir, 'data/media_store')}`);
    expect(msgs.some((m) => m.startsWith(`listening on http://127.0.0.1:${port} `))).toBe(true);

    const versions = await fetch(`http://127.0.0.1:${port}/_matrix/client/versions`);
    expect(versions.status).toBe(200);
    expect(versions.headers.get('access-control-allow-origin')).toBe('*');
    expect(((await versions.json()) as { versions: string[] }).versions).toContain('v1.1');

    const keyDoc = (await (await fetch(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).json()) as JsonObject;
    expect(verifyJsonSignature(keyDoc, 'localhost:8008', key!.keyId, key!.publicKey)).toBe(true);

    const notFound = await fetch(`http://127.0.0.1:${port}/_matrix/client/r0/nope`);
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });

    run.child.kill('SIGTERM');
    const { code } = await run.exited;
    expect(code).toBe(0);
    expect(logMessages(run.output())).toContain('stopped');

    // A second start keeps the key it made the first time.
    const again = startCli(['serve', '--config', 'homeserver.yaml'], dir);
    await waitFor('ready again', again, () => again.output().includes('"msg":"ready"'));
    expect(logMessages(again.output())).toContain(`signing key ${key!.keyId} loaded from ${keyFile}`);
    again.child.kill('SIGINT');
    expect((await again.exited).code).toBe(0);
  });

  it('finishes an in-flight request before exiting on SIGTERM', async () => {
    const dir = tempDir();
    const port = await freePort();
    writeFileSync(join(dir, 'c.yaml'), `listeners:\n  - port: ${port}\n    bind_addresses: ['127.0.0.1']\n    resources: [{names: [client]}]\n`);
    const run = startCli(['serve', '--config', 'c.yaml'], dir);
    await waitFor('ready', run, () => run.output().includes('"msg":"ready"'));
    // A request whose body is still arriving when SIGTERM comes in.
    const { request } = await import('node:http');
    const answered = new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/_matrix/client/versions', headers: { 'content-type': 'application/json', 'content-length': '2' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('{');
      setTimeout(() => {
        run.child.kill('SIGTERM');
        setTimeout(() => req.end('}'), 300);
      }, 200);
    });
    expect(await answered).toBe(405);
    expect((await run.exited).code).toBe(0);
  });

  it('an invalid config file stops the server with a message naming the key and exit code 1', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), 'server_name: example.org\nlisteners:\n  - port: 123456\n    resources: [{names: [client]}]\n');
    const r = runCli(['serve', '--config', 'bad.yaml'], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('config error: listeners.0.port: expected a number from 1 to 65535');
    expect(existsSync(join(dir, 'data'))).toBe(false);
  });

  it('a missing config file is a config error', () => {
    const dir = tempDir();
    const r = runCli(['serve', '--config', 'nope.yaml'], dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('config error: cannot read nope.yaml: no such file');
  });

  it('a port already in use fails the start with exit code 1', async () => {
    const dir = tempDir();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      writeFileSync(join(dir, 'c.yaml'), `listeners:\n  - port: ${port}\n    bind_addresses: ['127.0.0.1']\n`);
      const run = startCli(['serve', '--config', 'c.yaml'], dir);
      const { code } = await run.exited;
      expect(code).toBe(1);
      expect(run.output()).toContain(`cannot listen on http://127.0.0.1:${port}`);
    } finally {
      blocker.close();
    }
  });

  it('serves federation over HTTPS on a TLS listener with the given certificate and key', async () => {
    const dir = tempDir();
    const [plain, secure] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'tls.yaml'),
      [
        'server_name: localhost',
        `tls_certificate_path: ${JSON.stringify(FIXTURE_CERT)}`,
        `tls_private_key_path: ${JSON.stringify(FIXTURE_KEY)}`,
        'listeners:',
        `  - port: ${plain}`,
        "    bind_addresses: ['127.0.0.1']",
        '    resources: [{names: [client]}]',
        `  - port: ${secure}`,
        "    bind_addresses: ['127.0.0.1']",
        '    tls: true',
        '    resources: [{names: [federation]}]',
        '',
      ].join('\n'),
    );
    const run = startCli(['serve', '--config', 'tls.yaml'], dir);
    await waitFor('ready', run, () => run.output().includes('"msg":"ready"'));
    expect(logMessages(run.output()).some((m) => m.startsWith(`listening on https://127.0.0.1:${secure} `))).toBe(true);

    const ca = readFileSync(FIXTURE_CERT);
    const get = (path: string) =>
      new Promise<{ status: number; body: string; peerCn: string }>((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: secure, path, ca, servername: 'localhost' }, (res) => {
          let body = '';
          const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate();
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCn: String(cert.subject?.CN ?? '') }));
        });
        req.on('error', reject);
        req.end();
      });
    const version = await get('/_matrix/federation/v1/version');
    expect(version.status).toBe(200);
    expect(version.peerCn).toBe('localhost');
    expect(JSON.parse(version.body)).toEqual({ server: { name: 'tsmatrix', version: expect.any(String) } });
    const keys = await get('/_matrix/key/v2/server');
    expect(JSON.parse(keys.body).server_name).toBe('localhost');
    // The plain listener serves the client API only.
    expect((await fetch(`http://127.0.0.1:${plain}/_matrix/client/versions`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${plain}/_matrix/federation/v1/version`)).status).toBe(404);

    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });
});

describe('other commands', () => {
  it('generate-config prints a complete configuration that loads without warnings', () => {
    const dir = tempDir();
    const r = runCli(['generate-config', '--server-name', 'example.org', '--data-dir', '/var/lib/tsmatrix'], dir);
    expect(r.status).toBe(0);
    const { config, warnings } = parseConfigYaml(r.stdout, 'generated');
    expect(warnings).toEqual([]);
    expect(config.server_name).toBe('example.org');
    expect(config.signing_key_path).toBe('/var/lib/tsmatrix/signing.key');
    expect(config.registration_shared_secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  });

  it('generate-config refuses an invalid server name', () => {
    const r = runCli(['generate-config', '--server-name', 'bad name!'], tempDir());
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('config error: server_name:');
  });

  it('generate-keys --output writes a 0600 Synapse-format key file and will not overwrite it', () => {
    const dir = tempDir();
    const r = runCli(['generate-keys', '--output', 'keys/new.key'], dir);
    expect(r.status).toBe(0);
    const file = join(dir, 'keys/new.key');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
    expect(parseSigningKeyFile(text)).toHaveLength(1);
    const again = runCli(['generate-keys', '--output', 'keys/new.key'], dir);
    expect(again.status).toBe(1);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('migrate creates the database and exits', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'm.yaml'), 'database: {name: sqlite3, args: {database: db/hs.sqlite}}\n');
    const r = runCli(['migrate', '--config', 'm.yaml'], dir);
    expect(r.status).toBe(0);
    expect(existsSync(join(dir, 'db/hs.sqlite'))).toBe(true);
    expect(r.stdout).toMatch(/is at schema version \d+/);
  });

  it('an unknown command or option prints usage and exits 2', () => {
    const dir = tempDir();
    const a = runCli(['frobnicate'], dir);
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('unknown command: frobnicate');
    expect(a.stderr).toContain('usage: tsmatrix');
    const b = runCli(['serve', '--nope'], dir);
    expect(b.status).toBe(2);
    const c = runCli(['generate-keys', '--config', 'x'], dir);
    expect(c.status).toBe(2);
  });
});

describe('startServer (in process)', () => {
  it('binds "::" and "0.0.0.0" on one port (dual stack or IPv4 only), and close() is idempotent', async () => {
    const { pino } = await import('pino');
    const { parseConfig } = await import('../../src/config/load.js');
    const { startServer } = await import('../../src/server.js');
    const dir = tempDir();
    const port = await freePort();
    const { config } = parseConfig(
      { listeners: [{ port, resources: [{ names: ['client'] }] }], database: { args: { database: 'hs.db' } } },
      { cwd: dir },
    );
    expect(config.listeners[0]!.bind_addresses).toEqual(['::', '0.0.0.0']);
    const server = await startServer(config, pino({ level: 'silent' }), { shutdownGraceMs: 1000 });
    try {
      expect(server.addresses.length).toBeGreaterThan(0);
      expect(server.addresses.every((a) => a.port === port && !a.tls)).toBe(true);
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      expect(await r.text()).toBe('OK');
    } finally {
      await server.close();
      await server.close();
    }
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
  });
});
