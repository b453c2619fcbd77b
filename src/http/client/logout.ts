// POST /logout, POST /logout/all (client-server API "Login": logout).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function logoutRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/logout',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => {
        await users.logout(requester);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/logout/all',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => {
        await users.logoutAll(requester);
        return {};
      },
    });
  };
}
