// Client transaction IDs (client-server API "Transaction identifiers"): PUT /send and /redact run once
// per (user, device, endpoint, txnId); the txnId -> event mapping is written inside the event's own
// persist transaction, so a crash never keeps an event without it, and /sync can echo transaction_id.
import type { Database } from '../store/db.js';
import type { PersistedEventInfo, Store } from '../store/index.js';
import type { RoomEvent } from '../core/events/event.js';
import type { JsonObject } from '../core/json/types.js';

/** Who sent a request, as far as transaction IDs are concerned. */
export interface TxnRequester {
  readonly userId: string;
  /** The device of the access token; empty when the token has none (then the token scopes the ID). */
  readonly deviceId: string;
  readonly accessTokenId: number;
}

/** `(eventIds, userId, deviceId) -> Map<eventId, txnId>`: the IDs this device sent the events with. */
export type TxnLookupFn = (eventIds: readonly string[], userId: string, deviceId: string) => Map<string, string>;

export interface TxnRequest {
  readonly requester: TxnRequester;
  /** The endpoint path without version prefix and txnId, e.g. `/rooms/!r:hs/send/m.room.message`. */
  readonly endpoint: string;
  readonly txnId: string;
  readonly roomId: string;
  /**
   * Recognises the event this request persists among the events the writer persists in the room
   * (see `localEventMatcher`). It must not match events of other requests.
   */
  readonly matches: (ev: RoomEvent) => boolean;
  /**
   * The content object handed to the writer, if any: the writer keeps it as the event's content
   * (unless it adds `redacts`), so identity tells concurrent requests with equal bodies apart.
   */
  readonly content?: JsonObject;
}

export interface ClientTxns {
  /**
   * Runs `send` unless this transaction ran before: a retry (later, or concurrent with the first
   * attempt) gets the first attempt's event ID and sends nothing. A failed attempt is not
   * remembered, so the client can retry it.
   */
  runOnce(req: TxnRequest, send: () => Promise<{ eventId: string }>): Promise<string>;
  /** For /sync and the client event format: unsigned.transaction_id for the sending device. */
  readonly lookup: TxnLookupFn;
  /** Forgets transactions older than `maxAgeMs` (Synapse keeps them a day). Returns how many went. */
  prune(maxAgeMs?: number): number;
}

export interface ClientTxnsDeps {
  readonly store: Store;
  readonly now?: () => number;
  /** How long a transaction ID is remembered (default 24 h); pruned at most once an hour. */
  readonly retentionMs?: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const PRUNE_EVERY_MS = 60 * 60 * 1000;

/** The scope of a transaction ID: the device, or the access token for a device-less token. */
export function txnScope(r: TxnRequester): string {
  return r.deviceId !== '' ? r.deviceId : `token:${r.accessTokenId}`;
}

/**
 * Recognises the event built from a client request: same sender and type, no state key, and content
 * that is the request's content object or a shallow copy of it (v11+ redactions get `redacts`
 * added). Values are compared by identity, so two requests with equal bodies are told apart unless
 * the bodies hold only primitives (then the writer's check of the object itself decides first, see
 * TxnRequest.content; a mix-up could only swap the IDs of two identical events).
 */
export function localEventMatcher(sender: string, type: string, content: JsonObject): (ev: RoomEvent) => boolean {
  const keys = Object.keys(content);
  return (ev) => {
    if (ev.sender !== sender || ev.type !== type || ev.stateKey !== undefined) return false;
    if (ev.content === content) return true;
    let n = 0;
    for (const k of Object.keys(ev.content)) {
      if (k === 'redacts' && !Object.hasOwn(content, 'redacts')) continue;
      if (!Object.hasOwn(content, k) || content[k] !== ev.content[k]) return false;
      n++;
    }
    return n === keys.length;
  };
}

interface Pending {
  readonly req: TxnRequest;
  readonly key: string;
  claimedEventId?: string;
}

const txnsByStore = new WeakMap<Store, ClientTxns>();

/**
 * The transaction registry of a store: one per store (repeated calls return the first one), since
 * it registers its derived writer on the store when built.
 */
export function createClientTxns(deps: ClientTxnsDeps): ClientTxns {
  let t = txnsByStore.get(deps.store);
  if (!t) txnsByStore.set(deps.store, (t = new SqliteClientTxns(deps)));
  return t;
}

class SqliteClientTxns implements ClientTxns {
  private readonly db: Database;
  private readonly now: () => number;
  private readonly retentionMs: number;
  private lastPrune = 0;
  /** Requests under way, by transaction key: a concurrent retry waits for the same promise. */
  private readonly inFlight = new Map<string, Promise<string>>();
  /** Requests under way per room, for the derived writer to recognise their events. */
  private readonly pendingByRoom = new Map<string, Set<Pending>>();
  private readonly q;

  constructor(deps: ClientTxnsDeps) {
    this.db = deps.store.db;
    this.now = deps.now ?? Date.now;
    this.retentionMs = deps.retentionMs ?? DAY_MS;
    this.q = {
      get: this.db.prepare<[string, string, string, string], string>(
        'SELECT event_id FROM client_txns WHERE user_id = ? AND scope = ? AND endpoint = ? AND txn_id = ?',
      ).pluck(),
      insert: this.db.prepare<[string, string, string, string, string, string, number]>(
        `INSERT OR IGNORE INTO client_txns (user_id, scope, endpoint, txn_id, room_id, event_id, created_ts)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      byEvents: this.db.prepare<[string, string, string], { event_id: string; txn_id: string }>(
        `SELECT event_id, txn_id FROM client_txns
         WHERE event_id IN (SELECT value FROM json_each(?)) AND user_id = ? AND scope = ?`,
      ),
      upsert: this.db.prepare<[string, string, string, string, string, string, number]>(
        `INSERT INTO client_txns (user_id, scope, endpoint, txn_id, room_id, event_id, created_ts) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (user_id, scope, endpoint, txn_id) DO UPDATE SET event_id = excluded.event_id, room_id = excluded.room_id`,
      ),
      prune: this.db.prepare<[number]>('DELETE FROM client_txns WHERE created_ts < ?'),
    };
    deps.store.core.addDerivedWriter((info) => this.onPersist(info));
  }

  readonly lookup: TxnLookupFn = (eventIds, userId, deviceId) => {
    const out = new Map<string, string>();
    if (eventIds.length === 0 || deviceId === '') return out;
    for (const r of this.q.byEvents.all(JSON.stringify(eventIds), userId, deviceId)) out.set(r.event_id, r.txn_id);
    return out;
  };

  async runOnce(req: TxnRequest, send: () => Promise<{ eventId: string }>): Promise<string> {
    const scope = txnScope(req.requester);
    const key = JSON.stringify([req.requester.userId, scope, req.endpoint, req.txnId]);
    const running = this.inFlight.get(key);
    if (running) return running;
    const done = this.q.get.get(req.requester.userId, scope, req.endpoint, req.txnId);
    if (done !== undefined) return done;

    const pending: Pending = { req, key };
    const attempt = (async () => {
      this.addPending(pending);
      try {
        const { eventId } = await send();
        // Normally written by the derived writer with the event; this covers an event the
        // matcher did not recognise (or took for another request's), so that a retry finds it.
        if (pending.claimedEventId !== eventId) {
          this.q.upsert.run(req.requester.userId, scope, req.endpoint, req.txnId, req.roomId, eventId, this.now());
        }
        return eventId;
      } finally {
        this.removePending(pending);
      }
    })();
    this.inFlight.set(key, attempt);
    try {
      return await attempt;
    } finally {
      this.inFlight.delete(key);
      this.maybePrune();
    }
  }

  prune(maxAgeMs = this.retentionMs): number {
    this.lastPrune = this.now();
    return this.q.prune.run(this.lastPrune - maxAgeMs).changes;
  }

  private maybePrune(): void {
    if (this.now() - this.lastPrune >= PRUNE_EVERY_MS) this.prune();
  }

  private addPending(p: Pending): void {
    let set = this.pendingByRoom.get(p.req.roomId);
    if (!set) this.pendingByRoom.set(p.req.roomId, (set = new Set()));
    set.add(p);
  }

  private removePending(p: Pending): void {
    const set = this.pendingByRoom.get(p.req.roomId);
    if (!set) return;
    set.delete(p);
    if (set.size === 0) this.pendingByRoom.delete(p.req.roomId);
  }

  /** Derived writer: inside the persist transaction of each event. */
  private onPersist(info: PersistedEventInfo): void {
    if (info.outlier || info.rejectedReason !== null || info.streamOrdering === null) return;
    const set = this.pendingByRoom.get(info.roomId);
    if (!set) return;
    const ev = info.event;
    let found: Pending | undefined;
    // The request whose very content object this is; else the first whose matcher accepts it.
    for (const p of set) {
      if (p.claimedEventId === undefined && p.req.content === ev.content && p.req.matches(ev)) {
        found = p;
        break;
      }
    }
    if (!found) {
      for (const p of set) {
        if (p.claimedEventId === undefined && p.req.matches(ev)) {
          found = p;
          break;
        }
      }
    }
    if (!found) return;
    const r = found.req;
    this.q.insert.run(r.requester.userId, txnScope(r.requester), r.endpoint, r.txnId, r.roomId, ev.eventId, this.now());
    found.claimedEventId = ev.eventId;
  }
}
