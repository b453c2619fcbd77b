// GET /pushers, POST /pushers/set (module "Push Notifications", pusher.yaml).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function pushersRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, push } = services;
    if (!users || !push) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/pushers',
      auth: 'required',
      handler: async ({ requester }) => push.listPushers(requester.userId),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/pushers/set',
      auth: 'required',
      handler: async ({ requester, body }) => {
        await push.setPusher(requester, body);
        return {};
      },
    });
  };
}
