// POST /rooms/{roomId}/report/{eventId}, POST /rooms/{roomId}/report (v1.13), POST /users/{userId}/report
// (v1.14) (client-server "Reporting content").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function reportRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, reports } = services;
    if (!users || !reports) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/report/:eventId',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await reports.reportEvent(requester.userId, params.roomId!, params.eventId!, body);
        return {};
      },
    });
    // The two newer endpoints exist under v3 only (as Synapse serves them).
    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/report',
      auth: 'required',
      versions: ['v3'],
      handler: async ({ requester, params, body }) => {
        await reports.reportRoom(requester.userId, params.roomId!, body);
        return {};
      },
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/users/:userId/report',
      auth: 'required',
      versions: ['v3'],
      handler: async ({ requester, params, body }) => {
        await reports.reportUser(requester.userId, params.userId!, body);
        return {};
      },
    });
  };
}
