// POST /_matrix/federation/v1/get_missing_events/{roomId}
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function federationMissingEventsRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    federationRoute(app, services, {
      method: 'POST',
      path: '/v1/get_missing_events/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ reply, origin, params, body }) => {
        reply.type('application/json').send(await inbound.events.missingEvents(origin, params.roomId!, body));
      },
    });
  };
}
