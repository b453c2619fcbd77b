// GET /initialSync, /rooms/{roomId}/initialSync, /events, /events/{eventId}: the deprecated reads some old
// clients still call (client-server API, deprecated endpoints and "Room previews").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { createLegacySync } from '../../admin/legacy-sync.js';
import { clientRoute } from './route.js';
import { boolParam, intParam, roomEventsOf } from './room-events-common.js';

/** Longest wait of GET /events, and its default (Synapse's). */
const MAX_EVENTS_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_EVENTS_TIMEOUT_MS = 30_000;

export function legacySyncRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    const store = services.store;
    const roomEvents = roomEventsOf(services);
    if (!users || !store || !roomEvents) return;
    const legacy = createLegacySync({
      store,
      roomEvents,
      users,
      notifier: services.notifier,
      receipts: services.receipts,
      presence: services.presence,
      txnLookup: services.txns?.lookup,
      isPublished: async (roomId) => (await services.roomLifecycle?.getVisibility(roomId))?.visibility === 'public',
      ...(services.clock ? { clock: services.clock } : {}),
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/initialSync',
      auth: 'required',
      handler: async ({ requester, query }) =>
        legacy.initialSync(requester, { limit: intParam(query, 'limit', 10, { max: 100 }), archived: boolParam(query, 'archived') ?? false }),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/rooms/:roomId/initialSync',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, query }) => legacy.roomInitialSync(requester, params.roomId!, intParam(query, 'limit', 10, { max: 100 })),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/events',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, query }) =>
        legacy.events(requester, {
          from: query.from,
          timeoutMs: intParam(query, 'timeout', DEFAULT_EVENTS_TIMEOUT_MS, { max: MAX_EVENTS_TIMEOUT_MS }),
          roomId: query.room_id,
        }),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/events/:eventId',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params }) => legacy.event(requester, params.eventId!),
    });
  };
}
