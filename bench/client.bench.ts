// Client-Server benchmark against the server running locally in a child process (the compiled
// build, as operators run it; rate limits off), over plain HTTP with undici keep-alive pools:
// (a) messages/s sent by 10 concurrent clients into one room with 100 local members, (b) latency
// from send to delivery in another member's waiting long-poll /sync, (c) initial /sync time of a
// user in 200 rooms of 50 messages each, (d) resident memory of the server idle and after (a).
// The child runs with the Dockerfile's Node settings (SERVER_NODE_FLAGS, SERVER_ENV).
// BENCH_CPU_PROF=<dir> runs the child with --cpu-prof and writes its profile there on exit;
// BENCH_CLIENT_PARTS=a,b,c picks parts (d is always measured); BENCH_SERVER_MAIN=<dist/main.js>
// reuses an existing build (with migrations/ and node_modules/ reachable from it); BENCH_KEEP=1
// keeps the server's folder (database) for a look afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { median, percentile, type Report } from './lib.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const MEMBERS = 100;
const SENDERS = 10;
const MESSAGES_PER_SENDER = 200;
const THROUGHPUT_ROUNDS = 3;
const LATENCY_SAMPLES = 300;
const LATENCY_WARMUP = 20;
const SYNC_ROOMS = 200;
const EVENTS_PER_ROOM = 50;
const INITIAL_SYNC_RUNS = 5;
/** How long the server is left alone before its idle memory is read. */
const IDLE_SETTLE_MS = 25_000;
/** USER_HZ: 100 on Linux everywhere that matters (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;
/**
 * The runtime settings of the Dockerfile (see its comment for the measurements): a small young
 * generation, two V8 helper threads, two malloc arenas. BENCH_NODE_DEFAULTS=1 runs Node's defaults.
 */
const SERVER_NODE_FLAGS = process.env.BENCH_NODE_DEFAULTS ? [] : ['--max-semi-space-size=2', '--v8-pool-size=2'];
const SERVER_ENV: Record<string, string> = process.env.BENCH_NODE_DEFAULTS ? {} : { MALLOC_ARENA_MAX: '2' };

/** Compiles src/ (tsc, tsconfig.build.json) into `dir`/dist, with migrations/ and node_modules/ beside it. */
function buildServer(dir: string): string {
  const out = join(dir, 'dist');
  const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(REPO, 'tsconfig.build.json'), '--outDir', out, '--sourceMap', 'false'], { encoding: 'utf8' });
  const main = join(out, 'main.js');
  // tsc emits even with type errors elsewhere in the tree; only a missing output is fatal.
  if (!existsSync(main)) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
  // dist/store/db.js finds migrations two levels up; packages resolve from node_modules above dist.
  symlinkSync(join(REPO, 'migrations'), join(dir, 'migrations'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  return main;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

interface Child {
  proc: ChildProcess;
  baseUrl: string;
  /** Resident set size of the server process, from /proc/<pid>/status (MB). */
  rssMb(): number;
  /** CPU time (user + system) the server process has used, from /proc/<pid>/stat (ms). */
  cpuMs(): number;
  stop(): Promise<void>;
}

async function startChild(main: string, dir: string): Promise<Child> {
  const port = await freePort();
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  writeFileSync(
    join(dir, 'homeserver.yaml'),
    [
      `server_name: "localhost:${port}"`,
      `listeners: [{port: ${port}, bind_addresses: ['127.0.0.1'], resources: [{names: [client, federation]}]}]`,
      `database: {args: {database: ${JSON.stringify(join(data, 'homeserver.db'))}}}`,
      `signing_key_path: ${JSON.stringify(join(data, 'signing.key'))}`,
      `media_store_path: ${JSON.stringify(join(data, 'media'))}`,
      'enable_registration: true',
      'rate_limiting: false',
      'log_level: warn',
      '',
    ].join('\n'),
  );
  const profDir = process.env.BENCH_CPU_PROF;
  const args = [...SERVER_NODE_FLAGS, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(profDir)}`] : []), main, 'serve', '--config', join(dir, 'homeserver.yaml')];
  const proc = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...SERVER_ENV } });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const baseUrl = `http://127.0.0.1:${port}`;
  // log_level warn hides "ready": poll /versions until it answers.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited:\n${out}`);
    if (Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
    try {
      if ((await fetch(`${baseUrl}/_matrix/client/versions`)).ok) break;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    proc,
    baseUrl,
    rssMb() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${proc.pid}/status`, 'utf8'));
      if (!m) throw new Error('no VmRSS in /proc status');
      return Number(m[1]) / 1024;
    },
    cpuMs() {
      // Fields after the parenthesised command name: state is field 3, utime 14, stime 15 (clock ticks).
      const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_SECOND;
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      if (profDir) console.log(`  cpu profile of the server written to ${resolve(profDir)}`);
    },
  };
}

/** One keep-alive HTTP client (an undici pool) with a user's token. */
class Api {
  private readonly pool: Pool;
  constructor(
    baseUrl: string,
    public token = '',
    connections = 1,
  ) {
    this.pool = new Pool(baseUrl, { connections, keepAliveTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000 });
  }

  async call<T = Record<string, unknown>>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, okStatuses: number[] = [200]): Promise<{ status: number; json: T }> {
    const res = await this.pool.request({
      method,
      path,
      headers: {
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (await res.body.json()) as T;
    if (!okStatuses.includes(res.statusCode)) throw new Error(`${method} ${path}: ${res.statusCode} ${JSON.stringify(json)}`);
    return { status: res.statusCode, json };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

interface User {
  userId: string;
  api: Api;
}

/** Registers through UIA's dummy stage, as clients do (a 401 with the session first). */
async function register(baseUrl: string, localpart: string): Promise<User> {
  const api = new Api(baseUrl);
  const password = `${localpart} password`;
  const first = await api.call<{ session?: string }>('POST', '/_matrix/client/v3/register', { username: localpart, password }, [401]);
  const { json } = await api.call<{ user_id: string; access_token: string }>('POST', '/_matrix/client/v3/register', {
    username: localpart,
    password,
    auth: { type: 'm.login.dummy', ...(first.json.session ? { session: first.json.session } : {}) },
    initial_device_display_name: 'bench',
  });
  api.token = json.access_token;
  return { userId: json.user_id, api };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function parallel<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

let txnCounter = 0;
function sendPath(roomId: string): string {
  return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/b${process.pid}-${++txnCounter}`;
}

interface SyncAnswer {
  next_batch: string;
  rooms?: { join?: Record<string, { timeline?: { events?: { event_id: string }[] } }> };
}

export async function run(report: Report): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'client-bench-'));
  let child: Child | undefined;
  const apis: Api[] = [];
  try {
    const parts = new Set((process.env.BENCH_CLIENT_PARTS ?? 'a,b,c').split(','));
    let main = process.env.BENCH_SERVER_MAIN;
    if (!main) {
      process.stdout.write('  building the server (tsc)...\n');
      main = buildServer(dir);
    }
    child = await startChild(main, dir);
    const base = child.baseUrl;

    // ---- (d) idle: started, nothing asked of it yet but the readiness probe. Start-up (module
    // loading) grows V8's young generation to its maximum; V8's memory reducer gives it back after
    // some seconds of idleness, so the idle figure is read once that has happened.
    await new Promise((r) => setTimeout(r, 1000));
    const startRss = child.rssMb();
    await new Promise((r) => setTimeout(r, IDLE_SETTLE_MS - 1000));
    const idleRss = child.rssMb();

    // ---- setup: 100 local members in one room.
    const members: User[] = new Array(MEMBERS);
    await parallel(Array.from({ length: MEMBERS }, (_, i) => i), 4, async (i) => {
      members[i] = await register(base, `member${i}`);
    });
    for (const m of members) apis.push(m.api);
    const creator = members[0]!;
    const roomId = (await creator.api.call<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', { preset: 'public_chat', name: 'bench' })).json.room_id;
    await parallel(members.slice(1), 4, async (m) => {
      await m.api.call('POST', `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, {});
    });
    const setupRss = child.rssMb();

    // ---- (a) throughput: 10 clients, each its own keep-alive connection, sending back to back.
    const senders = members.slice(0, SENDERS);
    const sendAll = async (perSender: number, tag: string) => {
      await Promise.all(
        senders.map(async (s, c) => {
          for (let i = 0; i < perSender; i++) {
            await s.api.call('PUT', sendPath(roomId), { msgtype: 'm.text', body: `${tag} message ${i} from client ${c}` });
          }
        }),
      );
    };
    await sendAll(20, 'warm-up');
    const rates: number[] = [];
    const cpuPerMessage: number[] = [];
    for (let r = 0; r < (parts.has('a') ? THROUGHPUT_ROUNDS : 0); r++) {
      const t0 = performance.now();
      const cpu0 = child.cpuMs();
      await sendAll(MESSAGES_PER_SENDER, `round ${r}`);
      rates.push((SENDERS * MESSAGES_PER_SENDER) / ((performance.now() - t0) / 1000));
      cpuPerMessage.push((child.cpuMs() - cpu0) / (SENDERS * MESSAGES_PER_SENDER));
    }
    if (parts.has('a')) report({ name: `(a) messages/s, ${SENDERS} concurrent clients, room of ${MEMBERS} local members`, median: median(rates), unit: 'messages/s', target: '>= 1000' });
    // The server's own CPU cost, which other load on the machine does not change much.
    if (parts.has('a')) report({ name: '(a) server CPU time per message sent', median: median(cpuPerMessage), unit: 'ms' });
    const afterSendRss = child.rssMb();

    // ---- (b) latency: a member's long-poll /sync is waiting; another member sends; the sync answers with it.
    const sender = members[1]!;
    const receiver = members[2]!;
    const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 10 }, state: { lazy_load_members: true } } }));
    let since = (await receiver.api.call<SyncAnswer>('GET', `/_matrix/client/v3/sync?timeout=0&filter=${filter}`)).json.next_batch;
    const latencies: number[] = [];
    for (let i = 0; i < (parts.has('b') ? LATENCY_WARMUP + LATENCY_SAMPLES : 0); i++) {
      let waiting = receiver.api.call<SyncAnswer>('GET', `/_matrix/client/v3/sync?timeout=30000&filter=${filter}&since=${encodeURIComponent(since)}`);
      // Let the request reach the server and park (not timed).
      await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      const sent = await sender.api.call<{ event_id: string }>('PUT', sendPath(roomId), { msgtype: 'm.text', body: `latency ${i}` });
      // An answer for something else (e.g. presence) is followed by another poll; the clock runs on.
      for (;;) {
        const { json } = await waiting;
        since = json.next_batch;
        if (json.rooms?.join?.[roomId]?.timeline?.events?.some((e) => e.event_id === sent.json.event_id)) break;
        waiting = receiver.api.call<SyncAnswer>('GET', `/_matrix/client/v3/sync?timeout=30000&filter=${filter}&since=${encodeURIComponent(since)}`);
      }
      if (i >= LATENCY_WARMUP) latencies.push(performance.now() - t0);
    }
    if (parts.has('b')) report({ name: '(b) send -> delivery in a waiting /sync, p50', median: percentile(latencies, 50), unit: 'ms', target: '<= 5' });
    if (parts.has('b')) report({ name: '(b) send -> delivery in a waiting /sync, p99', median: percentile(latencies, 99), unit: 'ms', target: '<= 25' });

    // ---- (c) initial sync of a user in 200 rooms with 50 messages each.
    if (parts.has('c')) await initialSyncPart(base, apis, report);

    // ---- (d) memory.
    report({ name: '(d) server RSS 1 s after start', median: startRss, unit: 'MB' });
    report({ name: `(d) server RSS idle (${IDLE_SETTLE_MS / 1000} s after start)`, median: idleRss, unit: 'MB', target: '<= 80' });
    report({ name: '(d) server RSS with 100 users and the room', median: setupRss, unit: 'MB' });
    report({ name: '(d) server RSS after (a)', median: afterSendRss, unit: 'MB' });
    report({ name: '(d) server RSS at the end', median: child.rssMb(), unit: 'MB' });
  } finally {
    await Promise.all(apis.map((a) => a.close().catch(() => undefined)));
    await child?.stop();
    if (process.env.BENCH_KEEP) console.log(`  kept the server's folder: ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function initialSyncPart(base: string, apis: Api[], report: Report): Promise<void> {
  const heavy = await register(base, 'heavy');
  apis.push(heavy.api);
  const heavyWriter = new Api(base, heavy.api.token, 8);
  apis.push(heavyWriter);
  await parallel(Array.from({ length: SYNC_ROOMS }, (_, i) => i), 8, async (i) => {
    const id = (await heavyWriter.call<{ room_id: string }>('POST', '/_matrix/client/v3/createRoom', { name: `room ${i}` })).json.room_id;
    for (let k = 0; k < EVENTS_PER_ROOM; k++) await heavyWriter.call('PUT', sendPath(id), { msgtype: 'm.text', body: `room ${i} message ${k}` });
  });
  const initialSync = async (query: string) => {
    const times: number[] = [];
    for (let r = 0; r < INITIAL_SYNC_RUNS; r++) {
      const t0 = performance.now();
      const { json } = await heavy.api.call<SyncAnswer>('GET', `/_matrix/client/v3/sync?timeout=0${query}`);
      times.push(performance.now() - t0);
      const joined = Object.keys(json.rooms?.join ?? {}).length;
      if (joined !== SYNC_ROOMS) throw new Error(`initial sync returned ${joined} rooms, expected ${SYNC_ROOMS}`);
    }
    return median(times);
  };
  report({ name: `(c) initial /sync, ${SYNC_ROOMS} rooms x ${EVENTS_PER_ROOM} messages (no filter)`, median: await initialSync(''), unit: 'ms', target: '<= 500' });
  const lazyFilter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 20 }, state: { lazy_load_members: true } } }));
  report({ name: `(c) initial /sync, same, Element-like filter (limit 20, lazy members)`, median: await initialSync(`&filter=${lazyFilter}`), unit: 'ms' });
}
