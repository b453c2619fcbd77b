// GET /_matrix/federation/v1/make_knock/{roomId}/{userId}?ver=... (server-server API "Knocking upon a room").
import type { FastifyInstance } from 'fastify';
import { requestedVersions } from '../../federation/membership/index.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';

export function makeKnockRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    federationRoute(app, services, {
      method: 'GET',
      path: '/v1/make_knock/:roomId/:userId',
      roomIdParam: 'roomId',
      handler: async ({ req, origin, params }) =>
        membership.server.makeMembership('knock', origin, params.roomId!, params.userId!, requestedVersions(req.query)),
    });
  };
}
