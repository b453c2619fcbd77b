// GET /notifications (module "Push Notifications", "Listing Notifications": notifications.yaml).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function notificationsRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, push } = services;
    if (!users || !push) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/notifications',
      auth: 'required',
      handler: async ({ requester, query }) => push.getNotifications(requester, { from: query.from, limit: query.limit, only: query.only }),
    });
  };
}
