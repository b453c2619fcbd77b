// GET /_matrix/client/{v3,r0}/rooms/{roomId}/messages: history pages (dir, from, to, limit, filter).
import type { RoutePlugin } from '../app.js';
import { parseRoomEventFilterParam } from '../../rooms/event-filter.js';
import { MAX_PAGE_LIMIT } from '../../rooms/room-events.js';
import { clientRoute } from './route.js';
import { enumParam, intParam, roomEventsOf } from './room-events-common.js';

export const messagesRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/messages',
    auth: 'required',
    allowGuest: true,
    handler: ({ requester, params, query }) =>
      events.messages(requester, params.roomId!, {
        // `dir` is required by the spec; Synapse defaults to forwards.
        dir: enumParam(query, 'dir', ['b', 'f'] as const, 'f'),
        // "END" (old clients) means no token, as Synapse reads it.
        from: query.from === '' || query.from === 'END' ? undefined : query.from,
        to: query.to === '' ? undefined : query.to,
        limit: intParam(query, 'limit', 10, { max: MAX_PAGE_LIMIT }),
        filter: parseRoomEventFilterParam(query.filter),
      }),
  });
};
