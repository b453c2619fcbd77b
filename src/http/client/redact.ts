// PUT /_matrix/client/{v3,r0}/rooms/{roomId}/redact/{eventId}/{txnId}: redact an event (idempotent per device and txnId).
import type { RoutePlugin } from '../app.js';
import { clientRoute } from './route.js';
import { roomEventsOf } from './room-events-common.js';

export const redactRoutes: RoutePlugin = (services) => async (app) => {
  const users = services.users;
  const events = roomEventsOf(services);
  if (!users || !events) return;
  clientRoute(app, users, {
    method: 'PUT',
    path: '/rooms/:roomId/redact/:eventId/:txnId',
    auth: 'required',
    rateLimit: 'message',
    handler: ({ requester, params, body }) => events.redact(requester, params.roomId!, params.eventId!, params.txnId!, body),
  });
};
