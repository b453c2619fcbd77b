// Client rate limits (spec client-server "Rate limiting"; Synapse's rc_* settings): leaky buckets
// per action and per user or client address, in bounded memory, applied by clientRoute() to routes
// declaring `rateLimit`. Exceeding one answers 429 M_LIMIT_EXCEEDED with retry_after_ms and
// Retry-After.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LRUCache } from 'lru-cache';
import { createLru } from '../core/lru.js';
import { MatrixError, isMatrixError } from '../errors.js';
import { isJsonObject } from '../core/json/types.js';
import type { RateLimitedAction } from './client/route.js';
import type { Requester } from '../users/service.js';

/** One limiter's setting: `perSecond` actions on average, bursts of up to `burstCount`. */
export interface RateLimitSettings {
  readonly perSecond: number;
  readonly burstCount: number;
}

/**
 * A set of leaky buckets, one per key. Each key's level rises by one per action and drains at
 * `perSecond`; an action that would lift it above `burstCount` is refused (and not counted). The
 * same arithmetic as Synapse's Ratelimiter: after a burst of N, the next action is allowed
 * 1/perSecond seconds later.
 */
export class LeakyBuckets {
  private readonly levels: LRUCache<string, { level: number; at: number }>;

  constructor(
    readonly settings: RateLimitSettings,
    private readonly now: () => number,
    maxKeys = 100_000,
  ) {
    // Least-recently-used keys go first when full; an evicted key has usually drained already.
    this.levels = createLru(maxKeys);
  }

  private levelAt(key: string, t: number): number {
    const e = this.levels.get(key);
    if (!e) return 0;
    const level = e.level - ((t - e.at) / 1000) * this.settings.perSecond;
    if (level <= 0) {
      this.levels.delete(key);
      return 0;
    }
    return level;
  }

  /**
   * Whether `n` more actions fit now; with `record`, counts them when they do. `retryAfterMs` is
   * how long until they would fit (0 when allowed).
   */
  check(key: string, opts: { record?: boolean; n?: number } = {}): { allowed: boolean; retryAfterMs: number } {
    const n = opts.n ?? 1;
    const { perSecond, burstCount } = this.settings;
    const t = this.now();
    const level = this.levelAt(key, t);
    if (level + n > burstCount) {
      const retryAfterMs = perSecond > 0 ? Math.ceil(((level + n - burstCount) / perSecond) * 1000) : Number.MAX_SAFE_INTEGER;
      return { allowed: false, retryAfterMs };
    }
    if (opts.record ?? true) this.levels.set(key, { level: level + n, at: t });
    return { allowed: true, retryAfterMs: 0 };
  }

  /** Counts actions that already happened (even beyond the limit, as Synapse's record_action). */
  record(key: string, n = 1): void {
    const t = this.now();
    this.levels.set(key, { level: this.levelAt(key, t) + n, at: t });
  }
}

/** The config keys read here (Synapse's names). */
export interface RateLimitConfigView {
  rate_limiting: boolean;
  server_name: string;
  rc_message: { per_second: number; burst_count: number };
  rc_registration: { per_second: number; burst_count: number };
  rc_login: {
    address: { per_second: number; burst_count: number };
    account: { per_second: number; burst_count: number };
    failed_attempts: { per_second: number; burst_count: number };
  };
  rc_joins: { local: { per_second: number; burst_count: number } };
}

/** What a limited route's handler is wrapped with (see clientRoute). */
export interface RouteRateLimit {
  /** Before the handler: throws 429 when the request may not proceed. */
  before(req: FastifyRequest, reply: FastifyReply, requester: Requester | undefined, body: unknown): void;
  /** After the handler returned: counts what only counts on success. */
  after(req: FastifyRequest, reply: FastifyReply, requester: Requester | undefined, body: unknown): void;
  /** After the handler threw: counts failures (failed logins). */
  failed(req: FastifyRequest, reply: FastifyReply, requester: Requester | undefined, body: unknown, err: unknown): void;
}

export interface RateLimiter {
  readonly enabled: boolean;
  /** The wrapper for routes declaring `rateLimit: action`, or undefined when limits are off. */
  forAction(action: RateLimitedAction): RouteRateLimit | undefined;
  /** The buckets, for tests and other callers that limit outside routes. */
  readonly buckets: {
    readonly message: LeakyBuckets;
    readonly join: LeakyBuckets;
    readonly registration: LeakyBuckets;
    readonly loginAddress: LeakyBuckets;
    readonly loginAccount: LeakyBuckets;
    readonly loginFailed: LeakyBuckets;
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by buildApp (AppServices.rateLimiter); null when the app has none. */
    rateLimiter: RateLimiter | null;
  }
}

function settings(s: { per_second: number; burst_count: number }): RateLimitSettings {
  return { perSecond: s.per_second, burstCount: s.burst_count };
}

/** Answers 429 (spec: errcode M_LIMIT_EXCEEDED, retry_after_ms; Retry-After in seconds since v1.10). */
export function limitExceeded(reply: FastifyReply, retryAfterMs: number): MatrixError {
  const ms = Math.max(0, Math.min(retryAfterMs, 24 * 3600 * 1000));
  reply.header('retry-after', String(Math.ceil(ms / 1000)));
  return new MatrixError('M_LIMIT_EXCEEDED', 'Too Many Requests', 429, { retry_after_ms: ms });
}

/**
 * The user a login request names (identifier.user or the deprecated top-level `user`), as a
 * lower-cased full user ID, so the per-account buckets count "alice", "@Alice:hs" alike.
 * Undefined for third-party identifiers and token logins.
 */
export function loginAccountKey(body: unknown, serverName: string): string | undefined {
  if (!isJsonObject(body)) return undefined;
  let user: unknown;
  const id = body.identifier;
  if (isJsonObject(id)) {
    if (id.type === 'm.id.user') user = id.user;
  } else {
    user = body.user;
  }
  if (typeof user !== 'string' || user.length === 0 || user.length > 512) return undefined;
  const lower = user.toLowerCase();
  return lower.startsWith('@') ? lower : `@${lower}:${serverName.toLowerCase()}`;
}

/** The client's address: Fastify's req.ip (honours X-Forwarded-For only on x_forwarded listeners). */
function addressOf(req: FastifyRequest): string {
  return req.ip || req.socket?.remoteAddress || 'unknown';
}

export function createRateLimiter(config: RateLimitConfigView, clock: () => number = Date.now): RateLimiter {
  const buckets = {
    message: new LeakyBuckets(settings(config.rc_message), clock),
    join: new LeakyBuckets(settings(config.rc_joins.local), clock),
    registration: new LeakyBuckets(settings(config.rc_registration), clock),
    loginAddress: new LeakyBuckets(settings(config.rc_login.address), clock),
    loginAccount: new LeakyBuckets(settings(config.rc_login.account), clock),
    loginFailed: new LeakyBuckets(settings(config.rc_login.failed_attempts), clock),
  };
  const enabled = config.rate_limiting;

  const enforce = (b: LeakyBuckets, key: string, reply: FastifyReply, record: boolean) => {
    const r = b.check(key, { record });
    if (!r.allowed) throw limitExceeded(reply, r.retryAfterMs);
  };
  const noop = () => {};

  /** Messages and joins: per user; server admins are not limited. */
  const perUser = (b: LeakyBuckets): RouteRateLimit => ({
    before(req, reply, requester) {
      if (requester?.isAdmin) return;
      enforce(b, requester ? requester.userId : `ip:${addressOf(req)}`, reply, true);
    },
    after: noop,
    failed: noop,
  });

  // Registration: per address; checked before, counted only when an account was created (the
  // UIA round trips of one registration are one action, as in Synapse).
  const register: RouteRateLimit = {
    before(req, reply) {
      enforce(buckets.registration, addressOf(req), reply, false);
    },
    after(req, reply) {
      if (reply.statusCode < 300) buckets.registration.record(addressOf(req));
    },
    failed: noop,
  };

  // Login: every attempt counts per address; per account, attempts are checked before and
  // counted when they succeed, and failed attempts (403) counted separately (Synapse's
  // rc_login.address / account / failed_attempts).
  const login: RouteRateLimit = {
    before(req, reply, _requester, body) {
      enforce(buckets.loginAddress, addressOf(req), reply, true);
      const account = loginAccountKey(body, config.server_name);
      if (account !== undefined) {
        enforce(buckets.loginFailed, account, reply, false);
        enforce(buckets.loginAccount, account, reply, false);
      }
    },
    after(_req, reply, _requester, body) {
      if (reply.statusCode >= 300) return;
      const account = loginAccountKey(body, config.server_name);
      if (account !== undefined) buckets.loginAccount.record(account);
    },
    failed(_req, _reply, _requester, body, err) {
      if (!isMatrixError(err) || err.errcode !== 'M_FORBIDDEN') return;
      const account = loginAccountKey(body, config.server_name);
      if (account !== undefined) buckets.loginFailed.record(account);
    },
  };

  const byAction: Record<RateLimitedAction, RouteRateLimit> = {
    message: perUser(buckets.message),
    join: perUser(buckets.join),
    register,
    login,
  };

  return {
    enabled,
    buckets,
    forAction: (action) => (enabled ? byAction[action] : undefined),
  };
}
