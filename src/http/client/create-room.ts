// POST /createRoom (client-server API "Creation").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function createRoomRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle } = services;
    if (!users || !roomLifecycle) return;
    clientRoute(app, users, {
      method: 'POST',
      path: '/createRoom',
      auth: 'required',
      handler: async ({ requester, body }) => roomLifecycle.createRoom(requester, body),
    });
  };
}
