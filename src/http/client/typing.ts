// PUT /rooms/{roomId}/typing/{userId} (Client-Server API module "Typing Notifications").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function typingRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, typing } = services;
    if (!users || !typing) return;

    clientRoute(app, users, {
      method: 'PUT',
      path: '/rooms/:roomId/typing/:userId',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await typing.setTyping(requester.userId, params.roomId!, params.userId!, body);
        return {};
      },
    });
  };
}
