// The outbound federation sender (server-server API "Transactions"): one persisted queue per
// destination, at most one transaction in flight per destination, transactions of at most 50 PDUs
// and 100 EDUs under IDs that only grow, exponential backoff after failures (persisted), catch-up
// after an outage (the latest event per room; the peer fetches the gap with get_missing_events),
// and the fan-out of locally created events, recorded inside each event's own transaction.
import type { JsonObject, JsonValue } from '../../core/json/types.js';
import { serverNameOf } from '../../core/ids.js';
import type { Database } from '../../store/db.js';
import type { PersistedEventInfo, Store } from '../../store/index.js';
import type { FederationClient } from '../client.js';
import { classifyFailure, DEFAULT_BACKOFF, nextRetryInterval, retryAt, type BackoffPolicy } from './backoff.js';
import { buildReceiptEdu, presenceEdu, receiptKey, type Edu, type OutboundReceipt } from './edus.js';
import { SenderStore, type DeliveredItems, type QueuedEdu, type QueuedPdu } from './store.js';

/** Spec "Transactions": at most 50 PDUs and 100 EDUs per transaction. */
export const MAX_PDUS_PER_TXN = 50;
export const MAX_EDUS_PER_TXN = 100;
/**
 * A destination that failed comes back to a backlog larger than this: it gets only the latest
 * event per room (catch-up) instead of the whole backlog.
 */
export const DEFAULT_CATCH_UP_THRESHOLD = MAX_PDUS_PER_TXN;
/** Memory-only EDUs older than this are not worth sending (remote typing lapses after 60 s). */
const TYPING_TTL_MS = 60_000;
/** Unkeyed memory-only EDUs kept per destination at most (the oldest go first). */
const MAX_MEMORY_EDUS = 1_000;
/** Presence updates carried by one m.presence EDU at most. */
const MAX_PRESENCE_PER_EDU = 500;
const DEFAULT_TXN_TIMEOUT_MS = 60_000;

export interface SenderLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  debug?(obj: object, msg?: string): void;
}

export interface FederationSenderDeps {
  readonly store: Store;
  /** Defaults to `store.db`. */
  readonly db?: Database;
  readonly client: Pick<FederationClient, 'request'>;
  readonly serverName: string;
  readonly clock?: () => number;
  readonly logger?: SenderLogger;
  readonly backoff?: Partial<BackoffPolicy>;
  /** For the backoff jitter (tests pass a constant). */
  readonly random?: () => number;
  readonly catchUpThreshold?: number;
  /** Deadline of one /send request. */
  readonly requestTimeoutMs?: number;
  /** Start sending what the queues hold when built (default true). */
  readonly resume?: boolean;
}

export interface EnqueueEduOptions {
  /** Persist in SQLite (to-device, device lists); otherwise memory only (typing, presence). */
  readonly persist?: boolean;
  /** Memory only: a later EDU with the same key replaces a queued one. */
  readonly key?: string;
  /** Memory only: not sent once older than this. */
  readonly ttlMs?: number;
}

export interface DestinationStatus {
  readonly destination: string;
  /** Queued PDUs (counted up to 10,000). */
  readonly pendingPdus: number;
  readonly pendingPersistedEdus: number;
  readonly pendingMemoryEdus: number;
  readonly inFlight: boolean;
  readonly catchingUp: boolean;
  /** 0 when the last attempt succeeded. */
  readonly retryIntervalMs: number;
  /** When the next attempt may happen (0: now). */
  readonly nextRetryTs: number;
  readonly lastTxnId: number;
  readonly lastSuccessTs: number | null;
  readonly lastSuccessfulStream: number;
}

export interface FederationSender {
  /** Queues a persisted, accepted event for these servers (persisted; our own name is skipped). */
  enqueuePdu(destinations: Iterable<string>, eventId: string): void;
  /** Queues an EDU for a server. */
  enqueueEdu(destination: string, edu: Edu, opts?: EnqueueEduOptions): void;
  /** Queues a local user's public receipt; receipts are batched into one m.receipt EDU per transaction. */
  enqueueReceipt(destination: string, receipt: OutboundReceipt): void;
  /** Queues a local user's presence (an m.presence `push` entry); batched, the latest per user wins. */
  enqueuePresence(destination: string, push: JsonObject): void;
  /**
   * Sends what is queued for the destination now, unless it is backing off. With
   * `resetBackoff` (we just heard from it: it is up), the backoff is cleared first.
   */
  wake(destination: string, opts?: { resetBackoff?: boolean }): void;
  destinationStatus(destination: string): DestinationStatus;
  /**
   * The event (built and signed here, about to be persisted) reaches the other servers another way
   * (send_join, send_leave, send_knock to the resident server): the fan-out skips it.
   */
  skipFanOut(eventId: string): void;
  /** Servers with a joined member in the room, ours excluded. */
  roomDestinations(roomId: string): string[];
  /** Servers sharing a room with the user, ours excluded. */
  userDestinations(userId: string): string[];
  /** Resolves when no destination has a transaction in flight or work it may do now (tests, benchmarks). */
  whenIdle(): Promise<void>;
  /** Stops the timers and aborts transactions in flight (their items stay queued). */
  close(): Promise<void>;
}

interface MemoryEdu {
  readonly edu: Edu;
  readonly queuedAt: number;
  readonly ttlMs: number | undefined;
}

/** In-memory state of one destination. */
interface Dest {
  readonly name: string;
  running: boolean;
  timer: NodeJS.Timeout | undefined;
  retryIntervalMs: number;
  nextRetryTs: number;
  catchingUp: boolean;
  abort: AbortController | undefined;
  readonly memory: Map<string, MemoryEdu>;
  readonly presence: Map<string, JsonObject>;
  readonly receipts: Map<string, OutboundReceipt>;
}

interface OutgoingPdu extends QueuedPdu {
  readonly json: JsonObject;
}

/** A transaction being sent, with what to remove or restore afterwards. */
interface Txn {
  readonly txnId: number;
  readonly body: JsonObject;
  readonly pdus: readonly OutgoingPdu[];
  readonly catchUp: boolean;
  /** catch-up: per room, the stream position the destination has once this is delivered. */
  readonly catchUpRooms: ReadonlyMap<number, number>;
  readonly persistedEdus: readonly QueuedEdu[];
  readonly memory: readonly (readonly [string, MemoryEdu])[];
  readonly presence: readonly (readonly [string, JsonObject])[];
  readonly receipts: readonly OutboundReceipt[];
}

type Outcome = 'sent' | 'dropped' | 'failed' | 'closed';

export function createFederationSender(deps: FederationSenderDeps): FederationSender {
  return new Sender(deps);
}

class Sender implements FederationSender {
  private readonly sstore: SenderStore;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly policy: BackoffPolicy;
  private readonly catchUpThreshold: number;
  private readonly timeoutMs: number;
  private readonly dests = new Map<string, Dest>();
  /** Destinations catching up: the fan-out records only their per-room positions. */
  private readonly catchingUp: Set<string>;
  private readonly skipped = new Set<string>();
  /** Joined servers per room (ours included), cached until an event may have changed them. */
  private readonly roomHosts = new Map<number, readonly string[]>();
  private readonly toWake = new Set<string>();
  private wakeScheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: FederationSenderDeps) {
    this.sstore = new SenderStore(deps.db ?? deps.store.db);
    this.now = deps.clock ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.policy = { ...DEFAULT_BACKOFF, ...deps.backoff };
    this.catchUpThreshold = deps.catchUpThreshold ?? DEFAULT_CATCH_UP_THRESHOLD;
    this.timeoutMs = deps.requestTimeoutMs ?? DEFAULT_TXN_TIMEOUT_MS;
    this.catchingUp = new Set(this.sstore.catchingUpDestinations());
    deps.store.core.addDerivedWriter((info) => this.onPersisted(info));
    if (deps.resume ?? true) for (const d of this.sstore.destinationsWithWork()) this.kick(this.dest(d));
  }

  // ---- fan-out (inside the event's transaction) ----

  /**
   * Every accepted event created here goes to each other server with a joined member in the room,
   * and a membership event also to its target's server (an invite, or the kick or ban of a remote
   * user, who is no longer joined afterwards). Events from other servers are their origin's to
   * send. Runs in the persist transaction: the queue rows commit with the event or not at all.
   */
  private onPersisted(info: PersistedEventInfo): void {
    const ev = info.event;
    const local = serverNameOf(ev.sender) === this.deps.serverName;
    // Membership may have changed (state events; remote events, which state resolution may bring).
    if (!local || ev.stateKey !== undefined) this.roomHosts.delete(info.roomNid);
    if (!local) return;
    if (info.outlier || info.backfilled || info.rejectedReason !== null || info.softFailed || info.streamOrdering === null) return;
    if (this.skipped.delete(ev.eventId)) return;
    const hosts = new Set(ev.stateKey === undefined ? this.hostsOf(info.roomNid) : this.sstore.joinedServers(info.roomNid));
    if (ev.type === 'm.room.member' && ev.stateKey !== undefined) {
      const target = serverNameOf(ev.stateKey);
      if (target !== undefined) hosts.add(target);
    }
    hosts.delete(this.deps.serverName);
    const pdu: QueuedPdu = { streamOrdering: info.streamOrdering, eventNid: info.eventNid, roomNid: info.roomNid };
    for (const h of hosts) {
      this.sstore.recordPdu(h, pdu, !this.catchingUp.has(h));
      this.scheduleWake(h);
    }
  }

  /** Joined servers of a room from the committed membership table (cached). */
  private hostsOf(roomNid: number): readonly string[] {
    let hosts = this.roomHosts.get(roomNid);
    if (!hosts) {
      hosts = this.sstore.joinedServers(roomNid);
      if (this.roomHosts.size >= 10_000) this.roomHosts.delete(this.roomHosts.keys().next().value!);
      this.roomHosts.set(roomNid, hosts);
    }
    return hosts;
  }

  private scheduleWake(dest: string): void {
    this.toWake.add(dest);
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    // After the current (synchronous) transaction has committed.
    setImmediate(() => {
      this.wakeScheduled = false;
      const list = [...this.toWake];
      this.toWake.clear();
      for (const d of list) this.kick(this.dest(d));
      this.settleIdle();
    });
  }

  // ---- public API ----

  enqueuePdu(destinations: Iterable<string>, eventId: string): void {
    const meta = this.deps.store.core.eventMetaById(eventId);
    if (!meta || meta.outlier || meta.streamOrdering === null) throw new Error(`cannot send ${eventId}: not a persisted event with a stream position`);
    const pdu: QueuedPdu = { streamOrdering: meta.streamOrdering, eventNid: meta.nid, roomNid: meta.roomNid };
    const targets = [...new Set(destinations)].filter((d) => d !== this.deps.serverName);
    this.sstore.transaction(() => {
      for (const d of targets) this.sstore.recordPdu(d, pdu, !this.catchingUp.has(d));
    });
    for (const d of targets) this.kick(this.dest(d));
  }

  enqueueEdu(destination: string, edu: Edu, opts: EnqueueEduOptions = {}): void {
    if (destination === this.deps.serverName) return;
    if (opts.persist) {
      this.sstore.insertEdu(destination, edu.edu_type, JSON.stringify(edu.content), this.now());
    } else {
      const d = this.dest(destination);
      const key = opts.key ?? `#${this.now()}:${this.random()}`;
      d.memory.delete(key); // re-inserted at the end: the newest goes last
      d.memory.set(key, { edu, queuedAt: this.now(), ttlMs: opts.ttlMs });
      if (d.memory.size > MAX_MEMORY_EDUS) d.memory.delete(d.memory.keys().next().value!);
    }
    this.kick(this.dest(destination));
  }

  enqueueReceipt(destination: string, receipt: OutboundReceipt): void {
    if (destination === this.deps.serverName) return;
    const d = this.dest(destination);
    d.receipts.set(receiptKey(receipt), receipt);
    this.kick(d);
  }

  enqueuePresence(destination: string, push: JsonObject): void {
    if (destination === this.deps.serverName || typeof push.user_id !== 'string') return;
    const d = this.dest(destination);
    d.presence.delete(push.user_id);
    d.presence.set(push.user_id, push);
    this.kick(d);
  }

  wake(destination: string, opts: { resetBackoff?: boolean } = {}): void {
    if (destination === this.deps.serverName || this.closed) return;
    const d = this.dest(destination);
    if (opts.resetBackoff && d.retryIntervalMs > 0) {
      d.retryIntervalMs = 0;
      d.nextRetryTs = 0;
      this.sstore.setBackoff(destination, 0, 0);
      if (d.timer) clearTimeout(d.timer);
      d.timer = undefined;
    }
    this.kick(d);
  }

  destinationStatus(destination: string): DestinationStatus {
    const row = this.sstore.destination(destination);
    const d = this.dests.get(destination);
    return {
      destination,
      pendingPdus: this.sstore.countPdus(destination, 10_000),
      pendingPersistedEdus: this.sstore.countEdus(destination),
      pendingMemoryEdus: d ? d.memory.size + d.presence.size + d.receipts.size : 0,
      inFlight: d?.running ?? false,
      catchingUp: this.catchingUp.has(destination),
      retryIntervalMs: d?.retryIntervalMs ?? row?.retryIntervalMs ?? 0,
      nextRetryTs: d?.nextRetryTs ?? row?.nextRetryTs ?? 0,
      lastTxnId: row?.lastTxnId ?? 0,
      lastSuccessTs: row?.lastSuccessTs ?? null,
      lastSuccessfulStream: row?.lastSuccessfulStream ?? 0,
    };
  }

  skipFanOut(eventId: string): void {
    this.skipped.add(eventId);
    // Bounded: an ID whose event never got persisted must not stay forever.
    if (this.skipped.size > 10_000) this.skipped.delete(this.skipped.values().next().value!);
  }

  roomDestinations(roomId: string): string[] {
    const room = this.deps.store.core.room(roomId);
    if (!room) return [];
    return this.hostsOf(room.nid).filter((h) => h !== this.deps.serverName);
  }

  userDestinations(userId: string): string[] {
    return this.sstore.serversSharingRoomWith(userId).filter((h) => h !== this.deps.serverName);
  }

  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.dests.values()) {
      if (d.timer) clearTimeout(d.timer);
      d.timer = undefined;
      d.abort?.abort();
    }
    await this.whenIdle();
  }

  // ---- the per-destination loop ----

  private dest(name: string): Dest {
    let d = this.dests.get(name);
    if (!d) {
      const row = this.sstore.destination(name);
      d = {
        name,
        running: false,
        timer: undefined,
        retryIntervalMs: row?.retryIntervalMs ?? 0,
        nextRetryTs: row?.nextRetryTs ?? 0,
        catchingUp: this.catchingUp.has(name),
        abort: undefined,
        memory: new Map(),
        presence: new Map(),
        receipts: new Map(),
      };
      this.dests.set(name, d);
    }
    return d;
  }

  private isIdle(): boolean {
    if (this.toWake.size > 0 || this.wakeScheduled) return false;
    for (const d of this.dests.values()) if (d.running) return false;
    return true;
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Starts the destination's loop unless it runs already or is backing off (then its timer is armed). */
  private kick(d: Dest): void {
    if (this.closed || d.running) return;
    const wait = d.nextRetryTs - this.now();
    if (wait > 0) {
      this.armTimer(d, wait);
      return;
    }
    d.running = true;
    void this.run(d).finally(() => {
      d.running = false;
      this.settleIdle();
    });
  }

  private armTimer(d: Dest, waitMs: number): void {
    if (d.timer || this.closed) return;
    d.timer = setTimeout(() => {
      d.timer = undefined;
      this.kick(d);
    }, Math.min(waitMs, 2 ** 31 - 1));
    d.timer.unref();
  }

  /** One transaction at a time until the queues are empty, a failure backs off, or we close. */
  private async run(d: Dest): Promise<void> {
    try {
      for (;;) {
        if (this.closed) return;
        const txn = this.buildTransaction(d);
        if (!txn) return;
        const outcome = await this.transmit(d, txn);
        if (outcome === 'failed' || outcome === 'closed') return;
      }
    } catch (err) {
      // A bug or a database error: log it and try again later rather than spin.
      if (this.closed) return;
      this.deps.logger?.warn({ err, destination: d.name }, 'federation sender loop failed');
      this.backOff(d);
    }
  }

  private buildTransaction(d: Dest): Txn | undefined {
    const dest = d.name;
    // A destination coming back from failures to a large backlog is caught up instead.
    if (!d.catchingUp && d.retryIntervalMs > 0 && this.sstore.countPdus(dest, this.catchUpThreshold + 1) > this.catchUpThreshold) {
      this.sstore.enterCatchUp(dest);
      this.catchingUp.add(dest);
      d.catchingUp = true;
      this.deps.logger?.info({ destination: dest }, 'federation: destination catching up (latest event per room)');
    }
    let pdus: OutgoingPdu[] = [];
    let catchUp = false;
    const catchUpRooms = new Map<number, number>();
    if (d.catchingUp) {
      pdus = this.catchUpPdus(dest, catchUpRooms);
      if (pdus.length > 0) {
        catchUp = true;
      } else {
        // Nothing left behind: back to sending every event (the fan-out queues again from now on).
        this.sstore.exitCatchUp(dest);
        this.catchingUp.delete(dest);
        d.catchingUp = false;
      }
    }
    if (!catchUp) {
      for (const p of this.sstore.pendingPdus(dest, MAX_PDUS_PER_TXN)) {
        const json = this.pduJson(p.eventNid);
        // An event that vanished (purged) cannot be sent; its row goes with the next delivery.
        pdus.push({ ...p, json: json ?? {} });
      }
    }
    const sendable = pdus.filter((p) => Object.keys(p.json).length > 0);

    // EDUs: the batched ephemeral ones first (receipts, presence, typing), then the persisted ones.
    const t = this.now();
    const edus: Edu[] = [];
    let receipts: OutboundReceipt[] = [];
    if (d.receipts.size > 0) {
      const { edu, deferred } = buildReceiptEdu(d.receipts.values());
      const deferredKeys = new Set(deferred.map(receiptKey));
      receipts = [...d.receipts.values()].filter((r) => !deferredKeys.has(receiptKey(r)));
      for (const r of receipts) d.receipts.delete(receiptKey(r));
      edus.push(edu);
    }
    const presence: [string, JsonObject][] = [];
    if (d.presence.size > 0) {
      for (const entry of d.presence) {
        presence.push(entry);
        if (presence.length >= MAX_PRESENCE_PER_EDU) break;
      }
      for (const [u] of presence) d.presence.delete(u);
      edus.push(presenceEdu(presence.map(([, p]) => p)));
    }
    const memory: [string, MemoryEdu][] = [];
    for (const [key, m] of d.memory) {
      if (edus.length >= MAX_EDUS_PER_TXN) break;
      d.memory.delete(key);
      if (m.ttlMs !== undefined && t - m.queuedAt > m.ttlMs) continue;
      memory.push([key, m]);
      edus.push(m.edu);
    }
    const persistedEdus = edus.length < MAX_EDUS_PER_TXN ? this.sstore.pendingEdus(dest, MAX_EDUS_PER_TXN - edus.length) : [];
    for (const e of persistedEdus) edus.push({ edu_type: e.eduType, content: JSON.parse(e.content) as JsonObject });

    if (pdus.length === 0 && edus.length === 0) return undefined;
    const txnId = this.sstore.nextTxnId(dest, t);
    const body: JsonObject = {
      origin: this.deps.serverName,
      origin_server_ts: t,
      pdus: sendable.map((p) => p.json),
      edus: edus as unknown as JsonValue[],
    };
    return { txnId, body, pdus, catchUp, catchUpRooms, persistedEdus, memory, presence, receipts };
  }

  /**
   * Catch-up: for each room the destination is behind in (oldest first), the forward extremities
   * we created since it last got something from the room, or else the latest event of ours it
   * should have (the peer fetches what lies between with get_missing_events).
   */
  private catchUpPdus(dest: string, rooms: Map<number, number>): OutgoingPdu[] {
    const out: OutgoingPdu[] = [];
    const core = this.deps.store.core;
    for (const r of this.sstore.catchUpRooms(dest, MAX_PDUS_PER_TXN)) {
      // Our extremities it has not had yet; used when the latest event is one of them (else a
      // remote event sits on top of ours, and the latest event of ours is what we send).
      const extremities: QueuedPdu[] = [];
      for (const nid of core.forwardExtremityNids(r.roomNid)) {
        const m = core.eventMeta(nid);
        if (!m || m.streamOrdering === null || m.streamOrdering <= r.sentStream || serverNameOf(m.sender) !== this.deps.serverName) continue;
        extremities.push({ streamOrdering: m.streamOrdering, eventNid: nid, roomNid: r.roomNid });
      }
      const chosen = extremities.some((e) => e.eventNid === r.latestEventNid)
        ? extremities.sort((a, b) => a.streamOrdering - b.streamOrdering)
        : [{ streamOrdering: r.latestStream, eventNid: r.latestEventNid, roomNid: r.roomNid }];
      if (out.length + chosen.length > MAX_PDUS_PER_TXN) break;
      for (const c of chosen) out.push({ ...c, json: this.pduJson(c.eventNid) ?? {} });
      rooms.set(r.roomNid, Math.max(r.latestStream, ...chosen.map((c) => c.streamOrdering)));
    }
    return out.sort((a, b) => a.streamOrdering - b.streamOrdering);
  }

  private pduJson(eventNid: number): JsonObject | undefined {
    const text = this.deps.store.core.eventJsonText(eventNid);
    return text === undefined ? undefined : (JSON.parse(text) as JsonObject);
  }

  private itemsOf(txn: Txn): DeliveredItems {
    const rooms = new Map<number, number>(txn.catchUpRooms);
    if (!txn.catchUp) for (const p of txn.pdus) rooms.set(p.roomNid, Math.max(rooms.get(p.roomNid) ?? 0, p.streamOrdering));
    return {
      pduStreams: txn.catchUp ? [] : txn.pdus.map((p) => p.streamOrdering),
      eduIds: txn.persistedEdus.map((e) => e.id),
      rooms,
    };
  }

  private async transmit(d: Dest, txn: Txn): Promise<Outcome> {
    const abort = new AbortController();
    d.abort = abort;
    const path = `/_matrix/federation/v1/send/${txn.txnId}`;
    try {
      const res = await this.deps.client.request<unknown>(d.name, 'PUT', path, txn.body, { timeoutMs: this.timeoutMs, signal: abort.signal });
      if (this.closed) return 'closed';
      this.logPduErrors(d.name, res);
      this.sstore.delivered(d.name, this.itemsOf(txn), this.now());
      d.retryIntervalMs = 0;
      d.nextRetryTs = 0;
      this.deps.logger?.debug?.({ destination: d.name, txnId: txn.txnId, pdus: txn.pdus.length, edus: (txn.body.edus as JsonValue[]).length }, 'federation transaction sent');
      return 'sent';
    } catch (err) {
      if (this.closed) {
        this.restoreMemory(d, txn);
        return 'closed';
      }
      if (classifyFailure(err) === 'drop') {
        this.deps.logger?.warn(
          { destination: d.name, txnId: txn.txnId, status: (err as { status?: number }).status, err: (err as Error).message },
          'federation transaction refused; its PDUs and EDUs are dropped',
        );
        this.sstore.dropped(d.name, this.itemsOf(txn));
        if (d.retryIntervalMs > 0) {
          // It answered: it is up.
          d.retryIntervalMs = 0;
          d.nextRetryTs = 0;
          this.sstore.setBackoff(d.name, 0, 0);
        }
        return 'dropped';
      }
      this.restoreMemory(d, txn);
      this.backOff(d, (err as { retryAfterMs?: number }).retryAfterMs);
      this.deps.logger?.info(
        { destination: d.name, txnId: txn.txnId, err: (err as Error).message, retryInMs: d.nextRetryTs - this.now() },
        'federation transaction failed; will retry',
      );
      return 'failed';
    } finally {
      d.abort = undefined;
    }
  }

  private backOff(d: Dest, retryAfterMs?: number): void {
    const interval = nextRetryInterval(d.retryIntervalMs, this.policy);
    const t = this.now();
    d.retryIntervalMs = interval;
    d.nextRetryTs = retryAt(t, interval, this.policy, this.random, retryAfterMs);
    this.sstore.setBackoff(d.name, interval, d.nextRetryTs);
    this.armTimer(d, d.nextRetryTs - t);
  }

  /** Memory-only EDUs of a failed transaction go back, unless something newer took their place. */
  private restoreMemory(d: Dest, txn: Txn): void {
    for (const [key, m] of txn.memory) if (!d.memory.has(key)) d.memory.set(key, m);
    for (const [u, p] of txn.presence) if (!d.presence.has(u)) d.presence.set(u, p);
    for (const r of txn.receipts) {
      const k = receiptKey(r);
      if (!d.receipts.has(k)) d.receipts.set(k, r);
    }
  }

  /** Spec: the response maps each PDU's event ID to `{}` or `{error}`; errors are logged, never retried. */
  private logPduErrors(dest: string, res: unknown): void {
    if (typeof res !== 'object' || res === null) return;
    const pdus = (res as { pdus?: unknown }).pdus;
    if (typeof pdus !== 'object' || pdus === null) return;
    for (const [eventId, r] of Object.entries(pdus as Record<string, unknown>)) {
      if (typeof r === 'object' && r !== null && typeof (r as { error?: unknown }).error === 'string') {
        this.deps.logger?.info({ destination: dest, eventId, error: (r as { error: string }).error }, 'remote server refused a PDU');
      }
    }
  }
}
