// clientRoute(): registers one client-server endpoint under every version prefix it exists under
// (/_matrix/client/v3 and /_matrix/client/r0 by default), with the access-token check built in.
//
// Usage, inside a route plugin:
//   clientRoute(app, users, {
//     method: 'GET', path: '/account/whoami', auth: 'required', allowGuest: true,
//     handler: async ({ requester }) => users.whoami(requester),
//   });
// `path` is the part after the version prefix, in Fastify syntax (`/devices/:deviceId`). The handler
// returns the JSON body (status 200), or uses `reply` itself for another status. With
// auth 'required' the handler gets a Requester; with 'optional' or 'none' it may be undefined.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Requester, UsersService } from '../../users/service.js';
import { authenticateRequest, type AuthMode } from './auth.js';
import { firstValues } from '../shell.js';
// The `app.rateLimiter` decoration is declared there.
import type {} from '../rate-limit.js';

/** matrix-nio and Hydrogen call r0 only; matrix-js-sdk and Element call v3 (clients-in-practice.md). */
export const DEFAULT_CLIENT_VERSIONS = ['v3', 'r0'] as const;

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** The actions the issue asks to rate-limit (Synapse: rc_login, rc_registration, rc_message, rc_joins). */
export type RateLimitedAction = 'login' | 'register' | 'message' | 'join';

export interface ClientRouteContext<A extends AuthMode> {
  req: FastifyRequest;
  reply: FastifyReply;
  requester: A extends 'required' ? Requester : Requester | undefined;
  /** Decoded path parameters. */
  params: Record<string, string>;
  /** Query parameters (strings; a repeated parameter gives its first value). */
  query: Record<string, string | undefined>;
  /** The parsed JSON body, undefined when the request had none. */
  body: unknown;
}

export interface ClientRouteSpec<A extends AuthMode> {
  method: HttpMethod;
  /** Path after `/_matrix/client/<version>`, e.g. `/user/:userId/filter`. */
  path: string;
  auth: A;
  /** Guests may call this endpoint (spec "Guest Access"); default false. */
  allowGuest?: boolean;
  /** Version prefixes to serve it under (default v3 and r0). */
  versions?: readonly string[];
  /** Body limit in bytes for this route, when it differs from the app's. */
  bodyLimit?: number;
  /**
   * Rate-limit bucket for this endpoint (M_LIMIT_EXCEEDED with retry_after_ms when exceeded; off when
   * config `rate_limiting: false`). Keyed by user for authenticated requests, else by client IP.
   */
  rateLimit?: RateLimitedAction;
  handler: (ctx: ClientRouteContext<A>) => Promise<unknown>;
}

export function clientRoute<A extends AuthMode>(app: FastifyInstance, users: UsersService, spec: ClientRouteSpec<A>): void {
  const rules = { mode: spec.auth, allowGuest: spec.allowGuest ?? false };
  for (const version of spec.versions ?? DEFAULT_CLIENT_VERSIONS) {
    app.route({
      method: spec.method,
      url: `/_matrix/client/${version}${spec.path}`,
      ...(spec.bodyLimit !== undefined ? { bodyLimit: spec.bodyLimit } : {}),
      // Authenticate before the body is read: a caller without a valid token costs no parsing.
      onRequest: async (req) => {
        req.requester = await authenticateRequest(req, users, rules);
      },
      handler: async (req, reply) => {
        const requester = req.requester;
        // Rate limit (src/http/rate-limit.ts): null/undefined when the app has none or limits are off.
        const limit = spec.rateLimit ? app.rateLimiter?.forAction(spec.rateLimit) : undefined;
        limit?.before(req, reply, requester, req.body);
        let result: unknown;
        try {
          result = await spec.handler({
            req,
            reply,
            requester: requester as ClientRouteContext<A>['requester'],
            params: (req.params ?? {}) as Record<string, string>,
            query: firstValues(req.query),
            body: req.body,
          });
        } catch (e) {
          limit?.failed(req, reply, requester, req.body, e);
          throw e;
        }
        limit?.after(req, reply, requester, req.body);
        if (reply.sent) return reply;
        return result ?? {};
      },
    });
  }
}

/** Sends a UIA 401 answer, or the result with 200 (for service calls returning `UiaResult`). */
export function sendUiaResult<T>(reply: FastifyReply, r: { uia: object } | { result: T }): T | FastifyReply {
  if ('uia' in r) return reply.code(401).type('application/json').send(r.uia);
  return r.result;
}
