// POST /rooms/{roomId}/read_markers (Client-Server API module "Read and unread markers").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function readMarkerRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, receipts } = services;
    if (!users || !receipts) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/read_markers',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await receipts.setReadMarkers(requester, params.roomId!, body);
        return {};
      },
    });
  };
}
