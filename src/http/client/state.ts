// GET/PUT /_matrix/client/{v3,r0}/rooms/{roomId}/state/{eventType}/{stateKey} (the empty state key with or
// without the trailing slash) and GET /_matrix/client/{v3,r0}/rooms/{roomId}/state.
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { enumParam, roomEventsOf } from './room-events-common.js';

export const stateRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  // `:stateKey` does not match an empty segment: the trailing-slash and no-slash forms are separate routes.
  for (const suffix of ['/:stateKey', '/', '']) {
    clientRoute(app, users, {
      method: 'GET',
      path: `/rooms/:roomId/state/:eventType${suffix}`,
      auth: 'required',
      allowGuest: true,
      handler: ({ requester, params, query }) => {
        // spec v1.16: `format=event` returns the whole client event.
        const format = enumParam(query, 'format', ['content', 'event'] as const, 'content');
        return events.getStateEvent(requester, params.roomId!, params.eventType!, params.stateKey ?? '', format);
      },
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: `/rooms/:roomId/state/:eventType${suffix}`,
      auth: 'required',
      allowGuest: true,
      handler: ({ requester, params, body }) => events.putState(requester, params.roomId!, params.eventType!, params.stateKey ?? '', body),
    });
  }
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/state',
    auth: 'required',
    allowGuest: true,
    handler: ({ requester, params }) => events.getState(requester, params.roomId!),
  });
};
