// PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}, PUT /_matrix/federation/v2/send_join/{roomId}/{eventId} (server-server API "Joining Rooms").
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseJson } from '../../core/json/parse.js';
import { MatrixError } from '../../errors.js';
import type { RawJson } from '../../federation/membership/index.js';
import type { AppServices } from '../app.js';
import { federationRoute, parseBodyKeepingText, type FederationRouteContext } from './route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body of a membership request as received (the PDU is parsed again strictly for its room version). */
    membershipBodyText?: string;
  }
}

/** The membership routes' body parser: the app's strict JSON, keeping the text of the body. */
function keepBodyText(app: FastifyInstance): void {
  parseBodyKeepingText(app, (request, text) => {
    const value = parseJson(text);
    request.membershipBodyText = text;
    return value;
  });
}

/** Answers with JSON text built from stored PDU texts. */
export function sendRawJson(reply: FastifyReply, r: RawJson): FastifyReply {
  return reply.code(200).type('application/json').send(r.rawJson);
}

export function requireBody(body: unknown): unknown {
  if (body === undefined) throw new MatrixError('M_NOT_JSON', 'Content not JSON.', 400);
  return body;
}

type Membership = NonNullable<NonNullable<AppServices['federation']>['membership']>;

/** A plugin of membership routes: mounted only with federation membership, the body text kept. */
export function membershipPlugin(services: AppServices, register: (app: FastifyInstance, membership: Membership) => void) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    keepBodyText(app);
    register(app, membership);
  };
}

/**
 * The plugin of a membership endpoint that exists as v1 and v2 (send_join, send_leave): PUT
 * `/{v}/{endpoint}/:roomId/:eventId`, under the room's ACL, with the body text kept. `v1` tells the
 * handler to answer in v1's `[200, {...}]` shape. Nothing is mounted without federation membership.
 */
export function v1AndV2MembershipRoutes(
  services: AppServices,
  endpoint: string,
  handle: (membership: Membership, ctx: FederationRouteContext, v1: boolean) => Promise<unknown>,
) {
  return membershipPlugin(services, (app, membership) => {
    for (const v of ['v1', 'v2'] as const) {
      federationRoute(app, services, {
        method: 'PUT',
        path: `/${v}/${endpoint}/:roomId/:eventId`,
        roomIdParam: 'roomId',
        handler: (ctx) => handle(membership, ctx, v === 'v1'),
      });
    }
  });
}

export function sendJoinRoutes(services: AppServices) {
  return v1AndV2MembershipRoutes(services, 'send_join', async (membership, { req, reply, origin, params, body }, v1) => {
    const r = await membership.server.sendJoin(origin, { roomId: params.roomId!, eventId: params.eventId!, body: requireBody(body), text: req.membershipBodyText }, v1);
    return sendRawJson(reply, r);
  });
}
