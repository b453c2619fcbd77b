// GET|PUT|DELETE /directory/room/{roomAlias}, GET /rooms/{roomId}/aliases (client-server API "Room aliases").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function aliasRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, roomLifecycle: lifecycle } = services;
    if (!users || !lifecycle) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/directory/room/:roomAlias',
      auth: 'none',
      handler: async ({ params }) => lifecycle.getAlias(params.roomAlias!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/directory/room/:roomAlias',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await lifecycle.setAlias(requester, params.roomAlias!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: '/directory/room/:roomAlias',
      auth: 'required',
      handler: async ({ requester, params }) => {
        await lifecycle.deleteAlias(requester, params.roomAlias!);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/rooms/:roomId/aliases',
      auth: 'required',
      handler: async ({ requester, params }) => lifecycle.localAliases(requester, params.roomId!),
    });
  };
}
