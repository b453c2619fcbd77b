// Harness for the real-client tests: an in-process homeserver on a free loopback port with a fresh
// temp database, and matrix-js-sdk clients (registered through UIA, logged in with a password) whose
// every HTTP request is recorded, plus bounded waits on the SDK's own events.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createClient, MatrixError, type ICreateClientOpts, type MatrixClient } from 'matrix-js-sdk';
import { logger as sdkRootLogger } from 'matrix-js-sdk/lib/logger.js';
import { parseConfig } from '../../src/config/load.js';
import { startServer, type RunningServer } from '../../src/server.js';

/** The default bound of every wait: long enough for a loaded 2-core machine, short enough to fail fast. */
export const WAIT_MS = 20_000;

export interface TestServer {
  /** e.g. `http://127.0.0.1:41234`. */
  baseUrl: string;
  serverName: string;
  dir: string;
  running: RunningServer;
  close(): Promise<void>;
}

// Parts of the SDK log through its global loglevel logger (children copy its method factory): only
// warnings and errors reach the console unless JS_SDK_LOG is set.
if (process.env.JS_SDK_LOG === undefined) {
  const root = sdkRootLogger as unknown as { methodFactory: (m: string, l: number, n: unknown) => (...a: unknown[]) => void; rebuild(): void };
  const original = root.methodFactory;
  root.methodFactory = (method, level, name) => (method === 'warn' || method === 'error' ? original(method, level, name) : () => {});
  root.rebuild();
}

/** A TCP port that was free a moment ago (the config schema does not accept port 0). */
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

/**
 * Starts the homeserver in this process (client, media, federation and keys resources on
 * 127.0.0.1) with registration open and rate limits off. `extra` is merged into the config.
 */
export async function startTestServer(extra: Record<string, unknown> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tsmatrix-jssdk-'));
  // A port can be taken between probing and binding; try a few.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const serverName = `localhost:${port}`;
    const { config } = parseConfig(
      {
        server_name: serverName,
        listeners: [{ port, bind_addresses: ['127.0.0.1'], resources: [{ names: ['client', 'media', 'federation', 'keys'] }] }],
        database: { args: { database: 'hs.db' } },
        enable_registration: true,
        rate_limiting: false,
        log_level: 'error',
        ...extra,
      },
      { cwd: dir },
    );
    try {
      const running = await startServer(config, pino({ level: process.env.TEST_SERVER_LOG ?? 'error' }), { shutdownGraceMs: 1000 });
      return {
        baseUrl: `http://127.0.0.1:${port}`,
        serverName,
        dir,
        running,
        async close() {
          await running.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (e) {
      if (attempt < 3 && /EADDRINUSE/.test(String((e as Error).message))) continue;
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
  }
}

/** One HTTP exchange a client made. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  /** The query string's parameters. */
  query: URLSearchParams;
  status: number;
  /** The body of error answers (status >= 400). */
  errorBody?: string;
  /** The JSON answer of successful POST and PUT requests. */
  responseJson?: unknown;
}

/**
 * A fetch that records every request and its status in `log` (for "no 5xx, no unexpected 404"
 * checks) and emits 'request' on `events` after each.
 */
export function recordingFetch(log: RecordedRequest[], events?: EventEmitter): typeof globalThis.fetch {
  return async (input, init) => {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const res = await globalThis.fetch(input, init);
    const entry: RecordedRequest = { method: request.method, path: url.pathname, query: url.searchParams, status: res.status };
    if (res.status >= 400) entry.errorBody = await res.clone().text();
    else if ((request.method === 'POST' || request.method === 'PUT') && res.headers.get('content-type')?.startsWith('application/json')) {
      entry.responseJson = await res.clone().json();
    }
    log.push(entry);
    events?.emit('request', entry);
    return res;
  };
}

/** The SDK logs through this: quiet unless JS_SDK_LOG is set; warnings and errors are kept for a failing test to print. */
export function sdkLogger(prefix: string, kept: string[] = []): NonNullable<ICreateClientOpts['logger']> {
  const verbose = process.env.JS_SDK_LOG !== undefined;
  const line = (level: string, args: unknown[]) => `${prefix} ${level} ${args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : safeJson(a))).join(' ')}`;
  const make = (p: string): NonNullable<ICreateClientOpts['logger']> => ({
    trace: (...a: unknown[]) => void (verbose && console.debug(line('trace', a))),
    debug: (...a: unknown[]) => void (verbose && console.debug(line('debug', a))),
    info: (...a: unknown[]) => void (verbose && console.info(line('info', a))),
    warn: (...a: unknown[]) => {
      kept.push(line('warn', a));
      if (verbose) console.warn(line('warn', a));
    },
    error: (...a: unknown[]) => {
      kept.push(line('error', a));
      if (verbose) console.error(line('error', a));
    },
    getChild: (ns: string) => make(`${p}${ns}`),
  });
  return make(prefix);
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

/**
 * Registers `localpart` as a client does (matrix-js-sdk's UIA dance): a first POST /register without
 * `auth` must answer 401 with flows and a session, then the dummy stage completes it.
 */
export async function registerUser(baseUrl: string, localpart: string, password: string, fetchFn?: typeof globalThis.fetch): Promise<{ userId: string }> {
  const tmp = createClient({ baseUrl, ...(fetchFn ? { fetchFn } : {}), logger: sdkLogger(`[register ${localpart}]`) });
  let session: string | undefined;
  try {
    await tmp.registerRequest({ username: localpart, password });
    throw new Error('the first /register without auth should have answered 401');
  } catch (e) {
    if (!(e instanceof MatrixError) || e.httpStatus !== 401) throw e;
    const data = e.data as { session?: string; flows?: { stages: string[] }[] };
    if (!data.flows?.some((f) => f.stages.length === 1 && f.stages[0] === 'm.login.dummy')) {
      throw new Error(`no m.login.dummy flow offered: ${JSON.stringify(data)}`);
    }
    session = data.session;
  }
  const res = await tmp.register(localpart, password, session ?? null, { type: 'm.login.dummy' });
  return { userId: res.user_id };
}

export interface LoggedIn {
  client: MatrixClient;
  userId: string;
  deviceId: string;
  accessToken: string;
  /** Every request this client made. */
  requests: RecordedRequest[];
  /** Emits 'request' (a RecordedRequest) after each request. */
  requestEvents: EventEmitter;
  /** Warnings and errors the SDK logged. */
  sdkLog: string[];
}

/** Logs in with m.login.password and builds the client a real app would build from the answer. */
export async function loginClient(
  baseUrl: string,
  user: string,
  password: string,
  opts: {
    deviceDisplayName?: string;
    clientOpts?: Partial<ICreateClientOpts>;
    /** First GET /versions and GET /login, as Element does before logging in. */
    discover?: boolean;
  } = {},
): Promise<LoggedIn> {
  const requests: RecordedRequest[] = [];
  const requestEvents = new EventEmitter();
  const sdkLog: string[] = [];
  const fetchFn = recordingFetch(requests, requestEvents);
  const tmp = createClient({ baseUrl, fetchFn, logger: sdkLogger(`[login ${user}]`, sdkLog) });
  if (opts.discover) {
    await tmp.getVersions();
    const flows = await tmp.loginFlows();
    if (!flows.flows.some((f) => f.type === 'm.login.password')) throw new Error(`no m.login.password login flow: ${JSON.stringify(flows)}`);
  }
  const res = await tmp.login('m.login.password', {
    identifier: { type: 'm.id.user', user },
    password,
    ...(opts.deviceDisplayName ? { initial_device_display_name: opts.deviceDisplayName } : {}),
  });
  const client = createClient({
    baseUrl,
    fetchFn,
    userId: res.user_id,
    deviceId: res.device_id,
    accessToken: res.access_token,
    logger: sdkLogger(`[${res.user_id} ${res.device_id}]`, sdkLog),
    ...opts.clientOpts,
  });
  return { client, userId: res.user_id, deviceId: res.device_id, accessToken: res.access_token, requests, requestEvents, sdkLog };
}

/** Starts the SDK's sync loop (lazy-loaded members, as Element does) and waits until it is PREPARED. */
export async function startSyncing(client: MatrixClient, opts: Parameters<MatrixClient['startClient']>[0] = {}): Promise<void> {
  const prepared = waitUntil(client, ['sync'], () => client.isInitialSyncComplete(), 'the first sync to complete');
  await client.startClient({ initialSyncLimit: 20, lazyLoadMembers: true, ...opts });
  await prepared;
}

type Listener = (...args: any[]) => void;
interface Emitter {
  on(event: string, fn: Listener): unknown;
  off(event: string, fn: Listener): unknown;
}

type Falsy = undefined | null | false;

/**
 * Resolves once `condition()` holds (it may return a promise): checked at once and after every
 * emission of one of `events` on `emitter`; rejects after `timeoutMs` naming `what`.
 */
export function waitUntil<T>(
  emitter: unknown,
  events: string[],
  condition: () => T | Falsy | Promise<T | Falsy>,
  what: string,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const em = emitter as Emitter;
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const e of events) em.off(e, check);
      fn();
    };
    const check = () => {
      if (done) return;
      let v: T | Falsy | Promise<T | Falsy>;
      try {
        v = condition();
      } catch (e) {
        finish(() => reject(e));
        return;
      }
      if (v instanceof Promise) {
        v.then(
          (r) => {
            if (r) finish(() => resolve(r));
          },
          (e: unknown) => finish(() => reject(e)),
        );
      } else if (v) {
        const r = v;
        finish(() => resolve(r));
      }
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))), timeoutMs);
    for (const e of events) em.on(e, check);
    check();
  });
}

/** Resolves with the arguments of the first emission of `event` for which `match` holds. */
export function nextEmit<A extends unknown[]>(emitter: unknown, event: string, match: (...args: A) => boolean, what: string, timeoutMs = WAIT_MS): Promise<A> {
  const em = emitter as Emitter;
  return new Promise<A>((resolve, reject) => {
    const listener = (...args: unknown[]) => {
      let ok = false;
      try {
        ok = match(...(args as A));
      } catch (e) {
        cleanup();
        reject(e);
        return;
      }
      if (ok) {
        cleanup();
        resolve(args as A);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      em.off(event, listener);
    };
    em.on(event, listener);
  });
}

/**
 * Optional endpoints matrix-js-sdk probes, where a JSON 404 is a valid answer (clients-in-practice.md:
 * "Clients probe optional endpoints at start and expect a JSON error").
 */
export const PROBE_404S: readonly RegExp[] = [
  /^\/_matrix\/client\/unstable\/org\.matrix\.msc4143\/rtc\/transports$/,
  /^\/_matrix\/client\/unstable\/org\.matrix\.msc2965\/auth_issuer$/,
  /^\/_matrix\/client\/v1\/auth_metadata$/,
  /^\/_matrix\/client\/unstable\/org\.matrix\.msc2697\.v2\/dehydrated_device$/,
  /^\/_matrix\/client\/v3\/room_keys\/version$/,
  /^\/\.well-known\/matrix\/client$/,
];

/**
 * Requests that went wrong on the server's side: any 5xx, and any 404 that is not a JSON Matrix
 * error for a probe in PROBE_404S or `expected404` (path regexes).
 */
export function badRequests(requests: RecordedRequest[], expected404: RegExp[] = []): RecordedRequest[] {
  const allowed = [...PROBE_404S, ...expected404];
  return requests.filter((r) => {
    if (r.status >= 500) return true;
    if (r.status !== 404) return false;
    if (!allowed.some((re) => re.test(r.path))) return true;
    return !isMatrixError(r.errorBody);
  });
}

function isMatrixError(body: string | undefined): boolean {
  try {
    return typeof (JSON.parse(body ?? '') as { errcode?: unknown }).errcode === 'string';
  } catch {
    return false;
  }
}
