// The incoming-event pipeline (server-server API "Checks performed on receipt of a PDU"): steps 1-3
// here (pdu-checks.ts), steps 4-6 in the rooms writer; and what an event needs before the writer can
// judge it: its missing auth events (/event_auth, /event), its missing prev events
// (/get_missing_events, oldest first), or, when the gap is too large, the state before it from the
// state at each missing prev event (/state_ids, /state, /event) resolved across its prev events.
// Every fetched event goes through the same checks. A budget of events and time per received PDU
// bounds what a hostile peer can make us do.
import type { Logger } from 'pino';
import { authIdsOf, authOrder, prevIdsOf } from '../../core/events/auth-order.js';
import { stateTuple } from '../../core/events/event.js';
import type { RoomVersion } from '../../core/events/room-versions.js';
import { isJsonObject, type JsonObject } from '../../core/json/types.js';
import { resolveState } from '../../core/state/resolve.js';
import type { StateMap, StateResolutionInput } from '../../core/state/types.js';
import type { AcceptResult, RoomsService } from '../../rooms/service.js';
import type { Store } from '../../store/index.js';
import type { FederationClient } from '../client.js';
import type { KeyRing } from '../keys.js';
import { checkPdus, type CheckedPdu, type PduCheck, type RawPdu } from './pdu-checks.js';
import { rawPdusOf, requestJsonText } from './remote.js';

export interface InboundLimits {
  /** Events fetched, all requests together, while handling one transaction (or one backfill). */
  readonly maxFetchedEvents: number;
  /** Time allowed to fill the gaps before the events of one transaction (or one backfill). */
  readonly gapDeadlineMs: number;
  /** Timeout of each request to the remote server. */
  readonly requestTimeoutMs: number;
  /** `limit` of /get_missing_events (Synapse asks for 10). */
  readonly missingEventsLimit: number;
  /** Single-event fetches in flight at once. */
  readonly fetchConcurrency: number;
  /** Above this many unknown events at a missing prev event, fetch /state instead of each /event. */
  readonly stateFetchThreshold: number;
  /** Largest answer read from a remote server, in bytes. */
  readonly maxResponseBytes: number;
  /** Missing prev events of one event whose state we fetch (prev_events holds at most 20). */
  readonly maxMissingPrevs: number;
  /** Rounds of fetching auth events of fetched events (each one level deeper in the auth DAG). */
  readonly maxAuthRounds: number;
}

export const DEFAULT_INBOUND_LIMITS: InboundLimits = {
  maxFetchedEvents: 20_000,
  gapDeadlineMs: 180_000,
  requestTimeoutMs: 60_000,
  missingEventsLimit: 10,
  fetchConcurrency: 10,
  stateFetchThreshold: 50,
  maxResponseBytes: 100 * 1024 * 1024,
  maxMissingPrevs: 20,
  maxAuthRounds: 50,
};

export class GapFillError extends Error {
  /** True when the budget (events or time) ran out: nothing more should be tried for it. */
  readonly exhausted: boolean;

  constructor(message: string, exhausted = false) {
    super(message);
    this.name = 'GapFillError';
    this.exhausted = exhausted;
  }
}

/** What one transaction (or backfill) may cost: events fetched and time. Shared by everything done for it. */
export class FetchBudget {
  private remaining: number;
  private readonly deadline: number;

  constructor(
    limits: InboundLimits,
    private readonly now: () => number,
  ) {
    this.remaining = limits.maxFetchedEvents;
    this.deadline = now() + limits.gapDeadlineMs;
  }

  spend(n: number): void {
    if (n > this.remaining) throw new GapFillError('too many events to fetch for one event', true);
    this.remaining -= n;
  }

  /** Milliseconds left (at most `cap`); throws when the deadline passed. */
  timeLeft(cap: number): number {
    const t = this.deadline - this.now();
    if (t <= 0) throw new GapFillError('timed out fetching missing events', true);
    return Math.min(t, cap);
  }
}

export interface PipelineDeps {
  readonly store: Store;
  readonly rooms: RoomsService;
  readonly keyRing: KeyRing;
  readonly client: FederationClient;
  readonly limits: InboundLimits;
  readonly now: () => number;
  readonly logger?: Logger | undefined;
}

export interface AcceptContext {
  /** Ask the server for the events between our forward extremities and this one (pushed events only). */
  readonly fetchMissingEvents: boolean;
  /** Store as backfilled history (older than the room's current state). */
  readonly backfilled: boolean;
  readonly budget: FetchBudget;
}

const enc = encodeURIComponent;

/** Runs `fn` over `items` with at most `n` in flight. */
async function mapLimit<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  });
  await Promise.all(workers);
  return out;
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

export class EventPipeline {
  constructor(private readonly d: PipelineDeps) {}

  /** Steps 1-3 for PDUs of one room; see checkPdus. */
  check(items: readonly RawPdu[], version: RoomVersion, roomId: string, eventIds?: readonly (string | undefined)[]): Promise<PduCheck[]> {
    return checkPdus(this.d.keyRing, items, version, (i) => ({ roomId, eventId: eventIds?.[i] }));
  }

  newBudget(): FetchBudget {
    return new FetchBudget(this.d.limits, this.d.now);
  }

  /**
   * Hands a checked event to the rooms writer, fetching from `server` what it lacks: auth events
   * first, then (pushed events) the missing prev events, then the state before the event. Returns
   * the writer's last answer; throws GapFillError when the budget runs out.
   */
  async accept(server: string, ev: CheckedPdu, version: RoomVersion, ctx: AcceptContext): Promise<AcceptResult> {
    const opts = { jsonText: ev.jsonText, eventId: ev.eventId, ...(ctx.backfilled ? { backfilled: true } : {}) };
    let r = await this.d.rooms.acceptEvent(ev.pdu, version, opts);
    if (r.status !== 'missing') return r;

    if (r.missingAuthEvents.length > 0) {
      await this.fetchAuthEvents(server, ev, r.missingAuthEvents, version, ctx);
      r = await this.d.rooms.acceptEvent(ev.pdu, version, opts);
      if (r.status !== 'missing' || r.missingAuthEvents.length > 0) return r;
    }

    if (r.missingPrevEvents.length > 0 && ctx.fetchMissingEvents) {
      await this.fetchMissingEvents(server, ev, version, ctx);
      r = await this.d.rooms.acceptEvent(ev.pdu, version, opts);
      if (r.status !== 'missing') return r;
    }

    if (r.missingPrevEvents.length > 0) {
      const stateBefore = await this.stateFromMissingPrevs(server, ev, r.missingPrevEvents, version, ctx);
      const withState = { ...opts, stateBefore };
      r = await this.d.rooms.acceptEvent(ev.pdu, version, withState);
      if (r.status === 'missing' && r.missingStateEvents.length > 0) {
        await this.ensureStored(server, ev.roomId, r.missingStateEvents, version, ctx);
        r = await this.d.rooms.acceptEvent(ev.pdu, version, withState);
      }
    }
    return r;
  }

  // ---- auth events ----

  /** The event's missing auth events, from its auth chain (/event_auth), else one by one. */
  private async fetchAuthEvents(server: string, ev: CheckedPdu, missing: readonly string[], version: RoomVersion, ctx: AcceptContext): Promise<void> {
    try {
      const { value, text } = await requestJsonText(
        this.d.client,
        server,
        'GET',
        `/_matrix/federation/v1/event_auth/${enc(ev.roomId)}/${enc(ev.eventId)}`,
        undefined,
        this.fetchOptions(ctx),
      );
      const raw = rawPdusOf(value, text, 'auth_chain');
      ctx.budget.spend(raw.length);
      const checked = await this.check(raw, version, ev.roomId);
      await this.persistOutliers(server, checked.filter((c): c is CheckedPdu => c.ok), version, ctx);
    } catch (e) {
      if (e instanceof GapFillError) throw e;
      this.d.logger?.debug({ server, eventId: ev.eventId, err: (e as Error).message }, 'event_auth failed; fetching auth events one by one');
    }
    const still = missing.filter((id) => !this.d.store.core.eventMetaById(id));
    if (still.length > 0) await this.ensureStored(server, ev.roomId, still, version, ctx);
  }

  /**
   * Makes sure the events are stored (at least as outliers): fetches the unknown ones from
   * `server` with /event, then the unknown auth events of those, level by level, and persists them
   * all as outliers, auth events first. Events failing the checks are left out.
   */
  async ensureStored(server: string, roomId: string, ids: readonly string[], version: RoomVersion, ctx: AcceptContext): Promise<void> {
    const core = this.d.store.core;
    const fetched = new Map<string, CheckedPdu>();
    const tried = new Set<string>();
    let pending = [...new Set(ids)].filter((id) => !core.eventMetaById(id));
    for (let round = 0; pending.length > 0 && round < this.d.limits.maxAuthRounds; round++) {
      for (const id of pending) tried.add(id);
      for (const c of await this.fetchEvents(server, roomId, pending, version, ctx)) fetched.set(c.eventId, c);
      const next = new Set<string>();
      for (const id of pending) {
        const c = fetched.get(id);
        if (!c) continue;
        for (const a of authIdsOf(c.pdu, version)) if (!tried.has(a) && !core.eventMetaById(a)) next.add(a);
      }
      pending = [...next];
    }
    await this.persistOutliers(server, [...fetched.values()], version, ctx);
  }

  /** GET /event/{id} for each ID (bounded concurrency); returns those passing steps 1-3. */
  private async fetchEvents(server: string, roomId: string, ids: readonly string[], version: RoomVersion, ctx: AcceptContext): Promise<CheckedPdu[]> {
    if (ids.length === 0) return [];
    ctx.budget.spend(ids.length);
    const raws = await mapLimit(ids, this.d.limits.fetchConcurrency, async (id): Promise<RawPdu | undefined> => {
      try {
        const { value, text } = await requestJsonText(this.d.client, server, 'GET', `/_matrix/federation/v1/event/${enc(id)}`, undefined, this.fetchOptions(ctx));
        return rawPdusOf(value, text, 'pdus')[0];
      } catch (e) {
        if (e instanceof GapFillError) throw e;
        this.d.logger?.debug({ server, eventId: id, err: (e as Error).message }, 'cannot fetch event');
        return undefined;
      }
    });
    const items: RawPdu[] = [];
    const expected: string[] = [];
    raws.forEach((r, i) => {
      if (r) {
        items.push(r);
        expected.push(ids[i]!);
      }
    });
    const checked = await this.check(items, version, roomId, expected);
    return this.keepPassing(checked, server);
  }

  private keepPassing(checked: readonly PduCheck[], server: string): CheckedPdu[] {
    const out: CheckedPdu[] = [];
    for (const c of checked) {
      if (c.ok) out.push(c);
      else this.d.logger?.info({ server, eventId: c.eventId, error: c.error }, 'fetched event dropped');
    }
    return out;
  }

  /**
   * Persists events as outliers, each after the auth events it lists among them (Kahn's order on
   * the auth DAG; a cycle, which only a forged DAG has, leaves its events unordered and they fail
   * for missing auth events). Step 4 (auth against their own auth events) runs for each.
   */
  private async persistOutliers(server: string, events: readonly CheckedPdu[], version: RoomVersion, ctx: AcceptContext): Promise<void> {
    const core = this.d.store.core;
    const todo = events.filter((e) => !core.eventMetaById(e.eventId));
    if (todo.length === 0) return;
    for (const ev of authOrder(todo, version)) {
      ctx.budget.timeLeft(1);
      const r = await this.d.rooms.acceptEvent(ev.pdu, version, { outlier: true, jsonText: ev.jsonText, eventId: ev.eventId });
      if (r.status === 'missing' || r.status === 'dropped') {
        this.d.logger?.info({ server, eventId: ev.eventId, reason: r.reason }, 'fetched event not stored');
      }
    }
  }

  // ---- prev events ----

  /**
   * POST /get_missing_events with our forward extremities as `earliest_events` and this event as
   * `latest_events`; the events returned are handled oldest first through the same checks (their
   * own gaps are filled from the state, not by asking again).
   */
  private async fetchMissingEvents(server: string, ev: CheckedPdu, version: RoomVersion, ctx: AcceptContext): Promise<void> {
    const store = this.d.store;
    const earliest = await store.getForwardExtremities(ev.roomId);
    let raw: RawPdu[];
    try {
      const { value, text } = await requestJsonText(
        this.d.client,
        server,
        'POST',
        `/_matrix/federation/v1/get_missing_events/${enc(ev.roomId)}`,
        { earliest_events: earliest, latest_events: [ev.eventId], limit: this.d.limits.missingEventsLimit, min_depth: this.minDepth(ev.roomId) },
        this.fetchOptions(ctx),
      );
      raw = rawPdusOf(value, text, 'events').slice(0, this.d.limits.missingEventsLimit * 2);
    } catch (e) {
      this.d.logger?.info({ server, eventId: ev.eventId, err: (e as Error).message }, 'get_missing_events failed');
      return;
    }
    ctx.budget.spend(raw.length);
    const checked = this.keepPassing(await this.check(raw, version, ev.roomId), server)
      .filter((c) => c.eventId !== ev.eventId)
      .sort((a, b) => depthOf(a) - depthOf(b));
    const pulled: AcceptContext = { ...ctx, fetchMissingEvents: false };
    for (const c of checked) {
      const meta = store.core.eventMetaById(c.eventId);
      if (meta && !meta.outlier) continue;
      try {
        const r = await this.accept(server, c, version, pulled);
        if (r.status === 'missing' || r.status === 'dropped') this.d.logger?.info({ server, eventId: c.eventId, reason: r.reason }, 'missing event not stored');
      } catch (e) {
        if (e instanceof GapFillError && e.exhausted) throw e;
        this.d.logger?.info({ server, eventId: c.eventId, err: (e as Error).message }, 'missing event not stored');
      }
    }
  }

  private minDepthQuery?: { get(roomNid: number): number | null | undefined };

  /** The depth of the oldest event of the room we have with state. */
  private minDepth(roomId: string): number {
    const room = this.d.store.core.room(roomId);
    if (!room) return 0;
    this.minDepthQuery ??= this.d.store.db
      .prepare<[number], number | null>('SELECT MIN(depth) FROM events WHERE room_nid = ? AND outlier = 0')
      .pluck();
    return this.minDepthQuery.get(room.nid) ?? 0;
  }

  // ---- state at missing prev events ----

  /**
   * The state before `ev` when some of its prev events are missing: for each missing prev event P,
   * the state after P is the state before it (/state_ids, its unknown events fetched and stored as
   * outliers) plus P itself when P is an accepted state event; with the states after the prev
   * events we have, resolved by the room version's algorithm.
   */
  private async stateFromMissingPrevs(server: string, ev: CheckedPdu, missing: readonly string[], version: RoomVersion, ctx: AcceptContext): Promise<StateMap> {
    const store = this.d.store;
    const core = store.core;
    if (missing.length > this.d.limits.maxMissingPrevs) throw new GapFillError(`${missing.length} missing prev events`);
    const states: StateMap[] = [];
    const missingSet = new Set(missing);
    for (const prev of prevIdsOf(ev.pdu, version)) {
      if (missingSet.has(prev)) continue;
      const after = await store.getStateIdsAfter(prev);
      if (after) states.push(after);
    }
    for (const prev of missing) {
      const { value } = await requestJsonText(
        this.d.client,
        server,
        'GET',
        `/_matrix/federation/v1/state_ids/${enc(ev.roomId)}?event_id=${enc(prev)}`,
        undefined,
        this.fetchOptions(ctx),
      );
      const pduIds = value.pdu_ids;
      const authIds = value.auth_chain_ids;
      if (!isStringArray(pduIds) || !isStringArray(authIds)) throw new GapFillError(`state_ids of ${prev} is malformed`);
      const unknown = [...new Set([...pduIds, ...authIds, prev])].filter((id) => !core.eventMetaById(id));
      if (unknown.length > this.d.limits.stateFetchThreshold) {
        await this.fetchStateInBulk(server, ev.roomId, prev, new Set(unknown), version, ctx);
      }
      await this.ensureStored(server, ev.roomId, unknown.filter((id) => !core.eventMetaById(id)), version, ctx);

      const state = new Map<string, string>();
      for (const id of pduIds) {
        const meta = core.eventMetaById(id);
        const e = meta ? core.event(meta.nid) : undefined;
        if (!e || e.stateKey === undefined || e.roomId !== ev.roomId || meta!.rejectedReason !== null) continue;
        const key = stateTuple(e.type, e.stateKey);
        if (state.has(key)) throw new GapFillError(`state_ids of ${prev} lists two events for one state key`);
        state.set(key, id);
      }
      const p = core.eventMetaById(prev);
      if (!p) throw new GapFillError(`cannot fetch prev event ${prev}`);
      const pe = core.event(p.nid)!;
      if (pe.stateKey !== undefined && p.rejectedReason === null) state.set(stateTuple(pe.type, pe.stateKey), prev);
      states.push(state);
    }
    if (states.length === 1) return states[0]!;
    return resolveState(version, states, this.resolutionInput());
  }

  /** GET /state/{roomId}?event_id: the state and auth chain at once, when many events are unknown. */
  private async fetchStateInBulk(server: string, roomId: string, at: string, wanted: ReadonlySet<string>, version: RoomVersion, ctx: AcceptContext): Promise<void> {
    let raw: RawPdu[];
    try {
      const { value, text } = await requestJsonText(
        this.d.client,
        server,
        'GET',
        `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(at)}`,
        undefined,
        this.fetchOptions(ctx),
      );
      raw = [...rawPdusOf(value, text, 'pdus'), ...rawPdusOf(value, text, 'auth_chain')];
    } catch (e) {
      this.d.logger?.info({ server, roomId, at, err: (e as Error).message }, '/state failed; fetching events one by one');
      return;
    }
    ctx.budget.spend(raw.length);
    const checked = this.keepPassing(await this.check(raw, version, roomId), server).filter((c) => wanted.has(c.eventId));
    await this.persistOutliers(server, checked, version, ctx);
  }

  /** State resolution over the store (the same view the rooms writer uses). */
  private resolutionInput(): StateResolutionInput {
    const core = this.d.store.core;
    return {
      getEvent: (id) => core.eventById(id),
      getAuthChain: (ids) => {
        const out = new Set<string>();
        for (const id of ids) {
          const nid = core.ids.findEventNid(id);
          if (nid === undefined) continue;
          for (const a of core.authChainNids(nid)) out.add(core.ids.eventId(a));
        }
        return out;
      },
      isRejected: (id) => (core.eventMetaById(id)?.rejectedReason ?? null) !== null,
    };
  }

  private fetchOptions(ctx: AcceptContext) {
    return { timeoutMs: ctx.budget.timeLeft(this.d.limits.requestTimeoutMs), maxBytes: this.d.limits.maxResponseBytes };
  }
}

function depthOf(c: CheckedPdu): number {
  return typeof c.pdu.depth === 'number' ? c.pdu.depth : 0;
}
