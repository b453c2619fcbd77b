// PUT /_matrix/client/{v3,r0}/rooms/{roomId}/send/{eventType}/{txnId}: send a message event (idempotent per device and txnId).
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { roomEventsOf } from './room-events-common.js';

export const sendRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'PUT',
    path: '/rooms/:roomId/send/:eventType/:txnId',
    auth: 'required',
    // Guest access: any event type since v1.2.
    allowGuest: true,
    rateLimit: 'message',
    handler: ({ requester, params, body }) => events.send(requester, params.roomId!, params.eventType!, params.txnId!, body),
  });
};
