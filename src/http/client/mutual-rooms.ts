// GET /_matrix/client/v1/mutual_rooms (client-server API "Mutual rooms").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function mutualRoomsRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;
    clientRoute(app, users, {
      method: 'GET',
      path: '/mutual_rooms',
      auth: 'required',
      versions: ['v1'],
      handler: async ({ requester, query }) => admin.lookups.mutualRooms(requester, query.user_id, query.from),
    });
  };
}
