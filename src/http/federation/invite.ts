// PUT /_matrix/federation/v1/invite/{roomId}/{eventId}, PUT /_matrix/federation/v2/invite/{roomId}/{eventId} (server-server API "Inviting to a room").
import { isJsonObject } from '../../core/json/types.js';
import { topLevelMemberText } from '../../federation/membership/events.js';
import { MatrixError } from '../../errors.js';
import type { AppServices } from '../app.js';
import { federationRoute } from './route.js';
import { membershipPlugin, requireBody } from './send-join.js';

export function inviteRoutes(services: AppServices) {
  return membershipPlugin(services, (app, membership) => {
    federationRoute(app, services, {
      method: 'PUT',
      path: '/v2/invite/:roomId/:eventId',
      roomIdParam: 'roomId',
      handler: async ({ req, origin, params, body }) => {
        const b = requireBody(body);
        if (!isJsonObject(b)) throw new MatrixError('M_BAD_JSON', 'Body must be an object', 400);
        if (typeof b.room_version !== 'string') throw new MatrixError('M_MISSING_PARAM', 'Missing room_version', 400);
        if (!isJsonObject(b.event)) throw new MatrixError('M_MISSING_PARAM', 'Missing event', 400);
        const event = await membership.server.invite(origin, {
          roomId: params.roomId!,
          eventId: params.eventId!,
          roomVersion: b.room_version,
          event: b.event,
          eventText: req.membershipBodyText === undefined ? undefined : topLevelMemberText(req.membershipBodyText, 'event'),
          inviteRoomState: b.invite_room_state,
        });
        return { event };
      },
    });
    // v1: the body is the event, its invite state in `unsigned`; room versions 1 and 2 only.
    federationRoute(app, services, {
      method: 'PUT',
      path: '/v1/invite/:roomId/:eventId',
      roomIdParam: 'roomId',
      handler: async ({ req, origin, params, body }) => {
        const b = requireBody(body);
        if (!isJsonObject(b)) throw new MatrixError('M_BAD_JSON', 'Body must be an object', 400);
        const known = services.store?.core.room(params.roomId!)?.version.id;
        const unsigned = isJsonObject(b.unsigned) ? b.unsigned : {};
        const event = await membership.server.invite(origin, {
          roomId: params.roomId!,
          eventId: params.eventId!,
          roomVersion: known ?? '1',
          event: b,
          eventText: req.membershipBodyText,
          inviteRoomState: unsigned.invite_room_state,
        });
        return [200, { event }];
      },
    });
  });
}
