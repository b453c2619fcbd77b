// GET /account/whoami, POST /account/password, POST /account/deactivate, GET /account/3pid
// (client-server API "Account management").
import type { FastifyInstance } from 'fastify';
import type { AppServices } from '../app.js';
import { clientRoute, sendUiaResult } from './route.js';

export function accountRoutes(services: AppServices) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const users = services.users;
    if (!users) return;

    clientRoute(app, users, {
      method: 'GET',
      path: '/account/whoami',
      auth: 'required',
      allowGuest: true,
      handler: async ({ requester }) => users.whoami(requester),
    });

    // The spec lets both be called without a token (then only 3PID flows could authenticate, and
    // this server has none, so the service answers M_MISSING_TOKEN).
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/password',
      auth: 'optional',
      handler: async ({ reply, requester, body }) =>
        sendUiaResult(reply, await users.changePassword(requester, body, 'POST /account/password')),
    });
    clientRoute(app, users, {
      method: 'POST',
      path: '/account/deactivate',
      auth: 'optional',
      handler: async ({ reply, requester, body }) =>
        sendUiaResult(reply, await users.deactivateAccount(requester, body, 'POST /account/deactivate')),
    });

    // No third-party identifiers are ever bound here; clients (Element's settings) still ask.
    clientRoute(app, users, {
      method: 'GET',
      path: '/account/3pid',
      auth: 'required',
      handler: async () => ({ threepids: [] }),
    });
  };
}
