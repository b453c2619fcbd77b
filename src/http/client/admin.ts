// GET /_matrix/client/v3/admin/whois/{userId}, GET|PUT /_matrix/client/v1/admin/suspend/{userId},
// GET|PUT /_matrix/client/v1/admin/lock/{userId} (client-server API "Server administration", "Account moderation").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function clientAdminRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, admin } = services;
    if (!users || !admin) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/admin/whois/:userId',
      auth: 'required',
      // Synapse also serves it under v1.
      versions: ['v3', 'r0', 'v1'],
      handler: async ({ requester, params }) => admin.whois(requester, params.userId!),
    });
    for (const [segment, flag] of [
      ['suspend', 'suspended'],
      ['lock', 'locked'],
    ] as const) {
      clientRoute(app, users, {
        method: 'GET',
        path: `/admin/${segment}/:userId`,
        auth: 'required',
        versions: ['v1'],
        handler: async ({ requester, params }) => admin.getModeration(requester, params.userId!, flag),
      });
      clientRoute(app, users, {
        method: 'PUT',
        path: `/admin/${segment}/:userId`,
        auth: 'required',
        versions: ['v1'],
        handler: async ({ requester, params, body }) => admin.setModeration(requester, params.userId!, flag, body),
      });
    }
  };
}
