// GET /_matrix/client/v1/rooms/{roomId}/threads: thread roots of a room (include, from, limit).
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { enumParam, intParam, roomEventsOf } from './room-events-common.js';

/** Largest page of thread roots. */
const MAX_THREADS_LIMIT = 100;

export const threadsRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/threads',
    auth: 'required',
    versions: ['v1'],
    handler: ({ requester, params, query }) =>
      events.threads(requester, params.roomId!, {
        include: enumParam(query, 'include', ['all', 'participated'] as const, 'all'),
        from: query.from === '' ? undefined : query.from,
        // "Must be an integer greater than zero"; Synapse's default is 5.
        limit: intParam(query, 'limit', 5, { min: 1, max: MAX_THREADS_LIMIT }),
      }),
  });
};
