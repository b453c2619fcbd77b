// POST /user/{userId}/filter, GET /user/{userId}/filter/{filterId} (client-server API "Filtering").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function filterRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;
    // Guests sync too, and syncing clients upload a filter first.
    clientRoute(app, users, {
      method: 'POST',
      path: '/user/:userId/filter',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, body }) => users.createFilter(requester, params.userId!, body),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/user/:userId/filter/:filterId',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params }) => users.getFilter(requester, params.userId!, params.filterId!),
    });
  };
}
