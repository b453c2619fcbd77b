// The account gate every authenticated client request passes after its token is resolved: locked
// accounts are refused (spec "Account locking"), suspended accounts may not do the restricted
// actions (spec "Account suspension", MSC3823), and the connection is recorded for whois.
// The flags live in memory (loaded at start, changed only through this module), so the check is a
// set lookup per request.
import { createLru } from '../core/lru.js';
import { MatrixError } from '../errors.js';
import type { AdminStore } from './store.js';

/** The part of a users/ Requester the gate reads. */
export interface GateRequester {
  readonly userId: string;
  readonly userNid: number;
  readonly deviceId: string;
  readonly accessTokenId: number;
}

/** What the gate needs to know about the HTTP request. */
export interface GateRequest {
  readonly method: string;
  /** The route's path template as registered (`/_matrix/client/v3/rooms/:roomId/send/...`). */
  readonly routeUrl: string | undefined;
  /** Decoded path parameters. */
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly ip: string | null | undefined;
  readonly userAgent: string | undefined;
}

/**
 * What a suspended user may not do through a route: refused outright, or allowed only for their
 * own event (redactions; `eventIdParam` names the path parameter holding the event).
 */
export type SuspensionRule = { readonly kind: 'forbidden'; readonly message: string } | { readonly kind: 'own-event'; readonly eventIdParam: string };

/** `/_matrix/client/<version>` (v1, v3, r0, unstable, unstable/<namespace>) in front of a client route. */
const CLIENT_PREFIX = /^\/_matrix\/client\/(?:v[0-9]+|r0|unstable(?:\/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+)?)(\/.*)$/;

/** The route template after the client prefix, split into segments (`:name` for parameters). */
export function clientRouteSegments(routeUrl: string): string[] | undefined {
  const m = CLIENT_PREFIX.exec(routeUrl);
  return m ? m[1]!.split('/').slice(1) : undefined;
}

const isParam = (s: string | undefined): boolean => s !== undefined && s.startsWith(':');

/**
 * The restriction a suspended account meets on a client route, per the spec's recommended set
 * ("Account suspension": joining, knocking, invites, sending messages, profile changes, redacting
 * others' events) and Synapse (room creation and upgrades send events too). Everything else (sync,
 * reading, leaving, keys, backup, devices, logout, deactivation) stays allowed. Pure.
 */
export function suspensionRuleFor(method: string, routeUrl: string): SuspensionRule | undefined {
  const seg = clientRouteSegments(routeUrl);
  if (!seg) return undefined;
  const forbidden = (message: string): SuspensionRule => ({ kind: 'forbidden', message });
  const [a, b, c, d, e] = seg;
  if (method === 'POST') {
    if (seg.length === 1 && a === 'createRoom') return forbidden('Room creation while account is suspended is not allowed.');
    if (seg.length === 2 && a === 'join' && isParam(b)) return forbidden('Joining rooms while account is suspended is not allowed.');
    if (seg.length === 2 && a === 'knock' && isParam(b)) return forbidden('Knocking on rooms while account is suspended is not allowed.');
    if (seg.length === 3 && a === 'rooms' && isParam(b)) {
      if (c === 'join') return forbidden('Joining rooms while account is suspended is not allowed.');
      if (c === 'invite') return forbidden('Sending invites while account is suspended is not allowed.');
      if (c === 'upgrade') return forbidden('Upgrading rooms while account is suspended is not allowed.');
    }
  }
  if (method === 'PUT' && a === 'rooms' && isParam(b)) {
    if (c === 'send') return forbidden('Sending messages while account is suspended is not allowed.');
    if (c === 'state') return forbidden('Sending state events while account is suspended is not allowed.');
    if (c === 'redact' && isParam(d) && isParam(e)) return { kind: 'own-event', eventIdParam: d!.slice(1) };
  }
  if ((method === 'PUT' || method === 'DELETE') && a === 'profile' && seg.length === 3) {
    return forbidden('Updating your profile while account is suspended is not allowed.');
  }
  return undefined;
}

/** POST /logout and /logout/all stay open to locked accounts (spec "Account locking"). */
export function lockExempt(method: string, routeUrl: string): boolean {
  const seg = clientRouteSegments(routeUrl);
  return method === 'POST' && seg !== undefined && seg[0] === 'logout' && (seg.length === 1 || (seg.length === 2 && seg[1] === 'all'));
}

export interface AccountGateDeps {
  readonly store: AdminStore;
  readonly clock: () => number;
  /** Sender of an event, if the server has it (for a suspended user's redactions). */
  readonly eventSender: (eventId: string) => Promise<string | undefined>;
  /** How often one (token, address, user agent) is written at most (default 60 s, as Synapse). */
  readonly clientIpWriteIntervalMs?: number;
  /** A failed write of a client address (logged; the request goes on). */
  readonly onError?: (err: unknown) => void;
}

/** Longest user agent kept. */
const MAX_USER_AGENT = 512;

export class AccountGate {
  private readonly suspended = new Set<number>();
  private readonly locked = new Set<number>();
  /** Users deactivated through the admin API while this process runs: their tokens stop at once. */
  private readonly deactivated = new Set<number>();
  /** Last write per (token, address, user agent). */
  private readonly lastIpWrite = createLru<string, number>(50_000);
  private readonly interval: number;

  constructor(private readonly deps: AccountGateDeps) {
    this.interval = deps.clientIpWriteIntervalMs ?? 60_000;
  }

  /** Reads the flags from the database (once, at start). */
  async load(): Promise<void> {
    for (const s of await this.deps.store.accountStatuses()) {
      if (s.suspended) this.suspended.add(s.userNid);
      if (s.locked) this.locked.add(s.userNid);
    }
  }

  isSuspended(userNid: number): boolean {
    return this.suspended.has(userNid);
  }

  isLocked(userNid: number): boolean {
    return this.locked.has(userNid);
  }

  async setSuspended(userNid: number, value: boolean): Promise<void> {
    await this.deps.store.setAccountFlag(userNid, 'suspended', value, this.deps.clock());
    if (value) this.suspended.add(userNid);
    else this.suspended.delete(userNid);
  }

  async setLocked(userNid: number, value: boolean): Promise<void> {
    await this.deps.store.setAccountFlag(userNid, 'locked', value, this.deps.clock());
    if (value) this.locked.add(userNid);
    else this.locked.delete(userNid);
  }

  /** The user was deactivated (or reactivated) by an admin. */
  markDeactivated(userNid: number, value: boolean): void {
    if (value) this.deactivated.add(userNid);
    else this.deactivated.delete(userNid);
  }

  /**
   * Runs after the access token resolved to `r`: throws 401 M_UNKNOWN_TOKEN for a user deactivated
   * meanwhile, 401 M_USER_LOCKED (soft_logout) for a locked account, 403 M_USER_SUSPENDED for a
   * restricted action of a suspended one; records the connection.
   */
  async check(r: GateRequester, req: GateRequest): Promise<void> {
    if (this.deactivated.has(r.userNid)) {
      throw new MatrixError('M_UNKNOWN_TOKEN', 'Unknown access token', 401, { soft_logout: false });
    }
    const url = req.routeUrl ?? '';
    if (this.locked.has(r.userNid) && !lockExempt(req.method, url)) {
      throw new MatrixError('M_USER_LOCKED', 'This account has been locked', 401, { soft_logout: true });
    }
    if (this.suspended.has(r.userNid)) {
      const rule = suspensionRuleFor(req.method, url);
      if (rule?.kind === 'forbidden') throw new MatrixError('M_USER_SUSPENDED', rule.message, 403);
      if (rule?.kind === 'own-event') {
        const eventId = req.params[rule.eventIdParam];
        // An unknown event is left to the route (404).
        const sender = eventId === undefined ? undefined : await this.deps.eventSender(eventId);
        if (sender !== undefined && sender !== r.userId) {
          throw new MatrixError('M_USER_SUSPENDED', 'You can only redact your own events while account is suspended.', 403);
        }
      }
    }
    this.recordConnection(r, req.ip ?? null, req.userAgent);
  }

  /** Writes (token's device, address, user agent, now) unless written for that token less than a minute ago. */
  private recordConnection(r: GateRequester, ip: string | null, userAgent: string | undefined): void {
    if (!ip) return;
    const ua = (userAgent ?? '').slice(0, MAX_USER_AGENT);
    const key = `${r.accessTokenId}\n${ip}\n${ua}`;
    const now = this.deps.clock();
    const last = this.lastIpWrite.get(key);
    if (last !== undefined && now - last < this.interval) return;
    this.lastIpWrite.set(key, now);
    this.deps.store.recordClientIp(r.userNid, r.deviceId, ip, ua, now).catch((e: unknown) => this.deps.onError?.(e));
  }
}
