// GET /_matrix/federation/v1/user/devices/{userId}, POST /_matrix/federation/v1/user/keys/query, POST /_matrix/federation/v1/user/keys/claim (server-server API "Device Management", "End-to-End Encryption").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function userRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const queries = services.federation?.queries;
    if (!queries) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/user/devices/:userId',
      handler: async ({ params }) => queries.userDevices(params.userId!),
    });
    federationRoute(app, services, {
      method: 'POST',
      path: '/v1/user/keys/query',
      handler: async ({ body }) => queries.keysQuery(body),
    });
    federationRoute(app, services, {
      method: 'POST',
      path: '/v1/user/keys/claim',
      handler: async ({ body }) => queries.keysClaim(body),
    });
  };
}
