// GET /_matrix/federation/v1/query/directory?room_alias, GET /_matrix/federation/v1/query/profile?user_id&field (server-server API "Querying for information").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function queryRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const queries = services.federation?.queries;
    if (!queries) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/query/directory',
      handler: async ({ query }) => queries.directory(query.room_alias),
    });
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/query/profile',
      handler: async ({ query }) => queries.profile(query.user_id, query.field),
    });
  };
}
