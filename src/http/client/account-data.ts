// GET|PUT /user/{userId}/account_data/{type}, GET|PUT /user/{userId}/rooms/{roomId}/account_data/{type},
// GET /user/{userId}/rooms/{roomId}/tags, PUT|DELETE /user/{userId}/rooms/{roomId}/tags/{tag}
// (modules "Client Config" and "Room Tagging"; tags are stored as m.tag room account data).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function accountDataRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/user/:userId/account_data/:type',
      auth: 'required',
      handler: async ({ requester, params }) => users.getAccountData(requester, params.userId!, null, params.type!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/user/:userId/account_data/:type',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await users.setAccountData(requester, params.userId!, null, params.type!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/user/:userId/rooms/:roomId/account_data/:type',
      auth: 'required',
      handler: async ({ requester, params }) => users.getAccountData(requester, params.userId!, params.roomId!, params.type!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/user/:userId/rooms/:roomId/account_data/:type',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await users.setAccountData(requester, params.userId!, params.roomId!, params.type!, body);
        return {};
      },
    });

    clientRoute(app, users, {
      method: 'GET',
      path: '/user/:userId/rooms/:roomId/tags',
      auth: 'required',
      handler: async ({ requester, params }) => users.getRoomTags(requester, params.userId!, params.roomId!),
    });
    clientRoute(app, users, {
      method: 'PUT',
      path: '/user/:userId/rooms/:roomId/tags/:tag',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await users.setRoomTag(requester, params.userId!, params.roomId!, params.tag!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'DELETE',
      path: '/user/:userId/rooms/:roomId/tags/:tag',
      auth: 'required',
      handler: async ({ requester, params }) => {
        await users.deleteRoomTag(requester, params.userId!, params.roomId!, params.tag!);
        return {};
      },
    });
  };
}
