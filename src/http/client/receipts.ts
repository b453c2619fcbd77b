// POST /rooms/{roomId}/receipt/{receiptType}/{eventId} (Client-Server API module "Receipts").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function receiptRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, receipts } = services;
    if (!users || !receipts) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/rooms/:roomId/receipt/:receiptType/:eventId',
      auth: 'required',
      handler: async ({ requester, params, body }) => {
        await receipts.sendReceipt(requester, params.roomId!, params.receiptType!, params.eventId!, body);
        return {};
      },
    });
  };
}
