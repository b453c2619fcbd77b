// POST /keys/upload, POST /keys/query, POST /keys/claim, GET /keys/changes (module "End-to-End Encryption", key management API).
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function keysRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, e2ee } = services;
    if (!users || !e2ee) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/keys/upload',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, body }) => e2ee.uploadKeys(requester, body),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/keys/query',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, body }) => e2ee.queryKeys(requester, body),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/keys/claim',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, body }) => e2ee.claimKeys(requester, body),
    });
    clientRoute(app, users, {
      method: 'GET',
      path: '/keys/changes',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, query }) => e2ee.keyChanges(requester, query.from, query.to),
    });
  };
}
