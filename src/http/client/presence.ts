// GET|PUT /presence/{userId}/status (Client-Server API module "Presence").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function presenceRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, presence } = services;
    if (!users || !presence) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/presence/:userId/status',
      auth: 'required',
      handler: async ({ requester, params }) => presence.getPresence(requester.userId, params.userId!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/presence/:userId/status',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await presence.setPresence(requester.userId, params.userId!, body);
        return {};
      },
    });
  };
}
