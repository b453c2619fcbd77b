// POST /user_directory/search (client-server "User directory").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function userDirectoryRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, userDirectory } = services;
    if (!users) return;
    const enabled = services.config.user_directory.enabled && userDirectory !== undefined;

    clientRoute(app, users, {
      method: 'POST',
      path: '/user_directory/search',
      auth: 'required',
      // With the directory turned off Synapse answers an empty result rather than an error.
      handler: async ({ requester, body }) => (enabled ? userDirectory!.search(requester.userId, body) : { results: [], limited: false }),
    });
  };
}
