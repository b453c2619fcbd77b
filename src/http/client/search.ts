// POST /search (client-server "Server Side Search").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function searchRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, search } = services;
    if (!users || !search) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/search',
      auth: 'required',
      handler: async ({ requester, query, body }) => search.search(requester, body, query.next_batch),
    });
  };
}
