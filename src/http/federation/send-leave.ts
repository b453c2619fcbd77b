// PUT /_matrix/federation/v1/send_leave/{roomId}/{eventId}, PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId} (server-server API "Leaving Rooms").
import type { AppServices } from '../app.js';
import { requireBody, v1AndV2MembershipRoutes } from './send-join.js';

export function sendLeaveRoutes(services: AppServices) {
  return v1AndV2MembershipRoutes(services, 'send_leave', async (membership, { req, origin, params, body }, v1) =>
    membership.server.sendLeave(origin, { roomId: params.roomId!, eventId: params.eventId!, body: requireBody(body), text: req.membershipBodyText }, v1),
  );
}
