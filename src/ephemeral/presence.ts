// Presence (Client-Server API module "Presence"): each user's online/unavailable/offline state,
// status message and last-active time, persisted with a stream position, with Synapse's timers
// (idle after 5 min, offline 30 s after the last sync, remote users offline after 30 min without
// news). Served to /sync as m.presence for users sharing a room. Implements PresenceSource.
import { isValidUserId, serverNameOf } from '../core/ids.js';
import { isJsonObject, type JsonObject } from '../core/json/types.js';
import { MatrixError } from '../errors.js';
import type { Database } from '../store/db.js';
import type { Notifier } from '../sync/notifier.js';
import type { PresenceSource } from '../sync/sources.js';
import { createPresenceStore, type PresenceRow, type PresenceStateName, type PresenceStore } from './presence-store.js';

export type { PresenceStateName } from './presence-store.js';

const STATES: ReadonlySet<string> = new Set<PresenceStateName>(['online', 'unavailable', 'offline']);

/** Timers, as Synapse's defaults (synapse/config/server.py and handlers/presence.py). */
export interface PresenceTimings {
  /** An online user with no activity for this long becomes unavailable (spec "Idle timeout"). */
  idleTimeoutMs: number;
  /** A local user who has not synced (nor been active) for this long after the last sync becomes offline. */
  syncOnlineTimeoutMs: number;
  /** An online user counts as `currently_active` this long after their last activity. */
  lastActiveGranularityMs: number;
  /**
   * How long a sync counts as ongoing when the caller never reports its end (see
   * `syncedWithPresence`): the usual long-poll timeout of clients.
   */
  assumedSyncMs: number;
  /** A remote user we hear nothing about for this long becomes offline. */
  federationTimeoutMs: number;
  /** A local user's unchanged presence is re-sent to other servers this often (onOutbound). */
  federationPingIntervalMs: number;
  /** How often the timers are checked. */
  sweepIntervalMs: number;
}

export const DEFAULT_PRESENCE_TIMINGS: PresenceTimings = {
  idleTimeoutMs: 5 * 60_000,
  syncOnlineTimeoutMs: 30_000,
  lastActiveGranularityMs: 60_000,
  assumedSyncMs: 30_000,
  federationTimeoutMs: 30 * 60_000,
  federationPingIntervalMs: 25 * 60_000,
  sweepIntervalMs: 5_000,
};

/** A sync whose end is never reported stops counting as ongoing after this long, whatever happens. */
const MAX_SYNC_MS = 10 * 60_000;

/** An entry of a federation m.presence EDU's `push` list: {user_id, presence, last_active_ago, currently_active, status_msg?}. */
export type PresenceListener = (push: JsonObject) => void;

/** A presence update received over federation (origin already checked). */
export interface RemotePresence {
  readonly userId: string;
  readonly presence: string;
  readonly statusMsg?: string | null;
  readonly lastActiveAgo?: number;
  readonly currentlyActive?: boolean;
}

export interface PresenceService extends PresenceSource {
  /** Config `presence.enabled`: when false the endpoints answer but nothing is tracked or broadcast. */
  readonly enabled: boolean;
  /**
   * A LOCAL user's presence changed (or is due its periodic re-send): the federation sender sends
   * an m.presence EDU to the servers sharing a room with the user.
   */
  readonly onOutbound: PresenceListener[];
  /** GET /presence/{userId}/status for `requesterUserId`. */
  getPresence(requesterUserId: string, userId: string): Promise<JsonObject>;
  /** PUT /presence/{userId}/status. */
  setPresence(requesterUserId: string, userId: string, body: unknown): Promise<void>;
  /**
   * `set_presence` on /sync (offline: no effect, as Synapse). Returns a function to call when the
   * sync request ends: the user then goes offline `syncOnlineTimeoutMs` after it. Without that call
   * a sync counts as ongoing for `assumedSyncMs` after it started.
   */
  syncedWithPresence(userId: string, presence: PresenceStateName): () => void;
  /** The user did something (sent a message, a receipt, typing): last active now, unavailable -> online. */
  bumpActive(userId: string): void;
  /** A remote user's presence from an m.presence EDU; false when ignored. */
  applyRemotePresence(p: RemotePresence): boolean;
  /** Applies the timers now (also run every `sweepIntervalMs`). */
  checkTimeouts(): void;
  /** Stops the timer. */
  close(): void;
}

export interface PresenceServiceDeps {
  db: Database;
  notifier: Notifier;
  serverName: string;
  /** Config `presence.enabled` (default true). */
  enabled?: boolean;
  clock?: () => number;
  timings?: Partial<PresenceTimings>;
  /** Run the sweep on a timer (default true); tests with a fake clock call `checkTimeouts()`. */
  timers?: boolean;
  onListenerError?: (err: unknown) => void;
}

type Fields = Omit<PresenceRow, 'streamId'>;

function offlineRow(userId: string): PresenceRow {
  return { userId, state: 'offline', statusMsg: null, lastActiveTs: 0, lastSyncTs: 0, currentlyActive: false, streamId: 0 };
}

function sameFields(a: Fields, b: Fields): boolean {
  return (
    a.state === b.state &&
    a.statusMsg === b.statusMsg &&
    a.lastActiveTs === b.lastActiveTs &&
    a.lastSyncTs === b.lastSyncTs &&
    a.currentlyActive === b.currentlyActive
  );
}

interface SyncHold {
  /** Syncs started and not reported ended. */
  pending: number;
  lastStart: number;
  /** Until when the user counts as syncing, for syncs whose end is not reported. */
  until: number;
}

export function createPresenceService(deps: PresenceServiceDeps): PresenceService {
  const { notifier, serverName } = deps;
  const enabled = deps.enabled ?? true;
  const timings: PresenceTimings = { ...DEFAULT_PRESENCE_TIMINGS, ...deps.timings };
  const now = deps.clock ?? Date.now;
  const onListenerError = deps.onListenerError ?? ((err: unknown) => console.error('presence listener failed', err));
  const pstore: PresenceStore = createPresenceStore(deps.db);
  const onOutbound: PresenceListener[] = [];

  const cache = new Map<string, PresenceRow>();
  /** Users whose state is not offline: the ones the timers look at. */
  const live = new Set<string>();
  const holds = new Map<string, SyncHold>();
  /** When each local user's presence last went out over federation. */
  const lastSent = new Map<string, number>();
  /** Set once a sync end has been reported: from then on a pending sync keeps its user online. */
  let endsReported = false;

  for (const row of pstore.notOffline()) {
    cache.set(row.userId, row);
    live.add(row.userId);
  }

  const isLocal = (userId: string): boolean => serverNameOf(userId) === serverName;

  function current(userId: string): PresenceRow {
    let row = cache.get(userId);
    if (!row) {
      row = pstore.get(userId) ?? offlineRow(userId);
      cache.set(userId, row);
    }
    return row;
  }

  /** Synapse's should_notify: is this change worth telling clients and servers about? */
  function shouldNotify(prev: Fields, next: Fields): boolean {
    if (prev.statusMsg !== next.statusMsg) return true;
    if (prev.state !== next.state) return true;
    const bumped = next.lastActiveTs - prev.lastActiveTs > timings.lastActiveGranularityMs;
    if (prev.state === 'online') {
      if (prev.currentlyActive !== next.currentlyActive) return true;
      return bumped && !next.currentlyActive;
    }
    return bumped;
  }

  function format(row: PresenceRow, t: number, withUserId: boolean): JsonObject {
    const content: JsonObject = { presence: row.state };
    if (withUserId) content.user_id = row.userId;
    if (row.lastActiveTs > 0) content.last_active_ago = Math.max(0, t - row.lastActiveTs);
    if (row.statusMsg) content.status_msg = row.statusMsg;
    if (row.state === 'online') content.currently_active = row.currentlyActive;
    return content;
  }

  function sendOut(row: PresenceRow, t: number): void {
    lastSent.set(row.userId, t);
    const push = format(row, t, true);
    // Federation EDUs always carry currently_active (false when not online).
    if (push.currently_active === undefined) push.currently_active = false;
    for (const l of onOutbound) {
      try {
        l(push);
      } catch (e) {
        onListenerError(e);
      }
    }
  }

  /** Stores a new state; bumps the stream, wakes syncs and reports it outward when it is news. */
  function update(userId: string, next: Fields): PresenceRow {
    const prev = current(userId);
    const t = now();
    const local = isLocal(userId);
    const fields: Fields = local ? { ...next, currentlyActive: next.state === 'online' && t - next.lastActiveTs < timings.lastActiveGranularityMs } : next;
    if (sameFields(prev, fields)) return prev;
    const notify = shouldNotify(prev, fields);
    const row = pstore.put(fields, notify, prev.streamId);
    cache.set(userId, row);
    if (row.state === 'offline') {
      live.delete(userId);
      holds.delete(userId);
    } else live.add(userId);
    if (notify) {
      notifier.wakeUsers(pstore.usersSharingRoomWith(userId));
      if (local) sendOut(row, t);
    }
    return row;
  }

  function syncing(userId: string, t: number): { until: number; ongoing: boolean } {
    const h = holds.get(userId);
    if (!h) return { until: 0, ongoing: false };
    const ongoing = endsReported && h.pending > 0 && t - h.lastStart < MAX_SYNC_MS;
    return { until: h.until, ongoing };
  }

  function checkUser(userId: string, t: number): void {
    const row = current(userId);
    if (row.state === 'offline') {
      live.delete(userId);
      return;
    }
    if (!isLocal(userId)) {
      if (t - row.lastSyncTs > timings.federationTimeoutMs) update(userId, { ...row, state: 'offline' });
      return;
    }
    let state: PresenceStateName = row.state;
    if (state === 'online' && t - row.lastActiveTs > timings.idleTimeoutMs) state = 'unavailable';
    const s = syncing(userId, t);
    if (!s.ongoing && t - Math.max(row.lastSyncTs, row.lastActiveTs, s.until) > timings.syncOnlineTimeoutMs) state = 'offline';
    // Also re-evaluates currently_active, which lapses lastActiveGranularityMs after the last activity.
    const after = update(userId, { ...row, state });
    if (after === row && after.state !== 'offline' && t - (lastSent.get(userId) ?? 0) > timings.federationPingIntervalMs) sendOut(after, t);
  }

  function checkTimeouts(): void {
    if (!enabled) return;
    const t = now();
    for (const userId of [...live]) checkUser(userId, t);
  }

  let sweep: NodeJS.Timeout | undefined;
  if (enabled && (deps.timers ?? true)) {
    sweep = setInterval(() => {
      try {
        checkTimeouts();
      } catch (e) {
        onListenerError(e);
      }
    }, timings.sweepIntervalMs);
    sweep.unref();
  }

  function parseUserIdParam(userId: string): void {
    if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${JSON.stringify(userId)}`, 400);
  }

  const noop = (): void => {};

  return {
    enabled,
    onOutbound,

    position: () => pstore.position(),

    presenceSince(userIds, since) {
      if (!enabled) return [];
      const upTo = pstore.position();
      if (since >= upTo) return [];
      const t = now();
      const out: JsonObject[] = [];
      for (const stored of pstore.changedSince(userIds, since, upTo)) {
        // The cache may hold a newer last-active time than the row read (same process, written through).
        const row = cache.get(stored.userId) ?? stored;
        // An initial sync leaves offline users out (Synapse's include_offline_users_on_sync: false).
        if (since <= 0 && row.state === 'offline') continue;
        out.push({ type: 'm.presence', sender: row.userId, content: format(row, t, false) });
      }
      return out;
    },

    syncedWithPresence(userId, presence) {
      if (!enabled || presence === 'offline' || !STATES.has(presence)) return noop;
      const t = now();
      let h = holds.get(userId);
      if (!h) holds.set(userId, (h = { pending: 0, lastStart: t, until: 0 }));
      h.pending++;
      h.lastStart = t;
      h.until = Math.max(h.until, t + timings.assumedSyncMs);
      const row = current(userId);
      // As Synapse: a sync never changes the status message, and an online sync counts as activity.
      update(userId, {
        ...row,
        state: presence,
        lastActiveTs: presence === 'online' ? t : row.lastActiveTs,
        lastSyncTs: t,
      });
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        endsReported = true;
        const end = now();
        const hold = holds.get(userId);
        if (hold) {
          hold.pending = Math.max(0, hold.pending - 1);
          if (hold.pending === 0) hold.until = end;
        }
        const r = current(userId);
        if (r.state !== 'offline') update(userId, { ...r, lastSyncTs: end });
      };
    },

    bumpActive(userId) {
      if (!enabled || !isLocal(userId)) return;
      const row = current(userId);
      update(userId, { ...row, state: row.state === 'unavailable' ? 'online' : row.state, lastActiveTs: now() });
    },

    applyRemotePresence(p) {
      if (!enabled || !isValidUserId(p.userId) || isLocal(p.userId) || !STATES.has(p.presence)) return false;
      const t = now();
      const row = current(p.userId);
      const ago = typeof p.lastActiveAgo === 'number' && Number.isFinite(p.lastActiveAgo) && p.lastActiveAgo >= 0 ? p.lastActiveAgo : undefined;
      update(p.userId, {
        userId: p.userId,
        state: p.presence as PresenceStateName,
        statusMsg: typeof p.statusMsg === 'string' && p.statusMsg.length > 0 ? p.statusMsg : null,
        lastActiveTs: ago !== undefined ? t - Math.floor(ago) : row.lastActiveTs,
        // For a remote user: when we last heard of them (the federation timeout counts from it).
        lastSyncTs: t,
        currentlyActive: p.presence === 'online' && p.currentlyActive === true,
      });
      return true;
    },

    async getPresence(requesterUserId, userId) {
      parseUserIdParam(userId);
      if (!enabled) return { presence: 'offline' };
      if (requesterUserId !== userId && !pstore.shareRoom(requesterUserId, userId)) {
        throw new MatrixError('M_FORBIDDEN', 'You are not allowed to see their presence.', 403);
      }
      const t = now();
      if (live.has(userId)) checkUser(userId, t);
      return format(current(userId), t, false);
    },

    async setPresence(requesterUserId, userId, rawBody) {
      parseUserIdParam(userId);
      if (userId !== requesterUserId) throw new MatrixError('M_FORBIDDEN', 'Can only set your own presence state', 403);
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
      if (!isJsonObject(rawBody)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object', 400);
      const presence = rawBody.presence;
      if (typeof presence !== 'string' || !STATES.has(presence)) {
        throw new MatrixError('M_INVALID_PARAM', 'presence must be one of online, unavailable, offline', 400);
      }
      const statusMsg = rawBody.status_msg;
      if (statusMsg !== undefined && statusMsg !== null && typeof statusMsg !== 'string') {
        throw new MatrixError('M_INVALID_PARAM', 'status_msg must be a string', 400);
      }
      if (!enabled) return;
      const t = now();
      const row = current(userId);
      // As Synapse: the status message is replaced (absent clears it); going online is activity.
      // The client was seen now whatever the state, so the offline timer restarts (Synapse keeps
      // that per device; lastSyncTs plays its part here).
      update(userId, {
        ...row,
        state: presence as PresenceStateName,
        statusMsg: typeof statusMsg === 'string' && statusMsg.length > 0 ? statusMsg : null,
        lastActiveTs: presence === 'online' ? t : row.lastActiveTs,
        lastSyncTs: t,
      });
    },

    checkTimeouts,

    close() {
      if (sweep) clearInterval(sweep);
      sweep = undefined;
    },
  };
}
