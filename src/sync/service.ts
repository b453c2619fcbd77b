// /sync assembly (spec client-server "Syncing", GET /sync): initial and incremental syncs built from
// each stream's range since the client's token, and long-polling woken by the notifier.
import { createLru } from '../core/lru.js';
import { MatrixError } from '../errors.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import { parseJson, JsonParseError } from '../core/json/parse.js';
import { stateTuple } from '../core/events/event.js';
import { redactEvent } from '../core/events/redaction.js';
import { getRoomVersion } from '../core/events/room-versions.js';
import type { MemberRow, Store, StoredEvent } from '../store/index.js';
import type { Notifier } from './notifier.js';
import type { SyncSources } from './sources.js';
import {
  currentSyncToken,
  formatSyncToken,
  normaliseSinceToken,
  PROCESS_TYPING_EPOCH,
  syncTokenAdvanced,
  topoTokenOfEvent,
  type SyncToken,
} from './token.js';
import { formatClientEvents, formatStrippedState, type AggregationsLookup, type TxnLookup } from './client-event.js';
import { filterEventsForUserWithMembership } from './visibility.js';
import { projectEventFields, readSyncFilter, type SyncFilter } from './filter.js';
import { WakeHub } from './wake.js';
import { validateFilter } from '../users/filters.js';

const MEMBER = 'm.room.member';
const HERO_LIMIT = 5;
const TO_DEVICE_LIMIT = 100;
/** Longest accepted long-poll (clients ask 30 s; Synapse does not cap, a day is plenty). */
export const MAX_SYNC_TIMEOUT_MS = 24 * 3600 * 1000;
/** Pages read backwards looking for visible, matching timeline events before calling the timeline limited. */
const MAX_TIMELINE_PAGES = 8;
/** Types of the stripped state given with invites and knocks (Synapse's room_prejoin_state defaults). */
const PREJOIN_STATE_TYPES = [
  'm.room.create',
  'm.room.join_rules',
  'm.room.name',
  'm.room.avatar',
  'm.room.canonical_alias',
  'm.room.encryption',
  'm.room.topic',
];

const PUSH_RULES_TYPE = 'm.push_rules';

/** The account data reads sync needs (src/users). */
export interface SyncUsersView {
  accountDataPosition(): number;
  accountDataSince(userId: string, since: number, upTo?: number): Promise<{ roomId: string | null; type: string; content: string; streamId: number }[]>;
  loadFilter(userId: string, filterId: string): Promise<JsonObject | undefined>;
  readonly hooks?: { accountDataChanged: ((userId: string, streamId: number) => void | Promise<void>)[] };
}

/**
 * Dependencies. `sources`, `txnLookup` and `aggregations` are read at each request, so the areas
 * providing them may be attached after the service is built (server.ts fills `sources` in).
 */
export interface SyncServiceDeps {
  readonly store: Store;
  readonly notifier: Notifier;
  readonly users?: SyncUsersView | undefined;
  sources?: SyncSources;
  txnLookup?: TxnLookup | undefined;
  aggregations?: AggregationsLookup | undefined;
  /**
   * The user's push rules (src/push). An initial sync carries them as `m.push_rules` account data even
   * before the user changed any rule, as Synapse does (clients read notification settings from it).
   */
  pushRules?: { getPushRules(userId: string): { global: unknown } } | undefined;
  /** Milliseconds since 1970 for `unsigned.age` (default Date.now); long-poll timeouts use real time. */
  readonly clock?: () => number;
  /** Defaults to this process's typing epoch. */
  readonly typingEpoch?: string;
}

export interface SyncRequest {
  readonly userId: string;
  readonly deviceId?: string | undefined;
  /** The scope of the requester's transaction IDs (rooms/transactions.ts txnScope); default deviceId. */
  readonly txnScope?: string | undefined;
  /** The parsed `since` token; undefined for an initial sync. */
  readonly since?: SyncToken | undefined;
  readonly timeoutMs: number;
  readonly fullState: boolean;
  /** `set_presence` (default online, as the spec says). */
  readonly setPresence?: 'online' | 'offline' | 'unavailable' | undefined;
  readonly filter: SyncFilter;
  /** `use_state_after` (spec v1.16): `state_after` instead of `state`. */
  readonly useStateAfter?: boolean | undefined;
  /** Ends a long-poll early (client gone, server closing). */
  readonly signal?: AbortSignal | undefined;
}

export interface SyncService {
  sync(req: SyncRequest): Promise<JsonObject>;
  /** The `filter` query parameter: a filter ID of the user or inline JSON starting with `{`. */
  resolveFilter(userId: string, param: string | undefined): Promise<SyncFilter>;
  /** Ends every waiting long-poll (server shutdown) and detaches from the notifier. */
  close(): void;
  /** Waiting long-polls (tests, metrics). */
  readonly waiting: number;
}

export function createSyncService(deps: SyncServiceDeps): SyncService {
  return new Sync(deps);
}

/** A membership of the syncing user, with its room. */
type RoomMember = MemberRow & { readonly roomId: string };

/** What one room contributes, before shaping. */
interface TimelineResult {
  events: StoredEvent[];
  limited: boolean;
  memberships: Map<string, string>;
}

interface BuildContext {
  readonly req: SyncRequest;
  readonly current: SyncToken;
  readonly since: SyncToken | undefined;
  readonly now: number;
  readonly lazyKey: string;
}

interface BuildResult {
  body: JsonObject;
  token: SyncToken;
  joinedRoomIds: string[];
  empty: boolean;
}

class Sync implements SyncService {
  private readonly store: Store;
  private readonly hub: WakeHub;
  private readonly now: () => number;
  /** Lazy-loaded members sent to each device per room: sender -> (member event, events position of that response). */
  private readonly sentMembers = createLru<string, Map<string, { eventId: string; pos: number }>>(20_000);
  /** Bumped on each initial sync of a device, which forgets what was sent before. */
  private readonly lazyGenerations = createLru<string, number>(50_000);
  private readonly sharing = createLru<string, { pos: number; users: string[] }>(10_000);
  private readonly closeController = new AbortController();
  private readonly offAccountData: (() => void) | undefined;

  constructor(private readonly deps: SyncServiceDeps) {
    this.store = deps.store;
    this.now = deps.clock ?? Date.now;
    this.hub = new WakeHub(deps.notifier, async (pos) => {
      const [ev] = await this.store.getEventsByStream({ from: pos - 1, to: pos, limit: 1 });
      return ev && ev.event.type === MEMBER ? ev.event.stateKey : undefined;
    });
    const hooks = deps.users?.hooks;
    if (hooks) {
      const onAccountData = (userId: string) => deps.notifier.wakeUsers([userId]);
      hooks.accountDataChanged.push(onAccountData);
      this.offAccountData = () => {
        const i = hooks.accountDataChanged.indexOf(onAccountData);
        if (i >= 0) hooks.accountDataChanged.splice(i, 1);
      };
    }
  }

  get waiting(): number {
    return this.hub.waiting;
  }

  close(): void {
    this.closeController.abort();
    this.hub.close();
    this.offAccountData?.();
  }

  async resolveFilter(userId: string, param: string | undefined): Promise<SyncFilter> {
    if (param === undefined || param === '') return readSyncFilter(undefined);
    if (param.startsWith('{')) {
      let parsed: JsonValue;
      try {
        parsed = parseJson(param);
      } catch (e) {
        if (e instanceof JsonParseError) throw new MatrixError('M_NOT_JSON', 'Invalid filter JSON');
        throw e;
      }
      return readSyncFilter(validateFilter(parsed));
    }
    const stored = await this.deps.users?.loadFilter(userId, param);
    // As Synapse: an unknown filter ID is a bad parameter of this request.
    if (!stored) throw new MatrixError('M_INVALID_PARAM', 'No such filter', 400);
    return readSyncFilter(stored);
  }

  private currentToken(): SyncToken {
    return currentSyncToken({
      store: this.store,
      users: this.deps.users,
      sources: this.deps.sources,
      typingEpoch: this.deps.typingEpoch ?? PROCESS_TYPING_EPOCH,
    });
  }

  async sync(req: SyncRequest): Promise<JsonObject> {
    const sources = this.deps.sources ?? {};
    // set_presence: omitted means online; offline leaves the presence as it is (as Synapse).
    const presence = req.setPresence ?? 'online';
    const syncEnded = presence !== 'offline' ? sources.presence?.syncedWithPresence(req.userId, presence) : undefined;
    try {
      return await this.syncOnce(req, sources);
    } finally {
      if (typeof syncEnded === 'function') syncEnded();
    }
  }

  private async syncOnce(req: SyncRequest, sources: SyncSources): Promise<JsonObject> {
    // The client presents a token carrying to-device position N: it received everything up to N.
    if (req.since && req.deviceId !== undefined && req.since.toDevice > 0) {
      sources.toDevice?.acknowledge(req.userId, req.deviceId, req.since.toDevice);
    }
    const start = performance.now();
    let result = await this.build(req);
    if (!req.since || req.fullState) return result.body;
    while (result.empty) {
      const remaining = req.timeoutMs - (performance.now() - start);
      if (remaining <= 0 || req.signal?.aborted || this.closeController.signal.aborted) break;
      // Register first, then check nothing arrived since the build read its positions.
      const handle = this.hub.register(req.userId, result.joinedRoomIds);
      if (syncTokenAdvanced(result.token, this.currentToken())) handle.cancel();
      else await handle.wait(remaining, anySignal(req.signal, this.closeController.signal));
      if (req.signal?.aborted) break;
      result = await this.build(req);
    }
    return result.body;
  }

  // ---- one pass ----

  private async build(req: SyncRequest): Promise<BuildResult> {
    const sources = this.deps.sources ?? {};
    const current = this.currentToken();
    // Called right after reading the positions, with no await between: the memberships are those
    // at `current` (rows written later carry a larger stream position and are skipped below).
    const memberships = await this.store.getMembershipsForUser(req.userId);
    const since = req.since ? normaliseSinceToken(req.since, current) : undefined;
    const upto = current.events;
    const filter = req.filter;
    const deviceKey = `${req.userId}\u0000${req.deviceId ?? ''}`;
    if (!since) this.lazyGenerations.set(deviceKey, (this.lazyGenerations.get(deviceKey) ?? 0) + 1);
    const ctx: BuildContext = {
      req,
      current,
      since,
      now: this.now(),
      lazyKey: `${deviceKey}\u0000${this.lazyGenerations.get(deviceKey) ?? 0}`,
    };

    const joined: RoomMember[] = [];
    const invited: RoomMember[] = [];
    const knocked: RoomMember[] = [];
    const left: RoomMember[] = [];
    for (const m of memberships) {
      if (m.streamOrdering > upto || !filter.roomIncluded(m.roomId)) continue;
      const isNew = !since || m.streamOrdering > since.events;
      switch (m.membership) {
        case 'join':
          joined.push(m);
          break;
        case 'invite':
          if (isNew) invited.push(m);
          break;
        case 'knock':
          if (isNew) knocked.push(m);
          break;
        case 'leave':
        case 'ban':
          if (since ? isNew : filter.includeLeave) left.push(m);
          break;
      }
    }
    const joinedIds = joined.map((m) => m.roomId);

    // Streams other than room events, for every joined room at once.
    const typing =
      sources.typing && !filter.ephemeral.excludesAll && (!since || since.typing < current.typing)
        ? sources.typing.typingChangedSince(joinedIds, since?.typing ?? 0)
        : new Map<string, string[]>();
    const receipts =
      sources.receipts && !filter.ephemeral.excludesAll && (!since || since.receipts < current.receipts)
        ? sources.receipts.receiptsSince(req.userId, joinedIds, since?.receipts ?? 0)
        : new Map<string, JsonObject>();
    const globalAccountData: JsonObject[] = [];
    const roomAccountData = new Map<string, JsonObject[]>();
    if (this.deps.users && (!since || since.accountData < current.accountData)) {
      for (const c of await this.deps.users.accountDataSince(req.userId, since?.accountData ?? 0, current.accountData)) {
        const content = safeParseObject(c.content);
        if (c.roomId === null) {
          if (filter.accountData.matches(c.type, undefined)) globalAccountData.push({ type: c.type, content });
        } else if (filter.roomIncluded(c.roomId) && filter.roomAccountData.matches(c.type, undefined, c.roomId)) {
          let list = roomAccountData.get(c.roomId);
          if (!list) roomAccountData.set(c.roomId, (list = []));
          list.push({ type: c.type, content });
        }
      }
    }
    const pushRules = this.deps.pushRules;
    if (!since && pushRules && filter.accountData.matches(PUSH_RULES_TYPE, undefined) && !globalAccountData.some((e) => e.type === PUSH_RULES_TYPE)) {
      globalAccountData.push({ type: PUSH_RULES_TYPE, content: pushRules.getPushRules(req.userId) as JsonObject });
    }

    // Rooms with new events: one query over the stream range, never a scan per room.
    const changed = since ? await this.store.getRoomsWithEventsIn(since.events, upto) : undefined;

    const join: JsonObject = {};
    for (const m of joined) {
      const roomId = m.roomId;
      const newlyJoined = since !== undefined && m.streamOrdering > since.events;
      const full = !since || newlyJoined || req.fullState;
      const eph = this.ephemeralFor(roomId, typing, receipts, filter);
      const ad = roomAccountData.get(roomId);
      if (since && !full && !changed?.has(roomId) && eph.length === 0 && !ad) continue;
      const room = await this.roomSection(ctx, roomId, {
        full,
        from: !since || newlyJoined ? 0 : since.events,
        upper: upto,
        joined: true,
      });
      if (since && !full && isEmptyTimeline(room) && eph.length === 0 && !ad && !room.summaryChanged) continue;
      const body: JsonObject = {
        timeline: room.timeline,
        ...(req.useStateAfter ? { state_after: { events: room.state } } : { state: { events: room.state } }),
        ephemeral: { events: eph },
        account_data: { events: ad ?? [] },
        ...this.unreadNotifications(req.userId, roomId, filter.unreadThreadNotifications),
        summary: room.summary ?? {},
      };
      join[roomId] = body;
    }

    const leave: JsonObject = {};
    for (const m of left) {
      // Timeline up to the leave; full state when the client has not seen the room before.
      const room = await this.roomSection(ctx, m.roomId, {
        full: !since || req.fullState,
        from: since ? since.events : 0,
        upper: m.streamOrdering,
        joined: false,
        endEventId: m.eventId,
      });
      leave[m.roomId] = {
        timeline: room.timeline,
        ...(req.useStateAfter ? { state_after: { events: room.state } } : { state: { events: room.state } }),
        account_data: { events: roomAccountData.get(m.roomId) ?? [] },
      };
    }

    const invite: JsonObject = {};
    for (const m of invited) invite[m.roomId] = { invite_state: { events: await this.strippedState(ctx, m, 'invite_room_state') } };
    const knock: JsonObject = {};
    for (const m of knocked) knock[m.roomId] = { knock_state: { events: await this.strippedState(ctx, m, 'knock_room_state') } };

    // Presence of users sharing a room.
    let presenceEvents: JsonObject[] = [];
    if (sources.presence && !filter.presence.excludesAll && (!since || since.presence < current.presence)) {
      const users = await this.usersSharingRooms(req.userId, upto);
      presenceEvents = sources.presence
        .presenceSince(users, since?.presence ?? 0)
        .filter((e) => filter.presence.matches(String(e.type ?? 'm.presence'), typeof e.sender === 'string' ? e.sender : undefined));
      if (filter.presence.limit !== undefined) presenceEvents = presenceEvents.slice(0, filter.presence.limit);
    }
    if (filter.accountData.limit !== undefined && globalAccountData.length > filter.accountData.limit) {
      globalAccountData.length = filter.accountData.limit;
    }

    // To-device messages for this device (acknowledged by the next request's token).
    let toDeviceEvents: JsonObject[] = [];
    let toDeviceNext = current.toDevice;
    if (sources.toDevice && req.deviceId !== undefined) {
      const r = sources.toDevice.messagesFor(req.userId, req.deviceId, since?.toDevice ?? 0, current.toDevice, TO_DEVICE_LIMIT);
      toDeviceEvents = r.events;
      toDeviceNext = r.nextPosition;
    }

    let deviceLists = { changed: [] as string[], left: [] as string[] };
    const keys = sources.deviceKeys;
    if (keys && since && since.deviceLists < current.deviceLists) {
      const r = keys.deviceListChanges(req.userId, since.deviceLists, current.deviceLists);
      deviceLists = { changed: [...r.changed], left: [...r.left] };
    }
    // Always present, with signed_curve25519 (matrix-nio requires the field; Element Android and
    // rust-sdk read a missing count as "unknown", as Synapse notes when always sending it).
    const otkCounts: Record<string, number> = { signed_curve25519: 0 };
    let fallbackTypes: string[] = [];
    if (keys && req.deviceId !== undefined) {
      Object.assign(otkCounts, keys.oneTimeKeyCounts(req.userId, req.deviceId));
      fallbackTypes = keys.unusedFallbackKeyTypes(req.userId, req.deviceId);
    }

    const token: SyncToken = { ...current, toDevice: toDeviceNext };
    const empty =
      Object.keys(join).length === 0 &&
      Object.keys(leave).length === 0 &&
      Object.keys(invite).length === 0 &&
      Object.keys(knock).length === 0 &&
      presenceEvents.length === 0 &&
      globalAccountData.length === 0 &&
      toDeviceEvents.length === 0 &&
      deviceLists.changed.length === 0 &&
      deviceLists.left.length === 0;
    const body: JsonObject = {
      next_batch: formatSyncToken(token),
      rooms: { join, invite, leave, knock },
      presence: { events: presenceEvents },
      account_data: { events: globalAccountData },
      to_device: { events: toDeviceEvents },
      device_lists: deviceLists,
      device_one_time_keys_count: otkCounts,
      device_unused_fallback_key_types: fallbackTypes,
    };
    return { body, token, joinedRoomIds: joinedIds, empty };
  }

  /**
   * The users whose presence `userId` sees (sharing a joined room), one query, cached until the
   * next room event: presence moves far more often than memberships do.
   */
  private async usersSharingRooms(userId: string, eventsPos: number): Promise<string[]> {
    const hit = this.sharing.get(userId);
    if (hit && hit.pos === eventsPos) return hit.users;
    const users = await this.store.getUsersSharingRoomsWith(userId);
    this.sharing.set(userId, { pos: eventsPos, users });
    return users;
  }

  /**
   * unread_notifications of a joined room; with the filter's unread_thread_notifications, the main
   * timeline's counts there and each thread's under unread_thread_notifications (threads without
   * notifications left out, the whole object when none has any, as the spec allows).
   */
  private unreadNotifications(userId: string, roomId: string, byThread: boolean): JsonObject {
    const source = this.deps.sources?.notificationCounts;
    if (!source) return { unread_notifications: { notification_count: 0, highlight_count: 0 } };
    if (!byThread || !source.unreadThreadCounts) return { unread_notifications: source.unreadCounts(userId, roomId) };
    const counts = source.unreadThreadCounts(userId, roomId);
    const threads: JsonObject = {};
    let any = false;
    for (const [thread, c] of counts) {
      if (thread === null || (c.notification_count === 0 && c.highlight_count === 0)) continue;
      threads[thread] = c;
      any = true;
    }
    return {
      unread_notifications: counts.get(null) ?? { notification_count: 0, highlight_count: 0 },
      ...(any ? { unread_thread_notifications: threads } : {}),
    };
  }

  private ephemeralFor(roomId: string, typing: Map<string, string[]>, receipts: Map<string, JsonObject>, filter: SyncFilter): JsonObject[] {
    const out: JsonObject[] = [];
    const t = typing.get(roomId);
    if (t && filter.ephemeral.matches('m.typing', undefined, roomId)) out.push({ type: 'm.typing', content: { user_ids: t } });
    const r = receipts.get(roomId);
    if (r && Object.keys(r).length > 0 && filter.ephemeral.matches('m.receipt', undefined, roomId)) out.push({ type: 'm.receipt', content: r });
    if (filter.ephemeral.limit !== undefined) out.length = Math.min(out.length, filter.ephemeral.limit);
    return out;
  }

  // ---- rooms ----

  /**
   * The timeline and state of one joined or left room. `full`: the state at the start of the
   * timeline (initial sync, newly joined, full_state); otherwise the state changes between the
   * token and the start of the timeline. Events in (from, upper].
   */
  private async roomSection(
    ctx: BuildContext,
    roomId: string,
    opts: { full: boolean; from: number; upper: number; joined: boolean; endEventId?: string },
  ): Promise<{ timeline: JsonObject; state: JsonObject[]; summary?: JsonObject; summaryChanged: boolean }> {
    const { req } = ctx;
    const filter = req.filter;
    const tl = await this.loadTimeline(req.userId, roomId, opts.from, opts.upper, filter);
    const timelineIds = new Set(tl.events.map((e) => e.eventId));
    const first = tl.events[0];

    // State section: event IDs by (type, state_key).
    let state = new Map<string, string>();
    /** Member events that must be sent even when lazy-loading (membership changes in the gap). */
    const forcedMembers = new Set<string>();
    let membersChanged = opts.full;
    if (opts.full) {
      let read: ReadonlyMap<string, string> | undefined;
      if (req.useStateAfter) {
        const last = tl.events[tl.events.length - 1];
        if (opts.endEventId) read = await this.store.getStateIdsAfter(opts.endEventId);
        else if (last && !opts.joined) read = await this.store.getStateIdsAfter(last.eventId);
        else read = await this.store.getCurrentStateIds(roomId);
      } else if (first) {
        read = await this.store.getStateIdsBefore(first.eventId);
      } else if (opts.endEventId) {
        read = await this.store.getStateIdsAfter(opts.endEventId);
      } else {
        read = await this.store.getCurrentStateIds(roomId);
      }
      state = new Map(read ?? []);
    }
    if (!opts.full) {
      const deltas = await this.store.getStateDeltas(ctx.since!.events, opts.upper, roomId);
      // state_after: every change up to the end of the timeline, final values only.
      const startStream = req.useStateAfter ? Number.MAX_SAFE_INTEGER : (first?.streamOrdering ?? opts.upper + 1);
      const gap = new Map<string, string | null>();
      const late = new Map<string, string>();
      for (const d of deltas) {
        const key = stateTuple(d.type, d.stateKey);
        if (d.type === MEMBER) membersChanged = true;
        if (d.streamOrdering < startStream) gap.set(key, d.eventId);
        else if (d.eventId !== null && !timelineIds.has(d.eventId)) late.set(key, d.eventId);
      }
      for (const [k, id] of gap) {
        if (id === null) continue;
        state.set(k, id);
        if (k.startsWith(MEMBER + '\u0000')) forcedMembers.add(id);
      }
      for (const [k, id] of late) state.set(k, id);
    }
    if (!req.useStateAfter) for (const [k, id] of state) if (timelineIds.has(id)) state.delete(k);

    // Summary: when the client has no view of the room yet or its membership changed.
    let summary: JsonObject | undefined;
    let heroes: string[] = [];
    if (opts.joined && (opts.full || membersChanged)) {
      const s = await this.store.getRoomSummaryData(roomId, req.userId, HERO_LIMIT);
      summary = { 'm.joined_member_count': s.counts.get('join') ?? 0, 'm.invited_member_count': s.counts.get('invite') ?? 0 };
      // Heroes name a room that has no name or alias (spec: required then); as Synapse, only then,
      // since lazy-loading clients must also get the heroes' member events.
      if (!(await this.hasNameOrAlias(roomId))) {
        heroes = s.heroes;
        summary['m.heroes'] = heroes;
      }
    }

    // Lazy-loading members: only the member events needed to show the timeline's senders (and the
    // heroes, and the user on a full sync), unless already sent to this device.
    const roomLazyKey = `${ctx.lazyKey}\u0000${roomId}`;
    if (filter.lazyLoadMembers) {
      const wanted = new Set<string>(tl.events.map((e) => e.event.sender));
      for (const h of heroes) wanted.add(h);
      if (opts.full) wanted.add(req.userId);
      for (const [k] of state) {
        if (!k.startsWith(MEMBER + '\u0000')) continue;
        const uid = k.slice(MEMBER.length + 1);
        if (!wanted.has(uid) && !forcedMembers.has(state.get(k)!)) state.delete(k);
      }
      // Senders whose member event is not in the delta: their membership at the timeline start.
      const missing = [...wanted].filter((u) => !state.has(stateTuple(MEMBER, u)));
      if (missing.length && !opts.full) {
        if (first) {
          const keys = missing.map((u) => [MEMBER, u] as const);
          const at = (await this.store.getStateEntriesBefore([first.eventId], keys)).get(first.eventId);
          for (const [k, id] of at ?? []) if (!timelineIds.has(id)) state.set(k, id);
        } else {
          for (const u of missing) {
            const cur = await this.store.getCurrentStateEvent(roomId, MEMBER, u);
            if (cur) state.set(stateTuple(MEMBER, u), cur.eventId);
          }
        }
      }
      if (!filter.includeRedundantMembers) {
        const sent = this.sentMembers.get(roomLazyKey);
        const since = ctx.since?.events ?? -1;
        const ownMustGo = opts.full;
        if (sent) {
          for (const [k, id] of state) {
            if (!k.startsWith(MEMBER + '\u0000') || forcedMembers.has(id)) continue;
            const uid = k.slice(MEMBER.length + 1);
            if (ownMustGo && uid === req.userId) continue;
            const prior = sent.get(uid);
            if (prior && prior.eventId === id && prior.pos <= since) state.delete(k);
          }
        }
      }
    }

    // Load, filter by the state filter, format.
    const stateEvents = (await this.store.getEvents([...state.values()])).filter((e) =>
      filter.state.matches(e.event.type, e.event.sender, roomId, e.event.content),
    );
    if (filter.state.limit !== undefined && stateEvents.length > filter.state.limit) stateEvents.length = filter.state.limit;
    if (filter.lazyLoadMembers) {
      let sent = this.sentMembers.get(roomLazyKey);
      if (!sent) this.sentMembers.set(roomLazyKey, (sent = new Map()));
      for (const e of [...stateEvents, ...tl.events]) {
        if (e.event.type === MEMBER && e.event.stateKey !== undefined) sent.set(e.event.stateKey, { eventId: e.eventId, pos: ctx.current.events });
      }
    }

    const timelineJson = await this.render(tl.events, ctx, tl.memberships);
    const stateJson = await this.render(stateEvents, ctx, undefined);
    const timeline: JsonObject = {
      events: timelineJson,
      limited: tl.limited,
      // Usable with /messages dir=b: a topological token of the first event, or this sync's position.
      prev_batch: first ? topoTokenOfEvent(first) : formatSyncToken({ ...ctx.current, events: opts.upper }),
    };
    return { timeline, state: stateJson, ...(summary ? { summary } : {}), summaryChanged: summary !== undefined && !opts.full };
  }

  private async hasNameOrAlias(roomId: string): Promise<boolean> {
    const name = await this.store.getCurrentStateEvent(roomId, 'm.room.name', '');
    if (typeof name?.event.content.name === 'string' && name.event.content.name !== '') return true;
    const alias = await this.store.getCurrentStateEvent(roomId, 'm.room.canonical_alias', '');
    return typeof alias?.event.content.alias === 'string' && alias.event.content.alias !== '';
  }

  /**
   * The newest `limit` events of (from, upper] the user may see and the filter lets through,
   * oldest first. `limited` when older events in the range were left out (then the client
   * paginates with prev_batch, and the state section covers the gap).
   */
  private async loadTimeline(userId: string, roomId: string, from: number, upper: number, filter: SyncFilter): Promise<TimelineResult> {
    const limit = filter.timelineLimit;
    const out: StoredEvent[] = [];
    const memberships = new Map<string, string>();
    let hi = upper;
    let limited = false;
    let pageSize = limit + 1;
    for (let page = 0; ; page++) {
      if (hi <= from) break;
      if (page >= MAX_TIMELINE_PAGES) {
        limited = true;
        break;
      }
      const rows = await this.store.getEventsByStream({ roomId, from, to: hi, limit: pageSize, direction: 'b' });
      if (rows.length === 0) break;
      const candidates = filter.timeline.excludesAll
        ? []
        : rows.filter((e) => filter.timeline.matches(e.event.type, e.event.sender, roomId, e.event.content));
      const vis = await filterEventsForUserWithMembership(this.store, userId, candidates);
      const visible = new Set(vis.events.map((e) => e.eventId));
      let full = false;
      for (const e of rows) {
        if (!visible.has(e.eventId)) continue;
        if (out.length >= limit) {
          full = true;
          break;
        }
        out.push(e);
        memberships.set(e.eventId, vis.memberships.get(e.eventId)!);
      }
      if (full) {
        limited = true;
        break;
      }
      if (rows.length < pageSize) break;
      hi = rows[rows.length - 1]!.streamOrdering! - 1;
      pageSize = Math.max(50, limit * 2);
    }
    out.reverse();
    return { events: out, limited, memberships };
  }

  /** Client format (or the PDU for event_format federation), then event_fields. */
  private async render(events: StoredEvent[], ctx: BuildContext, memberships: Map<string, string> | undefined): Promise<JsonObject[]> {
    const filter = ctx.req.filter;
    let out: JsonObject[];
    if (filter.federationFormat) {
      // The PDU as stored, redacted when a valid redaction applies (detected by the client formatter).
      const client = await formatClientEvents(events, { userId: ctx.req.userId, now: ctx.now, withRoomId: true, store: this.store });
      out = [];
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        const redacted = (client[i]!.unsigned as JsonObject).redacted_because !== undefined;
        const version = redacted ? getRoomVersion((await this.store.getRoomVersion(e.roomId)) ?? '') : undefined;
        out.push(version ? redactEvent(e.event.json, version) : e.event.json);
      }
    } else {
      out = await formatClientEvents(events, {
        userId: ctx.req.userId,
        deviceId: ctx.req.txnScope ?? ctx.req.deviceId,
        now: ctx.now,
        withRoomId: false,
        store: this.store,
        txnLookup: this.deps.txnLookup,
        aggregations: this.deps.aggregations,
        memberships,
      });
    }
    const fields = filter.eventFields;
    return fields ? out.map((e) => projectEventFields(e, fields)) : out;
  }

  /** invite_state / knock_state: stripped state (from the remote server, else the room's current state) plus the event itself. */
  private async strippedState(ctx: BuildContext, m: RoomMember, unsignedKey: string): Promise<JsonObject[]> {
    const ev = await this.store.getEvent(m.eventId);
    const out: JsonObject[] = [];
    const carried = ev && isJsonObject(ev.event.json.unsigned) ? ev.event.json.unsigned[unsignedKey] : undefined;
    if (Array.isArray(carried)) {
      for (const s of carried) {
        if (!isJsonObject(s) || typeof s.type !== 'string' || typeof s.state_key !== 'string') continue;
        out.push({ content: isJsonObject(s.content) ? s.content : {}, sender: typeof s.sender === 'string' ? s.sender : '', state_key: s.state_key, type: s.type });
      }
    } else {
      const state = await this.store.getCurrentStateEvents(m.roomId, PREJOIN_STATE_TYPES);
      out.push(...formatStrippedState(state));
      if (ev && ev.event.sender !== ctx.req.userId) {
        const senderMember = await this.store.getCurrentStateEvent(m.roomId, MEMBER, ev.event.sender);
        if (senderMember) out.push(...formatStrippedState([senderMember]));
      }
    }
    if (ev) out.push(...(await formatClientEvents([ev], { userId: ctx.req.userId, now: ctx.now, withRoomId: false, store: this.store })));
    return out;
  }
}

function isEmptyTimeline(room: { timeline: JsonObject; state: JsonObject[] }): boolean {
  const events = room.timeline.events;
  return Array.isArray(events) && events.length === 0 && room.state.length === 0;
}

function safeParseObject(text: string): JsonObject {
  try {
    const v = JSON.parse(text) as unknown;
    return isJsonObject(v) ? v : {};
  } catch {
    return {};
  }
}

/** An AbortSignal that aborts when any given one does. */
function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const list = signals.filter((s): s is AbortSignal => s !== undefined);
  return list.length === 1 ? list[0]! : AbortSignal.any(list);
}
