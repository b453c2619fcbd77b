// Wakes waiting /sync long-polls: one listener on the notifier dispatches to the waiters of the
// rooms and users concerned (indexed by room and user), so a new event costs O(its waiters).
import type { Notifier } from './notifier.js';

/** Reads the event at a stream position (to wake the target of a membership change). */
export type MemberTargetLookup = (streamPos: number) => Promise<string | undefined>;

interface Waiter {
  readonly rooms: readonly string[];
  readonly userId: string;
  wake(): void;
}

export interface WaitHandle {
  /** Resolves on a wake, after `timeoutMs`, or when `signal` aborts. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /** Unregisters without waiting (idempotent). */
  cancel(): void;
}

export class WakeHub {
  private readonly byRoom = new Map<string, Set<Waiter>>();
  private readonly byUser = new Map<string, Set<Waiter>>();
  private readonly offs: (() => void)[] = [];

  /**
   * `memberTarget` gives the state_key of the m.room.member event at a stream position (else
   * undefined): a user invited to, or joined to, a room they are not yet listening to is woken.
   */
  constructor(notifier: Notifier, private readonly memberTarget?: MemberTargetLookup) {
    this.offs.push(
      notifier.onWake((w) => {
        for (const r of w.roomIds) this.wakeAll(this.byRoom.get(r));
        for (const u of w.userIds) this.wakeAll(this.byUser.get(u));
      }),
      notifier.onNewEvents((_roomId, pos) => {
        if (this.byUser.size === 0 || !this.memberTarget) return;
        void this.memberTarget(pos).then(
          (userId) => {
            if (userId !== undefined) this.wakeAll(this.byUser.get(userId));
          },
          () => {},
        );
      }),
    );
  }

  /** Number of registered waiters (for tests and metrics). */
  get waiting(): number {
    let n = 0;
    for (const s of this.byUser.values()) n += s.size;
    return n;
  }

  private wakeAll(set: Set<Waiter> | undefined): void {
    if (!set) return;
    for (const w of [...set]) w.wake();
  }

  /**
   * Registers interest in `rooms` and `userId` now (so nothing published after this call is
   * missed), to be awaited with `wait`.
   */
  register(userId: string, rooms: readonly string[]): WaitHandle {
    let woken = false;
    let resolveWait: (() => void) | undefined;
    const waiter: Waiter = {
      rooms,
      userId,
      wake: () => {
        woken = true;
        remove();
        resolveWait?.();
      },
    };
    const add = (map: Map<string, Set<Waiter>>, key: string) => {
      let s = map.get(key);
      if (!s) map.set(key, (s = new Set()));
      s.add(waiter);
    };
    const del = (map: Map<string, Set<Waiter>>, key: string) => {
      const s = map.get(key);
      if (!s) return;
      s.delete(waiter);
      if (s.size === 0) map.delete(key);
    };
    let registered = true;
    const remove = () => {
      if (!registered) return;
      registered = false;
      for (const r of rooms) del(this.byRoom, r);
      del(this.byUser, userId);
    };
    for (const r of rooms) add(this.byRoom, r);
    add(this.byUser, userId);
    return {
      cancel: remove,
      wait: (timeoutMs, signal) =>
        new Promise<void>((resolve) => {
          if (woken || !registered || signal?.aborted || timeoutMs <= 0) {
            remove();
            resolve();
            return;
          }
          const finish = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', finish);
            remove();
            resolve();
          };
          const timer = setTimeout(finish, timeoutMs);
          resolveWait = finish;
          signal?.addEventListener('abort', finish, { once: true });
        }),
    };
  }

  close(): void {
    for (const off of this.offs) off();
    for (const s of this.byUser.values()) for (const w of [...s]) w.wake();
  }
}
