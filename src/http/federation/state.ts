// GET /_matrix/federation/v1/state/{roomId}?event_id and GET /_matrix/federation/v1/state_ids/{roomId}?event_id.
import type { FastifyInstance } from 'fastify';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

function eventIdParam(query: Record<string, string | undefined>): string {
  const id = query.event_id;
  if (id === undefined || id === '') throw new MatrixError('M_MISSING_PARAM', 'Missing parameter: event_id', 400);
  return id;
}

export function federationStateRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const inbound = services.federation?.inbound;
    if (!inbound) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/state/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ reply, origin, params, query }) => {
        reply.type('application/json').send(await inbound.events.state(origin, params.roomId!, eventIdParam(query)));
      },
    });
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/state_ids/:roomId',
      roomIdParam: 'roomId',
      handler: async ({ origin, params, query }) => inbound.events.stateIds(origin, params.roomId!, eventIdParam(query)),
    });
  };
}
