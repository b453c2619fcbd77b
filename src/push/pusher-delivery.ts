// HTTP pusher delivery (Push Gateway API POST /_matrix/push/v1/notify): one queue per pusher, sent
// in order off the request path, retried with exponential backoff; pushkeys the gateway rejects
// remove their pusher. Sending never blocks persisting: jobs are queued after the event committed.
import type { JsonObject, JsonValue } from '../core/json/types.js';
import { isJsonObject } from '../core/json/types.js';
import type { PusherRow } from './store.js';

/** Something to tell a user's pushers: a notifying event, or only a new unread count. */
export type PushJob =
  | {
      readonly type: 'event';
      readonly userId: string;
      readonly roomId: string;
      readonly eventId: string;
      /** The tweaks of the matched rule's actions (sound, highlight, ...). */
      readonly tweaks: Readonly<Record<string, JsonValue>>;
    }
  | { readonly type: 'badge'; readonly userId: string };

/** What delivery needs from the push service. */
export interface DeliveryHost {
  /** The user's current pushers (read again before each attempt: they may have changed or gone). */
  pushersOf(userId: string): PusherRow[];
  /**
   * The `notification` object for a job and pusher, without `devices`; null when there is nothing
   * to send any more (the event is gone).
   */
  buildNotification(job: PushJob, pusher: PusherRow): Promise<JsonObject | null>;
  /** The gateway rejected the pusher's pushkey. */
  removePusher(userId: string, appId: string, pushkey: string): void;
}

export interface DeliveryLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PusherDeliveryOptions {
  /** Per-request timeout (default 10 s). */
  timeoutMs?: number;
  /** First retry delay after a failure (default 1 s, as Synapse), doubled each time... */
  initialBackoffMs?: number;
  /** ...up to this (default 1 h). */
  maxBackoffMs?: number;
  /** A notification still failing this long after its first failure is dropped (default 24 h). */
  giveUpAfterMs?: number;
  /** Jobs kept per pusher; the oldest are dropped beyond it (default 500). */
  maxQueuePerPusher?: number;
  fetch?: typeof fetch;
  clock?: () => number;
  logger?: DeliveryLogger;
}

/** The path every HTTP pusher URL must have (spec POST /pushers/set, data.url). */
export const NOTIFY_PATH = '/_matrix/push/v1/notify';

interface PusherQueue {
  readonly key: string;
  readonly userId: string;
  readonly appId: string;
  readonly pushkey: string;
  readonly jobs: PushJob[];
  running: boolean;
  timer: NodeJS.Timeout | null;
  backoffMs: number;
  failingSince: number | null;
}

/** The `devices` entry for a pusher (data minus url, pushkey_ts in seconds). */
export function deviceEntry(pusher: PusherRow, tweaks: Readonly<Record<string, JsonValue>> | undefined): JsonObject {
  const parsed: unknown = JSON.parse(pusher.data);
  const data: JsonObject = {};
  if (isJsonObject(parsed)) {
    for (const [k, v] of Object.entries(parsed)) {
      if (k !== 'url') Object.defineProperty(data, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }
  const device: JsonObject = { app_id: pusher.appId, pushkey: pusher.pushkey, pushkey_ts: Math.floor(pusher.pushkeyTs / 1000), data };
  if (tweaks && Object.keys(tweaks).length > 0) device.tweaks = { ...tweaks };
  return device;
}

/** The gateway URL of an HTTP pusher, or undefined. */
export function pusherUrl(pusher: PusherRow): string | undefined {
  const parsed: unknown = JSON.parse(pusher.data);
  return isJsonObject(parsed) && typeof parsed.url === 'string' ? parsed.url : undefined;
}

export class PusherDelivery {
  private readonly queues = new Map<string, PusherQueue>();
  private readonly timeoutMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly giveUpAfterMs: number;
  private readonly maxQueue: number;
  private readonly fetchFn: typeof fetch;
  private readonly clock: () => number;
  private readonly closing = new AbortController();
  private idleWaiters: (() => void)[] = [];
  /** Requests sent, successful or not (metrics and tests). */
  attempts = 0;

  constructor(
    private readonly host: DeliveryHost,
    private readonly opts: PusherDeliveryOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.initialBackoffMs = opts.initialBackoffMs ?? 1_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 3_600_000;
    this.giveUpAfterMs = opts.giveUpAfterMs ?? 86_400_000;
    this.maxQueue = opts.maxQueuePerPusher ?? 500;
    this.fetchFn = opts.fetch ?? fetch;
    this.clock = opts.clock ?? Date.now;
  }

  /** Queues the job for each HTTP pusher of its user. */
  enqueue(job: PushJob): void {
    if (this.closing.signal.aborted) return;
    for (const p of this.host.pushersOf(job.userId)) {
      if (p.kind !== 'http') continue;
      const key = `${p.userId}\u0000${p.appId}\u0000${p.pushkey}`;
      let q = this.queues.get(key);
      if (!q) {
        q = { key, userId: p.userId, appId: p.appId, pushkey: p.pushkey, jobs: [], running: false, timer: null, backoffMs: this.initialBackoffMs, failingSince: null };
        this.queues.set(key, q);
      }
      // A count update queued behind another one says nothing new.
      if (job.type === 'badge' && q.jobs.length > 0 && q.jobs[q.jobs.length - 1]!.type === 'badge') continue;
      q.jobs.push(job);
      if (q.jobs.length > this.maxQueue) q.jobs.shift();
      if (!q.running && q.timer === null) void this.run(q);
    }
  }

  /** Resolves once every queue is empty (retries waiting on their backoff count as work). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops sending: pending retries are dropped, requests in flight aborted. */
  close(): void {
    this.closing.abort();
    for (const q of this.queues.values()) {
      if (q.timer) clearTimeout(q.timer);
      q.timer = null;
      q.jobs.length = 0;
    }
    this.queues.clear();
    this.notifyIdle();
  }

  private isIdle(): boolean {
    for (const q of this.queues.values()) if (q.running || q.timer !== null || q.jobs.length > 0) return false;
    return true;
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0 || !this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async run(q: PusherQueue): Promise<void> {
    q.running = true;
    try {
      while (q.jobs.length > 0 && !this.closing.signal.aborted) {
        const pusher = this.host.pushersOf(q.userId).find((p) => p.appId === q.appId && p.pushkey === q.pushkey);
        if (!pusher || pusher.kind !== 'http') {
          q.jobs.length = 0;
          break;
        }
        const job = q.jobs[0]!;
        const ok = await this.deliver(job, pusher);
        if (ok) {
          q.jobs.shift();
          q.backoffMs = this.initialBackoffMs;
          q.failingSince = null;
          continue;
        }
        const now = this.clock();
        q.failingSince ??= now;
        if (now - q.failingSince >= this.giveUpAfterMs) {
          // Giving up, so that a fixed gateway does not receive a flood of stale notifications.
          this.opts.logger?.warn({ userId: q.userId, appId: q.appId }, 'giving up on a push notification');
          q.jobs.shift();
          q.backoffMs = this.initialBackoffMs;
          q.failingSince = null;
          continue;
        }
        const delay = q.backoffMs;
        q.backoffMs = Math.min(q.backoffMs * 2, this.maxBackoffMs);
        q.timer = setTimeout(() => {
          q.timer = null;
          void this.run(q);
        }, delay);
        q.timer.unref?.();
        return;
      }
    } finally {
      q.running = false;
      if (q.jobs.length === 0 && q.timer === null) this.queues.delete(q.key);
      this.notifyIdle();
    }
  }

  /** One attempt. True when done with the job (sent, or nothing to send); false to retry. */
  private async deliver(job: PushJob, pusher: PusherRow): Promise<boolean> {
    const url = pusherUrl(pusher);
    if (url === undefined) return true;
    let notification: JsonObject | null;
    try {
      notification = await this.host.buildNotification(job, pusher);
    } catch (err) {
      this.opts.logger?.warn({ err, userId: pusher.userId }, 'cannot build a push notification');
      return true;
    }
    if (notification === null) return true;
    const eventIdOnly = isEventIdOnly(pusher);
    // event_id_only carries no tweaks (as Synapse sends it).
    const tweaks = job.type === 'event' && !eventIdOnly ? job.tweaks : undefined;
    const body = JSON.stringify({ notification: { ...notification, devices: [deviceEntry(pusher, tweaks)] } });
    this.attempts++;
    let rejected: unknown;
    try {
      const res = await this.fetchFn(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        redirect: 'error',
        signal: AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
      const text = await res.text();
      if (res.status < 200 || res.status >= 300) {
        this.opts.logger?.info({ userId: pusher.userId, appId: pusher.appId, status: res.status }, 'push gateway refused a notification');
        return false;
      }
      try {
        const parsed: unknown = text.length > 0 ? JSON.parse(text) : {};
        rejected = isJsonObject(parsed) ? parsed.rejected : undefined;
      } catch {
        rejected = undefined;
      }
    } catch (err) {
      if (this.closing.signal.aborted) return true;
      this.opts.logger?.info({ userId: pusher.userId, appId: pusher.appId, err: (err as Error).message }, 'push gateway unreachable');
      return false;
    }
    // Only the pushkey we sent is ours to remove.
    if (Array.isArray(rejected) && rejected.includes(pusher.pushkey)) {
      this.opts.logger?.info({ userId: pusher.userId, appId: pusher.appId }, 'push gateway rejected the pushkey: removing the pusher');
      this.host.removePusher(pusher.userId, pusher.appId, pusher.pushkey);
    }
    return true;
  }
}

export function isEventIdOnly(pusher: PusherRow): boolean {
  const parsed: unknown = JSON.parse(pusher.data);
  return isJsonObject(parsed) && parsed.format === 'event_id_only';
}
