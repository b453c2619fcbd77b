// Typing notifications (Client-Server API module "Typing Notifications"): who is typing in each
// room, in memory with a stream position (as Synapse; nothing survives a restart), expiry by
// timeout, served to /sync as m.typing. Implements TypingSource.
import { isValidRoomId, isValidUserId, serverNameOf } from '../core/ids.js';
import { isJsonObject } from '../core/json/types.js';
import { MatrixError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { Notifier } from '../sync/notifier.js';
import type { TypingSource } from '../sync/sources.js';

/** Synapse's defaults: 30 s when the client gives no timeout, at most 120 s. */
export const DEFAULT_TYPING_TIMEOUT_MS = 30_000;
export const MAX_TYPING_TIMEOUT_MS = 120_000;
/** A remote user's typing lasts this long unless renewed (Synapse FEDERATION_TIMEOUT for typing). */
export const REMOTE_TYPING_TIMEOUT_MS = 60_000;

/** A change of one user's typing state. `timeoutMs` is set when typing starts or is renewed. */
export interface TypingUpdate {
  readonly roomId: string;
  readonly userId: string;
  readonly typing: boolean;
  readonly timeoutMs?: number;
}

export type TypingListener = (u: TypingUpdate) => void;

export interface TypingService extends TypingSource {
  /**
   * A LOCAL user started (or renewed) or stopped typing, or their typing expired: the federation
   * sender sends an m.typing EDU to the room's other servers. Every renewal is reported, so remote
   * servers (which time typing out after 60 s) stay in step while the client keeps renewing.
   */
  readonly onOutbound: TypingListener[];
  /**
   * PUT /rooms/{roomId}/typing/{userId}: `requesterUserId` must be `userId` and joined to the room.
   * Body `{typing: boolean, timeout?: ms}`.
   */
  setTyping(requesterUserId: string, roomId: string, userId: string, body: unknown): Promise<void>;
  /** A remote user's typing from an m.typing EDU (origin already checked). False when ignored. */
  applyRemoteTyping(roomId: string, userId: string, typing: boolean): Promise<boolean>;
  /** Ends every typing whose time is up (also done lazily on every read and by a timer). */
  expireDue(): void;
  /** Stops the timer and the room-event listener. */
  close(): void;
}

export interface TypingServiceDeps {
  store: Store;
  notifier: Notifier;
  serverName: string;
  clock?: () => number;
  /**
   * Arm a timer for the next expiry so waiting syncs see the stop (default true). Tests with a
   * fake clock turn it off and call `expireDue()` after moving the clock.
   */
  timers?: boolean;
  onListenerError?: (err: unknown) => void;
  /** Called with the user whenever a local client sends a typing notification (presence: activity). */
  onActivity?: (userId: string) => void;
}

interface RoomTyping {
  /** User ID -> expiry time (ms since 1970), in the order they started typing. */
  readonly until: Map<string, number>;
  /** Position of the last change of this room's typing set. */
  changedAt: number;
}

export function createTypingService(deps: TypingServiceDeps): TypingService {
  const { store, notifier, serverName } = deps;
  const now = deps.clock ?? Date.now;
  const useTimers = deps.timers ?? true;
  const onListenerError = deps.onListenerError ?? ((err: unknown) => console.error('typing listener failed', err));
  const rooms = new Map<string, RoomTyping>();
  const onOutbound: TypingListener[] = [];
  let position = 0;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  let closed = false;

  function emit(u: TypingUpdate): void {
    for (const l of onOutbound) {
      try {
        l(u);
      } catch (e) {
        onListenerError(e);
      }
    }
  }

  /** Re-arms the single timer for the earliest expiry (a handful of typers at any time: a scan is fine). */
  function arm(): void {
    if (!useTimers || closed) return;
    let next = Infinity;
    for (const r of rooms.values()) for (const t of r.until.values()) if (t < next) next = t;
    if (next === timerAt) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    timerAt = next;
    if (next === Infinity) return;
    timer = setTimeout(
      () => {
        timer = undefined;
        timerAt = Infinity;
        expireDue();
        arm();
      },
      Math.max(0, next - now()) + 1,
    );
    timer.unref();
  }

  function changed(roomId: string, r: RoomTyping): void {
    r.changedAt = ++position;
    notifier.wakeRooms([roomId]);
  }

  function start(roomId: string, userId: string, timeoutMs: number): void {
    let r = rooms.get(roomId);
    if (!r) rooms.set(roomId, (r = { until: new Map(), changedAt: 0 }));
    const was = r.until.has(userId);
    r.until.set(userId, now() + timeoutMs);
    // A renewal changes nothing clients see: no new position.
    if (!was) changed(roomId, r);
    arm();
  }

  /** Returns whether the user was typing. */
  function stop(roomId: string, userId: string): boolean {
    const r = rooms.get(roomId);
    if (!r || !r.until.delete(userId)) return false;
    changed(roomId, r);
    arm();
    return true;
  }

  function expireDue(): void {
    const t = now();
    for (const [roomId, r] of rooms) {
      let any = false;
      for (const [userId, until] of r.until) {
        if (until > t) continue;
        r.until.delete(userId);
        any = true;
        if (serverNameOf(userId) === serverName) emit({ roomId, userId, typing: false });
      }
      if (any) changed(roomId, r);
    }
  }

  // A user who leaves the room stops typing there (as Synapse's user_left_room).
  const offEvents = notifier.onNewEvents((roomId) => {
    const r = rooms.get(roomId);
    if (!r || r.until.size === 0) return;
    const typers = [...r.until.keys()];
    void (async () => {
      for (const userId of typers) {
        const m = await store.getMembership(roomId, userId);
        if (m?.membership !== 'join' && stop(roomId, userId) && serverNameOf(userId) === serverName) {
          emit({ roomId, userId, typing: false });
        }
      }
    })().catch(onListenerError);
  });

  async function requireJoined(roomId: string, userId: string): Promise<void> {
    const m = await store.getMembership(roomId, userId);
    if (m?.membership !== 'join') throw new MatrixError('M_FORBIDDEN', `${userId} is not in room ${roomId}`, 403);
  }

  return {
    onOutbound,

    position() {
      return position;
    },

    typingChangedSince(roomIds, since) {
      expireDue();
      // A token from before a restart may be ahead of this process's positions: answer as for an
      // initial sync (the rooms where someone is typing now).
      const initial = since <= 0 || since > position;
      const out = new Map<string, string[]>();
      for (const roomId of roomIds) {
        const r = rooms.get(roomId);
        if (!r) continue;
        if (initial ? r.until.size > 0 : r.changedAt > since) out.set(roomId, [...r.until.keys()]);
      }
      return out;
    },

    typingUsers(roomId) {
      expireDue();
      const r = rooms.get(roomId);
      return r ? [...r.until.keys()] : [];
    },

    async setTyping(requesterUserId, roomId, userId, rawBody) {
      if (!isValidRoomId(roomId)) throw new MatrixError('M_INVALID_PARAM', `Invalid room ID ${JSON.stringify(roomId)}`, 400);
      if (!isValidUserId(userId)) throw new MatrixError('M_INVALID_PARAM', `Invalid user ID ${JSON.stringify(userId)}`, 400);
      if (userId !== requesterUserId) throw new MatrixError('M_FORBIDDEN', "Cannot set another user's typing state", 403);
      if (rawBody === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
      if (!isJsonObject(rawBody)) throw new MatrixError('M_BAD_JSON', 'Content must be a JSON object', 400);
      const typing = rawBody.typing;
      if (typeof typing !== 'boolean') throw new MatrixError('M_BAD_JSON', '"typing" must be a boolean', 400);
      let timeoutMs = DEFAULT_TYPING_TIMEOUT_MS;
      if (typing && rawBody.timeout !== undefined) {
        const t = rawBody.timeout;
        if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
          throw new MatrixError('M_BAD_JSON', '"timeout" must be a non-negative number of milliseconds', 400);
        }
        timeoutMs = Math.min(Math.floor(t), MAX_TYPING_TIMEOUT_MS);
      }
      await requireJoined(roomId, userId);
      deps.onActivity?.(userId);
      if (typing) {
        start(roomId, userId, timeoutMs);
        emit({ roomId, userId, typing: true, timeoutMs });
      } else if (stop(roomId, userId)) {
        emit({ roomId, userId, typing: false });
      }
    },

    async applyRemoteTyping(roomId, userId, typing) {
      if (!isValidUserId(userId) || serverNameOf(userId) === serverName) return false;
      if (!store.core.room(roomId)) return false;
      const m = await store.getMembership(roomId, userId);
      if (m?.membership !== 'join') return false;
      if (typing) start(roomId, userId, REMOTE_TYPING_TIMEOUT_MS);
      else stop(roomId, userId);
      return true;
    },

    expireDue() {
      expireDue();
      arm();
    },

    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      offEvents();
    },
  };
}
