// PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId} (server-server API "Knocking upon a room").
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';
import { membershipPlugin, requireBody, sendRawJson } from './send-join.js';

export function sendKnockRoutes(services: AppServices) {
  return membershipPlugin(services, (app, membership) => {
    federationRoute(app, services, {
      method: 'PUT',
      path: '/v1/send_knock/:roomId/:eventId',
      roomIdParam: 'roomId',
      handler: async ({ req, reply, origin, params, body }) =>
        sendRawJson(
          reply,
          await membership.server.sendKnock(origin, { roomId: params.roomId!, eventId: params.eventId!, body: requireBody(body), text: req.membershipBodyText }),
        ),
    });
  });
}
