// GET /_matrix/federation/v1/make_leave/{roomId}/{userId} (server-server API "Leaving Rooms (Rejecting Invites)").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function makeLeaveRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/make_leave/:roomId/:userId',
      roomIdParam: 'roomId',
      handler: async ({ origin, params }) => membership.server.makeMembership('leave', origin, params.roomId!, params.userId!, undefined),
    });
  };
}
