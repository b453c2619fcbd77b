// The outbound federation HTTPS client: server discovery, one keep-alive pool (undici Agent) per
// destination, X-Matrix signing of every request, the IP range blacklist/whitelist at connect time,
// certificate checks per federation_verify_certificates / federation_custom_ca_list, timeouts and
// response size caps, and errors as FederationError.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP, type LookupFunction } from 'node:net';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Agent, Dispatcher } from 'undici';
import type { Config } from '../config/schema.js';
import type { SigningKey } from '../core/crypto/ed25519.js';
import { JsonParseError, parseJsonBytes } from '../core/json/parse.js';
import { isJsonObject, type JsonValue } from '../core/json/types.js';
import {
  createServerResolver,
  hostForUrl,
  WellKnownCache,
  WELL_KNOWN_MAX_BYTES,
  type ServerResolver,
  type SrvRecord,
  type WellKnownFetchOutcome,
} from './discovery.js';
import { IpRangePolicy } from './ip-ranges.js';
import { lazyAgent, loadUndici } from '../net/undici.js';
import { signRequest } from './x-matrix.js';

export type FederationMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface FederationRequestOptions {
  /** Whole-request deadline in ms (default 60 s). */
  timeoutMs?: number;
  /** Largest response body read, in bytes (default 50 MiB); send_join callers raise it. */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface RawFederationResponse {
  status: number;
  headers: Record<string, string>;
  /** The response body; the caller must consume or destroy it. */
  body: Readable;
}

/** Outbound, signed server-server requests. */
export interface FederationClient {
  /**
   * Sends a signed request and returns the parsed JSON body of a 2xx answer. `path` includes the
   * query string, already percent-encoded (it is signed as the `uri` exactly as sent). Throws
   * FederationError otherwise.
   */
  request<T = unknown>(
    destination: string,
    method: FederationMethod,
    path: string,
    body?: JsonValue,
    opts?: FederationRequestOptions,
  ): Promise<T>;
  /** Sends a signed request and returns the answer as it comes, whatever its status (media downloads). */
  requestRaw(destination: string, method: FederationMethod, path: string, opts?: FederationRequestOptions & { body?: JsonValue }): Promise<RawFederationResponse>;
  /** Closes every pooled connection. */
  close(): Promise<void>;
}

/**
 * A failed federation request. `status` is the HTTP status of the answer, or 0 when there was none
 * usable (DNS, connection, TLS, blocked address, timeout, oversized or malformed body).
 */
export class FederationError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;
  readonly body: unknown;
  readonly destination: string;
  /** From a 429's `retry_after_ms` or Retry-After header. */
  readonly retryAfterMs: number | undefined;

  constructor(destination: string, status: number, message: string, opts: { errcode?: string; body?: unknown; retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'FederationError';
    this.destination = destination;
    this.status = status;
    this.errcode = opts.errcode;
    this.body = opts.body;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

export function isFederationError(e: unknown): e is FederationError {
  return e instanceof FederationError;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 50 * 1024 * 1024;
const WELL_KNOWN_TIMEOUT_MS = 10_000;
const WELL_KNOWN_MAX_REDIRECTS = 5;
/** Idle keep-alive connections close after this long. */
const KEEP_ALIVE_MS = 60_000;
/** Connections per destination target (undici pools per origin). */
const CONNECTIONS_PER_ORIGIN = 16;
/** Pools kept; the least recently used one is closed beyond this. */
const MAX_AGENTS = 2_000;

/** Thrown by the connect-time lookup when every address of a host is blacklisted. */
export class BlockedAddressError extends Error {
  readonly code = 'EBLOCKEDADDRESS';
  constructor(host: string, addresses: readonly string[]) {
    super(`${host} resolves only to addresses refused by ip_range_blacklist (${addresses.join(', ')})`);
    this.name = 'BlockedAddressError';
  }
}

/**
 * A `lookup` for net/tls.connect that drops blacklisted addresses (so a DNS name pointing at a
 * private address is refused at the moment of connecting, with no window for DNS rebinding).
 */
export function filteredLookup(policy: IpRangePolicy): LookupFunction {
  const fn = (hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    dnsLookup(hostname, { ...options, all: true } as { all: true }, (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => {
      if (err) {
        callback(err, options.all ? [] : '', 0);
        return;
      }
      const allowed = addresses.filter((a) => !policy.isBlocked(a.address));
      if (allowed.length === 0) {
        callback(new BlockedAddressError(hostname, addresses.map((a) => a.address)), options.all ? [] : '', 0);
        return;
      }
      if (options.all) callback(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
  return fn as unknown as LookupFunction;
}

export interface TlsOptions {
  rejectUnauthorized: boolean;
  ca?: Buffer[];
}

/** TLS settings from the config (Synapse: the custom CA list replaces the system's trust store). */
export function tlsOptionsFromConfig(config: Config): TlsOptions {
  const out: TlsOptions = { rejectUnauthorized: config.federation_verify_certificates };
  if (config.federation_custom_ca_list && config.federation_custom_ca_list.length > 0) {
    out.ca = config.federation_custom_ca_list.map((p) => readFileSync(p));
  }
  return out;
}

function headerRecord(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/** Reads a body up to `maxBytes`; throws (and destroys the stream) past it. */
async function readCapped(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    total += buf.length;
    if (total > maxBytes) {
      body.destroy();
      throw new RangeError(`response larger than ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

function retryAfter(headers: Record<string, string>, body: unknown): number | undefined {
  if (isJsonObject(body) && typeof body.retry_after_ms === 'number' && body.retry_after_ms >= 0) return body.retry_after_ms;
  const h = headers['retry-after'];
  if (h && /^\d+$/.test(h)) return Number(h) * 1000;
  return undefined;
}

function combineSignals(timeoutMs: number, signal: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([timeout, signal]) : timeout;
}

function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return `${code ? `${code} ` : ''}${e.message}${cause}`;
  }
  return String(e);
}

/** Errors raised before any response arrived, for which trying the next SRV target makes sense. */
function isConnectError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return (
    e instanceof BlockedAddressError ||
    code === 'ECONNREFUSED' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ENOTFOUND' ||
    code === 'EAI_AGAIN' ||
    code === 'EBLOCKEDADDRESS' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  );
}

export interface FederationClientOptions {
  config: Config;
  serverName: string;
  signingKey: SigningKey;
  logger?: Logger;
  /** Server discovery; by default well-known over this client's HTTPS settings, and system DNS SRV. */
  resolver?: ServerResolver;
  clock?: () => number;
  /** SRV lookup for the default resolver (tests). */
  srvLookup?: (name: string) => Promise<SrvRecord[]>;
  /** The port of /.well-known/matrix/server requests; 443 (tests use another). */
  wellKnownPort?: number;
}

export function createFederationClient(opts: FederationClientOptions): FederationClient & { resolver: ServerResolver; ipPolicy: IpRangePolicy } {
  const { config, serverName, signingKey, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const ipPolicy = new IpRangePolicy(config.ip_range_blacklist, config.ip_range_whitelist);
  const tls = tlsOptionsFromConfig(config);
  const lookup = filteredLookup(ipPolicy);
  const connectOptions = { lookup, rejectUnauthorized: tls.rejectUnauthorized, ...(tls.ca ? { ca: tls.ca } : {}) };

  const agents = new Map<string, Agent>();
  // undici is loaded by the first request (src/net/undici.ts), not at start.
  async function agentFor(destination: string): Promise<Agent> {
    const undici = await loadUndici();
    let agent = agents.get(destination);
    if (agent) {
      // Most recently used last, so the first entry is the one to close when over the limit.
      agents.delete(destination);
      agents.set(destination, agent);
      return agent;
    }
    agent = new undici.Agent({ connect: connectOptions, keepAliveTimeout: KEEP_ALIVE_MS, connections: CONNECTIONS_PER_ORIGIN });
    agents.set(destination, agent);
    if (agents.size > MAX_AGENTS) {
      const [oldest, old] = agents.entries().next().value as [string, Agent];
      agents.delete(oldest);
      void old.close().catch(() => undefined);
    }
    return agent;
  }

  // Well-known fetches: a shared pool, redirects followed by hand so each hop is checked.
  const wellKnownAgent = lazyAgent({ connect: connectOptions, keepAliveTimeout: 10_000, connections: 4 });
  async function fetchWellKnown(hostname: string): Promise<WellKnownFetchOutcome> {
    const port = opts.wellKnownPort !== undefined && opts.wellKnownPort !== 443 ? `:${opts.wellKnownPort}` : '';
    let url = new URL(`https://${hostForUrl(hostname)}${port}/.well-known/matrix/server`);
    const signal = AbortSignal.timeout(WELL_KNOWN_TIMEOUT_MS);
    for (let hop = 0; ; hop++) {
      const literal = url.hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) && ipPolicy.isBlocked(literal)) return { kind: 'unreachable', reason: `${literal} is blacklisted` };
      let res: Dispatcher.ResponseData;
      try {
        res = await (await wellKnownAgent.get()).request({ origin: url.origin, path: url.pathname + url.search, method: 'GET', signal, headers: { accept: 'application/json' } });
      } catch (e) {
        return { kind: 'unreachable', reason: describeError(e) };
      }
      const location = res.headers.location;
      if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
        res.body.resume();
        if (hop >= WELL_KNOWN_MAX_REDIRECTS) return { kind: 'response', status: res.statusCode, headers: {}, body: '' };
        try {
          url = new URL(location, url);
        } catch {
          return { kind: 'response', status: res.statusCode, headers: {}, body: '' };
        }
        if (url.protocol !== 'https:' && url.protocol !== 'http:') return { kind: 'response', status: res.statusCode, headers: {}, body: '' };
        continue;
      }
      let text = '';
      try {
        text = (await readCapped(res.body, WELL_KNOWN_MAX_BYTES)).toString('utf8');
      } catch (e) {
        if (e instanceof RangeError) return { kind: 'response', status: 0, headers: {}, body: '' };
        return { kind: 'unreachable', reason: describeError(e) };
      }
      return { kind: 'response', status: res.statusCode, headers: res.headers, body: text };
    }
  }

  const resolver =
    opts.resolver ??
    createServerResolver({ wellKnown: new WellKnownCache(fetchWellKnown, clock), ...(opts.srvLookup ? { srv: opts.srvLookup } : {}), clock });

  /** Sends the request, trying each resolved target until one answers; returns undici's response. */
  async function send(
    destination: string,
    method: FederationMethod,
    path: string,
    body: JsonValue | undefined,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    if (!path.startsWith('/') || /[\r\n\s]/.test(path)) throw new FederationError(destination, 0, `invalid request path ${JSON.stringify(path)}`);
    let resolved;
    try {
      resolved = await resolver.resolve(destination);
    } catch (e) {
      throw new FederationError(destination, 0, `cannot resolve ${destination}: ${describeError(e)}`, { cause: e });
    }
    const authorization = signRequest({ method, uri: path, origin: serverName, destination, content: body }, signingKey);
    const headers: Record<string, string> = { host: resolved.hostHeader, authorization, accept: 'application/json' };
    let payload: string | undefined;
    if (body !== undefined) {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
    const agent = await agentFor(destination);
    let lastError: unknown;
    for (const target of resolved.targets) {
      // The host as undici will see it: the URL parser reads "0", "2130706433", "0x7f.1" or
      // "127.1" as IPv4 addresses (0.0.0.0, 127.0.0.1), and a literal is connected to without the
      // filtered DNS lookup, so the policy is applied to the parsed form.
      let origin: URL;
      try {
        origin = new URL(`https://${hostForUrl(target.host)}:${target.port}`);
      } catch (e) {
        lastError = e;
        continue;
      }
      const literal = origin.hostname.replace(/^\[|\]$/g, '');
      if (isIP(literal) && ipPolicy.isBlocked(literal)) {
        lastError = new BlockedAddressError(target.host, [literal]);
        continue;
      }
      try {
        return await agent.request({
          origin: origin.origin,
          path,
          method,
          headers,
          ...(payload !== undefined ? { body: payload } : {}),
          ...(resolved.tlsServerName !== undefined ? { servername: resolved.tlsServerName } : {}),
          signal,
        });
      } catch (e) {
        lastError = e;
        if (signal.aborted || !isConnectError(e)) break;
        logger?.debug({ destination, target: `${target.host}:${target.port}`, err: describeError(e) }, 'federation target unreachable; trying the next');
      }
    }
    const reason = signal.aborted ? 'timed out' : describeError(lastError);
    throw new FederationError(destination, 0, `${method} ${destination}${path.split('?')[0]} failed: ${reason}`, { cause: lastError });
  }

  async function request<T>(destination: string, method: FederationMethod, path: string, body?: JsonValue, o: FederationRequestOptions = {}): Promise<T> {
    const signal = combineSignals(o.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, o.signal);
    const maxBytes = o.maxBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const res = await send(destination, method, path, body, signal);
    const headers = headerRecord(res.headers);
    const where = `${method} ${destination}${path.split('?')[0]}`;
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      res.body.destroy();
      throw new FederationError(destination, 0, `${where}: response of ${declared} bytes exceeds ${maxBytes}`, { errcode: 'M_TOO_LARGE' });
    }
    let bytes: Buffer;
    try {
      bytes = await readCapped(res.body, maxBytes);
    } catch (e) {
      if (e instanceof RangeError) throw new FederationError(destination, 0, `${where}: ${e.message}`, { errcode: 'M_TOO_LARGE' });
      throw new FederationError(destination, 0, `${where}: ${signal.aborted ? 'timed out' : describeError(e)}`, { cause: e });
    }
    let parsed: JsonValue | undefined;
    let parseError: unknown;
    if (bytes.length > 0) {
      try {
        parsed = parseJsonBytes(bytes);
      } catch (e) {
        parseError = e;
      }
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const errcode = isJsonObject(parsed) && typeof parsed.errcode === 'string' ? parsed.errcode : undefined;
      const message = isJsonObject(parsed) && typeof parsed.error === 'string' ? parsed.error : `HTTP ${res.statusCode}`;
      const retryAfterMs = retryAfter(headers, parsed);
      throw new FederationError(destination, res.statusCode, `${where}: ${res.statusCode} ${errcode ?? ''} ${message}`.replace(/\s+/g, ' '), {
        ...(errcode ? { errcode } : {}),
        body: parsed ?? bytes.toString('utf8').slice(0, 1000),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    }
    if (parsed === undefined) {
      const msg = parseError instanceof JsonParseError ? parseError.message : 'empty body';
      throw new FederationError(destination, 0, `${where}: response is not JSON (${msg})`, { errcode: 'M_NOT_JSON', cause: parseError });
    }
    return parsed as T;
  }

  async function requestRaw(
    destination: string,
    method: FederationMethod,
    path: string,
    o: FederationRequestOptions & { body?: JsonValue } = {},
  ): Promise<RawFederationResponse> {
    const signal = combineSignals(o.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, o.signal);
    const res = await send(destination, method, path, o.body, signal);
    return { status: res.statusCode, headers: headerRecord(res.headers), body: res.body };
  }

  async function close(): Promise<void> {
    const all = [...agents.values(), wellKnownAgent];
    agents.clear();
    await Promise.all(all.map((a) => a.close().catch(() => undefined)));
  }

  return { request, requestRaw, close, resolver, ipPolicy };
}
