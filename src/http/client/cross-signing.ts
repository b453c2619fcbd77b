// POST /keys/device_signing/upload (also under /unstable, where Element first calls it), POST /keys/signatures/upload (module "Cross-signing").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute, sendUiaResult } from './route.js';

const VERSIONS = ['v3', 'r0', 'unstable'] as const;

export function crossSigningRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const { users, e2ee } = services;
    if (!users || !e2ee) return;

    clientRoute(app, users, {
      method: 'POST',
      path: '/keys/device_signing/upload',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ reply, requester, body }) =>
        // The UIA session is bound to the operation without its version prefix, so a session
        // started under /unstable completes under /v3.
        sendUiaResult(reply, await e2ee.uploadCrossSigningKeys(requester, body, 'POST /keys/device_signing/upload')),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/keys/signatures/upload',
      auth: 'required',
      versions: VERSIONS,
      handler: async ({ requester, body }) => e2ee.uploadSignatures(requester, body),
    });
  };
}
