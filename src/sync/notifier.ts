// The notifier: rooms/ publishes each new stream position after commit; sync and the federation sender listen.

export type NewEventsListener = (roomId: string, streamPos: number) => void;

/** Something other than a room event changed (typing, receipts, account data, to-device, ...). */
export interface Wake {
  readonly roomIds: readonly string[];
  readonly userIds: readonly string[];
}
export type WakeListener = (w: Wake) => void;

/**
 * A tiny typed event emitter. `publishNewEvents` is called by rooms/ after the transaction that
 * persisted an event has committed, so a listener that reads the store sees the event. Listeners
 * run synchronously and must not throw (a throwing listener is reported and skipped).
 */
export class Notifier {
  private readonly listeners = new Set<NewEventsListener>();
  private readonly wakeListeners = new Set<WakeListener>();
  private position = 0;

  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** The highest stream position published so far (or set by `advanceTo` at start). */
  get currentPosition(): number {
    return this.position;
  }

  /** Sets the starting position (the store's stream position when the server starts). */
  advanceTo(streamPos: number): void {
    if (streamPos > this.position) this.position = streamPos;
  }

  /** Subscribes to new events; returns the function that unsubscribes. */
  onNewEvents(listener: NewEventsListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  publishNewEvents(roomId: string, streamPos: number): void {
    this.advanceTo(streamPos);
    for (const l of this.listeners) {
      try {
        l(roomId, streamPos);
      } catch (e) {
        this.onListenerError(e);
      }
    }
    this.emitWake({ roomIds: [roomId], userIds: [] });
  }

  /**
   * Subscribes to every change that may interest a waiting /sync: new room events (as their room)
   * and the wakes below. Returns the function that unsubscribes.
   */
  onWake(listener: WakeListener): () => void {
    this.wakeListeners.add(listener);
    return () => this.wakeListeners.delete(listener);
  }

  /** A room-scoped non-event change (typing, receipts): wakes syncs of the room's members. */
  wakeRooms(roomIds: readonly string[]): void {
    if (roomIds.length) this.emitWake({ roomIds, userIds: [] });
  }

  /** A user-scoped change (account data, to-device, device lists, presence): wakes these users' syncs. */
  wakeUsers(userIds: readonly string[]): void {
    if (userIds.length) this.emitWake({ roomIds: [], userIds });
  }

  private emitWake(w: Wake): void {
    for (const l of this.wakeListeners) {
      try {
        l(w);
      } catch (e) {
        this.onListenerError(e);
      }
    }
  }

  /**
   * Resolves with the current position once it passes `sincePos`, or when `timeoutMs` elapses
   * (then with the unchanged position). For long-polling /sync.
   */
  waitForPosition(sincePos: number, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    if (this.position > sincePos || timeoutMs <= 0) return Promise.resolve(this.position);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        off();
        signal?.removeEventListener('abort', done);
        resolve(this.position);
      };
      const timer = setTimeout(done, timeoutMs);
      const off = this.onNewEvents((_room, pos) => {
        if (pos > sincePos) done();
      });
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export function createNotifier(onListenerError?: (err: unknown) => void): Notifier {
  return new Notifier(onListenerError);
}
