// POST /rooms/{roomId}/upgrade (client-server API "Room Upgrades").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function upgradeRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle: lifecycle } = services;
    if (!users || !lifecycle) return;
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/upgrade',
      auth: 'required',
      handler: async ({ requester, params, body }) => lifecycle.upgrade(requester, params.roomId!, body),
    });
  };
}
