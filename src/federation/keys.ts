// The key ring: other servers' signing keys (server-server API "Retrieving server keys") fetched
// from the origin or through the notaries of trusted_key_servers, verified, cached in memory and in
// SQLite; signature checks on JSON and events (batched); and the notary side (/key/v2/query).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { signJson, listSignatureKeyIds, verifyJsonSignature } from '../core/crypto/signing.js';
import { requiredSignatureServers, verifyEventSignature } from '../core/events/signing.js';
import type { RoomVersion } from '../core/events/room-versions.js';
import { decodeBase64 } from '../core/json/base64.js';
import { parseJsonObject } from '../core/json/parse.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { isValidServerName } from '../core/ids.js';
import type { Database } from '../store/db.js';
import type { ServerKeys } from '../http/app.js';
import { signedServerKeys } from '../http/keys/server.js';
import type { FederationClient } from './client.js';
import { KeyStore, type KeyToStore } from './key-store.js';

export interface KeyRing {
  /**
   * The public key (unpadded base64) of `serverName`'s `keyId`, fetching it when unknown. With
   * `validAtTs`, only a key valid at that time is returned (current keys: until their
   * valid_until_ts; old keys: before their expired_ts); without it any key ever published is.
   */
  serverKey(serverName: string, keyId: string, opts?: { validAtTs?: number }): Promise<string | undefined>;
  /** True when `obj` carries a valid signature of `serverName` made with a key known to be theirs. */
  verifySignedJson(obj: JsonObject, serverName: string, opts?: { validAtTs?: number }): Promise<boolean>;
  /**
   * Checks the signatures every PDU needs (requiredSignatureServers), fetching each server's keys
   * once for the whole batch; in room versions enforcing key validity (v5+) the key must be valid
   * at the event's origin_server_ts.
   */
  verifyEventSignatures(items: { pdu: JsonObject; version: RoomVersion }[]): Promise<Array<{ ok: true } | { ok: false; reason: string }>>;
}

/** What a notary query asks about one server: key IDs (none: all keys) and the validity wanted. */
export interface NotaryRequest {
  serverName: string;
  keyIds: string[];
  /** Keys must be valid until at least this time to be useful (default: now). */
  minimumValidUntilTs?: number;
}

export interface NotaryKeyRing extends KeyRing {
  /** The key responses for the servers asked about, each as its origin signed it plus our signature. */
  notaryQuery(requests: readonly NotaryRequest[]): Promise<JsonObject[]>;
  /** Forgets the "fetched recently" marks (tests). */
  resetFetchLimits(): void;
}

/** Servers one notary query fetches keys for at the same time (a query may name many). */
const NOTARY_FETCH_CONCURRENCY = 10;

/**
 * How long a notary query (an unauthenticated request naming up to 200 servers) waits for the key
 * fetches it starts. Each fetch may take KEY_QUERY_TIMEOUT_MS, so without a bound a query naming slow
 * or unreachable servers kept the request open for minutes. At the deadline the answer holds what
 * is known; fetches under way carry on and fill the cache for the asker's retry, and servers not
 * reached yet are not fetched for this query.
 */
export const NOTARY_FETCH_DEADLINE_MS = 4_000;

/** Maps with at most `limit` calls of `fn` running at once; results keep the input order. */
async function mapWithConcurrency<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export class KeyResponseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyResponseError';
  }
}

/** Room v5+ ("Signing key validity period"): valid_until_ts counts for at most 7 days from when we saw it. */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600_000;
/** A server whose keys we fetched (or failed to) this recently is not asked again for missing keys. */
export const MIN_REFETCH_INTERVAL_MS = 60_000;
const KEY_ID_RE = /^ed25519:[A-Za-z0-9_]+$/;
const KEY_QUERY_TIMEOUT_MS = 20_000;
/** Servers whose keys stay in memory; older ones are read again from SQLite when needed. */
const MAX_CACHED_SERVERS = 10_000;

interface KeyInfo {
  publicKey: string;
  /** null for old keys. */
  validUntilTs: number | null;
  /** null for current keys. */
  expiredTs: number | null;
}

function validAt(info: KeyInfo, ts: number | undefined): boolean {
  if (ts === undefined) return true;
  if (info.expiredTs !== null) return ts < info.expiredTs;
  return info.validUntilTs !== null && ts <= info.validUntilTs;
}

function isPublicKey(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  try {
    return decodeBase64(v).length === 32;
  } catch {
    return false;
  }
}

export interface ProcessedKeyResponse {
  serverName: string;
  /** The response's valid_until_ts as signed. */
  validUntilTs: number;
  keys: KeyToStore[];
}

/**
 * Checks a `/_matrix/key/v2/server` response (also each entry of a notary's answer): it names the
 * expected server, has an integer valid_until_ts, and is signed by the server with at least one of
 * its verify_keys, every such signature valid (server-server API "Publishing Keys"). Keys that are
 * not ed25519 or not 32 bytes are ignored. Current keys' validity is capped at `now` + 7 days.
 * Throws KeyResponseError.
 */
export function processKeyResponse(response: unknown, expectedServer: string, now: number): ProcessedKeyResponse {
  if (!isJsonObject(response)) throw new KeyResponseError('key response is not a JSON object');
  if (response.server_name !== expectedServer) {
    throw new KeyResponseError(`key response names ${JSON.stringify(response.server_name)}, expected ${expectedServer}`);
  }
  const validUntil = response.valid_until_ts;
  if (typeof validUntil !== 'number' || !Number.isSafeInteger(validUntil)) throw new KeyResponseError('key response lacks an integer valid_until_ts');
  const verifyKeys = response.verify_keys;
  if (!isJsonObject(verifyKeys)) throw new KeyResponseError('key response lacks verify_keys');
  const keys: KeyToStore[] = [];
  const current = new Map<string, string>();
  const cappedValidity = Math.min(validUntil, now + MAX_KEY_VALIDITY_MS);
  for (const [keyId, v] of Object.entries(verifyKeys)) {
    if (!KEY_ID_RE.test(keyId) || !isJsonObject(v) || !isPublicKey(v.key)) continue;
    current.set(keyId, v.key);
    keys.push({ keyId, publicKey: v.key, validUntilTs: cappedValidity, expiredTs: null });
  }
  const old = response.old_verify_keys;
  if (isJsonObject(old)) {
    for (const [keyId, v] of Object.entries(old)) {
      if (!KEY_ID_RE.test(keyId) || current.has(keyId) || !isJsonObject(v) || !isPublicKey(v.key)) continue;
      const expired = v.expired_ts;
      if (typeof expired !== 'number' || !Number.isSafeInteger(expired)) continue;
      keys.push({ keyId, publicKey: v.key, validUntilTs: null, expiredTs: expired });
    }
  }
  let verified = 0;
  for (const keyId of listSignatureKeyIds(response, expectedServer)) {
    const publicKey = current.get(keyId);
    // Signatures with keys not listed as current cannot be checked; they are ignored.
    if (publicKey === undefined) continue;
    if (!verifyJsonSignature(response, expectedServer, keyId, publicKey)) {
      throw new KeyResponseError(`key response of ${expectedServer} has a bad signature by ${keyId}`);
    }
    verified++;
  }
  if (verified === 0) throw new KeyResponseError(`key response of ${expectedServer} is not signed with any of its verify_keys`);
  return { serverName: expectedServer, validUntilTs: validUntil, keys };
}

export interface KeyRingOptions {
  db: Database;
  client: FederationClient;
  config: Config;
  serverName: string;
  serverKeys: ServerKeys;
  clock?: () => number;
  logger?: Logger;
  /** How long a notary query waits for outbound key fetches (default NOTARY_FETCH_DEADLINE_MS). */
  notaryDeadlineMs?: number;
}

export function createKeyRing(opts: KeyRingOptions): NotaryKeyRing {
  const { client, config, serverName: ourName, serverKeys, logger } = opts;
  const clock = opts.clock ?? Date.now;
  const store = new KeyStore(opts.db);
  const cache = new Map<string, Map<string, KeyInfo>>();
  const lastFetch = new Map<string, number>();
  const inFlight = new Map<string, Promise<void>>();
  const notaries = config.trusted_key_servers;

  if (!config.federation_verify_certificates) {
    for (const n of notaries) {
      if (!n.verify_keys && !n.accept_keys_insecurely) {
        logger?.warn(`trusted key server ${n.server_name} has no verify_keys and certificates are not verified: its answers can be forged`);
      }
    }
  }

  function ownKeys(): Map<string, KeyInfo> {
    const m = new Map<string, KeyInfo>();
    // Our current key is valid whenever it is asked about.
    m.set(serverKeys.current.keyId, { publicKey: serverKeys.current.publicKey, validUntilTs: Number.MAX_SAFE_INTEGER, expiredTs: null });
    for (const k of serverKeys.old) m.set(k.keyId, { publicKey: k.publicKey, validUntilTs: null, expiredTs: k.expiredTs });
    return m;
  }

  function keysOf(server: string): Map<string, KeyInfo> {
    if (server === ourName) return ownKeys();
    let m = cache.get(server);
    if (m) {
      cache.delete(server);
      cache.set(server, m);
      return m;
    }
    m = new Map();
    for (const k of store.keysOf(server)) m.set(k.keyId, { publicKey: k.publicKey, validUntilTs: k.validUntilTs, expiredTs: k.expiredTs });
    cache.set(server, m);
    if (cache.size > MAX_CACHED_SERVERS) cache.delete(cache.keys().next().value!);
    return m;
  }

  function satisfied(server: string, keyIds: readonly string[], ts: number | undefined): boolean {
    const m = keysOf(server);
    if (keyIds.length === 0) {
      // "All keys": satisfied by any current key valid at ts.
      for (const info of m.values()) if (info.expiredTs === null && validAt(info, ts ?? clock())) return true;
      return false;
    }
    return keyIds.every((id) => {
      const info = m.get(id);
      return info !== undefined && validAt(info, ts);
    });
  }

  function save(processed: ProcessedKeyResponse, fromServer: string, raw: JsonObject): void {
    const now = clock();
    store.storeResponse(processed.serverName, fromServer, processed.validUntilTs, now, JSON.stringify(raw), processed.keys);
    cache.delete(processed.serverName);
  }

  /** GET /_matrix/key/v2/server from the server itself. */
  async function fetchFromOrigin(server: string): Promise<void> {
    const raw = await client.request<JsonObject>(server, 'GET', '/_matrix/key/v2/server', undefined, { timeoutMs: KEY_QUERY_TIMEOUT_MS, maxBytes: 1024 * 1024 });
    save(processKeyResponse(raw, server, clock()), server, raw);
  }

  /** The notary's own public key for a signature check: configured, or fetched from the notary itself. */
  async function notaryKey(notary: string, keyId: string, configured: Record<string, string> | undefined): Promise<string | undefined> {
    if (configured) return Object.hasOwn(configured, keyId) ? configured[keyId] : undefined;
    const known = keysOf(notary).get(keyId);
    if (known && validAt(known, clock())) return known.publicKey;
    // Origin only: asking the notary chain for a notary's key could wait on itself.
    await fetchFromOrigin(notary).catch((e) => logger?.debug({ err: e, notary }, 'cannot fetch the notary key'));
    const info = keysOf(notary).get(keyId);
    return info && validAt(info, clock()) ? info.publicKey : undefined;
  }

  /** POST /_matrix/key/v2/query to one notary about one server; stores what verifies. */
  async function fetchFromNotary(notary: (typeof notaries)[number], server: string, keyIds: readonly string[], minValidTs: number): Promise<void> {
    const criteria: JsonObject = {};
    for (const id of keyIds) criteria[id] = { minimum_valid_until_ts: minValidTs };
    const answer = await client.request<JsonObject>(
      notary.server_name,
      'POST',
      '/_matrix/key/v2/query',
      { server_keys: { [server]: criteria } },
      { timeoutMs: KEY_QUERY_TIMEOUT_MS, maxBytes: 4 * 1024 * 1024 },
    );
    const list = isJsonObject(answer) && Array.isArray(answer.server_keys) ? answer.server_keys : [];
    for (const entry of list) {
      if (!isJsonObject(entry) || entry.server_name !== server) continue;
      let processed: ProcessedKeyResponse;
      try {
        processed = processKeyResponse(entry, server, clock());
      } catch (e) {
        logger?.warn({ notary: notary.server_name, server, err: (e as Error).message }, 'notary returned an invalid key response');
        continue;
      }
      // The notary's own signature vouches that this is what the origin served it.
      let notarySigned = false;
      for (const keyId of listSignatureKeyIds(entry, notary.server_name)) {
        const pk = await notaryKey(notary.server_name, keyId, notary.verify_keys);
        if (pk && verifyJsonSignature(entry, notary.server_name, keyId, pk)) {
          notarySigned = true;
          break;
        }
      }
      if (!notarySigned) {
        logger?.warn({ notary: notary.server_name, server }, 'notary key response lacks a valid notary signature');
        continue;
      }
      save(processed, notary.server_name, entry);
    }
  }

  async function doFetch(server: string, keyIds: readonly string[], ts: number | undefined): Promise<void> {
    try {
      await fetchFromOrigin(server);
      if (satisfied(server, keyIds, ts)) return;
    } catch (e) {
      logger?.debug({ server, err: (e as Error).message }, 'key fetch from origin failed');
    }
    for (const notary of notaries) {
      if (notary.server_name === server || notary.server_name === ourName) continue;
      try {
        await fetchFromNotary(notary, server, keyIds, ts ?? clock());
        if (satisfied(server, keyIds, ts)) return;
      } catch (e) {
        logger?.debug({ server, notary: notary.server_name, err: (e as Error).message }, 'key query to notary failed');
      }
    }
  }

  /**
   * Fetches a server's keys unless it was tried within MIN_REFETCH_INTERVAL_MS; concurrent callers
   * for the same server share one fetch.
   */
  async function ensureKeys(server: string, keyIds: readonly string[], ts: number | undefined, force = false): Promise<void> {
    if (server === ourName || !isValidServerName(server)) return;
    if (satisfied(server, keyIds, ts)) return;
    const pending = inFlight.get(server);
    if (pending) {
      await pending;
      return;
    }
    const last = lastFetch.get(server);
    if (!force && last !== undefined && clock() - last < MIN_REFETCH_INTERVAL_MS) return;
    lastFetch.set(server, clock());
    if (lastFetch.size > MAX_CACHED_SERVERS) lastFetch.delete(lastFetch.keys().next().value!);
    const p = doFetch(server, keyIds, ts).finally(() => inFlight.delete(server));
    inFlight.set(server, p);
    await p;
  }

  async function serverKey(server: string, keyId: string, o: { validAtTs?: number } = {}): Promise<string | undefined> {
    const ts = o.validAtTs;
    let info = keysOf(server).get(keyId);
    if (info && validAt(info, ts)) return info.publicKey;
    await ensureKeys(server, [keyId], ts);
    info = keysOf(server).get(keyId);
    return info && validAt(info, ts) ? info.publicKey : undefined;
  }

  async function verifySignedJson(obj: JsonObject, server: string, o: { validAtTs?: number } = {}): Promise<boolean> {
    const keyIds = listSignatureKeyIds(obj, server);
    if (keyIds.length === 0) return false;
    if (!keyIds.some((id) => keysOf(server).has(id))) await ensureKeys(server, keyIds, o.validAtTs);
    for (const keyId of keyIds) {
      const pk = await serverKey(server, keyId, o);
      if (pk && verifyJsonSignature(obj, server, keyId, pk)) return true;
    }
    return false;
  }

  async function verifyEventSignatures(items: { pdu: JsonObject; version: RoomVersion }[]) {
    // What each event needs, then one fetch per server for everything missing.
    const plans = items.map(({ pdu, version }) => {
      const ts = version.enforceKeyValidity && typeof pdu.origin_server_ts === 'number' ? pdu.origin_server_ts : undefined;
      return { servers: requiredSignatureServers(pdu, version).map((s) => ({ server: s, keyIds: listSignatureKeyIds(pdu, s) })), ts };
    });
    const missing = new Map<string, { keyIds: Set<string>; ts: number | undefined }>();
    for (const plan of plans) {
      for (const { server, keyIds } of plan.servers) {
        if (keyIds.length === 0) continue;
        const m = keysOf(server);
        // One usable key is enough for an event; fetch only when none is.
        if (keyIds.some((id) => m.has(id) && validAt(m.get(id)!, plan.ts))) continue;
        let need = missing.get(server);
        if (!need) missing.set(server, (need = { keyIds: new Set(), ts: plan.ts }));
        for (const id of keyIds) need.keyIds.add(id);
        if (plan.ts !== undefined && (need.ts === undefined || plan.ts > need.ts)) need.ts = plan.ts;
      }
    }
    await Promise.all([...missing].map(([server, need]) => ensureKeys(server, [...need.keyIds], need.ts)));

    return items.map(({ pdu, version }, i): { ok: true } | { ok: false; reason: string } => {
      const plan = plans[i]!;
      if (plan.servers.length === 0) return { ok: false, reason: 'no server whose signature the event needs' };
      for (const { server, keyIds } of plan.servers) {
        if (keyIds.length === 0) return { ok: false, reason: `not signed by ${server}` };
        const m = keysOf(server);
        let checked = false;
        for (const keyId of keyIds) {
          const info = m.get(keyId);
          if (!info || !validAt(info, plan.ts)) continue;
          // As Synapse: a signature made with a key we know must be good.
          if (!verifyEventSignature(pdu, server, keyId, info.publicKey, version)) return { ok: false, reason: `bad signature by ${server} (${keyId})` };
          checked = true;
          break;
        }
        if (!checked) {
          const anyKnown = keyIds.some((id) => m.has(id));
          return { ok: false, reason: anyKnown ? `${server}'s key was not valid at the event's origin_server_ts` : `unknown key of ${server} (${keyIds.join(', ')})` };
        }
      }
      return { ok: true };
    });
  }

  /** Our own signed key document, or a stored response of another server, with our notary signature. */
  function withOurSignature(obj: JsonObject): JsonObject {
    return signJson(obj, ourName, serverKeys.current);
  }

  async function notaryQuery(requests: readonly NotaryRequest[]): Promise<JsonObject[]> {
    const now = clock();
    let timeUp = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        timeUp = true;
        resolve();
      }, opts.notaryDeadlineMs ?? NOTARY_FETCH_DEADLINE_MS);
      timer.unref?.();
    });
    const results = await mapWithConcurrency(
      requests,
      NOTARY_FETCH_CONCURRENCY,
      async (r): Promise<JsonObject[]> => {
        if (r.serverName === ourName) return [signedServerKeys(ourName, serverKeys, now + config.key_refresh_interval)];
        if (!isValidServerName(r.serverName)) return [];
        const minValid = r.minimumValidUntilTs ?? now;
        const latest = store.latestResponse(r.serverName);
        const stale = !latest || latest.validUntilTs < minValid || r.keyIds.some((id) => !keysOf(r.serverName).has(id));
        if (stale && !timeUp) {
          const fetching = ensureKeys(r.serverName, r.keyIds, minValid).catch((e) => logger?.debug({ err: e, server: r.serverName }, 'notary fetch failed'));
          await Promise.race([fetching, deadline]);
        }
        // The newest response, plus the newest one listing each key asked for (spec: keep serving
        // the last response so old signatures can still be checked).
        const picked = new Map<number, string>();
        const newest = store.latestResponse(r.serverName);
        if (newest) picked.set(newest.id, newest.json);
        for (const id of r.keyIds) {
          const resp = store.responseForKey(r.serverName, id);
          if (resp) picked.set(resp.id, resp.json);
        }
        const out: JsonObject[] = [];
        for (const json of picked.values()) {
          try {
            // Only the origin's signature matters to the asker; another notary's is dropped.
            const obj = parseJsonObject(json);
            if (isJsonObject(obj.signatures)) {
              const origin = obj.signatures[r.serverName];
              obj.signatures = origin === undefined ? {} : { [r.serverName]: origin };
            }
            out.push(withOurSignature(obj));
          } catch (e) {
            logger?.warn({ err: e, server: r.serverName }, 'stored key response does not parse');
          }
        }
        return out;
      },
    ).finally(() => clearTimeout(timer));
    return results.flat();
  }

  return {
    serverKey,
    verifySignedJson,
    verifyEventSignatures,
    notaryQuery,
    resetFetchLimits: () => lastFetch.clear(),
  };
}
