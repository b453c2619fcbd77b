// GET|PUT /directory/list/room/{roomId}, GET|POST /publicRooms (client-server API "Published room directory").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { parsePublicRoomsBody, parsePublicRoomsQuery } from '../../rooms/lifecycle/index.js';
import { clientRoute } from './route.js';

export function directoryRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle: lifecycle } = services;
    if (!users || !lifecycle) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/directory/list/room/:roomId',
      auth: 'none',
      handler: async ({ params }) => lifecycle.getVisibility(params.roomId!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/directory/list/room/:roomId',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await lifecycle.setVisibility(requester, params.roomId!, body);
        return {};
      },
    });
    // The spec lists GET without authentication; a token, when sent, is still checked.
    clientRoute(app, users, {
      method: 'GET',
      path: '/publicRooms',
      auth: 'optional',
      allowGuest: true,
      handler: async ({ query }) => {
        const { server, ...params } = parsePublicRoomsQuery(query);
        return lifecycle.publicRooms(params, server);
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/publicRooms',
      auth: 'required',
      allowGuest: true,
      handler: async ({ query, body }) => lifecycle.publicRooms(parsePublicRoomsBody(body), query.server || undefined),
    });
  };
}
