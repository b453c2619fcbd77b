// GET /joined_rooms (client-server API "Room membership").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function joinedRoomsRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle: lifecycle } = services;
    if (!users || !lifecycle) return;
    clientRoute(app, users, {
      method: 'GET',
      path: '/joined_rooms',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => lifecycle.joinedRooms(requester),
    });
  };
}
