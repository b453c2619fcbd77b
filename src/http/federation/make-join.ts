// GET /_matrix/federation/v1/make_join/{roomId}/{userId}?ver=... (server-server API "Joining Rooms").
import type { FastifyInstance } from 'fastify';
import { requestedVersions } from '../../federation/membership/index.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function makeJoinRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/make_join/:roomId/:userId',
      roomIdParam: 'roomId',
      handler: async ({ req, origin, params }) =>
        membership.server.makeMembership('join', origin, params.roomId!, params.userId!, requestedVersions(req.query)),
    });
  };
}
