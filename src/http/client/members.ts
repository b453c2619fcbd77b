// GET /_matrix/client/{v3,r0}/rooms/{roomId}/members (at, membership, not_membership) and
// GET /_matrix/client/{v3,r0}/rooms/{roomId}/joined_members.
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { enumParam, roomEventsOf } from './room-events-common.js';

const MEMBERSHIPS = ['join', 'invite', 'knock', 'leave', 'ban'] as const;

export const membersRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/members',
    auth: 'required',
    allowGuest: true,
    handler: ({ requester, params, query }) =>
      events.members(requester, params.roomId!, {
        at: query.at,
        membership: enumParam(query, 'membership', MEMBERSHIPS),
        notMembership: enumParam(query, 'not_membership', MEMBERSHIPS),
      }),
  });
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/joined_members',
    auth: 'required',
    handler: ({ requester, params }) => events.joinedMembers(requester, params.roomId!),
  });
};
