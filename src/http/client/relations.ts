// GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]: child events
// of an event (from, to, limit, dir, recurse), with bundled aggregations.
import type { RoutePlugin } from '../app.js';
import { MAX_PAGE_LIMIT } from '../../rooms/room-events.js';
import { clientRoute } from './route.js';
import { boolParam, enumParam, intParam, roomEventsOf } from './room-events-common.js';

export const relationsRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  for (const suffix of ['', '/:relType', '/:relType/:eventType']) {
    clientRoute(app, users, {
      method: 'GET',
      path: `/rooms/:roomId/relations/:eventId${suffix}`,
      auth: 'required',
      versions: ['v1'],
      handler: ({ requester, params, query }) =>
        events.relations(requester, params.roomId!, params.eventId!, {
          relType: params.relType,
          eventType: params.eventType,
          from: query.from === '' ? undefined : query.from,
          to: query.to === '' ? undefined : query.to,
          // Synapse's default page of relations is 5.
          limit: intParam(query, 'limit', 5, { max: MAX_PAGE_LIMIT }),
          dir: enumParam(query, 'dir', ['b', 'f'] as const, 'b'),
          recurse: boolParam(query, 'recurse'),
        }),
    });
  }
};
