// PUT /sendToDevice/{eventType}/{txnId} (module "Send-to-Device messaging").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute } from './route.js';

export function toDeviceRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, e2ee } = services;
    if (!users || !e2ee) return;

    clientRoute(app, users, {
      method: 'PUT',
      path: '/sendToDevice/:eventType/:txnId',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester, params, body }) => e2ee.sendToDevice(requester, params.eventType!, params.txnId!, body),
    });
  };
}
