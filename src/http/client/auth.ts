// The access-token check for client-server routes: reads `Authorization: Bearer` or `?access_token=`,
// resolves it through the users service, enforces the guest rules (spec "Guest Access") and passes
// the account gate (locked and suspended accounts, client addresses; src/admin/account-status.ts).
import type { FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { Requester, UsersService } from '../../users/service.js';
import type { AccountGate } from '../../admin/account-status.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by clientRoute() before the handler runs; undefined for unauthenticated calls. */
    requester?: Requester | undefined;
  }
  interface FastifyInstance {
    /** Set by buildApp (AppServices.admin.gate); null when the app has none. */
    accountGate: AccountGate | null;
  }
}

/** How a route authenticates: `required` (401 without a token), `optional`, or `none` (token ignored). */
export type AuthMode = 'required' | 'optional' | 'none';

export interface AuthRules {
  mode: AuthMode;
  /** Guest accounts may call this route (the spec's list in "Guest Access"); default false. */
  allowGuest?: boolean;
}

/**
 * The access token of the request, if any (spec "Using access tokens": both the Authorization
 * header and the deprecated query parameter MUST be supported). A malformed Authorization header is
 * refused rather than silently ignored.
 */
export function extractAccessToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new MatrixError('M_MISSING_TOKEN', 'Invalid Authorization header', 401);
    return m[1]!;
  }
  const q = (req.query as Record<string, unknown> | undefined)?.access_token;
  const token = Array.isArray(q) ? q[0] : q;
  return typeof token === 'string' && token.length > 0 ? token : undefined;
}

/**
 * Authenticates the request per `rules`: returns the requester, or undefined for an optional route
 * called without a token. Throws 401 M_MISSING_TOKEN / M_UNKNOWN_TOKEN, 401 M_USER_LOCKED,
 * 403 M_USER_SUSPENDED, and 403 M_GUEST_ACCESS_FORBIDDEN for guests on routes not open to them or
 * when guest access is off.
 */
export async function authenticateRequest(req: FastifyRequest, users: UsersService, rules: AuthRules): Promise<Requester | undefined> {
  if (rules.mode === 'none') return undefined;
  const token = extractAccessToken(req);
  if (token === undefined) {
    if (rules.mode === 'optional') return undefined;
    throw new MatrixError('M_MISSING_TOKEN', 'Missing access token', 401);
  }
  const requester = await users.authenticate(token, req.ip ?? null);
  // Locked accounts (401 M_USER_LOCKED), restricted actions of suspended ones (403 M_USER_SUSPENDED).
  const gate = req.server.accountGate;
  if (gate) {
    const ua = req.headers['user-agent'];
    await gate.check(requester, {
      method: req.method,
      routeUrl: req.routeOptions.url,
      params: (req.params ?? {}) as Record<string, string | undefined>,
      ip: req.ip,
      userAgent: typeof ua === 'string' ? ua : undefined,
    });
  }
  if (requester.isGuest && !(rules.allowGuest && users.allowGuestAccess)) {
    throw new MatrixError('M_GUEST_ACCESS_FORBIDDEN', 'Guest access not allowed', 403);
  }
  return requester;
}
