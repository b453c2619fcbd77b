// GET /_matrix/federation/v1/openid/userinfo?access_token (server-server API "OpenID"; not signed: the token is the credential).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function openIdRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const queries = services.federation?.queries;
    if (!queries) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/openid/userinfo',
      auth: 'none',
      handler: async ({ query }) => queries.openIdUserinfo(query.access_token),
    });
  };
}
