// adminRoute(): registers one endpoint of Synapse's admin API under /_synapse/admin, authenticated
// like a client route (the same token check and account gate); plus the query parsing these
// endpoints share. IDs in paths may come raw (`@u:hs`, `!r:hs`, as synadm sends them) or
// percent-encoded: the router decodes both to the same parameter.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { Requester, UsersService } from '../../users/service.js';
import { authenticateRequest } from '../client/auth.js';

export interface AdminRouteContext {
  req: FastifyRequest;
  reply: FastifyReply;
  requester: Requester;
  params: Record<string, string>;
  /** First value of each query parameter. */
  query: Record<string, string | undefined>;
  /** Every value of a repeated query parameter. */
  queryAll(name: string): string[];
  body: unknown;
}

export interface AdminRouteSpec {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** Path after `/_synapse/admin`, e.g. `/v2/users/:userId`. */
  path: string;
  handler: (ctx: AdminRouteContext) => Promise<unknown>;
}

function queryValues(q: unknown, name: string): string[] {
  if (typeof q !== 'object' || q === null) return [];
  const v = (q as Record<string, unknown>)[name];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function adminRoute(app: FastifyInstance, users: UsersService, spec: AdminRouteSpec): void {
  app.route({
    method: spec.method,
    url: `/_synapse/admin${spec.path}`,
    // Authenticate before the body is read; whether the requester is an admin is the service's call.
    onRequest: async (req) => {
      req.requester = await authenticateRequest(req, users, { mode: 'required' });
    },
    handler: async (req, reply) => {
      const query: Record<string, string | undefined> = {};
      if (typeof req.query === 'object' && req.query !== null) {
        for (const k of Object.keys(req.query)) query[k] = queryValues(req.query, k)[0];
      }
      const result = await spec.handler({
        req,
        reply,
        requester: req.requester!,
        params: (req.params ?? {}) as Record<string, string>,
        query,
        queryAll: (name) => queryValues(req.query, name),
        body: req.body,
      });
      if (reply.sent) return reply;
      return result ?? {};
    },
  });
}

/**
 * A non-negative integer query parameter (Synapse's `parse_integer`): absent gives `def`; anything
 * else is 400 M_INVALID_PARAM; values above `max` are capped.
 */
export function nonNegativeIntParam(query: Record<string, string | undefined>, name: string, def: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = query[name];
  if (raw === undefined) return def;
  if (!/^[0-9]{1,15}$/.test(raw)) throw new MatrixError('M_INVALID_PARAM', `Query parameter ${JSON.stringify(name)} must be a non-negative integer`, 400);
  return Math.min(Number(raw), max);
}

/** A boolean query parameter (`true`/`false`, Synapse's `parse_boolean`); absent gives undefined. */
export function boolQueryParam(query: Record<string, string | undefined>, name: string): boolean | undefined {
  const raw = query[name];
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new MatrixError('M_INVALID_PARAM', `Boolean query parameter ${JSON.stringify(name)} must be one of ['true', 'false']`, 400);
}

/** An enumerated query parameter: absent gives `def`; other values are 400 M_INVALID_PARAM. */
export function enumQueryParam<T extends string>(query: Record<string, string | undefined>, name: string, allowed: readonly T[], def: T): T {
  const raw = query[name];
  if (raw === undefined) return def;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new MatrixError('M_INVALID_PARAM', `Query parameter ${JSON.stringify(name)} must be one of [${allowed.join(', ')}]`, 400);
  }
  return raw as T;
}
