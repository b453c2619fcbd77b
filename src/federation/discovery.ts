// Server discovery (server-server API "Resolving server names"): the decision steps as a function
// with its lookups injected (table-tested), the /.well-known/matrix/server rules and cache, and a
// resolver doing the real DNS SRV and HTTPS lookups.
import { resolveSrv as dnsResolveSrv } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseServerName } from '../core/ids.js';
import { isJsonObject } from '../core/json/types.js';

/** One address to connect to. */
export interface ServerTarget {
  /** An IP literal (IPv6 without brackets) or a DNS name to look up (A/AAAA). */
  host: string;
  port: number;
}

/** Where and how to reach a server: connect to `targets` in order, sending these Host and SNI values. */
export interface ResolvedServer {
  /** The server name asked about. */
  serverName: string;
  /** Candidates in the order to try (several only with SRV records). */
  targets: ServerTarget[];
  /** The Host header of every request. */
  hostHeader: string;
  /**
   * The name the TLS certificate must be valid for, sent as SNI; undefined when it is an IP literal
   * (TLS forbids IP addresses in SNI; the certificate is then checked against the IP).
   */
  tlsServerName: string | undefined;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** What fetching /.well-known/matrix/server gave: a delegated server name, or nothing usable. */
export type WellKnownResult = { delegated: string } | { delegated: undefined; reason: string };

export interface DiscoveryLookups {
  /** GET https://<hostname>/.well-known/matrix/server (cached by the caller). */
  wellKnown(hostname: string): Promise<WellKnownResult>;
  /** SRV records of a name; empty when there are none (NXDOMAIN, NODATA) or the lookup failed. */
  srv(name: string): Promise<SrvRecord[]>;
}

export const DEFAULT_FEDERATION_PORT = 8448;

/** Brackets IPv6 literals for Host headers and URLs. */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * Orders SRV records as RFC 2782 asks: by priority, then within one priority a weighted random
 * order (`random` returns [0, 1), injected for tests). Records whose target is "." (service
 * explicitly unavailable) are dropped.
 */
export function orderSrvRecords(records: readonly SrvRecord[], random: () => number = Math.random): ServerTarget[] {
  const usable = records.filter((r) => r.name !== '.' && r.name !== '');
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of usable) {
    const list = byPriority.get(r.priority);
    if (list) list.push(r);
    else byPriority.set(r.priority, [r]);
  }
  const out: ServerTarget[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const pool = [...byPriority.get(priority)!];
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      let pick = 0;
      if (total > 0) {
        let x = random() * total;
        pick = pool.findIndex((r) => (x -= r.weight) < 0);
        if (pick < 0) pick = pool.length - 1;
      }
      const [r] = pool.splice(pick, 1);
      out.push({ host: r!.name.replace(/\.$/, ''), port: r!.port });
    }
  }
  return out;
}

/** SRV lookups for a hostname: `_matrix-fed._tcp` first, then the deprecated `_matrix._tcp`. */
async function srvTargets(hostname: string, lookups: DiscoveryLookups, random: () => number): Promise<ServerTarget[]> {
  for (const prefix of ['_matrix-fed._tcp.', '_matrix._tcp.']) {
    const targets = orderSrvRecords(await lookups.srv(prefix + hostname), random);
    if (targets.length > 0) return targets;
  }
  return [];
}

/**
 * Resolves a server name following the spec's steps:
 * 1. IP literal: that IP, its port or 8448; Host is the server name.
 * 2. Hostname with explicit port: that host and port; Host is the server name; no well-known.
 * 3. /.well-known/matrix/server names a delegated server name (with its own steps 3.1-3.5:
 *    IP literal; explicit port; SRV `_matrix-fed._tcp`; SRV `_matrix._tcp`; port 8448), the
 *    Host header and certificate then being the delegated hostname.
 * 4./5. SRV `_matrix-fed._tcp.<hostname>`, then `_matrix._tcp.<hostname>`; Host is the hostname.
 * 6. <hostname>:8448.
 * Throws for a string that is not a server name.
 */
export async function resolveServerName(
  serverName: string,
  lookups: DiscoveryLookups,
  random: () => number = Math.random,
): Promise<ResolvedServer> {
  const parsed = parseServerName(serverName);
  if (!parsed) throw new Error(`not a valid server name: ${JSON.stringify(serverName)}`);
  // Step 1: IP literal.
  if (parsed.kind !== 'dns') {
    return {
      serverName,
      targets: [{ host: parsed.host, port: parsed.port ?? DEFAULT_FEDERATION_PORT }],
      hostHeader: serverName,
      tlsServerName: undefined,
    };
  }
  // Step 2: hostname with an explicit port.
  if (parsed.port !== undefined) {
    return { serverName, targets: [{ host: parsed.host, port: parsed.port }], hostHeader: serverName, tlsServerName: parsed.host };
  }
  const hostname = parsed.host;
  // Step 3: well-known delegation.
  const wk = await lookups.wellKnown(hostname);
  if (wk.delegated !== undefined) {
    const delegated = parseServerName(wk.delegated);
    if (delegated) {
      // 3.1: IP literal.
      if (delegated.kind !== 'dns') {
        return {
          serverName,
          targets: [{ host: delegated.host, port: delegated.port ?? DEFAULT_FEDERATION_PORT }],
          hostHeader: wk.delegated,
          tlsServerName: undefined,
        };
      }
      // 3.2: explicit port.
      if (delegated.port !== undefined) {
        return {
          serverName,
          targets: [{ host: delegated.host, port: delegated.port }],
          hostHeader: wk.delegated,
          tlsServerName: delegated.host,
        };
      }
      // 3.3/3.4: SRV records of the delegated hostname; 3.5: port 8448.
      const srv = await srvTargets(delegated.host, lookups, random);
      return {
        serverName,
        targets: srv.length > 0 ? srv : [{ host: delegated.host, port: DEFAULT_FEDERATION_PORT }],
        hostHeader: delegated.host,
        tlsServerName: delegated.host,
      };
    }
  }
  // Steps 4/5: SRV records of the server name; 6: port 8448.
  const srv = await srvTargets(hostname, lookups, random);
  return {
    serverName,
    targets: srv.length > 0 ? srv : [{ host: hostname, port: DEFAULT_FEDERATION_PORT }],
    hostHeader: hostname,
    tlsServerName: hostname,
  };
}

// --- /.well-known/matrix/server ---------------------------------------------------------------

/** Spec: "The recommended sensible default is 24 hours." */
export const WELL_KNOWN_DEFAULT_CACHE_MS = 24 * 3600_000;
/** Spec: "48 hours is recommended" as the maximum. */
export const WELL_KNOWN_MAX_CACHE_MS = 48 * 3600_000;
/** Synapse's minimum, so a `max-age=0` does not make us fetch on every request. */
export const WELL_KNOWN_MIN_CACHE_MS = 5 * 60_000;
/** Spec: "Errors are recommended to be cached for up to an hour". */
export const WELL_KNOWN_ERROR_CACHE_MS = 3600_000;
/** When a server that had a valid well-known stops answering, retry sooner (as Synapse). */
export const WELL_KNOWN_DOWN_RETRY_MS = 2 * 60_000;
/** How long after its expiry a valid answer is kept when the server becomes unreachable. */
export const WELL_KNOWN_GRACE_MS = 2 * 3600_000;
/** Largest well-known body read. */
export const WELL_KNOWN_MAX_BYTES = 50 * 1024;

/**
 * Parses a well-known body (already known to come with status 200). Invalid when it is not a JSON
 * object, lacks a string `m.server`, or `m.server` is not a server name ("If the response is
 * invalid (bad JSON, missing properties, non-200 response, etc), skip to step 4").
 */
export function parseWellKnownBody(text: string): WellKnownResult {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { delegated: undefined, reason: 'not JSON' };
  }
  if (!isJsonObject(body)) return { delegated: undefined, reason: 'not a JSON object' };
  const server = body['m.server'];
  if (typeof server !== 'string') return { delegated: undefined, reason: 'no m.server string' };
  if (!parseServerName(server)) return { delegated: undefined, reason: `m.server ${JSON.stringify(server)} is not a server name` };
  return { delegated: server };
}

/**
 * How long to cache a valid well-known answer from its headers: Cache-Control `no-store`/`no-cache`
 * mean the minimum, `max-age` (or else `Expires` against `Date`/now) is used, clamped to
 * [5 min, 48 h]; without either, 24 h.
 */
export function wellKnownCacheMs(headers: Record<string, string | string[] | undefined>, now: number): number {
  const header = (name: string): string | undefined => {
    const v = headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const clamp = (ms: number) => Math.min(WELL_KNOWN_MAX_CACHE_MS, Math.max(WELL_KNOWN_MIN_CACHE_MS, ms));
  const cc = header('cache-control');
  if (cc) {
    const directives = cc.toLowerCase().split(',').map((d) => d.trim());
    if (directives.includes('no-store') || directives.includes('no-cache')) return WELL_KNOWN_MIN_CACHE_MS;
    for (const d of directives) {
      const m = /^max-age\s*=\s*"?(\d+)"?$/.exec(d);
      if (m) return clamp(Number(m[1]) * 1000);
    }
  }
  const expires = header('expires');
  if (expires) {
    const at = Date.parse(expires);
    if (Number.isNaN(at)) return WELL_KNOWN_MIN_CACHE_MS; // "Expires: 0" and other invalid dates mean expired
    const date = header('date');
    const base = date && !Number.isNaN(Date.parse(date)) ? Date.parse(date) : now;
    return clamp(at - base);
  }
  return WELL_KNOWN_DEFAULT_CACHE_MS;
}

/** What one well-known fetch returned, before caching rules are applied. */
export type WellKnownFetchOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; body: string }
  /** No HTTP answer at all: DNS failure, refused connection, TLS error, timeout, blocked IP. */
  | { kind: 'unreachable'; reason: string };

interface WellKnownCacheEntry {
  result: WellKnownResult;
  expiresAt: number;
  /** The last valid answer and until when it may stand in while the server is unreachable. */
  lastValid?: { delegated: string; graceUntil: number };
}

/**
 * The well-known lookup with its cache: one fetch per hostname at a time (concurrent callers share
 * it), valid answers cached per their headers, invalid ones and failures for an hour, except that
 * a server that recently had a valid answer keeps it for a grace period and is retried sooner.
 */
export class WellKnownCache {
  private readonly entries = new Map<string, WellKnownCacheEntry>();
  private readonly inFlight = new Map<string, Promise<WellKnownResult>>();

  constructor(
    private readonly fetchWellKnown: (hostname: string) => Promise<WellKnownFetchOutcome>,
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  lookup(hostname: string): Promise<WellKnownResult> {
    const key = hostname.toLowerCase();
    const now = this.clock();
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > now) return Promise.resolve(cached.result);
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const p = this.refresh(key, cached).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async refresh(hostname: string, previous: WellKnownCacheEntry | undefined): Promise<WellKnownResult> {
    let outcome: WellKnownFetchOutcome;
    try {
      outcome = await this.fetchWellKnown(hostname);
    } catch (e) {
      outcome = { kind: 'unreachable', reason: e instanceof Error ? e.message : String(e) };
    }
    const now = this.clock();
    const entry = decideWellKnownEntry(outcome, previous, now);
    if (this.entries.size >= this.maxEntries && !this.entries.has(hostname)) {
      // Drop the oldest insertion: Map iterates in insertion order.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.delete(hostname);
    this.entries.set(hostname, entry);
    return entry.result;
  }

  /** Forgets cached answers (tests, or after a config reload). */
  clear(): void {
    this.entries.clear();
  }
}

/** The caching decision for one fetch outcome (pure; exported for tests). */
export function decideWellKnownEntry(
  outcome: WellKnownFetchOutcome,
  previous: { lastValid?: { delegated: string; graceUntil: number } } | undefined,
  now: number,
): WellKnownCacheEntry {
  if (outcome.kind === 'response') {
    if (outcome.status === 200) {
      const result = parseWellKnownBody(outcome.body);
      if (result.delegated !== undefined) {
        const ttl = wellKnownCacheMs(outcome.headers, now);
        return { result, expiresAt: now + ttl, lastValid: { delegated: result.delegated, graceUntil: now + ttl + WELL_KNOWN_GRACE_MS } };
      }
      return { result, expiresAt: now + WELL_KNOWN_ERROR_CACHE_MS };
    }
    return { result: { delegated: undefined, reason: `status ${outcome.status}` }, expiresAt: now + WELL_KNOWN_ERROR_CACHE_MS };
  }
  const lastValid = previous?.lastValid;
  if (lastValid && lastValid.graceUntil > now) {
    return { result: { delegated: lastValid.delegated }, expiresAt: now + WELL_KNOWN_DOWN_RETRY_MS, lastValid };
  }
  return { result: { delegated: undefined, reason: outcome.reason }, expiresAt: now + WELL_KNOWN_ERROR_CACHE_MS };
}

/** SRV lookup through node:dns; no records, NXDOMAIN and failures all count as "none". */
export async function systemSrvLookup(name: string): Promise<SrvRecord[]> {
  try {
    return await dnsResolveSrv(name);
  } catch {
    return [];
  }
}

/** Resolves server names to connection targets. */
export interface ServerResolver {
  resolve(serverName: string): Promise<ResolvedServer>;
}

/** Resolved servers are kept this long (SRV TTLs are not exposed by node:dns; Synapse caches ~1 h too). */
export const RESOLUTION_CACHE_MS = 10 * 60_000;

/**
 * A resolver over a well-known cache and an SRV lookup; resolutions are cached briefly so that a
 * busy destination does not look up SRV records on every request.
 */
export function createServerResolver(opts: {
  wellKnown: WellKnownCache;
  srv?: (name: string) => Promise<SrvRecord[]>;
  clock?: () => number;
  random?: () => number;
}): ServerResolver & { clear(): void } {
  const clock = opts.clock ?? Date.now;
  const srv = opts.srv ?? systemSrvLookup;
  const cache = new Map<string, { resolved: ResolvedServer; until: number }>();
  const inFlight = new Map<string, Promise<ResolvedServer>>();
  const lookups: DiscoveryLookups = { wellKnown: (h) => opts.wellKnown.lookup(h), srv };
  return {
    resolve(serverName: string): Promise<ResolvedServer> {
      const hit = cache.get(serverName);
      if (hit && hit.until > clock()) return Promise.resolve(hit.resolved);
      const pending = inFlight.get(serverName);
      if (pending) return pending;
      const p = resolveServerName(serverName, lookups, opts.random)
        .then((resolved) => {
          if (cache.size > 10_000) cache.clear();
          cache.set(serverName, { resolved, until: clock() + RESOLUTION_CACHE_MS });
          return resolved;
        })
        .finally(() => inFlight.delete(serverName));
      inFlight.set(serverName, p);
      return p;
    },
    clear() {
      cache.clear();
      opts.wellKnown.clear();
    },
  };
}
