// Retry backoff of the outbound federation sender (pure): how long to wait after a failed
// transaction, and which failures are retried at all. Synapse-like: exponential with a cap.
import type { FederationError } from '../client.js';

export interface BackoffPolicy {
  /** The first interval after a success was followed by a failure. */
  readonly initialMs: number;
  readonly multiplier: number;
  /** The longest interval (Synapse caps its own at days; ours defaults to one day). */
  readonly maxMs: number;
  /** Random spread applied to each wait, as a fraction (0.2: +-20 %), so destinations do not retry in lockstep. */
  readonly jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  initialMs: 5_000,
  multiplier: 2,
  maxMs: 24 * 60 * 60 * 1000,
  jitter: 0.2,
};

/** The next (un-jittered) interval after a failure, given the current one (0 when the last attempt succeeded). */
export function nextRetryInterval(currentMs: number, policy: BackoffPolicy): number {
  if (currentMs <= 0) return Math.min(policy.initialMs, policy.maxMs);
  return Math.min(policy.maxMs, Math.max(policy.initialMs, Math.round(currentMs * policy.multiplier)));
}

/**
 * When to try again: `now` plus the interval spread by the jitter (`random` in [0, 1)), and never
 * earlier than a 429's Retry-After asks.
 */
export function retryAt(now: number, intervalMs: number, policy: BackoffPolicy, random: () => number, retryAfterMs?: number): number {
  const spread = 1 + (random() * 2 - 1) * policy.jitter;
  const wait = Math.max(Math.round(intervalMs * spread), retryAfterMs ?? 0);
  return now + Math.max(0, wait);
}

/**
 * What a failed transaction means for its items. `retry`: the destination is unreachable or
 * failing (no answer, 5xx, 429): keep everything and back off. `drop`: the destination answered and
 * refused the transaction as a whole (any other 4xx, e.g. 400 for a malformed one): retrying the
 * same content cannot succeed, so it is dropped with a log, and the destination is not backed off.
 */
export function classifyFailure(err: unknown): 'retry' | 'drop' {
  const status = (err as Partial<FederationError> | undefined)?.status;
  if (typeof status !== 'number' || status === 0) return 'retry';
  if (status === 429 || status >= 500) return 'retry';
  if (status >= 400) return 'drop';
  return 'retry';
}
