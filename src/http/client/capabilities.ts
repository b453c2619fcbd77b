// GET /capabilities (client-server API "Capabilities negotiation").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function capabilitiesRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    clientRoute(app, users, {
      method: 'GET',
      path: '/capabilities',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => users.capabilities(requester),
    });
  };
}
