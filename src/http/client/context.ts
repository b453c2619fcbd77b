// GET /_matrix/client/{v3,r0}/rooms/{roomId}/context/{eventId}: events around an event (limit, filter).
import type { RoutePlugin } from '../app.js';
import { parseRoomEventFilterParam } from '../../rooms/event-filter.js';
import { MAX_PAGE_LIMIT } from '../../rooms/room-events.js';
import { clientRoute } from './route.js';
import { intParam, roomEventsOf } from './room-events-common.js';

export const contextRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/context/:eventId',
    auth: 'required',
    allowGuest: true,
    handler: ({ requester, params, query }) =>
      events.context(requester, params.roomId!, params.eventId!, {
        limit: intParam(query, 'limit', 10, { max: MAX_PAGE_LIMIT }),
        filter: parseRoomEventFilterParam(query.filter),
      }),
  });
};
