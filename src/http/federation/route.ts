// federationRoute(): registers one server-server endpoint under /_matrix/federation with X-Matrix
// request authentication (server-server API "Request Authentication") checked before the handler,
// and the room's server ACL ("Server Access Control Lists") when the route names a room.
//
// Usage, inside a route plugin:
//   federationRoute(app, services, {
//     method: 'GET', path: '/v1/state_ids/:roomId', roomIdParam: 'roomId',
//     handler: async ({ origin, params, query }) => ...,
//   });
// The handler returns the JSON body (status 200), or uses `reply` itself.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidServerName } from '../../core/ids.js';
import { JsonParseError } from '../../core/json/parse.js';
import { mayHoldPythonOnlyNumbers, parseJsonPreservingNumbers } from '../../core/json/preserving-parse.js';
import type { JsonValue } from '../../core/json/types.js';
import { MatrixError } from '../../errors.js';
import { serverAclAllows } from '../../federation/acl.js';
import type { KeyRing } from '../../federation/keys.js';
import { parseXMatrixHeader, verifyRequestSignature } from '../../federation/x-matrix.js';
import type { Store } from '../../store/index.js';
import type { AppServices } from '../app.js';
import { rawBodyOf, rememberRawBody } from '../raw-body.js';
import { firstValues } from '../shell.js';

export type FederationHttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface FederationRouteContext {
  req: FastifyRequest;
  reply: FastifyReply;
  /** The authenticated origin server; '' on routes with auth 'none'. */
  origin: string;
  /** Decoded path parameters. */
  params: Record<string, string>;
  /** Query parameters (a repeated parameter gives its first value; see `req.query` for all). */
  query: Record<string, string | undefined>;
  /** The parsed JSON body, undefined when the request had none. */
  body: unknown;
}

export interface FederationRouteSpec {
  method: FederationHttpMethod;
  /** Path after `/_matrix/federation`, in Fastify syntax, e.g. `/v1/send/:txnId`. */
  path: string;
  /** 'signed' (default): X-Matrix required. 'none': public (e.g. /version). */
  auth?: 'signed' | 'none';
  /** The path parameter holding a room ID whose m.room.server_acl the origin must pass. */
  roomIdParam?: string;
  /** Body limit in bytes for this route, when it differs from the app's. */
  bodyLimit?: number;
  handler: (ctx: FederationRouteContext) => Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The X-Matrix origin of a federation request, once authenticated. */
    federationOrigin?: string;
  }
}

/** Every Authorization header of the request (Node keeps only the first in `req.headers`). */
function authorizationHeaders(req: FastifyRequest): string[] {
  const raw = req.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'authorization') out.push(raw[i + 1]!);
  return out;
}

function unauthorized(message: string): MatrixError {
  return new MatrixError('M_UNAUTHORIZED', message, 401);
}

/**
 * Authenticates a federation request: the first X-Matrix header whose destination is ours (when it
 * names one) and whose signature verifies with a currently valid key of its origin wins. Returns the
 * origin; throws 401 M_UNAUTHORIZED otherwise.
 */
export async function authenticateFederationRequest(
  req: { method: string; url: string; headers: string[]; body: unknown; rawBody?: Uint8Array | undefined },
  ourServerName: string,
  keyRing: KeyRing,
  now: number,
): Promise<string> {
  const headers = req.headers.map(parseXMatrixHeader).filter((h) => h !== null);
  if (headers.length === 0) {
    throw unauthorized(req.headers.length === 0 ? 'Missing Authorization headers' : 'Malformed Authorization header');
  }
  let lastProblem = 'Invalid signature';
  // The body as Python read it, made when a signature fails over the parsed one (see raw-body.ts).
  let asSent: JsonValue | null | undefined;
  const bodyAsSent = (): JsonValue | null => {
    if (asSent !== undefined) return asSent;
    asSent = null;
    if (req.rawBody === undefined) return asSent;
    try {
      const text = utf8.decode(req.rawBody);
      if (mayHoldPythonOnlyNumbers(text)) asSent = parseJsonPreservingNumbers(text) as JsonValue;
    } catch {
      /* not JSON: the parsed body's check stands */
    }
    return asSent;
  };
  for (const h of headers) {
    if (h.destination !== undefined && h.destination !== ourServerName) {
      lastProblem = `Request is for ${h.destination}, not this server`;
      continue;
    }
    if (!isValidServerName(h.origin)) {
      lastProblem = 'Invalid origin';
      continue;
    }
    const publicKey = await keyRing.serverKey(h.origin, h.key, { validAtTs: now });
    if (publicKey === undefined) {
      lastProblem = `Unknown key ${h.key} of ${h.origin}`;
      continue;
    }
    const content = req.body === undefined ? undefined : (req.body as JsonValue);
    if (verifyRequestSignature({ method: req.method, uri: req.url, content }, h, h.destination ?? ourServerName, publicKey)) return h.origin;
    const sent = content === undefined ? null : bodyAsSent();
    if (sent !== null && verifyRequestSignature({ method: req.method, uri: req.url, content: sent }, h, h.destination ?? ourServerName, publicKey)) return h.origin;
    lastProblem = `Invalid signature from ${h.origin}`;
  }
  throw unauthorized(lastProblem);
}

/** Throws 403 M_FORBIDDEN when the room's current m.room.server_acl refuses `origin`. */
export async function checkServerAcl(store: Store | undefined, roomId: string, origin: string): Promise<void> {
  if (!store) return;
  const acl = await store.getCurrentStateEvent(roomId, 'm.room.server_acl', '');
  if (!acl) return;
  if (!serverAclAllows(acl.event.content as JsonValue, origin)) {
    throw new MatrixError('M_FORBIDDEN', 'Server is banned from room', 403);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Replaces the plugin's body parser with one that also hands the body's text to `parse`, for routes
 * that keep what the remote server sent (PDUs are parsed again strictly for their room version and
 * stored as received). `parse` returns the body value or throws a JsonParseError; an empty body, and
 * any body of an unknown path, is undefined. Invalid UTF-8 is refused as the app's parser does.
 */
export function parseBodyKeepingText(app: FastifyInstance, parse: (request: FastifyRequest, text: string) => unknown): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request: FastifyRequest, body: Buffer, done) => {
    if (body.length === 0 || request.is404) {
      done(null, undefined);
      return;
    }
    try {
      let text: string;
      try {
        text = utf8.decode(body);
      } catch {
        throw new JsonParseError('syntax', 'body is not valid UTF-8');
      }
      const value = parse(request, text);
      rememberRawBody(request, body);
      done(null, value);
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}

export function federationRoute(app: FastifyInstance, services: AppServices, spec: FederationRouteSpec): void {
  const auth = spec.auth ?? 'signed';
  // Apps built without the federation area (most tests) still mount the routes; signed ones then
  // refuse every request, as no origin can be authenticated.
  const keyRing = services.federation?.keyRing;
  const ourName = services.config.server_name;
  const clock = services.clock ?? Date.now;
  app.route({
    method: spec.method,
    url: `/_matrix/federation${spec.path}`,
    ...(spec.bodyLimit !== undefined ? { bodyLimit: spec.bodyLimit } : {}),
    // Refuse requests without any X-Matrix header before reading their body.
    onRequest: async (req) => {
      if (auth !== 'signed') return;
      const headers = authorizationHeaders(req);
      if (!headers.some((h) => parseXMatrixHeader(h) !== null)) {
        throw unauthorized(headers.length === 0 ? 'Missing Authorization headers' : 'Malformed Authorization header');
      }
    },
    // The signature covers the body, so this runs once it is parsed and before the handler.
    preHandler: async (req) => {
      if (auth !== 'signed') return;
      if (!keyRing) throw unauthorized('Federation is not enabled on this server');
      const origin = await authenticateFederationRequest(
        { method: req.method, url: req.url, headers: authorizationHeaders(req), body: req.body, rawBody: rawBodyOf(req) },
        ourName,
        keyRing,
        clock(),
      );
      req.federationOrigin = origin;
      // The origin is reachable again: retry anything queued for it now rather than after its
      // backoff (as Synapse resets retry timings on any authenticated request from a server).
      services.federation?.sender?.wake(origin, { resetBackoff: true });
      if (spec.roomIdParam) {
        const roomId = (req.params as Record<string, string> | undefined)?.[spec.roomIdParam];
        if (roomId) await checkServerAcl(services.store, roomId, origin);
      }
    },
    handler: async (req, reply) => {
      const result = await spec.handler({
        req,
        reply,
        origin: req.federationOrigin ?? '',
        params: (req.params ?? {}) as Record<string, string>,
        query: firstValues(req.query),
        body: req.body,
      });
      if (reply.sent) return reply;
      return result ?? {};
    },
  });
}
