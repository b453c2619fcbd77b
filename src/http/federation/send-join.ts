// PUT /_matrix/federation/v1/send_join/{roomId}/{eventId}, PUT /_matrix/federation/v2/send_join/{roomId}/{eventId} (server-server API "Joining Rooms").
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { JsonParseError, parseJson } from '../../core/json/parse.js';
import { MatrixError } from '../../errors.js';
import type { RawJson } from '../../federation/membership/index.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The body of a membership request as received (the PDU is parsed again strictly for its room version). */
    membershipBodyText?: string;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** This plugin's body parser: the app's strict JSON, keeping the text of the body. */
export function keepBodyText(app: FastifyInstance): void {
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
      const value = parseJson(text);
      request.membershipBodyText = text;
      done(null, value);
    } catch (e) {
      done(e as Error, undefined);
    }
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

export function sendJoinRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    keepBodyText(app);
    for (const v of ['v1', 'v2'] as const) {
      federationRoute(app, services, {
        method: 'PUT',
        path: `/${v}/send_join/:roomId/:eventId`,
        roomIdParam: 'roomId',
        handler: async ({ req, reply, origin, params, body }) => {
          const r = await membership.server.sendJoin(
            origin,
            { roomId: params.roomId!, eventId: params.eventId!, body: requireBody(body), text: req.membershipBodyText },
            v === 'v1',
          );
          return sendRawJson(reply, r);
        },
      });
    }
  };
}
