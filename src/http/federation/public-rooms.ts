// GET /_matrix/federation/v1/publicRooms, POST /_matrix/federation/v1/publicRooms (server-server API "Public Room Directory").
import type { FastifyInstance } from 'fastify';
import { parsePublicRoomsBody, parsePublicRoomsQuery } from '../../rooms/lifecycle/index.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function publicRoomsRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const queries = services.federation?.queries;
    if (!queries) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/publicRooms',
      handler: async ({ query }) => {
        const { server: _server, ...params } = parsePublicRoomsQuery(query);
        return queries.publicRooms(params);
      },
    });
    federationRoute(app, services, {
      method: 'POST',
      path: '/v1/publicRooms',
      handler: async ({ body }) => queries.publicRooms(parsePublicRoomsBody(body ?? {})),
    });
  };
}
