// GET /_matrix/federation/v1/event/{eventId} and GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}.
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function federationEventRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/event/:eventId',
      handler: async ({ reply, origin, params }) => {
        // The stored PDU texts are sent as they are, never re-serialised.
        reply.type('application/json').send(await inbound.events.event(origin, params.eventId!));
      },
    });
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/event_auth/:roomId/:eventId',
      roomIdParam: 'roomId',
      handler: async ({ reply, origin, params }) => {
        reply.type('application/json').send(await inbound.events.eventAuth(origin, params.roomId!, params.eventId!));
      },
    });
  };
}
