// Multi-instance test harness: starts N real server processes on loopback, each with its own server
// name (`localhost:<port>`), data folder (database, signing key, media) and one HTTPS listener
// serving every resource with the self-signed test certificate; plus client helpers over undici.
//
//   const { servers, close } = await startInstances(2);
//   const alice = await register(servers[0]!, 'alice');
//   const r = await api(servers[0]!, alice.accessToken, 'POST', '/createRoom', { preset: 'public_chat' });
//   await servers[1]!.stop(); ...; await servers[1]!.start();   // restart on the same database
//   await close();
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { formatSigningKeyFile, generateSigningKey, type SigningKey } from '../../src/core/crypto/ed25519.js';
import { signRequest } from '../../src/federation/x-matrix.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO, 'src/main.ts');
const TSX = import.meta.resolve('tsx');
const TLS_CERT = join(REPO, 'test/fixtures/tls/localhost.crt');
const TLS_KEY = join(REPO, 'test/fixtures/tls/localhost.key');

/** Client requests in tests: TLS without certificate checks (the test certificate is self-signed). */
export const insecureAgent = new Agent({ connect: { rejectUnauthorized: false }, keepAliveTimeout: 10_000 });

export interface InstanceInfo {
  serverName: string;
  port: number;
  /** The signing key ID and public key the instance will use (generated before it starts). */
  keyId: string;
  publicKey: string;
}

export interface Instance extends InstanceInfo {
  /** The instance's signing key (tests sign federation requests as this server with it). */
  signingKey: SigningKey;
  /** `https://127.0.0.1:<port>` (client, federation, keys and media are all served there). */
  baseUrl: string;
  dataDir: string;
  configPath: string;
  logPath: string;
  readonly running: boolean;
  /** SIGTERM and wait for the exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** Starts again on the same data folder (after stop()). */
  start(): Promise<void>;
  /** SIGKILL: no clean shutdown. */
  kill(): Promise<void>;
  /** The last lines of the instance's log, for failure messages. */
  logTail(lines?: number): string;
}

export interface Instances {
  servers: Instance[];
  close(): Promise<void>;
}

export interface StartInstancesOptions {
  /** Extra configuration for instance i (merged over the harness defaults); sees every instance's name and key. */
  config?: Record<string, unknown> | ((i: number, all: readonly InstanceInfo[]) => Record<string, unknown>);
  /** Default 'warn'; set TSMATRIX_TEST_LOG=debug to see more in the log files. */
  logLevel?: string;
  startTimeoutMs?: number;
  /** Keep the data folders after close() (also when TSMATRIX_KEEP_TEST_DATA is set). */
  keepData?: boolean;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

async function waitUntilReady(inst: Instance, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${inst.serverName} exited during start (${child.exitCode ?? child.signalCode}):\n${inst.logTail()}`);
    }
    try {
      const res = await request(`${inst.baseUrl}/_matrix/client/versions`, { dispatcher: insecureAgent, headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${inst.serverName} did not start within ${timeoutMs} ms:\n${inst.logTail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startInstances(n: number, opts: StartInstancesOptions = {}): Promise<Instances> {
  const root = mkdtempSync(join(tmpdir(), 'tsmatrix-fed-'));
  const ports: number[] = [];
  while (ports.length < n) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const infos: InstanceInfo[] = [];
  const keys = ports.map((port, i) => {
    const key = generateSigningKey(`h${i}`);
    infos.push({ serverName: `localhost:${port}`, port, keyId: key.keyId, publicKey: key.publicKey });
    return key;
  });
  const logLevel = opts.logLevel ?? process.env.TSMATRIX_TEST_LOG ?? 'warn';
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;

  const servers: Instance[] = infos.map((info, i) => {
    const dataDir = join(root, `hs${i}`);
    const configPath = join(dataDir, 'homeserver.yaml');
    const logPath = join(dataDir, 'server.log');
    const signingKeyPath = join(dataDir, 'signing.key');
    const extra = typeof opts.config === 'function' ? opts.config(i, infos) : (opts.config ?? {});
    const config: Record<string, unknown> = {
      server_name: info.serverName,
      enable_registration: true,
      rate_limiting: false,
      federation_verify_certificates: false,
      ip_range_whitelist: ['127.0.0.0/8', '::1/128'],
      trusted_key_servers: [],
      tls_certificate_path: TLS_CERT,
      tls_private_key_path: TLS_KEY,
      listeners: [
        {
          port: info.port,
          bind_addresses: ['127.0.0.1'],
          tls: true,
          type: 'http',
          resources: [{ names: ['client', 'federation', 'keys', 'media'] }],
        },
      ],
      database: { name: 'sqlite3', args: { database: join(dataDir, 'homeserver.db') } },
      signing_key_path: signingKeyPath,
      media_store_path: join(dataDir, 'media'),
      log_level: logLevel,
      ...extra,
    };
    // Written at once so that callers can name keys in other instances' configs (trusted_key_servers).
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(signingKeyPath, formatSigningKeyFile([keys[i]!]), { mode: 0o600 });
    // JSON is YAML.
    writeFileSync(configPath, JSON.stringify(config, null, 2));

    let child: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const inst: Instance = {
      ...info,
      signingKey: keys[i]!,
      baseUrl: `https://127.0.0.1:${info.port}`,
      dataDir,
      configPath,
      logPath,
      get running() {
        return child !== undefined && child.exitCode === null && child.signalCode === null;
      },
      async start() {
        if (inst.running) throw new Error(`${info.serverName} is already running`);
        const fd = openSync(logPath, 'a');
        const c = spawn(process.execPath, ['--import', TSX, MAIN, 'serve', '--config', configPath], { cwd: dataDir, stdio: ['ignore', fd, fd] });
        closeSync(fd);
        child = c;
        live.add(c);
        exited = new Promise((resolve) =>
          c.once('exit', () => {
            live.delete(c);
            resolve();
          }),
        );
        await waitUntilReady(inst, c, startTimeoutMs);
      },
      async stop() {
        if (!child || !inst.running) return;
        const c = child;
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      },
      async kill() {
        if (!child || !inst.running) return;
        child.kill('SIGKILL');
        await exited;
      },
      logTail(lines = 40) {
        if (!existsSync(logPath)) return '(no log)';
        return readFileSync(logPath, 'utf8').split('\n').slice(-lines).join('\n');
      },
    };
    return inst;
  });

  const close = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (!opts.keepData && !process.env.TSMATRIX_KEEP_TEST_DATA) rmSync(root, { recursive: true, force: true });
  };
  try {
    await Promise.all(servers.map((s) => s.start()));
  } catch (e) {
    await Promise.all(servers.map((s) => s.kill()));
    throw e;
  }
  return { servers, close };
}

// --- client helpers -------------------------------------------------------------------------------

export interface ApiResult {
  status: number;
  // Test code reads arbitrary fields of answers.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A request to an instance. `path` is either a full path (`/_matrix/...`) or one relative to
 * `/_matrix/client/v3` (`/createRoom`).
 */
export async function api(server: { baseUrl: string }, token: string | undefined, method: string, path: string, body?: unknown): Promise<ApiResult> {
  const full = path.startsWith('/_matrix/') || path.startsWith('/.well-known/') ? path : `/_matrix/client/v3${path}`;
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${server.baseUrl}${full}`, {
    method: method as 'GET',
    headers,
    dispatcher: insecureAgent,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  if (text.length > 0 && String(res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.statusCode, body: parsed, headers: res.headers };
}

export interface TestUser {
  userId: string;
  accessToken: string;
  deviceId: string;
  /** The same, named as in the register response. */
  user_id: string;
  access_token: string;
  device_id: string;
}

/** Registers `localpart` (password "password") with the dummy flow and returns its session. */
export async function register(server: { baseUrl: string }, localpart: string, password = 'password'): Promise<TestUser> {
  const r = await api(server, undefined, 'POST', '/register', { username: localpart, password, auth: { type: 'm.login.dummy' } });
  if (r.status !== 200) throw new Error(`register ${localpart} failed: ${r.status} ${JSON.stringify(r.body)}`);
  const { user_id, access_token, device_id } = r.body as { user_id: string; access_token: string; device_id: string };
  return { userId: user_id, accessToken: access_token, deviceId: device_id, user_id, access_token, device_id };
}

/**
 * A server-server request to `to` signed with X-Matrix as `as` (an instance, or any origin name
 * and key: a forger, say). `path` is the full path with its query string. `sign: false` sends no
 * Authorization header; `destination` overrides the signed destination.
 */
export async function federationRequest(
  to: { baseUrl: string; serverName: string },
  as: { serverName: string; signingKey: SigningKey },
  method: 'GET' | 'PUT' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  opts: { sign?: boolean; destination?: string } = {},
): Promise<ApiResult> {
  const headers: Record<string, string> = {};
  if (opts.sign !== false) {
    headers.authorization = signRequest(
      { method, uri: path, origin: as.serverName, destination: opts.destination ?? to.serverName, content: body as never },
      as.signingKey,
    );
  }
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${to.baseUrl}${path}`, {
    method,
    headers,
    dispatcher: insecureAgent,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  let parsed: unknown = text;
  if (text.length > 0 && String(res.headers['content-type'] ?? '').includes('json')) parsed = JSON.parse(text);
  return { status: res.statusCode, body: parsed, headers: res.headers };
}
