// GET /_matrix/client/{v3,r0}/rooms/{roomId}/event/{eventId}: one event, 404 when missing or not visible.
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { roomEventsOf } from './room-events-common.js';

export const eventRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'GET',
    path: '/rooms/:roomId/event/:eventId',
    auth: 'required',
    allowGuest: true,
    handler: ({ requester, params }) => events.getEvent(requester, params.roomId!, params.eventId!),
  });
};
