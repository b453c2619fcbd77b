// PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}, PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId} (server-server API "Leaving Rooms").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';
import { keepBodyText, requireBody } from './send-join.js';

export function sendLeaveRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const membership = services.federation?.membership;
    if (!membership) return;
    keepBodyText(app);
    for (const v of ['v1', 'v2'] as const) {
      federationRoute(app, services, {
        method: 'PUT',
        path: `/${v}/send_leave/:roomId/:eventId`,
        roomIdParam: 'roomId',
        handler: async ({ req, origin, params, body }) =>
          membership.server.sendLeave(origin, { roomId: params.roomId!, eventId: params.eventId!, body: requireBody(body), text: req.membershipBodyText }, v === 'v1'),
      });
    }
  };
}
