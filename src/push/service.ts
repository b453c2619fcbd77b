// The push service (Client-Server API "Push Notifications"): the push rules API, evaluation of every
// accepted event for the room's local members inside the event's transaction, unread notification
// counts for /sync, GET /notifications, pushers and their HTTP delivery.
import BetterSqlite3 from 'better-sqlite3';
import { MatrixError } from '../errors.js';
import type { RoomEvent } from '../core/events/event.js';
import { serverNameOf } from '../core/ids.js';
import { isJsonObject, type JsonObject, type JsonValue } from '../core/json/types.js';
import type { Database } from '../store/db.js';
import type { PersistedEventInfo, Store, StoredEvent } from '../store/index.js';
import type { Notifier } from '../sync/notifier.js';
import type { ReceiptListener } from '../ephemeral/receipts.js';
import type { NotificationCountsSource } from '../sync/sources.js';
import { formatClientEvents } from '../sync/client-event.js';
import type { Requester, UsersService } from '../users/service.js';
import { BulkPushEvaluator, type BulkMember, type PushOutcome } from './bulk.js';
import { mergeRuleset, type DefaultRulesetOptions, type RuleOverride } from './default-rules.js';
import { NOTIFY_PATH, PusherDelivery, isEventIdOnly, type PushJob, type PusherDeliveryOptions } from './pusher-delivery.js';
import { PushRoomStateCache, type LocalMember, type PushRoomState } from './room-state.js';
import { PushStore, type NotifyExceptionRow, type PusherRow, type UnreadCounts, type UserNotificationRow } from './store.js';
import { isPushRuleKind, PUSH_RULE_KINDS, type PushAction, type PushRule, type PushRuleKind, type Ruleset } from './types.js';
import { userPushRuleFromBody, validatePushActions, validatePushRule } from './validate.js';

/** The account data type the ruleset is published under for /sync (spec "Push Rules: API"). */
export const PUSH_RULES_ACCOUNT_DATA = 'm.push_rules';

/** The receipts service's part push reads (src/ephemeral/receipts.ts). */
export interface ReadReceiptSource {
  /** Stream ordering of the event the user's latest m.read / m.read.private points at, or null. */
  readReceiptPosition(roomId: string, userId: string): number | null;
  /** The same per receipt thread ('' unthreaded, 'main', or a thread root's event ID). */
  readReceiptPositionsByThread(roomId: string, userId: string): Map<string, number>;
  /** Called after a read receipt moved forward. */
  readonly onReadReceipt?: ReceiptListener[];
}

export interface PushLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface PushServiceDeps {
  db: Database;
  /** The room store of `db` (its core runs the derived writer). */
  store: Store;
  /** Publishes committed events (rooms/ calls publishNewEvents): pushes leave only after commit. */
  notifier: Notifier;
  users: UsersService;
  serverName: string;
  clock?: () => number;
  logger?: PushLogger;
  /** Read receipts; can also be connected later with connectReceipts. */
  receipts?: ReadReceiptSource;
  delivery?: PusherDeliveryOptions;
  defaultRules?: DefaultRulesetOptions;
  /**
   * Register the evaluation as a derived writer of the store (default true). The benchmark turns
   * it off to time `onPersistedEvent` on its own.
   */
  registerWriter?: boolean;
}

export interface RulePosition {
  before?: string | undefined;
  after?: string | undefined;
}

export interface NotificationsQuery {
  from?: string | undefined;
  limit?: string | undefined;
  only?: string | undefined;
}

export interface PushService extends NotificationCountsSource {
  readonly store: PushStore;
  readonly delivery: PusherDelivery;
  readonly evaluator: BulkPushEvaluator;
  readonly roomStates: PushRoomStateCache;

  /** GET /pushrules/: `{global: ruleset}` (the user's rules merged with the server defaults). */
  getPushRules(userId: string): { global: Ruleset };
  /** GET /pushrules/global/{kind}/ (Synapse): one kind's list. */
  getRulesOfKind(userId: string, kind: string): PushRule[];
  /** GET /pushrules/global/{kind}/{ruleId}: 404 M_NOT_FOUND when absent. */
  getRule(userId: string, kind: string, ruleId: string): PushRule;
  /** PUT /pushrules/global/{kind}/{ruleId} with the before/after query parameters. */
  putRule(requester: Requester, kind: string, ruleId: string, body: unknown, position: RulePosition): Promise<void>;
  /** DELETE /pushrules/global/{kind}/{ruleId}: user rules only (server-default ones: 404, as Synapse). */
  deleteRule(requester: Requester, kind: string, ruleId: string): Promise<void>;
  /** PUT .../enabled `{enabled}` and PUT .../actions `{actions}`. */
  setRuleEnabled(requester: Requester, kind: string, ruleId: string, body: unknown): Promise<void>;
  setRuleActions(requester: Requester, kind: string, ruleId: string, body: unknown): Promise<void>;

  /** GET /pushers. */
  listPushers(userId: string): { pushers: JsonObject[] };
  /** POST /pushers/set. */
  setPusher(requester: Requester, body: unknown): Promise<void>;

  /** GET /notifications. */
  getNotifications(requester: Requester, query: NotificationsQuery): Promise<{ notifications: JsonObject[]; next_token?: string }>;

  /** Per-thread counts (null key: main timeline), for unread_thread_notifications. */
  unreadThreadCounts(userId: string, roomId: string): Map<string | null, { notification_count: number; highlight_count: number }>;
  /** Badge count sent to push gateways: rooms with unread notifications (Synapse's default). */
  badgeCount(userId: string): number;

  /** The derived writer: evaluates one persisted event (inside its transaction). */
  onPersistedEvent(info: PersistedEventInfo): void;
  /** Connects the receipts service (unread counts start after the read receipt; badge updates). */
  connectReceipts(receipts: ReadReceiptSource): void;
  /** Stops delivery and listeners. */
  close(): void;
}

/** What the user changed: their own rules per kind (most important first) and changes to server rules. */
interface UserRules {
  rules: Partial<Record<PushRuleKind, PushRule[]>>;
  overrides: Partial<Record<PushRuleKind, Record<string, RuleOverride>>>;
}

interface PendingPush {
  readonly eventNid: number;
  readonly eventId: string;
  readonly roomId: string;
  readonly streamOrdering: number;
  readonly users: readonly { readonly userId: string; readonly outcome: PushOutcome }[];
}

const MEMBER = 'm.room.member';
const MAX_RELATION_HOPS = 3;
const DEFAULT_NOTIFICATIONS_LIMIT = 50;
const MAX_NOTIFICATIONS_LIMIT = 500;
const MAX_APP_ID_LENGTH = 64;
const MAX_PUSHKEY_BYTES = 512;
const RULES_CACHE_LIMIT = 10_000;

function notFound(): MatrixError {
  return new MatrixError('M_NOT_FOUND', 'The push rule was not found.', 404);
}

function bodyObject(body: unknown): JsonObject {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
  if (!isJsonObject(body)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object.');
  return body;
}

function emptyUserRules(): UserRules {
  return { rules: {}, overrides: {} };
}

function isEmptyUserRules(u: UserRules): boolean {
  return PUSH_RULE_KINDS.every((k) => (u.rules[k]?.length ?? 0) === 0 && Object.keys(u.overrides[k] ?? {}).length === 0);
}

function parseUserRules(json: string | undefined): UserRules {
  if (json === undefined) return emptyUserRules();
  const parsed = JSON.parse(json) as Partial<UserRules>;
  return { rules: parsed.rules ?? {}, overrides: parsed.overrides ?? {} };
}

/** The thread an event belongs to: its m.thread root, following up to 3 relations (spec "Receiving notifications"). */
function threadIdOf(ev: RoomEvent, lookup: (eventId: string) => RoomEvent | undefined): string | null {
  let content: JsonObject = ev.content;
  for (let hop = 0; hop < MAX_RELATION_HOPS; hop++) {
    const rel = content['m.relates_to'];
    if (!isJsonObject(rel) || typeof rel.event_id !== 'string') return null;
    if (rel.rel_type === 'm.thread') return rel.event_id;
    const target = lookup(rel.event_id);
    if (!target) return null;
    content = target.content;
  }
  return null;
}

/** A Pusher as GET /pushers returns it. */
function pusherJson(p: PusherRow): JsonObject {
  const out: JsonObject = {
    pushkey: p.pushkey,
    kind: p.kind,
    app_id: p.appId,
    app_display_name: p.appDisplayName,
    device_display_name: p.deviceDisplayName,
    lang: p.lang,
    data: JSON.parse(p.data) as JsonObject,
  };
  if (p.profileTag !== null) out.profile_tag = p.profileTag;
  return out;
}

function requireString(body: JsonObject, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new MatrixError('M_INVALID_PARAM', `"${key}" must be a string`);
  return v;
}

/** The `notification.prio` Synapse sends: high when the push makes a sound, highlights, or may (encrypted). */
function priority(type: string, tweaks: Readonly<Record<string, JsonValue>>): 'high' | 'low' {
  return type === 'm.room.encrypted' || tweaks.highlight === true || typeof tweaks.sound === 'string' ? 'high' : 'low';
}

export function createPushService(deps: PushServiceDeps): PushService {
  return new PushServiceImpl(deps);
}

class PushServiceImpl implements PushService {
  readonly store: PushStore;
  readonly delivery: PusherDelivery;
  readonly evaluator: BulkPushEvaluator;
  readonly roomStates: PushRoomStateCache;
  private readonly clock: () => number;
  private readonly serverName: string;
  private receipts: ReadReceiptSource | undefined;
  /** Users with a non-empty push_rules row: everyone else uses the server defaults. */
  private readonly customRuleUsers: Set<string>;
  /** Merged rulesets of custom-rule users (bounded). */
  private readonly merged = new Map<string, Ruleset>();
  /** Users with at least one pusher. */
  private readonly pusherUsers: Set<string>;
  private pending: PendingPush[] = [];
  private readonly unsubscribe: (() => void)[] = [];

  constructor(private readonly deps: PushServiceDeps) {
    this.store = new PushStore(deps.db);
    this.clock = deps.clock ?? Date.now;
    this.serverName = deps.serverName;
    this.evaluator = new BulkPushEvaluator(deps.defaultRules);
    this.roomStates = new PushRoomStateCache(deps.store.core, (u) => this.isLocal(u));
    this.customRuleUsers = new Set(this.store.usersWithRules().filter((u) => !isEmptyUserRules(parseUserRules(this.store.getRules(u)))));
    this.pusherUsers = new Set(this.store.usersWithPushers());
    this.delivery = new PusherDelivery(
      {
        pushersOf: (userId) => this.store.pushersOf(userId),
        buildNotification: (job, pusher) => this.buildNotification(job, pusher),
        removePusher: (userId, appId, pushkey) => {
          this.store.deletePusher(userId, appId, pushkey);
          this.refreshPusherUser(userId);
        },
      },
      { ...(deps.logger ? { logger: deps.logger } : {}), ...deps.delivery },
    );
    if (deps.registerWriter ?? true) deps.store.core.addDerivedWriter((info) => this.onPersistedEvent(info));
    this.unsubscribe.push(deps.notifier.onNewEvents((_roomId, pos) => this.flushPending(pos)));

    const users = deps.users;
    const onDevicesRemoved = (userId: string, deviceIds: string[]) => {
      if (this.store.deletePushersOfDevices(userId, deviceIds) > 0) this.refreshPusherUser(userId);
    };
    const onDeactivated = (userId: string) => {
      this.store.deletePushersOfUser(userId);
      this.refreshPusherUser(userId);
    };
    users.hooks.devicesRemoved.push(onDevicesRemoved);
    users.hooks.userDeactivated.push(onDeactivated);
    this.unsubscribe.push(() => {
      users.hooks.devicesRemoved.splice(users.hooks.devicesRemoved.indexOf(onDevicesRemoved) >>> 0, 1);
      users.hooks.userDeactivated.splice(users.hooks.userDeactivated.indexOf(onDeactivated) >>> 0, 1);
    });
    if (deps.receipts) this.connectReceipts(deps.receipts);
  }

  private isLocal(userId: string): boolean {
    return serverNameOf(userId) === this.serverName;
  }

  // ---------------------------------------------------------------- rules

  private userRules(userId: string): UserRules {
    return parseUserRules(this.store.getRules(userId));
  }

  /** The user's merged ruleset when they changed anything, else undefined (server defaults). */
  private customRuleset(userId: string): Ruleset | undefined {
    if (!this.customRuleUsers.has(userId)) return undefined;
    let r = this.merged.get(userId);
    if (r === undefined) {
      const u = this.userRules(userId);
      r = mergeRuleset(this.evaluator.defaultRulesetFor(userId), u.rules, u.overrides);
      if (this.merged.size >= RULES_CACHE_LIMIT) {
        const oldest = this.merged.keys().next().value;
        if (oldest !== undefined) this.merged.delete(oldest);
      }
      this.merged.set(userId, r);
    }
    return r;
  }

  private ruleset(userId: string): Ruleset {
    return this.customRuleset(userId) ?? this.evaluator.defaultRulesetFor(userId);
  }

  getPushRules(userId: string): { global: Ruleset } {
    return { global: this.ruleset(userId) };
  }

  getRulesOfKind(userId: string, kind: string): PushRule[] {
    if (!isPushRuleKind(kind)) throw new MatrixError('M_UNRECOGNIZED', `Unknown push rule kind: ${kind}`, 400);
    return this.ruleset(userId)[kind];
  }

  getRule(userId: string, kind: string, ruleId: string): PushRule {
    const rule = this.getRulesOfKind(userId, kind).find((r) => r.rule_id === ruleId);
    if (!rule) throw notFound();
    return rule;
  }

  /** Stores the user's changed rules and publishes the new ruleset as m.push_rules account data. */
  private async saveUserRules(requester: Requester, u: UserRules): Promise<void> {
    const userId = requester.userId;
    this.store.putRules(userId, JSON.stringify(u), this.clock());
    this.merged.delete(userId);
    if (isEmptyUserRules(u)) this.customRuleUsers.delete(userId);
    else this.customRuleUsers.add(userId);
    // Synapse sends the whole ruleset to /sync as the m.push_rules account data event after each change.
    const users = this.deps.users;
    const streamId = await users.store.putAccountData(requester.userNid, null, PUSH_RULES_ACCOUNT_DATA, JSON.stringify(this.getPushRules(userId)));
    for (const fn of users.hooks.accountDataChanged) {
      try {
        await fn(userId, streamId);
      } catch (err) {
        this.deps.logger?.warn({ err }, 'account data listener failed');
      }
    }
    this.deps.notifier.wakeUsers([userId]);
  }

  async putRule(requester: Requester, kind: string, ruleId: string, body: unknown, position: RulePosition): Promise<void> {
    if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
    const invalid = validatePushRule(kind, ruleId, body);
    if (invalid) throw new MatrixError(invalid.errcode, invalid.error, 400);
    const k = kind as PushRuleKind;
    const rule = userPushRuleFromBody(k, ruleId, body as JsonObject);
    const u = this.userRules(requester.userId);
    const list = [...(u.rules[k] ?? [])];
    const existingAt = list.findIndex((r) => r.rule_id === ruleId);
    // An update keeps the rule's enabled state ("MUST be enabled by default" is about new rules).
    if (existingAt >= 0) rule.enabled = list[existingAt]!.enabled;
    const anchor = position.before || position.after || undefined;
    if (anchor !== undefined) {
      // "If both after and before are provided ... the next most important rule with respect to before."
      if (existingAt >= 0) list.splice(existingAt, 1);
      const at = list.findIndex((r) => r.rule_id === anchor);
      // Only user rules can be anchors ("not possible to add a rule relative to a predefined server rule").
      if (at < 0) throw new MatrixError('M_UNKNOWN', `before/after rule not found: ${anchor}`, 400);
      list.splice(position.before ? at : at + 1, 0, rule);
    } else if (existingAt >= 0) {
      list[existingAt] = rule;
    } else {
      // A new rule is the most important user-defined rule of its kind.
      list.unshift(rule);
    }
    u.rules[k] = list;
    await this.saveUserRules(requester, u);
  }

  async deleteRule(requester: Requester, kind: string, ruleId: string): Promise<void> {
    if (!isPushRuleKind(kind)) throw new MatrixError('M_UNRECOGNIZED', `Unknown push rule kind: ${kind}`, 400);
    const u = this.userRules(requester.userId);
    const list = u.rules[kind] ?? [];
    const at = list.findIndex((r) => r.rule_id === ruleId);
    // Server-default rules cannot be deleted (they can be disabled): Synapse answers 404.
    if (at < 0) throw notFound();
    u.rules[kind] = list.filter((_, i) => i !== at);
    await this.saveUserRules(requester, u);
  }

  /** Applies `change` to the user's rule, or records it as an override of a server-default rule. */
  private async changeRule(requester: Requester, kind: string, ruleId: string, change: RuleOverride): Promise<void> {
    if (!isPushRuleKind(kind)) throw new MatrixError('M_UNRECOGNIZED', `Unknown push rule kind: ${kind}`, 400);
    const u = this.userRules(requester.userId);
    const own = u.rules[kind]?.find((r) => r.rule_id === ruleId);
    if (own) {
      if (change.enabled !== undefined) own.enabled = change.enabled;
      if (change.actions !== undefined) own.actions = change.actions;
    } else {
      const isServerRule = this.evaluator.defaultRulesetFor(requester.userId)[kind].some((r) => r.rule_id === ruleId);
      if (!isServerRule) throw notFound();
      const forKind = (u.overrides[kind] ??= {});
      const current = Object.hasOwn(forKind, ruleId) ? forKind[ruleId]! : {};
      Object.defineProperty(forKind, ruleId, { value: { ...current, ...change }, enumerable: true, writable: true, configurable: true });
    }
    await this.saveUserRules(requester, u);
  }

  async setRuleEnabled(requester: Requester, kind: string, ruleId: string, body: unknown): Promise<void> {
    if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.');
    // The spec's body is {"enabled": bool}; Synapse also takes a bare boolean, which some clients send.
    const enabled = isJsonObject(body) ? body.enabled : body;
    if (typeof enabled !== 'boolean') throw new MatrixError('M_BAD_JSON', '"enabled" must be a boolean');
    await this.changeRule(requester, kind, ruleId, { enabled });
  }

  async setRuleActions(requester: Requester, kind: string, ruleId: string, body: unknown): Promise<void> {
    const obj = bodyObject(body);
    const invalid = validatePushActions(obj.actions);
    if (invalid) throw new MatrixError(invalid.errcode, invalid.error, 400);
    const actions = (obj.actions as PushAction[]).filter((a) => a !== 'dont_notify' && a !== 'coalesce');
    await this.changeRule(requester, kind, ruleId, { actions });
  }

  // ---------------------------------------------------------------- evaluation (persist transaction)

  onPersistedEvent(info: PersistedEventInfo): void {
    try {
      this.evaluateEvent(info);
    } catch (err) {
      // A database error aborts the event's transaction as it must. A bug in evaluation must not
      // stop the room: the event is stored without its notifications, and the room's cached
      // state, which may be half advanced, is dropped.
      this.roomStates.clear();
      if (err instanceof BetterSqlite3.SqliteError) throw err;
      this.deps.logger?.error({ err, eventId: info.event.eventId }, 'push evaluation failed');
    }
  }

  private evaluateEvent(info: PersistedEventInfo): void {
    const so = info.streamOrdering;
    // Backfilled history (federation) is old news: it notifies nobody, as in Synapse.
    if (info.outlier || info.rejectedReason !== null || info.softFailed || info.backfilled || so === null) return;
    const ev = info.event;
    const state = this.roomStates.stateBefore(info);
    const local = state.local;

    // Invites notify the invitee, who is not a member yet (.m.rule.invite_for_me).
    let invitee: BulkMember | undefined;
    if (ev.type === MEMBER && ev.stateKey !== undefined && ev.content.membership === 'invite' && !local.has(ev.stateKey) && this.isLocal(ev.stateKey)) {
      invitee = { userId: ev.stateKey, displayName: undefined };
    }

    if (local.size > 0 || invitee) {
      const members: ReadonlyMap<string, BulkMember> = invitee ? new Map<string, BulkMember>([...local, [invitee.userId, invitee]]) : local;
      const result = this.evaluator.evaluate(
        ev.json,
        members,
        { memberCount: state.joined.size, senderPowerLevel: state.senderPowerLevel(ev.sender), notificationPowerLevels: state.notificationLevels() },
        (u) => this.customRuleset(u),
        this.customMembersOf(local, invitee),
      );
      const { common, exceptions } = result;
      let anyNotify = common.notify;
      if (!anyNotify) for (const o of exceptions.values()) if (o.notify) anyNotify = true;
      // A local member's own message is recorded even when it notifies nobody: it marks the room
      // read for them (not state events: a profile change the server copies into every room is no
      // sign of reading).
      if (anyNotify || (ev.stateKey === undefined && local.has(ev.sender))) {
        const rows: NotifyExceptionRow[] = [];
        for (const [userId, o] of exceptions) rows.push({ userId, notify: o.notify, highlight: o.highlight, actions: o.key || '[]' });
        this.store.insertNotifyEvent(
          {
            roomNid: info.roomNid,
            streamOrdering: so,
            eventNid: info.eventNid,
            sender: ev.sender,
            threadId: threadIdOf(ev, (id) => this.deps.store.core.eventById(id)),
            notify: common.notify,
            highlight: common.highlight,
            actions: common.key || '[]',
            ts: this.clock(),
          },
          rows,
        );
        if (anyNotify && this.pusherUsers.size > 0) this.queuePushes(info, state, result.common, exceptions, invitee);
      }
    }

    // Membership changes move the audience.
    if (ev.type === MEMBER && ev.stateKey !== undefined) {
      if (ev.content.membership === 'join') {
        if (!state.joined.has(ev.stateKey)) this.store.addRoomMember(info.roomNid, ev.stateKey, so);
      } else if (state.joined.has(ev.stateKey)) {
        this.store.removeRoomMember(info.roomNid, ev.stateKey);
      }
    }
    this.roomStates.advance(state, info);
  }

  /** The members (and invitee) with rules of their own: usually few, found from the smaller set. */
  private customMembersOf(local: ReadonlyMap<string, LocalMember>, invitee: BulkMember | undefined): BulkMember[] {
    const out: BulkMember[] = [];
    if (this.customRuleUsers.size > 0) {
      if (this.customRuleUsers.size < local.size) {
        for (const u of this.customRuleUsers) {
          const m = local.get(u);
          if (m) out.push(m);
        }
      } else {
        for (const m of local.values()) if (this.customRuleUsers.has(m.userId)) out.push(m);
      }
    }
    if (invitee && this.customRuleUsers.has(invitee.userId)) out.push(invitee);
    return out;
  }

  /** Remembers who to push to; sent once the transaction committed (flushPending). */
  private queuePushes(info: PersistedEventInfo, state: PushRoomState, common: PushOutcome, exceptions: Map<string, PushOutcome>, invitee: BulkMember | undefined): void {
    const users: { userId: string; outcome: PushOutcome }[] = [];
    const sender = info.event.sender;
    const consider = (userId: string) => {
      if (userId === sender) return;
      const outcome = exceptions.get(userId) ?? common;
      if (outcome.notify) users.push({ userId, outcome });
    };
    if (this.pusherUsers.size < state.local.size) {
      for (const u of this.pusherUsers) if (state.local.has(u)) consider(u);
    } else {
      for (const u of state.local.keys()) if (this.pusherUsers.has(u)) consider(u);
    }
    if (invitee && this.pusherUsers.has(invitee.userId)) consider(invitee.userId);
    if (users.length === 0) return;
    this.pending.push({ eventNid: info.eventNid, eventId: info.event.eventId, roomId: info.roomId, streamOrdering: info.streamOrdering!, users });
  }

  /** After commit: hands the pushes of committed events up to `pos` to delivery. */
  private flushPending(pos: number): void {
    if (this.pending.length === 0) return;
    const keep: PendingPush[] = [];
    const core = this.deps.store.core;
    for (const p of this.pending) {
      if (p.streamOrdering > pos) {
        keep.push(p);
        continue;
      }
      // A transaction that rolled back left its entry behind: only committed events are pushed.
      const meta = core.eventMeta(p.eventNid);
      if (!meta || meta.eventId !== p.eventId || meta.streamOrdering !== p.streamOrdering) continue;
      for (const { userId, outcome } of p.users) {
        this.delivery.enqueue({ type: 'event', userId, roomId: p.roomId, eventId: p.eventId, tweaks: outcome.tweaks });
      }
    }
    this.pending = keep;
  }

  // ---------------------------------------------------------------- counts

  /**
   * Unread counts per thread (null key: the main timeline), as spec "Receiving notifications"
   * counts them with threaded read receipts: an event counts when it comes after the user's join,
   * their unthreaded read receipt, their own latest event, and the threaded receipt of its own
   * thread ('main' for the main timeline). undefined when the user is not joined.
   */
  private countsByThread(roomId: string, roomNid: number, userId: string): Map<string | null, UnreadCounts> | undefined {
    const since = this.store.memberSince(roomNid, userId);
    if (since === undefined) return undefined;
    const byThread = this.receipts?.readReceiptPositionsByThread(roomId, userId) ?? new Map<string, number>();
    const base = this.store.readUpTo(roomNid, userId, Math.max(since, byThread.get('') ?? 0));
    const counts = this.store.unreadThreadCounts(userId, roomNid, base);
    for (const [thread, c] of counts) {
      const read = byThread.get(thread ?? 'main');
      if (read === undefined || read <= base) continue;
      const before = this.store.threadRangeCounts(userId, roomNid, thread, base, read);
      counts.set(thread, { notify: c.notify - before.notify, highlight: c.highlight - before.highlight });
    }
    return counts;
  }

  unreadCounts(userId: string, roomId: string): { notification_count: number; highlight_count: number } {
    const room = this.deps.store.core.room(roomId);
    const counts = room ? this.countsByThread(roomId, room.nid, userId) : undefined;
    let notify = 0;
    let highlight = 0;
    for (const c of counts?.values() ?? []) {
      notify += c.notify;
      highlight += c.highlight;
    }
    return { notification_count: notify, highlight_count: highlight };
  }

  unreadThreadCounts(userId: string, roomId: string): Map<string | null, { notification_count: number; highlight_count: number }> {
    const out = new Map<string | null, { notification_count: number; highlight_count: number }>();
    const room = this.deps.store.core.room(roomId);
    const counts = room ? this.countsByThread(roomId, room.nid, userId) : undefined;
    for (const [thread, c] of counts ?? []) out.set(thread, { notification_count: c.notify, highlight_count: c.highlight });
    return out;
  }

  badgeCount(userId: string): number {
    const core = this.deps.store.core;
    let rooms = 0;
    for (const m of this.store.joinedRoomsOf(userId)) {
      const counts = this.countsByThread(core.roomByNid(m.roomNid).roomId, m.roomNid, userId);
      if (counts && [...counts.values()].some((c) => c.notify > 0)) rooms++;
    }
    return rooms;
  }

  connectReceipts(receipts: ReadReceiptSource): void {
    this.receipts = receipts;
    const listeners = receipts.onReadReceipt;
    if (!listeners) return;
    // Reading changes the badge: tell the user's pushers (as Synapse does).
    const onRead: ReceiptListener = (r) => {
      if (this.pusherUsers.has(r.userId)) this.delivery.enqueue({ type: 'badge', userId: r.userId });
    };
    listeners.push(onRead);
    this.unsubscribe.push(() => {
      const i = listeners.indexOf(onRead);
      if (i >= 0) listeners.splice(i, 1);
    });
  }

  // ---------------------------------------------------------------- /notifications

  async getNotifications(requester: Requester, query: NotificationsQuery): Promise<{ notifications: JsonObject[]; next_token?: string }> {
    let before = Number.MAX_SAFE_INTEGER;
    if (query.from !== undefined) {
      // Tokens are the stream ordering of the last notification returned.
      if (!/^[0-9]{1,15}$/.test(query.from)) throw new MatrixError('M_INVALID_PARAM', 'Query parameter "from" contains unrecognised token');
      before = Number(query.from);
    }
    let limit = DEFAULT_NOTIFICATIONS_LIMIT;
    if (query.limit !== undefined) {
      if (!/^[0-9]{1,9}$/.test(query.limit)) throw new MatrixError('M_INVALID_PARAM', '"limit" must be a non-negative integer');
      limit = Math.min(Number(query.limit), MAX_NOTIFICATIONS_LIMIT);
    }
    const onlyHighlight = query.only === 'highlight';
    const userId = requester.userId;
    if (limit === 0) return { notifications: [] };

    const joined = this.store.joinedRoomsOf(userId);
    const byKey = new Map<string, UserNotificationRow>();
    const key = (r: { roomNid: number; streamOrdering: number }) => `${r.roomNid}:${r.streamOrdering}`;
    for (const m of joined) {
      for (const r of this.store.notificationsInRoom(userId, m.roomNid, m.since, before, onlyHighlight, limit + 1)) byKey.set(key(r), r);
    }
    // Invites, and mentions in rooms since left: the user's own rows.
    for (const r of this.store.exceptionNotifications(userId, before, onlyHighlight, limit + 1)) if (!byKey.has(key(r))) byKey.set(key(r), r);
    const rows = [...byKey.values()].sort((a, b) => b.streamOrdering - a.streamOrdering).slice(0, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;

    const core = this.deps.store.core;
    const eventIds = page.map((r) => core.ids.eventId(r.eventNid));
    const byId = new Map((await this.deps.store.getEvents(eventIds)).map((e) => [e.eventId, e]));
    const stored: StoredEvent[] = [];
    const found = new Set<number>();
    page.forEach((r, k) => {
      const ev = byId.get(eventIds[k]!);
      if (ev) {
        stored.push(ev);
        found.add(r.eventNid);
      }
    });
    const formatted = await this.formatEvents(stored, requester);
    // Read: at or before the read receipt or the user's own latest event.
    const readUpTo = new Map<number, number>();
    const notifications: JsonObject[] = [];
    let i = 0;
    for (const r of page) {
      if (!found.has(r.eventNid)) continue;
      const roomId = core.roomByNid(r.roomNid).roomId;
      let upTo = readUpTo.get(r.roomNid);
      if (upTo === undefined) {
        const receipt = this.receipts?.readReceiptPosition(roomId, userId) ?? 0;
        upTo = this.store.readUpTo(r.roomNid, userId, receipt);
        readUpTo.set(r.roomNid, upTo);
      }
      notifications.push({
        actions: JSON.parse(r.actions) as JsonValue,
        event: formatted[i++]!,
        read: r.streamOrdering <= upTo,
        room_id: roomId,
        ts: r.ts,
      });
    }
    const out: { notifications: JsonObject[]; next_token?: string } = { notifications };
    if (more) out.next_token = String(page[page.length - 1]!.streamOrdering);
    return out;
  }

  /** ClientEventWithoutRoomID (the sync helper's formatter: redactions applied, unsigned). */
  private async formatEvents(events: StoredEvent[], requester: Requester): Promise<JsonObject[]> {
    return formatClientEvents(events, { userId: requester.userId, deviceId: requester.deviceId, now: this.clock(), withRoomId: false, store: this.deps.store });
  }

  // ---------------------------------------------------------------- pushers

  listPushers(userId: string): { pushers: JsonObject[] } {
    return { pushers: this.store.pushersOf(userId).map(pusherJson) };
  }

  private refreshPusherUser(userId: string): void {
    if (this.store.pushersOf(userId).length > 0) this.pusherUsers.add(userId);
    else this.pusherUsers.delete(userId);
  }

  async setPusher(requester: Requester, rawBody: unknown): Promise<void> {
    const body = bodyObject(rawBody);
    const userId = requester.userId;
    // kind null deletes the pusher with this app_id and pushkey.
    if (body.kind === null && Object.hasOwn(body, 'app_id') && Object.hasOwn(body, 'pushkey')) {
      const appId = requireString(body, 'app_id');
      const pushkey = requireString(body, 'pushkey');
      this.store.deletePusher(userId, appId, pushkey);
      this.refreshPusherUser(userId);
      return;
    }
    const required = ['kind', 'app_id', 'app_display_name', 'device_display_name', 'pushkey', 'lang', 'data'];
    const missing = required.filter((k) => !Object.hasOwn(body, k) || body[k] === undefined);
    if (missing.length > 0) throw new MatrixError('M_MISSING_PARAM', `Missing parameters: ${missing.join(', ')}`);
    const kind = requireString(body, 'kind');
    const appId = requireString(body, 'app_id');
    const pushkey = requireString(body, 'pushkey');
    const appDisplayName = requireString(body, 'app_display_name');
    const deviceDisplayName = requireString(body, 'device_display_name');
    const lang = requireString(body, 'lang');
    if (appId.length === 0 || appId.length > MAX_APP_ID_LENGTH) throw new MatrixError('M_INVALID_PARAM', `"app_id" must be 1 to ${MAX_APP_ID_LENGTH} characters`);
    if (pushkey.length === 0 || Buffer.byteLength(pushkey, 'utf8') > MAX_PUSHKEY_BYTES) {
      throw new MatrixError('M_INVALID_PARAM', `"pushkey" must be 1 to ${MAX_PUSHKEY_BYTES} bytes`);
    }
    const data = body.data;
    if (!isJsonObject(data)) throw new MatrixError('M_INVALID_PARAM', '"data" must be an object');
    const profileTag = body.profile_tag;
    if (profileTag !== undefined && profileTag !== null && typeof profileTag !== 'string') throw new MatrixError('M_INVALID_PARAM', '"profile_tag" must be a string');
    const append = body.append ?? false;
    if (typeof append !== 'boolean') throw new MatrixError('M_INVALID_PARAM', '"append" must be a boolean');

    if (kind === 'email') {
      // Email pushers need the address bound to the account; this server keeps no 3PIDs (Synapse: 400).
      throw new MatrixError('M_THREEPID_NOT_FOUND', 'Email not found', 400);
    }
    if (kind !== 'http') throw new MatrixError('M_INVALID_PARAM', `Unsupported pusher kind: ${kind}`);
    if (!Object.hasOwn(data, 'url')) throw new MatrixError('M_MISSING_PARAM', "'url' required in data for HTTP pusher");
    checkGatewayUrl(data.url);
    if (data.format !== undefined && typeof data.format !== 'string') throw new MatrixError('M_INVALID_PARAM', '"data.format" must be a string');

    const existing = this.store.getPusher(userId, appId, pushkey);
    const removed = this.store.setPusher(
      {
        userId,
        appId,
        pushkey,
        kind,
        appDisplayName,
        deviceDisplayName,
        profileTag: typeof profileTag === 'string' ? profileTag : null,
        lang,
        data: JSON.stringify(data),
        pushkeyTs: this.clock(),
        // An update from another device keeps the pusher tied to the device that created it.
        deviceId: existing ? existing.deviceId : requester.deviceId,
      },
      append,
    );
    this.pusherUsers.add(userId);
    for (const u of removed) this.refreshPusherUser(u);
  }

  /** The `notification` object for a push (devices are added by delivery). */
  private async buildNotification(job: PushJob, pusher: PusherRow): Promise<JsonObject | null> {
    const unread = this.badgeCount(job.userId);
    if (job.type === 'badge') return { counts: { unread } };
    const stored = await this.deps.store.getEvent(job.eventId);
    if (!stored || stored.rejectedReason !== null || stored.softFailed) return null;
    const ev = stored.event;
    const prio = priority(ev.type, job.tweaks);
    if (isEventIdOnly(pusher)) return { event_id: ev.eventId, room_id: job.roomId, counts: { unread }, prio };
    const n: JsonObject = { event_id: ev.eventId, room_id: job.roomId, type: ev.type, sender: ev.sender, prio, counts: { unread } };
    const senderMember = await this.deps.store.getCurrentStateEvent(job.roomId, MEMBER, ev.sender);
    const dn = senderMember?.event.content.displayname;
    if (typeof dn === 'string' && dn.length > 0) n.sender_display_name = dn;
    const name = (await this.deps.store.getCurrentStateEvent(job.roomId, 'm.room.name', ''))?.event.content.name;
    const alias = (await this.deps.store.getCurrentStateEvent(job.roomId, 'm.room.canonical_alias', ''))?.event.content.alias;
    if (typeof name === 'string' && name.length > 0) n.room_name = name;
    else if (typeof alias === 'string' && alias.length > 0) n.room_name = alias;
    if (typeof alias === 'string' && alias.length > 0) n.room_alias = alias;
    if (ev.type === MEMBER && ev.stateKey !== undefined) {
      const membership = ev.content.membership;
      if (typeof membership === 'string') n.membership = membership;
      n.user_is_target = ev.stateKey === job.userId;
    }
    if (Object.keys(ev.content).length > 0) n.content = ev.content;
    return n;
  }

  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
    this.delivery.close();
  }
}

/** data.url of an HTTP pusher: an http(s) URL whose path is /_matrix/push/v1/notify. */
function checkGatewayUrl(url: unknown): void {
  if (typeof url !== 'string') throw new MatrixError('M_INVALID_PARAM', "'url' must be a string");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MatrixError('M_INVALID_PARAM', "'url' must be an absolute URL");
  }
  // The spec says HTTPS; like Synapse we leave the scheme to the operator (local gateways use http).
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new MatrixError('M_INVALID_PARAM', "'url' must be an http or https URL");
  if (parsed.pathname !== NOTIFY_PATH) throw new MatrixError('M_INVALID_PARAM', `'url' must have a path of '${NOTIFY_PATH}'`);
}

